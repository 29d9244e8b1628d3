//! Replies: ephemeral errors, text inline or as a file when long, and the actor
//! a command acts as.

use super::*;

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

pub(super) fn is_autocomplete(ctx: Context<'_>) -> bool {
    matches!(ctx, poise::Context::Application(app)
        if app.interaction_type == poise::CommandInteractionType::Autocomplete)
}

/// An ephemeral answer for the invoking user only.
pub(super) async fn tell(ctx: Context<'_>, message: &str) {
    let reply = poise::CreateReply::default()
        .content(truncate(message, INLINE_MAX))
        .ephemeral(true)
        .allowed_mentions(serenity::CreateAllowedMentions::new());
    if let Err(e) = ctx.send(reply).await {
        tracing::warn!(error = %e, "cannot answer an interaction");
    }
}

pub(super) fn truncate(text: &str, max: usize) -> String {
    if text.chars().count() <= max {
        return text.to_string();
    }
    let mut out: String = text.chars().take(max.saturating_sub(1)).collect();
    out.push('…');
    out
}

/// A public answer; long text goes as a code block or as a file.
pub(super) async fn say(ctx: Context<'_>, text: &str, file_name: &str) -> Result {
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
pub(super) fn keep_head(mut text: String, max: usize) -> String {
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
pub(super) async fn done(ctx: Context<'_>, text: &str) -> Result {
    let clean = render::sanitize(text, &ctx.data().redactor);
    ctx.send(
        poise::CreateReply::default()
            .content(truncate(&clean, INLINE_MAX))
            .allowed_mentions(serenity::CreateAllowedMentions::new()),
    )
    .await?;
    Ok(())
}

pub(super) fn actor(ctx: Context<'_>) -> crate::domain::Actor {
    Data::actor(ctx.author().id)
}
