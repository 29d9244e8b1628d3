//! Host-key policy: the keys known for a host (its pinned key and the
//! known_hosts entries that match it), which offered key is accepted and
//! which is refused and why, and which host-key algorithms key exchange
//! asks for first.
//!
//! The rules, as OpenSSH applies them:
//! - a key marked `@revoked` for the host is refused under every policy;
//! - a key that is pinned or listed for the host is accepted;
//! - when any key is known for the host (pinned or listed, of any
//!   algorithm), any other key is refused, naming the known fingerprints;
//! - a host known only through `@cert-authority` is refused (drover does
//!   not verify host certificates);
//! - a host with no known key is accepted under `accept-new` (the caller
//!   pins the key) and refused under `strict`.

use std::borrow::Cow;

use russh::keys::{Algorithm, PublicKey};
use russh::Preferred;

use super::known_hosts::{KnownKey, Marker, Origin};
use super::{describe_key, fingerprint, parse_public_key, ConnectError, KnownHostsFiles, Target};
use crate::config::HostKeyPolicy;

/// At most this many known fingerprints are named in a refusal.
const NAMED_KEYS: usize = 4;

/// Where a known key comes from.
#[derive(Debug, Clone)]
enum Source {
    Pinned,
    Listed(Origin),
}

/// Every key known for one host.
#[derive(Debug, Clone, Default)]
pub(super) struct KnownKeys {
    /// Accepted keys: the pinned one first, then the listed ones.
    accepted: Vec<(PublicKey, Source)>,
    revoked: Vec<KnownKey>,
    authorities: Vec<Origin>,
}

/// How an offered key was accepted.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum Accepted {
    /// It is the host's pinned key.
    Pinned,
    /// The host has no pinned key: the caller pins this one (it was listed
    /// in known_hosts, or is new under `accept-new`).
    ToPin,
}

impl KnownKeys {
    /// The keys known for `target`: its pinned key and the known_hosts
    /// entries for its address and port.
    pub(super) fn of(target: &Target, files: &KnownHostsFiles) -> Result<KnownKeys, ConnectError> {
        let mut known = KnownKeys::default();
        if let Some(pinned) = &target.pinned_key {
            let key = parse_public_key(pinned).ok_or_else(|| ConnectError::PinnedKeyInvalid {
                host: target.name.clone(),
            })?;
            known.accepted.push((key, Source::Pinned));
        }
        if files.paths().is_empty() {
            return Ok(known);
        }
        let listed = files.current().map_err(ConnectError::KnownHosts)?;
        for entry in listed.lookup(&target.address, target.port) {
            match entry.marker {
                Marker::HostKey => {
                    if !known.is_accepted(&entry.key) {
                        known
                            .accepted
                            .push((entry.key, Source::Listed(entry.origin)));
                    }
                }
                Marker::Revoked => known.revoked.push(entry),
                Marker::CertAuthority => known.authorities.push(entry.origin),
            }
        }
        Ok(known)
    }

    fn is_accepted(&self, key: &PublicKey) -> bool {
        self.accepted
            .iter()
            .any(|(k, _)| k.key_data() == key.key_data())
    }

    fn has_pinned(&self) -> bool {
        matches!(self.accepted.first(), Some((_, Source::Pinned)))
    }

    /// Refuses a key marked `@revoked` for the host.
    pub(super) fn check_not_revoked(&self, offered: &PublicKey) -> Result<(), ConnectError> {
        match self
            .revoked
            .iter()
            .find(|r| r.key.key_data() == offered.key_data())
        {
            Some(revoked) => Err(ConnectError::HostKeyRevoked {
                offered: describe_key(offered),
                origin: revoked.origin.to_string(),
            }),
            None => Ok(()),
        }
    }

    /// Accepts or refuses the key a host offers.
    pub(super) fn decide(
        &self,
        offered: &PublicKey,
        policy: HostKeyPolicy,
    ) -> Result<Accepted, ConnectError> {
        self.check_not_revoked(offered)?;
        if self.is_accepted(offered) {
            return Ok(if self.has_pinned() {
                Accepted::Pinned
            } else {
                Accepted::ToPin
            });
        }
        if !self.accepted.is_empty() {
            return Err(ConnectError::HostKeyMismatch {
                expected: self.expected(),
                offered: describe_key(offered),
            });
        }
        if let Some(authority) = self.authorities.first() {
            return Err(ConnectError::HostKeyNeedsCertificate {
                offered: describe_key(offered),
                origin: authority.to_string(),
            });
        }
        match policy {
            HostKeyPolicy::AcceptNew => Ok(Accepted::ToPin),
            HostKeyPolicy::Strict => Err(ConnectError::HostKeyUnknown {
                offered: fingerprint(offered),
            }),
        }
    }

    /// The known keys, as a refusal names them.
    fn expected(&self) -> String {
        let mut named: Vec<String> = self
            .accepted
            .iter()
            .take(NAMED_KEYS)
            .map(|(key, source)| match source {
                Source::Pinned => format!("{} (pinned)", describe_key(key)),
                Source::Listed(origin) => format!("{} ({origin})", describe_key(key)),
            })
            .collect();
        if self.accepted.len() > NAMED_KEYS {
            named.push(format!("{} more", self.accepted.len() - NAMED_KEYS));
        }
        named.join(" or ")
    }

