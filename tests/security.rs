//! Attacks on the run environment, `log fetch` and secrets, played against
//! the real binary and real sshd hosts on loopback.

mod common;

use std::process::{Command, Output, Stdio};
use std::time::{Duration, Instant};

use common::{host_doc, SshFleet};

/// Runs `command`, killed if it has not ended within `limit` (the test then
/// fails): an attack that hangs a run must not hang the suite.
fn bounded(mut command: Command, limit: Duration) -> Output {
    let mut child = command
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("spawn");
    let deadline = Instant::now() + limit;
    while child.try_wait().expect("try_wait").is_none() {
        if Instant::now() > deadline {
            let _ = child.kill();
            let out = child.wait_with_output().expect("wait");
            panic!(
                "{command:?} did not end within {limit:?}:\n{}\n{}",
                String::from_utf8_lossy(&out.stdout),
                String::from_utf8_lossy(&out.stderr)
            );
        }
        std::thread::sleep(Duration::from_millis(50));
    }
    child.wait_with_output().expect("output")
}

fn drover_bounded(drover: &common::Drover, args: &[&str], limit: Duration) -> Output {
    let mut command = drover.command();
    command.args(args);
    bounded(command, limit)
}

fn stderr(out: &Output) -> String {
    String::from_utf8_lossy(&out.stderr).into_owned()
}

/// The refusal of a run environment key, as every front end words it.
fn refusal_of(key: &str) -> String {
    format!("environment variable {key} is refused: ")
}

#[test]
fn env_keys_that_run_code_are_refused_with_and_without_sudo() {
    let fleet = SshFleet::start(161, 1);
    let mut drover = common::Drover::new();
    drover.add_fleet(&fleet, "e", "env-group");
    drover.script("hello", "#!/bin/bash\necho hello\n", &[]);
    drover.ok(&["scriptgroup", "create", "hello-group", "hello"]);
    let witness = drover.dir.path().join("pwned");
    let attacks = [
        ("BASH_ENV", format!("BASH_ENV=$(id>{})", witness.display())),
        ("ENV", format!("ENV=$(id>{})", witness.display())),
        ("LD_PRELOAD", "LD_PRELOAD=/tmp/evil.so".to_string()),
        ("PYTHONSTARTUP", "PYTHONSTARTUP=/tmp/evil.py".to_string()),
        (
            "NODE_OPTIONS",
            "NODE_OPTIONS=--require=/tmp/evil".to_string(),
        ),
        ("PERL5OPT", "PERL5OPT=-Mevil".to_string()),
        ("OPTIND", format!("OPTIND=a[$(id>{})]", witness.display())),
        ("PATH", "PATH=/tmp/evil:/usr/bin:/bin".to_string()),
    ];
    let before = drover.ok(&["audit"]);
    for sudo in [true, false] {
        for (key, attack) in &attacks {
            let mut args = vec!["task", "run", "hello-group", "env-group", "--env", attack];
            if sudo {
                args.push("--sudo");
            }
            let out = drover_bounded(&drover, &args, Duration::from_secs(30));
            let err = stderr(&out);
            assert_eq!(
                out.status.code(),
                Some(1),
                "{args:?} was not refused: {err}"
            );
            assert!(err.contains(&refusal_of(key)), "{args:?}: {err}");
            assert!(err.contains("env_allow"), "says what would be right: {err}");
            assert!(!err.contains("evil") && !err.contains("id>"), "{err}");
        }
    }
    // A value that looks like a shell function, whatever the key.
    let out = drover.run(&[
        "task",
        "run",
        "hello-group",
        "env-group",
        "--env",
        "GREETING=() { id; }",
    ]);
    let err = stderr(&out);
    assert!(
        err.contains("environment variable GREETING is refused") && err.contains("'()'"),
        "{err}"
    );
    assert!(!err.contains("id;"), "the value is not repeated: {err}");
    assert!(!witness.exists(), "code ran");
    assert_eq!(drover.json(&["run", "list"]), serde_json::json!([]));
    assert_eq!(drover.ok(&["audit"]), before, "a refusal changes nothing");
}

