//! Building and dispatching INTERACTION_CREATE events.

use std::time::Instant;

use poise::serenity_prelude as serenity;
use serde_json::{json, Map, Value};

use super::fixtures::{attachment_json, must_parse, sf, user_json};
use super::{Att, ChannelInfo, InteractionRec, SimInteraction, SimUser, State};

/// Attachments the client allows without boost (bytes).
const ATTACHMENT_SIZE_LIMIT: u64 = 10 * 1024 * 1024;

#[derive(Default)]
struct Resolved {
    users: Map<String, Value>,
    members: Map<String, Value>,
    roles: Map<String, Value>,
    channels: Map<String, Value>,
    attachments: Map<String, Value>,
}

impl Resolved {
    fn into_json(self) -> Option<Value> {
        let mut out = Map::new();
        for (k, m) in [
            ("users", self.users),
            ("members", self.members),
            ("roles", self.roles),
            ("channels", self.channels),
            ("attachments", self.attachments),
        ] {
            if !m.is_empty() {
                out.insert(k.to_string(), Value::Object(m));
            }
        }
        (!out.is_empty()).then_some(Value::Object(out))
    }
}

fn snowflake_of(what: &str, v: &Value) -> u64 {
    match v {
        Value::Number(n) => n.as_u64(),
        Value::String(s) => s.parse().ok(),
        _ => None,
    }
    .unwrap_or_else(|| panic!("discord_sim: {what}: expected a snowflake id, got {v}"))
}

fn option_kind_name(kind: u64) -> &'static str {
    match kind {
        1 => "subcommand",
        2 => "subcommand group",
        3 => "string",
        4 => "integer",
        5 => "boolean",
        6 => "user",
        7 => "channel",
        8 => "role",
        9 => "mentionable",
        10 => "number",
        11 => "attachment",
        _ => "unknown",
    }
}

/// Option type for a value when the command is not registered.
fn infer_kind(v: &Value) -> u64 {
    match v {
        Value::Bool(_) => 5,
        Value::Number(n) if n.is_i64() || n.is_u64() => 4,
        Value::Number(_) => 10,
        _ => 3,
    }
}

