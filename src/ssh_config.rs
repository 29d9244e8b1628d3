//! The OpenSSH client configuration (`~/.ssh/config` and the files it
//! `Include`s), read as `ssh` reads it. The ssh2-config crate does the
//! parsing and the lookups (Host patterns with `!` negation, the first
//! obtained value wins, `Include` inside and outside Host blocks); this
//! module adds what that crate does not keep: where each Host block is
//! (file:line), errors that name their line, and a refusal of `Match`
//! blocks, which the crate does not understand (it would apply their
//! settings to the Host block above them).
//!
//! Front ends see three things: [`SshConfig::load`], the Host blocks in file
//! order ([`SshConfig::host_blocks`], what an inventory import lists) and
//! one alias's effective settings ([`SshConfig::settings`], what a
//! connection needs).

use std::fmt;
use std::fs::File;
use std::io::BufReader;
use std::path::{Path, PathBuf};
use std::time::Duration;

use ssh2_config::{HostParams, ParseRule};

/// Keywords the crate does not interpret are kept (not refused), as a newer
/// OpenSSH keyword must not make a working file unreadable; values of the
/// keywords it knows are still checked.
const RULES: ParseRule = ParseRule::ALLOW_UNKNOWN_FIELDS.union(ParseRule::ALLOW_UNSUPPORTED_FIELDS);

/// Where a line is: `file:line` (1-based).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Location {
    pub file: PathBuf,
    pub line: usize,
}

impl fmt::Display for Location {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}:{}", self.file.display(), self.line)
    }
}

/// A configuration that cannot be used, with where when it is known.
#[derive(Debug, thiserror::Error)]
pub enum SshConfigError {
    #[error("{at}: {message}")]
    At { at: Location, message: String },
    #[error("{}: {message}", file.display())]
    File { file: PathBuf, message: String },
}

/// One pattern of a `Host` line.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct HostPattern {
    /// The pattern without its `!`.
    pub text: String,
    /// `!pattern`: a host it matches is excluded from the block.
    pub negated: bool,
}

impl HostPattern {
    /// True for a pattern with `*` or `?`, which names no single host.
    pub fn has_wildcard(&self) -> bool {
        self.text.contains(['*', '?'])
    }

    /// The host alias this pattern names, if it names exactly one.
    pub fn alias(&self) -> Option<&str> {
        (!self.negated && !self.has_wildcard()).then_some(self.text.as_str())
    }
}

/// A `Host` line and where it is.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct HostBlock {
    pub patterns: Vec<HostPattern>,
    pub at: Location,
}

/// The settings of one alias, each the first value obtained from the
/// blocks that match it (IdentityFile, UserKnownHostsFile and
/// GlobalKnownHostsFile collect every value). Paths are as written, `~`
/// expanded; `%` tokens other than HostName's `%h` are left to the user of
/// the value.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct HostSettings {
    /// `HostName`, with `%h` replaced by the alias.
    pub host_name: Option<String>,
    pub user: Option<String>,
    pub port: Option<u16>,
    pub identity_files: Vec<PathBuf>,
    pub identities_only: Option<bool>,
    /// `ProxyJump` hops, in order (`none` gives an empty list).
    pub proxy_jump: Option<Vec<String>>,
    pub connect_timeout: Option<Duration>,
    pub server_alive_interval: Option<Duration>,
    pub user_known_hosts_files: Vec<String>,
    pub global_known_hosts_files: Vec<String>,
    /// `StrictHostKeyChecking` as written, lower-cased (`yes`, `no`,
    /// `accept-new`, `ask`, `off`).
    pub strict_host_key_checking: Option<String>,
}

/// A parsed configuration with the location of its Host blocks.
#[derive(Debug, Clone)]
pub struct SshConfig {
    parsed: ssh2_config::SshConfig,
    blocks: Vec<HostBlock>,
}

