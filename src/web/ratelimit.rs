//! Login rate limiting, per account name and per client address, in this
//! process's memory. Every attempt counts until it succeeds (so parallel
//! guesses cannot slip past the limit while their passwords are checked);
//! a success clears its account's count. Past the free attempts a key is
//! locked, for a time that doubles with each further failure, up to a cap.
//! An address gets more free attempts than an account, as several people
//! may share one address.

use std::collections::HashMap;
use std::net::IpAddr;
use std::sync::Mutex;
use std::time::{Duration, Instant};

/// The numbers of the limiter.
#[derive(Debug, Clone, Copy)]
pub struct Policy {
    /// Failed attempts per account before it is locked.
    pub account_attempts: u32,
    /// Failed attempts per address before it is locked.
    pub address_attempts: u32,
    /// The first lock; each further failure doubles it.
    pub first_lock: Duration,
    pub longest_lock: Duration,
    /// A key with no failure for this long starts again from zero.
    pub forget_after: Duration,
    /// Keys tracked at most (memory stays bounded under a flood).
    pub max_keys: usize,
}

impl Default for Policy {
    fn default() -> Self {
        Policy {
            account_attempts: 5,
            address_attempts: 20,
            first_lock: Duration::from_secs(30),
            longest_lock: Duration::from_secs(15 * 60),
            forget_after: Duration::from_secs(60 * 60),
            max_keys: 100_000,
        }
    }
}

#[derive(Debug, Clone, PartialEq, Eq, Hash)]
enum Key {
    Account(String),
    Address(IpAddr),
}

#[derive(Debug, Clone)]
struct Entry {
    failures: u32,
    last_attempt: Instant,
    locked_until: Option<Instant>,
    /// Whether a refusal under the current lock was already reported.
    reported: bool,
}

/// A refused attempt: how long to wait, and whether it is the first
/// refusal of this lock (the one worth an audit record).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Throttled {
    pub retry_after: Duration,
    pub first: bool,
}

/// The limiter; shared by the login handlers.
#[derive(Debug, Default)]
pub struct LoginLimiter {
    policy: Policy,
    entries: Mutex<HashMap<Key, Entry>>,
}

impl LoginLimiter {
    pub fn new(policy: Policy) -> LoginLimiter {
        LoginLimiter {
            policy,
            entries: Mutex::new(HashMap::new()),
        }
    }

    /// Counts an attempt for `account` from `address`, or refuses it while
    /// either is locked.
    pub fn attempt(&self, account: &str, address: IpAddr, now: Instant) -> Result<(), Throttled> {
        let keys = [
            (
                Key::Account(account.to_string()),
                self.policy.account_attempts,
            ),
            (Key::Address(address), self.policy.address_attempts),
        ];
        let mut entries = self.lock();
        for (key, _) in &keys {
            if let Some(entry) = entries.get_mut(key) {
                if let Some(until) = entry.locked_until.filter(|until| *until > now) {
                    let first = !entry.reported;
                    entry.reported = true;
                    return Err(Throttled {
                        retry_after: until - now,
                        first,
                    });
                }
            }
        }
        if entries.len() + keys.len() > self.policy.max_keys {
            self.forget_stale(&mut entries, now);
        }
        for (key, free) in keys {
            if entries.len() >= self.policy.max_keys && !entries.contains_key(&key) {
                continue;
            }
            let entry = entries.entry(key).or_insert(Entry {
                failures: 0,
                last_attempt: now,
                locked_until: None,
                reported: false,
            });
            if now.duration_since(entry.last_attempt) >= self.policy.forget_after {
                entry.failures = 0;
            }
            entry.failures += 1;
            entry.last_attempt = now;
            if entry.failures >= free {
                entry.locked_until = Some(now + self.lock_for(entry.failures - free));
                entry.reported = false;
            }
        }
        Ok(())
    }

    /// The account logged in: its count starts again, and the attempt no
    /// longer counts against the address (whose failures stay, decaying
    /// with `forget_after`).
    pub fn succeeded(&self, account: &str, address: IpAddr) {
        let mut entries = self.lock();
        entries.remove(&Key::Account(account.to_string()));
        if let Some(entry) = entries.get_mut(&Key::Address(address)) {
            entry.failures = entry.failures.saturating_sub(1);
            if entry.failures < self.policy.address_attempts {
                entry.locked_until = None;
            }
        }
    }

