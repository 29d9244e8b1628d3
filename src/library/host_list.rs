//! Plain host lists: one `[user@]host[:port] [NAME]` per line, blank lines
//! and `#` comments allowed. An IPv6 address takes brackets when a port
//! follows (`[2001:db8::1]:2222`). The host's name is NAME, else the host
//! part; an IPv6 address is no valid name, so it needs a NAME. Pure.

use super::document::{Located, Origin, RawHost, RawInventory};
use crate::error::Result;

const SHAPE: &str = "expected `[user@]host[:port] [NAME]`";

/// Reads a host list; `file` names it in refusals.
pub fn parse(file: &str, text: &str) -> Result<RawInventory> {
    let mut inventory = RawInventory::default();
    for (index, raw_line) in text.lines().enumerate() {
        let origin = Origin::at(file, index + 1);
        let line = without_comment(raw_line).trim();
        if line.is_empty() {
            continue;
        }
        let host = parse_line(line, &origin).map_err(|message| origin.refuse(message))?;
        inventory.hosts.push(host);
    }
    Ok(inventory)
}

/// The line up to a `#` that starts it or follows a blank.
pub(super) fn without_comment(line: &str) -> &str {
    let mut previous_blank = true;
    for (i, c) in line.char_indices() {
        if c == '#' && previous_blank {
            return &line[..i];
        }
        previous_blank = c.is_whitespace();
    }
    line
}

fn parse_line(line: &str, origin: &Origin) -> Result<RawHost, String> {
    let mut tokens = line.split_whitespace();
    let target = tokens.next().unwrap_or_default();
    let name = tokens.next();
    if tokens.next().is_some() {
        return Err(format!("more than two words; {SHAPE}"));
    }
    // The line is not quoted back: a user part might hold a password.
    let target_parts = Target::parse(target).map_err(|why| format!("{why}; {SHAPE}"))?;
    let name = match name {
        Some(name) => name,
        None if target_parts.host.contains(':') => {
            return Err(format!(
                "the IPv6 address {} is not a valid host name; give a name after it, e.g. `[{}]:22 db-1`",
                target_parts.host, target_parts.host
            ))
        }
        None => target_parts.host,
    };
    let located = |value: &str| Located::new(value.to_string(), origin.clone());
    let mut host = RawHost::named(name, origin.clone());
    host.address = Some(located(target_parts.host));
    host.port = target_parts.port.map(located);
    host.user = target_parts.user.map(located);
    Ok(host)
}

/// `[user@]host[:port]`, split.
#[derive(Debug, PartialEq, Eq)]
struct Target<'a> {
    user: Option<&'a str>,
    host: &'a str,
    port: Option<&'a str>,
}

impl<'a> Target<'a> {
    fn parse(text: &'a str) -> Result<Target<'a>, &'static str> {
        let (user, rest) = match text.split_once('@') {
            Some(("", _)) => return Err("nothing before '@'"),
            Some((user, _)) if user.contains(':') => {
                return Err("user:password@ is not accepted; drover logs in with keys")
            }
            Some((user, rest)) => (Some(user), rest),
            None => (None, text),
        };
        let (host, port) = if let Some(bracketed) = rest.strip_prefix('[') {
            let (host, after) = bracketed.split_once(']').ok_or("no ']' after '['")?;
            match after {
                "" => (host, None),
                after => (
                    host,
                    Some(after.strip_prefix(':').ok_or("expected ':' after ']'")?),
                ),
            }
        } else if rest.matches(':').count() > 1 {
            (rest, None)
        } else {
            match rest.split_once(':') {
                Some((host, port)) => (host, Some(port)),
                None => (rest, None),
            }
        };
        if host.is_empty() {
            return Err("no host");
        }
        if port == Some("") {
            return Err("no port after ':'");
        }
        Ok(Target { user, host, port })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn targets() {
        let t = |s| Target::parse(s).unwrap();
        assert_eq!(
            t("deploy@web1:2222"),
            Target {
                user: Some("deploy"),
                host: "web1",
                port: Some("2222")
            }
        );
        assert_eq!(
            t("[::1]:22"),
            Target {
                user: None,
                host: "::1",
                port: Some("22")
            }
        );
        assert_eq!(t("root@[2001:db8::1]").host, "2001:db8::1");
        assert_eq!(t("2001:db8::1").port, None);
        assert_eq!(t("10.0.0.1").host, "10.0.0.1");
        for bad in ["@web", "web:", "[::1", "[::1]22", ":22"] {
            assert!(Target::parse(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn lines_comments_and_names() {
        let inv = parse(
            "hosts.txt",
            "# fleet\n\nweb1.example.org   # rack 3\ndeploy@web2:2222 web-2\n[::1]:2200 local\n",
        )
        .unwrap();
        let summary: Vec<_> = inv
            .hosts
            .iter()
            .map(|h| {
                (
                    h.name.as_str(),
                    h.origin.line,
                    h.port.as_ref().map(|p| p.value.as_str()),
                    h.user.as_ref().map(|u| u.value.as_str()),
                )
            })
            .collect();
        assert_eq!(
            summary,
            [
                ("web1.example.org", Some(3), None, None),
                ("web-2", Some(4), Some("2222"), Some("deploy")),
                ("local", Some(5), Some("2200"), None),
            ]
        );
    }

    #[test]
    fn refusals_name_the_line() {
        let err = parse("h", "web1\n[::1]:22\n").unwrap_err().to_string();
        assert_eq!(
            err,
            "h:2: the IPv6 address ::1 is not a valid host name; give a name after it, e.g. `[::1]:22 db-1`"
        );
        let err = parse("h", "a b c\n").unwrap_err().to_string();
        assert_eq!(
            err,
            "h:1: more than two words; expected `[user@]host[:port] [NAME]`"
        );
        let err = parse("h", "\nweb:\n").unwrap_err().to_string();
        assert_eq!(
            err,
            "h:2: no port after ':'; expected `[user@]host[:port] [NAME]`"
        );
    }

    /// A credential pasted into the list is refused without being repeated.
    #[test]
    fn passwords_are_refused_unquoted() {
        let err = parse("h", "root:hunter2@web1\n").unwrap_err().to_string();
        assert_eq!(
            err,
            "h:1: user:password@ is not accepted; drover logs in with keys; expected `[user@]host[:port] [NAME]`"
        );
    }
}
