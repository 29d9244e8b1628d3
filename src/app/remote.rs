//! Operations that reach hosts outside a run: check, trust (re-pin) and
//! log fetch. Shared by the CLI and chat front ends.

use std::sync::Arc;

use globset::{Glob, GlobSetBuilder};
use serde::Serialize;

use super::App;
use crate::domain::{Actor, Host};
use crate::engine::host_keys::{open_pinning, pin_jump_hosts, OpenError, PinTo};
use crate::engine::remote::sh_quote;
use crate::error::{Error, Result};
use crate::ssh::route::Resolved;
use crate::ssh::{self, ConnectError, Connection, Exec, ExecEvent, SshSettings};
use crate::store::host_keys::KeyPin;

/// The SHA256 fingerprint of a pinned host key (as stored, OpenSSH
/// format); `None` when it cannot be read.
pub fn key_fingerprint(host_key: &str) -> Option<String> {
    ssh::parse_public_key(host_key).map(|k| ssh::fingerprint(&k))
}

/// Largest error text kept from a remote command.
const STDERR_MAX: usize = 4096;

/// The line the fetch command prints once it has opened the file.
const OPENED: &str = "drover-fetch-open ";

/// The remote command of `log fetch`, run by `sh` (its script on the
/// command line: it holds no secret). It opens the path on descriptor 3
/// (what is not a regular file is refused before, so that a FIFO does not
/// block the open, and after, on the opened file), prints [`OPENED`] and the real path
/// of the opened file (from `/proc/$$/fd/3`; a host without `/proc` is
/// refused rather than read the racy way), waits for the controller's `ok`
/// on standard input, and tails the open descriptor.
fn fetch_command(path: &str, lines: u32) -> String {
    let script = concat!(
        "[ -e \"$1\" ] || { echo 'no such file' >&2; exit 3; }\n",
        "[ -f \"$1\" ] || { echo 'not a readable regular file' >&2; exit 5; }\n",
        "{ command exec 3< \"$1\"; } 2>/dev/null || { echo 'not a readable regular file (cannot open it)' >&2; exit 3; }\n",
        "[ -e /proc/$$/fd/3 ] || { echo 'this host has no /proc/PID/fd: the opened file cannot be checked, so drover reads nothing' >&2; exit 4; }\n",
        "[ -f /proc/$$/fd/3 ] || { echo 'not a readable regular file' >&2; exit 5; }\n",
        "real=$(readlink /proc/$$/fd/3; echo x); real=${real%x}; real=${real%?}\n",
        "NL='\n'\n",
        "case $real in /*) ;; *) echo 'the opened file has no path' >&2; exit 6;; esac\n",
        "case $real in *\"$NL\"*) echo 'the real path has a newline' >&2; exit 6;; esac\n",
        "printf 'drover-fetch-open %s\\n' \"$real\"\n",
        "read -r verdict && [ \"$verdict\" = ok ] || exit 7\n",
        "tail -n \"$2\" <&3 | head -c \"$3\"\n",
    );
    format!(
        "sh -c {} drover-fetch {} {lines} {FETCH_MAX_BYTES}",
        sh_quote(script),
        sh_quote(path)
    )
}

