//! The pages of this part of the dashboard: the layout every page shares,
//! the home page (recent runs), `/api/whoami` and the not-found answer.
//! maud escapes every value it inserts, so text from hosts, scripts or
//! users never becomes markup.

use axum::extract::{Query, State};
use axum::http::{StatusCode, Uri};
use axum::response::{Html, IntoResponse, Response};
use axum::Extension;
use maud::{html, Markup, DOCTYPE};

use super::guard::{Caller, CSRF_FIELD};
use super::{assets, refusal, WebState};
use crate::app::RunListFilter;
use crate::domain::format_ms;
use crate::state::RunState;

/// Runs the home page lists.
const HOME_RUNS: u32 = 50;

/// The page around `content`: the stylesheet and script (no inline
/// script), and for a logged-in caller who they are and a logout button.
pub fn layout(title: &str, caller: Option<&Caller>, content: Markup) -> Markup {
    html! {
        (DOCTYPE)
        html lang="en" {
            head {
                meta charset="utf-8";
                meta name="viewport" content="width=device-width, initial-scale=1";
                title { (title) " · drover" }
                link rel="stylesheet" href=(assets::css_path());
                script src=(assets::js_path()) defer {}
            }
            body {
                header class="top" {
                    a class="brand" href="/" { "drover" }
                    @if let Some(caller) = caller.filter(|c| c.session.is_some()) {
                        nav {
                            a class="nav" id="nav-runs" href="/" { "Runs" }
                            a class="nav" id="nav-hosts" href="/hosts" { "Hosts" }
                            a class="nav" id="nav-groups" href="/groups" { "Server groups" }
                            a class="nav" id="nav-scripts" href="/scripts" { "Scripts" }
                            a class="nav" id="nav-scriptgroups" href="/scriptgroups" { "Script groups" }
                            a class="nav" id="nav-tasks" href="/tasks" { "Tasks" }
                            @if caller.has(crate::access::Level::Admin) {
                                a class="nav" id="nav-audit" href="/audit" { "Audit" }
                            }
                        }
                    }
                    @if let Some((session, token)) = caller.and_then(|c| c.session.as_ref()) {
                        span class="who" {
                            span id="identity" { (session.actor.to_string()) }
                            " · "
                            span id="level" { (session.level.as_str()) }
                        }
                        form method="post" action="/logout" class="logout" {
                            input type="hidden" name=(CSRF_FIELD) value=(token.csrf());
                            button type="submit" id="logout" { "Log out" }
                        }
                    }
                }
                (content)
            }
        }
    }
}

/// The caller's session; the guard has made sure there is one.
fn session_of(caller: &Caller) -> Option<&crate::app::accounts::Session> {
    caller.session.as_ref().map(|(session, _)| session)
}

/// The runs list's filters (query parameters): a run state, a task's
/// name, part of who started the run. Empty means any.
#[derive(Debug, Clone, Default, serde::Deserialize)]
pub struct RunsQuery {
    #[serde(default)]
    state: String,
    #[serde(default)]
    task: String,
    #[serde(default)]
    by: String,
}

impl RunsQuery {
    /// The filter, or what was wrong with the state asked for.
    fn filter(&self) -> Result<RunListFilter, String> {
        let state = match self.state.trim() {
            "" => None,
            name => Some(RunState::parse(name).map_err(|_| {
                format!(
                    "unknown run state '{name}': use running, succeeded, failed or cancelled (or nothing for any)"
                )
            })?),
        };
        let given = |text: &str| Some(text.trim().to_string()).filter(|t| !t.is_empty());
        Ok(RunListFilter {
            state,
            task: given(&self.task),
            started_by: given(&self.by),
        })
    }
}

