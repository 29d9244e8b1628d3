//! Live progress messages: one normal channel message per run, edited at
//! most once per `discord.edit_interval` with the latest state (the final
//! state always lands), moved to a new message once it is
//! `discord.message_handover` old (Discord limits edits of messages older
//! than an hour strictly), and followed by the run's logs as attachments.

use std::collections::HashSet;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use poise::serenity_prelude as serenity;

use super::render::{self, ButtonStyle, ProgressView};
use super::Http;
use crate::app::{Adoption, App};
use crate::state::{HostState, RunSnapshot, RunState};

/// Most files attached to one message, and the size of each.
pub const MAX_FILES: usize = 10;
pub const MAX_FILE_BYTES: usize = 10 * 1024 * 1024;
/// Attempts to land the final state before giving up (logged).
const FINAL_ATTEMPTS: u32 = 30;
/// How often the bot looks for runs whose controller is gone (a CLI run
/// killed, a driver that gave up) while it runs.
const ADOPT_EVERY: Duration = Duration::from_secs(5);

/// How often a progress message is edited, and how old it gets before the
/// run moves to a new message.
#[derive(Debug, Clone, Copy)]
pub struct Pacing {
    pub edit_every: Duration,
    pub handover_after: Duration,
}

/// Tracks the runs this bot shows (the app drives them).
#[derive(Clone)]
pub struct Tracker {
    drover: App,
    pacing: Pacing,
    tracked: Arc<Mutex<HashSet<i64>>>,
    editor: Editor,
}

/// Why an edit did not land.
#[derive(Debug, thiserror::Error)]
pub enum EditError {
    #[error("rate limited; retry after {0:?}")]
    RateLimited(Duration),
    #[error("Discord answered {status}: {body}")]
    Refused { status: u16, body: String },
    #[error("request failed: {0}")]
    Transport(#[from] reqwest::Error),
}

/// Edits progress messages with its own HTTP client, so that a 429's
/// `retry_after` is honoured exactly (serenity's error type drops it, and its
/// ratelimiter must stay off behind a proxy because it ignores the proxy).
#[derive(Clone)]
pub struct Editor {
    client: reqwest::Client,
    base: String,
    authorization: String,
}

impl Editor {
    pub fn new(api_url: Option<&str>, token: &str) -> Editor {
        let base = api_url
            .unwrap_or("https://discord.com")
            .trim_end_matches('/')
            .to_string();
        let authorization = if token.starts_with("Bot ") {
            token.to_string()
        } else {
            format!("Bot {token}")
        };
        Editor {
            client: reqwest::Client::new(),
            base,
            authorization,
        }
    }

