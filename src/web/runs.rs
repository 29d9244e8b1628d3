//! Run pages: `/runs/{id}` (a header, every host grouped by state with
//! failures first, filters by state and host name, Cancel and Rerun failed
//! for operators), its live stream `/runs/{id}/live` (server-sent events
//! carrying the page's run section, rendered again when the run changes,
//! at most twice a second, from its current state, so a page opened late or
//! a dropped connection misses nothing), a host's whole step logs as a
//! download (`/runs/{id}/hosts/{host}/logs`, streamed from the files), and
//! `/api/runs/{id}` (the `run status --json` document). Host output is text:
//! maud escapes it, and `logs.redact` has been applied by the app.

use std::convert::Infallible;
use std::time::Duration;

use axum::body::{Body, Bytes};
use axum::extract::{Path, Query, State};
use axum::http::{header, StatusCode};
use axum::response::{Html, IntoResponse, Redirect, Response};
use axum::{Extension, Form};
use maud::{html, Markup, PreEscaped};
use serde::Deserialize;

use super::guard::{Caller, CSRF_FIELD};
use super::live::{Frame, FrameReceiver, GroupParts, SectionParts, LIVE_EVERY};
use super::pages::layout;
use super::{refusal, WebState};
use crate::access::Level;
use crate::app::CancelWait;
use crate::error::EntityKind;
use crate::state::{HostSnapshot, HostState, RunSnapshot, RunState};

/// The page's filters (query parameters): a state (`failed`: every kind
/// of failure) and part of a host name.
#[derive(Debug, Clone, Default, Deserialize)]
pub struct Filter {
    #[serde(default)]
    state: String,
    #[serde(default)]
    host: String,
}

impl Filter {
    fn keeps(&self, host: &HostSnapshot) -> bool {
        let state_kept = match self.state.as_str() {
            "" => true,
            "failed" => host.state.is_failure(),
            name => host.state.name() == name,
        };
        state_kept && host.host.contains(self.host.trim())
    }

    fn query(&self) -> String {
        form_urlencoded::Serializer::new(String::new())
            .append_pair("state", &self.state)
            .append_pair("host", &self.host)
            .finish()
    }
}

/// What the caller may do on a run page.
struct Powers {
    operate: bool,
    csrf: String,
}

fn powers_of(caller: &Caller) -> Powers {
    let level = caller.session.as_ref().map(|(session, _)| session.level);
    Powers {
        operate: level.is_some_and(|l| l >= Level::Operator),
        csrf: caller.csrf().unwrap_or_default(),
    }
}

/// Failures first, then hosts in flight, queued, succeeded, cancelled.
fn group_rank(state: &HostState) -> u8 {
    match state {
        s if s.is_failure() => 0,
        HostState::Connecting | HostState::Running { .. } => 1,
        HostState::Queued => 2,
        HostState::Succeeded => 3,
        _ => 4,
    }
}

