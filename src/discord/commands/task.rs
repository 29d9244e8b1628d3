//! `/task`: tasks, and `/task run` with its confirmation above
//! `discord.confirm_above` hosts.

use futures::StreamExt;

use super::*;

/// Tasks: a script group paired with a server group.
#[poise::command(
    slash_command,
    guild_only,
    subcommands(
        "task_create",
        "task_edit",
        "task_list",
        "task_show",
        "task_delete",
        "task_run"
    ),
    subcommand_required
)]
pub async fn task(_ctx: Context<'_>) -> Result {
    Ok(())
}

/// Create a task: a script group on a server group.
#[poise::command(slash_command, rename = "create")]
#[allow(clippy::too_many_arguments)]
pub(super) async fn task_create(
    ctx: Context<'_>,
    #[description = "Name of the new task"] name: String,
    #[description = "Script group to run"]
    #[autocomplete = "ac_scriptgroup"]
    script_group: String,
    #[description = "Server group to run it on"]
    #[autocomplete = "ac_group"]
    server_group: String,
    #[description = "Hosts at once (default 64)"] parallel: Option<i64>,
    #[description = "A host goes on with its next script after a failure"]
    continue_on_error: Option<bool>,
    #[description = "Skip the hosts not started yet after this many failures"]
    max_failed_hosts: Option<i64>,
    #[description = "Run scripts through sudo -n"] sudo: Option<bool>,
    #[description = "What the task is for"] description: Option<String>,
) -> Result {
    let args = TaskInput {
        name,
        script_group,
        server_group,
        parallel,
        continue_on_error: continue_on_error.unwrap_or(false),
        max_failed_hosts,
        sudo: sudo.unwrap_or(false),
        description,
    };
    let task = app(ctx).task_create(&actor(ctx), args).await?;
    done(ctx, &format!("created task {}", task.name)).await
}

/// Change a task: each option given replaces the task's own.
#[poise::command(slash_command, rename = "edit")]
#[allow(clippy::too_many_arguments)] // one parameter per option of the slash command
pub(super) async fn task_edit(
    ctx: Context<'_>,
    #[description = "Task to change"]
    #[autocomplete = "ac_task"]
    name: String,
    #[description = "Script group to run"]
    #[autocomplete = "ac_scriptgroup"]
    script_group: Option<String>,
    #[description = "Server group to run it on"]
    #[autocomplete = "ac_group"]
    server_group: Option<String>,
    #[description = "Hosts at once"] parallel: Option<i64>,
    #[description = "True: a host goes on after a failure; false: it stops"]
    continue_on_error: Option<bool>,
    #[description = "Skip the hosts not started yet after this many failures"]
    max_failed_hosts: Option<i64>,
    #[description = "Remove the limit of failed hosts"] no_max_failed_hosts: Option<bool>,
    #[description = "Run scripts through sudo -n"] sudo: Option<bool>,
    #[description = "What the task is for"] description: Option<String>,
) -> Result {
    let args = TaskEditInput {
        script_group,
        server_group,
        parallel,
        continue_on_error,
        max_failed_hosts,
        no_max_failed_hosts: no_max_failed_hosts.unwrap_or(false),
        sudo,
        description,
    };
    let task = app(ctx).task_edit(&actor(ctx), &name, args).await?;
    done(ctx, &format!("changed task {}", task.name)).await
}

/// List the tasks.
#[poise::command(slash_command, rename = "list")]
pub(super) async fn task_list(ctx: Context<'_>) -> Result {
    let tasks = app(ctx).tasks().await?;
    let text: Vec<String> = tasks
        .iter()
        .map(|t| format!("{}: {} on {}", t.name, t.script_group, t.server_group))
        .collect();
    say(ctx, &text.join("\n"), "tasks.txt").await
}

/// Show a task and its run options.
#[poise::command(slash_command, rename = "show")]
pub(super) async fn task_show(
    ctx: Context<'_>,
    #[description = "Task to show"]
    #[autocomplete = "ac_task"]
    name: String,
) -> Result {
    let t = app(ctx).task(&name).await?;
    let text = format!(
        "{}: {} on {}\nparallel {} · on failure {} · max failed hosts {} · sudo {}",
        t.name,
        t.script_group,
        t.server_group,
        t.options.parallel,
        t.options.on_failure.as_str(),
        t.options
            .max_failed_hosts
            .map_or_else(|| "-".into(), |m| m.to_string()),
        t.options.use_sudo
    );
    say(ctx, &text, "task.txt").await
}

/// Delete a task.
#[poise::command(slash_command, rename = "delete")]
pub(super) async fn task_delete(
    ctx: Context<'_>,
    #[description = "Task to delete"]
    #[autocomplete = "ac_task"]
    name: String,
) -> Result {
    app(ctx).task_delete(&actor(ctx), &name).await?;
    done(ctx, &format!("deleted task {name}")).await
}

