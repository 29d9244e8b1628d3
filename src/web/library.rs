//! The script library in the browser: scripts (body, version history, a
//! diff between any two versions) and script groups (their scripts in
//! order, moved up and down). Reading is for everyone logged in; changes
//! are for admins, through the app's operations (the same checks and words
//! as the CLI), audited under `web:NAME`. Lists and objects are also
//! `/api/` documents, the ones `--json` prints.

use axum::extract::{Path, Query, State};
use axum::response::Response;
use axum::{Extension, Form};
use maud::{html, Markup};
use serde::Deserialize;
use similar::{ChangeTag, TextDiff};

use super::forms::{
    self, change_form, csrf_field, delete_form, error_banner, given, number, post_button, Admin,
    DeleteForm, FormTarget,
};
use super::guard::Caller;
use super::pages::layout;
use super::WebState;
use crate::access::Level;
use crate::app::ScriptInput;
use crate::domain::{Script, ScriptGroup, ScriptVersion};
use crate::error::{EntityKind, Result};

// -------------------------------------------------------------- scripts

/// The add and edit forms of a script.
#[derive(Debug, Clone, Default, Deserialize)]
pub struct ScriptForm {
    #[serde(default)]
    name: String,
    #[serde(default)]
    body: String,
    #[serde(default)]
    description: String,
    #[serde(default)]
    timeout: String,
}

impl ScriptForm {
    fn of(script: &Script) -> ScriptForm {
        ScriptForm {
            name: script.name.clone(),
            body: script.body.clone(),
            description: script.description.clone(),
            timeout: script.timeout_secs.map_or_else(String::new, |secs| {
                humantime::format_duration(std::time::Duration::from_secs(secs)).to_string()
            }),
        }
    }

    /// The raw input; on edit an emptied timeout clears it (`none`).
    fn input(&self, name: &str, editing: bool) -> ScriptInput {
        let timeout = match given(&self.timeout) {
            None if editing => Some("none".to_string()),
            timeout => timeout,
        };
        ScriptInput {
            name: name.trim().to_string(),
            body: forms::script_body(&self.body),
            // On edit an emptied description clears it.
            description: if editing {
                Some(self.description.trim().to_string())
            } else {
                given(&self.description)
            },
            timeout,
        }
    }
}

fn timeout_text(secs: Option<u64>) -> String {
    secs.map_or_else(
        || "none".to_string(),
        |s| humantime::format_duration(std::time::Duration::from_secs(s)).to_string(),
    )
}

fn script_fields(form: &ScriptForm, adding: bool) -> Markup {
    html! {
        @if adding {
            p { label { "Name " input type="text" name="name" id="script-name" required value=(form.name); } }
        }
        p { label { "Description " input type="text" name="description" id="script-description" value=(form.description); } }
        p { label { "Timeout " input type="text" name="timeout" id="script-timeout" placeholder="none, or 30s, 10m, 1h" value=(form.timeout); } }
        // A textarea drops one leading line break: give it one, so a body
        // that starts with a blank line keeps it.
        p { label { "Body" br; textarea name="body" id="script-body" rows="16" cols="80" spellcheck="false" required { "\n" (form.body) } } }
    }
}

fn scripts_page(
    caller: &Caller,
    scripts: &[Script],
    form: &ScriptForm,
    error: Option<&str>,
) -> Markup {
    let content = html! {
        main {
            h1 { "Scripts" }
            p { (scripts.len()) " scripts · " a href="/api/scripts" { "JSON" } }
            table id="scripts" {
                thead { tr { th { "Name" } th { "Version" } th { "Timeout" } th { "Interpreter" } th { "Script groups" } th { "Description" } } }
                tbody {
                    @for script in scripts {
                        tr data-script=(script.name) {
                            td { a href={ "/scripts/" (script.name) } { (script.name) } }
                            td { (script.version) }
                            td { (timeout_text(script.timeout_secs)) }
                            td { (crate::domain::interpreter(&script.body)) }
                            td { (script.groups.join(", ")) }
                            td { (script.description) }
                        }
                    }
                }
            }
            @if caller.has(Level::Admin) {
                h2 { "Add a script" }
                (change_form(caller, FormTarget { action: "/scripts", id: "script-add", submit: "Add script" }, error, script_fields(form, true)))
            }
        }
    };
    layout("Scripts", Some(caller), content)
}