impl SshConfig {
    /// Reads `path` and every file it includes. `home` resolves `~` and
    /// relative `Include` paths (`~/.ssh/...`), as ssh does; `None` takes
    /// the user's home directory.
    pub fn load(path: &Path, home: Option<&Path>) -> Result<SshConfig, SshConfigError> {
        let home = home.map(Path::to_path_buf).or_else(dirs::home_dir);
        let mut lines = Vec::new();
        scan_file(path, home.as_deref(), &mut Vec::new(), &mut lines)?;
        let blocks = host_blocks(&lines)?;
        let parsed = parse_file(path, home.as_deref())
            .map_err(|error| locate_error(path, home.as_deref(), &lines, error))?;
        Ok(SshConfig { parsed, blocks })
    }

    /// The Host blocks of every file, in the order ssh reads them.
    pub fn host_blocks(&self) -> &[HostBlock] {
        &self.blocks
    }

    /// The effective settings of `alias` (the name given to ssh).
    pub fn settings(&self, alias: &str) -> Result<HostSettings, String> {
        let params = self.parsed.query(alias);
        Ok(HostSettings {
            host_name: params
                .host_name
                .as_deref()
                .map(|name| expand_host_name(name, alias))
                .transpose()?,
            user: params.user.clone(),
            port: params.port,
            identity_files: params.identity_file.clone().unwrap_or_default(),
            identities_only: unsupported_flag(&params, "identitiesonly")?,
            proxy_jump: params.proxy_jump.clone().map(|hops| {
                hops.into_iter()
                    .filter(|hop| !hop.eq_ignore_ascii_case("none"))
                    .collect()
            }),
            connect_timeout: params.connect_timeout,
            server_alive_interval: params.server_alive_interval,
            user_known_hosts_files: unsupported_args(&params, "userknownhostsfile"),
            global_known_hosts_files: unsupported_args(&params, "globalknownhostsfile"),
            strict_host_key_checking: unsupported_args(&params, "stricthostkeychecking")
                .first()
                .map(|v| v.to_ascii_lowercase()),
        })
    }
}

/// `HostName` with its tokens: `%h` is the alias, `%%` a `%`.
fn expand_host_name(raw: &str, alias: &str) -> Result<String, String> {
    let mut out = String::with_capacity(raw.len());
    let mut chars = raw.chars();
    while let Some(c) = chars.next() {
        if c != '%' {
            out.push(c);
            continue;
        }
        match chars.next() {
            Some('h') => out.push_str(alias),
            Some('%') => out.push('%'),
            other => {
                let token = other.map_or_else(|| "%".to_string(), |t| format!("%{t}"));
                return Err(format!(
                    "HostName '{raw}' uses {token}; only %h (the alias) and %% are understood there"
                ));
            }
        }
    }
    Ok(out)
}

fn unsupported_args(params: &HostParams, keyword: &str) -> Vec<String> {
    params
        .unsupported_fields
        .get(keyword)
        .cloned()
        .unwrap_or_default()
}

fn unsupported_flag(params: &HostParams, keyword: &str) -> Result<Option<bool>, String> {
    let Some(value) = unsupported_args(params, keyword).into_iter().next() else {
        return Ok(None);
    };
    match value.to_ascii_lowercase().as_str() {
        "yes" | "true" => Ok(Some(true)),
        "no" | "false" => Ok(Some(false)),
        _ => Err(format!("{keyword} '{value}': expected yes or no")),
    }
}

fn parse_file(
    path: &Path,
    home: Option<&Path>,
) -> Result<ssh2_config::SshConfig, ssh2_config::SshParserError> {
    let mut reader = BufReader::new(File::open(path)?);
    with_home(home).parse(&mut reader, RULES)
}

fn with_home(home: Option<&Path>) -> ssh2_config::SshConfig {
    let config = ssh2_config::SshConfig::default();
    match home {
        Some(home) => config.home_dir(home),
        None => config,
    }
}

/// One meaningful line of a configuration file.
#[derive(Debug)]
struct ConfigLine {
    at: Location,
    /// The keyword, lower-cased.
    keyword: String,
    args: Vec<String>,
    /// The line without its comment.
    text: String,
}

impl ConfigLine {
    /// The keyword as written. Errors quote it rather than the line, whose
    /// value may be a secret (`SetEnv TOKEN=...`).
    fn written_keyword(&self) -> &str {
        self.text
            .split(|c: char| c.is_whitespace() || c == '=')
            .next()
            .unwrap_or_default()
    }
}

