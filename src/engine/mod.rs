//! The run engine: drives a run's hosts over SSH with bounded fan-out,
//! records every change through the store (batched, one writer; failures
//! that may pass are retried), publishes run events to front ends, and holds
//! a lease so that exactly one drover process drives a run; a process that
//! finds an expired lease (or a dead owner on this machine) takes the run
//! over, reads it under the lease, reattaches to its hosts and removes the
//! files hosts were left with by a controller that died.

mod controller;
pub mod fd_limit;
mod handover;
pub mod host;
pub mod host_keys;
pub mod logs;
pub mod remote;
mod retry;
/// Run and host states live in the domain layer; re-exported for front ends.
pub use crate::state;

use std::collections::HashMap;
use std::path::PathBuf;
use std::sync::atomic::{AtomicU32, Ordering};
use std::sync::Arc;
use std::time::Duration;

use serde::Serialize;
use tokio::sync::{broadcast, mpsc, watch, Semaphore};

use crate::domain::{now_ms, Actor, Host, RunOptions};
use crate::error::{Error, Result};
use crate::ssh::SshSettings;
use crate::state::{HostState, RunState};
pub use crate::store::runs::RunScripts;
use crate::store::runs::{NewRun, RunHost, RunRecord, StoredRun};
use crate::store::Store;
use controller::{controller_id, owner_is_dead_local_process};
pub use handover::{Handover, Orphaned};
use host::HostJob;
use remote::RemoteStep;

/// How long a lease lasts without renewal.
pub const LEASE_MS: i64 = 15_000;
const LEASE_RENEW: Duration = Duration::from_secs(4);
const CANCEL_POLL: Duration = Duration::from_millis(500);
/// How long host records may wait in the coordinator before they are
/// written: one transaction per batch instead of one per update.
const STORE_FLUSH: Duration = Duration::from_millis(100);
/// How long they may wait once a host job waits for them (`ToCoordinator::Stored`,
/// before it lets the host remove the run's files).
const STORE_SOON: Duration = Duration::from_millis(10);

/// `(STORE_FLUSH, STORE_SOON)`, or both the milliseconds in
/// `DROVER_TEST_STORE_FLUSH_MS`: a test hook that widens the window between
/// receiving a host's last output and storing it, to show that a crash
/// inside it loses nothing.
fn store_delays() -> (Duration, Duration) {
    std::env::var("DROVER_TEST_STORE_FLUSH_MS")
        .ok()
        .and_then(|ms| ms.parse().ok())
        .map_or((STORE_FLUSH, STORE_SOON), |ms| {
            (Duration::from_millis(ms), Duration::from_millis(ms))
        })
}

/// What host jobs send the coordinator, the run's single writer.
#[derive(Debug)]
pub enum ToCoordinator {
    Record(RunRecord),
    /// Answered once every update sent before it is in the store.
    Stored(tokio::sync::oneshot::Sender<()>),
}

/// A change front ends can show. JSON shows the state's name and step.
#[derive(Debug, Clone)]
pub struct RunEvent {
    pub run_id: i64,
    pub run_host_id: i64,
    pub host: String,
    pub state: HostState,
    pub at: i64,
}

/// A run event as JSON documents show it.
#[derive(Serialize)]
struct RunEventJson<'a> {
    run_id: i64,
    run_host_id: i64,
    host: &'a str,
    state: &'a HostState,
    step: Option<u32>,
    at: i64,
}

impl Serialize for RunEvent {
    fn serialize<S: serde::Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        RunEventJson {
            run_id: self.run_id,
            run_host_id: self.run_host_id,
            host: &self.host,
            state: &self.state,
            step: self.state.step(),
            at: self.at,
        }
        .serialize(serializer)
    }
}

/// A run to start, every name looked up once: what front ends show before
/// starting it is what runs.
#[derive(Debug, Clone)]
pub struct RunPlan {
    pub task: Option<String>,
    pub script_group: String,
    pub server_group: String,
    pub options: RunOptions,
    /// The scripts: the versions current when planned, or exactly those an
    /// earlier run ran (a rerun).
    pub scripts: RunScripts,
    pub hosts: Vec<Host>,
    pub env: crate::run_env::EnvVars,
}

