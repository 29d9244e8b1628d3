//! drover's reader of OpenSSH known_hosts files: which entries a list of
//! files holds for a host. It understands plain and hashed (`|1|salt|hash`)
//! host fields, `[host]:port`, `*`/`?` wildcards, `!` negation, the
//! `@revoked` and `@cert-authority` markers, comments and blank lines.
//!
//! A file or line it cannot read is an error naming the file (and line): a
//! file drover does not understand never counts as "no keys", since under
//! `accept-new` that would pin whatever a host offers.

use std::fmt;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};

use base64::Engine as _;
use hmac::{Hmac, Mac};
use russh::keys::PublicKey;
use sha1::Sha1;

/// Why known_hosts files cannot be used.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum KnownHostsError {
    #[error("cannot read ssh.known_hosts '{path}': {detail}")]
    Unreadable { path: String, detail: String },
    #[error("ssh.known_hosts {path}:{line}: {detail}")]
    BadLine {
        path: String,
        line: usize,
        detail: String,
    },
}

/// Where an entry was read: file and 1-based line.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Origin {
    pub path: Arc<Path>,
    pub line: usize,
}

impl fmt::Display for Origin {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}:{}", self.path.display(), self.line)
    }
}

/// What an entry says about its key.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Marker {
    /// A key of the host (no marker).
    HostKey,
    /// `@revoked`: the key must never be accepted.
    Revoked,
    /// `@cert-authority`: a CA whose certificates vouch for the host.
    CertAuthority,
}

/// An entry that matches a host.
#[derive(Debug, Clone)]
pub struct KnownKey {
    pub marker: Marker,
    pub key: PublicKey,
    pub origin: Origin,
}

/// The host field of an entry.
#[derive(Debug)]
enum HostField {
    /// `|1|base64(salt)|base64(hmac-sha1(salt, host))`.
    Hashed { salt: Vec<u8>, hash: Vec<u8> },
    /// Comma-separated patterns, lower-cased.
    Patterns(Vec<Pattern>),
}

#[derive(Debug)]
struct Pattern {
    negated: bool,
    glob: String,
}

#[derive(Debug)]
struct Entry {
    hosts: HostField,
    known: KnownKey,
}

/// The entries of a list of known_hosts files, in file and line order.
#[derive(Debug, Default)]
pub struct KnownHosts {
    entries: Vec<Entry>,
}

impl KnownHosts {
    /// Reads every file; the first file or line that cannot be read is the
    /// error.
    pub fn load(paths: &[PathBuf]) -> Result<KnownHosts, KnownHostsError> {
        let mut entries = Vec::new();
        for path in paths {
            let bytes = std::fs::read(path).map_err(|e| KnownHostsError::Unreadable {
                path: path.display().to_string(),
                detail: e.to_string(),
            })?;
            parse_file(path, &bytes, &mut entries)?;
        }
        Ok(KnownHosts { entries })
    }

    /// Parses one file's contents (`path` names it in errors).
    pub fn parse(path: &Path, bytes: &[u8]) -> Result<KnownHosts, KnownHostsError> {
        let mut entries = Vec::new();
        parse_file(path, bytes, &mut entries)?;
        Ok(KnownHosts { entries })
    }

    /// The entries for `address` on `port`, looked up as OpenSSH does: as
    /// `address` on port 22, else as `[address]:port`.
    pub fn lookup(&self, address: &str, port: u16) -> Vec<KnownKey> {
        let name = host_name(address, port);
        self.entries
            .iter()
            .filter(|e| e.hosts.matches(&name))
            .map(|e| e.known.clone())
            .collect()
    }
}

/// The name a host is known by in known_hosts.
fn host_name(address: &str, port: u16) -> String {
    let address = address.to_ascii_lowercase();
    if port == 22 {
        address
    } else {
        format!("[{address}]:{port}")
    }
}

fn parse_file(path: &Path, bytes: &[u8], entries: &mut Vec<Entry>) -> Result<(), KnownHostsError> {
    let shared: Arc<Path> = Arc::from(path);
    for (index, raw) in bytes.split(|b| *b == b'\n').enumerate() {
        let origin = Origin {
            path: shared.clone(),
            line: index + 1,
        };
        let bad = |detail: String| KnownHostsError::BadLine {
            path: path.display().to_string(),
            line: origin.line,
            detail,
        };
        let text = std::str::from_utf8(raw).map_err(|e| bad(format!("not UTF-8 text ({e})")))?;
        let text = text.trim();
        if text.is_empty() || text.starts_with('#') {
            continue;
        }
        entries.push(parse_line(text, origin.clone()).map_err(bad)?);
    }
    Ok(())
}

