//! `drover import` and `drover export`: the `commands/` script library (a
//! directory) and inventory files. Imports are idempotent: importing the
//! same thing twice changes nothing the second time. Everything is read and
//! validated before anything is written, in one transaction.
//!
//! Library layout: `scripts/NAME.sh` (metadata in the header comments:
//! `# description: ...`, `# timeout: 10m`) and `groups.toml` with one table
//! per script group (`description`, `scripts = [...]`).
//!
//! Inventory files come in several formats ([`format`]): drover's TOML
//! ([`inventory_toml`]), Ansible INI and YAML ([`ansible`]), plain host
//! lists ([`host_list`]) and ssh_config Host entries ([`ssh_config`]). Each
//! parser turns text into a raw [`document`], which one validation checks;
//! the writing is the application layer's (`app::library`).

pub mod ansible;
pub mod document;
pub mod export;
pub mod format;
pub mod host_list;
pub mod inventory_toml;
pub mod ssh_config;

use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};

use std::collections::HashMap;

use serde::{Deserialize, Serialize};

use self::document::{HostNames, RawInventory, ValidHost, ValidInventory};
use self::format::Format;
use crate::domain::{
    parse_duration, parse_script_body, Host, ItemChange, Name, NewHost, ScriptGroupInput,
    ValidScript,
};
use crate::error::{EntityKind, Error, Result};

/// What an import did, by item (e.g. "script setup-apache (version 2)").
#[derive(Debug, Default, Clone, Serialize)]
pub struct ImportReport {
    pub added: Vec<String>,
    pub changed: Vec<String>,
    pub unchanged: usize,
    /// What the file holds that was not imported.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub warnings: Vec<String>,
}

impl ImportReport {
    pub fn is_noop(&self) -> bool {
        self.added.is_empty() && self.changed.is_empty()
    }

