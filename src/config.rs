//! Configuration: one TOML file, loaded and validated once at start.
//! Unknown keys and bad values are errors naming the key and the file;
//! environment variables override the file.

use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::time::Duration;

use serde::{Deserialize, Serialize};

use crate::error::{Error, Result};

#[derive(Debug, Clone, Default, Deserialize, Serialize)]
#[serde(deny_unknown_fields, default)]
pub struct Config {
    pub database: DatabaseConfig,
    pub ssh: SshConfig,
    pub logs: LogsConfig,
    pub run: RunConfig,
    pub discord: DiscordConfig,
    pub web: WebConfig,
}

/// Settings of runs.
#[derive(Debug, Clone, Default, Deserialize, Serialize)]
#[serde(deny_unknown_fields, default)]
pub struct RunConfig {
    /// Keys of the run environment that the env policy refuses
    /// ([`crate::run_env`]) but this site allows, by exact name.
    pub env_allow: Vec<String>,
}

#[derive(Debug, Clone, Default, Deserialize, Serialize)]
#[serde(deny_unknown_fields, default)]
pub struct DatabaseConfig {
    /// `sqlite://PATH` or a plain path. Default: `drover.db` in the user's data directory.
    pub url: Option<String>,
}

#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Deserialize, Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum HostKeyPolicy {
    /// Pin the key on first contact; refuse any later mismatch.
    #[default]
    AcceptNew,
    /// Refuse hosts whose key is neither pinned nor in `known_hosts`.
    Strict,
}

/// `ssh.config`: a path, or `false` (read no OpenSSH client configuration).
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(untagged)]
pub enum SshConfigFile {
    Path(PathBuf),
    None(bool),
}

impl<'de> Deserialize<'de> for SshConfigFile {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> std::result::Result<Self, D::Error> {
        #[derive(Deserialize)]
        #[serde(untagged)]
        enum Raw {
            Path(PathBuf),
            Flag(bool),
        }
        match Raw::deserialize(d).map_err(|_| {
            serde::de::Error::custom("expected a path to an OpenSSH client configuration, or false")
        })? {
            Raw::Path(path) => Ok(SshConfigFile::Path(path)),
            Raw::Flag(false) => Ok(SshConfigFile::None(false)),
            Raw::Flag(true) => Err(serde::de::Error::custom(
                "true is not a file: give a path, or leave the key out to read ~/.ssh/config",
            )),
        }
    }
}

/// One path or a list of paths.
fn one_or_many_paths<'de, D: serde::Deserializer<'de>>(
    d: D,
) -> std::result::Result<Vec<PathBuf>, D::Error> {
    #[derive(Deserialize)]
    #[serde(untagged)]
    enum Raw {
        One(PathBuf),
        Many(Vec<PathBuf>),
    }
    match Raw::deserialize(d)
        .map_err(|_| serde::de::Error::custom("expected a path or a list of paths"))?
    {
        Raw::One(path) => Ok(vec![path]),
        Raw::Many(paths) => Ok(paths),
    }
}

#[derive(Debug, Clone, Deserialize, Serialize)]
#[serde(deny_unknown_fields, default)]
pub struct SshConfig {
    /// Login user for hosts without one. Default: the OS user running drover.
    pub user: Option<String>,
    pub identity_files: Vec<PathBuf>,
    /// OpenSSH known_hosts files, read in order (one path or a list).
    #[serde(deserialize_with = "one_or_many_paths")]
    pub known_hosts: Vec<PathBuf>,
    /// The OpenSSH client configuration: unset, `~/.ssh/config` when it
    /// exists; a path; or `false` for none.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub config: Option<SshConfigFile>,
    pub host_key_policy: HostKeyPolicy,
    #[serde(with = "humantime_serde")]
    pub connect_timeout: Duration,
    #[serde(with = "humantime_serde")]
    pub keepalive_interval: Duration,
}

