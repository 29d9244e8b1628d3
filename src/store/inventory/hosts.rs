//! Hosts: add, list, show, edit, key pinning, removal.

use super::*;

impl Store {
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
}

pub(super) fn host_from_row(row: &SqliteRow) -> Result<Host> {
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

pub(super) async fn insert_host(tx: &mut Tx<'_>, actor: &Actor, new: &NewHost) -> Result<()> {
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
pub(super) async fn hosts_with_groups(
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

pub(super) async fn load_host(conn: &mut sqlx::SqliteConnection, name: &str) -> Result<Host> {
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
pub(super) enum ColumnValue<'a> {
    Text(Option<&'a str>),
    Int(i64),
    Bool(bool),
}

/// The columns a host edit sets, each with its value and the words the
/// audit record gives it.
pub(super) fn host_edit_columns(edit: &HostEdit) -> Vec<(&'static str, ColumnValue<'_>, String)> {
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

pub(super) async fn update_host(
    tx: &mut Tx<'_>,
    actor: &Actor,
    name: &str,
    edit: &HostEdit,
) -> Result<()> {
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

/// Brings an existing host in line with `wanted` (fields, and membership
/// of wanted's groups; other memberships are kept).
pub(super) async fn sync_host(
    tx: &mut Tx<'_>,
    actor: &Actor,
    wanted: &NewHost,
) -> Result<ItemChange> {
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
