//! The remote side of a run, as POSIX sh generated here, and the parser of
//! what it prints.
//!
//! One SSH exec of `sh -s` per host receives on stdin a bootstrap that
//! writes the scripts into a directory unique to the run and host, starts a
//! detached runner (`setsid`, so it survives the controller and the SSH
//! connection), and then follows the runner's output file. The runner
//! appends every step's stdout and stderr to `out`, framed by marker lines
//! carrying a per-run nonce, so the controller learns step starts, exit
//! codes and timeouts exactly, from the bytes themselves. Reattaching after
//! a restart is the same follower started at a byte offset.

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
    pub env: Vec<(String, String)>,
    pub continue_on_error: bool,
    pub use_sudo: bool,
}

/// The directory holding every run's files on a host, relative to the
/// login's home; created once, on first use.
pub const RUNS_DIR: &str = ".drover/runs";

/// The path prefix of a run's files on a host (`PREFIX.out`, `PREFIX.s1`,
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

const MARK: &str = "\n\x1eDROVER ";

/// `printf` (a shell builtin: no process per file) writing `body` to `file`.
fn write_file(out: &mut String, file: &str, body: &str) {
    let _ = writeln!(out, "printf '%s' {} > {file}", sh_quote(body));
}

/// The command running a step's script: its shebang's interpreter (so no
/// chmod is needed), or `/bin/sh`. `$R` is the runner's path prefix.
fn step_command(index: usize, body: &str) -> String {
    let interpreter = crate::domain::interpreter(body);
    let words: Vec<String> = interpreter.split_whitespace().map(sh_quote).collect();
    format!("{} \"$R.s{}\"", words.join(" "), index + 1)
}

