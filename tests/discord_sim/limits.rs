//! Discord's payload limits, answered with Discord's error bodies.

use std::collections::HashSet;

use poise::serenity_prelude as serenity;
use serde_json::{json, Map, Value};

/// Discord's default upload limit, for each file of a request ("Uploading
/// Files" in Discord's API reference: 10 MiB without Nitro or boosts).
pub(super) const MAX_FILE_SIZE: usize = 10 * 1024 * 1024;
/// The largest request Discord takes when sending a message, files and
/// JSON together ("Create Message" in Discord's API reference: 25 MiB).
pub(super) const MAX_REQUEST_SIZE: usize = 25 * 1024 * 1024;

/// A refused request: status, Discord error code and body, plus readable
/// details for the violation list.
#[derive(Debug)]
pub(super) struct Problem {
    pub(super) status: u16,
    pub(super) code: u64,
    pub(super) message: String,
    pub(super) errors: Option<Value>,
    pub(super) details: Vec<String>,
}

impl Problem {
    pub(super) fn new(status: u16, code: u64, message: &str) -> Problem {
        Problem {
            status,
            code,
            message: message.to_string(),
            errors: None,
            details: vec![message.to_string()],
        }
    }

    pub(super) fn body(&self) -> Value {
        let mut v = json!({"message": self.message, "code": self.code});
        if let Some(e) = &self.errors {
            v["errors"] = e.clone();
        }
        v
    }
}

/// Accumulates `errors` of a 50035 "Invalid Form Body" answer.
#[derive(Default)]
pub(super) struct FormErrors {
    root: Map<String, Value>,
    details: Vec<String>,
}

impl FormErrors {
    pub(super) fn add(&mut self, path: &[String], code: &str, message: String) {
        let mut cur = &mut self.root;
        for key in path {
            let entry = cur.entry(key.clone()).or_insert_with(|| json!({}));
            cur = entry.as_object_mut().expect("error tree node");
        }
        let errs = cur.entry("_errors").or_insert_with(|| json!([]));
        errs.as_array_mut()
            .expect("_errors array")
            .push(json!({"code": code, "message": message}));
        let where_ = if path.is_empty() {
            "(body)".to_string()
        } else {
            path.join(".")
        };
        self.details.push(format!("{where_}: {message}"));
    }

    fn max_len(&mut self, path: &[String], s: &str, max: usize) {
        let n = s.chars().count();
        if n > max {
            self.add(
                path,
                "BASE_TYPE_MAX_LENGTH",
                format!("Must be {max} or fewer in length. (is {n})"),
            );
        }
    }

    fn len_between(&mut self, path: &[String], s: &str, min: usize, max: usize) {
        let n = s.chars().count();
        if n < min || n > max {
            self.add(
                path,
                "BASE_TYPE_BAD_LENGTH",
                format!("Must be between {min} and {max} in length. (is {n})"),
            );
        }
    }

    pub(super) fn into_result(self) -> Result<(), Problem> {
        if self.details.is_empty() {
            return Ok(());
        }
        Err(Problem {
            status: 400,
            code: 50035,
            message: "Invalid Form Body".into(),
            errors: Some(Value::Object(self.root)),
            details: self.details,
        })
    }
}

fn p(parts: &[&str]) -> Vec<String> {
    parts.iter().map(|s| s.to_string()).collect()
}

fn pi(prefix: &[String], rest: &[&str]) -> Vec<String> {
    let mut v = prefix.to_vec();
    v.extend(rest.iter().map(|s| s.to_string()));
    v
}

fn str_of<'a>(v: &'a Value, key: &str) -> Option<&'a str> {
    v.get(key).and_then(Value::as_str)
}