#[test]
fn the_allow_list_lets_named_keys_through_and_reruns_follow_the_policy() {
    let fleet = SshFleet::start(163, 1);
    let mut drover =
        common::Drover::with_config("[run]\nenv_allow = [\"PYTHONPATH\", \"LD_LIBRARY_PATH\"]\n");
    let hosts = drover.add_fleet(&fleet, "a", "allow-group");
    let host = hosts[0].as_str();
    drover.script(
        "show",
        "#!/bin/sh\necho \"pythonpath=$PYTHONPATH\"\nexit 3\n",
        &[],
    );
    drover.ok(&["scriptgroup", "create", "show-group", "show"]);
    let shown = drover.ok(&["config", "show"]);
    assert!(
        shown.contains("[run]") && shown.contains("PYTHONPATH"),
        "{shown}"
    );
    let run = drover.json(&[
        "task",
        "run",
        "show-group",
        "allow-group",
        "--env",
        "PYTHONPATH=/opt/site",
    ]);
    assert_eq!(host_doc(&run, host)["state"], "failed", "{run:#}");
    let id = run["id"].as_i64().expect("id");
    assert_eq!(drover.step_log(id, host, 1), b"pythonpath=/opt/site\n");
    // Not on the list: refused as ever.
    let out = drover.run(&[
        "task",
        "run",
        "show-group",
        "allow-group",
        "--env",
        "LD_PRELOAD=/x.so",
    ]);
    assert!(stderr(&out).contains(&refusal_of("LD_PRELOAD")));

    // The admin takes PYTHONPATH off the list: a rerun of the stored run is
    // refused in the same words, and starts nothing.
    std::fs::write(
        drover.dir.path().join("drover.toml"),
        "[ssh]\nconnect_timeout = \"3s\"\n",
    )
    .expect("config");
    let out = drover.run(&["run", "rerun", &id.to_string(), "--failed"]);
    let err = stderr(&out);
    assert_eq!(out.status.code(), Some(1), "{err}");
    assert!(err.contains(&refusal_of("PYTHONPATH")), "{err}");
    assert_eq!(
        drover.json(&["run", "list"]).as_array().map(Vec::len),
        Some(1)
    );

    // The list itself is checked when the configuration loads.
    std::fs::write(
        drover.dir.path().join("drover.toml"),
        "[run]\nenv_allow = [\"GREETING\"]\n",
    )
    .expect("config");
    let err = stderr(&drover.run(&["config", "show"]));
    assert!(
        err.contains("run.env_allow") && err.contains("nothing to allow"),
        "{err}"
    );
}

/// Every name the remote runner uses for its own variables and functions.
const RUNNER_NAMES: &[&str] = &[
    "N", "KILL", "KSEP", "R", "SETSID", "n", "t", "pid", "wd", "got", "rc", "p", "r", "rt", "s",
    "st", "w", "wt", "d", "P", "ack", "step", "mark", "launch", "finish", "started", "stale",
    "envs",
];

fn runner_name_env() -> Vec<String> {
    RUNNER_NAMES
        .iter()
        .flat_map(|k| {
            [
                "--env".to_string(),
                format!("{k}=x'$(touch /tmp/drover-pwned-{k})"),
            ]
        })
        .collect()
}

