//! Slash commands (the CLI tree, name for name), their authorisation and
//! audit, error replies, autocomplete, and the progress-message buttons.

use poise::serenity_prelude as serenity;

use super::permissions::{required_level, Level};
use super::{render, run_logs, BotError, Context, Data};
use crate::app::{CancelWait, HostEditInput, HostInput, RunInput, ScriptInput, TaskInput};
use crate::error::EntityKind;

type Result<T = ()> = std::result::Result<T, BotError>;

/// The application layer, which every command calls.
fn app<'a>(ctx: Context<'a>) -> &'a crate::app::App {
    &ctx.data().drover
}

/// Longest reply sent inline; longer ones go as a file.
const INLINE_MAX: usize = 1900;
/// Log bytes `/run logs` attaches (Discord's upload limit is 10 MiB).
const LOGS_ATTACHMENT_MAX: usize = 8 * 1024 * 1024;
/// Largest attachment `say` sends (Discord's upload limit is 10 MiB).
const ATTACHMENT_MAX: usize = 9 * 1024 * 1024;

pub fn all() -> Vec<poise::Command<Data, BotError>> {
    vec![
        host(),
        group(),
        script(),
        scriptgroup(),
        task(),
        run(),
        log(),
        super::dashboard::dashboard(),
    ]
}

// ------------------------------------------------------------ plumbing

/// Deny by default: the guild must be configured (no DMs) and the user must
/// hold the level the command needs.
pub async fn authorise(ctx: Context<'_>) -> Result<bool> {
    let data = ctx.data();
    if let Some(refusal) = place_refusal(&data.drover.config.discord.guilds, ctx.guild_id()) {
        return Err(BotError::Denied(refusal.into()));
    }
    let roles: Vec<u64> = match ctx.author_member().await {
        Some(member) => member.roles.iter().map(|r| r.get()).collect(),
        None => Vec::new(),
    };
    let needed = required_level(&ctx.command().qualified_name);
    match data.permissions.level_of(ctx.author().id.get(), &roles) {
        Some(level) if level >= needed => Ok(true),
        _ => Err(BotError::Denied(format!(
            "you need the {} level for /{}; ask a drover admin to grant it in drover.toml [discord.permissions]",
            needed.as_str(),
            ctx.command().qualified_name
        ))),
    }
}

/// The refusal of a command or button used in a DM.
const NOT_IN_DMS: &str = "drover commands work only in a server channel, not in DMs";

/// Why a command or button is refused where it was used: in a DM, or in a
/// server that `discord.guilds` does not list. `None` when the place is fine.
fn place_refusal(guilds: &[u64], guild: Option<serenity::GuildId>) -> Option<&'static str> {
    let Some(guild) = guild else {
        return Some(NOT_IN_DMS);
    };
    if !guilds.is_empty() && !guilds.contains(&guild.get()) {
        return Some("drover is not enabled in this server");
    }
    None
}

/// The argument of `/task run` whose values are secrets.
const SECRET_ARGUMENT: &str = "env";

/// What the audit trail keeps of a command: its name and arguments as typed,
/// except the values of `env`, of which only the keys are kept.
fn audit_detail(ctx: Context<'_>) -> String {
    let mut detail = format!("/{}", ctx.command().qualified_name);
    if let poise::Context::Application(app) = ctx {
        for arg in app.args {
            if let Some(value) = argument_text(arg.name, &arg.value) {
                detail.push_str(&format!(" {}:{value}", arg.name));
            }
        }
    }
    detail
}

fn argument_text(name: &str, value: &serenity::ResolvedValue<'_>) -> Option<String> {
    use serenity::ResolvedValue as Value;
    Some(match value {
        Value::String(text) if name == SECRET_ARGUMENT => env_keys(text),
        Value::String(text) => (*text).to_string(),
        Value::Integer(n) => n.to_string(),
        Value::Number(n) => n.to_string(),
        Value::Boolean(b) => b.to_string(),
        Value::Attachment(file) => file.filename.clone(),
        _ => return None,
    })
}

/// `KEY=VALUE` pairs with every value hidden: `A=*** B=***`. A word without
/// `=` is hidden whole.
fn env_keys(raw: &str) -> String {
    split_env(raw)
        .iter()
        .map(|pair| match pair.split_once('=') {
            Some((key, _)) => format!("{key}=***"),
            None => "***".to_string(),
        })
        .collect::<Vec<_>>()
        .join(" ")
}

async fn audit(ctx: Context<'_>, outcome: &str) {
    let data = ctx.data();
    let actor = Data::actor(ctx.author().id);
    let action = format!("discord /{}", ctx.command().qualified_name);
    let invocation = audit_detail(ctx);
    if let Err(e) = data
        .drover
        .record(&actor, &action, "", &invocation, outcome)
        .await
    {
        tracing::error!(error = %e, "cannot write the audit trail");
    }
}