    async fn edit(
        &self,
        channel: serenity::ChannelId,
        message: serenity::MessageId,
        edit: &serenity::EditMessage,
    ) -> Result<(), EditError> {
        let url = format!(
            "{}/api/v10/channels/{channel}/messages/{message}",
            self.base
        );
        let body = serde_json::to_vec(edit).unwrap_or_default();
        let response = self
            .client
            .patch(url)
            .header("Authorization", &self.authorization)
            .header("Content-Type", "application/json")
            .body(body)
            .send()
            .await?;
        let status = response.status().as_u16();
        if response.status().is_success() {
            return Ok(());
        }
        let header_wait = response
            .headers()
            .get("retry-after")
            .and_then(|v| v.to_str().ok())
            .and_then(|v| v.parse::<f64>().ok());
        let text = response.text().await.unwrap_or_default();
        if status == 429 {
            let body_wait = serde_json::from_str::<serde_json::Value>(&text)
                .ok()
                .and_then(|v| v["retry_after"].as_f64());
            let wait = body_wait.or(header_wait).unwrap_or(1.0).clamp(0.0, 300.0);
            return Err(EditError::RateLimited(Duration::from_secs_f64(wait)));
        }
        Err(EditError::Refused {
            status,
            body: text.chars().take(300).collect(),
        })
    }
}

/// The line that opens a message continuing a run's first message.
fn continued_from(run_id: i64, first: &Shown, guild: Option<serenity::GuildId>) -> String {
    format!(
        "Run {run_id} continues here (started in {}).",
        first.message.link(first.channel, guild)
    )
}

/// The guild of a channel, for message links (`None` links as a DM would).
async fn guild_of(http: &Http, channel: serenity::ChannelId) -> Option<serenity::GuildId> {
    match channel.to_channel(http).await {
        Ok(serenity::Channel::Guild(c)) => Some(c.guild_id),
        Ok(_) => None,
        Err(e) => {
            tracing::warn!(error = %e, "cannot look up the channel's guild for a message link");
            None
        }
    }
}

/// The view as `shown` displays it: its preface line, if any, first.
fn prefaced(view: &ProgressView, shown: &Shown) -> ProgressView {
    prefaced_with(view, shown.preface.as_deref())
}

fn prefaced_with(view: &ProgressView, preface: Option<&str>) -> ProgressView {
    let mut view = view.clone();
    if let Some(preface) = preface {
        view.content = format!("{preface}\n{}", view.content);
    }
    view
}

/// Turns a rendered view into serenity builders.
pub fn embeds_of(view: &ProgressView) -> Vec<serenity::CreateEmbed> {
    view.embeds
        .iter()
        .map(|e| {
            let mut embed = serenity::CreateEmbed::new()
                .title(&e.title)
                .description(&e.description)
                .colour(e.color)
                .fields(
                    e.fields
                        .iter()
                        .map(|f| (f.name.clone(), f.value.clone(), f.inline)),
                );
            if let Some(footer) = &e.footer {
                embed = embed.footer(serenity::CreateEmbedFooter::new(footer));
            }
            embed
        })
        .collect()
}

pub fn components_of(view: &ProgressView) -> Vec<serenity::CreateActionRow> {
    view.buttons
        .chunks(5)
        .take(5)
        .map(|row| {
            serenity::CreateActionRow::Buttons(
                row.iter()
                    .map(|b| {
                        serenity::CreateButton::new(&b.custom_id)
                            .label(&b.label)
                            .style(match b.style {
                                ButtonStyle::Primary => serenity::ButtonStyle::Primary,
                                ButtonStyle::Secondary => serenity::ButtonStyle::Secondary,
                                ButtonStyle::Danger => serenity::ButtonStyle::Danger,
                            })
                            .disabled(b.disabled)
                    })
                    .collect(),
            )
        })
        .collect()
}

fn edit_of(view: &ProgressView) -> serenity::EditMessage {
    serenity::EditMessage::new()
        .content(&view.content)
        .embeds(embeds_of(view))
        .components(components_of(view))
        .allowed_mentions(serenity::CreateAllowedMentions::new())
}

fn message_of(view: &ProgressView) -> serenity::CreateMessage {
    serenity::CreateMessage::new()
        .content(&view.content)
        .embeds(embeds_of(view))
        .components(components_of(view))
        .allowed_mentions(serenity::CreateAllowedMentions::new())
}

/// The message currently showing a run.
struct Shown {
    channel: serenity::ChannelId,
    message: serenity::MessageId,
    /// When it was posted (epoch ms), to move on before edits stop working.
    posted_ms: i64,
    /// A line kept above the rendered content on every edit (a continued
    /// message links the run's first one).
    preface: Option<String>,
}

impl Shown {
    /// The message recorded for a run (a restarted bot goes on editing it).
    fn stored(m: &crate::app::RunMessage) -> Result<Shown, String> {
        let id = |raw: &str| {
            raw.parse::<u64>()
                .ok()
                .filter(|v| *v != 0)
                .ok_or_else(|| format!("stored Discord id '{raw}' is not a snowflake"))
        };
        Ok(Shown {
            channel: serenity::ChannelId::new(id(&m.channel_id)?),
            message: serenity::MessageId::new(id(&m.message_id)?),
            posted_ms: m.created_at,
            preface: None,
        })
    }
}

impl Tracker {
    pub fn new(drover: App, pacing: Pacing, editor: Editor) -> Tracker {
        Tracker {
            drover,
            pacing,
            tracked: Arc::new(Mutex::new(HashSet::new())),
            editor,
        }
    }

    /// Shows a run (started here or taken over) until it ends.
    pub fn track(&self, http: Http, run_id: i64, channel: Option<serenity::ChannelId>) {
        {
            let mut tracked = self.tracked.lock().unwrap_or_else(|p| p.into_inner());
            if !tracked.insert(run_id) {
                return;
            }
        }
        let tracker = self.clone();
        tokio::spawn(async move {
            if let Err(e) = tracker.follow(&http, run_id, channel).await {
                tracing::error!(run_id, error = %e, "progress message stopped");
            }
            tracker
                .tracked
                .lock()
                .unwrap_or_else(|p| p.into_inner())
                .remove(&run_id);
        });
    }