/// Checks a message body (create or edit, after merging an edit into the
/// message): `files` are the sizes of uploaded files, `attachment_count`
/// the attachments the message will have.
pub(super) fn message(
    body: &Value,
    files: &[usize],
    attachment_count: usize,
    must_not_be_empty: bool,
) -> Result<(), Problem> {
    if let Some(size) = files.iter().find(|s| **s > MAX_FILE_SIZE) {
        let mut pb = Problem::new(413, 40005, "Request entity too large");
        pb.details = vec![format!("file of {size} bytes exceeds {MAX_FILE_SIZE}")];
        return Err(pb);
    }
    let mut fe = FormErrors::default();
    let content = match body.get("content") {
        Some(Value::String(s)) => s.as_str(),
        None | Some(Value::Null) => "",
        Some(other) => {
            fe.add(
                &p(&["content"]),
                "BASE_TYPE_STRING",
                format!("Must be a string. (is {other})"),
            );
            ""
        }
    };
    fe.max_len(&p(&["content"]), content, 2000);

    let embeds = body
        .get("embeds")
        .and_then(Value::as_array)
        .cloned()
        .unwrap_or_default();
    embeds_check(&mut fe, &embeds);
    let components = body
        .get("components")
        .and_then(Value::as_array)
        .cloned()
        .unwrap_or_default();
    components_check(&mut fe, &components);
    if attachment_count > 10 {
        fe.add(
            &p(&["attachments"]),
            "BASE_TYPE_MAX_LENGTH",
            format!("Must be 10 or fewer in length. (is {attachment_count})"),
        );
    }
    if let Some(am) = body.get("allowed_mentions").filter(|v| !v.is_null()) {
        allowed_mentions_check(&mut fe, am);
    }
    fe.into_result()?;
    if must_not_be_empty
        && content.is_empty()
        && embeds.is_empty()
        && components.is_empty()
        && attachment_count == 0
        && body
            .get("sticker_ids")
            .and_then(Value::as_array)
            .is_none_or(Vec::is_empty)
        && body.get("poll").is_none_or(Value::is_null)
    {
        return Err(Problem::new(400, 50006, "Cannot send an empty message"));
    }
    Ok(())
}

fn embeds_check(fe: &mut FormErrors, embeds: &[Value]) {
    if embeds.len() > 10 {
        fe.add(
            &p(&["embeds"]),
            "BASE_TYPE_MAX_LENGTH",
            format!("Must be 10 or fewer in length. (is {})", embeds.len()),
        );
    }
    let mut total = 0usize;
    for (i, e) in embeds.iter().enumerate() {
        let at = p(&["embeds", &i.to_string()]);
        if let Err(err) = serde_json::from_value::<serenity::Embed>(e.clone()) {
            fe.add(
                &at,
                "MODEL_TYPE_CONVERT",
                format!("Not an embed serenity can read: {err}"),
            );
            continue;
        }
        let mut count = |path: Vec<String>, s: Option<&str>, max: usize, fe: &mut FormErrors| {
            if let Some(s) = s {
                fe.max_len(&path, s, max);
                total += s.chars().count();
            }
        };
        count(pi(&at, &["title"]), str_of(e, "title"), 256, fe);
        count(
            pi(&at, &["description"]),
            str_of(e, "description"),
            4096,
            fe,
        );
        count(
            pi(&at, &["footer", "text"]),
            e.get("footer").and_then(|f| str_of(f, "text")),
            2048,
            fe,
        );
        count(
            pi(&at, &["author", "name"]),
            e.get("author").and_then(|a| str_of(a, "name")),
            256,
            fe,
        );
        let fields = e
            .get("fields")
            .and_then(Value::as_array)
            .cloned()
            .unwrap_or_default();
        if fields.len() > 25 {
            fe.add(
                &pi(&at, &["fields"]),
                "BASE_TYPE_MAX_LENGTH",
                format!("Must be 25 or fewer in length. (is {})", fields.len()),
            );
        }
        for (j, f) in fields.iter().enumerate() {
            let fp = pi(&at, &["fields", &j.to_string()]);
            for (key, max) in [("name", 256), ("value", 1024)] {
                let s = str_of(f, key).unwrap_or("");
                if s.is_empty() {
                    fe.add(
                        &pi(&fp, &[key]),
                        "BASE_TYPE_REQUIRED",
                        "This field is required".into(),
                    );
                }
                count(pi(&fp, &[key]), Some(s), max, fe);
            }
        }
    }
    if total > 6000 {
        fe.add(
            &p(&["embeds"]),
            "BASE_TYPE_MAX_LENGTH",
            format!("Embed size exceeds maximum size of 6000 (is {total})"),
        );
    }
}

