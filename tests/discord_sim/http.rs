//! The REST API under /api/v10, plus the attachment CDN under /attachments.

use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use axum::body::{Body, Bytes};
use axum::extract::{DefaultBodyLimit, State as AxState};
use axum::http::{HeaderMap, HeaderValue, Method, StatusCode, Uri};
use axum::response::{IntoResponse, Response};
use axum::routing::any;
use axum::Router;
use poise::serenity_prelude as serenity;
use serde_json::{json, Value};

use super::buckets::{bucket_hash, Admission, Headers};
use super::fixtures::{content_type_for, must_parse, sf, user_json};
use super::limits::{self, FormErrors, Problem};
use super::{
    gateway, lock, Att, ChannelInfo, Msg, Origin, RecordedRequest, Shared, State,
    INTERACTION_DEADLINE, SIM_TOKEN,
};

/// Flags a bot may set on a new message: SUPPRESS_EMBEDS, EPHEMERAL
/// (interactions only), SUPPRESS_NOTIFICATIONS.
const SETTABLE_FLAGS: u64 = 4 | 64 | 4096;
const FLAG_EPHEMERAL: u64 = 64;
const FLAG_LOADING: u64 = 128;
/// Slack for timer granularity when checking that the bot waited retry_after.
const RETRY_SLACK: Duration = Duration::from_millis(5);

pub(super) fn router(shared: Shared) -> Router {
    Router::new()
        .route("/gateway-ws", any(gateway::ws_handler))
        .fallback(api_handler)
        .layer(DefaultBodyLimit::disable())
        .with_state(shared)
}

struct Upload {
    /// n of a `files[n]` part.
    index: Option<u64>,
    filename: String,
    data: Vec<u8>,
}

struct Req {
    method: String,
    path: String,
    query: Option<String>,
    auth: Option<String>,
    body: Option<Value>,
    files: Vec<Upload>,
    body_error: Option<String>,
    /// Bytes of the request body as sent.
    body_len: usize,
}

impl Req {
    fn what(&self) -> String {
        format!("{} {}", self.method, self.path)
    }

    fn json(&self) -> Value {
        self.body.clone().unwrap_or(Value::Null)
    }

    fn sizes(&self) -> Vec<usize> {
        self.files.iter().map(|f| f.data.len()).collect()
    }

    fn query_param(&self, key: &str) -> Option<String> {
        self.query.as_deref()?.split('&').find_map(|kv| {
            let (k, v) = kv.split_once('=')?;
            (k == key).then(|| v.to_string())
        })
    }
}

pub(super) struct Reply {
    status: u16,
    body: Option<Value>,
    raw: Option<(Vec<u8>, &'static str)>,
    headers: Vec<(&'static str, String)>,
}

impl Reply {
    fn json(status: u16, body: Value) -> Reply {
        Reply {
            status,
            body: Some(body),
            raw: None,
            headers: Vec::new(),
        }
    }

    fn no_content() -> Reply {
        Reply {
            status: 204,
            body: None,
            raw: None,
            headers: Vec::new(),
        }
    }

    fn error(status: u16, code: u64, message: &str) -> Reply {
        Reply::json(status, json!({"message": message, "code": code}))
    }

    fn problem(p: &Problem) -> Reply {
        Reply::json(p.status, p.body())
    }

    fn not_found() -> Reply {
        Reply::error(404, 0, "404: Not Found")
    }
}

impl IntoResponse for Reply {
    fn into_response(self) -> Response {
        let (body, ctype) = match (self.raw, self.body) {
            (Some((bytes, ctype)), _) => (Body::from(bytes), Some(ctype)),
            (None, Some(v)) => (Body::from(v.to_string()), Some("application/json")),
            (None, None) => (Body::empty(), None),
        };
        let mut resp = Response::new(body);
        *resp.status_mut() =
            StatusCode::from_u16(self.status).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR);
        if let Some(ctype) = ctype {
            resp.headers_mut()
                .insert("content-type", HeaderValue::from_static(ctype));
        }
        for (k, v) in self.headers {
            if let Ok(v) = HeaderValue::from_str(&v) {
                resp.headers_mut().insert(k, v);
            }
        }
        resp
    }
}

fn parse_request(method: &Method, uri: &Uri, headers: &HeaderMap, body: &[u8]) -> Req {
    let mut req = Req {
        method: method.as_str().to_string(),
        path: uri.path().to_string(),
        query: uri.query().map(str::to_string),
        auth: headers
            .get("authorization")
            .and_then(|v| v.to_str().ok())
            .map(str::to_string),
        body: None,
        files: Vec::new(),
        body_error: None,
        body_len: body.len(),
    };
    let ctype = headers
        .get("content-type")
        .and_then(|v| v.to_str().ok())
        .unwrap_or("");
    if let Some(boundary) = super::multipart::boundary(ctype) {
        match super::multipart::parse(body, &boundary) {
            Ok(parts) => {
                for part in parts {
                    if part.name == "payload_json" {
                        match serde_json::from_slice(&part.data) {
                            Ok(v) => req.body = Some(v),
                            Err(e) => {
                                req.body_error = Some(format!("payload_json is not JSON: {e}"))
                            }
                        }
                    } else if let Some(filename) = part.filename {
                        let index = part
                            .name
                            .strip_prefix("files[")
                            .and_then(|s| s.strip_suffix(']'))
                            .and_then(|n| n.parse().ok());
                        req.files.push(Upload {
                            index,
                            filename,
                            data: part.data,
                        });
                    } else {
                        req.body_error =
                            Some(format!("unexpected multipart field `{}`", part.name));
                    }
                }
            }
            Err(e) => req.body_error = Some(format!("malformed multipart body: {e}")),
        }
    } else if !body.is_empty() {
        match serde_json::from_slice(body) {
            Ok(v) => req.body = Some(v),
            Err(e) => req.body_error = Some(format!("body is not JSON ({e})")),
        }
    }
    req
}

async fn api_handler(
    AxState(shared): AxState<Shared>,
    method: Method,
    uri: Uri,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    let req = parse_request(&method, &uri, &headers, &body);
    let reply = {
        let mut st = lock(&shared);
        let reply = st.handle(&req);
        st.requests.push(RecordedRequest {
            method: req.method.clone(),
            path: req.path.clone(),
            query: req.query.clone(),
            status: reply.status,
            body: req.body.clone(),
            files: req
                .files
                .iter()
                .map(|f| (f.filename.clone(), f.data.len()))
                .collect(),
            time: Instant::now(),
        });
        reply
    };
    reply.into_response()
}

fn parse_id(s: &str) -> Option<u64> {
    s.parse().ok()
}

/// The bucket of message writes that forced 429s (`rate_limit_next`) hit.
fn rate_bucket(method: &str, segs: &[&str]) -> Option<String> {
    match (method, segs) {
        ("POST", ["channels", c, "messages"]) | ("PATCH", ["channels", c, "messages", _]) => {
            Some(format!("channels/{c}/messages"))
        }
        ("POST", ["webhooks", a, t]) | ("PATCH", ["webhooks", a, t, "messages", _]) => {
            Some(format!("webhooks/{a}/{t}"))
        }
        _ => None,
    }
}

fn epoch_secs() -> f64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_secs_f64())
        .unwrap_or(0.0)
}

