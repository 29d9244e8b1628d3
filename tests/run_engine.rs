//! The run engine end to end: real sshd hosts on loopback, the real binary.

mod common;

use std::time::{Duration, Instant};

use common::{assert_gone, host_doc, SshFleet};

const APACHE: &str = "#!/bin/sh\necho \"apache on $DROVER_HOST run $DROVER_RUN_ID script $DROVER_SCRIPT\"\necho to-stderr >&2\n";
const MYSQL: &str = "#!/bin/bash\necho \"mysql $((6*7))\"\n";
const PHP: &str = "#!/usr/bin/env python3\nimport os\nprint('php', os.environ['GREETING'])\n";

#[test]
fn lamp_group_succeeds_on_every_host_in_order() {
    let fleet = SshFleet::start(11, 3);
    let mut drover = common::Drover::new();
    let hosts = drover.add_fleet(&fleet, "web", "web-group");
    drover.script("setup-apache", APACHE, &[]);
    drover.script("setup-mysql", MYSQL, &[]);
    drover.script("setup-php", PHP, &[]);
    drover.ok(&[
        "scriptgroup",
        "create",
        "lamp",
        "setup-apache",
        "setup-mysql",
        "setup-php",
    ]);

    let run = drover.json(&[
        "task",
        "run",
        "lamp",
        "web-group",
        "--env",
        "GREETING=hello",
    ]);
    assert_eq!(run["state"], "succeeded", "{run:#}");
    assert_eq!(run["started_by"], "cli:tester");
    assert_eq!(run["script_group"], "lamp");
    assert_eq!(run["server_group"], "web-group");
    let id = run["id"].as_i64().expect("run id");
    for host in &hosts {
        let h = host_doc(&run, host);
        assert_eq!(h["state"], "succeeded", "{h:#}");
        assert_eq!(h["steps"], 3);
        let apache = String::from_utf8(drover.step_log(id, host, 1)).expect("utf8");
        assert_eq!(
            apache,
            format!("apache on {host} run {id} script setup-apache\nto-stderr\n")
        );
        assert_eq!(drover.step_log(id, host, 2), b"mysql 42\n");
        assert_eq!(drover.step_log(id, host, 3), b"php hello\n");
        // logs are the owner's only, like the database
        let run_dir = drover.logs().join(id.to_string());
        assert_eq!(mode_of(&drover.logs()), 0o700);
        assert_eq!(mode_of(&run_dir), 0o700);
        assert_eq!(mode_of(&run_dir.join(host)), 0o700);
        assert_eq!(mode_of(&run_dir.join(host).join("1.log")), 0o600);
        // acknowledged: the host removed every file of the run
        assert_eq!(
            common::remote_run_files(id, host),
            Vec::<String>::new(),
            "{host}"
        );
    }
    let status = drover.json(&["run", "status", &id.to_string()]);
    assert_eq!(status["state"], "succeeded");
    let logs = drover.ok(&[
        "run",
        "logs",
        &id.to_string(),
        "web-2",
        "--script",
        "setup-mysql",
    ]);
    assert!(
        logs.contains("web-2 · step 2/3 setup-mysql") && logs.contains("mysql 42"),
        "{logs}"
    );
    // host keys were pinned on first contact
    let host = drover.json(&["host", "show", "web-1"]);
    assert!(
        host["host_key"]
            .as_str()
            .is_some_and(|k| k.starts_with("ssh-ed25519 ")),
        "{host:#}"
    );
}

fn mode_of(path: &std::path::Path) -> u32 {
    use std::os::unix::fs::PermissionsExt;
    std::fs::metadata(path)
        .unwrap_or_else(|e| panic!("{}: {e}", path.display()))
        .permissions()
        .mode()
        & 0o777
}

fn lamp_like(drover: &common::Drover, step2: &str) {
    drover.script("one", "echo one\n", &[]);
    drover.script("two", step2, &[]);
    drover.script("three", "echo three\n", &[]);
    drover.ok(&[
        "scriptgroup",
        "create",
        "three-steps",
        "one",
        "two",
        "three",
    ]);
}

#[test]
fn failing_script_stops_only_its_host() {
    let fleet = SshFleet::start(21, 3);
    let mut drover = common::Drover::new();
    drover.add_fleet(&fleet, "web", "web-group");
    lamp_like(
        &drover,
        "if [ \"$DROVER_HOST\" = web-2 ]; then echo 'boom `@everyone`'; exit 3; fi\necho two\n",
    );
    let out = drover.run(&["--json", "task", "run", "three-steps", "web-group"]);
    assert_eq!(
        out.status.code(),
        Some(1),
        "a failed host makes the exit code 1"
    );
    let run: serde_json::Value = serde_json::from_slice(&out.stdout).expect("json");
    assert_eq!(run["state"], "failed");
    let failed = host_doc(&run, "web-2");
    assert_eq!(failed["state"], "failed");
    assert_eq!(failed["step"], 2);
    assert_eq!(failed["script"], "two");
    assert_eq!(failed["exit_code"], 3);
    assert!(
        failed["excerpt"]
            .as_str()
            .is_some_and(|e| e.contains("boom")),
        "{failed:#}"
    );
    let id = run["id"].as_i64().expect("id");
    assert!(
        drover.step_log(id, "web-2", 3).is_empty(),
        "web-2 must stop at the failing script"
    );
    for ok in ["web-1", "web-3"] {
        assert_eq!(host_doc(&run, ok)["state"], "succeeded");
        assert_eq!(drover.step_log(id, ok, 3), b"three\n");
    }
    // rerun --failed runs only web-2 again, with the scripts the run ran:
    // neither a newer version nor removal from the library changes them.
    let fixed = drover.dir.path().join("two-fixed.script");
    std::fs::write(&fixed, "echo fixed\n").expect("write");
    drover.ok(&["script", "edit", "two", &fixed.to_string_lossy()]);
    drover.ok(&["script", "rm", "three", "--force"]);
    let rerun = drover.json(&["run", "rerun", &id.to_string(), "--failed"]);
    let hosts: Vec<&str> = rerun["hosts"]
        .as_array()
        .expect("hosts")
        .iter()
        .filter_map(|h| h["host"].as_str())
        .collect();
    assert_eq!(hosts, vec!["web-2"]);
    let again = host_doc(&rerun, "web-2");
    assert_eq!(again["state"], "failed", "{again:#}");
    assert_eq!(again["step"], 2);
    assert_eq!(again["exit_code"], 3, "the version that ran, not the edit");
    assert_eq!(rerun["hosts"][0]["steps"], 3, "{rerun:#}");
    // the audit trail links the rerun to its run; no run here was taken over
    let audit = drover.ok(&["audit"]);
    let started = audit_lines(&audit, "run.start");
    assert_eq!(started.len(), 2, "{audit}");
    assert!(
        started[0].contains(&format!("rerun of run {id}")),
        "{audit}"
    );
    assert!(!started[1].contains("rerun of"), "{audit}");
    assert!(audit_lines(&audit, "run.takeover").is_empty(), "{audit}");
}

/// The lines of `drover audit` (newest first) whose action is `action`.
fn audit_lines<'a>(audit: &'a str, action: &str) -> Vec<&'a str> {
    audit
        .lines()
        .filter(|line| line.split_whitespace().any(|word| word == action))
        .collect()
}

