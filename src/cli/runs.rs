//! Handlers of `task run`, `run ...`, `host trust|check` and `log fetch`:
//! live progress in a terminal, plain lines otherwise, final tables.

use std::io::IsTerminal;
use std::time::Duration;

use super::console;
use super::live::{LiveView, PlainLines};
use super::{Context, RunCmd};
use crate::app::{Adoption, CancelWait, Driving, Orphaned, RunInput, RunPlan};
use crate::error::{Error, Result};
use crate::state::{RunSnapshot, RunState};
use crate::text::{json, Table};

/// Outcome of a command that ran hosts: output and whether all succeeded.
pub struct RunOutput {
    pub text: String,
    pub success: bool,
}

pub(super) fn elapsed(ms: Option<i64>) -> String {
    ms.map_or_else(
        || "-".to_string(),
        |ms| format!("{:.1}s", ms as f64 / 1000.0),
    )
}

/// The final per-host table.
pub fn render_snapshot(s: &RunSnapshot) -> String {
    let mut out = format!(
        "run {} {} · {} on {} · started by {} · {}\n",
        s.id,
        s.state.as_str(),
        s.script_group,
        s.server_group,
        s.started_by,
        elapsed(Some(s.elapsed_ms))
    );
    let mut table = Table::new(&[
        "HOST", "STATE", "STEP", "SCRIPT", "EXIT", "ELAPSED", "REASON",
    ]);
    for h in &s.hosts {
        table.row(vec![
            h.host.clone(),
            h.state.to_string(),
            h.step()
                .map_or_else(|| "-".into(), |st| format!("{st}/{}", h.steps)),
            h.script.clone().unwrap_or_else(|| "-".into()),
            h.exit_code().map_or_else(|| "-".into(), |c| c.to_string()),
            elapsed(h.elapsed_ms),
            h.reason().unwrap_or_default().to_string(),
        ]);
    }
    out.push_str(&table.render());
    let counts: Vec<String> = s.counts().iter().map(|(k, n)| format!("{n} {k}")).collect();
    out.push_str(&counts.join(", "));
    out
}

pub(super) fn summary_line(s: &RunSnapshot) -> String {
    let counts: Vec<String> = s.counts().iter().map(|(k, n)| format!("{n} {k}")).collect();
    format!(
        "run {} · {} · {}",
        s.id,
        counts.join(", "),
        elapsed(Some(s.elapsed_ms))
    )
}

/// Follows a run this process drives, showing progress (host output
/// passed through `logs.redact`), and returns its final snapshot. Ctrl-C
/// cancels the run (the one cancel path; the driver here carries it out).
async fn follow_with_progress(ctx: &Context, driving: Driving) -> Result<RunSnapshot> {
    let run_id = driving.run_id;
    let mut events = ctx.app.subscribe_runs();
    let driver = driving.finished();
    tokio::pin!(driver);
    let terminal = std::io::stderr().is_terminal() && !ctx.quiet;
    let mut view = terminal.then(LiveView::new);
    let mut plain = PlainLines::default();
    let interrupt = tokio::signal::ctrl_c();
    tokio::pin!(interrupt);
    let mut refresh = tokio::time::interval(Duration::from_millis(500));
    let mut interrupted = false;
    // Ends the moment the driver does (not at the next refresh tick).
    let driven = loop {
        tokio::select! {
            driven = &mut driver => break driven,
            event = events.recv() => {
                if let Some(line) = event.ok().filter(|_| view.is_none() && !ctx.quiet)
                    .and_then(|event| plain.line(&event)) {
                    console::note(&line);
                }
            }
            _ = refresh.tick() => {
                if let Some(view) = &mut view {
                    // The view waits out a busy database; the run goes on.
                    match ctx.app.shown_snapshot(run_id).await {
                        Ok(snapshot) => view.update(&snapshot),
                        Err(e) => tracing::debug!(error = %e, "cannot refresh the progress view"),
                    }
                }
            }
            _ = &mut interrupt, if !interrupted => {
                interrupted = true;
                console::note(&format!("interrupted: cancelling run {run_id} on every host..."));
                ctx.app.cancel_run(&ctx.actor, run_id, CancelWait::Requested).await?;
            }
        }
    };
    driven?;
    let snapshot = ctx.app.shown_snapshot(run_id).await?;
    if let Some(mut view) = view {
        view.update(&snapshot);
        view.finish();
    }
    Ok(snapshot)
}

/// The final table or JSON of a run (a snapshot already passed through
/// `logs.redact`).
fn finish(ctx: &Context, shown: &RunSnapshot) -> RunOutput {
    RunOutput {
        text: if ctx.json {
            json(shown)
        } else {
            render_snapshot(shown)
        },
        success: shown.state == RunState::Succeeded,
    }
}

/// Hands each run whose controller is gone to a background driver, unless
/// another process claimed it first, and says so on standard error.
pub async fn adopt_orphans(ctx: &Context) -> Result<()> {
    for adopted in ctx.app.adopt_orphans(Adoption::Detach).await? {
        let run_id = adopted.run_id;
        let what = match adopted.orphaned {
            Orphaned::LeaseExpired => {
                format!("run {run_id}'s controller stopped renewing its lease")
            }
            Orphaned::NoController => format!("run {run_id} had no controller"),
            Orphaned::ControllerDied => format!("run {run_id}'s controller died"),
        };
        if let Some(pid) = adopted.driver_pid {
            console::note(&format!("{what}; resumed by pid {pid}"));
        }
    }
    Ok(())
}

