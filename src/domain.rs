//! The domain model: names, hosts, groups, scripts, tasks and their
//! validation. Pure data and rules; no I/O.

use std::fmt;
use std::net::IpAddr;
use std::time::Duration;

use serde::Serialize;

use crate::error::{EntityKind, Error, Result};

/// The one naming rule for every kind of thing.
pub const NAME_RULE: &str =
    "names are 1-64 characters of lower-case letters, digits, '-', '_' and '.', starting with a letter or digit";

/// Largest accepted script body.
pub const MAX_SCRIPT_BYTES: usize = 1024 * 1024;

/// A validated name of a host, group, script, script group or task.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize)]
#[serde(transparent)]
pub struct Name(String);

impl Name {
    pub fn parse(kind: EntityKind, raw: &str) -> Result<Name> {
        let valid_char =
            |c: char| c.is_ascii_lowercase() || c.is_ascii_digit() || "-_.".contains(c);
        let starts_ok = raw
            .chars()
            .next()
            .is_some_and(|c| c.is_ascii_lowercase() || c.is_ascii_digit());
        if raw.is_empty() || raw.len() > 64 || !starts_ok || !raw.chars().all(valid_char) {
            return Err(Error::InvalidName {
                kind,
                name: raw.to_string(),
                rule: NAME_RULE,
            });
        }
        Ok(Name(raw.to_string()))
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl fmt::Display for Name {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

/// Validates a host address: an IPv4/IPv6 literal or a DNS name.
pub fn parse_address(raw: &str) -> Result<String> {
    let bad = |why: &str| Error::InvalidValue {
        what: "address",
        value: raw.to_string(),
        expected: format!("{why}; expected a DNS name, an IPv4 or an IPv6 address"),
    };
    let trimmed = raw.trim_start_matches('[').trim_end_matches(']');
    if trimmed.parse::<IpAddr>().is_ok() {
        return Ok(trimmed.to_string());
    }
    if trimmed.is_empty() || trimmed.len() > 253 {
        return Err(bad("length must be 1-253"));
    }
    let labels_ok = trimmed.trim_end_matches('.').split('.').all(|label| {
        !label.is_empty()
            && label.len() <= 63
            && !label.starts_with('-')
            && !label.ends_with('-')
            && label.chars().all(|c| c.is_ascii_alphanumeric() || c == '-')
    });
    let all_numeric = trimmed
        .split('.')
        .all(|l| l.chars().all(|c| c.is_ascii_digit()));
    if !labels_ok || all_numeric {
        return Err(bad("not a valid DNS name or IP address"));
    }
    Ok(trimmed.to_ascii_lowercase())
}

/// Validates a login user name (POSIX-portable user names).
pub fn parse_user(raw: &str) -> Result<String> {
    let ok = !raw.is_empty()
        && raw.len() <= 32
        && !raw.starts_with('-')
        && raw
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || "._-".contains(c));
    if ok {
        Ok(raw.to_string())
    } else {
        Err(Error::InvalidValue {
            what: "user",
            value: raw.to_string(),
            expected: "1-32 characters of letters, digits, '.', '_' and '-', not starting with '-'"
                .into(),
        })
    }
}

pub fn parse_port(raw: i64) -> Result<u16> {
    u16::try_from(raw)
        .ok()
        .filter(|p| *p != 0)
        .ok_or_else(|| Error::InvalidValue {
            what: "port",
            value: raw.to_string(),
            expected: "a TCP port between 1 and 65535".into(),
        })
}

/// Parses a humantime duration such as `10m` or `1h 30m` (at least one second).
pub fn parse_duration(what: &'static str, raw: &str) -> Result<Duration> {
    let parsed = humantime::parse_duration(raw.trim()).map_err(|e| Error::InvalidValue {
        what,
        value: raw.to_string(),
        expected: format!("{e}; expected a duration such as 30s, 10m or 1h"),
    })?;
    if parsed < Duration::from_secs(1) {
        return Err(Error::InvalidValue {
            what,
            value: raw.to_string(),
            expected: "at least 1s".into(),
        });
    }
    Ok(parsed)
}

/// Validates a script body: UTF-8 text, not empty, at most 1 MiB.
pub fn parse_script_body(bytes: Vec<u8>) -> Result<String> {
    if bytes.len() > MAX_SCRIPT_BYTES {
        return Err(Error::ScriptTooLarge {
            size: bytes.len(),
            limit: MAX_SCRIPT_BYTES,
        });
    }
    let body = String::from_utf8(bytes).map_err(|e| Error::ScriptNotUtf8 {
        offset: e.utf8_error().valid_up_to(),
    })?;
    if body.trim().is_empty() {
        return Err(Error::ScriptEmpty);
    }
    Ok(body)
}

/// The interpreter a body asks for: its shebang line, or `/bin/sh`.
pub fn interpreter(body: &str) -> &str {
    body.lines()
        .next()
        .and_then(|l| l.strip_prefix("#!"))
        .map(str::trim)
        .filter(|s| !s.is_empty())
        .unwrap_or("/bin/sh")
}

/// A host in the inventory.
#[derive(Debug, Clone, Serialize)]
pub struct Host {
    pub name: String,
    pub address: String,
    pub port: u16,
    /// `None`: the configured default user.
    pub user: Option<String>,
    pub description: String,
    pub host_key: Option<String>,
    pub use_sudo: bool,
    pub groups: Vec<String>,
    /// Jump hosts: `none`, or `[user@]host[:port]` hops separated by
    /// commas. `None`: as ssh_config says.
    pub jump: Option<String>,
}

/// What `host add` needs.
#[derive(Debug, Clone)]
pub struct NewHost {
    pub name: Name,
    pub address: String,
    pub port: u16,
    pub user: Option<String>,
    pub description: String,
    pub use_sudo: bool,
    pub groups: Vec<Name>,
    pub jump: Option<String>,
}

/// Changes of `host edit`; `None` leaves a field as it is.
#[derive(Debug, Clone, Default)]
pub struct HostEdit {
    pub address: Option<String>,
    pub port: Option<u16>,
    /// `Some(None)` resets to the configured default user.
    pub user: Option<Option<String>>,
    pub description: Option<String>,
    pub use_sudo: Option<bool>,
    /// `Some(None)` clears the jump hosts (ssh_config's apply again).
    pub jump: Option<Option<String>>,
}

#[derive(Debug, Clone, Serialize)]
pub struct ServerGroup {
    pub name: String,
    pub description: String,
    pub hosts: Vec<String>,
}

#[derive(Debug, Clone, Serialize)]
pub struct Script {
    pub name: String,
    pub description: String,
    pub timeout_secs: Option<u64>,
    pub version: i64,
    pub body: String,
    pub sha256: String,
    pub groups: Vec<String>,
}

#[derive(Debug, Clone, Serialize)]
pub struct ScriptVersion {
    pub version: i64,
    pub sha256: String,
    pub bytes: usize,
    pub created_at: String,
    pub created_by: String,
}

#[derive(Debug, Clone, Serialize)]
pub struct ScriptGroup {
    pub name: String,
    pub description: String,
    pub scripts: Vec<String>,
}

/// What a failing script does to its host.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum OnFailure {
    /// The host stops at the failing script (default).
    Stop,
    /// The host goes on with its next script.
    Continue,
}

impl OnFailure {
    pub fn as_str(self) -> &'static str {
        match self {
            OnFailure::Stop => "stop",
            OnFailure::Continue => "continue",
        }
    }

