//! Test fixtures: real OpenSSH `sshd` daemons on loopback addresses with
//! throwaway keys, and the one harness of the `drover` binary (`Drover`: a
//! temporary database, configuration and environment); `cli` adds what the
//! CLI tests check with it (refusals that change nothing, database dumps).
#![allow(dead_code)]

pub mod cli;

use std::net::TcpListener;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Output, Stdio};
use std::time::{Duration, Instant};

/// Path of sshd, installed by tests/run.sh when missing.
fn sshd_path() -> PathBuf {
    for candidate in ["/usr/sbin/sshd", "/usr/bin/sshd"] {
        if Path::new(candidate).exists() {
            return PathBuf::from(candidate);
        }
    }
    panic!("sshd not found: run tests/run.sh, which installs openssh-server");
}

fn current_user() -> String {
    let out = Command::new("id").arg("-un").output().expect("id -un");
    String::from_utf8_lossy(&out.stdout).trim().to_string()
}

/// A free TCP port on 127.0.0.1 (bound then released).
pub fn free_port() -> u16 {
    TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .map(|a| a.port())
        .expect("free port")
}

fn keygen(path: &Path) {
    keygen_typed(path, "ed25519");
}

fn keygen_typed(path: &Path, kind: &str) {
    let status = Command::new("ssh-keygen")
        .args(["-q", "-t", kind, "-N", "", "-f"])
        .arg(path)
        .stdout(Stdio::null())
        .status()
        .expect("ssh-keygen");
    assert!(status.success(), "ssh-keygen -t {kind} failed");
}

/// A new key of `kind` (`rsa`, `ecdsa`, `ed25519`) at `dir/NAME`, e.g. for
/// an extra `HostKey` line of a fleet; its public key is `NAME.pub`.
pub fn key_file(dir: &Path, name: &str, kind: &str) -> PathBuf {
    let path = dir.join(name);
    keygen_typed(&path, kind);
    path
}

/// One sshd serving several loopback addresses on one port.
pub struct SshFleet {
    pub dir: tempfile::TempDir,
    pub port: u16,
    pub addresses: Vec<String>,
    pub user: String,
    pub client_key: PathBuf,
    pub host_key: PathBuf,
    child: Child,
}

impl SshFleet {
    /// Starts sshd on 127.0.0.`first`..`first+count-1` (count <= 16).
    pub fn start(first: u8, count: u8) -> SshFleet {
        SshFleet::start_on(first, count, free_port())
    }

    /// Like `start`, on a given port, with fresh keys.
    pub fn start_on(first: u8, count: u8, port: u16) -> SshFleet {
        SshFleet::start_with(first, count, port, "LogLevel ERROR\n")
    }

    /// Like `start_on`, with extra sshd configuration lines (which win over
    /// the defaults); sshd logs to `sshd.log` in the fleet's directory.
    pub fn start_with(first: u8, count: u8, port: u16, extra: &str) -> SshFleet {
        assert!((1..=16).contains(&count));
        let addresses: Vec<String> = (0..count)
            .map(|i| format!("127.0.0.{}", first + i))
            .collect();
        let fleet = SshFleet::launch(None, addresses, port, extra);
        fleet.wait_ready();
        fleet
    }

    /// sshd inside the network namespace `netns`, on `address:port` there.
    pub fn start_in_netns(netns: &Netns, address: &str, port: u16) -> SshFleet {
        let fleet = SshFleet::launch(
            Some(&netns.name),
            vec![address.to_string()],
            port,
            "LogLevel INFO\n",
        );
        let listening = format!("Server listening on {address} port {port}");
        let deadline = Instant::now() + Duration::from_secs(10);
        while !fleet.log().contains(&listening) {
            assert!(
                Instant::now() < deadline,
                "sshd did not start in {}",
                netns.name
            );
            std::thread::sleep(Duration::from_millis(50));
        }
        fleet
    }

