//! Where and how to connect to a host: its effective address, port, user,
//! keys and host-key settings, and the jump hosts (ProxyJump) on the way,
//! from the inventory, the OpenSSH client configuration and drover's
//! defaults, in that order of precedence. Each value says where it came
//! from (`host show`).
//!
//! The name looked up in ssh_config is the host's address, as `ssh
//! ADDRESS` would be given, unless a Host line names the host's inventory
//! name itself: then that name (an inventory imported from ssh_config keeps
//! the alias as the name and the HostName as the address).

use std::path::{Path, PathBuf};
use std::time::Duration;

use serde::{Deserialize, Serialize};

use super::Target;
use crate::domain::Host;
use crate::ssh_config::{HostSettings, SshConfig};

/// Longest chain of jump hosts.
pub const MAX_JUMPS: usize = 8;

/// The hops to a host (outermost first) and the host itself.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Route {
    pub jumps: Vec<Target>,
    pub target: Target,
    /// The inventory host's own jump list, as written (reruns carry it).
    #[serde(default)]
    pub jump_spec: Option<String>,
}

impl Route {
    /// A host reached directly.
    pub fn direct(target: Target) -> Route {
        Route {
            jumps: Vec::new(),
            target,
            jump_spec: None,
        }
    }

    /// The jump hosts by name, `a -> b`; empty when direct.
    pub fn jump_names(&self) -> String {
        let names: Vec<&str> = self.jumps.iter().map(|j| j.name.as_str()).collect();
        names.join(" -> ")
    }
}

/// One effective value and where it came from.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Provenance {
    pub field: &'static str,
    pub value: String,
    /// `inventory`, `ssh_config FILE:LINE`, `ssh.user`, `default`, ...
    pub source: String,
}

/// A route with the origin of each of its target's values.
#[derive(Debug, Clone)]
pub struct Resolved {
    pub route: Route,
    pub provenance: Vec<Provenance>,
}

/// Why a host's route cannot be worked out (nothing was attempted).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum RouteError {
    #[error("ssh_config: {0}")]
    SshConfig(String),
    #[error("jump '{spec}': {why}")]
    BadJump { spec: String, why: String },
    #[error("jump loop: {0}; a host cannot be reached through itself")]
    Loop(String),
    #[error("more than {MAX_JUMPS} jump hosts on the way to '{0}'")]
    TooLong(String),
}

/// What resolution needs besides the host.
pub struct Resolver<'a> {
    /// The OpenSSH client configuration, if one is read.
    pub ssh_config: Option<&'a SshConfig>,
    /// `ssh.user`, if set.
    pub configured_user: Option<&'a str>,
    /// The OS user running drover (the last default).
    pub os_user: &'a str,
    /// Inventory hosts by name (jump hosts may name them).
    pub inventory: &'a dyn Fn(&str) -> Option<Host>,
}

