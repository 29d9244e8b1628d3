//! A local Discord for integration tests: the HTTP API (under `/api/v10`,
//! reached through serenity's `HttpBuilder::proxy`) and the gateway websocket,
//! both served by axum on 127.0.0.1.
//!
//! Include it with `#[path = "discord_sim/mod.rs"] mod discord_sim;`.
//!
//! The simulator answers like Discord and records every rule the bot breaks
//! in [`DiscordSim::violations`]; tests assert that list is empty. Everything
//! the simulator itself sends (READY, INTERACTION_CREATE, message objects,
//! ...) is first deserialised with serenity's own types and the simulator
//! panics if that fails, so a malformed fixture never becomes an event the
//! bot silently ignores.
//!
//! Discord's limits hold as documented: payload sizes, 10 MiB per uploaded
//! file and 25 MiB per request, the 3 s answer deadline, token and message
//! edit lifetimes, and per-route rate limit buckets with their
//! `X-RateLimit-*` headers (see `buckets.rs`).
#![allow(dead_code)]

mod buckets;
mod fixtures;
mod gateway;
mod http;
mod interactions;
mod limits;
mod multipart;

use std::collections::{BTreeMap, HashMap};
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use serde_json::Value;

/// Milliseconds of the Discord epoch (2015-01-01T00:00:00Z).
const DISCORD_EPOCH_MS: u64 = 1_420_070_400_000;
/// Time the bot has to answer an interaction callback.
pub const INTERACTION_DEADLINE: Duration = Duration::from_secs(3);
/// Guild of channels the simulator has never seen in an interaction.
pub const DEFAULT_GUILD_ID: u64 = 1_100_000_000_000_000_001;

/// VIEW_CHANNEL | SEND_MESSAGES | EMBED_LINKS | ATTACH_FILES |
/// READ_MESSAGE_HISTORY | ADD_REACTIONS | USE_APPLICATION_COMMANDS |
/// USE_EXTERNAL_EMOJIS | SEND_MESSAGES_IN_THREADS.
pub const DEFAULT_PERMISSIONS: u64 = (1 << 10)
    | (1 << 11)
    | (1 << 14)
    | (1 << 15)
    | (1 << 16)
    | (1 << 6)
    | (1 << 31)
    | (1 << 18)
    | (1 << 38);

/// A Discord user as the tests see it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct SimUser {
    pub id: u64,
    /// Role ids in `guild_id` (ignored in DMs).
    pub roles: Vec<u64>,
    /// `None` means the user talks to the bot in a DM.
    pub guild_id: Option<u64>,
}

impl SimUser {
    /// A member of `guild_id` with `roles`.
    pub fn member(id: u64, guild_id: u64, roles: &[u64]) -> SimUser {
        SimUser {
            id,
            roles: roles.to_vec(),
            guild_id: Some(guild_id),
        }
    }

    /// A user talking to the bot in a DM.
    pub fn dm(id: u64) -> SimUser {
        SimUser {
            id,
            roles: Vec::new(),
            guild_id: None,
        }
    }
}

/// An interaction the simulator dispatched.
#[derive(Clone, Debug)]
pub struct SimInteraction {
    pub id: u64,
    pub token: String,
    pub created: Instant,
}

/// A message posted with POST /channels/{id}/messages, in its current state.
#[derive(Clone, Debug)]
pub struct SimMessage {
    pub id: u64,
    pub channel_id: u64,
    pub content: String,
    pub embeds: Vec<Value>,
    pub components: Vec<Value>,
    /// (filename, size in bytes)
    pub attachments: Vec<(String, usize)>,
    /// Number of accepted edits.
    pub edits: usize,
    pub created: Instant,
    pub allowed_mentions: Option<Value>,
}

/// One HTTP request the bot made.
#[derive(Clone, Debug)]
pub struct RecordedRequest {
    pub method: String,
    /// The full path, e.g. `/api/v10/channels/1/messages` (no query).
    pub path: String,
    pub query: Option<String>,
    /// Status the simulator answered.
    pub status: u16,
    /// The JSON body, or the `payload_json` part of a multipart body.
    pub body: Option<Value>,
    /// Uploaded files: (filename, size in bytes).
    pub files: Vec<(String, usize)>,
    pub time: Instant,
}

