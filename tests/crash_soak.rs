//! Crash soak: 20 SIGKILLs of the controller at random moments (seeded;
//! `SOAK_SEED` replays a run of the soak) of 5-host, 3-script runs with
//! streaming output: during the launch, mid-step, between steps, around the
//! acknowledgement of a host's end, and during a cancel. After each kill the
//! next drover process takes the run over (`run resume`). Then every step
//! log is checked line by line against what the scripts printed (each also
//! writes its lines to a file of its own on the host), and nothing may be
//! left: no run running, no process of the runs on the hosts, no run file in
//! the hosts' `~/.drover/runs`.

mod common;

use std::collections::BTreeMap;
use std::path::PathBuf;
use std::process::{Child, Stdio};
use std::time::{Duration, Instant};

use rand::{Rng, SeedableRng};

const HOSTS: u8 = 5;
const STEPS: u32 = 3;
const LINES: u32 = 30;
const KILLS: usize = 20;

/// When in a run a controller is killed.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
enum Phase {
    /// While it connects and launches the runners.
    Launch,
    /// While a step prints.
    MidStep,
    /// After a step ended, before the next one printed.
    BetweenSteps,
    /// Around storing a host's end and telling the host (some controllers
    /// wait between the two).
    AroundAck,
    /// While it cancels the run on its hosts.
    DuringCancel,
}

/// The kills, in a seeded order: each phase at least three times.
fn kill_plan(rng: &mut rand::rngs::StdRng) -> Vec<Phase> {
    use rand::seq::SliceRandom;
    let mut plan = vec![
        Phase::Launch,
        Phase::Launch,
        Phase::Launch,
        Phase::MidStep,
        Phase::MidStep,
        Phase::MidStep,
        Phase::MidStep,
        Phase::MidStep,
        Phase::BetweenSteps,
        Phase::BetweenSteps,
        Phase::BetweenSteps,
        Phase::BetweenSteps,
        Phase::AroundAck,
        Phase::AroundAck,
        Phase::AroundAck,
        Phase::AroundAck,
        Phase::DuringCancel,
        Phase::DuringCancel,
        Phase::DuringCancel,
        Phase::MidStep,
    ];
    plan.shuffle(rng);
    assert_eq!(plan.len(), KILLS);
    plan
}

/// A script printing numbered lines, each first written to a file of its
/// own on the host (`$SOAK_DIR/RUN-HOST-STEP`): what the log must hold.
/// Steps after the first begin with a pause, so that "between steps" is a
/// moment a kill can hit.
fn script(step: u32) -> String {
    let pause = if step > 1 { "sleep 0.3\n" } else { "" };
    format!(
        "#!/bin/sh\n{pause}f=\"$SOAK_DIR/$DROVER_RUN_ID-$DROVER_HOST-{step}\"\ni=1\nwhile [ $i -le {LINES} ]; do\n  echo \"step {step} $DROVER_HOST line $i\" >> \"$f\"\n  echo \"step {step} $DROVER_HOST line $i\"\n  sleep 0.03\n  i=$((i+1))\ndone\n"
    )
}

struct Soak {
    drover: common::Drover,
    rng: rand::rngs::StdRng,
    hosts: Vec<String>,
    /// Where the scripts write their lines (`SOAK_DIR`).
    side: PathBuf,
    /// Marks the soak's hosts in file and path names (`-TAG-N.`).
    tag: String,
    kills: BTreeMap<Phase, u32>,
    /// Kills whose moment never came (the run ended first).
    missed: BTreeMap<Phase, u32>,
    runs: Vec<i64>,
    cancelled: Vec<i64>,
    /// `run cancel` processes still waiting for their run to end.
    cancels: Vec<Child>,
}

impl Soak {
    fn status(&self, run: i64) -> serde_json::Value {
        let out = self
            .drover
            .run(&["--json", "run", "status", &run.to_string()]);
        serde_json::from_slice(&out.stdout).unwrap_or(serde_json::Value::Null)
    }

    fn running(&self, run: i64) -> bool {
        self.status(run)["state"] == "running"
    }

    /// Over: succeeded, failed or cancelled (not a run being created).
    fn ended(&self, run: i64) -> bool {
        let status = self.status(run);
        status["state"].is_string() && status["state"] != "running"
    }