    fn launch(netns: Option<&str>, addresses: Vec<String>, port: u16, extra: &str) -> SshFleet {
        let dir = tempfile::tempdir().expect("tempdir");
        let host_key = dir.path().join("host_key");
        let client_key = dir.path().join("client_key");
        keygen(&host_key);
        keygen(&client_key);
        let authorized = dir.path().join("authorized_keys");
        std::fs::copy(client_key.with_extension("pub"), &authorized).expect("authorized_keys");
        std::fs::create_dir_all("/run/sshd").ok();
        let mut config = format!(
            "{extra}HostKey {}\nAuthorizedKeysFile {}\nPidFile none\nUsePAM no\nStrictModes no\n\
             PasswordAuthentication no\nKbdInteractiveAuthentication no\nPermitRootLogin prohibit-password\n\
             UseDNS no\nMaxStartups 200\nMaxSessions 50\nAllowUsers {}\n",
            host_key.display(),
            authorized.display(),
            current_user()
        );
        for a in &addresses {
            config.push_str(&format!("ListenAddress {a}:{port}\n"));
        }
        let config_path = dir.path().join("sshd_config");
        std::fs::write(&config_path, config).expect("sshd_config");
        let mut command = match netns {
            Some(ns) => {
                let mut c = Command::new("ip");
                c.args(["netns", "exec", ns]).arg(sshd_path());
                c
            }
            None => Command::new(sshd_path()),
        };
        let child = command
            .arg("-D")
            .arg("-E")
            .arg(dir.path().join("sshd.log"))
            .arg("-f")
            .arg(&config_path)
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("start sshd");
        SshFleet {
            dir,
            port,
            addresses,
            user: current_user(),
            client_key,
            host_key,
            child,
        }
    }

    fn wait_ready(&self) {
        let deadline = Instant::now() + Duration::from_secs(10);
        for a in &self.addresses {
            while std::net::TcpStream::connect((a.as_str(), self.port)).is_err() {
                assert!(
                    Instant::now() < deadline,
                    "sshd did not start on {a}:{}",
                    self.port
                );
                std::thread::sleep(Duration::from_millis(50));
            }
        }
    }

    /// What sshd logged so far.
    pub fn log(&self) -> String {
        std::fs::read_to_string(self.dir.path().join("sshd.log")).unwrap_or_default()
    }

    /// The host key's public line.
    pub fn host_public_key(&self) -> String {
        std::fs::read_to_string(self.host_key.with_extension("pub")).expect("host pub key")
    }

    /// Stops sshd (new connections refused; existing sessions go on).
    pub fn stop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

impl Drop for SshFleet {
    fn drop(&mut self) {
        self.stop();
    }
}

/// The tests' connect timeout: long enough for a loaded machine (CI has two
/// cores for every test at once) to finish a key exchange on loopback.
/// Tests that wait for a timeout set a shorter one of their own.
const CONNECT_TIMEOUT: &str = "20s";

/// A drover CLI bound to a temporary database, config and log directory.
pub struct Drover {
    pub dir: tempfile::TempDir,
    pub identity: Option<PathBuf>,
    /// Network namespace the commands run in (`ip netns exec`), if any.
    pub netns: Option<String>,
    /// Environment variables every command gets (`set_env`).
    extra_env: Vec<(String, String)>,
}

impl Drover {
    pub fn new() -> Drover {
        Drover::with_config("")
    }

    /// With `extra` configuration lines after the `[ssh]` defaults.
    pub fn with_config(extra: &str) -> Drover {
        Drover::with_connect_timeout(CONNECT_TIMEOUT, extra)
    }

    /// Like `with_config`, for a test that waits for a connection to time
    /// out.
    pub fn with_connect_timeout(timeout: &str, extra: &str) -> Drover {
        Drover::with_config_file(&format!(
            "[ssh]\nconnect_timeout = \"{timeout}\"\nkeepalive_interval = \"2s\"\n{extra}"
        ))
    }

    /// With an empty configuration file: drover's own defaults (the CLI
    /// tests of inventory, import and configuration).
    pub fn bare() -> Drover {
        Drover::with_config_file("")
    }

    fn with_config_file(config: &str) -> Drover {
        let dir = tempfile::tempdir().expect("tempdir");
        std::fs::write(dir.path().join("drover.toml"), config).expect("config");
        Drover {
            dir,
            identity: None,
            netns: None,
            extra_env: Vec::new(),
        }
    }

    /// Sets an environment variable for every later command.
    pub fn set_env(&mut self, key: &str, value: &str) {
        self.extra_env.push((key.to_string(), value.to_string()));
    }

    pub fn config_path(&self) -> PathBuf {
        self.dir.path().join("drover.toml")
    }

    pub fn db(&self) -> PathBuf {
        self.dir.path().join("drover.db")
    }

