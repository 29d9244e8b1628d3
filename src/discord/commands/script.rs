//! `/script`: the script library and its versions.

use super::*;

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

pub(super) async fn download(file: &serenity::Attachment) -> Result<Vec<u8>> {
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
pub(super) async fn script_add(
    ctx: Context<'_>,
    #[description = "Name of the new script"] name: String,
    #[description = "The script body"] file: serenity::Attachment,
    #[description = "What the script does"] description: Option<String>,
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
pub(super) async fn script_edit(
    ctx: Context<'_>,
    #[description = "Script to change"]
    #[autocomplete = "ac_script"]
    name: String,
    #[description = "The new body, as a file"] file: serenity::Attachment,
    #[description = "What the script does"] description: Option<String>,
    #[description = "Time limit per host, e.g. 10m, or none"] timeout: Option<String>,
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

/// Show a script (a version, or the latest).
#[poise::command(slash_command, rename = "show")]
pub(super) async fn script_show(
    ctx: Context<'_>,
    #[description = "Script to show"]
    #[autocomplete = "ac_script"]
    name: String,
    #[description = "An older version (default: the current one)"] version: Option<i64>,
) -> Result {
    let s = app(ctx).script(&name, version).await?;
    say(ctx, &s.body, &format!("{}.v{}.sh", s.name, s.version)).await
}

/// List the scripts.
#[poise::command(slash_command, rename = "list")]
pub(super) async fn script_list(ctx: Context<'_>) -> Result {
    let scripts = app(ctx).scripts().await?;
    let text: Vec<String> = scripts
        .iter()
        .map(|s| format!("{} v{} {}", s.name, s.version, s.description))
        .collect();
    say(ctx, &text.join("\n"), "scripts.txt").await
}

/// List the versions of a script.
#[poise::command(slash_command, rename = "history")]
pub(super) async fn script_history(
    ctx: Context<'_>,
    #[description = "Script whose versions to list"]
    #[autocomplete = "ac_script"]
    name: String,
) -> Result {
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

/// Remove a script.
#[poise::command(slash_command, rename = "rm")]
pub(super) async fn script_rm(
    ctx: Context<'_>,
    #[description = "Script to remove"]
    #[autocomplete = "ac_script"]
    name: String,
    #[description = "Also take it out of its script groups"] force: Option<bool>,
) -> Result {
    app(ctx)
        .script_remove(&actor(ctx), &name, force.unwrap_or(false))
        .await?;
    done(ctx, &format!("removed script {name}")).await
}
