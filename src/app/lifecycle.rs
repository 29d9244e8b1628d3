//! A run's lifecycle, owned by the app for every front end: starting a run
//! (driven here or by a detached `drover run resume`), the one cancel path,
//! the one adoption path for runs whose controller is gone, resuming, and
//! the supervisor that holds the driver tasks of this process until
//! [`App::shutdown`].
//!
//! Two ways to drive a run, chosen by the caller's lifetime:
//! - here, as a supervised task of this process (the bot, the web server,
//!   a CLI command that follows the run to its end);
//! - in a detached background process to which this process hands the
//!   run's lease (`--detach`, and orphans found by short CLI queries).

use std::collections::HashMap;
use std::sync::Mutex;
use std::time::Duration;

use tokio::sync::oneshot;

use super::App;
use crate::domain::Actor;
use crate::engine::{Handover, Orphaned, RunEvent, RunPlan};
use crate::error::{Error, Result};
use crate::state::RunState;

/// How long a cancel waits for another process to end the run.
const CANCEL_WAIT: Duration = Duration::from_secs(60);
const CANCEL_POLL: Duration = Duration::from_millis(250);

/// Where the runs a process adopts are driven.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Adoption {
    /// In this process (long-lived processes: the bot, the web server).
    DriveHere,
    /// In a detached `drover run resume` (short-lived CLI queries).
    Detach,
}

/// A run whose controller was gone, now driven again.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Adopted {
    pub run_id: i64,
    pub orphaned: Orphaned,
    /// The background process driving it; `None`: this process.
    pub driver_pid: Option<u32>,
}

/// Whether a cancel returns once requested or once the run has ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum CancelWait {
    /// Return once the request is stored (a driver carries it out).
    Requested,
    /// Return the run's final state (bounded when another process drives it).
    Ended,
}

/// A run driven by this process: its id, and its final state once the
/// driver is done.
pub struct Driving {
    pub run_id: i64,
    done: oneshot::Receiver<Result<RunState>>,
}

impl Driving {
    /// The run's final state, once its driver has finished.
    pub async fn finished(self) -> Result<RunState> {
        self.done.await.map_err(|_| {
            Error::Refused(format!(
                "the run driver of run {} stopped before the run ended",
                self.run_id
            ))
        })?
    }
}

/// The driver tasks of this process, by task, with the run each drives.
#[derive(Default)]
pub(super) struct Supervisor {
    next: std::sync::atomic::AtomicU64,
    tasks: Mutex<HashMap<u64, (i64, tokio::task::JoinHandle<()>)>>,
}

impl Supervisor {
    fn lock(&self) -> std::sync::MutexGuard<'_, HashMap<u64, (i64, tokio::task::JoinHandle<()>)>> {
        self.tasks.lock().unwrap_or_else(|p| p.into_inner())
    }
}

/// What a background driver needs besides the configuration: the key files
/// and the configuration file this process was given.
#[derive(Debug, Clone, Default)]
pub struct Launcher {
    /// Key files given with `-i`, tried before `ssh.identity_files`.
    pub identities: Vec<std::path::PathBuf>,
    /// The configuration file given with `--config`.
    pub config_path: Option<std::path::PathBuf>,
}

impl App {
    /// Run events as they happen (lossy for slow readers: a lagged receiver
    /// reads the snapshot again).
    pub fn subscribe_runs(&self) -> tokio::sync::broadcast::Receiver<RunEvent> {
        self.engine().subscribe()
    }

    /// Creates the run of `plan` and drives it in this process.
    pub async fn start_run(&self, actor: &Actor, plan: &RunPlan) -> Result<Driving> {
        let run_id = self.engine().create(actor, plan, true).await?;
        Ok(self.drive_here(run_id, None))
    }

    /// Creates the run of `plan` and hands it to a detached background
    /// drover; returns the run's id.
    pub async fn start_run_detached(&self, actor: &Actor, plan: &RunPlan) -> Result<i64> {
        let engine = self.engine();
        let run_id = engine.create(actor, plan, true).await?;
        self.drive_in_background(&engine.own_run(run_id)).await?;
        Ok(run_id)
    }

    /// The one cancel path: the request is stored (and audited); if this
    /// process drives the run, its driver carries it out; if the run's
    /// controller is gone, this process adopts it and drives it to the end,
    /// cancelling every host; else the process that drives it does, and
    /// with [`CancelWait::Ended`] this waits (bounded) for it.
    pub async fn cancel_run(
        &self,
        actor: &Actor,
        run_id: i64,
        wait: CancelWait,
    ) -> Result<RunState> {
        self.store.request_cancel(actor, run_id).await?;
        let engine = self.engine();
        if !engine.is_driving(run_id) {
            if let Some(handover) = engine.claim_orphan(run_id).await? {
                let driving = self.drive_here(handover.run_id, None);
                if wait == CancelWait::Ended {
                    return driving.finished().await;
                }
            }
        }
        match wait {
            CancelWait::Requested => Ok(RunState::Running),
            CancelWait::Ended => self.wait_for_end(run_id).await,
        }
    }

