//! Discord's per-route rate limits: a bucket per route (method and path
//! with its minor ids left out) and major parameter (the channel, guild,
//! webhook or interaction), each allowing `limit` requests per `window`.
//! Every answer carries the `X-RateLimit-*` headers of its bucket; a request
//! sent after the headers said `X-RateLimit-Remaining: 0`, before the bucket
//! reset, gets a 429 with `retry_after`, as Discord answers it.

use std::collections::HashMap;
use std::time::{Duration, Instant};

/// How many requests a bucket allows per window.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct RouteLimit {
    pub limit: u32,
    pub window: Duration,
}

/// Slack for timer granularity: a request this close to its bucket's reset
/// counts as after it (clients compute the reset from a rounded header).
const RESET_SLACK: Duration = Duration::from_millis(5);

/// The default limits, close to what Discord announces: message writes in a
/// channel 5 per 5 s, everything else 50 per second (the global limit).
pub fn default_limit(method: &str, route: &str) -> RouteLimit {
    let message_write = matches!(method, "POST" | "PATCH" | "DELETE")
        && route.starts_with("/channels/{channel_id}/messages");
    if message_write {
        RouteLimit {
            limit: 5,
            window: Duration::from_secs(5),
        }
    } else {
        RouteLimit {
            limit: 50,
            window: Duration::from_secs(1),
        }
    }
}

/// The route of a request (path below /api/v10 with ids as placeholders)
/// and its major parameter, as Discord groups buckets.
pub fn route_of(segs: &[&str]) -> (String, Option<String>) {
    let (head, major, rest): (&[&str], Option<String>, &[&str]) = match segs {
        ["channels", c, rest @ ..] => (&["channels", "{channel_id}"], Some(c.to_string()), rest),
        ["guilds", g, rest @ ..] => (&["guilds", "{guild_id}"], Some(g.to_string()), rest),
        ["webhooks", w, t, rest @ ..] => (
            &["webhooks", "{webhook_id}", "{webhook_token}"],
            Some(format!("{w}/{t}")),
            rest,
        ),
        ["interactions", i, t, rest @ ..] => (
            &["interactions", "{interaction_id}", "{interaction_token}"],
            Some(format!("{i}/{t}")),
            rest,
        ),
        other => (&[], None, other),
    };
    let mut route = String::new();
    for seg in head.iter().copied().chain(rest.iter().copied()) {
        route.push('/');
        let is_id = !seg.is_empty() && seg.bytes().all(|b| b.is_ascii_digit());
        route.push_str(if is_id { "{id}" } else { seg });
    }
    (route, major)
}

/// What a bucket answers to one request.
pub enum Admission {
    /// Allowed: the headers to send back.
    Allowed(Headers),
    /// Over the limit: the headers and how long until the bucket resets.
    Exceeded(Headers, f64, RouteLimit),
}

/// `X-RateLimit-*` values of a bucket after a request.
#[derive(Clone, Debug)]
pub struct Headers {
    pub bucket: String,
    pub limit: u32,
    pub remaining: u32,
    pub reset_after: f64,
}

struct Window {
    started: Instant,
    used: u32,
}

/// Every bucket's current window, and the limits tests set.
#[derive(Default)]
pub struct Buckets {
    windows: HashMap<String, Window>,
    overrides: HashMap<(String, String), RouteLimit>,
}

impl Buckets {
    /// Sets the limit of `method route` (e.g. `PATCH`,
    /// `/channels/{channel_id}/messages/{id}`) for every major parameter.
    pub fn set_limit(&mut self, method: &str, route: &str, limit: RouteLimit) {
        self.overrides
            .insert((method.to_string(), route.to_string()), limit);
        self.windows
            .retain(|key, _| !key.starts_with(&format!("{method} {route} @")));
    }

    fn limit_of(&self, method: &str, route: &str) -> RouteLimit {
        self.overrides
            .get(&(method.to_string(), route.to_string()))
            .copied()
            .unwrap_or_else(|| default_limit(method, route))
    }

    /// Counts a request against its bucket.
    pub fn admit(&mut self, method: &str, segs: &[&str], now: Instant) -> Admission {
        let (route, major) = route_of(segs);
        let limit = self.limit_of(method, &route);
        let key = format!("{method} {route} @{}", major.unwrap_or_default());
        let window = self.windows.entry(key.clone()).or_insert(Window {
            started: now,
            used: 0,
        });
        if now + RESET_SLACK >= window.started + limit.window {
            *window = Window {
                started: now,
                used: 0,
            };
        }
        let reset_after = (window.started + limit.window)
            .saturating_duration_since(now)
            .as_secs_f64();
        let headers = |remaining| Headers {
            bucket: bucket_hash(&key),
            limit: limit.limit,
            remaining,
            reset_after,
        };
        if window.used >= limit.limit {
            return Admission::Exceeded(headers(0), reset_after, limit);
        }
        window.used += 1;
        Admission::Allowed(headers(limit.limit - window.used))
    }
}

/// An opaque bucket id, as Discord's `X-RateLimit-Bucket`.
pub fn bucket_hash(bucket: &str) -> String {
    let mut h: u64 = 0xcbf2_9ce4_8422_2325;
    for b in bucket.bytes() {
        h = (h ^ b as u64).wrapping_mul(0x100_0000_01b3);
    }
    format!("{h:016x}")
}
