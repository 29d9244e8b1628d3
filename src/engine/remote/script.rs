//! The sh a host runs: the bootstrap that starts the detached runner with
//! the scripts inside it, the follower that tails its output file from an
//! offset, cancel, and the removal of a run's files.

use std::fmt::Write as _;

/// One script of the run, as sent to a host.
#[derive(Debug, Clone)]
pub struct RemoteStep {
    pub name: String,
    pub body: String,
    pub timeout_secs: Option<u64>,
}

/// Everything needed to generate a host's bootstrap.
#[derive(Debug, Clone)]
pub struct LaunchSpec {
    pub run_id: i64,
    pub host_name: String,
    pub remote_dir: String,
    pub nonce: String,
    pub steps: Vec<RemoteStep>,
    pub env: crate::run_env::EnvVars,
    pub continue_on_error: bool,
    pub use_sudo: bool,
}

/// The directory holding every run's files on a host, relative to the
/// login's home; created once, on first use.
pub const RUNS_DIR: &str = ".drover/runs";

/// The path prefix of a run's files on a host (`PREFIX.out`, `PREFIX.ctl`,
/// ...), relative to the login's home. The nonce keeps runs of different
/// drover databases apart on hosts that share a home directory. One flat
/// directory means no `mkdir` (a process) per run.
pub fn remote_dir(run_id: i64, nonce: &str, host_name: &str) -> String {
    let tag: String = nonce.chars().take(8).collect();
    format!("{RUNS_DIR}/{run_id}-{tag}-{host_name}")
}

/// Quotes a value for sh (single quotes).
pub fn sh_quote(value: &str) -> String {
    format!("'{}'", value.replace('\'', r"'\''"))
}

/// `printf` (a shell builtin: no process per file) writing `body` to `file`.
fn write_file(out: &mut String, file: &str, body: &str) {
    let _ = writeln!(out, "printf '%s' {} > {file}", sh_quote(body));
}

/// How a step's script reaches its interpreter.
enum ScriptSource {
    /// A here-document on descriptor 3, read as `/dev/fd/3`: no file to
    /// create and remove (a cost that adds up on shared and NFS homes).
    HereDoc { delimiter: String },
    /// A file `PREFIX.sN`: for `sudo`, which closes descriptors above 2, and
    /// for a body that contains the here-document's delimiter line.
    File,
}

fn script_source(spec: &LaunchSpec, index: usize, body: &str) -> ScriptSource {
    let delimiter = format!("DROVER_{}_{}", spec.nonce, index + 1);
    if spec.use_sudo || body.lines().any(|line| line == delimiter) {
        ScriptSource::File
    } else {
        ScriptSource::HereDoc { delimiter }
    }
}

/// The runner's line for one step: its shebang's interpreter (so no chmod is
/// needed), or `/bin/sh`, given the script as a file or a here-document.
fn step_line(index: usize, step: &RemoteStep, source: &ScriptSource, on_fail: &str) -> String {
    let interpreter = crate::domain::interpreter(&step.body);
    let words: Vec<String> = interpreter.split_whitespace().map(sh_quote).collect();
    let head = format!(
        "step {} {} {} {}",
        index + 1,
        sh_quote(&step.name),
        step.timeout_secs.unwrap_or(0),
        words.join(" ")
    );
    match source {
        ScriptSource::File => format!("{head} \"$R.s{}\" || {on_fail}\n", index + 1),
        ScriptSource::HereDoc { delimiter } => {
            let newline = if step.body.ends_with('\n') { "" } else { "\n" };
            format!(
                "{head} /dev/fd/3 3<<'{delimiter}' || {on_fail}\n{}{newline}{delimiter}\n",
                step.body
            )
        }
    }
}

/// `export KEY='VALUE'` lines of the run's `--env` values.
fn user_exports(env: &crate::run_env::EnvVars) -> String {
    let mut s = String::new();
    for (key, value) in env.iter() {
        let _ = writeln!(s, "export {key}={}", sh_quote(value));
    }
    s
}

/// Sets `SETSID` to the absolute path of `setsid` in the runner's `PATH`,
/// with builtins only (no process), so that launching a step never looks a
/// program up after the run's environment is applied.
const RESOLVE_SETSID: &str = "SETSID=setsid; IFS=:; set -f; for d in $PATH; do case $d in /*) if [ -x \"$d/setsid\" ]; then SETSID=$d/setsid; break; fi;; esac; done; set +f; unset IFS\n";

/// `launch CMD...`: starts a step in the background in a new session (its
/// own process group), standard input from /dev/null.
///
/// The run's `--env` values are never assigned in the runner shell, so no
/// key can change the runner's own variables and functions (`N`, `KILL`,
/// `R`, `step`, ...): without sudo they are exported in the forked subshell
/// that then execs `setsid` (by the absolute path resolved before, held in
/// the positional parameters, which no assignment reaches) and the step.
/// Through sudo, which resets the environment, the run's variables
/// (`DROVER_*`, `--env`) reach the script on a pipe, sourced by the `sh`
/// that sudo starts right before it execs the script: sudo itself never
/// sees them. Either way: never on a command line, never on disk, and no
/// extra process.
fn launcher(spec: &LaunchSpec) -> String {
    if !spec.use_sudo {
        return format!(
            "launch() {{ {{ set -- \"$SETSID\" \"$@\"\n{}exec \"$@\" </dev/null; }} & }}\n",
            user_exports(&spec.env)
        );
    }
    let mut s = String::from("envs() {\n");
    let mut lines = format!(
        "export DROVER_RUN_ID={}\nexport DROVER_HOST={}\n",
        sh_quote(&spec.run_id.to_string()),
        sh_quote(&spec.host_name)
    );
    lines.push_str(&user_exports(&spec.env));
    for line in lines.lines() {
        let _ = writeln!(s, "  printf '%s\\n' {}", sh_quote(line));
    }
    // Script names are plain words (the naming rule), safe in quotes.
    s.push_str("  printf \"export DROVER_SCRIPT='%s'\\n\" \"$DROVER_SCRIPT\"\n}\n");
    s.push_str(
        "launch() { envs | \"$SETSID\" sudo -n sh -c '. /dev/stdin; exec \"$@\" </dev/null' drover-step \"$@\" & }\n",
    );
    s
}

