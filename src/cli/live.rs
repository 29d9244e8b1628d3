//! Progress of a run. In a terminal: one live line per active host (state,
//! script i/n, elapsed) above a summary line; each host's final line is
//! printed for good when it finishes, so the scrollback keeps every host.
//! Elsewhere: one plain line per change of a host's state.

use std::collections::{HashMap, HashSet};
use std::time::Duration;

use indicatif::{MultiProgress, ProgressBar, ProgressDrawTarget, ProgressStyle};

use crate::app::RunEvent;
use crate::state::{HostSnapshot, HostState, RunSnapshot};

/// At most this many live host lines (the rest are counted in the summary).
const MAX_LIVE_LINES: usize = 20;

/// The terminal view of one run, fed with snapshots.
pub struct LiveView {
    multi: MultiProgress,
    summary: ProgressBar,
    live: HashMap<String, ProgressBar>,
    printed: HashSet<String>,
    host_width: usize,
}

fn spinner() -> ProgressBar {
    let bar = ProgressBar::new_spinner();
    bar.set_style(
        ProgressStyle::with_template("{spinner} {msg}")
            .unwrap_or_else(|_| ProgressStyle::default_spinner()),
    );
    bar
}

impl LiveView {
    /// A view drawing on standard error.
    pub fn new() -> LiveView {
        let multi = MultiProgress::with_draw_target(ProgressDrawTarget::stderr());
        let summary = multi.add(spinner());
        summary.enable_steady_tick(Duration::from_millis(120));
        LiveView {
            multi,
            summary,
            live: HashMap::new(),
            printed: HashSet::new(),
            host_width: 0,
        }
    }

    /// Brings the view up to `snapshot`.
    pub fn update(&mut self, snapshot: &RunSnapshot) {
        self.host_width = snapshot
            .hosts
            .iter()
            .map(|h| h.host.len())
            .max()
            .unwrap_or(0);
        let mut hidden = 0;
        for host in &snapshot.hosts {
            match host.state {
                HostState::Queued => {}
                HostState::Connecting | HostState::Running { .. } => {
                    let line = host_line(host, self.host_width);
                    if let Some(bar) = self.live.get(&host.host) {
                        bar.set_message(line);
                    } else if self.live.len() < MAX_LIVE_LINES {
                        let bar = self.multi.insert_before(&self.summary, spinner());
                        bar.set_message(line);
                        self.live.insert(host.host.clone(), bar);
                    } else {
                        hidden += 1;
                    }
                }
                _ if self.printed.contains(&host.host) => {}
                _ => {
                    self.printed.insert(host.host.clone());
                    if let Some(bar) = self.live.remove(&host.host) {
                        bar.finish_and_clear();
                        self.multi.remove(&bar);
                    }
                    let line = host_line(host, self.host_width);
                    let _ = self.multi.println(format!("  {line}"));
                }
            }
        }
        let more = if hidden > 0 {
            format!(" · {hidden} more active")
        } else {
            String::new()
        };
        self.summary
            .set_message(format!("{}{more}", super::runs::summary_line(snapshot)));
    }

    /// Clears the live lines (the printed final lines stay).
    pub fn finish(self) {
        for bar in self.live.values() {
            bar.finish_and_clear();
        }
        self.summary.finish_and_clear();
        let _ = self.multi.clear();
    }
}

/// Progress as plain lines (`run 3 db-1 running step 2`): one per change
/// of a host's state or step. The engine may report a state more than once
/// (a host's final state is recorded before the host is told to clean up,
/// and again when its job ends; a reattach reports the open step again).
#[derive(Default)]
pub struct PlainLines {
    /// Per host, the kind of state and the step last shown.
    shown: HashMap<String, (std::mem::Discriminant<HostState>, Option<u32>)>,
}

impl PlainLines {
    /// The line for `event`, or `None` when it changes nothing shown
    /// (connection attempts are not shown).
    pub fn line(&mut self, event: &RunEvent) -> Option<String> {
        if event.state == HostState::Connecting {
            return None;
        }
        let step = event.state.step();
        let now = (std::mem::discriminant(&event.state), step);
        if self.shown.get(&event.host) == Some(&now) {
            return None;
        }
        self.shown.insert(event.host.clone(), now);
        let step = step.map(|s| format!(" step {s}")).unwrap_or_default();
        Some(format!(
            "run {} {} {}{step}",
            event.run_id, event.host, event.state
        ))
    }
}

/// `web-1  running    2/3 setup-mysql  4.1s`, with exit code or reason
/// once final.
pub fn host_line(h: &HostSnapshot, host_width: usize) -> String {
    let step = match h.step() {
        Some(s) => format!("{s}/{}", h.steps),
        None if h.state == HostState::Succeeded => format!("{0}/{0}", h.steps),
        None => "-".to_string(),
    };
    let mut line = format!(
        "{:<host_width$}  {:<11} {:>5} {}  {}",
        h.host,
        h.state,
        step,
        h.script.as_deref().unwrap_or("-"),
        super::runs::elapsed(h.elapsed_ms),
    );
    let ended = match h.exit_code() {
        Some(0) => h.reason().filter(|r| !r.is_empty()).map(str::to_string),
        _ => h.exit_summary(),
    };
    if let Some(ended) = ended {
        line.push_str(&format!("  {ended}"));
    }
    line
}

#[cfg(test)]
mod tests {
    use super::*;

    fn host(state: HostState) -> HostSnapshot {
        HostSnapshot {
            host: "web-1".into(),
            script: state.step().map(|_| "setup-mysql".to_string()),
            state,
            steps: 3,
            started_at: None,
            finished_at: None,
            elapsed_ms: Some(4_100),
            excerpt: String::new(),
        }
    }

    #[test]
    fn host_lines_show_state_step_script_elapsed_and_why() {
        assert_eq!(
            host_line(&host(HostState::Succeeded), 5),
            "web-1  succeeded     3/3 -  4.1s"
        );
        assert_eq!(
            host_line(&host(HostState::Running { step: 2 }), 6),
            "web-1   running       2/3 setup-mysql  4.1s"
        );
        assert_eq!(
            host_line(
                &host(HostState::Failed {
                    step: Some(2),
                    exit_code: Some(3),
                    reason: String::new(),
                }),
                5
            ),
            "web-1  failed        2/3 setup-mysql  4.1s  exit 3"
        );
        assert_eq!(
            host_line(
                &host(HostState::Unreachable {
                    reason: "refused: connection refused".into(),
                }),
                5
            ),
            "web-1  unreachable     - -  4.1s  refused: connection refused"
        );
    }

    fn event(host: &str, state: HostState) -> RunEvent {
        RunEvent {
            run_id: 3,
            run_host_id: 1,
            host: host.into(),
            state,
            at: 0,
        }
    }

    #[test]
    fn plain_lines_show_each_change_once() {
        let mut plain = PlainLines::default();
        let shown: Vec<String> = [
            event("db-1", HostState::Connecting),
            event("db-1", HostState::Running { step: 1 }),
            event("db-1", HostState::Running { step: 1 }),
            event("db-2", HostState::Running { step: 1 }),
            event("db-1", HostState::Running { step: 2 }),
            event("db-1", HostState::Succeeded),
            event("db-1", HostState::Succeeded),
        ]
        .iter()
        .filter_map(|e| plain.line(e))
        .collect();
        assert_eq!(
            shown,
            [
                "run 3 db-1 running step 1",
                "run 3 db-2 running step 1",
                "run 3 db-1 running step 2",
                "run 3 db-1 succeeded",
            ]
        );
    }
}