impl RunPlan {
    /// The names of the scripts, in order (none listed for a rerun, which
    /// runs the scripts of the earlier run).
    pub fn script_names(&self) -> Vec<String> {
        match &self.scripts {
            RunScripts::Versions(versions) => {
                versions.iter().map(|(name, _)| name.clone()).collect()
            }
            RunScripts::SameAs(_) => Vec::new(),
        }
    }
}

/// Drives runs. Cheap to clone.
#[derive(Clone)]
pub struct Engine {
    store: Store,
    settings: Arc<SshSettings>,
    log_root: PathBuf,
    default_user: String,
    owner: String,
    events: broadcast::Sender<RunEvent>,
    /// Runs this process is driving now (a lease is per process).
    driving: Arc<std::sync::Mutex<std::collections::HashSet<i64>>>,
    /// Hosts this process may drive at once, whatever the runs: what its
    /// open-files limit allows.
    host_slots: Arc<Semaphore>,
    host_slots_total: u32,
    /// The open-files limit they come from (`None`: unlimited).
    files_limit: Option<u64>,
}

fn random_nonce() -> String {
    use rand::Rng;
    let mut rng = rand::thread_rng();
    (0..16)
        .map(|_| format!("{:x}", rng.gen_range(0..16u8)))
        .collect()
}

impl Engine {
    pub fn new(
        store: Store,
        settings: SshSettings,
        log_root: PathBuf,
        default_user: String,
    ) -> Engine {
        let (events, _) = broadcast::channel(4096);
        let files_limit = fd_limit::open_files_limit();
        let host_slots_total = fd_limit::hosts_within(files_limit);
        Engine {
            store,
            settings: Arc::new(settings),
            log_root,
            default_user,
            owner: controller_id(),
            events,
            driving: Arc::default(),
            host_slots: Arc::new(Semaphore::new(
                usize::try_from(host_slots_total).unwrap_or(Semaphore::MAX_PERMITS),
            )),
            host_slots_total,
            files_limit,
        }
    }

    pub fn log_root(&self) -> &PathBuf {
        &self.log_root
    }

    /// Run events as they happen (lossy for slow readers: they may reload
    /// the snapshot from the store).
    pub fn subscribe(&self) -> broadcast::Receiver<RunEvent> {
        self.events.subscribe()
    }

    /// Records a new run. With `hold_lease` this process drives it next;
    /// without, any process may take it (detach).
    pub async fn create(&self, actor: &Actor, plan: &RunPlan, hold_lease: bool) -> Result<i64> {
        if matches!(&plan.scripts, RunScripts::Versions(v) if v.is_empty()) {
            return Err(Error::Refused(format!(
                "script group '{}' has no scripts; add some with `drover scriptgroup add`",
                plan.script_group
            )));
        }
        let hosts = plan.hosts.clone();
        if hosts.is_empty() {
            return Err(Error::Refused(format!(
                "server group '{}' has no hosts; add some with `drover group add`",
                plan.server_group
            )));
        }
        let routes = self.routes_of(&hosts).await?;
        let new = NewRun {
            routes,
            task: plan.task.clone(),
            script_group: plan.script_group.clone(),
            server_group: plan.server_group.clone(),
            options: plan.options.clone(),
            scripts: plan.scripts.clone(),
            hosts,
            default_user: self.default_user.clone(),
            env: plan.env.clone(),
            nonce: random_nonce(),
            identities: self.settings.identity_files.clone(),
        };
        let lease = if hold_lease { LEASE_MS } else { -1 };
        self.store.create_run(actor, &new, &self.owner, lease).await
    }

