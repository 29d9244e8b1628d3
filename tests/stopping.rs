//! Stopping steps as a non-root login (NOPASSWD sudo), where `kill` of a
//! root step needs sudo: timeouts and cancel of scripts that ignore TERM and
//! have children, with and without sudo, and the run environment never
//! showing outside the step (`ps`, other processes' environments, files).

mod common;

use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::Mutex;
use std::time::Duration;

use common::{host_doc, SshFleet};

/// The dedicated login of these tests: a plain user whose sudoers.d rule
/// allows everything without a password.
const LOGIN: &str = "drvsudo";

/// Serialises the creation of the login between the tests of this binary.
static LOGIN_READY: Mutex<bool> = Mutex::new(false);

fn run_ok(program: &str, args: &[&str]) {
    let status = Command::new(program)
        .args(args)
        .status()
        .unwrap_or_else(|e| panic!("{program}: {e}"));
    assert!(status.success(), "{program} {args:?}: {status}");
}

/// Creates [`LOGIN`] and its sudoers drop-in when missing (idempotent; a
/// fresh CI machine has neither). Its home directory.
fn sudo_login() -> PathBuf {
    let mut ready = LOGIN_READY.lock().unwrap_or_else(|e| e.into_inner());
    let home = PathBuf::from(format!("/home/{LOGIN}"));
    if !*ready {
        let exists = Command::new("id")
            .arg(LOGIN)
            .output()
            .is_ok_and(|o| o.status.success());
        if !exists {
            run_ok(
                "useradd",
                &["-m", "-d", &home.to_string_lossy(), "-s", "/bin/sh", LOGIN],
            );
        }
        // '*': no password can be typed, yet key logins work.
        run_ok("usermod", &["-p", "*", LOGIN]);
        let rule = format!("{LOGIN} ALL=(ALL) NOPASSWD: ALL\n");
        let path = Path::new("/etc/sudoers.d").join(LOGIN);
        if std::fs::read_to_string(&path).ok().as_deref() != Some(rule.as_str()) {
            std::fs::write(&path, &rule).expect("sudoers drop-in");
            run_ok("chmod", &["0440", &path.to_string_lossy()]);
        }
        *ready = true;
    }
    home
}

fn is_root() -> bool {
    Command::new("id")
        .arg("-u")
        .output()
        .is_ok_and(|o| String::from_utf8_lossy(&o.stdout).trim() == "0")
}

/// Two hosts logging in as [`LOGIN`]: `PREFIX-1` plain, `PREFIX-2` through
/// sudo.
fn fleet_as_login(first: u8, prefix: &str, group: &str) -> (SshFleet, common::Drover) {
    sudo_login();
    let fleet = SshFleet::start_with(
        first,
        2,
        common::free_port(),
        &format!("LogLevel ERROR\nAllowUsers {LOGIN}\n"),
    );
    let mut drover = common::Drover::new();
    let hosts = drover.add_fleet(&fleet, prefix, group);
    for host in &hosts {
        drover.ok(&["host", "edit", host, "--user", LOGIN]);
    }
    drover.ok(&["host", "edit", &hosts[1], "--sudo", "true"]);
    (fleet, drover)
}

/// A world-writable directory where the steps leave their evidence.
fn evidence_dir() -> tempfile::TempDir {
    let dir = tempfile::tempdir().expect("tempdir");
    run_ok("chmod", &["1777", &dir.path().to_string_lossy()]);
    dir
}

/// A script that ignores TERM (it notes when it came), has a child that
/// ignores TERM too (`sleep`), and notes a tick every 0.05 s, all in
/// `$EVIDENCE/$DROVER_HOST`: when the ticks stop is when KILL came. It
/// waits with `wait`, which a signal interrupts, so the TERM is noted when
/// it comes (sh runs a trap only after a foreground command ends).
fn stubborn_script(sleep: &str) -> String {
    format!(
        "#!/bin/sh\n\
         f=\"$EVIDENCE/$DROVER_HOST\"\n\
         trap 'echo \"term $(date +%s%N)\" >> \"$f\"' TERM\n\
         (trap '' TERM; exec {sleep}) &\n\
         while :; do echo \"tick $(date +%s%N)\" >> \"$f\"; sleep 0.05 & wait $!; done\n"
    )
}

