//! The bot's own client for the channel messages it writes on its own
//! (progress messages, their edits, the final logs): it honours Discord's
//! rate limits exactly, before sending (a bucket's `X-RateLimit-Remaining`
//! and `X-RateLimit-Reset-After`) and after a 429 (`retry_after`), whether
//! it talks to discord.com or to a proxy. serenity's ratelimiter sends to
//! discord.com whatever the proxy (so it is off behind one), and its errors
//! drop `retry_after`.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use poise::serenity_prelude as serenity;

/// Why a request did not land.
#[derive(Debug, thiserror::Error)]
pub enum ApiError {
    #[error("rate limited; retry after {0:?}")]
    RateLimited(Duration),
    #[error("Discord answered {status}: {body}")]
    Refused { status: u16, body: String },
    #[error("request failed: {0}")]
    Transport(#[from] reqwest::Error),
    #[error("Discord's answer names no message: {0}")]
    BadAnswer(String),
}

/// A file to attach.
pub struct Upload {
    pub filename: String,
    pub bytes: Vec<u8>,
}

/// What the bot knows of a rate limit bucket from Discord's last answer.
struct Bucket {
    remaining: u32,
    resets_at: Instant,
}

/// Longest wait a 429 or a bucket may impose (a larger figure is a bug
/// somewhere; waiting it out would stall the run's message for good).
const MAX_WAIT: Duration = Duration::from_secs(300);
/// Waits for one bucket before a request gives up waiting and sends.
const MAX_BUCKET_WAITS: u32 = 16;

/// Posts and edits channel messages. Cheap to clone.
#[derive(Clone)]
pub struct ChannelApi {
    client: reqwest::Client,
    base: String,
    authorization: String,
    /// Buckets with a known state (an entry whose reset has passed carries
    /// nothing and is dropped, so the map holds only live buckets).
    buckets: Arc<Mutex<HashMap<String, Bucket>>>,
}

/// The id in Discord's answer to a new message.
#[derive(serde::Deserialize)]
struct Posted {
    id: serenity::MessageId,
}

impl ChannelApi {
    pub fn new(api_url: Option<&str>, token: &str) -> ChannelApi {
        let base = api_url
            .unwrap_or("https://discord.com")
            .trim_end_matches('/')
            .to_string();
        let authorization = if token.starts_with("Bot ") {
            token.to_string()
        } else {
            format!("Bot {token}")
        };
        ChannelApi {
            client: reqwest::Client::new(),
            base,
            authorization,
            buckets: Arc::default(),
        }
    }

    fn messages_url(&self, channel: serenity::ChannelId) -> String {
        format!("{}/api/v10/channels/{channel}/messages", self.base)
    }

    /// Posts a message without files; returns its id.
    pub async fn post(
        &self,
        channel: serenity::ChannelId,
        message: &serenity::CreateMessage,
        attempts: u32,
    ) -> Result<serenity::MessageId, ApiError> {
        let body = serde_json::to_vec(message).unwrap_or_default();
        let url = self.messages_url(channel);
        let bucket = format!("POST channels/{channel}/messages");
        let response = self
            .send(&bucket, attempts, || {
                self.client
                    .post(&url)
                    .header("Content-Type", "application/json")
                    .body(body.clone())
            })
            .await?;
        posted_id(response).await
    }

    /// Posts a message with files: `payload` is the message's JSON without
    /// `attachments`, which this fills in.
    pub async fn post_files(
        &self,
        channel: serenity::ChannelId,
        mut payload: serde_json::Value,
        files: &[Upload],
        attempts: u32,
    ) -> Result<serenity::MessageId, ApiError> {
        payload["attachments"] = files
            .iter()
            .enumerate()
            .map(|(id, f)| serde_json::json!({"id": id, "filename": f.filename}))
            .collect();
        let payload = payload.to_string();
        let url = self.messages_url(channel);
        let bucket = format!("POST channels/{channel}/messages");
        let response = self
            .send(&bucket, attempts, || {
                let mut form = reqwest::multipart::Form::new().part(
                    "payload_json",
                    reqwest::multipart::Part::text(payload.clone())
                        .mime_str("application/json")
                        .unwrap_or_else(|_| reqwest::multipart::Part::text(payload.clone())),
                );
                for (n, file) in files.iter().enumerate() {
                    form = form.part(
                        format!("files[{n}]"),
                        reqwest::multipart::Part::bytes(file.bytes.clone())
                            .file_name(file.filename.clone()),
                    );
                }
                self.client.post(&url).multipart(form)
            })
            .await?;
        posted_id(response).await
    }