#[test]
fn env_keys_named_like_the_runners_state_change_nothing_but_the_script() {
    let fleet = SshFleet::start(165, 2);
    let mut drover = common::Drover::new();
    drover.add_fleet(&fleet, "v", "vars-group");
    // One host runs through sudo.
    drover.ok(&["host", "edit", "v-2", "--sudo", "true"]);
    drover.script(
        "echo-vars",
        "#!/bin/sh\necho \"N=$N KILL=$KILL step=$step\"\n",
        &["--timeout", "30s"],
    );
    drover.script("second", "echo second\n", &[]);
    drover.ok(&["scriptgroup", "create", "vars", "echo-vars", "second"]);
    let env = runner_name_env();
    let mut args: Vec<&str> = vec!["--json", "task", "run", "vars", "vars-group"];
    args.extend(env.iter().map(String::as_str));
    let out = drover_bounded(&drover, &args, Duration::from_secs(60));
    let run: serde_json::Value = serde_json::from_slice(&out.stdout).expect("json");
    assert_eq!(run["state"], "succeeded", "{run:#}\n{}", stderr(&out));
    let id = run["id"].as_i64().expect("id");
    for host in ["v-1", "v-2"] {
        assert_eq!(
            String::from_utf8_lossy(&drover.step_log(id, host, 1)),
            "N=x'$(touch /tmp/drover-pwned-N) KILL=x'$(touch /tmp/drover-pwned-KILL) step=x'$(touch /tmp/drover-pwned-step)\n"
        );
        assert_eq!(drover.step_log(id, host, 2), b"second\n");
        assert_eq!(common::remote_run_files(id, host), Vec::<String>::new());
    }

    // Cancel still reaches every process.
    let sleep = common::unique_sleep();
    drover.script("forever", &format!("{sleep}\n"), &[]);
    drover.ok(&["scriptgroup", "create", "forever-group", "forever"]);
    let mut args: Vec<&str> = vec!["task", "run", "forever-group", "vars-group", "--detach"];
    args.extend(env.iter().map(String::as_str));
    let id = drover.ok(&args).trim().to_string();
    for host in ["v-1", "v-2"] {
        common::wait_for_host(&drover, &id, host, Duration::from_secs(20), |h| {
            h["state"] == "running"
        });
    }
    common::wait_for_host(&drover, &id, "v-1", Duration::from_secs(10), |_| {
        common::processes_matching(&sleep).len() == 2
    });
    let out = drover_bounded(
        &drover,
        &["--json", "run", "cancel", &id],
        Duration::from_secs(30),
    );
    let run: serde_json::Value = serde_json::from_slice(&out.stdout).expect("json");
    for host in ["v-1", "v-2"] {
        assert_eq!(host_doc(&run, host)["state"], "cancelled", "{run:#}");
    }
    common::wait_for_host(&drover, &id, "v-1", Duration::from_secs(10), |_| {
        common::processes_matching(&sleep).is_empty()
    });
    let pwned: Vec<String> = std::fs::read_dir("/tmp")
        .expect("/tmp")
        .filter_map(|e| e.ok())
        .map(|e| e.file_name().to_string_lossy().into_owned())
        .filter(|n| n.starts_with("drover-pwned-"))
        .collect();
    assert!(pwned.is_empty(), "{pwned:?}");
}

/// Flips `link` between a regular file inside the allowed tree and a
/// symlink to a file outside it, as fast as it can, until dropped.
struct Flipper {
    stop: std::sync::Arc<std::sync::atomic::AtomicBool>,
    thread: Option<std::thread::JoinHandle<u64>>,
}

impl Flipper {
    fn start(link: std::path::PathBuf, inside: Vec<u8>, outside: std::path::PathBuf) -> Flipper {
        let stop = std::sync::Arc::new(std::sync::atomic::AtomicBool::new(false));
        let flag = stop.clone();
        let thread = std::thread::spawn(move || {
            let staged = link.with_extension("staged");
            let mut flips = 0u64;
            while !flag.load(std::sync::atomic::Ordering::Relaxed) {
                let _ = std::fs::remove_file(&staged);
                if flips % 2 == 0 {
                    let _ = std::os::unix::fs::symlink(&outside, &staged);
                } else {
                    let _ = std::fs::write(&staged, &inside);
                }
                // rename: the path always names one or the other.
                let _ = std::fs::rename(&staged, &link);
                flips += 1;
            }
            flips
        });
        Flipper {
            stop,
            thread: Some(thread),
        }
    }

