//! The open-files limit of the process: raised to its hard maximum at start,
//! and how many hosts a process may drive at once within it. Each host
//! being driven holds an SSH connection and a step log open; the rest of the
//! process (database connections, the Discord gateway, the runtime) is kept
//! a reserve. A run whose `--parallel` is above what the limit allows runs
//! that many hosts at once instead, and says so.

use rustix::process::{getrlimit, setrlimit, Resource};

/// Files a host being driven may hold open: its connection, its step log,
/// and one for a log being synced or a key file being read.
const FILES_PER_HOST: u64 = 3;
/// Files kept for everything else the process opens.
const FILES_RESERVED: u64 = 64;

/// Raises the soft limit on open files to the hard limit; returns the soft
/// limit in force afterwards (`None`: unlimited).
pub fn raise_to_hard_limit() -> std::io::Result<Option<u64>> {
    let mut limit = getrlimit(Resource::Nofile);
    if limit.current != limit.maximum {
        limit.current = limit.maximum;
        setrlimit(Resource::Nofile, limit)?;
    }
    Ok(getrlimit(Resource::Nofile).current)
}

/// The soft limit on open files (`None`: unlimited).
pub fn open_files_limit() -> Option<u64> {
    getrlimit(Resource::Nofile).current
}

/// How many hosts a process may drive at once within a soft limit of
/// `files` open files (`None`: unlimited); at least one.
pub fn hosts_within(files: Option<u64>) -> u32 {
    let Some(files) = files else {
        return u32::MAX;
    };
    let hosts = files.saturating_sub(FILES_RESERVED) / FILES_PER_HOST;
    u32::try_from(hosts).unwrap_or(u32::MAX).max(1)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_limit_leaves_a_reserve_and_allows_at_least_one_host() {
        assert_eq!(hosts_within(Some(1024)), 320);
        assert_eq!(hosts_within(Some(64 + 3 * 64)), 64);
        assert_eq!(hosts_within(Some(40)), 1);
        assert_eq!(hosts_within(None), u32::MAX);
    }
}
