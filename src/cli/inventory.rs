//! Handlers of the inventory commands: host, group, script, scriptgroup, task.

use std::io::Read;
use std::path::Path;

use serde_json::Value;

use super::{
    Context, GroupCmd, HostInventoryCmd, ScriptBodyArgs, ScriptCmd, ScriptGroupCmd,
    TaskInventoryCmd,
};
use crate::app::ScriptChange;
use crate::app::{HostEditInput, HostInput, ScriptInput, TaskEditInput, TaskInput};
use crate::domain::{Host, Task};
use crate::error::{Error, Result};
use crate::text::{fields, json, or_dash, Table};

/// What a command that only changes something prints: its message or, with
/// `--json`, `{"ok": true, "message": ..., ...extra}`.
fn done(ctx: &Context, message: String, extra: Value) -> String {
    if !ctx.json {
        return message;
    }
    let mut object = serde_json::Map::new();
    object.insert("ok".into(), Value::Bool(true));
    object.insert("message".into(), Value::String(message));
    if let Value::Object(extra) = extra {
        object.extend(extra);
    }
    json(&object)
}

fn host_fields(h: &Host) -> String {
    fields(&[
        ("name", h.name.clone()),
        ("address", h.address.clone()),
        ("port", h.port.to_string()),
        ("user", h.user.clone().unwrap_or_else(|| "(default)".into())),
        ("sudo", h.use_sudo.to_string()),
        ("groups", or_dash(&h.groups.join(", "))),
        ("jump", h.jump.clone().unwrap_or_else(|| "-".into())),
        ("description", or_dash(&h.description)),
        (
            "host key",
            h.host_key.clone().unwrap_or_else(|| "(not pinned)".into()),
        ),
    ])
}

/// The effective connection values of a host, each with its source:
/// `user: deploy (ssh_config ~/.ssh/config:12)`.
fn connection_fields(connection: &Result<crate::app::Resolved>) -> String {
    let resolved = match connection {
        Ok(resolved) => resolved,
        Err(e) => return format!("connection: cannot be worked out: {e}"),
    };
    let mut lines = vec!["connection:".to_string()];
    for p in &resolved.provenance {
        lines.push(format!("  {}: {} ({})", p.field, p.value, p.source));
    }
    if !resolved.route.jumps.is_empty() {
        lines.push(format!(
            "  route: {} -> {}",
            resolved.route.jump_names(),
            resolved.route.target.name
        ));
    }
    lines.join("\n")
}

pub async fn host(ctx: &Context, cmd: HostInventoryCmd) -> Result<String> {
    let app = &ctx.app;
    match cmd {
        HostInventoryCmd::Add {
            name,
            address,
            port,
            user,
            groups,
            description,
            sudo,
            jump,
        } => {
            let args = HostInput {
                name,
                address,
                port,
                user,
                groups,
                description,
                sudo,
                jump,
            };
            let host = app.host_add(&ctx.actor, args).await?;
            Ok(shown(ctx, &host, |host| {
                format!("added host {}", host.name)
            }))
        }
        HostInventoryCmd::List => {
            let hosts = app.hosts().await?;
            if ctx.json {
                return Ok(json(&hosts));
            }
            let mut table =
                Table::new(&["NAME", "ADDRESS", "PORT", "USER", "GROUPS", "DESCRIPTION"]);
            for h in hosts {
                table.row(vec![
                    h.name,
                    h.address,
                    h.port.to_string(),
                    h.user.unwrap_or_else(|| "-".into()),
                    or_dash(&h.groups.join(",")),
                    or_dash(&h.description),
                ]);
            }
            Ok(table.render())
        }
        HostInventoryCmd::Show { name } => {
            let host = app.host(&name).await?;
            if ctx.json {
                return Ok(json(&app.host_document(&host, &ctx.identities).await));
            }
            let settings = app.ssh_settings(&ctx.identities);
            let connection = app.host_route(&host, &settings).await;
            Ok(format!(
                "{}\n{}",
                host_fields(&host),
                connection_fields(&connection)
            ))
        }
        HostInventoryCmd::Edit {
            name,
            address,
            port,
            user,
            default_user,
            description,
            sudo,
            jump,
            no_jump,
        } => {
            let args = HostEditInput {
                address,
                port,
                user,
                default_user,
                description,
                sudo,
                jump,
                no_jump,
            };
            let host = app.host_edit(&ctx.actor, &name, args).await?;
            Ok(shown(ctx, &host, host_fields))
        }
        HostInventoryCmd::Rm { name, force } => {
            app.host_remove(&ctx.actor, &name, force).await?;
            Ok(done(
                ctx,
                format!("removed host {name}"),
                serde_json::json!({"host": name}),
            ))
        }
    }
}

