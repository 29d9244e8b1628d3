//! Import of the `commands/` script library (a directory) and of inventory
//! files (TOML). Both are idempotent: importing the same thing twice
//! changes nothing the second time.
//!
//! Library layout: `scripts/NAME.sh` (metadata in the header comments:
//! `# description: ...`, `# timeout: 10m`) and `groups.toml` with one table
//! per script group (`description`, `scripts = [...]`).

use std::collections::BTreeMap;
use std::path::Path;

use serde::{Deserialize, Serialize};

use crate::domain::{parse_duration, parse_script_body, Actor, Name};
use crate::error::{Error, Kind, Result};
use crate::ops::{Drover, HostAdd, HostEditArgs};
use crate::store::{ScriptChange, ScriptInput};

/// What an import did, by item (e.g. "script setup-apache (version 2)").
#[derive(Debug, Default, Clone, Serialize)]
pub struct ImportReport {
    pub added: Vec<String>,
    pub changed: Vec<String>,
    pub unchanged: usize,
}

impl ImportReport {
    pub fn is_noop(&self) -> bool {
        self.added.is_empty() && self.changed.is_empty()
    }
}

impl std::fmt::Display for ImportReport {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        for item in &self.added {
            writeln!(f, "added    {item}")?;
        }
        for item in &self.changed {
            writeln!(f, "changed  {item}")?;
        }
        write!(
            f,
            "{} added, {} changed, {} unchanged",
            self.added.len(),
            self.changed.len(),
            self.unchanged
        )
    }
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct GroupFile {
    #[serde(default)]
    description: String,
    scripts: Vec<String>,
}