fn components_check(fe: &mut FormErrors, rows: &[Value]) {
    if rows.len() > 5 {
        fe.add(
            &p(&["components"]),
            "BASE_TYPE_MAX_LENGTH",
            format!("Must be 5 or fewer in length. (is {})", rows.len()),
        );
    }
    let mut seen = HashSet::new();
    for (i, row) in rows.iter().enumerate() {
        let at = p(&["components", &i.to_string()]);
        if row.get("type").and_then(Value::as_u64) != Some(1) {
            fe.add(
                &pi(&at, &["type"]),
                "COMPONENT_TYPE_INVALID",
                "Top-level components must be action rows".into(),
            );
            continue;
        }
        if let Err(err) = serde_json::from_value::<serenity::ActionRow>(row.clone()) {
            fe.add(
                &at,
                "MODEL_TYPE_CONVERT",
                format!("Not an action row serenity can read: {err}"),
            );
            continue;
        }
        let comps = row
            .get("components")
            .and_then(Value::as_array)
            .cloned()
            .unwrap_or_default();
        if comps.is_empty() {
            fe.add(
                &pi(&at, &["components"]),
                "BASE_TYPE_MIN_LENGTH",
                "Must be 1 or more in length.".into(),
            );
        }
        if comps.len() > 5 {
            fe.add(
                &pi(&at, &["components"]),
                "BASE_TYPE_MAX_LENGTH",
                format!("Must be 5 or fewer in length. (is {})", comps.len()),
            );
        }
        let has_select = comps
            .iter()
            .any(|c| matches!(c["type"].as_u64(), Some(3 | 5 | 6 | 7 | 8)));
        if has_select && comps.len() > 1 {
            fe.add(
                &pi(&at, &["components"]),
                "COMPONENT_LAYOUT_WIDTH_EXCEEDED",
                "A select menu must be alone in its action row".into(),
            );
        }
        for (j, c) in comps.iter().enumerate() {
            let cp = pi(&at, &["components", &j.to_string()]);
            let custom_id = str_of(c, "custom_id");
            if let Some(id) = custom_id {
                fe.len_between(&pi(&cp, &["custom_id"]), id, 1, 100);
                if !seen.insert(id.to_string()) {
                    fe.add(
                        &pi(&cp, &["custom_id"]),
                        "COMPONENT_CUSTOM_ID_DUPLICATED",
                        format!("Component custom id cannot be duplicated ({id})"),
                    );
                }
            }
            match c["type"].as_u64() {
                Some(2) => {
                    let style = c["style"].as_u64().unwrap_or(0);
                    if let Some(label) = str_of(c, "label") {
                        fe.max_len(&pi(&cp, &["label"]), label, 80);
                    }
                    if str_of(c, "label").is_none_or(str::is_empty)
                        && c.get("emoji").is_none_or(Value::is_null)
                    {
                        fe.add(
                            &pi(&cp, &["label"]),
                            "BASE_TYPE_REQUIRED",
                            "A button needs a label or an emoji".into(),
                        );
                    }
                    match style {
                        5 => {
                            if str_of(c, "url").is_none() || custom_id.is_some() {
                                fe.add(
                                    &cp,
                                    "BUTTON_COMPONENT_INVALID",
                                    "Link buttons need a url and no custom_id".into(),
                                );
                            }
                        }
                        6 => {}
                        1..=4 => {
                            if custom_id.is_none() {
                                fe.add(
                                    &pi(&cp, &["custom_id"]),
                                    "BASE_TYPE_REQUIRED",
                                    "This field is required".into(),
                                );
                            }
                        }
                        _ => fe.add(
                            &pi(&cp, &["style"]),
                            "BASE_TYPE_CHOICES",
                            format!("Invalid button style {style}"),
                        ),
                    }
                }
                Some(3 | 5 | 6 | 7 | 8) => {
                    if custom_id.is_none() {
                        fe.add(
                            &pi(&cp, &["custom_id"]),
                            "BASE_TYPE_REQUIRED",
                            "This field is required".into(),
                        );
                    }
                    if let Some(ph) = str_of(c, "placeholder") {
                        fe.max_len(&pi(&cp, &["placeholder"]), ph, 150);
                    }
                    if c["type"].as_u64() == Some(3) {
                        let opts = c["options"].as_array().cloned().unwrap_or_default();
                        if opts.is_empty() || opts.len() > 25 {
                            fe.add(
                                &pi(&cp, &["options"]),
                                "BASE_TYPE_BAD_LENGTH",
                                format!("Must be between 1 and 25 in length. (is {})", opts.len()),
                            );
                        }
                        for (k, o) in opts.iter().enumerate() {
                            let op = pi(&cp, &["options", &k.to_string()]);
                            fe.len_between(
                                &pi(&op, &["label"]),
                                str_of(o, "label").unwrap_or(""),
                                1,
                                100,
                            );
                            fe.len_between(
                                &pi(&op, &["value"]),
                                str_of(o, "value").unwrap_or(""),
                                1,
                                100,
                            );
                            if let Some(d) = str_of(o, "description") {
                                fe.max_len(&pi(&op, &["description"]), d, 100);
                            }
                        }
                    }
                }
                Some(4) => fe.add(
                    &pi(&cp, &["type"]),
                    "COMPONENT_TYPE_INVALID",
                    "Text inputs are only allowed in modals".into(),
                ),
                other => fe.add(
                    &pi(&cp, &["type"]),
                    "COMPONENT_TYPE_INVALID",
                    format!("Invalid component type {other:?}"),
                ),
            }
        }
    }
}