fn ratelimit_headers(h: &Headers) -> Vec<(&'static str, String)> {
    vec![
        ("x-ratelimit-limit", h.limit.to_string()),
        ("x-ratelimit-remaining", h.remaining.to_string()),
        (
            "x-ratelimit-reset",
            format!("{:.3}", epoch_secs() + h.reset_after),
        ),
        ("x-ratelimit-reset-after", format!("{:.3}", h.reset_after)),
        ("x-ratelimit-bucket", h.bucket.clone()),
    ]
}

fn reply_429(headers: &Headers, retry_after: f64) -> Reply {
    let mut r = Reply::json(
        429,
        json!({"message": "You are being rate limited.", "retry_after": retry_after, "global": false}),
    );
    r.headers = ratelimit_headers(headers);
    r.headers.push(("x-ratelimit-scope", "user".to_string()));
    r.headers
        .push(("retry-after", format!("{}", retry_after.ceil() as u64)));
    r
}

/// The headers of a forced 429 (`rate_limit_next`) on a message bucket.
fn forced_headers(bucket: &str, retry_after: f64) -> Headers {
    Headers {
        bucket: bucket_hash(bucket),
        limit: 5,
        remaining: 0,
        reset_after: retry_after,
    }
}

fn content_of(v: &Value) -> Option<String> {
    match v.get("content") {
        Some(Value::String(s)) => Some(s.clone()),
        Some(Value::Null) => Some(String::new()),
        _ => None,
    }
}

fn array_of(v: &Value, key: &str) -> Option<Vec<Value>> {
    match v.get(key) {
        Some(Value::Array(a)) => Some(a.clone()),
        Some(Value::Null) => Some(Vec::new()),
        _ => None,
    }
}

impl State {
    fn unexpected(&mut self, req: &Req) -> Reply {
        self.violation(format!("unexpected request {}", req.what()));
        Reply::not_found()
    }

    /// Records a violation for a refused request and answers like Discord.
    fn refuse(&mut self, req: &Req, p: &Problem) -> Reply {
        for d in &p.details {
            self.violation(format!("{}: {d}", req.what()));
        }
        Reply::problem(p)
    }

