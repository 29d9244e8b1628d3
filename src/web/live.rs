//! Live run feeds: one reader per followed run, however many pages follow
//! it. A run's feed reads its snapshot when the run changes (its event from
//! the app, or every [`LIVE_EVERY`] for a run driven by another process),
//! at most once per [`LIVE_EVERY`], and hands it to every live stream of
//! that run as a [`Frame`]; each frame renders the run section once per
//! kind of page (filter, operator or not), so 50 viewers cost about what
//! one does. The feed ends with the run, when its last viewer goes, or when
//! the server stops.

use std::collections::HashMap;
use std::sync::{Arc, Mutex, PoisonError};
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

/// One read of a run, and its renderings so far (whole server-sent
/// events, written as they are to every stream that shows the same kind of
/// page).
pub struct Frame {
    pub snapshot: RunSnapshot,
    rendered: Mutex<HashMap<String, Bytes>>,
}

impl Frame {
    fn new(snapshot: RunSnapshot) -> Frame {
        Frame {
            snapshot,
            rendered: Mutex::default(),
        }
    }

    pub fn finished(&self) -> bool {
        self.snapshot.state != RunState::Running
    }

    /// The rendering `key` names, made by `render` the first time it is
    /// asked for (the lock is held while rendering, so it is made once).
    pub fn rendered(&self, key: &str, render: impl FnOnce(&RunSnapshot) -> Bytes) -> Bytes {
        let mut rendered = self.rendered.lock().unwrap_or_else(PoisonError::into_inner);
        rendered
            .entry(key.to_string())
            .or_insert_with(|| render(&self.snapshot))
            .clone()
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
    loop {
        let read_at = tokio::time::Instant::now();
        let frame = match web.app.shown_snapshot(id).await {
            Ok(snapshot) => Arc::new(Frame::new(snapshot)),
            Err(e) => {
                tracing::warn!(run = id, error = %e, "live run page: cannot read the run");
                break;
            }
        };
        let finished = frame.finished();
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
}
