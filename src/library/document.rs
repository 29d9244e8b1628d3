//! The inventory document every import format is read into before anything
//! is written: hosts and server groups, each with where it came from, and
//! the one validation they all go through (names, addresses, ports, users,
//! group names, duplicates). Pure: text in the parsers, a validated
//! document out of here, no I/O.

use std::collections::BTreeMap;
use std::fmt;
use std::net::IpAddr;

use crate::domain::{parse_address, parse_port, parse_user, Name, NewHost};
use crate::error::{Error, Kind, Result};

/// Where an item of an imported file is: the file, and the line when the
/// format gives one.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Origin {
    pub file: String,
    pub line: Option<usize>,
}

impl Origin {
    pub fn at(file: &str, line: usize) -> Origin {
        Origin {
            file: file.to_string(),
            line: Some(line),
        }
    }

    /// The whole file (a format without line numbers).
    pub fn file(file: &str) -> Origin {
        Origin {
            file: file.to_string(),
            line: None,
        }
    }

    /// A refusal of this item: `file:line: message`, or `import of file:
    /// message` without a line.
    pub fn refuse(&self, message: impl Into<String>) -> Error {
        match self.line {
            Some(line) => Error::ImportAt {
                file: self.file.clone(),
                line,
                message: message.into(),
            },
            None => Error::Import {
                path: self.file.clone(),
                message: message.into(),
            },
        }
    }
}

impl fmt::Display for Origin {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self.line {
            Some(line) => write!(f, "{}:{line}", self.file),
            None => f.write_str(&self.file),
        }
    }
}

/// A value and where it was written.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Located<T> {
    pub value: T,
    pub origin: Origin,
}

impl<T> Located<T> {
    pub fn new(value: T, origin: Origin) -> Located<T> {
        Located { value, origin }
    }
}

/// A host as a file describes it, before validation.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RawHost {
    pub name: String,
    /// Where the host is named.
    pub origin: Origin,
    /// `None`: the name is the address.
    pub address: Option<Located<String>>,
    /// Text as written (`None`: 22).
    pub port: Option<Located<String>>,
    /// `None`: the configured default user.
    pub user: Option<Located<String>>,
    /// `None`: the format has no description; an existing host keeps its own.
    pub description: Option<String>,
    /// `None`: the format has no sudo flag; an existing host keeps its own.
    pub sudo: Option<bool>,
    pub groups: Vec<String>,
}

impl RawHost {
    /// A host named `name` at `origin`, every other field left out.
    pub fn named(name: &str, origin: Origin) -> RawHost {
        RawHost {
            name: name.to_string(),
            origin,
            address: None,
            port: None,
            user: None,
            description: None,
            sudo: None,
            groups: Vec::new(),
        }
    }
}

/// A server group as a file describes it, before validation.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RawGroup {
    pub name: String,
    pub origin: Origin,
    pub description: String,
}

/// What a parser read from a file.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct RawInventory {
    pub groups: Vec<RawGroup>,
    pub hosts: Vec<RawHost>,
    /// What the file holds that drover does not import, said to the user.
    pub warnings: Vec<String>,
}

/// How host names of a file are taken.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum HostNames {
    /// As written (drover's own format).
    Exact,
    /// A DNS name with capitals is lower-cased (`Web1.Example.org` is host
    /// `web1.example.org`), as DNS ignores case; anything else as written.
    LowerCaseDns,
}

/// A validated host; `*_given` says whether the file set that field.
#[derive(Debug, Clone)]
pub struct ValidHost {
    pub host: NewHost,
    pub description_given: bool,
    pub sudo_given: bool,
}

/// A validated inventory, ready to write.
#[derive(Debug, Clone)]
pub struct ValidInventory {
    /// Every group the file defines or its hosts name, sorted, with the
    /// description a new group gets.
    pub groups: Vec<(Name, String)>,
    /// In file order.
    pub hosts: Vec<ValidHost>,
    pub warnings: Vec<String>,
}

/// Checks every host and group; the first problem refuses the whole file,
/// naming where it is.
pub fn validate(raw: RawInventory, names: HostNames) -> Result<ValidInventory> {
    let mut groups: BTreeMap<Name, String> = BTreeMap::new();
    for group in raw.groups {
        let name = Name::parse(Kind::ServerGroup, &group.name)
            .map_err(|e| group.origin.refuse(e.to_string()))?;
        groups.entry(name).or_insert(group.description);
    }
    let mut hosts: Vec<ValidHost> = Vec::with_capacity(raw.hosts.len());
    let mut first_seen: BTreeMap<Name, &Origin> = BTreeMap::new();
    for raw_host in &raw.hosts {
        let host = validate_host(raw_host, names)?;
        if let Some(first) = first_seen.insert(host.host.name.clone(), &raw_host.origin) {
            let first = match first.line {
                Some(line) => format!(" (first at line {line} of {})", first.file),
                None => String::new(),
            };
            return Err(raw_host.origin.refuse(format!(
                "host '{}' is listed more than once{first}",
                host.host.name
            )));
        }
        hosts.push(host);
    }
    for host in &hosts {
        for group in &host.host.groups {
            groups.entry(group.clone()).or_default();
        }
    }
    Ok(ValidInventory {
        groups: groups.into_iter().collect(),
        hosts,
        warnings: raw.warnings,
    })
}

