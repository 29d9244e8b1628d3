//! What the long-lived bot process keeps between runs, and what it lets go:
//! serenity's rate limit buckets of past interactions are dropped (the heap
//! a finished run freed goes back to the OS in `crate::memory`). Without
//! this the bot's memory would depend on how many runs and commands it has
//! handled, not on what it is doing now.

use std::sync::Arc;
use std::time::SystemTime;

use poise::serenity_prelude as serenity;

/// Drops the rate limit buckets serenity no longer needs. Its ratelimiter
/// (on when the bot talks to discord.com directly) keeps one bucket per
/// route and major parameter for good, and the answer to an interaction is
/// a route of its own per interaction id: one bucket per command and
/// button press. A bucket is dropped when no request holds it and its
/// limit has reset (or was never set): serenity makes a new one on the
/// next request, in the state the old one would have been in. Returns how
/// many were dropped.
pub async fn prune_rate_limit_buckets(http: &serenity::Http) -> usize {
    let Some(ratelimiter) = &http.ratelimiter else {
        return 0;
    };
    let routes = ratelimiter.routes();
    let mut routes = routes.write().await;
    let before = routes.len();
    let now = SystemTime::now();
    // Under the write lock no request can pick a bucket up: one held
    // elsewhere (its Arc cloned) is in use and stays.
    routes.retain(|_, bucket| {
        Arc::strong_count(bucket) > 1
            || bucket
                .try_lock()
                .map_or(true, |limit| limit.reset().is_some_and(|reset| reset > now))
    });
    before - routes.len()
}

#[cfg(test)]
mod tests {
    use std::sync::Arc;

    use poise::serenity_prelude as serenity;
    use serenity::Route;

    use super::prune_rate_limit_buckets;

    fn interaction_bucket(id: u64) -> serenity::RatelimitingBucket {
        Route::InteractionResponse {
            interaction_id: serenity::InteractionId::new(id),
            token: "token",
        }
        .ratelimiting_bucket()
    }

    #[tokio::test]
    async fn past_interactions_leave_no_rate_limit_bucket_behind() {
        let http = serenity::Http::new("Bot token");
        let routes = http.ratelimiter.as_ref().expect("ratelimiter on").routes();
        let in_use = {
            let mut routes = routes.write().await;
            for id in 1..=1000 {
                routes.entry(interaction_bucket(id)).or_default();
            }
            Arc::clone(routes.get(&interaction_bucket(7)).expect("bucket 7"))
        };
        assert_eq!(prune_rate_limit_buckets(&http).await, 999);
        let left = routes.read().await;
        assert_eq!(left.len(), 1, "only the bucket a request holds stays");
        assert!(left.contains_key(&interaction_bucket(7)));
        drop(in_use);
    }

    #[tokio::test]
    async fn without_a_ratelimiter_there_is_nothing_to_prune() {
        let http = serenity::HttpBuilder::new("Bot token")
            .ratelimiter_disabled(true)
            .build();
        assert_eq!(prune_rate_limit_buckets(&http).await, 0);
    }
}