/// Reads the fetch command's [`OPENED`] line: the real path of the file it
/// opened, and any bytes that came after the line. A command that ended
/// before (cannot open, not a regular file, no `/proc`) is refused with its
/// own words.
async fn opened_file(exec: &mut Exec, host: &str, path: &str) -> Result<(String, Vec<u8>)> {
    let mut head = Vec::new();
    let mut stderr = Vec::new();
    while !head.contains(&b'\n') {
        match exec.next().await {
            Some(ExecEvent::Stdout(d)) => append_bounded(&mut head, &d, 2 * STDERR_MAX),
            Some(ExecEvent::Stderr(d)) => append_bounded(&mut stderr, &d, STDERR_MAX),
            Some(ExecEvent::Exit(_)) | Some(ExecEvent::Signal(_)) | None => {
                // Error text may arrive after the exit status.
                while let Some(event) = exec.next().await {
                    if let ExecEvent::Stderr(d) = event {
                        append_bounded(&mut stderr, &d, STDERR_MAX);
                    }
                }
                let why = String::from_utf8_lossy(&stderr).trim().to_string();
                return Err(Error::Refused(format!(
                    "cannot read {path} on host '{host}': {}",
                    if why.is_empty() {
                        "the remote command ended early".into()
                    } else {
                        why
                    }
                )));
            }
        }
        if head.len() >= 2 * STDERR_MAX {
            break;
        }
    }
    let line_end = head.iter().position(|b| *b == b'\n').unwrap_or(head.len());
    let line = String::from_utf8_lossy(&head[..line_end]).into_owned();
    let rest = head.get(line_end + 1..).unwrap_or_default().to_vec();
    let real = line.strip_prefix(OPENED).ok_or_else(|| {
        Error::Refused(format!(
            "cannot read {path} on host '{host}': unexpected answer from the host"
        ))
    })?;
    Ok((real.to_string(), rest))
}

fn append_bounded(buf: &mut Vec<u8>, data: &[u8], limit: usize) {
    let room = limit.saturating_sub(buf.len());
    buf.extend_from_slice(&data[..data.len().min(room)]);
}

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

impl App {
    /// How an inventory host is reached, and where each value comes from
    /// (inventory, ssh_config, defaults).
    /// `host show --json` (and `/api/hosts/NAME`): the host and how it is
    /// reached (its jumps and where each connection value comes from), or
    /// why it cannot be.
    pub async fn host_document(
        &self,
        host: &Host,
        extra_identities: &[std::path::PathBuf],
    ) -> serde_json::Value {
        let settings = self.ssh_settings(extra_identities);
        let connection = match self.host_route(host, &settings).await {
            Ok(resolved) => serde_json::json!({
                "jumps": resolved.route.jumps.iter().map(|j| &j.name).collect::<Vec<_>>(),
                "values": resolved.provenance,
            }),
            Err(e) => serde_json::json!({ "error": e.to_string() }),
        };
        let mut doc = serde_json::to_value(host).unwrap_or_default();
        doc["connection"] = connection;
        doc
    }

    pub async fn host_route(&self, host: &Host, settings: &SshSettings) -> Result<Resolved> {
        self.resolve(host, settings)
            .await?
            .map_err(|e| Error::Refused(format!("host '{}': {e}", host.name)))
    }

