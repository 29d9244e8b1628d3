//! Ansible inventories in YAML form:
//!
//! ```yaml
//! all:
//!   vars:
//!     ansible_user: deploy
//!   children:
//!     web:
//!       hosts:
//!         web[01:20].example.org:
//!         db1.example.org:
//!           ansible_port: 2201
//! ```
//!
//! The top level maps group names to groups; a group holds `hosts` (host
//! patterns to their vars), `children` (groups, nested the same way) and
//! `vars`. Parsed with saphyr, which gives every node its line. Pure.

use saphyr::{LoadableYamlNode, MarkedYaml, Scalar, ScanError, YamlData};
use saphyr_parser::{Event, Parser};

use super::range;
use super::{is_imported_var, AnsibleInventory, Vars};
use crate::error::{Error, Result};
use crate::library::document::{Located, Origin, RawInventory};

/// Reads a YAML inventory; `file` names it in refusals.
pub fn parse(file: &str, text: &str) -> Result<RawInventory> {
    refuse_aliases(file, text)?;
    let documents = MarkedYaml::load_from_str(text).map_err(|e| syntax_error(file, &e))?;
    let mut inventory = AnsibleInventory::new();
    let reader = Reader { file };
    if let Some(second) = documents.get(1) {
        return Err(reader
            .origin(second)
            .refuse("a second YAML document; an inventory file holds one"));
    }
    if let Some(document) = documents.first() {
        match &document.data {
            YamlData::Value(Scalar::Null) => {}
            YamlData::Mapping(groups) => {
                for (key, body) in groups {
                    let (name, origin) = reader.key(key)?;
                    reader.group(&mut inventory, &name, body, &origin)?;
                }
            }
            _ => {
                return Err(reader
                    .origin(document)
                    .refuse("an Ansible YAML inventory maps group names (such as all:) to groups"))
            }
        }
    }
    inventory.into_raw()
}

/// Refuses an alias (`*name`) before the document is built: the loader
/// copies what an alias names, so a few nested aliases would make a small
/// file take all memory.
fn refuse_aliases(file: &str, text: &str) -> Result<()> {
    for event in Parser::new_from_str(text) {
        let (event, span) = event.map_err(|e| syntax_error(file, &e))?;
        if let Event::Alias(_) = event {
            return Err(Origin::at(file, span.start.line())
                .refuse("YAML aliases (*name) are not supported; write the values out"));
        }
    }
    Ok(())
}

fn syntax_error(file: &str, error: &ScanError) -> Error {
    Origin::at(file, error.marker().line()).refuse(format!("not valid YAML: {}", error.info()))
}

struct Reader<'f> {
    file: &'f str,
}

impl Reader<'_> {
    fn origin(&self, node: &MarkedYaml) -> Origin {
        Origin::at(self.file, node.span.start.line())
    }

    /// A mapping key as text, with its line.
    fn key(&self, key: &MarkedYaml) -> Result<(String, Origin)> {
        let origin = self.origin(key);
        match scalar_text(key) {
            Some(text) if !text.is_empty() => Ok((text, origin)),
            _ => Err(origin.refuse("expected a name here")),
        }
    }

    /// The entries of a mapping node; null is an empty mapping.
    fn entries<'n>(
        &self,
        node: &'n MarkedYaml<'n>,
        what: &str,
    ) -> Result<Vec<(&'n MarkedYaml<'n>, &'n MarkedYaml<'n>)>> {
        match &node.data {
            YamlData::Value(Scalar::Null) => Ok(Vec::new()),
            YamlData::Mapping(map) => Ok(map.iter().collect()),
            _ => Err(self
                .origin(node)
                .refuse(format!("{what} must be a mapping"))),
        }
    }

    fn group(
        &self,
        inventory: &mut AnsibleInventory,
        name: &str,
        body: &MarkedYaml,
        origin: &Origin,
    ) -> Result<()> {
        inventory.declare_group(name, origin);
        let what = format!("group '{name}'");
        for (key, value) in self.entries(body, &what)? {
            let (section, at) = self.key(key)?;
            match section.as_str() {
                "hosts" => self.hosts(inventory, name, value)?,
                "children" => {
                    for (child, child_body) in
                        self.entries(value, &format!("children of {what}"))?
                    {
                        let (child, child_origin) = self.key(child)?;
                        inventory.add_child(name, &child, &child_origin);
                        self.group(inventory, &child, child_body, &child_origin)?;
                    }
                }
                "vars" => {
                    for (key, var) in self.vars(value, &format!("vars of {what}"))? {
                        inventory.set_group_var(name, &key, var);
                    }
                }
                other => {
                    return Err(at.refuse(format!(
                        "unexpected key '{other}' in {what}; a group holds hosts, children and vars"
                    )))
                }
            }
        }
        Ok(())
    }

    fn hosts(
        &self,
        inventory: &mut AnsibleInventory,
        group: &str,
        node: &MarkedYaml,
    ) -> Result<()> {
        for (pattern, vars) in self.entries(node, &format!("hosts of group '{group}'"))? {
            let (pattern, origin) = self.key(pattern)?;
            let vars: Vars = self
                .vars(vars, &format!("vars of host '{pattern}'"))?
                .into_iter()
                .collect();
            let names = range::expand(&pattern)
                .map_err(|why| origin.refuse(format!("'{pattern}': host range {why}")))?;
            for name in names {
                inventory.add_host(group, &name, &vars, &origin);
            }
        }
        Ok(())
    }

    /// Variables with their lines. A variable drover imports must be a
    /// plain value; other variables may hold anything.
    fn vars(&self, node: &MarkedYaml, what: &str) -> Result<Vec<(String, Located<String>)>> {
        let mut vars = Vec::new();
        for (key, value) in self.entries(node, what)? {
            let (key, origin) = self.key(key)?;
            let origin = match value.data {
                YamlData::Value(Scalar::Null) => origin,
                _ => self.origin(value),
            };
            let text = match scalar_text(value) {
                Some(text) => text,
                None if is_imported_var(&key) => {
                    return Err(refuse_value(&origin, &key));
                }
                None => String::new(),
            };
            if is_imported_var(&key) && text.is_empty() {
                continue;
            }
            vars.push((key, Located::new(text, origin)));
        }
        Ok(vars)
    }
}