    fn handle(&mut self, req: &Req) -> Reply {
        if let Some(rest) = req.path.strip_prefix("/attachments/") {
            return self.serve_attachment(req, rest);
        }
        let Some(api) = req.path.strip_prefix("/api/v10") else {
            return self.unexpected(req);
        };
        let segs: Vec<&str> = api.trim_start_matches('/').split('/').collect();
        if let Some(e) = &req.body_error {
            self.violation(format!("{}: {e}", req.what()));
            return Reply::error(400, 50109, "The request body contains invalid JSON.");
        }
        let needs_auth = !matches!(segs.first(), Some(&"webhooks") | Some(&"interactions"));
        if needs_auth && req.auth.as_deref() != Some(format!("Bot {SIM_TOKEN}").as_str()) {
            self.violation(format!("{}: missing or wrong bot token", req.what()));
            return Reply::error(401, 0, "401: Unauthorized");
        }
        if req.body_len > limits::MAX_REQUEST_SIZE {
            let mut p = Problem::new(413, 40005, "Request entity too large");
            p.details = vec![format!(
                "request of {} bytes exceeds Discord's {} bytes per request",
                req.body_len,
                limits::MAX_REQUEST_SIZE
            )];
            return self.refuse(req, &p);
        }
        let bucket = rate_bucket(&req.method, &segs);
        if let Some(bucket) = &bucket {
            if let Some(r) = self.rate_limited(bucket, req) {
                return r;
            }
        }
        let headers = match self.buckets.admit(&req.method, &segs, Instant::now()) {
            Admission::Allowed(headers) => headers,
            Admission::Exceeded(headers, retry_after, limit) => {
                self.violation(format!(
                    "{}: sent after X-RateLimit-Remaining: 0, {:.0} ms before its bucket reset \
                     ({} requests per {:?}); Discord answers 429",
                    req.what(),
                    retry_after * 1000.0,
                    limit.limit,
                    limit.window
                ));
                return reply_429(&headers, retry_after);
            }
        };
        let mut reply = self.route(req, &segs);
        reply.headers.extend(ratelimit_headers(&headers));
        reply
    }

    fn rate_limited(&mut self, bucket: &str, req: &Req) -> Option<Reply> {
        let now = Instant::now();
        if let Some((until, _)) = self.blocked.get(bucket).copied() {
            if now + RETRY_SLACK < until {
                let left = (until - now).as_secs_f64();
                self.violation(format!(
                    "{}: retried {:.0} ms before the 429's retry_after elapsed",
                    req.what(),
                    left * 1000.0
                ));
                return Some(reply_429(&forced_headers(bucket, left), left));
            }
            self.blocked.remove(bucket);
        }
        if let Some((count, retry_after)) = self.rate_limit {
            if count > 0 {
                self.rate_limit = (count > 1).then_some((count - 1, retry_after));
                self.blocked.insert(
                    bucket.to_string(),
                    (now + Duration::from_secs_f64(retry_after), retry_after),
                );
                return Some(reply_429(&forced_headers(bucket, retry_after), retry_after));
            }
        }
        None
    }

    fn serve_attachment(&mut self, req: &Req, rest: &str) -> Reply {
        let id = rest.split('/').next().and_then(parse_id);
        match (req.method.as_str(), id.and_then(|id| self.files.get(&id))) {
            ("GET", Some((filename, data))) => Reply {
                status: 200,
                body: None,
                raw: Some((data.clone(), content_type_for(filename))),
                headers: Vec::new(),
            },
            _ => self.unexpected(req),
        }
    }

    fn route(&mut self, req: &Req, segs: &[&str]) -> Reply {
        match (req.method.as_str(), segs) {
            ("GET", ["gateway"]) => {
                let v = json!({"url": self.gateway_url()});
                must_parse::<serenity::Gateway>("GET /gateway", &v);
                Reply::json(200, v)
            }
            ("GET", ["gateway", "bot"]) => {
                let v = json!({
                    "url": self.gateway_url(),
                    "shards": 1,
                    "session_start_limit": {"total": 1000, "remaining": 999, "reset_after": 14_400_000, "max_concurrency": 1},
                });
                must_parse::<serenity::BotGateway>("GET /gateway/bot", &v);
                Reply::json(200, v)
            }
            ("GET", ["users", "@me"]) => Reply::json(200, self.current_user_json()),
            ("POST", ["users", "@me", "channels"]) => self.open_dm(req),
            ("GET", ["users", uid]) => match parse_id(uid) {
                Some(uid) => Reply::json(200, user_json(uid, uid == self.bot_user_id)),
                None => self.unexpected(req),
            },
            ("GET", ["oauth2", "applications", "@me"]) | ("GET", ["applications", "@me"]) => {
                Reply::json(200, self.application_json())
            }
            (_, ["applications", app, rest @ ..]) => self.commands_route(req, app, rest),
            ("POST", ["interactions", iid, token, "callback"]) => self.callback(req, iid, token),
            (_, ["webhooks", app, token, rest @ ..]) => self.webhook_route(req, app, token, rest),
            ("GET", ["channels", cid]) => match parse_id(cid) {
                Some(cid) => Reply::json(200, self.channel_json(cid)),
                None => self.unexpected(req),
            },
            ("POST", ["channels", _, "typing"]) => Reply::no_content(),
            (_, ["channels", cid, "messages", rest @ ..]) => match parse_id(cid) {
                Some(cid) => self.channel_messages(req, cid, rest),
                None => self.unexpected(req),
            },
            ("GET", ["guilds", gid, "members", uid]) => match (parse_id(gid), parse_id(uid)) {
                (Some(gid), Some(uid)) => self.get_member(gid, uid),
                _ => self.unexpected(req),
            },
            ("GET", ["guilds", gid, "roles"]) => match parse_id(gid) {
                Some(gid) => Reply::json(200, Value::Array(self.guild_roles(gid))),
                None => self.unexpected(req),
            },
            ("GET", ["guilds", gid]) => match parse_id(gid) {
                Some(gid) => {
                    let roles = self.guild_roles(gid);
                    Reply::json(200, self.guild_json(gid, roles))
                }
                None => self.unexpected(req),
            },
            _ => self.unexpected(req),
        }
    }