    fn stop(&mut self) -> u64 {
        self.stop.store(true, std::sync::atomic::Ordering::Relaxed);
        self.thread
            .take()
            .map(|t| t.join().expect("flipper"))
            .unwrap_or(0)
    }
}

impl Drop for Flipper {
    fn drop(&mut self) {
        self.stop();
    }
}

#[test]
fn log_fetch_never_returns_a_file_swapped_in_after_the_check() {
    let fleet = SshFleet::start(167, 1);
    let files = tempfile::tempdir().expect("tempdir");
    let logs = files.path().join("logs");
    std::fs::create_dir_all(&logs).expect("logs");
    let mut drover = common::Drover::with_config(&format!(
        "[logs]\nfetch_allow = [\"{}/**\"]\n",
        logs.display()
    ));
    let hosts = drover.add_fleet(&fleet, "f", "fetch-group");
    let host = hosts[0].clone();
    let outside = files.path().join("shadow");
    std::fs::write(&outside, "OUTSIDE-SECRET\n".repeat(20)).expect("outside");
    let link = logs.join("y.log");
    let mut flipper = Flipper::start(link.clone(), b"inside line\n".repeat(20), outside);
    const FETCHES: usize = 30;
    let (mut read, mut refused) = (0, 0);
    for _ in 0..FETCHES {
        let out = drover.run(&["log", "fetch", &host, &link.to_string_lossy()]);
        let text = String::from_utf8_lossy(&out.stdout);
        assert!(
            !text.contains("OUTSIDE"),
            "read outside the allow-list: {text}"
        );
        assert!(!stderr(&out).contains("OUTSIDE"), "{}", stderr(&out));
        if out.status.success() {
            assert!(text.contains("inside line"), "{text}");
            read += 1;
        } else {
            refused += 1;
        }
    }
    let flips = flipper.stop();
    assert!(flips > 100, "the attack ran: {flips} flips");
    assert_eq!(read + refused, FETCHES);
    let audit = drover.ok(&["audit", "--limit", "100"]);
    let fetches: Vec<&str> = audit.lines().filter(|l| l.contains("log.fetch")).collect();
    let audited_refused = fetches.iter().filter(|l| l.contains("refused: ")).count();
    assert_eq!(
        (fetches.len(), audited_refused),
        (FETCHES, refused),
        "{audit}"
    );
    assert!(
        fetches
            .iter()
            .filter(|l| !l.contains("refused: "))
            .all(|l| l.contains("y.log") && !l.contains("shadow")),
        "the audit names the file that was read: {audit}"
    );
}

/// Ends the processes running `command` (a test's own unique one) by pid.
fn end_processes(command: &str) {
    for line in common::processes_matching(command) {
        if let Some(pid) = line.split_whitespace().next() {
            let _ = Command::new("kill").arg(pid).status();
        }
    }
}

#[test]
fn remote_commands_of_log_fetch_and_host_check_end_with_a_timeout() {
    // Every command on this host hangs (a hung mount, a stuck login).
    let sleep = common::unique_sleep();
    let fleet = SshFleet::start_with(
        169,
        1,
        common::free_port(),
        &format!("LogLevel ERROR\nForceCommand exec {sleep}\n"),
    );
    let files = tempfile::tempdir().expect("tempdir");
    let log = files.path().join("app.log");
    std::fs::write(&log, "a line\n").expect("app.log");
    // A 3 s connect timeout: each remote command may take 6 s.
    let mut drover = common::Drover::with_connect_timeout(
        "3s",
        &format!(
            "[logs]\nfetch_allow = [\"{}/*.log\"]\n",
            files.path().display()
        ),
    );
    let hosts = drover.add_fleet(&fleet, "h", "hung-group");
    let host = hosts[0].as_str();

    let started = Instant::now();
    let out = drover_bounded(
        &drover,
        &["log", "fetch", host, &log.to_string_lossy()],
        Duration::from_secs(40),
    );
    let err = stderr(&out);
    assert_eq!(out.status.code(), Some(1), "{err}");
    assert!(err.contains("timed out after 6s"), "{err}");
    // connect (3 s at most) + the command's 2 x connect_timeout.
    assert!(
        started.elapsed() < Duration::from_secs(15),
        "{:?}",
        started.elapsed()
    );
    let audit = drover.ok(&["audit"]);
    assert!(audit.contains("refused: log fetch of"), "{audit}");

    let started = Instant::now();
    let out = drover_bounded(
        &drover,
        &["--json", "host", "check", host],
        Duration::from_secs(40),
    );
    assert_eq!(out.status.code(), Some(1));
    let checks: serde_json::Value = serde_json::from_slice(&out.stdout).expect("json");
    let message = checks[0]["message"].as_str().unwrap_or_default();
    assert!(
        message.starts_with("timeout: `true` did not finish within 6s"),
        "{checks:#}"
    );
    assert!(started.elapsed() < Duration::from_secs(15));
    // The forced command outlives the closed sessions.
    end_processes(&sleep);
}