impl Resolver<'_> {
    /// The route to an inventory host.
    pub fn resolve(&self, host: &Host) -> Result<Resolved, RouteError> {
        let mut path = vec![host.name.clone()];
        self.resolve_inventory(host, &mut path)
    }

    fn resolve_inventory(
        &self,
        host: &Host,
        path: &mut Vec<String>,
    ) -> Result<Resolved, RouteError> {
        let alias = self.alias_of(host);
        let settings = self.settings(&alias)?;
        let mut p = Vec::new();
        let origin = |keyword: &str| self.origin(&alias, keyword);
        let address = match (&settings.host_name, alias == host.address) {
            (Some(name), true) => {
                p.push(prov("address", name, origin("hostname")));
                name.clone()
            }
            _ => {
                p.push(prov("address", &host.address, "inventory".into()));
                host.address.clone()
            }
        };
        let port = match (host.port, settings.port) {
            (22, Some(port)) => {
                p.push(prov("port", &port.to_string(), origin("port")));
                port
            }
            (22, None) => {
                p.push(prov("port", "22", "default".into()));
                22
            }
            (port, _) => {
                p.push(prov("port", &port.to_string(), "inventory".into()));
                port
            }
        };
        let user = match (&host.user, &settings.user) {
            (Some(user), _) => (user.clone(), "inventory".to_string()),
            (None, Some(user)) => (user.clone(), origin("user")),
            (None, None) => self.default_user(),
        };
        p.push(prov("user", &user.0, user.1));
        let jump_spec = match &host.jump {
            Some(spec) => Some((parse_jump_list(spec), "inventory".to_string())),
            None => settings
                .proxy_jump
                .clone()
                .map(|hops| (hops, origin("proxyjump"))),
        };
        if jump_spec.is_none() {
            if let Some(command) = &settings.proxy_command {
                return Err(RouteError::SshConfig(format!(
                    "{}: ProxyCommand '{command}' is not supported; drover goes through jump hosts given with ProxyJump (or `drover host edit --jump`)",
                    origin("proxycommand")
                )));
            }
        }
        let mut target = Target {
            name: host.name.clone(),
            address,
            port,
            user: user.0,
            pinned_key: host.host_key.clone(),
            inventory: Some((host.address.clone(), host.port)),
            options: Default::default(),
        };
        self.apply_options(&mut target, &alias, &settings, &mut p)?;
        let jumps = match jump_spec {
            Some((hops, source)) => {
                if !hops.is_empty() {
                    p.push(prov("jump", &hops.join(","), source));
                }
                self.resolve_hops(&hops, path)?
            }
            None => Vec::new(),
        };
        if jumps.len() > MAX_JUMPS {
            return Err(RouteError::TooLong(host.name.clone()));
        }
        Ok(Resolved {
            route: Route {
                jumps,
                target,
                jump_spec: host.jump.clone(),
            },
            provenance: p,
        })
    }

    /// The name looked up in ssh_config for an inventory host.
    fn alias_of(&self, host: &Host) -> String {
        match self.ssh_config {
            Some(config) if config.names_alias(&host.name) => host.name.clone(),
            _ => host.address.clone(),
        }
    }

    fn settings(&self, alias: &str) -> Result<HostSettings, RouteError> {
        match self.ssh_config {
            Some(config) => config
                .settings(alias)
                .map_err(|why| RouteError::SshConfig(format!("host '{alias}': {why}"))),
            None => Ok(HostSettings::default()),
        }
    }

    fn origin(&self, alias: &str, keyword: &str) -> String {
        match self.ssh_config.and_then(|c| c.origin(alias, keyword)) {
            Some(at) => format!("ssh_config {at}"),
            None => "ssh_config".to_string(),
        }
    }

    fn default_user(&self) -> (String, String) {
        match self.configured_user {
            Some(user) => (user.to_string(), "ssh.user".into()),
            None => (self.os_user.to_string(), "default: the OS user".into()),
        }
    }

    /// Identity files, known_hosts files, host-key checking, timeouts.
    fn apply_options(
        &self,
        target: &mut Target,
        alias: &str,
        settings: &HostSettings,
        p: &mut Vec<Provenance>,
    ) -> Result<(), RouteError> {
        let tokens = Tokens {
            host: &target.address,
            port: target.port,
            remote_user: &target.user,
            local_user: self.os_user,
            alias,
        };
        let home = dirs::home_dir();
        let o = &mut target.options;
        for file in &settings.identity_files {
            let expanded = tokens
                .expand(&file.display().to_string(), home.as_deref())
                .map_err(|why| {
                    RouteError::SshConfig(format!(
                        "{}: IdentityFile: {why}",
                        self.origin(alias, "identityfile")
                    ))
                })?;
            o.identity_files.push(PathBuf::from(expanded));
        }
        if !o.identity_files.is_empty() {
            let shown = paths_shown(&o.identity_files);
            p.push(prov(
                "identity_files",
                &shown,
                self.origin(alias, "identityfile"),
            ));
        }
        o.identities_only = settings.identities_only.unwrap_or(false);
        for (keyword, files) in [
            ("userknownhostsfile", &settings.user_known_hosts_files),
            ("globalknownhostsfile", &settings.global_known_hosts_files),
        ] {
            for file in files.iter().filter(|f| !f.eq_ignore_ascii_case("none")) {
                let expanded = tokens.expand(file, home.as_deref()).map_err(|why| {
                    RouteError::SshConfig(format!("{}: {why}", self.origin(alias, keyword)))
                })?;
                o.known_hosts.push(PathBuf::from(expanded));
            }
        }
        if !o.known_hosts.is_empty() {
            let shown = paths_shown(&o.known_hosts);
            p.push(prov(
                "known_hosts",
                &shown,
                self.origin(alias, "userknownhostsfile"),
            ));
        }
        if let Some(value) = &settings.strict_host_key_checking {
            o.strict = match value.as_str() {
                "yes" | "ask" => true,
                "no" | "off" | "accept-new" => false,
                other => {
                    return Err(RouteError::SshConfig(format!(
                    "{}: StrictHostKeyChecking '{other}': expected yes, ask, accept-new, no or off",
                    self.origin(alias, "stricthostkeychecking")
                )))
                }
            };
            if o.strict {
                p.push(prov(
                    "host_key_policy",
                    "strict",
                    self.origin(alias, "stricthostkeychecking"),
                ));
            }
        }
        o.connect_timeout = settings.connect_timeout;
        if let Some(t) = settings.connect_timeout {
            p.push(prov(
                "connect_timeout",
                &format!("{}s", t.as_secs()),
                self.origin(alias, "connecttimeout"),
            ));
        }
        o.keepalive_interval = settings.server_alive_interval.filter(|t| !t.is_zero());
        if let Some(t) = o.keepalive_interval {
            p.push(prov(
                "keepalive_interval",
                &format!("{}s", t.as_secs()),
                self.origin(alias, "serveraliveinterval"),
            ));
        }
        Ok(())
    }

    /// The hops of a jump list: the first with its own jumps before it, the
    /// next ones each reached through the one before (as OpenSSH reads
    /// `ProxyJump a,b`).
    fn resolve_hops(
        &self,
        hops: &[String],
        path: &mut Vec<String>,
    ) -> Result<Vec<Target>, RouteError> {
        let mut out = Vec::new();
        for (index, spec) in hops.iter().enumerate() {
            let hop = parse_hop(spec)?;
            let key = hop.host.to_ascii_lowercase();
            if path.iter().any(|seen| seen.eq_ignore_ascii_case(&key)) {
                path.push(hop.host.clone());
                return Err(RouteError::Loop(path.join(" -> ")));
            }
            if path.len() > MAX_JUMPS {
                return Err(RouteError::TooLong(path[0].clone()));
            }
            path.push(hop.host.clone());
            let resolved = match (self.inventory)(&hop.host) {
                Some(mut host) => {
                    if hop.user.is_some() {
                        host.user = hop.user.clone();
                    }
                    if let Some(port) = hop.port {
                        host.port = port;
                    }
                    if index > 0 {
                        host.jump = Some("none".into());
                    }
                    self.resolve_inventory(&host, path)?.route
                }
                None => self.resolve_alias(&hop, index == 0, path)?,
            };
            path.pop();
            out.extend(resolved.jumps);
            out.push(resolved.target);
        }
        Ok(out)
    }

    /// A hop that is no inventory host: `[user@]host[:port]`, looked up in
    /// ssh_config as ssh does; its key is never pinned.
    fn resolve_alias(
        &self,
        hop: &Hop,
        own_jumps: bool,
        path: &mut Vec<String>,
    ) -> Result<Route, RouteError> {
        let settings = self.settings(&hop.host)?;
        let address = settings
            .host_name
            .clone()
            .unwrap_or_else(|| hop.host.clone());
        let port = hop.port.or(settings.port).unwrap_or(22);
        let user = hop
            .user
            .clone()
            .or_else(|| settings.user.clone())
            .unwrap_or_else(|| self.default_user().0);
        let mut target = Target {
            name: hop.host.clone(),
            address,
            port,
            user,
            pinned_key: None,
            inventory: None,
            options: Default::default(),
        };
        self.apply_options(&mut target, &hop.host, &settings, &mut Vec::new())?;
        let jumps = match (&settings.proxy_jump, own_jumps) {
            (Some(hops), true) => self.resolve_hops(hops, path)?,
            _ => Vec::new(),
        };
        Ok(Route {
            jumps,
            target,
            jump_spec: None,
        })
    }
}