    pub fn logs(&self) -> PathBuf {
        self.dir.path().join("logs")
    }

    pub fn command(&self) -> Command {
        let mut cmd = match &self.netns {
            Some(ns) => {
                let mut c = Command::new("ip");
                c.args(["netns", "exec", ns, env!("CARGO_BIN_EXE_drover")]);
                c
            }
            None => Command::new(env!("CARGO_BIN_EXE_drover")),
        };
        // Nothing of drover's, Discord's or an SSH agent's from whoever
        // runs the tests.
        for (key, _) in std::env::vars_os() {
            let key = key.to_string_lossy().into_owned();
            if key.starts_with("DROVER_") || key.starts_with("DISCORD_") || key == "SSH_AUTH_SOCK" {
                cmd.env_remove(&key);
            }
        }
        cmd.env("DROVER_DATABASE_URL", self.db())
            .env("DROVER_CONFIG", self.config_path())
            .env("USER", "tester")
            .env_remove("LOGNAME")
            // ~/.ssh/config is read by default: the test's own directory,
            // never the home of whoever runs the tests.
            .env("HOME", self.dir.path())
            .stdin(Stdio::null());
        for (key, value) in &self.extra_env {
            cmd.env(key, value);
        }
        if let Some(identity) = &self.identity {
            cmd.arg("-i").arg(identity);
        }
        cmd
    }

    /// Runs drover with `args` in a pseudo-terminal (util-linux `script`);
    /// returns what the terminal received (stdout and stderr, escapes kept).
    pub fn in_terminal(&self, args: &[&str]) -> Output {
        let base = self.command();
        let quote = drover::engine::remote::sh_quote;
        let mut line = quote(&base.get_program().to_string_lossy());
        for arg in base.get_args() {
            line.push(' ');
            line.push_str(&quote(&arg.to_string_lossy()));
        }
        for arg in args {
            line.push(' ');
            line.push_str(&quote(arg));
        }
        let mut cmd = Command::new("script");
        cmd.args(["-qec", &line, "/dev/null"]).stdin(Stdio::null());
        for (key, value) in base.get_envs() {
            match value {
                Some(value) => cmd.env(key, value),
                None => cmd.env_remove(key),
            };
        }
        cmd.output().expect("script")
    }

    /// Runs drover with `args`; returns the output.
    pub fn run(&self, args: &[&str]) -> Output {
        self.command().args(args).output().expect("run drover")
    }

    /// Runs drover and asserts success; returns stdout.
    pub fn ok(&self, args: &[&str]) -> String {
        let out = self.run(args);
        assert!(
            out.status.success(),
            "drover {args:?} failed ({:?}):\nstdout: {}\nstderr: {}",
            out.status.code(),
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        );
        String::from_utf8_lossy(&out.stdout).into_owned()
    }

    /// Runs drover and parses its stdout as JSON (whatever the exit code).
    pub fn json(&self, args: &[&str]) -> serde_json::Value {
        let mut all = vec!["--json"];
        all.extend_from_slice(args);
        let out = self.run(&all);
        serde_json::from_slice(&out.stdout).unwrap_or_else(|e| {
            panic!(
                "drover {args:?}: not JSON ({e}):\nstdout: {}\nstderr: {}",
                String::from_utf8_lossy(&out.stdout),
                String::from_utf8_lossy(&out.stderr)
            )
        })
    }

    /// A connection to this drover's database, and a runtime to use it on.
    pub fn open_database(&self) -> (tokio::runtime::Runtime, sqlx::SqliteConnection) {
        use sqlx::ConnectOptions;
        let runtime = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .expect("runtime");
        let options = format!("sqlite://{}", self.db().display())
            .parse::<sqlx::sqlite::SqliteConnectOptions>()
            .expect("sqlite url");
        let db = runtime
            .block_on(options.connect())
            .expect("open the database");
        (runtime, db)
    }

    /// Adds the fleet's hosts as `prefix-1..n` in server group `group`.
    pub fn add_fleet(&mut self, fleet: &SshFleet, prefix: &str, group: &str) -> Vec<String> {
        self.identity = Some(fleet.client_key.clone());
        if !self.ok(&["group", "list"]).contains(group) {
            self.ok(&["group", "create", group]);
        }
        let mut names = Vec::new();
        for (i, address) in fleet.addresses.iter().enumerate() {
            let name = format!("{prefix}-{}", i + 1);
            let port = fleet.port.to_string();
            self.ok(&[
                "host",
                "add",
                &name,
                address,
                "--port",
                &port,
                "--user",
                &fleet.user,
                "--group",
                group,
            ]);
            names.push(name);
        }
        names
    }