fn allowed_mentions_check(fe: &mut FormErrors, am: &Value) {
    let parse: Vec<&str> = am
        .get("parse")
        .and_then(Value::as_array)
        .map(|a| a.iter().filter_map(Value::as_str).collect())
        .unwrap_or_default();
    for (kind, list) in [("users", "users"), ("roles", "roles")] {
        let listed = am
            .get(list)
            .and_then(Value::as_array)
            .is_some_and(|a| !a.is_empty());
        if parse.contains(&kind) && listed {
            fe.add(
                &p(&["allowed_mentions", list]),
                "MESSAGE_ALLOWED_MENTIONS_PARSE_EXCLUSIVE",
                format!("parse:[\"{kind}\"] and {list}: [ids] are mutually exclusive."),
            );
        }
        if am
            .get(list)
            .and_then(Value::as_array)
            .is_some_and(|a| a.len() > 100)
        {
            fe.add(
                &p(&["allowed_mentions", list]),
                "BASE_TYPE_MAX_LENGTH",
                "Must be 100 or fewer in length.".into(),
            );
        }
    }
}

/// Autocomplete result (callback type 8).
pub(super) fn autocomplete(data: &Value) -> Result<(), Problem> {
    let mut fe = FormErrors::default();
    let choices = data
        .get("choices")
        .and_then(Value::as_array)
        .cloned()
        .unwrap_or_default();
    if choices.len() > 25 {
        fe.add(
            &p(&["data", "choices"]),
            "BASE_TYPE_MAX_LENGTH",
            format!("Must be 25 or fewer in length. (is {})", choices.len()),
        );
    }
    for (i, c) in choices.iter().enumerate() {
        let at = p(&["data", "choices", &i.to_string()]);
        fe.len_between(&pi(&at, &["name"]), str_of(c, "name").unwrap_or(""), 1, 100);
        match c.get("value") {
            Some(Value::String(s)) => fe.max_len(&pi(&at, &["value"]), s, 100),
            Some(Value::Number(_)) => {}
            _ => fe.add(
                &pi(&at, &["value"]),
                "BASE_TYPE_REQUIRED",
                "This field is required".into(),
            ),
        }
    }
    fe.into_result()
}

