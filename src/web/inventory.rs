//! The inventory in the browser: hosts, server groups and tasks. Everyone
//! logged in reads them; admins create, edit and delete them through the
//! app's operations (the CLI's input types, so the same checks and the
//! same words in refusals), audited under `web:NAME`. Each list and
//! object is also an `/api/` document, the one `--json` prints.

use axum::extract::{Path, State};
use axum::response::Response;
use axum::{Extension, Form};
use maud::{html, Markup};
use serde::Deserialize;

use super::forms::{
    self, change_form, delete_form, error_banner, given, number, post_button, ticked, Admin,
    DeleteForm, FormTarget,
};
use super::guard::Caller;
use super::pages::layout;
use super::WebState;
use crate::access::Level;
use crate::app::name_list;
use crate::app::{HostEditInput, HostInput, TaskEditInput, TaskInput};
use crate::domain::{Host, OnFailure, ServerGroup, Task};
use crate::error::{EntityKind, Result};

// ---------------------------------------------------------------- hosts

/// The add and edit forms of a host.
#[derive(Debug, Clone, Default, Deserialize)]
pub struct HostForm {
    #[serde(default)]
    name: String,
    #[serde(default)]
    address: String,
    #[serde(default)]
    port: String,
    #[serde(default)]
    user: String,
    #[serde(default)]
    groups: String,
    #[serde(default)]
    description: String,
    sudo: Option<String>,
    #[serde(default)]
    jump: String,
}

const PORT_EXPECTED: &str = "a TCP port between 1 and 65535";

impl HostForm {
    fn of(host: &Host) -> HostForm {
        HostForm {
            name: host.name.clone(),
            address: host.address.clone(),
            port: host.port.to_string(),
            user: host.user.clone().unwrap_or_default(),
            groups: host.groups.join(", "),
            description: host.description.clone(),
            sudo: host.use_sudo.then(|| "on".to_string()),
            jump: host.jump.clone().unwrap_or_default(),
        }
    }

    fn add_input(&self) -> Result<HostInput> {
        Ok(HostInput {
            name: self.name.trim().to_string(),
            address: self.address.trim().to_string(),
            port: number("port", &self.port, PORT_EXPECTED)?,
            user: given(&self.user),
            groups: name_list(&self.groups),
            description: given(&self.description),
            sudo: ticked(&self.sudo),
            jump: given(&self.jump),
        })
    }

    /// The fields that differ from `host` (an empty user: the default
    /// user; an empty jump: as ssh_config says), so the audit trail names
    /// only what changed.
    fn edit_input(&self, host: &Host) -> Result<HostEditInput> {
        let port = number("port", &self.port, PORT_EXPECTED)?;
        let user = given(&self.user);
        let jump = given(&self.jump);
        let sudo = ticked(&self.sudo);
        let description = self.description.trim().to_string();
        Ok(HostEditInput {
            address: Some(self.address.trim().to_string()).filter(|a| *a != host.address),
            port: port.filter(|p| *p != i64::from(host.port)),
            default_user: user.is_none() && host.user.is_some(),
            user: user.filter(|u| Some(u) != host.user.as_ref()),
            description: Some(description).filter(|d| *d != host.description),
            sudo: Some(sudo).filter(|s| *s != host.use_sudo),
            no_jump: jump.is_none() && host.jump.is_some(),
            jump: jump.filter(|j| Some(j) != host.jump.as_ref()),
        })
    }
}

fn changes_nothing(edit: &HostEditInput) -> bool {
    edit.address.is_none()
        && edit.port.is_none()
        && edit.user.is_none()
        && !edit.default_user
        && edit.description.is_none()
        && edit.sudo.is_none()
        && edit.jump.is_none()
        && !edit.no_jump
}

fn host_fields(form: &HostForm, adding: bool) -> Markup {
    html! {
        @if adding {
            p { label { "Name " input type="text" name="name" id="host-name" required value=(form.name); } }
        }
        p { label { "Address " input type="text" name="address" id="host-address" required value=(form.address); } }
        p { label { "Port " input type="text" name="port" id="host-port" inputmode="numeric" placeholder="22" value=(form.port); } }
        p { label { "User " input type="text" name="user" id="host-user" placeholder="the default user" value=(form.user); } }
        @if adding {
            p { label { "Server groups " input type="text" name="groups" id="host-groups" placeholder="web, db" value=(form.groups); } }
        }
        p { label { "Jump hosts " input type="text" name="jump" id="host-jump" placeholder="as ssh_config says" value=(form.jump); } }
        p { label { "Description " input type="text" name="description" id="host-description" value=(form.description); } }
        p { label { input type="checkbox" name="sudo" id="host-sudo" checked[form.sudo.is_some()]; " run scripts with sudo" } }
    }
}

