//! Operations that reach hosts outside a run: check, trust (re-pin) and
//! log fetch. Shared by the CLI and chat front ends.

use std::sync::Arc;

use globset::{Glob, GlobSetBuilder};
use serde::Serialize;

use crate::domain::{Actor, Host};
use crate::engine::host_keys::{open_pinning, OpenError, PinTo};
use crate::engine::remote::sh_quote;
use crate::error::{Error, Result};
use crate::ops::Drover;
use crate::ssh::{self, Connection, SshSettings, Target};
use crate::store::host_keys::KeyPin;

/// Largest tail `log fetch` returns.
pub const FETCH_MAX_BYTES: usize = 1024 * 1024;
pub const FETCH_MAX_LINES: u32 = 10_000;

#[derive(Debug, Clone, Serialize)]
pub struct HostCheck {
    pub host: String,
    pub ok: bool,
    pub fingerprint: Option<String>,
    pub pinned_now: bool,
    pub message: String,
}

impl Drover {
    fn target(&self, host: &Host) -> Target {
        Target {
            name: host.name.clone(),
            address: host.address.clone(),
            port: host.port,
            user: host.user.clone().unwrap_or_else(|| self.default_user()),
            pinned_key: host.host_key.clone(),
        }
    }

    async fn connect(
        &self,
        actor: &Actor,
        host: &Host,
        settings: Arc<SshSettings>,
    ) -> Result<Connection> {
        match self.open_pinning(actor, host, settings).await {
            Ok((conn, _)) => Ok(conn),
            Err(OpenError::Connect(e)) => Err(Error::Refused(format!(
                "host '{}' is unreachable: {e}",
                host.name
            ))),
            Err(OpenError::Pin(e)) => Err(e),
        }
    }

    /// Connects to an inventory host and verifies its key; a key learned
    /// now is pinned first (true: pinned now), only if the host is still
    /// unpinned.
    async fn open_pinning(
        &self,
        actor: &Actor,
        host: &Host,
        settings: Arc<SshSettings>,
    ) -> std::result::Result<(Connection, bool), OpenError> {
        let pin_to = PinTo::Inventory {
            store: &self.store,
            actor,
        };
        let (conn, pin) = open_pinning(&self.target(host), settings, pin_to).await?;
        Ok((conn, pin == Some(KeyPin::Pinned)))
    }

    /// Connects to each host, verifies its key, authenticates, runs `true`.
    pub async fn host_check(
        &self,
        actor: &Actor,
        names: &[String],
        identities: &[std::path::PathBuf],
    ) -> Result<Vec<HostCheck>> {
        let settings = Arc::new(self.ssh_settings(identities));
        let mut hosts = Vec::new();
        for name in names {
            hosts.push(self.store.host(name).await?);
        }
        let checks = hosts.into_iter().map(|host| {
            let settings = settings.clone();
            async move {
                match self.open_pinning(actor, &host, settings).await {
                    Ok((conn, pinned_now)) => {
                        let fp =
                            ssh::parse_public_key(&conn.host_key).map(|k| ssh::fingerprint(&k));
                        let ran = conn.run("true", &[], 0).await;
                        conn.close().await;
                        let (ok, message) = match ran {
                            Ok(out) if out.exit == Some(0) => (true, "ok".to_string()),
                            Ok(out) => (false, format!("`true` exited with {:?}", out.exit)),
                            Err(e) => (false, format!("cannot run a command: {e}")),
                        };
                        HostCheck {
                            host: host.name,
                            ok,
                            fingerprint: fp,
                            pinned_now,
                            message,
                        }
                    }
                    Err(e) => HostCheck {
                        host: host.name,
                        ok: false,
                        fingerprint: None,
                        pinned_now: false,
                        message: match e {
                            OpenError::Connect(e) => e.to_string(),
                            OpenError::Pin(e) => format!("the host key could not be pinned: {e}"),
                        },
                    },
                }
            }
        });
        Ok(futures::future::join_all(checks).await)
    }

    /// Re-pins a host's key to the one it offers now. Returns (old, new)
    /// fingerprints.
    pub async fn host_trust(&self, actor: &Actor, name: &str) -> Result<(Option<String>, String)> {
        let host = self.store.host(name).await?;
        let settings = Arc::new(self.ssh_settings(&[]));
        let key = ssh::probe_host_key(&self.target(&host), settings)
            .await
            .map_err(|e| Error::Refused(format!("cannot read the key of host '{name}': {e}")))?;
        let old = host
            .host_key
            .as_deref()
            .and_then(ssh::parse_public_key)
            .map(|k| ssh::fingerprint(&k));
        let new = ssh::parse_public_key(&key)
            .map(|k| ssh::fingerprint(&k))
            .unwrap_or_else(|| key.clone());
        self.store.set_host_key(actor, name, Some(&key)).await?;
        Ok((old, new))
    }

