//! Starting a run from the browser (`/runs/new`, operators and admins): a
//! task, or a script group on a server group, with env values, planned by
//! the app exactly as `task run` and `/task run` plan it (same checks, same
//! words in refusals). Above `discord.confirm_above` hosts the plan is
//! shown first and the run starts only once confirmed. The run is driven
//! by this process; its page follows it.

use axum::extract::{Query, State};
use axum::http::StatusCode;
use axum::response::{Html, IntoResponse, Redirect, Response};
use axum::{Extension, Form};
use maud::{html, Markup};
use serde::Deserialize;

use super::guard::{Caller, CSRF_FIELD};
use super::pages::layout;
use super::{forms, refusal, WebState};
use crate::access::Level;
use crate::app::{RunInput, RunPlan};
use crate::error::EntityKind;

/// What the start form sends.
#[derive(Debug, Clone, Default, Deserialize)]
pub struct StartForm {
    /// A task, or a script group (with `server_group`).
    #[serde(default)]
    target: String,
    #[serde(default)]
    server_group: String,
    /// `KEY=VALUE`, one per line.
    #[serde(default)]
    env: String,
    /// Set by the confirmation page.
    #[serde(default)]
    confirmed: String,
}

impl StartForm {
    fn input(&self) -> RunInput {
        RunInput {
            env: self
                .env
                .lines()
                .map(str::trim)
                .filter(|line| !line.is_empty())
                .map(str::to_string)
                .collect(),
            ..RunInput::default()
        }
    }

    fn server_group(&self) -> Option<&str> {
        Some(self.server_group.trim()).filter(|g| !g.is_empty())
    }
}

/// The names the start form suggests: tasks and script groups for the
/// first field, server groups for the second.
async fn start_suggestions(web: &WebState) -> Markup {
    let targets = [EntityKind::Task, EntityKind::ScriptGroup];
    html! {
        (forms::suggestions(web, &targets, "target-names").await)
        (forms::suggestions(web, &[EntityKind::ServerGroup], "servergroup-names").await)
    }
}

fn form_page(caller: &Caller, form: &StartForm, error: Option<&str>, suggested: &Markup) -> Markup {
    let csrf = caller.csrf().unwrap_or_default();
    let content = html! {
        main {
            h1 { "Start a run" }
            @if let Some(error) = error {
                p class="error" id="start-error" role="alert" { (error) }
            }
            form method="post" action="/runs/new" id="start" {
                input type="hidden" name=(CSRF_FIELD) value=(csrf);
                p { label { "Task, or script group " input type="text" name="target" id="start-target" list="target-names" required value=(form.target); } }
                p { label { "Server group (with a script group) " input type="text" name="server_group" id="start-server-group" list="servergroup-names" value=(form.server_group); } }
                p { label { "Environment, one KEY=VALUE per line (values are never shown again)" br; textarea name="env" id="start-env" rows="3" cols="50" {} } }
                button type="submit" id="start-submit" { "Start" }
            }
            (suggested)
        }
    };
    layout("Start a run", Some(caller), content)
}

/// The plan of a run about to start, with a button that sends `action`
/// again with `fields` and `confirmed=1` (above `discord.confirm_above`
/// hosts, as in Discord).
pub(super) fn confirm_page(
    caller: &Caller,
    plan: &RunPlan,
    action: &str,
    fields: &[(&str, &str)],
) -> Markup {
    let csrf = caller.csrf().unwrap_or_default();
    let scripts = plan.script_names();
    let content = html! {
        main {
            h1 { "Start this run?" }
            p id="plan" {
                b { (plan.script_group) } " on " b { (plan.server_group) } " · "
                span id="plan-hosts" { (plan.hosts.len()) " hosts" } " · "
                (scripts.len()) " scripts: " (scripts.join(" → "))
            }
            form method="post" action=(action) id="confirm" {
                input type="hidden" name=(CSRF_FIELD) value=(csrf);
                @for (name, value) in fields {
                    input type="hidden" name=(name) value=(value);
                }
                input type="hidden" name="confirmed" value="1";
                button type="submit" id="confirm-start" { "Start on " (plan.hosts.len()) " hosts" }
                " " a href="/" id="confirm-cancel" { "Cancel" }
            }
        }
    };
    layout("Start this run?", Some(caller), content)
}

/// Whether a plan needs the confirmation page first.
pub(super) fn needs_confirmation(web: &WebState, plan: &RunPlan, confirmed: &str) -> bool {
    plan.hosts.len() > web.app.config.discord.confirm_above as usize && confirmed != "1"
}

/// `GET /runs/new[?target=TASK]` (a task's page links here).
pub async fn page(
    State(web): State<WebState>,
    Extension(caller): Extension<Caller>,
    Query(form): Query<StartForm>,
) -> Response {
    if let Err(why) = caller.at_least(Level::Operator) {
        return refusal::forbidden("/runs/new", &why);
    }
    let suggested = start_suggestions(&web).await;
    Html(form_page(&caller, &form, None, &suggested).into_string()).into_response()
}

/// `POST /runs/new`: plans the run; asks for confirmation above
/// `discord.confirm_above` hosts; starts it.
pub async fn submit(
    State(web): State<WebState>,
    Extension(caller): Extension<Caller>,
    Form(form): Form<StartForm>,
) -> Response {
    let actor = match caller.at_least(Level::Operator) {
        Ok(actor) => actor,
        Err(why) => return refusal::forbidden("/runs/new", &why),
    };
    // The form again with the refusal (the names it suggests read only then).
    let refused = async |error: &crate::error::Error| {
        let suggested = start_suggestions(&web).await;
        let page = form_page(&caller, &form, Some(&error.to_string()), &suggested);
        (StatusCode::BAD_REQUEST, Html(page.into_string())).into_response()
    };
    let plan = match web
        .app
        .plan_run(form.target.trim(), form.server_group(), form.input())
        .await
    {
        Ok(plan) => plan,
        Err(e) if e.is_refusal() => return refused(&e).await,
        Err(e) => return refusal::internal("/runs/new", &e),
    };
    if needs_confirmation(&web, &plan, &form.confirmed) {
        let fields = [
            ("target", form.target.as_str()),
            ("server_group", form.server_group.as_str()),
            ("env", form.env.as_str()),
        ];
        let page = confirm_page(&caller, &plan, "/runs/new", &fields);
        return Html(page.into_string()).into_response();
    }
    match web.app.start_run(&actor, &plan).await {
        Ok(driving) => Redirect::to(&format!("/runs/{}", driving.run_id)).into_response(),
        Err(e) if e.is_refusal() => refused(&e).await,
        Err(e) => refusal::internal("/runs/new", &e),
    }
}
