//! Import and export: the `commands/` library and inventory files read and
//! validated by [`crate::library`] (the pure parsers), then written in one
//! transaction; the stored inventory as an exportable document.

use std::collections::BTreeSet;
use std::path::Path;

use super::App;
use crate::domain::Actor;
use crate::error::{EntityKind, Error, Result};
use crate::library::inventory_toml::Inventory;
use crate::library::{ImportOptions, ImportReport};
use crate::store::ScriptChange;

impl App {
    /// Imports a library directory or an inventory file. Idempotent:
    /// importing the same thing twice changes nothing the second time.
    pub async fn import(
        &self,
        actor: &Actor,
        path: &Path,
        options: &ImportOptions,
    ) -> Result<ImportReport> {
        let refuse = |message: &str| Error::Import {
            path: path.display().to_string(),
            message: message.into(),
        };
        if path.is_dir() {
            if options.format.is_some() || !options.groups.is_empty() {
                return Err(refuse("--format and --group apply to inventory files; a directory is imported as the commands/ library"));
            }
            self.import_library(actor, path).await
        } else if path.is_file() {
            self.import_inventory(actor, path, options).await
        } else {
            Err(refuse(
                "no such file or directory; give the commands/ directory or an inventory file",
            ))
        }
    }

    /// Validates the whole library, then writes it in one transaction.
    async fn import_library(&self, actor: &Actor, dir: &Path) -> Result<ImportReport> {
        let stored: BTreeSet<String> = self
            .store
            .names(EntityKind::Script)
            .await?
            .into_iter()
            .collect();
        let (scripts, groups) = crate::library::read_library(dir, &stored)?;
        let changes = self.store.import_library(actor, &scripts, &groups).await?;
        let mut report = ImportReport::default();
        for (input, change) in scripts.iter().zip(&changes.scripts) {
            match change {
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
        for (group, change) in groups.iter().zip(&changes.groups) {
            report.record(*change, format!("script group {}", group.name));
        }
        Ok(report)
    }

    /// Reads, validates and writes an inventory file.
    async fn import_inventory(
        &self,
        actor: &Actor,
        path: &Path,
        options: &ImportOptions,
    ) -> Result<ImportReport> {
        let valid = crate::library::read_inventory_file(path, options)?;
        let existing = self.store.hosts().await?;
        let hosts = crate::library::complete_hosts(valid.hosts, &existing);
        let changes = self
            .store
            .import_inventory(actor, &valid.groups, &hosts)
            .await?;
        let mut report = ImportReport {
            warnings: valid.warnings,
            ..ImportReport::default()
        };
        for ((name, _), change) in valid.groups.iter().zip(&changes.groups) {
            report.record(*change, format!("server group {name}"));
        }
        for (host, change) in hosts.iter().zip(&changes.hosts) {
            report.record(*change, format!("host {}", host.name));
        }
        Ok(report)
    }

    /// The stored inventory as a document (sorted by name), the one
    /// `drover export` writes.
    pub async fn export_inventory(&self) -> Result<Inventory> {
        let hosts = self.store.hosts().await?;
        let groups = self.store.server_groups().await?;
        Ok(crate::library::export::document(&hosts, &groups))
    }
}