    fn open_dm(&mut self, req: &Req) -> Reply {
        let Some(uid) = req.json()["recipient_id"]
            .as_str()
            .and_then(parse_id)
            .or_else(|| req.json()["recipient_id"].as_u64())
        else {
            let mut fe = FormErrors::default();
            fe.add(
                &["recipient_id".to_string()],
                "BASE_TYPE_REQUIRED",
                "This field is required".into(),
            );
            let p = fe.into_result().expect_err("an error was added");
            return self.refuse(req, &p);
        };
        let existing = self
            .channels
            .iter()
            .find(|(_, c)| c.guild_id.is_none() && c.dm_user == Some(uid));
        let cid = match existing {
            Some((cid, _)) => *cid,
            None => {
                let cid = self.next_id();
                self.channels.insert(
                    cid,
                    ChannelInfo {
                        guild_id: None,
                        dm_user: Some(uid),
                    },
                );
                cid
            }
        };
        Reply::json(200, self.channel_json(cid))
    }

    fn get_member(&mut self, gid: u64, uid: u64) -> Reply {
        if uid == self.bot_user_id {
            return Reply::json(200, self.member_json(uid, gid, &[], true));
        }
        match self.users.get(&(uid, Some(gid))).cloned() {
            Some(roles) => Reply::json(200, self.member_json(uid, gid, &roles, true)),
            None => Reply::error(404, 10007, "Unknown Member"),
        }
    }

    /// @everyone plus every role the simulator knows in `gid`.
    fn guild_roles(&self, gid: u64) -> Vec<Value> {
        let mut ids: Vec<u64> = self
            .users
            .iter()
            .filter(|((_, g), _)| *g == Some(gid))
            .flat_map(|(_, roles)| roles.iter().copied())
            .chain(self.role_permissions.keys().copied())
            .collect();
        ids.sort_unstable();
        ids.dedup();
        let mut everyone = self.role_json(gid, gid);
        everyone["name"] = json!("@everyone");
        everyone["position"] = json!(0);
        everyone["permissions"] = json!(self.everyone_permissions.to_string());
        let mut roles = vec![everyone];
        roles.extend(
            ids.into_iter()
                .filter(|r| *r != gid)
                .map(|r| self.role_json(r, gid)),
        );
        roles
    }

    // ----- application commands -----

    fn commands_route(&mut self, req: &Req, app: &str, rest: &[&str]) -> Reply {
        if parse_id(app) != Some(self.app_id) {
            self.violation(format!(
                "{}: application id {app} is not the bot's ({})",
                req.what(),
                self.app_id
            ));
            return Reply::error(404, 10002, "Unknown Application");
        }
        match (req.method.as_str(), rest) {
            (m, ["commands", tail @ ..]) => self.commands(req, None, m, tail),
            (m, ["guilds", gid, "commands", tail @ ..]) => match parse_id(gid) {
                Some(gid) => self.commands(req, Some(gid), m, tail),
                None => self.unexpected(req),
            },
            _ => self.unexpected(req),
        }
    }

    fn command_list(&mut self, guild: Option<u64>) -> &mut Vec<Value> {
        match guild {
            Some(g) => self.guild_commands.entry(g).or_default(),
            None => &mut self.global_commands,
        }
    }

    /// The stored form of a command: what Discord returns.
    fn normalize_command(&mut self, c: &Value, guild: Option<u64>) -> Value {
        let kind = c["type"].as_u64().unwrap_or(1);
        let name = c["name"].as_str().unwrap_or("").to_string();
        let existing_id = self
            .command_list(guild)
            .iter()
            .find(|e| e["name"] == name.as_str() && e["type"].as_u64() == Some(kind))
            .and_then(|e| e["id"].as_str().map(str::to_string));
        let id = match existing_id {
            Some(id) => id,
            None => self.next_id().to_string(),
        };
        let version = self.next_id().to_string();
        let mut v = c.clone();
        let obj = v.as_object_mut().expect("command object");
        obj.insert("id".into(), json!(id));
        obj.insert("application_id".into(), sf(self.app_id));
        obj.insert("version".into(), json!(version));
        obj.insert("type".into(), json!(kind));
        obj.entry("description").or_insert(json!(""));
        obj.entry("default_member_permissions")
            .or_insert(Value::Null);
        obj.entry("nsfw").or_insert(json!(false));
        obj.entry("options").or_insert(json!([]));
        if obj.get("options").is_some_and(Value::is_null) {
            obj.insert("options".into(), json!([]));
        }
        match guild {
            Some(g) => {
                obj.insert("guild_id".into(), sf(g));
            }
            None => {
                obj.entry("integration_types").or_insert(json!([0]));
                obj.entry("contexts").or_insert(Value::Null);
            }
        }
        must_parse::<serenity::Command>("registered command", &v);
        v
    }

