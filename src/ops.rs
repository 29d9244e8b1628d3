//! Operations: the one place front ends (CLI, Discord) go through. Each
//! takes raw operator input, validates it into domain values and calls the
//! store, so both front ends refuse the same things with the same words.

use std::sync::Arc;

use crate::config::Config;
use crate::domain::{
    parse_address, parse_duration, parse_port, parse_script_body, parse_user, Actor, Host,
    HostEdit, Name, NewHost, OnFailure, RunOptions, Script, Task, DEFAULT_PARALLEL,
};
use crate::error::{Kind, Result};
use crate::state::RunSnapshot;
use crate::store::{ScriptChange, ScriptInput, Store};

/// The operations over one store and configuration.
#[derive(Clone)]
pub struct Drover {
    pub store: Store,
    pub config: Arc<Config>,
}

/// Raw input of `host add`.
#[derive(Debug, Clone, Default)]
pub struct HostAdd {
    pub name: String,
    pub address: String,
    pub port: Option<i64>,
    pub user: Option<String>,
    pub groups: Vec<String>,
    pub description: Option<String>,
    pub sudo: bool,
}

impl HostAdd {
    /// The host, every field checked (the CLI, Discord and inventory files
    /// all come through here).
    pub fn validate(&self) -> Result<NewHost> {
        Ok(NewHost {
            name: Name::parse(Kind::Host, &self.name)?,
            address: parse_address(&self.address)?,
            port: parse_port(self.port.unwrap_or(22))?,
            user: self.user.as_deref().map(parse_user).transpose()?,
            description: self.description.clone().unwrap_or_default(),
            use_sudo: self.sudo,
            groups: self
                .groups
                .iter()
                .map(|g| Name::parse(Kind::ServerGroup, g))
                .collect::<Result<_>>()?,
        })
    }
}

/// Raw input of `host edit`.
#[derive(Debug, Clone, Default)]
pub struct HostEditArgs {
    pub address: Option<String>,
    pub port: Option<i64>,
    pub user: Option<String>,
    pub default_user: bool,
    pub description: Option<String>,
    pub sudo: Option<bool>,
}

/// Raw input of `script add` / `script edit`.
#[derive(Debug, Clone, Default)]
pub struct ScriptArgs {
    pub name: String,
    pub body: Vec<u8>,
    pub description: Option<String>,
    /// humantime, or `none` to clear on edit.
    pub timeout: Option<String>,
}

/// Raw input of `task create`.
#[derive(Debug, Clone, Default)]
pub struct TaskCreate {
    pub name: String,
    pub script_group: String,
    pub server_group: String,
    pub parallel: Option<i64>,
    pub continue_on_error: bool,
    pub max_failed_hosts: Option<i64>,
    pub sudo: bool,
    pub description: Option<String>,
}

fn to_u32(what: &'static str, raw: i64, expected: &str) -> Result<u32> {
    u32::try_from(raw).map_err(|_| crate::error::Error::InvalidValue {
        what,
        value: raw.to_string(),
        expected: expected.to_string(),
    })
}

impl Drover {
    pub fn new(store: Store, config: Config) -> Drover {
        Drover {
            store,
            config: Arc::new(config),
        }
    }

    pub async fn host_add(&self, actor: &Actor, args: HostAdd) -> Result<Host> {
        self.store.add_host(actor, &args.validate()?).await
    }

    pub async fn host_edit(&self, actor: &Actor, name: &str, args: HostEditArgs) -> Result<Host> {
        let user = match (args.user, args.default_user) {
            (Some(_), true) => {
                return Err(crate::error::Error::Refused(
                    "give either --user or --default-user, not both".into(),
                ))
            }
            (Some(u), false) => Some(Some(parse_user(&u)?)),
            (None, true) => Some(None),
            (None, false) => None,
        };
        let edit = HostEdit {
            address: args.address.as_deref().map(parse_address).transpose()?,
            port: args.port.map(parse_port).transpose()?,
            user,
            description: args.description,
            use_sudo: args.sudo,
        };
        self.store.edit_host(actor, name, &edit).await
    }

    pub async fn group_create(
        &self,
        actor: &Actor,
        name: &str,
        description: Option<String>,
    ) -> Result<()> {
        let name = Name::parse(Kind::ServerGroup, name)?;
        self.store
            .create_server_group(actor, &name, &description.unwrap_or_default())
            .await
    }

