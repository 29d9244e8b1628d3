//! Ansible inventories in INI form:
//!
//! ```ini
//! web1.example.org ansible_port=2222     # before any section: ungrouped
//! [web]
//! web[01:20].example.org ansible_user=deploy
//! db1:2201                                # host:port
//! [web:vars]
//! ansible_user = deploy
//! [prod:children]
//! web
//! ```
//!
//! Comments start a line with `#` or `;`, or follow a blank with `#`. Host
//! lines are split as a shell would (quotes group). Pure.

use super::range;
use super::{canonical_var, AnsibleInventory, Vars};
use crate::error::Result;
use crate::library::document::{Located, Origin, RawInventory};

/// What the lines of the current section are.
#[derive(Debug, Clone, PartialEq, Eq)]
enum Section {
    Hosts(String),
    Children(String),
    Vars(String),
}

/// Reads an INI inventory; `file` names it in refusals.
pub fn parse(file: &str, text: &str) -> Result<RawInventory> {
    let mut inventory = AnsibleInventory::new();
    let mut section = Section::Hosts(super::UNGROUPED.to_string());
    for (index, raw_line) in text.lines().enumerate() {
        let origin = Origin::at(file, index + 1);
        let line = raw_line.trim();
        if line.is_empty() || line.starts_with('#') || line.starts_with(';') {
            continue;
        }
        // Only a header is quoted back: other lines may hold secrets
        // (ansible_password=...).
        let header = section_header(line)
            .map_err(|message| origin.refuse(format!("'{line}': {message}")))?;
        if let Some(header) = header {
            let (Section::Hosts(name) | Section::Children(name) | Section::Vars(name)) = &header;
            inventory.declare_group(name, &origin);
            section = header;
            continue;
        }
        match &section {
            Section::Hosts(group) => host_line(&mut inventory, group, line, &origin),
            Section::Children(group) => child_line(&mut inventory, group, line, &origin),
            Section::Vars(group) => var_line(&mut inventory, group, line, &origin),
        }
        .map_err(|message| origin.refuse(message))?;
    }
    inventory.into_raw()
}

/// `[name]`, `[name:hosts]`, `[name:children]` or `[name:vars]`, maybe
/// followed by a comment; `None` for a line that is no header.
fn section_header(line: &str) -> Result<Option<Section>, String> {
    let Some(inner) = line.strip_prefix('[') else {
        return Ok(None);
    };
    let Some((inner, after)) = inner.split_once(']') else {
        return Ok(None);
    };
    let after = after.trim();
    if !after.is_empty() && !after.starts_with('#') && !after.starts_with(';') {
        // A host line such as `[2001:db8::1]:22`, not a header.
        return Ok(None);
    }
    let (name, kind) = inner.split_once(':').unwrap_or((inner, "hosts"));
    if name.is_empty() || name.contains(char::is_whitespace) {
        return Err("a section header is [group], [group:children] or [group:vars]".into());
    }
    let name = name.to_string();
    match kind {
        "hosts" => Ok(Some(Section::Hosts(name))),
        "children" => Ok(Some(Section::Children(name))),
        "vars" => Ok(Some(Section::Vars(name))),
        other => Err(format!(
            "unknown section kind ':{other}'; expected :children or :vars"
        )),
    }
}

/// `PATTERN[:PORT] [key=value]...`
fn host_line(
    inventory: &mut AnsibleInventory,
    group: &str,
    line: &str,
    origin: &Origin,
) -> Result<(), String> {
    let tokens = split_words(line)?;
    let Some((pattern, assignments)) = tokens.split_first() else {
        return Ok(());
    };
    let (pattern, port) = split_port(pattern);
    let mut vars = Vars::new();
    if let Some(port) = port {
        vars.insert(
            "ansible_port".into(),
            Located::new(port.to_string(), origin.clone()),
        );
    }
    for assignment in assignments {
        let (key, value) = assignment
            .split_once('=')
            .ok_or("expected key=value after the host, found a word without '='")?;
        vars.insert(
            canonical_var(key).to_string(),
            Located::new(value.to_string(), origin.clone()),
        );
    }
    let names = range::expand(pattern).map_err(|why| format!("'{pattern}': host range {why}"))?;
    for name in names {
        inventory.add_host(group, &name, &vars, origin);
    }
    Ok(())
}