/// Modal (callback type 9).
pub(super) fn modal(data: &Value) -> Result<(), Problem> {
    let mut fe = FormErrors::default();
    fe.len_between(
        &p(&["data", "title"]),
        str_of(data, "title").unwrap_or(""),
        1,
        45,
    );
    fe.len_between(
        &p(&["data", "custom_id"]),
        str_of(data, "custom_id").unwrap_or(""),
        1,
        100,
    );
    let rows = data
        .get("components")
        .and_then(Value::as_array)
        .cloned()
        .unwrap_or_default();
    if rows.is_empty() || rows.len() > 5 {
        fe.add(
            &p(&["data", "components"]),
            "BASE_TYPE_BAD_LENGTH",
            format!("Must be between 1 and 5 in length. (is {})", rows.len()),
        );
    }
    for (i, row) in rows.iter().enumerate() {
        let at = p(&["data", "components", &i.to_string()]);
        let comps = row
            .get("components")
            .and_then(Value::as_array)
            .cloned()
            .unwrap_or_default();
        if row["type"].as_u64() != Some(1)
            || comps.len() != 1
            || comps[0]["type"].as_u64() != Some(4)
        {
            fe.add(
                &at,
                "COMPONENT_TYPE_INVALID",
                "Each modal row holds exactly one text input".into(),
            );
            continue;
        }
        let c = &comps[0];
        let cp = pi(&at, &["components", "0"]);
        fe.len_between(
            &pi(&cp, &["custom_id"]),
            str_of(c, "custom_id").unwrap_or(""),
            1,
            100,
        );
        fe.len_between(
            &pi(&cp, &["label"]),
            str_of(c, "label").unwrap_or(""),
            1,
            45,
        );
        if !matches!(c["style"].as_u64(), Some(1 | 2)) {
            fe.add(
                &pi(&cp, &["style"]),
                "BASE_TYPE_CHOICES",
                "Value must be one of (1, 2).".into(),
            );
        }
    }
    fe.into_result()
}

fn command_name_ok(name: &str) -> bool {
    let n = name.chars().count();
    (1..=32).contains(&n)
        && name
            .chars()
            .all(|c| c == '-' || c == '_' || c.is_alphanumeric())
        && name.to_lowercase() == name
}

/// A PUT of application commands (the whole list).
pub(super) fn commands(list: &[Value]) -> Result<(), Problem> {
    let mut fe = FormErrors::default();
    if list.len() > 100 {
        fe.add(
            &[],
            "BASE_TYPE_MAX_LENGTH",
            format!("Must be 100 or fewer in length. (is {})", list.len()),
        );
    }
    let mut names = HashSet::new();
    for (i, c) in list.iter().enumerate() {
        let at = vec![i.to_string()];
        let kind = c.get("type").and_then(Value::as_u64).unwrap_or(1);
        let name = str_of(c, "name").unwrap_or("");
        if !names.insert((kind, name.to_string())) {
            fe.add(
                &pi(&at, &["name"]),
                "APPLICATION_COMMANDS_DUPLICATE_NAME",
                format!("Application command names must be unique ({name})"),
            );
        }
        if kind == 1 {
            if !command_name_ok(name) {
                fe.add(
                    &pi(&at, &["name"]),
                    "APPLICATION_COMMAND_INVALID_NAME",
                    format!("Command name is invalid ({name:?})"),
                );
            }
            fe.len_between(
                &pi(&at, &["description"]),
                str_of(c, "description").unwrap_or(""),
                1,
                100,
            );
            let opts = c
                .get("options")
                .and_then(Value::as_array)
                .cloned()
                .unwrap_or_default();
            options_check(&mut fe, &pi(&at, &["options"]), &opts, 0);
        } else {
            fe.len_between(&pi(&at, &["name"]), name, 1, 32);
            if str_of(c, "description").is_some_and(|d| !d.is_empty()) {
                fe.add(
                    &pi(&at, &["description"]),
                    "BASE_TYPE_MAX_LENGTH",
                    "Context menu commands have no description".into(),
                );
            }
        }
    }
    fe.into_result()
}

