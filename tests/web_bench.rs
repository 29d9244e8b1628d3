//! Benchmark of the web dashboard's run page (ignored by default; run with
//! `cargo test --release --test web_bench -- --ignored --nocapture`): a
//! real 1000-host run (every host on a closed loopback port, so each ends
//! `unreachable` at once and every host needs attention: the biggest page),
//! then `GET /runs/1` through the real `drover serve`, timed on loopback,
//! and its size.

mod common;
#[path = "web/mod.rs"]
mod web;

use std::time::{Duration, Instant};

use web::{add_user, web_config, Http, Server};

const HOSTS: usize = 1000;
const REQUESTS: usize = 20;
const PASSWORD: &str = "correct horse battery staple";

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[ignore = "benchmark: run with --ignored --nocapture"]
async fn run_page_of_a_1000_host_run() {
    let drover = common::Drover::with_config(&web_config(""));
    // Port 9 (discard) is closed on loopback: connections are refused.
    let list: String = (0..HOSTS)
        .map(|i| format!("127.0.{}.{}:9 h{i:04}\n", 100 + i / 200, 1 + i % 200))
        .collect();
    let file = drover.dir.path().join("hosts.txt");
    std::fs::write(&file, list).expect("host list");
    drover.ok(&["import", &file.to_string_lossy(), "--group", "big"]);
    drover.script("noop", "true\n", &[]);
    drover.ok(&["scriptgroup", "create", "noops", "noop"]);
    let run = drover.run(&["task", "run", "noops", "big", "--parallel", "200"]);
    let status = drover.json(&["run", "status", "1"]);
    assert_eq!(
        status["state"],
        "failed",
        "{}",
        String::from_utf8_lossy(&run.stderr)
    );
    add_user(&drover, "alice", "operator", PASSWORD);
    let server = Server::start(&drover);
    let mut http = Http::new(&server);
    assert_eq!(http.login("alice", PASSWORD).await.status, 303);

    let mut times = Vec::new();
    let mut size = 0;
    for _ in 0..REQUESTS {
        let started = Instant::now();
        let page = http.get("/runs/1").await;
        times.push(started.elapsed());
        assert_eq!(page.status, 200);
        assert_eq!(page.body.matches("<tr class=\"host\"").count(), HOSTS);
        size = page.body.len();
    }
    times.sort();
    let ms = |d: Duration| d.as_secs_f64() * 1000.0;
    println!(
        "run page of {HOSTS} hosts: {size} bytes ({:.0} KiB); {REQUESTS} requests: min {:.1} ms, median {:.1} ms, max {:.1} ms",
        size as f64 / 1024.0,
        ms(times[0]),
        ms(times[REQUESTS / 2]),
        ms(times[REQUESTS - 1]),
    );
    let api = http.get("/api/runs/1").await;
    println!("/api/runs/1: {} bytes", api.body.len());
}