/// The simulator. Cheap to clone; the server stops when the last clone drops.
#[derive(Clone)]
pub struct DiscordSim {
    /// `http://127.0.0.1:PORT`, to give to `HttpBuilder::proxy`.
    pub base_url: String,
    pub app_id: u64,
    pub bot_user_id: u64,
    /// The application owner returned by GET /oauth2/applications/@me.
    pub owner_id: u64,
    state: Shared,
    _server: Arc<ServerGuard>,
}

struct ServerGuard(tokio::task::JoinHandle<()>);

impl Drop for ServerGuard {
    fn drop(&mut self) {
        self.0.abort();
    }
}

type Shared = Arc<Mutex<State>>;

fn lock(shared: &Shared) -> MutexGuard<'_, State> {
    shared
        .lock()
        .unwrap_or_else(|poisoned| poisoned.into_inner())
}

impl DiscordSim {
    /// Binds 127.0.0.1:0 and serves the API and the gateway.
    pub async fn start() -> DiscordSim {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
            .await
            .expect("discord_sim: bind 127.0.0.1:0");
        let port = listener.local_addr().expect("local addr").port();
        let base_url = format!("http://127.0.0.1:{port}");
        let state = Arc::new(Mutex::new(State::new(base_url.clone())));
        let (app_id, bot_user_id, owner_id) = {
            let st = lock(&state);
            (st.app_id, st.bot_user_id, st.owner_id)
        };
        let app = http::router(state.clone());
        let server = tokio::spawn(async move {
            let _ = axum::serve(listener, app).await;
        });
        DiscordSim {
            base_url,
            app_id,
            bot_user_id,
            owner_id,
            state,
            _server: Arc::new(ServerGuard(server)),
        }
    }