/// One entry: `[@marker] hosts keytype base64 [comment]`.
fn parse_line(text: &str, origin: Origin) -> Result<Entry, String> {
    let mut fields = text.split_ascii_whitespace();
    let mut first = fields.next().unwrap_or_default();
    let marker = match first {
        "@revoked" => Marker::Revoked,
        "@cert-authority" => Marker::CertAuthority,
        other if other.starts_with('@') => {
            return Err(format!(
                "unknown marker '{other}' (expected @revoked or @cert-authority)"
            ))
        }
        _ => Marker::HostKey,
    };
    if marker != Marker::HostKey {
        first = fields.next().unwrap_or_default();
    }
    let hosts = HostField::parse(first)?;
    let (Some(key_type), Some(base64)) = (fields.next(), fields.next()) else {
        return Err("expected `[@marker] hosts key-type base64-key [comment]`".into());
    };
    let key = PublicKey::from_openssh(&format!("{key_type} {base64}"))
        .map_err(|e| format!("cannot read the {key_type} key ({e})"))?;
    Ok(Entry {
        hosts,
        known: KnownKey {
            marker,
            key,
            origin,
        },
    })
}

impl HostField {
    fn parse(field: &str) -> Result<HostField, String> {
        if field.is_empty() {
            return Err("no host field".into());
        }
        if let Some(rest) = field.strip_prefix("|1|") {
            let decode = |part: &str, what: &str| {
                base64::engine::general_purpose::STANDARD
                    .decode(part)
                    .map_err(|e| format!("hashed host field: bad {what} ({e})"))
            };
            let Some((salt, hash)) = rest.split_once('|') else {
                return Err("hashed host field: expected |1|salt|hash".into());
            };
            return Ok(HostField::Hashed {
                salt: decode(salt, "salt")?,
                hash: decode(hash, "hash")?,
            });
        }
        if field.starts_with('|') {
            return Err(format!(
                "unknown hashed host format '{}' (expected |1|salt|hash)",
                field.split('|').nth(1).unwrap_or_default()
            ));
        }
        let patterns = field
            .split(',')
            .map(|p| match p.strip_prefix('!') {
                Some(glob) => Pattern {
                    negated: true,
                    glob: glob.to_ascii_lowercase(),
                },
                None => Pattern {
                    negated: false,
                    glob: p.to_ascii_lowercase(),
                },
            })
            .collect();
        Ok(HostField::Patterns(patterns))
    }

    /// True when `name` (lower-case) is one of these hosts: a hash match,
    /// or a positive pattern matching and no negated one.
    fn matches(&self, name: &str) -> bool {
        match self {
            HostField::Hashed { salt, hash } => Hmac::<Sha1>::new_from_slice(salt)
                .map(|mac| mac.chain_update(name.as_bytes()).verify_slice(hash).is_ok())
                .unwrap_or(false),
            HostField::Patterns(patterns) => {
                let mut matched = false;
                for pattern in patterns {
                    if glob_match(pattern.glob.as_bytes(), name.as_bytes()) {
                        if pattern.negated {
                            return false;
                        }
                        matched = true;
                    }
                }
                matched
            }
        }
    }
}

/// OpenSSH's pattern match: `*` any run of characters, `?` one character.
fn glob_match(pattern: &[u8], text: &[u8]) -> bool {
    let (mut p, mut t) = (0, 0);
    // The last `*` seen and where in `text` it currently ends.
    let mut star: Option<(usize, usize)> = None;
    while t < text.len() {
        match pattern.get(p) {
            Some(b'*') => {
                star = Some((p, t));
                p += 1;
            }
            Some(c) if *c == b'?' || *c == text[t] => {
                p += 1;
                t += 1;
            }
            _ => match star {
                Some((star_p, star_t)) => {
                    p = star_p + 1;
                    t = star_t + 1;
                    star = Some((star_p, star_t + 1));
                }
                None => return false,
            },
        }
    }
    pattern[p.min(pattern.len())..].iter().all(|c| *c == b'*')
}

/// Identity of a file's contents as seen by `stat`.
#[derive(Debug, Clone, PartialEq, Eq)]
struct Stamp {
    dev: u64,
    ino: u64,
    len: u64,
    mtime: i64,
    mtime_nsec: i64,
    ctime: i64,
    ctime_nsec: i64,
}

