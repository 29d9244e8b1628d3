//! Scripts and their versions (bodies stored once, by SHA-256).

use super::*;

impl Store {
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
}

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

pub(super) async fn store_body(tx: &mut Tx<'_>, body: &str) -> Result<String> {
    let sha = body_sha256(body);
    sqlx::query("INSERT OR IGNORE INTO script_bodies (sha256, body) VALUES (?, ?)")
        .bind(&sha)
        .bind(body)
        .execute(&mut **tx)
        .await?;
    Ok(sha)
}

pub(super) async fn insert_script(
    tx: &mut Tx<'_>,
    actor: &Actor,
    input: &ValidScript,
) -> Result<()> {
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

pub(super) async fn update_script(
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

/// Adds the script or updates it (a new version when the body differs).
pub(super) async fn put_script(
    tx: &mut Tx<'_>,
    actor: &Actor,
    input: &ValidScript,
) -> Result<ScriptChange> {
    if crate::store::exists(tx, EntityKind::Script, input.name.as_str()).await? {
        update_script(tx, actor, input).await
    } else {
        insert_script(tx, actor, input).await?;
        Ok(ScriptChange::Added)
    }
}