    fn commands(&mut self, req: &Req, guild: Option<u64>, method: &str, tail: &[&str]) -> Reply {
        match (method, tail) {
            ("GET", []) => Reply::json(200, Value::Array(self.command_list(guild).clone())),
            ("PUT", []) => {
                let Some(list) = req.json().as_array().cloned() else {
                    let mut fe = FormErrors::default();
                    fe.add(
                        &[],
                        "BASE_TYPE_ARRAY",
                        "Must be an array of commands".into(),
                    );
                    let p = fe.into_result().expect_err("an error was added");
                    return self.refuse(req, &p);
                };
                if let Err(p) = limits::commands(&list) {
                    return self.refuse(req, &p);
                }
                let stored: Vec<Value> = list
                    .iter()
                    .map(|c| self.normalize_command(c, guild))
                    .collect();
                *self.command_list(guild) = stored.clone();
                self.last_put_commands = stored.clone();
                Reply::json(200, Value::Array(stored))
            }
            ("POST", []) => {
                let c = req.json();
                if let Err(p) = limits::commands(std::slice::from_ref(&c)) {
                    return self.refuse(req, &p);
                }
                let v = self.normalize_command(&c, guild);
                let list = self.command_list(guild);
                let status = match list.iter().position(|e| e["id"] == v["id"]) {
                    Some(i) => {
                        list[i] = v.clone();
                        200
                    }
                    None => {
                        list.push(v.clone());
                        201
                    }
                };
                Reply::json(status, v)
            }
            (m, [cid]) => {
                let list = self.command_list(guild);
                let Some(i) = list.iter().position(|e| e["id"] == *cid) else {
                    return Reply::error(404, 10063, "Unknown application command");
                };
                match m {
                    "GET" => Reply::json(200, list[i].clone()),
                    "DELETE" => {
                        list.remove(i);
                        Reply::no_content()
                    }
                    "PATCH" => {
                        let mut merged = list[i].clone();
                        if let (Some(obj), Some(patch)) =
                            (merged.as_object_mut(), req.json().as_object())
                        {
                            for (k, v) in patch {
                                obj.insert(k.clone(), v.clone());
                            }
                        }
                        if let Err(p) = limits::commands(std::slice::from_ref(&merged)) {
                            return self.refuse(req, &p);
                        }
                        let v = self.normalize_command(&merged, guild);
                        self.command_list(guild)[i] = v.clone();
                        Reply::json(200, v)
                    }
                    _ => self.unexpected(req),
                }
            }
            _ => self.unexpected(req),
        }
    }

    // ----- messages -----

    /// Attachments kept by an edit: those listed in `attachments` (all when
    /// the field is absent).
    fn kept_attachments(payload: &Value, existing: &[Att]) -> Vec<Att> {
        match payload.get("attachments") {
            Some(Value::Array(list)) => existing
                .iter()
                .filter(|a| {
                    list.iter().any(|item| {
                        let id = &item["id"];
                        id.as_u64() == Some(a.id) || id.as_str() == Some(a.id.to_string().as_str())
                    })
                })
                .cloned()
                .collect(),
            Some(Value::Null) => Vec::new(),
            _ => existing.to_vec(),
        }
    }

    fn add_uploads(&mut self, payload: &Value, uploads: &[Upload]) -> Vec<Att> {
        let mut out = Vec::new();
        for up in uploads {
            let description = payload["attachments"].as_array().and_then(|list| {
                list.iter()
                    .find(|item| up.index.is_some() && item["id"].as_u64() == up.index)
                    .and_then(|item| item["description"].as_str().map(str::to_string))
            });
            let id = self.next_id();
            let url = self.store_file(id, &up.filename, up.data.clone());
            self.uploads.push((up.filename.clone(), up.data.clone()));
            out.push(Att {
                id,
                filename: up.filename.clone(),
                size: up.data.len(),
                url,
                description,
            });
        }
        out
    }

