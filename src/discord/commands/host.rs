//! `/host`: the inventory's hosts, their keys and checks.

use super::*;

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
pub(super) async fn host_add(
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
pub(super) async fn host_list(ctx: Context<'_>) -> Result {
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
pub(super) async fn host_show(
    ctx: Context<'_>,
    #[description = "Host to show"]
    #[autocomplete = "ac_host"]
    name: String,
) -> Result {
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
pub(super) async fn host_edit(
    ctx: Context<'_>,
    #[description = "Host to change"]
    #[autocomplete = "ac_host"]
    name: String,
    #[description = "New DNS name, IPv4 or IPv6 address"] address: Option<String>,
    #[description = "New SSH port"] port: Option<i64>,
    #[description = "New login user"] user: Option<String>,
    #[description = "Use the configured default user again"] default_user: Option<bool>,
    #[description = "New description"] description: Option<String>,
    #[description = "Run scripts through sudo -n"] sudo: Option<bool>,
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
pub(super) async fn host_rm(
    ctx: Context<'_>,
    #[description = "Host to remove"]
    #[autocomplete = "ac_host"]
    name: String,
    #[description = "Also take it out of its groups"] force: Option<bool>,
) -> Result {
    app(ctx)
        .host_remove(&actor(ctx), &name, force.unwrap_or(false))
        .await?;
    done(ctx, &format!("removed host {name}")).await
}

/// Re-pin a host's SSH key to the one it offers now.
#[poise::command(slash_command, rename = "trust")]
pub(super) async fn host_trust(
    ctx: Context<'_>,
    #[description = "Host whose key to pin"]
    #[autocomplete = "ac_host"]
    name: String,
) -> Result {
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
pub(super) async fn host_check(
    ctx: Context<'_>,
    #[description = "Host to connect to"]
    #[autocomplete = "ac_host"]
    name: String,
) -> Result {
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