#[test]
fn log_fetch_refuses_a_fifo_without_waiting_on_it() {
    let fleet = SshFleet::start(171, 1);
    let files = tempfile::tempdir().expect("tempdir");
    let fifo = files.path().join("pipe.log");
    let made = Command::new("mkfifo").arg(&fifo).status().expect("mkfifo");
    assert!(made.success());
    let mut drover = common::Drover::with_config(&format!(
        "[logs]\nfetch_allow = [\"{}/*.log\"]\n",
        files.path().display()
    ));
    let hosts = drover.add_fleet(&fleet, "p", "fifo-group");
    let out = drover_bounded(
        &drover,
        &["log", "fetch", &hosts[0], &fifo.to_string_lossy()],
        Duration::from_secs(30),
    );
    assert!(
        stderr(&out).contains("not a readable regular file"),
        "{}",
        stderr(&out)
    );
}

#[test]
fn config_show_masks_the_password_of_every_url() {
    let drover = common::Drover::with_config(
        "[database]\nurl = \"sqlite://admin:dbpass-77@localhost/x.db\"\n\
         [discord]\napi_url = \"https://bot:apipass-99@proxy.example:8443\"\n",
    );
    for args in [&["config", "show"][..], &["--json", "config", "show"][..]] {
        // The relative database path is created in the test's directory,
        // not in the checkout.
        let out = drover
            .command()
            .args(args)
            .env_remove("DROVER_DATABASE_URL")
            .current_dir(drover.dir.path())
            .output();
        let out = out.expect("drover");
        let shown = String::from_utf8_lossy(&out.stdout);
        assert!(out.status.success(), "{}", stderr(&out));
        assert!(!shown.contains("dbpass-77"), "{shown}");
        assert!(!shown.contains("apipass-99"), "{shown}");
        assert!(shown.contains("bot:****@proxy.example"), "{shown}");
    }
    // From the environment too.
    let out = drover
        .command()
        .args(["config", "show"])
        .env("DROVER_DISCORD_API", "http://u:envpass-55@127.0.0.1:3000")
        .output()
        .expect("drover");
    let shown = String::from_utf8_lossy(&out.stdout);
    assert!(out.status.success(), "{}", stderr(&out));
    assert!(
        !shown.contains("envpass-55") && shown.contains("u:****@"),
        "{shown}"
    );
}

