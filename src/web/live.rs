//! Live run feeds: one reader per followed run, however many pages follow
//! it. A run's feed reads its snapshot when the run changes (its event from
//! the app, or every [`LIVE_EVERY`] for a run driven by another process),
//! at most once per [`LIVE_EVERY`], and hands it to every live stream of
//! that run as a [`Frame`]. A frame renders the run section once per kind
//! of page (filter, operator or not) into the events every stream of that
//! kind writes: the whole section (`run`) for a page that did not see the
//! frame before, else only what changed since it (`rows`: the head, the
//! groups in order and the host rows that differ). So 50 viewers of a
//! 500-host run cost about what one does. The feed ends with the run, when
//! its last viewer goes, or when the server stops.

use std::collections::HashMap;
use std::sync::{Arc, Mutex, OnceLock, PoisonError};
use std::time::Duration;

use axum::body::Bytes;
use tokio::sync::watch;

use super::WebState;
use crate::app::RunEvent;
use crate::state::{RunSnapshot, RunState};

/// How often a feed reads its run at most (and a run driven by another
/// process, which sends no events here, at least).
pub const LIVE_EVERY: Duration = Duration::from_millis(500);

/// The latest frame of a run; `None` until the first read.
pub type FrameReceiver = watch::Receiver<Option<Arc<Frame>>>;

/// A run section in the parts a live page puts together.
pub struct SectionParts {
    pub finished: bool,
    /// What is above the hosts: the summary, the buttons, the notes.
    pub head: String,
    /// The host groups in display order.
    pub groups: Vec<GroupParts>,
}

/// One group of hosts: its frame (a heading and a table whose body is cut
/// in two at `<tbody>`), and its rows, by host.
pub struct GroupParts {
    pub frame_open: String,
    pub frame_close: String,
    pub rows: Vec<(String, String)>,
}

impl SectionParts {
    /// The whole section: `#run-state` (with `data-final`) holding
    /// `#run-head` and `#run-groups`.
    pub fn html(&self) -> String {
        let rows: usize = self
            .groups
            .iter()
            .flat_map(|g| &g.rows)
            .map(|(_, row)| row.len())
            .sum();
        let mut out = String::with_capacity(self.head.len() + rows + 1024);
        out.push_str(if self.finished {
            r#"<div id="run-state" data-final="1"><div id="run-head">"#
        } else {
            r#"<div id="run-state" data-final="0"><div id="run-head">"#
        });
        out.push_str(&self.head);
        out.push_str(r#"</div><div id="run-groups">"#);
        for group in &self.groups {
            out.push_str(&group.frame_open);
            for (_, row) in &group.rows {
                out.push_str(row);
            }
            out.push_str(&group.frame_close);
        }
        out.push_str("</div></div>");
        out
    }

    /// The `rows` event that turns a page showing `before` into this.
    fn changes_since(&self, before: &SectionParts) -> Bytes {
        let shown: HashMap<&str, &str> = before
            .groups
            .iter()
            .flat_map(|g| &g.rows)
            .map(|(host, row)| (host.as_str(), row.as_str()))
            .collect();
        let changed: serde_json::Map<String, serde_json::Value> = self
            .groups
            .iter()
            .flat_map(|g| &g.rows)
            .filter(|(host, row)| shown.get(host.as_str()) != Some(&row.as_str()))
            .map(|(host, row)| (host.clone(), row.as_str().into()))
            .collect();
        let groups: Vec<serde_json::Value> = self
            .groups
            .iter()
            .map(|g| {
                serde_json::json!({
                    "frame": format!("{}{}", g.frame_open, g.frame_close),
                    "hosts": g.rows.iter().map(|(host, _)| host).collect::<Vec<_>>(),
                })
            })
            .collect();
        let data = serde_json::json!({
            "final": self.finished,
            "head": self.head,
            "groups": groups,
            "rows": changed,
        });
        sse_event("rows", &data.to_string())
    }
}

/// One kind of page's rendering of a frame, and its events once made.
struct Rendered {
    parts: SectionParts,
    whole: OnceLock<Bytes>,
    changes: OnceLock<Bytes>,
}

/// One read of a run, and its renderings so far.
pub struct Frame {
    /// Counts the feed's reads: a page that showed `seq - 1` gets only the
    /// changes.
    pub seq: u64,
    pub snapshot: RunSnapshot,
    /// The frame before (only one: set when this one is sent, cut when the
    /// next one is).
    before: Mutex<Option<Arc<Frame>>>,
    rendered: Mutex<HashMap<String, Arc<Rendered>>>,
}

impl Frame {
    fn new(seq: u64, snapshot: RunSnapshot) -> Frame {
        Frame {
            seq,
            snapshot,
            before: Mutex::default(),
            rendered: Mutex::default(),
        }
    }