/// Reads the lines of `path` and, depth first at each `Include`, of the
/// files it includes: the order in which ssh reads them.
fn scan_file(
    path: &Path,
    home: Option<&Path>,
    stack: &mut Vec<PathBuf>,
    lines: &mut Vec<ConfigLine>,
) -> Result<(), SshConfigError> {
    let file_error = |message: String| SshConfigError::File {
        file: path.to_path_buf(),
        message,
    };
    let text =
        std::fs::read_to_string(path).map_err(|e| file_error(format!("cannot read: {e}")))?;
    let canonical = path
        .canonicalize()
        .map_err(|e| file_error(format!("cannot resolve: {e}")))?;
    stack.push(canonical);
    for (index, raw) in text.lines().enumerate() {
        let text = strip_comment(raw).trim().to_string();
        if text.is_empty() {
            continue;
        }
        let (keyword, rest) = split_keyword(&text);
        let line = ConfigLine {
            at: Location {
                file: path.to_path_buf(),
                line: index + 1,
            },
            keyword,
            args: split_args(rest),
            text,
        };
        if line.keyword == "include" {
            let included = included_files(&line, home, stack)?;
            lines.push(line);
            for file in included {
                scan_file(&file, home, stack, lines)?;
            }
        } else {
            lines.push(line);
        }
    }
    stack.pop();
    Ok(())
}

/// The files an `Include` line names, in order; refuses a file that is
/// already being read (a cycle).
fn included_files(
    line: &ConfigLine,
    home: Option<&Path>,
    stack: &[PathBuf],
) -> Result<Vec<PathBuf>, SshConfigError> {
    let at_line = |message: String| SshConfigError::At {
        at: line.at.clone(),
        message: format!("'{}': {message}", line.text),
    };
    if line.args.is_empty() {
        return Err(at_line("Include needs at least one file".into()));
    }
    let mut files = Vec::new();
    for arg in &line.args {
        let pattern = include_pattern(arg, home).ok_or_else(|| {
            at_line(format!(
                "'{arg}' is relative to the home directory, and there is none"
            ))
        })?;
        let matches = glob::glob(&pattern).map_err(|e| at_line(format!("bad pattern: {e}")))?;
        for entry in matches {
            let file = entry.map_err(|e| at_line(e.to_string()))?;
            let canonical = file
                .canonicalize()
                .map_err(|e| at_line(format!("{}: {e}", file.display())))?;
            if stack.contains(&canonical) {
                return Err(at_line(format!(
                    "{} is already being read (an Include cycle)",
                    file.display()
                )));
            }
            files.push(file);
        }
    }
    Ok(files)
}

/// The glob an `Include` argument stands for, as ssh2-config resolves it:
/// absolute as is, `~/x` in the home directory, other relative paths in
/// `~/.ssh/`.
fn include_pattern(arg: &str, home: Option<&Path>) -> Option<String> {
    let escaped = |home: &Path| PathBuf::from(glob::Pattern::escape(&home.display().to_string()));
    if arg.starts_with('/') {
        Some(arg.to_string())
    } else if arg == "~" {
        home.map(|h| escaped(h).display().to_string())
    } else if let Some(rest) = arg.strip_prefix("~/") {
        home.map(|h| escaped(h).join(rest).display().to_string())
    } else if arg.starts_with('~') {
        Some(arg.to_string())
    } else {
        home.map(|h| escaped(h).join(".ssh").join(arg).display().to_string())
    }
}

/// The Host blocks of the lines; refuses `Match`, which would otherwise be
/// read as part of the block above it.
fn host_blocks(lines: &[ConfigLine]) -> Result<Vec<HostBlock>, SshConfigError> {
    let mut blocks = Vec::new();
    for line in lines {
        match line.keyword.as_str() {
            "host" => blocks.push(HostBlock {
                patterns: line
                    .args
                    .iter()
                    .map(|arg| match arg.strip_prefix('!') {
                        Some(text) => HostPattern {
                            text: text.to_string(),
                            negated: true,
                        },
                        None => HostPattern {
                            text: arg.clone(),
                            negated: false,
                        },
                    })
                    .collect(),
                at: line.at.clone(),
            }),
            "match" => {
                return Err(SshConfigError::At {
                    at: line.at.clone(),
                    message: format!(
                        "'{}': Match blocks are not supported; write those settings in Host blocks",
                        line.text
                    ),
                })
            }
            _ => {}
        }
    }
    Ok(blocks)
}