    /// The route to `host`; the inner error is the host's own (shown per
    /// host), the outer one the store's.
    async fn resolve(
        &self,
        host: &Host,
        settings: &SshSettings,
    ) -> Result<std::result::Result<Resolved, ssh::route::RouteError>> {
        let jump_hosts =
            crate::engine::jump_hosts_of(&self.store, settings, std::slice::from_ref(host)).await?;
        let lookup = |name: &str| jump_hosts.get(name).cloned().flatten();
        Ok(settings.resolve(host, &lookup))
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
        let resolved = self
            .resolve(host, &settings)
            .await
            .map_err(OpenError::Pin)?
            .map_err(|e| OpenError::Connect(ConnectError::Route(e.to_string())))?;
        let pin_to = PinTo::Inventory {
            store: &self.store,
            actor,
        };
        let (conn, pin) = open_pinning(&resolved.route, settings, pin_to).await?;
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
                        let limit = self.remote_command_timeout();
                        let ran = tokio::time::timeout(limit, conn.run("true", &[], 0)).await;
                        conn.close().await;
                        let (ok, message) = match ran {
                            Ok(Ok(out)) if out.exit == Some(0) => (true, "ok".to_string()),
                            Ok(Ok(out)) => (false, format!("`true` exited with {:?}", out.exit)),
                            Ok(Err(e)) => (false, format!("cannot run a command: {e}")),
                            Err(_) => (
                                false,
                                format!(
                                    "timeout: `true` did not finish within {} (a hung login shell or mount?)",
                                    humantime::format_duration(limit)
                                ),
                            ),
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
        self.host_trust_with(actor, name, &[]).await
    }

    /// [`Self::host_trust`] with extra identity files, which jump hosts on
    /// the way may need (the host itself is not logged in to).
    pub async fn host_trust_with(
        &self,
        actor: &Actor,
        name: &str,
        identities: &[std::path::PathBuf],
    ) -> Result<(Option<String>, String)> {
        let host = self.store.host(name).await?;
        let settings = Arc::new(self.ssh_settings(identities));
        let resolved = self.host_route(&host, &settings).await?;
        let key = ssh::probe_host_key(&resolved.route, settings, &pin_jump_hosts(&self.store))
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

    /// The last `lines` lines of a remote file allowed by `logs.fetch_allow`,
    /// passed through `logs.redact`. Every fetch is audited, the refused
    /// ones with why.
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
        fetched.map(|(_, text)| self.redactor.redact(&text))
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
        let limit = self.remote_command_timeout();
        let fetched =
            tokio::time::timeout(limit, self.read_checked(&conn, &host.name, path, lines)).await;
        conn.close().await;
        fetched.unwrap_or_else(|_| {
            Err(Error::Refused(format!(
                "log fetch of {path} on host '{}' timed out after {}: the remote read did not finish (a hung mount, or a file that is not a regular file?)",
                host.name,
                humantime::format_duration(limit)
            )))
        })
    }

    /// How long one remote command of `log fetch` or `host check` may take
    /// once connected: twice `ssh.connect_timeout` (20 s by default). The
    /// connection itself is bounded by `ssh.connect_timeout` (handshake,
    /// then authentication).
    pub fn remote_command_timeout(&self) -> std::time::Duration {
        self.config.ssh.connect_timeout * 2
    }

    /// Opens `path` on the host, checks the file it opened (its real path
    /// from `/proc/self/fd`, against `logs.fetch_allow`; a regular file),
    /// and only then reads its tail from the same open descriptor, all in
    /// one remote command: a symlink swapped in after the check changes
    /// nothing. The real path, and the text.
    async fn read_checked(
        &self,
        conn: &Connection,
        host: &str,
        path: &str,
        lines: u32,
    ) -> Result<(String, String)> {
        let cannot = |e| Error::Refused(format!("cannot read {path} on host '{host}': {e}"));
        let mut exec = conn
            .exec_open(&fetch_command(path, lines), &[])
            .await
            .map_err(cannot)?;
        let (real, early) = opened_file(&mut exec, host, path).await?;
        let verdict = self.check_fetch_path(&real).map_err(|_| {
            Error::Refused(format!(
                "{path} resolves to {real}, which is outside logs.fetch_allow; refusing the symlink escape"
            ))
        });
        let answer: &[u8] = if verdict.is_ok() { b"ok\n" } else { b"no\n" };
        exec.send(answer).await.map_err(cannot)?;
        exec.close_stdin().await.map_err(cannot)?;
        verdict?;
        let mut out = ssh::Output {
            stdout: early,
            ..ssh::Output::default()
        };
        while let Some(event) = exec.next().await {
            match event {
                ExecEvent::Stdout(d) => append_bounded(&mut out.stdout, &d, FETCH_MAX_BYTES),
                ExecEvent::Stderr(d) => append_bounded(&mut out.stderr, &d, STDERR_MAX),
                ExecEvent::Exit(code) => out.exit = Some(code),
                ExecEvent::Signal(_) => out.exit = Some(255),
            }
        }
        if out.exit != Some(0) {
            return Err(Error::Refused(format!(
                "cannot read {real} on host '{host}': {}",
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