impl Default for SshConfig {
    fn default() -> Self {
        SshConfig {
            user: None,
            identity_files: Vec::new(),
            known_hosts: Vec::new(),
            config: None,
            host_key_policy: HostKeyPolicy::AcceptNew,
            connect_timeout: Duration::from_secs(10),
            keepalive_interval: Duration::from_secs(15),
        }
    }
}

#[derive(Debug, Clone, Deserialize, Serialize)]
#[serde(deny_unknown_fields, default)]
pub struct LogsConfig {
    /// Globs of remote paths `log fetch` may read.
    pub fetch_allow: Vec<String>,
    /// Regular expressions whose matches are replaced by `[redacted]` in output shown to users.
    pub redact: Vec<String>,
    /// Where full step logs are kept. Default: `logs/` beside the database.
    pub dir: Option<PathBuf>,
}

impl Default for LogsConfig {
    fn default() -> Self {
        LogsConfig {
            fetch_allow: vec!["/var/log/**".to_string()],
            redact: Vec::new(),
            dir: None,
        }
    }
}

#[derive(Debug, Clone, Deserialize, Serialize)]
#[serde(deny_unknown_fields, default)]
pub struct DiscordConfig {
    pub token: Option<String>,
    /// Guilds the commands answer in; DMs are refused.
    pub guilds: Vec<u64>,
    /// A Discord-compatible API base URL instead of discord.com.
    pub api_url: Option<String>,
    pub confirm_above: u32,
    #[serde(with = "humantime_serde")]
    pub edit_interval: Duration,
    /// Age at which a run's progress moves to a new message: Discord limits
    /// edits of messages older than an hour much more strictly.
    #[serde(with = "humantime_serde")]
    pub message_handover: Duration,
    pub permissions: Permissions,
}

impl Default for DiscordConfig {
    fn default() -> Self {
        DiscordConfig {
            token: None,
            guilds: Vec::new(),
            api_url: None,
            confirm_above: 50,
            edit_interval: Duration::from_secs(2),
            message_handover: Duration::from_secs(55 * 60),
            permissions: Permissions::default(),
        }
    }
}

/// The web dashboard (`drover serve`).
#[derive(Debug, Clone, Deserialize, Serialize)]
#[serde(deny_unknown_fields, default)]
pub struct WebConfig {
    /// Socket address the server listens on.
    pub listen: String,
    /// The address users open (behind a reverse proxy, the proxy's); an
    /// https one makes session cookies Secure. Needed by Discord's /dashboard.
    pub public_url: Option<String>,
    /// A session unused this long ends.
    #[serde(with = "humantime_serde")]
    pub idle_timeout: Duration,
    /// A session ends this long after login, however active.
    #[serde(with = "humantime_serde")]
    pub session_lifetime: Duration,
    /// How long a /dashboard login link stays usable.
    #[serde(with = "humantime_serde")]
    pub login_link_ttl: Duration,
    /// Take the client address from the last X-Forwarded-For entry (set only
    /// when a reverse proxy in front of drover overwrites that header).
    pub trust_forwarded_for: bool,
}

/// Where `drover serve` listens unless `web.listen` says otherwise.
pub const DEFAULT_WEB_LISTEN: &str = "127.0.0.1:8080";

impl Default for WebConfig {
    fn default() -> Self {
        WebConfig {
            listen: DEFAULT_WEB_LISTEN.to_string(),
            public_url: None,
            idle_timeout: Duration::from_secs(12 * 60 * 60),
            session_lifetime: Duration::from_secs(7 * 24 * 60 * 60),
            login_link_ttl: Duration::from_secs(5 * 60),
            trust_forwarded_for: false,
        }
    }
}

impl WebConfig {
    /// The listen address (validated when the configuration was loaded).
    pub fn listen_address(&self) -> Result<std::net::SocketAddr> {
        parse_listen(&self.listen).map_err(|why| Error::Config(format!("key 'web.listen': {why}")))
    }

    /// The public URL without a trailing slash, e.g. `https://drover.example.org`.
    pub fn public_base(&self) -> Option<&str> {
        self.public_url.as_deref().map(|u| u.trim_end_matches('/'))
    }

