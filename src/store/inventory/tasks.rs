//! Tasks: a script group on a server group with run options.

use super::*;

impl Store {
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

    /// Replaces task `before`'s definition with `after` (same name), in
    /// one transaction, audited with what changed.
    pub async fn update_task(&self, actor: &Actor, before: &Task, after: &Task) -> Result<Task> {
        after.options.validate()?;
        let mut tx = self.begin().await?;
        let id = id_of(&mut tx, EntityKind::Task, &before.name).await?;
        let sg = id_of(&mut tx, EntityKind::ScriptGroup, &after.script_group).await?;
        let hg = id_of(&mut tx, EntityKind::ServerGroup, &after.server_group).await?;
        sqlx::query(
            "UPDATE tasks SET script_group_id = ?, server_group_id = ?, parallel = ?, on_failure = ?,
                              max_failed_hosts = ?, use_sudo = ?, description = ?
             WHERE id = ?",
        )
        .bind(sg)
        .bind(hg)
        .bind(i64::from(after.options.parallel))
        .bind(after.options.on_failure.as_str())
        .bind(after.options.max_failed_hosts.map(i64::from))
        .bind(after.options.use_sudo)
        .bind(&after.description)
        .bind(id)
        .execute(&mut *tx)
        .await?;
        let detail = task_changes(before, after);
        audit(&mut tx, actor, "task.edit", &before.name, &detail, "ok").await?;
        tx.commit().await?;
        self.task(&before.name).await
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
        crate::store::delete_named(self, actor, EntityKind::Task, name, "task.delete").await
    }
}

/// What an edit changed, as the audit trail records it: `field: old -> new`.
fn task_changes(before: &Task, after: &Task) -> String {
    let limit = |m: Option<u32>| m.map_or_else(|| "none".to_string(), |m| m.to_string());
    let fields = [
        (
            "script group",
            before.script_group.clone(),
            after.script_group.clone(),
        ),
        (
            "server group",
            before.server_group.clone(),
            after.server_group.clone(),
        ),
        (
            "parallel",
            before.options.parallel.to_string(),
            after.options.parallel.to_string(),
        ),
        (
            "on failure",
            before.options.on_failure.as_str().to_string(),
            after.options.on_failure.as_str().to_string(),
        ),
        (
            "max failed hosts",
            limit(before.options.max_failed_hosts),
            limit(after.options.max_failed_hosts),
        ),
        (
            "sudo",
            before.options.use_sudo.to_string(),
            after.options.use_sudo.to_string(),
        ),
        (
            "description",
            before.description.clone(),
            after.description.clone(),
        ),
    ];
    fields
        .iter()
        .filter(|(_, old, new)| old != new)
        .map(|(field, old, new)| format!("{field}: {old} -> {new}"))
        .collect::<Vec<_>>()
        .join(", ")
}

pub(super) fn u32_of(v: i64) -> u32 {
    u32::try_from(v).unwrap_or(u32::MAX)
}

pub(super) fn task_from_row(row: &SqliteRow) -> Result<Task> {
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

pub(super) async fn task_names_where(
    tx: &mut Tx<'_>,
    column: &str,
    id: i64,
) -> Result<Vec<String>> {
    Ok(sqlx::query_scalar(&format!(
        "SELECT name FROM tasks WHERE {column} = ? ORDER BY name"
    ))
    .bind(id)
    .fetch_all(&mut **tx)
    .await?)
}