/// Options at one level; `depth` 0 = command, 1 = in a group or subcommand, ...
fn options_check(fe: &mut FormErrors, at: &[String], opts: &[Value], depth: u8) {
    if opts.len() > 25 {
        fe.add(
            at,
            "BASE_TYPE_MAX_LENGTH",
            format!("Must be 25 or fewer in length. (is {})", opts.len()),
        );
    }
    let is_sub = |o: &Value| matches!(o["type"].as_u64(), Some(1 | 2));
    let subs = opts.iter().filter(|o| is_sub(o)).count();
    if subs > 0 && subs < opts.len() {
        fe.add(
            at,
            "APPLICATION_COMMAND_OPTIONS_TYPE_INVALID",
            "Subcommands cannot be mixed with other options".into(),
        );
    }
    let mut names = HashSet::new();
    let mut optional_seen = false;
    for (i, o) in opts.iter().enumerate() {
        let op = pi(at, &[&i.to_string()]);
        let name = str_of(o, "name").unwrap_or("");
        if !command_name_ok(name) {
            fe.add(
                &pi(&op, &["name"]),
                "APPLICATION_COMMAND_INVALID_NAME",
                format!("Option name is invalid ({name:?})"),
            );
        }
        if !names.insert(name.to_string()) {
            fe.add(
                &pi(&op, &["name"]),
                "APPLICATION_COMMAND_OPTIONS_NAME_ALREADY_EXISTS",
                format!("Option names must be unique ({name})"),
            );
        }
        fe.len_between(
            &pi(&op, &["description"]),
            str_of(o, "description").unwrap_or(""),
            1,
            100,
        );
        let kind = o["type"].as_u64().unwrap_or(0);
        match kind {
            1 | 2 => {
                let allowed = if kind == 2 { depth == 0 } else { depth <= 1 };
                if !allowed {
                    fe.add(
                        &pi(&op, &["type"]),
                        "APPLICATION_COMMAND_OPTIONS_TYPE_INVALID",
                        "Subcommands nest at most group > subcommand".into(),
                    );
                }
                let inner = o
                    .get("options")
                    .and_then(Value::as_array)
                    .cloned()
                    .unwrap_or_default();
                if kind == 2 && inner.iter().any(|x| x["type"].as_u64() != Some(1)) {
                    fe.add(
                        &pi(&op, &["options"]),
                        "APPLICATION_COMMAND_OPTIONS_TYPE_INVALID",
                        "Groups only hold subcommands".into(),
                    );
                }
                options_check(fe, &pi(&op, &["options"]), &inner, depth + 1);
            }
            3..=11 => {
                let required = o["required"] == json!(true);
                if required && optional_seen {
                    fe.add(
                        &pi(&op, &["required"]),
                        "APPLICATION_COMMAND_OPTIONS_REQUIRED_INVALID",
                        "Required options must be placed before non-required options".into(),
                    );
                }
                optional_seen |= !required;
                let choices = o
                    .get("choices")
                    .and_then(Value::as_array)
                    .cloned()
                    .unwrap_or_default();
                if choices.len() > 25 {
                    fe.add(
                        &pi(&op, &["choices"]),
                        "BASE_TYPE_MAX_LENGTH",
                        format!("Must be 25 or fewer in length. (is {})", choices.len()),
                    );
                }
                if !choices.is_empty() && o["autocomplete"] == json!(true) {
                    fe.add(
                        &pi(&op, &["autocomplete"]),
                        "APPLICATION_COMMAND_OPTION_AUTOCOMPLETE_AND_CHOICES",
                        "Autocomplete cannot be set with choices".into(),
                    );
                }
                for (k, ch) in choices.iter().enumerate() {
                    let cp = pi(&op, &["choices", &k.to_string()]);
                    fe.len_between(
                        &pi(&cp, &["name"]),
                        str_of(ch, "name").unwrap_or(""),
                        1,
                        100,
                    );
                    if let Some(s) = str_of(ch, "value") {
                        fe.max_len(&pi(&cp, &["value"]), s, 100);
                    }
                }
            }
            _ => fe.add(
                &pi(&op, &["type"]),
                "BASE_TYPE_CHOICES",
                format!("Invalid option type {kind}"),
            ),
        }
    }
}