/// The audit outcome of a command that ended without an error but did not
/// do what it was asked (`/task run` not confirmed); `ok` without it.
struct Outcome(&'static str);

pub async fn audit_success(ctx: Context<'_>) {
    let outcome = ctx.invocation_data::<Outcome>().await.map(|o| o.0);
    audit(ctx, outcome.unwrap_or("ok")).await;
}

pub async fn on_error(error: poise::FrameworkError<'_, Data, BotError>) {
    match error {
        poise::FrameworkError::Command { error, ctx, .. } => {
            audit(ctx, &format!("error: {}", error.user_message())).await;
            tell(ctx, &error.user_message()).await;
        }
        poise::FrameworkError::GuildOnly { ctx, .. } if !is_autocomplete(ctx) => {
            // poise refuses guild-only commands in DMs before the check runs:
            // the same refusal and audit record as the check's.
            audit(ctx, &format!("denied: {NOT_IN_DMS}")).await;
            tell(ctx, NOT_IN_DMS).await;
        }
        poise::FrameworkError::CommandCheckFailed { ctx, .. } if is_autocomplete(ctx) => {
            // The check runs on every keystroke of an autocomplete too: a
            // refused one gets no suggestions, and no audit record per key.
        }
        poise::FrameworkError::CommandCheckFailed { error, ctx, .. } => {
            let message = error.map_or_else(|| "not allowed".to_string(), |e| e.user_message());
            audit(ctx, &format!("denied: {message}")).await;
            tell(ctx, &message).await;
        }
        poise::FrameworkError::ArgumentParse { error, ctx, .. } => {
            tell(ctx, &format!("bad arguments: {error}")).await;
        }
        other => {
            if let Err(e) = poise::builtins::on_error(other).await {
                tracing::error!(error = %e, "error while handling an error");
            }
        }
    }
}

fn is_autocomplete(ctx: Context<'_>) -> bool {
    matches!(ctx, poise::Context::Application(app)
        if app.interaction_type == poise::CommandInteractionType::Autocomplete)
}

/// An ephemeral answer for the invoking user only.
async fn tell(ctx: Context<'_>, message: &str) {
    let reply = poise::CreateReply::default()
        .content(truncate(message, INLINE_MAX))
        .ephemeral(true)
        .allowed_mentions(serenity::CreateAllowedMentions::new());
    if let Err(e) = ctx.send(reply).await {
        tracing::warn!(error = %e, "cannot answer an interaction");
    }
}

fn truncate(text: &str, max: usize) -> String {
    if text.chars().count() <= max {
        return text.to_string();
    }
    let mut out: String = text.chars().take(max.saturating_sub(1)).collect();
    out.push('…');
    out
}

/// A public answer; long text goes as a code block or as a file.
async fn say(ctx: Context<'_>, text: &str, file_name: &str) -> Result {
    let clean = render::sanitize(text, &ctx.data().redactor);
    let reply = if clean.chars().count() + 8 <= INLINE_MAX {
        poise::CreateReply::default().content(render::code_block(&clean, INLINE_MAX))
    } else {
        // Sanitising can make text longer (U+FFFD for invalid bytes,
        // neutralised mentions): the upload limit holds after it.
        let clean = keep_head(clean, ATTACHMENT_MAX);
        poise::CreateReply::default()
            .content(format!("{file_name} ({} bytes) attached", clean.len()))
            .attachment(serenity::CreateAttachment::bytes(
                clean.into_bytes(),
                file_name,
            ))
    };
    ctx.send(reply.allowed_mentions(serenity::CreateAllowedMentions::new()))
        .await?;
    Ok(())
}

/// `text` cut to at most `max` bytes at a line's end, saying so.
fn keep_head(mut text: String, max: usize) -> String {
    const NOTE: &str = "[cut to fit Discord's upload limit]\n";
    if text.len() <= max {
        return text;
    }
    let room = max.saturating_sub(NOTE.len());
    let boundary = (0..=room)
        .rev()
        .find(|i| text.is_char_boundary(*i))
        .unwrap_or(0);
    let line_end = text[..boundary].rfind('\n').map_or(boundary, |at| at + 1);
    text.truncate(line_end);
    text.push_str(NOTE);
    text
}

/// A short public confirmation of a change.
async fn done(ctx: Context<'_>, text: &str) -> Result {
    let clean = render::sanitize(text, &ctx.data().redactor);
    ctx.send(
        poise::CreateReply::default()
            .content(truncate(&clean, INLINE_MAX))
            .allowed_mentions(serenity::CreateAllowedMentions::new()),
    )
    .await?;
    Ok(())
}

fn actor(ctx: Context<'_>) -> crate::domain::Actor {
    Data::actor(ctx.author().id)
}

// --------------------------------------------------------- autocomplete

/// Discord shows at most this many autocomplete choices.
const MAX_CHOICES: usize = 25;

/// Names of `kind` containing `partial`, prefix matches first: at most
/// `MAX_CHOICES`, picked by the database (an inventory of thousands of
/// hosts is not read on every keystroke).
async fn names_matching(
    ctx: Context<'_>,
    kind: EntityKind,
    partial: &str,
) -> serenity::CreateAutocompleteResponse {
    let names = app(ctx)
        .names_matching(kind, partial, MAX_CHOICES)
        .await
        .unwrap_or_default();
    choices_of(names)
}

fn choices_of(names: Vec<String>) -> serenity::CreateAutocompleteResponse {
    serenity::CreateAutocompleteResponse::new().set_choices(
        names
            .into_iter()
            .take(MAX_CHOICES)
            .map(serenity::AutocompleteChoice::from)
            .collect(),
    )
}

async fn ac_host(ctx: Context<'_>, partial: &str) -> serenity::CreateAutocompleteResponse {
    names_matching(ctx, EntityKind::Host, partial).await
}
async fn ac_group(ctx: Context<'_>, partial: &str) -> serenity::CreateAutocompleteResponse {
    names_matching(ctx, EntityKind::ServerGroup, partial).await
}
async fn ac_script(ctx: Context<'_>, partial: &str) -> serenity::CreateAutocompleteResponse {
    names_matching(ctx, EntityKind::Script, partial).await
}
async fn ac_scriptgroup(ctx: Context<'_>, partial: &str) -> serenity::CreateAutocompleteResponse {
    names_matching(ctx, EntityKind::ScriptGroup, partial).await
}
async fn ac_task(ctx: Context<'_>, partial: &str) -> serenity::CreateAutocompleteResponse {
    names_matching(ctx, EntityKind::Task, partial).await
}
/// Tasks first, then script groups: the first argument of /task run.
async fn ac_task_or_scriptgroup(
    ctx: Context<'_>,
    partial: &str,
) -> serenity::CreateAutocompleteResponse {
    let app = &ctx.data().drover;
    let mut names = app
        .names_matching(EntityKind::Task, partial, MAX_CHOICES)
        .await
        .unwrap_or_default();
    names.extend(
        app.names_matching(EntityKind::ScriptGroup, partial, MAX_CHOICES)
            .await
            .unwrap_or_default(),
    );
    choices_of(names)
}
async fn ac_run(ctx: Context<'_>, partial: &str) -> serenity::CreateAutocompleteResponse {
    let runs = app(ctx).recent_runs(100).await.unwrap_or_default();
    let choices: Vec<serenity::AutocompleteChoice> = runs
        .into_iter()
        .filter(|r| r.id.to_string().starts_with(partial.trim()))
        .take(MAX_CHOICES)
        .map(|r| {
            let label = format!(
                "{} · {} · {} on {}",
                r.id, r.state, r.script_group, r.server_group
            );
            serenity::AutocompleteChoice::new(truncate(&label, 100), r.id)
        })
        .collect();
    serenity::CreateAutocompleteResponse::new().set_choices(choices)
}

// ---------------------------------------------------------------- host

/// Hosts of the inventory.
#[poise::command(
    slash_command,
    guild_only,
    subcommands(
        "host_add",
        "host_list",
        "host_show",
        "host_edit",
        "host_rm",
        "host_trust",
        "host_check"
    ),
    subcommand_required
)]
pub async fn host(_ctx: Context<'_>) -> Result {
    Ok(())
}

