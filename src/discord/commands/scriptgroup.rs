//! `/scriptgroup`: ordered script groups.

use super::*;

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

/// Create a script group from scripts, in order.
#[poise::command(slash_command, rename = "create")]
pub(super) async fn scriptgroup_create(
    ctx: Context<'_>,
    #[description = "Name of the new script group"] name: String,
    #[description = "Scripts in order, separated by spaces"] scripts: Option<String>,
    #[description = "What the script group does"] description: Option<String>,
) -> Result {
    let scripts = scripts
        .as_deref()
        .map(crate::app::name_list)
        .unwrap_or_default();
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

/// Add a script to a script group (at a position, or last).
#[poise::command(slash_command, rename = "add")]
pub(super) async fn scriptgroup_add(
    ctx: Context<'_>,
    #[description = "Script group to add to"]
    #[autocomplete = "ac_scriptgroup"]
    name: String,
    #[description = "Script to add"]
    #[autocomplete = "ac_script"]
    script: String,
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

/// Move a script of a script group to a position.
#[poise::command(slash_command, rename = "move")]
pub(super) async fn scriptgroup_move(
    ctx: Context<'_>,
    #[description = "Script group to reorder"]
    #[autocomplete = "ac_scriptgroup"]
    name: String,
    #[description = "Script to move"]
    #[autocomplete = "ac_script"]
    script: String,
    #[description = "Its new position, 1 for the first"] position: i64,
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

/// Take a script out of a script group.
#[poise::command(slash_command, rename = "remove")]
pub(super) async fn scriptgroup_remove(
    ctx: Context<'_>,
    #[description = "Script group to take it out of"]
    #[autocomplete = "ac_scriptgroup"]
    name: String,
    #[description = "Script to take out"]
    #[autocomplete = "ac_script"]
    script: String,
) -> Result {
    app(ctx)
        .scriptgroup_remove(&actor(ctx), &name, &script)
        .await?;
    done(ctx, &format!("removed {script} from script group {name}")).await
}

/// Delete a script group.
#[poise::command(slash_command, rename = "delete")]
pub(super) async fn scriptgroup_delete(
    ctx: Context<'_>,
    #[description = "Script group to delete"]
    #[autocomplete = "ac_scriptgroup"]
    name: String,
    #[description = "Also delete the tasks that use it"] force: Option<bool>,
) -> Result {
    app(ctx)
        .scriptgroup_delete(&actor(ctx), &name, force.unwrap_or(false))
        .await?;
    done(ctx, &format!("deleted script group {name}")).await
}

/// List the script groups.
#[poise::command(slash_command, rename = "list")]
pub(super) async fn scriptgroup_list(ctx: Context<'_>) -> Result {
    let groups = app(ctx).script_groups().await?;
    let text: Vec<String> = groups
        .iter()
        .map(|g| format!("{}: {}", g.name, g.scripts.join(" → ")))
        .collect();
    say(ctx, &text.join("\n"), "scriptgroups.txt").await
}

/// Show a script group's scripts, in order.
#[poise::command(slash_command, rename = "show")]
pub(super) async fn scriptgroup_show(
    ctx: Context<'_>,
    #[description = "Script group to show"]
    #[autocomplete = "ac_scriptgroup"]
    name: String,
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
