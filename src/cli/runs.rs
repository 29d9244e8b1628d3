//! Handlers of `task run`, `run ...`, `host trust|check` and `log fetch`:
//! live progress in a terminal, plain lines otherwise, final tables.

use std::io::IsTerminal;
use std::time::Duration;

use super::console;
use super::live::{LiveView, PlainLines};
use super::{Context, RunCmd};
use crate::engine::{Engine, Handover, Orphaned, RunRequest};
use crate::error::{Error, Result};
use crate::ops::RunOverrides;
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
            h.state.clone(),
            h.step
                .map_or_else(|| "-".into(), |st| format!("{st}/{}", h.steps)),
            h.script.clone().unwrap_or_else(|| "-".into()),
            h.exit_code.map_or_else(|| "-".into(), |c| c.to_string()),
            elapsed(h.elapsed_ms),
            h.reason.clone().unwrap_or_default(),
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

/// Drives a run in this process, showing progress, and returns the final
/// snapshot.
async fn drive_with_progress(engine: &Engine, run_id: i64, quiet: bool) -> Result<RunSnapshot> {
    let mut events = engine.subscribe();
    let mut driver = {
        let engine = engine.clone();
        tokio::spawn(async move { engine.drive(run_id).await })
    };
    let terminal = std::io::stderr().is_terminal() && !quiet;
    let mut view = terminal.then(LiveView::new);
    let mut plain = PlainLines::default();
    let store = engine.store().clone();
    let interrupt = tokio::signal::ctrl_c();
    tokio::pin!(interrupt);
    let mut refresh = tokio::time::interval(Duration::from_millis(500));
    let mut interrupted = false;
    // Ends the moment the driver does (not at the next refresh tick).
    let driven = loop {
        tokio::select! {
            driven = &mut driver => break driven,
            event = events.recv() => {
                if let Some(line) = event.ok().filter(|_| view.is_none() && !quiet)
                    .and_then(|event| plain.line(&event)) {
                    console::note(&line);
                }
            }
            _ = refresh.tick() => {
                if let Some(view) = &mut view {
                    // The view waits out a busy database; the run goes on.
                    match store.run_snapshot(run_id).await {
                        Ok(snapshot) => view.update(&snapshot),
                        Err(e) => tracing::debug!(error = %e, "cannot refresh the progress view"),
                    }
                }
            }
            _ = &mut interrupt, if !interrupted => {
                interrupted = true;
                console::note(&format!("interrupted: cancelling run {run_id} on every host..."));
                store.request_cancel(&crate::domain::Actor::current_os_user(), run_id).await?;
            }
        }
    };
    driven.map_err(|e| Error::Refused(format!("the run driver stopped: {e}")))??;
    let snapshot = store.run_snapshot(run_id).await?;
    if let Some(mut view) = view {
        view.update(&snapshot);
        view.finish();
    }
    Ok(snapshot)
}

fn finish(ctx: &Context, snapshot: &RunSnapshot) -> RunOutput {
    RunOutput {
        text: if ctx.json {
            json(snapshot)
        } else {
            render_snapshot(snapshot)
        },
        success: snapshot.state == RunState::Succeeded,
    }
}

/// Starts `drover run resume ID` as a detached background process and
/// hands it the run's lease, which this process holds; returns its pid.
async fn hand_to_background_driver(
    ctx: &Context,
    engine: &Engine,
    handover: &Handover,
) -> Result<u32> {
    let pid = match spawn_background_driver(ctx, handover.run_id) {
        Ok(pid) => pid,
        Err(e) => {
            engine.withdraw(handover).await?;
            return Err(e);
        }
    };
    if !engine.hand_over(handover, pid).await? {
        tracing::warn!(
            run_id = handover.run_id,
            pid,
            "the run changed hands before its lease could be handed to the background drover"
        );
    }
    Ok(pid)
}

/// Starts `drover run resume ID` as a detached background process; returns
/// its pid.
fn spawn_background_driver(ctx: &Context, run_id: i64) -> Result<u32> {
    let exe =
        std::env::current_exe().map_err(|e| Error::io("cannot find the drover executable", e))?;
    let log_path = ctx
        .drover
        .log_root()
        .join(run_id.to_string())
        .join("controller.log");
    // Appended to: a driver started later for the same run (a takeover)
    // keeps what the earlier one wrote.
    let log = crate::engine::logs::append_private_file(&log_path)
        .map_err(|e| Error::io(format!("cannot create {}", log_path.display()), e))?;
    let err = log
        .try_clone()
        .map_err(|e| Error::io("cannot create the controller log", e))?;
    let mut command = std::process::Command::new(exe);
    if let Some(path) = ctx.drover.store.path() {
        command.env("DROVER_DATABASE_URL", path);
    }
    if let Some(config) = &ctx.config_path {
        command.env("DROVER_CONFIG", config);
    }
    command.args(["run", "resume", &run_id.to_string(), "--quiet"]);
    for identity in &ctx.identities {
        command.arg("-i").arg(identity);
    }
    use std::os::unix::process::CommandExt;
    let driver = command
        .stdin(std::process::Stdio::null())
        .stdout(log)
        .stderr(err)
        .process_group(0)
        .spawn()
        .map_err(|e| Error::io("cannot start the background drover", e))?;
    Ok(driver.id())
}