    /// Checks and creates a message; returns its id.
    fn create_message(
        &mut self,
        req: &Req,
        channel_id: u64,
        guild_id: Option<u64>,
        origin: Origin,
        kind: u8,
        payload: &Value,
    ) -> Result<u64, Reply> {
        if let Err(p) = limits::message(payload, &req.sizes(), req.files.len(), true) {
            return Err(self.refuse(req, &p));
        }
        let attachments = self.add_uploads(payload, &req.files);
        let id = self.next_id();
        let mut flags = payload["flags"].as_u64().unwrap_or(0) & SETTABLE_FLAGS;
        if origin == Origin::Channel {
            flags &= !FLAG_EPHEMERAL;
        }
        let msg = Msg {
            id,
            channel_id,
            guild_id,
            content: content_of(payload).unwrap_or_default(),
            embeds: array_of(payload, "embeds").unwrap_or_default(),
            components: array_of(payload, "components").unwrap_or_default(),
            attachments,
            flags,
            tts: payload["tts"].as_bool().unwrap_or(false),
            created: Instant::now(),
            created_at: SystemTime::now(),
            edited_at: None,
            edits: 0,
            allowed_mentions: payload
                .get("allowed_mentions")
                .filter(|v| !v.is_null())
                .cloned(),
            origin,
            deleted: false,
            kind,
        };
        self.messages.insert(id, msg);
        Ok(id)
    }

    /// Checks and applies an edit to message `id`; `ttl_applies` is false
    /// for UPDATE_MESSAGE callbacks (a user just clicked the message).
    fn edit_message(
        &mut self,
        req: &Req,
        id: u64,
        payload: &Value,
        ttl_applies: bool,
    ) -> Result<(), Reply> {
        let msg = self
            .messages
            .get(&id)
            .cloned()
            .expect("edited message exists");
        let age = msg.created.elapsed();
        if ttl_applies && age > self.message_edit_ttl {
            let mut fe = FormErrors::default();
            fe.add(
                &[],
                "MESSAGE_EDIT_TOO_OLD",
                format!(
                    "message {id} is {:.1}s old, older than the edit limit of {:.1}s: post a new message",
                    age.as_secs_f64(),
                    self.message_edit_ttl.as_secs_f64()
                ),
            );
            let p = fe.into_result().expect_err("an error was added");
            return Err(self.refuse(req, &p));
        }
        let kept = Self::kept_attachments(payload, &msg.attachments);
        let merged = json!({
            "content": content_of(payload).unwrap_or(msg.content.clone()),
            "embeds": array_of(payload, "embeds").unwrap_or(msg.embeds.clone()),
            "components": array_of(payload, "components").unwrap_or(msg.components.clone()),
            "allowed_mentions": payload.get("allowed_mentions").cloned().unwrap_or(Value::Null),
        });
        if let Err(p) = limits::message(&merged, &req.sizes(), kept.len() + req.files.len(), true) {
            return Err(self.refuse(req, &p));
        }
        let mut attachments = kept;
        attachments.extend(self.add_uploads(payload, &req.files));
        let m = self.messages.get_mut(&id).expect("edited message exists");
        m.content = merged["content"].as_str().unwrap_or("").to_string();
        m.embeds = merged["embeds"].as_array().cloned().unwrap_or_default();
        m.components = merged["components"].as_array().cloned().unwrap_or_default();
        m.attachments = attachments;
        if let Some(am) = payload.get("allowed_mentions") {
            m.allowed_mentions = (!am.is_null()).then(|| am.clone());
        }
        if let Some(f) = payload["flags"].as_u64() {
            m.flags = (m.flags & !4) | (f & 4);
        }
        if m.flags & FLAG_LOADING != 0 {
            // Editing a deferred response delivers it; that is not an edit.
            m.flags &= !FLAG_LOADING;
        } else {
            m.edits += 1;
            m.edited_at = Some(SystemTime::now());
        }
        Ok(())
    }

    fn live_message(&self, id: u64) -> Option<&Msg> {
        self.messages.get(&id).filter(|m| !m.deleted)
    }

    fn channel_messages(&mut self, req: &Req, cid: u64, rest: &[&str]) -> Reply {
        let info = self.channel_info(cid);
        match (req.method.as_str(), rest) {
            ("POST", []) => {
                let payload = req.json();
                match self.create_message(req, cid, info.guild_id, Origin::Channel, 0, &payload) {
                    Ok(id) => Reply::json(200, self.message_json(&self.messages[&id])),
                    Err(r) => r,
                }
            }
            ("GET", []) => {
                let limit = req
                    .query_param("limit")
                    .and_then(|l| l.parse().ok())
                    .unwrap_or(50usize);
                let list: Vec<Value> = self
                    .messages
                    .values()
                    .rev()
                    .filter(|m| m.channel_id == cid && !m.deleted && m.flags & FLAG_EPHEMERAL == 0)
                    .take(limit.min(100))
                    .map(|m| self.message_json(m))
                    .collect();
                Reply::json(200, Value::Array(list))
            }
            (m, [mid, tail @ ..]) => {
                let Some(mid) = parse_id(mid) else {
                    return self.unexpected(req);
                };
                let exists = self
                    .live_message(mid)
                    .is_some_and(|msg| msg.channel_id == cid);
                match (m, tail) {
                    ("GET" | "PATCH" | "DELETE", [])
                    | ("PUT" | "DELETE", ["reactions", _, "@me"])
                        if !exists =>
                    {
                        Reply::error(404, 10008, "Unknown Message")
                    }
                    ("GET", []) => Reply::json(200, self.message_json(&self.messages[&mid])),
                    ("PATCH", []) => {
                        let payload = req.json();
                        match self.edit_message(req, mid, &payload, true) {
                            Ok(()) => Reply::json(200, self.message_json(&self.messages[&mid])),
                            Err(r) => r,
                        }
                    }
                    ("DELETE", []) => {
                        if let Some(msg) = self.messages.get_mut(&mid) {
                            msg.deleted = true;
                        }
                        Reply::no_content()
                    }
                    ("PUT" | "DELETE", ["reactions", _, "@me"]) => Reply::no_content(),
                    _ => self.unexpected(req),
                }
            }
            _ => self.unexpected(req),
        }
    }

