//! The raw input of operations: `XxxInput` structs of the strings and
//! numbers front ends were given, validated inside the app so that every
//! front end refuses the same things in the same words.

use crate::domain::{parse_address, parse_port, parse_user, Name, NewHost};
use crate::error::{EntityKind, Result};

/// Names typed in one field (Discord options, web forms), separated by
/// commas, spaces or line breaks.
pub fn name_list(raw: &str) -> Vec<String> {
    raw.split(|c: char| c == ',' || c.is_whitespace())
        .filter(|name| !name.is_empty())
        .map(str::to_string)
        .collect()
}

/// Raw input of `host add`.
#[derive(Debug, Clone, Default)]
pub struct HostInput {
    pub name: String,
    pub address: String,
    pub port: Option<i64>,
    pub user: Option<String>,
    pub groups: Vec<String>,
    pub description: Option<String>,
    pub sudo: bool,
    /// Jump hosts (`a,b`, `user@host:port`, or `none`).
    pub jump: Option<String>,
}

/// Checks a jump list as `--jump` takes it.
pub(super) fn parse_jump(raw: &str) -> Result<String> {
    crate::ssh::route::check_jump_list(raw).map_err(|e| crate::error::Error::InvalidValue {
        what: "--jump",
        value: raw.to_string(),
        expected: e.to_string(),
    })?;
    Ok(raw.trim().to_string())
}

impl HostInput {
    /// The host, every field checked (the CLI, Discord and inventory files
    /// all come through here).
    pub fn validate(&self) -> Result<NewHost> {
        Ok(NewHost {
            name: Name::parse(EntityKind::Host, &self.name)?,
            address: parse_address(&self.address)?,
            port: parse_port(self.port.unwrap_or(22))?,
            user: self.user.as_deref().map(parse_user).transpose()?,
            description: self.description.clone().unwrap_or_default(),
            use_sudo: self.sudo,
            groups: self
                .groups
                .iter()
                .map(|g| Name::parse(EntityKind::ServerGroup, g))
                .collect::<Result<_>>()?,
            jump: self.jump.as_deref().map(parse_jump).transpose()?,
        })
    }
}

/// Raw input of `host edit`.
#[derive(Debug, Clone, Default)]
pub struct HostEditInput {
    pub address: Option<String>,
    pub port: Option<i64>,
    pub user: Option<String>,
    pub default_user: bool,
    pub description: Option<String>,
    pub sudo: Option<bool>,
    pub jump: Option<String>,
    /// Clear the jump hosts.
    pub no_jump: bool,
}

/// Raw input of `script add` / `script edit`.
#[derive(Debug, Clone, Default)]
pub struct ScriptInput {
    pub name: String,
    pub body: Vec<u8>,
    pub description: Option<String>,
    /// humantime, or `none` to clear on edit.
    pub timeout: Option<String>,
}

/// Raw input of `task create`.
#[derive(Debug, Clone, Default)]
pub struct TaskInput {
    pub name: String,
    pub script_group: String,
    pub server_group: String,
    pub parallel: Option<i64>,
    pub continue_on_error: bool,
    pub max_failed_hosts: Option<i64>,
    pub sudo: bool,
    pub description: Option<String>,
}

/// Raw input of `task edit`: what to change (`None`: keep).
#[derive(Debug, Clone, Default)]
pub struct TaskEditInput {
    pub script_group: Option<String>,
    pub server_group: Option<String>,
    pub parallel: Option<i64>,
    /// `Some(true)`: go on after a failure; `Some(false)`: stop the host.
    pub continue_on_error: Option<bool>,
    pub max_failed_hosts: Option<i64>,
    /// Clear the limit of failed hosts.
    pub no_max_failed_hosts: bool,
    pub sudo: Option<bool>,
    pub description: Option<String>,
}

impl TaskEditInput {
    /// True when it asks for no change at all.
    pub fn is_empty(&self) -> bool {
        self.script_group.is_none()
            && self.server_group.is_none()
            && self.parallel.is_none()
            && self.continue_on_error.is_none()
            && self.max_failed_hosts.is_none()
            && !self.no_max_failed_hosts
            && self.sudo.is_none()
            && self.description.is_none()
    }
}

pub(super) fn to_u32(what: &'static str, raw: i64, expected: &str) -> Result<u32> {
    u32::try_from(raw).map_err(|_| crate::error::Error::InvalidValue {
        what,
        value: raw.to_string(),
        expected: expected.to_string(),
    })
}

/// Overrides given on `task run`.
#[derive(Debug, Clone, Default)]
pub struct RunInput {
    pub parallel: Option<i64>,
    pub continue_on_error: bool,
    pub max_failed_hosts: Option<i64>,
    pub sudo: bool,
    /// `KEY=VALUE` strings.
    pub env: Vec<String>,
}

/// Parses `KEY=VALUE` (KEY a shell variable name, not a DROVER_ one).
pub fn parse_env(raw: &str) -> Result<(String, String)> {
    // Only the key is ever echoed: a word without `=` may be a bare secret.
    let (key, value) = raw.split_once('=').ok_or_else(|| {
        crate::error::Error::Refused(
            "an --env value has no '=': expected KEY=VALUE (the word itself is not repeated here)"
                .into(),
        )
    })?;
    let bad = |why: &str| crate::error::Error::InvalidValue {
        what: "--env",
        value: key.to_string(),
        expected: why.to_string(),
    };
    if !crate::run_env::valid_key(key) {
        return Err(bad(
            "KEY must be letters, digits and '_', not starting with a digit",
        ));
    }
    if key.starts_with("DROVER_") {
        return Err(bad("DROVER_* variables are set by drover itself"));
    }
    Ok((key.to_string(), value.to_string()))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn name_lists_split_on_commas_spaces_and_lines() {
        assert_eq!(
            name_list(" web1, web2\r\nweb3  ,,"),
            ["web1", "web2", "web3"]
        );
        assert!(name_list(" , ").is_empty());
    }
}
