//! Run records: runs, their hosts and steps, leases, cancel requests.

use sqlx::Row;

use super::leases::{lease_holder, lease_lost};
use super::{audit, Store};
use crate::domain::{format_ms, now_ms, Actor, RunOptions};
use crate::error::{EntityKind, Error, Result};
use crate::state::{HostSnapshot, HostState, RunSnapshot, RunState};

/// A script as a run recorded it.
#[derive(Debug, Clone)]
pub struct RunScript {
    pub name: String,
    pub version: i64,
    pub body_sha: String,
    pub body: String,
    pub timeout_secs: Option<u64>,
}

/// A host as a run recorded it.
#[derive(Debug, Clone)]
pub struct RunHost {
    pub id: i64,
    pub name: String,
    pub address: String,
    pub port: u16,
    pub user: String,
    pub use_sudo: bool,
    /// The key this run verifies the host against (OpenSSH form): pinned
    /// when the run was created, or learned by the run on first contact.
    pub host_key: Option<String>,
    pub state: HostState,
    pub remote_dir: Option<String>,
    /// Where in the remote output to resume: start of the first unfinished step.
    pub resume_offset: u64,
    /// Steps already finished (their logs are complete).
    pub finished_steps: u32,
    /// The step whose output starts at `resume_offset`, if one had started.
    pub open_step: Option<u32>,
    /// The first finished step that failed or timed out, if any: what the
    /// host ends as, whatever its later steps do (`--continue-on-error`).
    pub first_failed_step: Option<FailedStep>,
    /// The host confirmed it removed the run's files.
    pub files_removed: bool,
    /// How the host is reached (JSON, see `ssh::Route`); `None`: directly
    /// at `address`, `port` and `user`.
    pub route: Option<String>,
}

/// A finished step that did not succeed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FailedStep {
    pub step: u32,
    /// `None` when it timed out.
    pub exit_code: Option<i32>,
}

/// What a new run needs.
#[derive(Debug, Clone)]
pub struct NewRun {
    pub task: Option<String>,
    pub script_group: String,
    pub server_group: String,
    pub options: RunOptions,
    pub scripts: RunScripts,
    pub hosts: Vec<crate::domain::Host>,
    /// Per host (same order), how it is reached: its effective user and the
    /// route as JSON; `None`: directly, as the host says.
    pub routes: Vec<Option<(String, String)>>,
    pub default_user: String,
    pub env: crate::run_env::EnvVars,
    pub nonce: String,
    /// Key files the run was started with, so that a process taking the run
    /// over can authenticate the same way.
    pub identities: Vec<std::path::PathBuf>,
}

/// The scripts a new run runs.
#[derive(Debug, Clone)]
pub enum RunScripts {
    /// These versions of library scripts, in order.
    Versions(Vec<(String, i64)>),
    /// Exactly what an earlier run ran (bodies are kept for good), whatever
    /// the library holds now: for reruns.
    SameAs(i64),
}

/// Everything needed to drive (or resume) a run.
#[derive(Debug, Clone)]
pub struct StoredRun {
    pub id: i64,
    pub options: RunOptions,
    pub nonce: String,
    pub scripts: Vec<RunScript>,
    pub hosts: Vec<RunHost>,
    pub cancel_requested: bool,
    pub state: RunState,
    pub env: crate::run_env::EnvVars,
    pub identities: Vec<std::path::PathBuf>,
}

/// One change to the run records, applied in batches.
#[derive(Debug, Clone)]
pub enum RunRecord {
    Host {
        run_host_id: i64,
        state: HostState,
        at: i64,
        remote_dir: Option<String>,
    },
    StepStart {
        run_host_id: i64,
        step: u32,
        at: i64,
        offset: u64,
    },
    StepEnd {
        run_host_id: i64,
        step: u32,
        state: &'static str,
        exit_code: Option<i32>,
        at: i64,
        bytes: u64,
        excerpt: String,
        /// Just after the step's end marker; `None` for a step that ended
        /// without one (lost, cancelled), which a takeover reads again.
        end_offset: Option<u64>,
    },
    /// The host removed the run's files.
    FilesRemoved { run_host_id: i64 },
    RunFinished {
        run_id: i64,
        state: RunState,
        at: i64,
    },
}

/// Which runs a list shows: every one by default.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct RunListFilter {
    pub state: Option<RunState>,
    /// The task's exact name.
    pub task: Option<String>,
    /// Part of who started it (`cli:alice`, `web:bob`, `discord:ID`).
    pub started_by: Option<String>,
}

