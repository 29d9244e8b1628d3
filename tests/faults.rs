//! Network faults, with hosts in network namespaces that the tests make
//! (needs root, as tests/run.sh runs): an address without a route, and a
//! host that vanishes mid-run. No traffic leaves those namespaces.

mod common;

use std::time::{Duration, Instant};

use common::{host_doc, Netns, SshFleet};

#[test]
fn host_without_a_route_is_unreachable_with_that_reason() {
    // Only loopback in this namespace: 10.203.0.1 has no route, so the
    // connection fails at once and no packet is sent anywhere.
    let ns = Netns::new("noroute");
    let mut drover = common::Drover::new();
    drover.netns = Some(ns.name.clone());
    drover.ok(&["group", "create", "far"]);
    drover.ok(&["host", "add", "far-1", "10.203.0.1", "--group", "far"]);
    drover.script("hello", "echo hello\n", &[]);
    drover.ok(&["scriptgroup", "create", "greet", "hello"]);
    let run = drover.json(&["task", "run", "greet", "far"]);
    assert_eq!(run["state"], "failed", "{run:#}");
    let host = host_doc(&run, "far-1");
    assert_eq!(host["state"], "unreachable", "{host:#}");
    let reason = host["reason"].as_str().unwrap_or_default();
    assert!(reason.starts_with("no_route: "), "{reason}");
    assert!(host["step"].is_null(), "nothing ran: {host:#}");
}

#[test]
fn host_that_vanishes_mid_run_is_lost_and_its_runner_goes_on() {
    let controller = Netns::new("ctl");
    let far = Netns::new("far");
    let far_link = common::veth_pair(&controller, "10.204.0.1/30", &far, "10.204.0.2/30");
    let fleet = SshFleet::start_in_netns(&far, "10.204.0.2", 2222);
    // (each attempt to reconnect to the vanished host waits this timeout)
    let mut drover = common::Drover::with_connect_timeout("8s", "");
    drover.netns = Some(controller.name.clone());
    let hosts = drover.add_fleet(&fleet, "far", "far-group");
    let host = hosts[0].as_str();
    let sleep = common::unique_sleep();
    drover.script("wait", &format!("echo before\n{sleep}\necho after\n"), &[]);
    drover.ok(&["scriptgroup", "create", "long", "wait"]);
    let id = drover
        .ok(&["task", "run", "long", "far-group", "--detach"])
        .trim()
        .to_string();
    let run_id: i64 = id.parse().expect("run id");

    common::wait_for_host(&drover, &id, host, Duration::from_secs(30), |h| {
        h["state"] == "running"
    });
    let deadline = Instant::now() + Duration::from_secs(10);
    // (the parser holds a line's last newline back until it knows that no
    // marker follows)
    while !drover.step_log(run_id, host, 1).starts_with(b"before") {
        assert!(
            Instant::now() < deadline,
            "the script's first line never arrived: {:?}, {:#}",
            String::from_utf8_lossy(&drover.step_log(run_id, host, 1)),
            drover.json(&["run", "status", &id])
        );
        std::thread::sleep(Duration::from_millis(100));
    }

    // The host vanishes: its link goes down, packets are dropped silently.
    far.ip(&["link", "set", &far_link, "down"]);
    let lost = common::wait_for_host(&drover, &id, host, Duration::from_secs(60), |h| {
        h["state"] != "running"
    });
    assert_eq!(lost["state"], "lost", "{lost:#}");
    assert_eq!(lost["step"], 1, "{lost:#}");
    assert!(
        lost["reason"]
            .as_str()
            .is_some_and(|r| r.starts_with("cannot reconnect: ")),
        "{lost:#}"
    );
    // The step is closed with what arrived, its last newline included, and
    // front ends get it as the host's excerpt.
    assert_eq!(lost["excerpt"], "before\n", "{lost:#}");
    let status = drover.json(&["run", "status", &id]);
    assert_eq!(status["state"], "failed", "{status:#}");
    assert_eq!(drover.step_log(run_id, host, 1), b"before\n");
    // The runner is detached: the script is still running on the host.
    assert_eq!(common::processes_matching(&sleep).len(), 1, "{sleep}");

    // Clean up: the namespaces take their processes with them; the run's
    // files stay on the (shared) home since nobody acknowledged them.
    drop(fleet);
    drop(far);
    for file in common::remote_run_files(run_id, host) {
        let _ = std::fs::remove_file(common::login_home().join(".drover/runs").join(file));
    }
}
