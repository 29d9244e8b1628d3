//! Host-key verification end to end: real sshd hosts with keys of several
//! types, known_hosts files (plain and hashed), pinned keys, runs taken
//! over after their host left the inventory, and keys pinned mid-run.

mod common;

use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use common::{free_port, host_doc, key_file, Drover, SshFleet};

/// sshd configuration lines that make a fleet offer only the RSA key `rsa`
/// (its ed25519 key stays loaded, but is never offered).
fn rsa_only(rsa: &Path) -> String {
    format!(
        "LogLevel ERROR\nHostKey {}\nHostKeyAlgorithms rsa-sha2-512,rsa-sha2-256\n",
        rsa.display()
    )
}

/// sshd configuration lines that add the RSA key `rsa` to a fleet's ed25519
/// key (both offered), logging the negotiated algorithms.
fn rsa_and_ed25519(rsa: &Path) -> String {
    format!("LogLevel DEBUG1\nHostKey {}\n", rsa.display())
}

fn public_key(private: &Path) -> String {
    std::fs::read_to_string(private.with_extension("pub")).expect("public key")
}

/// `SHA256:...` of a public key line, as ssh-keygen prints it.
fn fingerprint_of(public: &str) -> String {
    let dir = tempfile::tempdir().expect("tempdir");
    let file = dir.path().join("key.pub");
    std::fs::write(&file, public).expect("write key");
    let out = Command::new("ssh-keygen")
        .arg("-lf")
        .arg(&file)
        .output()
        .expect("ssh-keygen -l");
    let text = String::from_utf8_lossy(&out.stdout).into_owned();
    text.split_whitespace()
        .nth(1)
        .unwrap_or_else(|| panic!("no fingerprint in {text:?}"))
        .to_string()
}

/// A known_hosts line for a fleet's first address.
fn known_line(fleet: &SshFleet, public: &str) -> String {
    let key: Vec<&str> = public.split_whitespace().take(2).collect();
    format!(
        "[{}]:{} {}\n",
        fleet.addresses[0],
        fleet.port,
        key.join(" ")
    )
}

/// Hashes a known_hosts file's host names in place (`ssh-keygen -H`).
fn hash_known_hosts(path: &Path) {
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

fn config(policy: &str, known_hosts: &Path) -> String {
    format!(
        "host_key_policy = \"{policy}\"\nknown_hosts = \"{}\"\n",
        known_hosts.display()
    )
}

/// A script group `touch` whose script creates `marker`: proof that
/// something ran.
fn touch_group(drover: &Drover, marker: &Path) {
    drover.script(
        "touch-marker",
        &format!("touch {}\n", marker.display()),
        &[],
    );
    drover.ok(&["scriptgroup", "create", "touch", "touch-marker"]);
}

fn pinned(drover: &Drover, host: &str) -> serde_json::Value {
    drover.json(&["host", "show", host])["host_key"].clone()
}

fn stderr_and_stdout(out: &std::process::Output) -> String {
    format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    )
}

/// Asserts that `text` is a mismatch refusal naming both fingerprints.
fn assert_mismatch(text: &str, expected: &str, offered: &str) {
    assert!(
        text.contains("host key mismatch") && text.contains(expected) && text.contains(offered),
        "expected a mismatch naming {expected} and {offered}: {text}"
    );
}

/// `task run`, `host check` and `log fetch` are all refused with both
/// fingerprints, nothing runs and nothing is pinned.
fn assert_refused_everywhere(
    drover: &Drover,
    group: &str,
    marker: &Path,
    known: &str,
    offered: &str,
) {
    let host = format!("{group}-1");
    let run = drover.json(&["task", "run", "touch", group]);
    let doc = host_doc(&run, &host);
    assert_eq!(doc["state"], "unreachable", "{doc:#}");
    let reason = doc["reason"].as_str().unwrap_or_default();
    assert!(reason.starts_with("host_key: "), "{reason}");
    assert_mismatch(reason, known, offered);
    let check = drover.run(&["host", "check", &host]);
    assert!(!check.status.success());
    assert_mismatch(&stderr_and_stdout(&check), known, offered);
    let fetch = drover.run(&["log", "fetch", &host, "/var/log/drover-none.log"]);
    assert!(!fetch.status.success());
    assert_mismatch(&stderr_and_stdout(&fetch), known, offered);
    assert!(!marker.exists(), "nothing may run on a refused host");
    assert_eq!(
        pinned(drover, &host),
        serde_json::Value::Null,
        "nothing is pinned"
    );
}

