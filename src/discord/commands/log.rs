//! `/log fetch`: a remote log file.

use super::*;

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
pub(super) async fn log_fetch(
    ctx: Context<'_>,
    #[description = "Host to read the file from"]
    #[autocomplete = "ac_host"]
    host: String,
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