/// Run a task, or a script group on a server group.
#[poise::command(slash_command, rename = "run")]
pub(super) async fn task_run(
    ctx: Context<'_>,
    #[description = "A task, or a script group"]
    #[autocomplete = "ac_task_or_scriptgroup"]
    task_or_script_group: String,
    #[description = "The server group (when the first argument is a script group)"]
    #[autocomplete = "ac_group"]
    server_group: Option<String>,
    #[description = "Hosts at once (default: the task's)"] parallel: Option<i64>,
    #[description = "A host goes on with its next script after a failure"]
    continue_on_error: Option<bool>,
    #[description = "KEY=VALUE pairs separated by spaces"] env: Option<String>,
) -> Result {
    let data = ctx.data();
    let overrides = RunInput {
        parallel,
        continue_on_error: continue_on_error.unwrap_or(false),
        env: env.as_deref().map(split_env).unwrap_or_default(),
        ..Default::default()
    };
    let request = data
        .drover
        .plan_run(&task_or_script_group, server_group.as_deref(), overrides)
        .await?;
    let hosts = request.hosts.len();
    let scripts = request.script_names();
    let plan = render::render_plan(
        &request.script_group,
        &request.server_group,
        hosts,
        &scripts,
    );
    if !confirmed(ctx, &plan, hosts).await? {
        return Ok(());
    }
    let run_id = data.drover.start_run(&actor(ctx), &request).await?.run_id;
    data.tracker.track(
        ctx.serenity_context().http.clone(),
        run_id,
        Some(ctx.channel_id()),
    );
    Ok(())
}

/// How long a confirmation question waits for its answer.
pub(super) const CONFIRM_WAIT: std::time::Duration = std::time::Duration::from_secs(120);

/// Whether the invoker wants a run of `hosts` hosts: above
/// `discord.confirm_above` the plan is shown with Run and Cancel buttons
/// (and the audit outcome says why nothing ran when not confirmed); at or
/// below it, the plan is shown and the run goes ahead.
pub(super) async fn confirmed(ctx: Context<'_>, plan: &str, hosts: usize) -> Result<bool> {
    if hosts <= ctx.data().drover.config.discord.confirm_above as usize {
        done(ctx, plan).await?;
        return Ok(true);
    }
    let reply = poise::CreateReply::default()
        .content(question(plan, hosts))
        .components(confirm_buttons(ctx.id()))
        .allowed_mentions(serenity::CreateAllowedMentions::new());
    let mut answers = answers_to(ctx.serenity_context(), ctx.id(), ctx.author().id);
    let handle = ctx.send(reply).await?;
    let answer = answers.next().await;
    let (decision, outcome) = decision_of(answer.as_ref());
    if let Some(press) = &answer {
        press
            .create_response(ctx, serenity::CreateInteractionResponse::Acknowledge)
            .await?;
    }
    handle
        .edit(
            ctx,
            poise::CreateReply::default()
                .content(format!("{plan}\n{decision}"))
                .components(vec![]),
        )
        .await?;
    if let Some(outcome) = outcome {
        ctx.set_invocation_data(Outcome(outcome)).await;
        return Ok(false);
    }
    Ok(true)
}

/// The answers of `user` to confirmation question `id` (its Run or
/// Cancel button), for `CONFIRM_WAIT`. Listening starts here, before the
/// question is sent: a press that comes at once is not missed.
pub(super) fn answers_to(
    ctx: &serenity::Context,
    id: u64,
    user: serenity::UserId,
) -> std::pin::Pin<Box<dyn futures::Stream<Item = serenity::ComponentInteraction> + Send>> {
    let ids = [format!("drover:confirm:{id}"), format!("drover:abort:{id}")];
    Box::pin(
        serenity::ComponentInteractionCollector::new(ctx)
            .author_id(user)
            .filter(move |press| ids.contains(&press.data.custom_id))
            .timeout(CONFIRM_WAIT)
            .stream(),
    )
}

pub(super) fn question(plan: &str, hosts: usize) -> String {
    format!("{plan}\nThis runs on {hosts} hosts. Confirm?")
}

/// The Run and Cancel buttons of a confirmation question `id`.
pub(super) fn confirm_buttons(id: u64) -> Vec<serenity::CreateActionRow> {
    vec![serenity::CreateActionRow::Buttons(vec![
        serenity::CreateButton::new(format!("drover:confirm:{id}"))
            .label("Run")
            .style(serenity::ButtonStyle::Danger),
        serenity::CreateButton::new(format!("drover:abort:{id}"))
            .label("Cancel")
            .style(serenity::ButtonStyle::Secondary),
    ])]
}

/// What an answer to a confirmation question decided: the line shown under
/// the plan, and the audit outcome when nothing is to run.
pub(super) fn decision_of(
    answer: Option<&serenity::ComponentInteraction>,
) -> (&'static str, Option<&'static str>) {
    match answer {
        None => (
            "Not confirmed; nothing ran.",
            Some("not confirmed; nothing ran"),
        ),
        Some(press) if press.data.custom_id.starts_with("drover:abort:") => (
            "Cancelled; nothing ran.",
            Some("cancelled at confirmation; nothing ran"),
        ),
        Some(_) => ("Confirmed.", None),
    }
}

pub(super) fn split_env(raw: &str) -> Vec<String> {
    raw.split_whitespace().map(str::to_string).collect()
}
