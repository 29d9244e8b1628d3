//! Ansible inventories, INI ([`ini`]) and YAML ([`yaml`]), read into one
//! model of groups (hosts, children, vars) and hosts (vars), then
//! flattened into drover's inventory document the way Ansible resolves
//! them:
//!
//! - a group contains its children's hosts, at any depth, so a drover
//!   server group gets every host below it; cycles are refused;
//! - `ansible_host`, `ansible_port` and `ansible_user` (and their old
//!   `ansible_ssh_*` spellings) come from the host's own vars, else from its
//!   groups' vars, the deepest group first and, among groups of one depth,
//!   the last by name, then from `all`;
//! - the implicit `all` and `ungrouped` groups are not created: their hosts
//!   are imported, in no group (or in their other groups);
//! - other `ansible_*` variables are not imported and are listed as
//!   warnings; playbook variables are ignored.
//!
//! Pure: text in, a raw inventory document out.

pub mod ini;
pub mod range;
pub mod yaml;

use std::collections::{BTreeMap, BTreeSet, HashMap};

use super::document::{Located, Origin, RawGroup, RawHost, RawInventory};
use crate::error::Result;

/// Ansible's implicit group of every host.
const ALL: &str = "all";
/// Ansible's implicit group of the hosts in no other group.
const UNGROUPED: &str = "ungrouped";

/// The variables drover imports, each with its older spelling.
const IMPORTED_VARS: [(&str, &str); 3] = [
    ("ansible_host", "ansible_ssh_host"),
    ("ansible_port", "ansible_ssh_port"),
    ("ansible_user", "ansible_ssh_user"),
];

/// Variables by name, with where each was set.
type Vars = BTreeMap<String, Located<String>>;

/// The name drover reads `key` under: `ansible_ssh_host` is `ansible_host`.
fn canonical_var(key: &str) -> &str {
    IMPORTED_VARS
        .iter()
        .find(|(_, old)| *old == key)
        .map_or(key, |(current, _)| current)
}

/// True for the variables drover imports.
fn is_imported_var(key: &str) -> bool {
    IMPORTED_VARS
        .iter()
        .any(|(current, old)| key == *current || key == *old)
}

#[derive(Debug, Default)]
struct Group {
    /// Where the group is first named.
    origin: Option<Origin>,
    /// Hosts listed in the group itself.
    hosts: Vec<String>,
    children: Vec<Located<String>>,
    vars: Vars,
}

#[derive(Debug)]
struct HostDecl {
    name: String,
    /// Where the host is first listed.
    origin: Origin,
    vars: Vars,
}

/// An Ansible inventory as read, before flattening.
#[derive(Debug)]
pub struct AnsibleInventory {
    groups: BTreeMap<String, Group>,
    hosts: Vec<HostDecl>,
    host_index: HashMap<String, usize>,
}

impl AnsibleInventory {
    pub fn new() -> AnsibleInventory {
        AnsibleInventory {
            groups: BTreeMap::new(),
            hosts: Vec::new(),
            host_index: HashMap::new(),
        }
    }

    /// The group `name`, created (first named at `origin`) if new.
    fn group(&mut self, name: &str, origin: &Origin) -> &mut Group {
        let group = self.groups.entry(name.to_string()).or_default();
        group.origin.get_or_insert_with(|| origin.clone());
        group
    }

    /// Names group `name` at `origin`.
    pub fn declare_group(&mut self, name: &str, origin: &Origin) {
        self.group(name, origin);
    }

    /// Lists host `name` in `group` with `vars` (later values win, as in
    /// Ansible).
    pub fn add_host(&mut self, group: &str, name: &str, vars: &Vars, origin: &Origin) {
        let index = match self.host_index.get(name) {
            Some(index) => *index,
            None => {
                self.hosts.push(HostDecl {
                    name: name.to_string(),
                    origin: origin.clone(),
                    vars: Vars::new(),
                });
                self.host_index
                    .insert(name.to_string(), self.hosts.len() - 1);
                self.hosts.len() - 1
            }
        };
        if let Some(host) = self.hosts.get_mut(index) {
            host.vars.extend(vars.clone());
        }
        let members = &mut self.group(group, origin).hosts;
        if !members.iter().any(|h| h == name) {
            members.push(name.to_string());
        }
    }

    /// Makes `child` a child of `parent`.
    pub fn add_child(&mut self, parent: &str, child: &str, origin: &Origin) {
        self.group(child, origin);
        let children = &mut self.group(parent, origin).children;
        if !children.iter().any(|c| c.value == child) {
            children.push(Located::new(child.to_string(), origin.clone()));
        }
    }

