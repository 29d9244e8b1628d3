//! The progress message's buttons (Cancel, Rerun failed, Logs) and the
//! confirmation buttons: checked and audited like the commands.

use futures::StreamExt;

use super::*;

/// The answer to a button press that was allowed, and its audit outcome.
pub(super) fn press_outcome(
    result: std::result::Result<String, crate::error::Error>,
) -> (String, String) {
    match result {
        Ok(answer) => (answer, "ok".to_string()),
        Err(e) => {
            let message = if e.is_refusal() {
                e.to_string()
            } else {
                tracing::error!(error = %e, "a button failed");
                "internal error; see drover's log".to_string()
            };
            let outcome = format!("error: {message}");
            (message, outcome)
        }
    }
}

/// Button clicks on progress messages: Cancel, Rerun failed, Logs.
pub async fn on_event(ctx: &serenity::Context, event: &serenity::FullEvent, data: &Data) -> Result {
    let serenity::FullEvent::InteractionCreate {
        interaction: serenity::Interaction::Component(press),
    } = event
    else {
        return Ok(());
    };
    let mut parts = press.data.custom_id.splitn(3, ':');
    let (Some("drover"), Some(action), Some(id)) = (parts.next(), parts.next(), parts.next())
    else {
        return Ok(());
    };
    let Ok(run_id) = id.parse::<i64>() else {
        return Ok(());
    };
    let needed = match action {
        "cancel" | "rerun" => Level::Operator,
        "logs" => Level::Viewer,
        _ => return Ok(()),
    };
    let roles: Vec<u64> = press
        .member
        .as_ref()
        .map(|m| m.roles.iter().map(|r| r.get()).collect())
        .unwrap_or_default();
    let user = press.user.id;
    let refusal = place_refusal(&data.drover.config.discord.guilds, press.guild_id)
        .map(str::to_string)
        .or_else(|| {
            let level = data.permissions.level_of(user.get(), &roles);
            level
                .is_none_or(|l| l < needed)
                .then(|| format!("you need the {} level to use this button", needed.as_str()))
        });
    let actor = Data::actor(user);
    let outcome = if let Some(refusal) = refusal {
        answer_press(ctx, press, &refusal).await;
        format!("denied: {refusal}")
    } else if action == "rerun" {
        rerun_press(ctx, data, press, &actor, run_id).await
    } else {
        let result =
            match action {
                "cancel" => cancel(data, &actor, run_id)
                    .await
                    .map(|_| format!("cancelling run {run_id} on every host")),
                _ => data.drover.run_snapshot(run_id).await.map(|run| {
                    run_logs::button_text(&data.drover, &run, &data.redactor, INLINE_MAX)
                }),
            };
        let (answer, outcome) = press_outcome(result);
        answer_press(ctx, press, &answer).await;
        outcome
    };
    if let Err(e) = data
        .drover
        .record(
            &actor,
            &format!("discord button {action}"),
            &run_id.to_string(),
            "",
            &outcome,
        )
        .await
    {
        tracing::error!(error = %e, "cannot write the audit trail");
    }
    Ok(())
}

/// Answers a button press with an ephemeral message (a failure is logged).
pub(super) async fn answer_press(
    ctx: &serenity::Context,
    press: &serenity::ComponentInteraction,
    text: &str,
) {
    let answer = serenity::CreateInteractionResponse::Message(
        serenity::CreateInteractionResponseMessage::new()
            .content(truncate(text, INLINE_MAX))
            .ephemeral(true)
            .allowed_mentions(serenity::CreateAllowedMentions::new()),
    );
    if let Err(e) = press.create_response(ctx, answer).await {
        tracing::warn!(error = %e, "cannot answer a button press");
    }
}

