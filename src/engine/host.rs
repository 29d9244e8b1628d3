//! One host's part of a run: connect, launch (or reattach to) the remote
//! runner, stream and parse its output into step logs and state updates,
//! cancel on request.

use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

use tokio::sync::{mpsc, watch};

use super::host_keys::RunKeys;
use super::logs::{step_log_path, StepLog, StepLogSummary};
use super::remote::{self, LaunchSpec, MarkerParser, RemoteEvent, RemoteStep, StepEnd};
use super::Update;
use crate::domain::now_ms;
use crate::ssh::{ConnectError, Connection, ExecEvent, SshSettings, Target};
use crate::state::HostState;
use crate::store::runs::{FailedStep, RunHost, RunRecord};

/// Everything a host job needs; shared parts are behind `Arc`.
pub struct HostJob {
    pub run_id: i64,
    pub host: RunHost,
    /// The key the run verifies the host against (`None`: not known yet).
    pub pinned_key: Option<String>,
    pub keys: RunKeys,
    pub steps: Arc<Vec<RemoteStep>>,
    pub env: Arc<crate::run_env::EnvVars>,
    pub nonce: String,
    pub continue_on_error: bool,
    pub settings: Arc<SshSettings>,
    pub log_root: PathBuf,
    pub updates: mpsc::UnboundedSender<Update>,
    pub cancel: watch::Receiver<bool>,
}

/// How many times a dropped connection is re-established before the host
/// is declared lost.
const REATTACH_ATTEMPTS: u32 = 2;

/// Largest stderr kept from the bootstrap (error messages).
const STDERR_CAP: usize = 2048;

/// Progress of a host through its steps, as parsed.
struct Progress {
    current: Option<(u32, StepLog)>,
    step_started_at: i64,
    first_failure: Option<HostState>,
    done: bool,
    sudo_refused: bool,
    last_step: Option<u32>,
}

impl HostJob {
    fn target(&self) -> Target {
        Target {
            name: self.host.name.clone(),
            address: self.host.address.clone(),
            port: self.host.port,
            user: self.host.user.clone(),
            pinned_key: self.pinned_key.clone(),
        }
    }

    /// Waits until every update sent so far is in the store; false if the
    /// coordinator is gone (the run is being torn down).
    async fn stored(&self) -> bool {
        let (reply, stored) = tokio::sync::oneshot::channel();
        self.updates.send(Update::Stored(reply)).is_ok() && stored.await.is_ok()
    }

    fn send(&self, update: Update) {
        // The coordinator outlives every host job; a send can only fail while
        // the whole run is being torn down.
        let _ = self.updates.send(update);
    }

    fn set_state(&self, state: HostState, remote_dir: Option<String>) {
        self.send(Update::Record(RunRecord::Host {
            run_host_id: self.host.id,
            state,
            at: now_ms(),
            remote_dir,
        }));
    }

    fn launch_spec(&self, remote_dir: &str) -> LaunchSpec {
        LaunchSpec {
            run_id: self.run_id,
            host_name: self.host.name.clone(),
            remote_dir: remote_dir.to_string(),
            nonce: self.nonce.clone(),
            steps: self.steps.as_ref().clone(),
            env: self.env.as_ref().clone(),
            continue_on_error: self.continue_on_error,
            use_sudo: self.host.use_sudo,
        }
    }

