//! What server groups and script groups share: their members, and deletion
//! with the tasks that use them.

use super::*;

impl Store {
    /// A group's description and its members' names: a server group's
    /// hosts by name, a script group's scripts in order.
    pub(super) async fn group_members(
        &self,
        group: GroupKind,
        name: &str,
    ) -> Result<(String, Vec<String>)> {
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
}

/// The two kinds of group tasks point at.
#[derive(Debug, Clone, Copy)]
pub(super) enum GroupKind {
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
pub(super) async fn delete_group_and_its_tasks(
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