fn prov(field: &'static str, value: &str, source: String) -> Provenance {
    Provenance {
        field,
        value: value.to_string(),
        source,
    }
}

/// The hops of a jump list as written (`a,b`); `none` is no jump.
pub fn parse_jump_list(spec: &str) -> Vec<String> {
    let hops: Vec<String> = spec
        .split(',')
        .map(|h| h.trim().to_string())
        .filter(|h| !h.is_empty())
        .collect();
    if hops.len() == 1 && hops[0].eq_ignore_ascii_case("none") {
        return Vec::new();
    }
    hops
}

/// Checks a jump list as `host add --jump` takes it: `none`, or hops
/// `[user@]host[:port]` separated by commas.
pub fn check_jump_list(spec: &str) -> Result<(), RouteError> {
    if spec.trim().eq_ignore_ascii_case("none") {
        return Ok(());
    }
    let hops = parse_jump_list(spec);
    if hops.is_empty() {
        return Err(RouteError::BadJump {
            spec: spec.to_string(),
            why: "expected HOST, [USER@]HOST[:PORT], several separated by commas, or none".into(),
        });
    }
    if hops.len() > MAX_JUMPS {
        return Err(RouteError::TooLong(spec.to_string()));
    }
    hops.iter().try_for_each(|h| parse_hop(h).map(|_| ()))
}