/// Panics when a resolved option of a command interaction does not resolve.
fn check_resolved(options: &[serenity::ResolvedOption<'_>]) {
    for o in options {
        match &o.value {
            serenity::ResolvedValue::SubCommand(inner)
            | serenity::ResolvedValue::SubCommandGroup(inner) => check_resolved(inner),
            serenity::ResolvedValue::Unresolved(u) => {
                panic!(
                    "discord_sim: option `{}` of an injected interaction does not resolve: {u:?}",
                    o.name
                )
            }
            _ => {}
        }
    }
}

impl State {
    /// Registered chat-input command `name` usable by `user`:
    /// (definition, guild id when it is a guild command).
    fn find_command(&self, user: &SimUser, name: &str) -> Option<(Value, Option<u64>)> {
        let is_it = |c: &&Value| c["name"] == name && c["type"].as_u64().unwrap_or(1) == 1;
        if let Some(g) = user.guild_id {
            if let Some(c) = self
                .guild_commands
                .get(&g)
                .and_then(|cs| cs.iter().find(is_it))
            {
                return Some((c.clone(), Some(g)));
            }
        }
        let c = self.global_commands.iter().find(is_it)?;
        if user.guild_id.is_none() {
            let contexts_forbid = c["contexts"]
                .as_array()
                .is_some_and(|ctx| !ctx.iter().any(|x| x.as_u64() == Some(1)));
            if contexts_forbid || c["dm_permission"] == json!(false) {
                return None;
            }
        } else if let Some(ctx) = c["contexts"].as_array() {
            if !ctx.iter().any(|x| x.as_u64() == Some(0)) {
                return None;
            }
        }
        Some((c.clone(), None))
    }

    /// The channel an interaction happens in, registering it.
    fn interaction_channel(&mut self, user: &SimUser, channel_id: u64) -> ChannelInfo {
        let info = match user.guild_id {
            Some(g) => ChannelInfo {
                guild_id: Some(g),
                dm_user: None,
            },
            None => ChannelInfo {
                guild_id: None,
                dm_user: Some(user.id),
            },
        };
        if let Some(known) = self.channels.get(&channel_id) {
            assert!(
                known.guild_id == info.guild_id,
                "discord_sim: channel {channel_id} is in guild {:?}, but the user is in {:?}",
                known.guild_id,
                info.guild_id
            );
        }
        self.channels.insert(channel_id, info.clone());
        info
    }

    /// The fields every interaction carries.
    fn interaction_base(
        &mut self,
        kind: u8,
        user: &SimUser,
        channel_id: u64,
    ) -> (u64, String, Value) {
        self.remember_user(user);
        let info = self.interaction_channel(user, channel_id);
        let id = self.next_id();
        let token = format!(
            "aW50ZXJhY3Rpb246{id}:sim{:016x}",
            id.wrapping_mul(0x9e37_79b9_7f4a_7c15)
        );
        let mut v = json!({
            "id": sf(id),
            "application_id": sf(self.app_id),
            "type": kind,
            "token": token,
            "version": 1,
            "channel_id": sf(channel_id),
            "channel": self.partial_channel_json(channel_id, &info),
            "app_permissions": self.bot_permissions.to_string(),
            "locale": "en-US",
            "entitlements": [],
            "attachment_size_limit": ATTACHMENT_SIZE_LIMIT,
        });
        match user.guild_id {
            Some(g) => {
                v["guild_id"] = sf(g);
                v["guild_locale"] = json!("en-US");
                v["member"] = self.member_json(user.id, g, &user.roles, true);
                v["authorizing_integration_owners"] = json!({"0": g.to_string()});
                v["context"] = json!(0);
            }
            None => {
                v["user"] = user_json(user.id, false);
                v["authorizing_integration_owners"] = json!({"1": user.id.to_string()});
                v["context"] = json!(1);
            }
        }
        (id, token, v)
    }

    /// Validates, records and dispatches an interaction.
    fn send_interaction(&mut self, v: Value, rec: InteractionRec) -> SimInteraction {
        let parsed = must_parse::<serenity::Interaction>("INTERACTION_CREATE", &v);
        if let serenity::Interaction::Command(c) | serenity::Interaction::Autocomplete(c) = &parsed
        {
            check_resolved(&c.data.options());
        }
        let it = SimInteraction {
            id: rec.id,
            token: rec.token.clone(),
            created: rec.created,
        };
        self.tokens.insert(rec.token.clone(), rec.id);
        self.interactions.insert(rec.id, rec);
        self.dispatch("INTERACTION_CREATE", v, Some(it.id));
        it
    }

    fn new_rec(
        &self,
        id: u64,
        token: &str,
        kind: u8,
        user: &SimUser,
        channel_id: u64,
    ) -> InteractionRec {
        InteractionRec {
            id,
            token: token.to_string(),
            kind,
            created: Instant::now(),
            dispatched: None,
            channel_id,
            guild_id: user.guild_id,
            user_id: user.id,
            callback: None,
            callback_type: None,
            refused_callbacks: Vec::new(),
            original: None,
            component_message: None,
            modal: None,
            modal_source_message: None,
        }
    }

    /// Slash command (type 2) or, with `focused`, autocomplete (type 4).
    pub(super) fn inject_command(
        &mut self,
        user: &SimUser,
        channel_id: u64,
        command: &str,
        subcommand: &[&str],
        options: Vec<(&str, Value)>,
        focused: Option<&str>,
    ) -> SimInteraction {
        let kind: u8 = if focused.is_some() { 4 } else { 2 };
        let found = self.find_command(user, command);
        if found.is_none() {
            let place = match user.guild_id {
                Some(g) => format!("in guild {g}"),
                None => "in DMs".to_string(),
            };
            self.violation(format!(
                "slash command /{command} is not registered {place} (Discord would not offer it); \
                 the simulator guesses option types"
            ));
        }
        let (id, token, mut v) = self.interaction_base(kind, user, channel_id);
        let mut resolved = Resolved::default();
        let opts = self.build_options(
            found.as_ref().map(|(d, _)| d),
            command,
            subcommand,
            options,
            focused,
            user.guild_id,
            &mut resolved,
        );
        let command_id = match &found {
            Some((d, _)) => d["id"].as_str().and_then(|s| s.parse().ok()).unwrap_or(0),
            None => self.next_id(),
        };
        let mut data = json!({
            "id": sf(command_id),
            "name": command,
            "type": 1,
            "options": opts,
        });
        if let Some((_, Some(g))) = &found {
            data["guild_id"] = sf(*g);
        }
        if let Some(r) = resolved.into_json() {
            data["resolved"] = r;
        }
        v["data"] = data;
        let rec = self.new_rec(id, &token, kind, user, channel_id);
        self.send_interaction(v, rec)
    }

    #[allow(clippy::too_many_arguments)]
    fn build_options(
        &mut self,
        def: Option<&Value>,
        command: &str,
        subcommand: &[&str],
        options: Vec<(&str, Value)>,
        focused: Option<&str>,
        guild_id: Option<u64>,
        resolved: &mut Resolved,
    ) -> Vec<Value> {
        let full = std::iter::once(command)
            .chain(subcommand.iter().copied())
            .collect::<Vec<_>>()
            .join(" ");
        let mut level: Option<Vec<Value>> =
            def.map(|d| d["options"].as_array().cloned().unwrap_or_default());
        let mut kinds = Vec::new();
        for (i, name) in subcommand.iter().enumerate() {
            match &level {
                Some(defs) => {
                    let found = defs
                        .iter()
                        .find(|o| o["name"] == *name && matches!(o["type"].as_u64(), Some(1 | 2)))
                        .unwrap_or_else(|| {
                            panic!("discord_sim: /{full}: `{name}` is not a registered subcommand or group")
                        });
                    kinds.push(found["type"].as_u64().unwrap_or(1));
                    level = Some(found["options"].as_array().cloned().unwrap_or_default());
                }
                None => kinds.push(if subcommand.len() == 2 && i == 0 {
                    2
                } else {
                    1
                }),
            }
        }
        if let Some(defs) = &level {
            let subs: Vec<&str> = defs
                .iter()
                .filter(|o| matches!(o["type"].as_u64(), Some(1 | 2)))
                .filter_map(|o| o["name"].as_str())
                .collect();
            assert!(
                subs.is_empty(),
                "discord_sim: /{full} needs one of the subcommands {subs:?}"
            );
        }
        let mut leaves: Vec<Value> = Vec::new();
        for (name, value) in options {
            let odef = level.as_ref().map(|defs| {
                defs.iter()
                    .find(|o| o["name"] == name)
                    .cloned()
                    .unwrap_or_else(|| {
                        let declared: Vec<&str> =
                            defs.iter().filter_map(|o| o["name"].as_str()).collect();
                        panic!(
                            "discord_sim: /{full} has no option `{name}` (declared: {declared:?})"
                        )
                    })
            });
            let kind = odef
                .as_ref()
                .and_then(|o| o["type"].as_u64())
                .unwrap_or_else(|| infer_kind(&value));
            if focused == Some(name) {
                let text = match &value {
                    Value::String(s) => s.clone(),
                    other => other.to_string(),
                };
                leaves.push(json!({"name": name, "type": kind, "value": text, "focused": true}));
                continue;
            }
            if let Some(o) = &odef {
                check_constraints(&full, name, o, &value);
            }
            let v = self.option_value(&full, name, kind, &value, guild_id, resolved);
            leaves.push(json!({"name": name, "type": kind, "value": v}));
        }
        if let Some(f) = focused {
            if !leaves.iter().any(|l| l["name"] == f) {
                let kind = level
                    .as_ref()
                    .and_then(|defs| defs.iter().find(|o| o["name"] == f))
                    .map(|o| o["type"].as_u64().unwrap_or(3))
                    .unwrap_or_else(|| {
                        assert!(
                            level.is_none(),
                            "discord_sim: /{full} has no option `{f}` to focus"
                        );
                        3
                    });
                leaves.push(json!({"name": f, "type": kind, "value": "", "focused": true}));
            }
            if let Some(o) = level
                .as_ref()
                .and_then(|defs| defs.iter().find(|o| o["name"] == f))
            {
                assert!(
                    o["autocomplete"] == json!(true),
                    "discord_sim: /{full} option `{f}` is not registered with autocomplete"
                );
            }
        } else if let Some(defs) = &level {
            for d in defs {
                let name = d["name"].as_str().unwrap_or("");
                if d["required"] == json!(true) && !leaves.iter().any(|l| l["name"] == name) {
                    panic!("discord_sim: /{full} requires option `{name}` (Discord would not send it without)");
                }
            }
        }
        let mut opts = leaves;
        for (name, kind) in subcommand.iter().zip(kinds).rev() {
            opts = vec![json!({"name": name, "type": kind, "options": opts})];
        }
        opts
    }

    fn option_value(
        &mut self,
        full: &str,
        name: &str,
        kind: u64,
        value: &Value,
        guild_id: Option<u64>,
        resolved: &mut Resolved,
    ) -> Value {
        let what = format!("/{full} option `{name}` ({})", option_kind_name(kind));
        let bad = || -> ! { panic!("discord_sim: {what}: value {value} has the wrong type") };
        match kind {
            3 => Value::String(value.as_str().unwrap_or_else(|| bad()).to_string()),
            4 => json!(value.as_i64().unwrap_or_else(|| bad())),
            10 => json!(value.as_f64().unwrap_or_else(|| bad())),
            5 => json!(value.as_bool().unwrap_or_else(|| bad())),
            6 => {
                let id = snowflake_of(&what, value);
                self.resolve_user(id, guild_id, resolved);
                sf(id)
            }
            7 => {
                let id = snowflake_of(&what, value);
                let info = self.channel_info(id);
                let mut c = self.partial_channel_json(id, &info);
                c["permissions"] = json!(self.bot_permissions.to_string());
                resolved.channels.insert(id.to_string(), c);
                sf(id)
            }
            8 => {
                let id = snowflake_of(&what, value);
                let g =
                    guild_id.unwrap_or_else(|| panic!("discord_sim: {what}: roles need a guild"));
                resolved.roles.insert(id.to_string(), self.role_json(id, g));
                sf(id)
            }
            9 => {
                let id = snowflake_of(&what, value);
                // Known users are users; anything else in a guild is a role.
                let is_user = id == self.bot_user_id || self.users.keys().any(|(u, _)| *u == id);
                match guild_id {
                    Some(g) if !is_user => {
                        resolved.roles.insert(id.to_string(), self.role_json(id, g));
                    }
                    _ => self.resolve_user(id, guild_id, resolved),
                }
                sf(id)
            }
            11 => {
                let id = snowflake_of(&what, value);
                let (filename, data) = self.files.get(&id).cloned().unwrap_or_else(|| {
                    panic!("discord_sim: {what}: no attachment {id} (use add_attachment)")
                });
                let url = format!(
                    "{}/attachments/{id}/{}",
                    self.base_url,
                    super::fixtures::url_encode(&filename)
                );
                let att = Att {
                    id,
                    filename,
                    size: data.len(),
                    url,
                    description: None,
                };
                let mut a = attachment_json(&att);
                a["ephemeral"] = json!(true);
                resolved.attachments.insert(id.to_string(), a);
                sf(id)
            }
            _ => panic!("discord_sim: {what}: unsupported option type {kind}"),
        }
    }

    fn resolve_user(&mut self, id: u64, guild_id: Option<u64>, resolved: &mut Resolved) {
        resolved
            .users
            .insert(id.to_string(), user_json(id, id == self.bot_user_id));
        if let Some(g) = guild_id {
            let roles = self.users.get(&(id, Some(g))).cloned().unwrap_or_default();
            resolved
                .members
                .insert(id.to_string(), self.member_json(id, g, &roles, false));
        }
    }

    /// A button click or select menu choice on message `message_id`.
    pub(super) fn inject_component(
        &mut self,
        user: &SimUser,
        channel_id: u64,
        message_id: u64,
        custom_id: &str,
        values: Option<Vec<String>>,
    ) -> SimInteraction {
        let msg = self
            .messages
            .get(&message_id)
            .filter(|m| !m.deleted)
            .cloned()
            .unwrap_or_else(|| panic!("discord_sim: no message {message_id} to click on"));
        assert_eq!(
            msg.channel_id, channel_id,
            "discord_sim: message {message_id} is in channel {}, not {channel_id}",
            msg.channel_id
        );
        let component = msg
            .components
            .iter()
            .flat_map(|row| row["components"].as_array().cloned().unwrap_or_default())
            .find(|c| c["custom_id"] == custom_id)
            .unwrap_or_else(|| {
                panic!(
                    "discord_sim: message {message_id} has no component `{custom_id}`: {:?}",
                    msg.components
                )
            });
        assert!(
            component["disabled"] != json!(true),
            "discord_sim: component `{custom_id}` of message {message_id} is disabled; users cannot use it"
        );
        let data = match values {
            None => {
                assert_eq!(
                    component["type"].as_u64(),
                    Some(2),
                    "discord_sim: `{custom_id}` is not a button: {component}"
                );
                json!({"custom_id": custom_id, "component_type": 2})
            }
            Some(values) => {
                assert_eq!(
                    component["type"].as_u64(),
                    Some(3),
                    "discord_sim: `{custom_id}` is not a string select menu: {component}"
                );
                let allowed: Vec<&str> = component["options"]
                    .as_array()
                    .map(|o| o.iter().filter_map(|x| x["value"].as_str()).collect())
                    .unwrap_or_default();
                for v in &values {
                    assert!(
                        allowed.contains(&v.as_str()),
                        "discord_sim: `{v}` is not an option of `{custom_id}`"
                    );
                }
                let min = component["min_values"].as_u64().unwrap_or(1) as usize;
                let max = component["max_values"].as_u64().unwrap_or(1) as usize;
                assert!(
                    (min..=max).contains(&values.len()),
                    "discord_sim: `{custom_id}` takes {min}..={max} values, not {}",
                    values.len()
                );
                json!({"custom_id": custom_id, "component_type": 3, "values": values})
            }
        };
        let (id, token, mut v) = self.interaction_base(3, user, channel_id);
        v["data"] = data;
        v["message"] = self.message_json(&msg);
        let mut rec = self.new_rec(id, &token, 3, user, channel_id);
        rec.component_message = Some(message_id);
        self.send_interaction(v, rec)
    }

    /// A modal submit answering the modal the bot opened for `opened_by`.
    pub(super) fn inject_modal_submit(
        &mut self,
        user: &SimUser,
        opened_by: &SimInteraction,
        fields: Vec<(&str, &str)>,
    ) -> SimInteraction {
        let source = self
            .interactions
            .get(&opened_by.id)
            .cloned()
            .unwrap_or_else(|| panic!("discord_sim: unknown interaction {}", opened_by.id));
        let (modal_id, inputs) = source.modal.clone().unwrap_or_else(|| {
            panic!(
                "discord_sim: the bot opened no modal for interaction {}",
                opened_by.id
            )
        });
        let mut rows = Vec::new();
        for (field, value) in fields {
            assert!(
                inputs.iter().any(|i| i == field),
                "discord_sim: modal `{modal_id}` has no text input `{field}` (has {inputs:?})"
            );
            rows.push(
                json!({"type": 1, "components": [{"type": 4, "custom_id": field, "value": value}]}),
            );
        }
        let (id, token, mut v) = self.interaction_base(5, user, source.channel_id);
        v["data"] = json!({"custom_id": modal_id, "components": rows});
        if let Some(m) = source
            .component_message
            .and_then(|m| self.messages.get(&m))
            .cloned()
        {
            v["message"] = self.message_json(&m);
        }
        let mut rec = self.new_rec(id, &token, 5, user, source.channel_id);
        rec.modal_source_message = source.component_message;
        self.send_interaction(v, rec)
    }
}

/// What the Discord client enforces before sending: choices, ranges, lengths.
fn check_constraints(full: &str, name: &str, def: &Value, value: &Value) {
    if let Some(choices) = def["choices"].as_array().filter(|c| !c.is_empty()) {
        assert!(
            choices.iter().any(|c| &c["value"] == value),
            "discord_sim: /{full} option `{name}`: {value} is not one of the registered choices"
        );
    }
    if let Some(x) = value.as_f64() {
        if let Some(min) = def["min_value"].as_f64() {
            assert!(
                x >= min,
                "discord_sim: /{full} option `{name}`: {x} < min_value {min}"
            );
        }
        if let Some(max) = def["max_value"].as_f64() {
            assert!(
                x <= max,
                "discord_sim: /{full} option `{name}`: {x} > max_value {max}"
            );
        }
    }
    if let Some(s) = value.as_str() {
        let n = s.chars().count() as u64;
        if let Some(min) = def["min_length"].as_u64() {
            assert!(
                n >= min,
                "discord_sim: /{full} option `{name}`: shorter than min_length {min}"
            );
        }
        if let Some(max) = def["max_length"].as_u64() {
            assert!(
                n <= max,
                "discord_sim: /{full} option `{name}`: longer than max_length {max}"
            );
        }
    }
}