    /// Host-key algorithms for key exchange: those of the known keys first
    /// (pinned, then listed), then russh's defaults, as OpenSSH orders
    /// `HostKeyAlgorithms` for a known host. A host with several keys then
    /// offers the one drover knows.
    pub(super) fn preferred_algorithms(&self) -> Cow<'static, [Algorithm]> {
        let defaults = Preferred::DEFAULT.key;
        if self.accepted.is_empty() {
            return defaults;
        }
        let mut order: Vec<Algorithm> = Vec::with_capacity(defaults.len());
        for (key, _) in &self.accepted {
            let algorithm = key.algorithm();
            for candidate in defaults.iter() {
                if signs_with(&algorithm, candidate) && !order.contains(candidate) {
                    order.push(candidate.clone());
                }
            }
        }
        for candidate in defaults.iter() {
            if !order.contains(candidate) {
                order.push(candidate.clone());
            }
        }
        Cow::Owned(order)
    }
}

/// True when a host key of `key` algorithm signs key exchanges under the
/// host-key algorithm `candidate` (an RSA key under every RSA signature
/// hash).
fn signs_with(key: &Algorithm, candidate: &Algorithm) -> bool {
    match candidate {
        Algorithm::Rsa { .. } => matches!(key, Algorithm::Rsa { .. }),
        other => other == key,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::path::Path;

    use crate::ssh::known_hosts::KnownHosts;
    use crate::ssh::test_keys::{ECDSA, ED25519, ED25519_B, RSA};

    fn key(line: &str) -> PublicKey {
        parse_public_key(line).expect("key")
    }

    /// Known keys from a pin and known_hosts text, for host `h` on port 22.
    fn known(pinned: Option<&str>, listed: &str) -> KnownKeys {
        let hosts = KnownHosts::parse(Path::new("/kh"), listed.as_bytes()).expect("parses");
        let mut known = KnownKeys::default();
        if let Some(pinned) = pinned {
            known.accepted.push((key(pinned), Source::Pinned));
        }
        for entry in hosts.lookup("h", 22) {
            match entry.marker {
                Marker::HostKey => known
                    .accepted
                    .push((entry.key, Source::Listed(entry.origin))),
                Marker::Revoked => known.revoked.push(entry),
                Marker::CertAuthority => known.authorities.push(entry.origin),
            }
        }
        known
    }

    #[test]
    fn a_known_key_of_another_algorithm_refuses_the_offered_one() {
        let listed = known(None, &format!("h {ED25519}\n"));
        for policy in [HostKeyPolicy::AcceptNew, HostKeyPolicy::Strict] {
            let err = listed.decide(&key(ECDSA), policy).expect_err("refused");
            let shown = err.to_string();
            assert!(shown.contains("host key mismatch"), "{shown}");
            assert!(
                shown.contains(&fingerprint(&key(ED25519))) && shown.contains("/kh:1"),
                "{shown}"
            );
            assert!(shown.contains(&fingerprint(&key(ECDSA))), "{shown}");
        }
        let pinned = known(Some(ECDSA), "");
        let err = pinned
            .decide(&key(ED25519), HostKeyPolicy::AcceptNew)
            .expect_err("refused");
        assert!(err.to_string().contains("(pinned)"), "{err}");
    }

    #[test]
    fn known_keys_are_accepted_and_only_unpinned_hosts_are_pinned() {
        let both = known(Some(ED25519), &format!("h {ECDSA}\n"));
        assert_eq!(
            both.decide(&key(ECDSA), HostKeyPolicy::Strict),
            Ok(Accepted::Pinned)
        );
        let listed = known(None, &format!("h {ECDSA}\n"));
        assert_eq!(
            listed.decide(&key(ECDSA), HostKeyPolicy::Strict),
            Ok(Accepted::ToPin)
        );
        let none = known(None, "");
        assert_eq!(
            none.decide(&key(ECDSA), HostKeyPolicy::AcceptNew),
            Ok(Accepted::ToPin)
        );
        assert!(matches!(
            none.decide(&key(ECDSA), HostKeyPolicy::Strict),
            Err(ConnectError::HostKeyUnknown { .. })
        ));
    }

    #[test]
    fn revoked_keys_are_refused_under_every_policy_even_when_pinned() {
        let revoked = known(
            Some(ED25519),
            &format!("h {ED25519}\n@revoked * {ED25519}\n"),
        );
        for policy in [HostKeyPolicy::AcceptNew, HostKeyPolicy::Strict] {
            let err = revoked.decide(&key(ED25519), policy).expect_err("revoked");
            assert!(matches!(err, ConnectError::HostKeyRevoked { .. }), "{err}");
            assert!(err.to_string().contains("@revoked in /kh:2"), "{err}");
        }
    }

    #[test]
    fn a_host_vouched_for_by_a_certificate_authority_is_not_pinned_blindly() {
        let ca = known(None, &format!("@cert-authority h {ED25519_B}\n"));
        let err = ca
            .decide(&key(ED25519), HostKeyPolicy::AcceptNew)
            .expect_err("refused");
        assert!(
            err.to_string().contains("@cert-authority") && err.to_string().contains("/kh:1"),
            "{err}"
        );
    }

    #[test]
    fn known_algorithms_come_first_in_key_exchange() {
        let defaults = Preferred::DEFAULT.key;
        assert_eq!(known(None, "").preferred_algorithms(), defaults);
        let order = known(Some(ECDSA), &format!("h {RSA}\nh {ED25519}\n")).preferred_algorithms();
        let names: Vec<&str> = order.iter().map(|a| a.as_str()).collect();
        assert_eq!(names[0], "ecdsa-sha2-nistp256");
        assert!(
            names[1..4]
                .iter()
                .all(|n| n.starts_with("rsa-sha2") || *n == "ssh-rsa"),
            "{names:?}"
        );
        assert_eq!(names[4], "ssh-ed25519");
        assert_eq!(order.len(), defaults.len(), "nothing dropped or added");
    }
}