    /// A controller: `task run` for a new run, `run resume` for a takeover.
    /// Some wait between storing a host's end and telling the host.
    fn controller(&mut self, args: &[&str]) -> Child {
        let ack_delay = if self.rng.gen_bool(0.5) { "400" } else { "0" };
        let log = std::fs::OpenOptions::new()
            .create(true)
            .append(true)
            .open(self.controllers_log())
            .expect("controllers' log");
        self.drover
            .command()
            .env("DROVER_TEST_ACK_DELAY_MS", ack_delay)
            .env("DROVER_LOG", "drover=info")
            .args(args)
            .arg("--quiet")
            .stdout(Stdio::null())
            .stderr(log)
            .spawn()
            .expect("spawn drover")
    }

    /// What the controllers said (their diagnostics), for a failure.
    fn controllers_log(&self) -> PathBuf {
        self.drover.dir.path().join("controllers.log")
    }

    fn start_run(&mut self) -> (i64, Child) {
        let run = self.runs.last().map_or(1, |r| r + 1);
        let env = format!("SOAK_DIR={}", self.side.display());
        let child = self.controller(&["task", "run", "soak-steps", "soak", "--env", &env]);
        self.runs.push(run);
        (run, child)
    }

    fn take_over(&mut self, run: i64) -> Child {
        self.controller(&["run", "resume", &run.to_string()])
    }

    /// Polls `ready` (up to 30 s) while the run is running; false when the
    /// run ended first.
    fn until(&self, run: i64, mut ready: impl FnMut(&Soak) -> bool) -> bool {
        let deadline = Instant::now() + Duration::from_secs(30);
        while Instant::now() < deadline {
            if ready(self) {
                return true;
            }
            if self.ended(run) {
                return ready(self);
            }
            std::thread::sleep(Duration::from_millis(10));
        }
        panic!("run {run}: the moment never came within 30 s");
    }

    /// Lines the scripts of `run` printed so far for `host` and `step`.
    fn printed(&self, run: i64, host: &str, step: u32) -> Vec<String> {
        std::fs::read_to_string(self.side.join(format!("{run}-{host}-{step}")))
            .map(|s| s.lines().map(str::to_string).collect())
            .unwrap_or_default()
    }

    /// True when some host is inside a step, or between two steps.
    fn some_host(&self, run: i64, at: impl Fn(&[usize]) -> bool) -> bool {
        self.hosts.iter().any(|host| {
            let counts: Vec<usize> = (1..=STEPS)
                .map(|step| self.printed(run, host, step).len())
                .collect();
            at(&counts)
        })
    }

    fn cancel_requested(&self, run: i64) -> bool {
        let (runtime, mut db) = self.drover.open_database();
        runtime.block_on(async {
            sqlx::query_scalar::<_, i64>("SELECT cancel_requested FROM runs WHERE id = ?")
                .bind(run)
                .fetch_one(&mut db)
                .await
                .unwrap_or(0)
                != 0
        })
    }

    /// Waits for the moment of `phase` in `run`, then a random while around
    /// it; false when the run ended first.
    fn reach(&mut self, run: i64, phase: Phase) -> bool {
        let full = LINES as usize;
        let mid_step = |s: &Soak| s.some_host(run, |n| n.iter().any(|&n| n >= 3 && n + 3 <= full));
        let (reached, jitter) = match phase {
            Phase::Launch => (self.until(run, |s| s.status(run)["id"] == run), 300),
            Phase::MidStep => (self.until(run, mid_step), 100),
            Phase::BetweenSteps => (
                self.until(run, |s| {
                    s.some_host(run, |n| n.windows(2).any(|w| w[0] == full && w[1] == 0))
                }),
                100,
            ),
            Phase::AroundAck => (
                self.until(run, |s| {
                    s.status(run)["hosts"]
                        .as_array()
                        .is_some_and(|hosts| hosts.iter().any(|h| h["state"] == "succeeded"))
                }),
                300,
            ),
            Phase::DuringCancel => {
                if !self.until(run, mid_step) {
                    return false;
                }
                let cancel = self
                    .drover
                    .command()
                    .args(["run", "cancel", &run.to_string()])
                    .stdout(Stdio::null())
                    .stderr(Stdio::null())
                    .spawn()
                    .expect("run cancel");
                self.cancels.push(cancel);
                self.cancelled.push(run);
                (self.until(run, |s| s.cancel_requested(run)), 1500)
            }
        };
        if reached {
            let ms = self.rng.gen_range(0..jitter);
            std::thread::sleep(Duration::from_millis(ms));
        }
        reached
    }