    /// Runs the host to a final state and reports it.
    pub async fn run(mut self) -> HostState {
        let remote_dir = self
            .host
            .remote_dir
            .clone()
            .unwrap_or_else(|| remote::remote_dir(self.run_id, &self.nonce, &self.host.name));
        if *self.cancel.borrow() && self.host.remote_dir.is_none() {
            return self.finish(HostState::Cancelled { step: None });
        }
        self.set_state(HostState::Connecting, Some(remote_dir.clone()));
        let mut progress = Progress {
            current: None,
            step_started_at: now_ms(),
            first_failure: self.host.first_failed_step.as_ref().map(failure_of),
            done: false,
            sudo_refused: false,
            last_step: self
                .host
                .open_step
                .or(Some(self.host.finished_steps).filter(|s| *s > 0)),
        };
        let mut offset = self.host.resume_offset;
        if let Some(step) = self.host.open_step {
            progress.current = self.resume_step_log(step);
        }
        let mut attempts = 0;
        let mut held = Vec::new();
        loop {
            let connected = self
                .keys
                .connect(&self.target(), self.host.id, self.settings.clone())
                .await;
            let conn = match connected {
                Ok(conn) => conn,
                Err(e) if attempts == 0 && self.host.remote_dir.is_none() => {
                    return self.finish(HostState::Unreachable {
                        reason: unreachable_reason(&e),
                    });
                }
                Err(e) => {
                    attempts += 1;
                    // A refused key stays refused: no point connecting again.
                    if attempts > REATTACH_ATTEMPTS || e.is_host_key() {
                        let step = progress.last_step;
                        self.close_lost_step(&mut progress, &held);
                        return self.finish(HostState::Lost {
                            step,
                            reason: format!("cannot reconnect: {e}"),
                        });
                    }
                    tokio::time::sleep(Duration::from_secs(1)).await;
                    continue;
                }
            };
            if let Some(key) = conn.learned_key.clone() {
                // Recorded with the run: later connections expect it.
                self.pinned_key = Some(key);
            }
            self.host.remote_dir = Some(remote_dir.clone());
            if let Some((step, _)) = &progress.current {
                // Reattached inside a step whose start marker was read before.
                self.set_state(HostState::Running { step: *step }, None);
            }
            let outcome = self.stream(&conn, &remote_dir, offset, &mut progress).await;
            match outcome {
                StreamEnd::Finished(state) => {
                    conn.close().await;
                    return self.finish(state);
                }
                StreamEnd::Dropped {
                    offset: at,
                    held: kept,
                } => {
                    conn.close().await;
                    // A connection that brought output was a working one:
                    // only drops in a row count towards giving up.
                    attempts = if at > offset { 1 } else { attempts + 1 };
                    offset = at;
                    if let Some(kept) = kept {
                        held = kept;
                    }
                    if attempts > REATTACH_ATTEMPTS {
                        let step = progress.last_step;
                        self.close_lost_step(&mut progress, &held);
                        return self.finish(HostState::Lost {
                            step,
                            reason: "connection lost and could not be re-established".into(),
                        });
                    }
                }
            }
        }
    }

    fn finish(&self, state: HostState) -> HostState {
        self.set_state(state.clone(), None);
        state
    }

    fn open_step_log(&self, step: u32) -> Option<(u32, StepLog)> {
        self.step_log(step, StepLog::create)
    }

    /// The log of the step an earlier controller was inside when it died.
    fn resume_step_log(&self, step: u32) -> Option<(u32, StepLog)> {
        self.step_log(step, StepLog::resume)
    }

    fn step_log(
        &self,
        step: u32,
        open: fn(&Path) -> std::io::Result<StepLog>,
    ) -> Option<(u32, StepLog)> {
        let path = step_log_path(&self.log_root, self.run_id, &self.host.name, step);
        match open(&path) {
            Ok(log) => Some((step, log)),
            Err(e) => {
                tracing::error!(host = %self.host.name, step, error = %e, "cannot create step log {}", path.display());
                None
            }
        }
    }

