//! Inventory persistence: hosts, server groups, scripts and their versions,
//! script groups and tasks.

use std::collections::HashMap;

use sha2::{Digest, Sha256};
use sqlx::sqlite::SqliteRow;
use sqlx::Row;

use super::{audit, ensure_absent, id_of, Store, Tx};
use crate::domain::{
    format_ms, now_ms, Actor, Host, HostEdit, Name, NewHost, OnFailure, RunOptions, Script,
    ScriptGroup, ScriptVersion, ServerGroup, Task,
};
pub use crate::domain::{ItemChange, ScriptGroupInput, ValidScript};
use crate::error::{EntityKind, Error, Result};

/// Hex SHA-256 of a script body.
pub fn body_sha256(body: &str) -> String {
    let digest = Sha256::digest(body.as_bytes());
    digest.iter().map(|b| format!("{b:02x}")).collect()
}

/// What a script change did.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ScriptChange {
    Added,
    /// A new body became version N.
    NewVersion(i64),
    /// Only description/timeout changed.
    MetadataChanged,
    Unchanged,
}

/// What [`Store::import_library`] did, item by item, in input order.
#[derive(Debug, Clone, Default)]
pub struct LibraryChanges {
    pub scripts: Vec<ScriptChange>,
    pub groups: Vec<ItemChange>,
}

/// What [`Store::import_inventory`] did, item by item, in input order.
#[derive(Debug, Clone, Default)]
pub struct InventoryChanges {
    pub groups: Vec<ItemChange>,
    pub hosts: Vec<ItemChange>,
}

fn host_from_row(row: &SqliteRow) -> Result<Host> {
    let port: i64 = row.try_get("port")?;
    Ok(Host {
        name: row.try_get("name")?,
        address: row.try_get("address")?,
        port: u16::try_from(port).unwrap_or(22),
        user: row.try_get("user")?,
        description: row.try_get("description")?,
        host_key: row.try_get("host_key")?,
        use_sudo: row.try_get::<i64, _>("use_sudo")? != 0,
        groups: Vec::new(),
        jump: row.try_get("jump")?,
    })
}

fn u32_of(v: i64) -> u32 {
    u32::try_from(v).unwrap_or(u32::MAX)
}

impl Store {
    // ---------------------------------------------------------------- hosts

    pub async fn add_host(&self, actor: &Actor, new: &NewHost) -> Result<Host> {
        let mut tx = self.begin().await?;
        insert_host(&mut tx, actor, new).await?;
        tx.commit().await?;
        self.host(new.name.as_str()).await
    }

    pub async fn hosts(&self) -> Result<Vec<Host>> {
        let mut conn = self.pool.acquire().await?;
        let rows = sqlx::query("SELECT * FROM hosts ORDER BY name")
            .fetch_all(&mut *conn)
            .await?;
        hosts_with_groups(&mut conn, &rows).await
    }

    pub async fn host(&self, name: &str) -> Result<Host> {
        let mut conn = self.pool.acquire().await?;
        load_host(&mut conn, name).await
    }

    /// The host named `name`, or `None` when the inventory has none.
    pub async fn find_host(&self, name: &str) -> Result<Option<Host>> {
        match self.host(name).await {
            Ok(host) => Ok(Some(host)),
            Err(Error::NotFound { .. }) => Ok(None),
            Err(e) => Err(e),
        }
    }

    pub async fn edit_host(&self, actor: &Actor, name: &str, edit: &HostEdit) -> Result<Host> {
        let mut tx = self.begin().await?;
        update_host(&mut tx, actor, name, edit).await?;
        tx.commit().await?;
        self.host(name).await
    }

    /// Removes a host. Refused while it belongs to groups, unless `force`.
    pub async fn remove_host(&self, actor: &Actor, name: &str, force: bool) -> Result<()> {
        let mut tx = self.begin().await?;
        let id = id_of(&mut tx, EntityKind::Host, name).await?;
        let groups: Vec<String> = sqlx::query_scalar(
            "SELECT 'server group ' || g.name FROM server_group_members m
             JOIN server_groups g ON g.id = m.group_id WHERE m.host_id = ? ORDER BY g.name",
        )
        .bind(id)
        .fetch_all(&mut *tx)
        .await?;
        if !groups.is_empty() && !force {
            return Err(Error::InUse {
                kind: EntityKind::Host,
                name: name.to_string(),
                users: groups,
                hint: "remove it from them first or use --force",
            });
        }
        sqlx::query("DELETE FROM hosts WHERE id = ?")
            .bind(id)
            .execute(&mut *tx)
            .await?;
        audit(
            &mut tx,
            actor,
            "host.rm",
            name,
            &format!("force={force}"),
            "ok",
        )
        .await?;
        tx.commit().await?;
        Ok(())
    }

    /// Pins (or with `None` forgets) a host's SSH key.
    pub async fn set_host_key(&self, actor: &Actor, name: &str, key: Option<&str>) -> Result<()> {
        let mut tx = self.begin().await?;
        let id = id_of(&mut tx, EntityKind::Host, name).await?;
        sqlx::query("UPDATE hosts SET host_key = ?, updated_at = ? WHERE id = ?")
            .bind(key)
            .bind(now_ms())
            .bind(id)
            .execute(&mut *tx)
            .await?;
        let detail = key.map_or_else(|| "forgotten".to_string(), |k| format!("pinned {k}"));
        audit(&mut tx, actor, "host.key", name, &detail, "ok").await?;
        tx.commit().await?;
        Ok(())
    }

    // -------------------------------------------------------- server groups

    pub async fn create_server_group(
        &self,
        actor: &Actor,
        name: &Name,
        description: &str,
    ) -> Result<()> {
        let mut tx = self.begin().await?;
        insert_server_group(&mut tx, actor, name, description).await?;
        tx.commit().await?;
        Ok(())
    }

