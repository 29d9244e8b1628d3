//! The bot's memory does not depend on the inventory's size nor on the
//! runs it has done.
//!
//! `autocomplete_reads_only_the_choices_whatever_the_inventory` checks,
//! deterministically, that what an autocomplete reads from the database is
//! the 25 choices it shows, not the 10,000 hosts of the inventory.
//!
//! The benchmark (ignored by default) runs the real `drover bot` process
//! against the Discord simulator: it samples the bot's RSS from /proc once
//! connected, again after 10,000 more hosts were imported and typed into
//! `/host show`'s autocomplete, then runs a 200-line script on loopback sshd
//! hosts again and again; after each run (its final edit and logs posted,
//! and the bot done with it) the RSS is read again, and sampled every 50 ms
//! during the run for its peak. A long-lived process's memory must depend
//! on what it does now, not on how many runs it has done: after a warm-up
//! (the first fifth of the runs) neither figure may grow by more than
//! 4 MiB, nor the bot's open files at all.
//!
//! ```sh
//! cargo test --release --test discord_memory -- --ignored --nocapture
//! ```
//!
//! `BENCH_RUNS` (default 50), `BENCH_HOSTS` (hosts per run, default 200,
//! at most 240) and `BENCH_INVENTORY` (extra hosts, default 10000) change
//! the workload. Needs root only as the other sshd tests do.

mod common;
#[path = "discord_sim/mod.rs"]
mod discord_sim;

use std::alloc::{GlobalAlloc, Layout, System};
use std::cell::Cell;
use std::process::{Child, Stdio};
use std::time::{Duration, Instant};

use common::SshFleet;
use discord_sim::{DiscordSim, SimUser};
use drover::error::EntityKind;
use drover::store::Store;
use serde_json::json;

/// The system allocator, counting the bytes each thread allocates.
struct CountingAllocator;

thread_local! {
    static ALLOCATED: Cell<u64> = const { Cell::new(0) };
}

fn count(bytes: usize) {
    let _ = ALLOCATED.try_with(|a| a.set(a.get() + bytes as u64));
}

/// Bytes this thread has allocated so far.
fn allocated() -> u64 {
    ALLOCATED.with(Cell::get)
}

// SAFETY: every call goes to the system allocator unchanged; counting
// touches only a thread-local integer (no allocation).
unsafe impl GlobalAlloc for CountingAllocator {
    unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
        count(layout.size());
        System.alloc(layout)
    }
    unsafe fn alloc_zeroed(&self, layout: Layout) -> *mut u8 {
        count(layout.size());
        System.alloc_zeroed(layout)
    }
    unsafe fn realloc(&self, ptr: *mut u8, layout: Layout, new_size: usize) -> *mut u8 {
        count(new_size.saturating_sub(layout.size()));
        System.realloc(ptr, layout, new_size)
    }
    unsafe fn dealloc(&self, ptr: *mut u8, layout: Layout) {
        System.dealloc(ptr, layout)
    }
}

#[global_allocator]
static COUNTING: CountingAllocator = CountingAllocator;

const GUILD: u64 = 910_000_000_000_000_001;
const CHANNEL: u64 = 910_000_000_000_000_002;
const OPERATOR_ROLE: u64 = 910_000_000_000_000_011;
/// Hosts one sshd serves (OpenSSH listens on at most 16 addresses).
const PER_SSHD: usize = 16;

fn env_number(name: &str, default: usize) -> usize {
    std::env::var(name)
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(default)
}

/// What /proc says of a process: resident and peak memory (KiB), open
/// files and threads.
#[derive(Debug, Clone, Copy, Default)]
struct Sample {
    rss_kib: u64,
    /// Of the RSS: the heap and other private memory, and mapped files
    /// (the binary's pages, SQLite's shared WAL index).
    anon_kib: u64,
    file_kib: u64,
    hwm_kib: u64,
    fds: usize,
    threads: u64,
}

fn sample(pid: u32) -> Sample {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).unwrap_or_default();
    let field = |name: &str| {
        status
            .lines()
            .find_map(|l| l.strip_prefix(name))
            .and_then(|v| v.split_whitespace().next())
            .and_then(|v| v.parse().ok())
            .unwrap_or(0)
    };
    Sample {
        rss_kib: field("VmRSS:"),
        anon_kib: field("RssAnon:"),
        file_kib: field("RssFile:") + field("RssShmem:"),
        hwm_kib: field("VmHWM:"),
        fds: std::fs::read_dir(format!("/proc/{pid}/fd")).map_or(0, |d| d.count()),
        threads: field("Threads:"),
    }
}

