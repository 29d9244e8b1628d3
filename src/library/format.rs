//! The inventory file formats `drover import` reads, their names (for
//! `--format`), and how a file's format is told: by its extension, else by
//! its content. Pure.

use std::path::Path;

/// An inventory file format.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Format {
    /// drover's own inventory (`[[hosts]]`, `[groups.NAME]`).
    Toml,
    /// An Ansible inventory in INI form.
    AnsibleIni,
    /// An Ansible inventory in YAML form.
    AnsibleYaml,
    /// `[user@]host[:port] [NAME]`, one per line.
    Hosts,
    /// An OpenSSH client configuration: its Host entries.
    SshConfig,
}

impl Format {
    pub const ALL: [Format; 5] = [
        Format::Toml,
        Format::AnsibleIni,
        Format::AnsibleYaml,
        Format::Hosts,
        Format::SshConfig,
    ];

    /// The names `--format` takes.
    pub const NAMES: [&'static str; 5] =
        ["toml", "ansible-ini", "ansible-yaml", "hosts", "ssh-config"];

    pub fn name(self) -> &'static str {
        match self {
            Format::Toml => "toml",
            Format::AnsibleIni => "ansible-ini",
            Format::AnsibleYaml => "ansible-yaml",
            Format::Hosts => "hosts",
            Format::SshConfig => "ssh-config",
        }
    }

    pub fn from_name(name: &str) -> Option<Format> {
        Format::ALL.into_iter().find(|f| f.name() == name)
    }
}

/// The format of `path` with `text`: `.toml`, `.ini`, `.yml`/`.yaml` by
/// extension; otherwise by content. `None` when neither tells.
pub fn detect(path: &Path, text: &str) -> Option<Format> {
    let extension = path
        .extension()
        .and_then(|e| e.to_str())
        .map(str::to_ascii_lowercase);
    match extension.as_deref() {
        Some("toml") => Some(Format::Toml),
        Some("ini") => Some(Format::AnsibleIni),
        Some("yml" | "yaml") => Some(Format::AnsibleYaml),
        _ => detect_by_content(text),
    }
}

/// Content rules, in order: an INI section header first -> Ansible INI; a
/// YAML document start or `key:` line first -> Ansible YAML; a `Host`,
/// `Match` or `Include` keyword line -> ssh_config; every line one
/// `[user@]host[:port]` with an optional name -> host list; `host
/// key=value` lines -> Ansible INI.
fn detect_by_content(text: &str) -> Option<Format> {
    let lines: Vec<&str> = text
        .lines()
        .map(str::trim)
        .filter(|l| !l.is_empty() && !l.starts_with('#') && !l.starts_with(';'))
        .collect();
    let first = lines.first()?;
    if is_ini_section(first) {
        return Some(Format::AnsibleIni);
    }
    if *first == "---" || is_yaml_key(first) {
        return Some(Format::AnsibleYaml);
    }
    if lines.iter().any(|l| is_ssh_config_block(l)) {
        return Some(Format::SshConfig);
    }
    if lines.iter().all(|l| is_host_list_line(l)) {
        return Some(Format::Hosts);
    }
    if lines
        .iter()
        .any(|l| l.split_whitespace().skip(1).any(|t| t.contains('=')))
    {
        return Some(Format::AnsibleIni);
    }
    None
}

/// `[name]` or `[name:children]`, `[name:vars]`, `[name:hosts]`.
fn is_ini_section(line: &str) -> bool {
    let Some(inner) = line.strip_prefix('[').and_then(|l| l.strip_suffix(']')) else {
        return false;
    };
    let (name, kind) = inner.split_once(':').unwrap_or((inner, "hosts"));
    !name.is_empty()
        && !name.contains(|c: char| c.is_whitespace() || c == '[' || c == ']')
        && matches!(kind, "hosts" | "children" | "vars")
}

/// `name:` alone on its line.
fn is_yaml_key(line: &str) -> bool {
    line.strip_suffix(':').is_some_and(|key| {
        !key.is_empty()
            && key
                .chars()
                .all(|c| c.is_ascii_alphanumeric() || "_-.".contains(c))
    })
}

fn is_ssh_config_block(line: &str) -> bool {
    let keyword = line
        .split(|c: char| c.is_whitespace() || c == '=')
        .next()
        .unwrap_or_default();
    let has_argument = line.len() > keyword.len();
    has_argument
        && ["host", "match", "include"]
            .iter()
            .any(|k| keyword.eq_ignore_ascii_case(k))
}

fn is_host_list_line(line: &str) -> bool {
    let mut tokens = super::host_list::without_comment(line).split_whitespace();
    let target = tokens.next().unwrap_or_default();
    let name = tokens.next();
    tokens.next().is_none() && !target.contains('=') && name.is_none_or(|n| !n.contains('='))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn by_content(text: &str) -> Option<Format> {
        detect(Path::new("inventory"), text)
    }

    #[test]
    fn extensions_decide_first() {
        assert_eq!(detect(Path::new("x.toml"), "web1"), Some(Format::Toml));
        assert_eq!(detect(Path::new("x.INI"), ""), Some(Format::AnsibleIni));
        assert_eq!(detect(Path::new("x.yml"), ""), Some(Format::AnsibleYaml));
        assert_eq!(detect(Path::new("x.yaml"), ""), Some(Format::AnsibleYaml));
    }

    #[test]
    fn content_tells_the_rest() {
        assert_eq!(by_content("# web\n[web]\nweb1\n"), Some(Format::AnsibleIni));
        assert_eq!(by_content("[web:children]\nx\n"), Some(Format::AnsibleIni));
        assert_eq!(
            by_content("web1 ansible_port=22\n"),
            Some(Format::AnsibleIni)
        );
        assert_eq!(by_content("---\nall:\n"), Some(Format::AnsibleYaml));
        assert_eq!(by_content("all:\n  hosts:\n"), Some(Format::AnsibleYaml));
        assert_eq!(
            by_content("# mine\nHost web1\n  HostName 10.0.0.1\n"),
            Some(Format::SshConfig)
        );
        assert_eq!(by_content("Include conf.d/*\n"), Some(Format::SshConfig));
        assert_eq!(
            by_content("web1\ndeploy@web2:2222  # rack 3\n[::1]:22 local\n[2001:db8::1]\n"),
            Some(Format::Hosts)
        );
        assert_eq!(by_content("a b c\n"), None);
        assert_eq!(by_content("# only comments\n\n"), None);
    }

    #[test]
    fn names_round_trip() {
        for format in Format::ALL {
            assert_eq!(Format::from_name(format.name()), Some(format));
        }
        assert_eq!(Format::NAMES, Format::ALL.map(Format::name));
        assert!(Format::from_name("csv").is_none());
    }
}