fn hosts_page(caller: &Caller, hosts: &[Host], form: &HostForm, error: Option<&str>) -> Markup {
    let content = html! {
        main {
            h1 { "Hosts" }
            p { (hosts.len()) " hosts · " a href="/api/hosts" { "JSON" } }
            table id="hosts" {
                thead { tr { th { "Name" } th { "Address" } th { "Port" } th { "User" } th { "Groups" } th { "Description" } } }
                tbody {
                    @for host in hosts {
                        tr data-host=(host.name) {
                            td { a href={ "/hosts/" (host.name) } { (host.name) } }
                            td { (host.address) }
                            td { (host.port) }
                            td { (host.user.as_deref().unwrap_or("-")) }
                            td { (host.groups.join(", ")) }
                            td { (host.description) }
                        }
                    }
                }
            }
            @if caller.has(Level::Admin) {
                h2 { "Add a host" }
                (change_form(caller, FormTarget { action: "/hosts", id: "host-add", submit: "Add host" }, error, host_fields(form, true)))
            }
        }
    };
    layout("Hosts", Some(caller), content)
}

fn host_page(caller: &Caller, host: &Host, form: &HostForm, error: Option<&str>) -> Markup {
    let content = html! {
        main {
            h1 { "Host " (host.name) }
            dl id="host" {
                dt { "Address" } dd id="host-shown-address" { (host.address) ":" (host.port) }
                dt { "User" } dd { (host.user.as_deref().unwrap_or("the default user")) }
                dt { "Server groups" } dd {
                    @for (i, group) in host.groups.iter().enumerate() {
                        @if i > 0 { ", " }
                        a href={ "/groups/" (group) } { (group) }
                    }
                }
                dt { "Jump hosts" } dd { (host.jump.as_deref().unwrap_or("as ssh_config says")) }
                dt { "sudo" } dd { (if host.use_sudo { "yes" } else { "no" }) }
                dt { "Host key" } dd { (if host.host_key.is_some() { "pinned" } else { "not pinned yet" }) }
                dt { "Description" } dd { (host.description) }
            }
            p { a href={ "/api/hosts/" (host.name) } { "JSON" } }
            @if caller.has(Level::Admin) {
                h2 { "Edit" }
                (change_form(caller, FormTarget { action: &format!("/hosts/{}", host.name), id: "host-edit", submit: "Save" }, error, host_fields(form, false)))
                h2 { "Remove" }
                (delete_form(caller, &format!("/hosts/{}/delete", host.name), ("Remove", "Remove this host for good?"), "also take it out of its server groups"))
            }
        }
    };
    layout(&format!("Host {}", host.name), Some(caller), content)
}

/// `GET /hosts`.
pub async fn hosts(State(web): State<WebState>, Extension(caller): Extension<Caller>) -> Response {
    let page = async {
        let hosts = web.app.hosts().await?;
        Ok(hosts_page(&caller, &hosts, &HostForm::default(), None))
    };
    forms::page("/hosts", page.await)
}

/// `POST /hosts`: `host add`.
pub async fn host_add(
    State(web): State<WebState>,
    Extension(caller): Extension<Caller>,
    Admin(actor): Admin,
    Form(form): Form<HostForm>,
) -> Response {
    let result = match form.add_input() {
        Ok(input) => web.app.host_add(&actor, input).await,
        Err(e) => Err(e),
    };
    forms::after_change(
        "/hosts",
        result,
        |host| format!("/hosts/{}", host.name),
        async |error| {
            let hosts = web.app.hosts().await?;
            Ok(hosts_page(&caller, &hosts, &form, Some(&error)))
        },
    )
    .await
}