/// The runner, started detached as `sh PREFIX.runner NONCE PREFIX` in the
/// login's home: runs the steps in order, each in its own process group (so
/// that cancel and timeouts reach its children), appending output and
/// markers to `PREFIX.out`. Only builtins run besides `setsid` and the
/// scripts themselves.
fn runner_script(spec: &LaunchSpec) -> String {
    let mut s = String::new();
    let sudo = if spec.use_sudo { "sudo -n" } else { "" };
    let kill = if spec.use_sudo {
        "sudo -n kill"
    } else {
        "kill"
    };
    let _ = writeln!(
        s,
        "N=$1; R=$2; SUDO={}; KILL={}",
        sh_quote(sudo),
        sh_quote(kill)
    );
    s.push_str(concat!(
        "mark() { printf '\\n\\036DROVER %s %s\\n' \"$N\" \"$*\" >> \"$R.out\"; }\n",
        "finish() { mark done; : > \"$R.done\"; exit 0; }\n",
        "step() {\n",
        "  [ -e \"$R.cancel\" ] && exit 0\n",
        "  n=$1; DROVER_SCRIPT=$2; export DROVER_SCRIPT; t=$3; shift 3\n",
        "  mark start \"$n\"\n",
        "  setsid $SUDO \"$@\" </dev/null >>\"$R.out\" 2>&1 &\n",
        "  pid=$!; echo \"$pid\" > \"$R.step\"; wd=\n",
        "  if [ \"$t\" -gt 0 ]; then\n",
        "    setsid sh -c 'sleep \"$1\"; : > \"$5.t$2\"; $4 -TERM -\"$3\" 2>/dev/null; sleep 5; $4 -KILL -\"$3\" 2>/dev/null' wd \"$t\" \"$n\" \"$pid\" \"$KILL\" \"$R\" </dev/null >/dev/null 2>&1 &\n",
        "    wd=$!; echo \"$wd\" > \"$R.wd\"\n",
        "  fi\n",
        "  wait \"$pid\"; rc=$?\n",
        "  if [ -n \"$wd\" ]; then kill -TERM -\"$wd\" 2>/dev/null; : > \"$R.wd\"; fi\n",
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
    for (i, step) in spec.steps.iter().enumerate() {
        let _ = writeln!(
            s,
            "step {} {} {} {} || {on_fail}",
            i + 1,
            sh_quote(&step.name),
            step.timeout_secs.unwrap_or(0),
            step_command(i, &step.body)
        );
    }
    s.push_str("finish\n");
    s
}

/// The follower: prints `PREFIX.out` from byte `offset` until the runner has
/// ended. `tail` runs as our child while this shell waits, so that a runner
/// that is also our child (first launch) is reaped as soon as it exits and
/// `tail --pid` sees it gone at once. Without GNU tail it polls once a
/// second. Once the runner has finished, the controller acknowledges with
/// `ok` on standard input after it received everything, and only then the
/// run's files are removed; without the acknowledgement (connection lost)
/// they stay for a reattach.
pub fn follower(prefix: &str, offset: u64) -> String {
    format!(
        concat!(
            "R={prefix}\n",
            "read -r P < \"$R.pid\" 2>/dev/null || {{ echo 'drover: the run is not on this host (its files are gone)' >&2; exit 92; }}\n",
            "tail -s 0.05 -c +{start} --pid=\"$P\" -f \"$R.out\" 2>/dev/null &\n",
            "if ! wait $!; then\n",
            "  off={offset}\n",
            "  while :; do\n",
            "    alive=0; kill -0 \"$P\" 2>/dev/null && alive=1\n",
            "    size=$(wc -c < \"$R.out\")\n",
            "    if [ \"$size\" -gt \"$off\" ]; then tail -c +$((off+1)) \"$R.out\" | head -c $((size-off)); off=$size; fi\n",
            "    if [ $alive = 0 ] && [ \"$(wc -c < \"$R.out\")\" -eq \"$off\" ]; then break; fi\n",
            "    sleep 1\n",
            "  done\n",
            "fi\n",
            "if [ -e \"$R.done\" ] && read -r ack && [ \"$ack\" = ok ]; then rm -f \"$R\".*; fi\n",
            "exit 0\n",
        ),
        prefix = sh_quote(prefix),
        start = offset + 1,
        offset = offset,
    )
}

/// The bootstrap sent on stdin of `sh -s`: writes the scripts, starts the
/// runner detached (environment passed to it directly, never written to
/// disk), and follows its output from the start.
pub fn bootstrap(spec: &LaunchSpec) -> String {
    let mut s = String::new();
    s.push_str("umask 077\n");
    let _ = writeln!(
        s,
        "[ -d {dir} ] || mkdir -p {dir} || {{ echo 'drover: cannot create ~/{RUNS_DIR}' >&2; exit 90; }}",
        dir = RUNS_DIR
    );
    let _ = writeln!(s, "R={}", sh_quote(&spec.remote_dir));
    s.push_str("[ -e \"$R.pid\" ] && { echo 'drover: this run already started on this host' >&2; exit 91; }\n");
    for (i, step) in spec.steps.iter().enumerate() {
        write_file(&mut s, &format!("\"$R.s{}\"", i + 1), &step.body);
    }
    write_file(&mut s, "\"$R.runner\"", &runner_script(spec));
    s.push_str(": > \"$R.out\"\n");
    let mut vars = vec![
        ("DROVER_RUN_ID".to_string(), spec.run_id.to_string()),
        ("DROVER_HOST".to_string(), spec.host_name.clone()),
    ];
    vars.extend(spec.env.iter().cloned());
    let assignments: Vec<String> = vars
        .iter()
        .map(|(k, v)| format!("{k}={}", sh_quote(v)))
        .collect();
    // The runner stays our child: the follower's `wait` reaps it when it ends.
    let _ = writeln!(
        s,
        "{} setsid sh \"$R.runner\" {} \"$R\" </dev/null >/dev/null 2>\"$R.err\" &",
        assignments.join(" "),
        sh_quote(&spec.nonce)
    );
    s.push_str("echo $! > \"$R.pid\"\n");
    s.push_str(&follower(&spec.remote_dir, 0));
    s
}

/// Attaches to the run's output if the runner was launched before (resume,
/// reconnect), else launches it.
pub fn launch_or_attach(spec: &LaunchSpec, offset: u64) -> String {
    format!(
        "if [ -s {prefix}.pid ]; then\n{follow}fi\n{boot}",
        prefix = sh_quote(&spec.remote_dir),
        follow = follower(&spec.remote_dir, offset),
        boot = bootstrap(spec),
    )
}

/// Cancels a run on a host: stops the runner, the current step's process
/// group and its watchdog, then removes the run's files (a follower still
/// reading the output keeps its open file). Prints `cancelled` when it found
/// the run.
pub fn cancel_script(prefix: &str, use_sudo: bool) -> String {
    let kill = if use_sudo { "sudo -n kill" } else { "kill" };
    format!(
        concat!(
            "R={prefix}\n",
            "[ -e \"$R.pid\" ] || exit 0\n",
            ": > \"$R.cancel\"\n",
            "for sig in TERM KILL; do\n",
            "  read -r p < \"$R.pid\" && kill -$sig -\"$p\" 2>/dev/null\n",
            "  for f in step wd; do read -r p < \"$R.$f\" 2>/dev/null && [ -n \"$p\" ] && {kill} -$sig -\"$p\" 2>/dev/null; done\n",
            "  [ $sig = TERM ] && sleep 1\n",
            "done\n",
            "rm -f \"$R\".*\n",
            "echo cancelled\n",
        ),
        prefix = sh_quote(prefix),
        kill = kill,
    )
}

/// How a step ended, as the runner reported it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum StepEnd {
    Exit(i32),
    TimedOut,
}

/// What the parser found in the output stream.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum RemoteEvent {
    /// Output of the current step.
    Output(Vec<u8>),
    /// A step started; `offset` is where its output begins in `out`.
    Start { step: u32, offset: u64 },
    /// A step ended; `offset` is just after its end marker.
    End {
        step: u32,
        end: StepEnd,
        offset: u64,
    },
    /// `sudo -n` wants a password.
    SudoRefused,
    /// The runner finished.
    Done,
}