    /// Session cookies are Secure when users reach drover over https.
    pub fn secure_cookies(&self) -> bool {
        self.public_url
            .as_deref()
            .is_some_and(|u| u.starts_with("https://"))
    }

    fn validate(&self, bad: &dyn Fn(&str, String) -> Error) -> Result<()> {
        parse_listen(&self.listen).map_err(|why| bad("web.listen", why))?;
        if let Some(url) = &self.public_url {
            check_public_url(url).map_err(|why| bad("web.public_url", why))?;
        }
        if self.idle_timeout < Duration::from_secs(1) {
            return Err(bad("web.idle_timeout", "must be at least 1s".into()));
        }
        if self.session_lifetime < self.idle_timeout {
            return Err(bad(
                "web.session_lifetime",
                "must be at least web.idle_timeout".into(),
            ));
        }
        if self.login_link_ttl < Duration::from_secs(1)
            || self.login_link_ttl > Duration::from_secs(60 * 60)
        {
            return Err(bad(
                "web.login_link_ttl",
                "must be between 1s and 1h".into(),
            ));
        }
        Ok(())
    }
}

fn parse_listen(raw: &str) -> std::result::Result<std::net::SocketAddr, String> {
    raw.parse().map_err(|_| {
        format!("'{raw}' is not a socket address; expected IP:PORT such as 127.0.0.1:8080 or [::1]:8080")
    })
}

/// A public URL: http(s), a host, no credentials, path, query or fragment.
fn check_public_url(url: &str) -> std::result::Result<(), String> {
    let expected = "expected the origin users open, such as https://drover.example.org";
    let shown = mask_url_password(url);
    let url = shown.as_str();
    let parsed =
        reqwest::Url::parse(url).map_err(|e| format!("'{url}' is not a URL ({e}); {expected}"))?;
    if !matches!(parsed.scheme(), "http" | "https") || parsed.host_str().is_none() {
        return Err(format!(
            "'{url}': not an http:// or https:// URL; {expected}"
        ));
    }
    if !parsed.username().is_empty() || parsed.password().is_some() {
        return Err(format!(
            "'{}': a public URL carries no credentials; {expected}",
            parsed.origin().ascii_serialization()
        ));
    }
    if parsed.path() != "/" || parsed.query().is_some() || parsed.fragment().is_some() {
        return Err(format!(
            "'{url}': drover serves at the root of its address, so no path, query or fragment; {expected}"
        ));
    }
    Ok(())
}

/// Discord principals (`role:ID` or `user:ID`) per level.
#[derive(Debug, Clone, Default, Deserialize, Serialize)]
#[serde(deny_unknown_fields, default)]
pub struct Permissions {
    pub admin: Vec<String>,
    pub operator: Vec<String>,
    pub viewer: Vec<String>,
}

/// The name of the OS user running this process: `USER`, else `LOGNAME`,
/// else its entry in /etc/passwd; `unknown` when none says.
pub fn os_user_name() -> String {
    std::env::var("USER")
        .or_else(|_| std::env::var("LOGNAME"))
        .ok()
        .filter(|u| !u.is_empty())
        .or_else(user_from_passwd)
        .unwrap_or_else(|| "unknown".to_string())
}

/// The name of this process's user, from /etc/passwd.
fn user_from_passwd() -> Option<String> {
    use std::os::unix::fs::MetadataExt;
    let uid = std::fs::metadata("/proc/self").ok()?.uid();
    let passwd = std::fs::read_to_string("/etc/passwd").ok()?;
    passwd.lines().find_map(|line| {
        let mut parts = line.split(':');
        let name = parts.next()?;
        let entry_uid = parts.nth(1)?.parse::<u32>().ok()?;
        (entry_uid == uid).then(|| name.to_string())
    })
}

/// Where the configuration comes from.
pub fn default_config_path() -> Option<PathBuf> {
    dirs::config_dir().map(|d| d.join("drover").join("drover.toml"))
}