/// The version picker of the diff form: every version, `chosen` selected.
fn version_select(name: &str, id: &str, history: &[ScriptVersion], chosen: i64) -> Markup {
    html! {
        select name=(name) id=(id) {
            @for version in history {
                option value=(version.version) selected[version.version == chosen] { "version " (version.version) }
            }
        }
    }
}

/// What a script's page shows.
struct ScriptView<'a> {
    /// The version shown (the current one unless asked).
    script: &'a Script,
    current: i64,
    history: &'a [ScriptVersion],
}

fn script_page(
    caller: &Caller,
    view: &ScriptView<'_>,
    form: &ScriptForm,
    error: Option<&str>,
) -> Markup {
    let script = view.script;
    let latest = view.current;
    let previous = view
        .history
        .iter()
        .map(|v| v.version)
        .filter(|v| *v < latest)
        .max()
        .unwrap_or(latest);
    let content = html! {
        main {
            h1 { "Script " (script.name) }
            p id="script-summary" {
                "version " (script.version)
                @if script.version != latest { " (the current one is " a href={ "/scripts/" (script.name) } { (latest) } ")" }
                " · timeout " (timeout_text(script.timeout_secs))
                " · " (crate::domain::interpreter(&script.body))
                " · sha256 " code { (script.sha256.chars().take(12).collect::<String>()) }
            }
            p { (script.description) }
            p {
                "In script groups: "
                @for (i, group) in script.groups.iter().enumerate() {
                    @if i > 0 { ", " }
                    a href={ "/scriptgroups/" (group) } { (group) }
                }
                @if script.groups.is_empty() { "none" }
                " · " a href={ "/api/scripts/" (script.name) "?version=" (script.version) } { "JSON" }
            }
            pre class="script" id="script-shown-body" { (script.body) }
            h2 { "History" }
            table id="history" {
                thead { tr { th { "Version" } th { "Bytes" } th { "sha256" } th { "Created" } th { "By" } } }
                tbody {
                    @for version in view.history {
                        tr data-version=(version.version) {
                            td { a href={ "/scripts/" (script.name) "?version=" (version.version) } { (version.version) } }
                            td { (version.bytes) }
                            td { code { (version.sha256.chars().take(12).collect::<String>()) } }
                            td { time datetime=(version.created_at) { (version.created_at) } }
                            td { (version.created_by) }
                        }
                    }
                }
            }
            @if view.history.len() > 1 {
                form method="get" action={ "/scripts/" (script.name) "/diff" } id="diff-form" class="filter" {
                    "Compare " (version_select("from", "diff-from", view.history, previous))
                    " with " (version_select("to", "diff-to", view.history, latest))
                    " " button type="submit" id="diff-submit" { "Show changes" }
                }
            }
            @if caller.has(Level::Admin) {
                h2 { "Edit" }
                p { "Saving a changed body makes a new version; runs keep the version they started with." }
                (change_form(caller, FormTarget { action: &format!("/scripts/{}", script.name), id: "script-edit", submit: "Save" }, error, script_fields(form, false)))
                h2 { "Remove" }
                (delete_form(caller, &format!("/scripts/{}/delete", script.name), ("Remove", "Remove this script and its history for good?"), "also take it out of its script groups"))
            }
        }
    };
    layout(&format!("Script {}", script.name), Some(caller), content)
}

/// `?version=N` on a script's page and API document.
#[derive(Debug, Default, Deserialize)]
pub struct VersionQuery {
    #[serde(default)]
    version: String,
}

impl VersionQuery {
    fn version(&self) -> Result<Option<i64>> {
        number(
            "version",
            &self.version,
            "a version number of the script (see its history)",
        )
    }
}

async fn script_view_page(
    web: &WebState,
    caller: &Caller,
    name: &str,
    version: Option<i64>,
    form: Option<&ScriptForm>,
    error: Option<&str>,
) -> Result<Markup> {
    let current = web.app.script(name, None).await?;
    let script = match version {
        Some(v) if v != current.version => web.app.script(name, Some(v)).await?,
        _ => current.clone(),
    };
    let history = web.app.script_history(name).await?;
    let view = ScriptView {
        script: &script,
        current: current.version,
        history: &history,
    };
    let form = form.cloned().unwrap_or_else(|| ScriptForm::of(&current));
    Ok(script_page(caller, &view, &form, error))
}

/// `GET /scripts`.
pub async fn scripts(
    State(web): State<WebState>,
    Extension(caller): Extension<Caller>,
) -> Response {
    let page = async {
        let scripts = web.app.scripts().await?;
        Ok(scripts_page(
            &caller,
            &scripts,
            &ScriptForm::default(),
            None,
        ))
    };
    forms::page("/scripts", page.await)
}