    fn script_input(args: ScriptArgs, clearing_allowed: bool) -> Result<ScriptInput> {
        let timeout_secs = match args.timeout.as_deref() {
            None => None,
            Some("none") if clearing_allowed => Some(None),
            Some(raw) => Some(Some(parse_duration("timeout", raw)?.as_secs())),
        };
        Ok(ScriptInput {
            name: Name::parse(Kind::Script, &args.name)?,
            body: parse_script_body(args.body)?,
            description: args.description,
            timeout_secs,
        })
    }

    pub async fn script_add(&self, actor: &Actor, args: ScriptArgs) -> Result<Script> {
        let input = Self::script_input(args, false)?;
        self.store.add_script(actor, &input).await
    }

    pub async fn script_edit(&self, actor: &Actor, args: ScriptArgs) -> Result<ScriptChange> {
        let input = Self::script_input(args, true)?;
        self.store.edit_script(actor, &input).await
    }

    pub async fn scriptgroup_create(
        &self,
        actor: &Actor,
        name: &str,
        scripts: &[String],
        description: Option<String>,
    ) -> Result<()> {
        let name = Name::parse(Kind::ScriptGroup, name)?;
        self.store
            .create_script_group(actor, &name, &description.unwrap_or_default(), scripts)
            .await
    }

    pub async fn task_create(&self, actor: &Actor, args: TaskCreate) -> Result<Task> {
        let name = Name::parse(Kind::Task, &args.name)?;
        let options = RunOptions {
            parallel: match args.parallel {
                Some(p) => to_u32("parallel", p, "between 1 and 4096 hosts at once")?,
                None => DEFAULT_PARALLEL,
            },
            on_failure: if args.continue_on_error {
                OnFailure::Continue
            } else {
                OnFailure::Stop
            },
            max_failed_hosts: args
                .max_failed_hosts
                .map(|m| {
                    to_u32(
                        "max-failed-hosts",
                        m,
                        "at least 1 (leave it out for no limit)",
                    )
                })
                .transpose()?,
            use_sudo: args.sudo,
        };
        self.store
            .create_task(
                actor,
                &name,
                &args.script_group,
                &args.server_group,
                &options,
                &args.description.unwrap_or_default(),
            )
            .await
    }
}

impl Drover {
    /// The newest runs, newest first (`run list`, the web's runs page).
    pub async fn recent_runs(&self, limit: u32) -> Result<Vec<crate::store::runs::RunSummary>> {
        self.store.list_runs(limit).await
    }
}

/// Overrides given on `task run`.
#[derive(Debug, Clone, Default)]
pub struct RunOverrides {
    pub parallel: Option<i64>,
    pub continue_on_error: bool,
    pub max_failed_hosts: Option<i64>,
    pub sudo: bool,
    /// `KEY=VALUE` strings.
    pub env: Vec<String>,
}

/// Parses `KEY=VALUE` (KEY a shell variable name, not a DROVER_ one).
pub fn parse_env(raw: &str) -> Result<(String, String)> {
    // Only the key is ever echoed: a word without `=` may be a bare secret.
    let (key, value) = raw.split_once('=').ok_or_else(|| {
        crate::error::Error::Refused(
            "an --env value has no '=': expected KEY=VALUE (the word itself is not repeated here)"
                .into(),
        )
    })?;
    let bad = |why: &str| crate::error::Error::InvalidValue {
        what: "--env",
        value: key.to_string(),
        expected: why.to_string(),
    };
    let key_ok = key
        .chars()
        .next()
        .is_some_and(|c| c.is_ascii_alphabetic() || c == '_')
        && key.chars().all(|c| c.is_ascii_alphanumeric() || c == '_');
    if !key_ok {
        return Err(bad(
            "KEY must be letters, digits and '_', not starting with a digit",
        ));
    }
    if key.starts_with("DROVER_") {
        return Err(bad("DROVER_* variables are set by drover itself"));
    }
    Ok((key.to_string(), value.to_string()))
}