impl Config {
    /// Loads `path` (an explicit path must exist; the default may be absent),
    /// applies environment overrides from `env`, and validates.
    pub fn load(
        path: Option<&Path>,
        explicit: bool,
        env: &HashMap<String, String>,
    ) -> Result<Config> {
        let mut config = match path {
            Some(path) if path.exists() || explicit => Self::from_file(path)?,
            _ => Config::default(),
        };
        config.apply_env(env)?;
        config.validate(path)?;
        Ok(config)
    }

    fn from_file(path: &Path) -> Result<Config> {
        let text = std::fs::read_to_string(path).map_err(|e| {
            Error::io(
                format!("cannot read configuration file {}", path.display()),
                e,
            )
        })?;
        Self::parse(&text, path)
    }

    /// Parses TOML text; errors name the file and the key.
    pub fn parse(text: &str, path: &Path) -> Result<Config> {
        toml::from_str(text).map_err(|e| {
            let key = e.span().and_then(|span| key_at(text, span.start));
            let message = e.message().trim().to_string();
            let located = match key {
                Some(key) => format!("{}: key '{key}': {message}", path.display()),
                None => format!("{}: {message}", path.display()),
            };
            Error::Config(located)
        })
    }

    fn apply_env(&mut self, env: &HashMap<String, String>) -> Result<()> {
        let get = |k: &str| env.get(k).filter(|v| !v.is_empty()).cloned();
        if let Some(url) = get("DROVER_DATABASE_URL") {
            self.database.url = Some(url);
        }
        if let Some(user) = get("DROVER_SSH_USER") {
            crate::domain::parse_user(&user)
                .map_err(|e| Error::Config(format!("environment variable DROVER_SSH_USER: {e}")))?;
            self.ssh.user = Some(user);
        }
        if let Some(path) = get("DROVER_KNOWN_HOSTS") {
            self.ssh.known_hosts = vec![PathBuf::from(path)];
        }
        if let Some(token) = get("DISCORD_TOKEN") {
            self.discord.token = Some(token);
        }
        if let Some(api) = get("DROVER_DISCORD_API") {
            check_api_url(&api).map_err(|why| {
                Error::Config(format!("environment variable DROVER_DISCORD_API: {why}"))
            })?;
            self.discord.api_url = Some(api);
        }
        if let Some(guild) = get("DROVER_DISCORD_GUILD") {
            let id = guild.parse::<u64>().map_err(|_| {
                Error::Config(format!(
                    "environment variable DROVER_DISCORD_GUILD: '{guild}' is not a Discord guild id (a number)"
                ))
            })?;
            if id == 0 {
                return Err(Error::Config(
                    "environment variable DROVER_DISCORD_GUILD: 0 is not a Discord guild id".into(),
                ));
            }
            self.discord.guilds = vec![id];
        }
        Ok(())
    }

    fn validate(&self, path: Option<&Path>) -> Result<()> {
        let file = path.map_or_else(|| "defaults".to_string(), |p| p.display().to_string());
        let bad = |key: &str, why: String| Error::Config(format!("{file}: key '{key}': {why}"));
        if let Some(user) = &self.ssh.user {
            crate::domain::parse_user(user).map_err(|e| bad("ssh.user", e.to_string()))?;
        }
        if self.ssh.connect_timeout < Duration::from_millis(100) {
            return Err(bad("ssh.connect_timeout", "must be at least 100ms".into()));
        }
        if self.ssh.keepalive_interval < Duration::from_secs(1) {
            return Err(bad("ssh.keepalive_interval", "must be at least 1s".into()));
        }
        if let Some(api) = &self.discord.api_url {
            check_api_url(api).map_err(|why| bad("discord.api_url", why))?;
        }
        if self.discord.guilds.contains(&0) {
            return Err(bad("discord.guilds", "0 is not a Discord guild id".into()));
        }
        for glob in &self.logs.fetch_allow {
            if !glob.starts_with('/') {
                return Err(bad(
                    "logs.fetch_allow",
                    format!("'{glob}' must be an absolute path glob"),
                ));
            }
            globset::Glob::new(glob)
                .map_err(|e| bad("logs.fetch_allow", format!("'{glob}': {e}")))?;
        }
        for key in &self.run.env_allow {
            check_env_allow(key).map_err(|why| bad("run.env_allow", why))?;
        }
        for pattern in &self.logs.redact {
            regex::Regex::new(pattern)
                .map_err(|e| bad("logs.redact", format!("'{pattern}': {e}")))?;
        }
        if self.discord.edit_interval < Duration::from_millis(500) {
            return Err(bad(
                "discord.edit_interval",
                "must be at least 500ms".into(),
            ));
        }
        if self.discord.message_handover <= self.discord.edit_interval
            || self.discord.message_handover > Duration::from_secs(60 * 60)
        {
            return Err(bad(
                "discord.message_handover",
                "must be longer than discord.edit_interval and at most 1h".into(),
            ));
        }
        self.web.validate(&bad)?;
        let levels = [
            ("discord.permissions.admin", &self.discord.permissions.admin),
            (
                "discord.permissions.operator",
                &self.discord.permissions.operator,
            ),
            (
                "discord.permissions.viewer",
                &self.discord.permissions.viewer,
            ),
        ];
        for (key, principals) in levels {
            for principal in principals {
                parse_principal(principal).map_err(|why| bad(key, why))?;
            }
        }
        Ok(())
    }