    /// Deletes a server group. Refused while tasks use it, unless `force`
    /// (which deletes those tasks too).
    pub async fn delete_server_group(&self, actor: &Actor, name: &str, force: bool) -> Result<()> {
        let mut tx = self.begin().await?;
        delete_group_and_its_tasks(&mut tx, actor, GroupKind::Server, name, force).await?;
        tx.commit().await?;
        Ok(())
    }

    /// Adds hosts to a group. Every host must exist; hosts already in it are
    /// reported back, not errors. Returns the hosts actually added.
    pub async fn add_group_members(
        &self,
        actor: &Actor,
        group: &str,
        hosts: &[String],
    ) -> Result<Vec<String>> {
        let hosts = distinct_host_names(hosts)?;
        let mut tx = self.begin().await?;
        let added = insert_group_members(&mut tx, actor, group, &hosts).await?;
        tx.commit().await?;
        Ok(added)
    }

    /// Removes hosts from a group; each must be a member. Gives the hosts
    /// removed, each once.
    pub async fn remove_group_members(
        &self,
        actor: &Actor,
        group: &str,
        hosts: &[String],
    ) -> Result<Vec<String>> {
        let hosts = distinct_host_names(hosts)?;
        let mut tx = self.begin().await?;
        let group_id = id_of(&mut tx, EntityKind::ServerGroup, group).await?;
        for host in &hosts {
            let host_id = id_of(&mut tx, EntityKind::Host, host).await?;
            let done =
                sqlx::query("DELETE FROM server_group_members WHERE group_id = ? AND host_id = ?")
                    .bind(group_id)
                    .bind(host_id)
                    .execute(&mut *tx)
                    .await?;
            if done.rows_affected() == 0 {
                return Err(Error::Refused(format!(
                    "host '{host}' is not in server group '{group}'"
                )));
            }
        }
        audit(
            &mut tx,
            actor,
            "group.remove",
            group,
            &hosts.join(","),
            "ok",
        )
        .await?;
        tx.commit().await?;
        Ok(hosts)
    }

    pub async fn server_groups(&self) -> Result<Vec<ServerGroup>> {
        let names = self.names(EntityKind::ServerGroup).await?;
        let mut groups = Vec::with_capacity(names.len());
        for name in names {
            groups.push(self.server_group(&name).await?);
        }
        Ok(groups)
    }

    pub async fn server_group(&self, name: &str) -> Result<ServerGroup> {
        let (description, hosts) = self.group_members(GroupKind::Server, name).await?;
        Ok(ServerGroup {
            name: name.to_string(),
            description,
            hosts,
        })
    }

    /// A group's description and its members' names: a server group's
    /// hosts by name, a script group's scripts in order.
    async fn group_members(&self, group: GroupKind, name: &str) -> Result<(String, Vec<String>)> {
        let mut conn = self.pool.acquire().await?;
        let id = id_of(&mut conn, group.entity(), name).await?;
        let (_, table, _) = group.tables();
        let description: String =
            sqlx::query_scalar(&format!("SELECT description FROM {table} WHERE id = ?"))
                .bind(id)
                .fetch_one(&mut *conn)
                .await?;
        let members = sqlx::query_scalar(group.members_query())
            .bind(id)
            .fetch_all(&mut *conn)
            .await?;
        Ok((description, members))
    }

    /// The hosts of a server group, fully loaded, in name order.
    pub async fn server_group_hosts(&self, name: &str) -> Result<Vec<Host>> {
        let mut conn = self.pool.acquire().await?;
        let id = id_of(&mut conn, EntityKind::ServerGroup, name).await?;
        let rows = sqlx::query(
            "SELECT h.* FROM server_group_members m JOIN hosts h ON h.id = m.host_id
             WHERE m.group_id = ? ORDER BY h.name",
        )
        .bind(id)
        .fetch_all(&mut *conn)
        .await?;
        hosts_with_groups(&mut conn, &rows).await
    }

    // -------------------------------------------------------------- scripts

    /// Adds a new script (version 1).
    pub async fn add_script(&self, actor: &Actor, input: &ValidScript) -> Result<Script> {
        let mut tx = self.begin().await?;
        ensure_absent(&mut tx, EntityKind::Script, input.name.as_str()).await?;
        insert_script(&mut tx, actor, input).await?;
        tx.commit().await?;
        self.script(input.name.as_str(), None).await
    }

    /// Replaces a script's body (a new version when it differs) and,
    /// when given, its description and timeout.
    pub async fn edit_script(&self, actor: &Actor, input: &ValidScript) -> Result<ScriptChange> {
        let mut tx = self.begin().await?;
        id_of(&mut tx, EntityKind::Script, input.name.as_str()).await?;
        let change = update_script(&mut tx, actor, input).await?;
        tx.commit().await?;
        Ok(change)
    }

    /// Adds the script or updates it; used by import. Idempotent.
    pub async fn upsert_script(&self, actor: &Actor, input: &ValidScript) -> Result<ScriptChange> {
        let mut tx = self.begin().await?;
        let change = put_script(&mut tx, actor, input).await?;
        tx.commit().await?;
        Ok(change)
    }