/// Add a host.
#[poise::command(slash_command, rename = "add")]
#[allow(clippy::too_many_arguments)] // one parameter per option of the slash command
async fn host_add(
    ctx: Context<'_>,
    #[description = "Host name"] name: String,
    #[description = "DNS name, IPv4 or IPv6 address"] address: String,
    #[description = "SSH port (default 22)"] port: Option<i64>,
    #[description = "Login user (default from configuration)"] user: Option<String>,
    #[description = "Server group to put it in"]
    #[autocomplete = "ac_group"]
    group: Option<String>,
    #[description = "Description"] description: Option<String>,
    #[description = "Run scripts through sudo -n"] sudo: Option<bool>,
) -> Result {
    let args = HostInput {
        name,
        address,
        port,
        user,
        groups: group.into_iter().collect(),
        description,
        sudo: sudo.unwrap_or(false),
        jump: None,
    };
    let host = app(ctx).host_add(&actor(ctx), args).await?;
    done(
        ctx,
        &format!("added host {} ({}:{})", host.name, host.address, host.port),
    )
    .await
}

/// List hosts.
#[poise::command(slash_command, rename = "list")]
async fn host_list(ctx: Context<'_>) -> Result {
    let hosts = app(ctx).hosts().await?;
    let mut table = crate::text::Table::new(&["NAME", "ADDRESS", "PORT", "GROUPS"]);
    for h in hosts {
        table.row(vec![
            h.name,
            h.address,
            h.port.to_string(),
            h.groups.join(","),
        ]);
    }
    say(ctx, &table.render(), "hosts.txt").await
}

/// Show a host.
#[poise::command(slash_command, rename = "show")]
async fn host_show(ctx: Context<'_>, #[autocomplete = "ac_host"] name: String) -> Result {
    let h = app(ctx).host(&name).await?;
    let text = format!(
        "name: {}\naddress: {}\nport: {}\nuser: {}\nsudo: {}\ngroups: {}\ndescription: {}\nhost key: {}",
        h.name,
        h.address,
        h.port,
        h.user.unwrap_or_else(|| "(default)".into()),
        h.use_sudo,
        h.groups.join(", "),
        h.description,
        h.host_key.as_deref().and_then(crate::app::key_fingerprint).unwrap_or_else(|| "(not pinned)".into())
    );
    say(ctx, &text, "host.txt").await
}

/// Change a host.
#[poise::command(slash_command, rename = "edit")]
#[allow(clippy::too_many_arguments)]
async fn host_edit(
    ctx: Context<'_>,
    #[autocomplete = "ac_host"] name: String,
    address: Option<String>,
    port: Option<i64>,
    user: Option<String>,
    #[description = "Use the configured default user again"] default_user: Option<bool>,
    description: Option<String>,
    sudo: Option<bool>,
) -> Result {
    let args = HostEditInput {
        address,
        port,
        user,
        default_user: default_user.unwrap_or(false),
        description,
        sudo,
        ..HostEditInput::default()
    };
    app(ctx).host_edit(&actor(ctx), &name, args).await?;
    done(ctx, &format!("updated host {name}")).await
}

/// Remove a host.
#[poise::command(slash_command, rename = "rm")]
async fn host_rm(
    ctx: Context<'_>,
    #[autocomplete = "ac_host"] name: String,
    #[description = "Also take it out of its groups"] force: Option<bool>,
) -> Result {
    app(ctx)
        .host_remove(&actor(ctx), &name, force.unwrap_or(false))
        .await?;
    done(ctx, &format!("removed host {name}")).await
}

/// Re-pin a host's SSH key to the one it offers now.
#[poise::command(slash_command, rename = "trust")]
async fn host_trust(ctx: Context<'_>, #[autocomplete = "ac_host"] name: String) -> Result {
    ctx.defer().await?;
    let (old, new) = app(ctx).host_trust(&actor(ctx), &name).await?;
    let text = match old {
        Some(old) if old != new => format!("host {name}: key re-pinned from {old} to {new}"),
        _ => format!("host {name}: key pinned ({new})"),
    };
    done(ctx, &text).await
}

/// Connect to a host, verify its key, authenticate.
#[poise::command(slash_command, rename = "check")]
async fn host_check(ctx: Context<'_>, #[autocomplete = "ac_host"] name: String) -> Result {
    ctx.defer().await?;
    let checks = app(ctx)
        .host_check(&actor(ctx), &[name], &ctx.data().identities)
        .await?;
    let text: Vec<String> = checks
        .iter()
        .map(|c| {
            format!(
                "{}: {} {}",
                c.host,
                if c.ok { "ok" } else { "FAILED" },
                c.message
            )
        })
        .collect();
    say(ctx, &text.join("\n"), "check.txt").await
}

// --------------------------------------------------------------- group

/// Server groups.
#[poise::command(
    slash_command,
    guild_only,
    subcommands(
        "group_create",
        "group_delete",
        "group_add",
        "group_remove",
        "group_list",
        "group_show"
    ),
    subcommand_required
)]
pub async fn group(_ctx: Context<'_>) -> Result {
    Ok(())
}

#[poise::command(slash_command, rename = "create")]
async fn group_create(ctx: Context<'_>, name: String, description: Option<String>) -> Result {
    app(ctx)
        .group_create(&actor(ctx), &name, description)
        .await?;
    done(ctx, &format!("created server group {name}")).await
}

#[poise::command(slash_command, rename = "delete")]
async fn group_delete(
    ctx: Context<'_>,
    #[autocomplete = "ac_group"] name: String,
    #[description = "Also delete the tasks that use it"] force: Option<bool>,
) -> Result {
    app(ctx)
        .group_delete(&actor(ctx), &name, force.unwrap_or(false))
        .await?;
    done(ctx, &format!("deleted server group {name}")).await
}

fn split_names(raw: &str) -> Vec<String> {
    raw.split(|c: char| c == ',' || c.is_whitespace())
        .filter(|s| !s.is_empty())
        .map(str::to_string)
        .collect()
}