/// `GET /hosts/{name}`.
pub async fn host(
    State(web): State<WebState>,
    Extension(caller): Extension<Caller>,
    Path(name): Path<String>,
) -> Response {
    let page = async {
        let host = web.app.host(&name).await?;
        Ok(host_page(&caller, &host, &HostForm::of(&host), None))
    };
    forms::page(&format!("/hosts/{name}"), page.await)
}

/// `POST /hosts/{name}`: `host edit` with the fields that changed.
pub async fn host_edit(
    State(web): State<WebState>,
    Extension(caller): Extension<Caller>,
    Admin(actor): Admin,
    Path(name): Path<String>,
    Form(form): Form<HostForm>,
) -> Response {
    let path = format!("/hosts/{name}");
    let host = match web.app.host(&name).await {
        Ok(host) => host,
        Err(e) => return forms::page(&path, Err(e)),
    };
    let result = match form.edit_input(&host) {
        // Saved as it was: nothing to do, nothing to audit.
        Ok(input) if changes_nothing(&input) => Ok(host.clone()),
        Ok(input) => web.app.host_edit(&actor, &name, input).await,
        Err(e) => Err(e),
    };
    forms::after_change(
        &path,
        result,
        |host| format!("/hosts/{}", host.name),
        async |error| Ok(host_page(&caller, &host, &form, Some(&error))),
    )
    .await
}

/// `POST /hosts/{name}/delete`: `host rm [--force]`.
pub async fn host_delete(
    State(web): State<WebState>,
    Extension(caller): Extension<Caller>,
    Admin(actor): Admin,
    Path(name): Path<String>,
    Form(form): Form<DeleteForm>,
) -> Response {
    let path = format!("/hosts/{name}/delete");
    let host = match web.app.host(&name).await {
        Ok(host) => host,
        Err(e) => return forms::page(&path, Err(e)),
    };
    let result = web.app.host_remove(&actor, &name, form.force()).await;
    forms::after_change(
        &path,
        result,
        |()| "/hosts".to_string(),
        async |error| {
            Ok(host_page(
                &caller,
                &host,
                &HostForm::of(&host),
                Some(&error),
            ))
        },
    )
    .await
}

/// `GET /api/hosts`: `host list --json`.
pub async fn api_hosts(State(web): State<WebState>) -> Response {
    forms::api("/api/hosts", web.app.hosts().await)
}

/// `GET /api/hosts/{name}`: `host show --json`.
pub async fn api_host(State(web): State<WebState>, Path(name): Path<String>) -> Response {
    let doc = async {
        let host = web.app.host(&name).await?;
        Ok(web.app.host_document(&host, &[]).await)
    };
    forms::api(&format!("/api/hosts/{name}"), doc.await)
}

// -------------------------------------------------------- server groups

/// The create form of a server group, and the hosts added to one.
#[derive(Debug, Clone, Default, Deserialize)]
pub struct GroupForm {
    #[serde(default)]
    name: String,
    #[serde(default)]
    description: String,
    #[serde(default)]
    hosts: String,
}

fn groups_page(
    caller: &Caller,
    groups: &[ServerGroup],
    form: &GroupForm,
    error: Option<&str>,
) -> Markup {
    let content = html! {
        main {
            h1 { "Server groups" }
            p { (groups.len()) " server groups · " a href="/api/groups" { "JSON" } }
            table id="groups" {
                thead { tr { th { "Name" } th { "Hosts" } th { "Description" } } }
                tbody {
                    @for group in groups {
                        tr data-group=(group.name) {
                            td { a href={ "/groups/" (group.name) } { (group.name) } }
                            td { (group.hosts.len()) }
                            td { (group.description) }
                        }
                    }
                }
            }
            @if caller.has(Level::Admin) {
                h2 { "Create a server group" }
                (change_form(caller, FormTarget { action: "/groups", id: "group-create", submit: "Create" }, error, html! {
                    p { label { "Name " input type="text" name="name" id="group-name" required value=(form.name); } }
                    p { label { "Description " input type="text" name="description" id="group-description" value=(form.description); } }
                }))
            }
        }
    };
    layout("Server groups", Some(caller), content)
}