    /// A script at its current version, or at `version`.
    pub async fn script(&self, name: &str, version: Option<i64>) -> Result<Script> {
        let mut conn = self.pool.acquire().await?;
        let id = id_of(&mut conn, EntityKind::Script, name).await?;
        let row = sqlx::query(
            "SELECT description, timeout_secs, current_version FROM scripts WHERE id = ?",
        )
        .bind(id)
        .fetch_one(&mut *conn)
        .await?;
        let current: i64 = row.try_get("current_version")?;
        let wanted = version.unwrap_or(current);
        let body_row = sqlx::query(
            "SELECT v.body_sha, b.body FROM script_versions v JOIN script_bodies b ON b.sha256 = v.body_sha
             WHERE v.script_id = ? AND v.version = ?",
        )
        .bind(id)
        .bind(wanted)
        .fetch_optional(&mut *conn)
        .await?
        .ok_or_else(|| Error::InvalidValue {
            what: "version",
            value: wanted.to_string(),
            expected: format!("script '{name}' has versions 1..={current}"),
        })?;
        let groups = sqlx::query_scalar(
            "SELECT DISTINCT g.name FROM script_group_entries e JOIN script_groups g ON g.id = e.group_id
             WHERE e.script_id = ? ORDER BY g.name",
        )
        .bind(id)
        .fetch_all(&mut *conn)
        .await?;
        let timeout: Option<i64> = row.try_get("timeout_secs")?;
        Ok(Script {
            name: name.to_string(),
            description: row.try_get("description")?,
            timeout_secs: timeout.and_then(|t| u64::try_from(t).ok()),
            version: wanted,
            body: body_row.try_get("body")?,
            sha256: body_row.try_get("body_sha")?,
            groups,
        })
    }

    pub async fn scripts(&self) -> Result<Vec<Script>> {
        let names = self.names(EntityKind::Script).await?;
        let mut scripts = Vec::with_capacity(names.len());
        for name in names {
            scripts.push(self.script(&name, None).await?);
        }
        Ok(scripts)
    }

    pub async fn script_history(&self, name: &str) -> Result<Vec<ScriptVersion>> {
        let mut conn = self.pool.acquire().await?;
        let id = id_of(&mut conn, EntityKind::Script, name).await?;
        let rows = sqlx::query(
            "SELECT v.version, v.body_sha, length(CAST(b.body AS BLOB)) AS bytes, v.created_at, v.created_by
             FROM script_versions v JOIN script_bodies b ON b.sha256 = v.body_sha
             WHERE v.script_id = ? ORDER BY v.version",
        )
        .bind(id)
        .fetch_all(&mut *conn)
        .await?;
        rows.iter()
            .map(|r| {
                Ok(ScriptVersion {
                    version: r.try_get("version")?,
                    sha256: r.try_get("body_sha")?,
                    bytes: usize::try_from(r.try_get::<i64, _>("bytes")?).unwrap_or(0),
                    created_at: format_ms(r.try_get("created_at")?),
                    created_by: r.try_get("created_by")?,
                })
            })
            .collect()
    }

    /// Removes a script and its versions (runs keep the bodies they ran).
    /// Refused while script groups use it, unless `force` (which takes it out
    /// of them).
    pub async fn remove_script(&self, actor: &Actor, name: &str, force: bool) -> Result<()> {
        let mut tx = self.begin().await?;
        let id = id_of(&mut tx, EntityKind::Script, name).await?;
        let groups: Vec<String> = sqlx::query_scalar(
            "SELECT DISTINCT g.name FROM script_group_entries e JOIN script_groups g ON g.id = e.group_id
             WHERE e.script_id = ? ORDER BY g.name",
        )
        .bind(id)
        .fetch_all(&mut *tx)
        .await?;
        if !groups.is_empty() && !force {
            return Err(Error::InUse {
                kind: EntityKind::Script,
                name: name.to_string(),
                users: groups.iter().map(|g| format!("script group {g}")).collect(),
                hint: "remove it from them first or use --force",
            });
        }
        for group in &groups {
            let group_id = super::id_of(&mut tx, EntityKind::ScriptGroup, group).await?;
            let mut entries = group_entries(&mut tx, group_id).await?;
            entries.retain(|e| *e != id);
            write_group_entries(&mut tx, group_id, &entries).await?;
        }
        sqlx::query("DELETE FROM scripts WHERE id = ?")
            .bind(id)
            .execute(&mut *tx)
            .await?;
        let detail = format!("force={force} removed_from=[{}]", groups.join(","));
        audit(&mut tx, actor, "script.rm", name, &detail, "ok").await?;
        tx.commit().await?;
        Ok(())
    }

    // -------------------------------------------------------- script groups

    /// Creates a script group, optionally with its scripts in order.
    pub async fn create_script_group(
        &self,
        actor: &Actor,
        name: &Name,
        description: &str,
        scripts: &[String],
    ) -> Result<()> {
        let mut tx = self.begin().await?;
        insert_script_group(&mut tx, actor, name, description, scripts).await?;
        tx.commit().await?;
        Ok(())
    }

    /// Inserts a script at a 1-based position (default: at the end).
    pub async fn script_group_add(
        &self,
        actor: &Actor,
        group: &str,
        script: &str,
        position: Option<i64>,
    ) -> Result<i64> {
        let mut tx = self.begin().await?;
        let group_id = id_of(&mut tx, EntityKind::ScriptGroup, group).await?;
        let script_id = id_of(&mut tx, EntityKind::Script, script).await?;
        let mut entries = group_entries(&mut tx, group_id).await?;
        if let Some(existing) = entries.iter().position(|e| *e == script_id) {
            return Err(Error::AlreadyInGroup {
                script: script.to_string(),
                group: group.to_string(),
                position: existing as i64 + 1,
            });
        }
        let max = entries.len() as i64 + 1;
        let position = position.unwrap_or(max);
        check_position(group, position, max)?;
        entries.insert((position - 1) as usize, script_id);
        write_group_entries(&mut tx, group_id, &entries).await?;
        let detail = format!("{script}@{position}");
        audit(&mut tx, actor, "scriptgroup.add", group, &detail, "ok").await?;
        tx.commit().await?;
        Ok(position)
    }