    pub fn parse(raw: &str) -> Result<Self> {
        match raw {
            "stop" => Ok(OnFailure::Stop),
            "continue" => Ok(OnFailure::Continue),
            other => Err(Error::InvalidValue {
                what: "on-failure",
                value: other.to_string(),
                expected: "'stop' or 'continue'".into(),
            }),
        }
    }
}

/// Default number of hosts worked on at once.
pub const DEFAULT_PARALLEL: u32 = 64;

/// How a task runs.
#[derive(Debug, Clone, Serialize)]
pub struct RunOptions {
    /// Hosts at once.
    pub parallel: u32,
    pub on_failure: OnFailure,
    /// Failed hosts after which hosts not yet started are skipped.
    pub max_failed_hosts: Option<u32>,
    pub use_sudo: bool,
}

impl Default for RunOptions {
    fn default() -> Self {
        RunOptions {
            parallel: DEFAULT_PARALLEL,
            on_failure: OnFailure::Stop,
            max_failed_hosts: None,
            use_sudo: false,
        }
    }
}

impl RunOptions {
    pub fn validate(&self) -> Result<()> {
        if self.parallel == 0 || self.parallel > 4096 {
            return Err(Error::InvalidValue {
                what: "parallel",
                value: self.parallel.to_string(),
                expected: "between 1 and 4096 hosts at once".into(),
            });
        }
        if self.max_failed_hosts == Some(0) {
            return Err(Error::InvalidValue {
                what: "max-failed-hosts",
                value: "0".into(),
                expected: "at least 1 (leave it out for no limit)".into(),
            });
        }
        Ok(())
    }
}