    // ----- interactions -----

    fn callback(&mut self, req: &Req, iid: &str, token: &str) -> Reply {
        let Some(mut rec) = parse_id(iid)
            .and_then(|id| self.interactions.get(&id))
            .cloned()
        else {
            self.violation(format!(
                "{}: callback for an interaction the simulator never sent",
                req.what()
            ));
            return Reply::error(404, 10062, "Unknown interaction");
        };
        if rec.token != token {
            self.violation(format!(
                "{}: callback with the wrong interaction token",
                req.what()
            ));
            return Reply::error(404, 10062, "Unknown interaction");
        }
        let body = req.json();
        let typ = body["type"].as_u64().unwrap_or(0);
        if let Some(first) = &rec.callback {
            self.violation(format!(
                "{}: second callback (type {typ}) for interaction {} already acknowledged with type {}",
                req.what(),
                rec.id,
                first["type"]
            ));
            return Reply::error(400, 40060, "Interaction has already been acknowledged.");
        }
        let since = rec.dispatched.unwrap_or(rec.created).elapsed();
        if since > INTERACTION_DEADLINE {
            let text = format!(
                "callback for interaction {} arrived {} ms after INTERACTION_CREATE (limit {} ms)",
                rec.id,
                since.as_millis(),
                INTERACTION_DEADLINE.as_millis()
            );
            self.violation(format!("{}: {text}", req.what()));
            rec.refused_callbacks.push(text);
            self.interactions.insert(rec.id, rec);
            return Reply::error(404, 10062, "Unknown interaction");
        }
        let allowed: &[u64] = match rec.kind {
            2 => &[4, 5, 9],
            3 => &[4, 5, 6, 7, 9],
            4 => &[8],
            5 => &[4, 5, 6, 7],
            _ => &[],
        };
        let kind_name = match rec.kind {
            2 => "APPLICATION_COMMAND",
            3 => "MESSAGE_COMPONENT",
            4 => "APPLICATION_COMMAND_AUTOCOMPLETE",
            _ => "MODAL_SUBMIT",
        };
        if !allowed.contains(&typ) {
            let mut fe = FormErrors::default();
            fe.add(
                &["type".to_string()],
                "INTERACTION_RESPONSE_TYPE_INVALID",
                format!("callback type {typ} is not valid for a {kind_name} interaction (allowed {allowed:?})"),
            );
            let p = fe.into_result().expect_err("an error was added");
            let reply = self.refuse(req, &p);
            rec.refused_callbacks
                .push(format!("callback type {typ} invalid for {kind_name}"));
            self.interactions.insert(rec.id, rec);
            return reply;
        }
        let data = body.get("data").cloned().unwrap_or(json!({}));
        let outcome: Result<(), Reply> = match typ {
            4 => self
                .create_message(
                    req,
                    rec.channel_id,
                    rec.guild_id,
                    Origin::Interaction {
                        id: rec.id,
                        original: true,
                    },
                    20,
                    &data,
                )
                .map(|id| rec.original = Some(id)),
            5 => {
                // A deferred response: an empty "thinking" message.
                let id = self.next_id();
                self.messages.insert(
                    id,
                    Msg {
                        id,
                        channel_id: rec.channel_id,
                        guild_id: rec.guild_id,
                        content: String::new(),
                        embeds: Vec::new(),
                        components: Vec::new(),
                        attachments: Vec::new(),
                        flags: (data["flags"].as_u64().unwrap_or(0) & FLAG_EPHEMERAL)
                            | FLAG_LOADING,
                        tts: false,
                        created: Instant::now(),
                        created_at: SystemTime::now(),
                        edited_at: None,
                        edits: 0,
                        allowed_mentions: None,
                        origin: Origin::Interaction {
                            id: rec.id,
                            original: true,
                        },
                        deleted: false,
                        kind: 20,
                    },
                );
                rec.original = Some(id);
                Ok(())
            }
            6 | 7 => {
                let target = rec.component_message.or(rec.modal_source_message);
                match (typ, target) {
                    (7, None) => {
                        let p = Problem::new(
                            400,
                            50035,
                            "UPDATE_MESSAGE needs a message (modal not opened from a component)",
                        );
                        Err(self.refuse(req, &p))
                    }
                    (7, Some(t)) if self.live_message(t).is_none() => {
                        Err(Reply::error(404, 10008, "Unknown Message"))
                    }
                    (7, Some(t)) => self
                        .edit_message(req, t, &data, false)
                        .map(|()| rec.original = Some(t)),
                    (_, t) => {
                        rec.original = t;
                        Ok(())
                    }
                }
            }
            8 => limits::autocomplete(&data).map_err(|p| self.refuse(req, &p)),
            9 => match limits::modal(&data) {
                Ok(()) => {
                    let inputs = data["components"]
                        .as_array()
                        .into_iter()
                        .flatten()
                        .flat_map(|row| row["components"].as_array().cloned().unwrap_or_default())
                        .filter_map(|c| c["custom_id"].as_str().map(str::to_string))
                        .collect();
                    rec.modal =
                        Some((data["custom_id"].as_str().unwrap_or("").to_string(), inputs));
                    Ok(())
                }
                Err(p) => Err(self.refuse(req, &p)),
            },
            _ => unreachable!("checked against the allowed types"),
        };
        match outcome {
            Ok(()) => {
                rec.callback = Some(body);
                rec.callback_type = Some(typ);
                self.interactions.insert(rec.id, rec);
                Reply::no_content()
            }
            Err(reply) => {
                rec.refused_callbacks
                    .push(format!("callback refused with status {}", reply.status));
                self.interactions.insert(rec.id, rec);
                reply
            }
        }
    }