/// Hands each run whose controller is gone to a background driver, unless
/// another process claimed it first, and says so on standard error.
pub async fn adopt_orphans(ctx: &Context) -> Result<()> {
    let engine = ctx.drover.engine(&[]);
    for run_id in engine.orphaned_runs().await? {
        let Some(handover) = engine.claim_orphan(run_id).await? else {
            continue;
        };
        let pid = hand_to_background_driver(ctx, &engine, &handover).await?;
        let what = match handover.orphaned {
            Some(Orphaned::LeaseExpired) => {
                format!("run {run_id}'s controller stopped renewing its lease")
            }
            Some(Orphaned::NoController) => format!("run {run_id} had no controller"),
            Some(Orphaned::ControllerDied) | None => format!("run {run_id}'s controller died"),
        };
        console::note(&format!("{what}; resumed by pid {pid}"));
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
    overrides: RunOverrides,
    mode: Mode,
) -> Result<RunOutput> {
    let request: RunRequest = ctx.drover.plan_run(first, second, overrides).await?;
    start(ctx, &request, mode).await
}

async fn start(ctx: &Context, request: &RunRequest, mode: Mode) -> Result<RunOutput> {
    let engine = ctx.drover.engine(&ctx.identities);
    let run_id = engine.create(&ctx.actor, request, true).await?;
    if mode == Mode::Detach {
        hand_to_background_driver(ctx, &engine, &engine.own_run(run_id)).await?;
        return Ok(RunOutput {
            text: if ctx.json {
                json(&serde_json::json!({ "id": run_id }))
            } else {
                run_id.to_string()
            },
            success: true,
        });
    }
    let snapshot = drive_with_progress(&engine, run_id, ctx.quiet).await?;
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
        ctx.drover
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
            let runs = ctx.drover.store.list_runs(limit).await?;
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
                    r.state,
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
            let snapshot = ctx.drover.store.run_snapshot(id).await?;
            // A query: it worked whatever state the run is in.
            Ok(RunOutput {
                success: true,
                ..finish(ctx, &snapshot)
            })
        }
        RunCmd::Logs { id, host, script } => {
            adopt_orphans(ctx).await?;
            let snapshot = ctx
                .drover
                .log_selection(id, host.as_deref(), script.as_deref())
                .await?;
            print_logs(ctx, &snapshot, host.as_deref(), script.as_deref())?;
            ok(String::new())
        }
        RunCmd::Cancel { id } => {
            let engine = ctx.drover.engine(&ctx.identities);
            engine.cancel(&ctx.actor, id).await?;
            // Done as asked: the exit code says the cancel worked, not how
            // the hosts ended.
            Ok(RunOutput {
                success: true,
                ..finish(ctx, &ctx.drover.store.run_snapshot(id).await?)
            })
        }
        RunCmd::Rerun { id, failed } => {
            if !failed {
                return Err(Error::Refused(
                    "give --failed: rerun runs the failed hosts of a run again".into(),
                ));
            }
            let request = ctx.drover.plan_rerun_failed(id).await?;
            start(ctx, &request, Mode::Table).await
        }
        RunCmd::Resume { id } => {
            let engine = ctx.drover.engine(&ctx.identities);
            // Started by a process that hands this one the run (`--detach`,
            // an adopted orphan): wait for the lease to arrive.
            engine.await_handover(id).await?;
            // A run that is over is opened again for the hosts it lost:
            // their runs' files stayed on them.
            let reopened = engine.reopen_lost(&ctx.actor, id).await?;
            if !reopened.is_empty() && !ctx.quiet {
                console::note(&format!(
                    "run {id}: reattaching to its lost hosts {}",
                    reopened.join(", ")
                ));
            }
            let driven = drive_with_progress(&engine, id, ctx.quiet).await;
            let outcome = match &driven {
                Ok(_) => "ok".to_string(),
                Err(e) => format!("error: {e}"),
            };
            ctx.drover
                .store
                .audit(&ctx.actor, "run.resume", &id.to_string(), "", &outcome)
                .await?;
            Ok(finish(ctx, &driven?))
        }
    }
}

pub async fn host_check(ctx: &Context, names: &[String]) -> Result<RunOutput> {
    let checks = ctx
        .drover
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