#[test]
fn continue_on_error_runs_the_remaining_scripts() {
    let fleet = SshFleet::start(24, 1);
    let mut drover = common::Drover::new();
    drover.add_fleet(&fleet, "db", "db-group");
    lamp_like(&drover, "echo failing; exit 5\n");
    let run = drover.json(&[
        "task",
        "run",
        "three-steps",
        "db-group",
        "--continue-on-error",
    ]);
    let id = run["id"].as_i64().expect("id");
    let host = host_doc(&run, "db-1");
    assert_eq!(host["state"], "failed");
    assert_eq!(host["exit_code"], 5);
    assert_eq!(
        drover.step_log(id, "db-1", 3),
        b"three\n",
        "continue-on-error runs step 3"
    );
    // --show-output prints every host's logs, then the table; exit code 1
    let shown = drover.run(&[
        "task",
        "run",
        "three-steps",
        "db-group",
        "--continue-on-error",
        "--show-output",
    ]);
    assert_eq!(shown.status.code(), Some(1));
    let text = String::from_utf8_lossy(&shown.stdout);
    let header = text.find("==> db-1 · step 3/3").expect("step 3 header");
    assert!(text[header..].contains("three\n"), "{text}");
    let table = text.rfind("db-1").expect("table row");
    assert!(table > header && text[table..].contains("failed"), "{text}");
}

/// drover offers ecdh-sha2-nistp256 first (OpenSSH computes it with
/// OpenSSL, cheaper for every host than its portable curve25519) and still
/// talks to a server that offers only curve25519.
#[test]
fn key_exchange_prefers_p256_and_falls_back_to_curve25519() {
    let p256 = SshFleet::start_with(181, 1, common::free_port(), "LogLevel DEBUG1\n");
    let c25519 = SshFleet::start_with(
        182,
        1,
        common::free_port(),
        "LogLevel DEBUG1\nKexAlgorithms curve25519-sha256\n",
    );
    let mut drover = common::Drover::new();
    drover.script("kex-probe", "echo kex-ok\n", &[]);
    drover.ok(&["scriptgroup", "create", "kex", "kex-probe"]);
    for (fleet, group, algorithm) in [
        (&p256, "kex-a", "ecdh-sha2-nistp256"),
        (&c25519, "kex-b", "curve25519-sha256"),
    ] {
        let hosts = drover.add_fleet(fleet, group, group);
        let run = drover.json(&["task", "run", "kex", group]);
        assert_eq!(run["state"], "succeeded", "{run:#}");
        let id = run["id"].as_i64().expect("id");
        assert_eq!(drover.step_log(id, &hosts[0], 1), b"kex-ok\n");
        let log = fleet.log();
        assert!(
            log.contains(&format!("kex: algorithm: {algorithm} [preauth]")),
            "{group}: sshd log does not show {algorithm}:\n{log}"
        );
    }
}

/// A host's reason, once its state is checked.
fn reason_of(run: &serde_json::Value, host: &str, state: &str) -> String {
    let doc = host_doc(run, host);
    assert_eq!(doc["state"], state, "{doc:#}");
    doc["reason"].as_str().unwrap_or_default().to_string()
}

#[test]
fn unreachable_hosts_are_reported_with_their_reason() {
    let fleet = SshFleet::start(31, 1);
    // (the silent host is waited for until this timeout)
    let mut drover = common::Drover::with_connect_timeout("10s", "");
    drover.add_fleet(&fleet, "ok", "mixed");
    // a closed port: refused
    let closed = common::free_port().to_string();
    drover.ok(&[
        "host",
        "add",
        "closed",
        "127.0.0.32",
        "--port",
        &closed,
        "--group",
        "mixed",
    ]);
    // a listener that accepts and never speaks SSH: timeout
    let silent = std::net::TcpListener::bind("127.0.0.33:0").expect("bind");
    let silent_port = silent.local_addr().expect("addr").port().to_string();
    drover.ok(&[
        "host",
        "add",
        "silent",
        "127.0.0.33",
        "--port",
        &silent_port,
        "--group",
        "mixed",
    ]);
    // the right sshd but a user whose key is not authorised: auth
    let port = fleet.port.to_string();
    drover.ok(&[
        "host",
        "add",
        "nokey",
        "127.0.0.31",
        "--port",
        &port,
        "--user",
        "nobody",
        "--group",
        "mixed",
    ]);
    drover.script("hello", "echo hello\n", &[]);
    drover.ok(&["scriptgroup", "create", "hello-group", "hello"]);
    let run = drover.json(&["task", "run", "hello-group", "mixed"]);
    assert_eq!(host_doc(&run, "ok-1")["state"], "succeeded");
    let reason = |h: &str| reason_of(&run, h, "unreachable");
    assert!(
        reason("closed").starts_with("refused"),
        "{}",
        reason("closed")
    );
    assert!(
        reason("silent").starts_with("timeout"),
        "{}",
        reason("silent")
    );
    assert!(reason("nokey").starts_with("auth"), "{}", reason("nokey"));
    drop(silent);
}

#[test]
fn host_key_mismatch_runs_nothing_until_trusted() {
    let fleet = SshFleet::start(41, 1);
    let mut drover = common::Drover::new();
    drover.add_fleet(&fleet, "h", "keyed");
    let marker = drover.dir.path().join("marker");
    let body = format!("touch {}\n", marker.display());
    drover.script("touch-marker", &body, &[]);
    drover.ok(&["scriptgroup", "create", "touch", "touch-marker"]);
    drover.ok(&["host", "check", "h-1"]);
    let pinned = drover.json(&["host", "show", "h-1"])["host_key"].clone();
    assert!(pinned.is_string());

    // the same address and port now answer with another host key
    let port = fleet.port;
    drop(fleet);
    let impostor = SshFleet::start_on(41, 1, port);
    drover.identity = Some(impostor.client_key.clone());
    let out = drover.run(&["--json", "task", "run", "touch", "keyed"]);
    let run: serde_json::Value = serde_json::from_slice(&out.stdout).expect("json");
    let host = host_doc(&run, "h-1");
    assert_eq!(host["state"], "unreachable");
    let reason = host["reason"].as_str().unwrap_or_default();
    assert!(
        reason.contains("host key mismatch") && reason.matches("SHA256:").count() == 2,
        "{reason}"
    );
    assert!(
        !marker.exists(),
        "nothing may run on a host whose key changed"
    );
    assert_eq!(
        drover.json(&["host", "show", "h-1"])["host_key"],
        pinned,
        "the pin is kept"
    );

    let trusted = drover.ok(&["host", "trust", "h-1"]);
    assert!(trusted.contains("re-pinned"), "{trusted}");
    let run = drover.json(&["task", "run", "touch", "keyed"]);
    assert_eq!(host_doc(&run, "h-1")["state"], "succeeded");
    assert!(marker.exists());
}