#[derive(Debug, Clone, Serialize)]
pub struct Task {
    pub name: String,
    pub script_group: String,
    pub server_group: String,
    pub description: String,
    #[serde(flatten)]
    pub options: RunOptions,
}

/// One entry of the audit trail.
#[derive(Debug, Clone, Serialize)]
pub struct AuditEntry {
    pub at: String,
    pub actor: String,
    pub action: String,
    pub target: String,
    pub detail: String,
    pub outcome: String,
}

/// Who asks for a change: recorded in the audit trail.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Actor {
    /// A CLI user, by OS user name.
    Cli(String),
    /// A Discord user, by id.
    Discord(u64),
    /// A web dashboard account, by name.
    Web(String),
    /// drover itself (e.g. the engine finishing a run).
    System,
}

impl fmt::Display for Actor {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Actor::Cli(user) => write!(f, "cli:{user}"),
            Actor::Discord(id) => write!(f, "discord:{id}"),
            Actor::Web(name) => write!(f, "web:{name}"),
            Actor::System => f.write_str("drover"),
        }
    }
}

/// Milliseconds since the Unix epoch.
pub fn now_ms() -> i64 {
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap_or_default();
    i64::try_from(now.as_millis()).unwrap_or(i64::MAX)
}

/// RFC 3339 rendering of epoch milliseconds (UTC, second precision).
pub fn format_ms(ms: i64) -> String {
    let secs = u64::try_from(ms / 1000).unwrap_or(0);
    humantime::format_rfc3339_seconds(std::time::UNIX_EPOCH + Duration::from_secs(secs)).to_string()
}

/// A script to add or update, every field validated.
#[derive(Debug, Clone)]
pub struct ValidScript {
    pub name: Name,
    pub body: String,
    pub description: Option<String>,
    /// `Some(None)` clears the timeout.
    pub timeout_secs: Option<Option<u64>>,
}

/// A script group as an import wants it: its scripts, in order.
#[derive(Debug, Clone)]
pub struct ScriptGroupInput {
    pub name: Name,
    pub description: String,
    pub scripts: Vec<String>,
}

/// What an import did to one item (script groups, server groups, hosts).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ItemChange {
    Added,
    Changed,
    Unchanged,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_follow_one_rule() {
        for ok in ["web", "web-1", "a", "db_2.prod", "0x"] {
            assert!(Name::parse(EntityKind::Host, ok).is_ok(), "{ok}");
        }
        let long = "a".repeat(65);
        for bad in [
            "",
            "Web",
            "-web",
            ".x",
            "web 1",
            "wéb",
            long.as_str(),
            "a/b",
        ] {
            let err = Name::parse(EntityKind::Host, bad).unwrap_err().to_string();
            assert!(err.contains("lower-case letters"), "{bad}: {err}");
        }
    }

    #[test]
    fn addresses() {
        assert_eq!(parse_address("10.0.0.1").unwrap(), "10.0.0.1");
        assert_eq!(parse_address("[::1]").unwrap(), "::1");
        assert_eq!(
            parse_address("Web-1.Example.org").unwrap(),
            "web-1.example.org"
        );
        for bad in ["", "a..b", "-x.org", "10.0.0.300", "has space", "x_y.org"] {
            assert!(parse_address(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn bodies_and_interpreters() {
        assert!(matches!(
            parse_script_body(vec![0xff, 0xfe]),
            Err(Error::ScriptNotUtf8 { offset: 0 })
        ));
        assert!(matches!(
            parse_script_body(vec![b'a'; MAX_SCRIPT_BYTES + 1]),
            Err(Error::ScriptTooLarge { .. })
        ));
        assert!(matches!(
            parse_script_body(b"  \n".to_vec()),
            Err(Error::ScriptEmpty)
        ));
        assert_eq!(
            interpreter("#!/usr/bin/env python3\nprint(1)"),
            "/usr/bin/env python3"
        );
        assert_eq!(interpreter("echo hi"), "/bin/sh");
    }

    #[test]
    fn durations() {
        assert_eq!(
            parse_duration("timeout", "10m").unwrap(),
            Duration::from_secs(600)
        );
        assert!(parse_duration("timeout", "ten").is_err());
        assert!(parse_duration("timeout", "0s").is_err());
    }
}
