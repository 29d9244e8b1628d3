//! Self-test of the Discord simulator: a plain serenity client (the library
//! the bot is built on) connects to it and exercises the gateway, the
//! interaction flow and the rules the simulator enforces.

#[path = "discord_sim/mod.rs"]
mod discord_sim;

use std::sync::{Arc, Mutex};
use std::time::Duration;

use discord_sim::{DiscordSim, SimUser};
use poise::serenity_prelude as serenity;
use serde_json::{json, Value};
use serenity::{
    CreateActionRow, CreateAttachment, CreateAutocompleteResponse, CreateButton, CreateCommand,
    CreateCommandOption, CreateInteractionResponse, CreateInteractionResponseFollowup,
    CreateInteractionResponseMessage, CreateMessage,
};
use tokio::io::{AsyncReadExt, AsyncWriteExt};

const WAIT: Duration = Duration::from_secs(5);
const CHANNEL: u64 = 900_000_000_000_000_001;
const GUILD: u64 = 800_000_000_000_000_001;

struct Handler {
    seen: Arc<Mutex<Vec<String>>>,
}

fn string_option(cmd: &serenity::CommandInteraction, name: &str) -> String {
    cmd.data
        .options()
        .into_iter()
        .find(|o| o.name == name)
        .and_then(|o| match o.value {
            serenity::ResolvedValue::String(s) => Some(s.to_string()),
            _ => None,
        })
        .unwrap_or_default()
}

/// The attachment of `/job run start script:`.
fn script_option(cmd: &serenity::CommandInteraction) -> Option<serenity::Attachment> {
    let opts = cmd.data.options();
    let serenity::ResolvedValue::SubCommandGroup(group) = &opts.first()?.value else {
        return None;
    };
    let serenity::ResolvedValue::SubCommand(sub) = &group.first()?.value else {
        return None;
    };
    sub.iter().find_map(|o| match o.value {
        serenity::ResolvedValue::Attachment(a) if o.name == "script" => Some(a.clone()),
        _ => None,
    })
}

#[serenity::async_trait]
impl serenity::EventHandler for Handler {
    async fn interaction_create(&self, ctx: serenity::Context, interaction: serenity::Interaction) {
        let result = match interaction {
            serenity::Interaction::Command(cmd) if cmd.data.name == "ping" => {
                self.seen
                    .lock()
                    .unwrap()
                    .push(format!("command ping {}", cmd.id));
                let text = string_option(&cmd, "text");
                if text == "slow" {
                    tokio::time::sleep(Duration::from_millis(3200)).await;
                }
                let msg = CreateInteractionResponseMessage::new()
                    .content(format!("pong: {text}"))
                    .components(vec![CreateActionRow::Buttons(vec![CreateButton::new(
                        "again",
                    )
                    .label("Again")])]);
                cmd.create_response(&ctx.http, CreateInteractionResponse::Message(msg))
                    .await
            }
            serenity::Interaction::Command(cmd) => {
                self.seen
                    .lock()
                    .unwrap()
                    .push(format!("command {} {}", cmd.data.name, cmd.id));
                let deferred = cmd.defer(&ctx.http).await;
                let text = match script_option(&cmd) {
                    Some(a) => match a.download().await {
                        Ok(bytes) => format!("script {}: {} bytes", a.filename, bytes.len()),
                        Err(e) => format!("download failed: {e}"),
                    },
                    None => "no script".to_string(),
                };
                match deferred {
                    Ok(()) => cmd
                        .create_followup(
                            &ctx.http,
                            CreateInteractionResponseFollowup::new().content(text),
                        )
                        .await
                        .map(|_| ()),
                    Err(e) => Err(e),
                }
            }
            serenity::Interaction::Component(c) => {
                self.seen
                    .lock()
                    .unwrap()
                    .push(format!("component {}", c.data.custom_id));
                let msg = CreateInteractionResponseMessage::new()
                    .content("clicked")
                    .components(vec![]);
                c.create_response(&ctx.http, CreateInteractionResponse::UpdateMessage(msg))
                    .await
            }
            serenity::Interaction::Autocomplete(a) => {
                self.seen.lock().unwrap().push("autocomplete".to_string());
                let choices = CreateAutocompleteResponse::new().add_string_choice("alpha", "alpha");
                a.create_response(&ctx.http, CreateInteractionResponse::Autocomplete(choices))
                    .await
            }
            _ => Ok(()),
        };
        if let Err(e) = result {
            self.seen.lock().unwrap().push(format!("error {e}"));
        }
    }
}