    /// Takes over runs whose controller died, and resumes their messages.
    pub async fn adopt_orphans(&self, http: Http) {
        // The one adoption path, driving here: the bot lives long.
        if let Err(e) = self.drover.adopt_orphans(Adoption::DriveHere).await {
            tracing::error!(error = %e, "cannot adopt orphaned runs");
        }
        // Every running run with a message shows its progress, whichever
        // process drives it (one taken over here, or driven elsewhere).
        match self.drover.running_runs_with_messages().await {
            Ok(runs) => {
                for run_id in runs {
                    self.track(http.clone(), run_id, None);
                }
            }
            Err(e) => tracing::error!(error = %e, "cannot look for runs to show"),
        }
    }

    /// Adopts orphaned runs now and every `ADOPT_EVERY` while the bot runs:
    /// a run whose controller dies after the bot started is taken over too.
    pub fn adopt_periodically(&self, http: Http) {
        let tracker = self.clone();
        tokio::spawn(async move {
            let mut every = tokio::time::interval(ADOPT_EVERY);
            every.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
            loop {
                every.tick().await;
                tracker.adopt_orphans(http.clone()).await;
            }
        });
    }

    async fn follow(
        &self,
        http: &Http,
        run_id: i64,
        channel: Option<serenity::ChannelId>,
    ) -> Result<(), super::BotError> {
        let redactor = render::Redactor::new(&self.drover.config.logs.redact).unwrap_or_default();
        let first = self.drover.run_snapshot(run_id).await?;
        let mut view = render::render_progress(&first, &redactor);
        let messages = self.drover.run_messages(run_id).await?;
        let mut shown = match (channel, messages.last()) {
            (_, Some(m)) => {
                let mut shown = Shown::stored(m).map_err(super::BotError::BadInput)?;
                if let Some(first) = messages.first().filter(|f| f.message_id != m.message_id) {
                    let first = Shown::stored(first).map_err(super::BotError::BadInput)?;
                    let guild = guild_of(http, first.channel).await;
                    shown.preface = Some(continued_from(run_id, &first, guild));
                }
                shown
            }
            (Some(channel), None) => self.post(http, run_id, channel, &view).await?,
            (None, None) => return Ok(()),
        };
        let last = loop {
            tokio::time::sleep(self.pacing.edit_every).await;
            let snapshot = self.drover.run_snapshot(run_id).await?;
            let finished = snapshot.state != RunState::Running;
            let next = render::render_progress(&snapshot, &redactor);
            let age_ms = u128::try_from(crate::domain::now_ms() - shown.posted_ms).unwrap_or(0);
            if age_ms > self.pacing.handover_after.as_millis() {
                shown = self
                    .continue_in_new_message(http, run_id, &shown, &view, &next)
                    .await?;
            } else if next != view || finished {
                let attempts = if finished { FINAL_ATTEMPTS } else { 1 };
                self.edit(&shown, &prefaced(&next, &shown), attempts).await;
            }
            view = next;
            if finished {
                break snapshot;
            }
        };
        self.attach_logs(http, shown.channel, &last).await;
        Ok(())
    }

    async fn post(
        &self,
        http: &Http,
        run_id: i64,
        channel: serenity::ChannelId,
        view: &ProgressView,
    ) -> Result<Shown, super::BotError> {
        let mut attempt = 1;
        let message = loop {
            match channel.send_message(http, message_of(view)).await {
                Ok(message) => break message,
                Err(e) if attempt < FINAL_ATTEMPTS => {
                    tracing::warn!(attempt, error = %e, "posting the progress message failed");
                    tokio::time::sleep(retry_delay(&e, attempt)).await;
                    attempt += 1;
                }
                Err(e) => return Err(e.into()),
            }
        };
        self.drover
            .record_run_message(
                run_id,
                &channel.get().to_string(),
                &message.id.get().to_string(),
            )
            .await?;
        Ok(Shown {
            channel,
            message: message.id,
            posted_ms: crate::domain::now_ms(),
            preface: None,
        })
    }