fn refuse_value(origin: &Origin, key: &str) -> Error {
    origin.refuse(format!(
        "{key} must be a plain value (text or a number); a list, mapping or tagged value (such as !vault) cannot be imported"
    ))
}

/// A scalar as text (`22` is "22"); `None` for anything else.
fn scalar_text(node: &MarkedYaml) -> Option<String> {
    match &node.data {
        YamlData::Value(Scalar::String(s)) => Some(s.to_string()),
        YamlData::Value(Scalar::Integer(n)) => Some(n.to_string()),
        YamlData::Value(Scalar::FloatingPoint(f)) => Some(f.to_string()),
        YamlData::Value(Scalar::Boolean(b)) => Some(b.to_string()),
        YamlData::Value(Scalar::Null) => Some(String::new()),
        YamlData::Representation(text, _, None) => Some(text.to_string()),
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn nested_children_and_ranges() {
        let raw = parse(
            "inv.yml",
            "all:\n  vars:\n    ansible_user: root\n  children:\n    prod:\n      children:\n        web:\n          hosts:\n            w[1:2]:\n              ansible_port: 2222\n",
        )
        .unwrap();
        let names: Vec<_> = raw.hosts.iter().map(|h| h.name.as_str()).collect();
        assert_eq!(names, ["w1", "w2"]);
        assert_eq!(raw.hosts[0].groups, ["prod", "web"]);
        assert_eq!(raw.hosts[0].user.as_ref().unwrap().value, "root");
        let port = raw.hosts[1].port.as_ref().unwrap();
        assert_eq!((port.value.as_str(), port.origin.line), ("2222", Some(10)));
    }

    #[test]
    fn refusals_name_the_line() {
        let err = parse("i.yml", "all:\n  hosts:\n    a:\n  host:\n    b:\n")
            .unwrap_err()
            .to_string();
        assert_eq!(
            err,
            "i.yml:4: unexpected key 'host' in group 'all'; a group holds hosts, children and vars"
        );
        let err = parse(
            "i.yml",
            "all:\n  hosts:\n    a:\n      ansible_host: [1, 2]\n",
        )
        .unwrap_err()
        .to_string();
        assert!(
            err.starts_with("i.yml:4: ansible_host must be a plain value"),
            "{err}"
        );
        let err = parse("i.yml", "all:\n  hosts: [a, b]\n")
            .unwrap_err()
            .to_string();
        assert_eq!(err, "i.yml:2: hosts of group 'all' must be a mapping");
        let err = parse("i.yml", "x: &a [1, 2]\ny: [*a, *a]\n")
            .unwrap_err()
            .to_string();
        assert_eq!(
            err,
            "i.yml:2: YAML aliases (*name) are not supported; write the values out"
        );
        let err = parse("i.yml", "all:\n  hosts:\n    a:\n    a:\n")
            .unwrap_err()
            .to_string();
        assert!(err.starts_with("i.yml:4: not valid YAML: "), "{err}");
    }
}