    /// Lets the run's controller drive it to its end. A `run cancel` may
    /// have taken the run over instead (then the controller is refused); a
    /// run left without a live controller is taken over again.
    fn finish(&mut self, run: i64, mut controller: Child) {
        let deadline = Instant::now() + Duration::from_secs(120);
        while Instant::now() < deadline {
            if controller.try_wait().expect("try_wait").is_some() {
                if !self.running(run) {
                    return;
                }
                std::thread::sleep(Duration::from_millis(500));
                controller = self.take_over(run);
            }
            std::thread::sleep(Duration::from_millis(50));
        }
        let _ = controller.kill();
        let _ = controller.wait();
        panic!(
            "run {run} is still running after 120 s: {}",
            std::fs::read_to_string(self.controllers_log()).unwrap_or_default()
        );
    }
}

/// Processes holding a file of the soak's runs open (the runners, their
/// steps, followers), found through `/proc/*/fd`.
fn processes_of_runs(tag: &str) -> Vec<String> {
    let mut found = Vec::new();
    let Ok(procs) = std::fs::read_dir("/proc") else {
        return found;
    };
    for entry in procs.filter_map(|e| e.ok()) {
        let name = entry.file_name().to_string_lossy().into_owned();
        if !name.chars().all(|c| c.is_ascii_digit()) {
            continue;
        }
        let Ok(fds) = std::fs::read_dir(entry.path().join("fd")) else {
            continue;
        };
        for fd in fds.filter_map(|e| e.ok()) {
            let target = std::fs::read_link(fd.path()).unwrap_or_default();
            let target = target.to_string_lossy();
            if target.contains(".drover/runs/") && target.contains(tag) {
                let cmdline = std::fs::read(entry.path().join("cmdline")).unwrap_or_default();
                let cmdline = String::from_utf8_lossy(&cmdline).replace('\0', " ");
                found.push(format!("{name} {cmdline}-> {target}"));
                break;
            }
        }
    }
    found
}

/// The run files of the soak's hosts left in the login's home.
fn run_files(tag: &str) -> Vec<String> {
    std::fs::read_dir(common::login_home().join(".drover/runs"))
        .map(|dir| {
            dir.filter_map(|e| e.ok())
                .map(|e| e.file_name().to_string_lossy().into_owned())
                .filter(|n| n.contains(tag))
                .collect()
        })
        .unwrap_or_default()
}

/// Waits (up to 15 s) until `left` finds nothing; what it found last.
fn settled(mut left: impl FnMut() -> Vec<String>) -> Vec<String> {
    let deadline = Instant::now() + Duration::from_secs(15);
    loop {
        let found = left();
        if found.is_empty() || Instant::now() > deadline {
            return found;
        }
        std::thread::sleep(Duration::from_millis(100));
    }
}