#[test]
fn strict_policy_refuses_unknown_keys_but_accepts_known_hosts() {
    let fleet = SshFleet::start(45, 1);
    let known = fleet.dir.path().join("known_hosts");
    let config = format!(
        "host_key_policy = \"strict\"\nknown_hosts = \"{}\"\n",
        known.display()
    );
    let mut drover = common::Drover::with_config(&config);
    drover.add_fleet(&fleet, "s", "strict");
    drover.script("hello", "echo hello\n", &[]);
    drover.ok(&["scriptgroup", "create", "hello-group", "hello"]);
    // a known_hosts file that is not there is named, not read as empty
    let run = drover.json(&["task", "run", "hello-group", "strict"]);
    let reason = host_doc(&run, "s-1")["reason"]
        .as_str()
        .unwrap_or_default()
        .to_string();
    assert!(
        reason.starts_with(&format!(
            "host_key: cannot read ssh.known_hosts '{}': No such file",
            known.display()
        )),
        "{reason}"
    );
    std::fs::write(&known, "").expect("known_hosts");
    let run = drover.json(&["task", "run", "hello-group", "strict"]);
    let reason = host_doc(&run, "s-1")["reason"]
        .as_str()
        .unwrap_or_default()
        .to_string();
    assert!(reason.contains("unknown host key"), "{reason}");
    let line = format!("[127.0.0.45]:{} {}", fleet.port, fleet.host_public_key());
    std::fs::write(&known, line).expect("known_hosts");
    let run = drover.json(&["task", "run", "hello-group", "strict"]);
    assert_eq!(host_doc(&run, "s-1")["state"], "succeeded", "{run:#}");
}

/// Through `sudo -n` (the tests log in as root, for whom sudo asks no
/// password): the scripts run as root, from files (sudo closes the
/// here-document's descriptor), and still see the run's environment, which
/// sudo would otherwise reset.
#[test]
fn sudo_runs_scripts_with_the_run_environment() {
    let fleet = SshFleet::start(191, 1);
    let mut drover = common::Drover::new();
    let hosts = drover.add_fleet(&fleet, "su", "su-group");
    let host = hosts[0].as_str();
    drover.script(
        "whoami",
        "#!/bin/sh\necho \"uid $(id -u) host $DROVER_HOST run $DROVER_RUN_ID script $DROVER_SCRIPT greeting $GREETING\"\ncase $0 in *.s1) echo from-file;; *) echo \"from $0\";; esac\n",
        &[],
    );
    drover.script(
        "second",
        "#!/bin/bash\necho \"second $DROVER_SCRIPT\"\n",
        &[],
    );
    drover.ok(&["scriptgroup", "create", "su-steps", "whoami", "second"]);
    let run = drover.json(&[
        "task",
        "run",
        "su-steps",
        "su-group",
        "--sudo",
        "--env",
        "GREETING=it's me",
    ]);
    assert_eq!(run["state"], "succeeded", "{run:#}");
    let id = run["id"].as_i64().expect("id");
    assert_eq!(
        String::from_utf8_lossy(&drover.step_log(id, host, 1)),
        format!("uid 0 host {host} run {id} script whoami greeting it's me\nfrom-file\n")
    );
    assert_eq!(drover.step_log(id, host, 2), b"second second\n");
    assert_eq!(common::remote_run_files(id, host), Vec::<String>::new());
}

#[test]
fn sudo_that_wants_a_password_fails_the_host_at_once() {
    // A throwaway login whose sudoers rule asks for a password.
    let user = ThrowawayUser::new("ALL=(ALL) ALL");
    let fleet = SshFleet::start_with(
        196,
        1,
        common::free_port(),
        &format!("LogLevel ERROR\nAllowUsers {}\n", user.name),
    );
    let mut drover = common::Drover::new();
    let hosts = drover.add_fleet(&fleet, "pw", "pw-group");
    let host = hosts[0].as_str();
    drover.ok(&["host", "edit", host, "--user", &user.name]);
    let witness = user.home.join("ran");
    drover.script(
        "touch-witness",
        &format!("#!/bin/sh\ntouch {}\n", witness.display()),
        &[],
    );
    drover.ok(&["scriptgroup", "create", "pw-steps", "touch-witness"]);
    let started = Instant::now();
    let run = drover.json(&["task", "run", "pw-steps", "pw-group", "--sudo"]);
    assert!(
        started.elapsed() < Duration::from_secs(30),
        "a password prompt must not hang the run"
    );
    let reason = reason_of(&run, host, "failed");
    assert!(reason.contains("requires a password"), "{reason}");
    assert!(!witness.exists(), "nothing ran as root");
}

/// A login created for one test (home directory, `/bin/sh`, no password,
/// a sudoers rule), removed again on drop.
struct ThrowawayUser {
    name: String,
    home: std::path::PathBuf,
    sudoers: std::path::PathBuf,
}

impl ThrowawayUser {
    fn new(rule: &str) -> ThrowawayUser {
        let name = format!("drv{}", std::process::id());
        // The guard exists before anything is created, so a failure below
        // still removes what was made; a leftover of a crashed run goes first.
        let user = ThrowawayUser {
            home: std::path::PathBuf::from(format!("/home/{name}")),
            sudoers: std::path::PathBuf::from(format!("/etc/sudoers.d/{name}")),
            name,
        };
        user.remove();
        let run = |program: &str, args: &[&str]| {
            let status = std::process::Command::new(program)
                .args(args)
                .status()
                .unwrap_or_else(|e| panic!("{program}: {e}"));
            assert!(status.success(), "{program} {args:?}: {status}");
        };
        run(
            "useradd",
            &[
                "-m",
                "-d",
                &user.home.to_string_lossy(),
                "-s",
                "/bin/sh",
                &user.name,
            ],
        );
        // '*': no password can be typed, yet key logins work (with a locked
        // '!' account sshd refuses them).
        run("usermod", &["-p", "*", &user.name]);
        std::fs::write(&user.sudoers, format!("{} {rule}\n", user.name)).expect("sudoers rule");
        user
    }

    fn remove(&self) {
        let _ = std::fs::remove_file(&self.sudoers);
        let _ = std::process::Command::new("userdel")
            .args(["-r", &self.name])
            .stderr(std::process::Stdio::null())
            .status();
    }
}

impl Drop for ThrowawayUser {
    fn drop(&mut self) {
        self.remove();
    }
}

/// Removes terminal control sequences (`ESC [ ... letter`), keeping text.
fn strip_escapes(raw: &str) -> String {
    let mut out = String::with_capacity(raw.len());
    let mut chars = raw.chars();
    while let Some(c) = chars.next() {
        if c != '\x1b' {
            out.push(c);
            continue;
        }
        if chars.next() == Some('[') {
            for c in chars.by_ref() {
                if c.is_ascii_alphabetic() {
                    break;
                }
            }
        }
    }
    out
}

/// In a terminal, `task run` shows a live line per active host (state,
/// script i/n, elapsed), a summary line, and a final line per host.
#[test]
fn terminal_shows_a_line_per_host_and_a_summary() {
    let fleet = SshFleet::start(201, 2);
    let mut drover = common::Drover::new();
    let hosts = drover.add_fleet(&fleet, "tty", "tty-group");
    drover.script("slow", "#!/bin/sh\necho start\nsleep 2\necho end\n", &[]);
    drover.script("quick", "echo quick\n", &[]);
    drover.ok(&["scriptgroup", "create", "tty-steps", "slow", "quick"]);
    let out = drover.in_terminal(&["task", "run", "tty-steps", "tty-group"]);
    assert_eq!(out.status.code(), Some(0));
    let screen = strip_escapes(&String::from_utf8_lossy(&out.stdout)).replace('\r', "\n");
    for host in &hosts {
        assert!(
            screen.lines().any(|l| l.contains(host.as_str())
                && l.contains("running")
                && l.contains("1/2 slow")),
            "no live line for {host}:\n{screen}"
        );
        assert!(
            screen
                .lines()
                .any(|l| l.trim_start().starts_with(host.as_str())
                    && l.contains("succeeded")
                    && l.contains("2/2")),
            "no final line for {host}:\n{screen}"
        );
    }
    assert!(screen.contains("run 1 · 2 running"), "{screen}");
    // then the table on stdout
    assert!(
        screen.contains("HOST") && screen.contains("2 succeeded"),
        "{screen}"
    );
}