    /// Moves a script of the group to a 1-based position.
    pub async fn script_group_move(
        &self,
        actor: &Actor,
        group: &str,
        script: &str,
        position: i64,
    ) -> Result<()> {
        let mut tx = self.begin().await?;
        let group_id = id_of(&mut tx, EntityKind::ScriptGroup, group).await?;
        let script_id = id_of(&mut tx, EntityKind::Script, script).await?;
        let mut entries = group_entries(&mut tx, group_id).await?;
        let from = entries
            .iter()
            .position(|e| *e == script_id)
            .ok_or_else(|| {
                Error::Refused(format!(
                    "script '{script}' is not in script group '{group}'"
                ))
            })?;
        check_position(group, position, entries.len() as i64)?;
        let id = entries.remove(from);
        entries.insert((position - 1) as usize, id);
        write_group_entries(&mut tx, group_id, &entries).await?;
        let detail = format!("{script}@{position}");
        audit(&mut tx, actor, "scriptgroup.move", group, &detail, "ok").await?;
        tx.commit().await?;
        Ok(())
    }

    pub async fn script_group_remove(
        &self,
        actor: &Actor,
        group: &str,
        script: &str,
    ) -> Result<()> {
        let mut tx = self.begin().await?;
        let group_id = id_of(&mut tx, EntityKind::ScriptGroup, group).await?;
        let script_id = id_of(&mut tx, EntityKind::Script, script).await?;
        let mut entries = group_entries(&mut tx, group_id).await?;
        let before = entries.len();
        entries.retain(|e| *e != script_id);
        if entries.len() == before {
            return Err(Error::Refused(format!(
                "script '{script}' is not in script group '{group}'"
            )));
        }
        write_group_entries(&mut tx, group_id, &entries).await?;
        audit(&mut tx, actor, "scriptgroup.remove", group, script, "ok").await?;
        tx.commit().await?;
        Ok(())
    }

    /// Replaces a group's script list (import). Returns whether it changed.
    pub async fn set_script_group(
        &self,
        actor: &Actor,
        name: &Name,
        description: &str,
        scripts: &[String],
    ) -> Result<bool> {
        let mut tx = self.begin().await?;
        let change = put_script_group(&mut tx, actor, name, description, scripts).await?;
        tx.commit().await?;
        Ok(change != ItemChange::Unchanged)
    }

    /// Deletes a script group. Refused while tasks use it, unless `force`
    /// (which deletes those tasks too).
    pub async fn delete_script_group(&self, actor: &Actor, name: &str, force: bool) -> Result<()> {
        let mut tx = self.begin().await?;
        delete_group_and_its_tasks(&mut tx, actor, GroupKind::Script, name, force).await?;
        tx.commit().await?;
        Ok(())
    }

    pub async fn script_group(&self, name: &str) -> Result<ScriptGroup> {
        let (description, scripts) = self.group_members(GroupKind::Script, name).await?;
        Ok(ScriptGroup {
            name: name.to_string(),
            description,
            scripts,
        })
    }

    pub async fn script_groups(&self) -> Result<Vec<ScriptGroup>> {
        let names = self.names(EntityKind::ScriptGroup).await?;
        let mut groups = Vec::with_capacity(names.len());
        for name in names {
            groups.push(self.script_group(&name).await?);
        }
        Ok(groups)
    }

    // ---------------------------------------------------------------- tasks

    pub async fn create_task(
        &self,
        actor: &Actor,
        name: &Name,
        script_group: &str,
        server_group: &str,
        options: &RunOptions,
        description: &str,
    ) -> Result<Task> {
        options.validate()?;
        let mut tx = self.begin().await?;
        ensure_absent(&mut tx, EntityKind::Task, name.as_str()).await?;
        let sg = id_of(&mut tx, EntityKind::ScriptGroup, script_group).await?;
        let hg = id_of(&mut tx, EntityKind::ServerGroup, server_group).await?;
        sqlx::query(
            "INSERT INTO tasks (name, script_group_id, server_group_id, parallel, on_failure, max_failed_hosts,
                                use_sudo, description, created_at)
             VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)",
        )
        .bind(name.as_str())
        .bind(sg)
        .bind(hg)
        .bind(i64::from(options.parallel))
        .bind(options.on_failure.as_str())
        .bind(options.max_failed_hosts.map(i64::from))
        .bind(options.use_sudo)
        .bind(description)
        .bind(now_ms())
        .execute(&mut *tx)
        .await?;
        let detail = format!("{script_group} on {server_group} {options:?}");
        audit(&mut tx, actor, "task.create", name.as_str(), &detail, "ok").await?;
        tx.commit().await?;
        self.task(name.as_str()).await
    }

    pub async fn task(&self, name: &str) -> Result<Task> {
        let mut conn = self.pool.acquire().await?;
        let id = id_of(&mut conn, EntityKind::Task, name).await?;
        let row = sqlx::query(
            "SELECT t.name, sg.name AS script_group, hg.name AS server_group, t.parallel, t.on_failure,
                    t.max_failed_hosts, t.use_sudo, t.description
             FROM tasks t JOIN script_groups sg ON sg.id = t.script_group_id
             JOIN server_groups hg ON hg.id = t.server_group_id WHERE t.id = ?",
        )
        .bind(id)
        .fetch_one(&mut *conn)
        .await?;
        task_from_row(&row)
    }

    pub async fn tasks(&self) -> Result<Vec<Task>> {
        let names = self.names(EntityKind::Task).await?;
        let mut tasks = Vec::with_capacity(names.len());
        for name in names {
            tasks.push(self.task(&name).await?);
        }
        Ok(tasks)
    }

    pub async fn delete_task(&self, actor: &Actor, name: &str) -> Result<()> {
        super::delete_named(self, actor, EntityKind::Task, name, "task.delete").await
    }
}

// ------------------------------------------------------------------ import

impl Store {
    /// Imports a script library in one transaction: every script (added or
    /// updated), then every script group (created or replaced). Group
    /// entries may name scripts of `scripts` or scripts already stored.
    /// Anything refused leaves the database as it was.
    pub async fn import_library(
        &self,
        actor: &Actor,
        scripts: &[ValidScript],
        groups: &[ScriptGroupInput],
    ) -> Result<LibraryChanges> {
        let mut tx = self.begin().await?;
        let mut changes = LibraryChanges::default();
        for input in scripts {
            changes
                .scripts
                .push(put_script(&mut tx, actor, input).await?);
        }
        for group in groups {
            let change = put_script_group(
                &mut tx,
                actor,
                &group.name,
                &group.description,
                &group.scripts,
            )
            .await?;
            changes.groups.push(change);
        }
        tx.commit().await?;
        Ok(changes)
    }