/// A line of `run list`.
#[derive(Debug, Clone, serde::Serialize)]
pub struct RunSummary {
    pub id: i64,
    pub state: RunState,
    pub task: Option<String>,
    pub script_group: String,
    pub server_group: String,
    pub started_by: String,
    pub created_at: String,
    pub hosts: i64,
    pub failed_hosts: i64,
}

fn i64_of(v: u64) -> i64 {
    i64::try_from(v).unwrap_or(i64::MAX)
}

impl Store {
    /// Records a new run (state running, every host queued) and gives its id.
    /// The lease goes to `owner`; with a negative `lease_ms` to nobody (a
    /// detached run, for the background process to take).
    pub async fn create_run(
        &self,
        actor: &Actor,
        new: &NewRun,
        owner: &str,
        lease_ms: i64,
    ) -> Result<i64> {
        let rerun_of = match &new.scripts {
            RunScripts::SameAs(run) => Some(*run),
            RunScripts::Versions(_) => None,
        };
        let mut tx = self.begin().await?;
        if let Some(run) = rerun_of {
            // Inside the write transaction: two reruns started at once (a
            // double click, two operators, CLI and bot) cannot both pass.
            if let Some(rerun) = live_rerun_in(&mut tx, run).await? {
                return Err(Error::RerunLive { run, rerun });
            }
        }
        let now = now_ms();
        let env = serde_json::to_string(&new.env).unwrap_or_else(|_| "[]".into());
        let run_id: i64 = sqlx::query_scalar(
            "INSERT INTO runs (task_name, script_group, server_group, started_by, state, parallel, on_failure,
                               max_failed_hosts, use_sudo, env, nonce, identities, created_at, lease_owner, lease_expires_at,
                               rerun_of)
             VALUES (?, ?, ?, ?, 'running', ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?) RETURNING id",
        )
        .bind(&new.task)
        .bind(&new.script_group)
        .bind(&new.server_group)
        .bind(actor.to_string())
        .bind(i64::from(new.options.parallel))
        .bind(new.options.on_failure.as_str())
        .bind(new.options.max_failed_hosts.map(i64::from))
        .bind(new.options.use_sudo)
        .bind(env)
        .bind(&new.nonce)
        .bind(serde_json::to_string(&new.identities).unwrap_or_else(|_| "[]".into()))
        .bind(now)
        .bind((lease_ms >= 0).then_some(owner))
        .bind((lease_ms >= 0).then_some(now + lease_ms))
        .bind(rerun_of)
        .fetch_one(&mut *tx)
        .await?;
        insert_run_scripts(&mut tx, run_id, &new.scripts).await?;
        for (position, host) in new.hosts.iter().enumerate() {
            let route = new.routes.get(position).cloned().flatten();
            let user = match &route {
                Some((user, _)) => user.clone(),
                None => host
                    .user
                    .clone()
                    .unwrap_or_else(|| new.default_user.clone()),
            };
            // The key pinned now for the host at this address wins (a host
            // re-pinned with `host trust` before a rerun); else the key the
            // caller carries (a rerun: the key of the run it repeats).
            sqlx::query(
                "INSERT INTO run_hosts (run_id, position, host_name, address, port, user, use_sudo, state, host_key, route)
                 VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, 'queued', COALESCE(
                    (SELECT i.host_key FROM hosts i WHERE i.name = ?3 AND i.address = ?4 AND i.port = ?5), ?8), ?9)",
            )
            .bind(run_id)
            .bind(position as i64)
            .bind(&host.name)
            .bind(&host.address)
            .bind(i64::from(host.port))
            .bind(user)
            .bind(host.use_sudo || new.options.use_sudo)
            .bind(&host.host_key)
            .bind(route.map(|(_, json)| json))
            .execute(&mut *tx)
            .await?;
        }
        let env_names: Vec<&str> = new.env.keys().collect();
        let rerun_of = rerun_of
            .map(|run| format!(", rerun of run {run}"))
            .unwrap_or_default();
        let detail = format!(
            "{} on {} ({} hosts, env {:?}{rerun_of})",
            new.script_group,
            new.server_group,
            new.hosts.len(),
            env_names
        );
        audit(
            &mut tx,
            actor,
            "run.start",
            &run_id.to_string(),
            &detail,
            "ok",
        )
        .await?;
        tx.commit().await?;
        Ok(run_id)
    }

    /// Loads a run for driving or resuming.
    pub async fn stored_run(&self, run_id: i64) -> Result<StoredRun> {
        let row = sqlx::query(
            "SELECT parallel, on_failure, max_failed_hosts, use_sudo, nonce, cancel_requested, state, env, identities FROM runs WHERE id = ?",
        )
        .bind(run_id)
        .fetch_optional(&self.pool)
        .await?
        .ok_or_else(|| self.unknown_run(run_id))?;
        let on_failure: String = row.try_get("on_failure")?;
        let max_failed: Option<i64> = row.try_get("max_failed_hosts")?;
        let options = RunOptions {
            parallel: u32::try_from(row.try_get::<i64, _>("parallel")?)
                .unwrap_or(1)
                .max(1),
            on_failure: crate::domain::OnFailure::parse(&on_failure)?,
            max_failed_hosts: max_failed.and_then(|m| u32::try_from(m).ok()),
            use_sudo: row.try_get::<i64, _>("use_sudo")? != 0,
        };
        let scripts = sqlx::query(
            "SELECT r.script_name, r.script_version, r.body_sha, b.body, r.timeout_secs FROM run_scripts r
             JOIN script_bodies b ON b.sha256 = r.body_sha WHERE r.run_id = ? ORDER BY r.step",
        )
        .bind(run_id)
        .fetch_all(&self.pool)
        .await?
        .iter()
        .map(|r| {
            Ok(RunScript {
                name: r.try_get("script_name")?,
                version: r.try_get("script_version")?,
                body_sha: r.try_get("body_sha")?,
                body: r.try_get("body")?,
                timeout_secs: r.try_get::<Option<i64>, _>("timeout_secs")?.and_then(|t| u64::try_from(t).ok()),
            })
        })
        .collect::<Result<Vec<_>>>()?;
        let host_rows = sqlx::query(
            "SELECT h.*,
                (SELECT COUNT(*) FROM run_steps s WHERE s.run_host_id = h.id AND s.end_offset IS NOT NULL) AS finished_steps,
                (SELECT s.log_offset FROM run_steps s WHERE s.run_host_id = h.id AND s.end_offset IS NULL
                   ORDER BY s.step LIMIT 1) AS open_offset,
                (SELECT s.step FROM run_steps s WHERE s.run_host_id = h.id AND s.end_offset IS NULL
                   ORDER BY s.step LIMIT 1) AS open_step,
                (SELECT s.end_offset FROM run_steps s WHERE s.run_host_id = h.id AND s.end_offset IS NOT NULL
                   ORDER BY s.step DESC LIMIT 1) AS last_end_offset,
                (SELECT s.step FROM run_steps s WHERE s.run_host_id = h.id AND s.state IN ('failed', 'timed_out')
                   ORDER BY s.step LIMIT 1) AS failed_step,
                (SELECT s.exit_code FROM run_steps s WHERE s.run_host_id = h.id AND s.state IN ('failed', 'timed_out')
                   ORDER BY s.step LIMIT 1) AS failed_exit_code
             FROM run_hosts h WHERE h.run_id = ? ORDER BY h.position",
        )
        .bind(run_id)
        .fetch_all(&self.pool)
        .await?;
        let mut hosts = Vec::with_capacity(host_rows.len());
        for r in &host_rows {
            let id: i64 = r.try_get("id")?;
            // Output resumes where the open step began (one that ended
            // without its end marker, lost or cancelled, is open: read again
            // from its start), else after the last finished step, else at
            // the start.
            let open_offset: Option<i64> = r.try_get("open_offset")?;
            let last_end_offset: Option<i64> = r.try_get("last_end_offset")?;
            let resume_offset = open_offset.or(last_end_offset).unwrap_or(0);
            hosts.push(RunHost {
                id,
                name: r.try_get("host_name")?,
                address: r.try_get("address")?,
                port: u16::try_from(r.try_get::<i64, _>("port")?).unwrap_or(22),
                user: r.try_get("user")?,
                use_sudo: r.try_get::<i64, _>("use_sudo")? != 0,
                host_key: r.try_get("host_key")?,
                state: host_state_of(r)?,
                remote_dir: r.try_get("remote_dir")?,
                resume_offset: u64::try_from(resume_offset).unwrap_or(0),
                finished_steps: u32::try_from(r.try_get::<i64, _>("finished_steps")?).unwrap_or(0),
                open_step: r
                    .try_get::<Option<i64>, _>("open_step")?
                    .and_then(|s| u32::try_from(s).ok()),
                first_failed_step: r
                    .try_get::<Option<i64>, _>("failed_step")?
                    .and_then(|s| u32::try_from(s).ok())
                    .map(|step| -> Result<FailedStep> {
                        Ok(FailedStep {
                            step,
                            exit_code: r
                                .try_get::<Option<i64>, _>("failed_exit_code")?
                                .and_then(|c| i32::try_from(c).ok()),
                        })
                    })
                    .transpose()?,
                files_removed: r.try_get::<i64, _>("files_removed")? != 0,
                route: r.try_get("route")?,
            });
        }
        let state: String = row.try_get("state")?;
        Ok(StoredRun {
            id: run_id,
            options,
            nonce: row.try_get("nonce")?,
            scripts,
            hosts,
            cancel_requested: row.try_get::<i64, _>("cancel_requested")? != 0,
            state: RunState::parse(&state)?,
            env: serde_json::from_str(&row.try_get::<String, _>("env")?).unwrap_or_default(),
            identities: serde_json::from_str(&row.try_get::<String, _>("identities")?)
                .unwrap_or_default(),
        })
    }

    fn unknown_run(&self, run_id: i64) -> Error {
        Error::NotFound {
            kind: EntityKind::Run,
            name: run_id.to_string(),
            known: Vec::new(),
        }
    }

    /// Applies a batch of changes in one transaction.
    /// Stores records of a run for the controller `owner`, in one
    /// transaction, only while `owner` holds the run's lease: a controller
    /// that lost its run to another one writes nothing more.
    pub async fn apply_run_records(
        &self,
        run_id: i64,
        owner: &str,
        records: &[RunRecord],
    ) -> Result<()> {
        if records.is_empty() {
            return Ok(());
        }
        let mut tx = self.begin().await?;
        let holder = lease_holder(&mut tx, run_id).await?;
        if holder.as_deref() != Some(owner) {
            return Err(lease_lost(run_id));
        }
        for record in records {
            apply_record(&mut tx, record).await?;
        }
        tx.commit().await?;
        Ok(())
    }

    /// Opens a run that is over again for the hosts it lost (their runs'
    /// files stay on the hosts: a connection that could not be
    /// re-established, output the controller could not write), so that a
    /// driver reattaches to them and collects what they printed. Audited;
    /// returns the hosts, none when the run is running or lost no host.
    pub async fn reopen_lost_hosts(&self, actor: &Actor, run_id: i64) -> Result<Vec<String>> {
        let mut tx = self.begin().await?;
        let state: Option<String> = sqlx::query_scalar("SELECT state FROM runs WHERE id = ?")
            .bind(run_id)
            .fetch_optional(&mut *tx)
            .await?;
        let state = state.ok_or_else(|| self.unknown_run(run_id))?;
        if RunState::parse(&state)? == RunState::Running {
            return Ok(Vec::new());
        }
        let hosts: Vec<String> = sqlx::query_scalar(
            "UPDATE run_hosts SET state = 'queued', reason = NULL, finished_at = NULL
             WHERE run_id = ? AND state = 'lost' AND remote_dir IS NOT NULL RETURNING host_name",
        )
        .bind(run_id)
        .fetch_all(&mut *tx)
        .await?;
        if hosts.is_empty() {
            return Ok(hosts);
        }
        sqlx::query(
            "UPDATE runs SET state = 'running', finished_at = NULL, lease_owner = NULL, lease_expires_at = NULL
             WHERE id = ?",
        )
        .bind(run_id)
        .execute(&mut *tx)
        .await?;
        let detail = format!("reattach to lost hosts {}", hosts.join(", "));
        audit(
            &mut tx,
            actor,
            "run.reopen",
            &run_id.to_string(),
            &detail,
            "ok",
        )
        .await?;
        tx.commit().await?;
        Ok(hosts)
    }

    /// Asks the controller of a run to cancel it.
    pub async fn request_cancel(&self, actor: &Actor, run_id: i64) -> Result<RunState> {
        let mut tx = self.begin().await?;
        let state: Option<String> = sqlx::query_scalar("SELECT state FROM runs WHERE id = ?")
            .bind(run_id)
            .fetch_optional(&mut *tx)
            .await?;
        let state = RunState::parse(&state.ok_or_else(|| self.unknown_run(run_id))?)?;
        if state != RunState::Running {
            return Err(Error::Refused(format!(
                "run {run_id} is already {}; only running runs can be cancelled",
                state.as_str()
            )));
        }
        sqlx::query("UPDATE runs SET cancel_requested = 1 WHERE id = ?")
            .bind(run_id)
            .execute(&mut *tx)
            .await?;
        audit(&mut tx, actor, "run.cancel", &run_id.to_string(), "", "ok").await?;
        tx.commit().await?;
        Ok(state)
    }

    pub async fn cancel_requested(&self, run_id: i64) -> Result<bool> {
        let flag: Option<i64> =
            sqlx::query_scalar("SELECT cancel_requested FROM runs WHERE id = ?")
                .bind(run_id)
                .fetch_optional(&self.pool)
                .await?;
        Ok(flag.unwrap_or(0) != 0)
    }

    pub async fn run_state(&self, run_id: i64) -> Result<RunState> {
        let state: Option<String> = sqlx::query_scalar("SELECT state FROM runs WHERE id = ?")
            .bind(run_id)
            .fetch_optional(&self.pool)
            .await?;
        RunState::parse(&state.ok_or_else(|| self.unknown_run(run_id))?)
    }

    /// The run as front ends show it.
    pub async fn run_snapshot(&self, run_id: i64) -> Result<RunSnapshot> {
        let run = sqlx::query("SELECT * FROM runs WHERE id = ?")
            .bind(run_id)
            .fetch_optional(&self.pool)
            .await?
            .ok_or_else(|| self.unknown_run(run_id))?;
        let scripts: Vec<String> = sqlx::query_scalar(
            "SELECT script_name FROM run_scripts WHERE run_id = ? ORDER BY step",
        )
        .bind(run_id)
        .fetch_all(&self.pool)
        .await?;
        let rows = sqlx::query(
            "SELECT h.*, (SELECT s.log_excerpt FROM run_steps s WHERE s.run_host_id = h.id ORDER BY s.step DESC LIMIT 1)
                 AS excerpt
             FROM run_hosts h WHERE h.run_id = ? ORDER BY h.position",
        )
        .bind(run_id)
        .fetch_all(&self.pool)
        .await?;
        let now = now_ms();
        let steps = u32::try_from(scripts.len()).unwrap_or(u32::MAX);
        let mut hosts = Vec::with_capacity(rows.len());
        for r in &rows {
            let state = host_state_of(r)?;
            let started: Option<i64> = r.try_get("started_at")?;
            let finished: Option<i64> = r.try_get("finished_at")?;
            hosts.push(HostSnapshot {
                host: r.try_get("host_name")?,
                script: state
                    .step()
                    .and_then(|s| (s as usize).checked_sub(1))
                    .and_then(|i| scripts.get(i).cloned()),
                state,
                steps,
                started_at: started.map(format_ms),
                finished_at: finished.map(format_ms),
                elapsed_ms: started.map(|s| finished.unwrap_or(now) - s),
                excerpt: r
                    .try_get::<Option<String>, _>("excerpt")?
                    .unwrap_or_default(),
            });
        }
        let created: i64 = run.try_get("created_at")?;
        let finished: Option<i64> = run.try_get("finished_at")?;
        let state: String = run.try_get("state")?;
        Ok(RunSnapshot {
            id: run_id,
            state: RunState::parse(&state)?,
            task: run.try_get("task_name")?,
            started_by: run.try_get("started_by")?,
            script_group: run.try_get("script_group")?,
            server_group: run.try_get("server_group")?,
            scripts,
            created_at: format_ms(created),
            finished_at: finished.map(format_ms),
            elapsed_ms: finished.unwrap_or(now) - created,
            hosts,
        })
    }

    pub async fn list_runs(&self, limit: u32) -> Result<Vec<RunSummary>> {
        self.list_runs_where(&RunListFilter::default(), limit).await
    }

    /// The newest runs that `filter` keeps, newest first.
    pub async fn list_runs_where(
        &self,
        filter: &RunListFilter,
        limit: u32,
    ) -> Result<Vec<RunSummary>> {
        let rows = sqlx::query(
            "SELECT r.*, (SELECT COUNT(*) FROM run_hosts h WHERE h.run_id = r.id) AS host_count,
                    (SELECT COUNT(*) FROM run_hosts h WHERE h.run_id = r.id
                       AND h.state IN ('failed', 'unreachable', 'timed_out', 'lost')) AS failed_count
             FROM runs r
             WHERE (?1 IS NULL OR r.state = ?1) AND (?2 IS NULL OR r.task_name = ?2)
               AND (?3 IS NULL OR instr(r.started_by, ?3) > 0)
             ORDER BY r.id DESC LIMIT ?4",
        )
        .bind(filter.state.map(RunState::as_str))
        .bind(filter.task.as_deref())
        .bind(filter.started_by.as_deref())
        .bind(i64::from(limit))
        .fetch_all(&self.pool)
        .await?;
        rows.iter()
            .map(|r| {
                Ok(RunSummary {
                    id: r.try_get("id")?,
                    state: RunState::parse(&r.try_get::<String, _>("state")?)?,
                    task: r.try_get("task_name")?,
                    script_group: r.try_get("script_group")?,
                    server_group: r.try_get("server_group")?,
                    started_by: r.try_get("started_by")?,
                    created_at: format_ms(r.try_get("created_at")?),
                    hosts: r.try_get("host_count")?,
                    failed_hosts: r.try_get("failed_count")?,
                })
            })
            .collect()
    }

    /// Host names of a run whose state is one of `states`.
    pub async fn run_hosts_in(&self, run_id: i64, states: &[&str]) -> Result<Vec<String>> {
        let snapshot = self.run_snapshot(run_id).await?;
        Ok(snapshot
            .hosts
            .into_iter()
            .filter(|h| states.contains(&h.state.name()))
            .map(|h| h.host)
            .collect())
    }

    /// The running rerun of `run_id`, if there is one.
    pub async fn live_rerun(&self, run_id: i64) -> Result<Option<i64>> {
        let mut db = self.pool.acquire().await?;
        live_rerun_in(&mut db, run_id).await
    }

    /// Script group, server group and task of a run.
    pub async fn run_origin(&self, run_id: i64) -> Result<(Option<String>, String, String)> {
        let row =
            sqlx::query("SELECT task_name, script_group, server_group FROM runs WHERE id = ?")
                .bind(run_id)
                .fetch_optional(&self.pool)
                .await?
                .ok_or_else(|| self.unknown_run(run_id))?;
        Ok((
            row.try_get("task_name")?,
            row.try_get("script_group")?,
            row.try_get("server_group")?,
        ))
    }
}