/// The reproduction of issue 12: known_hosts holds the host's ed25519 key,
/// the server offers only RSA. Plain and hashed known_hosts, both policies.
#[test]
fn a_listed_key_of_another_type_refuses_the_key_offered_instead() {
    for (policy, first, hashed) in [("accept-new", 91, false), ("strict", 92, true)] {
        let keys = tempfile::tempdir().expect("tempdir");
        let rsa = key_file(keys.path(), "rsa_host", "rsa");
        let fleet = SshFleet::start_with(first, 1, free_port(), &rsa_only(&rsa));
        let known = keys.path().join("known_hosts");
        std::fs::write(&known, known_line(&fleet, &fleet.host_public_key())).expect("write");
        if hashed {
            hash_known_hosts(&known);
        }
        let mut drover = Drover::with_config(&config(policy, &known));
        let group = format!("other-{first}");
        drover.add_fleet(&fleet, &group, &group);
        let marker = drover.dir.path().join("marker");
        touch_group(&drover, &marker);
        assert_refused_everywhere(
            &drover,
            &group,
            &marker,
            &fingerprint_of(&fleet.host_public_key()),
            &fingerprint_of(&public_key(&rsa)),
        );
    }
}

/// A pinned ed25519 key refuses an RSA key the same way. (drover already
/// compared a pinned key whatever its type; this keeps it so.)
#[test]
fn a_pinned_key_of_another_type_refuses_the_key_offered_instead() {
    let port = free_port();
    let first = SshFleet::start_on(93, 1, port);
    let mut drover = Drover::new();
    drover.add_fleet(&first, "pinned", "pinned");
    let marker = drover.dir.path().join("marker");
    touch_group(&drover, &marker);
    drover.ok(&["host", "check", "pinned-1"]);
    let ed25519 = first.host_public_key();
    drop(first);
    let keys = tempfile::tempdir().expect("tempdir");
    let rsa = key_file(keys.path(), "rsa_host", "rsa");
    let second = SshFleet::start_with(93, 1, port, &rsa_only(&rsa));
    drover.identity = Some(second.client_key.clone());
    let host = "pinned-1";
    let before = pinned(&drover, host);
    let run = drover.json(&["task", "run", "touch", "pinned"]);
    let reason = host_doc(&run, host)["reason"]
        .as_str()
        .unwrap_or_default()
        .to_string();
    let (known, offered) = (fingerprint_of(&ed25519), fingerprint_of(&public_key(&rsa)));
    assert_mismatch(&reason, &known, &offered);
    assert!(reason.contains("(pinned)"), "{reason}");
    let check = drover.run(&["host", "check", host]);
    assert_mismatch(&stderr_and_stdout(&check), &known, &offered);
    assert!(!marker.exists());
    assert_eq!(pinned(&drover, host), before, "the pin is kept");
}

