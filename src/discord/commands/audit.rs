//! The audit record of every invocation: the command and its arguments (of
//! `env` only the keys), with its outcome.

use super::*;

/// The argument of `/task run` whose values are secrets.
pub(super) const SECRET_ARGUMENT: &str = "env";

/// What the audit trail keeps of a command: its name and arguments as typed,
/// except the values of `env`, of which only the keys are kept.
pub(super) fn audit_detail(ctx: Context<'_>) -> String {
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

pub(super) fn argument_text(name: &str, value: &serenity::ResolvedValue<'_>) -> Option<String> {
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
pub(super) fn env_keys(raw: &str) -> String {
    split_env(raw)
        .iter()
        .map(|pair| match pair.split_once('=') {
            Some((key, _)) => format!("{key}=***"),
            None => "***".to_string(),
        })
        .collect::<Vec<_>>()
        .join(" ")
}

pub(super) async fn audit(ctx: Context<'_>, outcome: &str) {
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
pub(super) struct Outcome(pub(super) &'static str);

pub async fn audit_success(ctx: Context<'_>) {
    let outcome = ctx.invocation_data::<Outcome>().await.map(|o| o.0);
    audit(ctx, outcome.unwrap_or("ok")).await;
}