/// Seconds from the TERM the step noted to its last tick.
fn term_to_last_tick(evidence: &Path, host: &str) -> f64 {
    let text = std::fs::read_to_string(evidence.join(host)).unwrap_or_default();
    let time = |kind: &str| -> Vec<f64> {
        text.lines()
            .filter_map(|l| l.strip_prefix(kind))
            .filter_map(|ns| ns.trim().parse::<f64>().ok())
            .map(|ns| ns / 1e9)
            .collect()
    };
    let term = time("term ");
    let ticks = time("tick ");
    assert!(!term.is_empty(), "{host} never got TERM: {text}");
    let last = ticks.iter().copied().fold(f64::MIN, f64::max);
    last - term[0]
}

/// The files run `id` left on the hosts `PREFIX-n` (in the login's home).
fn files_left(id: &str, prefix: &str) -> Vec<String> {
    let runs_dir = sudo_login().join(".drover/runs");
    std::fs::read_dir(runs_dir)
        .map(|d| {
            d.filter_map(|e| e.ok())
                .map(|e| e.file_name().to_string_lossy().into_owned())
                .filter(|n| n.starts_with(&format!("{id}-")) && n.contains(&format!("-{prefix}-")))
                .collect()
        })
        .unwrap_or_default()
}

/// Waits (bounded) until no process runs `command`.
fn wait_gone(drover: &common::Drover, id: &str, host: &str, command: &str) {
    common::wait_for_host(drover, id, host, Duration::from_secs(15), |_| {
        common::processes_matching(command).is_empty()
    });
}

#[test]
fn a_timeout_sends_kill_five_seconds_after_term_as_a_plain_login_and_through_sudo() {
    if !is_root() {
        eprintln!("skipped: needs root to create the sudo login");
        return;
    }
    let (_fleet, drover) = fleet_as_login(181, "to", "to-group");
    let evidence = evidence_dir();
    let sleep = common::unique_sleep();
    drover.script("stubborn", &stubborn_script(&sleep), &["--timeout", "2s"]);
    drover.ok(&["scriptgroup", "create", "stubborn-group", "stubborn"]);
    let env = format!("EVIDENCE={}", evidence.path().display());
    let run = drover.json(&["task", "run", "stubborn-group", "to-group", "--env", &env]);
    let id = run["id"].as_i64().expect("id").to_string();
    for host in ["to-1", "to-2"] {
        assert_eq!(host_doc(&run, host)["state"], "timed_out", "{run:#}");
        wait_gone(&drover, &id, host, &sleep);
        let grace = term_to_last_tick(evidence.path(), host);
        eprintln!("{host}: the last tick came {grace:.2} s after TERM");
        assert!(
            grace >= 4.5,
            "{host}: ticks went on {grace:.2} s after TERM (KILL is 5 s later)"
        );
    }
    assert!(common::processes_matching(&sleep).is_empty());
    assert_eq!(files_left(&id, "to"), Vec::<String>::new());
}

#[test]
fn cancel_sends_kill_after_term_as_a_plain_login_and_through_sudo() {
    if !is_root() {
        eprintln!("skipped: needs root to create the sudo login");
        return;
    }
    let (_fleet, drover) = fleet_as_login(185, "ca", "ca-group");
    let evidence = evidence_dir();
    let sleep = common::unique_sleep();
    drover.script("stubborn", &stubborn_script(&sleep), &[]);
    drover.ok(&["scriptgroup", "create", "stubborn-group", "stubborn"]);
    let env = format!("EVIDENCE={}", evidence.path().display());
    let id = drover
        .ok(&[
            "task",
            "run",
            "stubborn-group",
            "ca-group",
            "--env",
            &env,
            "--detach",
        ])
        .trim()
        .to_string();
    common::wait_for_host(&drover, &id, "ca-1", Duration::from_secs(20), |_| {
        common::processes_matching(&sleep).len() == 2
    });
    let run = drover.json(&["run", "cancel", &id]);
    for host in ["ca-1", "ca-2"] {
        assert_eq!(host_doc(&run, host)["state"], "cancelled", "{run:#}");
        wait_gone(&drover, &id, host, &sleep);
        let grace = term_to_last_tick(evidence.path(), host);
        eprintln!("{host}: the last tick came {grace:.2} s after TERM");
        assert!(
            grace >= 0.7,
            "{host}: ticks went on {grace:.2} s after TERM (KILL is 1 s later)"
        );
    }
    assert_eq!(files_left(&id, "ca"), Vec::<String>::new());
}