/// A host with an ed25519 and an RSA key, known by its RSA key (pinned,
/// or listed in a hashed known_hosts file): key exchange asks for RSA
/// first, so the run succeeds, and the known key stays the pinned one.
#[test]
fn key_exchange_asks_for_the_type_of_the_known_key() {
    let keys = tempfile::tempdir().expect("tempdir");
    let rsa = key_file(keys.path(), "rsa_host", "rsa");
    let rsa_public = public_key(&rsa);

    // pinned: learned while the host offered only RSA
    let port = free_port();
    let rsa_first = SshFleet::start_with(94, 1, port, &rsa_only(&rsa));
    let mut by_pin = Drover::new();
    by_pin.add_fleet(&rsa_first, "kpin", "kpin");
    by_pin.ok(&["host", "check", "kpin-1"]);
    drop(rsa_first);
    let both = SshFleet::start_with(94, 1, port, &rsa_and_ed25519(&rsa));
    by_pin.identity = Some(both.client_key.clone());

    // listed in a hashed known_hosts file, not pinned
    let listed = SshFleet::start_with(95, 1, free_port(), &rsa_and_ed25519(&rsa));
    let known = keys.path().join("known_hosts");
    std::fs::write(&known, known_line(&listed, &rsa_public)).expect("write");
    hash_known_hosts(&known);
    let mut by_list = Drover::with_config(&config("accept-new", &known));
    by_list.add_fleet(&listed, "klist", "klist");

    for (drover, group, fleet) in [(&by_pin, "kpin", &both), (&by_list, "klist", &listed)] {
        drover.script("hello", "echo hello\n", &[]);
        drover.ok(&["scriptgroup", "create", "hello-group", "hello"]);
        let run = drover.json(&["task", "run", "hello-group", group]);
        assert_eq!(run["state"], "succeeded", "{group}: {run:#}");
        let log = fleet.log();
        assert!(
            log.contains("kex: host key algorithm: rsa-sha2-512"),
            "{group}: RSA was not negotiated:\n{log}"
        );
        let key = pinned(drover, &format!("{group}-1"));
        assert_eq!(
            fingerprint_of(key.as_str().unwrap_or_default()),
            fingerprint_of(&rsa_public),
            "{group}: the RSA key is the pinned one"
        );
    }
}

/// A line drover cannot read (an unknown key type, bytes that are not
/// UTF-8) is an error naming the file and line: nothing runs, nothing is
/// pinned, even under accept-new.
#[test]
fn an_unreadable_known_hosts_line_is_an_error_naming_file_and_line() {
    let fleet = SshFleet::start(96, 1);
    let keys = tempfile::tempdir().expect("tempdir");
    let other = public_key(&key_file(keys.path(), "other", "ed25519"));
    let known = keys.path().join("known_hosts");
    let mut drover = Drover::with_config(&config("accept-new", &known));
    drover.add_fleet(&fleet, "bad", "bad");
    let marker = drover.dir.path().join("marker");
    touch_group(&drover, &marker);
    let host_field = format!("[{}]:{}", fleet.addresses[0], fleet.port);
    let cases: [(Vec<u8>, &str); 2] = [
        (
            format!("# ours\n{host_field} ssh-foo AAAAB3NzaC1yc2E=\n").into_bytes(),
            ":2: cannot read the ssh-foo key",
        ),
        (
            b"caf\xe9.example.org ssh-ed25519 AAAA\n".to_vec(),
            ":1: not UTF-8",
        ),
    ];
    for (text, says) in cases {
        let mut text = text;
        // a key of another host's, listed for this one, after the bad line
        text.extend_from_slice(known_line(&fleet, &other).as_bytes());
        std::fs::write(&known, &text).expect("write");
        let run = drover.json(&["task", "run", "touch", "bad"]);
        let doc = host_doc(&run, "bad-1");
        assert_eq!(doc["state"], "unreachable", "{doc:#}");
        let reason = doc["reason"].as_str().unwrap_or_default();
        let named = format!("ssh.known_hosts {}{says}", known.display());
        assert!(
            reason.starts_with(&format!("host_key: {named}")),
            "{reason}"
        );
        let check = drover.run(&["host", "check", "bad-1"]);
        assert!(stderr_and_stdout(&check).contains(&named), "{check:?}");
        assert!(!marker.exists(), "nothing may run");
        assert_eq!(pinned(&drover, "bad-1"), serde_json::Value::Null);
    }
}