    /// How each host is reached (its effective user and route, as JSON),
    /// worked out once, when the run is created: takeovers connect the same
    /// way. A host whose route cannot be worked out refuses the run.
    async fn routes_of(&self, hosts: &[Host]) -> Result<Vec<Option<(String, String)>>> {
        let jump_hosts = jump_hosts_of(&self.store, &self.settings, hosts).await?;
        let lookup = |name: &str| jump_hosts.get(name).cloned().flatten();
        hosts
            .iter()
            .map(|host| {
                let resolved = self
                    .settings
                    .resolve(host, &lookup)
                    .map_err(|e| Error::Refused(format!("host '{}': {e}", host.name)))?;
                let json = serde_json::to_string(&resolved.route)
                    .map_err(|e| Error::Refused(format!("host '{}': {e}", host.name)))?;
                Ok(Some((resolved.route.target.user.clone(), json)))
            })
            .collect()
    }

    /// Takes the lease of a run: free, expired, ours, or held by a dead
    /// process of this machine.
    pub async fn take_lease(&self, run_id: i64) -> Result<bool> {
        if self
            .store
            .acquire_lease(run_id, &self.owner, LEASE_MS)
            .await?
        {
            return Ok(true);
        }
        match self.store.lease_owner(run_id).await? {
            Some(owner) if owner_is_dead_local_process(&owner) => {
                self.store
                    .steal_lease(run_id, &owner, &self.owner, LEASE_MS)
                    .await
            }
            _ => Ok(false),
        }
    }

    /// Drives a run to its end (a new run, or one taken over after its
    /// controller died). Returns the final state.
    pub async fn drive(&self, run_id: i64) -> Result<RunState> {
        let state = self.store.run_state(run_id).await?;
        if state != RunState::Running {
            return Ok(state);
        }
        if !self.lock_driving(run_id) {
            return Err(Error::Refused(format!(
                "run {run_id} is already driven by this process"
            )));
        }
        let result = self.drive_under_lease(run_id).await;
        self.unlock_driving(run_id);
        result
    }

    /// Takes the run's lease, then reads the run: what a slow earlier
    /// controller stored up to then is seen, and after that it can store
    /// nothing more. A driver that gives up releases the lease.
    async fn drive_under_lease(&self, run_id: i64) -> Result<RunState> {
        test_takeover_gate().await;
        if !self.take_lease(run_id).await? {
            let state = self.store.run_state(run_id).await?;
            if state != RunState::Running {
                return Ok(state);
            }
            return Err(Error::Refused(format!(
                "run {run_id} is driven by another drover process; it will finish there"
            )));
        }
        let result = match self.store.stored_run(run_id).await {
            Ok(run) => self.drive_hosts(run).await,
            Err(e) => Err(e),
        };
        if let Err(e) = &result {
            tracing::error!(run_id, error = %e, "giving the run up");
            let released =
                retry::with_retries("release the run's lease", LEASE_RELEASE_TRIES, || {
                    self.store.release_lease(run_id, &self.owner)
                })
                .await;
            if let Err(e) = released {
                tracing::warn!(run_id, error = %e, "cannot release the run's lease; it expires in {} s", LEASE_MS / 1000);
            }
        }
        result
    }

    /// Opens a run that is over again for the hosts it lost, whose runs'
    /// files stay on the hosts (`run resume`); returns those hosts.
    pub async fn reopen_lost(&self, actor: &Actor, run_id: i64) -> Result<Vec<String>> {
        self.store.reopen_lost_hosts(actor, run_id).await
    }