fn stamp(path: &Path) -> Result<Stamp, KnownHostsError> {
    use std::os::unix::fs::MetadataExt;
    let meta = std::fs::metadata(path).map_err(|e| KnownHostsError::Unreadable {
        path: path.display().to_string(),
        detail: e.to_string(),
    })?;
    Ok(Stamp {
        dev: meta.dev(),
        ino: meta.ino(),
        len: meta.len(),
        mtime: meta.mtime(),
        mtime_nsec: meta.mtime_nsec(),
        ctime: meta.ctime(),
        ctime_nsec: meta.ctime_nsec(),
    })
}

/// The known_hosts files drover reads, parsed once and read again only when
/// one of them changes on disk. Cheap to clone; clones share the parsed
/// entries.
#[derive(Clone, Default)]
pub struct KnownHostsFiles {
    paths: Vec<PathBuf>,
    cache: Arc<Mutex<Option<Parsed>>>,
}

/// The files' entries and the stamps of the files they were read from.
struct Parsed {
    stamps: Vec<Stamp>,
    hosts: Arc<KnownHosts>,
}

impl fmt::Debug for KnownHostsFiles {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_tuple("KnownHostsFiles").field(&self.paths).finish()
    }
}

impl KnownHostsFiles {
    pub fn new(paths: Vec<PathBuf>) -> KnownHostsFiles {
        KnownHostsFiles {
            paths,
            cache: Arc::default(),
        }
    }

    pub fn paths(&self) -> &[PathBuf] {
        &self.paths
    }