/// `POST /scripts`: `script add`.
pub async fn script_add(
    State(web): State<WebState>,
    Extension(caller): Extension<Caller>,
    Admin(actor): Admin,
    Form(form): Form<ScriptForm>,
) -> Response {
    let result = web
        .app
        .script_add(&actor, form.input(&form.name, false))
        .await;
    forms::after_change(
        "/scripts",
        result,
        |script| format!("/scripts/{}", script.name),
        async |error| {
            let scripts = web.app.scripts().await?;
            Ok(scripts_page(&caller, &scripts, &form, Some(&error)))
        },
    )
    .await
}

/// `GET /scripts/{name}[?version=N]`.
pub async fn script(
    State(web): State<WebState>,
    Extension(caller): Extension<Caller>,
    Path(name): Path<String>,
    Query(query): Query<VersionQuery>,
) -> Response {
    let page = async {
        let version = query.version()?;
        script_view_page(&web, &caller, &name, version, None, None).await
    };
    forms::page(&format!("/scripts/{name}"), page.await)
}

/// `POST /scripts/{name}`: `script edit` (a new version when the body
/// changed).
pub async fn script_edit(
    State(web): State<WebState>,
    Extension(caller): Extension<Caller>,
    Admin(actor): Admin,
    Path(name): Path<String>,
    Form(form): Form<ScriptForm>,
) -> Response {
    let path = format!("/scripts/{name}");
    let result = web.app.script_edit(&actor, form.input(&name, true)).await;
    forms::after_change(
        &path,
        result,
        |_| path.clone(),
        async |error| script_view_page(&web, &caller, &name, None, Some(&form), Some(&error)).await,
    )
    .await
}

/// `POST /scripts/{name}/delete`: `script rm [--force]`.
pub async fn script_delete(
    State(web): State<WebState>,
    Extension(caller): Extension<Caller>,
    Admin(actor): Admin,
    Path(name): Path<String>,
    Form(form): Form<DeleteForm>,
) -> Response {
    let path = format!("/scripts/{name}/delete");
    let result = web.app.script_remove(&actor, &name, form.force()).await;
    forms::after_change(
        &path,
        result,
        |()| "/scripts".into(),
        async |error| script_view_page(&web, &caller, &name, None, None, Some(&error)).await,
    )
    .await
}

/// `?from=A&to=B` of a diff.
#[derive(Debug, Default, Deserialize)]
pub struct DiffQuery {
    #[serde(default)]
    from: String,
    #[serde(default)]
    to: String,
}

/// One line of a diff as shown: its sign, its text and its kind.
fn diff_lines(old: &str, new: &str) -> Vec<Markup> {
    let diff = TextDiff::from_lines(old, new);
    let mut lines = Vec::new();
    for (i, group) in diff.grouped_ops(3).iter().enumerate() {
        if i > 0 {
            lines.push(html! { span class="diff-gap" { "…" } });
        }
        for op in group {
            for change in diff.iter_changes(op) {
                let (sign, class) = match change.tag() {
                    ChangeTag::Delete => ("-", "diff-del"),
                    ChangeTag::Insert => ("+", "diff-add"),
                    ChangeTag::Equal => (" ", "diff-same"),
                };
                let text = change.to_string_lossy();
                let text = text.strip_suffix('\n').unwrap_or(&text);
                lines.push(html! { span class=(class) { (sign) " " (text) } });
            }
        }
    }
    lines
}

/// `GET /scripts/{name}/diff?from=A&to=B`: what changed between two
/// versions (three lines of context around each change).
pub async fn script_diff(
    State(web): State<WebState>,
    Extension(caller): Extension<Caller>,
    Path(name): Path<String>,
    Query(query): Query<DiffQuery>,
) -> Response {
    let expected = "a version number of the script (see its history)";
    let page = async {
        let current = web.app.script(&name, None).await?;
        let from = number("from", &query.from, expected)?.unwrap_or(current.version - 1);
        let to = number("to", &query.to, expected)?.unwrap_or(current.version);
        let old = web.app.script(&name, Some(from)).await?;
        let new = web.app.script(&name, Some(to)).await?;
        let history = web.app.script_history(&name).await?;
        let lines = diff_lines(&old.body, &new.body);
        let content = html! {
            main {
                h1 { "Script " a href={ "/scripts/" (name) } { (name) } ": version " (from) " → " (to) }
                form method="get" id="diff-form" class="filter" {
                    "Compare " (version_select("from", "diff-from", &history, from))
                    " with " (version_select("to", "diff-to", &history, to))
                    " " button type="submit" id="diff-submit" { "Show changes" }
                }
                @if lines.is_empty() {
                    p id="diff-none" { "The two versions have the same body." }
                } @else {
                    pre class="diff" id="diff" { @for line in &lines { (line) "\n" } }
                }
            }
        };
        Ok(layout(
            &format!("Script {name}: changes"),
            Some(&caller),
            content,
        ))
    };
    forms::page(&format!("/scripts/{name}/diff"), page.await)
}