    fn st(&self) -> MutexGuard<'_, State> {
        lock(&self.state)
    }

    /// The bot token the simulator accepts (sent as `Bot <token>`).
    pub fn token(&self) -> &str {
        SIM_TOKEN
    }

    /// The websocket URL returned by GET /gateway and /gateway/bot.
    pub fn gateway_url(&self) -> String {
        self.st().gateway_url()
    }

    /// Waits until an IDENTIFY was answered with READY.
    pub async fn wait_ready(&self, timeout: Duration) -> Result<(), String> {
        self.wait_until(timeout, "READY sent", |s| s.ready_count() > 0)
            .await
    }

    /// Polls `cond` every 10 ms until it holds or `timeout` passes.
    pub async fn wait_until(
        &self,
        timeout: Duration,
        what: &str,
        cond: impl Fn(&DiscordSim) -> bool,
    ) -> Result<(), String> {
        let deadline = Instant::now() + timeout;
        loop {
            if cond(self) {
                return Ok(());
            }
            if Instant::now() >= deadline {
                return Err(format!(
                    "discord_sim: timed out after {timeout:?} waiting for {what}"
                ));
            }
            tokio::time::sleep(Duration::from_millis(10)).await;
        }
    }

    pub fn identify_count(&self) -> usize {
        self.st().gw.identify_count
    }

    pub fn resume_count(&self) -> usize {
        self.st().gw.resume_count
    }

    /// Number of READY events sent.
    pub fn ready_count(&self) -> usize {
        self.st().gw.ready_count
    }

    /// Gateway intents of the last IDENTIFY.
    pub fn identify_intents(&self) -> Option<u64> {
        self.st().gw.intents
    }

    /// Heartbeats (op 1) received.
    pub fn heartbeat_count(&self) -> usize {
        self.st().gw.heartbeats
    }

    /// Heartbeat interval announced in HELLO for later connections
    /// (default 41250 ms, as Discord).
    pub fn set_heartbeat_interval(&self, interval: Duration) {
        self.st().gw.heartbeat_interval_ms = interval.as_millis() as u64;
    }

    /// Drops the gateway connection without a close frame, as a network
    /// failure would; the session stays resumable, so the bot must RESUME.
    /// Events dispatched while disconnected are replayed on RESUME.
    pub async fn disconnect_gateway(&self) {
        let conn = self.st().gw.conn.take();
        if let Some(conn) = conn {
            let _ = conn.tx.send(gateway::Out::Drop);
        }
        tokio::task::yield_now().await;
    }

    /// Sends op 7 RECONNECT on the current connection (the bot must
    /// reconnect and RESUME).
    pub async fn send_reconnect(&self) {
        self.st()
            .gw
            .send_and_pause(serde_json::json!({"op": 7, "d": null}));
        tokio::task::yield_now().await;
    }

    /// Sends op 9 INVALID_SESSION; with `resumable == false` the session is
    /// forgotten and the bot must IDENTIFY again.
    pub async fn invalidate_session(&self, resumable: bool) {
        {
            let mut st = self.st();
            if !resumable {
                st.gw.session = None;
            }
            st.gw
                .send_and_pause(serde_json::json!({"op": 9, "d": resumable}));
        }
        tokio::task::yield_now().await;
    }

    /// The commands of the last PUT of guild or global commands, as stored
    /// (with the ids the simulator assigned).
    pub fn registered_commands(&self) -> Vec<Value> {
        self.st().last_put_commands.clone()
    }

    /// Global commands as currently registered.
    pub fn global_commands(&self) -> Vec<Value> {
        self.st().global_commands.clone()
    }

    /// Guild commands of `guild_id` as currently registered.
    pub fn guild_commands(&self, guild_id: u64) -> Vec<Value> {
        self.st()
            .guild_commands
            .get(&guild_id)
            .cloned()
            .unwrap_or_default()
    }

    /// Injects a CHAT_INPUT interaction (type 2). `subcommand` is the path
    /// below the command (`&["group", "sub"]`, `&["sub"]` or `&[]`); option
    /// types come from the registered command (user, channel, role and
    /// attachment options get their `resolved` data; an attachment option's
    /// value is an id from [`DiscordSim::add_attachment`]).
    pub async fn slash_command(
        &self,
        user: &SimUser,
        channel_id: u64,
        command: &str,
        subcommand: &[&str],
        options: Vec<(&str, Value)>,
    ) -> SimInteraction {
        let it = self
            .st()
            .inject_command(user, channel_id, command, subcommand, options, None);
        tokio::task::yield_now().await;
        it
    }

    /// Injects an APPLICATION_COMMAND_AUTOCOMPLETE interaction (type 4) with
    /// option `focused` marked focused (its value is sent as a string, ""
    /// when absent from `options`).
    pub async fn autocomplete(
        &self,
        user: &SimUser,
        channel_id: u64,
        command: &str,
        subcommand: &[&str],
        options: Vec<(&str, Value)>,
        focused: &str,
    ) -> SimInteraction {
        let it = self.st().inject_command(
            user,
            channel_id,
            command,
            subcommand,
            options,
            Some(focused),
        );
        tokio::task::yield_now().await;
        it
    }

    /// Injects a MESSAGE_COMPONENT interaction (type 3): `user` clicks the
    /// button `custom_id` of message `message_id` (which must exist, carry
    /// that button and not have it disabled).
    pub async fn click_button(
        &self,
        user: &SimUser,
        channel_id: u64,
        message_id: u64,
        custom_id: &str,
    ) -> SimInteraction {
        let it = self
            .st()
            .inject_component(user, channel_id, message_id, custom_id, None);
        tokio::task::yield_now().await;
        it
    }

    /// Injects a MESSAGE_COMPONENT interaction for a string select menu.
    pub async fn select_menu(
        &self,
        user: &SimUser,
        channel_id: u64,
        message_id: u64,
        custom_id: &str,
        values: &[&str],
    ) -> SimInteraction {
        let values = values.iter().map(|v| v.to_string()).collect();
        let it = self
            .st()
            .inject_component(user, channel_id, message_id, custom_id, Some(values));
        tokio::task::yield_now().await;
        it
    }

    /// Injects a MODAL_SUBMIT interaction (type 5) for a modal the bot
    /// opened in answer to `opened_by` (callback type 9); `fields` are
    /// (text input custom_id, value).
    pub async fn submit_modal(
        &self,
        user: &SimUser,
        opened_by: &SimInteraction,
        fields: Vec<(&str, &str)>,
    ) -> SimInteraction {
        let it = self.st().inject_modal_submit(user, opened_by, fields);
        tokio::task::yield_now().await;
        it
    }

    /// Waits for the interaction callback the bot posted (`{"type": .., "data": ..}`).
    /// Fails at once if the only callbacks were refused (e.g. too late).
    pub async fn wait_response(
        &self,
        interaction: &SimInteraction,
        timeout: Duration,
    ) -> Result<Value, String> {
        let deadline = Instant::now() + timeout;
        loop {
            {
                let st = self.st();
                let rec = st
                    .interactions
                    .get(&interaction.id)
                    .expect("discord_sim: unknown SimInteraction");
                if let Some(cb) = &rec.callback {
                    return Ok(cb.clone());
                }
                if let Some(refused) = rec.refused_callbacks.first() {
                    return Err(format!(
                        "discord_sim: the callback for interaction {} was refused: {}",
                        interaction.id, refused
                    ));
                }
            }
            if Instant::now() >= deadline {
                return Err(format!(
                    "discord_sim: no callback for interaction {} within {timeout:?}",
                    interaction.id
                ));
            }
            tokio::time::sleep(Duration::from_millis(10)).await;
        }
    }

    /// Messages POSTed to `channel_id` (not deleted), oldest first, as edited.
    pub fn messages(&self, channel_id: u64) -> Vec<SimMessage> {
        let st = self.st();
        st.messages
            .values()
            .filter(|m| {
                m.channel_id == channel_id && !m.deleted && matches!(m.origin, Origin::Channel)
            })
            .map(Msg::to_sim)
            .collect()
    }

    /// The interaction's webhook messages (the original response first, then
    /// followups), as Discord message objects in their current state.
    pub fn followups(&self, interaction: &SimInteraction) -> Vec<Value> {
        let st = self.st();
        let mut out: Vec<&Msg> = st
            .messages
            .values()
            .filter(|m| {
                !m.deleted
                    && matches!(m.origin, Origin::Interaction { id, .. } if id == interaction.id)
            })
            .collect();
        out.sort_by_key(|m| {
            (
                !matches!(m.origin, Origin::Interaction { original: true, .. }),
                m.id,
            )
        });
        out.into_iter().map(|m| st.message_json(m)).collect()
    }

    /// Any message (channel or interaction), as a Discord message object.
    pub fn message(&self, message_id: u64) -> Option<Value> {
        let st = self.st();
        st.messages
            .get(&message_id)
            .filter(|m| !m.deleted)
            .map(|m| st.message_json(m))
    }

    /// Deletes a message as a moderator would (the bot's later edits get 404
    /// Unknown Message, which is not a violation).
    pub fn delete_message(&self, message_id: u64) {
        if let Some(m) = self.st().messages.get_mut(&message_id) {
            m.deleted = true;
        }
    }

    /// Every HTTP request, in order.
    pub fn requests(&self) -> Vec<RecordedRequest> {
        self.st().requests.clone()
    }

    /// The next `count` POST/PATCH message requests (channel messages,
    /// followups, webhook message edits) get 429 with Discord's headers and
    /// body; a retry on the same route before `retry_after` seconds is a
    /// violation and gets 429 again.
    pub fn rate_limit_next(&self, count: usize, retry_after: f64) {
        self.st().rate_limit = Some((count, retry_after));
    }

    /// Sets the bucket limit of a route for every major parameter: `method`
    /// and the path below `/api/v10` with its major parameter named and
    /// minor ids as `{id}`, e.g. `("PATCH",
    /// "/channels/{channel_id}/messages/{id}")`. Defaults: message writes
    /// in a channel 5 per 5 s, any other route 50 per second. A request
    /// over the limit gets 429 and is a violation: every answer told the
    /// bot what was left (`X-RateLimit-Remaining`, `-Reset-After`).
    pub fn set_route_limit(&self, method: &str, route: &str, limit: u32, window: Duration) {
        self.st()
            .buckets
            .set_limit(method, route, buckets::RouteLimit { limit, window });
    }

    /// Every rule the bot broke.
    pub fn violations(&self) -> Vec<String> {
        self.st().violations.clone()
    }

    /// Returns the violations and clears the list.
    pub fn take_violations(&self) -> Vec<String> {
        std::mem::take(&mut self.st().violations)
    }

    /// Age after which interaction webhooks refuse the token (default 15 min).
    pub fn set_token_ttl(&self, ttl: Duration) {
        self.st().token_ttl = ttl;
    }

    /// Age after which the simulator refuses message edits (default 1 h).
    pub fn set_message_edit_ttl(&self, ttl: Duration) {
        self.st().message_edit_ttl = ttl;
    }

    /// Makes a file downloadable at `{base_url}/attachments/{id}/{filename}`,
    /// for attachment options. Returns (attachment id, url).
    pub fn add_attachment(&self, filename: &str, bytes: Vec<u8>) -> (u64, String) {
        let mut st = self.st();
        let id = st.next_id();
        let url = st.store_file(id, filename, bytes);
        (id, url)
    }

    /// The bytes of the last file the bot uploaded under `filename`.
    pub fn uploaded_file(&self, filename: &str) -> Option<Vec<u8>> {
        let st = self.st();
        st.uploads
            .iter()
            .rev()
            .find(|(name, _)| name == filename)
            .map(|(_, data)| data.clone())
    }

    /// Declares a channel: in `guild_id`, or a DM channel when `None`.
    /// Unknown channels are text channels of the guild they were last seen
    /// with, else of [`DEFAULT_GUILD_ID`].
    pub fn add_channel(&self, channel_id: u64, guild_id: Option<u64>) {
        self.st().channels.insert(
            channel_id,
            ChannelInfo {
                guild_id,
                dm_user: None,
            },
        );
    }

    /// Permissions of a role (bitset), used for `member.permissions`.
    pub fn set_role_permissions(&self, role_id: u64, permissions: u64) {
        self.st().role_permissions.insert(role_id, permissions);
    }

    /// Permissions of @everyone (default [`DEFAULT_PERMISSIONS`]).
    pub fn set_everyone_permissions(&self, permissions: u64) {
        self.st().everyone_permissions = permissions;
    }

    /// `app_permissions` of interactions (default [`DEFAULT_PERMISSIONS`]).
    pub fn set_bot_permissions(&self, permissions: u64) {
        self.st().bot_permissions = permissions;
    }

    /// Makes a user known (for GET /guilds/{gid}/members/{uid} and resolved data).
    pub fn add_user(&self, user: &SimUser) {
        self.st().remember_user(user);
    }
}