    async fn drive_hosts(&self, run: StoredRun) -> Result<RunState> {
        let run_id = run.id;
        self.prepare_log_dirs(&run).await;
        if run.options.parallel > self.host_slots_total {
            let (at_once, limit) = (self.host_slots_total, self.files_limit.unwrap_or(0));
            let hosts = if at_once == 1 { "host" } else { "hosts" };
            tracing::warn!(
                run_id,
                "--parallel {} is above what the open-files limit of this process ({limit}, `ulimit -n`) allows: running {at_once} {hosts} at a time",
                run.options.parallel,
            );
        }
        let (cancel_tx, cancel_rx) = watch::channel(run.cancel_requested);
        let (updates_tx, mut updates_rx) = mpsc::unbounded_channel();
        let failures = Arc::new(AtomicU32::new(
            run.hosts.iter().filter(|h| h.state.is_failure()).count() as u32,
        ));
        let semaphore = Arc::new(Semaphore::new(run.options.parallel as usize));
        let steps: Arc<Vec<RemoteStep>> = Arc::new(
            run.scripts
                .iter()
                .map(|s| RemoteStep {
                    name: s.name.clone(),
                    body: s.body.clone(),
                    timeout_secs: s.timeout_secs,
                })
                .collect(),
        );
        let env = Arc::new(run.env.clone());
        let settings = self.settings_for(&run);
        // Each host is verified against the key recorded with the run; the
        // inventory is not read.
        let keys = host_keys::RunKeys::new(self.store.clone(), run_id, self.owner.clone());
        // Dropped on the way out: a controller that stops driving (its lease
        // lost, its store gone) stops its host jobs with it. The remote runs
        // go on for the controller that takes over.
        let mut jobs = tokio::task::JoinSet::new();
        let job_of = |host: &RunHost| HostJob {
            run_id,
            host: host.clone(),
            pinned_key: host.host_key.clone(),
            keys: keys.clone(),
            steps: steps.clone(),
            env: env.clone(),
            nonce: run.nonce.clone(),
            continue_on_error: run.options.on_failure == crate::domain::OnFailure::Continue,
            settings: settings.clone(),
            log_root: self.log_root.clone(),
            updates: updates_tx.clone(),
            cancel: cancel_rx.clone(),
        };
        for host in &run.hosts {
            let slots = (semaphore.clone(), self.host_slots.clone());
            if !host.state.is_final() {
                jobs.spawn(run_host(
                    job_of(host),
                    slots,
                    failures.clone(),
                    run.options.max_failed_hosts,
                ));
            } else if files_left_behind(host) {
                jobs.spawn(remove_left_files(job_of(host), slots));
            }
        }
        drop(updates_tx);
        let names: HashMap<i64, String> =
            run.hosts.iter().map(|h| (h.id, h.name.clone())).collect();
        self.coordinate(run_id, &names, &mut updates_rx, &cancel_tx)
            .await?;
        self.finish_run(run_id).await
    }

    /// This process's SSH settings plus the key files the run was started
    /// with (a run taken over keeps authenticating as it began).
    fn settings_for(&self, run: &StoredRun) -> Arc<SshSettings> {
        let missing: Vec<PathBuf> = run
            .identities
            .iter()
            .filter(|p| !self.settings.identity_files.contains(p))
            .cloned()
            .collect();
        if missing.is_empty() {
            return self.settings.clone();
        }
        let mut settings = self.settings.as_ref().clone();
        settings.identity_files.extend(missing);
        Arc::new(settings)
    }

    /// Creates the log directories of the run's hosts, synced, so that a
    /// host's logs need only their own directory synced before the host is
    /// told to remove its files. A failure shows when a host writes its log.
    async fn prepare_log_dirs(&self, run: &StoredRun) {
        let (root, run_id) = (self.log_root.clone(), run.id);
        let hosts: Vec<String> = run
            .hosts
            .iter()
            .filter(|h| !h.state.is_final())
            .map(|h| h.name.clone())
            .collect();
        let prepared = tokio::task::spawn_blocking(move || {
            logs::prepare_run_dirs(&root, run_id, hosts.iter().map(String::as_str))
        })
        .await;
        if !matches!(prepared, Ok(Ok(()))) {
            tracing::warn!(run_id, "cannot prepare the run's log directories");
        }
    }

    fn lock_driving(&self, run_id: i64) -> bool {
        self.driving
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .insert(run_id)
    }

    fn unlock_driving(&self, run_id: i64) {
        self.driving
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .remove(&run_id);
    }