/// `hosts` loopback hosts on sshd daemons that all accept the first
/// fleet's client key.
fn fleets(hosts: usize) -> Vec<SshFleet> {
    assert!((1..=240).contains(&hosts), "BENCH_HOSTS must be 1..=240");
    let mut fleets: Vec<SshFleet> = Vec::new();
    let mut first = 1usize;
    while first <= hosts {
        let count = PER_SSHD.min(hosts + 1 - first);
        let first_octet = u8::try_from(first).expect("address");
        let count_u8 = u8::try_from(count).expect("count");
        fleets.push(SshFleet::start(first_octet, count_u8));
        first += count;
    }
    let key = fleets[0].client_key.with_extension("pub");
    for fleet in &fleets[1..] {
        std::fs::copy(&key, fleet.dir.path().join("authorized_keys")).expect("authorized key");
    }
    fleets
}

/// An inventory file of the fleets' hosts, in group `bench`.
fn bench_inventory(fleets: &[SshFleet]) -> String {
    let mut toml = String::new();
    let mut n = 0;
    for fleet in fleets {
        for address in &fleet.addresses {
            n += 1;
            toml.push_str(&format!(
                "[[hosts]]\nname = \"b-{n}\"\naddress = \"{address}\"\nport = {}\nuser = \"{}\"\ngroups = [\"bench\"]\n\n",
                fleet.port, fleet.user
            ));
        }
    }
    toml
}

/// An inventory file of `count` hosts (documentation addresses, never
/// contacted) named `idle-0`, `idle-1`..., in group `idle`.
fn idle_inventory(count: usize) -> String {
    let mut toml = String::new();
    for i in 0..count {
        toml.push_str(&format!(
            "[[hosts]]\nname = \"idle-{i}\"\naddress = \"198.51.{}.{}\"\ndescription = \"an inventory host no run uses\"\ngroups = [\"idle\"]\n\n",
            i / 250,
            i % 250 + 1
        ));
    }
    toml
}

/// Imports an inventory file with the CLI.
fn import(drover: &common::Drover, name: &str, toml: &str) {
    let file = drover.dir.path().join(name);
    std::fs::write(&file, toml).expect("inventory");
    drover.ok(&["import", &file.to_string_lossy()]);
}

#[test]
fn autocomplete_reads_only_the_choices_whatever_the_inventory() {
    let drover = common::Drover::new();
    import(&drover, "idle.toml", &idle_inventory(10_000));
    import(
        &drover,
        "more.toml",
        "[[hosts]]\nname = \"a-idle-9999\"\naddress = \"192.0.2.1\"\n",
    );
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .expect("runtime");
    runtime.block_on(async {
        let store = Store::open(&drover.db()).await.expect("store");
        // The first query prepares and caches its statement.
        store
            .names_matching(EntityKind::Host, "idle-1", 25)
            .await
            .expect("names");
        let before = allocated();
        let names = store
            .names_matching(EntityKind::Host, "idle-1", 25)
            .await
            .expect("names");
        let used = allocated() - before;
        assert_eq!(names.len(), 25, "{names:?}");
        assert_eq!(names[0], "idle-1", "exact prefix first: {names:?}");
        assert!(names.iter().all(|n| n.starts_with("idle-1")), "{names:?}");
        // 10,000 names would be at least 10,000 Strings (a 240 KB Vec of
        // them alone); 25 are a few KB.
        assert!(
            used < 64 * 1024,
            "an autocomplete allocated {used} bytes: it read more than its 25 choices"
        );
        // Names that only contain the text come after those starting with
        // it, whatever the alphabet says; case does not matter.
        let names = store
            .names_matching(EntityKind::Host, "IDLE-9999", 25)
            .await
            .expect("names");
        assert_eq!(names, ["idle-9999", "a-idle-9999"]);
        let names = store
            .names_matching(EntityKind::Host, "dle-999", 25)
            .await
            .expect("names");
        assert_eq!(names[..3], ["a-idle-9999", "idle-999", "idle-9990"]);
        assert_eq!(names.len(), 12, "{names:?}");
    });
}