impl Drover {
    /// The SSH settings of the configuration plus extra identity files.
    pub fn ssh_settings(&self, extra_identities: &[std::path::PathBuf]) -> crate::ssh::SshSettings {
        let mut identity_files: Vec<std::path::PathBuf> = extra_identities.to_vec();
        identity_files.extend(self.config.ssh.identity_files.iter().cloned());
        crate::ssh::SshSettings {
            identity_files,
            use_agent: true,
            known_hosts: crate::ssh::KnownHostsFiles::new(
                self.config.ssh.known_hosts.iter().cloned().collect(),
            ),
            host_key_policy: self.config.ssh.host_key_policy,
            connect_timeout: self.config.ssh.connect_timeout,
            keepalive_interval: self.config.ssh.keepalive_interval,
        }
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
            None => match Actor::current_os_user() {
                Actor::Cli(user) => user,
                _ => "root".into(),
            },
        }
    }

    pub fn engine(&self, extra_identities: &[std::path::PathBuf]) -> crate::engine::Engine {
        crate::engine::Engine::new(
            self.store.clone(),
            self.ssh_settings(extra_identities),
            self.log_root(),
            self.default_user(),
        )
    }

    /// Resolves `task run TASK` or `task run SCRIPT_GROUP SERVER_GROUP`.
    pub async fn plan_run(
        &self,
        first: &str,
        second: Option<&str>,
        o: RunOverrides,
    ) -> Result<crate::engine::RunRequest> {
        let env = o
            .env
            .iter()
            .map(|e| parse_env(e))
            .collect::<Result<Vec<_>>>()?;
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
                        .names(Kind::ScriptGroup)
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
            Some(server_group) => {
                self.store.script_group(first).await?;
                self.store.server_group(server_group).await?;
                (
                    None,
                    first.to_string(),
                    server_group.to_string(),
                    RunOptions::default(),
                )
            }
        };
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
        Ok(crate::engine::RunRequest {
            task,
            script_group,
            server_group,
            options,
            scripts_of_run: None,
            hosts: None,
            env,
        })
    }

    /// A new run of a past run's failed hosts, with the same script
    /// versions. Refused while an earlier rerun of the run is still
    /// running (checked again, atomically, when the rerun is created).
    pub async fn plan_rerun_failed(&self, run_id: i64) -> Result<crate::engine::RunRequest> {
        let run = self.store.stored_run(run_id).await?;
        if let Some(rerun) = self.store.live_rerun(run_id).await? {
            return Err(crate::error::Error::RerunLive { run: run_id, rerun });
        }
        let hosts = crate::engine::hosts_of(&run, &["failed", "unreachable", "timed_out", "lost"]);
        if hosts.is_empty() {
            return Err(crate::error::Error::Refused(format!(
                "run {run_id} has no failed hosts to rerun"
            )));
        }
        let (task, script_group, server_group) = self.store.run_origin(run_id).await?;
        Ok(crate::engine::RunRequest {
            task,
            script_group,
            server_group,
            options: run.options.clone(),
            scripts_of_run: Some(run_id),
            hosts: Some(hosts),
            env: run.env.clone(),
        })
    }
}

impl Drover {
    /// The run whose logs are asked for, once `host` and `script` (when
    /// given) are known to belong to it; unknown ones are refused with the
    /// ones the run has.
    pub async fn log_selection(
        &self,
        id: i64,
        host: Option<&str>,
        script: Option<&str>,
    ) -> Result<RunSnapshot> {
        let snapshot = self.store.run_snapshot(id).await?;
        if let Some(host) = host {
            if !snapshot.hosts.iter().any(|h| h.host == host) {
                let known: Vec<&str> = snapshot.hosts.iter().map(|h| h.host.as_str()).collect();
                return Err(crate::error::Error::Refused(format!(
                    "host '{host}' is not in run {id} (hosts: {})",
                    known.join(", ")
                )));
            }
        }
        if let Some(script) = script {
            if !snapshot.scripts.iter().any(|s| s == script) {
                return Err(crate::error::Error::Refused(format!(
                    "script '{script}' is not in run {id} (scripts: {})",
                    snapshot.scripts.join(", ")
                )));
            }
        }
        Ok(snapshot)
    }

    /// The step log files of a run in display order (host by host, step by
    /// step): every host or one, every script or one.
    fn log_files(
        &self,
        snapshot: &RunSnapshot,
        host: Option<&str>,
        script: Option<&str>,
    ) -> Vec<LogFile> {
        let root = self.log_root();
        let mut files = Vec::new();
        for h in snapshot
            .hosts
            .iter()
            .filter(|h| host.is_none_or(|x| x == h.host))
        {
            for (index, name) in snapshot.scripts.iter().enumerate() {
                if script.is_some_and(|s| s != name) {
                    continue;
                }
                let step = index as u32 + 1;
                files.push(LogFile {
                    header: format!(
                        "==> {} · step {step}/{} {name} <==\n",
                        h.host,
                        snapshot.scripts.len()
                    ),
                    path: crate::engine::logs::step_log_path(&root, snapshot.id, &h.host, step),
                });
            }
        }
        files
    }

