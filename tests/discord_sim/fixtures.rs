//! JSON objects the simulator sends, shaped like Discord's, each checked
//! against serenity's own types.

use std::time::SystemTime;

use poise::serenity_prelude as serenity;
use serde::de::DeserializeOwned;
use serde_json::{json, Value};

use super::{Att, ChannelInfo, Msg, Origin, State};

/// Deserialises `value` as serenity's `T`, panicking when it does not parse:
/// a fixture serenity cannot read would silently become an ignored event.
pub(super) fn must_parse<T: DeserializeOwned>(what: &str, value: &Value) -> T {
    match serde_json::from_value::<T>(value.clone()) {
        Ok(v) => v,
        Err(e) => panic!(
            "discord_sim: {what} does not parse as serenity's {}: {e}\n{value:#}",
            std::any::type_name::<T>()
        ),
    }
}

/// RFC 3339 timestamp, as Discord writes them.
pub(super) fn ts(t: SystemTime) -> Value {
    let dt = time::OffsetDateTime::from(t);
    Value::String(
        dt.format(&time::format_description::well_known::Rfc3339)
            .expect("format timestamp"),
    )
}

pub(super) fn sf(id: u64) -> Value {
    Value::String(id.to_string())
}

/// Percent-encodes everything but unreserved characters.
pub(super) fn url_encode(s: &str) -> String {
    let mut out = String::new();
    for b in s.bytes() {
        if b.is_ascii_alphanumeric() || matches!(b, b'-' | b'_' | b'.' | b'~') {
            out.push(b as char);
        } else {
            out.push_str(&format!("%{b:02X}"));
        }
    }
    out
}

pub(super) fn content_type_for(filename: &str) -> &'static str {
    let ext = filename
        .rsplit('.')
        .next()
        .unwrap_or("")
        .to_ascii_lowercase();
    match ext.as_str() {
        "txt" | "log" => "text/plain; charset=utf-8",
        "json" => "application/json",
        "toml" => "application/toml",
        "png" => "image/png",
        "jpg" | "jpeg" => "image/jpeg",
        "gz" => "application/gzip",
        "zip" => "application/zip",
        "csv" => "text/csv; charset=utf-8",
        "md" => "text/markdown; charset=utf-8",
        "html" => "text/html; charset=utf-8",
        _ => "application/octet-stream",
    }
}

pub(super) fn user_json(id: u64, bot: bool) -> Value {
    let name = if bot {
        "drover-sim".to_string()
    } else {
        format!("user{id}")
    };
    let mut u = json!({
        "id": sf(id),
        "username": name,
        "global_name": if bot { Value::Null } else { Value::String(format!("User {id}")) },
        "discriminator": if bot { "4242" } else { "0" },
        "avatar": null,
        "public_flags": 0,
    });
    if bot {
        u["bot"] = json!(true);
    }
    u
}

pub(super) fn attachment_json(a: &Att) -> Value {
    json!({
        "id": sf(a.id),
        "filename": a.filename,
        "description": a.description,
        "size": a.size,
        "url": a.url,
        "proxy_url": a.url,
        "content_type": content_type_for(&a.filename),
    })
}

impl State {
    pub(super) fn bot_user_json(&self) -> Value {
        user_json(self.bot_user_id, true)
    }

    /// GET /users/@me
    pub(super) fn current_user_json(&self) -> Value {
        let mut u = self.bot_user_json();
        u["verified"] = json!(true);
        u["mfa_enabled"] = json!(false);
        u["flags"] = json!(0);
        u["locale"] = json!("en-US");
        must_parse::<serenity::CurrentUser>("GET /users/@me", &u);
        u
    }

    /// GET /oauth2/applications/@me
    pub(super) fn application_json(&self) -> Value {
        let v = json!({
            "id": sf(self.app_id),
            "name": "drover-sim",
            "icon": null,
            "description": "discord_sim application",
            "bot_public": false,
            "bot_require_code_grant": false,
            "owner": user_json(self.owner_id, false),
            "verify_key": "0000000000000000000000000000000000000000000000000000000000000000",
            "team": null,
            "flags": 0,
            "bot": self.bot_user_json(),
        });
        must_parse::<serenity::CurrentApplicationInfo>("GET /oauth2/applications/@me", &v);
        v
    }

    /// A guild member object; `with_user` adds the user (interactions and
    /// GET member do; resolved members do not).
    pub(super) fn member_json(
        &self,
        user_id: u64,
        guild_id: u64,
        roles: &[u64],
        with_user: bool,
    ) -> Value {
        let mut m = json!({
            "nick": null,
            "avatar": null,
            "banner": null,
            "roles": roles.iter().map(|r| sf(*r)).collect::<Vec<_>>(),
            "joined_at": ts(SystemTime::UNIX_EPOCH + std::time::Duration::from_secs(1_600_000_000)),
            "premium_since": null,
            "deaf": false,
            "mute": false,
            "flags": 0,
            "pending": false,
            "permissions": self.member_permissions(roles).to_string(),
            "communication_disabled_until": null,
        });
        if with_user {
            m["user"] = user_json(user_id, user_id == self.bot_user_id);
            let mut full = m.clone();
            full["guild_id"] = sf(guild_id);
            must_parse::<serenity::Member>("member", &full);
        } else {
            must_parse::<serenity::PartialMember>("partial member", &m);
        }
        m
    }

