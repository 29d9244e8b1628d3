//! Jump hosts (ProxyJump) and the OpenSSH client configuration, end to end:
//! hosts in network namespaces the controller cannot reach, reached through
//! bastions in other namespaces (one shared connection per bastion, chains
//! of two), a bastion with a wrong key, hop-naming failures, and ssh_config
//! aliases, ports, users, identity files and known_hosts files.
//!
//! Topology: drover runs in a controller namespace that reaches a bastion
//! namespace over a veth pair; the bastion reaches the next namespace over
//! another; nothing routes further (no forwarding, no default route).

mod common;

use std::process::{Command, Stdio};
use std::sync::atomic::{AtomicU32, Ordering};
use std::time::Duration;

use common::{hash_known_hosts, host_doc, Drover, Netns, SshFleet};

const PORT: u16 = 2222;

/// A distinct number per topology of this process (subnets, interface
/// names).
fn next_tag() -> u32 {
    static NEXT: AtomicU32 = AtomicU32::new(0);
    (std::process::id() % 40) * 5 + NEXT.fetch_add(1, Ordering::SeqCst) % 5 + 10
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

/// A veth pair: `a_address` (CIDR) on the end in `a`, `b_address` on the
/// end in `b`.
fn link(a: &Netns, a_address: &str, b: &Netns, b_address: &str, name: &str) {
    let (end_a, end_b) = (format!("{name}a"), format!("{name}b"));
    ip(&[
        "link", "add", &end_a, "netns", &a.name, "type", "veth", "peer", "name", &end_b, "netns",
        &b.name,
    ]);
    a.ip(&["addr", "add", a_address, "dev", &end_a]);
    a.ip(&["link", "set", &end_a, "up"]);
    b.ip(&["addr", "add", b_address, "dev", &end_b]);
    b.ip(&["link", "set", &end_b, "up"]);
}

/// Hosts in a line of namespaces: the first reachable from the
/// controller's namespace, each next one only from the one before.
/// `addresses[i]` is the sshd address of host `i`.
struct Line {
    // Fleets first: their sshd ends before its namespace goes.
    fleets: Vec<SshFleet>,
    addresses: Vec<String>,
    _namespaces: Vec<Netns>,
    controller: Netns,
}

impl Line {
    fn new(length: usize) -> Line {
        let tag = next_tag();
        let controller = Netns::new(&format!("j{tag}c"));
        let namespaces: Vec<Netns> = (0..length)
            .map(|i| Netns::new(&format!("j{tag}n{i}")))
            .collect();
        let mut addresses = Vec::new();
        for (i, ns) in namespaces.iter().enumerate() {
            let subnet = format!("10.{tag}.{}", i + 1);
            let name = format!("dj{tag}x{i}");
            let before = i.checked_sub(1).map_or(&controller, |p| &namespaces[p]);
            link(
                before,
                &format!("{subnet}.1/24"),
                ns,
                &format!("{subnet}.2/24"),
                &name,
            );
            addresses.push(format!("{subnet}.2"));
        }
        let fleets = namespaces
            .iter()
            .zip(&addresses)
            .map(|(ns, address)| SshFleet::start_in_netns(ns, address, PORT))
            .collect();
        Line {
            fleets,
            addresses,
            _namespaces: namespaces,
            controller,
        }
    }

    /// A drover that runs in the controller's namespace.
    fn drover(&self) -> Drover {
        let mut drover = Drover::new();
        drover.netns = Some(self.controller.name.clone());
        drover
    }

    /// Asserts that host `i` cannot be reached from the controller's
    /// namespace.
    fn unreachable_directly(&self, i: usize) {
        let probe = format!("exec 3<>/dev/tcp/{}/{PORT}", self.addresses[i]);
        let out = Command::new("ip")
            .args([
                "netns",
                "exec",
                &self.controller.name,
                "timeout",
                "5",
                "bash",
                "-c",
                &probe,
            ])
            .output()
            .expect("probe");
        assert!(
            !out.status.success(),
            "{} must not be reachable from the controller",
            self.addresses[i]
        );
    }

    /// The address the hop before `i` connects from.
    fn peer_of(&self, i: usize) -> String {
        let a = &self.addresses[i];
        format!("{}.1", &a[..a.rfind('.').expect("dotted")])
    }

    /// `-i KEY` for every host of the line (each fleet has its own key).
    fn identities(&self) -> Vec<String> {
        self.fleets
            .iter()
            .flat_map(|f| ["-i".to_string(), f.client_key.display().to_string()])
            .collect()
    }

    fn accepted_logins(&self, i: usize) -> usize {
        self.fleets[i].log().matches("Accepted publickey").count()
    }
}

fn with_ids<'a>(ids: &'a [String], args: &[&'a str]) -> Vec<&'a str> {
    let mut all: Vec<&str> = ids.iter().map(String::as_str).collect();
    all.extend_from_slice(args);
    all
}

fn add_host(drover: &Drover, ids: &[String], name: &str, address: &str, extra: &[&str]) {
    let port = PORT.to_string();
    let user = login();
    let mut args = vec![
        "host", "add", name, address, "--port", &port, "--user", &user,
    ];
    args.extend_from_slice(extra);
    drover.ok(&with_ids(ids, &args));
}

fn login() -> String {
    let out = Command::new("id").arg("-un").output().expect("id");
    String::from_utf8_lossy(&out.stdout).trim().to_string()
}

/// A script that prints how the host was reached (sshd's SSH_CONNECTION:
/// client address, port, server address, port).
fn where_script(drover: &Drover) {
    drover.script("where", "#!/bin/sh\necho \"via=$SSH_CONNECTION\"\n", &[]);
    drover.ok(&["scriptgroup", "create", "where", "where"]);
}

fn run_json(drover: &Drover, ids: &[String], group: &str) -> serde_json::Value {
    let mut args: Vec<&str> = vec!["--json"];
    args.extend(ids.iter().map(String::as_str));
    args.extend(["task", "run", "where", group]);
    let out = drover.run(&args);
    serde_json::from_slice(&out.stdout).unwrap_or_else(|e| {
        panic!(
            "not JSON ({e}): {}{}",
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        )
    })
}

fn step_output(drover: &Drover, run: &serde_json::Value, host: &str) -> String {
    let id = run["id"].as_i64().expect("run id");
    String::from_utf8_lossy(&drover.step_log(id, host, 1)).into_owned()
}

#[test]
fn hosts_behind_a_bastion_share_one_connection_to_it() {
    let line = Line::new(2);
    line.unreachable_directly(1);
    let drover = line.drover();
    let ids = line.identities();
    drover.ok(&["group", "create", "inner"]);
    add_host(&drover, &ids, "bastion-1", &line.addresses[0], &[]);
    // Two inventory hosts at the inner sshd, both behind the bastion.
    for name in ["inner-1", "inner-2"] {
        add_host(
            &drover,
            &ids,
            name,
            &line.addresses[1],
            &["--jump", "bastion-1", "--group", "inner"],
        );
    }
    where_script(&drover);
    let run = run_json(&drover, &ids, "inner");
    for name in ["inner-1", "inner-2"] {
        assert_eq!(host_doc(&run, name)["state"], "succeeded", "{run:#}");
        let output = step_output(&drover, &run, name);
        // Reached from the bastion's side of the inner link.
        assert!(
            output.contains(&format!("via={} ", line.peer_of(1)))
                && output.contains(&format!(" {} {PORT}", line.addresses[1])),
            "{output}"
        );
    }
    assert_eq!(line.accepted_logins(0), 1, "one connection to the bastion");
    assert_eq!(line.accepted_logins(1), 2);
    // The bastion's key was pinned like any host's.
    let bastion = drover.json(&["host", "show", "bastion-1"]);
    assert!(bastion["host_key"].is_string(), "{bastion:#}");
    let shown = drover.ok(&["host", "show", "inner-1"]);
    assert!(shown.contains("jump: bastion-1 (inventory)"), "{shown}");
    assert!(shown.contains("route: bastion-1 -> inner-1"), "{shown}");

    // `host check`, `host trust` and `log fetch` go through the bastion too.
    let trusted = drover.ok(&with_ids(&ids, &["host", "trust", "inner-1"]));
    assert!(trusted.contains("SHA256:"), "{trusted}");
    let check = drover.ok(&with_ids(&ids, &["host", "check", "inner-1"]));
    assert!(check.contains("ok"), "{check}");
    let log = format!("/var/log/drover-jump-test-{}.log", std::process::id());
    std::fs::write(&log, "through the bastion\n").expect("write log");
    let fetched = drover.run(&with_ids(&ids, &["log", "fetch", "inner-1", &log]));
    let _ = std::fs::remove_file(&log);
    assert_eq!(
        String::from_utf8_lossy(&fetched.stdout).trim(),
        "through the bastion",
        "{}",
        String::from_utf8_lossy(&fetched.stderr)
    );

    // A failing hop is named in the host's state.
    drover.ok(&["host", "edit", "bastion-1", "--user", "nobody-here"]);
    let run = run_json(&drover, &ids, "inner");
    let inner = host_doc(&run, "inner-1");
    assert_eq!(inner["state"], "unreachable", "{run:#}");
    let reason = inner["reason"].as_str().unwrap_or_default();
    assert!(reason.starts_with("jump bastion-1: auth: "), "{reason}");
}

#[test]
fn a_bastion_with_a_wrong_key_is_refused_and_nothing_runs_behind_it() {
    let line = Line::new(2);
    let drover = line.drover();
    let ids = line.identities();
    drover.ok(&["group", "create", "inner"]);
    add_host(&drover, &ids, "bastion-1", &line.addresses[0], &[]);
    add_host(
        &drover,
        &ids,
        "inner-1",
        &line.addresses[1],
        &["--jump", "bastion-1", "--group", "inner"],
    );
    // Pin another key for the bastion (the inner host's).
    let (runtime, mut db) = drover.open_database();
    let other = line.fleets[1].host_public_key();
    runtime.block_on(async {
        sqlx::query("UPDATE hosts SET host_key = ? WHERE name = 'bastion-1'")
            .bind(other.trim())
            .execute(&mut db)
            .await
            .expect("pin")
    });
    where_script(&drover);
    let run = run_json(&drover, &ids, "inner");
    let inner = host_doc(&run, "inner-1");
    assert_eq!(inner["state"], "unreachable", "{run:#}");
    let reason = inner["reason"].as_str().unwrap_or_default();
    assert!(
        reason.starts_with("jump bastion-1: host_key: host key mismatch"),
        "{reason}"
    );
    assert_eq!(line.accepted_logins(0), 0, "no login on the bastion");
    assert_eq!(line.accepted_logins(1), 0, "nothing reached the inner host");
}

#[test]
fn chains_of_two_jumps_as_a_list_or_as_a_jump_host_with_its_own_jump() {
    let line = Line::new(3);
    line.unreachable_directly(1);
    line.unreachable_directly(2);
    let drover = line.drover();
    let ids = line.identities();
    drover.ok(&["group", "create", "inner"]);
    add_host(&drover, &ids, "j1", &line.addresses[0], &[]);
    add_host(&drover, &ids, "j2", &line.addresses[1], &[]);
    add_host(
        &drover,
        &ids,
        "deep",
        &line.addresses[2],
        &["--jump", "j1,j2", "--group", "inner"],
    );
    where_script(&drover);
    let run = run_json(&drover, &ids, "inner");
    assert_eq!(host_doc(&run, "deep")["state"], "succeeded", "{run:#}");
    let output = step_output(&drover, &run, "deep");
    assert!(
        output.contains(&format!("via={} ", line.peer_of(2))),
        "{output}"
    );

    // The same chain, written as a jump host that has a jump of its own.
    drover.ok(&["host", "edit", "j2", "--jump", "j1"]);
    drover.ok(&["host", "edit", "deep", "--jump", "j2"]);
    let run = run_json(&drover, &ids, "inner");
    assert_eq!(host_doc(&run, "deep")["state"], "succeeded", "{run:#}");

    // A loop is refused before anything connects.
    drover.ok(&["host", "edit", "j1", "--jump", "deep"]);
    let out = drover.run(&with_ids(&ids, &["task", "run", "where", "inner"]));
    let text = String::from_utf8_lossy(&out.stderr);
    assert!(!out.status.success());
    assert!(
        text.contains("jump loop: deep -> j2 -> j1 -> deep"),
        "{text}"
    );
}

#[test]
fn ssh_config_aliases_ports_users_identity_files_jumps_and_known_hosts_are_honoured() {
    let line = Line::new(2);
    let drover = line.drover();
    let home = drover.dir.path();
    std::fs::create_dir_all(home.join(".ssh/keys")).expect("mkdir");
    // IdentityFile with tokens: %h is the HostName, %r the user.
    let user = login();
    for (i, fleet) in line.fleets.iter().enumerate() {
        let key = home.join(format!(".ssh/keys/{}-{user}", line.addresses[i]));
        std::fs::copy(&fleet.client_key, &key).expect("copy key");
    }
    // Hashed known_hosts for the bastion, which is no inventory host.
    let known = home.join(".ssh/bastion_known_hosts");
    let bastion_key: Vec<String> = line.fleets[0]
        .host_public_key()
        .split_whitespace()
        .take(2)
        .map(str::to_string)
        .collect();
    std::fs::write(
        &known,
        format!("[{}]:{PORT} {}\n", line.addresses[0], bastion_key.join(" ")),
    )
    .expect("known_hosts");
    hash_known_hosts(&known);
    std::fs::write(
        home.join(".ssh/config"),
        format!(
            "Host gate\n  HostName {}\n  UserKnownHostsFile ~/.ssh/bastion_known_hosts\nHost app\n  HostName {}\n  ProxyJump gate\nHost *\n  Port {PORT}\n  User {user}\n  IdentityFile ~/.ssh/keys/%h-%r\n  IdentitiesOnly yes\n",
            line.addresses[0], line.addresses[1]
        ),
    )
    .expect("ssh config");
    drover.ok(&["group", "create", "g"]);
    drover.ok(&["host", "add", "app-1", "app", "--group", "g"]);
    where_script(&drover);
    let run = run_json(&drover, &[], "g");
    assert_eq!(host_doc(&run, "app-1")["state"], "succeeded", "{run:#}");
    let shown = drover.json(&["host", "show", "app-1"]);
    let values = shown["connection"]["values"].as_array().expect("values");
    let source = |field: &str| {
        values
            .iter()
            .find(|v| v["field"] == field)
            .map(|v| {
                format!(
                    "{} ({})",
                    v["value"].as_str().unwrap_or(""),
                    v["source"].as_str().unwrap_or("")
                )
            })
            .unwrap_or_default()
    };
    let config = home.join(".ssh/config").display().to_string();
    assert_eq!(
        source("address"),
        format!("{} (ssh_config {config}:5)", line.addresses[1])
    );
    assert_eq!(source("port"), format!("{PORT} (ssh_config {config}:8)"));
    assert_eq!(source("user"), format!("{user} (ssh_config {config}:9)"));
    assert_eq!(source("jump"), format!("gate (ssh_config {config}:6)"));
    assert_eq!(shown["connection"]["jumps"], serde_json::json!(["gate"]));

    // A key that does not match the hashed entry refuses the bastion.
    let other: Vec<String> = line.fleets[1]
        .host_public_key()
        .split_whitespace()
        .take(2)
        .map(str::to_string)
        .collect();
    std::fs::write(
        &known,
        format!("[{}]:{PORT} {}\n", line.addresses[0], other.join(" ")),
    )
    .expect("known_hosts");
    hash_known_hosts(&known);
    let run = run_json(&drover, &[], "g");
    let app = host_doc(&run, "app-1");
    assert_eq!(app["state"], "unreachable", "{run:#}");
    let reason = app["reason"].as_str().unwrap_or_default();
    assert!(
        reason.starts_with("jump gate: host_key: host key mismatch"),
        "{reason}"
    );
    assert!(reason.contains(&known.display().to_string()), "{reason}");

    // No entry at all: a jump host outside the inventory is not pinned
    // blindly, whatever the policy.
    std::fs::write(&known, "").expect("empty");
    let run = run_json(&drover, &[], "g");
    let reason = host_doc(&run, "app-1")["reason"]
        .as_str()
        .unwrap_or_default()
        .to_string();
    assert!(reason.contains("not in the inventory"), "{reason}");
}

#[test]
fn a_run_behind_a_bastion_is_taken_over_through_the_route_it_recorded() {
    let line = Line::new(2);
    let drover = line.drover();
    let ids = line.identities();
    drover.ok(&["group", "create", "inner"]);
    add_host(&drover, &ids, "bastion-1", &line.addresses[0], &[]);
    add_host(
        &drover,
        &ids,
        "inner-1",
        &line.addresses[1],
        &["--jump", "bastion-1", "--group", "inner"],
    );
    let flag = drover.dir.path().join("go");
    let body = format!(
        "#!/bin/sh\nwhile [ ! -e {} ]; do sleep 0.1; done\necho \"via=$SSH_CONNECTION\"\n",
        flag.display()
    );
    drover.script("wait", &body, &[]);
    drover.ok(&["scriptgroup", "create", "wait", "wait"]);
    let mut controller = drover
        .command()
        .args(&ids)
        .args(["--quiet", "task", "run", "wait", "inner"])
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .expect("start the run");
    common::wait_for_host(&drover, "1", "inner-1", Duration::from_secs(60), |h| {
        h["state"] == "running"
    });
    controller.kill().expect("kill the controller");
    controller.wait().expect("reap");
    std::fs::write(&flag, "").expect("flag");
    // The inventory forgets the jump host: the run still knows its route.
    drover.ok(&["host", "edit", "inner-1", "--no-jump"]);
    drover.ok(&with_ids(&ids, &["--quiet", "run", "resume", "1"]));
    let run = drover.json(&["run", "status", "1"]);
    assert_eq!(host_doc(&run, "inner-1")["state"], "succeeded", "{run:#}");
    let output = String::from_utf8_lossy(&drover.step_log(1, "inner-1", 1)).into_owned();
    assert!(
        output.contains(&format!("via={} ", line.peer_of(1))),
        "{output}"
    );
}

#[test]
fn jump_hosts_survive_export_and_import_and_bad_ones_are_refused() {
    let drover = Drover::new();
    drover.ok(&["host", "add", "bastion-1", "192.0.2.1"]);
    drover.ok(&[
        "host",
        "add",
        "web-1",
        "10.9.0.1",
        "--jump",
        "bastion-1,ops@192.0.2.2:2200",
    ]);
    drover.ok(&["host", "add", "db-1", "10.9.0.2", "--jump", "none"]);
    let exported = drover.ok(&["export"]);
    assert!(
        exported.contains("jump = \"bastion-1,ops@192.0.2.2:2200\""),
        "{exported}"
    );
    let file = drover.dir.path().join("inventory.toml");
    std::fs::write(&file, &exported).expect("write");
    let other = Drover::new();
    other.ok(&["import", &file.display().to_string()]);
    assert_eq!(other.ok(&["export"]), exported);
    let again = other.ok(&["import", &file.display().to_string()]);
    assert!(again.contains("0 added, 0 changed"), "{again}");

    let out = drover.run(&["host", "edit", "web-1", "--jump", "a:99999"]);
    assert!(!out.status.success());
    let text = String::from_utf8_lossy(&out.stderr);
    assert!(
        text.contains("--jump") && text.contains("the port must be 1-65535"),
        "{text}"
    );
    let edited = drover.json(&["host", "edit", "web-1", "--no-jump"]);
    assert!(edited["jump"].is_null(), "{edited:#}");
}