/// What `task run` prints.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Mode {
    /// The final per-host table.
    Table,
    /// Every host's output, then the table.
    ShowOutput,
    /// Only the run id; a background drover drives the run.
    Detach,
}

pub async fn task_run(
    ctx: &Context,
    first: &str,
    second: Option<&str>,
    overrides: RunInput,
    mode: Mode,
) -> Result<RunOutput> {
    let plan: RunPlan = ctx.app.plan_run(first, second, overrides).await?;
    start(ctx, &plan, mode).await
}

async fn start(ctx: &Context, plan: &RunPlan, mode: Mode) -> Result<RunOutput> {
    if mode == Mode::Detach {
        let run_id = ctx.app.start_run_detached(&ctx.actor, plan).await?;
        return Ok(RunOutput {
            text: if ctx.json {
                json(&serde_json::json!({ "id": run_id }))
            } else {
                run_id.to_string()
            },
            success: true,
        });
    }
    let driving = ctx.app.start_run(&ctx.actor, plan).await?;
    let snapshot = follow_with_progress(ctx, driving).await?;
    if mode == Mode::ShowOutput && !ctx.json {
        print_logs(ctx, &snapshot, None, None)?;
    }
    Ok(finish(ctx, &snapshot))
}

/// Streams step logs to standard output, host by host, as they are on disk:
/// memory does not grow with the size of the logs or of the fleet.
fn print_logs(
    ctx: &Context,
    snapshot: &RunSnapshot,
    host: Option<&str>,
    script: Option<&str>,
) -> Result<()> {
    use std::io::Write;
    let mut out = std::io::BufWriter::new(std::io::stdout().lock());
    console::unless_reader_gone(
        ctx.app
            .write_logs(snapshot, host, script, &mut out)
            .and_then(|()| out.flush()),
    )
    .map_err(|e| Error::io("cannot print the run's logs", e))
}

pub async fn run(ctx: &Context, cmd: RunCmd) -> Result<RunOutput> {
    let ok = |text: String| {
        Ok(RunOutput {
            text,
            success: true,
        })
    };
    match cmd {
        RunCmd::List { limit } => {
            adopt_orphans(ctx).await?;
            let runs = ctx.app.recent_runs(limit).await?;
            if ctx.json {
                return ok(json(&runs));
            }
            let mut table = Table::new(&[
                "ID",
                "STATE",
                "TASK",
                "SCRIPT GROUP",
                "SERVER GROUP",
                "HOSTS",
                "FAILED",
                "BY",
                "CREATED",
            ]);
            for r in runs {
                table.row(vec![
                    r.id.to_string(),
                    r.state.to_string(),
                    r.task.unwrap_or_else(|| "-".into()),
                    r.script_group,
                    r.server_group,
                    r.hosts.to_string(),
                    r.failed_hosts.to_string(),
                    r.started_by,
                    r.created_at,
                ]);
            }
            ok(table.render())
        }
        RunCmd::Status { id } => {
            adopt_orphans(ctx).await?;
            let snapshot = ctx.app.shown_snapshot(id).await?;
            // A query: it worked whatever state the run is in.
            Ok(RunOutput {
                success: true,
                ..finish(ctx, &snapshot)
            })
        }
        RunCmd::Logs { id, host, script } => {
            adopt_orphans(ctx).await?;
            let snapshot = ctx
                .app
                .log_selection(id, host.as_deref(), script.as_deref())
                .await?;
            print_logs(ctx, &snapshot, host.as_deref(), script.as_deref())?;
            ok(String::new())
        }
        RunCmd::Cancel { id } => {
            ctx.app
                .cancel_run(&ctx.actor, id, CancelWait::Ended)
                .await?;
            // Done as asked: the exit code says the cancel worked, not how
            // the hosts ended.
            Ok(RunOutput {
                success: true,
                ..finish(ctx, &ctx.app.shown_snapshot(id).await?)
            })
        }
        RunCmd::Rerun { id, failed } => {
            if !failed {
                return Err(Error::Refused(
                    "give --failed: rerun runs the failed hosts of a run again".into(),
                ));
            }
            let request = ctx.app.plan_rerun_failed(id).await?;
            start(ctx, &request, Mode::Table).await
        }
        RunCmd::Resume { id } => {
            // Started by a process that hands this one the run (`--detach`,
            // an adopted orphan). A run that is over is opened again for
            // the hosts it lost: their runs' files stayed on them.
            let (reopened, driving) = ctx.app.resume_run(&ctx.actor, id).await?;
            if !reopened.is_empty() && !ctx.quiet {
                console::note(&format!(
                    "run {id}: reattaching to its lost hosts {}",
                    reopened.join(", ")
                ));
            }
            let snapshot = follow_with_progress(ctx, driving).await?;
            Ok(finish(ctx, &snapshot))
        }
    }
}

pub async fn host_check(ctx: &Context, names: &[String]) -> Result<RunOutput> {
    let checks = ctx
        .app
        .host_check(&ctx.actor, names, &ctx.identities)
        .await?;
    let success = checks.iter().all(|c| c.ok);
    if ctx.json {
        return Ok(RunOutput {
            text: json(&checks),
            success,
        });
    }
    let mut table = Table::new(&["HOST", "OK", "KEY", "RESULT"]);
    for c in checks {
        let key = match (c.fingerprint, c.pinned_now) {
            (Some(fp), true) => format!("{fp} (pinned now)"),
            (Some(fp), false) => fp,
            (None, _) => "-".into(),
        };
        table.row(vec![
            c.host,
            if c.ok { "yes".into() } else { "no".into() },
            key,
            c.message,
        ]);
    }
    Ok(RunOutput {
        text: table.render(),
        success,
    })
}