fn group_page(
    caller: &Caller,
    group: &ServerGroup,
    form: &GroupForm,
    error: Option<&str>,
) -> Markup {
    let admin = caller.has(Level::Admin);
    let content = html! {
        main {
            h1 { "Server group " (group.name) }
            p { (group.description) }
            p {
                (group.hosts.len()) " hosts · "
                a href={ "/api/groups/" (group.name) } { "JSON" }
            }
            (error_banner(error))
            table id="members" {
                thead { tr { th { "Host" } @if admin { th {} } } }
                tbody {
                    @for host in &group.hosts {
                        tr data-host=(host) {
                            td { a href={ "/hosts/" (host) } { (host) } }
                            @if admin {
                                td { (post_button(caller, &format!("/groups/{}/hosts/{host}/remove", group.name), &format!("remove-{host}"), "Take out", None)) }
                            }
                        }
                    }
                }
            }
            @if admin {
                h2 { "Add hosts" }
                (change_form(caller, FormTarget { action: &format!("/groups/{}/hosts", group.name), id: "group-add", submit: "Add" }, None, html! {
                    p { label { "Hosts (names, separated by commas or spaces) " input type="text" name="hosts" id="group-hosts" required value=(form.hosts); } }
                }))
                h2 { "Delete" }
                (delete_form(caller, &format!("/groups/{}/delete", group.name), ("Delete", "Delete this server group for good?"), "also delete the tasks that use it"))
            }
        }
    };
    layout(
        &format!("Server group {}", group.name),
        Some(caller),
        content,
    )
}

/// `GET /groups`.
pub async fn groups(State(web): State<WebState>, Extension(caller): Extension<Caller>) -> Response {
    let page = async {
        let groups = web.app.server_groups().await?;
        Ok(groups_page(&caller, &groups, &GroupForm::default(), None))
    };
    forms::page("/groups", page.await)
}

/// `POST /groups`: `group create`.
pub async fn group_create(
    State(web): State<WebState>,
    Extension(caller): Extension<Caller>,
    Admin(actor): Admin,
    Form(form): Form<GroupForm>,
) -> Response {
    let name = form.name.trim().to_string();
    let result = web
        .app
        .group_create(&actor, &name, given(&form.description))
        .await;
    forms::after_change(
        "/groups",
        result,
        |()| format!("/groups/{name}"),
        async |error| {
            let groups = web.app.server_groups().await?;
            Ok(groups_page(&caller, &groups, &form, Some(&error)))
        },
    )
    .await
}

/// `GET /groups/{name}`.
pub async fn group(
    State(web): State<WebState>,
    Extension(caller): Extension<Caller>,
    Path(name): Path<String>,
) -> Response {
    let page = async {
        let group = web.app.server_group(&name).await?;
        Ok(group_page(&caller, &group, &GroupForm::default(), None))
    };
    forms::page(&format!("/groups/{name}"), page.await)
}

/// A group member change, answered with the group's page.
async fn member_change(
    web: &WebState,
    caller: &Caller,
    path: &str,
    name: &str,
    form: &GroupForm,
    result: Result<Vec<String>>,
) -> Response {
    forms::after_change(
        path,
        result,
        |_| format!("/groups/{name}"),
        async |error| {
            let group = web.app.server_group(name).await?;
            Ok(group_page(caller, &group, form, Some(&error)))
        },
    )
    .await
}

/// `POST /groups/{name}/hosts`: `group add`.
pub async fn group_add(
    State(web): State<WebState>,
    Extension(caller): Extension<Caller>,
    Admin(actor): Admin,
    Path(name): Path<String>,
    Form(form): Form<GroupForm>,
) -> Response {
    let path = format!("/groups/{name}/hosts");
    let result = web
        .app
        .group_add_hosts(&actor, &name, &name_list(&form.hosts))
        .await;
    member_change(&web, &caller, &path, &name, &form, result).await
}

/// `POST /groups/{name}/hosts/{host}/remove`: `group remove`.
pub async fn group_remove(
    State(web): State<WebState>,
    Extension(caller): Extension<Caller>,
    Admin(actor): Admin,
    Path((name, host)): Path<(String, String)>,
) -> Response {
    let path = format!("/groups/{name}/hosts/{host}/remove");
    let result = web.app.group_remove_hosts(&actor, &name, &[host]).await;
    member_change(&web, &caller, &path, &name, &GroupForm::default(), result).await
}