    /// Edits a message.
    pub async fn edit(
        &self,
        channel: serenity::ChannelId,
        message: serenity::MessageId,
        edit: &serenity::EditMessage,
        attempts: u32,
    ) -> Result<(), ApiError> {
        let body = serde_json::to_vec(edit).unwrap_or_default();
        let url = format!("{}/{message}", self.messages_url(channel));
        let bucket = format!("PATCH channels/{channel}/messages/{{id}}");
        self.send(&bucket, attempts, || {
            self.client
                .patch(&url)
                .header("Content-Type", "application/json")
                .body(body.clone())
        })
        .await?;
        Ok(())
    }

    /// Sends the request `build` makes, up to `attempts` times: each time
    /// once its bucket has room; after a 429 exactly `retry_after` later;
    /// after a server or network failure with a growing pause. Other
    /// refusals (a deleted message, a bad payload) are not retried.
    async fn send(
        &self,
        bucket: &str,
        attempts: u32,
        build: impl Fn() -> reqwest::RequestBuilder,
    ) -> Result<reqwest::Response, ApiError> {
        let attempts = attempts.max(1);
        let mut last = None;
        for attempt in 1..=attempts {
            self.wait_for(bucket).await;
            let outcome = build()
                .header("Authorization", &self.authorization)
                .send()
                .await;
            let error = match outcome {
                Ok(response) => {
                    self.note(bucket, response.headers());
                    match failure_of(response).await {
                        Ok(response) => return Ok(response),
                        Err(e) => e,
                    }
                }
                Err(e) => ApiError::Transport(e),
            };
            let pause = match &error {
                ApiError::RateLimited(wait) => *wait,
                ApiError::Refused { status, .. } if *status < 500 => return Err(error),
                _ => Duration::from_millis(500 * u64::from(attempt.min(8))),
            };
            tracing::debug!(attempt, bucket, error = %error, "Discord request failed");
            last = Some(error);
            if attempt < attempts {
                tokio::time::sleep(pause).await;
            }
        }
        Err(last.unwrap_or(ApiError::BadAnswer("no attempt was made".into())))
    }

    /// Waits until `bucket` has room, and takes one request of it.
    async fn wait_for(&self, bucket: &str) {
        for _ in 0..MAX_BUCKET_WAITS {
            let wait = {
                let mut buckets = self.buckets.lock().unwrap_or_else(|p| p.into_inner());
                let now = Instant::now();
                buckets.retain(|_, b| b.resets_at > now);
                match buckets.get_mut(bucket) {
                    Some(b) if b.remaining == 0 => b.resets_at - now,
                    Some(b) => {
                        b.remaining -= 1;
                        return;
                    }
                    None => return,
                }
            };
            tokio::time::sleep(wait.min(MAX_WAIT)).await;
        }
    }

    /// Records what Discord's answer says of `bucket`.
    fn note(&self, bucket: &str, headers: &reqwest::header::HeaderMap) {
        let header = |name: &str| headers.get(name).and_then(|v| v.to_str().ok());
        let remaining = header("x-ratelimit-remaining").and_then(|v| v.parse::<u32>().ok());
        let reset_after = header("x-ratelimit-reset-after")
            .and_then(|v| v.parse::<f64>().ok())
            .filter(|s| s.is_finite() && *s >= 0.0);
        if let (Some(remaining), Some(reset_after)) = (remaining, reset_after) {
            let wait = Duration::from_secs_f64(reset_after).min(MAX_WAIT);
            self.buckets
                .lock()
                .unwrap_or_else(|p| p.into_inner())
                .insert(
                    bucket.to_string(),
                    Bucket {
                        remaining,
                        resets_at: Instant::now() + wait,
                    },
                );
        }
    }
}

/// The response when it succeeded; else why not (a 429 with how long to
/// wait: the body's `retry_after`, else the `Retry-After` header).
async fn failure_of(response: reqwest::Response) -> Result<reqwest::Response, ApiError> {
    if response.status().is_success() {
        return Ok(response);
    }
    let status = response.status().as_u16();
    let header_wait = response
        .headers()
        .get("retry-after")
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.parse::<f64>().ok());
    let text = response.text().await.unwrap_or_default();
    if status == 429 {
        let body_wait = serde_json::from_str::<serde_json::Value>(&text)
            .ok()
            .and_then(|v| v["retry_after"].as_f64());
        let wait = body_wait
            .or(header_wait)
            .filter(|w| w.is_finite())
            .unwrap_or(1.0)
            .clamp(0.0, MAX_WAIT.as_secs_f64());
        return Err(ApiError::RateLimited(Duration::from_secs_f64(wait)));
    }
    Err(ApiError::Refused {
        status,
        body: text.chars().take(300).collect(),
    })
}

async fn posted_id(response: reqwest::Response) -> Result<serenity::MessageId, ApiError> {
    let text = response.text().await?;
    serde_json::from_str::<Posted>(&text)
        .map(|p| p.id)
        .map_err(|e| ApiError::BadAnswer(e.to_string()))
}
