//! The run commands as a user drives them from a shell: queries that adopt
//! a dead controller's run (once, and saying so), `run resume` right after
//! a controller was killed, output into pipes that close early, plain
//! progress lines, Ctrl-C on a foreground run, and reruns that keep their
//! run's environment and options. Real sshd hosts on loopback, the real
//! binary.

mod common;

use std::io::Read;
use std::process::{Child, Command, Output, Stdio};
use std::time::Duration;

use common::{assert_gone, eventually, exited, host_doc, SshFleet};

/// The lines of `drover audit` (newest first) whose action is `action`.
fn audit_lines(drover: &common::Drover, action: &str) -> Vec<String> {
    drover
        .ok(&["audit", "--limit", "1000"])
        .lines()
        .filter(|line| line.split_whitespace().any(|word| word == action))
        .map(str::to_string)
        .collect()
}

/// Starts drover with `args`, output discarded: a controller to kill.
fn controller(drover: &common::Drover, args: &[&str]) -> Child {
    drover
        .command()
        .args(args)
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .expect("spawn drover")
}

fn wait_for_state(drover: &common::Drover, id: &str, host: &str, state: &str) {
    common::wait_for_host(drover, id, host, Duration::from_secs(20), |h| {
        h["state"] == state
    });
}

/// The state letter of process `pid` (`/proc/PID/stat`), if it exists.
fn process_state(pid: u32) -> Option<char> {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).ok()?;
    let after = &stat[stat.rfind(')')? + 1..];
    after.split_whitespace().next()?.chars().next()
}

/// Which process drove run `id` after the takeover: the pid in the
/// takeover record (`driven by HOST/PID/START`).
fn takeover_pid(record: &str) -> u32 {
    let owner = record
        .split("driven by ")
        .nth(1)
        .and_then(|rest| rest.split(';').next())
        .unwrap_or_else(|| panic!("no driver in {record}"));
    owner
        .split('/')
        .nth(1)
        .and_then(|pid| pid.parse().ok())
        .unwrap_or_else(|| panic!("no pid in {owner}"))
}

/// A fleet of `count` hosts named `prefix-N` in group `prefix` and a
/// one-script group `prefix-steps` with `body`.
fn fleet_with_script(first: u8, count: u8, prefix: &str, body: &str) -> (SshFleet, common::Drover) {
    let fleet = SshFleet::start(first, count);
    let mut drover = common::Drover::new();
    drover.add_fleet(&fleet, prefix, prefix);
    drover.script(&format!("{prefix}-script"), body, &[]);
    drover.ok(&[
        "scriptgroup",
        "create",
        &format!("{prefix}-steps"),
        &format!("{prefix}-script"),
    ]);
    (fleet, drover)
}

/// Item 12: a run whose controller died is adopted once, however many
/// queries ask at the same moment, and the query that adopted it says by
/// which process.
#[test]
fn quick_queries_on_an_orphan_start_one_adopter_and_name_it() {
    let (_fleet, mut drover) = fleet_with_script(
        161,
        1,
        "adopt",
        "for i in 1 2 3 4 5 6; do echo tick-$i; sleep 0.3; done\n",
    );
    let mut child = controller(&drover, &["task", "run", "adopt-steps", "adopt", "--quiet"]);
    wait_for_state(&drover, "1", "adopt-1", "running");
    child.kill().expect("SIGKILL the controller");
    let _ = child.wait();
    drover.identity = None;
    // three queries at once, each seeing the orphan
    let queries: Vec<Child> = (0..3)
        .map(|_| {
            drover
                .command()
                .args(["--json", "run", "status", "1"])
                .stdout(Stdio::piped())
                .stderr(Stdio::piped())
                .spawn()
                .expect("spawn run status")
        })
        .collect();
    let outputs: Vec<Output> = queries
        .into_iter()
        .map(|q| q.wait_with_output().expect("run status"))
        .collect();
    let mut notes = Vec::new();
    for out in &outputs {
        assert!(out.status.success(), "{out:?}");
        let status: serde_json::Value = serde_json::from_slice(&out.stdout).expect("JSON");
        assert_eq!(status["id"], 1, "the query still answers: {status:#}");
        let stderr = String::from_utf8_lossy(&out.stderr).into_owned();
        notes.extend(
            stderr
                .lines()
                .filter(|l| l.contains("resumed by"))
                .map(str::to_string),
        );
    }
    let run = common::wait_for_host(&drover, "1", "adopt-1", Duration::from_secs(20), |h| {
        h["state"] != "running"
    });
    assert_eq!(run["state"], "succeeded", "{run:#}");
    let expected: String = (1..=6).map(|i| format!("tick-{i}\n")).collect();
    assert_eq!(
        String::from_utf8_lossy(&drover.step_log(1, "adopt-1", 1)),
        expected
    );
    // exactly one driver was started, and it is the one named (a driver
    // records its `run resume` once it is done)
    eventually("the driver records its resume", || {
        !audit_lines(&drover, "run.resume").is_empty()
    });
    let resumes = audit_lines(&drover, "run.resume");
    assert_eq!(resumes.len(), 1, "{resumes:#?}");
    assert!(resumes[0].ends_with(" ok"), "{resumes:#?}");
    assert_eq!(notes.len(), 1, "one adoption, told once: {outputs:#?}");
    let pid: u32 = notes[0]
        .strip_prefix("run 1's controller died; resumed by pid ")
        .and_then(|pid| pid.parse().ok())
        .unwrap_or_else(|| panic!("{}", notes[0]));
    let takeovers = audit_lines(&drover, "run.takeover");
    assert_eq!(takeovers.len(), 1, "{takeovers:#?}");
    assert_eq!(takeover_pid(&takeovers[0]), pid, "{takeovers:#?}");
    assert!(
        takeovers[0].contains("whose process is gone"),
        "{takeovers:#?}"
    );
    let log = std::fs::read_to_string(drover.logs().join("1/controller.log")).unwrap_or_default();
    assert!(!log.contains("error"), "{log}");
}