/// `POST /groups/{name}/delete`: `group delete [--force]`.
pub async fn group_delete(
    State(web): State<WebState>,
    Extension(caller): Extension<Caller>,
    Admin(actor): Admin,
    Path(name): Path<String>,
    Form(form): Form<DeleteForm>,
) -> Response {
    let path = format!("/groups/{name}/delete");
    let group = match web.app.server_group(&name).await {
        Ok(group) => group,
        Err(e) => return forms::page(&path, Err(e)),
    };
    let result = web.app.group_delete(&actor, &name, form.force()).await;
    forms::after_change(
        &path,
        result,
        |()| "/groups".to_string(),
        async |error| {
            Ok(group_page(
                &caller,
                &group,
                &GroupForm::default(),
                Some(&error),
            ))
        },
    )
    .await
}

/// `GET /api/groups`: `group list --json`.
pub async fn api_groups(State(web): State<WebState>) -> Response {
    forms::api("/api/groups", web.app.server_groups().await)
}

/// `GET /api/groups/{name}`: `group show --json`.
pub async fn api_group(State(web): State<WebState>, Path(name): Path<String>) -> Response {
    forms::api(
        &format!("/api/groups/{name}"),
        web.app.server_group(&name).await,
    )
}

// ---------------------------------------------------------------- tasks

/// The create form of a task.
#[derive(Debug, Clone, Default, Deserialize)]
pub struct TaskForm {
    #[serde(default)]
    name: String,
    #[serde(default)]
    script_group: String,
    #[serde(default)]
    server_group: String,
    #[serde(default)]
    parallel: String,
    continue_on_error: Option<String>,
    #[serde(default)]
    max_failed_hosts: String,
    sudo: Option<String>,
    #[serde(default)]
    description: String,
}

impl TaskForm {
    fn of(task: &Task) -> TaskForm {
        let on = |yes: bool| yes.then(|| "on".to_string());
        TaskForm {
            name: task.name.clone(),
            script_group: task.script_group.clone(),
            server_group: task.server_group.clone(),
            parallel: task.options.parallel.to_string(),
            continue_on_error: on(task.options.on_failure == OnFailure::Continue),
            max_failed_hosts: task
                .options
                .max_failed_hosts
                .map_or_else(String::new, |max| max.to_string()),
            sudo: on(task.options.use_sudo),
            description: task.description.clone(),
        }
    }

    /// The fields that differ from `task` (an emptied limit of failed
    /// hosts: no limit).
    fn edit_input(&self, task: &Task) -> Result<TaskEditInput> {
        let differs = |given: &str, now: &str| Some(given.trim().to_string()).filter(|g| g != now);
        let parallel = number(
            "parallel",
            &self.parallel,
            "between 1 and 4096 hosts at once",
        )?;
        let max_failed = number(
            "max-failed-hosts",
            &self.max_failed_hosts,
            "at least 1 (leave it out for no limit)",
        )?;
        let now_max = task.options.max_failed_hosts.map(i64::from);
        let go_on = ticked(&self.continue_on_error);
        let sudo = ticked(&self.sudo);
        Ok(TaskEditInput {
            script_group: differs(&self.script_group, &task.script_group),
            server_group: differs(&self.server_group, &task.server_group),
            parallel: parallel.filter(|p| *p != i64::from(task.options.parallel)),
            continue_on_error: Some(go_on)
                .filter(|go_on| *go_on != (task.options.on_failure == OnFailure::Continue)),
            max_failed_hosts: max_failed.filter(|max| Some(*max) != now_max),
            no_max_failed_hosts: max_failed.is_none() && now_max.is_some(),
            sudo: Some(sudo).filter(|sudo| *sudo != task.options.use_sudo),
            description: differs(&self.description, &task.description),
        })
    }

    fn input(&self) -> Result<TaskInput> {
        Ok(TaskInput {
            name: self.name.trim().to_string(),
            script_group: self.script_group.trim().to_string(),
            server_group: self.server_group.trim().to_string(),
            parallel: number(
                "parallel",
                &self.parallel,
                "between 1 and 4096 hosts at once",
            )?,
            continue_on_error: ticked(&self.continue_on_error),
            max_failed_hosts: number(
                "max-failed-hosts",
                &self.max_failed_hosts,
                "at least 1 (leave it out for no limit)",
            )?,
            sudo: ticked(&self.sudo),
            description: given(&self.description),
        })
    }
}