/// The runner: a subshell of the bootstrap (a fork, no new program), whose
/// standard output and error are `PREFIX.out` (append mode). It runs the
/// steps in order, each in its own process group (`setsid`, so that cancel
/// and timeouts reach its children), framing them with marker lines. It
/// does not read standard input and does not write to the SSH channel, so
/// it keeps going when the connection or the controller goes away.
///
/// `PREFIX.ctl` collects one line per fact, appended: `r PID START` (the
/// runner, written by the bootstrap), `s PGID START` (the current step's
/// process group), `w PGID START` / `w -` (its timeout watchdog), `done` (the
/// runner finished). START is the process's start time where `/proc` has it
/// (see [`PROCESS_IDENTITY`]).
/// Only builtins run besides `setsid`, the scripts and, for steps with a
/// timeout, the watchdog. A watchdog whose step ended before it became a
/// process group of its own (`setsid` not yet done) is stopped by its pid. The runner's own variables hold only what drover
/// generated: the run's `--env` values are applied in each step's process
/// alone (see [`launcher`]).
fn runner_script(spec: &LaunchSpec, sources: &[ScriptSource]) -> String {
    let mut s = String::new();
    let (kill, separator) = group_kill(spec.use_sudo);
    let _ = writeln!(
        s,
        "N={}; KILL={}; KSEP={}",
        sh_quote(&spec.nonce),
        sh_quote(kill),
        sh_quote(separator)
    );
    let _ = writeln!(
        s,
        "DROVER_RUN_ID={}; DROVER_HOST={}; export DROVER_RUN_ID DROVER_HOST",
        sh_quote(&spec.run_id.to_string()),
        sh_quote(&spec.host_name)
    );
    s.push_str(RESOLVE_SETSID);
    s.push_str(&launcher(spec));
    s.push_str(concat!(
        "mark() { printf '\\n\\036DROVER %s %s\\n' \"$N\" \"$*\"; }\n",
        "finish() { mark done; echo done >> \"$R.ctl\"; exit 0; }\n",
        "step() {\n",
        "  [ -e \"$R.cancel\" ] && exit 0\n",
        "  n=$1; DROVER_SCRIPT=$2; export DROVER_SCRIPT; t=$3; shift 3\n",
        "  mark start \"$n\"\n",
        "  launch \"$@\"\n",
        "  pid=$!; started \"$pid\"; echo \"s $pid $got\" >> \"$R.ctl\"; wd=\n",
        "  if [ \"$t\" -gt 0 ]; then\n",
        "    \"$SETSID\" sh -c 'sleep \"$1\"; : > \"$5.t$2\"; $4 -TERM $6 -\"$3\" 2>/dev/null; sleep 5; $4 -KILL $6 -\"$3\" 2>/dev/null' wd \"$t\" \"$n\" \"$pid\" \"$KILL\" \"$R\" \"$KSEP\" </dev/null >/dev/null 2>&1 3<&- &\n",
        "    wd=$!; started \"$wd\"; echo \"w $wd $got\" >> \"$R.ctl\"\n",
        "  fi\n",
        "  wait \"$pid\"; rc=$?\n",
        "  if [ -n \"$wd\" ]; then kill -TERM -\"$wd\" 2>/dev/null || kill -TERM \"$wd\" 2>/dev/null; echo 'w -' >> \"$R.ctl\"; fi\n",
        "  [ -e \"$R.cancel\" ] && exit 0\n",
        "  if [ -e \"$R.t$n\" ]; then mark end \"$n\" timeout; return 1; fi\n",
        "  mark end \"$n\" \"$rc\"\n",
        "  return \"$rc\"\n",
        "}\n",
    ));
    if spec.use_sudo {
        s.push_str("if ! sudo -n true 2>/dev/null; then mark error sudo; finish; fi\n");
    }
    let on_fail = if spec.continue_on_error {
        "true"
    } else {
        "finish"
    };
    for (i, (step, source)) in spec.steps.iter().zip(sources).enumerate() {
        s.push_str(&step_line(i, step, source, on_fail));
    }
    s.push_str("finish\n");
    s
}

/// Every file a run of `steps` steps may leave under its prefix, named one
/// by one: a glob `PREFIX.*` would also match the files of a host whose name
/// extends this one's with a dot (`db` and `db.backup` on a shared home).
fn run_files(steps: usize) -> String {
    let mut files = String::from("\"$R.out\" \"$R.ctl\" \"$R.cancel\"");
    for n in 1..=steps {
        let _ = write!(files, " \"$R.s{n}\" \"$R.t{n}\"");
    }
    files
}