/// The hosts the filter keeps, grouped by state in display order.
fn host_groups<'a>(
    snapshot: &'a RunSnapshot,
    filter: &Filter,
) -> Vec<(&'static str, Vec<&'a HostSnapshot>)> {
    let mut hosts: Vec<&HostSnapshot> = snapshot.hosts.iter().filter(|h| filter.keeps(h)).collect();
    hosts.sort_by(|a, b| {
        (group_rank(&a.state), a.state.name())
            .cmp(&(group_rank(&b.state), b.state.name()))
            .then_with(|| crate::text::natural_order(&a.host, &b.host))
    });
    let mut groups: Vec<(&'static str, Vec<&HostSnapshot>)> = Vec::new();
    for host in hosts {
        match groups.last_mut() {
            Some((name, members)) if *name == host.state.name() => members.push(host),
            _ => groups.push((host.state.name(), vec![host])),
        }
    }
    groups
}

fn elapsed_text(ms: Option<i64>) -> String {
    ms.map(|ms| {
        humantime::format_duration(Duration::from_secs((ms / 1000).max(0) as u64)).to_string()
    })
    .unwrap_or_default()
}

/// Up to this many hosts shown, each shows the end of its output; above,
/// only hosts that need attention do (not succeeded, not queued), so that a
/// big run's page and its live updates stay small.
const EVERY_OUTPUT_UP_TO: usize = 25;

fn needs_attention(host: &HostSnapshot) -> bool {
    !matches!(host.state, HostState::Succeeded | HostState::Queued)
}

fn host_row(run: i64, host: &HostSnapshot, show_output: bool) -> Markup {
    let step = match (host.step(), &host.script) {
        (Some(step), Some(script)) => format!("{step}/{} {script}", host.steps),
        (Some(step), None) => format!("{step}/{}", host.steps),
        (None, _) if host.state == HostState::Succeeded => format!("{0}/{0}", host.steps),
        (None, _) => String::new(),
    };
    let logs = format!("/runs/{run}/hosts/{}/logs", host.host);
    html! {
        tr class="host" data-host=(host.host) data-state=(host.state.name()) {
            // The host alone: its output shows whatever the run's size.
            td class="name" { a href={ "/runs/" (run) "?host=" (host.host) } { (host.host) } }
            td class="state" { (host.state.label()) }
            td class="step" { (step) }
            td class="ended" { (host.exit_summary().unwrap_or_default()) }
            td class="elapsed" { (elapsed_text(host.elapsed_ms)) }
            td class="output" {
                @if show_output && !host.excerpt.is_empty() {
                    // A failed host's output is open: it is what one looks at.
                    details open[host.state.is_failure()] {
                        summary { "output" }
                        pre class="tail" { (crate::text::strip_controls(&host.excerpt)) }
                    }
                }
                a class="logs" href=(logs) { "full logs" }
            }
        }
    }
}

/// The part of the run page the live stream keeps up to date.
fn run_section(snapshot: &RunSnapshot, filter: &Filter, powers: &Powers) -> Markup {
    PreEscaped(section_parts(snapshot, filter, powers).html())
}

/// The run section in the parts the live stream sends: the head (summary,
/// buttons, notes) and the host groups with their rows.
fn section_parts(snapshot: &RunSnapshot, filter: &Filter, powers: &Powers) -> SectionParts {
    let groups = host_groups(snapshot, filter);
    let every_output =
        groups.iter().map(|(_, hosts)| hosts.len()).sum::<usize>() <= EVERY_OUTPUT_UP_TO;
    SectionParts {
        finished: snapshot.state != RunState::Running,
        head: section_head(snapshot, powers, groups.is_empty(), every_output).into_string(),
        groups: groups
            .iter()
            .map(|(state, hosts)| {
                let frame = html! {
                    section class={ "hosts state-" (state) } {
                        h2 { (state) " (" (hosts.len()) ")" }
                        table {
                            thead { tr { th { "Host" } th { "State" } th { "Step" } th { "Ended" } th { "Time" } th { "Output" } } }
                            tbody {}
                        }
                    }
                }
                .into_string();
                let (open, close) = frame.split_at(frame.find("</tbody>").unwrap_or(frame.len()));
                GroupParts {
                    frame_open: open.to_string(),
                    frame_close: close.to_string(),
                    rows: hosts
                        .iter()
                        .map(|host| {
                            let output = every_output || needs_attention(host);
                            (host.host.clone(), host_row(snapshot.id, host, output).into_string())
                        })
                        .collect(),
                }
            })
            .collect(),
    }
}

/// The summary, the buttons and the notes above the hosts.
fn section_head(
    snapshot: &RunSnapshot,
    powers: &Powers,
    no_hosts: bool,
    every_output: bool,
) -> Markup {
    let counts: Vec<String> = snapshot
        .counts()
        .iter()
        .map(|(state, n)| format!("{n} {state}"))
        .collect();
    let finished = snapshot.state != RunState::Running;
    let any_failure = snapshot.hosts.iter().any(|h| h.state.is_failure());
    html! {
        p class="summary" {
            span id="run-state-name" class={ "state-" (snapshot.state.as_str()) } { (snapshot.state.as_str()) }
            " · " span id="counts" { (snapshot.hosts.len()) " hosts: " (counts.join(" · ")) }
            " · " span id="elapsed" { (elapsed_text(Some(snapshot.elapsed_ms))) }
        }
        @if powers.operate {
            div class="actions" {
                @if !finished {
                    form method="post" action={ "/runs/" (snapshot.id) "/cancel" } data-confirm="Cancel this run on every host?" {
                        input type="hidden" name=(CSRF_FIELD) value=(powers.csrf);
                        button type="submit" id="cancel" { "Cancel" }
                    }
                }
                @if finished && any_failure {
                    form method="post" action={ "/runs/" (snapshot.id) "/rerun" } {
                        input type="hidden" name=(CSRF_FIELD) value=(powers.csrf);
                        button type="submit" id="rerun" { "Rerun failed" }
                    }
                }
            }
        }
        @if no_hosts {
            p class="empty" id="no-hosts" { "No host matches the filter." }
        }
        @if !every_output {
            p class="note" id="output-note" {
                "Output is shown for hosts that need attention; filter by host name to see any host's, or open its full logs."
            }
        }
    }
}

fn filter_form(snapshot: &RunSnapshot, filter: &Filter) -> Markup {
    let mut states: Vec<&str> = snapshot.hosts.iter().map(|h| h.state.name()).collect();
    states.sort_unstable();
    states.dedup();
    html! {
        form method="get" id="filter" class="filter" {
            label { "State "
                select name="state" id="filter-state" {
                    option value="" selected[filter.state.is_empty()] { "all" }
                    option value="failed" selected[filter.state == "failed"] { "failed (any kind)" }
                    @for state in states {
                        option value=(state) selected[filter.state == state] { (state) }
                    }
                }
            }
            label { " Host " input type="search" name="host" id="filter-host" value=(filter.host); }
            button type="submit" id="apply-filter" { "Filter" }
        }
    }
}

/// `/runs/{id}`.
pub async fn page(
    State(web): State<WebState>,
    Extension(caller): Extension<Caller>,
    Path(id): Path<i64>,
    Query(filter): Query<Filter>,
) -> Response {
    let snapshot = match web.app.shown_snapshot(id).await {
        Ok(snapshot) => snapshot,
        Err(e) => return refusal::internal(&format!("/runs/{id}"), &e),
    };
    let powers = powers_of(&caller);
    let live = format!("/runs/{id}/live?{}", filter.query());
    let content = html! {
        main {
            h1 { "Run " (snapshot.id) }
            p class="run-head" {
                @if let Some(task) = &snapshot.task { "task " b { (task) } " · " }
                b { (snapshot.script_group) } " on " b { (snapshot.server_group) }
                " · started by " span id="started-by" { (snapshot.started_by) }
                " · " time datetime=(snapshot.created_at) { (snapshot.created_at) }
            }
            (filter_form(&snapshot, &filter))
            div id="run-live" data-live=(live) {
                (run_section(&snapshot, &filter, &powers))
            }
        }
    };
    Html(layout(&format!("Run {id}"), Some(&caller), content).into_string()).into_response()
}

/// What a live stream keeps between two sends.
struct Live {
    frames: FrameReceiver,
    shutdown: tokio::sync::watch::Receiver<bool>,
    filter: Filter,
    operate: bool,
    /// The feed's frame this page shows (`None`: only what the page was
    /// served with).
    shown: Option<u64>,
    sent_at: Option<tokio::time::Instant>,
    ended: bool,
}

impl Live {
    /// The event that brings this page to `frame`, made once for every
    /// stream of the run with the same filter and level. It carries no
    /// session's CSRF token: the page's script puts its own in the forms.
    fn event(&self, frame: &Frame) -> Bytes {
        let key = format!(
            "{}\n{}\n{}",
            self.operate, self.filter.state, self.filter.host
        );
        let shared = Powers {
            operate: self.operate,
            csrf: String::new(),
        };
        frame.event_for(&key, self.shown, &|snapshot| {
            section_parts(snapshot, &self.filter, &shared)
        })
    }

    /// The next event: the run's latest frame once this page has not
    /// seen it, at most one per `LIVE_EVERY`; `None` once the final state
    /// was sent, when the feed ends, or when the server stops.
    async fn next(mut self) -> Option<(Result<Bytes, Infallible>, Live)> {
        loop {
            if self.ended {
                return None;
            }
            if let Some(sent_at) = self.sent_at {
                // At most one send per LIVE_EVERY, whatever the network did
                // to the last one; the latest frame is taken after.
                tokio::select! {
                    _ = self.shutdown.wait_for(|stop| *stop) => return None,
                    _ = tokio::time::sleep_until(sent_at + LIVE_EVERY) => {}
                }
            }
            let frame = self.frames.borrow_and_update().clone();
            if let Some(frame) = frame.filter(|f| Some(f.seq) != self.shown) {
                self.ended = frame.finished();
                let event = self.event(&frame);
                self.shown = Some(frame.seq);
                self.sent_at = Some(tokio::time::Instant::now());
                return Some((Ok(event), self));
            }
            tokio::select! {
                _ = self.shutdown.wait_for(|stop| *stop) => return None,
                changed = self.frames.changed() => {
                    if changed.is_err() {
                        // The feed ended without the final state (the
                        // server stops, or the run cannot be read): the
                        // page's EventSource comes back and catches up.
                        return None;
                    }
                }
            }
        }
    }
}

/// `/runs/{id}/live`: the run section as server-sent events.
pub async fn live(
    State(web): State<WebState>,
    Extension(caller): Extension<Caller>,
    Path(id): Path<i64>,
    Query(filter): Query<Filter>,
) -> Response {
    // The run's feed reads it (once for every viewer); a run it cannot
    // read has no stream.
    let mut frames = web.feeds.follow(&web, id);
    if frames.wait_for(Option::is_some).await.is_err() {
        let unknown = crate::error::Error::not_found(EntityKind::Run, id.to_string());
        let path = format!("/runs/{id}/live");
        return refusal::for_path(
            &path,
            StatusCode::NOT_FOUND,
            "Not found",
            &unknown.to_string(),
        );
    }
    let live = Live {
        frames,
        shutdown: web.shutdown.clone(),
        filter,
        operate: powers_of(&caller).operate,
        shown: None,
        sent_at: None,
        ended: false,
    };
    let stream = futures::stream::unfold(live, Live::next);
    (
        [
            (header::CONTENT_TYPE, "text/event-stream"),
            (header::CACHE_CONTROL, "no-cache"),
        ],
        Body::from_stream(stream),
    )
        .into_response()
}

/// Copies written bytes to the response body as they come.
struct ChannelWriter(tokio::sync::mpsc::Sender<Vec<u8>>);

impl std::io::Write for ChannelWriter {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        self.0.blocking_send(buf.to_vec()).map_err(|_| {
            std::io::Error::new(std::io::ErrorKind::BrokenPipe, "the reader went away")
        })?;
        Ok(buf.len())
    }

    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

/// `/runs/{id}/hosts/{host}/logs`: the host's step logs, whole, as a text
/// download streamed from the files (redacted as everywhere).
pub async fn host_logs(
    State(web): State<WebState>,
    Path((id, host)): Path<(i64, String)>,
) -> Response {
    let snapshot = match web.app.log_selection(id, Some(&host), None).await {
        Ok(snapshot) => snapshot,
        Err(e) => return refusal::internal(&format!("/runs/{id}/hosts/{host}/logs"), &e),
    };
    let (sender, mut receiver) = tokio::sync::mpsc::channel::<Vec<u8>>(16);
    let app = web.app.clone();
    let name = host.clone();
    tokio::task::spawn_blocking(move || {
        let mut out = std::io::BufWriter::with_capacity(64 * 1024, ChannelWriter(sender));
        let written = app.write_logs(&snapshot, Some(&name), None, &mut out);
        if let Err(e) = written.and_then(|()| std::io::Write::flush(&mut out)) {
            tracing::debug!(error = %e, "host logs download ended early");
        }
    });
    let body = futures::stream::poll_fn(move |cx| {
        receiver
            .poll_recv(cx)
            .map(|chunk| chunk.map(Ok::<_, Infallible>))
    });
    (
        [
            (
                header::CONTENT_TYPE,
                "text/plain; charset=utf-8".to_string(),
            ),
            (
                header::CONTENT_DISPOSITION,
                format!("attachment; filename=\"run-{id}-{host}.log\""),
            ),
        ],
        Body::from_stream(body),
    )
        .into_response()
}

/// `/api/runs/{id}`: the run as `run status --json` shows it.
pub async fn api_run(State(web): State<WebState>, Path(id): Path<i64>) -> Response {
    match web.app.shown_snapshot(id).await {
        Ok(snapshot) => axum::Json(snapshot).into_response(),
        Err(e) if e.is_refusal() => refusal::json(StatusCode::NOT_FOUND, &e.to_string()),
        Err(e) => {
            tracing::error!(error = %e, "api run failed");
            refusal::json(
                StatusCode::INTERNAL_SERVER_ERROR,
                "internal error; see drover's log",
            )
        }
    }
}

/// `POST /runs/{id}/cancel`: the app's one cancel path.
pub async fn cancel(
    State(web): State<WebState>,
    Extension(caller): Extension<Caller>,
    Path(id): Path<i64>,
) -> Response {
    let path = format!("/runs/{id}/cancel");
    let actor = match caller.at_least(Level::Operator) {
        Ok(actor) => actor,
        Err(why) => return refusal::forbidden(&path, &why),
    };
    match web.app.cancel_run(&actor, id, CancelWait::Requested).await {
        Ok(_) => Redirect::to(&format!("/runs/{id}")).into_response(),
        Err(e) => refusal::internal(&path, &e),
    }
}

/// What the Rerun button (and the confirmation page) send.
#[derive(Debug, Default, serde::Deserialize)]
pub struct RerunForm {
    #[serde(default)]
    confirmed: String,
}

/// `POST /runs/{id}/rerun`: the run's hosts that did not succeed, again,
/// driven by this process; above `discord.confirm_above` hosts the plan is
/// shown first, as for a new run.
pub async fn rerun(
    State(web): State<WebState>,
    Extension(caller): Extension<Caller>,
    Path(id): Path<i64>,
    Form(form): Form<RerunForm>,
) -> Response {
    let path = format!("/runs/{id}/rerun");
    let actor = match caller.at_least(Level::Operator) {
        Ok(actor) => actor,
        Err(why) => return refusal::forbidden(&path, &why),
    };
    let plan = match web.app.plan_rerun_failed(id).await {
        Ok(plan) => plan,
        Err(e) => return refusal::internal(&path, &e),
    };
    if super::start::needs_confirmation(&web, &plan, &form.confirmed) {
        let page = super::start::confirm_page(&caller, &plan, &path, &[]);
        return Html(page.into_string()).into_response();
    }
    let started = web.app.start_run(&actor, &plan).await;
    match started {
        Ok(driving) => Redirect::to(&format!("/runs/{}", driving.run_id)).into_response(),
        Err(e) => refusal::internal(&path, &e),
    }
}