    pub fn finished(&self) -> bool {
        self.snapshot.state != RunState::Running
    }

    /// The rendering `key` names, made by `render` the first time it is
    /// asked for (the lock is held while rendering, so it is made once).
    fn rendered(&self, key: &str, render: &dyn Fn(&RunSnapshot) -> SectionParts) -> Arc<Rendered> {
        let mut rendered = self.rendered.lock().unwrap_or_else(PoisonError::into_inner);
        rendered
            .entry(key.to_string())
            .or_insert_with(|| {
                Arc::new(Rendered {
                    parts: render(&self.snapshot),
                    whole: OnceLock::new(),
                    changes: OnceLock::new(),
                })
            })
            .clone()
    }

    /// The event that brings a page of kind `key` showing frame
    /// `shown` (none yet: `None`) to this frame.
    pub fn event_for(
        &self,
        key: &str,
        shown: Option<u64>,
        render: &dyn Fn(&RunSnapshot) -> SectionParts,
    ) -> Bytes {
        let now = self.rendered(key, render);
        let before = self
            .before
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .clone();
        match before {
            Some(before) if shown == Some(before.seq) => {
                let then = before.rendered(key, render);
                now.changes
                    .get_or_init(|| now.parts.changes_since(&then.parts))
                    .clone()
            }
            _ => now
                .whole
                .get_or_init(|| sse_event("run", &now.parts.html()))
                .clone(),
        }
    }
}

/// The feeds of the runs followed now.
#[derive(Default)]
pub struct LiveFeeds {
    feeds: Mutex<HashMap<i64, watch::Sender<Option<Arc<Frame>>>>>,
}

impl LiveFeeds {
    /// The frames of run `id`, starting the run's feed if nobody follows
    /// it yet.
    pub fn follow(&self, web: &WebState, id: i64) -> FrameReceiver {
        let mut feeds = self.feeds.lock().unwrap_or_else(PoisonError::into_inner);
        if let Some(feed) = feeds.get(&id) {
            return feed.subscribe();
        }
        let (sender, receiver) = watch::channel(None);
        feeds.insert(id, sender.clone());
        tokio::spawn(feed(web.clone(), id, sender));
        receiver
    }