#[test]
fn trace_logging_of_a_run_never_shows_an_env_value() {
    let fleet = SshFleet::start(173, 1);
    let mut drover = common::Drover::new();
    let hosts = drover.add_fleet(&fleet, "t", "trace-group");
    drover.script(
        "uses-secret",
        "#!/bin/sh\n[ -n \"$API_TOKEN\" ] && echo set\n",
        &[],
    );
    drover.ok(&["scriptgroup", "create", "trace-steps", "uses-secret"]);
    let secret = format!("tr4ce-secret-{}", std::process::id());
    let out = drover
        .command()
        .args([
            "--json",
            "task",
            "run",
            "trace-steps",
            "trace-group",
            "--sudo",
            "--env",
            &format!("API_TOKEN={secret}"),
        ])
        .env("DROVER_LOG", "trace")
        .output()
        .expect("drover");
    let err = stderr(&out);
    assert!(out.status.success(), "{err}");
    assert!(err.lines().count() > 20, "trace logging is on: {err}");
    assert!(!err.contains(&secret), "the value is in the trace log");
    assert!(!String::from_utf8_lossy(&out.stdout).contains(&secret));
    let run: serde_json::Value = serde_json::from_slice(&out.stdout).expect("json");
    let id = run["id"].as_i64().expect("id");
    assert_eq!(drover.step_log(id, &hosts[0], 1), b"set\n");
}

#[test]
fn logs_redact_applies_to_every_output_shown_by_the_cli() {
    let fleet = SshFleet::start(175, 1);
    let files = tempfile::tempdir().expect("tempdir");
    let log = files.path().join("app.log");
    std::fs::write(&log, "login password=hunter2 ok\n").expect("app.log");
    let mut drover = common::Drover::with_config(&format!(
        "[logs]\nredact = [\"password=\\\\S+\"]\nfetch_allow = [\"{}/*.log\"]\n",
        files.path().display()
    ));
    let hosts = drover.add_fleet(&fleet, "r", "redact-group");
    let host = hosts[0].as_str();
    drover.script(
        "leaky",
        "#!/bin/sh\necho 'db password=hunter2 set'\nprintf 'last password=hunter3'\nexit 4\n",
        &[],
    );
    drover.ok(&["scriptgroup", "create", "leaky-group", "leaky"]);
    let secret_free = |what: &str, text: &str| {
        assert!(
            !text.contains("hunter2") && !text.contains("hunter3"),
            "{what}: {text}"
        );
        assert!(text.contains("[redacted]"), "{what}: {text}");
    };
    let out = drover.run(&[
        "task",
        "run",
        "leaky-group",
        "redact-group",
        "--show-output",
    ]);
    secret_free("--show-output", &String::from_utf8_lossy(&out.stdout));
    let json = drover.run(&["--json", "task", "run", "leaky-group", "redact-group"]);
    let json_text = String::from_utf8_lossy(&json.stdout).into_owned();
    secret_free("task run --json", &json_text);
    let run: serde_json::Value = serde_json::from_slice(&json.stdout).expect("json");
    let id = run["id"].as_i64().expect("id").to_string();
    let status = drover.run(&["--json", "run", "status", &id]);
    secret_free(
        "run status --json",
        &String::from_utf8_lossy(&status.stdout),
    );
    let logs = drover.ok(&["run", "logs", &id]);
    secret_free("run logs", &logs);
    assert!(
        logs.contains("db [redacted] set\nlast [redacted]"),
        "{logs}"
    );
    let fetched = drover.ok(&["log", "fetch", host, &log.to_string_lossy()]);
    secret_free("log fetch", &fetched);
    // The files on disk stay as the script wrote them.
    let id: i64 = id.parse().expect("id");
    assert_eq!(
        drover.step_log(id, host, 1),
        b"db password=hunter2 set\nlast password=hunter3"
    );
}

#[test]
fn a_terminal_run_shows_live_lines_without_secrets() {
    let fleet = SshFleet::start(177, 1);
    let mut drover = common::Drover::with_config("[logs]\nredact = [\"hunter[0-9]+\"]\n");
    drover.add_fleet(&fleet, "l", "live-group");
    drover.script("leaky", "echo hunter2 >&2\nexit 2\n", &[]);
    drover.ok(&["scriptgroup", "create", "leaky-group", "leaky"]);
    let out = drover.in_terminal(&["task", "run", "leaky-group", "live-group", "--show-output"]);
    let screen = String::from_utf8_lossy(&out.stdout);
    assert!(screen.contains("l-1"), "{screen}");
    assert!(!screen.contains("hunter2"), "{screen}");
}
