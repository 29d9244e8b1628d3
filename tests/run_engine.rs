//! The run engine end to end: real sshd hosts on loopback, the real binary.

mod common;

use common::{host_doc, SshFleet};

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