#[test]
fn per_script_timeout_kills_the_script() {
    let fleet = SshFleet::start(51, 1);
    let mut drover = common::Drover::new();
    drover.add_fleet(&fleet, "t", "slow");
    let sleep = common::unique_sleep();
    drover.script(
        "sleepy",
        &format!("echo start\n{sleep}\n"),
        &["--timeout", "2s"],
    );
    drover.ok(&["scriptgroup", "create", "sleepy-group", "sleepy"]);
    let run = drover.json(&["task", "run", "sleepy-group", "slow"]);
    let host = host_doc(&run, "t-1");
    assert_eq!(host["state"], "timed_out", "{host:#}");
    assert_eq!(host["step"], 1);
    assert!(common::processes_matching(&sleep).is_empty());
}

fn wait_for_state(drover: &common::Drover, id: &str, host: &str, state: &str) {
    common::wait_for_host(drover, id, host, Duration::from_secs(10), |h| {
        h["state"] == state
    });
}

#[test]
fn cancel_ends_every_remote_process() {
    let fleet = SshFleet::start(61, 2);
    let mut drover = common::Drover::new();
    drover.add_fleet(&fleet, "c", "cancelme");
    let (child, main) = (common::unique_sleep(), common::unique_sleep() + "1");
    drover.script("forever", &format!("{child} &\n{main}\nwait\n"), &[]);
    drover.script("after", "echo never\n", &[]);
    drover.ok(&["scriptgroup", "create", "forever-group", "forever", "after"]);
    let id = drover
        .ok(&["task", "run", "forever-group", "cancelme", "--detach"])
        .trim()
        .to_string();
    assert!(
        id.parse::<i64>().is_ok(),
        "--detach prints the run id: {id}"
    );
    // the background controller's own log is the owner's only too
    let run_dir = drover.logs().join(&id);
    assert_eq!(mode_of(&drover.logs()), 0o700);
    assert_eq!(mode_of(&run_dir), 0o700);
    assert_eq!(mode_of(&run_dir.join("controller.log")), 0o600);
    wait_for_state(&drover, &id, "c-1", "running");
    wait_for_state(&drover, &id, "c-2", "running");
    assert_eq!(common::processes_matching(&child).len(), 2);
    let run = drover.json(&["run", "cancel", &id]);
    assert_eq!(run["state"], "cancelled", "{run:#}");
    for h in ["c-1", "c-2"] {
        assert_eq!(host_doc(&run, h)["state"], "cancelled");
    }
    assert_gone(&[&child, &main], "cancel");
    assert!(drover
        .step_log(id.parse().unwrap_or(0), "c-1", 2)
        .is_empty());
    let audit = drover.ok(&["audit"]);
    assert!(
        audit_lines(&audit, "run.takeover").is_empty(),
        "the background process of --detach takes its run over unrecorded: {audit}"
    );
    assert_eq!(audit_lines(&audit, "run.cancel").len(), 1, "{audit}");
}

#[test]
fn killed_controller_is_resumed_without_losing_output() {
    let fleet = SshFleet::start(71, 2);
    let mut drover = common::Drover::new();
    drover.add_fleet(&fleet, "r", "resume");
    drover.script(
        "counter",
        "for i in $(seq 1 40); do echo line-$i; sleep 0.05; done\n",
        &[],
    );
    drover.script("finale", "echo finale\n", &[]);
    drover.ok(&["scriptgroup", "create", "counting", "counter", "finale"]);
    let mut child = controller(
        &mut drover.command(),
        &["task", "run", "counting", "resume", "--quiet"],
    );
    wait_for_state(&drover, "1", "r-1", "running");
    // killed mid-step, with part of the output stored
    common::eventually("r-1 is halfway through its output", || {
        String::from_utf8_lossy(&drover.step_log(1, "r-1", 1)).contains("line-10\n")
    });
    child.kill().expect("SIGKILL the controller");
    let _ = child.wait();
    let mid = drover.json(&["run", "status", "1"]);
    assert_eq!(
        mid["state"], "running",
        "the run is not finished when its controller dies"
    );
    let run = taken_over_to_the_end(&mut drover, "1");
    assert_eq!(run["state"], "succeeded", "{run:#}");
    let expected: String = (1..=40).map(|i| format!("line-{i}\n")).collect();
    for h in ["r-1", "r-2"] {
        assert_eq!(
            String::from_utf8_lossy(&drover.step_log(1, h, 1)),
            expected,
            "host {h}"
        );
        assert_eq!(drover.step_log(1, h, 2), b"finale\n");
    }
    let audit = drover.ok(&["audit"]);
    let takeovers = audit_lines(&audit, "run.takeover");
    assert_eq!(
        takeovers.len(),
        1,
        "one takeover, lease renewals unrecorded: {audit}"
    );
    assert!(
        takeovers[0].contains("drover") && takeovers[0].contains("driven by"),
        "{audit}"
    );
}

/// Starts drover with `args` in the background, output discarded: a
/// controller for a test to kill.
fn controller(command: &mut std::process::Command, args: &[&str]) -> std::process::Child {
    command
        .args(args)
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::null())
        .spawn()
        .expect("spawn drover")
}

/// Polls `run status ID` (without -i: the run remembers its key files),
/// which hands a run whose controller died to a background drover, until
/// the run is over (10 s at most); the last status.
fn taken_over_to_the_end(drover: &mut common::Drover, id: &str) -> serde_json::Value {
    drover.identity = None;
    let mut run = serde_json::Value::Null;
    for _ in 0..100 {
        run = drover.json(&["run", "status", id]);
        if run["state"] != "running" {
            break;
        }
        std::thread::sleep(Duration::from_millis(100));
    }
    run
}

#[test]
fn controller_killed_before_storing_the_end_leaves_the_host_its_files() {
    let fleet = SshFleet::start(76, 1);
    let mut drover = common::Drover::new();
    let hosts = drover.add_fleet(&fleet, "e", "end");
    let host = hosts[0].as_str();
    drover.script("quick", "echo only-line\n", &[]);
    drover.ok(&["scriptgroup", "create", "quick-group", "quick"]);
    // This controller stores its records 5 s late, so it dies after it has
    // read the host's whole output but before the end is in the database.
    let mut child = controller(
        drover.command().env("DROVER_TEST_STORE_FLUSH_MS", "5000"),
        &["task", "run", "quick-group", "end", "--quiet"],
    );
    let deadline = Instant::now() + Duration::from_secs(10);
    while drover.step_log(1, host, 1) != b"only-line\n" {
        assert!(Instant::now() < deadline, "the output never arrived");
        std::thread::sleep(Duration::from_millis(50));
    }
    // The runner has finished and its follower has sent the whole output
    // (`tail` ends once the runner is gone): the end is on its way to the
    // controller, which holds it 5 s before storing it.
    common::eventually("the host has sent everything", || {
        runner_finished_and_sent_all(1, host)
    });
    child.kill().expect("SIGKILL the controller");
    let _ = child.wait();
    // Not acknowledged: the host kept the run's files for a takeover.
    assert!(
        !common::remote_run_files(1, host).is_empty(),
        "the host removed its files before the end was stored"
    );
    // `run resume` takes the run over in the foreground, recorded as such.
    drover.identity = None;
    let run = drover.json(&["run", "resume", "1"]);
    assert_eq!(run["state"], "succeeded", "{run:#}");
    assert_eq!(drover.step_log(1, host, 1), b"only-line\n");
    assert_eq!(common::remote_run_files(1, host), Vec::<String>::new());
    let audit = drover.ok(&["audit"]);
    assert_eq!(audit_lines(&audit, "run.takeover").len(), 1, "{audit}");
    let resumed = audit_lines(&audit, "run.resume");
    assert!(
        resumed.len() == 1 && resumed[0].contains("cli:") && resumed[0].contains(" ok"),
        "{audit}"
    );
}