    /// Copies the step logs of a run to `out` as they are on disk, each
    /// after a `==> host · step i/n script <==` header: every host or one,
    /// every script or one. Memory stays bounded whatever the logs' size.
    pub fn write_logs(
        &self,
        snapshot: &RunSnapshot,
        host: Option<&str>,
        script: Option<&str>,
        out: &mut dyn std::io::Write,
    ) -> std::io::Result<()> {
        for log in self.log_files(snapshot, host, script) {
            let Ok(mut file) = std::fs::File::open(&log.path) else {
                continue;
            };
            out.write_all(log.header.as_bytes())?;
            let mut last = LastByte {
                out: &mut *out,
                last: None,
            };
            std::io::copy(&mut file, &mut last)?;
            if last.last.is_some_and(|b| b != b'\n') {
                out.write_all(b"\n")?;
            }
        }
        Ok(())
    }

    /// The step logs of a run as text (lossy UTF-8) for front ends that
    /// need one piece: about `limit` bytes of logs from the start, cut at a
    /// line's end (so that `logs.redact` still sees whole lines), then a
    /// line saying that the rest was cut and where to get it.
    pub async fn run_logs_text(
        &self,
        id: i64,
        host: Option<&str>,
        script: Option<&str>,
        limit: usize,
    ) -> Result<String> {
        let snapshot = self.log_selection(id, host, script).await?;
        let mut capped = Capped {
            bytes: Vec::new(),
            limit,
            cut: false,
        };
        match self.write_logs(&snapshot, host, script, &mut capped) {
            Ok(()) => {}
            Err(_) if capped.cut => {}
            Err(e) => return Err(crate::error::Error::io("cannot read the run's logs", e)),
        }
        if capped.cut {
            let line_end = capped.bytes.iter().rposition(|b| *b == b'\n');
            capped.bytes.truncate(line_end.map_or(0, |at| at + 1));
        }
        let mut text = String::from_utf8_lossy(&capped.bytes).into_owned();
        if capped.cut {
            text.push_str(&format!(
                "[logs cut after {} bytes: `drover run logs {id}` prints all of them]\n",
                capped.bytes.len()
            ));
        }
        Ok(text)
    }

    /// The last `limit` bytes or so of a run's step logs (every host or
    /// one), with their headers, read from the ends of the files: memory
    /// and reading stay bounded however big the logs are. When output was
    /// left out, the text starts with a line saying so and naming the
    /// command that prints all of it, at a line start.
    pub fn logs_tail(&self, snapshot: &RunSnapshot, host: Option<&str>, limit: usize) -> String {
        let note = format!("{}\n", rest_of_logs_note(snapshot.id, host));
        let files = self.log_files(snapshot, host, None);
        String::from_utf8_lossy(&tail_of(&files, limit, &note)).into_owned()
    }

    /// Bytes of a run's step logs on disk (every host or one), read from
    /// the files' metadata.
    pub fn logs_size(&self, snapshot: &RunSnapshot, host: Option<&str>) -> u64 {
        self.log_files(snapshot, host, None)
            .iter()
            .filter_map(|log| std::fs::metadata(&log.path).ok())
            .map(|m| m.len())
            .sum()
    }
}

/// The line that says output was left out and which command prints all
/// of it (`drover run logs ID [HOST]`).
pub fn rest_of_logs_note(id: i64, host: Option<&str>) -> String {
    let host = host.map(|h| format!(" {h}")).unwrap_or_default();
    format!("[earlier output left out; `drover run logs {id}{host}` prints all of it]")
}

/// One step log of a run with the header line shown before it.
struct LogFile {
    header: String,
    path: std::path::PathBuf,
}

/// The end of `files` taken as one text (headers included, a newline
/// after each log): about `limit` bytes, read backwards from the last file;
/// `note` first when output was left out.
fn tail_of(files: &[LogFile], limit: usize, note: &str) -> Vec<u8> {
    let mut pieces: Vec<Vec<u8>> = Vec::new();
    let mut room = limit;
    let mut cut = false;
    for log in files.iter().rev() {
        if room == 0 {
            cut = true;
            break;
        }
        let Ok((mut body, whole)) = read_tail(&log.path, room) else {
            continue;
        };
        if !body.is_empty() && !body.ends_with(b"\n") {
            body.push(b'\n');
        }
        if !whole {
            // Start at a line's start, under the log's header.
            let line_start = body.iter().position(|b| *b == b'\n').map_or(0, |at| at + 1);
            body.drain(..line_start);
            cut = true;
        }
        room = room.saturating_sub(body.len() + log.header.len());
        pieces.push(body);
        pieces.push(log.header.clone().into_bytes());
        if cut {
            break;
        }
    }
    let mut bytes = Vec::new();
    if cut {
        bytes.extend_from_slice(note.as_bytes());
    }
    for piece in pieces.iter().rev() {
        bytes.extend_from_slice(piece);
    }
    bytes
}