/// `GET /api/scripts`: `script list --json`.
pub async fn api_scripts(State(web): State<WebState>) -> Response {
    forms::api("/api/scripts", web.app.scripts().await)
}

/// `GET /api/scripts/{name}[?version=N]`: `script show --json [--version N]`.
pub async fn api_script(
    State(web): State<WebState>,
    Path(name): Path<String>,
    Query(query): Query<VersionQuery>,
) -> Response {
    let doc = async { web.app.script(&name, query.version()?).await };
    forms::api(&format!("/api/scripts/{name}"), doc.await)
}

/// `GET /api/scripts/{name}/history`: `script history --json`.
pub async fn api_script_history(State(web): State<WebState>, Path(name): Path<String>) -> Response {
    forms::api(
        &format!("/api/scripts/{name}/history"),
        web.app.script_history(&name).await,
    )
}

// -------------------------------------------------------- script groups

/// The create form of a script group, and a script added to one.
#[derive(Debug, Clone, Default, Deserialize)]
pub struct ScriptGroupForm {
    #[serde(default)]
    name: String,
    #[serde(default)]
    description: String,
    /// Create: the scripts in order. Add: the one script.
    #[serde(default)]
    scripts: String,
    #[serde(default)]
    position: String,
}

/// A move: a script of the group to a 1-based position.
#[derive(Debug, Default, Deserialize)]
pub struct MoveForm {
    #[serde(default)]
    script: String,
    #[serde(default)]
    position: String,
}

fn script_groups_page(
    caller: &Caller,
    groups: &[ScriptGroup],
    form: &ScriptGroupForm,
    error: Option<&str>,
) -> Markup {
    let content = html! {
        main {
            h1 { "Script groups" }
            p { (groups.len()) " script groups · " a href="/api/scriptgroups" { "JSON" } }
            table id="scriptgroups" {
                thead { tr { th { "Name" } th { "Scripts, in order" } th { "Description" } } }
                tbody {
                    @for group in groups {
                        tr data-scriptgroup=(group.name) {
                            td { a href={ "/scriptgroups/" (group.name) } { (group.name) } }
                            td { (group.scripts.join(" → ")) }
                            td { (group.description) }
                        }
                    }
                }
            }
            @if caller.has(Level::Admin) {
                h2 { "Create a script group" }
                (change_form(caller, FormTarget { action: "/scriptgroups", id: "scriptgroup-create", submit: "Create" }, error, html! {
                    p { label { "Name " input type="text" name="name" id="scriptgroup-name" required value=(form.name); } }
                    p { label { "Scripts, in order (separated by commas or spaces) " input type="text" name="scripts" id="scriptgroup-scripts" value=(form.scripts); } }
                    p { label { "Description " input type="text" name="description" id="scriptgroup-description" value=(form.description); } }
                }))
            }
        }
    };
    layout("Script groups", Some(caller), content)
}

/// The Up and Down buttons of the script at 1-based `position`.
fn move_buttons(caller: &Caller, group: &ScriptGroup, script: &str, position: usize) -> Markup {
    let action = format!("/scriptgroups/{}/move", group.name);
    let button = |to: usize, id: String, label: &str| {
        html! {
            form method="post" action=(action) class="inline" {
                (csrf_field(caller))
                input type="hidden" name="script" value=(script);
                input type="hidden" name="position" value=(to);
                button type="submit" id=(id) title={ (label) " " (script) } { (label) }
            }
        }
    };
    html! {
        @if position > 1 { (button(position - 1, format!("up-{script}"), "Up")) }
        @if position < group.scripts.len() { (button(position + 1, format!("down-{script}"), "Down")) }
        (post_button(caller, &format!("/scriptgroups/{}/scripts/{script}/remove", group.name), &format!("remove-{script}"), "Take out", None))
    }
}