fn host_state_of(r: &sqlx::sqlite::SqliteRow) -> Result<HostState> {
    let state: String = r.try_get("state")?;
    let step: Option<i64> = r.try_get("current_step")?;
    let exit: Option<i64> = r.try_get("exit_code")?;
    HostState::from_columns(
        &state,
        step.and_then(|s| u32::try_from(s).ok()),
        exit.and_then(|e| i32::try_from(e).ok()),
        r.try_get("reason")?,
    )
}

async fn apply_record(tx: &mut super::Tx<'_>, record: &RunRecord) -> Result<()> {
    match record {
        RunRecord::Host {
            run_host_id,
            state,
            at,
            remote_dir,
        } => {
            let started = matches!(state, HostState::Connecting).then_some(*at);
            let finished = state.is_final().then_some(*at);
            sqlx::query(
                "UPDATE run_hosts SET state = ?, current_step = ?, exit_code = ?, reason = ?,
                    started_at = COALESCE(started_at, ?), finished_at = ?, remote_dir = COALESCE(?, remote_dir)
                 WHERE id = ?",
            )
            .bind(state.name())
            .bind(state.step().map(i64::from))
            .bind(state.exit_code())
            .bind(state.reason())
            .bind(started)
            .bind(finished)
            .bind(remote_dir)
            .bind(run_host_id)
            .execute(&mut **tx)
            .await?;
        }
        RunRecord::StepStart {
            run_host_id,
            step,
            at,
            offset,
        } => {
            sqlx::query(
                "INSERT INTO run_steps (run_host_id, step, state, started_at, log_offset) VALUES (?, ?, 'running', ?, ?)
                 ON CONFLICT (run_host_id, step) DO UPDATE SET state = 'running', log_offset = excluded.log_offset,
                    finished_at = NULL, end_offset = NULL",
            )
            .bind(run_host_id)
            .bind(i64::from(*step))
            .bind(at)
            .bind(i64_of(*offset))
            .execute(&mut **tx)
            .await?;
        }
        RunRecord::StepEnd {
            run_host_id,
            step,
            state,
            exit_code,
            at,
            bytes,
            excerpt,
            end_offset,
        } => {
            sqlx::query(
                "INSERT INTO run_steps (run_host_id, step, state, exit_code, started_at, finished_at, log_bytes, log_excerpt, end_offset)
                 VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)
                 ON CONFLICT (run_host_id, step) DO UPDATE SET state = excluded.state, exit_code = excluded.exit_code,
                    finished_at = excluded.finished_at, log_bytes = excluded.log_bytes,
                    log_excerpt = excluded.log_excerpt, end_offset = excluded.end_offset",
            )
            .bind(run_host_id)
            .bind(i64::from(*step))
            .bind(state)
            .bind(exit_code)
            .bind(at)
            .bind(at)
            .bind(i64_of(*bytes))
            .bind(excerpt)
            .bind(end_offset.map(i64_of))
            .execute(&mut **tx)
            .await?;
        }
        RunRecord::FilesRemoved { run_host_id } => {
            sqlx::query("UPDATE run_hosts SET files_removed = 1 WHERE id = ?")
                .bind(run_host_id)
                .execute(&mut **tx)
                .await?;
        }
        RunRecord::RunFinished { run_id, state, at } => {
            sqlx::query(
                "UPDATE runs SET state = ?, finished_at = ?, lease_owner = NULL, lease_expires_at = NULL WHERE id = ?",
            )
            .bind(state.as_str())
            .bind(at)
            .bind(run_id)
            .execute(&mut **tx)
            .await?;
        }
    }
    Ok(())
}