/// One hop of a jump list.
#[derive(Debug, Clone, PartialEq, Eq)]
struct Hop {
    user: Option<String>,
    host: String,
    port: Option<u16>,
}

fn parse_hop(spec: &str) -> Result<Hop, RouteError> {
    let bad = |why: &str| RouteError::BadJump {
        spec: spec.to_string(),
        why: why.to_string(),
    };
    let spec_body = spec.strip_prefix("ssh://").unwrap_or(spec);
    let (user, rest) = match spec_body.rsplit_once('@') {
        Some((user, rest)) => (Some(user.to_string()), rest),
        None => (None, spec_body),
    };
    if user
        .as_deref()
        .is_some_and(|u| crate::domain::parse_user(u).is_err())
    {
        return Err(bad("the user is not a valid login name"));
    }
    let (host, port) = if let Some(inner) = rest.strip_prefix('[') {
        let (host, after) = inner
            .split_once(']')
            .ok_or_else(|| bad("an IPv6 address in [ ] lacks its ]"))?;
        let port = match after.strip_prefix(':') {
            Some(p) => Some(p),
            None if after.is_empty() => None,
            None => return Err(bad("expected :PORT after ]")),
        };
        (host, port)
    } else {
        match rest.split_once(':') {
            Some((host, port)) => (host, Some(port)),
            None => (rest, None),
        }
    };
    let port = port
        .map(|p| {
            p.parse::<u16>()
                .ok()
                .filter(|p| *p > 0)
                .ok_or_else(|| bad("the port must be 1-65535"))
        })
        .transpose()?;
    let valid_host = !host.is_empty()
        && host
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || matches!(c, '.' | '-' | '_' | ':'));
    if !valid_host {
        return Err(bad("the host must be a name or an address"));
    }
    Ok(Hop {
        user,
        host: host.to_string(),
        port,
    })
}

/// The `%` tokens of IdentityFile and UserKnownHostsFile values.
struct Tokens<'a> {
    host: &'a str,
    port: u16,
    remote_user: &'a str,
    local_user: &'a str,
    alias: &'a str,
}

impl Tokens<'_> {
    /// Expands `~` (leading) and `%h %p %r %u %n %d %%`; other tokens are
    /// refused (drover would read another file than ssh).
    fn expand(&self, raw: &str, home: Option<&Path>) -> Result<String, String> {
        let home_text = home.map(|h| h.display().to_string());
        let mut out = String::with_capacity(raw.len());
        let rest = match (raw.strip_prefix('~'), &home_text) {
            (Some(rest), Some(home)) if rest.is_empty() || rest.starts_with('/') => {
                out.push_str(home);
                rest
            }
            _ => raw,
        };
        let mut chars = rest.chars();
        while let Some(c) = chars.next() {
            if c != '%' {
                out.push(c);
                continue;
            }
            match chars.next() {
                Some('h') => out.push_str(self.host),
                Some('p') => out.push_str(&self.port.to_string()),
                Some('r') => out.push_str(self.remote_user),
                Some('u') => out.push_str(self.local_user),
                Some('n') => out.push_str(self.alias),
                Some('d') => match &home_text {
                    Some(home) => out.push_str(home),
                    None => return Err(format!("'{raw}' uses %d and there is no home directory")),
                },
                Some('%') => out.push('%'),
                other => {
                    let token = other.map_or_else(|| "%".to_string(), |t| format!("%{t}"));
                    return Err(format!(
                        "'{raw}' uses {token}; drover expands %h %p %r %u %n %d and %%"
                    ));
                }
            }
        }
        Ok(out)
    }
}