/// Splits the remote `out` stream into output and markers, across chunk
/// boundaries, with bounded memory (only a possible partial marker is held).
pub struct MarkerParser {
    prefix: Vec<u8>,
    pending: Vec<u8>,
    /// Offset in `out` of the first byte of `pending`.
    offset: u64,
}

const MAX_MARKER_LINE: usize = 128;

impl MarkerParser {
    pub fn new(nonce: &str, start_offset: u64) -> MarkerParser {
        MarkerParser {
            prefix: format!("{MARK}{nonce} ").into_bytes(),
            pending: Vec::new(),
            offset: start_offset,
        }
    }

    /// Offset in `out` up to which everything has been emitted.
    pub fn offset(&self) -> u64 {
        self.offset
    }

    pub fn feed(&mut self, data: &[u8], events: &mut Vec<RemoteEvent>) {
        self.pending.extend_from_slice(data);
        let mut consumed = 0;
        loop {
            let found = find(&self.pending[consumed..], &self.prefix);
            let Some(at) = found else {
                // Keep a tail that could be the start of a marker.
                let rest_len = self.pending.len() - consumed;
                let keep = partial_prefix_len(&self.pending[consumed..], &self.prefix);
                self.emit(consumed, rest_len - keep, events);
                consumed += rest_len - keep;
                break;
            };
            let body_start = consumed + at + self.prefix.len();
            let newline = self.pending[body_start..].iter().position(|b| *b == b'\n');
            match newline {
                Some(nl) if nl <= MAX_MARKER_LINE => {
                    self.emit(consumed, at, events);
                    let line = String::from_utf8_lossy(&self.pending[body_start..body_start + nl])
                        .into_owned();
                    let marker_end = body_start + nl + 1;
                    self.offset += (marker_end - (consumed + at)) as u64;
                    consumed = marker_end;
                    if let Some(event) = parse_marker(&line, self.offset) {
                        events.push(event);
                    }
                }
                None if self.pending.len() - body_start <= MAX_MARKER_LINE => {
                    // Possibly a marker whose line is not complete yet.
                    self.emit(consumed, at, events);
                    consumed += at;
                    break;
                }
                _ => {
                    // Too long to be a marker: plain output.
                    self.emit(consumed, at + 1, events);
                    consumed += at + 1;
                }
            }
        }
        self.pending.drain(..consumed);
    }

    fn emit(&mut self, from: usize, len: usize, events: &mut Vec<RemoteEvent>) {
        if len == 0 {
            return;
        }
        let bytes = self.pending[from..from + len].to_vec();
        self.offset += len as u64;
        match events.last_mut() {
            Some(RemoteEvent::Output(prev)) => prev.extend_from_slice(&bytes),
            _ => events.push(RemoteEvent::Output(bytes)),
        }
    }

    /// Whatever is held back at the end of the stream is output.
    pub fn finish(&mut self, events: &mut Vec<RemoteEvent>) {
        let len = self.pending.len();
        self.emit(0, len, events);
        self.pending.clear();
    }
}