/// One host, every field checked as `host add` checks it; a refusal names
/// the line of the field (or of the host) and the host.
fn validate_host(raw: &RawHost, names: HostNames) -> Result<ValidHost> {
    let name = host_name(&raw.name, names).map_err(|e| raw.origin.refuse(e.to_string()))?;
    let refuse = |origin: Option<&Origin>, e: Error| {
        origin
            .unwrap_or(&raw.origin)
            .refuse(format!("host '{name}': {e}"))
    };
    let address = match &raw.address {
        Some(address) => parse_address(&address.value),
        None => parse_address(&raw.name),
    }
    .map_err(|e| refuse(raw.address.as_ref().map(|a| &a.origin), e))?;
    let port = match &raw.port {
        Some(port) => parse_port_text(&port.value).map_err(|e| refuse(Some(&port.origin), e))?,
        None => 22,
    };
    let user = match &raw.user {
        Some(user) => Some(parse_user(&user.value).map_err(|e| refuse(Some(&user.origin), e))?),
        None => None,
    };
    let mut groups: Vec<Name> = Vec::with_capacity(raw.groups.len());
    for group in &raw.groups {
        let group = Name::parse(Kind::ServerGroup, group).map_err(|e| refuse(None, e))?;
        if !groups.contains(&group) {
            groups.push(group);
        }
    }
    Ok(ValidHost {
        host: NewHost {
            name,
            address,
            port,
            user,
            description: raw.description.clone().unwrap_or_default(),
            use_sudo: raw.sudo.unwrap_or(false),
            groups,
        },
        description_given: raw.description.is_some(),
        sudo_given: raw.sudo.is_some(),
    })
}

/// A host's name under `names`.
fn host_name(raw: &str, names: HostNames) -> Result<Name> {
    let exact = Name::parse(Kind::Host, raw);
    let lowered = || {
        let is_dns_name = raw.parse::<IpAddr>().is_err() && parse_address(raw).is_ok();
        is_dns_name
            .then(|| Name::parse(Kind::Host, &raw.to_ascii_lowercase()).ok())
            .flatten()
    };
    match (exact, names) {
        (Ok(name), _) => Ok(name),
        (Err(e), HostNames::LowerCaseDns) => lowered().ok_or(e),
        (Err(e), HostNames::Exact) => Err(e),
    }
}

/// A port written as text (`"2222"`), checked as `--port` is.
fn parse_port_text(raw: &str) -> Result<u16> {
    match raw.trim().parse::<i64>() {
        Ok(port) => parse_port(port),
        Err(_) => Err(Error::InvalidValue {
            what: "port",
            value: raw.to_string(),
            expected: "a TCP port between 1 and 65535".into(),
        }),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn host(name: &str, line: usize) -> RawHost {
        RawHost::named(name, Origin::at("inv", line))
    }

    #[test]
    fn dns_names_are_lower_cased_only_when_asked() {
        let raw = RawInventory {
            hosts: vec![host("Web1.Example.org", 1)],
            ..RawInventory::default()
        };
        let valid = validate(raw.clone(), HostNames::LowerCaseDns).unwrap();
        assert_eq!(valid.hosts[0].host.name.as_str(), "web1.example.org");
        assert_eq!(valid.hosts[0].host.address, "web1.example.org");
        let err = validate(raw, HostNames::Exact).unwrap_err().to_string();
        assert!(
            err.starts_with("inv:1: invalid host name 'Web1.Example.org'"),
            "{err}"
        );
        let not_dns = RawInventory {
            hosts: vec![host("Web_1", 4)],
            ..RawInventory::default()
        };
        let err = validate(not_dns, HostNames::LowerCaseDns)
            .unwrap_err()
            .to_string();
        assert!(err.starts_with("inv:4: invalid host name 'Web_1'"), "{err}");
    }

    #[test]
    fn a_field_is_refused_at_its_own_line() {
        let mut h = host("web1", 3);
        h.port = Some(Located::new("eighty".into(), Origin::at("inv", 9)));
        let raw = RawInventory {
            hosts: vec![h],
            ..RawInventory::default()
        };
        let err = validate(raw, HostNames::Exact).unwrap_err().to_string();
        assert_eq!(
            err,
            "inv:9: host 'web1': invalid port 'eighty': a TCP port between 1 and 65535"
        );
    }

    #[test]
    fn duplicates_name_both_lines() {
        let raw = RawInventory {
            hosts: vec![host("Web1", 2), host("web1", 5)],
            ..RawInventory::default()
        };
        let err = validate(raw, HostNames::LowerCaseDns)
            .unwrap_err()
            .to_string();
        assert_eq!(
            err,
            "inv:5: host 'web1' is listed more than once (first at line 2 of inv)"
        );
    }

    #[test]
    fn groups_come_sorted_with_the_ones_hosts_name() {
        let mut h = host("a", 1);
        h.groups = vec!["web".into(), "all-db".into(), "web".into()];
        let raw = RawInventory {
            hosts: vec![h],
            groups: vec![RawGroup {
                name: "web".into(),
                origin: Origin::at("inv", 7),
                description: "front".into(),
            }],
            warnings: Vec::new(),
        };
        let valid = validate(raw, HostNames::Exact).unwrap();
        let groups: Vec<(String, String)> = valid
            .groups
            .iter()
            .map(|(n, d)| (n.to_string(), d.clone()))
            .collect();
        assert_eq!(
            groups,
            [
                ("all-db".to_string(), String::new()),
                ("web".to_string(), "front".to_string())
            ]
        );
        assert_eq!(valid.hosts[0].host.groups.len(), 2);
    }
}