/// Shell functions naming a process by its pid *and* its start time (field
/// 22 of `/proc/PID/stat`, clock ticks since boot), so that a pid recorded
/// in `PREFIX.ctl` is never taken for the process that reuses it after the
/// recorded one died (a reboot, the OOM killer, days between a controller's
/// death and its takeover). `started PID` sets `got` to the start time, or
/// to nothing without `/proc`; `stale PID START` is true only when PID now
/// names another process than the one recorded. Builtins only.
const PROCESS_IDENTITY: &str = concat!(
    "started() { got=; [ -r \"/proc/$1/stat\" ] && read -r _ _ _ _ _ _ _ _ _ _ _ _ _ _ _ _ _ _ _ _ _ got _ 2>/dev/null < \"/proc/$1/stat\"; }\n",
    "stale() { [ -n \"$2\" ] && started \"$1\" && [ -n \"$got\" ] && [ \"$got\" != \"$2\" ]; }\n",
);

/// Reads `PREFIX.ctl` into `r` (runner pid), `s` (step group), `w`
/// (watchdog group), each with its start time (`rt`, `st`, `wt`), and `d`
/// (`done`), with builtins only.
const READ_CTL: &str = "r=; rt=; s=; st=; w=; wt=; d=\nwhile read -r k v t; do case $k in r) r=$v; rt=$t;; s) s=$v; st=$t;; w) w=$v; wt=$t;; done) d=done;; esac; done < \"$R.ctl\" 2>/dev/null\n";

/// The follower: prints `PREFIX.out` from byte `offset` until the runner has
/// ended. `tail` runs as our child while this shell waits, so that a runner
/// that is also our child (first launch) is reaped as soon as it exits and
/// `tail --pid` sees it gone at once. Without GNU tail it polls once a
/// second. A runner that has finished, or whose pid now names another
/// process, is not followed: the rest of the output is printed once.
///
/// Then it prints the end-of-output line (see [`end_of_output`]), so that
/// the controller knows it has everything, whatever the output holds.
/// Once the runner has finished or the run was cancelled, the controller
/// acknowledges with `ok` on standard input after it has stored everything,
/// and only then the run's files are removed; without the acknowledgement
/// (connection lost, controller killed, output it could not store) they stay
/// for a reattach. Needs [`PROCESS_IDENTITY`].
fn follower(prefix: &str, nonce: &str, offset: u64, steps: usize) -> String {
    format!(
        concat!(
            "R={prefix}\n",
            "{read_ctl}",
            "P=$r; [ -n \"$P\" ] || {{ echo 'drover: the run is not on this host (its files are gone)' >&2; exit 92; }}\n",
            "if [ \"$d\" = done ] || stale \"$P\" \"$rt\"; then\n",
            "  tail -c +{start} \"$R.out\"\n",
            "else\n",
            "  tail -s 0.05 -c +{start} --pid=\"$P\" -f \"$R.out\" 2>/dev/null &\n",
            "  if ! wait $!; then\n",
            "    off={offset}\n",
            "    while :; do\n",
            "      alive=0; kill -0 \"$P\" 2>/dev/null && ! stale \"$P\" \"$rt\" && alive=1\n",
            "      size=$(wc -c < \"$R.out\")\n",
            "      if [ \"$size\" -gt \"$off\" ]; then tail -c +$((off+1)) \"$R.out\" | head -c $((size-off)); off=$size; fi\n",
            "      if [ $alive = 0 ] && [ \"$(wc -c < \"$R.out\")\" -eq \"$off\" ]; then break; fi\n",
            "      sleep 1\n",
            "    done\n",
            "  fi\n",
            "fi\n",
            "{read_ctl}",
            "{end}",
            "if {{ [ \"$d\" = done ] || [ -e \"$R.cancel\" ]; }} && read -r ack && [ \"$ack\" = ok ]; then exec rm -f {files}; fi\n",
            "exit 0\n",
        ),
        prefix = sh_quote(prefix),
        read_ctl = READ_CTL,
        end = end_of_output(nonce),
        files = run_files(steps),
        start = offset + 1,
        offset = offset,
    )
}

/// The line a follower prints once it has printed all of `PREFIX.out` it
/// will print: a marker with the run's nonce, `eof`, and `done` when
/// `PREFIX.ctl` says the runner finished (`d`, from [`READ_CTL`]). It is not
/// part of the file, so it moves no offset. A runner that finished without
/// its own end marker reaching the file (a full disk on the host, a file
/// changed under it) is told apart from a runner still going.
fn end_of_output(nonce: &str) -> String {
    format!(
        "printf '\\n\\036DROVER %s eof %s\\n' {} \"$d\"\n",
        sh_quote(nonce)
    )
}

/// Waits (up to 2 s) for `PREFIX.ctl` when `PREFIX.out` exists without it:
/// a launch under way (the bootstrap creates the output file, then records
/// the runner), seen by a controller that took the run over at that moment.
const AWAIT_LAUNCH: &str = "if [ -e \"$R.out\" ] && [ ! -s \"$R.ctl\" ]; then i=0; while [ $i -lt 40 ] && [ ! -s \"$R.ctl\" ]; do sleep 0.05; i=$((i+1)); done; fi\n";