/// Options of one connection that ssh_config gives per host.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(default)]
pub struct HostOptions {
    /// Tried after `-i` and `ssh.identity_files`, before ssh-agent.
    pub identity_files: Vec<PathBuf>,
    /// IdentitiesOnly: no ssh-agent keys.
    pub identities_only: bool,
    /// Read after `ssh.known_hosts`.
    pub known_hosts: Vec<PathBuf>,
    /// StrictHostKeyChecking yes/ask: an unknown key is refused whatever
    /// `ssh.host_key_policy` says.
    pub strict: bool,
    #[serde(with = "humantime_serde")]
    pub connect_timeout: Option<Duration>,
    #[serde(with = "humantime_serde")]
    pub keepalive_interval: Option<Duration>,
}

/// Paths as `host show` lists them: comma-separated.
fn paths_shown(paths: &[PathBuf]) -> String {
    let shown: Vec<String> = paths.iter().map(|f| f.display().to_string()).collect();
    shown.join(", ")
}

#[cfg(test)]
mod tests {
    use super::*;

    fn host(name: &str, address: &str) -> Host {
        Host {
            name: name.into(),
            address: address.into(),
            port: 22,
            user: None,
            description: String::new(),
            host_key: None,
            use_sudo: false,
            groups: Vec::new(),
            jump: None,
        }
    }

    fn config(text: &str) -> (tempfile::TempDir, SshConfig) {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("config");
        std::fs::write(&path, text).unwrap();
        let config = SshConfig::load(&path, Some(dir.path())).unwrap();
        (dir, config)
    }