    pub(crate) fn record(&mut self, change: ItemChange, item: String) {
        match change {
            ItemChange::Added => self.added.push(item),
            ItemChange::Changed => self.changed.push(item),
            ItemChange::Unchanged => self.unchanged += 1,
        }
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
        for warning in &self.warnings {
            writeln!(f, "warning  {warning}")?;
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

/// How an inventory file is read.
#[derive(Debug, Clone, Default)]
pub struct ImportOptions {
    /// `None`: told by the file's extension, else its content.
    pub format: Option<Format>,
    /// Server groups every imported host joins (created if missing).
    pub groups: Vec<String>,
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
fn read_library_scripts(dir: &Path) -> Result<Vec<ValidScript>> {
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
    let mut seen: BTreeMap<String, PathBuf> = BTreeMap::new();
    for path in paths {
        let stem = path
            .file_stem()
            .and_then(|s| s.to_str())
            .unwrap_or_default();
        let name =
            Name::parse(EntityKind::Script, stem).map_err(|e| import_err(&path, e.to_string()))?;
        if let Some(first) = seen.insert(stem.to_string(), path.clone()) {
            return Err(import_err(
                &path,
                format!(
                    "{} and {} both give script name '{stem}'; rename one",
                    first.display(),
                    path.display()
                ),
            ));
        }
        let bytes = std::fs::read(&path).map_err(|e| import_err(&path, e.to_string()))?;
        let body = parse_script_body(bytes).map_err(|e| import_err(&path, e.to_string()))?;
        let header = parse_header(&body);
        let timeout = header
            .timeout
            .as_deref()
            .map(|t| parse_duration("timeout", t).map(|d| d.as_secs()))
            .transpose()
            .map_err(|e| import_err(&path, e.to_string()))?;
        inputs.push(ValidScript {
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
        message: toml_error(&text, &e),
    })
}

/// The script groups of groups.toml, validated: names follow the naming
/// rule, every script is listed once and is in the library being imported
/// or already stored.
fn validate_library_groups(
    path: &Path,
    groups: BTreeMap<String, GroupFile>,
    library: &BTreeSet<&str>,
    stored: &BTreeSet<String>,
) -> Result<Vec<ScriptGroupInput>> {
    let import_err = |message: String| Error::Import {
        path: path.display().to_string(),
        message,
    };
    let mut inputs = Vec::with_capacity(groups.len());
    for (name, group) in groups {
        let name =
            Name::parse(EntityKind::ScriptGroup, &name).map_err(|e| import_err(e.to_string()))?;
        let mut seen = BTreeSet::new();
        for script in &group.scripts {
            if !seen.insert(script.as_str()) {
                return Err(import_err(format!(
                    "script group '{name}' lists script '{script}' more than once"
                )));
            }
            if !library.contains(script.as_str()) && !stored.contains(script) {
                return Err(import_err(format!(
                    "script group '{name}' names unknown script '{script}': it is neither in scripts/ nor already stored"
                )));
            }
        }
        inputs.push(ScriptGroupInput {
            name,
            description: group.description,
            scripts: group.scripts,
        });
    }
    Ok(inputs)
}

/// The `commands/` library in `dir`, every script and script group
/// validated (`stored`: the names of the scripts already stored, which
/// groups may name too). A bad file refuses the whole library.
pub fn read_library(
    dir: &Path,
    stored: &BTreeSet<String>,
) -> Result<(Vec<ValidScript>, Vec<ScriptGroupInput>)> {
    let scripts = read_library_scripts(dir)?;
    let library: BTreeSet<&str> = scripts.iter().map(|s| s.name.as_str()).collect();
    let groups = validate_library_groups(
        &dir.join("groups.toml"),
        read_library_groups(dir)?,
        &library,
        stored,
    )?;
    Ok((scripts, groups))
}

/// Reads and validates an inventory file; every host joins
/// `options.groups` too.
pub fn read_inventory_file(path: &Path, options: &ImportOptions) -> Result<ValidInventory> {
    for group in &options.groups {
        Name::parse(EntityKind::ServerGroup, group)?;
    }
    let (mut raw, names) = read_inventory(path, options.format)?;
    for host in &mut raw.hosts {
        host.groups.extend(options.groups.iter().cloned());
    }
    document::validate(raw, names)
}

/// Parses an inventory file in its format (given, or told from the file);
/// also says how its host names are taken.
fn read_inventory(path: &Path, format: Option<Format>) -> Result<(RawInventory, HostNames)> {
    let file = path.display().to_string();
    let text =
        std::fs::read_to_string(path).map_err(|e| Error::io(format!("cannot read {file}"), e))?;
    let format = format
        .or_else(|| format::detect(path, &text))
        .ok_or_else(|| Error::Import {
            path: file.clone(),
            message: format!(
                "cannot tell the format of this file; give --format with one of: {}",
                Format::NAMES.join(", ")
            ),
        })?;
    let foreign = HostNames::LowerCaseDns;
    Ok(match format {
        Format::Toml => (inventory_toml::parse(&file, &text)?, HostNames::Exact),
        Format::AnsibleIni => (ansible::ini::parse(&file, &text)?, foreign),
        Format::AnsibleYaml => (ansible::yaml::parse(&file, &text)?, foreign),
        Format::Hosts => (host_list::parse(&file, &text)?, foreign),
        Format::SshConfig => (ssh_config::read(path, None)?, foreign),
    })
}

/// The hosts to write. A field the file cannot express (description and
/// sudo, outside drover's own format) keeps an existing host's value;
/// every other field is as the file says, as in `host edit`.
pub fn complete_hosts(hosts: Vec<ValidHost>, existing: &[Host]) -> Vec<NewHost> {
    let existing: HashMap<&str, &Host> = existing.iter().map(|h| (h.name.as_str(), h)).collect();
    hosts
        .into_iter()
        .map(|valid| {
            let mut host = valid.host;
            if let Some(current) = existing.get(host.name.as_str()) {
                if !valid.description_given {
                    host.description.clone_from(&current.description);
                }
                if !valid.sudo_given {
                    host.use_sudo = current.use_sudo;
                }
                if !valid.jump_given {
                    host.jump.clone_from(&current.jump);
                }
            }
            host
        })
        .collect()
}

/// A TOML error with where it is: `line L, column C: message`.
pub(crate) fn toml_error(text: &str, error: &toml::de::Error) -> String {
    let Some(before) = error.span().and_then(|span| text.get(..span.start)) else {
        return error.message().to_string();
    };
    let line = before.matches('\n').count() + 1;
    let column = before.len() - before.rfind('\n').map_or(0, |i| i + 1) + 1;
    format!("line {line}, column {column}: {}", error.message())
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