/// A key marked `@revoked` is refused under every policy, even pinned, and
/// `host trust` will not pin it.
#[test]
fn a_revoked_key_is_refused_even_when_pinned() {
    let fleet = SshFleet::start(97, 1);
    let keys = tempfile::tempdir().expect("tempdir");
    let known = keys.path().join("known_hosts");
    std::fs::write(&known, "").expect("write");
    let mut drover = Drover::with_config(&config("accept-new", &known));
    drover.add_fleet(&fleet, "rev", "rev");
    let marker = drover.dir.path().join("marker");
    touch_group(&drover, &marker);
    drover.ok(&["host", "check", "rev-1"]);
    let key: Vec<String> = fleet
        .host_public_key()
        .split_whitespace()
        .take(2)
        .map(String::from)
        .collect();
    std::fs::write(&known, format!("# gone\n@revoked * {}\n", key.join(" "))).expect("write");
    let run = drover.json(&["task", "run", "touch", "rev"]);
    let reason = host_doc(&run, "rev-1")["reason"]
        .as_str()
        .unwrap_or_default()
        .to_string();
    let origin = format!("@revoked in {}:2", known.display());
    assert!(
        reason.starts_with("host_key: ") && reason.contains(&origin),
        "{reason}"
    );
    let trust = drover.run(&["host", "trust", "rev-1"]);
    assert!(!trust.status.success());
    assert!(stderr_and_stdout(&trust).contains(&origin), "{trust:?}");
    assert!(!marker.exists());
}

/// A script that waits (bounded) for `flag` to exist, then prints `released`.
fn waiting_script(flag: &Path) -> String {
    format!(
        "i=0\nwhile [ ! -e {f} ] && [ $i -lt 600 ]; do sleep 0.1; i=$((i+1)); done\necho released\n",
        f = flag.display()
    )
}

fn background(drover: &Drover, args: &[&str]) -> Child {
    drover
        .command()
        .args(args)
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .expect("spawn drover")
}

fn wait_running(drover: &Drover, run: &str, host: &str) {
    common::wait_for_host(drover, run, host, Duration::from_secs(15), |h| {
        h["state"] == "running"
    });
}

/// Waits (30 s at most) for a drover process to end.
fn wait_exit(child: &mut Child) {
    let deadline = Instant::now() + Duration::from_secs(30);
    while child.try_wait().expect("try_wait").is_none() {
        assert!(Instant::now() < deadline, "drover did not finish");
        std::thread::sleep(Duration::from_millis(50));
    }
}

fn remove_remote_files(run: i64, host: &str) {
    let dir: PathBuf = common::login_home().join(".drover/runs");
    for name in common::remote_run_files(run, host) {
        let _ = std::fs::remove_file(dir.join(name));
    }
}

/// The key a run started with is the key of its takeover and of its rerun,
/// even once the host is removed from the inventory: an impostor on the
/// host's address is refused, and nothing more is read from it.
#[test]
fn a_removed_hosts_run_keeps_its_key_for_takeover_and_rerun() {
    let port = free_port();
    let mut fleet = SshFleet::start_on(98, 1, port);
    let mut drover = Drover::new();
    drover.add_fleet(&fleet, "gone", "gone");
    drover.ok(&["host", "check", "gone-1"]);
    let flag = drover.dir.path().join("flag");
    drover.script("wait-flag", &waiting_script(&flag), &[]);
    drover.ok(&["scriptgroup", "create", "wait", "wait-flag"]);
    let mut controller = background(&drover, &["task", "run", "wait", "gone", "--quiet"]);
    wait_running(&drover, "1", "gone-1");
    controller.kill().expect("SIGKILL the controller");
    controller.wait().expect("reap");
    drover.ok(&["host", "rm", "gone-1", "--force"]);
    fleet.stop();
    let impostor = SshFleet::start_on(98, 1, port);
    std::fs::write(&flag, "").expect("flag");
    drover.identity = Some(impostor.client_key.clone());
    let (known, offered) = (
        fingerprint_of(&fleet.host_public_key()),
        fingerprint_of(&impostor.host_public_key()),
    );

    let resumed = drover.json(&["run", "resume", "1"]);
    let doc = host_doc(&resumed, "gone-1");
    assert_eq!(doc["state"], "lost", "{doc:#}");
    assert_mismatch(doc["reason"].as_str().unwrap_or_default(), &known, &offered);
    let log = String::from_utf8_lossy(&drover.step_log(1, "gone-1", 1)).into_owned();
    assert!(!log.contains("released"), "read from the impostor: {log}");

    let out = drover.run(&["run", "rerun", "1", "--failed"]);
    assert!(!out.status.success(), "{out:?}");
    let rerun = drover.json(&["run", "status", "2"]);
    let doc = host_doc(&rerun, "gone-1");
    assert_eq!(doc["state"], "unreachable", "{doc:#}");
    assert_mismatch(doc["reason"].as_str().unwrap_or_default(), &known, &offered);
    assert!(drover.step_log(2, "gone-1", 1).is_empty(), "nothing ran");
    remove_remote_files(1, "gone-1");
}

