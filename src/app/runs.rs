//! Runs: planning what to start (a task, a script group on a server group,
//! a rerun of failed hosts), the run environment policy, and the runs and
//! snapshots front ends show.

use super::input::{parse_env, to_u32, RunInput};
use super::{App, RunListFilter, RunMessage, RunSummary};
use crate::domain::{OnFailure, RunOptions};
use crate::engine::{RunPlan, RunScripts};
use crate::error::{EntityKind, Result};
use crate::state::RunSnapshot;

impl App {
    /// A run's snapshot as users see it: host output (excerpts, reasons)
    /// passed through `logs.redact`.
    pub async fn shown_snapshot(&self, id: i64) -> Result<RunSnapshot> {
        Ok(self.redactor.snapshot(self.store.run_snapshot(id).await?))
    }

    /// A run's snapshot as stored, host output not yet passed through
    /// `logs.redact`: for renderers that redact what they show themselves
    /// (Discord's); others use [`App::shown_snapshot`].
    pub async fn run_snapshot(&self, id: i64) -> Result<RunSnapshot> {
        self.store.run_snapshot(id).await
    }

    /// The Discord messages that show a run, oldest first.
    pub async fn run_messages(&self, run_id: i64) -> Result<Vec<RunMessage>> {
        self.store.run_messages(run_id).await
    }

    /// Records that a Discord message shows a run (a restarted bot goes on
    /// editing it).
    pub async fn record_run_message(
        &self,
        run_id: i64,
        channel: &str,
        message: &str,
    ) -> Result<()> {
        self.store
            .record_run_message(run_id, channel, message)
            .await
    }

    /// Running runs that a Discord message shows, whichever process drives
    /// them.
    pub async fn running_runs_with_messages(&self) -> Result<Vec<i64>> {
        self.store.running_runs_with_messages().await
    }

    /// The newest runs, newest first (`run list`, the web's runs page).
    pub async fn recent_runs(&self, limit: u32) -> Result<Vec<RunSummary>> {
        self.store.list_runs(limit).await
    }

    /// The newest runs `filter` keeps, newest first (the web's runs list).
    pub async fn runs_matching(
        &self,
        filter: &RunListFilter,
        limit: u32,
    ) -> Result<Vec<RunSummary>> {
        self.store.list_runs_where(filter, limit).await
    }

    /// The run environment policy ([`crate::run_env`]), the one check for
    /// every front end and for reruns of stored runs: refuses keys that
    /// make a shell, an interpreter or the dynamic loader run other code
    /// than the script (unless `run.env_allow` names them) and values that
    /// look like shell functions, naming the key and never the value.
    pub fn check_run_env(&self, env: &crate::run_env::EnvVars) -> Result<()> {
        for (key, value) in env.iter() {
            if crate::run_env::looks_like_function(value) {
                return Err(crate::error::Error::EnvValueRefused {
                    key: key.to_string(),
                });
            }
            if let Some(why) = crate::run_env::refused_key(key) {
                if !self.config.run.env_allow.iter().any(|k| k == key) {
                    return Err(crate::error::Error::EnvKeyRefused {
                        key: key.to_string(),
                        why,
                    });
                }
            }
        }
        Ok(())
    }

    /// Resolves `task run TASK` or `task run SCRIPT_GROUP SERVER_GROUP`.
    pub async fn plan_run(
        &self,
        first: &str,
        second: Option<&str>,
        o: RunInput,
    ) -> Result<RunPlan> {
        let env = crate::run_env::EnvVars::new(
            o.env
                .iter()
                .map(|e| parse_env(e))
                .collect::<Result<Vec<_>>>()?,
        );
        self.check_run_env(&env)?;
        let (task, script_group, server_group, mut options) = match second {
            None => match self.store.task(first).await {
                Ok(task) => (
                    Some(task.name),
                    task.script_group,
                    task.server_group,
                    task.options,
                ),
                Err(crate::error::Error::NotFound { known, .. }) => {
                    let hint = if self
                        .store
                        .names(EntityKind::ScriptGroup)
                        .await?
                        .iter()
                        .any(|g| g == first)
                    {
                        format!("; '{first}' is a script group: name a server group too (drover task run {first} SERVER_GROUP)")
                    } else {
                        String::new()
                    };
                    return Err(crate::error::Error::Refused(format!(
                        "unknown task '{first}' (known tasks: {}){hint}",
                        if known.is_empty() {
                            "none".to_string()
                        } else {
                            known.join(", ")
                        }
                    )));
                }
                Err(e) => return Err(e),
            },
            Some(server_group) => (
                None,
                first.to_string(),
                server_group.to_string(),
                RunOptions::default(),
            ),
        };
        // Looked up once: what a front end shows of the plan is what runs.
        let scripts = self.current_scripts(&script_group).await?;
        let hosts = self.store.server_group_hosts(&server_group).await?;
        if let Some(p) = o.parallel {
            options.parallel = to_u32("parallel", p, "between 1 and 4096 hosts at once")?;
        }
        if o.continue_on_error {
            options.on_failure = OnFailure::Continue;
        }
        if let Some(m) = o.max_failed_hosts {
            options.max_failed_hosts = Some(to_u32("max-failed-hosts", m, "at least 1")?);
        }
        options.use_sudo |= o.sudo;
        options.validate()?;
        Ok(RunPlan {
            task,
            script_group,
            server_group,
            options,
            scripts: RunScripts::Versions(scripts),
            hosts,
            env,
        })
    }

    /// The current version of each script of a script group, in order.
    async fn current_scripts(&self, script_group: &str) -> Result<Vec<(String, i64)>> {
        let group = self.store.script_group(script_group).await?;
        let mut scripts = Vec::with_capacity(group.scripts.len());
        for name in group.scripts {
            let script = self.store.script(&name, None).await?;
            scripts.push((name, script.version));
        }
        Ok(scripts)
    }

    /// A new run of a past run's failed hosts, with the same script
    /// versions. Refused while an earlier rerun of the run is still
    /// running (checked again, atomically, when the rerun is created).
    pub async fn plan_rerun_failed(&self, run_id: i64) -> Result<RunPlan> {
        let run = self.store.stored_run(run_id).await?;
        if let Some(rerun) = self.store.live_rerun(run_id).await? {
            return Err(crate::error::Error::RerunLive { run: run_id, rerun });
        }
        // A run stored before the policy (or before `run.env_allow` lost a
        // key) is refused in the same words as a new one.
        self.check_run_env(&run.env)?;
        let hosts = crate::engine::hosts_of(&run, &["failed", "unreachable", "timed_out", "lost"]);
        if hosts.is_empty() {
            return Err(crate::error::Error::Refused(format!(
                "run {run_id} has no failed hosts to rerun"
            )));
        }
        let (task, script_group, server_group) = self.store.run_origin(run_id).await?;
        Ok(RunPlan {
            task,
            script_group,
            server_group,
            options: run.options.clone(),
            scripts: RunScripts::SameAs(run_id),
            hosts,
            env: run.env.clone(),
        })
    }
}