async fn insert_run_scripts(
    tx: &mut super::Tx<'_>,
    run_id: i64,
    scripts: &RunScripts,
) -> Result<()> {
    match scripts {
        RunScripts::Versions(versions) => {
            for (index, (script, version)) in versions.iter().enumerate() {
                let inserted = sqlx::query(
                    "INSERT INTO run_scripts (run_id, step, script_name, script_version, body_sha, timeout_secs)
                     SELECT ?, ?, s.name, v.version, v.body_sha, s.timeout_secs FROM scripts s
                     JOIN script_versions v ON v.script_id = s.id WHERE s.name = ? AND v.version = ?",
                )
                .bind(run_id)
                .bind(index as i64 + 1)
                .bind(script)
                .bind(version)
                .execute(&mut **tx)
                .await?;
                if inserted.rows_affected() != 1 {
                    return Err(Error::not_found(
                        EntityKind::Script,
                        format!("{script} (version {version})"),
                    ));
                }
            }
        }
        RunScripts::SameAs(earlier) => {
            let inserted = sqlx::query(
                "INSERT INTO run_scripts (run_id, step, script_name, script_version, body_sha, timeout_secs)
                 SELECT ?, step, script_name, script_version, body_sha, timeout_secs
                 FROM run_scripts WHERE run_id = ? ORDER BY step",
            )
            .bind(run_id)
            .bind(earlier)
            .execute(&mut **tx)
            .await?;
            if inserted.rows_affected() == 0 {
                return Err(Error::not_found(EntityKind::Run, earlier.to_string()));
            }
        }
    }
    Ok(())
}