/// True when the runner of `run` on `host` (the test hosts share this
/// machine) recorded its end and no `tail` follows its output any more.
fn runner_finished_and_sent_all(run: i64, host: &str) -> bool {
    let runs = common::login_home().join(".drover/runs");
    let files = common::remote_run_files(run, host);
    let file = |suffix: &str| files.iter().find(|f| f.ends_with(suffix)).cloned();
    let (Some(ctl), Some(out)) = (file(".ctl"), file(".out")) else {
        return false;
    };
    let done = std::fs::read_to_string(runs.join(ctl))
        .is_ok_and(|ctl| ctl.lines().any(|line| line == "done"));
    done && common::processes_matching(&out).is_empty()
}

#[test]
fn a_takeover_that_cannot_read_a_step_again_keeps_its_log() {
    let fleet = SshFleet::start(226, 1);
    let mut drover = common::Drover::new();
    let hosts = drover.add_fleet(&fleet, "vanish", "vanish");
    let host = hosts[0].as_str();
    let step = common::unique_sleep();
    drover.script("chatty", &format!("echo before-the-crash\n{step}\n"), &[]);
    drover.ok(&["scriptgroup", "create", "chatty-group", "chatty"]);
    let mut child = controller(
        &mut drover.command(),
        &["task", "run", "chatty-group", "vanish", "--quiet"],
    );
    let deadline = Instant::now() + Duration::from_secs(10);
    // (its last newline is held back until more output shows it is not
    // the start of a marker line)
    while drover.step_log(1, host, 1) != b"before-the-crash" {
        assert!(Instant::now() < deadline, "the output never arrived");
        std::thread::sleep(Duration::from_millis(50));
    }
    // the step's start is stored: a takeover knows it was inside it
    wait_for_state(&drover, "1", host, "running");
    child.kill().expect("SIGKILL the controller");
    let _ = child.wait();
    // Meanwhile the host loses the run: its files, then its step.
    let runs = common::login_home().join(".drover/runs");
    for file in common::remote_run_files(1, host) {
        std::fs::remove_file(runs.join(file)).expect("remove a run file");
    }
    for line in common::processes_matching(&step) {
        let pid = line
            .split_whitespace()
            .next()
            .unwrap_or_default()
            .to_string();
        let _ = std::process::Command::new("kill").arg(&pid).status();
    }
    assert_gone(&[&step], "kill");
    let run = taken_over_to_the_end(&mut drover, "1");
    let gone = host_doc(&run, host);
    assert_eq!(gone["state"], "failed", "{run:#}");
    assert!(
        gone["reason"]
            .as_str()
            .unwrap_or_default()
            .contains("not on this host"),
        "{run:#}"
    );
    assert_eq!(
        drover.step_log(1, host, 1),
        b"before-the-crash",
        "the log written before the crash is kept"
    );
    let logs = drover.ok(&["run", "logs", "1", host]);
    assert!(logs.contains("before-the-crash"), "{logs}");
    for file in common::remote_run_files(1, host) {
        let _ = std::fs::remove_file(runs.join(file));
    }
}

/// Gives the lease of `run` to another controller `owner`, as a process
/// that took the run over after this one failed to renew in time would hold
/// it, for `valid_ms` (negative: already expired).
fn give_lease_away(drover: &common::Drover, run: i64, owner: &str, valid_ms: i64) {
    let (runtime, mut db) = drover.open_database();
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .expect("clock")
        .as_millis() as i64;
    runtime
        .block_on(
            sqlx::query("UPDATE runs SET lease_owner = ?, lease_expires_at = ? WHERE id = ?")
                .bind(owner)
                .bind(now + valid_ms)
                .bind(run)
                .execute(&mut db),
        )
        .expect("move the lease");
}

#[test]
fn a_controller_that_loses_its_run_stops_driving_it() {
    let fleet = SshFleet::start(196, 2);
    let mut drover = common::Drover::new();
    drover.add_fleet(&fleet, "lease", "lease");
    let step = common::unique_sleep();
    drover.script("long", &format!("echo started\n{step}\n"), &[]);
    drover.ok(&["scriptgroup", "create", "long-group", "long"]);
    let mut child = drover
        .command()
        .args(["task", "run", "long-group", "lease", "--quiet"])
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .expect("spawn drover");
    wait_for_state(&drover, "1", "lease-1", "running");
    wait_for_state(&drover, "1", "lease-2", "running");
    give_lease_away(&drover, 1, "elsewhere:1:test", 600_000);
    // The next renewal (every 4 s) finds the run taken: the controller
    // stops its host jobs and exits, leaving the remote steps running.
    let deadline = Instant::now() + Duration::from_secs(10);
    let status = loop {
        if let Some(status) = child.try_wait().expect("wait") {
            break status;
        }
        if Instant::now() > deadline {
            let _ = child.kill();
            let _ = child.wait();
            panic!("the controller went on driving a run it lost");
        }
        std::thread::sleep(Duration::from_millis(100));
    };
    let mut stderr = String::new();
    use std::io::Read as _;
    let _ = child
        .stderr
        .take()
        .map(|mut e| e.read_to_string(&mut stderr));
    assert_eq!(status.code(), Some(1), "{stderr}");
    assert!(
        stderr.contains("run 1 is now driven by another drover process"),
        "{stderr}"
    );
    assert_eq!(
        common::processes_matching(&step).len(),
        2,
        "the steps go on for the new controller"
    );
    let run = drover.json(&["run", "status", "1"]);
    assert_eq!(run["state"], "running", "{run:#}");
    // The other controller's lease expires in turn; cancel ends the run.
    give_lease_away(&drover, 1, "elsewhere:1:test", -1);
    let cancelled = drover.json(&["run", "cancel", "1"]);
    assert_eq!(cancelled["state"], "cancelled", "{cancelled:#}");
    assert_gone(&[&step], "cancel");
}