    /// The entries of the files as they are now.
    pub fn current(&self) -> Result<Arc<KnownHosts>, KnownHostsError> {
        let stamps = self
            .paths
            .iter()
            .map(|p| stamp(p))
            .collect::<Result<Vec<_>, _>>()?;
        let mut cache = self.cache.lock().unwrap_or_else(|p| p.into_inner());
        if let Some(parsed) = cache.as_ref().filter(|p| p.stamps == stamps) {
            return Ok(parsed.hosts.clone());
        }
        let hosts = Arc::new(KnownHosts::load(&self.paths)?);
        *cache = Some(Parsed {
            stamps,
            hosts: hosts.clone(),
        });
        Ok(hosts)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    use crate::ssh::test_keys::{ED25519, ED25519_B};

    fn parse(text: &str) -> Result<KnownHosts, KnownHostsError> {
        KnownHosts::parse(Path::new("/k"), text.as_bytes())
    }

    fn markers(hosts: &KnownHosts, address: &str, port: u16) -> Vec<(Marker, usize)> {
        hosts
            .lookup(address, port)
            .iter()
            .map(|k| (k.marker, k.origin.line))
            .collect()
    }

    /// `|1|salt|hash` for `name`, as `ssh-keygen -H` writes it.
    fn hashed(name: &str, salt: &[u8]) -> String {
        let b64 = base64::engine::general_purpose::STANDARD;
        let mac = Hmac::<Sha1>::new_from_slice(salt)
            .expect("hmac")
            .chain_update(name.as_bytes())
            .finalize()
            .into_bytes();
        format!("|1|{}|{}", b64.encode(salt), b64.encode(mac))
    }

    #[test]
    fn plain_bracketed_and_wildcard_hosts_match_as_openssh_does() {
        let text = format!(
            "# comment\n\n  web-1.example.com,10.0.0.1 {ED25519} c\n[10.0.0.2]:2222 {ED25519}\n\
             *.example.org,!bad.example.org {ED25519}\nweb-? {ED25519}\n[*]:2200 {ED25519}\n"
        );
        let hosts = parse(&text).expect("parses");
        assert_eq!(
            markers(&hosts, "WEB-1.example.com", 22),
            [(Marker::HostKey, 3)]
        );
        assert_eq!(markers(&hosts, "10.0.0.1", 22).len(), 1);
        assert!(markers(&hosts, "10.0.0.1", 2222).is_empty(), "port counts");
        assert_eq!(markers(&hosts, "10.0.0.2", 2222), [(Marker::HostKey, 4)]);
        assert!(markers(&hosts, "10.0.0.2", 22).is_empty());
        assert_eq!(markers(&hosts, "a.example.org", 22).len(), 1);
        assert!(markers(&hosts, "bad.example.org", 22).is_empty(), "negated");
        assert_eq!(markers(&hosts, "web-7", 22).len(), 1);
        assert!(
            markers(&hosts, "web-17", 22).is_empty(),
            "? is one character"
        );
        assert_eq!(markers(&hosts, "anything", 2200), [(Marker::HostKey, 7)]);
    }

    #[test]
    fn hashed_hosts_match_their_name_only() {
        let text = format!(
            "{} {ED25519}\n{} {ED25519_B}\n",
            hashed("10.1.1.1", b"0123456789abcdefghij"),
            hashed("[10.1.1.1]:2022", b"salt-salt-salt-salt-")
        );
        let hosts = parse(&text).expect("parses");
        assert_eq!(markers(&hosts, "10.1.1.1", 22), [(Marker::HostKey, 1)]);
        assert_eq!(markers(&hosts, "10.1.1.1", 2022), [(Marker::HostKey, 2)]);
        assert!(markers(&hosts, "10.1.1.2", 22).is_empty());
    }

    #[test]
    fn markers_are_read_and_unknown_ones_refused() {
        let text = format!("@revoked * {ED25519}\n@cert-authority *.example.com {ED25519_B}\n");
        let hosts = parse(&text).expect("parses");
        assert_eq!(
            markers(&hosts, "a.example.com", 22),
            [(Marker::Revoked, 1), (Marker::CertAuthority, 2)]
        );
        let err = parse(&format!("@trusted * {ED25519}\n")).expect_err("unknown marker");
        assert!(
            err.to_string()
                .starts_with("ssh.known_hosts /k:1: unknown marker '@trusted'"),
            "{err}"
        );
    }

    #[test]
    fn a_line_that_cannot_be_read_names_file_and_line() {
        let cases: [(&[u8], usize, &str); 6] = [
            (b"# ok\nhost ssh-foo AAAAB3NzaC1yc2E=\n", 2, "ssh-foo"),
            (b"host ssh-ed25519 not-base64!\n", 1, "ssh-ed25519"),
            (b"\n\nhost\n", 3, "expected"),
            (b"h\xffst ssh-ed25519 AAAA\n", 1, "not UTF-8"),
            (
                b"|1|c2FsdA==|%%% ssh-ed25519 AAAA\n",
                1,
                "hashed host field",
            ),
            (
                b"|2|a|b ssh-ed25519 AAAA\n",
                1,
                "unknown hashed host format",
            ),
        ];
        for (text, line, says) in cases {
            let err = KnownHosts::parse(Path::new("/etc/kh"), text).expect_err("refused");
            let shown = err.to_string();
            assert!(
                shown.starts_with(&format!("ssh.known_hosts /etc/kh:{line}: "))
                    && shown.contains(says),
                "{shown}"
            );
        }
        // the key type must be the blob's
        let ed = ED25519.split_once(' ').map(|(_, b)| b).unwrap_or_default();
        let err = parse(&format!("h ssh-rsa {ed}\n")).expect_err("type mismatch");
        assert!(
            err.to_string().contains(":1: cannot read the ssh-rsa key"),
            "{err}"
        );
    }

    #[test]
    fn glob_matching() {
        for (pattern, text, expected) in [
            ("*", "", true),
            ("a*b*c", "axxbyyc", true),
            ("a*b*c", "axxbyy", false),
            ("*.com", "x.com", true),
            ("?", "", false),
            ("a**", "a", true),
            ("10.0.0.?", "10.0.0.12", false),
        ] {
            assert_eq!(
                glob_match(pattern.as_bytes(), text.as_bytes()),
                expected,
                "{pattern} {text}"
            );
        }
    }

    #[test]
    fn files_are_read_again_only_when_changed() {
        let dir = tempfile::tempdir().expect("tempdir");
        let path = dir.path().join("known_hosts");
        std::fs::write(&path, format!("a {ED25519}\n")).expect("write");
        let files = KnownHostsFiles::new(vec![path.clone()]);
        let first = files.current().expect("reads");
        assert!(
            Arc::ptr_eq(&first, &files.current().expect("reads")),
            "cached"
        );
        std::fs::write(&path, format!("a {ED25519}\nb {ED25519}\n")).expect("write");
        assert_eq!(files.current().expect("reads").lookup("b", 22).len(), 1);
        std::fs::remove_file(&path).expect("rm");
        let err = files.current().expect_err("gone");
        assert!(
            err.to_string().contains("cannot read ssh.known_hosts"),
            "{err}"
        );
    }
}
