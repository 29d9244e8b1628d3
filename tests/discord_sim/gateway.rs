//! The gateway websocket: HELLO, IDENTIFY/READY, heartbeats, RESUME with
//! replay of missed dispatches, RECONNECT and INVALID_SESSION.
//!
//! Frames are plain JSON text; serenity asks for `compress: true` in
//! IDENTIFY (payload compression) but reads text frames as well, and
//! Discord only compresses when asked through the URL.

use std::time::Instant;

use axum::extract::ws::{CloseFrame, Message, WebSocket, WebSocketUpgrade};
use axum::extract::State as AxState;
use axum::response::Response;
use futures::{SinkExt, StreamExt};
use poise::serenity_prelude as serenity;
use serde_json::{json, Value};
use tokio::sync::mpsc;

use super::fixtures::must_parse;
use super::{lock, Shared, State, SIM_TOKEN};

/// What a connection task must do next.
pub(super) enum Out {
    Frame(String),
    /// Drop the TCP connection without a close frame.
    Drop,
    Close(u16, &'static str),
}

pub(super) struct Conn {
    pub(super) id: u64,
    pub(super) tx: mpsc::UnboundedSender<Out>,
    /// IDENTIFY or RESUME done on this connection: dispatches go out.
    pub(super) live: bool,
}

pub(super) struct Session {
    pub(super) id: String,
    pub(super) seq: u64,
    /// Dispatches of the session: (seq, frame, interaction id).
    pub(super) log: Vec<(u64, String, Option<u64>)>,
}

pub(super) struct Gw {
    pub(super) session: Option<Session>,
    pub(super) conn: Option<Conn>,
    next_conn: u64,
    /// Dispatches made before any session existed, sent after READY.
    pending: Vec<(String, Value, Option<u64>)>,
    pub(super) identify_count: usize,
    pub(super) resume_count: usize,
    pub(super) ready_count: usize,
    pub(super) heartbeats: usize,
    pub(super) intents: Option<u64>,
    pub(super) heartbeat_interval_ms: u64,
}

impl Default for Gw {
    fn default() -> Self {
        Gw {
            session: None,
            conn: None,
            next_conn: 0,
            pending: Vec::new(),
            identify_count: 0,
            resume_count: 0,
            ready_count: 0,
            heartbeats: 0,
            intents: None,
            heartbeat_interval_ms: 41_250,
        }
    }
}

impl Gw {
    /// Sends a non-dispatch payload on the current connection, if any.
    pub(super) fn send_raw(&self, payload: Value) {
        must_parse::<serenity::GatewayEvent>("gateway payload", &payload);
        if let Some(conn) = &self.conn {
            let _ = conn.tx.send(Out::Frame(payload.to_string()));
        }
    }

    /// Sends RECONNECT or INVALID_SESSION: Discord ends the connection
    /// after them, so later dispatches wait for the next RESUME or READY.
    pub(super) fn send_and_pause(&mut self, payload: Value) {
        self.send_raw(payload);
        if let Some(c) = self.conn.as_mut() {
            c.live = false;
        }
    }
}

pub(super) async fn ws_handler(ws: WebSocketUpgrade, AxState(shared): AxState<Shared>) -> Response {
    ws.max_message_size(16 << 20)
        .on_upgrade(move |socket| connection(shared, socket))
}

async fn connection(shared: Shared, socket: WebSocket) {
    let (tx, mut rx) = mpsc::unbounded_channel::<Out>();
    let conn_id = {
        let mut st = lock(&shared);
        st.gw.next_conn += 1;
        let id = st.gw.next_conn;
        let hello = json!({"op": 10, "d": {"heartbeat_interval": st.gw.heartbeat_interval_ms}, "s": null, "t": null});
        must_parse::<serenity::GatewayEvent>("HELLO", &hello);
        let _ = tx.send(Out::Frame(hello.to_string()));
        st.gw.conn = Some(Conn {
            id,
            tx: tx.clone(),
            live: false,
        });
        id
    };
    let (mut sink, mut stream) = socket.split();
    loop {
        tokio::select! {
            out = rx.recv() => match out {
                Some(Out::Frame(frame)) => {
                    if sink.send(Message::Text(frame.into())).await.is_err() {
                        break;
                    }
                }
                Some(Out::Close(code, reason)) => {
                    let _ = sink
                        .send(Message::Close(Some(CloseFrame { code, reason: reason.into() })))
                        .await;
                    break;
                }
                Some(Out::Drop) | None => break,
            },
            msg = stream.next() => match msg {
                Some(Ok(Message::Text(text))) => {
                    let outs = lock(&shared).gateway_op(conn_id, text.as_str());
                    for o in outs {
                        let _ = tx.send(o);
                    }
                }
                Some(Ok(Message::Binary(_))) => {
                    lock(&shared).violation("gateway: the bot sent a binary frame (expected JSON text)".into());
                }
                Some(Ok(Message::Close(_))) | None | Some(Err(_)) => break,
                Some(Ok(_)) => {}
            },
        }
    }
    let mut st = lock(&shared);
    if st.gw.conn.as_ref().is_some_and(|c| c.id == conn_id) {
        st.gw.conn = None;
    }
}

fn strip_bot(token: &str) -> &str {
    token.strip_prefix("Bot ").unwrap_or(token)
}

impl State {
    /// Handles one payload from the bot; returns what to send back.
    fn gateway_op(&mut self, conn_id: u64, text: &str) -> Vec<Out> {
        let payload: Value = match serde_json::from_str(text) {
            Ok(v) => v,
            Err(e) => {
                self.violation(format!("gateway: undecodable payload ({e}): {text}"));
                return vec![Out::Close(4002, "Error while decoding payload.")];
            }
        };
        let op = payload.get("op").and_then(Value::as_u64);
        let d = payload.get("d").cloned().unwrap_or(Value::Null);
        match op {
            Some(1) => {
                self.gw.heartbeats += 1;
                let ack = json!({"op": 11, "d": null});
                must_parse::<serenity::GatewayEvent>("HEARTBEAT_ACK", &ack);
                vec![Out::Frame(ack.to_string())]
            }
            Some(2) => self.identify(conn_id, &d),
            Some(6) => self.resume(conn_id, &d),
            // Presence update, voice state, request guild members,
            // request soundboard sounds: accepted, nothing to answer.
            Some(3) | Some(4) | Some(8) | Some(31) => Vec::new(),
            _ => {
                self.violation(format!("gateway: unknown opcode in {text}"));
                vec![Out::Close(4001, "Unknown opcode.")]
            }
        }
    }