pub(crate) const SIM_TOKEN: &str = "c2ltLWJvdA.sim-token.discord-sim-0000000000000000000";

/// A message in the simulator (channel or interaction webhook message).
#[derive(Clone, Debug)]
struct Msg {
    id: u64,
    channel_id: u64,
    guild_id: Option<u64>,
    content: String,
    embeds: Vec<Value>,
    components: Vec<Value>,
    attachments: Vec<Att>,
    flags: u64,
    tts: bool,
    created: Instant,
    created_at: SystemTime,
    edited_at: Option<SystemTime>,
    edits: usize,
    allowed_mentions: Option<Value>,
    origin: Origin,
    deleted: bool,
    /// Discord message type (0 default, 20 chat input command reply).
    kind: u8,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Origin {
    Channel,
    Interaction { id: u64, original: bool },
}

#[derive(Clone, Debug)]
struct Att {
    id: u64,
    filename: String,
    size: usize,
    url: String,
    description: Option<String>,
}

impl Msg {
    fn to_sim(&self) -> SimMessage {
        SimMessage {
            id: self.id,
            channel_id: self.channel_id,
            content: self.content.clone(),
            embeds: self.embeds.clone(),
            components: self.components.clone(),
            attachments: self
                .attachments
                .iter()
                .map(|a| (a.filename.clone(), a.size))
                .collect(),
            edits: self.edits,
            created: self.created,
            allowed_mentions: self.allowed_mentions.clone(),
        }
    }
}

#[derive(Clone, Debug)]
struct ChannelInfo {
    guild_id: Option<u64>,
    /// For DM channels: the other user.
    dm_user: Option<u64>,
}

/// What the simulator knows of an interaction it dispatched.
#[derive(Clone, Debug)]
struct InteractionRec {
    id: u64,
    token: String,
    /// 2 command, 3 component, 4 autocomplete, 5 modal submit.
    kind: u8,
    created: Instant,
    /// When the INTERACTION_CREATE went out on a live connection.
    dispatched: Option<Instant>,
    channel_id: u64,
    guild_id: Option<u64>,
    user_id: u64,
    /// The accepted callback body.
    callback: Option<Value>,
    callback_type: Option<u64>,
    refused_callbacks: Vec<String>,
    /// The original response message (callback 4/5), or for components
    /// answered with 6/7 the message the component is on.
    original: Option<u64>,
    /// For components: the message the component is on.
    component_message: Option<u64>,
    /// Modal opened by callback type 9: (custom_id, text input custom_ids).
    modal: Option<(String, Vec<String>)>,
    /// The interaction a modal submit answers (its component message, if any).
    modal_source_message: Option<u64>,
}

struct State {
    base_url: String,
    app_id: u64,
    bot_user_id: u64,
    owner_id: u64,
    last_id: u64,
    gw: gateway::Gw,
    requests: Vec<RecordedRequest>,
    violations: Vec<String>,
    rate_limit: Option<(usize, f64)>,
    /// Route bucket -> (time the bot may retry, retry_after announced).
    blocked: HashMap<String, (Instant, f64)>,
    /// Per-route rate limit buckets.
    buckets: buckets::Buckets,
    global_commands: Vec<Value>,
    guild_commands: HashMap<u64, Vec<Value>>,
    last_put_commands: Vec<Value>,
    interactions: HashMap<u64, InteractionRec>,
    tokens: HashMap<String, u64>,
    messages: BTreeMap<u64, Msg>,
    /// Files served at /attachments/{id}/{filename}.
    files: HashMap<u64, (String, Vec<u8>)>,
    /// Files the bot uploaded: (filename, bytes), in order.
    uploads: Vec<(String, Vec<u8>)>,
    channels: HashMap<u64, ChannelInfo>,
    /// Known users per guild (None = DM users): user id -> roles.
    users: HashMap<(u64, Option<u64>), Vec<u64>>,
    last_guild: Option<u64>,
    token_ttl: Duration,
    message_edit_ttl: Duration,
    role_permissions: HashMap<u64, u64>,
    everyone_permissions: u64,
    bot_permissions: u64,
}

impl State {
    fn new(base_url: String) -> State {
        let mut st = State {
            base_url,
            app_id: 0,
            bot_user_id: 0,
            owner_id: 0,
            last_id: 0,
            gw: gateway::Gw::default(),
            requests: Vec::new(),
            violations: Vec::new(),
            rate_limit: None,
            blocked: HashMap::new(),
            buckets: buckets::Buckets::default(),
            global_commands: Vec::new(),
            guild_commands: HashMap::new(),
            last_put_commands: Vec::new(),
            interactions: HashMap::new(),
            tokens: HashMap::new(),
            messages: BTreeMap::new(),
            files: HashMap::new(),
            uploads: Vec::new(),
            channels: HashMap::new(),
            users: HashMap::new(),
            last_guild: None,
            token_ttl: Duration::from_secs(15 * 60),
            message_edit_ttl: Duration::from_secs(60 * 60),
            role_permissions: HashMap::new(),
            everyone_permissions: DEFAULT_PERMISSIONS,
            bot_permissions: DEFAULT_PERMISSIONS,
        };
        st.app_id = st.next_id();
        // A bot user's id is its application's id.
        st.bot_user_id = st.app_id;
        st.owner_id = st.next_id();
        st
    }