#[poise::command(slash_command, rename = "add")]
async fn group_add(
    ctx: Context<'_>,
    #[autocomplete = "ac_group"] group: String,
    #[description = "Host names, separated by spaces or commas"]
    #[autocomplete = "ac_host"]
    hosts: String,
) -> Result {
    let hosts = split_names(&hosts);
    let added = app(ctx)
        .group_add_hosts(&actor(ctx), &group, &hosts)
        .await?;
    done(
        ctx,
        &format!("added {} host(s) to server group {group}", added.len()),
    )
    .await
}

#[poise::command(slash_command, rename = "remove")]
async fn group_remove(
    ctx: Context<'_>,
    #[autocomplete = "ac_group"] group: String,
    #[autocomplete = "ac_host"] hosts: String,
) -> Result {
    let hosts = app(ctx)
        .group_remove_hosts(&actor(ctx), &group, &split_names(&hosts))
        .await?;
    done(
        ctx,
        &format!("removed {} host(s) from server group {group}", hosts.len()),
    )
    .await
}

#[poise::command(slash_command, rename = "list")]
async fn group_list(ctx: Context<'_>) -> Result {
    let groups = app(ctx).server_groups().await?;
    let text: Vec<String> = groups
        .iter()
        .map(|g| format!("{} ({} hosts)", g.name, g.hosts.len()))
        .collect();
    say(ctx, &text.join("\n"), "groups.txt").await
}

#[poise::command(slash_command, rename = "show")]
async fn group_show(ctx: Context<'_>, #[autocomplete = "ac_group"] name: String) -> Result {
    let g = app(ctx).server_group(&name).await?;
    say(
        ctx,
        &format!(
            "{}: {}\nhosts: {}",
            g.name,
            g.description,
            g.hosts.join(", ")
        ),
        "group.txt",
    )
    .await
}

// -------------------------------------------------------------- script

/// Scripts of the library.
#[poise::command(
    slash_command,
    guild_only,
    subcommands(
        "script_add",
        "script_edit",
        "script_show",
        "script_list",
        "script_history",
        "script_rm"
    ),
    subcommand_required
)]
pub async fn script(_ctx: Context<'_>) -> Result {
    Ok(())
}

async fn download(file: &serenity::Attachment) -> Result<Vec<u8>> {
    if file.size as usize > crate::domain::MAX_SCRIPT_BYTES {
        return Err(BotError::BadInput(format!(
            "{} is {} bytes; scripts are limited to 1 MiB",
            file.filename, file.size
        )));
    }
    Ok(file.download().await?)
}

/// Add a script from an attached file.
#[poise::command(slash_command, rename = "add")]
async fn script_add(
    ctx: Context<'_>,
    name: String,
    #[description = "The script body"] file: serenity::Attachment,
    description: Option<String>,
    #[description = "Timeout such as 10m"] timeout: Option<String>,
) -> Result {
    ctx.defer().await?;
    let body = download(&file).await?;
    let script = app(ctx)
        .script_add(
            &actor(ctx),
            ScriptInput {
                name,
                body,
                description,
                timeout,
            },
        )
        .await?;
    done(ctx, &format!("added script {} (version 1)", script.name)).await
}

/// Replace a script's body from an attached file.
#[poise::command(slash_command, rename = "edit")]
async fn script_edit(
    ctx: Context<'_>,
    #[autocomplete = "ac_script"] name: String,
    file: serenity::Attachment,
    description: Option<String>,
    timeout: Option<String>,
) -> Result {
    ctx.defer().await?;
    let body = download(&file).await?;
    let change = app(ctx)
        .script_edit(
            &actor(ctx),
            ScriptInput {
                name: name.clone(),
                body,
                description,
                timeout,
            },
        )
        .await?;
    done(ctx, &format!("script {name}: {change:?}")).await
}

#[poise::command(slash_command, rename = "show")]
async fn script_show(
    ctx: Context<'_>,
    #[autocomplete = "ac_script"] name: String,
    version: Option<i64>,
) -> Result {
    let s = app(ctx).script(&name, version).await?;
    say(ctx, &s.body, &format!("{}.v{}.sh", s.name, s.version)).await
}

#[poise::command(slash_command, rename = "list")]
async fn script_list(ctx: Context<'_>) -> Result {
    let scripts = app(ctx).scripts().await?;
    let text: Vec<String> = scripts
        .iter()
        .map(|s| format!("{} v{} {}", s.name, s.version, s.description))
        .collect();
    say(ctx, &text.join("\n"), "scripts.txt").await
}

#[poise::command(slash_command, rename = "history")]
async fn script_history(ctx: Context<'_>, #[autocomplete = "ac_script"] name: String) -> Result {
    let versions = app(ctx).script_history(&name).await?;
    let text: Vec<String> = versions
        .iter()
        .map(|v| {
            format!(
                "v{} {} bytes {} by {}",
                v.version, v.bytes, v.created_at, v.created_by
            )
        })
        .collect();
    say(ctx, &text.join("\n"), "history.txt").await
}

#[poise::command(slash_command, rename = "rm")]
async fn script_rm(
    ctx: Context<'_>,
    #[autocomplete = "ac_script"] name: String,
    force: Option<bool>,
) -> Result {
    app(ctx)
        .script_remove(&actor(ctx), &name, force.unwrap_or(false))
        .await?;
    done(ctx, &format!("removed script {name}")).await
}

// --------------------------------------------------------- scriptgroup

/// Script groups (ordered lists of scripts).
#[poise::command(
    slash_command,
    guild_only,
    subcommands(
        "scriptgroup_create",
        "scriptgroup_add",
        "scriptgroup_move",
        "scriptgroup_remove",
        "scriptgroup_delete",
        "scriptgroup_list",
        "scriptgroup_show"
    ),
    subcommand_required
)]
pub async fn scriptgroup(_ctx: Context<'_>) -> Result {
    Ok(())
}

#[poise::command(slash_command, rename = "create")]
async fn scriptgroup_create(
    ctx: Context<'_>,
    name: String,
    #[description = "Scripts in order, separated by spaces"] scripts: Option<String>,
    description: Option<String>,
) -> Result {
    let scripts = scripts.as_deref().map(split_names).unwrap_or_default();
    app(ctx)
        .scriptgroup_create(&actor(ctx), &name, &scripts, description)
        .await?;
    done(
        ctx,
        &format!(
            "created script group {name} with {} script(s)",
            scripts.len()
        ),
    )
    .await
}