    /// The effective configuration as TOML, secrets masked.
    pub fn to_masked_toml(&self) -> String {
        let mut shown = self.clone();
        if shown.discord.token.is_some() {
            shown.discord.token = Some("********".into());
        }
        if let Some(url) = &shown.database.url {
            shown.database.url = Some(mask_url_password(url));
        }
        if let Some(url) = &shown.discord.api_url {
            shown.discord.api_url = Some(mask_url_password(url));
        }
        toml::to_string_pretty(&shown)
            .unwrap_or_else(|e| format!("# cannot render configuration: {e}\n"))
    }
}

/// An `env_allow` entry: a key the env policy refuses, named exactly.
fn check_env_allow(key: &str) -> std::result::Result<(), String> {
    if !crate::run_env::valid_key(key) {
        return Err(format!(
            "'{key}' is not an environment variable name (letters, digits and '_', not starting with a digit)"
        ));
    }
    if key.starts_with("DROVER_") {
        return Err(format!(
            "'{key}': DROVER_* variables are set by drover itself"
        ));
    }
    if crate::run_env::refused_key(key).is_none() {
        return Err(format!(
            "'{key}' is not refused by the run environment policy, so there is nothing to allow (a typo?)"
        ));
    }
    Ok(())
}

/// A Discord principal in the permissions table.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Principal {
    Role(u64),
    User(u64),
}

pub fn parse_principal(raw: &str) -> std::result::Result<Principal, String> {
    let parse_id = |id: &str| {
        id.parse::<u64>().map_err(|_| {
            format!("'{raw}': expected 'role:ID' or 'user:ID' with a numeric Discord id")
        })
    };
    if let Some(id) = raw.strip_prefix("role:") {
        Ok(Principal::Role(parse_id(id)?))
    } else if let Some(id) = raw.strip_prefix("user:") {
        Ok(Principal::User(parse_id(id)?))
    } else {
        Err(format!("'{raw}': expected 'role:ID' or 'user:ID'"))
    }
}

/// `url` with its password (or, without one, a user name that may be a
/// token) replaced by `****`; text that is not a URL is shown as it is.
fn mask_url_password(url: &str) -> String {
    let Ok(mut parsed) = reqwest::Url::parse(url) else {
        return url.to_string();
    };
    let masked = if parsed.password().is_some() {
        parsed.set_password(Some("****"))
    } else if !parsed.username().is_empty() {
        parsed.set_username("****")
    } else {
        return url.to_string();
    };
    match masked {
        Ok(()) => parsed.to_string(),
        // A URL that cannot carry credentials has none to hide.
        Err(()) => url.to_string(),
    }
}