/// An inventory file: hosts and server groups.
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Inventory {
    #[serde(default)]
    pub hosts: Vec<InventoryHost>,
    #[serde(default)]
    pub groups: BTreeMap<String, InventoryGroup>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct InventoryHost {
    pub name: String,
    pub address: String,
    pub port: Option<i64>,
    pub user: Option<String>,
    #[serde(default)]
    pub description: String,
    #[serde(default)]
    pub groups: Vec<String>,
    #[serde(default)]
    pub sudo: bool,
}

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct InventoryGroup {
    #[serde(default)]
    pub description: String,
}

/// Imports a library directory or an inventory file.
pub async fn import(drover: &Drover, actor: &Actor, path: &Path) -> Result<ImportReport> {
    if path.is_dir() {
        import_library(drover, actor, path).await
    } else if path.is_file() {
        import_inventory(drover, actor, path).await
    } else {
        Err(Error::Import {
            path: path.display().to_string(),
            message:
                "no such file or directory; give the commands/ directory or an inventory .toml file"
                    .into(),
        })
    }
}

/// Metadata from a script's header comments.
#[derive(Debug, Default, PartialEq)]
struct Header {
    description: Option<String>,
    timeout: Option<String>,
}

fn parse_header(body: &str) -> Header {
    let mut header = Header::default();
    for line in body.lines().skip_while(|l| l.starts_with("#!")) {
        let Some(comment) = line.strip_prefix('#') else {
            break;
        };
        let comment = comment.trim();
        if let Some(v) = comment.strip_prefix("description:") {
            header.description = Some(v.trim().to_string());
        } else if let Some(v) = comment.strip_prefix("timeout:") {
            header.timeout = Some(v.trim().to_string());
        }
    }
    header
}

/// Parses every script file first, so that a bad file refuses the whole
/// import before anything is written.
fn read_library_scripts(dir: &Path) -> Result<Vec<ScriptInput>> {
    let scripts_dir = dir.join("scripts");
    let import_err = |path: &Path, message: String| Error::Import {
        path: path.display().to_string(),
        message,
    };
    let entries = std::fs::read_dir(&scripts_dir).map_err(|e| {
        import_err(
            &scripts_dir,
            format!("cannot read the scripts directory: {e}"),
        )
    })?;
    let mut paths = entries
        .filter_map(|e| e.ok().map(|e| e.path()))
        .filter(|p| {
            p.extension()
                .is_some_and(|x| x == "sh" || x == "py" || x == "bash")
        })
        .collect::<Vec<_>>();
    paths.sort();
    let mut inputs = Vec::with_capacity(paths.len());
    for path in paths {
        let stem = path
            .file_stem()
            .and_then(|s| s.to_str())
            .unwrap_or_default();
        let name = Name::parse(Kind::Script, stem).map_err(|e| import_err(&path, e.to_string()))?;
        let bytes = std::fs::read(&path).map_err(|e| import_err(&path, e.to_string()))?;
        let body = parse_script_body(bytes).map_err(|e| import_err(&path, e.to_string()))?;
        let header = parse_header(&body);
        let timeout = header
            .timeout
            .as_deref()
            .map(|t| parse_duration("timeout", t).map(|d| d.as_secs()))
            .transpose()
            .map_err(|e| import_err(&path, e.to_string()))?;
        inputs.push(ScriptInput {
            name,
            body,
            description: Some(header.description.unwrap_or_default()),
            timeout_secs: Some(timeout),
        });
    }
    Ok(inputs)
}

fn read_library_groups(dir: &Path) -> Result<BTreeMap<String, GroupFile>> {
    let path = dir.join("groups.toml");
    if !path.exists() {
        return Ok(BTreeMap::new());
    }
    let text = std::fs::read_to_string(&path)
        .map_err(|e| Error::io(format!("cannot read {}", path.display()), e))?;
    toml::from_str(&text).map_err(|e| Error::Import {
        path: path.display().to_string(),
        message: e.message().to_string(),
    })
}

async fn import_library(drover: &Drover, actor: &Actor, dir: &Path) -> Result<ImportReport> {
    let scripts = read_library_scripts(dir)?;
    let groups = read_library_groups(dir)?;
    let mut report = ImportReport::default();
    for input in &scripts {
        match drover.store.upsert_script(actor, input).await? {
            ScriptChange::Added => report.added.push(format!("script {}", input.name)),
            ScriptChange::NewVersion(v) => report
                .changed
                .push(format!("script {} (version {v})", input.name)),
            ScriptChange::MetadataChanged => report
                .changed
                .push(format!("script {} (description/timeout)", input.name)),
            ScriptChange::Unchanged => report.unchanged += 1,
        }
    }
    for (name, group) in &groups {
        let name = Name::parse(Kind::ScriptGroup, name)?;
        let existed = drover
            .store
            .names(Kind::ScriptGroup)
            .await?
            .contains(&name.to_string());
        let changed = drover
            .store
            .set_script_group(actor, &name, &group.description, &group.scripts)
            .await?;
        match (changed, existed) {
            (true, false) => report.added.push(format!("script group {name}")),
            (true, true) => report.changed.push(format!("script group {name}")),
            (false, _) => report.unchanged += 1,
        }
    }
    Ok(report)
}

async fn import_inventory(drover: &Drover, actor: &Actor, path: &Path) -> Result<ImportReport> {
    let text = std::fs::read_to_string(path)
        .map_err(|e| Error::io(format!("cannot read {}", path.display()), e))?;
    let inventory: Inventory = toml::from_str(&text).map_err(|e| Error::Import {
        path: path.display().to_string(),
        message: e.message().to_string(),
    })?;
    let mut report = ImportReport::default();
    let mut group_names: Vec<String> = inventory.groups.keys().cloned().collect();
    for host in &inventory.hosts {
        group_names.extend(host.groups.iter().cloned());
    }
    group_names.sort();
    group_names.dedup();
    let existing_groups = drover.store.names(Kind::ServerGroup).await?;
    for group in &group_names {
        if existing_groups.contains(group) {
            report.unchanged += 1;
        } else {
            let description = inventory.groups.get(group).map(|g| g.description.clone());
            drover.group_create(actor, group, description).await?;
            report.added.push(format!("server group {group}"));
        }
    }
    let existing_hosts = drover.store.names(Kind::Host).await?;
    for host in &inventory.hosts {
        if existing_hosts.contains(&host.name) {
            import_existing_host(drover, actor, host, &mut report).await?;
        } else {
            drover
                .host_add(
                    actor,
                    HostAdd {
                        name: host.name.clone(),
                        address: host.address.clone(),
                        port: host.port,
                        user: host.user.clone(),
                        groups: host.groups.clone(),
                        description: Some(host.description.clone()),
                        sudo: host.sudo,
                    },
                )
                .await?;
            report.added.push(format!("host {}", host.name));
        }
    }
    Ok(report)
}

async fn import_existing_host(
    drover: &Drover,
    actor: &Actor,
    wanted: &InventoryHost,
    report: &mut ImportReport,
) -> Result<()> {
    let current = drover.store.host(&wanted.name).await?;
    let address = crate::domain::parse_address(&wanted.address)?;
    let port = crate::domain::parse_port(wanted.port.unwrap_or(22))?;
    let mut edit = HostEditArgs::default();
    let mut changed = false;
    if current.address != address {
        edit.address = Some(address);
        changed = true;
    }
    if current.port != port {
        edit.port = Some(i64::from(port));
        changed = true;
    }
    if current.user != wanted.user {
        edit.user = wanted.user.clone();
        edit.default_user = wanted.user.is_none();
        changed = true;
    }
    if current.description != wanted.description {
        edit.description = Some(wanted.description.clone());
        changed = true;
    }
    if current.use_sudo != wanted.sudo {
        edit.sudo = Some(wanted.sudo);
        changed = true;
    }
    if changed {
        drover.host_edit(actor, &wanted.name, edit).await?;
    }
    let missing: Vec<String> = wanted
        .groups
        .iter()
        .filter(|g| !current.groups.contains(g))
        .cloned()
        .collect();
    for group in &missing {
        drover
            .store
            .add_group_members(actor, group, std::slice::from_ref(&wanted.name))
            .await?;
    }
    if changed || !missing.is_empty() {
        report.changed.push(format!("host {}", wanted.name));
    } else {
        report.unchanged += 1;
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn header_metadata() {
        let h = parse_header("#!/bin/sh\n# description: Disk usage\n# timeout: 5m\n# other\nset -eu\n# description: not me\n");
        assert_eq!(h.description.as_deref(), Some("Disk usage"));
        assert_eq!(h.timeout.as_deref(), Some("5m"));
    }
}
