//! Live progress messages: one normal channel message per run, edited as
//! the app's run events come (the first change at once, then at most once
//! per `discord.edit_interval`) with the latest state (the final
//! state always lands), moved to a new message once it is
//! `discord.message_handover` old (Discord limits edits of messages older
//! than an hour strictly), and followed by the run's logs as attachments.

use std::collections::HashSet;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use poise::serenity_prelude as serenity;

use super::api::ChannelApi;
use super::render::{self, ButtonStyle, ProgressView};
use super::{memory, run_logs, Http};
use crate::app::{Adoption, App};
use crate::state::{RunSnapshot, RunState};

/// Attempts to land the final state before giving up (logged).
const FINAL_ATTEMPTS: u32 = 30;
/// Attempts to post the final logs.
const LOGS_ATTEMPTS: u32 = 5;
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
    api: ChannelApi,
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
    let mut buttons: Vec<serenity::CreateButton> = view
        .buttons
        .iter()
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
        .collect();
    if let Some(url) = &view.page_url {
        buttons.push(serenity::CreateButton::new_link(url).label("Open run page"));
    }
    buttons
        .chunks(5)
        .take(5)
        .map(|row| serenity::CreateActionRow::Buttons(row.to_vec()))
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
    pub fn new(drover: App, pacing: Pacing, api: ChannelApi) -> Tracker {
        Tracker {
            drover,
            pacing,
            tracked: Arc::new(Mutex::new(HashSet::new())),
            api,
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
            // The run is over here: what it used is free, and goes back.
            crate::memory::release_freed_heap();
            tracing::debug!(run_id, "run no longer shown; freed memory released");
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
    /// Each time, serenity's rate limit buckets of past interactions go.
    pub fn adopt_periodically(&self, http: Http) {
        let tracker = self.clone();
        tokio::spawn(async move {
            let mut every = tokio::time::interval(ADOPT_EVERY);
            every.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
            loop {
                every.tick().await;
                tracker.adopt_orphans(http.clone()).await;
                memory::prune_rate_limit_buckets(&http).await;
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
        // Subscribed before the first read: no change falls in between.
        let mut events = self.drover.subscribe_runs();
        let first = self.drover.run_snapshot(run_id).await?;
        let public_base = self.drover.config.web.public_base().map(str::to_string);
        let mut view = render::render_progress_linked(&first, &redactor, public_base.as_deref());
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
            (Some(channel), None) => self.post(run_id, channel, &view).await?,
            (None, None) => return Ok(()),
        };
        // The first change is shown at once; later edits come at least
        // `edit_every` apart.
        let mut last_edit: Option<tokio::time::Instant> = None;
        let last = loop {
            self.next_change(&mut events, run_id, last_edit).await;
            let snapshot = self.drover.run_snapshot(run_id).await?;
            let finished = snapshot.state != RunState::Running;
            let next = render::render_progress_linked(&snapshot, &redactor, public_base.as_deref());
            let age_ms = u128::try_from(crate::domain::now_ms() - shown.posted_ms).unwrap_or(0);
            if age_ms > self.pacing.handover_after.as_millis() {
                shown = self
                    .continue_in_new_message(http, run_id, &shown, &view, &next)
                    .await?;
            } else if next != view || finished {
                let attempts = if finished { FINAL_ATTEMPTS } else { 1 };
                self.edit(&shown, &prefaced(&next, &shown), attempts).await;
                last_edit = Some(tokio::time::Instant::now());
            }
            view = next;
            if finished {
                break snapshot;
            }
        };
        self.attach_logs(shown.channel, &last).await;
        Ok(())
    }

    /// Waits until run `run_id` changed, as the app's run events say,
    /// and until `edit_every` has passed since `last_edit`. A run driven by
    /// another process (a CLI run) sends no event here: after `edit_every`
    /// without one, the snapshot is read anyway.
    async fn next_change(
        &self,
        events: &mut tokio::sync::broadcast::Receiver<crate::app::RunEvent>,
        run_id: i64,
        last_edit: Option<tokio::time::Instant>,
    ) {
        let every = self.pacing.edit_every;
        let _ = tokio::time::timeout(every, async {
            loop {
                match events.recv().await {
                    Ok(event) if event.run_id == run_id => return,
                    Ok(_) => {}
                    // Missed events: read the snapshot.
                    Err(tokio::sync::broadcast::error::RecvError::Lagged(_)) => return,
                    // No events any more (shutting down): the timer paces.
                    Err(tokio::sync::broadcast::error::RecvError::Closed) => {
                        std::future::pending::<()>().await
                    }
                }
            }
        })
        .await;
        if let Some(edited) = last_edit {
            tokio::time::sleep_until(edited + every).await;
        }
        // What else came meanwhile is in the snapshot about to be read.
        while !matches!(
            events.try_recv(),
            Err(tokio::sync::broadcast::error::TryRecvError::Empty
                | tokio::sync::broadcast::error::TryRecvError::Closed)
        ) {}
    }

    async fn post(
        &self,
        run_id: i64,
        channel: serenity::ChannelId,
        view: &ProgressView,
    ) -> Result<Shown, super::BotError> {
        let message = self
            .api
            .post(channel, &message_of(view), FINAL_ATTEMPTS)
            .await?;
        self.drover
            .record_run_message(
                run_id,
                &channel.get().to_string(),
                &message.get().to_string(),
            )
            .await?;
        Ok(Shown {
            channel,
            message,
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
            .post(run_id, old.channel, &prefaced_with(view, Some(&preface)))
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

    /// Edits the message (up to `attempts` attempts, so that the final
    /// state always lands); a failure is logged.
    async fn edit(&self, shown: &Shown, view: &ProgressView, attempts: u32) {
        if let Err(e) = self
            .api
            .edit(shown.channel, shown.message, &edit_of(view), attempts)
            .await
        {
            tracing::warn!(error = %e, "editing the progress message failed");
        }
    }

    /// Posts the end of the run's logs as files (see `run_logs`).
    async fn attach_logs(&self, channel: serenity::ChannelId, snapshot: &RunSnapshot) {
        let redactor = render::Redactor::new(&self.drover.config.logs.redact).unwrap_or_default();
        let budget = run_logs::MESSAGE_BYTES;
        let Some(logs) = run_logs::final_message(&self.drover, snapshot, &redactor, budget) else {
            return;
        };
        let payload = serde_json::json!({
            "content": logs.content,
            "allowed_mentions": {"parse": []},
        });
        if let Err(e) = self
            .api
            .post_files(channel, payload, &logs.files, LOGS_ATTEMPTS)
            .await
        {
            tracing::warn!(run_id = snapshot.id, error = %e, "posting the run's logs failed");
        }
    }
}