    fn conn_mut(&mut self, conn_id: u64) -> Option<&mut Conn> {
        self.gw.conn.as_mut().filter(|c| c.id == conn_id)
    }

    fn identify(&mut self, conn_id: u64, d: &Value) -> Vec<Out> {
        let token = d.get("token").and_then(Value::as_str).unwrap_or("");
        if strip_bot(token) != SIM_TOKEN {
            self.violation("gateway: IDENTIFY with a wrong token".into());
            return vec![Out::Close(4004, "Authentication failed.")];
        }
        if self.conn_mut(conn_id).is_some_and(|c| c.live) {
            self.violation("gateway: IDENTIFY twice on one connection".into());
            return vec![Out::Close(4005, "Already authenticated.")];
        }
        if self.conn_mut(conn_id).is_none() {
            // A connection the simulator dropped or replaced.
            return vec![Out::Drop];
        }
        self.gw.identify_count += 1;
        self.gw.intents = d.get("intents").and_then(Value::as_u64);
        let shard = d.get("shard").cloned().unwrap_or(json!([0, 1]));
        let session_id = format!("sim-session-{}", self.next_id());
        let ready = self.ready_json(&session_id, &shard);
        self.gw.session = Some(Session {
            id: session_id,
            seq: 0,
            log: Vec::new(),
        });
        if let Some(c) = self.conn_mut(conn_id) {
            c.live = true;
        }
        self.gw.ready_count += 1;
        self.dispatch("READY", ready, None);
        for (t, d, interaction) in std::mem::take(&mut self.gw.pending) {
            self.dispatch(&t, d, interaction);
        }
        Vec::new()
    }

    fn resume(&mut self, conn_id: u64, d: &Value) -> Vec<Out> {
        let token = d.get("token").and_then(Value::as_str).unwrap_or("");
        if strip_bot(token) != SIM_TOKEN {
            self.violation("gateway: RESUME with a wrong token".into());
            return vec![Out::Close(4004, "Authentication failed.")];
        }
        if self.conn_mut(conn_id).is_none() {
            return vec![Out::Drop];
        }
        let session_id = d.get("session_id").and_then(Value::as_str).unwrap_or("");
        let seq = d.get("seq").and_then(Value::as_u64).unwrap_or(0);
        let matches = self
            .gw
            .session
            .as_ref()
            .is_some_and(|s| s.id == session_id && seq <= s.seq);
        if !matches {
            let invalid = json!({"op": 9, "d": false});
            must_parse::<serenity::GatewayEvent>("INVALID_SESSION", &invalid);
            return vec![Out::Frame(invalid.to_string())];
        }
        self.gw.resume_count += 1;
        let now = Instant::now();
        let mut outs = Vec::new();
        let mut replayed = Vec::new();
        if let Some(session) = &self.gw.session {
            for (s, frame, interaction) in &session.log {
                if *s > seq {
                    outs.push(Out::Frame(frame.clone()));
                    replayed.extend(*interaction);
                }
            }
        }
        for id in replayed {
            if let Some(rec) = self.interactions.get_mut(&id) {
                rec.dispatched.get_or_insert(now);
            }
        }
        let Some(session) = self.gw.session.as_mut() else {
            return outs;
        };
        session.seq += 1;
        let resumed = json!({"op": 0, "s": session.seq, "t": "RESUMED", "d": {"_trace": ["[\"discord_sim\"]"]}});
        must_parse::<serenity::GatewayEvent>("RESUMED", &resumed);
        session.log.push((session.seq, resumed.to_string(), None));
        outs.push(Out::Frame(resumed.to_string()));
        if let Some(c) = self.conn_mut(conn_id) {
            c.live = true;
        }
        outs
    }

    /// Sends a dispatch (op 0) event: now on a live connection, later on
    /// RESUME, or after READY when no session exists yet.
    pub(super) fn dispatch(&mut self, t: &str, d: Value, interaction: Option<u64>) {
        let Some(session) = self.gw.session.as_mut() else {
            self.gw.pending.push((t.to_string(), d, interaction));
            return;
        };
        session.seq += 1;
        let frame = json!({"op": 0, "s": session.seq, "t": t, "d": d});
        let parsed = must_parse::<serenity::GatewayEvent>(t, &frame);
        if let serenity::GatewayEvent::Dispatch(_, serenity::Event::Unknown(_)) = parsed {
            panic!("discord_sim: serenity does not know the event {t}");
        }
        let text = frame.to_string();
        session.log.push((session.seq, text.clone(), interaction));
        let sent = match &self.gw.conn {
            Some(c) if c.live => c.tx.send(Out::Frame(text)).is_ok(),
            _ => false,
        };
        if sent {
            if let Some(rec) = interaction.and_then(|id| self.interactions.get_mut(&id)) {
                rec.dispatched.get_or_insert(Instant::now());
            }
        }
    }
}