/// The running rerun of `run`, if there is one.
async fn live_rerun_in(db: &mut sqlx::SqliteConnection, run: i64) -> Result<Option<i64>> {
    Ok(sqlx::query_scalar(
        "SELECT id FROM runs WHERE rerun_of = ? AND state = 'running' ORDER BY id LIMIT 1",
    )
    .bind(run)
    .fetch_optional(db)
    .await?)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::domain::{Host, Name};

    /// A store with one run of one host, both in the given stored states.
    async fn store_with_run(run_state: &str, host_state: &str) -> (tempfile::TempDir, Store, i64) {
        let dir = tempfile::tempdir().expect("tempdir");
        let store = Store::open(&dir.path().join("drover.db"))
            .await
            .expect("open");
        let run_id: i64 = sqlx::query_scalar(
            "INSERT INTO runs (script_group, server_group, started_by, state, parallel, on_failure, created_at)
             VALUES ('lamp', 'web', 'cli:tester', ?, 1, 'stop', 0) RETURNING id",
        )
        .bind(run_state)
        .fetch_one(&store.pool)
        .await
        .expect("run");
        sqlx::query(
            "INSERT INTO run_hosts (run_id, position, host_name, address, port, user, state, reason)
             VALUES (?, 0, 'web-1', '192.0.2.1', 22, 'deploy', ?, 'connection reset')",
        )
        .bind(run_id)
        .bind(host_state)
        .execute(&store.pool)
        .await
        .expect("host");
        (dir, store, run_id)
    }

    #[tokio::test]
    async fn an_unknown_stored_host_state_is_an_error_naming_it() {
        let (_dir, store, run_id) = store_with_run("running", "exploded").await;
        for err in [
            store.run_snapshot(run_id).await.expect_err("snapshot"),
            store.stored_run(run_id).await.expect_err("stored run"),
        ] {
            let text = err.to_string();
            assert!(
                text.contains("unknown host state 'exploded'"),
                "names the stored value: {text}"
            );
        }
    }

    #[tokio::test]
    async fn an_unknown_stored_run_state_is_an_error_naming_it() {
        let (_dir, store, run_id) = store_with_run("paused", "succeeded").await;
        let snapshot = store.run_snapshot(run_id).await.expect_err("snapshot");
        let listed = store.list_runs(10).await.expect_err("list");
        let state = store.run_state(run_id).await.expect_err("state");
        for err in [snapshot, listed, state] {
            let text = err.to_string();
            assert!(
                text.contains("unknown run state 'paused'"),
                "names the stored value: {text}"
            );
        }
    }

    #[tokio::test]
    async fn known_stored_states_read_back_typed() {
        let (_dir, store, run_id) = store_with_run("failed", "lost").await;
        let snapshot = store.run_snapshot(run_id).await.expect("snapshot");
        assert_eq!(snapshot.state, RunState::Failed);
        assert_eq!(
            snapshot.hosts[0].state,
            HostState::Lost {
                step: None,
                reason: "connection reset".into()
            }
        );
    }

    fn new_run(scripts: RunScripts) -> NewRun {
        NewRun {
            task: None,
            script_group: "sg".into(),
            server_group: "web".into(),
            options: RunOptions::default(),
            scripts,
            hosts: vec![Host {
                name: "web-1".into(),
                address: "192.0.2.1".into(),
                port: 22,
                user: Some("deploy".into()),
                description: String::new(),
                host_key: None,
                use_sudo: false,
                groups: Vec::new(),
                jump: None,
            }],
            routes: vec![None],
            default_user: "deploy".into(),
            env: Vec::new().into(),
            nonce: "0123456789abcdef".into(),
            identities: Vec::new(),
        }
    }

    /// Two reruns of one run created at once (a double click, two
    /// operators, CLI and bot): the store lets one through and refuses the
    /// other naming it, whatever the front end checked before.
    #[tokio::test]
    async fn a_second_live_rerun_of_a_run_is_refused_atomically() {
        let dir = tempfile::tempdir().expect("tempdir");
        let store = Store::open(&dir.path().join("drover.db"))
            .await
            .expect("open");
        let actor = Actor::System;
        let script = super::super::inventory::ValidScript {
            name: Name::parse(EntityKind::Script, "s").expect("name"),
            body: "true\n".into(),
            description: None,
            timeout_secs: None,
        };
        store.add_script(&actor, &script).await.expect("script");
        let versions = RunScripts::Versions(vec![("s".into(), 1)]);
        let first = store
            .create_run(&actor, &new_run(versions), "me/1", -1)
            .await
            .expect("run");
        let rerun = new_run(RunScripts::SameAs(first));
        let (a, b) = tokio::join!(
            store.create_run(&actor, &rerun, "me/1", -1),
            store.create_run(&actor, &rerun, "me/1", -1)
        );
        let (started, refused) = match (a, b) {
            (Ok(id), Err(e)) | (Err(e), Ok(id)) => (id, e),
            other => panic!("exactly one rerun is created: {other:?}"),
        };
        assert!(
            matches!(refused, Error::RerunLive { run, rerun } if run == first && rerun == started),
            "{refused}"
        );
        assert_eq!(store.live_rerun(first).await.expect("query"), Some(started));
        // Once that rerun has ended, the run may be rerun again.
        sqlx::query("UPDATE runs SET state = 'succeeded' WHERE id = ?")
            .bind(started)
            .execute(&store.pool)
            .await
            .expect("end the rerun");
        assert_eq!(store.live_rerun(first).await.expect("query"), None);
        store
            .create_run(&actor, &rerun, "me/1", -1)
            .await
            .expect("a new rerun once the first one ended");
    }
}