/// The line a parse error comes from: the first line that fails when
/// parsed on its own (an `Include` line's own problems were found while
/// scanning, and its files' lines are checked in their place).
fn locate_error(
    path: &Path,
    home: Option<&Path>,
    lines: &[ConfigLine],
    error: ssh2_config::SshParserError,
) -> SshConfigError {
    let failing = lines
        .iter()
        .filter(|line| line.keyword != "include")
        .find_map(|line| {
            let mut reader = line.text.as_bytes();
            with_home(home)
                .parse(&mut reader, RULES)
                .err()
                .map(|e| (line, e))
        });
    match failing {
        Some((line, e)) => SshConfigError::At {
            at: line.at.clone(),
            message: format!("{}: {e}", line.written_keyword()),
        },
        None => SshConfigError::File {
            file: path.to_path_buf(),
            message: error.to_string(),
        },
    }
}

/// The line up to a `#` outside double quotes.
fn strip_comment(line: &str) -> &str {
    let mut quoted = false;
    for (i, c) in line.char_indices() {
        match c {
            '"' => quoted = !quoted,
            '#' if !quoted => return &line[..i],
            _ => {}
        }
    }
    line
}

/// `Keyword args`, `Keyword=args` or `Keyword = args`: the keyword
/// (lower-cased) and the rest.
fn split_keyword(line: &str) -> (String, &str) {
    let end = line
        .find(|c: char| c.is_whitespace() || c == '=')
        .unwrap_or(line.len());
    let (keyword, rest) = line.split_at(end);
    let rest = rest.trim_start();
    let rest = rest.strip_prefix('=').unwrap_or(rest).trim_start();
    (keyword.to_ascii_lowercase(), rest)
}

/// Whitespace-separated arguments; double quotes group.
fn split_args(rest: &str) -> Vec<String> {
    let mut args = Vec::new();
    let mut current = String::new();
    let mut quoted = false;
    let mut started = false;
    for c in rest.chars() {
        match c {
            '"' => {
                quoted = !quoted;
                started = true;
            }
            c if c.is_whitespace() && !quoted => {
                if started {
                    args.push(std::mem::take(&mut current));
                    started = false;
                }
            }
            c => {
                current.push(c);
                started = true;
            }
        }
    }
    if started {
        args.push(current);
    }
    args
}

#[cfg(test)]
mod tests {
    use super::*;

    fn write(dir: &Path, name: &str, text: &str) -> PathBuf {
        let path = dir.join(name);
        std::fs::create_dir_all(path.parent().unwrap()).unwrap();
        std::fs::write(&path, text).unwrap();
        path
    }

    #[test]
    fn first_value_wins_and_wildcards_fill_in() {
        let dir = tempfile::tempdir().unwrap();
        let config = write(
            dir.path(),
            "config",
            "Host web1\n  HostName 10.0.0.1\n  Port 2201\nHost *\n  User deploy\n  Port 22\n  IdentityFile ~/.ssh/a\n  IdentityFile ~/.ssh/b\n",
        );
        let config = SshConfig::load(&config, Some(dir.path())).unwrap();
        let web1 = config.settings("web1").unwrap();
        assert_eq!(web1.host_name.as_deref(), Some("10.0.0.1"));
        assert_eq!(web1.port, Some(2201));
        assert_eq!(web1.user.as_deref(), Some("deploy"));
        assert_eq!(
            web1.identity_files,
            [dir.path().join(".ssh/a"), dir.path().join(".ssh/b")]
        );
        let blocks = config.host_blocks();
        assert_eq!(blocks.len(), 2);
        assert_eq!(blocks[1].at.line, 4);
        assert_eq!(blocks[1].patterns[0].alias(), None);
    }

