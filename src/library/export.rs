//! `drover export`: the hosts and server groups as an inventory file in
//! drover's own format, the one `drover import` reads, so that a team can
//! keep its inventory in git. Exporting, importing into an empty database
//! and exporting again gives the same text. Pinned host keys are not
//! exported: a key is learned by connecting (or from `ssh.known_hosts`),
//! never from an inventory file.

use std::collections::BTreeMap;

use super::inventory_toml::{Inventory, InventoryGroup, InventoryHost};
use crate::domain::{Host, ServerGroup};
use crate::error::{Error, Result};
use crate::ops::Drover;

/// The first lines of an exported file.
const HEADER: &str = "# drover inventory: hosts and server groups (written by `drover export`).\n\
                      # Import it with `drover import FILE.toml`.\n\n";

/// The stored inventory as a document (sorted by name).
pub async fn inventory(drover: &Drover) -> Result<Inventory> {
    let hosts = drover.store.hosts().await?;
    let groups = drover.store.server_groups().await?;
    Ok(document(&hosts, &groups))
}

/// The document of `hosts` and `groups`.
pub fn document(hosts: &[Host], groups: &[ServerGroup]) -> Inventory {
    Inventory {
        hosts: hosts
            .iter()
            .map(|host| InventoryHost {
                name: host.name.clone(),
                address: host.address.clone(),
                port: (host.port != 22).then_some(i64::from(host.port)),
                user: host.user.clone(),
                description: host.description.clone(),
                groups: host.groups.clone(),
                sudo: host.use_sudo,
            })
            .collect(),
        groups: groups
            .iter()
            .map(|group| {
                let description = group.description.clone();
                (group.name.clone(), InventoryGroup { description })
            })
            .collect::<BTreeMap<_, _>>(),
    }
}

/// The document as an inventory TOML file.
pub fn to_toml(inventory: &Inventory) -> Result<String> {
    let body = toml::to_string(inventory)
        .map_err(|e| Error::Refused(format!("cannot write the inventory as TOML: {e}")))?;
    Ok(format!("{HEADER}{body}"))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn host(name: &str, port: u16, groups: &[&str]) -> Host {
        Host {
            name: name.into(),
            address: "2001:db8::1".into(),
            port,
            user: None,
            description: String::new(),
            host_key: Some("ssh-ed25519 AAAA".into()),
            use_sudo: false,
            groups: groups.iter().map(|g| g.to_string()).collect(),
        }
    }

    #[test]
    fn defaults_and_keys_are_left_out() {
        let mut db = host("db-1", 2222, &["db"]);
        db.user = Some("admin".into());
        db.description = "primary \"db\"".into();
        db.use_sudo = true;
        let groups = [
            ServerGroup {
                name: "db".into(),
                description: "databases".into(),
                hosts: vec!["db-1".into()],
            },
            ServerGroup {
                name: "empty.group".into(),
                description: String::new(),
                hosts: vec![],
            },
        ];
        let text = to_toml(&document(&[db, host("web-1", 22, &[])], &groups)).unwrap();
        let expected = format!(
            "{HEADER}[[hosts]]\nname = \"db-1\"\naddress = \"2001:db8::1\"\nport = 2222\nuser = \"admin\"\ndescription = 'primary \"db\"'\ngroups = [\"db\"]\nsudo = true\n\n\
             [[hosts]]\nname = \"web-1\"\naddress = \"2001:db8::1\"\n\n\
             [groups.db]\ndescription = \"databases\"\n\n[groups.\"empty.group\"]\n"
        );
        assert_eq!(text, expected);
        assert!(!text.contains("AAAA"));
    }
}