    /// Publishes every update to front ends as it arrives and writes them to
    /// the store in batches (within `STORE_FLUSH`, or `STORE_SOON` when a
    /// host job waits for them) until every host job is done; renews the
    /// lease and watches for cancel requests meanwhile. A batch lost to a
    /// crash costs nothing: a host keeps a run's files until its final state
    /// is stored (`ToCoordinator::Stored`), and a taken-over run re-reads each open
    /// step from its start. A batch that cannot be written for a while (the
    /// database locked, a full disk) is kept and written again with backoff,
    /// while the hosts that wait for it wait; the run is given up when it
    /// fails for good or for longer than `STORE_GIVE_UP`.
    async fn coordinate(
        &self,
        run_id: i64,
        names: &HashMap<i64, String>,
        updates: &mut mpsc::UnboundedReceiver<ToCoordinator>,
        cancel: &watch::Sender<bool>,
    ) -> Result<()> {
        use tokio::time::{Instant, MissedTickBehavior};
        let mut renew = tokio::time::interval(LEASE_RENEW);
        renew.set_missed_tick_behavior(MissedTickBehavior::Delay);
        let mut cancel_poll = tokio::time::interval(CANCEL_POLL);
        cancel_poll.set_missed_tick_behavior(MissedTickBehavior::Delay);
        let (flush_after, flush_soon) = store_delays();
        // When the pending updates are written next (`None`: nothing pending).
        let mut write_at: Option<Instant> = None;
        // After a failed write, not again before then.
        let mut retry_at: Option<Instant> = None;
        let mut backoff = retry::Backoff::new(retry::STORE_GIVE_UP);
        let mut pending = Vec::new();
        loop {
            let write_due = async {
                match write_at {
                    Some(at) => tokio::time::sleep_until(at).await,
                    None => std::future::pending().await,
                }
            };
            tokio::select! {
                update = updates.recv() => {
                    let Some(update) = update else { break };
                    self.publish(run_id, names, &update);
                    let wait = match update {
                        ToCoordinator::Stored(_) => flush_soon,
                        _ => flush_after,
                    };
                    pending.push(update);
                    let due = (Instant::now() + wait).max(retry_at.unwrap_or_else(Instant::now));
                    write_at = Some(write_at.map_or(due, |at| at.min(due)));
                }
                _ = write_due => {
                    write_at = None;
                    match self.write_updates(run_id, &mut pending).await {
                        Ok(()) => {
                            backoff.succeeded();
                            retry_at = None;
                        }
                        Err(e) => {
                            retry_at = Some(Instant::now() + retry_after(run_id, &mut backoff, e)?);
                            write_at = retry_at;
                        }
                    }
                }
                _ = renew.tick() => match self.store.acquire_lease(run_id, &self.owner, LEASE_MS).await {
                    Ok(true) => {}
                    Ok(false) => {
                        tracing::warn!(run_id, "lost the lease of the run: stopping");
                        return Err(crate::store::leases::lease_lost(run_id));
                    }
                    Err(e) if e.is_transient() => {
                        tracing::warn!(run_id, error = %e, "cannot renew the run's lease; trying again");
                    }
                    Err(e) => return Err(e),
                },
                _ = cancel_poll.tick(), if !*cancel.borrow() => match self.store.cancel_requested(run_id).await {
                    Ok(requested) => {
                        if requested {
                            let _ = cancel.send(true);
                        }
                    }
                    Err(e) if e.is_transient() => {
                        tracing::warn!(run_id, error = %e, "cannot read the run's cancel request; trying again");
                    }
                    Err(e) => return Err(e),
                },
            }
        }
        // Every host job is done: the last batch.
        loop {
            match self.write_updates(run_id, &mut pending).await {
                Ok(()) => return Ok(()),
                Err(e) => tokio::time::sleep(retry_after(run_id, &mut backoff, e)?).await,
            }
        }
    }

    /// Tells front ends about a host's new state.
    fn publish(&self, run_id: i64, names: &HashMap<i64, String>, update: &ToCoordinator) {
        if let ToCoordinator::Record(RunRecord::Host {
            run_host_id,
            state,
            at,
            ..
        }) = update
        {
            let _ = self.events.send(RunEvent {
                run_id,
                run_host_id: *run_host_id,
                host: names.get(run_host_id).cloned().unwrap_or_default(),
                state: state.clone(),
                at: *at,
            });
        }
    }

