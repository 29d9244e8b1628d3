//! Run and host states: enums carrying their data, shared by every front
//! end, and the run snapshot that front ends render. States become
//! snake_case names only at the edges: the database (here, where an unknown
//! stored name is an error) and JSON (serde, here too).

use std::fmt;

use serde::{Serialize, Serializer};

use crate::error::{Error, Result};

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
    /// Every stored name, in the order of the variants.
    pub const NAMES: [&'static str; 10] = [
        "queued",
        "connecting",
        "running",
        "succeeded",
        "failed",
        "unreachable",
        "cancelled",
        "timed_out",
        "lost",
        "skipped",
    ];

    /// The snake_case name the database and JSON documents use.
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

    /// The name as people read it (`timed out`).
    pub fn label(&self) -> &'static str {
        match self {
            HostState::TimedOut { .. } => "timed out",
            other => other.name(),
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

    /// Why the host ended so: the reason it carries, or a fixed one.
    pub fn reason(&self) -> Option<&str> {
        match self {
            HostState::Failed { reason, .. } if !reason.is_empty() => Some(reason),
            HostState::Unreachable { reason } | HostState::Lost { reason, .. } => Some(reason),
            HostState::TimedOut { .. } => Some("script timed out"),
            HostState::Skipped => Some("too many hosts failed"),
            _ => None,
        }
    }

    /// The reason the state carries (host or connection output), to redact.
    pub fn reason_mut(&mut self) -> Option<&mut String> {
        match self {
            HostState::Failed { reason, .. }
            | HostState::Unreachable { reason }
            | HostState::Lost { reason, .. } => Some(reason),
            _ => None,
        }
    }

    /// Rebuilds a state from its stored columns; a name this version does
    /// not know is an error naming it.
    pub fn from_columns(
        name: &str,
        step: Option<u32>,
        exit_code: Option<i32>,
        reason: Option<String>,
    ) -> Result<HostState> {
        let reason_text = reason.unwrap_or_default();
        Ok(match name {
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
            "lost" => HostState::Lost {
                step,
                reason: reason_text,
            },
            "skipped" => HostState::Skipped,
            unknown => return Err(unknown_stored_state("host", unknown, &HostState::NAMES)),
        })
    }
}

impl fmt::Display for HostState {
    /// The name; width and alignment apply (`{:<11}`).
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.pad(self.name())
    }
}

impl Serialize for HostState {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.serialize_str(self.name())
    }
}