#[poise::command(slash_command, rename = "add")]
async fn scriptgroup_add(
    ctx: Context<'_>,
    #[autocomplete = "ac_scriptgroup"] name: String,
    #[autocomplete = "ac_script"] script: String,
    #[description = "1-based position (default: at the end)"] position: Option<i64>,
) -> Result {
    let at = app(ctx)
        .scriptgroup_add(&actor(ctx), &name, &script, position)
        .await?;
    done(
        ctx,
        &format!("added {script} to script group {name} at position {at}"),
    )
    .await
}

#[poise::command(slash_command, rename = "move")]
async fn scriptgroup_move(
    ctx: Context<'_>,
    #[autocomplete = "ac_scriptgroup"] name: String,
    #[autocomplete = "ac_script"] script: String,
    position: i64,
) -> Result {
    app(ctx)
        .scriptgroup_move(&actor(ctx), &name, &script, position)
        .await?;
    done(
        ctx,
        &format!("moved {script} to position {position} in script group {name}"),
    )
    .await
}

#[poise::command(slash_command, rename = "remove")]
async fn scriptgroup_remove(
    ctx: Context<'_>,
    #[autocomplete = "ac_scriptgroup"] name: String,
    #[autocomplete = "ac_script"] script: String,
) -> Result {
    app(ctx)
        .scriptgroup_remove(&actor(ctx), &name, &script)
        .await?;
    done(ctx, &format!("removed {script} from script group {name}")).await
}

#[poise::command(slash_command, rename = "delete")]
async fn scriptgroup_delete(
    ctx: Context<'_>,
    #[autocomplete = "ac_scriptgroup"] name: String,
    force: Option<bool>,
) -> Result {
    app(ctx)
        .scriptgroup_delete(&actor(ctx), &name, force.unwrap_or(false))
        .await?;
    done(ctx, &format!("deleted script group {name}")).await
}

#[poise::command(slash_command, rename = "list")]
async fn scriptgroup_list(ctx: Context<'_>) -> Result {
    let groups = app(ctx).script_groups().await?;
    let text: Vec<String> = groups
        .iter()
        .map(|g| format!("{}: {}", g.name, g.scripts.join(" → ")))
        .collect();
    say(ctx, &text.join("\n"), "scriptgroups.txt").await
}

#[poise::command(slash_command, rename = "show")]
async fn scriptgroup_show(
    ctx: Context<'_>,
    #[autocomplete = "ac_scriptgroup"] name: String,
) -> Result {
    let g = app(ctx).script_group(&name).await?;
    let lines: Vec<String> = g
        .scripts
        .iter()
        .enumerate()
        .map(|(i, s)| format!("{}. {s}", i + 1))
        .collect();
    say(
        ctx,
        &format!("{}: {}\n{}", g.name, g.description, lines.join("\n")),
        "scriptgroup.txt",
    )
    .await
}

// ---------------------------------------------------------------- task

/// Tasks: a script group paired with a server group.
#[poise::command(
    slash_command,
    guild_only,
    subcommands("task_create", "task_list", "task_show", "task_delete", "task_run"),
    subcommand_required
)]
pub async fn task(_ctx: Context<'_>) -> Result {
    Ok(())
}

#[poise::command(slash_command, rename = "create")]
#[allow(clippy::too_many_arguments)]
async fn task_create(
    ctx: Context<'_>,
    name: String,
    #[autocomplete = "ac_scriptgroup"] script_group: String,
    #[autocomplete = "ac_group"] server_group: String,
    parallel: Option<i64>,
    continue_on_error: Option<bool>,
    max_failed_hosts: Option<i64>,
    sudo: Option<bool>,
    description: Option<String>,
) -> Result {
    let args = TaskInput {
        name,
        script_group,
        server_group,
        parallel,
        continue_on_error: continue_on_error.unwrap_or(false),
        max_failed_hosts,
        sudo: sudo.unwrap_or(false),
        description,
    };
    let task = app(ctx).task_create(&actor(ctx), args).await?;
    done(ctx, &format!("created task {}", task.name)).await
}

#[poise::command(slash_command, rename = "list")]
async fn task_list(ctx: Context<'_>) -> Result {
    let tasks = app(ctx).tasks().await?;
    let text: Vec<String> = tasks
        .iter()
        .map(|t| format!("{}: {} on {}", t.name, t.script_group, t.server_group))
        .collect();
    say(ctx, &text.join("\n"), "tasks.txt").await
}

#[poise::command(slash_command, rename = "show")]
async fn task_show(ctx: Context<'_>, #[autocomplete = "ac_task"] name: String) -> Result {
    let t = app(ctx).task(&name).await?;
    let text = format!(
        "{}: {} on {}\nparallel {} · on failure {} · max failed hosts {} · sudo {}",
        t.name,
        t.script_group,
        t.server_group,
        t.options.parallel,
        t.options.on_failure.as_str(),
        t.options
            .max_failed_hosts
            .map_or_else(|| "-".into(), |m| m.to_string()),
        t.options.use_sudo
    );
    say(ctx, &text, "task.txt").await
}

#[poise::command(slash_command, rename = "delete")]
async fn task_delete(ctx: Context<'_>, #[autocomplete = "ac_task"] name: String) -> Result {
    app(ctx).task_delete(&actor(ctx), &name).await?;
    done(ctx, &format!("deleted task {name}")).await
}

/// Run a task, or a script group on a server group.
#[poise::command(slash_command, rename = "run")]
async fn task_run(
    ctx: Context<'_>,
    #[description = "A task, or a script group"]
    #[autocomplete = "ac_task_or_scriptgroup"]
    task_or_script_group: String,
    #[description = "The server group (when the first argument is a script group)"]
    #[autocomplete = "ac_group"]
    server_group: Option<String>,
    parallel: Option<i64>,
    continue_on_error: Option<bool>,
    #[description = "KEY=VALUE pairs separated by spaces"] env: Option<String>,
) -> Result {
    let data = ctx.data();
    let overrides = RunInput {
        parallel,
        continue_on_error: continue_on_error.unwrap_or(false),
        env: env.as_deref().map(split_env).unwrap_or_default(),
        ..Default::default()
    };
    let request = data
        .drover
        .plan_run(&task_or_script_group, server_group.as_deref(), overrides)
        .await?;
    let hosts = request.hosts.len();
    let scripts = request.script_names();
    let plan = render::render_plan(
        &request.script_group,
        &request.server_group,
        hosts,
        &scripts,
    );
    if !confirmed(ctx, &plan, hosts).await? {
        return Ok(());
    }
    let run_id = data.drover.start_run(&actor(ctx), &request).await?.run_id;
    data.tracker.track(
        ctx.serenity_context().http.clone(),
        run_id,
        Some(ctx.channel_id()),
    );
    Ok(())
}