/// The dotted key at a byte offset of TOML text: the enclosing `[table]`
/// plus the key on that line.
fn key_at(text: &str, offset: usize) -> Option<String> {
    let offset = offset.min(text.len());
    let before = text.get(..offset)?;
    let line_start = before.rfind('\n').map_or(0, |i| i + 1);
    let line = text[line_start..].lines().next().unwrap_or("");
    let table = before[..line_start]
        .lines()
        .rev()
        .map(str::trim)
        .find(|l| l.starts_with('[') && l.ends_with(']'))
        .map(|l| l.trim_matches(|c| c == '[' || c == ']').trim().to_string());
    let trimmed = line.trim();
    if trimmed.starts_with('[') {
        return Some(
            trimmed
                .trim_matches(|c| c == '[' || c == ']')
                .trim()
                .to_string(),
        );
    }
    let key = trimmed.split('=').next()?.trim().trim_matches('"');
    if key.is_empty() {
        return table;
    }
    Some(match table {
        Some(table) => format!("{table}.{key}"),
        None => key.to_string(),
    })
}

/// A Discord-compatible API base: `http://` or `https://` and a host.
fn check_api_url(url: &str) -> std::result::Result<(), String> {
    let parsed = reqwest::Url::parse(url).map_err(|e| format!("'{url}' is not a URL: {e}"))?;
    if !matches!(parsed.scheme(), "http" | "https") || parsed.host_str().is_none() {
        return Err(format!(
            "'{url}': expected an http:// or https:// URL such as http://127.0.0.1:3000"
        ));
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse(text: &str) -> Result<Config> {
        let config = Config::parse(text, Path::new("/etc/drover.toml"))?;
        config.validate(Some(Path::new("/etc/drover.toml")))?;
        Ok(config)
    }

    #[test]
    fn unknown_key_names_key_and_file() {
        let err = parse("[ssh]\nuser = \"ops\"\ncolour = \"red\"\n")
            .unwrap_err()
            .to_string();
        assert!(err.contains("/etc/drover.toml"), "{err}");
        assert!(err.contains("ssh.colour"), "{err}");
    }

    #[test]
    fn bad_value_names_key_and_file() {
        let err = parse("[ssh]\nhost_key_policy = \"yolo\"\n")
            .unwrap_err()
            .to_string();
        assert!(
            err.contains("/etc/drover.toml") && err.contains("ssh.host_key_policy"),
            "{err}"
        );
        let err = parse("[ssh]\nconnect_timeout = \"soon\"\n")
            .unwrap_err()
            .to_string();
        assert!(err.contains("ssh.connect_timeout"), "{err}");
        let err = parse("[logs]\nredact = [\"(\"]\n").unwrap_err().to_string();
        assert!(err.contains("logs.redact"), "{err}");
        let err = parse("[discord.permissions]\nadmin = [\"team:1\"]\n")
            .unwrap_err()
            .to_string();
        assert!(err.contains("discord.permissions.admin"), "{err}");
    }

    #[test]
    fn web_settings_are_checked_and_https_makes_cookies_secure() {
        let config = parse("").unwrap();
        assert_eq!(config.web.listen, DEFAULT_WEB_LISTEN);
        assert!(!config.web.secure_cookies());
        let config =
            parse("[web]\nlisten = \"[::1]:9000\"\npublic_url = \"https://d.example.org/\"\n")
                .unwrap();
        assert_eq!(config.web.listen_address().unwrap().port(), 9000);
        assert_eq!(config.web.public_base(), Some("https://d.example.org"));
        assert!(config.web.secure_cookies());
        for (text, key) in [
            ("[web]\nlisten = \"8080\"\n", "web.listen"),
            (
                "[web]\npublic_url = \"drover.example.org\"\n",
                "web.public_url",
            ),
            (
                "[web]\npublic_url = \"https://u:p@d.example.org\"\n",
                "web.public_url",
            ),
            (
                "[web]\npublic_url = \"https://d.example.org/?a=1\"\n",
                "web.public_url",
            ),
            ("[web]\nsession_lifetime = \"1s\"\n", "web.session_lifetime"),
            ("[web]\nlogin_link_ttl = \"2h\"\n", "web.login_link_ttl"),
            ("[web]\ncolour = 1\n", "web.colour"),
        ] {
            let err = parse(text).unwrap_err().to_string();
            assert!(
                err.contains(key) && err.contains("/etc/drover.toml"),
                "{text}: {err}"
            );
        }
        let err = parse("[web]\npublic_url = \"https://u:hunter2@d.example.org\"\n")
            .unwrap_err()
            .to_string();
        assert!(!err.contains("hunter2"), "{err}");
    }

    #[test]
    fn defaults_and_env_override() {
        let mut config = parse("").unwrap();
        assert_eq!(config.logs.fetch_allow, vec!["/var/log/**"]);
        assert_eq!(config.ssh.host_key_policy, HostKeyPolicy::AcceptNew);
        let env = HashMap::from([
            ("DISCORD_TOKEN".to_string(), "sekrit".to_string()),
            ("DROVER_DISCORD_GUILD".to_string(), "42".to_string()),
        ]);
        config.apply_env(&env).unwrap();
        assert_eq!(config.discord.guilds, vec![42]);
        let shown = config.to_masked_toml();
        assert!(
            !shown.contains("sekrit") && shown.contains("********"),
            "{shown}"
        );
    }

    #[test]
    fn known_hosts_takes_one_path_or_a_list_and_config_a_path_or_false() {
        let one = parse("[ssh]\nknown_hosts = \"/a\"\n").unwrap();
        assert_eq!(one.ssh.known_hosts, [PathBuf::from("/a")]);
        let many = parse("[ssh]\nknown_hosts = [\"/a\", \"/b\"]\nconfig = false\n").unwrap();
        assert_eq!(many.ssh.known_hosts.len(), 2);
        assert_eq!(many.ssh.config, Some(SshConfigFile::None(false)));
        let path = parse("[ssh]\nconfig = \"/c\"\n").unwrap();
        assert_eq!(
            path.ssh.config,
            Some(SshConfigFile::Path(PathBuf::from("/c")))
        );
        let err = parse("[ssh]\nconfig = true\n").unwrap_err().to_string();
        assert!(
            err.contains("key 'ssh.config'") && err.contains("true is not a file"),
            "{err}"
        );
        let shown = many.to_masked_toml();
        assert!(shown.contains("config = false"), "{shown}");
    }

    #[test]
    fn every_url_field_is_shown_without_its_password() {
        let mut config = parse("").unwrap();
        config.database.url = Some("sqlite://admin:dbpass1@localhost/drover.db".into());
        config.discord.api_url = Some("https://bot:apipass2@proxy.example:8443/api".into());
        let shown = config.to_masked_toml();
        for secret in ["dbpass1", "apipass2"] {
            assert!(!shown.contains(secret), "{secret} shown: {shown}");
        }
        assert!(
            shown.contains("https://bot:****@proxy.example:8443/api"),
            "{shown}"
        );
        assert!(shown.contains("admin:****@localhost"), "{shown}");
        assert_eq!(
            mask_url_password("https://t0ken@example.com/x?y=a@b"),
            "https://****@example.com/x?y=a@b"
        );
        assert_eq!(
            mask_url_password("/var/lib/drover.db"),
            "/var/lib/drover.db"
        );
        assert_eq!(
            mask_url_password("http://127.0.0.1:3000"),
            "http://127.0.0.1:3000"
        );
    }

    #[test]
    fn env_allow_names_refused_keys_only() {
        let config = parse("[run]\nenv_allow = [\"PYTHONPATH\", \"LD_PRELOAD\"]\n").unwrap();
        assert_eq!(config.run.env_allow, vec!["PYTHONPATH", "LD_PRELOAD"]);
        for (entry, words) in [
            ("1BAD", "not an environment variable name"),
            ("DROVER_X", "set by drover itself"),
            ("PYTHONPATHS", "nothing to allow"),
        ] {
            let err = parse(&format!("[run]\nenv_allow = [\"{entry}\"]\n"))
                .unwrap_err()
                .to_string();
            assert!(
                err.contains("run.env_allow") && err.contains(words),
                "{err}"
            );
        }
    }
}