/// The bootstrap: creates the output file (refusing a second launch of the
/// same run on the host), starts the runner in the background (its scripts
/// and environment inside it: nothing on a command line, the environment
/// never on disk), records its pid and start time, and follows its output
/// from the start. Needs [`PROCESS_IDENTITY`].
fn bootstrap(spec: &LaunchSpec) -> String {
    let mut s = String::new();
    s.push_str("umask 077\n");
    let _ = writeln!(
        s,
        "[ -d {dir} ] || mkdir -p {dir} || {{ echo 'drover: cannot create ~/{RUNS_DIR}' >&2; exit 90; }}",
        dir = RUNS_DIR
    );
    let _ = writeln!(s, "R={}", sh_quote(&spec.remote_dir));
    s.push_str("set -C\n");
    s.push_str("{ : > \"$R.out\"; } 2>/dev/null || { echo 'drover: this run already started on this host' >&2; exit 91; }\n");
    s.push_str("set +C\n");
    let sources: Vec<ScriptSource> = spec
        .steps
        .iter()
        .enumerate()
        .map(|(i, step)| script_source(spec, i, &step.body))
        .collect();
    for (i, (step, source)) in spec.steps.iter().zip(&sources).enumerate() {
        if let ScriptSource::File = source {
            write_file(&mut s, &format!("\"$R.s{}\"", i + 1), &step.body);
        }
    }
    // The runner stays our child: the follower's `wait` reaps it when it ends.
    let _ = writeln!(
        s,
        "(\n{}) </dev/null >>\"$R.out\" 2>&1 &",
        runner_script(spec, &sources)
    );
    s.push_str("p=$!; started \"$p\"; echo \"r $p $got\" >> \"$R.ctl\"\n");
    s.push_str(&follower(
        &spec.remote_dir,
        &spec.nonce,
        0,
        spec.steps.len(),
    ));
    s
}

/// Attaches to the run's output if the runner was launched before (resume,
/// reconnect), else launches it. One brace group, so that the shell reads
/// all of it before running any of it and the acknowledgement that comes
/// later on standard input is left for the follower's `read`.
pub fn launch_or_attach(spec: &LaunchSpec, offset: u64) -> String {
    format!(
        "{{\n{identity}R={prefix}\n{await_launch}if [ -s \"$R.ctl\" ]; then\n{follow}fi\n{boot}}}\n",
        identity = PROCESS_IDENTITY,
        prefix = sh_quote(&spec.remote_dir),
        await_launch = AWAIT_LAUNCH,
        follow = follower(&spec.remote_dir, &spec.nonce, offset, spec.steps.len()),
        boot = bootstrap(spec),
    )
}

/// Attaches to the output of a run whose runner was launched on the host
/// before (its output was read): never launches it again. Exits 92 when the
/// run's files are gone.
pub fn attach(spec: &LaunchSpec, offset: u64) -> String {
    format!(
        "{{\n{identity}R={prefix}\n{await_launch}{follow}}}\n",
        identity = PROCESS_IDENTITY,
        prefix = sh_quote(&spec.remote_dir),
        await_launch = AWAIT_LAUNCH,
        follow = follower(&spec.remote_dir, &spec.nonce, offset, spec.steps.len()),
    )
}

/// How a process group is signalled: `COMMAND -SIG [SEPARATOR] -PGID`.
/// Without sudo, the shell's own `kill` (dash's refuses `--`). Through sudo
/// it is the system's `kill` program, and there `--` is required: procps-ng
/// 4.0.2 (Debian 12) reads `kill -TERM -138` as `kill(-1, SIGTERM)`, which
/// as root signals every process on the host.
fn group_kill(use_sudo: bool) -> (&'static str, &'static str) {
    if use_sudo {
        ("sudo -n kill", "--")
    } else {
        ("kill", "")
    }
}

/// Stops the runner, the current step's process group and its watchdog
/// (TERM, then KILL a second later), reading `PREFIX.ctl` before each
/// signal. A recorded pid that now names another process is left alone.
fn stop_processes(use_sudo: bool) -> String {
    let (kill, separator) = group_kill(use_sudo);
    let kill = format!("{kill} -$sig {separator}").trim_end().to_string();
    format!(
        concat!(
            "for sig in TERM KILL; do\n",
            "{read_ctl}",
            "  if [ -z \"$d\" ]; then\n",
            "    [ -n \"$r\" ] && ! stale \"$r\" \"$rt\" && kill -$sig \"$r\" 2>/dev/null\n",
            "    [ -n \"$s\" ] && ! stale \"$s\" \"$st\" && {kill} -\"$s\" 2>/dev/null\n",
            "    [ -n \"$w\" ] && [ \"$w\" != - ] && ! stale \"$w\" \"$wt\" && {kill} -\"$w\" 2>/dev/null\n",
            "  fi\n",
            "  [ $sig = TERM ] && sleep 1\n",
            "done\n",
        ),
        read_ctl = READ_CTL,
        kill = kill,
    )
}

/// Cancels a run on a host while a follower streams it: leaves the
/// `cancel` flag (so that no further step starts, also when the launch is
/// still under way: then it waits a second for the runner to be recorded)
/// and stops the run's processes. The follower then sees the runner end,
/// prints the rest and its end-of-output line, and removes the run's files
/// once the controller acknowledges what it stored. Prints `cancelled` when
/// it found the run; leaves nothing on a host where the run is gone.
pub fn cancel_script(prefix: &str, use_sudo: bool) -> String {
    format!(
        concat!(
            "R={prefix}\n",
            "{identity}",
            "[ -e \"$R.out\" ] || exit 0\n",
            ": > \"$R.cancel\"\n",
            "[ -s \"$R.ctl\" ] || sleep 1\n",
            "found=; [ -e \"$R.ctl\" ] && found=1\n",
            "{stop}",
            "[ -n \"$found\" ] && echo cancelled\n",
            "exit 0\n",
        ),
        prefix = sh_quote(prefix),
        identity = PROCESS_IDENTITY,
        stop = stop_processes(use_sudo),
    )
}