    /// Imports an inventory in one transaction: server groups that do not
    /// exist yet are created (existing ones are left as they are), then new
    /// hosts are added and existing ones updated to match. Anything refused
    /// leaves the database as it was.
    pub async fn import_inventory(
        &self,
        actor: &Actor,
        groups: &[(Name, String)],
        hosts: &[NewHost],
    ) -> Result<InventoryChanges> {
        let mut tx = self.begin().await?;
        let mut changes = InventoryChanges::default();
        for (name, description) in groups {
            let change = if super::exists(&mut tx, EntityKind::ServerGroup, name.as_str()).await? {
                ItemChange::Unchanged
            } else {
                insert_server_group(&mut tx, actor, name, description).await?;
                ItemChange::Added
            };
            changes.groups.push(change);
        }
        for host in hosts {
            let change = if super::exists(&mut tx, EntityKind::Host, host.name.as_str()).await? {
                sync_host(&mut tx, actor, host).await?
            } else {
                insert_host(&mut tx, actor, host).await?;
                ItemChange::Added
            };
            changes.hosts.push(change);
        }
        tx.commit().await?;
        Ok(changes)
    }
}

fn task_from_row(row: &SqliteRow) -> Result<Task> {
    let on_failure: String = row.try_get("on_failure")?;
    let max_failed: Option<i64> = row.try_get("max_failed_hosts")?;
    Ok(Task {
        name: row.try_get("name")?,
        script_group: row.try_get("script_group")?,
        server_group: row.try_get("server_group")?,
        description: row.try_get("description")?,
        options: RunOptions {
            parallel: u32_of(row.try_get("parallel")?),
            on_failure: OnFailure::parse(&on_failure)?,
            max_failed_hosts: max_failed.map(u32_of),
            use_sudo: row.try_get::<i64, _>("use_sudo")? != 0,
        },
    })
}

fn check_position(group: &str, position: i64, max: i64) -> Result<()> {
    if position < 1 || position > max {
        return Err(Error::BadPosition {
            group: group.to_string(),
            position,
            max,
        });
    }
    Ok(())
}

async fn task_names_where(tx: &mut Tx<'_>, column: &str, id: i64) -> Result<Vec<String>> {
    Ok(sqlx::query_scalar(&format!(
        "SELECT name FROM tasks WHERE {column} = ? ORDER BY name"
    ))
    .bind(id)
    .fetch_all(&mut **tx)
    .await?)
}

async fn group_entries(tx: &mut Tx<'_>, group_id: i64) -> Result<Vec<i64>> {
    Ok(sqlx::query_scalar(
        "SELECT script_id FROM script_group_entries WHERE group_id = ? ORDER BY position",
    )
    .bind(group_id)
    .fetch_all(&mut **tx)
    .await?)
}

async fn write_group_entries(tx: &mut Tx<'_>, group_id: i64, script_ids: &[i64]) -> Result<()> {
    sqlx::query("DELETE FROM script_group_entries WHERE group_id = ?")
        .bind(group_id)
        .execute(&mut **tx)
        .await?;
    for (index, script_id) in script_ids.iter().enumerate() {
        sqlx::query(
            "INSERT INTO script_group_entries (group_id, position, script_id) VALUES (?, ?, ?)",
        )
        .bind(group_id)
        .bind(index as i64 + 1)
        .bind(script_id)
        .execute(&mut **tx)
        .await?;
    }
    Ok(())
}

async fn store_body(tx: &mut Tx<'_>, body: &str) -> Result<String> {
    let sha = body_sha256(body);
    sqlx::query("INSERT OR IGNORE INTO script_bodies (sha256, body) VALUES (?, ?)")
        .bind(&sha)
        .bind(body)
        .execute(&mut **tx)
        .await?;
    Ok(sha)
}

async fn insert_script(tx: &mut Tx<'_>, actor: &Actor, input: &ValidScript) -> Result<()> {
    let sha = store_body(tx, &input.body).await?;
    let now = now_ms();
    let timeout = input
        .timeout_secs
        .flatten()
        .map(|t| i64::try_from(t).unwrap_or(i64::MAX));
    let id: i64 = sqlx::query_scalar(
        "INSERT INTO scripts (name, description, timeout_secs, current_version, created_at, updated_at)
         VALUES (?, ?, ?, 1, ?, ?) RETURNING id",
    )
    .bind(input.name.as_str())
    .bind(input.description.clone().unwrap_or_default())
    .bind(timeout)
    .bind(now)
    .bind(now)
    .fetch_one(&mut **tx)
    .await?;
    sqlx::query("INSERT INTO script_versions (script_id, version, body_sha, created_at, created_by) VALUES (?, 1, ?, ?, ?)")
        .bind(id)
        .bind(&sha)
        .bind(now)
        .bind(actor.to_string())
        .execute(&mut **tx)
        .await?;
    audit(
        tx,
        actor,
        "script.add",
        input.name.as_str(),
        &format!("version=1 sha256={sha}"),
        "ok",
    )
    .await
}