/// `host:port` gives a port; a pattern with `:` only inside ranges or
/// with several `:` (an IPv6 address) does not.
fn split_port(pattern: &str) -> (&str, Option<&str>) {
    let Some((host, port)) = pattern.rsplit_once(':') else {
        return (pattern, None);
    };
    let outside_ranges = host
        .split('[')
        .map(|part| part.split_once(']').map_or(part, |(_, after)| after))
        .any(|part| part.contains(':'));
    if !port.is_empty() && port.chars().all(|c| c.is_ascii_digit()) && !outside_ranges {
        (host, Some(port))
    } else {
        (pattern, None)
    }
}

/// One group name per line.
fn child_line(
    inventory: &mut AnsibleInventory,
    group: &str,
    line: &str,
    origin: &Origin,
) -> Result<(), String> {
    match split_words(line)?.as_slice() {
        [child] => {
            inventory.add_child(group, child, origin);
            Ok(())
        }
        _ => Err("a :children section lists one group name per line".into()),
    }
}

/// `key=value`, blanks allowed around `=`.
fn var_line(
    inventory: &mut AnsibleInventory,
    group: &str,
    line: &str,
    origin: &Origin,
) -> Result<(), String> {
    let (key, value) = line
        .split_once('=')
        .ok_or("a :vars section holds key=value lines")?;
    // A value drover does not read may be any text, as Ansible takes it.
    let value = split_words(value).map_or_else(|_| value.trim().to_string(), |w| w.join(" "));
    inventory.set_group_var(group, key.trim(), Located::new(value, origin.clone()));
    Ok(())
}

/// Words as a POSIX shell splits them: blanks separate, quotes group, a
/// backslash escapes, `#` at the start of a word begins a comment.
fn split_words(line: &str) -> Result<Vec<String>, String> {
    let mut words = Vec::new();
    let mut word = String::new();
    let mut in_word = false;
    let mut chars = line.chars();
    while let Some(c) = chars.next() {
        match c {
            c if c.is_whitespace() => {
                if in_word {
                    words.push(std::mem::take(&mut word));
                    in_word = false;
                }
            }
            '#' if !in_word => break,
            '\'' => {
                in_word = true;
                loop {
                    match chars.next() {
                        Some('\'') => break,
                        Some(c) => word.push(c),
                        None => return Err("a ' quote is not closed".into()),
                    }
                }
            }
            '"' => {
                in_word = true;
                loop {
                    match chars.next() {
                        Some('"') => break,
                        Some('\\') => match chars.next() {
                            Some(c @ ('"' | '\\' | '$' | '`')) => word.push(c),
                            Some(c) => {
                                word.push('\\');
                                word.push(c);
                            }
                            None => return Err("a \" quote is not closed".into()),
                        },
                        Some(c) => word.push(c),
                        None => return Err("a \" quote is not closed".into()),
                    }
                }
            }
            '\\' => {
                in_word = true;
                if let Some(c) = chars.next() {
                    word.push(c);
                }
            }
            c => {
                in_word = true;
                word.push(c);
            }
        }
    }
    if in_word {
        words.push(word);
    }
    Ok(words)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn words_like_a_shell() {
        assert_eq!(
            split_words(r#"web1 a='x y' b="q\"r" c=d\ e # note"#).unwrap(),
            ["web1", "a=x y", "b=q\"r", "c=d e"]
        );
        assert!(split_words("a 'open").is_err());
    }

    #[test]
    fn ports_after_patterns() {
        assert_eq!(split_port("db1:2201"), ("db1", Some("2201")));
        assert_eq!(split_port("w[01:09]"), ("w[01:09]", None));
        assert_eq!(split_port("w[01:09]:22"), ("w[01:09]", Some("22")));
        assert_eq!(split_port("2001:db8::1"), ("2001:db8::1", None));
    }

    /// A malformed line is refused by its number alone: it may hold a
    /// secret, which must not reach the terminal or a log.
    #[test]
    fn refusals_do_not_repeat_host_lines() {
        for line in [
            "web1 ansible_password='s3cret",
            "web1 ansible_password=s3cret s3cret",
        ] {
            let err = parse("inv", &format!("[web]\n{line}\n"))
                .unwrap_err()
                .to_string();
            assert!(err.starts_with("inv:2: "), "{err}");
            assert!(!err.contains("s3cret"), "{err}");
        }
    }

    #[test]
    fn headers() {
        assert_eq!(
            section_header("[web:children] # x").unwrap(),
            Some(Section::Children("web".into()))
        );
        assert_eq!(section_header("[2001:db8::1]:22").unwrap(), None);
        assert!(section_header("[web:kids]").unwrap_err().contains(":kids"));
        assert!(section_header("[web servers]").is_err());
    }
}