/// The last `limit` bytes of a file, and whether that is all of it.
fn read_tail(path: &std::path::Path, limit: usize) -> std::io::Result<(Vec<u8>, bool)> {
    use std::io::{Read, Seek, SeekFrom};
    let mut file = std::fs::File::open(path)?;
    let len = file.metadata()?.len();
    let take = len.min(limit as u64);
    file.seek(SeekFrom::Start(len - take))?;
    let mut body = Vec::with_capacity(usize::try_from(take).unwrap_or(0));
    file.take(take).read_to_end(&mut body)?;
    Ok((body, take == len))
}

/// A writer that remembers the last byte written through it.
struct LastByte<'a> {
    out: &'a mut dyn std::io::Write,
    last: Option<u8>,
}

impl std::io::Write for LastByte<'_> {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        let n = self.out.write(buf)?;
        if n > 0 {
            self.last = Some(buf[n - 1]);
        }
        Ok(n)
    }

    fn flush(&mut self) -> std::io::Result<()> {
        self.out.flush()
    }
}

/// A buffer that takes at most `limit` bytes, then refuses more (which
/// stops the copy) and says it was cut.
struct Capped {
    bytes: Vec<u8>,
    limit: usize,
    cut: bool,
}

impl std::io::Write for Capped {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        let room = self.limit.saturating_sub(self.bytes.len());
        if room == 0 && !buf.is_empty() {
            self.cut = true;
            return Err(std::io::Error::other("log text limit reached"));
        }
        let n = buf.len().min(room);
        self.bytes.extend_from_slice(&buf[..n]);
        Ok(n)
    }

    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn capped_text_keeps_the_first_bytes_and_stops_the_copy() {
        let mut capped = Capped {
            bytes: Vec::new(),
            limit: 10,
            cut: false,
        };
        let copied = std::io::copy(&mut &[b'x'; 100][..], &mut capped);
        assert!(copied.is_err(), "the copy stops at the limit");
        assert!(capped.cut);
        assert_eq!(capped.bytes, vec![b'x'; 10]);

        let mut roomy = Capped {
            bytes: Vec::new(),
            limit: 10,
            cut: false,
        };
        std::io::copy(&mut &b"0123456789"[..], &mut roomy).expect("fits exactly");
        assert!(!roomy.cut, "exactly the limit is not cut");
    }

    fn log_file(dir: &std::path::Path, name: &str, body: &[u8]) -> LogFile {
        let path = dir.join(name);
        std::fs::write(&path, body).expect("write log");
        LogFile {
            header: format!("==> {name} <==\n"),
            path,
        }
    }

    #[test]
    fn tail_of_small_logs_is_all_of_them_in_order() {
        let dir = tempfile::tempdir().expect("tempdir");
        let files = vec![
            log_file(dir.path(), "a", b"one\ntwo\n"),
            LogFile {
                header: "==> missing <==\n".into(),
                path: dir.path().join("missing"),
            },
            log_file(dir.path(), "b", b"no newline"),
        ];
        let text = tail_of(&files, 1000, "[cut]\n");
        assert_eq!(text, b"==> a <==\none\ntwo\n==> b <==\nno newline\n");
    }

    #[test]
    fn tail_of_big_logs_keeps_the_end_from_a_line_start_and_says_so() {
        let dir = tempfile::tempdir().expect("tempdir");
        let lines: String = (1..=1000).map(|i| format!("line {i}\n")).collect();
        let files = vec![
            log_file(dir.path(), "first", b"never shown\n"),
            log_file(dir.path(), "big", lines.as_bytes()),
            log_file(dir.path(), "last", b"end\n"),
        ];
        let text = String::from_utf8(tail_of(&files, 100, "[cut]\n")).expect("utf8");
        assert!(text.starts_with("[cut]\n==> big <==\nline "), "{text}");
        assert!(text.ends_with("line 1000\n==> last <==\nend\n"), "{text}");
        assert!(!text.contains("never shown"));
        let body_start = text.find("<==\n").map(|at| at + 4).expect("header");
        assert!(
            text[body_start..].starts_with("line "),
            "cut at a line start: {text}"
        );
        assert!(text.len() < 100 + 120, "about the limit: {}", text.len());
    }

    #[test]
    fn last_byte_is_the_last_one_written() {
        let mut sink = Vec::new();
        let mut last = LastByte {
            out: &mut sink,
            last: None,
        };
        std::io::copy(&mut &b"ab\ncd"[..], &mut last).expect("copy");
        assert_eq!(last.last, Some(b'd'));
        assert_eq!(sink, b"ab\ncd");
    }
}