/// Item 12: a controller killed a moment ago whose parent has not reaped
/// it yet (a zombie) is dead: `run resume` takes its run over at once.
#[test]
fn resume_takes_over_from_a_killed_controller_not_yet_reaped() {
    let (_fleet, mut drover) =
        fleet_with_script(166, 1, "zombie", "echo first\nsleep 1\necho second\n");
    let mut child = controller(
        &drover,
        &["task", "run", "zombie-steps", "zombie", "--quiet"],
    );
    wait_for_state(&drover, "1", "zombie-1", "running");
    // This test is the controller's parent: kill it and do not wait.
    child.kill().expect("SIGKILL the controller");
    let pid = child.id();
    eventually("the killed controller is a zombie", || {
        process_state(pid) == Some('Z')
    });
    drover.identity = None;
    let out = drover.run(&["--json", "run", "resume", "1"]);
    assert_eq!(process_state(pid), Some('Z'), "still not reaped");
    let _ = child.wait();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let run: serde_json::Value = serde_json::from_slice(&out.stdout).expect("JSON");
    assert_eq!(run["state"], "succeeded", "{run:#}");
    assert_eq!(drover.step_log(1, "zombie-1", 1), b"first\nsecond\n");
    let takeovers = audit_lines(&drover, "run.takeover");
    assert_eq!(takeovers.len(), 1, "{takeovers:#?}");
    assert!(
        takeovers[0].contains(&format!("/{pid}/"))
            && takeovers[0].contains("whose process is gone"),
        "{takeovers:#?}"
    );
}

