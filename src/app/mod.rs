//! The application layer: the one thing front ends (CLI, Discord, web)
//! call. It owns the store (private to it) and the configuration, takes
//! raw operator input and validates it into domain values, so every front
//! end refuses the same things with the same words.
//!
//! - `input`: the raw input types of operations (`XxxInput`);
//! - `inventory`: hosts, server groups, scripts, script groups, tasks;
//! - `library`: import of the `commands/` library and inventory files, export;
//! - `runs`: planning runs and the runs front ends show;
//! - `lifecycle`: starting, driving, cancelling, adopting and resuming
//!   runs, and the supervisor of this process's driver tasks;
//! - `run_logs`: a run's step logs as users read them;
//! - `remote`: operations on hosts outside runs (log fetch, check, trust);
//! - `accounts`: web accounts, sessions and login links;
//! - `audit`: the audit trail, written by the app only.

pub mod accounts;
mod audit;
mod input;
mod inventory;
mod library;
mod lifecycle;
pub mod remote;
mod run_logs;
mod runs;

use std::sync::Arc;

use crate::config::Config;
use crate::engine::Engine;
use crate::error::Result;
use crate::store::Store;

pub use crate::engine::{Orphaned, RunEvent, RunPlan};
/// Library and SSH types front ends see as they are: import options, the
/// inventory's TOML writer, a host's effective connection values.
pub use crate::library::{export, format::Format, ImportOptions};
pub use crate::ssh::route::Resolved;
/// Store types front ends see as they are.
pub use crate::store::{
    accounts::WebUser,
    run_messages::RunMessage,
    runs::{RunListFilter, RunSummary},
    ScriptChange,
};
pub use input::*;
pub use lifecycle::{Adopted, Adoption, CancelWait, Driving, Launcher};
pub use remote::key_fingerprint;
pub use run_logs::rest_of_logs_note;

/// The operations over one store and configuration, and the runs this
/// process drives. Cheap to clone; clones share the store, the engine and
/// the supervisor.
#[derive(Clone)]
pub struct App {
    store: Store,
    pub config: Arc<Config>,
    /// `logs.redact`, applied to every piece of host output shown to users.
    pub redactor: Arc<crate::redact::Redactor>,
    launcher: Arc<Launcher>,
    /// Built on first use: commands that drive nothing never read the SSH
    /// client configuration.
    engine: Arc<std::sync::OnceLock<Engine>>,
    supervisor: Arc<lifecycle::Supervisor>,
}

impl App {
    /// The operations over `store`; fails when a `logs.redact` pattern
    /// does not compile (a validated configuration's always do).
    pub fn new(store: Store, config: Config, launcher: Launcher) -> Result<App> {
        let redactor = crate::redact::Redactor::new(&config.logs.redact)
            .map_err(|e| crate::error::Error::Config(format!("logs.redact: {e}")))?;
        Ok(App {
            store,
            config: Arc::new(config),
            redactor: Arc::new(redactor),
            launcher: Arc::new(launcher),
            engine: Arc::default(),
            supervisor: Arc::default(),
        })
    }

    /// Opens the database `config` names (`database.url`, else the default
    /// path) and the operations over it.
    pub async fn open(config: Config, launcher: Launcher) -> Result<App> {
        let db_path = match config.database.url.as_deref() {
            Some(url) => crate::store::database_path(url)?,
            None => crate::store::default_database_path(),
        };
        let store = Store::open(&db_path).await?;
        App::new(store, config, launcher)
    }

    /// Closes the database pool: every write is on disk when it returns.
    pub async fn close(&self) {
        self.store.close().await;
    }

    /// The run engine of this process (one per process: one lease owner,
    /// one event channel).
    fn engine(&self) -> &Engine {
        self.engine.get_or_init(|| {
            Engine::new(
                self.store.clone(),
                self.ssh_settings(&self.launcher.identities),
                self.log_root(),
                self.default_user(),
            )
        })
    }
}

impl App {
    /// The SSH settings of the configuration plus extra identity files.
    pub fn ssh_settings(&self, extra_identities: &[std::path::PathBuf]) -> crate::ssh::SshSettings {
        let mut identity_files: Vec<std::path::PathBuf> = extra_identities.to_vec();
        identity_files.extend(self.config.ssh.identity_files.iter().cloned());
        crate::ssh::SshSettings {
            identity_files,
            use_agent: true,
            known_hosts: crate::ssh::KnownHostsFiles::new(self.config.ssh.known_hosts.clone()),
            host_key_policy: self.config.ssh.host_key_policy,
            connect_timeout: self.config.ssh.connect_timeout,
            keepalive_interval: self.config.ssh.keepalive_interval,
            jumps: Default::default(),
            known_hosts_by_files: Default::default(),
            ssh_config: self.load_ssh_config(),
            configured_user: self.config.ssh.user.clone(),
            os_user: crate::config::os_user_name(),
        }
    }

    /// The OpenSSH client configuration: `ssh.config`, else
    /// `~/.ssh/config` when it exists; its warnings (Match blocks left
    /// out) go to the diagnostics.
    fn load_ssh_config(
        &self,
    ) -> std::result::Result<Option<Arc<crate::ssh_config::SshConfig>>, String> {
        use crate::config::SshConfigFile;
        let path = match &self.config.ssh.config {
            Some(SshConfigFile::None(_)) => return Ok(None),
            Some(SshConfigFile::Path(path)) => path.clone(),
            None => match dirs::home_dir().map(|home| home.join(".ssh").join("config")) {
                Some(path) if path.exists() => path,
                _ => return Ok(None),
            },
        };
        let config = crate::ssh_config::SshConfig::load(&path, None).map_err(|e| e.to_string())?;
        for warning in config.warnings() {
            tracing::warn!("ssh_config {warning}");
        }
        Ok(Some(Arc::new(config)))
    }

    /// Where step logs are kept: `logs.dir`, or `logs/` beside the database.
    pub fn log_root(&self) -> std::path::PathBuf {
        if let Some(dir) = &self.config.logs.dir {
            return dir.clone();
        }
        self.store
            .path()
            .and_then(|p| p.parent())
            .map(|d| d.join("logs"))
            .unwrap_or_else(|| std::path::PathBuf::from("drover-logs"))
    }

    /// The login user for hosts without one.
    pub fn default_user(&self) -> String {
        match &self.config.ssh.user {
            Some(user) => user.clone(),
            None => crate::config::os_user_name(),
        }
    }
}