    /// The last `lines` lines of a remote file allowed by `logs.fetch_allow`.
    /// Every fetch is audited, the refused ones with why.
    pub async fn log_fetch(
        &self,
        actor: &Actor,
        host: &str,
        path: &str,
        lines: u32,
        identities: &[std::path::PathBuf],
    ) -> Result<String> {
        let fetched = self.fetch_tail(actor, host, path, lines, identities).await;
        let (read, outcome) = match &fetched {
            Ok((real, _)) => (real.as_str(), "ok".to_string()),
            Err(e) => (path, format!("refused: {e}")),
        };
        self.store
            .audit(
                actor,
                "log.fetch",
                host,
                &format!("{read} lines={lines}"),
                &outcome,
            )
            .await?;
        fetched.map(|(_, text)| text)
    }

    /// The file `path` resolves to, and its last `lines` lines.
    async fn fetch_tail(
        &self,
        actor: &Actor,
        host: &str,
        path: &str,
        lines: u32,
        identities: &[std::path::PathBuf],
    ) -> Result<(String, String)> {
        if lines == 0 || lines > FETCH_MAX_LINES {
            return Err(Error::InvalidValue {
                what: "lines",
                value: lines.to_string(),
                expected: format!("between 1 and {FETCH_MAX_LINES}"),
            });
        }
        self.check_fetch_path(path)?;
        let host = self.store.host(host).await?;
        let conn = self
            .connect(actor, &host, Arc::new(self.ssh_settings(identities)))
            .await?;
        let resolved = conn
            .run(&format!("readlink -f -- {}", sh_quote(path)), &[], 4096)
            .await
            .map_err(|e| {
                Error::Refused(format!("cannot resolve {path} on '{}': {e}", host.name))
            })?;
        let real = String::from_utf8_lossy(&resolved.stdout).trim().to_string();
        if resolved.exit != Some(0) || real.is_empty() {
            return Err(Error::Refused(format!(
                "{path} does not exist on host '{}'",
                host.name
            )));
        }
        if real != path {
            self.check_fetch_path(&real).map_err(|_| {
                Error::Refused(format!(
                    "{path} resolves to {real}, which is outside logs.fetch_allow; refusing the symlink escape"
                ))
            })?;
        }
        let command = format!(
            "[ -f {p} ] && [ -r {p} ] || {{ echo 'not a readable regular file' >&2; exit 3; }}; tail -n {lines} -- {p} | head -c {max}",
            p = sh_quote(&real),
            max = FETCH_MAX_BYTES
        );
        let out = conn
            .run(&command, &[], FETCH_MAX_BYTES)
            .await
            .map_err(|e| Error::Refused(format!("cannot read {real} on '{}': {e}", host.name)))?;
        conn.close().await;
        if out.exit != Some(0) {
            return Err(Error::Refused(format!(
                "cannot read {real} on host '{}': {}",
                host.name,
                String::from_utf8_lossy(&out.stderr).trim()
            )));
        }
        Ok((real, String::from_utf8_lossy(&out.stdout).into_owned()))
    }

    /// Refuses relative paths, `..` and paths outside `logs.fetch_allow`.
    pub fn check_fetch_path(&self, path: &str) -> Result<()> {
        let bad = |why: String| Error::InvalidValue {
            what: "path",
            value: path.to_string(),
            expected: why,
        };
        if !path.starts_with('/') {
            return Err(bad("an absolute path is required".into()));
        }
        if path.split('/').any(|c| c == ".." || c == ".")
            || path.contains('\0')
            || path.contains('\n')
        {
            return Err(bad("'.' and '..' components are not allowed".into()));
        }
        let mut builder = GlobSetBuilder::new();
        for pattern in &self.config.logs.fetch_allow {
            let glob = Glob::new(pattern)
                .map_err(|e| Error::Config(format!("logs.fetch_allow '{pattern}': {e}")))?;
            builder.add(glob);
        }
        let set = builder
            .build()
            .map_err(|e| Error::Config(format!("logs.fetch_allow: {e}")))?;
        if !set.is_match(path) {
            return Err(bad(format!(
                "not allowed by logs.fetch_allow ({})",
                self.config.logs.fetch_allow.join(", ")
            )));
        }
        Ok(())
    }
}
