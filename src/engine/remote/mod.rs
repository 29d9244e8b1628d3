//! The remote side of a run: the POSIX sh generated here (`script`) and the
//! parser of what it prints (`markers`).
//!
//! One SSH exec of `sh -s` per host receives on stdin a bootstrap that
//! starts the runner as a background subshell (a fork, no new program) with
//! the scripts inside it as here-documents, and then follows the runner's
//! output file with `tail`. The runner reads nothing from the connection and
//! writes nothing to it, so it survives the controller and the SSH
//! connection. It appends every step's stdout and stderr to `PREFIX.out`,
//! framed by marker lines carrying a per-run nonce, so the controller learns
//! step starts, exit codes and timeouts exactly, from the bytes themselves.
//! Reattaching after a restart is the same follower started at a byte
//! offset. A run costs each host two files (`PREFIX.out`, `PREFIX.ctl`) and,
//! besides the scripts, three programs: `setsid` per step, `tail`, `rm`.

mod markers;
mod script;

pub use markers::{MarkerParser, RemoteEvent, StepEnd};
pub use script::{
    attach, cancel_and_collect, cancel_script, launch_or_attach, remote_dir, remove_run_files,
    sh_quote, LaunchSpec, RemoteStep, RUNS_DIR,
};