    /// Takes a feed out when it ends; `only_unwatched` leaves it in if a
    /// viewer came meanwhile. True when it was taken out.
    fn end(
        &self,
        id: i64,
        sender: &watch::Sender<Option<Arc<Frame>>>,
        only_unwatched: bool,
    ) -> bool {
        let mut feeds = self.feeds.lock().unwrap_or_else(PoisonError::into_inner);
        if only_unwatched && sender.receiver_count() > 0 {
            return false;
        }
        if feeds.get(&id).is_some_and(|feed| feed.same_channel(sender)) {
            feeds.remove(&id);
        }
        true
    }
}

/// Reads run `id` and sends each read to its followers until the run has
/// ended, nobody follows it, or the server stops.
async fn feed(web: WebState, id: i64, sender: watch::Sender<Option<Arc<Frame>>>) {
    let mut events = web.app.subscribe_runs();
    let mut shutdown = web.shutdown.clone();
    let mut last: Option<Arc<Frame>> = None;
    let mut seq = 0;
    loop {
        let read_at = tokio::time::Instant::now();
        seq += 1;
        let frame = match web.app.shown_snapshot(id).await {
            Ok(snapshot) => Arc::new(Frame::new(seq, snapshot)),
            Err(e) => {
                tracing::warn!(run = id, error = %e, "live run page: cannot read the run");
                break;
            }
        };
        if let Some(before) = last.take() {
            // Keep one frame back, never a chain of them.
            before
                .before
                .lock()
                .unwrap_or_else(PoisonError::into_inner)
                .take();
            *frame.before.lock().unwrap_or_else(PoisonError::into_inner) = Some(before);
        }
        let finished = frame.finished();
        last = Some(frame.clone());
        sender.send_replace(Some(frame));
        if finished {
            break;
        }
        tokio::select! {
            _ = shutdown.wait_for(|stop| *stop) => break,
            _ = tokio::time::timeout(LIVE_EVERY, changed(&mut events, id)) => {}
        }
        tokio::select! {
            _ = shutdown.wait_for(|stop| *stop) => break,
            _ = tokio::time::sleep_until(read_at + LIVE_EVERY) => {}
        }
        while events.try_recv().is_ok() {}
        if web.feeds.end(id, &sender, true) {
            return;
        }
    }
    web.feeds.end(id, &sender, false);
}

/// Returns at the next event of run `id` (or when events were lost).
async fn changed(events: &mut tokio::sync::broadcast::Receiver<RunEvent>, id: i64) {
    loop {
        match events.recv().await {
            Ok(event) if event.run_id == id => return,
            Ok(_) => {}
            Err(_) => return,
        }
    }
}

/// A server-sent event named `event` carrying `data` (one `data:` line per
/// line; a CR, which SSE also reads as a line break, becomes one).
pub fn sse_event(event: &str, data: &str) -> Bytes {
    let mut out = String::with_capacity(data.len() + data.len() / 16 + 32);
    out.push_str("event: ");
    out.push_str(event);
    out.push('\n');
    for line in data.split(['\n', '\r']) {
        out.push_str("data: ");
        out.push_str(line);
        out.push('\n');
    }
    out.push('\n');
    Bytes::from(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_event_has_one_data_line_per_line_of_its_data() {
        let event = sse_event("run", "<p>a</p>\n<pre>b\r\nc</pre>");
        assert_eq!(
            &event[..],
            b"event: run\ndata: <p>a</p>\ndata: <pre>b\ndata: \ndata: c</pre>\n\n"
        );
    }

    fn parts(finished: bool, groups: &[(&str, &[(&str, &str)])]) -> SectionParts {
        SectionParts {
            finished,
            head: format!("<p>{}</p>", groups.len()),
            groups: groups
                .iter()
                .map(|(state, rows)| GroupParts {
                    frame_open: format!("<section class=\"{state}\"><table><tbody>"),
                    frame_close: "</tbody></table></section>".into(),
                    rows: rows
                        .iter()
                        .map(|(host, row)| (host.to_string(), row.to_string()))
                        .collect(),
                })
                .collect(),
        }
    }

    #[test]
    fn the_whole_section_puts_rows_in_their_groups() {
        let section = parts(
            true,
            &[
                ("failed", &[("b", "<tr>b</tr>")]),
                ("ok", &[("a", "<tr>a</tr>")]),
            ],
        );
        assert_eq!(
            section.html(),
            "<div id=\"run-state\" data-final=\"1\"><div id=\"run-head\"><p>2</p></div><div id=\"run-groups\">\
             <section class=\"failed\"><table><tbody><tr>b</tr></tbody></table></section>\
             <section class=\"ok\"><table><tbody><tr>a</tr></tbody></table></section></div></div>"
        );
    }

    #[test]
    fn changes_carry_only_rows_that_differ_and_every_group_in_order() {
        let before = parts(
            false,
            &[("running", &[("a", "<tr>a 1s</tr>"), ("b", "<tr>b</tr>")])],
        );
        let now = parts(
            false,
            &[
                ("running", &[("b", "<tr>b</tr>")]),
                ("ok", &[("a", "<tr>a done</tr>"), ("c", "<tr>c</tr>")]),
            ],
        );
        let event = now.changes_since(&before);
        let text = std::str::from_utf8(&event).unwrap_or_default();
        let data = text
            .strip_prefix("event: rows\ndata: ")
            .and_then(|rest| rest.strip_suffix("\n\n"))
            .unwrap_or_default();
        let doc: serde_json::Value = serde_json::from_str(data).unwrap_or_default();
        assert_eq!(doc["final"], false);
        assert_eq!(
            doc["rows"],
            serde_json::json!({"a": "<tr>a done</tr>", "c": "<tr>c</tr>"})
        );
        assert_eq!(doc["groups"][0]["hosts"], serde_json::json!(["b"]));
        assert_eq!(doc["groups"][1]["hosts"], serde_json::json!(["a", "c"]));
        assert_eq!(
            doc["groups"][1]["frame"],
            "<section class=\"ok\"><table><tbody></tbody></table></section>"
        );
    }
}