/// How long a confirmation question waits for its answer.
const CONFIRM_WAIT: std::time::Duration = std::time::Duration::from_secs(120);

/// Whether the invoker wants a run of `hosts` hosts: above
/// `discord.confirm_above` the plan is shown with Run and Cancel buttons
/// (and the audit outcome says why nothing ran when not confirmed); at or
/// below it, the plan is shown and the run goes ahead.
async fn confirmed(ctx: Context<'_>, plan: &str, hosts: usize) -> Result<bool> {
    if hosts <= ctx.data().drover.config.discord.confirm_above as usize {
        done(ctx, plan).await?;
        return Ok(true);
    }
    let reply = poise::CreateReply::default()
        .content(question(plan, hosts))
        .components(confirm_buttons(ctx.id()))
        .allowed_mentions(serenity::CreateAllowedMentions::new());
    let handle = ctx.send(reply).await?;
    let message = handle.message().await?;
    let answer = serenity::ComponentInteractionCollector::new(ctx)
        .message_id(message.id)
        .author_id(ctx.author().id)
        .timeout(CONFIRM_WAIT)
        .await;
    let (decision, outcome) = decision_of(answer.as_ref());
    if let Some(press) = &answer {
        press
            .create_response(ctx, serenity::CreateInteractionResponse::Acknowledge)
            .await?;
    }
    handle
        .edit(
            ctx,
            poise::CreateReply::default()
                .content(format!("{plan}\n{decision}"))
                .components(vec![]),
        )
        .await?;
    if let Some(outcome) = outcome {
        ctx.set_invocation_data(Outcome(outcome)).await;
        return Ok(false);
    }
    Ok(true)
}

fn question(plan: &str, hosts: usize) -> String {
    format!("{plan}\nThis runs on {hosts} hosts. Confirm?")
}

/// The Run and Cancel buttons of a confirmation question `id`.
fn confirm_buttons(id: u64) -> Vec<serenity::CreateActionRow> {
    vec![serenity::CreateActionRow::Buttons(vec![
        serenity::CreateButton::new(format!("drover:confirm:{id}"))
            .label("Run")
            .style(serenity::ButtonStyle::Danger),
        serenity::CreateButton::new(format!("drover:abort:{id}"))
            .label("Cancel")
            .style(serenity::ButtonStyle::Secondary),
    ])]
}

/// What an answer to a confirmation question decided: the line shown under
/// the plan, and the audit outcome when nothing is to run.
fn decision_of(
    answer: Option<&serenity::ComponentInteraction>,
) -> (&'static str, Option<&'static str>) {
    match answer {
        None => (
            "Not confirmed; nothing ran.",
            Some("not confirmed; nothing ran"),
        ),
        Some(press) if press.data.custom_id.starts_with("drover:abort:") => (
            "Cancelled; nothing ran.",
            Some("cancelled at confirmation; nothing ran"),
        ),
        Some(_) => ("Confirmed.", None),
    }
}

fn split_env(raw: &str) -> Vec<String> {
    raw.split_whitespace().map(str::to_string).collect()
}

// ----------------------------------------------------------------- run

/// Runs: list, status, logs, cancel, rerun.
#[poise::command(
    slash_command,
    guild_only,
    subcommands("run_list", "run_status", "run_logs", "run_cancel", "run_rerun"),
    subcommand_required
)]
pub async fn run(_ctx: Context<'_>) -> Result {
    Ok(())
}

#[poise::command(slash_command, rename = "list")]
async fn run_list(ctx: Context<'_>) -> Result {
    let runs = app(ctx).recent_runs(20).await?;
    let text: Vec<String> = runs
        .iter()
        .map(|r| {
            format!(
                "{} {} {} on {} · {} hosts, {} failed · by {} · {}",
                r.id,
                r.state,
                r.script_group,
                r.server_group,
                r.hosts,
                r.failed_hosts,
                r.started_by,
                r.created_at
            )
        })
        .collect();
    say(ctx, &text.join("\n"), "runs.txt").await
}

#[poise::command(slash_command, rename = "status")]
async fn run_status(ctx: Context<'_>, #[autocomplete = "ac_run"] id: i64) -> Result {
    let data = ctx.data();
    let snapshot = data.drover.run_snapshot(id).await?;
    let view = render::render_progress(&snapshot, &data.redactor);
    let mut reply = poise::CreateReply::default()
        .content(view.content.clone())
        .components(super::progress::components_of(&view));
    for embed in super::progress::embeds_of(&view) {
        reply = reply.embed(embed);
    }
    let reply = reply.allowed_mentions(serenity::CreateAllowedMentions::new());
    ctx.send(reply).await?;
    Ok(())
}

#[poise::command(slash_command, rename = "logs")]
async fn run_logs(
    ctx: Context<'_>,
    #[autocomplete = "ac_run"] id: i64,
    #[autocomplete = "ac_host"] host: Option<String>,
) -> Result {
    let text = app(ctx)
        .run_logs_text(id, host.as_deref(), None, LOGS_ATTACHMENT_MAX)
        .await?;
    say(ctx, &text, &format!("run-{id}.log")).await
}

#[poise::command(slash_command, rename = "cancel")]
async fn run_cancel(ctx: Context<'_>, #[autocomplete = "ac_run"] id: i64) -> Result {
    cancel(ctx.data(), &actor(ctx), id).await?;
    done(ctx, &format!("cancelling run {id} on every host")).await
}

async fn cancel(
    data: &Data,
    actor: &crate::domain::Actor,
    id: i64,
) -> std::result::Result<(), crate::error::Error> {
    // The one cancel path: the run's driver carries it out (this process
    // adopts the run first if its controller is gone).
    data.drover
        .cancel_run(actor, id, CancelWait::Requested)
        .await?;
    Ok(())
}

#[poise::command(slash_command, rename = "rerun")]
async fn run_rerun(ctx: Context<'_>, #[autocomplete = "ac_run"] id: i64) -> Result {
    let data = ctx.data();
    let request = data.drover.plan_rerun_failed(id).await?;
    let plan = rerun_plan(data, id, &request).await?;
    if !confirmed(ctx, &plan, hosts_of(&request)).await? {
        return Ok(());
    }
    let http = ctx.serenity_context().http.clone();
    let new_id = start_rerun(data, &actor(ctx), http, &request, ctx.channel_id()).await?;
    done(ctx, &rerunning(id, new_id)).await
}