/// Whether a process is part of a step (the script's interpreter or its
/// `sleep`), whose environment legitimately holds the run's values.
fn is_step_process(cmdline: &str, sleep: &str) -> bool {
    cmdline == sleep
        || cmdline.ends_with(" /dev/fd/3")
        || (cmdline.contains(".drover/runs/") && cmdline.ends_with(".s1"))
}

/// Every process whose command line, or (outside steps) environment,
/// holds `secret`: `pid what`.
fn processes_showing(secret: &str, sleep: &str) -> Vec<String> {
    let mut found = Vec::new();
    let Ok(proc_dir) = std::fs::read_dir("/proc") else {
        return found;
    };
    for entry in proc_dir.filter_map(|e| e.ok()) {
        let pid = entry.file_name().to_string_lossy().into_owned();
        if !pid.chars().all(|c| c.is_ascii_digit()) {
            continue;
        }
        let read = |what: &str| std::fs::read(entry.path().join(what)).unwrap_or_default();
        let cmdline = String::from_utf8_lossy(&read("cmdline")).replace('\0', " ");
        let cmdline = cmdline.trim_end().to_string();
        if cmdline.contains(secret) {
            found.push(format!("{pid} args: {cmdline}"));
        }
        let environ = String::from_utf8_lossy(&read("environ")).into_owned();
        if environ.contains(secret) && !is_step_process(&cmdline, sleep) {
            found.push(format!("{pid} environment: {cmdline}"));
        }
    }
    found
}

/// Files under `dir` (not following symlinks, skipping `skip`) that
/// contain `secret`.
fn files_holding(dir: &Path, secret: &[u8], skip: &Path, found: &mut Vec<PathBuf>) {
    let Ok(entries) = std::fs::read_dir(dir) else {
        return;
    };
    for entry in entries.filter_map(|e| e.ok()) {
        let path = entry.path();
        let Ok(kind) = entry.file_type() else {
            continue;
        };
        if path.starts_with(skip) {
            continue;
        }
        if kind.is_dir() {
            files_holding(&path, secret, skip, found);
        } else if kind.is_file()
            && entry.metadata().is_ok_and(|m| m.len() < 64 * 1024 * 1024)
            && std::fs::read(&path)
                .is_ok_and(|bytes| bytes.windows(secret.len()).any(|w| w == secret))
        {
            found.push(path);
        }
    }
}

#[test]
fn env_values_show_in_no_command_line_no_other_process_and_no_file() {
    if !is_root() {
        eprintln!("skipped: needs root to read every process");
        return;
    }
    let (_fleet, drover) = fleet_as_login(189, "ps", "ps-group");
    let sleep = common::unique_sleep();
    // A timeout, so that a watchdog runs beside the step.
    drover.script(
        "waits",
        &format!("#!/bin/sh\n{sleep}\n"),
        &["--timeout", "60s"],
    );
    drover.ok(&["scriptgroup", "create", "waits-group", "waits"]);
    let secret = format!("ps-s3cret-{}-{}", std::process::id(), sleep.len());
    let id = drover
        .ok(&[
            "task",
            "run",
            "waits-group",
            "ps-group",
            "--env",
            &format!("API_TOKEN={secret}"),
            "--detach",
        ])
        .trim()
        .to_string();
    common::wait_for_host(&drover, &id, "ps-1", Duration::from_secs(20), |_| {
        common::processes_matching(&sleep).len() == 2
    });
    // The steps themselves have it (a sanity check of the probe).
    let step_has_it = processes_showing_in_steps(&secret, &sleep);
    assert_eq!(step_has_it, 2, "both steps see the value");
    let shown = processes_showing(&secret, &sleep);
    let mut files = Vec::new();
    for dir in [sudo_login(), PathBuf::from("/tmp")] {
        files_holding(&dir, secret.as_bytes(), drover.dir.path(), &mut files);
    }
    drover.ok(&["run", "cancel", &id]);
    wait_gone(&drover, &id, "ps-1", &sleep);
    assert_eq!(shown, Vec::<String>::new(), "outside the steps");
    assert_eq!(files, Vec::<PathBuf>::new(), "on disk");
}

/// How many step processes (`sleep`) hold `secret` in their environment.
fn processes_showing_in_steps(secret: &str, sleep: &str) -> usize {
    common::processes_matching(sleep)
        .iter()
        .filter_map(|line| line.split_whitespace().next().map(str::to_string))
        .filter(|pid| {
            std::fs::read(format!("/proc/{pid}/environ"))
                .is_ok_and(|e| String::from_utf8_lossy(&e).contains(secret))
        })
        .count()
}
