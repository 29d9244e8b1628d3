//! Script groups: ordered lists of scripts.

use super::*;

impl Store {
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
}

pub(super) fn check_position(group: &str, position: i64, max: i64) -> Result<()> {
    if position < 1 || position > max {
        return Err(Error::BadPosition {
            group: group.to_string(),
            position,
            max,
        });
    }
    Ok(())
}

pub(super) async fn group_entries(tx: &mut Tx<'_>, group_id: i64) -> Result<Vec<i64>> {
    Ok(sqlx::query_scalar(
        "SELECT script_id FROM script_group_entries WHERE group_id = ? ORDER BY position",
    )
    .bind(group_id)
    .fetch_all(&mut **tx)
    .await?)
}

pub(super) async fn write_group_entries(
    tx: &mut Tx<'_>,
    group_id: i64,
    script_ids: &[i64],
) -> Result<()> {
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

/// The ids of a group's scripts, in order; each must exist, once.
pub(super) async fn script_ids(
    tx: &mut Tx<'_>,
    group: &Name,
    scripts: &[String],
) -> Result<Vec<i64>> {
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

pub(super) async fn insert_script_group(
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
pub(super) async fn put_script_group(
    tx: &mut Tx<'_>,
    actor: &Actor,
    name: &Name,
    description: &str,
    scripts: &[String],
) -> Result<ItemChange> {
    if !crate::store::exists(tx, EntityKind::ScriptGroup, name.as_str()).await? {
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