    fn resolver<'a>(
        config: Option<&'a SshConfig>,
        inventory: &'a dyn Fn(&str) -> Option<Host>,
    ) -> Resolver<'a> {
        Resolver {
            ssh_config: config,
            configured_user: None,
            os_user: "me",
            inventory,
        }
    }

    #[test]
    fn inventory_then_ssh_config_then_defaults() {
        let (dir, config) = config(
            "Host web-1\n  HostName 10.0.0.5\n  User deploy\n  Port 2222\n  IdentityFile ~/.ssh/%h-%r-%p\n  StrictHostKeyChecking no\nHost *\n  User other\n",
        );
        let none = |_: &str| None;
        let r = resolver(Some(&config), &none);
        let resolved = r.resolve(&host("web-1", "web-1")).unwrap();
        let t = &resolved.route.target;
        assert_eq!(
            (t.address.as_str(), t.port, t.user.as_str()),
            ("10.0.0.5", 2222, "deploy")
        );
        assert_eq!(
            t.options.identity_files,
            [dir.path().join(".ssh/10.0.0.5-deploy-2222")]
        );
        assert!(!t.options.strict, "no never weakens, and is not strict");
        assert_eq!(t.inventory, Some(("web-1".to_string(), 22)));
        let user = resolved
            .provenance
            .iter()
            .find(|p| p.field == "user")
            .unwrap();
        assert_eq!(
            user.source,
            format!("ssh_config {}:3", dir.path().join("config").display())
        );

        let mut own = host("web-1", "web-1");
        own.user = Some("root".into());
        own.port = 2200;
        let t = r.resolve(&own).unwrap().route.target;
        assert_eq!(
            (t.port, t.user.as_str()),
            (2200, "root"),
            "inventory fields win"
        );

        let t = r
            .resolve(&host("db", "db.example.org"))
            .unwrap()
            .route
            .target;
        assert_eq!(
            (t.address.as_str(), t.user.as_str()),
            ("db.example.org", "other")
        );

        let t = resolver(None, &none)
            .resolve(&host("db", "db"))
            .unwrap()
            .route
            .target;
        assert_eq!(t.user, "me");
    }

    #[test]
    fn an_alias_named_like_the_inventory_host_is_looked_up_by_name() {
        let (_dir, config) = config("Host web-1\n  HostName 10.0.0.5\n  ProxyJump bastion\n");
        let none = |_: &str| None;
        let route = resolver(Some(&config), &none)
            .resolve(&host("web-1", "10.0.0.5"))
            .unwrap()
            .route;
        assert_eq!(route.target.address, "10.0.0.5");
        assert_eq!(route.jump_names(), "bastion");
        assert_eq!(route.jumps[0].inventory, None, "not an inventory host");
    }

    #[test]
    fn jump_chains_loops_and_specs() {
        let inventory = |name: &str| match name {
            "a" => Some(Host {
                jump: Some("b".into()),
                ..host("a", "10.0.0.1")
            }),
            "b" => Some(host("b", "10.0.0.2")),
            "loop" => Some(Host {
                jump: Some("web".into()),
                ..host("loop", "10.0.0.3")
            }),
            _ => None,
        };
        let r = resolver(None, &inventory);
        let web = Host {
            jump: Some("a,deploy@c.example.org:2200".into()),
            ..host("web", "10.1.0.1")
        };
        let route = r.resolve(&web).unwrap().route;
        assert_eq!(route.jump_names(), "b -> a -> c.example.org");
        assert_eq!(route.jumps[2].user, "deploy");
        assert_eq!(route.jumps[2].port, 2200);
        assert_eq!(route.jumps[1].inventory, Some(("10.0.0.1".into(), 22)));

        let looped = Host {
            jump: Some("loop".into()),
            ..host("web", "10.1.0.1")
        };
        let err = r.resolve(&looped).unwrap_err();
        assert_eq!(
            err.to_string(),
            "jump loop: web -> loop -> web; a host cannot be reached through itself"
        );

        let direct = Host {
            jump: Some("none".into()),
            ..host("web", "10.1.0.1")
        };
        assert!(r.resolve(&direct).unwrap().route.jumps.is_empty());
        assert!(check_jump_list("a,b:22,u@[::1]:2200").is_ok());
        assert!(check_jump_list("a:99999").is_err());
        assert!(check_jump_list("a b").is_err());
        assert!(check_jump_list(",").is_err());
    }

    #[test]
    fn strict_host_key_checking_only_ever_tightens_and_proxy_command_is_refused() {
        let (_dir, config) = config(
            "Host strict\n  StrictHostKeyChecking yes\nHost ask\n  StrictHostKeyChecking ask\nHost loose\n  StrictHostKeyChecking off\nHost odd\n  StrictHostKeyChecking maybe\nHost piped\n  ProxyCommand nc %h %p\n",
        );
        let none = |_: &str| None;
        let r = resolver(Some(&config), &none);
        let strict = |alias: &str| {
            r.resolve(&host("h", alias))
                .unwrap()
                .route
                .target
                .options
                .strict
        };
        assert!(strict("strict") && strict("ask"));
        assert!(!strict("loose"));
        let err = r.resolve(&host("h", "odd")).unwrap_err().to_string();
        assert!(err.contains("StrictHostKeyChecking 'maybe'"), "{err}");
        let err = r.resolve(&host("h", "piped")).unwrap_err().to_string();
        assert!(err.contains("ProxyCommand") && err.contains(":10"), "{err}");
        let jumped = Host {
            jump: Some("gate".into()),
            ..host("h", "piped")
        };
        assert!(
            r.resolve(&jumped).is_ok(),
            "a jump given wins over ProxyCommand"
        );
    }

    #[test]
    fn tokens_outside_the_known_set_are_refused() {
        let t = Tokens {
            host: "h",
            port: 22,
            remote_user: "r",
            local_user: "u",
            alias: "n",
        };
        let home = Path::new("/home/u");
        assert_eq!(
            t.expand("~/.ssh/%n_%%", Some(home)).unwrap(),
            "/home/u/.ssh/n_%"
        );
        assert!(t.expand("%C", Some(home)).unwrap_err().contains("%C"));
    }
}
