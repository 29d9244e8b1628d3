//! `/run`: runs: list, status, logs, cancel, rerun.

use super::*;

/// Runs: list, status, logs, cancel, rerun.
#[poise::command(
    slash_command,
    guild_only,
    subcommands("run_list", "run_status", "run_logs", "run_cancel", "run_rerun"),
    subcommand_required
)]
pub async fn run(_ctx: Context<'_>) -> Result {
    Ok(())
}

/// List recent runs.
#[poise::command(slash_command, rename = "list")]
pub(super) async fn run_list(ctx: Context<'_>) -> Result {
    let runs = app(ctx).recent_runs(20).await?;
    let text: Vec<String> = runs
        .iter()
        .map(|r| {
            format!(
                "{} {} {} on {} · {} hosts, {} failed · by {} · {}",
                r.id,
                r.state,
                r.script_group,
                r.server_group,
                r.hosts,
                r.failed_hosts,
                r.started_by,
                r.created_at
            )
        })
        .collect();
    say(ctx, &text.join("\n"), "runs.txt").await
}

/// Show a run: every host, its step and state.
#[poise::command(slash_command, rename = "status")]
pub(super) async fn run_status(
    ctx: Context<'_>,
    #[description = "Run number"]
    #[autocomplete = "ac_run"]
    id: i64,
) -> Result {
    let data = ctx.data();
    let snapshot = data.drover.run_snapshot(id).await?;
    let public_base = data.drover.config.web.public_base();
    let view = render::render_progress_linked(&snapshot, &data.redactor, public_base);
    let mut reply = poise::CreateReply::default()
        .content(view.content.clone())
        .components(crate::discord::progress::components_of(&view));
    for embed in crate::discord::progress::embeds_of(&view) {
        reply = reply.embed(embed);
    }
    let reply = reply.allowed_mentions(serenity::CreateAllowedMentions::new());
    ctx.send(reply).await?;
    Ok(())
}

/// The last lines of a run's logs (of one host, or of all).
#[poise::command(slash_command, rename = "logs")]
pub(super) async fn run_logs(
    ctx: Context<'_>,
    #[description = "Run number"]
    #[autocomplete = "ac_run"]
    id: i64,
    #[description = "Only this host's logs"]
    #[autocomplete = "ac_host"]
    host: Option<String>,
) -> Result {
    let text = app(ctx)
        .run_logs_text(id, host.as_deref(), None, LOGS_ATTACHMENT_MAX)
        .await?;
    say(ctx, &text, &format!("run-{id}.log")).await
}

/// Cancel a run on every host.
#[poise::command(slash_command, rename = "cancel")]
pub(super) async fn run_cancel(
    ctx: Context<'_>,
    #[description = "Run number"]
    #[autocomplete = "ac_run"]
    id: i64,
) -> Result {
    cancel(ctx.data(), &actor(ctx), id).await?;
    done(ctx, &format!("cancelling run {id} on every host")).await
}

pub(super) async fn cancel(
    data: &Data,
    actor: &crate::domain::Actor,
    id: i64,
) -> std::result::Result<(), crate::error::Error> {
    // The one cancel path: the run's driver carries it out (this process
    // adopts the run first if its controller is gone).
    data.drover
        .cancel_run(actor, id, CancelWait::Requested)
        .await?;
    Ok(())
}

/// Run the hosts of a run that did not succeed again.
#[poise::command(slash_command, rename = "rerun")]
pub(super) async fn run_rerun(
    ctx: Context<'_>,
    #[description = "Run whose failed hosts to run again"]
    #[autocomplete = "ac_run"]
    id: i64,
) -> Result {
    let data = ctx.data();
    let request = data.drover.plan_rerun_failed(id).await?;
    let plan = rerun_plan(data, id, &request).await?;
    if !confirmed(ctx, &plan, hosts_of(&request)).await? {
        return Ok(());
    }
    let http = ctx.serenity_context().http.clone();
    let new_id = start_rerun(data, &actor(ctx), http, &request, ctx.channel_id()).await?;
    done(ctx, &rerunning(id, new_id)).await
}

pub(super) fn hosts_of(request: &crate::app::RunPlan) -> usize {
    request.hosts.len()
}

pub(super) fn rerunning(id: i64, new_id: i64) -> String {
    format!("rerunning the failed hosts of run {id} as run {new_id}")
}

/// What a rerun will do, as the confirmation shows it.
pub(super) async fn rerun_plan(
    data: &Data,
    id: i64,
    request: &crate::app::RunPlan,
) -> std::result::Result<String, crate::error::Error> {
    let scripts = data.drover.run_snapshot(id).await?.scripts;
    let plan = render::render_plan(
        &request.script_group,
        &request.server_group,
        hosts_of(request),
        &scripts,
    );
    Ok(format!(
        "🔁 Rerun of run {id} on its hosts that did not succeed, with the scripts it ran.\n{plan}"
    ))
}

/// Starts a planned rerun in this process and shows it in `channel`. The
/// store refuses it while another rerun of the same run is running.
pub(super) async fn start_rerun(
    data: &Data,
    actor: &crate::domain::Actor,
    http: crate::discord::Http,
    request: &crate::app::RunPlan,
    channel: serenity::ChannelId,
) -> std::result::Result<i64, crate::error::Error> {
    let new_id = data.drover.start_run(actor, request).await?.run_id;
    data.tracker.track(http, new_id, Some(channel));
    Ok(new_id)
}