    /// The run's state once it is over, or after [`CANCEL_WAIT`].
    async fn wait_for_end(&self, run_id: i64) -> Result<RunState> {
        let deadline = tokio::time::Instant::now() + CANCEL_WAIT;
        loop {
            let state = self.store.run_state(run_id).await?;
            if state != RunState::Running || tokio::time::Instant::now() >= deadline {
                return Ok(state);
            }
            tokio::time::sleep(CANCEL_POLL).await;
        }
    }

    /// The one adoption path: finds the runs whose controller is gone,
    /// claims each (at most one adopter per run, whichever process asks)
    /// and drives it as `mode` says.
    pub async fn adopt_orphans(&self, mode: Adoption) -> Result<Vec<Adopted>> {
        let engine = self.engine();
        let mut adopted = Vec::new();
        for run_id in engine.orphaned_runs().await? {
            let Some(handover) = engine.claim_orphan(run_id).await? else {
                continue;
            };
            let driver_pid = match mode {
                Adoption::DriveHere => {
                    self.drive_here(run_id, None);
                    None
                }
                Adoption::Detach => Some(self.drive_in_background(&handover).await?),
            };
            adopted.push(Adopted {
                run_id,
                orphaned: handover.orphaned.unwrap_or(Orphaned::ControllerDied),
                driver_pid,
            });
        }
        Ok(adopted)
    }

    /// `run resume`: takes the run from the process that started this one
    /// (waiting for the lease to arrive), opens it again for the hosts it
    /// lost (their runs' files stayed on them) and drives it here; the
    /// resume is audited with its outcome when the driver ends. Returns the
    /// hosts reopened.
    pub async fn resume_run(&self, actor: &Actor, run_id: i64) -> Result<(Vec<String>, Driving)> {
        let engine = self.engine();
        engine.await_handover(run_id).await?;
        let reopened = engine.reopen_lost(actor, run_id).await?;
        Ok((reopened, self.drive_here(run_id, Some(actor.clone()))))
    }

    /// Drives `run_id` as a supervised task of this process. With
    /// `resumed_by`, the end is audited as that actor's `run.resume`.
    fn drive_here(&self, run_id: i64, resumed_by: Option<Actor>) -> Driving {
        let (done_tx, done) = oneshot::channel();
        let app = self.clone();
        let supervisor = self.supervisor.clone();
        let task = supervisor
            .next
            .fetch_add(1, std::sync::atomic::Ordering::Relaxed);
        // Locked across the spawn: the task's own removal waits for its
        // insertion.
        let mut tasks = supervisor.lock();
        let handle = tokio::spawn(async move {
            let mut driven = app.engine().drive(run_id).await;
            if let Err(e) = &driven {
                tracing::warn!(run_id, error = %e, "the run driver stopped");
            }
            if let Some(actor) = resumed_by {
                let outcome = match &driven {
                    Ok(_) => "ok".to_string(),
                    Err(e) => format!("error: {e}"),
                };
                let audited = app
                    .store
                    .audit(&actor, "run.resume", &run_id.to_string(), "", &outcome)
                    .await;
                if let Err(e) = audited {
                    driven = Err(e);
                }
            }
            // Nobody may wait for it (a run adopted by the bot).
            let _ = done_tx.send(driven);
            app.supervisor.lock().remove(&task);
            // The run's sessions and buffers are free: give them back.
            crate::memory::release_freed_heap();
        });
        tasks.insert(task, (run_id, handle));
        Driving { run_id, done }
    }

    /// Stops driving: every driver task of this process ends and its run's
    /// lease is released, so that the next drover (or this one restarted)
    /// takes the run over at once. The remote runs go on.
    pub async fn shutdown(&self) {
        let tasks: Vec<(i64, tokio::task::JoinHandle<()>)> = self
            .supervisor
            .lock()
            .drain()
            .map(|(_, task)| task)
            .collect();
        for (run_id, handle) in tasks {
            handle.abort();
            // Ended (aborted or finished): its lease is not renewed any more.
            let _ = handle.await;
            if let Err(e) = self.engine().release(run_id).await {
                tracing::warn!(run_id, error = %e, "cannot release the run's lease; it expires by itself");
            }
        }
    }

    /// Starts `drover run resume ID` as a detached background process and
    /// hands it the run's lease, which this process holds; returns its pid.
    async fn drive_in_background(&self, handover: &Handover) -> Result<u32> {
        let engine = self.engine();
        let pid = match self.spawn_background_driver(handover.run_id) {
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

    /// Starts `drover run resume ID` as a detached background process
    /// (same database, configuration and key files); returns its pid.
    fn spawn_background_driver(&self, run_id: i64) -> Result<u32> {
        let exe = std::env::current_exe()
            .map_err(|e| Error::io("cannot find the drover executable", e))?;
        let log_path = self
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
        if let Some(path) = self.store.path() {
            command.env("DROVER_DATABASE_URL", path);
        }
        if let Some(config) = &self.launcher.config_path {
            command.env("DROVER_CONFIG", config);
        }
        command.args(["run", "resume", &run_id.to_string(), "--quiet"]);
        for identity in &self.launcher.identities {
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
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn a_driving_whose_driver_is_gone_says_so() {
        let (tx, done) = oneshot::channel();
        drop(tx);
        let err = Driving { run_id: 7, done }
            .finished()
            .await
            .expect_err("no final state");
        assert!(err.to_string().contains("run 7"), "{err}");
    }
}