    fn webhook_route(&mut self, req: &Req, app: &str, token: &str, rest: &[&str]) -> Reply {
        if parse_id(app) != Some(self.app_id) {
            self.violation(format!(
                "{}: webhook of application {app}, the bot's is {}",
                req.what(),
                self.app_id
            ));
            return Reply::error(404, 10015, "Unknown Webhook");
        }
        let Some(rec) = self
            .tokens
            .get(token)
            .and_then(|id| self.interactions.get(id))
            .cloned()
        else {
            self.violation(format!("{}: unknown interaction token", req.what()));
            return Reply::error(401, 50027, "Invalid Webhook Token");
        };
        let age = rec.created.elapsed();
        if age > self.token_ttl {
            self.violation(format!(
                "{}: interaction token used {:.1}s after the interaction, beyond its {:.1}s lifetime",
                req.what(),
                age.as_secs_f64(),
                self.token_ttl.as_secs_f64()
            ));
            return Reply::error(401, 50027, "Invalid Webhook Token");
        }
        if rec.callback.is_none() {
            self.violation(format!(
                "{}: webhook request before interaction {} was acknowledged by a callback",
                req.what(),
                rec.id
            ));
            return Reply::error(404, 10015, "Unknown Webhook");
        }
        match (req.method.as_str(), rest) {
            ("POST", []) => self.followup(req, &rec),
            (m @ ("GET" | "PATCH" | "DELETE"), ["messages", mid]) => {
                let target = if *mid == "@original" {
                    rec.original
                } else {
                    parse_id(mid).filter(|id| {
                        Some(*id) == rec.original
                            || self
                                .messages
                                .get(id)
                                .is_some_and(|m| matches!(m.origin, Origin::Interaction { id, .. } if id == rec.id))
                    })
                };
                let Some(target) = target else {
                    self.violation(format!(
                        "{}: interaction {} has no such message (callback type {:?})",
                        req.what(),
                        rec.id,
                        rec.callback_type
                    ));
                    return Reply::error(404, 10008, "Unknown Message");
                };
                if self.live_message(target).is_none() {
                    return Reply::error(404, 10008, "Unknown Message");
                }
                match m {
                    "GET" => Reply::json(200, self.message_json(&self.messages[&target])),
                    "DELETE" => {
                        if let Some(msg) = self.messages.get_mut(&target) {
                            msg.deleted = true;
                        }
                        Reply::no_content()
                    }
                    _ => {
                        let payload = req.json();
                        match self.edit_message(req, target, &payload, true) {
                            Ok(()) => Reply::json(200, self.message_json(&self.messages[&target])),
                            Err(r) => r,
                        }
                    }
                }
            }
            _ => self.unexpected(req),
        }
    }

    fn followup(&mut self, req: &Req, rec: &super::InteractionRec) -> Reply {
        let payload = req.json();
        // After a deferred response (type 5), the first followup replaces
        // the "thinking" message, as Discord does.
        if let Some(orig) = rec.original.filter(|_| rec.callback_type == Some(5)) {
            if self
                .live_message(orig)
                .is_some_and(|m| m.flags & FLAG_LOADING != 0)
            {
                if let Err(p) = limits::message(&payload, &req.sizes(), req.files.len(), true) {
                    return self.refuse(req, &p);
                }
                return match self.edit_message(req, orig, &payload, true) {
                    Ok(()) => Reply::json(200, self.message_json(&self.messages[&orig])),
                    Err(r) => r,
                };
            }
        }
        let origin = Origin::Interaction {
            id: rec.id,
            original: false,
        };
        match self.create_message(req, rec.channel_id, rec.guild_id, origin, 0, &payload) {
            Ok(id) => Reply::json(200, self.message_json(&self.messages[&id])),
            Err(r) => r,
        }
    }
}
