//! A run's logs as Discord shows them: the files of the message that
//! follows a finished run (failed hosts first, at most `MAX_FILES` files,
//! `MESSAGE_BYTES` in all, within Discord's upload limits), and the text
//! of the Logs button (the last lines of one host). Only what is sent is
//! read, from the ends of the files; what is left out is named with the
//! command that prints it.

use super::api::Upload;
use super::render::{self, Redactor};
use crate::app::{rest_of_logs_note, App};
use crate::state::{HostSnapshot, HostState, RunSnapshot};

/// Most files attached to one message (Discord's limit).
pub const MAX_FILES: usize = 10;
/// Bytes of logs the final message attaches, every file together. Discord
/// takes 10 MiB per file and 25 MiB per request by default (bots without
/// boosts; "Uploading Files" and "Create Message" in its API reference):
/// staying under 10 MiB for the whole message satisfies both, with room
/// for the message's own JSON.
pub const MESSAGE_BYTES: usize = 9 * 1024 * 1024;

/// The message that follows a finished run.
pub struct LogsMessage {
    pub content: String,
    pub files: Vec<Upload>,
}

/// Failed hosts first (in run order), then the others; of a run too big
/// to read host by host (`render::AT_A_GLANCE`), only the hosts that did
/// not succeed.
fn failed_first(snapshot: &RunSnapshot) -> Vec<&HostSnapshot> {
    let mut hosts: Vec<&HostSnapshot> = snapshot.hosts.iter().collect();
    if hosts.len() > render::AT_A_GLANCE {
        hosts.retain(|h| h.state != HostState::Succeeded);
    }
    hosts.sort_by_key(|h| h.state == HostState::Succeeded);
    hosts
}

/// The final logs message of a run, `None` when no host logged anything.
/// The hosts attached are chosen from the log files' sizes before anything
/// is read; each is read only as far as its share of `budget`.
pub fn final_message(
    drover: &App,
    snapshot: &RunSnapshot,
    redactor: &Redactor,
    budget: usize,
) -> Option<LogsMessage> {
    let with_logs: Vec<(&HostSnapshot, u64)> = failed_first(snapshot)
        .into_iter()
        .map(|h| (h, drover.logs_size(snapshot, Some(&h.host))))
        .filter(|(_, size)| *size > 0)
        .collect();
    if with_logs.is_empty() {
        return None;
    }
    let attached = &with_logs[..with_logs.len().min(MAX_FILES)];
    let left_out: Vec<&str> = with_logs[attached.len()..]
        .iter()
        .map(|(h, _)| h.host.as_str())
        .collect();
    let sizes: Vec<u64> = attached.iter().map(|(_, size)| *size).collect();
    let files = attached
        .iter()
        .zip(share_budget(&sizes, budget))
        .map(|((host, _), share)| Upload {
            filename: format!("run-{}-{}.log", snapshot.id, host.host),
            bytes: host_log(drover, snapshot, &host.host, redactor, share).into_bytes(),
        })
        .collect();
    Some(LogsMessage {
        content: message_content(snapshot, &left_out, redactor),
        files,
    })
}

/// The end of a host's logs in at most `max` bytes, redacted; when output
/// is left out, it starts with a line naming the command that prints it.
fn host_log(
    drover: &App,
    snapshot: &RunSnapshot,
    host: &str,
    redactor: &Redactor,
    max: usize,
) -> String {
    let text = redactor.redact(&drover.logs_tail(snapshot, Some(host), max));
    let note = rest_of_logs_note(snapshot.id, Some(host));
    keep_end(&text, max, &note)
}

/// What the message says: the run, and the hosts whose logs are not
/// attached, with the command that prints them.
fn message_content(snapshot: &RunSnapshot, left_out: &[&str], redactor: &Redactor) -> String {
    let mut content = format!(
        "Logs of run {} ({}), the end of each host's logs.",
        snapshot.id,
        snapshot.state.as_str()
    );
    if !left_out.is_empty() {
        let names = render::sanitize(&left_out.join(", "), redactor);
        let mut shown: String = names.chars().take(1500).collect();
        if shown.len() < names.len() {
            shown.push_str(", ...");
        }
        content.push_str(&format!(
            " Not attached ({} hosts; `drover run logs {} HOST` prints a host's logs): {shown}",
            left_out.len(),
            snapshot.id
        ));
    }
    content
}

