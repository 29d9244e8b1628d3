//! Crash safety and faults of the run engine, played as a failing machine
//! would: a host whose disk fills up, a follower that never ends, a
//! controller that cannot write its logs or open more files, a database
//! locked or refusing writes, a slow controller racing a takeover, and a
//! controller killed between storing a host's end and acknowledging it.
//! Real sshd hosts on loopback, the real binary, real SQLite files.

mod common;

use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use common::{exited, host_doc, SshFleet};

/// Starts drover with `args` in the background, output discarded.
fn controller(command: &mut Command, args: &[&str]) -> Child {
    command
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

/// Asserts that a step log holds exactly `expected`, showing where it
/// differs rather than both.
fn assert_log(log: &[u8], expected: &str, what: &str) {
    let log = String::from_utf8_lossy(log);
    if log == expected {
        return;
    }
    let same = log
        .lines()
        .zip(expected.lines())
        .take_while(|(a, b)| a == b)
        .count();
    panic!(
        "{what}: {} lines ({} bytes), expected {} lines ({} bytes); from line {}: {:?} instead of {:?}",
        log.lines().count(),
        log.len(),
        expected.lines().count(),
        expected.len(),
        same + 1,
        log.lines().nth(same),
        expected.lines().nth(same)
    );
}

/// Runs `statements` on the drover's database, each to completion.
fn sql(drover: &common::Drover, statements: &[&str]) {
    let (runtime, mut db) = drover.open_database();
    runtime.block_on(async {
        for statement in statements {
            sqlx::raw_sql(statement)
                .execute(&mut db)
                .await
                .unwrap_or_else(|e| panic!("{statement}: {e}"));
        }
    });
}

/// One value of a query on the drover's database.
fn sql_value(drover: &common::Drover, query: &str) -> Option<String> {
    let (runtime, mut db) = drover.open_database();
    runtime.block_on(async {
        sqlx::query_scalar::<_, Option<String>>(query)
            .fetch_one(&mut db)
            .await
            .unwrap_or_else(|e| panic!("{query}: {e}"))
    })
}

/// Runs `command` (a program and its arguments); panics if it fails.
fn run(command: &[&str]) {
    let status = Command::new(command[0])
        .args(&command[1..])
        .status()
        .unwrap_or_else(|e| panic!("{command:?}: {e}"));
    assert!(status.success(), "{command:?}: {status}");
}

/// A tmpfs of `size` mounted on a directory made for it; unmounted (and the
/// directory removed) on drop.
struct SmallDisk {
    path: PathBuf,
}

impl SmallDisk {
    fn mount(path: PathBuf, size: &str, options: &str) -> SmallDisk {
        std::fs::create_dir_all(&path).expect("mount point");
        let disk = SmallDisk { path };
        let options = format!("size={size}{options}");
        run(&[
            "mount",
            "-t",
            "tmpfs",
            "-o",
            &options,
            "tmpfs",
            &disk.path.to_string_lossy(),
        ]);
        disk
    }
}

impl Drop for SmallDisk {
    fn drop(&mut self) {
        let _ = Command::new("umount")
            .arg("-l")
            .arg(&self.path)
            .stderr(Stdio::null())
            .status();
        let _ = std::fs::remove_dir(&self.path);
    }
}

/// A login created for one test whose home is a small tmpfs that its runs
/// can fill up; removed on drop.
struct FullHomeUser {
    name: String,
    home: Option<SmallDisk>,
}

impl FullHomeUser {
    fn new(size: &str) -> FullHomeUser {
        let name = format!("drvfull{}", std::process::id());
        let home = PathBuf::from(format!("/home/{name}"));
        let mut user = FullHomeUser { name, home: None };
        user.remove();
        run(&[
            "useradd",
            "-M",
            "-d",
            &home.to_string_lossy(),
            "-s",
            "/bin/sh",
            &user.name,
        ]);
        // '*': no password can be typed, yet key logins work.
        run(&["usermod", "-p", "*", &user.name]);
        let id = |flag: &str| {
            let out = Command::new("id")
                .args([flag, &user.name])
                .output()
                .expect("id");
            String::from_utf8_lossy(&out.stdout).trim().to_string()
        };
        let options = format!(",mode=0700,uid={},gid={}", id("-u"), id("-g"));
        user.home = Some(SmallDisk::mount(home, size, &options));
        user
    }

    fn home(&self) -> &Path {
        &self.home.as_ref().expect("mounted").path
    }

    /// The run files left in the login's home for `host`.
    fn run_files(&self, host: &str) -> Vec<String> {
        let suffix = format!("-{host}.");
        std::fs::read_dir(self.home().join(".drover/runs"))
            .map(|dir| {
                dir.filter_map(|e| e.ok())
                    .map(|e| e.file_name().to_string_lossy().into_owned())
                    .filter(|n| n.contains(&suffix))
                    .collect()
            })
            .unwrap_or_default()
    }

    fn remove(&mut self) {
        // Its processes first (by pid), so that the home can be unmounted.
        if let Ok(out) = Command::new("ps")
            .args(["-o", "pid=", "-u", &self.name])
            .output()
        {
            for pid in String::from_utf8_lossy(&out.stdout).split_whitespace() {
                let _ = Command::new("kill").args(["-KILL", pid]).status();
            }
        }
        self.home = None;
        let _ = Command::new("userdel")
            .arg(&self.name)
            .stderr(Stdio::null())
            .status();
    }
}

impl Drop for FullHomeUser {
    fn drop(&mut self) {
        self.remove();
    }
}

#[test]
fn a_host_whose_disk_fills_up_mid_step_ends_lost_and_keeps_its_files() {
    // The step's output fills the host's home: the runner's end and done
    // markers never reach the output file, yet its control file says done.
    let user = FullHomeUser::new("1m");
    let fleet = SshFleet::start_with(
        61,
        1,
        common::free_port(),
        &format!("LogLevel ERROR\nAllowUsers {}\n", user.name),
    );
    let mut drover = common::Drover::new();
    let hosts = drover.add_fleet(&fleet, "full", "full");
    let host = hosts[0].as_str();
    drover.ok(&["host", "edit", host, "--user", &user.name]);
    drover.script(
        "filler",
        "echo first-line\nyes 0123456789abcdef | head -c 4000000\necho never-written\n",
        &[],
    );
    drover.ok(&["scriptgroup", "create", "filler-group", "filler"]);
    let mut child = controller(
        &mut drover.command(),
        &["task", "run", "filler-group", "full", "--quiet"],
    );
    // Before: the follower waited for an acknowledgement that never came,
    // and the run never ended.
    let status = exited(&mut child, Duration::from_secs(60));
    assert_eq!(status.code(), Some(1), "the host did not succeed");
    let run = drover.json(&["run", "status", "1"]);
    let doc = host_doc(&run, host);
    assert_eq!(doc["state"], "lost", "{run:#}");
    let reason = doc["reason"].as_str().unwrap_or_default();
    assert!(
        reason.contains("without its end marker") && reason.contains("keeps the run's files"),
        "{reason}"
    );
    assert_eq!(run["state"], "failed", "{run:#}");
    let log = drover.step_log(1, host, 1);
    assert!(
        log.starts_with(b"first-line\n0123456789abcdef\n") && log.len() > 100_000,
        "what arrived is logged: {} bytes",
        log.len()
    );
    assert!(
        !user.run_files(host).is_empty(),
        "never acknowledged: the host keeps the run's files"
    );
}

#[test]
fn cancel_ends_a_host_whose_follower_never_ends() {
    let fleet = SshFleet::start(62, 1);
    let mut drover = common::Drover::new();
    let tag = format!("stuck{}", std::process::id());
    let hosts = drover.add_fleet(&fleet, &tag, "stuck");
    let host = hosts[0].as_str();
    let sleep = common::unique_sleep();
    drover.script("forever", &format!("echo started\n{sleep}\n"), &[]);
    drover.ok(&["scriptgroup", "create", "forever-group", "forever"]);
    let mut child = controller(
        &mut drover.command(),
        &["task", "run", "forever-group", "stuck", "--quiet"],
    );
    wait_for_state(&drover, "1", host, "running");
    // The host's side of the session stops answering: its `tail` is stopped.
    let out_file = format!("-{host}.out");
    let mut tails = Vec::new();
    common::eventually("the follower's tail runs", || {
        tails = common::processes_matching(&out_file)
            .iter()
            .filter(|line| line.contains("tail") && line.contains("--pid="))
            .filter_map(|line| line.split_whitespace().next().map(str::to_string))
            .collect();
        !tails.is_empty()
    });
    for pid in &tails {
        run(&["kill", "-STOP", pid]);
    }
    let started = Instant::now();
    let mut cancel = controller(&mut drover.command(), &["run", "cancel", "1"]);
    let status = exited(&mut cancel, Duration::from_secs(90));
    let took = started.elapsed();
    let status_of_run = exited(&mut child, Duration::from_secs(10));
    for pid in &tails {
        let _ = Command::new("kill").args(["-KILL", pid]).status();
    }
    assert!(status.success(), "run cancel: {status:?}");
    assert_eq!(status_of_run.code(), Some(1), "a cancelled run exits 1");
    assert!(
        took < Duration::from_secs(40),
        "cancel took {took:?}: a host job waited on a follower that never ends"
    );
    let run = drover.json(&["run", "status", "1"]);
    assert_eq!(run["state"], "cancelled", "{run:#}");
    assert_eq!(host_doc(&run, host)["state"], "cancelled", "{run:#}");
    common::assert_gone(&[&sleep], "cancel");
    assert_eq!(drover.step_log(1, host, 1), b"started\n");
    common::eventually("the run's files are removed", || {
        common::remote_run_files(1, host).is_empty()
    });
}

#[test]
fn a_step_log_that_cannot_be_written_keeps_the_output_on_the_host_for_resume() {
    let scratch = tempfile::tempdir().expect("tempdir");
    let logs = SmallDisk::mount(scratch.path().join("logs"), "256k", "");
    // Most of the log disk is taken: the step's output does not fit.
    let filler = logs.path.join("filler");
    std::fs::write(&filler, vec![b'x'; 200 * 1024]).expect("filler");
    let fleet = SshFleet::start(63, 1);
    let mut drover =
        common::Drover::with_config(&format!("[logs]\ndir = \"{}\"\n", logs.path.display()));
    let hosts = drover.add_fleet(&fleet, "spill", "spill");
    let host = hosts[0].as_str();
    drover.script(
        "chatty",
        "i=1; while [ $i -le 3000 ]; do echo \"line $i of the chatty step, padded to fifty\"; i=$((i+1)); done\n",
        &[],
    );
    drover.script("after", "echo after\n", &[]);
    drover.ok(&["scriptgroup", "create", "chatty-group", "chatty", "after"]);
    let out = drover.run(&["--json", "task", "run", "chatty-group", "spill"]);
    let run: serde_json::Value = serde_json::from_slice(&out.stdout).expect("json");
    let doc = host_doc(&run, host);
    assert_eq!(doc["state"], "lost", "{run:#}");
    let reason = doc["reason"].as_str().unwrap_or_default();
    assert!(
        reason.contains("cannot write the log of step 1")
            && reason.contains("No space left")
            && reason.contains("drover run resume 1"),
        "{reason}"
    );
    assert!(
        !common::remote_run_files(1, host).is_empty(),
        "the host was told to remove output that is not stored"
    );
    // Room again: `run resume` reattaches to the lost host and reads it all.
    std::fs::remove_file(&filler).expect("remove the filler");
    let resumed = drover.json(&["run", "resume", "1"]);
    assert_eq!(resumed["state"], "succeeded", "{resumed:#}");
    let expected: String = (1..=3000)
        .map(|i| format!("line {i} of the chatty step, padded to fifty\n"))
        .collect();
    let log = |step: u32| {
        std::fs::read(logs.path.join("1").join(host).join(format!("{step}.log")))
            .unwrap_or_default()
    };
    assert_log(&log(1), &expected, "step 1 after the resume");
    assert_eq!(log(2), b"after\n");
    assert_eq!(common::remote_run_files(1, host), Vec::<String>::new());
    let audit = drover.ok(&["audit"]);
    assert!(
        audit.contains("run.reopen") && audit.contains(host),
        "{audit}"
    );
}

/// Starts drover with its open-files limit set to `soft` and `hard`.
fn with_open_files(command: &mut Command, soft: u64, hard: u64) -> &mut Command {
    use std::os::unix::process::CommandExt;
    // SAFETY: setrlimit is async-signal-safe; nothing else runs between
    // fork and exec here.
    unsafe {
        command.pre_exec(move || {
            let limit = libc::rlimit {
                rlim_cur: soft,
                rlim_max: hard,
            };
            if libc::setrlimit(libc::RLIMIT_NOFILE, &limit) != 0 {
                return Err(std::io::Error::last_os_error());
            }
            Ok(())
        })
    }
}

#[test]
fn runs_stay_within_the_open_files_limit_and_raise_it_when_they_may() {
    let fleet = SshFleet::start(64, 16);
    let mut drover = common::Drover::new();
    let hosts = drover.add_fleet(&fleet, "nofile", "nofile");
    drover.script(
        "lines",
        "i=1; while [ $i -le 50 ]; do echo \"line $i\"; i=$((i+1)); done; sleep 1\n",
        &[],
    );
    drover.ok(&["scriptgroup", "create", "lines-group", "lines"]);
    let expected: String = (1..=50).map(|i| format!("line {i}\n")).collect();
    // Too few files for sixteen hosts at once: hard limit 40. Then a soft
    // limit of 40 under a high hard one, which drover raises.
    for (run_id, (soft, hard)) in [(1, (40, 40)), (2, (40, 4096))] {
        let out = with_open_files(&mut drover.command(), soft, hard)
            .args([
                "--json",
                "task",
                "run",
                "lines-group",
                "nofile",
                "--parallel",
                "64",
            ])
            .output()
            .expect("run drover");
        let run: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap_or_else(|e| {
            panic!(
                "limit {soft}/{hard}: not JSON ({e}): {}",
                String::from_utf8_lossy(&out.stderr)
            )
        });
        assert_eq!(run["state"], "succeeded", "limit {soft}/{hard}: {run:#}");
        for host in &hosts {
            assert_log(
                &drover.step_log(run_id, host, 1),
                &expected,
                &format!("limit {soft}/{hard}, {host}"),
            );
        }
        let stderr = String::from_utf8_lossy(&out.stderr);
        if hard == 40 {
            assert!(
                stderr.contains(
                    "--parallel 64 is above what the open-files limit of this process (40"
                ) && stderr.contains("running 1 host at a time"),
                "{stderr}"
            );
        } else {
            assert!(!stderr.contains("--parallel"), "raised: {stderr}");
        }
    }
}

/// Pages of `path` that the kernel holds dirty (written, not yet on disk),
/// read from `/proc/self/pagemap` and `/proc/kpageflags` (root) through a
/// mapping of the file.
fn dirty_pages(path: &Path) -> usize {
    use std::os::unix::fs::FileExt;
    use std::os::unix::io::AsRawFd;
    const KPF_DIRTY: u64 = 1 << 4;
    let file = std::fs::File::open(path).expect("open");
    let len = file.metadata().expect("metadata").len() as usize;
    if len == 0 {
        return 0;
    }
    // SAFETY: sysconf has no preconditions.
    let page = usize::try_from(unsafe { libc::sysconf(libc::_SC_PAGESIZE) }).expect("page size");
    // SAFETY: a fresh read-only shared mapping of an open file, unmapped below.
    let map = unsafe {
        libc::mmap(
            std::ptr::null_mut(),
            len,
            libc::PROT_READ,
            libc::MAP_SHARED,
            file.as_raw_fd(),
            0,
        )
    };
    assert_ne!(map, libc::MAP_FAILED, "mmap {}", path.display());
    let pagemap = std::fs::File::open("/proc/self/pagemap").expect("pagemap");
    let flags = std::fs::File::open("/proc/kpageflags").expect("kpageflags (root)");
    let mut dirty = 0;
    for offset in (0..len).step_by(page) {
        let address = map as usize + offset;
        // SAFETY: inside the mapping; the read maps the page in.
        unsafe { std::ptr::read_volatile(address as *const u8) };
        let mut entry = [0u8; 8];
        pagemap
            .read_exact_at(&mut entry, (address / page * 8) as u64)
            .expect("pagemap entry");
        let entry = u64::from_le_bytes(entry);
        assert!(entry >> 63 == 1, "page present");
        let frame = entry & ((1 << 55) - 1);
        assert_ne!(frame, 0, "page frame numbers need root");
        let mut page_flags = [0u8; 8];
        flags
            .read_exact_at(&mut page_flags, frame * 8)
            .expect("page flags");
        if u64::from_le_bytes(page_flags) & KPF_DIRTY != 0 {
            dirty += 1;
        }
    }
    // SAFETY: the mapping made above.
    unsafe { libc::munmap(map, len) };
    dirty
}

#[test]
fn step_logs_are_on_disk_before_the_host_removes_its_files() {
    // On a disk (the target directory), not a tmpfs, whose pages are
    // always dirty.
    let scratch = tempfile::tempdir_in(env!("CARGO_TARGET_TMPDIR")).expect("tempdir");
    let logs = scratch.path().join("logs");
    let fleet = SshFleet::start(80, 2);
    let mut drover =
        common::Drover::with_config(&format!("[logs]\ndir = \"{}\"\n", logs.display()));
    let hosts = drover.add_fleet(&fleet, "sync", "sync");
    drover.script("one", "seq 1 2000\n", &[]);
    drover.script("two", "seq 2001 4000\n", &[]);
    drover.ok(&["scriptgroup", "create", "sync-group", "one", "two"]);
    let run = drover.json(&["task", "run", "sync-group", "sync"]);
    assert_eq!(run["state"], "succeeded", "{run:#}");
    // The probe sees a file written and not synced as dirty.
    let control = scratch.path().join("control");
    std::fs::write(&control, vec![b'x'; 64 * 1024]).expect("control");
    assert!(
        dirty_pages(&control) > 0,
        "the probe cannot see dirty pages"
    );
    for host in &hosts {
        assert!(common::remote_run_files(1, host).is_empty(), "{host}");
        for step in [1, 2] {
            let path = logs.join("1").join(host).join(format!("{step}.log"));
            assert_eq!(dirty_pages(&path), 0, "{} is not on disk", path.display());
        }
    }
}

/// Holds the database's write lock (`BEGIN EXCLUSIVE` in a connection of its
/// own) until the returned sender is dropped or sent to.
fn lock_database(drover: &common::Drover) -> std::sync::mpsc::Sender<()> {
    let (release, released) = std::sync::mpsc::channel::<()>();
    let (locked, is_locked) = std::sync::mpsc::channel();
    let (runtime, mut db) = drover.open_database();
    std::thread::spawn(move || {
        runtime.block_on(async {
            sqlx::raw_sql("BEGIN EXCLUSIVE")
                .execute(&mut db)
                .await
                .expect("lock");
            let _ = locked.send(());
            let _ = released.recv();
            sqlx::raw_sql("COMMIT")
                .execute(&mut db)
                .await
                .expect("unlock");
        });
    });
    is_locked
        .recv_timeout(Duration::from_secs(30))
        .expect("the database is locked");
    release
}

#[test]
fn a_database_locked_beyond_its_busy_timeout_delays_the_run_and_loses_nothing() {
    let fleet = SshFleet::start(82, 2);
    let mut drover = common::Drover::new();
    let hosts = drover.add_fleet(&fleet, "locked", "locked");
    let gate = drover.dir.path().join("go");
    drover.script(
        "gated",
        &format!(
            "echo before\nwhile [ ! -e {} ]; do sleep 0.1; done\nseq 1 100\n",
            gate.display()
        ),
        &[],
    );
    drover.script("after", "echo after\n", &[]);
    drover.ok(&["scriptgroup", "create", "gated-group", "gated", "after"]);
    let mut child = drover
        .command()
        .args(["--json", "task", "run", "gated-group", "locked"])
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("spawn drover");
    for host in &hosts {
        wait_for_state(&drover, "1", host, "running");
    }
    // Another process holds the write lock longer than the busy timeout
    // (10 s) while the hosts finish: the records and the lease renewals of
    // the controller wait behind it.
    let release = lock_database(&drover);
    std::fs::write(&gate, "").expect("open the gate");
    std::thread::sleep(Duration::from_secs(13));
    drop(release);
    let status = exited(&mut child, Duration::from_secs(60));
    let mut stderr = String::new();
    use std::io::Read;
    let _ = child
        .stderr
        .take()
        .map(|mut e| e.read_to_string(&mut stderr));
    assert!(status.success(), "{status:?}: {stderr}");
    let run = drover.json(&["run", "status", "1"]);
    assert_eq!(run["state"], "succeeded", "{run:#}");
    let expected: String = std::iter::once("before\n".to_string())
        .chain((1..=100).map(|i| format!("{i}\n")))
        .collect();
    for host in &hosts {
        assert_log(&drover.step_log(1, host, 1), &expected, host);
        assert_eq!(drover.step_log(1, host, 2), b"after\n");
        assert!(common::remote_run_files(1, host).is_empty(), "{host}");
    }
}

#[test]
fn a_driver_that_fails_for_good_releases_its_lease_and_keeps_the_output() {
    let fleet = SshFleet::start(84, 1);
    let mut drover = common::Drover::new();
    let hosts = drover.add_fleet(&fleet, "refused", "refused");
    let host = hosts[0].as_str();
    drover.script("quick", "echo quick\n", &[]);
    drover.ok(&["scriptgroup", "create", "quick-group", "quick"]);
    // The database refuses the host's end, every time.
    sql(
        &drover,
        &[
            "CREATE TRIGGER refuse_success BEFORE UPDATE OF state ON run_hosts
           WHEN NEW.state = 'succeeded' BEGIN SELECT RAISE(ABORT, 'refused by the test'); END",
        ],
    );
    let out = drover.run(&["task", "run", "quick-group", "refused"]);
    assert_eq!(out.status.code(), Some(1), "{out:?}");
    assert!(
        String::from_utf8_lossy(&out.stderr).contains("refused by the test"),
        "{out:?}"
    );
    assert_eq!(
        sql_value(&drover, "SELECT lease_owner FROM runs WHERE id = 1"),
        None,
        "the lease is released"
    );
    assert_eq!(
        sql_value(&drover, "SELECT state FROM runs WHERE id = 1").as_deref(),
        Some("running")
    );
    assert!(
        !common::remote_run_files(1, host).is_empty(),
        "not stored, so not acknowledged"
    );
    sql(&drover, &["DROP TRIGGER refuse_success"]);
    let run = drover.json(&["run", "resume", "1"]);
    assert_eq!(run["state"], "succeeded", "{run:#}");
    assert_eq!(drover.step_log(1, host, 1), b"quick\n");
    assert!(common::remote_run_files(1, host).is_empty());
}

#[test]
fn a_takeover_reads_the_run_under_its_lease() {
    let fleet = SshFleet::start(86, 2);
    let mut drover = common::Drover::new();
    let hosts = drover.add_fleet(&fleet, "race", "race");
    let (quick, slow) = (hosts[0].as_str(), hosts[1].as_str());
    let flag = |name: &str| drover.dir.path().join(name);
    let (quick_go, slow_go) = (flag("quick-go"), flag("slow-go"));
    // Each host counts how often its script ran.
    let ran = flag("ran");
    std::fs::create_dir_all(&ran).expect("ran dir");
    drover.script(
        "waits",
        &format!(
            "echo x >> {}/$DROVER_HOST\nf={}; [ \"$DROVER_HOST\" = {slow} ] && f={}\necho begin\nwhile [ ! -e $f ]; do sleep 0.1; done\necho end\n",
            ran.display(),
            quick_go.display(),
            slow_go.display()
        ),
        &[],
    );
    drover.ok(&["scriptgroup", "create", "waits-group", "waits"]);
    let mut old = controller(
        &mut drover.command(),
        &["task", "run", "waits-group", "race", "--quiet"],
    );
    wait_for_state(&drover, "1", quick, "running");
    wait_for_state(&drover, "1", slow, "running");
    // A new driver looks at the run and is held before taking its lease...
    let gate = flag("gate");
    let mut new = controller(
        drover.command().env("DROVER_TEST_TAKEOVER_GATE", &gate),
        &["run", "resume", "1", "--quiet"],
    );
    let reached = PathBuf::from(format!("{}.reached", gate.display()));
    common::eventually("the new driver reaches its gate", || reached.exists());
    // ...while the old controller, alive, finishes a host and then dies.
    std::fs::write(&quick_go, "").expect("flag");
    wait_for_state(&drover, "1", quick, "succeeded");
    common::eventually("the host removed its files", || {
        common::remote_run_files(1, quick).is_empty()
    });
    old.kill().expect("SIGKILL the old controller");
    let _ = old.wait();
    std::fs::write(&gate, "").expect("open the gate");
    std::fs::write(&slow_go, "").expect("flag");
    let status = exited(&mut new, Duration::from_secs(60));
    assert!(status.success(), "{status:?}");
    let run = drover.json(&["run", "status", "1"]);
    assert_eq!(run["state"], "succeeded", "{run:#}");
    assert_eq!(host_doc(&run, quick)["state"], "succeeded", "{run:#}");
    for host in [quick, slow] {
        assert_eq!(drover.step_log(1, host, 1), b"begin\nend\n", "{host}");
        assert_eq!(
            std::fs::read_to_string(ran.join(host)).unwrap_or_default(),
            "x\n",
            "the script of {host} ran once"
        );
    }
}

#[test]
fn a_controller_killed_between_storing_a_hosts_end_and_the_acknowledgement_leaves_no_files() {
    let fleet = SshFleet::start(88, 2);
    let mut drover = common::Drover::new();
    let hosts = drover.add_fleet(&fleet, "ackless", "ackless");
    drover.script("quick", "echo quick\n", &[]);
    drover.ok(&["scriptgroup", "create", "quick-group", "quick"]);
    // This controller waits 60 s between storing a host's end and telling
    // the host so: it dies in between.
    let mut child = controller(
        drover.command().env("DROVER_TEST_ACK_DELAY_MS", "60000"),
        &["task", "run", "quick-group", "ackless", "--quiet"],
    );
    for host in &hosts {
        wait_for_state(&drover, "1", host, "succeeded");
    }
    child.kill().expect("SIGKILL the controller");
    let _ = child.wait();
    for host in &hosts {
        assert!(
            !common::remote_run_files(1, host).is_empty(),
            "{host} was acknowledged"
        );
    }
    let run = drover.json(&["run", "resume", "1"]);
    assert_eq!(run["state"], "succeeded", "{run:#}");
    for host in &hosts {
        assert_eq!(
            common::remote_run_files(1, host),
            Vec::<String>::new(),
            "the takeover removes what {host} was left with"
        );
        assert_eq!(drover.step_log(1, host, 1), b"quick\n");
    }
}
