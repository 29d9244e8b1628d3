//! The Host entries of an OpenSSH client configuration as inventory hosts:
//! each Host pattern that names one host (no `*`, `?` or `!`) is a host
//! named by its alias, at its `HostName` (else the alias), with the `Port`
//! and `User` ssh would use for it (the first value obtained, `Host *`
//! blocks included). The first block that names an alias is its place.
//! Reads files (the configuration and what it includes) through
//! [`crate::ssh_config`].

use std::collections::HashSet;
use std::path::Path;

use super::document::{Located, Origin, RawHost, RawInventory};
use crate::error::{Error, Result};
use crate::ssh_config::{HostPattern, SshConfig, SshConfigError};

/// Reads `path` (and its includes); `home` resolves `~` and relative
/// `Include` paths (`None`: the user's home directory).
pub fn read(path: &Path, home: Option<&Path>) -> Result<RawInventory> {
    let config = SshConfig::load(path, home).map_err(refusal)?;
    let mut seen: HashSet<&str> = HashSet::new();
    let mut inventory = RawInventory::default();
    for block in config.host_blocks() {
        let origin = Origin::at(&block.at.file.display().to_string(), block.at.line);
        for alias in block.patterns.iter().filter_map(HostPattern::alias) {
            if !seen.insert(alias) {
                continue;
            }
            let settings = config
                .settings(alias)
                .map_err(|why| origin.refuse(format!("host '{alias}': {why}")))?;
            let located = |value: String| Located::new(value, origin.clone());
            inventory.hosts.push(RawHost {
                address: settings.host_name.map(located),
                port: settings.port.map(|p| located(p.to_string())),
                user: settings.user.map(located),
                ..RawHost::named(alias, origin.clone())
            });
        }
    }
    Ok(inventory)
}

fn refusal(error: SshConfigError) -> Error {
    match error {
        SshConfigError::At { at, message } => Error::ImportAt {
            file: at.file.display().to_string(),
            line: at.line,
            message,
        },
        SshConfigError::File { file, message } => Error::Import {
            path: file.display().to_string(),
            message,
        },
    }
}