fn find(haystack: &[u8], needle: &[u8]) -> Option<usize> {
    haystack.windows(needle.len()).position(|w| w == needle)
}

/// Length of the longest suffix of `data` that is a proper prefix of `needle`.
fn partial_prefix_len(data: &[u8], needle: &[u8]) -> usize {
    let max = needle.len().saturating_sub(1).min(data.len());
    (1..=max)
        .rev()
        .find(|&n| data[data.len() - n..] == needle[..n])
        .unwrap_or(0)
}

fn parse_marker(line: &str, offset: u64) -> Option<RemoteEvent> {
    let parts: Vec<&str> = line.split_whitespace().collect();
    match parts.first().copied()? {
        "start" => Some(RemoteEvent::Start {
            step: parts.get(1)?.parse().ok()?,
            offset,
        }),
        "end" => {
            let end = match *parts.get(2)? {
                "timeout" => StepEnd::TimedOut,
                code => StepEnd::Exit(code.parse().ok()?),
            };
            Some(RemoteEvent::End {
                step: parts.get(1)?.parse().ok()?,
                end,
                offset,
            })
        }
        "error" if parts.get(1) == Some(&"sudo") => Some(RemoteEvent::SudoRefused),
        "done" => Some(RemoteEvent::Done),
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn marker(nonce: &str, body: &str) -> String {
        format!("\n\x1eDROVER {nonce} {body}\n")
    }

    fn stream() -> String {
        let n = "abc";
        format!(
            "{}hello\nworld{}{}partial no newline{}{}",
            marker(n, "start 1"),
            marker(n, "end 1 0"),
            marker(n, "start 2"),
            marker(n, "end 2 timeout"),
            marker(n, "done")
        )
    }

    fn parse_in_chunks(data: &[u8], chunk: usize) -> Vec<RemoteEvent> {
        let mut parser = MarkerParser::new("abc", 0);
        let mut events = Vec::new();
        for piece in data.chunks(chunk) {
            parser.feed(piece, &mut events);
        }
        parser.finish(&mut events);
        assert_eq!(parser.offset(), data.len() as u64);
        // merge adjacent outputs so chunking does not matter
        let mut merged: Vec<RemoteEvent> = Vec::new();
        for e in events {
            match (merged.last_mut(), e) {
                (Some(RemoteEvent::Output(a)), RemoteEvent::Output(b)) => a.extend(b),
                (_, e) => merged.push(e),
            }
        }
        merged
    }

    #[test]
    fn parses_markers_at_any_chunking() {
        let data = stream();
        let whole = parse_in_chunks(data.as_bytes(), data.len());
        for chunk in [1, 2, 3, 7, 16] {
            assert_eq!(
                parse_in_chunks(data.as_bytes(), chunk),
                whole,
                "chunk {chunk}"
            );
        }
        assert!(matches!(whole[0], RemoteEvent::Start { step: 1, .. }));
        assert_eq!(whole[1], RemoteEvent::Output(b"hello\nworld".to_vec()));
        assert!(matches!(
            whole[2],
            RemoteEvent::End {
                step: 1,
                end: StepEnd::Exit(0),
                ..
            }
        ));
        assert_eq!(
            whole[4],
            RemoteEvent::Output(b"partial no newline".to_vec())
        );
        assert!(matches!(
            whole[5],
            RemoteEvent::End {
                step: 2,
                end: StepEnd::TimedOut,
                ..
            }
        ));
        assert!(matches!(whole[6], RemoteEvent::Done));
    }

    #[test]
    fn foreign_nonce_is_output() {
        let data = format!("{}x{}", marker("abc", "start 1"), marker("evil", "end 1 0"));
        let events = parse_in_chunks(data.as_bytes(), 5);
        assert_eq!(events.len(), 2);
        assert!(matches!(&events[1], RemoteEvent::Output(o) if o.ends_with(b"evil end 1 0\n")));
    }

    #[test]
    fn start_offset_points_at_output() {
        let data = stream();
        let events = parse_in_chunks(data.as_bytes(), 4);
        let RemoteEvent::Start { offset, .. } = events[0] else {
            panic!("{events:?}")
        };
        assert_eq!(
            &data.as_bytes()[offset as usize..offset as usize + 5],
            b"hello"
        );
    }

    #[test]
    fn quoting() {
        assert_eq!(sh_quote("it's"), r"'it'\''s'");
    }
}
