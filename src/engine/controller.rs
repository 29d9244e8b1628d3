//! Which process drives a run: the controller ids written into leases
//! (`hostname/pid/start`, the start time from `/proc` so that a reused pid
//! is never taken for the owner) and whether the owner of a lease is a
//! process of this machine that is gone: exited, killed but not yet reaped
//! by its parent (a zombie), or replaced by another process with its pid.

/// This process's controller id.
pub fn controller_id() -> String {
    controller_id_of(std::process::id())
}

/// The controller id of process `pid` of this machine (`hostname/pid`
/// alone when its start time cannot be read).
pub fn controller_id_of(pid: u32) -> String {
    let host = local_hostname();
    match read_stat(pid) {
        Some(stat) => format!("{host}/{pid}/{}", stat.start_time),
        None => format!("{host}/{pid}"),
    }
}

/// The controller id of the process that started this one.
pub fn parent_controller_id() -> String {
    controller_id_of(std::os::unix::process::parent_id())
}

fn local_hostname() -> String {
    std::fs::read_to_string("/proc/sys/kernel/hostname")
        .map(|h| h.trim().to_string())
        .unwrap_or_else(|_| "localhost".into())
}

/// True when `owner` names a process of this machine that no longer runs.
pub fn owner_is_dead_local_process(owner: &str) -> bool {
    let Some(id) = OwnerId::parse(owner) else {
        return false;
    };
    if id.host != local_hostname() {
        return false;
    }
    match read_stat(id.pid) {
        None => true,
        Some(stat) => stat.is_gone() || id.start_time.is_some_and(|start| start != stat.start_time),
    }
}

/// A controller id taken apart: `host/pid/start` or, from earlier
/// versions, `host/pid`.
#[derive(Debug, PartialEq, Eq)]
struct OwnerId<'a> {
    host: &'a str,
    pid: u32,
    start_time: Option<u64>,
}

impl<'a> OwnerId<'a> {
    fn parse(owner: &'a str) -> Option<OwnerId<'a>> {
        let (rest, last) = owner.rsplit_once('/')?;
        if let Some((host, pid)) = rest.rsplit_once('/') {
            if let (Ok(pid), Ok(start)) = (pid.parse(), last.parse()) {
                return Some(OwnerId {
                    host,
                    pid,
                    start_time: Some(start),
                });
            }
        }
        Some(OwnerId {
            host: rest,
            pid: last.parse().ok()?,
            start_time: None,
        })
    }
}

/// What `/proc/PID/stat` says about a process.
#[derive(Debug, PartialEq, Eq)]
struct ProcStat {
    /// `R`, `S`, `D`, `Z` (zombie), `X` (dead), ...
    state: char,
    /// Clock ticks after boot at which the process started.
    start_time: u64,
}

impl ProcStat {
    /// Parses a stat line: `pid (comm) state ppid ...`, where comm may hold
    /// spaces and parentheses; the start time is field 22.
    fn parse(line: &str) -> Option<ProcStat> {
        let after_comm = &line[line.rfind(')')? + 1..];
        let fields: Vec<&str> = after_comm.split_whitespace().collect();
        Some(ProcStat {
            state: fields.first()?.chars().next()?,
            start_time: fields.get(19)?.parse().ok()?,
        })
    }

    /// Exited: a zombie waiting for its parent, or on its way out.
    fn is_gone(&self) -> bool {
        matches!(self.state, 'Z' | 'X' | 'x')
    }
}

/// The stat of process `pid`; `None` when there is no such process.
fn read_stat(pid: u32) -> Option<ProcStat> {
    let line = std::fs::read_to_string(format!("/proc/{pid}/stat")).ok()?;
    ProcStat::parse(&line)
}

#[cfg(test)]
mod tests {
    use super::*;

    const STAT: &str =
        "4242 (drover (x) y) Z 1 4242 4242 0 -1 4194560 120 0 0 0 3 1 0 0 20 0 1 0 987654 0 0";

    #[test]
    fn stat_lines_give_state_and_start_time_whatever_the_command_name() {
        assert_eq!(
            ProcStat::parse(STAT),
            Some(ProcStat {
                state: 'Z',
                start_time: 987_654
            })
        );
        assert_eq!(ProcStat::parse("4242 (cut"), None);
        assert_eq!(ProcStat::parse("4242 (x) S 1 2"), None);
    }

    #[test]
    fn owner_ids_with_and_without_a_start_time() {
        assert_eq!(
            OwnerId::parse("db-1/4242/987654"),
            Some(OwnerId {
                host: "db-1",
                pid: 4242,
                start_time: Some(987_654)
            })
        );
        assert_eq!(
            OwnerId::parse("db-1/4242"),
            Some(OwnerId {
                host: "db-1",
                pid: 4242,
                start_time: None
            })
        );
        assert_eq!(OwnerId::parse("elsewhere:1:test"), None);
        assert_eq!(OwnerId::parse("db-1/not-a-pid"), None);
    }

    #[test]
    fn this_process_is_alive_and_a_wrong_start_time_is_another_process() {
        let me = controller_id();
        assert!(!owner_is_dead_local_process(&me), "{me}");
        let (host_pid, start) = me.rsplit_once('/').expect("host/pid/start");
        let start: u64 = start.parse().expect("start time");
        let reused = format!("{host_pid}/{}", start + 1);
        assert!(owner_is_dead_local_process(&reused), "{reused}");
        // an id from an earlier version: the pid alone decides
        assert!(!owner_is_dead_local_process(host_pid));
        assert!(!owner_is_dead_local_process(&format!(
            "another-machine/{}",
            std::process::id()
        )));
    }

    #[test]
    fn a_killed_child_not_yet_reaped_is_gone() {
        let mut child = std::process::Command::new("sleep")
            .arg("30")
            .spawn()
            .expect("spawn sleep");
        let id = controller_id_of(child.id());
        assert!(!owner_is_dead_local_process(&id));
        child.kill().expect("kill");
        // not reaped: a zombie until `wait` (bounded poll for the state)
        let deadline = std::time::Instant::now() + std::time::Duration::from_secs(10);
        while !owner_is_dead_local_process(&id) {
            assert!(
                std::time::Instant::now() < deadline,
                "a zombie counts as alive"
            );
            std::thread::yield_now();
        }
        let _ = child.wait();
        assert!(owner_is_dead_local_process(&id));
    }
}