#[test]
fn controllers_killed_at_random_moments_lose_and_leave_nothing() {
    let seed: u64 = std::env::var("SOAK_SEED")
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or_else(|| {
            std::time::SystemTime::now()
                .duration_since(std::time::UNIX_EPOCH)
                .map(|d| d.as_secs())
                .unwrap_or(0)
        });
    eprintln!("crash soak: seed {seed} (SOAK_SEED={seed} replays it)");
    let started = Instant::now();
    let fleet = common::SshFleet::start(91, HOSTS);
    let mut drover = common::Drover::new();
    let prefix = format!("k{}x", std::process::id() % 100_000);
    let hosts = drover.add_fleet(&fleet, &prefix, "soak");
    let mut steps = Vec::new();
    for step in 1..=STEPS {
        let name = format!("soak-{step}");
        drover.script(&name, &script(step), &[]);
        steps.push(name);
    }
    let mut group = vec!["scriptgroup", "create", "soak-steps"];
    group.extend(steps.iter().map(String::as_str));
    drover.ok(&group);
    let side = tempfile::tempdir().expect("side dir");
    let mut rng = rand::rngs::StdRng::seed_from_u64(seed);
    let plan = kill_plan(&mut rng);
    let mut soak = Soak {
        drover,
        rng,
        hosts,
        side: side.path().to_path_buf(),
        tag: format!("-{prefix}-"),
        kills: BTreeMap::new(),
        missed: BTreeMap::new(),
        runs: Vec::new(),
        cancelled: Vec::new(),
        cancels: Vec::new(),
    };
    let mut current: Option<(i64, Child)> = None;
    for phase in plan {
        for attempt in 0.. {
            assert!(attempt < 5, "{phase:?}: never reached in 5 runs");
            let usable = current.as_ref().is_some_and(|(run, _)| {
                phase != Phase::Launch && !soak.cancelled.contains(run) && soak.running(*run)
            });
            if !usable {
                if let Some((run, controller)) = current.take() {
                    soak.finish(run, controller);
                }
                current = Some(soak.start_run());
            }
            let Some((run, mut controller)) = current.take() else {
                unreachable!("a run was started");
            };
            if soak.reach(run, phase) {
                controller.kill().expect("SIGKILL the controller");
                let _ = controller.wait();
                *soak.kills.entry(phase).or_default() += 1;
                current = Some((run, soak.take_over(run)));
                break;
            }
            *soak.missed.entry(phase).or_default() += 1;
            current = Some((run, controller));
        }
    }
    if let Some((run, controller)) = current.take() {
        soak.finish(run, controller);
    }
    for mut cancel in std::mem::take(&mut soak.cancels) {
        common::exited(&mut cancel, Duration::from_secs(90));
    }

    // Every log, line by line, against what the scripts printed.
    let mut lines_checked = 0;
    let mut problems = Vec::new();
    let mut ended = BTreeMap::new();
    for &run in &soak.runs {
        let status = soak.status(run);
        *ended
            .entry(status["state"].as_str().unwrap_or("?").to_string())
            .or_insert(0) += 1;
        for host in &soak.hosts {
            let host_state = common::host_doc(&status, host)["state"].clone();
            for step in 1..=STEPS {
                let printed = soak.printed(run, host, step);
                let log =
                    String::from_utf8_lossy(&soak.drover.step_log(run, host, step)).into_owned();
                let logged: Vec<&str> = log.lines().collect();
                lines_checked += printed.len();
                let complete = log.is_empty() || log.ends_with('\n');
                let exact = logged == printed;
                // A step stopped by the cancel between writing a line to its
                // file and printing it.
                let cut = host_state == "cancelled"
                    && logged.len() + 1 == printed.len()
                    && logged == printed[..logged.len()];
                if !complete || !(exact || cut) {
                    problems.push(format!(
                        "run {run} {host} step {step} ({host_state}): logged {} lines, printed {}",
                        logged.len(),
                        printed.len()
                    ));
                }
                if host_state == "succeeded" && printed.len() != LINES as usize {
                    problems.push(format!(
                        "run {run} {host} step {step}: succeeded with {} lines printed",
                        printed.len()
                    ));
                }
            }
        }
    }
    let running: Vec<i64> = soak
        .runs
        .iter()
        .copied()
        .filter(|run| soak.running(*run))
        .collect();
    let processes = settled(|| processes_of_runs(&soak.tag));
    let files = settled(|| run_files(&soak.tag));
    eprintln!(
        "crash soak: seed {seed}; {} kills {:?}; moments missed (the run ended first) {:?}; \
         {} runs {:?}; {lines_checked} lines checked in {} logs; {} problems; \
         left: {} runs running, {} processes, {} run files; {:.1} s",
        soak.kills.values().sum::<u32>(),
        soak.kills,
        soak.missed,
        soak.runs.len(),
        ended,
        soak.runs.len() * soak.hosts.len() * STEPS as usize,
        problems.len(),
        running.len(),
        processes.len(),
        files.len(),
        started.elapsed().as_secs_f64()
    );
    assert_eq!(soak.kills.values().sum::<u32>() as usize, KILLS);
    assert!(problems.is_empty(), "seed {seed}: {problems:#?}");
    assert!(
        running.is_empty(),
        "seed {seed}: runs left running {running:?}"
    );
    assert!(processes.is_empty(), "seed {seed}: {processes:#?}");
    assert!(files.is_empty(), "seed {seed}: {files:#?}");
}