fn task_options(task: &Task) -> String {
    let mut words = vec![
        format!("{} at once", task.options.parallel),
        format!("on failure: {}", task.options.on_failure.as_str()),
    ];
    if let Some(max) = task.options.max_failed_hosts {
        words.push(format!("stop after {max} failed hosts"));
    }
    if task.options.use_sudo {
        words.push("sudo".into());
    }
    words.join(" · ")
}

fn task_fields(form: &TaskForm, adding: bool) -> Markup {
    html! {
        @if adding {
            p { label { "Name " input type="text" name="name" id="task-name" required value=(form.name); } }
        }
        p { label { "Script group " input type="text" name="script_group" id="task-script-group" list="scriptgroup-names" required value=(form.script_group); } }
        p { label { "Server group " input type="text" name="server_group" id="task-server-group" list="servergroup-names" required value=(form.server_group); } }
        p { label { "Hosts at once " input type="text" name="parallel" id="task-parallel" inputmode="numeric" placeholder=(crate::domain::DEFAULT_PARALLEL) value=(form.parallel); } }
        p { label { "Stop after this many failed hosts " input type="text" name="max_failed_hosts" id="task-max-failed" inputmode="numeric" placeholder="no limit" value=(form.max_failed_hosts); } }
        p { label { input type="checkbox" name="continue_on_error" id="task-continue" checked[form.continue_on_error.is_some()]; " a host goes on with its next script after a failure" } }
        p { label { input type="checkbox" name="sudo" id="task-sudo" checked[form.sudo.is_some()]; " run scripts with sudo" } }
        p { label { "Description " input type="text" name="description" id="task-description" value=(form.description); } }
    }
}

/// The names the task form suggests.
async fn task_suggestions(web: &WebState) -> Markup {
    html! {
        (forms::suggestions(web, &[EntityKind::ScriptGroup], "scriptgroup-names").await)
        (forms::suggestions(web, &[EntityKind::ServerGroup], "servergroup-names").await)
    }
}

fn tasks_page(
    caller: &Caller,
    tasks: &[Task],
    form: &TaskForm,
    error: Option<&str>,
    suggested: &Markup,
) -> Markup {
    let content = html! {
        main {
            h1 { "Tasks" }
            p { (tasks.len()) " tasks · " a href="/api/tasks" { "JSON" } }
            table id="tasks" {
                thead { tr { th { "Name" } th { "Script group" } th { "Server group" } th { "Options" } th { "Description" } } }
                tbody {
                    @for task in tasks {
                        tr data-task=(task.name) {
                            td { a href={ "/tasks/" (task.name) } { (task.name) } }
                            td { a href={ "/scriptgroups/" (task.script_group) } { (task.script_group) } }
                            td { a href={ "/groups/" (task.server_group) } { (task.server_group) } }
                            td { (task_options(task)) }
                            td { (task.description) }
                        }
                    }
                }
            }
            @if caller.has(Level::Admin) {
                h2 { "Create a task" }
                (change_form(caller, FormTarget { action: "/tasks", id: "task-create", submit: "Create" }, error, task_fields(form, true)))
                (suggested)
            }
        }
    };
    layout("Tasks", Some(caller), content)
}

fn task_page(
    caller: &Caller,
    task: &Task,
    form: &TaskForm,
    error: Option<&str>,
    suggested: &Markup,
) -> Markup {
    let content = html! {
        main {
            h1 { "Task " (task.name) }
            dl id="task" {
                dt { "Script group" } dd { a href={ "/scriptgroups/" (task.script_group) } { (task.script_group) } }
                dt { "Server group" } dd { a href={ "/groups/" (task.server_group) } { (task.server_group) } }
                dt { "Options" } dd id="task-options" { (task_options(task)) }
                dt { "Description" } dd { (task.description) }
            }
            p {
                a href={ "/?task=" (task.name) } { "Its runs" } " · "
                a href={ "/api/tasks/" (task.name) } { "JSON" }
                @if caller.has(Level::Operator) {
                    " · " a href={ "/runs/new?target=" (task.name) } id="task-start" { "Start it" }
                }
            }
            @if caller.has(Level::Admin) {
                h2 { "Edit" }
                (change_form(caller, FormTarget { action: &format!("/tasks/{}", task.name), id: "task-edit", submit: "Save" }, error, task_fields(form, false)))
                (suggested)
                h2 { "Delete" }
                (post_button(caller, &format!("/tasks/{}/delete", task.name), "delete-submit", "Delete", Some("Delete this task for good?")))
            }
        }
    };
    layout(&format!("Task {}", task.name), Some(caller), content)
}

