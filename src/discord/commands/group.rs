//! `/group`: server groups.

use super::*;

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

/// Create a server group.
#[poise::command(slash_command, rename = "create")]
pub(super) async fn group_create(
    ctx: Context<'_>,
    #[description = "Name of the new server group"] name: String,
    #[description = "What the group is for"] description: Option<String>,
) -> Result {
    app(ctx)
        .group_create(&actor(ctx), &name, description)
        .await?;
    done(ctx, &format!("created server group {name}")).await
}

/// Delete a server group.
#[poise::command(slash_command, rename = "delete")]
pub(super) async fn group_delete(
    ctx: Context<'_>,
    #[description = "Server group to delete"]
    #[autocomplete = "ac_group"]
    name: String,
    #[description = "Also delete the tasks that use it"] force: Option<bool>,
) -> Result {
    app(ctx)
        .group_delete(&actor(ctx), &name, force.unwrap_or(false))
        .await?;
    done(ctx, &format!("deleted server group {name}")).await
}

/// Add hosts to a server group.
#[poise::command(slash_command, rename = "add")]
pub(super) async fn group_add(
    ctx: Context<'_>,
    #[description = "Server group to add hosts to"]
    #[autocomplete = "ac_group"]
    group: String,
    #[description = "Host names, separated by spaces or commas"]
    #[autocomplete = "ac_host"]
    hosts: String,
) -> Result {
    let hosts = crate::app::name_list(&hosts);
    let added = app(ctx)
        .group_add_hosts(&actor(ctx), &group, &hosts)
        .await?;
    done(
        ctx,
        &format!("added {} host(s) to server group {group}", added.len()),
    )
    .await
}

/// Take hosts out of a server group.
#[poise::command(slash_command, rename = "remove")]
pub(super) async fn group_remove(
    ctx: Context<'_>,
    #[description = "Server group to take hosts out of"]
    #[autocomplete = "ac_group"]
    group: String,
    #[description = "Hosts to take out, separated by commas or spaces"]
    #[autocomplete = "ac_host"]
    hosts: String,
) -> Result {
    let hosts = app(ctx)
        .group_remove_hosts(&actor(ctx), &group, &crate::app::name_list(&hosts))
        .await?;
    done(
        ctx,
        &format!("removed {} host(s) from server group {group}", hosts.len()),
    )
    .await
}

/// List the server groups.
#[poise::command(slash_command, rename = "list")]
pub(super) async fn group_list(ctx: Context<'_>) -> Result {
    let groups = app(ctx).server_groups().await?;
    let text: Vec<String> = groups
        .iter()
        .map(|g| format!("{} ({} hosts)", g.name, g.hosts.len()))
        .collect();
    say(ctx, &text.join("\n"), "groups.txt").await
}

/// Show a server group and its hosts.
#[poise::command(slash_command, rename = "show")]
pub(super) async fn group_show(
    ctx: Context<'_>,
    #[description = "Server group to show"]
    #[autocomplete = "ac_group"]
    name: String,
) -> Result {
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