fn unknown_stored_state(of: &'static str, value: &str, known: &[&str]) -> Error {
    Error::UnknownStoredState {
        of,
        value: value.to_string(),
        known: known.join(", "),
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

    /// Reads a stored name; a name this version does not know is an error
    /// naming it.
    pub fn parse(raw: &str) -> Result<RunState> {
        const ALL: [RunState; 4] = [
            RunState::Running,
            RunState::Succeeded,
            RunState::Failed,
            RunState::Cancelled,
        ];
        ALL.into_iter()
            .find(|state| state.as_str() == raw)
            .ok_or_else(|| unknown_stored_state("run", raw, &ALL.map(RunState::as_str)))
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

impl fmt::Display for RunState {
    /// The name; width and alignment apply.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.pad(self.as_str())
    }
}

/// One host in a snapshot. Its state carries the step, exit code and
/// reason; JSON documents show them as fields of their own.
#[derive(Debug, Clone)]
pub struct HostSnapshot {
    pub host: String,
    pub state: HostState,
    pub steps: u32,
    /// The script of the state's step.
    pub script: Option<String>,
    pub started_at: Option<String>,
    pub finished_at: Option<String>,
    /// Milliseconds spent so far (or in all, once final).
    pub elapsed_ms: Option<i64>,
    /// Tail of the current or last step's output.
    pub excerpt: String,
}

impl HostSnapshot {
    pub fn step(&self) -> Option<u32> {
        self.state.step()
    }

    pub fn exit_code(&self) -> Option<i32> {
        self.state.exit_code()
    }

    pub fn reason(&self) -> Option<&str> {
        self.state.reason()
    }

    /// How the host's step ended, in a few words: `exit 3`, `exit 137
    /// (killed by signal 9)`, `exit 2: sudo: a password is required`, or
    /// the reason alone. The words the engine gives an exit code (`exit
    /// code 3`) are not said twice.
    pub fn exit_summary(&self) -> Option<String> {
        let reason = self.reason().filter(|r| !r.is_empty());
        match (self.exit_code(), reason) {
            (Some(code), Some(reason)) => {
                let rest = reason
                    .strip_prefix(&format!("exit code {code}"))
                    .filter(|rest| rest.is_empty() || rest.starts_with(' '));
                Some(match rest {
                    Some(rest) => format!("exit {code}{rest}"),
                    None => format!("exit {code}: {reason}"),
                })
            }
            (Some(code), None) => Some(format!("exit {code}")),
            (None, reason) => reason.map(str::to_string),
        }
    }
}

/// A host of a snapshot as JSON documents show it: the state's data as
/// fields of their own, in this order.
#[derive(Serialize)]
struct HostSnapshotJson<'a> {
    host: &'a str,
    state: &'a HostState,
    step: Option<u32>,
    steps: u32,
    script: Option<&'a str>,
    exit_code: Option<i32>,
    reason: Option<&'a str>,
    started_at: Option<&'a str>,
    finished_at: Option<&'a str>,
    elapsed_ms: Option<i64>,
    #[serde(skip_serializing_if = "str::is_empty")]
    excerpt: &'a str,
}

impl Serialize for HostSnapshot {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        HostSnapshotJson {
            host: &self.host,
            state: &self.state,
            step: self.step(),
            steps: self.steps,
            script: self.script.as_deref(),
            exit_code: self.exit_code(),
            reason: self.reason(),
            started_at: self.started_at.as_deref(),
            finished_at: self.finished_at.as_deref(),
            elapsed_ms: self.elapsed_ms,
            excerpt: &self.excerpt,
        }
        .serialize(serializer)
    }
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
    pub fn counts(&self) -> Vec<(&'static str, usize)> {
        let mut counts: Vec<(&'static str, usize)> = Vec::new();
        for h in &self.hosts {
            let name = h.state.name();
            match counts.iter_mut().find(|(s, _)| *s == name) {
                Some((_, n)) => *n += 1,
                None => counts.push((name, 1)),
            }
        }
        counts.sort();
        counts
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn failed(exit_code: Option<i32>, reason: &str) -> HostSnapshot {
        HostSnapshot {
            host: "web-1".into(),
            state: HostState::Failed {
                step: Some(1),
                exit_code,
                reason: reason.into(),
            },
            steps: 1,
            script: None,
            started_at: None,
            finished_at: None,
            elapsed_ms: None,
            excerpt: String::new(),
        }
    }

    #[test]
    fn an_exit_is_said_once_with_what_the_reason_adds() {
        let cases = [
            (Some(3), "exit code 3", "exit 3"),
            (
                Some(137),
                "exit code 137 (killed by signal 9)",
                "exit 137 (killed by signal 9)",
            ),
            (Some(1), "exit code 13", "exit 1: exit code 13"),
            (
                Some(2),
                "sudo: a password is required",
                "exit 2: sudo: a password is required",
            ),
            (Some(4), "", "exit 4"),
            (None, "connection refused", "connection refused"),
        ];
        for (code, reason, said) in cases {
            assert_eq!(
                failed(code, reason).exit_summary().as_deref(),
                Some(said),
                "{reason}"
            );
        }
    }

    #[test]
    fn every_stored_host_state_name_reads_back_as_itself() {
        for name in HostState::NAMES {
            let state = HostState::from_columns(name, Some(2), Some(1), Some("why".into()))
                .expect("a known name");
            assert_eq!(state.name(), name);
        }
    }

    #[test]
    fn an_unknown_stored_state_is_an_error_naming_it() {
        let err = HostState::from_columns("exploded", Some(1), None, Some("boom".into()))
            .expect_err("unknown host state");
        let text = err.to_string();
        assert!(text.contains("unknown host state 'exploded'"), "{text}");
        assert!(text.contains("queued, connecting, running"), "{text}");
        assert!(
            !err.is_refusal(),
            "a broken database is not the user's input"
        );

        let err = RunState::parse("paused").expect_err("unknown run state");
        let text = err.to_string();
        assert!(text.contains("unknown run state 'paused'"), "{text}");
        assert!(
            text.contains("running, succeeded, failed, cancelled"),
            "{text}"
        );
        assert_eq!(RunState::parse("cancelled").ok(), Some(RunState::Cancelled));
    }

    #[test]
    fn a_host_snapshot_shows_its_state_data_as_fields_of_their_own() {
        let host = HostSnapshot {
            host: "web-1".into(),
            state: HostState::Failed {
                step: Some(2),
                exit_code: Some(3),
                reason: "sudo wants a password".into(),
            },
            steps: 3,
            script: Some("deploy".into()),
            started_at: Some("2024-01-01T00:00:00Z".into()),
            finished_at: None,
            elapsed_ms: Some(4_100),
            excerpt: String::new(),
        };
        assert_eq!(
            serde_json::to_string(&host).expect("json"),
            r#"{"host":"web-1","state":"failed","step":2,"steps":3,"script":"deploy","exit_code":3,"reason":"sudo wants a password","started_at":"2024-01-01T00:00:00Z","finished_at":null,"elapsed_ms":4100}"#
        );
        let timed_out = HostSnapshot {
            state: HostState::TimedOut { step: 1 },
            excerpt: "tail".into(),
            ..host
        };
        assert_eq!(
            serde_json::to_string(&timed_out).expect("json"),
            r#"{"host":"web-1","state":"timed_out","step":1,"steps":3,"script":"deploy","exit_code":null,"reason":"script timed out","started_at":"2024-01-01T00:00:00Z","finished_at":null,"elapsed_ms":4100,"excerpt":"tail"}"#
        );
    }

    #[test]
    fn state_names_take_width_and_alignment() {
        assert_eq!(format!("[{:<11}]", HostState::Succeeded), "[succeeded  ]");
        assert_eq!(format!("[{:>9}]", RunState::Failed), "[   failed]");
        assert_eq!(HostState::TimedOut { step: 1 }.label(), "timed out");
    }
}
