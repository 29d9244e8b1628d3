//! Host certificates end to end: sshd daemons presenting host keys signed
//! with `ssh-keygen -s` (`HostCertificate`), and `@cert-authority` lines in
//! known_hosts. A valid certificate for the host is accepted under the
//! strict policy without pinning anything; a wrong principal, an expired
//! certificate or another CA is refused, naming why.

mod common;

use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};

use common::{free_port, host_doc, key_file, Drover, SshFleet};

/// Signs `key`'s public key with `ca` (`ssh-keygen -s`); returns the
/// certificate file (`KEY-cert.pub`).
fn sign(ca: &Path, key: &Path, principals: &str, validity: &str) -> PathBuf {
    let status = Command::new("ssh-keygen")
        .arg("-q")
        .arg("-h")
        .arg("-s")
        .arg(ca)
        .args(["-I", "test-host", "-n", principals, "-V", validity])
        .arg(key.with_extension("pub"))
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .status()
        .expect("ssh-keygen -s");
    assert!(status.success(), "ssh-keygen -s failed");
    let mut cert = key.as_os_str().to_owned();
    cert.push("-cert.pub");
    PathBuf::from(cert)
}

/// A fleet of one host (127.0.0.`octet`) whose ECDSA host key carries the
/// certificate made by `certify`.
fn certified_fleet(dir: &Path, octet: u8, certify: impl Fn(&Path) -> PathBuf) -> SshFleet {
    let key = key_file(dir, &format!("host{octet}"), "ecdsa");
    let cert = certify(&key);
    let extra = format!(
        "HostKey {}\nHostCertificate {}\nLogLevel ERROR\n",
        key.display(),
        cert.display()
    );
    SshFleet::start_with(octet, 1, free_port(), &extra)
}

fn public_line(key: &Path) -> String {
    std::fs::read_to_string(key.with_extension("pub"))
        .expect("public key")
        .split_whitespace()
        .take(2)
        .collect::<Vec<_>>()
        .join(" ")
}

fn run_on(drover: &Drover, fleet: &SshFleet, name: &str) -> serde_json::Value {
    let port = fleet.port.to_string();
    let key = fleet.client_key.display().to_string();
    drover.ok(&["group", "create", name]);
    drover.ok(&[
        "host",
        "add",
        name,
        &fleet.addresses[0],
        "--port",
        &port,
        "--user",
        &fleet.user,
        "--group",
        name,
    ]);
    let out = drover.run(&["-i", &key, "--json", "task", "run", "hello", name]);
    serde_json::from_slice(&out.stdout).unwrap_or_else(|e| {
        panic!(
            "not JSON ({e}): {}{}",
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        )
    })
}

#[test]
fn certificates_signed_by_a_listed_authority_are_checked_and_accepted() {
    let keys = tempfile::tempdir().expect("tempdir");
    let ca = key_file(keys.path(), "ca", "ed25519");
    let other_ca = key_file(keys.path(), "other_ca", "ed25519");
    let good = certified_fleet(keys.path(), 71, |k| sign(&ca, k, "127.0.0.71", "-5m:+1h"));
    let wrong_name = certified_fleet(keys.path(), 72, |k| {
        sign(&ca, k, "elsewhere.example.org", "-5m:+1h")
    });
    let expired = certified_fleet(keys.path(), 73, |k| {
        sign(&ca, k, "127.0.0.73", "20200101:20200102")
    });
    let unlisted_ca = certified_fleet(keys.path(), 75, |k| {
        sign(&other_ca, k, "127.0.0.75", "-5m:+1h")
    });

    let known = keys.path().join("known_hosts");
    std::fs::write(&known, format!("@cert-authority * {}\n", public_line(&ca))).expect("known");
    let drover = Drover::with_config(&format!(
        "known_hosts = \"{}\"\nhost_key_policy = \"strict\"\n",
        known.display()
    ));
    drover.script("hello", "#!/bin/sh\necho hello\n", &[]);
    drover.ok(&["scriptgroup", "create", "hello", "hello"]);

    let run = run_on(&drover, &good, "good");
    assert_eq!(host_doc(&run, "good")["state"], "succeeded", "{run:#}");
    let shown = drover.json(&["host", "show", "good"]);
    assert!(shown["host_key"].is_null(), "nothing pinned: {shown:#}");

    for (fleet, name, why) in [
        (&wrong_name, "wrong-name", "do not name this host"),
        (&expired, "expired", "validity window"),
        (&unlisted_ca, "unlisted-ca", "no certificate signed by it"),
    ] {
        let run = run_on(&drover, fleet, name);
        let host = host_doc(&run, name);
        assert_eq!(host["state"], "unreachable", "{name}: {run:#}");
        let reason = host["reason"].as_str().unwrap_or_default();
        assert!(reason.starts_with("host_key: "), "{name}: {reason}");
        assert!(reason.contains(why), "{name}: {reason}");
    }
}