/// Cancels a run on a host that no follower streams (a run cancelled while
/// its controller was gone): stops the run's processes, prints the output
/// from byte `offset` (everything the host printed since the controller
/// last read) and the end-of-output line, then removes the run's files once
/// the controller acknowledges. Exits 93 when the run was never launched on
/// the host; nothing is launched.
pub fn cancel_and_collect(
    prefix: &str,
    nonce: &str,
    offset: u64,
    steps: usize,
    use_sudo: bool,
) -> String {
    format!(
        concat!(
            "R={prefix}\n",
            "{identity}",
            "{await_launch}",
            "[ -s \"$R.ctl\" ] || {{ echo 'drover: the run was cancelled before it started here' >&2; exit 93; }}\n",
            ": > \"$R.cancel\"\n",
            "{stop}",
            "tail -c +{start} \"$R.out\"\n",
            "{read_ctl}",
            "{end}",
            "if read -r ack && [ \"$ack\" = ok ]; then exec rm -f {files}; fi\n",
            "exit 0\n",
        ),
        prefix = sh_quote(prefix),
        identity = PROCESS_IDENTITY,
        await_launch = AWAIT_LAUNCH,
        stop = stop_processes(use_sudo),
        start = offset + 1,
        read_ctl = READ_CTL,
        end = end_of_output(nonce),
        files = run_files(steps),
    )
}