#[test]
// The child is reaped with wait4 (for its rusage), which clippy cannot see.
#[allow(clippy::zombie_processes)]
fn huge_binary_output_keeps_controller_memory_bounded() {
    let fleet = SshFleet::start(81, 1);
    let mut drover = common::Drover::new();
    drover.add_fleet(&fleet, "big", "big");
    drover.script(
        "flood",
        "head -c 100000000 /dev/zero | tr '\\000' 'x'\nprintf '\\377\\376 not utf-8 and no newline'\n",
        &[],
    );
    drover.ok(&["scriptgroup", "create", "flood-group", "flood"]);
    let (stdout, max_rss_mib) =
        output_and_peak_rss(
            drover
                .command()
                .args(["--json", "task", "run", "flood-group", "big"]),
        );
    let run: serde_json::Value = serde_json::from_slice(&stdout).expect("json");
    let host = host_doc(&run, "big-1");
    assert_eq!(host["state"], "succeeded", "{host:#}");
    assert!(host["excerpt"]
        .as_str()
        .is_some_and(|e| e.ends_with("\u{fffd}\u{fffd} not utf-8 and no newline")));
    assert!(
        max_rss_mib < 64,
        "controller peak RSS {max_rss_mib} MiB for 100 MB of output"
    );
    let log = drover.step_log(1, "big-1", 1);
    assert!(
        log.len() < 10 * 1024 * 1024,
        "log capped: {} bytes",
        log.len()
    );
    let text = String::from_utf8_lossy(&log);
    assert!(
        text.contains("bytes dropped here; the step printed 100000027 bytes in all"),
        "{}",
        &text[text.len().saturating_sub(300)..]
    );
    assert!(log.ends_with(b"\xff\xfe not utf-8 and no newline"));

    // `run logs` streams the log as it is on disk: the same bytes after the
    // header, a newline added at the end, without holding it in memory.
    let (printed, logs_rss_mib) = output_and_peak_rss(drover.command().args(["run", "logs", "1"]));
    let header = b"==> big-1 \xc2\xb7 step 1/1 flood <==\n";
    assert!(
        printed.starts_with(header),
        "{:?}",
        String::from_utf8_lossy(&printed[..80.min(printed.len())])
    );
    assert_eq!(printed.len(), header.len() + log.len() + 1);
    assert!(printed.ends_with(b"\xff\xfe not utf-8 and no newline\n"));
    let (_, status_rss_mib) = output_and_peak_rss(drover.command().args(["run", "status", "1"]));
    assert!(
        logs_rss_mib <= status_rss_mib + 2,
        "`run logs` peak RSS {logs_rss_mib} MiB for a {} byte log, `run status` {status_rss_mib} MiB",
        log.len()
    );
}

/// Runs a drover command to its end; its standard output and peak RSS (MiB).
#[allow(clippy::zombie_processes)] // reaped by wait4, which also gives the RSS
fn output_and_peak_rss(cmd: &mut std::process::Command) -> (Vec<u8>, i64) {
    let mut child = cmd
        .stdout(std::process::Stdio::piped())
        .spawn()
        .expect("spawn");
    let mut stdout = child.stdout.take().expect("stdout");
    let reader = std::thread::spawn(move || {
        use std::io::Read;
        let mut bytes = Vec::new();
        stdout.read_to_end(&mut bytes).expect("read");
        bytes
    });
    let pid = child.id() as libc::pid_t;
    let mut status = 0;
    let mut usage: libc::rusage = unsafe { std::mem::zeroed() };
    // SAFETY: wait4 on our own child with valid out-pointers.
    let waited = unsafe { libc::wait4(pid, &mut status, 0, &mut usage) };
    assert_eq!(waited, pid);
    assert_eq!(status, 0, "exit status");
    (reader.join().expect("reader"), usage.ru_maxrss / 1024)
}

#[test]
fn log_fetch_reads_the_tail_of_allowed_files_and_refuses_the_rest() {
    let fleet = SshFleet::start(211, 1);
    let files = tempfile::tempdir().expect("tempdir");
    let logs = files.path().join("logs");
    std::fs::create_dir_all(logs.join("archive")).expect("logs dir");
    let mut drover = common::Drover::with_config(&format!(
        "[logs]\nfetch_allow = [\"{}/**\"]\n",
        logs.display()
    ));
    let hosts = drover.add_fleet(&fleet, "l", "logs");
    let host = hosts[0].as_str();
    let path = |name: &str| logs.join(name).to_string_lossy().into_owned();
    let lines: String = (1..=150).map(|i| format!("line {i}\n")).collect();
    std::fs::write(logs.join("app.log"), &lines).expect("app.log");
    std::fs::write(files.path().join("secret.txt"), "hunter2\n").expect("secret");
    std::os::unix::fs::symlink(logs.join("app.log"), logs.join("current")).expect("symlink");
    std::os::unix::fs::symlink(files.path().join("secret.txt"), logs.join("escape"))
        .expect("symlink");

    let tail = drover.ok(&["log", "fetch", host, &path("app.log"), "--lines", "3"]);
    assert_eq!(tail.trim_end(), "line 148\nline 149\nline 150");
    let default = drover.ok(&["log", "fetch", host, &path("app.log")]);
    assert_eq!(default.lines().count(), 100, "100 lines by default");
    assert_eq!(default.lines().next(), Some("line 51"));
    // A symlink that stays inside the allowed tree is followed.
    let through_link = drover.ok(&["log", "fetch", host, &path("current"), "--lines", "1"]);
    assert_eq!(through_link.trim_end(), "line 150");

    let outside = files
        .path()
        .join("secret.txt")
        .to_string_lossy()
        .into_owned();
    let dotdot = format!("{}/../secret.txt", logs.display());
    let refusals: [(&str, &[&str]); 7] = [
        (
            "'..' components are not allowed",
            &["log", "fetch", host, &dotdot],
        ),
        (
            "an absolute path is required",
            &["log", "fetch", host, "logs/app.log"],
        ),
        (
            "not allowed by logs.fetch_allow",
            &["log", "fetch", host, &outside],
        ),
        (
            "refusing the symlink escape",
            &["log", "fetch", host, &path("escape")],
        ),
        (
            "not a readable regular file",
            &["log", "fetch", host, &path("archive")],
        ),
        (
            "between 1 and 10000",
            &["log", "fetch", host, &path("app.log"), "--lines", "0"],
        ),
        (
            "between 1 and 10000",
            &["log", "fetch", host, &path("app.log"), "--lines", "10001"],
        ),
    ];
    for (reason, args) in refusals {
        let out = drover.run(args);
        let stderr = String::from_utf8_lossy(&out.stderr);
        assert!(!out.status.success(), "{args:?} was not refused");
        assert!(stderr.contains(reason), "{args:?}: {stderr}");
        assert!(out.stdout.is_empty(), "{args:?} printed something");
        assert!(!stderr.contains("hunter2"), "{args:?}: {stderr}");
    }

    // What is read is bounded, even for one endless line.
    std::fs::write(logs.join("flood.log"), vec![b'x'; 3 * 1024 * 1024]).expect("flood");
    let flood = drover.run(&["log", "fetch", host, &path("flood.log"), "--lines", "1"]);
    assert!(flood.status.success());
    let read = flood.stdout.iter().filter(|b| **b == b'x').count();
    assert_eq!(read, 1024 * 1024, "capped at 1 MiB");

    let audit = drover.ok(&["audit"]);
    let fetches: Vec<&str> = audit.lines().filter(|l| l.contains("log.fetch")).collect();
    let refused = fetches.iter().filter(|l| l.contains("refused: ")).count();
    assert_eq!(
        (fetches.len(), refused),
        (11, 7),
        "every fetch audited, refusals with why: {audit}"
    );
    assert!(
        fetches
            .iter()
            .any(|l| l.contains(&outside) && l.contains("not allowed by logs.fetch_allow")),
        "{audit}"
    );
    assert!(!audit.contains("hunter2"), "{audit}");
}

/// An `ssh-agent` in the foreground on a socket of its own, ended on drop.
struct Agent {
    child: std::process::Child,
    socket: std::path::PathBuf,
    _dir: tempfile::TempDir,
}