fn script_group_page(
    caller: &Caller,
    group: &ScriptGroup,
    form: &ScriptGroupForm,
    error: Option<&str>,
    suggested: &Markup,
) -> Markup {
    let admin = caller.has(Level::Admin);
    let content = html! {
        main {
            h1 { "Script group " (group.name) }
            p { (group.description) }
            p { (group.scripts.len()) " scripts, run in this order · " a href={ "/api/scriptgroups/" (group.name) } { "JSON" } }
            (error_banner(error))
            table id="order" {
                thead { tr { th { "#" } th { "Script" } @if admin { th {} } } }
                tbody {
                    @for (i, script) in group.scripts.iter().enumerate() {
                        tr data-script=(script) {
                            td { (i + 1) }
                            td { a href={ "/scripts/" (script) } { (script) } }
                            @if admin { td { (move_buttons(caller, group, script, i + 1)) } }
                        }
                    }
                }
            }
            @if admin {
                h2 { "Add a script" }
                (change_form(caller, FormTarget { action: &format!("/scriptgroups/{}/scripts", group.name), id: "scriptgroup-add", submit: "Add" }, None, html! {
                    p { label { "Script " input type="text" name="scripts" id="scriptgroup-add-script" list="script-names" required value=(form.scripts); } }
                    p { label { "At position " input type="text" name="position" id="scriptgroup-add-position" inputmode="numeric" placeholder="the end" value=(form.position); } }
                }))
                (suggested)
                h2 { "Delete" }
                (delete_form(caller, &format!("/scriptgroups/{}/delete", group.name), ("Delete", "Delete this script group for good?"), "also delete the tasks that use it"))
            }
        }
    };
    layout(
        &format!("Script group {}", group.name),
        Some(caller),
        content,
    )
}

/// The names the add-a-script field suggests.
async fn script_suggestions(web: &WebState) -> Markup {
    forms::suggestions(web, &[EntityKind::Script], "script-names").await
}

/// `GET /scriptgroups`.
pub async fn script_groups(
    State(web): State<WebState>,
    Extension(caller): Extension<Caller>,
) -> Response {
    let page = async {
        let groups = web.app.script_groups().await?;
        Ok(script_groups_page(
            &caller,
            &groups,
            &ScriptGroupForm::default(),
            None,
        ))
    };
    forms::page("/scriptgroups", page.await)
}

/// `POST /scriptgroups`: `scriptgroup create`.
pub async fn script_group_create(
    State(web): State<WebState>,
    Extension(caller): Extension<Caller>,
    Admin(actor): Admin,
    Form(form): Form<ScriptGroupForm>,
) -> Response {
    let name = form.name.trim().to_string();
    let scripts = crate::app::name_list(&form.scripts);
    let result = web
        .app
        .scriptgroup_create(&actor, &name, &scripts, given(&form.description))
        .await;
    forms::after_change(
        "/scriptgroups",
        result,
        |()| format!("/scriptgroups/{name}"),
        async |error| {
            let groups = web.app.script_groups().await?;
            Ok(script_groups_page(&caller, &groups, &form, Some(&error)))
        },
    )
    .await
}

/// `GET /scriptgroups/{name}`.
pub async fn script_group(
    State(web): State<WebState>,
    Extension(caller): Extension<Caller>,
    Path(name): Path<String>,
) -> Response {
    let page = async {
        let group = web.app.script_group(&name).await?;
        let suggested = script_suggestions(&web).await;
        Ok(script_group_page(
            &caller,
            &group,
            &ScriptGroupForm::default(),
            None,
            &suggested,
        ))
    };
    forms::page(&format!("/scriptgroups/{name}"), page.await)
}

/// A change to a script group's scripts, answered with its page.
async fn order_change<T>(
    web: &WebState,
    caller: &Caller,
    path: &str,
    name: &str,
    form: &ScriptGroupForm,
    result: Result<T>,
) -> Response {
    forms::after_change(
        path,
        result,
        |_| format!("/scriptgroups/{name}"),
        async |error| {
            let group = web.app.script_group(name).await?;
            let suggested = script_suggestions(web).await;
            Ok(script_group_page(
                caller,
                &group,
                form,
                Some(&error),
                &suggested,
            ))
        },
    )
    .await
}

const POSITION_EXPECTED: &str = "a position in the script group, 1 for the first";