    /// Sets a variable of `group`.
    pub fn set_group_var(&mut self, group: &str, key: &str, value: Located<String>) {
        let origin = value.origin.clone();
        self.group(group, &origin)
            .vars
            .insert(canonical_var(key).to_string(), value);
    }

    /// Flattens groups and variables into drover's document.
    pub fn into_raw(self) -> Result<RawInventory> {
        let graph = GroupGraph::new(&self.groups)?;
        let mut raw = RawInventory {
            warnings: self.warnings(),
            ..RawInventory::default()
        };
        for (name, group) in &self.groups {
            if name == ALL || name == UNGROUPED {
                continue;
            }
            if let Some(origin) = &group.origin {
                raw.groups.push(RawGroup {
                    name: name.clone(),
                    origin: origin.clone(),
                    description: String::new(),
                });
            }
        }
        let groups_of = graph.groups_of_hosts(&self.groups);
        for host in &self.hosts {
            let groups = groups_of
                .get(host.name.as_str())
                .cloned()
                .unwrap_or_default();
            raw.hosts.push(self.raw_host(host, &groups, &graph));
        }
        Ok(raw)
    }

    /// One host with the variables that apply to it.
    fn raw_host(&self, host: &HostDecl, groups: &BTreeSet<&str>, graph: &GroupGraph) -> RawHost {
        let mut ordered: Vec<&str> = groups.iter().copied().collect();
        ordered.push(ALL);
        ordered.sort_by_key(|g| (graph.depth(g), *g));
        let mut vars = Vars::new();
        for group in ordered {
            if let Some(group) = self.groups.get(group) {
                vars.extend(group.vars.clone());
            }
        }
        vars.extend(host.vars.clone());
        let mut raw = RawHost::named(&host.name, host.origin.clone());
        raw.address = vars.remove("ansible_host");
        raw.port = vars.remove("ansible_port");
        raw.user = vars.remove("ansible_user");
        raw.groups = groups
            .iter()
            .filter(|g| **g != ALL && **g != UNGROUPED)
            .map(|g| g.to_string())
            .collect();
        raw
    }

    /// One warning per `ansible_*` variable drover does not import, with
    /// where it is first set and how often.
    fn warnings(&self) -> Vec<String> {
        let mut unsupported: BTreeMap<&str, (usize, &Origin)> = BTreeMap::new();
        let all_vars = self
            .groups
            .values()
            .flat_map(|g| g.vars.iter())
            .chain(self.hosts.iter().flat_map(|h| h.vars.iter()));
        for (key, value) in all_vars {
            if key.starts_with("ansible_") && !is_imported_var(key) {
                let entry = unsupported.entry(key).or_insert((0, &value.origin));
                entry.0 += 1;
                if value.origin.line < entry.1.line {
                    entry.1 = &value.origin;
                }
            }
        }
        unsupported
            .into_iter()
            .map(|(key, (count, origin))| {
                let times = match count {
                    1 => String::new(),
                    n => format!(" (set {n} times)"),
                };
                format!("{origin}: {key}{times} is not imported; drover reads ansible_host, ansible_port and ansible_user")
            })
            .collect()
    }
}

impl Default for AnsibleInventory {
    fn default() -> Self {
        AnsibleInventory::new()
    }
}

/// Parents and depths of the groups, checked for cycles.
struct GroupGraph {
    parents: BTreeMap<String, Vec<String>>,
    depths: BTreeMap<String, usize>,
}

impl GroupGraph {
    fn new(groups: &BTreeMap<String, Group>) -> Result<GroupGraph> {
        let mut parents: BTreeMap<String, Vec<String>> = BTreeMap::new();
        for (name, group) in groups {
            for child in &group.children {
                if child.value == ALL {
                    return Err(child.origin.refuse(format!(
                        "'{ALL}' is the group of every host; it cannot be a child of '{name}'"
                    )));
                }
                parents
                    .entry(child.value.clone())
                    .or_default()
                    .push(name.clone());
            }
        }
        CycleCheck::default().run(groups)?;
        let mut graph = GroupGraph {
            parents,
            depths: BTreeMap::new(),
        };
        let mut depths = BTreeMap::new();
        for name in groups.keys() {
            graph.compute_depth(name, &mut depths);
        }
        graph.depths = depths;
        Ok(graph)
    }

    /// `all` is 0; a group is one deeper than its deepest parent (`all`
    /// when it has none). The graph has no cycle.
    fn compute_depth(&self, group: &str, memo: &mut BTreeMap<String, usize>) -> usize {
        if group == ALL {
            return 0;
        }
        if let Some(depth) = memo.get(group) {
            return *depth;
        }
        let parents = self
            .parents
            .get(group)
            .map(Vec::as_slice)
            .unwrap_or_default();
        let depth = 1 + parents
            .iter()
            .map(|p| self.compute_depth(p, memo))
            .max()
            .unwrap_or(0);
        memo.insert(group.to_string(), depth);
        depth
    }