    /// Adds a script from text.
    pub fn script(&self, name: &str, body: &str, extra: &[&str]) {
        let path = self.dir.path().join(format!("{name}.script"));
        std::fs::write(&path, body).expect("write script");
        let path = path.to_string_lossy().into_owned();
        let mut args = vec!["script", "add", name, path.as_str()];
        args.extend_from_slice(extra);
        self.ok(&args);
    }

    /// Step log of a run, host and step.
    pub fn step_log(&self, run: i64, host: &str, step: u32) -> Vec<u8> {
        std::fs::read(
            self.logs()
                .join(run.to_string())
                .join(host)
                .join(format!("{step}.log")),
        )
        .unwrap_or_default()
    }
}

/// Host objects of a run document by name.
pub fn host_doc<'a>(run: &'a serde_json::Value, host: &str) -> &'a serde_json::Value {
    run["hosts"]
        .as_array()
        .and_then(|hosts| hosts.iter().find(|h| h["host"] == host))
        .unwrap_or_else(|| panic!("host {host} not in {run:#}"))
}

/// Polls `run status ID` until `done` accepts the host's document (a run
/// not created yet is polled again); panics after `limit`.
pub fn wait_for_host(
    drover: &Drover,
    id: &str,
    host: &str,
    limit: Duration,
    done: impl Fn(&serde_json::Value) -> bool,
) -> serde_json::Value {
    let deadline = Instant::now() + limit;
    loop {
        let out = drover.run(&["--json", "run", "status", id]);
        let doc = serde_json::from_slice::<serde_json::Value>(&out.stdout)
            .ok()
            .filter(|_| out.status.success())
            .and_then(|run| {
                run["hosts"]
                    .as_array()
                    .and_then(|hosts| hosts.iter().find(|h| h["host"] == host).cloned())
            });
        if let Some(doc) = doc.filter(|d| done(d)) {
            return doc;
        }
        assert!(
            Instant::now() < deadline,
            "host {host} of run {id} never got there: {}{}",
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        );
        std::thread::sleep(Duration::from_millis(100));
    }
}

/// Processes whose command line ends with `command` (from ps).
pub fn processes_matching(command: &str) -> Vec<String> {
    let out = Command::new("ps")
        .args(["-eo", "pid,args"])
        .output()
        .expect("ps");
    String::from_utf8_lossy(&out.stdout)
        .lines()
        .filter(|l| l.trim_end().ends_with(command))
        .map(str::to_string)
        .collect()
}

/// Waits (bounded) for a child to exit, killing it if it does not.
pub fn exited(child: &mut std::process::Child, limit: Duration) -> std::process::ExitStatus {
    let deadline = Instant::now() + limit;
    loop {
        if let Some(status) = child.try_wait().expect("try_wait") {
            return status;
        }
        if Instant::now() > deadline {
            let _ = child.kill();
            let _ = child.wait();
            panic!("drover did not exit within {limit:?}");
        }
        std::thread::sleep(Duration::from_millis(50));
    }
}

/// Waits until `done` holds, polling for at most 20 s; panics naming
/// `what` otherwise.
pub fn eventually(what: &str, mut done: impl FnMut() -> bool) {
    let deadline = Instant::now() + Duration::from_secs(20);
    while !done() {
        assert!(Instant::now() < deadline, "never happened: {what}");
        std::thread::sleep(Duration::from_millis(50));
    }
}

/// Asserts that no process runs any of `commands` once they had up to 10 s
/// to go (`after`: what should have ended them).
pub fn assert_gone(commands: &[&str], after: &str) {
    let deadline = Instant::now() + Duration::from_secs(10);
    for command in commands {
        loop {
            let left = processes_matching(command);
            if left.is_empty() {
                break;
            }
            assert!(Instant::now() < deadline, "left after {after}: {left:?}");
            std::thread::sleep(Duration::from_millis(50));
        }
    }
}