struct Bot(Child);

impl Drop for Bot {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

/// Runs `bench-group` on `bench` from Discord and waits until the bot has
/// posted its logs; returns the largest RSS seen meanwhile (KiB).
async fn one_run(sim: &DiscordSim, bot: u32, run: usize, limit: Duration) -> u64 {
    let operator = SimUser::member(1001, GUILD, &[OPERATOR_ROLE]);
    let command = sim
        .slash_command(
            &operator,
            CHANNEL,
            "task",
            &["run"],
            vec![
                ("task_or_script_group", json!("bench-group")),
                ("server_group", json!("bench")),
            ],
        )
        .await;
    sim.wait_response(&command, limit).await.expect("answered");
    let logs = format!("run-{run}-");
    let deadline = Instant::now() + limit;
    let mut peak = 0;
    loop {
        peak = peak.max(sample(bot).rss_kib);
        let posted = sim.messages(CHANNEL).into_iter().find(|m| {
            m.attachments
                .iter()
                .any(|(name, _)| name.starts_with(&logs))
        });
        if let Some(message) = posted {
            let ended = format!("Logs of run {run} (succeeded)");
            assert!(message.content.starts_with(&ended), "{}", message.content);
            return peak;
        }
        assert!(
            Instant::now() < deadline,
            "run {run} did not end in {limit:?}"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

/// Waits until the bot says it let run `run` go (and released the memory
/// it freed): the moment "after the run" is sampled.
async fn released(bot_log: &std::path::Path, run: usize, limit: Duration) {
    let field = format!("run_id={run}");
    let deadline = Instant::now() + limit;
    loop {
        let log = std::fs::read_to_string(bot_log).unwrap_or_default();
        let done = log.lines().any(|line| {
            line.contains("freed memory released")
                && line.split_whitespace().any(|word| word == field)
        });
        if done {
            return;
        }
        assert!(
            Instant::now() < deadline,
            "the bot did not let run {run} go in {limit:?}:\n{log}"
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

/// Types `count` host names into `/host show`'s autocomplete, one after
/// the other, each answered with its (at most 25) choices.
async fn type_host_names(sim: &DiscordSim, count: usize, limit: Duration) {
    let operator = SimUser::member(1001, GUILD, &[OPERATOR_ROLE]);
    for i in 0..count {
        let typed = sim
            .autocomplete(
                &operator,
                CHANNEL,
                "host",
                &["show"],
                vec![("name", json!(format!("idle-{i}")))],
                "name",
            )
            .await;
        let answer = sim.wait_response(&typed, limit).await.expect("answered");
        let choices = answer["data"]["choices"].as_array().map_or(0, Vec::len);
        assert!((1..=25).contains(&choices), "{answer}");
    }
}

fn mib(kib: u64) -> String {
    format!("{:.1}", kib as f64 / 1024.0)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[ignore = "benchmark: run with --ignored --nocapture (minutes)"]
async fn bot_memory_stays_flat_over_sequential_runs() {
    let runs = env_number("BENCH_RUNS", 50);
    let hosts = env_number("BENCH_HOSTS", 200);
    let extra = env_number("BENCH_INVENTORY", 10_000);
    let fleets = fleets(hosts);
    let config = format!(
        "[discord]\nguilds = [{GUILD}]\nedit_interval = \"1s\"\nconfirm_above = 100000\n\
         [discord.permissions]\noperator = [\"role:{OPERATOR_ROLE}\"]\n"
    );
    let mut drover = common::Drover::with_config(&config);
    drover.identity = Some(fleets[0].client_key.clone());
    import(&drover, "bench.toml", &bench_inventory(&fleets));
    drover.script(
        "lines",
        "i=0\nwhile [ $i -lt 200 ]; do echo \"line $i of $DROVER_HOST: some output\"; i=$((i+1)); done\n",
        &[],
    );
    drover.ok(&["scriptgroup", "create", "bench-group", "lines"]);

    let sim = DiscordSim::start().await;
    let bot_log = drover.dir.path().join("bot.log");
    let child = drover
        .command()
        .arg("bot")
        .env("DISCORD_TOKEN", sim.token())
        .env("DROVER_DISCORD_API", &sim.base_url)
        .env("DROVER_LOG", "warn,drover::discord::progress=debug")
        .env("NO_COLOR", "1")
        .stdout(Stdio::null())
        .stderr(std::fs::File::create(&bot_log).expect("bot log"))
        .spawn()
        .expect("start drover bot");
    let bot = Bot(child);
    let pid = bot.0.id();
    let limit = Duration::from_secs(120);
    sim.wait_ready(limit).await.expect("the bot connects");
    sim.wait_until(limit, "commands registered", |s| {
        !s.guild_commands(GUILD).is_empty()
    })
    .await
    .expect("registered");
    let start = sample(pid);
    println!(
        "bot started: RSS {} MiB, {} open files, {} threads",
        mib(start.rss_kib),
        start.fds,
        start.threads
    );
    import(&drover, "idle.toml", &idle_inventory(extra));
    type_host_names(&sim, 50, limit).await;
    let inventoried = sample(pid);
    println!(
        "{extra} more hosts imported, 50 host names typed into autocomplete: RSS {} MiB \
         (peak so far {} MiB); {runs} runs of {hosts} hosts follow",
        mib(inventoried.rss_kib),
        mib(inventoried.hwm_kib)
    );
    println!("run  seconds  peak-RSS-MiB  RSS-after-MiB  (heap  files)  HWM-MiB  fds  threads");
    let mut after = Vec::new();
    let mut peaks = Vec::new();
    for run in 1..=runs {
        let began = Instant::now();
        let peak = one_run(&sim, pid, run, limit).await;
        released(&bot_log, run, limit).await;
        let now = sample(pid);
        println!(
            "{run:>3}  {:>7.1}  {:>12}  {:>13}  {:>5} {:>6}   {:>7}  {:>3}  {:>7}",
            began.elapsed().as_secs_f64(),
            mib(peak),
            mib(now.rss_kib),
            mib(now.anon_kib),
            mib(now.file_kib),
            mib(now.hwm_kib),
            now.fds,
            now.threads
        );
        after.push(now);
        peaks.push(peak);
    }
    let series: Vec<String> = after.iter().map(|s| mib(s.rss_kib)).collect();
    println!("RSS after each run (MiB): {}", series.join(" "));
    let heap: Vec<String> = after.iter().map(|s| mib(s.anon_kib)).collect();
    println!("of which heap and private (MiB): {}", heap.join(" "));
    let peak_series: Vec<String> = peaks.iter().map(|k| mib(*k)).collect();
    println!("peak RSS during each run (MiB): {}", peak_series.join(" "));
    if let (Some(first), Some(last)) = (after.first(), after.last()) {
        println!(
            "summary: RSS {} MiB started, {} MiB with {extra} more hosts, {} MiB after run 1, \
             {} MiB after run {runs}; peak during a run {}-{} MiB",
            mib(start.rss_kib),
            mib(inventoried.rss_kib),
            mib(first.rss_kib),
            mib(last.rss_kib),
            mib(peaks.iter().copied().min().unwrap_or(0)),
            mib(peaks.iter().copied().max().unwrap_or(0)),
        );
    }
    assert!(sim.violations().is_empty(), "{:#?}", sim.violations());
    // Flat: once warmed up (the first fifth of the runs), neither the RSS
    // after a run nor the peak during one grows with the runs done.
    let warm = (runs / 5).max(1);
    let settled = |values: &[u64]| values[..warm].iter().copied().max().unwrap_or(0);
    let rss: Vec<u64> = after.iter().map(|s| s.rss_kib).collect();
    let tolerance = 4 * 1024; // KiB
    for (name, values) in [("RSS after a run", &rss), ("peak RSS of a run", &peaks)] {
        let base = settled(values);
        let worst = values[warm..].iter().copied().max().unwrap_or(0);
        assert!(
            worst <= base + tolerance,
            "{name} grew: {} MiB in the first {warm} runs, {} MiB later",
            mib(base),
            mib(worst)
        );
    }
    let fds: Vec<usize> = after.iter().map(|s| s.fds).collect();
    assert!(
        fds[warm..]
            .iter()
            .all(|f| *f <= fds[..warm].iter().copied().max().unwrap_or(0)),
        "open files grew: {fds:?}"
    );
    drop(fleets);
}
