//! The pages of this part of the dashboard: the layout every page shares,
//! the home page (recent runs), `/api/whoami` and the not-found answer.
//! maud escapes every value it inserts, so text from hosts, scripts or
//! users never becomes markup.

use axum::extract::State;
use axum::http::{StatusCode, Uri};
use axum::response::{Html, IntoResponse, Response};
use axum::Extension;
use maud::{html, Markup, DOCTYPE};

use super::guard::{Caller, CSRF_FIELD};
use super::{assets, refusal, WebState};
use crate::domain::format_ms;

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

/// `/`: the newest runs.
pub async fn home(State(web): State<WebState>, Extension(caller): Extension<Caller>) -> Response {
    let runs = match web.app.recent_runs(HOME_RUNS).await {
        Ok(runs) => runs,
        Err(e) => return refusal::internal("/", &e),
    };
    let content = html! {
        main {
            h1 { "Runs" }
            @if runs.is_empty() {
                p class="empty" { "No runs yet. Start one with " code { "drover task run" } " or " code { "/task run" } " in Discord." }
            } @else {
                table id="runs" {
                    thead { tr { th { "Run" } th { "State" } th { "Task" } th { "Script group" } th { "Server group" } th { "Hosts" } th { "Failed" } th { "Started by" } th { "Started" } } }
                    tbody {
                        @for run in &runs {
                            tr class={ "state-" (run.state) } {
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