    /// Writes pending updates (records in one transaction), then answers
    /// those waiting for them. On failure they stay pending, to be written
    /// again.
    async fn write_updates(&self, run_id: i64, pending: &mut Vec<ToCoordinator>) -> Result<()> {
        let records: Vec<RunRecord> = pending
            .iter()
            .filter_map(|update| match update {
                ToCoordinator::Record(record) => Some(record.clone()),
                _ => None,
            })
            .collect();
        self.store
            .apply_run_records(run_id, &self.owner, &records)
            .await?;
        for update in pending.drain(..) {
            if let ToCoordinator::Stored(reply) = update {
                let _ = reply.send(());
            }
        }
        Ok(())
    }

    async fn finish_run(&self, run_id: i64) -> Result<RunState> {
        let limit = retry::STORE_GIVE_UP;
        let run =
            retry::with_retries("read the run", limit, || self.store.stored_run(run_id)).await?;
        let state = RunState::from_hosts(run.hosts.iter().map(|h| &h.state), run.cancel_requested);
        let state = if state == RunState::Running {
            RunState::Failed
        } else {
            state
        };
        let finished = [RunRecord::RunFinished {
            run_id,
            state,
            at: now_ms(),
        }];
        retry::with_retries("store the run's end", limit, || {
            self.store.apply_run_records(run_id, &self.owner, &finished)
        })
        .await?;
        let target = run_id.to_string();
        let audited = retry::with_retries("audit the run's end", limit, || {
            self.store
                .audit(&Actor::System, "run.finish", &target, state.as_str(), "ok")
        })
        .await;
        if let Err(e) = audited {
            tracing::warn!(run_id, error = %e, "cannot audit the run's end");
        }
        Ok(state)
    }

    /// Whether this process drives `run_id` now.
    pub fn is_driving(&self, run_id: i64) -> bool {
        self.driving
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .contains(&run_id)
    }

    /// Lets go of a run whose driver this process stopped (shutting down):
    /// its lease is released, so that another process takes it over at
    /// once; the remote runs go on.
    pub async fn release(&self, run_id: i64) -> Result<()> {
        self.unlock_driving(run_id);
        self.store.release_lease(run_id, &self.owner).await
    }

    /// Runs whose controller is gone.
    pub async fn orphaned_runs(&self) -> Result<Vec<i64>> {
        let mut orphans = self.store.orphaned_runs().await?;
        for (run_id, owner) in self.store.running_run_owners().await? {
            if owner_is_dead_local_process(&owner) && !orphans.contains(&run_id) {
                orphans.push(run_id);
            }
        }
        Ok(orphans)
    }
}

/// The run's fan-out limit and this process's host slots (its open-files
/// limit), both held while a host is driven.
type Slots = (Arc<Semaphore>, Arc<Semaphore>);

/// Waits for a place under both limits.
async fn acquire(
    (run, process): Slots,
) -> Option<(
    tokio::sync::OwnedSemaphorePermit,
    tokio::sync::OwnedSemaphorePermit,
)> {
    let run = run.acquire_owned().await.ok()?;
    let process = process.acquire_owned().await.ok()?;
    Some((run, process))
}

/// A host whose final state is stored but that never confirmed it removed
/// the run's files: its controller died between storing the state and the
/// acknowledgement. (Lost hosts keep them for `run resume`; unreachable and
/// skipped ones never had any.)
fn files_left_behind(host: &RunHost) -> bool {
    host.state.is_final()
        && host.remote_dir.is_some()
        && !host.files_removed
        && !matches!(
            host.state,
            HostState::Lost { .. } | HostState::Unreachable { .. } | HostState::Skipped
        )
}

/// Removes the files a host was left with, under the fan-out limits.
async fn remove_left_files(job: HostJob, slots: Slots) {
    let Some(_permits) = acquire(slots).await else {
        return;
    };
    job.remove_left_files().await;
}

/// A host's job under the fan-out limits and the failed-hosts limit.
async fn run_host(job: HostJob, slots: Slots, failures: Arc<AtomicU32>, max_failed: Option<u32>) {
    let Some(_permits) = acquire(slots).await else {
        return;
    };
    let never_started = job.host.remote_dir.is_none();
    if never_started && max_failed.is_some_and(|max| failures.load(Ordering::SeqCst) >= max) {
        let _ = job.updates.send(ToCoordinator::Record(RunRecord::Host {
            run_host_id: job.host.id,
            state: HostState::Skipped,
            at: now_ms(),
            remote_dir: None,
        }));
        return;
    }
    let state = job.run().await;
    if state.is_failure() {
        failures.fetch_add(1, Ordering::SeqCst);
    }
}