    /// Streams one attachment; returns how it ended.
    async fn stream(
        &mut self,
        conn: &Connection,
        remote_dir: &str,
        offset: u64,
        progress: &mut Progress,
    ) -> StreamEnd {
        // A run cancelled while no controller followed it (or while this
        // host was reconnecting) is stopped and collected, never launched.
        let cancel_first = *self.cancel.borrow();
        let script = if cancel_first {
            remote::cancel_and_collect(remote_dir, offset, self.steps.len(), self.host.use_sudo)
        } else {
            remote::launch_or_attach(&self.launch_spec(remote_dir), offset)
        };
        let mut exec = match conn.exec_open("sh -s", script.as_bytes()).await {
            Ok(exec) => exec,
            Err(_) => return StreamEnd::Dropped { offset, held: None },
        };
        let mut parser = MarkerParser::new(&self.nonce, offset);
        let mut events = Vec::new();
        let mut stderr = Vec::new();
        let mut exit = None;
        let mut cancelled = cancel_first;
        loop {
            tokio::select! {
                event = exec.next() => match event {
                    Some(ExecEvent::Stdout(data)) => {
                        parser.feed(&data, &mut events);
                        let was_done = progress.done;
                        self.handle(&mut events, progress);
                        if progress.done && !was_done {
                            // Everything is here. Once the host's final state
                            // is stored, the host may remove the run's files; a
                            // controller that dies before that finds them on
                            // takeover.
                            self.set_state(final_state(progress), None);
                            if self.stored().await {
                                let _ = exec.send(b"ok\n").await;
                                let _ = exec.close_stdin().await;
                            }
                        }
                    }
                    Some(ExecEvent::Stderr(data)) => {
                        let room = STDERR_CAP.saturating_sub(stderr.len());
                        stderr.extend_from_slice(&data[..data.len().min(room)]);
                    }
                    Some(ExecEvent::Exit(code)) => exit = Some(code),
                    Some(ExecEvent::Signal(_)) => exit = Some(255),
                    None => break,
                },
                changed = self.cancel.changed(), if !cancelled && !progress.done => {
                    if changed.is_ok() && *self.cancel.borrow() {
                        cancelled = true;
                        let cancel = remote::cancel_script(remote_dir, self.steps.len(), self.host.use_sudo);
                        let _ = conn.run("sh -s", cancel.as_bytes(), 1024).await;
                    }
                }
            }
        }
        if exit.is_none() && !cancelled && !progress.done {
            // Connection gone: whatever the parser holds back is re-read on reattach.
            return StreamEnd::Dropped {
                offset: parser.offset(),
                held: Some(parser.held().to_vec()),
            };
        }
        parser.finish(&mut events);
        self.handle(&mut events, progress);
        if !progress.done && (cancelled || *self.cancel.borrow()) {
            if !cancelled {
                let cancel =
                    remote::cancel_script(remote_dir, self.steps.len(), self.host.use_sudo);
                let _ = conn.run("sh -s", cancel.as_bytes(), 1024).await;
            }
            let step = progress.last_step;
            self.close_open_step(progress, "cancelled");
            return StreamEnd::Finished(HostState::Cancelled { step });
        }
        if progress.done {
            return StreamEnd::Finished(final_state(progress));
        }
        match exit {
            Some(code) if (90..=94).contains(&code) => {
                // The run's files are not there (or cannot be made): a step
                // an earlier controller was inside cannot be read again.
                self.close_open_step(progress, "lost");
                StreamEnd::Finished(HostState::Failed {
                    step: None,
                    exit_code: None,
                    reason: String::from_utf8_lossy(&stderr).trim().to_string(),
                })
            }
            Some(0) => {
                // The follower ended without the runner's done marker: the
                // runner died (killed, host rebooted) mid-step.
                let step = progress.last_step;
                self.close_open_step(progress, "lost");
                StreamEnd::Finished(HostState::Lost {
                    step,
                    reason: "the remote runner stopped without finishing".into(),
                })
            }
            code if progress.last_step.is_none() => StreamEnd::Finished(HostState::Failed {
                step: None,
                exit_code: None,
                reason: format!(
                    "the remote shell failed ({code:?}): {}",
                    String::from_utf8_lossy(&stderr).trim()
                ),
            }),
            code => StreamEnd::Finished(HostState::Lost {
                step: progress.last_step,
                reason: format!(
                    "remote follower exited with {code:?}: {}",
                    String::from_utf8_lossy(&stderr).trim()
                ),
            }),
        }
    }

    /// Closes the open step of a host given up as lost. A lone newline the
    /// parser held back is taken as the output's: the runner writes a
    /// marker's newline together with the rest of its line, so only a read
    /// that split exactly there (rare) would make it a spurious one. Anything
    /// longer is a cut marker.
    fn close_lost_step(&self, progress: &mut Progress, held: &[u8]) {
        if held == b"\n" {
            if let Some((step, log)) = progress.current.as_mut() {
                if let Err(e) = log.write(held) {
                    tracing::error!(host = %self.host.name, step = *step, error = %e, "cannot write step log");
                }
            }
        }
        self.close_open_step(progress, "lost");
    }