/// `POST /scriptgroups/{name}/scripts`: `scriptgroup add [--position N]`.
pub async fn script_group_add(
    State(web): State<WebState>,
    Extension(caller): Extension<Caller>,
    Admin(actor): Admin,
    Path(name): Path<String>,
    Form(form): Form<ScriptGroupForm>,
) -> Response {
    let path = format!("/scriptgroups/{name}/scripts");
    let result = match number("position", &form.position, POSITION_EXPECTED) {
        Ok(position) => {
            web.app
                .scriptgroup_add(&actor, &name, form.scripts.trim(), position)
                .await
        }
        Err(e) => Err(e),
    };
    order_change(&web, &caller, &path, &name, &form, result).await
}

/// `POST /scriptgroups/{name}/move`: `scriptgroup move` (the Up and Down
/// buttons).
pub async fn script_group_move(
    State(web): State<WebState>,
    Extension(caller): Extension<Caller>,
    Admin(actor): Admin,
    Path(name): Path<String>,
    Form(form): Form<MoveForm>,
) -> Response {
    let path = format!("/scriptgroups/{name}/move");
    let result = match number("position", &form.position, POSITION_EXPECTED) {
        Ok(Some(position)) => {
            web.app
                .scriptgroup_move(&actor, &name, form.script.trim(), position)
                .await
        }
        Ok(None) => Err(crate::error::Error::Refused(
            "give the position to move the script to".into(),
        )),
        Err(e) => Err(e),
    };
    order_change(
        &web,
        &caller,
        &path,
        &name,
        &ScriptGroupForm::default(),
        result,
    )
    .await
}

/// `POST /scriptgroups/{name}/scripts/{script}/remove`: `scriptgroup remove`.
pub async fn script_group_remove(
    State(web): State<WebState>,
    Extension(caller): Extension<Caller>,
    Admin(actor): Admin,
    Path((name, script)): Path<(String, String)>,
) -> Response {
    let path = format!("/scriptgroups/{name}/scripts/{script}/remove");
    let result = web.app.scriptgroup_remove(&actor, &name, &script).await;
    order_change(
        &web,
        &caller,
        &path,
        &name,
        &ScriptGroupForm::default(),
        result,
    )
    .await
}

/// `POST /scriptgroups/{name}/delete`: `scriptgroup delete [--force]`.
pub async fn script_group_delete(
    State(web): State<WebState>,
    Extension(caller): Extension<Caller>,
    Admin(actor): Admin,
    Path(name): Path<String>,
    Form(form): Form<DeleteForm>,
) -> Response {
    let path = format!("/scriptgroups/{name}/delete");
    let group = match web.app.script_group(&name).await {
        Ok(group) => group,
        Err(e) => return forms::page(&path, Err(e)),
    };
    let result = web
        .app
        .scriptgroup_delete(&actor, &name, form.force())
        .await;
    forms::after_change(
        &path,
        result,
        |()| "/scriptgroups".to_string(),
        async |error| {
            let suggested = script_suggestions(&web).await;
            let form = ScriptGroupForm::default();
            Ok(script_group_page(
                &caller,
                &group,
                &form,
                Some(&error),
                &suggested,
            ))
        },
    )
    .await
}

/// `GET /api/scriptgroups`: `scriptgroup list --json`.
pub async fn api_script_groups(State(web): State<WebState>) -> Response {
    forms::api("/api/scriptgroups", web.app.script_groups().await)
}

/// `GET /api/scriptgroups/{name}`: `scriptgroup show --json`.
pub async fn api_script_group(State(web): State<WebState>, Path(name): Path<String>) -> Response {
    forms::api(
        &format!("/api/scriptgroups/{name}"),
        web.app.script_group(&name).await,
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_diff_shows_changed_lines_with_context_as_text() {
        let old = "#!/bin/sh\necho one\necho two\n";
        let new = "#!/bin/sh\necho one\necho <b>2</b>\n";
        let shown: String = diff_lines(old, new)
            .into_iter()
            .map(|line| line.into_string() + "\n")
            .collect();
        assert!(
            shown.contains(r#"<span class="diff-del">- echo two</span>"#),
            "{shown}"
        );
        assert!(
            shown.contains(r#"<span class="diff-add">+ echo &lt;b&gt;2&lt;/b&gt;</span>"#),
            "{shown}"
        );
        assert!(
            shown.contains(r#"<span class="diff-same">  echo one</span>"#),
            "{shown}"
        );
        assert!(diff_lines(old, old).is_empty());
    }
}
