//! `/dashboard`: an ephemeral, single-use, short-lived login link to the
//! web dashboard, at the caller's Discord level and under their Discord
//! identity (`discord:ID` in the audit trail).

use poise::serenity_prelude as serenity;

use super::{BotError, Context, Data};

/// A one-time login link to the web dashboard (only you see it).
#[poise::command(slash_command, guild_only)]
pub async fn dashboard(ctx: Context<'_>) -> Result<(), BotError> {
    let data = ctx.data();
    let web = &data.drover.config.web;
    let Some(base) = web.public_base() else {
        return Err(BotError::BadInput(
            "the web dashboard has no public address: a drover admin must set [web] public_url in drover.toml (for example https://drover.example.org) and restart drover".into(),
        ));
    };
    let roles: Vec<u64> = match ctx.author_member().await {
        Some(member) => member.roles.iter().map(|r| r.get()).collect(),
        None => Vec::new(),
    };
    let Some(level) = data.permissions.level_of(ctx.author().id.get(), &roles) else {
        return Err(BotError::Denied(
            "you hold no drover level; ask a drover admin to grant one in drover.toml [discord.permissions]".into(),
        ));
    };
    let token = data
        .drover
        .web_login_link(&Data::actor(ctx.author().id), level)
        .await?;
    let text = format!(
        "Your drover dashboard login link ({} level, single use, valid for {}; do not share it):\n{base}/login/link/{}",
        level.as_str(),
        humantime::format_duration(web.login_link_ttl),
        token.as_str()
    );
    ctx.send(
        poise::CreateReply::default()
            .content(text)
            .ephemeral(true)
            .allowed_mentions(serenity::CreateAllowedMentions::new()),
    )
    .await?;
    Ok(())
}
