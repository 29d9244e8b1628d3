//! The audit page (`/audit`) and `/api/audit`, for admins: the newest
//! entries of the audit trail, as `drover audit` shows them.

use axum::extract::State;
use axum::http::StatusCode;
use axum::response::{Html, IntoResponse, Response};
use axum::Extension;
use maud::html;

use super::guard::Caller;
use super::pages::layout;
use super::{refusal, WebState};
use crate::access::Level;

/// Entries the page and the API show.
const AUDIT_ENTRIES: u32 = 500;

const ADMINS_ONLY: &str =
    "the audit trail is for admins; ask one, or run drover audit on the server";

/// `/audit`.
pub async fn page(State(web): State<WebState>, Extension(caller): Extension<Caller>) -> Response {
    if !caller.has(Level::Admin) {
        return refusal::forbidden("/audit", ADMINS_ONLY);
    }
    let entries = match web.app.audit_log(AUDIT_ENTRIES).await {
        Ok(entries) => entries,
        Err(e) => return refusal::internal("/audit", &e),
    };
    let content = html! {
        main {
            h1 { "Audit trail" }
            p { "The newest " (entries.len()) " entries, newest first." }
            table id="audit" {
                thead { tr { th { "When" } th { "Who" } th { "Action" } th { "Target" } th { "Detail" } th { "Outcome" } } }
                tbody {
                    @for entry in &entries {
                        tr {
                            td { time datetime=(entry.at) { (entry.at) } }
                            td { (entry.actor) }
                            td { (entry.action) }
                            td { (entry.target) }
                            td { (entry.detail) }
                            td { (entry.outcome) }
                        }
                    }
                }
            }
        }
    };
    Html(layout("Audit", Some(&caller), content).into_string()).into_response()
}

/// `/api/audit`: the same entries as `drover --json audit`.
pub async fn api(State(web): State<WebState>, Extension(caller): Extension<Caller>) -> Response {
    if !caller.has(Level::Admin) {
        return refusal::json(StatusCode::FORBIDDEN, ADMINS_ONLY);
    }
    match web.app.audit_log(AUDIT_ENTRIES).await {
        Ok(entries) => axum::Json(entries).into_response(),
        Err(e) => {
            tracing::error!(error = %e, "api audit failed");
            refusal::json(
                StatusCode::INTERNAL_SERVER_ERROR,
                "internal error; see drover's log",
            )
        }
    }
}