async fn update_script(
    tx: &mut Tx<'_>,
    actor: &Actor,
    input: &ValidScript,
) -> Result<ScriptChange> {
    let name = input.name.as_str();
    let row = sqlx::query(
        "SELECT s.id, s.current_version, s.description, s.timeout_secs, v.body_sha FROM scripts s
         JOIN script_versions v ON v.script_id = s.id AND v.version = s.current_version WHERE s.name = ?",
    )
    .bind(name)
    .fetch_one(&mut **tx)
    .await?;
    let id: i64 = row.try_get("id")?;
    let current: i64 = row.try_get("current_version")?;
    let old_sha: String = row.try_get("body_sha")?;
    let old_description: String = row.try_get("description")?;
    let old_timeout: Option<i64> = row.try_get("timeout_secs")?;
    let now = now_ms();
    let mut change = ScriptChange::Unchanged;
    if body_sha256(&input.body) != old_sha {
        let sha = store_body(tx, &input.body).await?;
        let version = current + 1;
        sqlx::query("INSERT INTO script_versions (script_id, version, body_sha, created_at, created_by) VALUES (?, ?, ?, ?, ?)")
            .bind(id)
            .bind(version)
            .bind(&sha)
            .bind(now)
            .bind(actor.to_string())
            .execute(&mut **tx)
            .await?;
        sqlx::query("UPDATE scripts SET current_version = ?, updated_at = ? WHERE id = ?")
            .bind(version)
            .bind(now)
            .bind(id)
            .execute(&mut **tx)
            .await?;
        change = ScriptChange::NewVersion(version);
    }
    if let Some(description) = input
        .description
        .as_ref()
        .filter(|d| **d != old_description)
    {
        sqlx::query("UPDATE scripts SET description = ?, updated_at = ? WHERE id = ?")
            .bind(description)
            .bind(now)
            .bind(id)
            .execute(&mut **tx)
            .await?;
        if change == ScriptChange::Unchanged {
            change = ScriptChange::MetadataChanged;
        }
    }
    if let Some(timeout) = input.timeout_secs {
        let timeout = timeout.map(|t| i64::try_from(t).unwrap_or(i64::MAX));
        if timeout != old_timeout {
            sqlx::query("UPDATE scripts SET timeout_secs = ?, updated_at = ? WHERE id = ?")
                .bind(timeout)
                .bind(now)
                .bind(id)
                .execute(&mut **tx)
                .await?;
            if change == ScriptChange::Unchanged {
                change = ScriptChange::MetadataChanged;
            }
        }
    }
    if change != ScriptChange::Unchanged {
        audit(tx, actor, "script.edit", name, &format!("{change:?}"), "ok").await?;
    }
    Ok(change)
}

async fn insert_host(tx: &mut Tx<'_>, actor: &Actor, new: &NewHost) -> Result<()> {
    ensure_absent(tx, EntityKind::Host, new.name.as_str()).await?;
    let mut group_ids = Vec::new();
    for group in &new.groups {
        group_ids.push(id_of(tx, EntityKind::ServerGroup, group.as_str()).await?);
    }
    let now = now_ms();
    let id: i64 = sqlx::query_scalar(
            "INSERT INTO hosts (name, address, port, user, description, use_sudo, jump, created_at, updated_at)
             VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?) RETURNING id",
        )
        .bind(new.name.as_str())
        .bind(&new.address)
        .bind(i64::from(new.port))
        .bind(&new.user)
        .bind(&new.description)
        .bind(new.use_sudo)
        .bind(&new.jump)
        .bind(now)
        .bind(now)
        .fetch_one(&mut **tx)
        .await?;
    for group_id in group_ids {
        sqlx::query("INSERT INTO server_group_members (group_id, host_id) VALUES (?, ?)")
            .bind(group_id)
            .bind(id)
            .execute(&mut **tx)
            .await?;
    }
    let mut detail = format!(
        "address={} port={} user={:?}",
        new.address, new.port, new.user
    );
    if let Some(jump) = &new.jump {
        detail.push_str(&format!(" jump={jump}"));
    }
    audit(tx, actor, "host.add", new.name.as_str(), &detail, "ok").await
}

/// Hosts from rows of `hosts`, each with its server groups in name order
/// (one query for every membership, however many hosts).
async fn hosts_with_groups(
    conn: &mut sqlx::SqliteConnection,
    rows: &[SqliteRow],
) -> Result<Vec<Host>> {
    let memberships = sqlx::query(
        "SELECT m.host_id AS host_id, g.name AS grp FROM server_group_members m
         JOIN server_groups g ON g.id = m.group_id ORDER BY g.name",
    )
    .fetch_all(&mut *conn)
    .await?;
    let mut groups_of: HashMap<i64, Vec<String>> = HashMap::new();
    for m in &memberships {
        groups_of
            .entry(m.try_get("host_id")?)
            .or_default()
            .push(m.try_get("grp")?);
    }
    rows.iter()
        .map(|row| {
            let mut host = host_from_row(row)?;
            let id: i64 = row.try_get("id")?;
            host.groups = groups_of.remove(&id).unwrap_or_default();
            Ok(host)
        })
        .collect()
}

async fn load_host(conn: &mut sqlx::SqliteConnection, name: &str) -> Result<Host> {
    let id = id_of(conn, EntityKind::Host, name).await?;
    let row = sqlx::query("SELECT * FROM hosts WHERE id = ?")
        .bind(id)
        .fetch_one(&mut *conn)
        .await?;
    let mut host = host_from_row(&row)?;
    host.groups = sqlx::query_scalar(
        "SELECT g.name FROM server_group_members m JOIN server_groups g ON g.id = m.group_id
             WHERE m.host_id = ? ORDER BY g.name",
    )
    .bind(id)
    .fetch_all(&mut *conn)
    .await?;
    Ok(host)
}

/// A value a host edit writes to one column.
enum ColumnValue<'a> {
    Text(Option<&'a str>),
    Int(i64),
    Bool(bool),
}