    fn lock_for(&self, beyond: u32) -> Duration {
        let factor = 2u32.saturating_pow(beyond.min(20));
        self.policy
            .first_lock
            .saturating_mul(factor)
            .min(self.policy.longest_lock)
    }

    fn forget_stale(&self, entries: &mut HashMap<Key, Entry>, now: Instant) {
        entries.retain(|_, e| {
            e.locked_until.is_some_and(|until| until > now)
                || now.duration_since(e.last_attempt) < self.policy.forget_after
        });
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, HashMap<Key, Entry>> {
        self.entries
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const HOME: IpAddr = IpAddr::V4(std::net::Ipv4Addr::new(192, 0, 2, 1));
    const AWAY: IpAddr = IpAddr::V4(std::net::Ipv4Addr::new(192, 0, 2, 2));

    fn limiter() -> LoginLimiter {
        LoginLimiter::new(Policy {
            account_attempts: 3,
            address_attempts: 5,
            ..Policy::default()
        })
    }

    #[test]
    fn an_account_locks_after_its_free_attempts_with_doubling_backoff() {
        let l = limiter();
        let t0 = Instant::now();
        for _ in 0..3 {
            assert!(l.attempt("alice", HOME, t0).is_ok());
        }
        let refused = l.attempt("alice", AWAY, t0).unwrap_err();
        assert_eq!(refused.retry_after, Duration::from_secs(30));
        assert!(refused.first);
        assert!(
            !l.attempt("alice", AWAY, t0).unwrap_err().first,
            "reported once"
        );
        // after the lock, one more failure locks for twice as long
        let t1 = t0 + Duration::from_secs(31);
        assert!(l.attempt("alice", AWAY, t1).is_ok());
        assert_eq!(
            l.attempt("alice", AWAY, t1).unwrap_err().retry_after,
            Duration::from_secs(60)
        );
        // another account is not affected
        assert!(l.attempt("bob", AWAY, t1).is_ok());
    }

    #[test]
    fn success_clears_the_account_but_not_the_address() {
        let l = limiter();
        let t0 = Instant::now();
        for _ in 0..10 {
            assert!(l.attempt("d", HOME, t0).is_ok(), "successes do not add up");
            l.succeeded("d", HOME);
        }
        for name in ["a", "b", "c", "d"] {
            assert!(l.attempt(name, HOME, t0).is_ok());
        }
        l.succeeded("d", HOME);
        assert!(
            l.attempt("d", HOME, t0).is_ok(),
            "fourth failure of the address"
        );
        assert!(
            l.attempt("e", HOME, t0).is_ok(),
            "fifth: allowed, then locked"
        );
        let refused = l.attempt("f", HOME, t0).unwrap_err();
        assert_eq!(
            refused.retry_after,
            Duration::from_secs(30),
            "address locked"
        );
    }

    #[test]
    fn locks_are_capped_and_old_failures_are_forgotten() {
        let l = limiter();
        let mut t = Instant::now();
        for _ in 0..30 {
            let _ = l.attempt("alice", HOME, t);
            t += Duration::from_secs(16 * 60);
        }
        let r = l
            .attempt("alice", HOME, t - Duration::from_secs(16 * 60))
            .unwrap_err();
        assert!(r.retry_after <= Duration::from_secs(15 * 60));
        let later = t + Duration::from_secs(2 * 60 * 60);
        assert!(l.attempt("alice", HOME, later).is_ok());
        assert!(
            l.attempt("alice", HOME, later).is_ok(),
            "count started again"
        );
    }

    #[test]
    fn memory_stays_bounded_under_a_flood_of_names() {
        let l = LoginLimiter::new(Policy {
            max_keys: 10,
            ..Policy::default()
        });
        let t = Instant::now();
        for i in 0..100 {
            let _ = l.attempt(&format!("user{i}"), HOME, t);
        }
        assert!(l.lock().len() <= 10);
    }
}