    /// A fresh snowflake, strictly increasing, carrying the current time.
    fn next_id(&mut self) -> u64 {
        let ms = SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .map(|d| d.as_millis() as u64)
            .unwrap_or(DISCORD_EPOCH_MS)
            .saturating_sub(DISCORD_EPOCH_MS);
        self.last_id = (self.last_id + 1).max(ms << 22);
        self.last_id
    }

    fn violation(&mut self, text: String) {
        self.violations.push(text);
    }

    fn gateway_url(&self) -> String {
        format!(
            "{}/gateway-ws",
            self.base_url.replacen("http://", "ws://", 1)
        )
    }

    fn store_file(&mut self, id: u64, filename: &str, bytes: Vec<u8>) -> String {
        let url = format!(
            "{}/attachments/{id}/{}",
            self.base_url,
            fixtures::url_encode(filename)
        );
        self.files.insert(id, (filename.to_string(), bytes));
        url
    }

    fn remember_user(&mut self, user: &SimUser) {
        self.users
            .insert((user.id, user.guild_id), user.roles.clone());
        if let Some(g) = user.guild_id {
            self.last_guild = Some(g);
        }
    }

    fn channel_info(&self, channel_id: u64) -> ChannelInfo {
        self.channels
            .get(&channel_id)
            .cloned()
            .unwrap_or(ChannelInfo {
                guild_id: Some(self.last_guild.unwrap_or(DEFAULT_GUILD_ID)),
                dm_user: None,
            })
    }

    /// Permissions of a member: @everyone | roles (all when ADMINISTRATOR).
    fn member_permissions(&self, roles: &[u64]) -> u64 {
        let mut p = self.everyone_permissions;
        for r in roles {
            p |= self.role_permissions.get(r).copied().unwrap_or(0);
        }
        if p & (1 << 3) != 0 {
            p = u64::MAX >> 13; // every permission bit Discord defines so far
        }
        p
    }
}