/// The columns a host edit sets, each with its value and the words the
/// audit record gives it.
fn host_edit_columns(edit: &HostEdit) -> Vec<(&'static str, ColumnValue<'_>, String)> {
    let mut columns = Vec::new();
    if let Some(address) = &edit.address {
        let value = ColumnValue::Text(Some(address.as_str()));
        columns.push(("address", value, format!("address={address}")));
    }
    if let Some(port) = edit.port {
        let value = ColumnValue::Int(i64::from(port));
        columns.push(("port", value, format!("port={port}")));
    }
    if let Some(user) = &edit.user {
        let value = ColumnValue::Text(user.as_deref());
        columns.push(("user", value, format!("user={user:?}")));
    }
    if let Some(description) = &edit.description {
        let value = ColumnValue::Text(Some(description.as_str()));
        columns.push(("description", value, "description".to_string()));
    }
    if let Some(sudo) = edit.use_sudo {
        columns.push(("use_sudo", ColumnValue::Bool(sudo), format!("sudo={sudo}")));
    }
    if let Some(jump) = &edit.jump {
        let value = ColumnValue::Text(jump.as_deref());
        columns.push(("jump", value, format!("jump={jump:?}")));
    }
    columns
}

async fn update_host(tx: &mut Tx<'_>, actor: &Actor, name: &str, edit: &HostEdit) -> Result<()> {
    let id = id_of(tx, EntityKind::Host, name).await?;
    let columns = host_edit_columns(edit);
    if columns.is_empty() {
        return Err(Error::Refused(format!(
                "nothing to change for host '{name}': give at least one of --address, --port, --user, --default-user, --description, --sudo, --jump, --no-jump"
            )));
    }
    let assignments: Vec<String> = columns
        .iter()
        .map(|(column, _, _)| format!("{column} = ?"))
        .collect();
    let sql = format!(
        "UPDATE hosts SET {}, updated_at = ? WHERE id = ?",
        assignments.join(", ")
    );
    let mut query = sqlx::query(&sql);
    for (_, value, _) in &columns {
        query = match value {
            ColumnValue::Text(text) => query.bind(*text),
            ColumnValue::Int(number) => query.bind(*number),
            ColumnValue::Bool(flag) => query.bind(*flag),
        };
    }
    query.bind(now_ms()).bind(id).execute(&mut **tx).await?;
    let changes: Vec<&str> = columns.iter().map(|(_, _, words)| words.as_str()).collect();
    audit(tx, actor, "host.edit", name, &changes.join(" "), "ok").await
}

async fn insert_server_group(
    tx: &mut Tx<'_>,
    actor: &Actor,
    name: &Name,
    description: &str,
) -> Result<()> {
    ensure_absent(tx, EntityKind::ServerGroup, name.as_str()).await?;
    sqlx::query("INSERT INTO server_groups (name, description, created_at) VALUES (?, ?, ?)")
        .bind(name.as_str())
        .bind(description)
        .bind(now_ms())
        .execute(&mut **tx)
        .await?;
    audit(tx, actor, "group.create", name.as_str(), "", "ok").await
}

/// Adds existing hosts to a group; returns those not already in it.
async fn insert_group_members(
    tx: &mut Tx<'_>,
    actor: &Actor,
    group: &str,
    hosts: &[String],
) -> Result<Vec<String>> {
    let group_id = id_of(tx, EntityKind::ServerGroup, group).await?;
    let mut added = Vec::new();
    for host in hosts {
        let host_id = id_of(tx, EntityKind::Host, host).await?;
        let done = sqlx::query(
            "INSERT OR IGNORE INTO server_group_members (group_id, host_id) VALUES (?, ?)",
        )
        .bind(group_id)
        .bind(host_id)
        .execute(&mut **tx)
        .await?;
        if done.rows_affected() > 0 {
            added.push(host.clone());
        }
    }
    audit(tx, actor, "group.add", group, &added.join(","), "ok").await?;
    Ok(added)
}

/// Brings an existing host in line with `wanted` (fields, and membership
/// of wanted's groups; other memberships are kept).
async fn sync_host(tx: &mut Tx<'_>, actor: &Actor, wanted: &NewHost) -> Result<ItemChange> {
    let name = wanted.name.as_str();
    let current = load_host(tx, name).await?;
    let edit = HostEdit {
        address: (current.address != wanted.address).then(|| wanted.address.clone()),
        port: (current.port != wanted.port).then_some(wanted.port),
        user: (current.user != wanted.user).then(|| wanted.user.clone()),
        description: (current.description != wanted.description)
            .then(|| wanted.description.clone()),
        use_sudo: (current.use_sudo != wanted.use_sudo).then_some(wanted.use_sudo),
        jump: (current.jump != wanted.jump).then(|| wanted.jump.clone()),
    };
    let edited = edit.address.is_some()
        || edit.port.is_some()
        || edit.user.is_some()
        || edit.description.is_some()
        || edit.use_sudo.is_some()
        || edit.jump.is_some();
    if edited {
        update_host(tx, actor, name, &edit).await?;
    }
    let mut joined = false;
    for group in &wanted.groups {
        if !current.groups.iter().any(|g| g == group.as_str()) {
            insert_group_members(tx, actor, group.as_str(), &[name.to_string()]).await?;
            joined = true;
        }
    }
    Ok(if edited || joined {
        ItemChange::Changed
    } else {
        ItemChange::Unchanged
    })
}

/// Adds the script or updates it (a new version when the body differs).
async fn put_script(tx: &mut Tx<'_>, actor: &Actor, input: &ValidScript) -> Result<ScriptChange> {
    if super::exists(tx, EntityKind::Script, input.name.as_str()).await? {
        update_script(tx, actor, input).await
    } else {
        insert_script(tx, actor, input).await?;
        Ok(ScriptChange::Added)
    }
}

/// The ids of a group's scripts, in order; each must exist, once.
async fn script_ids(tx: &mut Tx<'_>, group: &Name, scripts: &[String]) -> Result<Vec<i64>> {
    let mut ids: Vec<i64> = Vec::with_capacity(scripts.len());
    for script in scripts {
        let id = id_of(tx, EntityKind::Script, script).await?;
        if let Some(pos) = ids.iter().position(|i| *i == id) {
            return Err(Error::AlreadyInGroup {
                script: script.clone(),
                group: group.to_string(),
                position: pos as i64 + 1,
            });
        }
        ids.push(id);
    }
    Ok(ids)
}