pub async fn group(ctx: &Context, cmd: GroupCmd) -> Result<String> {
    let app = &ctx.app;
    match cmd {
        GroupCmd::Create { name, description } => {
            app.group_create(&ctx.actor, &name, description).await?;
            Ok(done(
                ctx,
                format!("created server group {name}"),
                serde_json::json!({"group": name}),
            ))
        }
        GroupCmd::Delete { name, force } => {
            app.group_delete(&ctx.actor, &name, force).await?;
            Ok(done(
                ctx,
                format!("deleted server group {name}"),
                serde_json::json!({"group": name}),
            ))
        }
        GroupCmd::Add { group, hosts } => {
            let added = app.group_add_hosts(&ctx.actor, &group, &hosts).await?;
            let already: Vec<&String> = hosts.iter().filter(|h| !added.contains(h)).collect();
            let mut msg = format!("added {} host(s) to server group {group}", added.len());
            if !already.is_empty() {
                msg.push_str(&format!(" ({} already in it)", already.len()));
            }
            Ok(done(
                ctx,
                msg,
                serde_json::json!({"group": group, "added": added, "already_in_group": already}),
            ))
        }
        GroupCmd::Remove { group, hosts } => {
            let hosts = app.group_remove_hosts(&ctx.actor, &group, &hosts).await?;
            Ok(done(
                ctx,
                format!("removed {} host(s) from server group {group}", hosts.len()),
                serde_json::json!({"group": group, "removed": hosts}),
            ))
        }
        GroupCmd::List => {
            let groups = app.server_groups().await?;
            if ctx.json {
                return Ok(json(&groups));
            }
            let mut table = Table::new(&["NAME", "HOSTS", "DESCRIPTION"]);
            for g in groups {
                table.row(vec![
                    g.name,
                    g.hosts.len().to_string(),
                    or_dash(&g.description),
                ]);
            }
            Ok(table.render())
        }
        GroupCmd::Show { name } => {
            let group = app.server_group(&name).await?;
            if ctx.json {
                return Ok(json(&group));
            }
            Ok(fields(&[
                ("name", group.name),
                ("description", or_dash(&group.description)),
                ("hosts", or_dash(&group.hosts.join(", "))),
            ]))
        }
    }
}

/// Reads a script body from a file or, for `-`, standard input. Reads at
/// most one byte past the limit: a longer body is refused without its
/// full size being known.
fn read_body(path: &Path) -> Result<Vec<u8>> {
    let limit = crate::domain::MAX_SCRIPT_BYTES;
    let take = limit as u64 + 1;
    let mut body = Vec::new();
    let result = if path.as_os_str() == "-" {
        std::io::stdin().lock().take(take).read_to_end(&mut body)
    } else {
        std::fs::File::open(path).and_then(|f| f.take(take).read_to_end(&mut body))
    };
    result.map_err(|e| {
        Error::io(
            format!("cannot read script body from {}", path.display()),
            e,
        )
    })?;
    if body.len() > limit {
        return Err(Error::ScriptOverLimit { limit });
    }
    Ok(body)
}

fn script_args(args: ScriptBodyArgs) -> Result<ScriptInput> {
    Ok(ScriptInput {
        body: read_body(&args.file)?,
        name: args.name,
        description: args.description,
        timeout: args.timeout,
    })
}

fn timeout_text(secs: Option<u64>) -> String {
    secs.map_or_else(
        || "-".to_string(),
        |s| humantime::format_duration(std::time::Duration::from_secs(s)).to_string(),
    )
}