/// After a failed write of a run's records: how long to wait before writing
/// them again, or the error to give the run up with.
fn retry_after(run_id: i64, backoff: &mut retry::Backoff, error: Error) -> Result<Duration> {
    let delay = backoff.failed(&error).ok_or(error)?;
    tracing::warn!(
        run_id,
        ?delay,
        "cannot store the run's records; trying again"
    );
    Ok(delay)
}

/// How long a driver that gives a run up tries to release its lease.
const LEASE_RELEASE_TRIES: Duration = Duration::from_secs(30);

/// `DROVER_TEST_TAKEOVER_GATE=PATH`: a test hook that holds a driver between
/// its first look at the run and taking its lease (it creates
/// `PATH.reached`, then waits up to 60 s for `PATH` to exist), to show that
/// what a slow earlier controller stores meanwhile is read under the lease.
async fn test_takeover_gate() {
    let Ok(gate) = std::env::var("DROVER_TEST_TAKEOVER_GATE") else {
        return;
    };
    let gate = PathBuf::from(gate);
    let _ = std::fs::write(format!("{}.reached", gate.display()), b"");
    let deadline = tokio::time::Instant::now() + Duration::from_secs(60);
    while !gate.exists() && tokio::time::Instant::now() < deadline {
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

/// The names `hosts`' routes look up that `known` does not answer yet.
fn jump_names_not_looked_up(
    settings: &SshSettings,
    hosts: &[Host],
    known: &HashMap<String, Option<Host>>,
) -> std::collections::BTreeSet<String> {
    let asked = std::cell::RefCell::new(std::collections::BTreeSet::new());
    let lookup = |name: &str| match known.get(name) {
        Some(host) => host.clone(),
        None => {
            asked.borrow_mut().insert(name.to_string());
            None
        }
    };
    for host in hosts {
        // A route that cannot be worked out is reported by the caller's
        // own resolution.
        let _ = settings.resolve(host, &lookup);
    }
    asked.into_inner()
}

/// The inventory hosts that `hosts`' routes name as jump hosts, looked up
/// by name (a run reads its own hosts and their jump hosts, never the whole
/// inventory). A name the inventory does not hold maps to `None`: the route
/// then takes it as an address. Each round resolves one more hop, so a chain
/// needs at most [`crate::ssh::route::MAX_JUMPS`] + 1 rounds.
pub async fn jump_hosts_of(
    store: &Store,
    settings: &SshSettings,
    hosts: &[Host],
) -> Result<HashMap<String, Option<Host>>> {
    let mut known: HashMap<String, Option<Host>> = HashMap::new();
    for _ in 0..=crate::ssh::route::MAX_JUMPS + 1 {
        let asked = jump_names_not_looked_up(settings, hosts, &known);
        if asked.is_empty() {
            break;
        }
        for name in asked {
            let host = store.find_host(&name).await?;
            known.insert(name, host);
        }
    }
    Ok(known)
}

/// Hosts of a past run in the given states, as inventory-like hosts (the
/// addresses the run used, and the keys it verified them against).
pub fn hosts_of(run: &StoredRun, states: &[&str]) -> Vec<Host> {
    run.hosts
        .iter()
        .filter(|h| states.contains(&h.state.name()))
        .map(|h: &RunHost| Host {
            name: h.name.clone(),
            address: h.address.clone(),
            port: h.port,
            user: Some(h.user.clone()),
            description: String::new(),
            host_key: h.host_key.clone(),
            use_sudo: h.use_sudo,
            groups: Vec::new(),
            jump: h
                .route
                .as_deref()
                .and_then(|r| serde_json::from_str::<crate::ssh::Route>(r).ok())
                .and_then(|r| r.jump_spec),
        })
        .collect()
}
