//! Run and host states: enums carrying their data, shared by every front
//! end, and the run snapshot that front ends render.

use serde::Serialize;

/// Where a host stands in a run.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum HostState {
    Queued,
    Connecting,
    Running {
        step: u32,
    },
    Succeeded,
    /// A script failed: exit code, or the reason (e.g. sudo wants a password).
    Failed {
        step: Option<u32>,
        exit_code: Option<i32>,
        reason: String,
    },
    Unreachable {
        reason: String,
    },
    Cancelled {
        step: Option<u32>,
    },
    TimedOut {
        step: u32,
    },
    /// The host vanished mid-run (connection lost, runner gone).
    Lost {
        step: Option<u32>,
        reason: String,
    },
    /// Not started because too many hosts had failed.
    Skipped,
}

impl HostState {
    pub fn name(&self) -> &'static str {
        match self {
            HostState::Queued => "queued",
            HostState::Connecting => "connecting",
            HostState::Running { .. } => "running",
            HostState::Succeeded => "succeeded",
            HostState::Failed { .. } => "failed",
            HostState::Unreachable { .. } => "unreachable",
            HostState::Cancelled { .. } => "cancelled",
            HostState::TimedOut { .. } => "timed_out",
            HostState::Lost { .. } => "lost",
            HostState::Skipped => "skipped",
        }
    }

    pub fn is_final(&self) -> bool {
        !matches!(
            self,
            HostState::Queued | HostState::Connecting | HostState::Running { .. }
        )
    }

    /// Counts against `max_failed_hosts` and makes the run fail.
    pub fn is_failure(&self) -> bool {
        matches!(
            self,
            HostState::Failed { .. }
                | HostState::Unreachable { .. }
                | HostState::TimedOut { .. }
                | HostState::Lost { .. }
        )
    }

    pub fn step(&self) -> Option<u32> {
        match self {
            HostState::Running { step } | HostState::TimedOut { step } => Some(*step),
            HostState::Failed { step, .. }
            | HostState::Cancelled { step }
            | HostState::Lost { step, .. } => *step,
            _ => None,
        }
    }

    pub fn exit_code(&self) -> Option<i32> {
        match self {
            HostState::Failed { exit_code, .. } => *exit_code,
            _ => None,
        }
    }

    pub fn reason(&self) -> Option<String> {
        match self {
            HostState::Failed { reason, .. } if !reason.is_empty() => Some(reason.clone()),
            HostState::Unreachable { reason } | HostState::Lost { reason, .. } => {
                Some(reason.clone())
            }
            HostState::TimedOut { .. } => Some("script timed out".into()),
            HostState::Skipped => Some("too many hosts failed".into()),
            _ => None,
        }
    }

    /// Rebuilds a state from its stored columns.
    pub fn from_columns(
        name: &str,
        step: Option<u32>,
        exit_code: Option<i32>,
        reason: Option<String>,
    ) -> HostState {
        let reason_text = reason.unwrap_or_default();
        match name {
            "queued" => HostState::Queued,
            "connecting" => HostState::Connecting,
            "running" => HostState::Running {
                step: step.unwrap_or(1),
            },
            "succeeded" => HostState::Succeeded,
            "failed" => HostState::Failed {
                step,
                exit_code,
                reason: reason_text,
            },
            "unreachable" => HostState::Unreachable {
                reason: reason_text,
            },
            "cancelled" => HostState::Cancelled { step },
            "timed_out" => HostState::TimedOut {
                step: step.unwrap_or(1),
            },
            "skipped" => HostState::Skipped,
            _ => HostState::Lost {
                step,
                reason: reason_text,
            },
        }
    }
}

/// Where a run stands.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum RunState {
    Running,
    Succeeded,
    Failed,
    Cancelled,
}

impl RunState {
    pub fn as_str(self) -> &'static str {
        match self {
            RunState::Running => "running",
            RunState::Succeeded => "succeeded",
            RunState::Failed => "failed",
            RunState::Cancelled => "cancelled",
        }
    }

    pub fn parse(raw: &str) -> RunState {
        match raw {
            "succeeded" => RunState::Succeeded,
            "failed" => RunState::Failed,
            "cancelled" => RunState::Cancelled,
            _ => RunState::Running,
        }
    }

    /// The overall state once every host is final.
    pub fn from_hosts<'a>(hosts: impl Iterator<Item = &'a HostState>, cancelled: bool) -> RunState {
        let mut any_failed = false;
        for h in hosts {
            if !h.is_final() {
                return RunState::Running;
            }
            any_failed |= h.is_failure() || matches!(h, HostState::Skipped);
        }
        if cancelled {
            RunState::Cancelled
        } else if any_failed {
            RunState::Failed
        } else {
            RunState::Succeeded
        }
    }
}

/// One host in a snapshot.
#[derive(Debug, Clone, Serialize)]
pub struct HostSnapshot {
    pub host: String,
    pub state: String,
    pub step: Option<u32>,
    pub steps: u32,
    pub script: Option<String>,
    pub exit_code: Option<i32>,
    pub reason: Option<String>,
    pub started_at: Option<String>,
    pub finished_at: Option<String>,
    /// Milliseconds spent so far (or in all, once final).
    pub elapsed_ms: Option<i64>,
    /// Tail of the current or last step's output.
    #[serde(skip_serializing_if = "String::is_empty")]
    pub excerpt: String,
}

/// A whole run, as front ends see it.
#[derive(Debug, Clone, Serialize)]
pub struct RunSnapshot {
    pub id: i64,
    pub state: RunState,
    pub task: Option<String>,
    pub started_by: String,
    pub script_group: String,
    pub server_group: String,
    pub scripts: Vec<String>,
    pub created_at: String,
    pub finished_at: Option<String>,
    pub elapsed_ms: i64,
    pub hosts: Vec<HostSnapshot>,
}

impl RunSnapshot {
    /// Hosts per state name, in a stable order.
    pub fn counts(&self) -> Vec<(String, usize)> {
        let mut counts: Vec<(String, usize)> = Vec::new();
        for h in &self.hosts {
            match counts.iter_mut().find(|(s, _)| *s == h.state) {
                Some((_, n)) => *n += 1,
                None => counts.push((h.state.clone(), 1)),
            }
        }
        counts.sort();
        counts
    }
}