    /// GET /channels/{id}
    pub(super) fn channel_json(&self, channel_id: u64) -> Value {
        let info = self.channel_info(channel_id);
        let last = self
            .messages
            .values()
            .rev()
            .find(|m| m.channel_id == channel_id && !m.deleted)
            .map(|m| sf(m.id))
            .unwrap_or(Value::Null);
        let v = match (info.guild_id, info.dm_user) {
            (Some(g), _) => json!({
                "id": sf(channel_id),
                "type": 0,
                "guild_id": sf(g),
                "name": format!("channel-{channel_id}"),
                "position": 0,
                "permission_overwrites": [],
                "nsfw": false,
                "topic": null,
                "last_message_id": last,
                "rate_limit_per_user": 0,
                "parent_id": null,
                "flags": 0,
            }),
            (None, user) => json!({
                "id": sf(channel_id),
                "type": 1,
                "last_message_id": last,
                "flags": 0,
                "recipients": [user_json(user.unwrap_or(self.owner_id), false)],
            }),
        };
        must_parse::<serenity::Channel>("GET /channels/{id}", &v);
        v
    }

    /// The partial channel carried by interactions.
    pub(super) fn partial_channel_json(&self, channel_id: u64, info: &ChannelInfo) -> Value {
        let v = match info.guild_id {
            Some(g) => json!({
                "id": sf(channel_id),
                "type": 0,
                "name": format!("channel-{channel_id}"),
                "guild_id": sf(g),
                "permissions": self.bot_permissions.to_string(),
                "flags": 0,
                "parent_id": null,
                "nsfw": false,
            }),
            None => json!({
                "id": sf(channel_id),
                "type": 1,
                "flags": 0,
                "recipients": [user_json(info.dm_user.unwrap_or(self.owner_id), false)],
            }),
        };
        must_parse::<serenity::PartialChannel>("interaction channel", &v);
        v
    }

    pub(super) fn role_json(&self, role_id: u64, guild_id: u64) -> Value {
        let v = json!({
            "id": sf(role_id),
            "name": format!("role-{role_id}"),
            "color": 0,
            "colors": {"primary_color": 0, "secondary_color": null, "tertiary_color": null},
            "hoist": false,
            "icon": null,
            "unicode_emoji": null,
            "position": 1,
            "permissions": self.role_permissions.get(&role_id).copied().unwrap_or(0).to_string(),
            "managed": false,
            "mentionable": true,
            "flags": 0,
        });
        let mut with_guild = v.clone();
        with_guild["guild_id"] = sf(guild_id);
        must_parse::<serenity::Role>("role", &with_guild);
        v
    }

    /// GET /guilds/{id} (a guild owned by the application owner).
    pub(super) fn guild_json(&self, guild_id: u64, roles: Vec<Value>) -> Value {
        let v = json!({
            "id": sf(guild_id),
            "name": format!("guild-{guild_id}"),
            "icon": null,
            "splash": null,
            "discovery_splash": null,
            "owner_id": sf(self.owner_id),
            "afk_channel_id": null,
            "afk_timeout": 300,
            "widget_enabled": false,
            "widget_channel_id": null,
            "verification_level": 1,
            "default_message_notifications": 1,
            "explicit_content_filter": 2,
            "roles": roles,
            "emojis": [],
            "features": [],
            "mfa_level": 0,
            "application_id": null,
            "system_channel_id": null,
            "system_channel_flags": 0,
            "rules_channel_id": null,
            "max_presences": null,
            "max_members": 500000,
            "vanity_url_code": null,
            "description": null,
            "banner": null,
            "premium_tier": 0,
            "premium_subscription_count": 0,
            "preferred_locale": "en-US",
            "public_updates_channel_id": null,
            "max_video_channel_users": 25,
            "max_stage_video_channel_users": 50,
            "nsfw_level": 0,
            "stickers": [],
            "premium_progress_bar_enabled": false,
            "safety_alerts_channel_id": null,
        });
        must_parse::<serenity::PartialGuild>("GET /guilds/{id}", &v);
        v
    }

    /// The Discord message object of `m`.
    pub(super) fn message_json(&self, m: &Msg) -> Value {
        let mut v = json!({
            "id": sf(m.id),
            "channel_id": sf(m.channel_id),
            "author": self.bot_user_json(),
            "content": m.content,
            "timestamp": ts(m.created_at),
            "edited_timestamp": m.edited_at.map(ts).unwrap_or(Value::Null),
            "tts": m.tts,
            "mention_everyone": false,
            "mentions": [],
            "mention_roles": [],
            "attachments": m.attachments.iter().map(attachment_json).collect::<Vec<_>>(),
            "embeds": m.embeds,
            "pinned": false,
            "type": m.kind,
            "flags": m.flags,
            "components": m.components,
        });
        if let Origin::Interaction { .. } = m.origin {
            v["webhook_id"] = sf(self.app_id);
            v["application_id"] = sf(self.app_id);
        }
        if let Some(g) = m.guild_id {
            v["guild_id"] = sf(g);
        }
        must_parse::<serenity::Message>("message object", &v);
        v
    }

    /// The READY payload (`d`).
    pub(super) fn ready_json(&self, session_id: &str, shard: &Value) -> Value {
        let mut user = self.bot_user_json();
        user["verified"] = json!(true);
        user["mfa_enabled"] = json!(false);
        user["flags"] = json!(0);
        let v = json!({
            "v": 10,
            "user": user,
            "guilds": [],
            "session_id": session_id,
            "resume_gateway_url": self.gateway_url(),
            "shard": shard,
            "application": {"id": sf(self.app_id), "flags": 0},
            "private_channels": [],
            "relationships": [],
            "user_settings": {},
            "session_type": "normal",
            "auth": {},
            "presences": [],
            "guild_join_requests": [],
            "geo_ordered_rtc_regions": ["rotterdam"],
            "_trace": ["[\"discord_sim\"]"],
        });
        must_parse::<serenity::Ready>("READY", &v);
        v
    }
}