/// Status and Discord error code of a failed serenity request.
fn http_error(err: serenity::Error) -> (u16, isize, Vec<String>) {
    match err {
        serenity::Error::Http(serenity::HttpError::UnsuccessfulRequest(r)) => (
            r.status_code.as_u16(),
            r.error.code,
            r.error.errors.iter().map(|e| e.path.clone()).collect(),
        ),
        other => panic!("expected an HTTP error, got {other:?}"),
    }
}

fn assert_one_violation(sim: &DiscordSim, needle: &str) {
    let v = sim.take_violations();
    assert!(
        v.len() == 1 && v[0].contains(needle),
        "expected one violation containing {needle:?}, got {v:#?}"
    );
}

/// A raw HTTP/1.1 POST, to see the headers serenity's errors do not keep.
async fn raw_post(sim: &DiscordSim, path: &str, body: &str) -> String {
    let addr = sim.base_url.trim_start_matches("http://");
    let mut stream = tokio::net::TcpStream::connect(addr).await.expect("connect");
    let request = format!(
        "POST {path} HTTP/1.1\r\nHost: {addr}\r\nAuthorization: Bot {}\r\nContent-Type: application/json\r\n\
         Content-Length: {}\r\nConnection: close\r\n\r\n{body}",
        sim.token(),
        body.len()
    );
    stream.write_all(request.as_bytes()).await.expect("write");
    let mut out = String::new();
    stream.read_to_string(&mut out).await.expect("read");
    out.to_ascii_lowercase()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn simulator_speaks_discord_to_serenity() {
    let sim = DiscordSim::start().await;
    let http = serenity::HttpBuilder::new(sim.token())
        .proxy(&sim.base_url)
        .ratelimiter_disabled(true)
        .build();
    let seen = Arc::new(Mutex::new(Vec::new()));
    let mut client = serenity::ClientBuilder::new_with_http(http, serenity::GatewayIntents::GUILDS)
        .event_handler(Handler { seen: seen.clone() })
        .await
        .expect("client");
    let http = client.http.clone();
    let shards = client.shard_manager.clone();
    let client_task = tokio::spawn(async move { client.start().await });

    // Gateway: HELLO, IDENTIFY, READY.
    sim.wait_ready(WAIT).await.expect("READY");
    assert_eq!(sim.identify_count(), 1);
    assert_eq!(
        sim.identify_intents(),
        Some(serenity::GatewayIntents::GUILDS.bits())
    );
    sim.wait_until(WAIT, "application id from READY", |_| {
        http.application_id().is_some()
    })
    .await
    .unwrap();
    assert_eq!(http.application_id().map(|a| a.get()), Some(sim.app_id));

    // Command registration, with a nested group > subcommand.
    let ping = CreateCommand::new("ping").description("Ping").add_option(
        CreateCommandOption::new(serenity::CommandOptionType::String, "text", "Text")
            .required(true)
            .set_autocomplete(true),
    );
    let job = CreateCommand::new("job").description("Jobs").add_option(
        CreateCommandOption::new(serenity::CommandOptionType::SubCommandGroup, "run", "Runs")
            .add_sub_option(
                CreateCommandOption::new(
                    serenity::CommandOptionType::SubCommand,
                    "start",
                    "Start a run",
                )
                .add_sub_option(
                    CreateCommandOption::new(
                        serenity::CommandOptionType::Attachment,
                        "script",
                        "Script",
                    )
                    .required(true),
                ),
            ),
    );
    let registered = serenity::Command::set_global_commands(&http, vec![ping, job])
        .await
        .expect("register");
    assert_eq!(registered.len(), 2);
    assert_eq!(sim.registered_commands().len(), 2);

    // A slash command answered with a message.
    let user = SimUser::member(700_000_000_000_000_001, GUILD, &[600_000_000_000_000_001]);
    let it = sim
        .slash_command(&user, CHANNEL, "ping", &[], vec![("text", json!("hello"))])
        .await;
    let resp = sim.wait_response(&it, WAIT).await.expect("callback");
    assert_eq!(resp["type"], 4);
    assert_eq!(resp["data"]["content"], "pong: hello");
    let original = sim.followups(&it);
    assert_eq!(original.len(), 1);
    assert_eq!(original[0]["content"], "pong: hello");
    let original_id: u64 = original[0]["id"].as_str().unwrap().parse().unwrap();

    // Subcommand group + attachment option, deferred then followed up.
    let script = b"#!/bin/sh\necho deploy\n".to_vec();
    let (att, _url) = sim.add_attachment("deploy.sh", script.clone());
    let it = sim
        .slash_command(
            &user,
            CHANNEL,
            "job",
            &["run", "start"],
            vec![("script", json!(att))],
        )
        .await;
    assert_eq!(
        sim.wait_response(&it, WAIT).await.expect("defer")["type"],
        5
    );
    sim.wait_until(WAIT, "followup", |s| {
        s.followups(&it).first().is_some_and(|m| m["content"] != "")
    })
    .await
    .unwrap();
    let msgs = sim.followups(&it);
    assert_eq!(
        msgs.len(),
        1,
        "the followup replaces the deferred message: {msgs:#?}"
    );
    assert_eq!(
        msgs[0]["content"],
        format!("script deploy.sh: {} bytes", script.len())
    );

    // Autocomplete.
    let it = sim
        .autocomplete(
            &user,
            CHANNEL,
            "ping",
            &[],
            vec![("text", json!("al"))],
            "text",
        )
        .await;
    let resp = sim.wait_response(&it, WAIT).await.expect("autocomplete");
    assert_eq!(resp["type"], 8);
    assert_eq!(resp["data"]["choices"][0]["name"], "alpha");

    // A button on the first answer, updating its message.
    let click = sim.click_button(&user, CHANNEL, original_id, "again").await;
    assert_eq!(
        sim.wait_response(&click, WAIT).await.expect("click")["type"],
        7
    );
    assert_eq!(sim.message(original_id).unwrap()["content"], "clicked");

    // A second callback for an interaction is refused with 40060.
    let again = json!({"type": 4, "data": {"content": "again"}});
    let err = http
        .create_interaction_response(
            serenity::InteractionId::new(click.id),
            &click.token,
            &again,
            vec![],
        )
        .await
        .unwrap_err();
    assert_eq!(http_error(err).1, 40060);
    assert_one_violation(&sim, "second callback");

    // 2001 characters: 400 / 50035 on `content`.
    let channel = serenity::ChannelId::new(CHANNEL);
    let err = http
        .send_message(channel, vec![], &json!({"content": "x".repeat(2001)}))
        .await
        .unwrap_err();
    assert_eq!(http_error(err), (400, 50035, vec!["content".to_string()]));
    assert_one_violation(&sim, "content");

    // Multipart upload.
    let sent = channel
        .send_files(
            &http,
            vec![CreateAttachment::bytes(
                b"line 1\nline 2\n".to_vec(),
                "run.log",
            )],
            CreateMessage::new().content("log attached"),
        )
        .await
        .expect("upload");
    let stored = sim.messages(CHANNEL);
    let last = stored.last().unwrap();
    assert_eq!(last.id, sent.id.get());
    assert_eq!(last.attachments, vec![("run.log".to_string(), 14)]);
    assert_eq!(sim.uploaded_file("run.log").unwrap(), b"line 1\nline 2\n");
    assert!(sent.id.get() > original_id, "snowflakes increase");

    // 429 with Discord's headers; an early retry is a violation; a retry
    // after retry_after succeeds.
    sim.rate_limit_next(1, 0.3);
    let path = format!("/api/v10/channels/{CHANNEL}/messages");
    let raw = raw_post(&sim, &path, r#"{"content":"rl"}"#).await;
    assert!(raw.starts_with("http/1.1 429"), "{raw}");
    for header in [
        "x-ratelimit-limit:",
        "x-ratelimit-remaining: 0",
        "x-ratelimit-reset:",
        "x-ratelimit-reset-after:",
    ] {
        assert!(raw.contains(header), "missing {header} in {raw}");
    }
    assert!(
        raw.contains("x-ratelimit-bucket:") && raw.contains("retry-after: 1"),
        "{raw}"
    );
    assert!(
        raw.contains(r#""retry_after":0.3"#) && raw.contains(r#""global":false"#),
        "{raw}"
    );
    let err = http
        .send_message(channel, vec![], &json!({"content": "rl"}))
        .await
        .unwrap_err();
    assert_eq!(http_error(err).0, 429);
    assert_one_violation(&sim, "before the 429's retry_after");
    tokio::time::sleep(Duration::from_millis(320)).await;
    http.send_message(channel, vec![], &json!({"content": "rl"}))
        .await
        .expect("after retry_after");
    let statuses: Vec<u16> = sim
        .requests()
        .iter()
        .filter(|r| r.method == "POST" && r.path == path)
        .map(|r| r.status)
        .collect();
    assert_eq!(statuses[statuses.len() - 3..], [429, 429, 200]);

    // Editing a message older than the edit limit.
    sim.set_message_edit_ttl(Duration::from_millis(100));
    let old = http
        .send_message(channel, vec![], &json!({"content": "old"}))
        .await
        .unwrap();
    tokio::time::sleep(Duration::from_millis(150)).await;
    let err = http
        .edit_message(channel, old.id, &json!({"content": "new"}), vec![])
        .await
        .unwrap_err();
    assert_eq!(http_error(err).0, 400);
    assert_one_violation(&sim, "edit limit");
    sim.set_message_edit_ttl(Duration::from_secs(3600));

    // Interaction tokens expire.
    sim.set_token_ttl(Duration::from_millis(200));
    let it = sim
        .slash_command(&user, CHANNEL, "ping", &[], vec![("text", json!("ttl"))])
        .await;
    sim.wait_response(&it, WAIT).await.expect("callback");
    tokio::time::sleep(Duration::from_millis(250)).await;
    let err = http
        .create_followup_message(&it.token, &json!({"content": "late"}), vec![])
        .await
        .unwrap_err();
    assert_eq!(http_error(err).1, 50027);
    assert_one_violation(&sim, "lifetime");
    sim.set_token_ttl(Duration::from_secs(15 * 60));

    // A dropped connection: the client RESUMEs and gets the event it missed.
    sim.disconnect_gateway().await;
    let it = sim
        .slash_command(
            &user,
            CHANNEL,
            "ping",
            &[],
            vec![("text", json!("resumed"))],
        )
        .await;
    sim.wait_until(WAIT, "RESUME", |s| s.resume_count() == 1)
        .await
        .unwrap();
    let resp = sim
        .wait_response(&it, WAIT)
        .await
        .expect("callback after resume");
    assert_eq!(resp["data"]["content"], "pong: resumed");
    assert_eq!(sim.identify_count(), 1);

    // RECONNECT (op 7): the client reconnects and RESUMEs again.
    sim.send_reconnect().await;
    let it = sim
        .slash_command(
            &user,
            CHANNEL,
            "ping",
            &[],
            vec![("text", json!("reconnected"))],
        )
        .await;
    sim.wait_until(WAIT, "second RESUME", |s| s.resume_count() == 2)
        .await
        .unwrap();
    let resp = sim
        .wait_response(&it, WAIT)
        .await
        .expect("callback after reconnect");
    assert_eq!(resp["data"]["content"], "pong: reconnected");
    assert_eq!(sim.identify_count(), 1);

    // An answer later than 3 s is refused.
    let it = sim
        .slash_command(&user, CHANNEL, "ping", &[], vec![("text", json!("slow"))])
        .await;
    let err = sim.wait_response(&it, WAIT).await.unwrap_err();
    assert!(err.contains("ms after INTERACTION_CREATE"), "{err}");
    assert_one_violation(&sim, "limit 3000 ms");

    assert!(sim.violations().is_empty(), "{:#?}", sim.violations());
    let seen = seen.lock().unwrap().clone();
    assert!(
        !seen
            .iter()
            .any(|s| s.starts_with("error") && !s.contains("Unknown interaction")),
        "{seen:#?}"
    );
    assert!(seen.iter().any(|s| s == "component again"), "{seen:#?}");

    shards.shutdown_all().await;
    client_task.abort();
}

#[tokio::test]
async fn unknown_endpoints_and_bad_tokens_are_violations() {
    let sim = DiscordSim::start().await;
    let http = serenity::HttpBuilder::new(sim.token())
        .proxy(&sim.base_url)
        .ratelimiter_disabled(true)
        .build();
    let err = http
        .get_bans(serenity::GuildId::new(GUILD), None, None)
        .await
        .unwrap_err();
    assert_eq!(http_error(err).0, 404);
    assert_one_violation(&sim, "unexpected request GET /api/v10/guilds/");
    let guild = http
        .get_guild(serenity::GuildId::new(GUILD))
        .await
        .expect("guild");
    assert_eq!(guild.owner_id.get(), sim.owner_id);

    let stranger = serenity::HttpBuilder::new("not-the-token")
        .proxy(&sim.base_url)
        .ratelimiter_disabled(true)
        .build();
    let err = stranger.get_current_user().await.unwrap_err();
    assert_eq!(http_error(err).0, 401);
    assert_one_violation(&sim, "wrong bot token");

    let me = http.get_current_user().await.expect("users/@me");
    assert_eq!(me.id.get(), sim.bot_user_id);
    let app = http
        .get_current_application_info()
        .await
        .expect("application");
    assert_eq!(app.owner.map(|o| o.id.get()), Some(sim.owner_id));
    let channel: Value = serde_json::to_value(
        http.get_channel(serenity::ChannelId::new(CHANNEL))
            .await
            .unwrap(),
    )
    .unwrap();
    assert_eq!(channel["type"], 0);
    assert!(sim.violations().is_empty(), "{:#?}", sim.violations());
}

type PoiseError = Box<dyn std::error::Error + Send + Sync>;
type PoiseCtx<'a> = poise::Context<'a, (), PoiseError>;

/// Runs (poise parent command of `start`).
#[poise::command(slash_command, subcommands("start"))]
async fn run(_ctx: PoiseCtx<'_>) -> Result<(), PoiseError> {
    Ok(())
}

async fn complete_name(_ctx: PoiseCtx<'_>, partial: &str) -> serenity::CreateAutocompleteResponse {
    let mut response = serenity::CreateAutocompleteResponse::new();
    for name in ["alpha", "beta"]
        .into_iter()
        .filter(|n| n.starts_with(partial))
    {
        response = response.add_string_choice(name, name);
    }
    response
}

/// Start a run.
#[poise::command(slash_command)]
async fn start(
    ctx: PoiseCtx<'_>,
    #[description = "Run name"]
    #[autocomplete = "complete_name"]
    name: String,
    #[description = "Script"] script: Option<serenity::Attachment>,
    #[description = "Repeat"] count: Option<i64>,
) -> Result<(), PoiseError> {
    ctx.defer().await?;
    let size = match script {
        Some(a) => a.download().await?.len(),
        None => 0,
    };
    ctx.say(format!(
        "started {name} x{} ({size} bytes)",
        count.unwrap_or(1)
    ))
    .await?;
    Ok(())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn poise_framework_runs_against_the_simulator() {
    let sim = DiscordSim::start().await;
    let http = serenity::HttpBuilder::new(sim.token())
        .proxy(&sim.base_url)
        .ratelimiter_disabled(true)
        .build();
    let framework = poise::Framework::builder()
        .options(poise::FrameworkOptions {
            commands: vec![run()],
            ..Default::default()
        })
        .setup(|ctx, _ready, framework| {
            Box::pin(async move {
                let guild = serenity::GuildId::new(GUILD);
                poise::builtins::register_in_guild(ctx, &framework.options().commands, guild)
                    .await?;
                Ok(())
            })
        })
        .build();
    let mut client = serenity::ClientBuilder::new_with_http(http, serenity::GatewayIntents::GUILDS)
        .framework(framework)
        .await
        .expect("client");
    let shards = client.shard_manager.clone();
    let client_task = tokio::spawn(async move { client.start().await });

    sim.wait_until(WAIT, "guild command registration", |s| {
        !s.guild_commands(GUILD).is_empty()
    })
    .await
    .unwrap();
    let user = SimUser::member(700_000_000_000_000_002, GUILD, &[]);
    let ac = sim
        .autocomplete(
            &user,
            CHANNEL,
            "run",
            &["start"],
            vec![("name", json!("al"))],
            "name",
        )
        .await;
    let resp = sim.wait_response(&ac, WAIT).await.expect("autocomplete");
    assert_eq!(resp["type"], 8);
    assert_eq!(
        resp["data"]["choices"],
        json!([{"name": "alpha", "value": "alpha"}])
    );

    let (att, _) = sim.add_attachment("job.sh", b"echo 1\n".to_vec());
    let options = vec![
        ("name", json!("alpha")),
        ("script", json!(att)),
        ("count", json!(3)),
    ];
    let it = sim
        .slash_command(&user, CHANNEL, "run", &["start"], options)
        .await;
    assert_eq!(
        sim.wait_response(&it, WAIT).await.expect("defer")["type"],
        5
    );
    sim.wait_until(WAIT, "reply", |s| {
        s.followups(&it).first().is_some_and(|m| m["content"] != "")
    })
    .await
    .unwrap();
    assert_eq!(
        sim.followups(&it)[0]["content"],
        "started alpha x3 (7 bytes)"
    );

    let mut paths: Vec<String> = sim
        .requests()
        .iter()
        .map(|r| format!("{} {} -> {}", r.method, r.path, r.status))
        .collect();
    paths.dedup();
    eprintln!("requests made by poise + serenity:\n{}", paths.join("\n"));
    assert!(sim.violations().is_empty(), "{:#?}", sim.violations());
    shards.shutdown_all().await;
    client_task.abort();
}

/// Rules and fixtures that need no gateway: the test answers the
/// interactions itself through serenity's Http.
#[tokio::test]
async fn payload_rules_and_fixtures() {
    let sim = DiscordSim::start().await;
    let http = serenity::HttpBuilder::new(sim.token())
        .proxy(&sim.base_url)
        .ratelimiter_disabled(true)
        .application_id(serenity::ApplicationId::new(sim.app_id))
        .build();
    use serenity::CommandOptionType as T;

    // Registration is validated like Discord does.
    let bad = CreateCommand::new("Deploy").description("Upper case is refused");
    let err = serenity::Command::set_global_commands(&http, vec![bad])
        .await
        .unwrap_err();
    assert_eq!(http_error(err).1, 50035);
    assert_one_violation(&sim, "Command name is invalid");

    let opts = CreateCommand::new("opts")
        .description("Every option type")
        .add_option(CreateCommandOption::new(T::User, "who", "User").required(true))
        .add_option(CreateCommandOption::new(T::Channel, "where", "Channel"))
        .add_option(CreateCommandOption::new(T::Role, "role", "Role"))
        .add_option(CreateCommandOption::new(
            T::Mentionable,
            "ping",
            "Mentionable",
        ))
        .add_option(
            CreateCommandOption::new(T::Integer, "n", "Integer")
                .min_int_value(1)
                .max_int_value(5),
        )
        .add_option(CreateCommandOption::new(T::Number, "x", "Number"))
        .add_option(CreateCommandOption::new(T::Boolean, "yes", "Boolean"))
        .add_option(
            CreateCommandOption::new(T::String, "mode", "Choice")
                .add_string_choice("Fast", "fast")
                .add_string_choice("Safe", "safe"),
        );
    serenity::Command::set_global_commands(&http, vec![opts])
        .await
        .expect("register");

    let admin = SimUser::member(700_000_000_000_000_003, GUILD, &[600_000_000_000_000_009]);
    sim.set_role_permissions(600_000_000_000_000_009, 8);
    sim.add_user(&admin);
    let guild_it = sim
        .slash_command(
            &admin,
            CHANNEL,
            "opts",
            &[],
            vec![
                ("who", json!(admin.id)),
                ("where", json!(CHANNEL)),
                ("role", json!(600_000_000_000_000_009u64)),
                ("ping", json!(admin.id)),
                ("n", json!(3)),
                ("x", json!(2.5)),
                ("yes", json!(true)),
                ("mode", json!("safe")),
            ],
        )
        .await;
    let dm_user = SimUser::dm(700_000_000_000_000_004);
    let dm_channel = 900_000_000_000_000_002;
    let dm_it = sim
        .slash_command(
            &dm_user,
            dm_channel,
            "opts",
            &[],
            vec![("who", json!(dm_user.id))],
        )
        .await;
    let dm: Value = serde_json::to_value(
        http.get_channel(serenity::ChannelId::new(dm_channel))
            .await
            .unwrap(),
    )
    .unwrap();
    assert_eq!(dm["type"], 1);
    let member = http
        .get_member(
            serenity::GuildId::new(GUILD),
            serenity::UserId::new(admin.id),
        )
        .await
        .expect("member");
    assert!(member.permissions.is_none() || member.roles.len() == 1);

    // Embeds and components built with serenity's builders pass.
    let embed = serenity::CreateEmbed::new()
        .title("Run 42")
        .description("3 hosts")
        .field("web-1", "ok", true)
        .footer(serenity::CreateEmbedFooter::new("drover"));
    let select = serenity::CreateSelectMenu::new(
        "pick",
        serenity::CreateSelectMenuKind::String {
            options: vec![
                serenity::CreateSelectMenuOption::new("One", "1"),
                serenity::CreateSelectMenuOption::new("Two", "2"),
            ],
        },
    );
    let rows = vec![
        CreateActionRow::Buttons(vec![
            CreateButton::new("go").label("Go"),
            CreateButton::new_link("https://example.com/run/42").label("Logs"),
        ]),
        CreateActionRow::SelectMenu(select),
    ];
    let msg = CreateInteractionResponseMessage::new()
        .embed(embed)
        .components(rows)
        .ephemeral(true);
    http.create_interaction_response(
        serenity::InteractionId::new(guild_it.id),
        &guild_it.token,
        &CreateInteractionResponse::Message(msg),
        vec![],
    )
    .await
    .expect("rich response");
    let original = sim.followups(&guild_it)[0].clone();
    assert_eq!(original["flags"], 64);
    let original_id: u64 = original["id"].as_str().unwrap().parse().unwrap();

    // Select menu and modal.
    let choice = sim
        .select_menu(&admin, CHANNEL, original_id, "pick", &["2"])
        .await;
    let modal =
        serenity::CreateModal::new("why", "Reason").components(vec![CreateActionRow::InputText(
            serenity::CreateInputText::new(serenity::InputTextStyle::Short, "Reason", "reason"),
        )]);
    http.create_interaction_response(
        serenity::InteractionId::new(choice.id),
        &choice.token,
        &CreateInteractionResponse::Modal(modal),
        vec![],
    )
    .await
    .expect("modal");
    let submit = sim
        .submit_modal(&admin, &choice, vec![("reason", "because")])
        .await;
    let update = CreateInteractionResponseMessage::new()
        .content("picked 2")
        .components(vec![]);
    http.create_interaction_response(
        serenity::InteractionId::new(submit.id),
        &submit.token,
        &CreateInteractionResponse::UpdateMessage(update),
        vec![],
    )
    .await
    .expect("update from modal");
    assert_eq!(sim.message(original_id).unwrap()["content"], "picked 2");

    // Limits on embeds and components, with Discord's error paths.
    let too_much = json!({"type": 4, "data": {
        "embeds": [{"title": "t".repeat(257), "fields": [{"name": "", "value": "v"}]}],
        "components": [{"type": 1, "components": [
            {"type": 2, "style": 1, "custom_id": "same", "label": "a"},
            {"type": 2, "style": 1, "custom_id": "same", "label": "l".repeat(81)}
        ]}]
    }});
    let err = http
        .create_interaction_response(
            serenity::InteractionId::new(dm_it.id),
            &dm_it.token,
            &too_much,
            vec![],
        )
        .await
        .unwrap_err();
    let (status, code, mut paths) = http_error(err);
    paths.sort();
    assert_eq!((status, code), (400, 50035));
    assert_eq!(
        paths,
        [
            "components.0.components.1.custom_id",
            "components.0.components.1.label",
            "embeds.0.fields.0.name",
            "embeds.0.title"
        ]
    );
    assert_eq!(sim.take_violations().len(), 4);

    // The DM interaction can still be answered (the refusal did not ack it);
    // an empty message is refused with 50006.
    let empty = json!({"type": 4, "data": {"content": ""}});
    let err = http
        .create_interaction_response(
            serenity::InteractionId::new(dm_it.id),
            &dm_it.token,
            &empty,
            vec![],
        )
        .await
        .unwrap_err();
    assert_eq!(http_error(err).1, 50006);
    assert_one_violation(&sim, "empty message");
    let fine = json!({"type": 4, "data": {"content": "ok", "allowed_mentions": {"parse": []}}});
    http.create_interaction_response(
        serenity::InteractionId::new(dm_it.id),
        &dm_it.token,
        &fine,
        vec![],
    )
    .await
    .expect("answer after refusals");

    // Files over 10 MiB: 413 / 40005; kept attachments on edit.
    let channel = serenity::ChannelId::new(CHANNEL);
    let big = CreateAttachment::bytes(vec![0u8; 10 * 1024 * 1024 + 1], "big.bin");
    let err = channel
        .send_files(&http, vec![big], CreateMessage::new())
        .await
        .unwrap_err();
    assert_eq!(http_error(err).0, 413);
    assert_one_violation(&sim, "exceeds");
    let with_file = channel
        .send_files(
            &http,
            vec![CreateAttachment::bytes(b"a".to_vec(), "a.txt")],
            CreateMessage::new().content("v1"),
        )
        .await
        .unwrap();
    let edit = serenity::EditMessage::new().content("v2").attachments(
        serenity::EditAttachments::keep_all(&with_file)
            .add(CreateAttachment::bytes(b"bb".to_vec(), "b.txt")),
    );
    channel
        .edit_message(&http, with_file.id, edit)
        .await
        .expect("edit with files");
    let now = sim
        .messages(CHANNEL)
        .into_iter()
        .find(|m| m.id == with_file.id.get())
        .unwrap();
    assert_eq!(now.content, "v2");
    assert_eq!(now.edits, 1);
    assert_eq!(
        now.attachments,
        vec![("a.txt".to_string(), 1), ("b.txt".to_string(), 2)]
    );

    assert!(sim.violations().is_empty(), "{:#?}", sim.violations());
}

/// The `x-ratelimit-remaining` of a raw answer (lower-cased headers).
fn remaining_of(raw: &str) -> Option<u32> {
    raw.lines()
        .find_map(|l| l.strip_prefix("x-ratelimit-remaining: "))
        .and_then(|v| v.trim().parse().ok())
}

/// Per-route buckets: every answer says what is left; a request over the
/// limit gets 429 with `retry_after` and is a violation; buckets are per
/// major parameter and reset after their window.
#[tokio::test]
async fn route_buckets_count_down_and_answer_429_when_exceeded() {
    let sim = DiscordSim::start().await;
    let window = Duration::from_millis(400);
    sim.set_route_limit("POST", "/channels/{channel_id}/messages", 3, window);
    let path = format!("/api/v10/channels/{CHANNEL}/messages");
    let mut left = Vec::new();
    for _ in 0..3 {
        let raw = raw_post(&sim, &path, r#"{"content":"hi"}"#).await;
        assert!(raw.starts_with("http/1.1 200"), "{raw}");
        assert!(raw.contains("x-ratelimit-limit: 3"), "{raw}");
        left.push(remaining_of(&raw));
    }
    assert_eq!(left, [Some(2), Some(1), Some(0)]);
    let over = raw_post(&sim, &path, r#"{"content":"one too many"}"#).await;
    assert!(over.starts_with("http/1.1 429"), "{over}");
    assert!(over.contains(r#""retry_after":0."#), "{over}");
    assert_one_violation(&sim, "X-RateLimit-Remaining: 0");
    // another channel is another bucket; other routes have their own limit
    let elsewhere = format!("/api/v10/channels/{}/messages", CHANNEL + 1);
    let raw = raw_post(&sim, &elsewhere, r#"{"content":"hi"}"#).await;
    assert!(raw.starts_with("http/1.1 200"), "{raw}");
    assert_eq!(remaining_of(&raw), Some(2));
    tokio::time::sleep(window).await;
    let raw = raw_post(&sim, &path, r#"{"content":"after the reset"}"#).await;
    assert!(raw.starts_with("http/1.1 200"), "{raw}");
    assert_eq!(remaining_of(&raw), Some(2));
    // Discord's default for message writes: 5 per 5 s per channel
    let http = serenity::HttpBuilder::new(sim.token())
        .proxy(&sim.base_url)
        .ratelimiter_disabled(true)
        .build();
    let channel = serenity::ChannelId::new(CHANNEL + 2);
    let sent = channel.say(&http, "first").await.expect("post");
    for n in 0..5 {
        channel
            .edit_message(
                &http,
                sent.id,
                serenity::EditMessage::new().content(format!("{n}")),
            )
            .await
            .expect("five edits fit in the bucket");
    }
    let err = channel
        .edit_message(&http, sent.id, serenity::EditMessage::new().content("6"))
        .await
        .unwrap_err();
    assert_eq!(http_error(err).0, 429);
    assert_one_violation(&sim, "5 requests per 5s");
    assert!(sim.violations().is_empty(), "{:#?}", sim.violations());
}

/// Discord's upload limits: 10 MiB per file, 25 MiB per request.
#[tokio::test]
async fn uploads_are_limited_per_file_and_per_request() {
    let sim = DiscordSim::start().await;
    let http = serenity::HttpBuilder::new(sim.token())
        .proxy(&sim.base_url)
        .ratelimiter_disabled(true)
        .build();
    let channel = serenity::ChannelId::new(CHANNEL);
    let file = |name: &str| CreateAttachment::bytes(vec![b'x'; 9 * 1024 * 1024], name);
    let three = vec![file("a.log"), file("b.log"), file("c.log")];
    let err = channel
        .send_files(&http, three, CreateMessage::new().content("27 MiB"))
        .await
        .unwrap_err();
    assert_eq!(http_error(err).0, 413);
    assert_one_violation(&sim, "per request");
    assert!(sim.messages(CHANNEL).is_empty(), "nothing was posted");
    let two = vec![file("a.log"), file("b.log")];
    channel
        .send_files(&http, two, CreateMessage::new().content("18 MiB"))
        .await
        .expect("two files of 9 MiB fit");
    assert_eq!(sim.messages(CHANNEL)[0].attachments.len(), 2);
    assert!(sim.violations().is_empty(), "{:#?}", sim.violations());
}