/// `GET /tasks`.
pub async fn tasks(State(web): State<WebState>, Extension(caller): Extension<Caller>) -> Response {
    let page = async {
        let tasks = web.app.tasks().await?;
        let suggested = task_suggestions(&web).await;
        Ok(tasks_page(
            &caller,
            &tasks,
            &TaskForm::default(),
            None,
            &suggested,
        ))
    };
    forms::page("/tasks", page.await)
}

/// `POST /tasks`: `task create`.
pub async fn task_create(
    State(web): State<WebState>,
    Extension(caller): Extension<Caller>,
    Admin(actor): Admin,
    Form(form): Form<TaskForm>,
) -> Response {
    let result = match form.input() {
        Ok(input) => web.app.task_create(&actor, input).await,
        Err(e) => Err(e),
    };
    forms::after_change(
        "/tasks",
        result,
        |task| format!("/tasks/{}", task.name),
        async |error| {
            let tasks = web.app.tasks().await?;
            let suggested = task_suggestions(&web).await;
            Ok(tasks_page(&caller, &tasks, &form, Some(&error), &suggested))
        },
    )
    .await
}

/// `GET /tasks/{name}`.
pub async fn task(
    State(web): State<WebState>,
    Extension(caller): Extension<Caller>,
    Path(name): Path<String>,
) -> Response {
    let page = async {
        let task = web.app.task(&name).await?;
        let suggested = task_suggestions(&web).await;
        Ok(task_page(
            &caller,
            &task,
            &TaskForm::of(&task),
            None,
            &suggested,
        ))
    };
    forms::page(&format!("/tasks/{name}"), page.await)
}

/// `POST /tasks/{name}`: `task edit` with the fields that changed.
pub async fn task_edit(
    State(web): State<WebState>,
    Extension(caller): Extension<Caller>,
    Admin(actor): Admin,
    Path(name): Path<String>,
    Form(form): Form<TaskForm>,
) -> Response {
    let path = format!("/tasks/{name}");
    let task = match web.app.task(&name).await {
        Ok(task) => task,
        Err(e) => return forms::page(&path, Err(e)),
    };
    let result = match form.edit_input(&task) {
        // Saved as it was: nothing to do, nothing to audit.
        Ok(input) if input.is_empty() => Ok(task.clone()),
        Ok(input) => web.app.task_edit(&actor, &name, input).await,
        Err(e) => Err(e),
    };
    forms::after_change(
        &path,
        result,
        |task| format!("/tasks/{}", task.name),
        async |error| {
            let suggested = task_suggestions(&web).await;
            Ok(task_page(&caller, &task, &form, Some(&error), &suggested))
        },
    )
    .await
}

/// `POST /tasks/{name}/delete`: `task delete`.
pub async fn task_delete(
    State(web): State<WebState>,
    Extension(caller): Extension<Caller>,
    Admin(actor): Admin,
    Path(name): Path<String>,
) -> Response {
    let path = format!("/tasks/{name}/delete");
    let task = match web.app.task(&name).await {
        Ok(task) => task,
        Err(e) => return forms::page(&path, Err(e)),
    };
    let result = web.app.task_delete(&actor, &name).await;
    forms::after_change(
        &path,
        result,
        |()| "/tasks".to_string(),
        async |error| {
            let suggested = task_suggestions(&web).await;
            let form = TaskForm::of(&task);
            Ok(task_page(&caller, &task, &form, Some(&error), &suggested))
        },
    )
    .await
}

/// `GET /api/tasks`: `task list --json`.
pub async fn api_tasks(State(web): State<WebState>) -> Response {
    forms::api("/api/tasks", web.app.tasks().await)
}

/// `GET /api/tasks/{name}`: `task show --json`.
pub async fn api_task(State(web): State<WebState>, Path(name): Path<String>) -> Response {
    forms::api(&format!("/api/tasks/{name}"), web.app.task(&name).await)
}
