//! One host's part of a run: connect, launch (or reattach to) the remote
//! runner, stream and parse its output into step logs and state updates,
//! cancel on request, and let the host remove the run's files only once
//! everything it printed is in the logs (synced to disk) and its final state
//! is durably stored.
//!
//! Every wait here has an end: the follower says when it has printed all it
//! will print (its end-of-output line), a settled host gives the remote
//! session [`SESSION_END_GRACE`] to end, and remote calls besides the
//! follower (cancel, cleanup) are bounded by [`REMOTE_CALL_TIMEOUT`].

use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

use tokio::sync::{mpsc, watch};
use tokio::time::Instant;

use super::host_keys::RunKeys;
use super::logs::{self, step_log_path, StepLog, StepLogSummary};
use super::remote::{self, LaunchSpec, MarkerParser, RemoteEvent, RemoteStep, StepEnd};
use super::ToCoordinator;
use crate::domain::now_ms;
use crate::ssh::{ConnectError, Connection, Exec, ExecEvent, Route, SshSettings, Target};
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
    pub updates: mpsc::UnboundedSender<ToCoordinator>,
    pub cancel: watch::Receiver<bool>,
}

/// How many times a dropped connection is re-established before the host
/// is declared lost.
const REATTACH_ATTEMPTS: u32 = 2;

/// Largest stderr kept from the bootstrap (error messages).
const STDERR_CAP: usize = 2048;

/// How long the remote session may take to end once the host's outcome is
/// settled (acknowledged, or its processes stopped by a cancel).
const SESSION_END_GRACE: Duration = Duration::from_secs(10);

/// Longest a remote call besides the follower (cancel, cleanup, closing the
/// connection) may take.
const REMOTE_CALL_TIMEOUT: Duration = Duration::from_secs(15);

/// Progress of a host through its steps, as parsed.
struct Progress {
    current: Option<(u32, StepLog)>,
    step_started_at: i64,
    first_failure: Option<HostState>,
    done: bool,
    sudo_refused: bool,
    last_step: Option<u32>,
    /// Why the output could not be kept (a step log that could not be
    /// written): nothing more is recorded, and the host keeps its files.
    write_error: Option<String>,
    /// The follower's end-of-output line arrived; whether the runner had
    /// finished by then.
    end_of_output: Option<bool>,
}

/// What a session settled for its host.
struct Settled {
    state: HostState,
    /// The host was told `ok` and removes the run's files.
    acknowledged: bool,
    /// Stop reading at once (the output can no longer be kept).
    abandon: bool,
}

impl HostJob {
    /// How the host is reached: the route recorded with the run (its key
    /// the run's), else directly at the recorded address.
    fn route(&self) -> Result<Route, ConnectError> {
        let mut route = match &self.host.route {
            Some(json) => serde_json::from_str::<Route>(json).map_err(|e| {
                ConnectError::Route(format!(
                    "the run's record of how to reach the host cannot be read: {e}"
                ))
            })?,
            None => Route::direct(Target {
                name: self.host.name.clone(),
                address: self.host.address.clone(),
                port: self.host.port,
                user: self.host.user.clone(),
                pinned_key: None,
                inventory: Some((self.host.address.clone(), self.host.port)),
                options: Default::default(),
            }),
        };
        route.target.pinned_key = self.pinned_key.clone();
        Ok(route)
    }

    /// Waits until every update sent so far is in the store; false if the
    /// coordinator is gone (the run is being torn down).
    async fn stored(&self) -> bool {
        let (reply, stored) = tokio::sync::oneshot::channel();
        self.updates.send(ToCoordinator::Stored(reply)).is_ok() && stored.await.is_ok()
    }

    fn send(&self, update: ToCoordinator) {
        // The coordinator outlives every host job; a send can only fail while
        // the whole run is being torn down.
        let _ = self.updates.send(update);
    }

