//! drover's own inventory file (TOML): `[[hosts]]` entries and
//! `[groups.NAME]` tables. The same types are read by `drover import` and
//! written by `drover export`, so an exported file imports back as it was.
//! Pure.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

use super::document::{Located, Origin, RawGroup, RawHost, RawInventory};
use crate::error::Result;

/// An inventory file: hosts and server groups.
#[derive(Debug, Default, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct Inventory {
    #[serde(default)]
    pub hosts: Vec<InventoryHost>,
    #[serde(default)]
    pub groups: BTreeMap<String, InventoryGroup>,
}

/// A host; fields at their defaults are left out when written.
#[derive(Debug, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct InventoryHost {
    pub name: String,
    pub address: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub port: Option<i64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub user: Option<String>,
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub description: String,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub groups: Vec<String>,
    #[serde(default, skip_serializing_if = "is_false")]
    pub sudo: bool,
}

#[derive(Debug, Default, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct InventoryGroup {
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub description: String,
}

fn is_false(value: &bool) -> bool {
    !*value
}

/// Reads an inventory file; `file` names it in refusals (TOML errors say
/// their line and column; the entries have no line).
pub fn parse(file: &str, text: &str) -> Result<RawInventory> {
    let origin = Origin::file(file);
    let inventory: Inventory =
        toml::from_str(text).map_err(|e| origin.refuse(super::toml_error(text, &e)))?;
    let located = |value: String| Located::new(value, origin.clone());
    let hosts = inventory
        .hosts
        .into_iter()
        .map(|host| RawHost {
            address: Some(located(host.address)),
            port: host.port.map(|p| located(p.to_string())),
            user: host.user.map(located),
            description: Some(host.description),
            sudo: Some(host.sudo),
            groups: host.groups,
            ..RawHost::named(&host.name, origin.clone())
        })
        .collect();
    let groups = inventory
        .groups
        .into_iter()
        .map(|(name, group)| RawGroup {
            name,
            origin: origin.clone(),
            description: group.description,
        })
        .collect();
    Ok(RawInventory {
        groups,
        hosts,
        warnings: Vec::new(),
    })
}