    /// Records the open step as ended without its end marker (`lost`,
    /// `cancelled`).
    fn close_open_step(&self, progress: &mut Progress, state: &'static str) {
        if let Some((step, log)) = progress.current.take() {
            self.record_step_end(step, log.abandon(), state, None, u64::MAX);
        }
    }

    fn end_step(
        &self,
        step: u32,
        log: StepLog,
        state: &'static str,
        exit_code: Option<i32>,
        end_offset: u64,
    ) {
        self.record_step_end(step, log.finish(), state, exit_code, end_offset);
    }

    fn record_step_end(
        &self,
        step: u32,
        summary: std::io::Result<StepLogSummary>,
        state: &'static str,
        exit_code: Option<i32>,
        end_offset: u64,
    ) {
        let (bytes, excerpt) = match summary {
            Ok(summary) => (summary.bytes, summary.excerpt),
            Err(e) => (0, format!("[drover: cannot write the step log: {e}]")),
        };
        self.send(Update::Record(RunRecord::StepEnd {
            run_host_id: self.host.id,
            step,
            state,
            exit_code,
            at: now_ms(),
            bytes,
            excerpt,
            end_offset: if end_offset == u64::MAX {
                0
            } else {
                end_offset
            },
        }));
    }

    fn handle(&self, events: &mut Vec<RemoteEvent>, progress: &mut Progress) {
        for event in events.drain(..) {
            match event {
                RemoteEvent::Output(data) => {
                    if let Some((_, log)) = progress.current.as_mut() {
                        if let Err(e) = log.write(&data) {
                            tracing::error!(host = %self.host.name, error = %e, "cannot write step log");
                        }
                    }
                }
                RemoteEvent::Start { step, offset, .. } => {
                    self.close_open_step(progress, "lost");
                    progress.step_started_at = now_ms();
                    progress.last_step = Some(step);
                    self.send(Update::Record(RunRecord::StepStart {
                        run_host_id: self.host.id,
                        step,
                        at: progress.step_started_at,
                        offset,
                    }));
                    self.set_state(HostState::Running { step }, None);
                    progress.current = self.open_step_log(step);
                }
                RemoteEvent::End {
                    step, end, offset, ..
                } => {
                    let (state, exit_code) = match end {
                        StepEnd::Exit(0) => ("succeeded", Some(0)),
                        StepEnd::Exit(code) => ("failed", Some(code)),
                        StepEnd::TimedOut => ("timed_out", None),
                    };
                    if progress.first_failure.is_none() && end != StepEnd::Exit(0) {
                        progress.first_failure = Some(failure_of(&FailedStep { step, exit_code }));
                    }
                    if let Some((open, log)) = progress.current.take() {
                        if open == step {
                            self.end_step(step, log, state, exit_code, offset);
                        } else {
                            progress.current = Some((open, log));
                        }
                    }
                }
                RemoteEvent::SudoRefused => progress.sudo_refused = true,
                RemoteEvent::Done => progress.done = true,
            }
        }
    }
}

enum StreamEnd {
    Finished(HostState),
    /// The connection dropped; output up to `offset` was collected. `held`
    /// are the bytes after it that the parser kept back (a possible marker
    /// start; `None` when nothing was read); a reattach reads them again.
    Dropped {
        offset: u64,
        held: Option<Vec<u8>>,
    },
}

fn final_state(progress: &Progress) -> HostState {
    if progress.sudo_refused {
        return HostState::Failed {
            step: None,
            exit_code: None,
            reason:
                "sudo -n requires a password on this host; allow the commands in sudoers (NOPASSWD)"
                    .into(),
        };
    }
    progress
        .first_failure
        .clone()
        .unwrap_or(HostState::Succeeded)
}

/// The host state a failed step leads to.
fn failure_of(failed: &FailedStep) -> HostState {
    match failed.exit_code {
        Some(code) => HostState::Failed {
            step: Some(failed.step),
            exit_code: Some(code),
            reason: exit_reason(code),
        },
        None => HostState::TimedOut { step: failed.step },
    }
}

fn exit_reason(code: i32) -> String {
    if (129..=192).contains(&code) {
        format!("exit code {code} (killed by signal {})", code - 128)
    } else {
        format!("exit code {code}")
    }
}

fn unreachable_reason(e: &ConnectError) -> String {
    format!("{}: {e}", e.code())
}