    fn depth(&self, group: &str) -> usize {
        self.depths.get(group).copied().unwrap_or(0)
    }

    /// Each host's groups: those that list it and all their ancestors.
    fn groups_of_hosts<'a>(
        &'a self,
        groups: &'a BTreeMap<String, Group>,
    ) -> HashMap<&'a str, BTreeSet<&'a str>> {
        let mut groups_of: HashMap<&str, BTreeSet<&str>> = HashMap::new();
        for (name, group) in groups {
            let mut lineage = BTreeSet::new();
            self.collect_ancestors(name, &mut lineage);
            for host in &group.hosts {
                groups_of
                    .entry(host.as_str())
                    .or_default()
                    .extend(lineage.iter().copied());
            }
        }
        groups_of
    }

    fn collect_ancestors<'a>(&'a self, group: &'a str, into: &mut BTreeSet<&'a str>) {
        if into.insert(group) {
            for parent in self.parents.get(group).into_iter().flatten() {
                self.collect_ancestors(parent, into);
            }
        }
    }
}

/// A depth-first walk over `children` that refuses a group that is its own
/// descendant, at the child line that closes the loop.
#[derive(Default)]
struct CycleCheck<'a> {
    finished: BTreeSet<&'a str>,
    path: Vec<&'a str>,
}

impl<'a> CycleCheck<'a> {
    fn run(mut self, groups: &'a BTreeMap<String, Group>) -> Result<()> {
        for name in groups.keys() {
            self.visit(groups, name)?;
        }
        Ok(())
    }

    fn visit(&mut self, groups: &'a BTreeMap<String, Group>, name: &'a str) -> Result<()> {
        if self.finished.contains(name) {
            return Ok(());
        }
        self.path.push(name);
        for child in groups
            .get(name)
            .map(|g| g.children.as_slice())
            .unwrap_or_default()
        {
            if let Some(start) = self.path.iter().position(|g| *g == child.value) {
                let mut chain = self.path[start..].to_vec();
                chain.push(&child.value);
                return Err(child.origin.refuse(format!(
                    "group '{}' contains itself: {}",
                    child.value,
                    chain.join(" -> ")
                )));
            }
            self.visit(groups, &child.value)?;
        }
        self.path.pop();
        self.finished.insert(name);
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn at(line: usize) -> Origin {
        Origin::at("inv", line)
    }

    fn var(value: &str, line: usize) -> Located<String> {
        Located::new(value.to_string(), at(line))
    }

    #[test]
    fn deeper_groups_win_and_host_vars_win_over_all() {
        let mut inv = AnsibleInventory::new();
        inv.add_host("web", "w1", &Vars::new(), &at(1));
        inv.add_child("prod", "web", &at(2));
        inv.set_group_var("all", "ansible_user", var("root", 3));
        inv.set_group_var("prod", "ansible_user", var("ops", 4));
        inv.set_group_var("web", "ansible_ssh_user", var("deploy", 5));
        inv.set_group_var("prod", "ansible_port", var("2200", 6));
        let mut own = Vars::new();
        own.insert("ansible_port".into(), var("2222", 7));
        inv.add_host("web", "w2", &own, &at(7));
        let raw = inv.into_raw().unwrap();
        let w1 = &raw.hosts[0];
        assert_eq!(w1.user.as_ref().unwrap().value, "deploy");
        assert_eq!(w1.port.as_ref().unwrap().value, "2200");
        assert_eq!(w1.groups, ["prod", "web"]);
        assert_eq!(raw.hosts[1].port.as_ref().unwrap().origin, at(7));
    }

    #[test]
    fn cycles_are_refused_where_they_close() {
        let mut inv = AnsibleInventory::new();
        inv.add_child("a", "b", &at(1));
        inv.add_child("b", "c", &at(2));
        inv.add_child("c", "a", &at(3));
        let err = inv.into_raw().unwrap_err().to_string();
        assert_eq!(err, "inv:3: group 'a' contains itself: a -> b -> c -> a");
    }

    #[test]
    fn unsupported_ansible_vars_are_warned_once_each() {
        let mut inv = AnsibleInventory::new();
        inv.set_group_var("all", "ansible_become", var("true", 9));
        inv.set_group_var("web", "ansible_become", var("true", 4));
        inv.set_group_var("web", "http_port", var("80", 5));
        let raw = inv.into_raw().unwrap();
        assert_eq!(
            raw.warnings,
            ["inv:4: ansible_become (set 2 times) is not imported; drover reads ansible_host, ansible_port and ansible_user"]
        );
        assert_eq!(raw.groups.len(), 1, "all is not created: {:?}", raw.groups);
    }
}