/// Shares `budget` bytes among logs of `sizes` bytes: each gets an equal
/// part, and what a small log does not need goes to the bigger ones. Logs
/// bigger than their part all get the same part.
pub fn share_budget(sizes: &[u64], budget: usize) -> Vec<usize> {
    let mut order: Vec<usize> = (0..sizes.len()).collect();
    order.sort_by_key(|i| sizes[*i]);
    let mut shares = vec![0; sizes.len()];
    let mut left = budget;
    for (done, &i) in order.iter().enumerate() {
        let equal = left / (sizes.len() - done);
        match usize::try_from(sizes[i]) {
            Ok(size) if size < equal => {
                shares[i] = size;
                left -= size;
            }
            // This log and every bigger one after it get `equal`.
            _ => {
                for &bigger in &order[done..] {
                    shares[bigger] = equal;
                }
                break;
            }
        }
    }
    shares
}

/// `text` cut to its last `max` bytes under `note`, when it is longer:
/// from a line start when the kept part has one.
pub fn keep_end(text: &str, max: usize, note: &str) -> String {
    if text.len() <= max {
        return text.to_string();
    }
    let room = max.saturating_sub(note.len() + 1);
    let from = text.len() - room;
    let from = (from..=text.len())
        .find(|i| text.is_char_boundary(*i))
        .unwrap_or(text.len());
    let line_start = text[from..].find('\n').map_or(from, |nl| from + nl + 1);
    format!("{note}\n{}", &text[line_start..])
}

/// What the Logs button shows: the last lines of the first failed host's
/// logs (of the run's last host when none failed), `max_chars` characters
/// in all, naming the host and where the rest is.
pub fn button_text(
    drover: &App,
    snapshot: &RunSnapshot,
    redactor: &Redactor,
    max_chars: usize,
) -> String {
    let host = snapshot
        .hosts
        .iter()
        .find(|h| h.state != HostState::Succeeded && drover.logs_size(snapshot, Some(&h.host)) > 0)
        .or_else(|| {
            snapshot
                .hosts
                .iter()
                .rev()
                .find(|h| drover.logs_size(snapshot, Some(&h.host)) > 0)
        });
    let Some(host) = host else {
        return format!("Run {} has no logs yet.", snapshot.id);
    };
    let heading = render::sanitize(
        &format!(
            "The last lines of {} in run {} (`drover run logs {} {}` prints all of them):",
            host.host, snapshot.id, snapshot.id, host.host
        ),
        redactor,
    );
    // Four bytes a character at most: enough for the code block to fill.
    let tail = drover.logs_tail(snapshot, Some(&host.host), max_chars * 4);
    let clean = render::sanitize(&tail, redactor);
    let room = max_chars.saturating_sub(heading.chars().count() + 1);
    format!("{heading}\n{}", render::code_block(&clean, room))
}

#[cfg(test)]
mod tests {
    use super::{keep_end, share_budget};

    #[test]
    fn small_logs_leave_their_share_to_big_ones_and_the_total_holds() {
        assert_eq!(share_budget(&[10, 1000, 1000], 900), vec![10, 445, 445]);
        assert_eq!(share_budget(&[10, 20], 900), vec![10, 20]);
        assert_eq!(share_budget(&[], 900), Vec::<usize>::new());
        let sizes = [5_000_000, 3, 7_000_000, 250_000, 9_000_000];
        let shares = share_budget(&sizes, 9 * 1024 * 1024);
        assert!(shares.iter().sum::<usize>() <= 9 * 1024 * 1024);
        assert_eq!(shares[1], 3);
        assert_eq!(shares[3], 250_000);
        assert_eq!(shares[0], shares[2], "{shares:?}");
    }

    #[test]
    fn keep_end_starts_at_a_line_under_the_note_within_the_limit() {
        let text = "é line one\nline two\nline three\n";
        assert_eq!(keep_end(text, 100, "[cut]"), text);
        let kept = keep_end(text, 20, "[cut]");
        assert_eq!(kept, "[cut]\nline three\n");
        assert!(kept.len() <= 20);
        let long_line = "x".repeat(50);
        let kept = keep_end(&long_line, 20, "[cut]");
        assert_eq!(kept, format!("[cut]\n{}", "x".repeat(14)), "one long line");
    }
}