fn hosts_of(request: &crate::app::RunPlan) -> usize {
    request.hosts.len()
}

fn rerunning(id: i64, new_id: i64) -> String {
    format!("rerunning the failed hosts of run {id} as run {new_id}")
}

/// What a rerun will do, as the confirmation shows it.
async fn rerun_plan(
    data: &Data,
    id: i64,
    request: &crate::app::RunPlan,
) -> std::result::Result<String, crate::error::Error> {
    let scripts = data.drover.run_snapshot(id).await?.scripts;
    let plan = render::render_plan(
        &request.script_group,
        &request.server_group,
        hosts_of(request),
        &scripts,
    );
    Ok(format!(
        "🔁 Rerun of run {id} on its hosts that did not succeed, with the scripts it ran.\n{plan}"
    ))
}

/// Starts a planned rerun in this process and shows it in `channel`. The
/// store refuses it while another rerun of the same run is running.
async fn start_rerun(
    data: &Data,
    actor: &crate::domain::Actor,
    http: super::Http,
    request: &crate::app::RunPlan,
    channel: serenity::ChannelId,
) -> std::result::Result<i64, crate::error::Error> {
    let new_id = data.drover.start_run(actor, request).await?.run_id;
    data.tracker.track(http, new_id, Some(channel));
    Ok(new_id)
}

// ----------------------------------------------------------------- log

/// Remote log files.
#[poise::command(
    slash_command,
    guild_only,
    subcommands("log_fetch"),
    subcommand_required
)]
pub async fn log(_ctx: Context<'_>) -> Result {
    Ok(())
}

/// The tail of a remote file allowed by logs.fetch_allow.
#[poise::command(slash_command, rename = "fetch")]
async fn log_fetch(
    ctx: Context<'_>,
    #[autocomplete = "ac_host"] host: String,
    #[description = "Absolute path, e.g. /var/log/syslog"] path: String,
    #[description = "Lines from the end (default 100)"] lines: Option<u32>,
) -> Result {
    ctx.defer().await?;
    let text = app(ctx)
        .log_fetch(
            &actor(ctx),
            &host,
            &path,
            lines.unwrap_or(100),
            &ctx.data().identities,
        )
        .await?;
    say(ctx, &text, "log.txt").await
}

// -------------------------------------------------------------- buttons

/// The answer to a button press that was allowed, and its audit outcome.
fn press_outcome(result: std::result::Result<String, crate::error::Error>) -> (String, String) {
    match result {
        Ok(answer) => (answer, "ok".to_string()),
        Err(e) => {
            let message = if e.is_refusal() {
                e.to_string()
            } else {
                tracing::error!(error = %e, "a button failed");
                "internal error; see drover's log".to_string()
            };
            let outcome = format!("error: {message}");
            (message, outcome)
        }
    }
}

/// Button clicks on progress messages: Cancel, Rerun failed, Logs.
pub async fn on_event(ctx: &serenity::Context, event: &serenity::FullEvent, data: &Data) -> Result {
    let serenity::FullEvent::InteractionCreate {
        interaction: serenity::Interaction::Component(press),
    } = event
    else {
        return Ok(());
    };
    let mut parts = press.data.custom_id.splitn(3, ':');
    let (Some("drover"), Some(action), Some(id)) = (parts.next(), parts.next(), parts.next())
    else {
        return Ok(());
    };
    let Ok(run_id) = id.parse::<i64>() else {
        return Ok(());
    };
    let needed = match action {
        "cancel" | "rerun" => Level::Operator,
        "logs" => Level::Viewer,
        _ => return Ok(()),
    };
    let roles: Vec<u64> = press
        .member
        .as_ref()
        .map(|m| m.roles.iter().map(|r| r.get()).collect())
        .unwrap_or_default();
    let user = press.user.id;
    let refusal = place_refusal(&data.drover.config.discord.guilds, press.guild_id)
        .map(str::to_string)
        .or_else(|| {
            let level = data.permissions.level_of(user.get(), &roles);
            level
                .is_none_or(|l| l < needed)
                .then(|| format!("you need the {} level to use this button", needed.as_str()))
        });
    let actor = Data::actor(user);
    let outcome = if let Some(refusal) = refusal {
        answer_press(ctx, press, &refusal).await;
        format!("denied: {refusal}")
    } else if action == "rerun" {
        rerun_press(ctx, data, press, &actor, run_id).await
    } else {
        let result =
            match action {
                "cancel" => cancel(data, &actor, run_id)
                    .await
                    .map(|_| format!("cancelling run {run_id} on every host")),
                _ => data.drover.run_snapshot(run_id).await.map(|run| {
                    run_logs::button_text(&data.drover, &run, &data.redactor, INLINE_MAX)
                }),
            };
        let (answer, outcome) = press_outcome(result);
        answer_press(ctx, press, &answer).await;
        outcome
    };
    if let Err(e) = data
        .drover
        .record(
            &actor,
            &format!("discord button {action}"),
            &run_id.to_string(),
            "",
            &outcome,
        )
        .await
    {
        tracing::error!(error = %e, "cannot write the audit trail");
    }
    Ok(())
}

/// Answers a button press with an ephemeral message (a failure is logged).
async fn answer_press(ctx: &serenity::Context, press: &serenity::ComponentInteraction, text: &str) {
    let answer = serenity::CreateInteractionResponse::Message(
        serenity::CreateInteractionResponseMessage::new()
            .content(truncate(text, INLINE_MAX))
            .ephemeral(true)
            .allowed_mentions(serenity::CreateAllowedMentions::new()),
    );
    if let Err(e) = press.create_response(ctx, answer).await {
        tracing::warn!(error = %e, "cannot answer a button press");
    }
}