    #[test]
    fn connection_settings_the_crate_does_not_interpret_are_kept() {
        let dir = tempfile::tempdir().unwrap();
        let config = write(
            dir.path(),
            "config",
            "Host inner\n  HostName %h.example.org\n  ProxyJump bastion,jump2\n  IdentitiesOnly yes\n  ConnectTimeout 7\n  ServerAliveInterval 15\n  UserKnownHostsFile ~/k1 ~/k2\n  GlobalKnownHostsFile /etc/k\n  StrictHostKeyChecking Accept-New\n",
        );
        let s = SshConfig::load(&config, Some(dir.path()))
            .unwrap()
            .settings("inner")
            .unwrap();
        assert_eq!(s.host_name.as_deref(), Some("inner.example.org"));
        assert_eq!(s.proxy_jump, Some(vec!["bastion".into(), "jump2".into()]));
        assert_eq!(s.identities_only, Some(true));
        assert_eq!(s.connect_timeout, Some(Duration::from_secs(7)));
        assert_eq!(s.server_alive_interval, Some(Duration::from_secs(15)));
        assert_eq!(s.user_known_hosts_files, ["~/k1", "~/k2"]);
        assert_eq!(s.global_known_hosts_files, ["/etc/k"]);
        assert_eq!(s.strict_host_key_checking.as_deref(), Some("accept-new"));
    }

    #[test]
    fn include_is_followed_in_place_with_locations() {
        let dir = tempfile::tempdir().unwrap();
        write(
            dir.path(),
            ".ssh/conf.d/10-db.conf",
            "# databases\nHost db1\n  HostName 10.0.1.1\n",
        );
        let config = write(
            dir.path(),
            "config",
            "Include conf.d/*.conf\nHost web1\n  User web\nHost last\n",
        );
        let config = SshConfig::load(&config, Some(dir.path())).unwrap();
        let places: Vec<String> = config
            .host_blocks()
            .iter()
            .map(|b| format!("{} {}", b.patterns[0].text, b.at))
            .collect();
        let included = dir.path().join(".ssh/conf.d/10-db.conf");
        let main = dir.path().join("config");
        assert_eq!(
            places,
            [
                format!("db1 {}:2", included.display()),
                format!("web1 {}:2", main.display()),
                format!("last {}:4", main.display()),
            ]
        );
        assert_eq!(
            config.settings("db1").unwrap().host_name.as_deref(),
            Some("10.0.1.1")
        );
    }

    #[test]
    fn errors_name_their_line() {
        let dir = tempfile::tempdir().unwrap();
        write(dir.path(), ".ssh/bad.conf", "Host x\n\n  Port eighty\n");
        let config = write(
            dir.path(),
            "config",
            "Host a\n  Port 22\nInclude bad.conf\n",
        );
        let err = SshConfig::load(&config, Some(dir.path())).unwrap_err();
        assert_eq!(
            err.to_string(),
            format!(
                "{}:3: Port: expected port number",
                dir.path().join(".ssh/bad.conf").display()
            )
        );
        let matched = write(dir.path(), "match", "Host a\nMatch host b\n  User c\n");
        let err = SshConfig::load(&matched, Some(dir.path())).unwrap_err();
        assert!(
            err.to_string().starts_with(&format!(
                "{}:2: 'Match host b': Match blocks are not supported",
                matched.display()
            )),
            "{err}"
        );
    }

    #[test]
    fn include_cycles_are_refused_at_the_include() {
        let dir = tempfile::tempdir().unwrap();
        write(dir.path(), ".ssh/a.conf", "Host a\nInclude b.conf\n");
        write(dir.path(), ".ssh/b.conf", "Include a.conf\n");
        let err = SshConfig::load(&dir.path().join(".ssh/a.conf"), Some(dir.path())).unwrap_err();
        let message = err.to_string();
        assert!(
            message.starts_with(&format!(
                "{}:1: 'Include a.conf': ",
                dir.path().join(".ssh/b.conf").display()
            )),
            "{message}"
        );
        assert!(message.contains("Include cycle"), "{message}");
    }

    #[test]
    fn host_name_tokens() {
        assert_eq!(expand_host_name("%h.lan", "a").unwrap(), "a.lan");
        assert_eq!(expand_host_name("100%%", "a").unwrap(), "100%");
        assert!(expand_host_name("%r.lan", "a").unwrap_err().contains("%r"));
    }
}