pub async fn script(ctx: &Context, cmd: ScriptCmd) -> Result<String> {
    let app = &ctx.app;
    match cmd {
        ScriptCmd::Add(args) => {
            let script = app.script_add(&ctx.actor, script_args(args)?).await?;
            Ok(shown(ctx, &script, |script| {
                format!("added script {} (version 1)", script.name)
            }))
        }
        ScriptCmd::Edit(args) => {
            let name = args.name.clone();
            let change = app.script_edit(&ctx.actor, script_args(args)?).await?;
            let message = match change {
                ScriptChange::NewVersion(v) => format!("script {name} is now at version {v}"),
                ScriptChange::MetadataChanged => {
                    format!("script {name}: description/timeout updated, body unchanged")
                }
                ScriptChange::Unchanged | ScriptChange::Added => format!("script {name} unchanged"),
            };
            if !ctx.json {
                return Ok(message);
            }
            let version = match change {
                ScriptChange::NewVersion(v) => v,
                ScriptChange::Added => 1,
                _ => app.script(&name, None).await?.version,
            };
            Ok(done(
                ctx,
                message,
                serde_json::json!({
                    "script": name,
                    "version": version,
                    "changed": change != ScriptChange::Unchanged,
                    "body_changed": matches!(change, ScriptChange::NewVersion(_)),
                }),
            ))
        }
        ScriptCmd::Show { name, version } => {
            let script = app.script(&name, version).await?;
            Ok(shown(ctx, &script, |script| script.body.clone()))
        }
        ScriptCmd::List => {
            let scripts = app.scripts().await?;
            if ctx.json {
                return Ok(json(&scripts));
            }
            let mut table =
                Table::new(&["NAME", "VERSION", "TIMEOUT", "INTERPRETER", "DESCRIPTION"]);
            for s in scripts {
                table.row(vec![
                    s.name.clone(),
                    s.version.to_string(),
                    timeout_text(s.timeout_secs),
                    crate::domain::interpreter(&s.body).to_string(),
                    or_dash(&s.description),
                ]);
            }
            Ok(table.render())
        }
        ScriptCmd::History { name } => {
            let versions = app.script_history(&name).await?;
            if ctx.json {
                return Ok(json(&versions));
            }
            let mut table = Table::new(&["VERSION", "BYTES", "SHA256", "CREATED", "BY"]);
            for v in versions {
                table.row(vec![
                    v.version.to_string(),
                    v.bytes.to_string(),
                    v.sha256.chars().take(12).collect(),
                    v.created_at,
                    v.created_by,
                ]);
            }
            Ok(table.render())
        }
        ScriptCmd::Rm { name, force } => {
            app.script_remove(&ctx.actor, &name, force).await?;
            Ok(done(
                ctx,
                format!("removed script {name}"),
                serde_json::json!({"script": name}),
            ))
        }
    }
}

pub async fn scriptgroup(ctx: &Context, cmd: ScriptGroupCmd) -> Result<String> {
    let app = &ctx.app;
    match cmd {
        ScriptGroupCmd::Create {
            name,
            scripts,
            description,
        } => {
            app.scriptgroup_create(&ctx.actor, &name, &scripts, description)
                .await?;
            Ok(done(
                ctx,
                format!(
                    "created script group {name} with {} script(s)",
                    scripts.len()
                ),
                serde_json::json!({"script_group": name, "scripts": scripts}),
            ))
        }
        ScriptGroupCmd::Add {
            name,
            script,
            position,
        } => {
            let at = app
                .scriptgroup_add(&ctx.actor, &name, &script, position)
                .await?;
            Ok(done(
                ctx,
                format!("added {script} to script group {name} at position {at}"),
                serde_json::json!({"script_group": name, "script": script, "position": at}),
            ))
        }
        ScriptGroupCmd::Move {
            name,
            script,
            position,
        } => {
            app.scriptgroup_move(&ctx.actor, &name, &script, position)
                .await?;
            Ok(done(
                ctx,
                format!("moved {script} to position {position} in script group {name}"),
                serde_json::json!({"script_group": name, "script": script, "position": position}),
            ))
        }
        ScriptGroupCmd::Remove { name, script } => {
            app.scriptgroup_remove(&ctx.actor, &name, &script).await?;
            Ok(done(
                ctx,
                format!("removed {script} from script group {name}"),
                serde_json::json!({"script_group": name, "script": script}),
            ))
        }
        ScriptGroupCmd::Delete { name, force } => {
            app.scriptgroup_delete(&ctx.actor, &name, force).await?;
            Ok(done(
                ctx,
                format!("deleted script group {name}"),
                serde_json::json!({"script_group": name}),
            ))
        }
        ScriptGroupCmd::List => {
            let groups = app.script_groups().await?;
            if ctx.json {
                return Ok(json(&groups));
            }
            let mut table = Table::new(&["NAME", "SCRIPTS", "DESCRIPTION"]);
            for g in groups {
                table.row(vec![
                    g.name,
                    or_dash(&g.scripts.join(" → ")),
                    or_dash(&g.description),
                ]);
            }
            Ok(table.render())
        }
        ScriptGroupCmd::Show { name } => {
            let group = app.script_group(&name).await?;
            if ctx.json {
                return Ok(json(&group));
            }
            let mut out = fields(&[
                ("name", group.name),
                ("description", or_dash(&group.description)),
            ]);
            let mut table = Table::new(&["POS", "SCRIPT"]);
            for (i, s) in group.scripts.iter().enumerate() {
                table.row(vec![(i + 1).to_string(), s.clone()]);
            }
            out.push_str(&table.render());
            Ok(out)
        }
    }
}