impl Agent {
    fn start_with(key: &std::path::Path) -> Agent {
        let dir = tempfile::tempdir().expect("tempdir");
        let socket = dir.path().join("agent.sock");
        let child = std::process::Command::new("ssh-agent")
            .arg("-D")
            .arg("-a")
            .arg(&socket)
            .stdout(std::process::Stdio::null())
            .spawn()
            .expect("ssh-agent (openssh-client)");
        let deadline = Instant::now() + Duration::from_secs(5);
        while !socket.exists() {
            assert!(Instant::now() < deadline, "ssh-agent did not start");
            std::thread::sleep(Duration::from_millis(20));
        }
        let added = std::process::Command::new("ssh-add")
            .arg(key)
            .env("SSH_AUTH_SOCK", &socket)
            .output()
            .expect("ssh-add");
        assert!(added.status.success(), "{added:?}");
        Agent {
            child,
            socket,
            _dir: dir,
        }
    }
}

impl Drop for Agent {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

#[test]
fn keys_come_from_identity_files_and_from_ssh_agent() {
    let fleet = SshFleet::start(216, 1);
    let key = fleet.client_key.clone();
    let mut drover =
        common::Drover::with_config(&format!("identity_files = [\"{}\"]\n", key.display()));
    drover.add_fleet(&fleet, "k", "keys");
    drover.identity = None;
    drover.script("hello", "echo hello\n", &[]);
    drover.ok(&["scriptgroup", "create", "hello-group", "hello"]);
    let run = drover.json(&["task", "run", "hello-group", "keys"]);
    assert_eq!(host_doc(&run, "k-1")["state"], "succeeded", "{run:#}");

    // No key file anywhere: only the agent holds the key.
    let mut keyless = common::Drover::new();
    keyless.add_fleet(&fleet, "k", "keys");
    keyless.identity = None;
    keyless.script("hello", "echo hello\n", &[]);
    keyless.ok(&["scriptgroup", "create", "hello-group", "hello"]);
    let without = keyless.json(&["task", "run", "hello-group", "keys"]);
    let reason = reason_of(&without, "k-1", "unreachable");
    assert!(reason.starts_with("auth"), "{reason}");
    let agent = Agent::start_with(&key);
    let out = keyless
        .command()
        .env("SSH_AUTH_SOCK", &agent.socket)
        .args(["--json", "task", "run", "hello-group", "keys"])
        .output()
        .expect("drover");
    let with_agent: serde_json::Value = serde_json::from_slice(&out.stdout).expect("json");
    assert_eq!(
        host_doc(&with_agent, "k-1")["state"],
        "succeeded",
        "{with_agent:#}"
    );
    assert_eq!(keyless.step_log(2, "k-1", 1), b"hello\n");
}

#[test]
fn fan_out_bounds_hosts_at_once_and_too_many_failures_skip_the_rest() {
    let fleet = SshFleet::start(221, 4);
    let mut drover = common::Drover::new();
    let hosts = drover.add_fleet(&fleet, "f", "four");
    // Each host marks itself present for half a second and reports how many
    // hosts were present at once (the hosts share this machine's /tmp).
    let present = tempfile::tempdir().expect("tempdir");
    drover.script(
        "overlap",
        &format!(
            "d={}\n: > \"$d/$DROVER_HOST\"\nsleep 0.5\necho \"present $(ls \"$d\" | wc -l)\"\nrm \"$d/$DROVER_HOST\"\n",
            present.path().display()
        ),
        &[],
    );
    drover.ok(&["scriptgroup", "create", "overlap-group", "overlap"]);
    let run = drover.json(&["task", "run", "overlap-group", "four", "--parallel", "2"]);
    assert_eq!(run["state"], "succeeded", "{run:#}");
    let most = hosts
        .iter()
        .map(|h| {
            let log = String::from_utf8_lossy(&drover.step_log(1, h, 1)).into_owned();
            log.trim()
                .strip_prefix("present ")
                .and_then(|n| n.trim().parse::<u32>().ok())
                .unwrap_or_else(|| panic!("{h}: {log:?}"))
        })
        .max();
    assert_eq!(most, Some(2), "at most 2 hosts at once, and 2 were used");

    drover.script("broken", "exit 1\n", &[]);
    drover.ok(&["scriptgroup", "create", "broken-group", "broken"]);
    let out = drover.run(&[
        "--json",
        "task",
        "run",
        "broken-group",
        "four",
        "--parallel",
        "1",
        "--max-failed-hosts",
        "1",
    ]);
    assert_eq!(out.status.code(), Some(1));
    let run: serde_json::Value = serde_json::from_slice(&out.stdout).expect("json");
    assert_eq!(run["state"], "failed", "{run:#}");
    reason_of(&run, "f-1", "failed");
    let failed = host_doc(&run, "f-1");
    assert_eq!(
        (&failed["script"], &failed["step"], &failed["exit_code"]),
        (
            &serde_json::json!("broken"),
            &serde_json::json!(1),
            &serde_json::json!(1)
        ),
        "{failed:#}"
    );
    for h in &hosts[1..] {
        let reason = reason_of(&run, h, "skipped");
        assert_eq!(reason, "too many hosts failed");
    }
}

#[test]
fn cancelling_a_run_whose_controller_died_stops_its_hosts_at_once() {
    let fleet = SshFleet::start(236, 2);
    let mut drover = common::Drover::new();
    drover.add_fleet(&fleet, "o", "orphan");
    // Bounded, so that a cancel that waits for the scripts still ends.
    let sleep = format!("sleep 20.{:06}", std::process::id() % 1_000_000);
    drover.script("slow", &format!("echo begin\n{sleep}\necho never\n"), &[]);
    drover.ok(&["scriptgroup", "create", "slow-group", "slow"]);
    let mut child = controller(
        &mut drover.command(),
        &["task", "run", "slow-group", "orphan", "--quiet"],
    );
    wait_for_state(&drover, "1", "o-1", "running");
    wait_for_state(&drover, "1", "o-2", "running");
    child.kill().expect("SIGKILL the controller");
    let _ = child.wait();
    assert_eq!(
        common::processes_matching(&sleep).len(),
        2,
        "the scripts go on without their controller"
    );
    let out = drover.run(&["--json", "run", "cancel", "1"]);
    assert!(out.status.success(), "{out:?}");
    let run: serde_json::Value = serde_json::from_slice(&out.stdout).expect("json");
    assert_eq!(run["state"], "cancelled", "{run:#}");
    assert!(
        common::processes_matching(&sleep).is_empty(),
        "{:?}",
        common::processes_matching(&sleep)
    );
    for h in ["o-1", "o-2"] {
        assert_eq!(host_doc(&run, h)["state"], "cancelled", "{run:#}");
        assert_eq!(
            drover.step_log(1, h, 1),
            b"begin\n",
            "collected, then stopped"
        );
        assert_eq!(common::remote_run_files(1, h), Vec::<String>::new());
    }
}

#[test]
fn a_failed_step_still_fails_the_host_after_a_takeover() {
    let fleet = SshFleet::start(241, 1);
    let mut drover = common::Drover::new();
    let hosts = drover.add_fleet(&fleet, "t", "takeover");
    let host = hosts[0].as_str();
    drover.script("bad", "echo bad\nexit 3\n", &[]);
    drover.script("slow", "echo slow-start\nsleep 2\necho slow-end\n", &[]);
    drover.ok(&["scriptgroup", "create", "bad-then-slow", "bad", "slow"]);
    let mut child = controller(
        &mut drover.command(),
        &[
            "task",
            "run",
            "bad-then-slow",
            "takeover",
            "--continue-on-error",
            "--quiet",
        ],
    );
    common::wait_for_host(&drover, "1", host, Duration::from_secs(10), |h| {
        h["step"] == 2
    });
    child.kill().expect("SIGKILL the controller");
    let _ = child.wait();
    let run = taken_over_to_the_end(&mut drover, "1");
    assert_eq!(run["state"], "failed", "{run:#}");
    let reason = reason_of(&run, host, "failed");
    assert_eq!(reason, "exit code 3");
    let doc = host_doc(&run, host);
    assert_eq!(
        (&doc["step"], &doc["exit_code"]),
        (&serde_json::json!(1), &serde_json::json!(3)),
        "{doc:#}"
    );
    assert_eq!(drover.step_log(1, host, 2), b"slow-start\nslow-end\n");
}

#[test]
fn sudo_steps_are_stopped_by_timeouts_and_cancel_children_included() {
    // Debian's sudoers has `Defaults use_pty`: sudo runs the script on a
    // pseudo-terminal of its own, in another session.
    let fleet = SshFleet::start(246, 1);
    let mut drover = common::Drover::new();
    drover.add_fleet(&fleet, "p", "pty");
    let (child, main) = (common::unique_sleep(), common::unique_sleep() + "1");
    drover.script(
        "sleepy",
        &format!("{child} &\n{main}\n"),
        &["--timeout", "2s"],
    );
    drover.ok(&["scriptgroup", "create", "sleepy-group", "sleepy"]);
    let run = drover.json(&["task", "run", "sleepy-group", "pty", "--sudo"]);
    assert_eq!(host_doc(&run, "p-1")["state"], "timed_out", "{run:#}");
    assert_gone(&[&child, &main], "the timeout");

    let (child, main) = (common::unique_sleep(), common::unique_sleep() + "2");
    drover.script("forever", &format!("{child} &\n{main}\n"), &[]);
    drover.ok(&["scriptgroup", "create", "forever-group", "forever"]);
    let id = drover
        .ok(&["task", "run", "forever-group", "pty", "--sudo", "--detach"])
        .trim()
        .to_string();
    wait_for_state(&drover, &id, "p-1", "running");
    common::wait_for_host(&drover, &id, "p-1", Duration::from_secs(10), |_| {
        common::processes_matching(&child).len() == 1
    });
    let run = drover.json(&["run", "cancel", &id]);
    assert_eq!(host_doc(&run, "p-1")["state"], "cancelled", "{run:#}");
    assert_gone(&[&child, &main], "cancel");
}

#[test]
fn a_script_killed_by_a_signal_says_so_and_times_are_recorded() {
    let fleet = SshFleet::start(249, 1);
    let mut drover = common::Drover::new();
    drover.add_fleet(&fleet, "s", "signals");
    drover.script("suicide", "echo going\nkill -9 $$\n", &[]);
    drover.ok(&["scriptgroup", "create", "suicide-group", "suicide"]);
    let run = drover.json(&["task", "run", "suicide-group", "signals"]);
    let reason = reason_of(&run, "s-1", "failed");
    assert_eq!(reason, "exit code 137 (killed by signal 9)");
    let host = host_doc(&run, "s-1");
    let time = |field: &str| {
        let text = host[field].as_str().unwrap_or_default();
        assert!(
            text.len() == 20 && text.ends_with('Z') && text.as_bytes()[10] == b'T',
            "{field}: {host:#}"
        );
        text.to_string()
    };
    assert!(time("started_at") <= time("finished_at"), "{host:#}");
}

#[test]
fn two_databases_with_the_same_run_on_one_home_do_not_collide() {
    let fleet = SshFleet::start(251, 1);
    let mut first = common::Drover::new();
    let mut second = common::Drover::new();
    for (drover, word) in [(&mut first, "first"), (&mut second, "second")] {
        drover.add_fleet(&fleet, "n", "nfs");
        drover.script("say", &format!("sleep 1\necho {word}\n"), &[]);
        drover.ok(&["scriptgroup", "create", "say-group", "say"]);
    }
    // Run 1 of host n-1 in both databases, at the same time, same home.
    let runs: Vec<_> = [&first, &second]
        .iter()
        .map(|d| controller(&mut d.command(), &["task", "run", "say-group", "nfs"]))
        .collect();
    for mut run in runs {
        assert!(run.wait().expect("wait").success());
    }
    assert_eq!(first.step_log(1, "n-1", 1), b"first\n");
    assert_eq!(second.step_log(1, "n-1", 1), b"second\n");
    assert_eq!(common::remote_run_files(1, "n-1"), Vec::<String>::new());
}

#[test]
fn run_logs_and_run_list_take_over_a_dead_controllers_run() {
    let fleet = SshFleet::start(253, 1);
    let mut drover = common::Drover::new();
    drover.add_fleet(&fleet, "l", "lister");
    drover.script(
        "ticks",
        "for i in 1 2 3 4 5 6; do echo tick-$i; sleep 0.3; done\n",
        &[],
    );
    drover.ok(&["scriptgroup", "create", "ticks-group", "ticks"]);
    let mut child = controller(
        &mut drover.command(),
        &["task", "run", "ticks-group", "lister", "--quiet"],
    );
    wait_for_state(&drover, "1", "l-1", "running");
    child.kill().expect("SIGKILL the controller");
    let _ = child.wait();
    drover.identity = None;
    // `run logs` prints what is stored and hands the run to a new driver.
    drover.ok(&["run", "logs", "1"]);
    let mut state = serde_json::Value::Null;
    for _ in 0..100 {
        let runs = drover.json(&["run", "list"]);
        state = runs[0]["state"].clone();
        if state != "running" {
            break;
        }
        std::thread::sleep(Duration::from_millis(100));
    }
    assert_eq!(state, "succeeded");
    let expected: String = (1..=6).map(|i| format!("tick-{i}\n")).collect();
    assert_eq!(
        String::from_utf8_lossy(&drover.step_log(1, "l-1", 1)),
        expected
    );
}

#[test]
fn a_second_rerun_of_a_run_is_refused_while_the_first_is_running() {
    let fleet = SshFleet::start(27, 1);
    let mut drover = common::Drover::new();
    drover.add_fleet(&fleet, "rr", "rerun");
    let mark = drover.dir.path().join("ran-once");
    let sleep = common::unique_sleep();
    drover.script(
        "flaky",
        &format!(
            "if [ -e '{m}' ]; then {sleep}; fi\ntouch '{m}'; exit 4\n",
            m = mark.display()
        ),
        &[],
    );
    drover.ok(&["scriptgroup", "create", "flaky-group", "flaky"]);
    let out = drover.run(&["task", "run", "flaky-group", "rerun", "--quiet"]);
    assert_eq!(out.status.code(), Some(1), "run 1 fails");
    let mut first = controller(
        &mut drover.command(),
        &["run", "rerun", "1", "--failed", "--quiet"],
    );
    wait_for_state(&drover, "2", "rr-1", "running");
    let before = drover.json(&["run", "list"]);
    let out = drover.run(&["run", "rerun", "1", "--failed"]);
    assert_eq!(out.status.code(), Some(1));
    assert_eq!(
        String::from_utf8_lossy(&out.stderr),
        "error: run 1 is already being rerun as run 2, which is still running; wait for it to \
         end (drover run status 2) or cancel it (drover run cancel 2)\n"
    );
    assert_eq!(drover.json(&["run", "list"]), before, "nothing changed");
    drover.ok(&["run", "cancel", "2"]);
    let status = first.wait().expect("the first rerun ends");
    assert_eq!(status.code(), Some(1), "cancelled");
    assert!(common::processes_matching(&sleep).is_empty());
}