async fn insert_script_group(
    tx: &mut Tx<'_>,
    actor: &Actor,
    name: &Name,
    description: &str,
    scripts: &[String],
) -> Result<()> {
    ensure_absent(tx, EntityKind::ScriptGroup, name.as_str()).await?;
    let ids = script_ids(tx, name, scripts).await?;
    let group_id: i64 = sqlx::query_scalar(
        "INSERT INTO script_groups (name, description, created_at) VALUES (?, ?, ?) RETURNING id",
    )
    .bind(name.as_str())
    .bind(description)
    .bind(now_ms())
    .fetch_one(&mut **tx)
    .await?;
    write_group_entries(tx, group_id, &ids).await?;
    audit(
        tx,
        actor,
        "scriptgroup.create",
        name.as_str(),
        &scripts.join(","),
        "ok",
    )
    .await
}

/// Creates the script group or replaces its description and script list.
async fn put_script_group(
    tx: &mut Tx<'_>,
    actor: &Actor,
    name: &Name,
    description: &str,
    scripts: &[String],
) -> Result<ItemChange> {
    if !super::exists(tx, EntityKind::ScriptGroup, name.as_str()).await? {
        insert_script_group(tx, actor, name, description, scripts).await?;
        return Ok(ItemChange::Added);
    }
    let group_id = id_of(tx, EntityKind::ScriptGroup, name.as_str()).await?;
    let ids = script_ids(tx, name, scripts).await?;
    let current = group_entries(tx, group_id).await?;
    let old_description: String =
        sqlx::query_scalar("SELECT description FROM script_groups WHERE id = ?")
            .bind(group_id)
            .fetch_one(&mut **tx)
            .await?;
    if current == ids && old_description == description {
        return Ok(ItemChange::Unchanged);
    }
    write_group_entries(tx, group_id, &ids).await?;
    sqlx::query("UPDATE script_groups SET description = ? WHERE id = ?")
        .bind(description)
        .bind(group_id)
        .execute(&mut **tx)
        .await?;
    audit(
        tx,
        actor,
        "scriptgroup.set",
        name.as_str(),
        &scripts.join(","),
        "ok",
    )
    .await?;
    Ok(ItemChange::Changed)
}

/// The host names of a membership change, each once, in the order given;
/// an empty list is refused.
fn distinct_host_names(hosts: &[String]) -> Result<Vec<String>> {
    let mut distinct: Vec<String> = Vec::with_capacity(hosts.len());
    for host in hosts {
        if !distinct.contains(host) {
            distinct.push(host.clone());
        }
    }
    if distinct.is_empty() {
        return Err(Error::Refused(
            "no host names given: name at least one host (several separated by spaces or commas)"
                .into(),
        ));
    }
    Ok(distinct)
}

/// The two kinds of group tasks point at.
#[derive(Debug, Clone, Copy)]
enum GroupKind {
    Server,
    Script,
}

impl GroupKind {
    fn entity(self) -> EntityKind {
        match self {
            GroupKind::Server => EntityKind::ServerGroup,
            GroupKind::Script => EntityKind::ScriptGroup,
        }
    }

    /// The tasks column naming a group of this kind, its table, and the
    /// audit action of its deletion.
    fn tables(self) -> (&'static str, &'static str, &'static str) {
        match self {
            GroupKind::Server => ("server_group_id", "server_groups", "group.delete"),
            GroupKind::Script => ("script_group_id", "script_groups", "scriptgroup.delete"),
        }
    }

    /// The names of a group's members (`?`: the group's id), in the order
    /// shown: hosts by name, scripts by position.
    fn members_query(self) -> &'static str {
        match self {
            GroupKind::Server => {
                "SELECT h.name FROM server_group_members m JOIN hosts h ON h.id = m.host_id
                 WHERE m.group_id = ? ORDER BY h.name"
            }
            GroupKind::Script => {
                "SELECT s.name FROM script_group_entries e JOIN scripts s ON s.id = e.script_id
                 WHERE e.group_id = ? ORDER BY e.position"
            }
        }
    }
}

/// Deletes a group, audited. Refused while tasks use it, unless `force`
/// (which deletes those tasks too).
async fn delete_group_and_its_tasks(
    tx: &mut Tx<'_>,
    actor: &Actor,
    group: GroupKind,
    name: &str,
    force: bool,
) -> Result<()> {
    let (column, table, action) = group.tables();
    let id = id_of(tx, group.entity(), name).await?;
    let tasks = task_names_where(tx, column, id).await?;
    if !tasks.is_empty() && !force {
        return Err(Error::InUse {
            kind: group.entity(),
            name: name.to_string(),
            users: tasks.iter().map(|t| format!("task {t}")).collect(),
            hint: "delete those tasks first or use --force to delete them too",
        });
    }
    sqlx::query(&format!("DELETE FROM tasks WHERE {column} = ?"))
        .bind(id)
        .execute(&mut **tx)
        .await?;
    sqlx::query(&format!("DELETE FROM {table} WHERE id = ?"))
        .bind(id)
        .execute(&mut **tx)
        .await?;
    let detail = format!("force={force} tasks_deleted=[{}]", tasks.join(","));
    audit(tx, actor, action, name, &detail, "ok").await?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::distinct_host_names;

    #[test]
    fn membership_changes_name_each_host_once_and_at_least_one() {
        let names = |list: &[&str]| list.iter().map(|s| s.to_string()).collect::<Vec<_>>();
        assert_eq!(
            distinct_host_names(&names(&["b", "a", "b"])).ok(),
            Some(names(&["b", "a"]))
        );
        let refused = distinct_host_names(&[]).map_err(|e| e.to_string());
        assert_eq!(
            refused,
            Err("no host names given: name at least one host (several separated by spaces or commas)".into())
        );
    }
}