/// A `sleep N` command line no other test or process on this machine uses,
/// so that `ps` checks see only the processes of one test.
pub fn unique_sleep() -> String {
    let nanos = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.subsec_nanos())
        .unwrap_or(0);
    let n = 100_000 + (u64::from(nanos) ^ (u64::from(std::process::id()) << 7)) % 800_000;
    format!("sleep {n}")
}

/// The home directory of the login the test hosts use (the current user's,
/// from the password database).
pub fn login_home() -> PathBuf {
    let user = current_user();
    let passwd = std::fs::read_to_string("/etc/passwd").expect("/etc/passwd");
    passwd
        .lines()
        .map(|l| l.split(':').collect::<Vec<_>>())
        .find(|f| f.len() > 5 && f[0] == user)
        .map(|f| PathBuf::from(f[5]))
        .expect("current user in /etc/passwd")
}

/// Files that run `run` left on the test hosts for `host` (the hosts log in
/// as the current user, whose home is taken from the password database).
pub fn remote_run_files(run: i64, host: &str) -> Vec<String> {
    let home = login_home();
    let prefix = format!("{run}-");
    let suffix = format!("-{host}.");
    std::fs::read_dir(home.join(".drover/runs"))
        .map(|dir| {
            dir.filter_map(|e| e.ok())
                .map(|e| e.file_name().to_string_lossy().into_owned())
                .filter(|n| n.starts_with(&prefix) && n.contains(&suffix))
                .collect()
        })
        .unwrap_or_default()
}

/// A network namespace made for one test (loopback up), deleted on drop.
/// Fault tests put hosts there: traffic stays inside namespaces they made.
pub struct Netns {
    pub name: String,
}

impl Netns {
    /// Needs root (`ip netns add`).
    pub fn new(tag: &str) -> Netns {
        let name = format!("drover-{tag}-{}", std::process::id());
        let _ = Command::new("ip")
            .args(["netns", "del", &name])
            .stderr(Stdio::null())
            .status();
        ip(&["netns", "add", &name]);
        let ns = Netns { name };
        ns.ip(&["link", "set", "lo", "up"]);
        ns
    }

    /// Runs `ip ARGS` inside the namespace; panics if it fails.
    pub fn ip(&self, args: &[&str]) {
        let mut all = vec!["-n", self.name.as_str()];
        all.extend_from_slice(args);
        ip(&all);
    }
}

impl Drop for Netns {
    /// Ends every process still in the namespace, then deletes it.
    fn drop(&mut self) {
        if let Ok(out) = Command::new("ip")
            .args(["netns", "pids", &self.name])
            .output()
        {
            for pid in String::from_utf8_lossy(&out.stdout).split_whitespace() {
                let _ = Command::new("kill").args(["-KILL", pid]).status();
            }
        }
        let _ = Command::new("ip")
            .args(["netns", "del", &self.name])
            .status();
    }
}

/// Links two namespaces with a veth pair: `a_address` (CIDR) in `a`,
/// `b_address` in `b`, both up. Returns the interface name in `b`.
pub fn veth_pair(a: &Netns, a_address: &str, b: &Netns, b_address: &str) -> String {
    let tag = std::process::id() % 1_000_000;
    let (in_a, in_b) = (format!("dva{tag}"), format!("dvb{tag}"));
    ip(&[
        "link", "add", &in_a, "netns", &a.name, "type", "veth", "peer", "name", &in_b, "netns",
        &b.name,
    ]);
    a.ip(&["addr", "add", a_address, "dev", &in_a]);
    b.ip(&["addr", "add", b_address, "dev", &in_b]);
    a.ip(&["link", "set", &in_a, "up"]);
    b.ip(&["link", "set", &in_b, "up"]);
    in_b
}

fn ip(args: &[&str]) {
    let out = Command::new("ip").args(args).output().expect("ip");
    assert!(
        out.status.success(),
        "ip {}: {}",
        args.join(" "),
        String::from_utf8_lossy(&out.stderr)
    );
}

/// Hashes a known_hosts file's host names in place (`ssh-keygen -H`).
pub fn hash_known_hosts(path: &Path) {
    let status = Command::new("ssh-keygen")
        .arg("-H")
        .arg("-f")
        .arg(path)
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .status()
        .expect("ssh-keygen -H");
    assert!(status.success());
    let text = std::fs::read_to_string(path).expect("hashed");
    assert!(text.starts_with("|1|"), "{text}");
}
