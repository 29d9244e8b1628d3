//! Who may use a command: deny by default; the guild must be configured (no
//! DMs) and the user's level must reach the command's.

use super::*;

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
pub(super) const NOT_IN_DMS: &str = "drover commands work only in a server channel, not in DMs";

/// Why a command or button is refused where it was used: in a DM, or in a
/// server that `discord.guilds` does not list. `None` when the place is fine.
pub(super) fn place_refusal(
    guilds: &[u64],
    guild: Option<serenity::GuildId>,
) -> Option<&'static str> {
    let Some(guild) = guild else {
        return Some(NOT_IN_DMS);
    };
    if !guilds.is_empty() && !guilds.contains(&guild.get()) {
        return Some("drover is not enabled in this server");
    }
    None
}
