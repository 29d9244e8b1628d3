//! Imports: a library of scripts and script groups, or an inventory of
//! server groups and hosts, each in one transaction.

use super::*;

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
            let change =
                if crate::store::exists(&mut tx, EntityKind::ServerGroup, name.as_str()).await? {
                    ItemChange::Unchanged
                } else {
                    insert_server_group(&mut tx, actor, name, description).await?;
                    ItemChange::Added
                };
            changes.groups.push(change);
        }
        for host in hosts {
            let change =
                if crate::store::exists(&mut tx, EntityKind::Host, host.name.as_str()).await? {
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