    fn set_state(&self, state: HostState, remote_dir: Option<String>) {
        self.send(ToCoordinator::Record(RunRecord::Host {
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
            write_error: None,
            end_of_output: None,
        };
        let mut offset = self.host.resume_offset;
        if let Some(step) = self.host.open_step {
            match self.step_log(step, StepLog::resume) {
                Ok(log) => progress.current = Some((step, log)),
                Err(reason) => {
                    return self.finish(HostState::Lost {
                        step: Some(step),
                        reason,
                    })
                }
            }
        }
        let mut attempts = 0;
        let mut held = Vec::new();
        loop {
            let conn = match self.connect().await {
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
            if self.host.remote_dir.is_none() && !self.stored().await {
                // A first launch waits until the host is recorded as
                // launched (stored while it connected): a takeover then never
                // takes a launched host for one that never started.
                return HostState::Connecting;
            }
            self.host.remote_dir = Some(remote_dir.clone());
            if let Some((step, _)) = &progress.current {
                // Reattached inside a step whose start marker was read before.
                self.set_state(HostState::Running { step: *step }, None);
            }
            let outcome = self.stream(&conn, &remote_dir, offset, &mut progress).await;
            close(conn).await;
            match outcome {
                StreamEnd::Finished(state) => return self.finish(state),
                StreamEnd::Dropped {
                    offset: at,
                    held: kept,
                } => {
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

    /// Removes the run's files from a host whose final state is stored but
    /// whose removal was never confirmed (its controller died between
    /// storing the state and the acknowledgement).
    pub async fn remove_left_files(self) {
        let Some(remote_dir) = self.host.remote_dir.clone() else {
            return;
        };
        match self.connect().await {
            Ok(conn) => {
                self.remove_files(&conn, &remote_dir).await;
                close(conn).await;
            }
            Err(e) => {
                tracing::warn!(host = %self.host.name, error = %e, "cannot connect to remove the run's files");
            }
        }
    }

    /// Connects with the key the run verifies the host against.
    async fn connect(&self) -> Result<Connection, ConnectError> {
        self.keys
            .connect(&self.route()?, self.host.id, self.settings.clone())
            .await
    }

    /// Removes the run's files on the host by a call of their own, and
    /// records it.
    async fn remove_files(&self, conn: &Connection, remote_dir: &str) {
        let script = remote::remove_run_files(remote_dir, self.steps.len());
        let removed = tokio::time::timeout(
            REMOTE_CALL_TIMEOUT,
            conn.run("sh -s", script.as_bytes(), 1024),
        )
        .await;
        if matches!(removed, Ok(Ok(ref out)) if out.exit == Some(0)) {
            self.record_files_removed();
        } else {
            tracing::warn!(host = %self.host.name, "could not remove the run's files");
        }
    }

    fn record_files_removed(&self) {
        self.send(ToCoordinator::Record(RunRecord::FilesRemoved {
            run_host_id: self.host.id,
        }));
    }

    fn step_log(
        &self,
        step: u32,
        open: fn(&Path) -> std::io::Result<StepLog>,
    ) -> Result<StepLog, String> {
        let path = step_log_path(&self.log_root, self.run_id, &self.host.name, step);
        open(&path).map_err(|e| self.log_failure(step, &path, &e))
    }

    /// Why a host's output could not be kept, as its reason says it (the
    /// path goes to the diagnostics).
    fn log_failure(&self, step: u32, path: &Path, error: &std::io::Error) -> String {
        tracing::error!(host = %self.host.name, step, error = %error, "cannot write the step log {}", path.display());
        format!(
            "cannot write the log of step {step}: {error}; the host keeps the output for `drover run resume {}`",
            self.run_id
        )
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
            remote::cancel_and_collect(
                remote_dir,
                &self.nonce,
                offset,
                self.steps.len(),
                self.host.use_sudo,
            )
        } else if progress.last_step.is_some() || offset > 0 {
            // Its output was read before: a host that lost the run's files
            // must not run the scripts a second time.
            remote::attach(&self.launch_spec(remote_dir), offset)
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
        let mut settled: Option<Settled> = None;
        // Once set, the session has until then to end.
        let mut deadline =
            cancel_first.then(|| Instant::now() + REMOTE_CALL_TIMEOUT + SESSION_END_GRACE);
        let mut gave_up = false;
        loop {
            let expired = async {
                match deadline {
                    Some(at) => tokio::time::sleep_until(at).await,
                    None => std::future::pending().await,
                }
            };
            tokio::select! {
                event = exec.next() => match event {
                    Some(ExecEvent::Stdout(data)) => {
                        parser.feed(&data, &mut events);
                        self.handle(&mut events, progress);
                        if settled.is_none() {
                            settled = self.settle_if_over(&exec, progress, cancelled).await;
                            if settled.as_ref().is_some_and(|s| s.abandon) {
                                break;
                            }
                            if settled.is_some() {
                                deadline = Some(Instant::now() + SESSION_END_GRACE);
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
                changed = self.cancel.changed(), if !cancelled && settled.is_none() => {
                    if changed.is_ok() && *self.cancel.borrow() {
                        cancelled = true;
                        self.stop_remote(conn, remote_dir).await;
                        deadline = Some(Instant::now() + SESSION_END_GRACE);
                    }
                }
                _ = expired => {
                    gave_up = true;
                    break;
                }
            }
        }
        if let Some(settled) = settled {
            if settled.acknowledged && exit == Some(0) {
                self.record_files_removed();
            }
            return StreamEnd::Finished(settled.state);
        }
        if gave_up {
            let held = parser.held().to_vec();
            return StreamEnd::Finished(
                self.give_up_cancelled(conn, remote_dir, progress, &held)
                    .await,
            );
        }
        if exit.is_none() {
            // Connection gone: whatever the parser holds back is re-read on
            // reattach (a cancelled host is stopped and collected then).
            return StreamEnd::Dropped {
                offset: parser.offset(),
                held: Some(parser.held().to_vec()),
            };
        }
        // The follower ended without its end-of-output line: it failed, or
        // the run's files are not there.
        parser.finish(&mut events);
        self.handle(&mut events, progress);
        let stderr = String::from_utf8_lossy(&stderr).trim().to_string();
        self.unfinished_session(exit, &stderr, cancelled, progress)
    }

    /// Settles the host once its output is over: the runner's done marker,
    /// the follower's end-of-output line, or a step log that failed. Only
    /// output that is stored is acknowledged.
    async fn settle_if_over(
        &self,
        exec: &Exec,
        progress: &mut Progress,
        cancelled: bool,
    ) -> Option<Settled> {
        if let Some(reason) = progress.write_error.clone() {
            return Some(self.keep_files(exec, progress, reason, true).await);
        }
        if progress.done {
            let state = final_state(progress);
            return Some(self.settle(exec, progress, state).await);
        }
        let runner_done = progress.end_of_output?;
        if cancelled {
            let step = progress.last_step;
            self.close_open_step(progress, "cancelled");
            return Some(
                self.settle(exec, progress, HostState::Cancelled { step })
                    .await,
            );
        }
        self.close_open_step(progress, "lost");
        let reason = if runner_done {
            "the runner finished, but its output ends without its end marker (a full disk on the host, or its output file changed); the host keeps the run's files"
        } else {
            "the remote runner stopped without finishing"
        };
        Some(self.keep_files(exec, progress, reason.into(), false).await)
    }

    /// Makes the host's output durable, stores `state` and, once it is
    /// stored, tells the host to remove the run's files.
    async fn settle(&self, exec: &Exec, progress: &mut Progress, state: HostState) -> Settled {
        if let Some(reason) = progress.write_error.clone() {
            return self.keep_files(exec, progress, reason, true).await;
        }
        if let Err(reason) = self.sync_logs(progress.last_step).await {
            progress.write_error = Some(reason.clone());
            return self.keep_files(exec, progress, reason, true).await;
        }
        self.set_state(state.clone(), None);
        let acknowledged = self.stored().await && {
            test_ack_delay().await;
            bounded(exec.send(b"ok\n")).await
        };
        let _ = bounded(exec.close_stdin()).await;
        Settled {
            state,
            acknowledged,
            abandon: false,
        }
    }

    /// Ends the host without the acknowledgement: the run's files stay on
    /// the host for a later `run resume`.
    async fn keep_files(
        &self,
        exec: &Exec,
        progress: &Progress,
        reason: String,
        abandon: bool,
    ) -> Settled {
        let _ = bounded(exec.close_stdin()).await;
        Settled {
            state: HostState::Lost {
                step: progress.last_step,
                reason,
            },
            acknowledged: false,
            abandon,
        }
    }

    /// Flushes the host's step logs and their directory to disk.
    async fn sync_logs(&self, last_step: Option<u32>) -> Result<(), String> {
        let (root, run_id, host) = (self.log_root.clone(), self.run_id, self.host.name.clone());
        let steps = last_step.unwrap_or(0);
        let synced =
            tokio::task::spawn_blocking(move || logs::sync_host_logs(&root, run_id, &host, steps))
                .await;
        match synced {
            Ok(Ok(())) => Ok(()),
            Ok(Err((step, path, e))) => Err(self.log_failure(step, &path, &e)),
            Err(e) => Err(format!("cannot sync the step logs: {e}")),
        }
    }

    /// Stops the run's processes on the host (the follower then ends).
    async fn stop_remote(&self, conn: &Connection, remote_dir: &str) {
        let cancel = remote::cancel_script(remote_dir, self.host.use_sudo);
        let stopped = tokio::time::timeout(
            REMOTE_CALL_TIMEOUT,
            conn.run("sh -s", cancel.as_bytes(), 1024),
        )
        .await;
        if !matches!(stopped, Ok(Ok(_))) {
            tracing::warn!(host = %self.host.name, "the remote cancel did not complete");
        }
    }

    /// A cancelled host whose follower never ended: what arrived is kept,
    /// the cancelled state stored, and the run's files removed by a call of
    /// their own.
    async fn give_up_cancelled(
        &self,
        conn: &Connection,
        remote_dir: &str,
        progress: &mut Progress,
        held: &[u8],
    ) -> HostState {
        tracing::warn!(host = %self.host.name, "the host's output did not end after the cancel: stopped waiting");
        let step = progress.last_step;
        self.keep_held_newline(progress, held);
        self.close_open_step(progress, "cancelled");
        if let Some(reason) = progress.write_error.clone() {
            return HostState::Lost { step, reason };
        }
        if let Err(reason) = self.sync_logs(progress.last_step).await {
            return HostState::Lost { step, reason };
        }
        let state = HostState::Cancelled { step };
        self.set_state(state.clone(), None);
        if self.stored().await {
            self.remove_files(conn, remote_dir).await;
        }
        state
    }

    /// How a host ends whose follower exited without its end-of-output
    /// line.
    fn unfinished_session(
        &self,
        exit: Option<u32>,
        stderr: &str,
        cancelled: bool,
        progress: &mut Progress,
    ) -> StreamEnd {
        if let Some(reason) = progress.write_error.clone() {
            return StreamEnd::Finished(HostState::Lost {
                step: progress.last_step,
                reason,
            });
        }
        if cancelled || *self.cancel.borrow() {
            let step = progress.last_step;
            self.close_open_step(progress, "cancelled");
            return StreamEnd::Finished(HostState::Cancelled { step });
        }
        match exit {
            Some(code) if (90..=94).contains(&code) => {
                // The run's files are not there (or cannot be made): a step
                // an earlier controller was inside cannot be read again.
                self.close_open_step(progress, "lost");
                StreamEnd::Finished(HostState::Failed {
                    step: None,
                    exit_code: None,
                    reason: stderr.to_string(),
                })
            }
            code if progress.last_step.is_none() => StreamEnd::Finished(HostState::Failed {
                step: None,
                exit_code: None,
                reason: format!("the remote shell failed ({code:?}): {stderr}"),
            }),
            code => {
                let step = progress.last_step;
                self.close_open_step(progress, "lost");
                StreamEnd::Finished(HostState::Lost {
                    step,
                    reason: format!("remote follower exited with {code:?}: {stderr}"),
                })
            }
        }
    }

    /// Closes the open step of a host given up as lost.
    fn close_lost_step(&self, progress: &mut Progress, held: &[u8]) {
        self.keep_held_newline(progress, held);
        self.close_open_step(progress, "lost");
    }

    /// Writes what the parser held back at the end of what a host gave, if
    /// it is a lone newline: the runner writes a marker's newline together
    /// with the rest of its line, so only a read that split exactly there
    /// (rare) would make it a spurious one. Anything longer is a cut marker.
    fn keep_held_newline(&self, progress: &mut Progress, held: &[u8]) {
        if held == b"\n" {
            self.write_output(progress, held);
        }
    }

    /// Records the open step as ended without its end marker (`lost`,
    /// `cancelled`): no end offset, so that a takeover reads it again from
    /// its start.
    fn close_open_step(&self, progress: &mut Progress, state: &'static str) {
        if let Some((step, log)) = progress.current.take() {
            self.record_step_end(progress, step, log.abandon(), state, None, None);
        }
    }

    fn record_step_end(
        &self,
        progress: &mut Progress,
        step: u32,
        summary: std::io::Result<StepLogSummary>,
        state: &'static str,
        exit_code: Option<i32>,
        end_offset: Option<u64>,
    ) {
        let summary = match summary {
            Ok(summary) => summary,
            Err(e) => {
                // Left open: a takeover reads the step again.
                let path = step_log_path(&self.log_root, self.run_id, &self.host.name, step);
                progress.write_error = Some(self.log_failure(step, &path, &e));
                return;
            }
        };
        self.send(ToCoordinator::Record(RunRecord::StepEnd {
            run_host_id: self.host.id,
            step,
            state,
            exit_code,
            at: now_ms(),
            bytes: summary.bytes,
            excerpt: summary.excerpt,
            end_offset,
        }));
    }

    fn write_output(&self, progress: &mut Progress, data: &[u8]) {
        if let Some((step, log)) = progress.current.as_mut() {
            if let Err(e) = log.write(data) {
                let step = *step;
                let path = step_log_path(&self.log_root, self.run_id, &self.host.name, step);
                progress.write_error = Some(self.log_failure(step, &path, &e));
            }
        }
    }

    fn handle(&self, events: &mut Vec<RemoteEvent>, progress: &mut Progress) {
        for event in events.drain(..) {
            if progress.write_error.is_some() {
                // Nothing more is recorded: a takeover reads it all again.
                continue;
            }
            match event {
                RemoteEvent::Output(data) => self.write_output(progress, &data),
                RemoteEvent::Start { step, offset, .. } => {
                    self.close_open_step(progress, "lost");
                    progress.step_started_at = now_ms();
                    progress.last_step = Some(step);
                    self.send(ToCoordinator::Record(RunRecord::StepStart {
                        run_host_id: self.host.id,
                        step,
                        at: progress.step_started_at,
                        offset,
                    }));
                    self.set_state(HostState::Running { step }, None);
                    match self.step_log(step, StepLog::create) {
                        Ok(log) => progress.current = Some((step, log)),
                        Err(reason) => progress.write_error = Some(reason),
                    }
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
                    match progress.current.take() {
                        Some((open, log)) if open == step => {
                            let summary = log.finish();
                            self.record_step_end(
                                progress,
                                step,
                                summary,
                                state,
                                exit_code,
                                Some(offset),
                            );
                        }
                        other => progress.current = other,
                    }
                }
                RemoteEvent::SudoRefused => progress.sudo_refused = true,
                RemoteEvent::Done => progress.done = true,
                RemoteEvent::EndOfOutput { runner_done } => {
                    progress.end_of_output = Some(runner_done)
                }
            }
        }
    }
}

/// Runs a remote write with [`REMOTE_CALL_TIMEOUT`]; true if it went out.
async fn bounded<T, E>(call: impl std::future::Future<Output = Result<T, E>>) -> bool {
    matches!(
        tokio::time::timeout(REMOTE_CALL_TIMEOUT, call).await,
        Ok(Ok(_))
    )
}

/// Closes a connection, waiting at most [`REMOTE_CALL_TIMEOUT`].
async fn close(conn: Connection) {
    let _ = tokio::time::timeout(REMOTE_CALL_TIMEOUT, conn.close()).await;
}

/// `DROVER_TEST_ACK_DELAY_MS`: a test hook that widens the window between
/// storing a host's final state and acknowledging it, to show that a
/// controller dying inside it leaves nothing behind.
async fn test_ack_delay() {
    if let Some(ms) = std::env::var("DROVER_TEST_ACK_DELAY_MS")
        .ok()
        .and_then(|ms| ms.parse::<u64>().ok())
    {
        tokio::time::sleep(Duration::from_millis(ms)).await;
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
    e.reason()
}
