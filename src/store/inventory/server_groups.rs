//! Server groups and their members.

use super::*;

impl Store {
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
}

pub(super) async fn insert_server_group(
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
pub(super) async fn insert_group_members(
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

/// The host names of a membership change, each once, in the order given;
/// an empty list is refused.
pub(super) fn distinct_host_names(hosts: &[String]) -> Result<Vec<String>> {
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