/// The Rerun button: the plan and confirmation of `/run rerun`, answered
/// on the press. Returns the audit outcome.
async fn rerun_press(
    ctx: &serenity::Context,
    data: &Data,
    press: &serenity::ComponentInteraction,
    actor: &crate::domain::Actor,
    run_id: i64,
) -> String {
    let planned = match data.drover.plan_rerun_failed(run_id).await {
        Ok(request) => rerun_plan(data, run_id, &request)
            .await
            .map(|plan| (request, plan)),
        Err(e) => Err(e),
    };
    let (request, plan) = match planned {
        Ok(planned) => planned,
        Err(e) => {
            let (answer, outcome) = press_outcome(Err(e));
            answer_press(ctx, press, &answer).await;
            return outcome;
        }
    };
    let start = || async {
        let started = start_rerun(data, actor, ctx.http.clone(), &request, press.channel_id).await;
        press_outcome(started.map(|new_id| rerunning(run_id, new_id)))
    };
    let hosts = hosts_of(&request);
    if hosts <= data.drover.config.discord.confirm_above as usize {
        let (answer, outcome) = start().await;
        answer_press(ctx, press, &answer).await;
        return outcome;
    }
    match confirm_press(ctx, press, &plan, hosts).await {
        Confirmation::Confirmed(confirm) => {
            let (answer, outcome) = start().await;
            settle(ctx, &confirm, &format!("{plan}\n{answer}")).await;
            outcome
        }
        Confirmation::Declined(outcome) => outcome.to_string(),
    }
}

/// The answer to a confirmation question asked on a button press.
enum Confirmation {
    /// The press that confirmed (not answered yet).
    Confirmed(Box<serenity::ComponentInteraction>),
    /// Nothing is to run: the audit outcome that says why.
    Declined(&'static str),
}

/// Asks the presser to confirm a run of `hosts` hosts, in an ephemeral
/// answer to the press; a question called off or left unanswered is
/// closed saying that nothing ran.
async fn confirm_press(
    ctx: &serenity::Context,
    press: &serenity::ComponentInteraction,
    plan: &str,
    hosts: usize,
) -> Confirmation {
    let ask = serenity::CreateInteractionResponse::Message(
        serenity::CreateInteractionResponseMessage::new()
            .content(truncate(&question(plan, hosts), INLINE_MAX))
            .components(confirm_buttons(press.id.get()))
            .ephemeral(true)
            .allowed_mentions(serenity::CreateAllowedMentions::new()),
    );
    let asked = match press.create_response(ctx, ask).await {
        Ok(()) => press.get_response(ctx).await,
        Err(e) => Err(e),
    };
    let message = match asked {
        Ok(message) => message,
        Err(e) => {
            tracing::warn!(error = %e, "cannot ask for a confirmation");
            return Confirmation::Declined(
                "error: the confirmation could not be shown; nothing ran",
            );
        }
    };
    let answer = serenity::ComponentInteractionCollector::new(ctx)
        .message_id(message.id)
        .author_id(press.user.id)
        .timeout(CONFIRM_WAIT)
        .await;
    let (decision, outcome) = decision_of(answer.as_ref());
    let text = format!("{plan}\n{decision}");
    match (answer, outcome) {
        (Some(confirm), None) => Confirmation::Confirmed(Box::new(confirm)),
        (Some(abort), Some(outcome)) => {
            settle(ctx, &abort, &text).await;
            Confirmation::Declined(outcome)
        }
        (None, outcome) => {
            let edit = serenity::EditInteractionResponse::new()
                .content(truncate(&text, INLINE_MAX))
                .components(vec![]);
            if let Err(e) = press.edit_response(ctx, edit).await {
                tracing::warn!(error = %e, "cannot close a confirmation question");
            }
            Confirmation::Declined(outcome.unwrap_or("not confirmed; nothing ran"))
        }
    }
}

/// Answers the press on a confirmation question by replacing the question
/// with `text` (its buttons gone).
async fn settle(ctx: &serenity::Context, press: &serenity::ComponentInteraction, text: &str) {
    let update = serenity::CreateInteractionResponse::UpdateMessage(
        serenity::CreateInteractionResponseMessage::new()
            .content(truncate(text, INLINE_MAX))
            .components(vec![])
            .allowed_mentions(serenity::CreateAllowedMentions::new()),
    );
    if let Err(e) = press.create_response(ctx, update).await {
        tracing::warn!(error = %e, "cannot answer a confirmation");
    }
}

#[cfg(test)]
mod tests {
    use super::{argument_text, env_keys, keep_head, place_refusal, press_outcome};
    use crate::error::Error;
    use poise::serenity_prelude::{GuildId, ResolvedValue};

    #[test]
    fn audit_details_keep_env_keys_and_never_their_values() {
        assert_eq!(
            env_keys("API_TOKEN=s3cr3t  REGION=eu=west  stray"),
            "API_TOKEN=*** REGION=*** ***"
        );
        assert_eq!(
            argument_text("env", &ResolvedValue::String("K=hunter2")).as_deref(),
            Some("K=***")
        );
        assert_eq!(
            argument_text("server_group", &ResolvedValue::String("web")).as_deref(),
            Some("web")
        );
        assert_eq!(
            argument_text("parallel", &ResolvedValue::Integer(8)).as_deref(),
            Some("8")
        );
    }

    #[test]
    fn a_button_that_fails_is_audited_with_its_error() {
        assert_eq!(
            press_outcome(Ok("cancelling".into())),
            ("cancelling".into(), "ok".into())
        );
        let refused = Error::Refused("run 3 is already cancelled".into());
        assert_eq!(
            press_outcome(Err(refused)),
            (
                "run 3 is already cancelled".into(),
                "error: run 3 is already cancelled".into()
            )
        );
        let internal = Error::Database(sqlx::Error::PoolTimedOut);
        let (answer, outcome) = press_outcome(Err(internal));
        assert_eq!(answer, "internal error; see drover's log");
        assert_eq!(outcome, "error: internal error; see drover's log");
    }

    #[test]
    fn commands_and_buttons_work_only_in_listed_servers() {
        let listed = [7_u64];
        assert!(place_refusal(&listed, None).is_some_and(|r| r.contains("DMs")));
        assert!(place_refusal(&listed, Some(GuildId::new(8)))
            .is_some_and(|r| r.contains("not enabled in this server")));
        assert_eq!(place_refusal(&listed, Some(GuildId::new(7))), None);
        assert_eq!(place_refusal(&[], Some(GuildId::new(8))), None);
    }

    #[test]
    fn keep_head_cuts_at_a_line_end_within_the_limit_and_says_so() {
        let text = "é first line\nsecond line\nthird line\n".repeat(10);
        let kept = keep_head(text.clone(), 60);
        assert!(kept.len() <= 60, "{}", kept.len());
        assert!(
            kept.ends_with("\n[cut to fit Discord's upload limit]\n"),
            "{kept}"
        );
        assert!(text.starts_with(kept.trim_end_matches("[cut to fit Discord's upload limit]\n")));
        assert_eq!(keep_head("short\n".into(), 60), "short\n");
    }
}
