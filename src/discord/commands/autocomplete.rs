//! Autocomplete: at most 25 names containing what was typed, those starting
//! with it first, picked by the database.

use super::*;

/// Discord shows at most this many autocomplete choices.
pub(super) const MAX_CHOICES: usize = 25;

/// Names of `kind` containing `partial`, prefix matches first: at most
/// `MAX_CHOICES`, picked by the database (an inventory of thousands of
/// hosts is not read on every keystroke).
pub(super) async fn names_matching(
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

pub(super) fn choices_of(names: Vec<String>) -> serenity::CreateAutocompleteResponse {
    serenity::CreateAutocompleteResponse::new().set_choices(
        names
            .into_iter()
            .take(MAX_CHOICES)
            .map(serenity::AutocompleteChoice::from)
            .collect(),
    )
}

/// Autocomplete functions (poise names them in `#[autocomplete = ...]`),
/// one per kind of name.
macro_rules! names_of_kind {
    ($($function:ident => $kind:ident,)*) => {$(
        pub(super) async fn $function(
            ctx: Context<'_>,
            partial: &str,
        ) -> serenity::CreateAutocompleteResponse {
            names_matching(ctx, EntityKind::$kind, partial).await
        }
    )*};
}

names_of_kind! {
    ac_host => Host,
    ac_group => ServerGroup,
    ac_script => Script,
    ac_scriptgroup => ScriptGroup,
    ac_task => Task,
}

/// Tasks first, then script groups: the first argument of /task run.
pub(super) async fn ac_task_or_scriptgroup(
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
pub(super) async fn ac_run(
    ctx: Context<'_>,
    partial: &str,
) -> serenity::CreateAutocompleteResponse {
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