fn task_fields(t: &Task) -> String {
    fields(&[
        ("name", t.name.clone()),
        ("script group", t.script_group.clone()),
        ("server group", t.server_group.clone()),
        ("parallel", t.options.parallel.to_string()),
        ("on failure", t.options.on_failure.as_str().to_string()),
        (
            "max failed hosts",
            t.options
                .max_failed_hosts
                .map_or_else(|| "-".into(), |m| m.to_string()),
        ),
        ("sudo", t.options.use_sudo.to_string()),
        ("description", or_dash(&t.description)),
    ])
}

pub async fn task(ctx: &Context, cmd: TaskInventoryCmd) -> Result<String> {
    let app = &ctx.app;
    match cmd {
        TaskInventoryCmd::Create {
            name,
            script_group,
            server_group,
            options,
            description,
        } => {
            let args = TaskInput {
                name,
                script_group,
                server_group,
                parallel: options.parallel,
                continue_on_error: options.continue_on_error,
                max_failed_hosts: options.max_failed_hosts,
                sudo: options.sudo,
                description,
            };
            let task = app.task_create(&ctx.actor, args).await?;
            Ok(shown(ctx, &task, |task| {
                format!("created task {}", task.name)
            }))
        }
        TaskInventoryCmd::Edit {
            name,
            script_group,
            server_group,
            parallel,
            continue_on_error,
            stop_on_error,
            max_failed_hosts,
            no_max_failed_hosts,
            sudo,
            no_sudo,
            description,
        } => {
            let either = |yes: bool, no: bool| (yes || no).then_some(yes);
            let args = TaskEditInput {
                script_group,
                server_group,
                parallel,
                continue_on_error: either(continue_on_error, stop_on_error),
                max_failed_hosts,
                no_max_failed_hosts,
                sudo: either(sudo, no_sudo),
                description,
            };
            let task = app.task_edit(&ctx.actor, &name, args).await?;
            Ok(shown(ctx, &task, task_fields))
        }
        TaskInventoryCmd::List => {
            let tasks = app.tasks().await?;
            if ctx.json {
                return Ok(json(&tasks));
            }
            let mut table = Table::new(&[
                "NAME",
                "SCRIPT GROUP",
                "SERVER GROUP",
                "PARALLEL",
                "ON FAILURE",
            ]);
            for t in tasks {
                table.row(vec![
                    t.name,
                    t.script_group,
                    t.server_group,
                    t.options.parallel.to_string(),
                    t.options.on_failure.as_str().to_string(),
                ]);
            }
            Ok(table.render())
        }
        TaskInventoryCmd::Show { name } => {
            let task = app.task(&name).await?;
            Ok(shown(ctx, &task, task_fields))
        }
        TaskInventoryCmd::Delete { name } => {
            app.task_delete(&ctx.actor, &name).await?;
            Ok(done(
                ctx,
                format!("deleted task {name}"),
                serde_json::json!({"task": name}),
            ))
        }
    }
}

/// A document as JSON under `--json`, else in the words `text` gives it.
fn shown<T: serde::Serialize>(ctx: &Context, doc: &T, text: impl FnOnce(&T) -> String) -> String {
    if ctx.json {
        json(doc)
    } else {
        text(doc)
    }
}