/// Runs `command` with its standard output closed before it writes
/// (`drover ... | head -c0`); returns the exit code and standard error.
fn with_stdout_closed(mut command: Command) -> (Option<i32>, String) {
    let mut child = command
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("spawn drover");
    drop(child.stdout.take());
    let out = child.wait_with_output().expect("wait for drover");
    (
        out.status.code(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

fn assert_quiet(what: &str, code: Option<i32>, stderr: &str, expected_code: i32) {
    assert!(
        !stderr.contains("panicked") && !stderr.contains("RUST_BACKTRACE"),
        "{what}: {stderr}"
    );
    assert!(!stderr.contains("error"), "{what}: {stderr}");
    assert_eq!(code, Some(expected_code), "{what}: {stderr}");
}

/// Item 14: every command ends quietly when its reader goes away: lists,
/// JSON, `run logs` streaming, `task run` with its table, its output, or
/// its progress lines going into a closed pipe.
#[test]
fn a_closed_pipe_ends_every_command_quietly() {
    let (_fleet, drover) = fleet_with_script(171, 2, "pipe", "seq 1 200000\n");
    for args in [
        &["host", "list"][..],
        &["--json", "host", "list"],
        &["--json", "audit"],
    ] {
        let mut command = drover.command();
        command.args(args);
        let (code, stderr) = with_stdout_closed(command);
        assert_quiet(&format!("{args:?}"), code, &stderr, 0);
    }
    // the run's table into a closed pipe: the run is done all the same
    let mut command = drover.command();
    command.args(["task", "run", "pipe-steps", "pipe"]);
    let (code, stderr) = with_stdout_closed(command);
    assert_quiet("task run", code, &stderr, 0);
    assert!(stderr.contains("run 1 pipe-1 succeeded"), "{stderr}");
    let status = drover.json(&["run", "status", "1"]);
    assert_eq!(status["state"], "succeeded", "{status:#}");
    // every host's output into a closed pipe
    let mut command = drover.command();
    command.args(["task", "run", "pipe-steps", "pipe", "--show-output"]);
    let (code, stderr) = with_stdout_closed(command);
    assert_quiet("task run --show-output", code, &stderr, 0);
    // `run logs` read for a while, then its reader goes away mid-stream
    let mut child = drover
        .command()
        .args(["run", "logs", "1"])
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("spawn run logs");
    let mut head = [0u8; 4096];
    child
        .stdout
        .take()
        .expect("stdout")
        .read_exact(&mut head)
        .expect("the start of the logs");
    let out = child.wait_with_output().expect("run logs");
    assert!(
        String::from_utf8_lossy(&head).contains("pipe-1 · step 1/1"),
        "{}",
        String::from_utf8_lossy(&head)
    );
    assert_quiet(
        "run logs",
        out.status.code(),
        &String::from_utf8_lossy(&out.stderr),
        0,
    );
    // progress lines and diagnostics into a closed pipe: the run goes on to
    // its table
    let mut child = drover
        .command()
        .env("DROVER_LOG", "debug")
        .args(["task", "run", "pipe-steps", "pipe"])
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("spawn task run");
    drop(child.stderr.take());
    let out = child.wait_with_output().expect("task run");
    let table = String::from_utf8_lossy(&out.stdout);
    assert_eq!(out.status.code(), Some(0), "{table}");
    assert!(
        table.starts_with("run 3 succeeded") && table.contains("2 succeeded"),
        "{table}"
    );
}

/// Item 14: without a terminal, progress is one line per change of a
/// host's state: each host's end once.
#[test]
fn plain_progress_shows_each_host_end_once() {
    let (_fleet, drover) = fleet_with_script(176, 2, "plain", "echo one\n");
    let out = drover.run(&["task", "run", "plain-steps", "plain"]);
    assert!(out.status.success(), "{out:?}");
    let stderr = String::from_utf8_lossy(&out.stderr);
    let lines: Vec<&str> = stderr.lines().collect();
    for host in ["plain-1", "plain-2"] {
        for line in [
            format!("run 1 {host} running step 1"),
            format!("run 1 {host} succeeded"),
        ] {
            assert_eq!(
                lines.iter().filter(|l| **l == line).count(),
                1,
                "{line}:\n{stderr}"
            );
        }
    }
    assert_eq!(lines.len(), 4, "{stderr}");
}

/// Ctrl-C on a foreground `task run` cancels the run on every host: no
/// remote process is left, the run's files are gone, and the command says
/// so and exits 1.
#[test]
fn ctrl_c_on_a_foreground_run_cancels_every_host() {
    let (child_sleep, main_sleep) = (common::unique_sleep(), common::unique_sleep() + "1");
    let (_fleet, drover) = fleet_with_script(
        181,
        2,
        "sigint",
        &format!("echo started\n{child_sleep} &\n{main_sleep}\nwait\n"),
    );
    let mut run = drover
        .command()
        .args(["task", "run", "sigint-steps", "sigint"])
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("spawn task run");
    wait_for_state(&drover, "1", "sigint-1", "running");
    wait_for_state(&drover, "1", "sigint-2", "running");
    eventually("both hosts run the step's child", || {
        common::processes_matching(&child_sleep).len() == 2
    });
    let pid = i32::try_from(run.id()).expect("pid");
    // SAFETY: kill(2) on the pid of a child this test started and has not
    // reaped.
    assert_eq!(unsafe { libc::kill(pid, libc::SIGINT) }, 0, "SIGINT");
    let status = exited(&mut run, Duration::from_secs(30));
    let mut stdout = String::new();
    let mut stderr = String::new();
    let _ = run.stdout.take().map(|mut o| o.read_to_string(&mut stdout));
    let _ = run.stderr.take().map(|mut e| e.read_to_string(&mut stderr));
    assert_eq!(status.code(), Some(1), "{stdout}\n{stderr}");
    assert!(
        stderr.contains("interrupted: cancelling run 1 on every host..."),
        "{stderr}"
    );
    assert!(stdout.starts_with("run 1 cancelled"), "{stdout}");
    assert!(stdout.contains("2 cancelled"), "{stdout}");
    let status = drover.json(&["run", "status", "1"]);
    assert_eq!(status["state"], "cancelled", "{status:#}");
    for host in ["sigint-1", "sigint-2"] {
        assert_eq!(host_doc(&status, host)["state"], "cancelled", "{status:#}");
        assert_eq!(drover.step_log(1, host, 1), b"started\n");
        assert_eq!(common::remote_run_files(1, host), Vec::<String>::new());
    }
    assert_gone(&[&child_sleep, &main_sleep], "Ctrl-C");
    let cancels = audit_lines(&drover, "run.cancel");
    assert_eq!(cancels.len(), 1, "{cancels:#?}");
}

/// The options and environment run `run` was started with, as recorded:
/// `parallel|on_failure|max_failed_hosts|use_sudo|env`.
fn run_options(drover: &common::Drover, run: i64) -> String {
    let (runtime, mut db) = drover.open_database();
    runtime
        .block_on(
            sqlx::query_scalar(
                "SELECT parallel || '|' || on_failure || '|' || quote(max_failed_hosts)
                        || '|' || use_sudo || '|' || env
                 FROM runs WHERE id = ?",
            )
            .bind(run)
            .fetch_one(&mut db),
        )
        .expect("read the run")
}

/// `run rerun --failed` runs the failed hosts again with the run's own
/// environment and options.
#[test]
fn rerun_keeps_the_runs_environment_and_options() {
    let fleet = SshFleet::start(186, 2);
    let mut drover = common::Drover::new();
    drover.add_fleet(&fleet, "again", "again");
    let marker = drover.dir.path().join("again-2-failed-once");
    // again-2 fails the first time only; every step shows what it sees
    drover.script(
        "check",
        &format!(
            "#!/bin/sh\necho \"check REGION=$REGION TOKEN=$TOKEN\"\n\
             case $0 in *.s1) echo through-sudo;; esac\n\
             if [ \"$DROVER_HOST\" = again-2 ] && [ ! -e {m} ]; then touch {m}; exit 3; fi\n",
            m = marker.display()
        ),
        &[],
    );
    drover.script("after", "#!/bin/sh\necho \"after REGION=$REGION\"\n", &[]);
    drover.ok(&["scriptgroup", "create", "again-steps", "check", "after"]);
    let first = drover.json(&[
        "task",
        "run",
        "again-steps",
        "again",
        "--env",
        "REGION=eu west",
        "--env",
        "TOKEN=t0k3n",
        "--parallel",
        "1",
        "--continue-on-error",
        "--max-failed-hosts",
        "5",
        "--sudo",
    ]);
    assert_eq!(first["state"], "failed", "{first:#}");
    assert_eq!(host_doc(&first, "again-1")["state"], "succeeded");
    assert_eq!(host_doc(&first, "again-2")["state"], "failed");
    // --continue-on-error: the failed host went on with its next script
    assert_eq!(drover.step_log(1, "again-2", 2), b"after REGION=eu west\n");
    let second = drover.json(&["run", "rerun", "1", "--failed"]);
    assert_eq!(second["state"], "succeeded", "{second:#}");
    let hosts: Vec<&str> = second["hosts"]
        .as_array()
        .expect("hosts")
        .iter()
        .filter_map(|h| h["host"].as_str())
        .collect();
    assert_eq!(hosts, ["again-2"]);
    assert_eq!(
        String::from_utf8_lossy(&drover.step_log(2, "again-2", 1)),
        "check REGION=eu west TOKEN=t0k3n\nthrough-sudo\n"
    );
    assert_eq!(drover.step_log(2, "again-2", 2), b"after REGION=eu west\n");
    let (original, rerun) = (run_options(&drover, 1), run_options(&drover, 2));
    assert_eq!(rerun, original, "same options and environment");
    assert!(
        original.starts_with("1|continue|5|1|") && original.contains("t0k3n"),
        "{original}"
    );
}