/// The Rerun button: the plan and confirmation of `/run rerun`, answered
/// on the press. Returns the audit outcome.
pub(super) async fn rerun_press(
    ctx: &serenity::Context,
    data: &Data,
    press: &serenity::ComponentInteraction,
    actor: &crate::domain::Actor,
    run_id: i64,
) -> String {
    let planned = match data.drover.plan_rerun_failed(run_id).await {
        Ok(request) => rerun_plan(data, run_id, &request)
            .await
            .map(|plan| (request, plan)),
        Err(e) => Err(e),
    };
    let (request, plan) = match planned {
        Ok(planned) => planned,
        Err(e) => {
            let (answer, outcome) = press_outcome(Err(e));
            answer_press(ctx, press, &answer).await;
            return outcome;
        }
    };
    let start = || async {
        let started = start_rerun(data, actor, ctx.http.clone(), &request, press.channel_id).await;
        press_outcome(started.map(|new_id| rerunning(run_id, new_id)))
    };
    let hosts = hosts_of(&request);
    if hosts <= data.drover.config.discord.confirm_above as usize {
        let (answer, outcome) = start().await;
        answer_press(ctx, press, &answer).await;
        return outcome;
    }
    match confirm_press(ctx, press, &plan, hosts).await {
        Confirmation::Confirmed(confirm) => {
            let (answer, outcome) = start().await;
            settle(ctx, &confirm, &format!("{plan}\n{answer}")).await;
            outcome
        }
        Confirmation::Declined(outcome) => outcome.to_string(),
    }
}

/// The answer to a confirmation question asked on a button press.
pub(super) enum Confirmation {
    /// The press that confirmed (not answered yet).
    Confirmed(Box<serenity::ComponentInteraction>),
    /// Nothing is to run: the audit outcome that says why.
    Declined(&'static str),
}

/// Asks the presser to confirm a run of `hosts` hosts, in an ephemeral
/// answer to the press; a question called off or left unanswered is
/// closed saying that nothing ran.
pub(super) async fn confirm_press(
    ctx: &serenity::Context,
    press: &serenity::ComponentInteraction,
    plan: &str,
    hosts: usize,
) -> Confirmation {
    let ask = serenity::CreateInteractionResponse::Message(
        serenity::CreateInteractionResponseMessage::new()
            .content(truncate(&question(plan, hosts), INLINE_MAX))
            .components(confirm_buttons(press.id.get()))
            .ephemeral(true)
            .allowed_mentions(serenity::CreateAllowedMentions::new()),
    );
    let mut answers = answers_to(ctx, press.id.get(), press.user.id);
    if let Err(e) = press.create_response(ctx, ask).await {
        tracing::warn!(error = %e, "cannot ask for a confirmation");
        return Confirmation::Declined("error: the confirmation could not be shown; nothing ran");
    }
    let answer = answers.next().await;
    let (decision, outcome) = decision_of(answer.as_ref());
    let text = format!("{plan}\n{decision}");
    match (answer, outcome) {
        (Some(confirm), None) => Confirmation::Confirmed(Box::new(confirm)),
        (Some(abort), Some(outcome)) => {
            settle(ctx, &abort, &text).await;
            Confirmation::Declined(outcome)
        }
        (None, outcome) => {
            let edit = serenity::EditInteractionResponse::new()
                .content(truncate(&text, INLINE_MAX))
                .components(vec![]);
            if let Err(e) = press.edit_response(ctx, edit).await {
                tracing::warn!(error = %e, "cannot close a confirmation question");
            }
            Confirmation::Declined(outcome.unwrap_or("not confirmed; nothing ran"))
        }
    }
}

/// Answers the press on a confirmation question by replacing the question
/// with `text` (its buttons gone).
pub(super) async fn settle(
    ctx: &serenity::Context,
    press: &serenity::ComponentInteraction,
    text: &str,
) {
    let update = serenity::CreateInteractionResponse::UpdateMessage(
        serenity::CreateInteractionResponseMessage::new()
            .content(truncate(text, INLINE_MAX))
            .components(vec![])
            .allowed_mentions(serenity::CreateAllowedMentions::new()),
    );
    if let Err(e) = press.create_response(ctx, update).await {
        tracing::warn!(error = %e, "cannot answer a confirmation");
    }
}