/// Removes a run's files from a host whose follower never ended after a
/// cancel (the controller stopped waiting for it and stored what it had).
pub fn remove_run_files(prefix: &str, steps: usize) -> String {
    format!(
        "R={prefix}\nrm -f {files}\n",
        prefix = sh_quote(prefix),
        files = run_files(steps)
    )
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::engine::remote::markers::tests::{marker, merge_outputs};
    use crate::engine::remote::{MarkerParser, RemoteEvent};

    #[test]
    fn quoting() {
        assert_eq!(sh_quote("it's"), r"'it'\''s'");
    }

    fn spec(nonce: &str, bodies: &[String], use_sudo: bool) -> LaunchSpec {
        LaunchSpec {
            run_id: 7,
            host_name: "h1".into(),
            remote_dir: remote_dir(7, nonce, "h1"),
            nonce: nonce.into(),
            steps: bodies
                .iter()
                .enumerate()
                .map(|(i, body)| RemoteStep {
                    name: format!("s{}", i + 1),
                    body: body.clone(),
                    timeout_secs: None,
                })
                .collect(),
            env: vec![("FOO".to_string(), "it's bar".to_string())].into(),
            continue_on_error: false,
            use_sudo,
        }
    }

    #[test]
    fn scripts_travel_as_here_documents_except_for_sudo_and_delimiter_clashes() {
        let nonce = "n0nce";
        let clash = format!("cat <<'DROVER_{nonce}_2'\ninner\nDROVER_{nonce}_2\n");
        let plain = spec(nonce, &["echo a\n".into(), clash.clone()], false);
        assert!(matches!(
            script_source(&plain, 0, "echo a\n"),
            ScriptSource::HereDoc { .. }
        ));
        assert!(matches!(
            script_source(&plain, 1, &clash),
            ScriptSource::File
        ));
        let boot = bootstrap(&plain);
        assert!(!boot.contains("> \"$R.s1\""), "{boot}");
        assert!(boot.contains("> \"$R.s2\""), "{boot}");
        let sudo = spec(nonce, &["echo a\n".into()], true);
        assert!(matches!(
            script_source(&sudo, 0, "echo a\n"),
            ScriptSource::File
        ));
    }

    /// Runs the launch script with the local `sh` in a scratch home, like
    /// the SSH session would: once the follower's end-of-output line
    /// arrives, acknowledges (or, with `ack` false, closes standard input
    /// as a controller that stored nothing does).
    fn run_locally(spec: &LaunchSpec, home: &std::path::Path) -> Vec<RemoteEvent> {
        run_locally_acking(spec, home, true)
    }

    fn run_locally_acking(
        spec: &LaunchSpec,
        home: &std::path::Path,
        ack: bool,
    ) -> Vec<RemoteEvent> {
        use std::io::{Read, Write};
        use std::os::unix::process::CommandExt;
        use std::process::{Command, Stdio};
        // Its own process group, so that the watchdog ends a stuck `tail` too.
        let mut child = Command::new("sh")
            .arg("-s")
            .process_group(0)
            .current_dir(home)
            .env("HOME", home)
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .spawn()
            .expect("sh");
        let pid = child.id();
        // Bounded: a shell (and what it started) still running after 30 s is
        // killed.
        let (finished, watchdog) = std::sync::mpsc::channel::<()>();
        std::thread::spawn(move || {
            if let Err(std::sync::mpsc::RecvTimeoutError::Timeout) =
                watchdog.recv_timeout(std::time::Duration::from_secs(30))
            {
                let _ = Command::new("kill")
                    .args(["-KILL", "--", &format!("-{pid}")])
                    .status();
            }
        });
        let mut stdin = child.stdin.take().expect("stdin");
        stdin
            .write_all(launch_or_attach(spec, 0).as_bytes())
            .expect("write script");
        let mut stdout = child.stdout.take().expect("stdout");
        let mut parser = MarkerParser::new(&spec.nonce, 0);
        let mut events = Vec::new();
        let mut buf = [0u8; 4096];
        let mut stdin = Some(stdin);
        loop {
            let n = stdout.read(&mut buf).expect("read");
            if n == 0 {
                break;
            }
            parser.feed(&buf[..n], &mut events);
            if events
                .iter()
                .any(|e| matches!(e, RemoteEvent::EndOfOutput { .. }))
            {
                if let Some(mut stdin) = stdin.take() {
                    let answer: &[u8] = if ack { b"ok\n" } else { b"" };
                    // A follower that does not wait for it has exited.
                    let _ = stdin.write_all(answer);
                }
            }
        }
        parser.finish(&mut events);
        let status = child.wait().expect("wait");
        let _ = finished.send(());
        assert!(status.success(), "{status}");
        merge_outputs(events)
    }

    #[test]
    fn generated_shell_runs_steps_in_order_and_cleans_up_after_the_ack() {
        let home = tempfile::tempdir().expect("tempdir");
        let nonce = "t3stn0nce";
        let bodies = vec![
            "#!/bin/sh\necho \"one $DROVER_HOST $DROVER_SCRIPT $FOO\"".to_string(),
            format!("cat <<'DROVER_{nonce}_2'\ninner $0\nDROVER_{nonce}_2\n"),
            "echo three >&2; exit 3\n".to_string(),
            "echo never\n".to_string(),
        ];
        // A host whose name extends this one's, sharing the home directory.
        std::fs::create_dir_all(home.path().join(RUNS_DIR)).expect("runs dir");
        let neighbour = format!("{}.out", remote_dir(7, nonce, "h1.backup"));
        std::fs::write(home.path().join(&neighbour), "theirs").expect("neighbour");
        let events = run_locally(&spec(nonce, &bodies, false), home.path());
        assert_eq!(
            summary(&events),
            vec![
                "<start 1>".to_string(),
                "one h1 s1 it's bar\n".into(),
                "<end 1 Exit(0)>".into(),
                "<start 2>".into(),
                "inner $0\n".into(),
                "<end 2 Exit(0)>".into(),
                "<start 3>".into(),
                "three\n".into(),
                "<end 3 Exit(3)>".into(),
                "<Done>".into(),
                "<eof done>".into(),
            ]
        );
        let left: Vec<_> = std::fs::read_dir(home.path().join(RUNS_DIR))
            .expect("runs dir")
            .filter_map(|e| e.ok())
            .map(|e| e.file_name())
            .collect();
        assert_eq!(
            left,
            vec![std::ffi::OsString::from(
                neighbour.trim_start_matches(&format!("{RUNS_DIR}/"))
            )],
            "only the neighbour's file may be left after the ack"
        );
    }

    /// Every name the runner and follower use for themselves, variables
    /// and functions.
    const RUNNER_NAMES: &[&str] = &[
        "N",
        "KILL",
        "KSEP",
        "R",
        "SETSID",
        "n",
        "t",
        "pid",
        "wd",
        "got",
        "rc",
        "p",
        "r",
        "rt",
        "s",
        "st",
        "w",
        "wt",
        "d",
        "k",
        "v",
        "P",
        "ack",
        "alive",
        "size",
        "off",
        "d",
        "step",
        "mark",
        "launch",
        "finish",
        "started",
        "stale",
        "envs",
        "i",
        "enumerate",
    ];

    #[test]
    fn env_keys_named_like_the_runners_own_names_reach_only_the_step() {
        let home = tempfile::tempdir().expect("tempdir");
        let nonce = "cl4sh";
        let mut spec = spec(
            nonce,
            &[
                "#!/bin/sh\necho \"N=$N KILL=$KILL R=$R step=$step\"\n".into(),
                "echo second\n".into(),
            ],
            false,
        );
        spec.env = RUNNER_NAMES
            .iter()
            .map(|k| (k.to_string(), format!("x'$(touch pwned-{k})")))
            .collect::<Vec<_>>()
            .into();
        let events = run_locally(&spec, home.path());
        assert_eq!(
            summary(&events),
            vec![
                "<start 1>".to_string(),
                "N=x'$(touch pwned-N) KILL=x'$(touch pwned-KILL) R=x'$(touch pwned-R) step=x'$(touch pwned-step)\n".into(),
                "<end 1 Exit(0)>".into(),
                "<start 2>".into(),
                "second\n".into(),
                "<end 2 Exit(0)>".into(),
                "<Done>".into(),
                "<eof done>".into(),
            ]
        );
        assert_eq!(run_files_left(home.path()), 0, "cleaned up after the ack");
        let pwned: Vec<_> = std::fs::read_dir(home.path())
            .expect("home")
            .filter_map(|e| e.ok())
            .filter(|e| e.file_name().to_string_lossy().starts_with("pwned"))
            .collect();
        assert!(pwned.is_empty(), "{pwned:?}");
    }

    #[test]
    fn a_watchdog_started_a_moment_before_its_step_ends_is_stopped_too() {
        // A step that ends at once: the runner stops its watchdog before
        // the watchdog may have become a process group of its own.
        let home = tempfile::tempdir().expect("tempdir");
        let mut spec = spec("w4tch", &["true\n".into(), "true\n".into()], false);
        for step in &mut spec.steps {
            step.timeout_secs = Some(1);
        }
        let events = run_locally_acking(&spec, home.path(), false);
        assert!(events.contains(&RemoteEvent::Done), "{events:?}");
        let flag = |n: u32| home.path().join(format!("{}.t{n}", spec.remote_dir));
        let deadline = std::time::Instant::now() + std::time::Duration::from_millis(2500);
        while std::time::Instant::now() < deadline {
            assert!(
                !flag(1).exists() && !flag(2).exists(),
                "a watchdog outlived its step and fired"
            );
            std::thread::sleep(std::time::Duration::from_millis(50));
        }
    }

    #[test]
    fn env_values_are_assigned_only_in_the_step_process() {
        for use_sudo in [false, true] {
            let mut spec = spec("pl4ce", &["echo a\n".into()], use_sudo);
            spec.env = vec![("SECRET".to_string(), "v4lue".to_string())].into();
            let runner = runner_script(&spec, &[ScriptSource::File]);
            let launch_at = runner.find("launch() {").expect("launch");
            let assigned: Vec<&str> = runner.lines().filter(|l| l.contains("v4lue")).collect();
            assert_eq!(assigned.len(), 1, "{runner}");
            let line_at = runner.find(assigned[0]).expect("line");
            let in_function = if use_sudo {
                runner.find("envs() {").is_some_and(|at| at < line_at) && line_at < launch_at
            } else {
                line_at > launch_at
            };
            assert!(in_function, "only inside launch/envs: {runner}");
        }
    }

    fn summary(events: &[RemoteEvent]) -> Vec<String> {
        events
            .iter()
            .map(|e| match e {
                RemoteEvent::Output(o) => String::from_utf8_lossy(o).into_owned(),
                RemoteEvent::Start { step, .. } => format!("<start {step}>"),
                RemoteEvent::End { step, end, .. } => format!("<end {step} {end:?}>"),
                RemoteEvent::EndOfOutput { runner_done: true } => "<eof done>".into(),
                RemoteEvent::EndOfOutput { runner_done: false } => "<eof>".into(),
                other => format!("<{other:?}>"),
            })
            .collect()
    }

    /// An unrelated process (`sleep 60`, its own process group) whose pid
    /// a test writes into a run's control file, as if the pid had been
    /// reused after the run's process died. Killed on drop.
    struct Decoy(std::process::Child);

    impl Decoy {
        fn start() -> Decoy {
            use std::os::unix::process::CommandExt;
            Decoy(
                std::process::Command::new("sleep")
                    .arg("60")
                    .process_group(0)
                    .spawn()
                    .expect("sleep"),
            )
        }

        fn pid(&self) -> u32 {
            self.0.id()
        }

        /// Field 22 of /proc/PID/stat, counted after the command name.
        fn start_time(&self) -> String {
            let stat = std::fs::read_to_string(format!("/proc/{}/stat", self.pid())).expect("stat");
            let after_name = stat.rsplit_once(')').expect("comm").1;
            after_name
                .split_whitespace()
                .nth(19)
                .expect("starttime")
                .to_string()
        }

        /// Whether it still runs, waiting up to `within` for it to end.
        fn survives(&mut self, within: std::time::Duration) -> bool {
            let deadline = std::time::Instant::now() + within;
            loop {
                if self.0.try_wait().expect("try_wait").is_some() {
                    return false;
                }
                if std::time::Instant::now() > deadline {
                    return true;
                }
                std::thread::sleep(std::time::Duration::from_millis(50));
            }
        }
    }

    impl Drop for Decoy {
        fn drop(&mut self) {
            let _ = self.0.kill();
            let _ = self.0.wait();
        }
    }

    /// A run's files on a scratch home as a runner left them: output so far
    /// and a control file whose pids all name `decoy` (recorded with
    /// `start`, the decoy's own start time or another).
    fn left_run(home: &std::path::Path, spec: &LaunchSpec, out: &str, ctl: &str) {
        std::fs::create_dir_all(home.join(RUNS_DIR)).expect("runs dir");
        let prefix = home.join(&spec.remote_dir);
        std::fs::write(format!("{}.out", prefix.display()), out).expect("out");
        std::fs::write(format!("{}.ctl", prefix.display()), ctl).expect("ctl");
    }

    /// A run left on a scratch home by a runner that printed `out` and whose
    /// pid (and its step's) now names a decoy, recorded with another start.
    fn left_by_reused_pid(
        nonce: &str,
        out: &str,
        finished: bool,
    ) -> (tempfile::TempDir, LaunchSpec, Decoy) {
        let home = tempfile::tempdir().expect("tempdir");
        let spec = spec(nonce, &["echo any\n".into()], false);
        let decoy = Decoy::start();
        let pid = decoy.pid();
        let done = if finished { "done\n" } else { "" };
        let ctl = format!("r {pid} 1\ns {pid} 1\n{done}");
        left_run(home.path(), &spec, out, &ctl);
        (home, spec, decoy)
    }

    fn run_files_left(home: &std::path::Path) -> usize {
        std::fs::read_dir(home.join(RUNS_DIR))
            .map(|d| d.count())
            .unwrap_or(0)
    }

    #[test]
    fn the_runner_and_step_are_recorded_with_their_start_times() {
        let home = tempfile::tempdir().expect("tempdir");
        let spec = spec("rec0rd", &["echo hi\n".into()], false);
        let events = run_locally_acking(&spec, home.path(), false);
        assert!(events.contains(&RemoteEvent::Done));
        let ctl = std::fs::read_to_string(home.path().join(format!("{}.ctl", spec.remote_dir)))
            .expect("not acknowledged: the control file stays");
        for kind in ["r", "s"] {
            let line = ctl
                .lines()
                .find(|l| l.starts_with(&format!("{kind} ")))
                .unwrap_or_else(|| panic!("no '{kind}' line in {ctl:?}"));
            let fields: Vec<&str> = line.split(' ').collect();
            assert_eq!(fields.len(), 3, "{line:?}");
            assert!(
                fields[1..].iter().all(|f| f.parse::<u64>().is_ok()),
                "pid and start time: {line:?}"
            );
        }
    }

    #[test]
    fn a_finished_run_is_collected_without_following_a_reused_pid() {
        let nonce = "reus3d";
        let out = format!(
            "{}kept\n{}{}",
            marker(nonce, "start 1"),
            marker(nonce, "end 1 0"),
            marker(nonce, "done")
        );
        let (home, spec, _decoy) = left_by_reused_pid(nonce, &out, true);
        // Following the decoy's pid would take its 60 s (the harness kills
        // the shell at 30 s and the test fails).
        let events = run_locally(&spec, home.path());
        assert_eq!(
            summary(&events),
            vec![
                "<start 1>",
                "kept\n",
                "<end 1 Exit(0)>",
                "<Done>",
                "<eof done>"
            ]
        );
        assert_eq!(run_files_left(home.path()), 0, "removed after the ack");
    }

    #[test]
    fn a_runner_that_ended_without_its_end_markers_is_told_apart_and_kept() {
        // Its pid now names another process (given up, not followed); or a
        // full disk on the host: its last markers never reached the output
        // file, but the control file says it finished.
        for (nonce, finished, end) in [("d3ad", false, "<eof>"), ("fu11", true, "<eof done>")] {
            let out = format!("{}partial\n", marker(nonce, "start 1"));
            let (home, spec, _decoy) = left_by_reused_pid(nonce, &out, finished);
            let events = run_locally_acking(&spec, home.path(), false);
            assert_eq!(summary(&events), vec!["<start 1>", "partial\n", end]);
            assert_eq!(run_files_left(home.path()), 2, "kept: never acknowledged");
        }
    }

    #[test]
    fn the_end_of_output_line_moves_no_offset() {
        let n = "abc";
        let data = format!(
            "{}out{}{}",
            marker(n, "start 1"),
            marker(n, "end 1 0"),
            marker(n, "eof done")
        );
        let mut parser = MarkerParser::new(n, 0);
        let mut events = Vec::new();
        parser.feed(data.as_bytes(), &mut events);
        let file_len = data.len() - marker(n, "eof done").len();
        assert_eq!(parser.offset(), file_len as u64);
        assert_eq!(
            events.last(),
            Some(&RemoteEvent::EndOfOutput { runner_done: true })
        );
    }

    fn cancel_locally(home: &std::path::Path, spec: &LaunchSpec) -> String {
        use std::io::Write;
        let mut child = std::process::Command::new("sh")
            .arg("-s")
            .current_dir(home)
            .stdin(std::process::Stdio::piped())
            .stdout(std::process::Stdio::piped())
            .spawn()
            .expect("sh");
        let script = cancel_script(&spec.remote_dir, false);
        child
            .stdin
            .take()
            .expect("stdin")
            .write_all(script.as_bytes())
            .expect("write script");
        let output = child.wait_with_output().expect("wait");
        String::from_utf8_lossy(&output.stdout).into_owned()
    }

    #[test]
    fn cancel_stops_recorded_processes_but_not_a_reused_pid() {
        let spec = spec("canc3l", &["sleep 60\n".into()], false);
        for (recorded_as_itself, must_survive) in [(false, true), (true, false)] {
            let home = tempfile::tempdir().expect("tempdir");
            let mut decoy = Decoy::start();
            let pid = decoy.pid();
            let start = if recorded_as_itself {
                decoy.start_time()
            } else {
                "1".to_string()
            };
            let ctl = format!("r {pid} {start}\ns {pid} {start}\nw {pid} {start}\n");
            left_run(home.path(), &spec, "", &ctl);
            assert_eq!(cancel_locally(home.path(), &spec).trim(), "cancelled");
            assert_eq!(
                decoy.survives(std::time::Duration::from_secs(2)),
                must_survive,
                "recorded with its own start time: {recorded_as_itself}"
            );
            // The follower removes them once the controller has stored
            // what it collected.
            assert_eq!(run_files_left(home.path()), 3, "out, ctl and the flag");
        }
    }

    #[test]
    fn a_launch_that_finds_the_cancel_flag_runs_no_step() {
        // A cancel that reached the host while the launch was under way.
        let home = tempfile::tempdir().expect("tempdir");
        let spec = spec("f1ag", &["echo ran > ran.txt\n".into()], false);
        std::fs::create_dir_all(home.path().join(RUNS_DIR)).expect("runs dir");
        std::fs::write(home.path().join(format!("{}.cancel", spec.remote_dir)), "").expect("flag");
        let events = run_locally(&spec, home.path());
        assert_eq!(summary(&events), vec!["<eof>"]);
        assert!(!home.path().join("ran.txt").exists(), "the script ran");
        // A cancelled run's files go once the controller acknowledges.
        assert_eq!(run_files_left(home.path()), 0);
    }

    #[test]
    fn groups_are_signalled_through_sudo_with_an_end_of_options_separator() {
        // `kill -TERM -138` through procps-ng 4.0.2 signals every process.
        let sudo = spec("s3p", &["echo a\n".into()], true);
        let launch = launch_or_attach(&sudo, 0);
        assert!(
            launch.contains("KILL='sudo -n kill'; KSEP='--'"),
            "{launch}"
        );
        assert!(launch.contains("$4 -TERM $6 -\"$3\""), "{launch}");
        assert!(launch.contains("$4 -KILL $6 -\"$3\""), "{launch}");
        for script in [
            cancel_script(&sudo.remote_dir, true),
            cancel_and_collect(&sudo.remote_dir, &sudo.nonce, 0, 1, true),
        ] {
            assert!(script.contains("sudo -n kill -$sig -- -\"$s\""), "{script}");
            assert!(script.contains("sudo -n kill -$sig -- -\"$w\""), "{script}");
            assert!(!script.contains("sudo -n kill -$sig -\""), "{script}");
        }
        // The shell's own kill (dash refuses `--`) without sudo.
        let plain = cancel_script(&sudo.remote_dir, false);
        assert!(plain.contains("&& kill -$sig -\"$s\""), "{plain}");
        assert!(
            launch_or_attach(&spec("s3p", &["echo a\n".into()], false), 0)
                .contains("KILL='kill'; KSEP=''")
        );
    }
}