/// A host pinned by `host trust` while a run waits to reach it keeps that
/// pin: the key the run then meets (another one) is refused as a mismatch
/// against it, nothing runs on it, and the pin is not overwritten.
#[test]
fn a_key_pinned_mid_run_is_not_overwritten_by_the_run() {
    let gate = SshFleet::start(99, 1);
    let port = free_port();
    let mut late = SshFleet::start_on(100, 1, port);
    let mut drover = Drover::new();
    drover.add_fleet(&gate, "a-gate", "mid");
    drover.add_fleet(&late, "b-late", "mid");
    drover.identity = None;
    let flag = drover.dir.path().join("flag");
    let marker = drover.dir.path().join("marker");
    let script = format!(
        "if [ \"$DROVER_HOST\" = a-gate-1 ]; then\n{}else\ntouch {}\nfi\n",
        waiting_script(&flag),
        marker.display()
    );
    drover.script("gated", &script, &[]);
    drover.ok(&["scriptgroup", "create", "gated-group", "gated"]);
    let gate_key = gate.client_key.to_string_lossy().into_owned();
    let late_key = late.client_key.to_string_lossy().into_owned();
    let mut controller = background(
        &drover,
        &[
            "-i",
            &gate_key,
            "-i",
            &late_key,
            "task",
            "run",
            "gated-group",
            "mid",
            "--parallel",
            "1",
            "--quiet",
        ],
    );
    wait_running(&drover, "1", "a-gate-1");
    assert_eq!(pinned(&drover, "b-late-1"), serde_json::Value::Null);
    drover.ok(&["-i", &late_key, "host", "trust", "b-late-1"]);
    let trusted = pinned(&drover, "b-late-1");
    late.stop();
    let impostor = SshFleet::start_on(100, 1, port);
    // the impostor lets in the run's key, as a host it replaces would
    std::fs::copy(
        late.client_key.with_extension("pub"),
        impostor.dir.path().join("authorized_keys"),
    )
    .expect("authorize");
    std::fs::write(&flag, "").expect("flag");
    wait_exit(&mut controller);

    let run = drover.json(&["run", "status", "1"]);
    assert_eq!(host_doc(&run, "a-gate-1")["state"], "succeeded", "{run:#}");
    let doc = host_doc(&run, "b-late-1");
    assert_eq!(doc["state"], "unreachable", "{doc:#}");
    let reason = doc["reason"].as_str().unwrap_or_default();
    assert_mismatch(
        reason,
        &fingerprint_of(&late.host_public_key()),
        &fingerprint_of(&impostor.host_public_key()),
    );
    assert!(reason.contains("pinned meanwhile"), "{reason}");
    assert!(!marker.exists(), "nothing may run on the impostor");
    assert_eq!(
        pinned(&drover, "b-late-1"),
        trusted,
        "the trusted pin stays"
    );
}