fn runs_filter_form(query: &RunsQuery) -> Markup {
    html! {
        form method="get" id="runs-filter" class="filter" {
            label { "State "
                select name="state" id="runs-state" {
                    option value="" selected[query.state.is_empty()] { "any" }
                    @for state in ["running", "succeeded", "failed", "cancelled"] {
                        option value=(state) selected[query.state == state] { (state) }
                    }
                }
            }
            label { " Task " input type="search" name="task" id="runs-task" value=(query.task); }
            label { " Started by " input type="search" name="by" id="runs-by" value=(query.by); }
            button type="submit" id="runs-apply" { "Filter" }
        }
    }
}

/// `/`: the newest runs, filtered by state, task and who started them.
pub async fn home(
    State(web): State<WebState>,
    Extension(caller): Extension<Caller>,
    Query(query): Query<RunsQuery>,
) -> Response {
    let filter = match query.filter() {
        Ok(filter) => filter,
        Err(why) => return refusal::for_path("/", StatusCode::BAD_REQUEST, "Refused", &why),
    };
    let runs = match web.app.runs_matching(&filter, HOME_RUNS).await {
        Ok(runs) => runs,
        Err(e) => return refusal::internal("/", &e),
    };
    let content = html! {
        main {
            h1 { "Runs" }
            @if caller.session.as_ref().is_some_and(|(s, _)| s.level >= crate::access::Level::Operator) {
                p { a href="/runs/new" id="start-run" { "Start a run" } }
            }
            (runs_filter_form(&query))
            @if runs.is_empty() && filter == RunListFilter::default() {
                p class="empty" { "No runs yet. Start one with " code { "drover task run" } " or " code { "/task run" } " in Discord." }
            } @else if runs.is_empty() {
                p class="empty" id="no-runs" { "No run matches the filter." }
            } @else {
                table id="runs" {
                    thead { tr { th { "Run" } th { "State" } th { "Task" } th { "Script group" } th { "Server group" } th { "Hosts" } th { "Failed" } th { "Started by" } th { "Started" } } }
                    tbody {
                        @for run in &runs {
                            tr class={ "state-" (run.state) } data-run=(run.id) {
                                td { a href={ "/runs/" (run.id) } { (run.id) } }
                                td { (run.state) }
                                td { (run.task.as_deref().unwrap_or("")) }
                                td { (run.script_group) }
                                td { (run.server_group) }
                                td { (run.hosts) }
                                td { (run.failed_hosts) }
                                td { (run.started_by) }
                                td { time datetime=(run.created_at) { (run.created_at) } }
                            }
                        }
                    }
                }
            }
        }
    };
    Html(layout("Runs", Some(&caller), content).into_string()).into_response()
}

/// `/api/runs`: the runs list as `run list --json` gives it, with the
/// page's filters.
pub async fn api_runs(State(web): State<WebState>, Query(query): Query<RunsQuery>) -> Response {
    let filter = match query.filter() {
        Ok(filter) => filter,
        Err(why) => return refusal::json(StatusCode::BAD_REQUEST, &why),
    };
    match web.app.runs_matching(&filter, HOME_RUNS).await {
        Ok(runs) => axum::Json(runs).into_response(),
        Err(e) => {
            tracing::error!(error = %e, "api runs failed");
            refusal::json(
                StatusCode::INTERNAL_SERVER_ERROR,
                "internal error; see drover's log",
            )
        }
    }
}

/// `/api/whoami`: who the session is, at which level, until when, and the
/// CSRF token that state-changing API requests carry in X-CSRF-Token.
pub async fn whoami(Extension(caller): Extension<Caller>) -> Response {
    let Some(session) = session_of(&caller) else {
        return refusal::json(StatusCode::UNAUTHORIZED, "not logged in");
    };
    axum::Json(serde_json::json!({
        "identity": session.actor.to_string(),
        "level": session.level,
        "session_expires_at": format_ms(session.expires_at),
        "csrf_token": caller.csrf(),
    }))
    .into_response()
}

/// Any other path (reached only with a session).
pub async fn not_found(uri: Uri) -> Response {
    refusal::for_path(
        uri.path(),
        StatusCode::NOT_FOUND,
        "Not found",
        &format!("drover has no page at {}", uri.path()),
    )
}
