//! Store operations that fail for a while are tried again: a database
//! locked by another process beyond its busy timeout, a full disk, an I/O
//! error. Each failure waits longer before the next try (up to
//! [`MAX_DELAY`]); a failure that would fail the same way again, or one that
//! lasts longer than its limit, is given up.

use std::future::Future;
use std::time::Duration;

use tokio::time::Instant;

use crate::error::{Error, Result};

/// The first wait after a failure; it doubles with each one after it.
const FIRST_DELAY: Duration = Duration::from_millis(250);
/// The longest wait between two tries.
const MAX_DELAY: Duration = Duration::from_secs(5);

/// How long a driver keeps trying to store a run's records before it gives
/// the run up (and releases its lease, so that another process may adopt
/// it later).
pub const STORE_GIVE_UP: Duration = Duration::from_secs(300);

/// The waits between tries of one operation, and when it began failing.
#[derive(Debug)]
pub struct Backoff {
    limit: Duration,
    delay: Duration,
    failing_since: Option<Instant>,
}

impl Backoff {
    /// Gives up once failing for longer than `limit`.
    pub fn new(limit: Duration) -> Backoff {
        Backoff {
            limit,
            delay: FIRST_DELAY,
            failing_since: None,
        }
    }

    /// After a failure: how long to wait before trying again, or `None` to
    /// give up.
    pub fn failed(&mut self, error: &Error) -> Option<Duration> {
        if !error.is_transient() {
            return None;
        }
        match self.failing_since {
            None => self.failing_since = Some(Instant::now()),
            Some(since) if since.elapsed() > self.limit => return None,
            Some(_) => {}
        }
        let delay = self.delay;
        self.delay = (self.delay * 2).min(MAX_DELAY);
        Some(delay)
    }

    pub fn succeeded(&mut self) {
        self.delay = FIRST_DELAY;
        self.failing_since = None;
    }
}

/// Runs `operation` until it succeeds, waiting between tries while its
/// failures are transient, for up to `limit`; `what` names it in the
/// diagnostics.
pub async fn with_retries<T, F, Fut>(what: &str, limit: Duration, mut operation: F) -> Result<T>
where
    F: FnMut() -> Fut,
    Fut: Future<Output = Result<T>>,
{
    let mut backoff = Backoff::new(limit);
    loop {
        match operation().await {
            Ok(value) => return Ok(value),
            Err(e) => match backoff.failed(&e) {
                Some(delay) => {
                    tracing::warn!(error = %e, ?delay, "cannot {what}; trying again");
                    tokio::time::sleep(delay).await;
                }
                None => return Err(e),
            },
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn busy() -> Error {
        Error::io("database", std::io::Error::other("busy"))
    }

    #[test]
    fn transient_failures_wait_longer_each_time_and_permanent_ones_give_up() {
        let mut backoff = Backoff::new(Duration::from_secs(60));
        let waits: Vec<Duration> = (0..6).filter_map(|_| backoff.failed(&busy())).collect();
        assert_eq!(
            waits,
            [250, 500, 1000, 2000, 4000, 5000].map(Duration::from_millis)
        );
        backoff.succeeded();
        assert_eq!(backoff.failed(&busy()), Some(FIRST_DELAY));
        assert_eq!(backoff.failed(&Error::Refused("no".into())), None);
    }

    #[test]
    fn failures_lasting_longer_than_the_limit_give_up() {
        let mut backoff = Backoff::new(Duration::ZERO);
        assert!(backoff.failed(&busy()).is_some(), "the first failure waits");
        std::thread::sleep(Duration::from_millis(5));
        assert_eq!(backoff.failed(&busy()), None);
    }
}