    /// Posts the run's progress in a new message that links the old one,
    /// and points the old one (as it last showed) to the new one.
    async fn continue_in_new_message(
        &self,
        http: &Http,
        run_id: i64,
        old: &Shown,
        old_view: &ProgressView,
        view: &ProgressView,
    ) -> Result<Shown, super::BotError> {
        let guild = guild_of(http, old.channel).await;
        let preface = old
            .preface
            .clone()
            .unwrap_or_else(|| continued_from(run_id, old, guild));
        let mut new = self
            .post(
                http,
                run_id,
                old.channel,
                &prefaced_with(view, Some(&preface)),
            )
            .await?;
        new.preface = Some(preface);
        let mut old_view = old_view.clone();
        old_view.content = format!(
            "Run {run_id} continues in {}.",
            new.message.link(new.channel, guild)
        );
        self.edit(old, &prefaced(&old_view, old), 3).await;
        Ok(new)
    }

    /// Edits the message; on a 429 waits exactly as told and retries, on
    /// other failures backs off; up to `attempts` attempts, so that the
    /// final state always lands.
    async fn edit(&self, shown: &Shown, view: &ProgressView, attempts: u32) {
        let edit = edit_of(view);
        for attempt in 1..=attempts {
            match self.editor.edit(shown.channel, shown.message, &edit).await {
                Ok(()) => return,
                Err(EditError::RateLimited(wait)) => {
                    tracing::debug!(attempt, ?wait, "progress edit rate limited");
                    if attempt < attempts {
                        tokio::time::sleep(wait).await;
                    }
                }
                Err(e) => {
                    tracing::warn!(attempt, error = %e, "editing the progress message failed");
                    if attempt < attempts {
                        tokio::time::sleep(Duration::from_millis(500 * u64::from(attempt.min(8))))
                            .await;
                    }
                }
            }
        }
    }

    /// Posts the run's logs as files: failed hosts first, at most
    /// `MAX_FILES` files of `MAX_FILE_BYTES`; names what does not fit.
    async fn attach_logs(&self, http: &Http, channel: serenity::ChannelId, snapshot: &RunSnapshot) {
        let redactor = render::Redactor::new(&self.drover.config.logs.redact).unwrap_or_default();
        let mut hosts: Vec<&crate::state::HostSnapshot> = snapshot.hosts.iter().collect();
        hosts.sort_by_key(|h| h.state == HostState::Succeeded);
        let mut files = Vec::new();
        let mut left_out = Vec::new();
        for host in hosts {
            // The end of a host's logs, read from the files' ends: what
            // is left out is said at the top.
            let text = self
                .drover
                .logs_tail(snapshot, Some(&host.host), MAX_FILE_BYTES - 1024);
            if text.is_empty() {
                continue;
            }
            if files.len() == MAX_FILES {
                left_out.push(host.host.clone());
                continue;
            }
            let mut text = redactor.redact(&text);
            if text.len() > MAX_FILE_BYTES {
                let cut = text.len() - (MAX_FILE_BYTES - 200);
                let cut = (cut..text.len())
                    .find(|i| text.is_char_boundary(*i))
                    .unwrap_or(text.len());
                text = format!("[drover: the first {cut} bytes are not attached; /run logs has everything]\n{}", &text[cut..]);
            }
            files.push(serenity::CreateAttachment::bytes(
                text.into_bytes(),
                format!("run-{}-{}.log", snapshot.id, host.host),
            ));
        }
        if files.is_empty() {
            return;
        }
        let mut content = format!("Logs of run {} ({}).", snapshot.id, snapshot.state.as_str());
        if !left_out.is_empty() {
            let names = render::sanitize(&left_out.join(", "), &redactor);
            let names: String = names.chars().take(1500).collect();
            content.push_str(&format!(
                " Not attached ({} hosts, use /run logs): {names}",
                left_out.len()
            ));
        }
        let message = serenity::CreateMessage::new()
            .content(content)
            .add_files(files)
            .allowed_mentions(serenity::CreateAllowedMentions::new());
        for attempt in 1..=5 {
            match channel.send_message(http, message.clone()).await {
                Ok(_) => return,
                Err(e) => {
                    tracing::warn!(attempt, error = %e, "posting the run's logs failed");
                    tokio::time::sleep(retry_delay(&e, attempt)).await;
                }
            }
        }
    }
}

/// How long to wait before retrying a failed request.
fn retry_delay(error: &serenity::Error, attempt: u32) -> Duration {
    let rate_limited = matches!(
        error,
        serenity::Error::Http(serenity::HttpError::UnsuccessfulRequest(r)) if r.status_code.as_u16() == 429
    );
    let base = if rate_limited { 1000 } else { 500 };
    Duration::from_millis(base * u64::from(attempt.min(8)))
}
