//! Pure rendering of run snapshots into Discord progress messages.
//!
//! No I/O and no serenity/poise types: the views below are plain structs that
//! the Discord module converts. Everything here is deterministic, and every
//! view fits Discord's message limits (counted in Unicode scalar values, as
//! Discord counts) with a margin, at any number of hosts.
//!
//! Text that comes from hosts (excerpts, reasons) and names are passed
//! through [`sanitize`]: control characters stripped, configured secrets
//! redacted (before any truncation), mentions neutralised and backtick runs
//! broken so code blocks cannot be closed early.
//!
//! This file lays out the progress message and the plan line; `text` holds
//! the text helpers (sanitising, cutting, durations), `limits` Discord's
//! limits and the guard that enforces them.

mod limits;
mod text;

use limits::*;
use text::*;

pub use text::{code_block, humanize_ms, sanitize};

use crate::state::{HostSnapshot, HostState, RunSnapshot, RunState};

/// A rendered progress message.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ProgressView {
    pub content: String,
    pub embeds: Vec<EmbedView>,
    /// In display order; at most 5 per action row.
    pub buttons: Vec<ButtonView>,
    /// The run's page on the web dashboard (a link button), when
    /// `web.public_url` is set.
    pub page_url: Option<String>,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct EmbedView {
    pub title: String,
    pub description: String,
    pub color: u32,
    pub fields: Vec<FieldView>,
    pub footer: Option<String>,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FieldView {
    pub name: String,
    pub value: String,
    pub inline: bool,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ButtonView {
    pub custom_id: String,
    pub label: String,
    pub style: ButtonStyle,
    pub disabled: bool,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ButtonStyle {
    Primary,
    Secondary,
    Danger,
}

/// `logs.redact`, shared with every other place output reaches a user.
pub use crate::redact::Redactor;

/// Characters given to failure excerpts (field names and values) in all.
const EXCERPT_BUDGET: usize = 2400;
/// Smallest useful excerpt field value (code block included).
const EXCERPT_MIN: usize = 400;
const EXCERPTS_MAX: usize = 5;
const NAME_MAX: usize = 64;
const SCRIPT_NAME_MAX: usize = 48;
const REASON_MAX: usize = 100;
const SCRIPTS_LINE_MAX: usize = 400;

const COLOR_RUNNING: u32 = 0x3498DB;
const COLOR_SUCCEEDED: u32 = 0x2ECC71;
const COLOR_FAILED: u32 = 0xE74C3C;
const COLOR_CANCELLED: u32 = 0x95A5A6;

/// How many host states there are (rows of [`count_states`]).
const STATE_COUNT: usize = 10;

/// A host state's place in display priority order (failures first,
/// successes last) and its symbol.
fn state_rank(state: &HostState) -> (usize, &'static str) {
    match state {
        HostState::Failed { .. } => (0, "❌"),
        HostState::TimedOut { .. } => (1, "⌛"),
        HostState::Lost { .. } => (2, "❓"),
        HostState::Unreachable { .. } => (3, "🚫"),
        HostState::Running { .. } => (4, "🔄"),
        HostState::Connecting => (5, "🔌"),
        HostState::Queued => (6, "⏳"),
        HostState::Cancelled { .. } => (7, "⏹️"),
        HostState::Skipped => (8, "⏭️"),
        HostState::Succeeded => (9, "✅"),
    }
}

fn state_symbol(state: &HostState) -> &'static str {
    state_rank(state).1
}

/// A host whose log tail is shown.
fn shows_excerpt(state: &HostState) -> bool {
    matches!(
        state,
        HostState::Failed { .. } | HostState::TimedOut { .. } | HostState::Lost { .. }
    )
}

fn run_style(state: RunState) -> (&'static str, u32) {
    match state {
        RunState::Running => ("🔄", COLOR_RUNNING),
        RunState::Succeeded => ("✅", COLOR_SUCCEEDED),
        RunState::Failed => ("❌", COLOR_FAILED),
        RunState::Cancelled => ("⏹️", COLOR_CANCELLED),
    }
}

/// `1. a → 2. b → …` within `max` characters, saying how many were left out.
fn scripts_line(scripts: &[String], redactor: &Redactor, max: usize) -> String {
    if scripts.is_empty() {
        return "no scripts".to_string();
    }
    let mut out = String::new();
    let mut used = 0;
    for (i, script) in scripts.iter().enumerate() {
        let item = format!(
            "{}{}. {}",
            if i == 0 { "" } else { " → " },
            i + 1,
            inline_text(script, redactor, SCRIPT_NAME_MAX)
        );
        let left = scripts.len() - i;
        let more = format!(" → … (+{left} more)");
        let reserve = if left > 1 { chars(&more) + 16 } else { 0 };
        let len = chars(&item);
        if used + len + reserve > max {
            out.push_str(&more);
            return out;
        }
        used += len;
        out.push_str(&item);
    }
    out
}

/// The short answer to `/task run`: what will run where.
pub fn render_plan(
    script_group: &str,
    server_group: &str,
    hosts: usize,
    scripts: &[String],
) -> String {
    let none = Redactor::default();
    let text = format!(
        "▶️ Running **{}** on **{}** · {} · {}: {}",
        inline_text(script_group, &none, NAME_MAX),
        inline_text(server_group, &none, NAME_MAX),
        plural(hosts, "host", "hosts"),
        plural(scripts.len(), "script", "scripts"),
        scripts_line(scripts, &none, CONTENT_MAX - 300),
    );
    truncate_head(&text, CONTENT_MAX)
}

/// Hosts in one state: its symbol and label, and how many.
#[derive(Clone, Copy)]
struct StateCount {
    symbol: &'static str,
    label: &'static str,
    hosts: usize,
}

impl StateCount {
    fn text(&self) -> String {
        format!("{} {} {}", self.symbol, self.hosts, self.label)
    }
}

/// Counts of the states present, indexed by display priority.
fn count_states(hosts: &[&HostSnapshot]) -> [Option<StateCount>; STATE_COUNT] {
    let mut counts: [Option<StateCount>; STATE_COUNT] = [None; STATE_COUNT];
    for h in hosts {
        let (rank, symbol) = state_rank(&h.state);
        counts[rank]
            .get_or_insert(StateCount {
                symbol,
                label: h.state.label(),
                hosts: 0,
            })
            .hosts += 1;
    }
    counts
}

/// `✅ 8 succeeded · ❌ 1 failed · …`, succeeded first, then by priority.
fn counts_line(counts: &[Option<StateCount>; STATE_COUNT]) -> String {
    let succeeded = state_rank(&HostState::Succeeded).0;
    std::iter::once(succeeded)
        .chain((0..STATE_COUNT).filter(|&i| i != succeeded))
        .filter_map(|i| counts[i].map(|c| c.text()))
        .collect::<Vec<_>>()
        .join(" · ")
}

/// `2/3 deploy`, or `3/3` for a host that finished all its steps.
fn step_text(h: &HostSnapshot, redactor: &Redactor) -> Option<String> {
    match h.step() {
        Some(step) => Some(match &h.script {
            Some(script) => format!(
                "{step}/{} {}",
                h.steps,
                inline_text(script, redactor, SCRIPT_NAME_MAX)
            ),
            None => format!("{step}/{}", h.steps),
        }),
        None if h.state == HostState::Succeeded && h.steps > 0 => Some(format!("{0}/{0}", h.steps)),
        None => None,
    }
}

/// How the step ended (`HostSnapshot::exit_summary`), made safe for
/// Discord.
fn exit_text(h: &HostSnapshot, redactor: &Redactor) -> Option<String> {
    h.exit_summary()
        .map(|summary| inline_text(&summary, redactor, REASON_MAX))
        .filter(|summary| !summary.is_empty())
}

/// `❌ **web-1** · 2/3 deploy · exit 1: reason · 4s`
fn host_line(h: &HostSnapshot, redactor: &Redactor) -> String {
    let mut parts = vec![format!(
        "{} **{}**",
        state_symbol(&h.state),
        inline_text(&h.host, redactor, NAME_MAX)
    )];
    parts.extend(step_text(h, redactor));
    parts.extend(exit_text(h, redactor));
    parts.extend(h.elapsed_ms.map(humanize_ms));
    parts.join(" · ")
}

/// `…and 950 more: ❌ 3 failed · ⏳ 947 queued`, and where the run's page
/// shows every host, when there is one.
fn more_line(rest: &[&HostSnapshot], page_url: Option<&str>) -> String {
    let by_state = count_states(rest)
        .iter()
        .flatten()
        .map(StateCount::text)
        .collect::<Vec<_>>()
        .join(" · ");
    let page = page_url.map_or(String::new(), |url| format!(" · every host: <{url}>"));
    format!("{ELLIPSIS}and {} more: {by_state}{page}", rest.len())
}

/// Runs with more hosts than this are too big to read host by host: their
/// message gives lines only to the hosts that need attention (neither
/// succeeded nor waiting in the queue) and counts the others, and their
/// final logs are those of the hosts that did not succeed.
pub const AT_A_GLANCE: usize = 25;

/// The hosts that get a line: every host of a run that can be read at a
/// glance; of a bigger one, the hosts that need attention.
fn lined_hosts<'a>(order: &[&'a HostSnapshot]) -> Vec<&'a HostSnapshot> {
    if order.len() <= AT_A_GLANCE {
        return order.to_vec();
    }
    order
        .iter()
        .copied()
        .filter(|h| !matches!(h.state, HostState::Succeeded | HostState::Queued))
        .collect()
}

/// Host lines in priority order within `budget` characters (newlines
/// included); hosts beyond are summarised in one "and N more" line.
fn host_list(
    order: &[&HostSnapshot],
    redactor: &Redactor,
    budget: usize,
    page_url: Option<&str>,
) -> String {
    if order.is_empty() {
        return "No hosts.".to_string();
    }
    let lines: Vec<String> = order.iter().map(|h| host_line(h, redactor)).collect();
    let all: usize = lines.iter().map(|l| chars(l) + 1).sum();
    if all <= budget {
        return lines.join("\n");
    }
    let reserve = chars(&more_line(order, page_url)) + 1;
    let mut out = Vec::new();
    let mut used = 0;
    for line in &lines {
        let len = chars(line) + 1;
        if used + len + reserve > budget {
            break;
        }
        used += len;
        out.push(line.clone());
    }
    let shown = out.len();
    out.push(more_line(&order[shown..], page_url));
    out.join("\n")
}

/// The embed with the log tails of failed hosts, within `budget` characters.
fn excerpt_embed(order: &[&HostSnapshot], redactor: &Redactor, budget: usize) -> Option<EmbedView> {
    let candidates: Vec<&HostSnapshot> = order
        .iter()
        .copied()
        .filter(|h| shows_excerpt(&h.state) && !h.excerpt.trim().is_empty())
        .collect();
    if candidates.is_empty() {
        return None;
    }
    let title = "Log tails".to_string();
    let names: Vec<String> = candidates
        .iter()
        .take(EXCERPTS_MAX)
        .map(|h| {
            let mut parts = vec![format!(
                "{} {}",
                state_symbol(&h.state),
                inline_text(&h.host, redactor, NAME_MAX)
            )];
            parts.extend(step_text(h, redactor));
            parts.extend(exit_text(h, redactor));
            truncate_head(&parts.join(" · "), FIELD_NAME_MAX)
        })
        .collect();
    // The most excerpts that still get a useful size each.
    let mut shown = names.len();
    let footer_room = 120;
    let fixed = chars(&title) + footer_room;
    while shown > 1 {
        let name_chars: usize = names[..shown].iter().map(|n| chars(n)).sum();
        if fixed + name_chars + shown * EXCERPT_MIN <= budget {
            break;
        }
        shown -= 1;
    }
    let name_chars: usize = names[..shown].iter().map(|n| chars(n)).sum();
    let each = (budget.saturating_sub(fixed + name_chars) / shown).min(FIELD_VALUE_MAX);
    let fields = candidates
        .iter()
        .zip(names)
        .take(shown)
        .filter_map(|(h, name)| {
            let value = code_block(&sanitize(&h.excerpt, redactor), each);
            (!value.is_empty()).then_some(FieldView {
                name,
                value,
                inline: false,
            })
        })
        .collect::<Vec<_>>();
    if fields.is_empty() {
        return None;
    }
    let hidden = candidates.len() - fields.len();
    let footer = (hidden > 0).then(|| {
        format!(
            "{} not shown · press Logs for full logs",
            plural(hidden, "more log tail", "more log tails")
        )
    });
    Some(EmbedView {
        title,
        description: String::new(),
        color: COLOR_FAILED,
        fields,
        footer,
    })
}

/// Who started a run: a Discord user as a mention (shown as their name;
/// the message allows no mentions, so it pings nobody), anyone else as
/// drover records them (`cli:alice`, `web:bob`).
fn started_by_text(started_by: &str, redactor: &Redactor) -> String {
    match started_by.strip_prefix("discord:") {
        Some(id) if !id.is_empty() && id.len() <= 20 && id.bytes().all(|b| b.is_ascii_digit()) => {
            format!("<@{id}>")
        }
        _ => inline_text(started_by, redactor, NAME_MAX),
    }
}

/// Renders a run's progress message.
pub fn render_progress(snapshot: &RunSnapshot, redactor: &Redactor) -> ProgressView {
    render_progress_linked(snapshot, redactor, None)
}

/// Renders a run's progress message with a link to its page on the web
/// dashboard at `public_base` (`web.public_url`), when there is one.
pub fn render_progress_linked(
    snapshot: &RunSnapshot,
    redactor: &Redactor,
    public_base: Option<&str>,
) -> ProgressView {
    let page_url = public_base.map(|base| format!("{base}/runs/{}", snapshot.id));
    let page = page_url.as_deref();
    let mut order: Vec<&HostSnapshot> = snapshot.hosts.iter().collect();
    order.sort_by_key(|h| state_rank(&h.state).0);
    let counts = count_states(&order);
    let (run_symbol, color) = run_style(snapshot.state);
    let state = snapshot.state.as_str();

    let title = truncate_head(
        &format!(
            "{run_symbol} Run {} · {} on {} · {state}",
            snapshot.id,
            inline_text(&snapshot.script_group, redactor, NAME_MAX),
            inline_text(&snapshot.server_group, redactor, NAME_MAX),
        ),
        TITLE_MAX,
    );
    let lead = format!(
        "{}: {}\n⏱️ {} · started by {}\nScripts: {}",
        plural(order.len(), "host", "hosts"),
        if order.is_empty() {
            "none".to_string()
        } else {
            counts_line(&counts)
        },
        humanize_ms(snapshot.elapsed_ms),
        started_by_text(&snapshot.started_by, redactor),
        scripts_line(&snapshot.scripts, redactor, SCRIPTS_LINE_MAX),
    );
    let mut footer_parts = Vec::new();
    if let Some(task) = &snapshot.task {
        footer_parts.push(format!("task {}", inline_text(task, redactor, NAME_MAX)));
    }
    footer_parts.push(format!(
        "created {}",
        inline_text(&snapshot.created_at, redactor, 40)
    ));
    if let Some(finished) = &snapshot.finished_at {
        footer_parts.push(format!("finished {}", inline_text(finished, redactor, 40)));
    }
    let footer = truncate_head(&footer_parts.join(" · "), FOOTER_MAX);

    let header_fixed = chars(&title) + chars(&lead) + chars(&footer) + 2;
    let excerpts = excerpt_embed(
        &order,
        redactor,
        EXCERPT_BUDGET.min(TOTAL_MAX.saturating_sub(header_fixed + 800)),
    );
    let excerpt_chars = excerpts.as_ref().map_or(0, embed_chars);
    let list_budget = DESCRIPTION_MAX
        .saturating_sub(chars(&lead) + 2)
        .min(TOTAL_MAX.saturating_sub(header_fixed + excerpt_chars));
    let lined = lined_hosts(&order);
    let description = if lined.is_empty() && !order.is_empty() {
        // A big run with no host that needs attention: the counts say it.
        lead
    } else {
        format!(
            "{lead}\n\n{}",
            host_list(&lined, redactor, list_budget, page)
        )
    };

    let mut embeds = vec![EmbedView {
        title,
        description,
        color,
        fields: Vec::new(),
        footer: Some(footer),
    }];
    embeds.extend(excerpts);

    let finished = order.iter().filter(|h| h.state.is_final()).count();
    let content = truncate_head(
        &format!(
            "{run_symbol} **Run {}** {state} · {finished}/{} hosts finished",
            snapshot.id,
            order.len()
        ),
        CONTENT_MAX,
    );

    let is_final = snapshot.state != RunState::Running;
    let any_failure = order.iter().any(|h| h.state.is_failure());
    let id = snapshot.id;
    let buttons = vec![
        ButtonView {
            custom_id: format!("drover:cancel:{id}"),
            label: "Cancel".into(),
            style: ButtonStyle::Danger,
            disabled: is_final,
        },
        ButtonView {
            custom_id: format!("drover:rerun:{id}"),
            label: "Rerun failed".into(),
            style: ButtonStyle::Primary,
            disabled: !(is_final && any_failure),
        },
        ButtonView {
            custom_id: format!("drover:logs:{id}"),
            label: "Logs".into(),
            style: ButtonStyle::Secondary,
            disabled: false,
        },
    ];

    let mut view = ProgressView {
        content,
        embeds,
        buttons,
        page_url,
    };
    enforce_limits(&mut view);
    view
}

#[cfg(test)]
mod tests {
    use super::*;

    const SECRET: &str = "hunter2";

    fn redactor() -> Redactor {
        Redactor::new(&["password=\\S+".to_string()]).unwrap()
    }

    fn hostile_excerpt(i: usize) -> String {
        let chunk = format!(
            "line {i}: @everyone @here <@&1> <@!123> <@42> <#7> ```rust\nfn x() {{}}\n```` \
             password={SECRET} \u{0}\u{7}\x1b[31mred\x1b[0m\r\n\u{202E}evil\u{202C} \u{FFFD}\u{FFFD} \
             e\u{301}\u{301}\u{301} 👩‍👩‍👧 ` `` \u{2028}\n"
        );
        let mut text = String::new();
        while text.len() < 4096 {
            text.push_str(&chunk);
        }
        // A secret straddling where a naive tail cut would fall.
        text.push_str(&format!(
            "last line {i} password={SECRET}{SECRET}\nEND-OF-LOG-{i}"
        ));
        text
    }

    fn host_name(i: usize) -> String {
        let mut name = format!("h{i:04}-@everyone-```-<@&1>-*_~|");
        while name.chars().count() < 64 {
            name.push('x');
        }
        name
    }

    /// A host state of each of the ten kinds (`kind` 0..10, cycling), with
    /// the data hosts of a run carry; `i` varies the step.
    fn state_of(kind: usize, i: usize) -> HostState {
        let step = (i % 3) as u32 + 1;
        match kind % 10 {
            0 => HostState::Succeeded,
            1 => HostState::Failed {
                step: Some(step),
                exit_code: Some(2),
                reason: format!("sudo: a password is required @everyone password={SECRET}"),
            },
            2 => HostState::Running { step },
            3 => HostState::Queued,
            4 => HostState::TimedOut { step },
            5 => HostState::Unreachable {
                reason: "connection refused <@&1>\n\u{0}".to_string(),
            },
            6 => HostState::Connecting,
            7 => HostState::Lost {
                step: Some(step),
                reason: "connection lost".to_string(),
            },
            8 => HostState::Cancelled { step: Some(step) },
            _ => HostState::Skipped,
        }
    }

    /// The failed state of host `i`.
    fn failed(i: usize) -> HostState {
        state_of(1, i)
    }

    fn host(i: usize, state: HostState) -> HostSnapshot {
        HostSnapshot {
            host: host_name(i),
            steps: 3,
            script: state
                .step()
                .map(|s| format!("script-{s}-``` @here password={SECRET}")),
            started_at: Some("2024-01-01T00:00:00Z".into()),
            finished_at: None,
            elapsed_ms: Some(i as i64 * 1_234),
            excerpt: if matches!(state, HostState::Queued | HostState::Connecting) {
                String::new()
            } else {
                hostile_excerpt(i)
            },
            state,
        }
    }

    fn snapshot(n: usize, state: RunState) -> RunSnapshot {
        let hosts = (0..n)
            .map(|i| host(i, if n == 1 { failed(i) } else { state_of(i, i) }))
            .collect();
        RunSnapshot {
            id: 42,
            state,
            task: Some("deploy @everyone".into()),
            started_by: "alice <@123>".into(),
            script_group: "lamp".into(),
            server_group: "web-group".into(),
            scripts: (1..=40)
                .map(|i| format!("script-{i}-``` password={SECRET}"))
                .collect(),
            created_at: "2024-01-01T00:00:00Z".into(),
            finished_at: (state != RunState::Running).then(|| "2024-01-01T00:01:12Z".into()),
            elapsed_ms: 72_000,
            hosts,
        }
    }

    fn all_text(view: &ProgressView) -> Vec<&str> {
        let mut out = vec![view.content.as_str()];
        for e in &view.embeds {
            out.push(&e.title);
            out.push(&e.description);
            out.extend(e.footer.as_deref());
            for f in &e.fields {
                out.push(&f.name);
                out.push(&f.value);
            }
        }
        for b in &view.buttons {
            out.push(&b.custom_id);
            out.push(&b.label);
        }
        out
    }

    fn assert_within_limits(view: &ProgressView) {
        assert!(chars(&view.content) <= 2000, "content too long");
        assert!(view.embeds.len() <= 10, "too many embeds");
        let mut total = 0;
        for e in &view.embeds {
            assert!(
                !e.title.is_empty() || !e.description.is_empty() || !e.fields.is_empty(),
                "empty embed"
            );
            assert!(chars(&e.title) <= 256, "title {}", chars(&e.title));
            assert!(
                chars(&e.description) <= 4096,
                "description {}",
                chars(&e.description)
            );
            assert!(e.fields.len() <= 25, "fields {}", e.fields.len());
            assert!(e.color <= 0xFF_FFFF);
            for f in &e.fields {
                assert!(
                    !f.name.trim().is_empty() && chars(&f.name) <= 256,
                    "field name"
                );
                assert!(
                    !f.value.trim().is_empty() && chars(&f.value) <= 1024,
                    "field value"
                );
            }
            if let Some(footer) = &e.footer {
                assert!(chars(footer) <= 2048, "footer");
            }
            total += embed_chars(e);
        }
        assert!(total <= 6000, "embeds total {total}");
        assert!(view.buttons.len() <= 25, "buttons");
        let mut ids = std::collections::HashSet::new();
        for b in &view.buttons {
            assert!(
                !b.custom_id.is_empty() && chars(&b.custom_id) <= 100,
                "custom_id"
            );
            assert!(ids.insert(b.custom_id.clone()), "duplicate custom_id");
            assert!(!b.label.is_empty() && chars(&b.label) <= 80, "label");
        }
    }

    /// No pings, no secrets, code blocks open and close exactly once each.
    fn assert_safe(view: &ProgressView) {
        for text in all_text(view) {
            assert!(!text.contains(SECRET), "secret leaked: {text}");
            for bad in ["@everyone", "@here", "<@", "<#"] {
                assert!(!text.contains(bad), "{bad} in {text}");
            }
            assert!(!text.contains("````"), "backtick run in {text}");
            assert!(
                !text
                    .chars()
                    .any(|c| c.is_control() && c != '\n' && c != '\t'),
                "control character in {text:?}"
            );
            let pieces: Vec<&str> = text.split("```").collect();
            assert!(pieces.len() % 2 == 1, "unbalanced fences in {text}");
            for (i, piece) in pieces.iter().enumerate() {
                if i % 2 == 1 {
                    assert!(
                        piece.starts_with('\n') && piece.ends_with('\n'),
                        "fence: {piece}"
                    );
                    assert!(!piece.contains("``"), "backticks in block body");
                }
            }
        }
    }

    /// Host lines of the list: (state index, line).
    fn host_lines(view: &ProgressView) -> Vec<(usize, String)> {
        view.embeds[0]
            .description
            .lines()
            .filter(|l| l.contains(" **"))
            .map(|l| {
                let idx = (0..STATE_COUNT)
                    .map(|kind| state_rank(&state_of(kind, 0)))
                    .find(|(_, symbol)| l.starts_with(symbol))
                    .map(|(rank, _)| rank)
                    .unwrap_or_else(|| panic!("no symbol: {l}"));
                (idx, l.to_string())
            })
            .collect()
    }

    fn more_count(view: &ProgressView) -> usize {
        view.embeds[0]
            .description
            .lines()
            .find_map(|l| l.strip_prefix("…and "))
            .map_or(0, |rest| {
                rest.split(' ').next().unwrap().parse::<usize>().unwrap()
            })
    }

    #[test]
    fn every_size_fits_and_is_safe() {
        let r = redactor();
        for n in [0, 1, 2, 10, 100, 1000] {
            for state in [
                RunState::Running,
                RunState::Failed,
                RunState::Succeeded,
                RunState::Cancelled,
            ] {
                let snap = snapshot(n, state);
                let view = render_progress(&snap, &r);
                assert_within_limits(&view);
                assert_safe(&view);
                assert_eq!(view, render_progress(&snap, &r), "not deterministic");

                let lines = host_lines(&view);
                assert!(
                    lines.windows(2).all(|w| w[0].0 <= w[1].0),
                    "failures not first at {n}"
                );
                // Every host has a line or is in "and N more", except, in a
                // run too big to read host by host, the succeeded and queued
                // hosts, which only the counts line counts.
                let lined = snap
                    .hosts
                    .iter()
                    .filter(|h| {
                        n <= AT_A_GLANCE
                            || !matches!(h.state, HostState::Succeeded | HostState::Queued)
                    })
                    .count();
                assert_eq!(
                    lines.len() + more_count(&view),
                    lined,
                    "hosts unaccounted at {n}"
                );
                if n >= 100 {
                    assert!(more_count(&view) > 0, "no 'more' at {n}");
                    assert!(view.embeds[0].description.contains("more: "));
                    // Failures are shown, successes are what gets summarised.
                    assert_eq!(lines[0].0, 0);
                }
                let color = view.embeds[0].color;
                let expected = match state {
                    RunState::Running => 0x3498DB,
                    RunState::Succeeded => 0x2ECC71,
                    RunState::Failed => 0xE74C3C,
                    RunState::Cancelled => 0x95A5A6,
                };
                assert_eq!(color, expected);
                if n >= 10 {
                    let logs = &view.embeds[1];
                    assert!(!logs.fields.is_empty() && logs.fields.len() <= EXCERPTS_MAX);
                    assert!(logs.fields[0].name.starts_with("❌"));
                    if n >= 100 {
                        assert!(logs.footer.as_deref().unwrap().contains("more log tails"));
                    }
                }
            }
        }
    }

    #[test]
    fn one_failed_host_shows_its_log_tail() {
        let view = render_progress(&snapshot(1, RunState::Failed), &redactor());
        assert_within_limits(&view);
        assert_safe(&view);
        assert_eq!(view.embeds.len(), 2);
        let desc = &view.embeds[0].description;
        assert!(desc.contains("1 host: ❌ 1 failed"), "{desc}");
        assert!(desc.contains("⏱️ 1m 12s · started by alice"), "{desc}");
        assert!(
            desc.contains("exit 2: sudo: a password is required"),
            "{desc}"
        );
        assert!(desc.contains("\\[redacted\\]"), "{desc}");
        assert_eq!(host_lines(&view).len(), 1);
        let field = &view.embeds[1].fields[0];
        assert!(field.value.starts_with("```\n…\n") && field.value.ends_with("\n```"));
        assert!(field.value.contains("END-OF-LOG-0"), "{}", field.value);
        assert!(field.value.contains("last line 0 [redacted]\nEND"));
        assert!(chars(&field.value) > 900, "a lone excerpt gets room");
        assert!(field.name.starts_with("❌ h0000-@\u{200B}everyone"));
    }

    #[test]
    fn a_discord_user_who_started_a_run_is_a_mention_and_others_stay_text() {
        let mut run = snapshot(1, RunState::Running);
        run.started_by = "discord:4100000000000000002".into();
        let view = render_progress(&run, &redactor());
        let desc = &view.embeds[0].description;
        assert!(desc.contains("started by <@4100000000000000002>"), "{desc}");
        for hostile in ["discord:1 <@&2>", "discord:", "cli:<@3>"] {
            run.started_by = hostile.into();
            let view = render_progress(&run, &redactor());
            assert_safe(&view);
            let desc = &view.embeds[0].description;
            assert!(!desc.contains("<@"), "{hostile}: {desc}");
        }
    }

    #[test]
    fn a_big_run_gives_lines_only_to_hosts_that_need_attention() {
        let mut run = snapshot(200, RunState::Succeeded);
        for h in &mut run.hosts {
            h.state = HostState::Succeeded;
        }
        let view = render_progress(&run, &redactor());
        assert_within_limits(&view);
        let desc = &view.embeds[0].description;
        assert!(desc.starts_with("200 hosts: ✅ 200 succeeded\n"), "{desc}");
        assert_eq!(host_lines(&view), Vec::new(), "{desc}");
        assert!(!desc.contains("…and "), "no \"and N more\": {desc}");
        assert!(
            view.content.contains("200/200 hosts finished"),
            "{}",
            view.content
        );

        for i in [3, 77, 150] {
            run.hosts[i].state = failed(i);
        }
        let view = render_progress(&run, &redactor());
        let lines = host_lines(&view);
        assert_eq!(lines.len(), 3, "{:?}", view.embeds[0].description);
        for (i, (_, line)) in [3, 77, 150].iter().zip(&lines) {
            assert!(line.starts_with("❌"), "{line}");
            assert!(line.contains(&host_name(*i)[..5]), "{line}");
        }

        // A run that can be read at a glance still accounts for every host
        // by a line (or, past the message's room, "and N more").
        let small = snapshot(AT_A_GLANCE, RunState::Succeeded);
        let view = render_progress(&small, &redactor());
        assert_eq!(host_lines(&view).len() + more_count(&view), AT_A_GLANCE);
    }

    #[test]
    fn with_a_public_url_and_n_more_points_to_the_runs_page() {
        let run = snapshot(1000, RunState::Running);
        let view = render_progress_linked(&run, &redactor(), Some("https://drover.example.org"));
        assert_within_limits(&view);
        assert_eq!(
            view.page_url.as_deref(),
            Some("https://drover.example.org/runs/42")
        );
        let desc = &view.embeds[0].description;
        assert!(
            desc.contains("more: ")
                && desc.ends_with(" · every host: <https://drover.example.org/runs/42>"),
            "{desc}"
        );
        assert_eq!(render_progress(&run, &redactor()).page_url, None);
    }

    #[test]
    fn an_exit_code_is_said_once() {
        let mut run = snapshot(1, RunState::Failed);
        run.hosts[0].state = HostState::Failed {
            step: Some(2),
            exit_code: Some(3),
            reason: "exit code 3".into(),
        };
        let view = render_progress(&run, &redactor());
        let desc = &view.embeds[0].description;
        assert!(desc.contains(" · exit 3 · "), "{desc}");
        assert!(!desc.contains("exit code"), "{desc}");
    }

    #[test]
    fn header_and_content() {
        let mut snap = snapshot(22, RunState::Running);
        for (i, h) in snap.hosts.iter_mut().enumerate() {
            h.state = match i {
                0..8 => HostState::Succeeded,
                8 => failed(i),
                9..12 => HostState::Running { step: 1 },
                _ => HostState::Queued,
            };
        }
        let view = render_progress(&snap, &redactor());
        let e = &view.embeds[0];
        assert!(
            e.title
                .starts_with("🔄 Run 42 · lamp on web-group · running"),
            "{}",
            e.title
        );
        assert!(
            e.description
                .contains("22 hosts: ✅ 8 succeeded · ❌ 1 failed · 🔄 3 running · ⏳ 10 queued"),
            "{}",
            e.description
        );
        assert!(
            e.description
                .contains("Scripts: 1. script-1-\\`\u{200B}\\`\u{200B}\\` \\[redacted\\] → 2."),
            "{}",
            e.description
        );
        assert!(e.description.contains("(+"), "long script list is cut");
        assert!(e
            .footer
            .as_deref()
            .unwrap()
            .starts_with("task deploy @\u{200B}everyone"));
        assert_eq!(view.content, "🔄 **Run 42** running · 9/22 hosts finished");
    }

    #[test]
    fn buttons_follow_state() {
        let r = redactor();
        let find = |v: &ProgressView, id: &str| {
            v.buttons
                .iter()
                .find(|b| b.custom_id == format!("drover:{id}:42"))
                .cloned()
                .unwrap()
        };
        let running = render_progress(&snapshot(10, RunState::Running), &r);
        assert_eq!(running.buttons.len(), 3);
        assert!(!find(&running, "cancel").disabled);
        assert_eq!(find(&running, "cancel").style, ButtonStyle::Danger);
        assert!(find(&running, "rerun").disabled);
        assert_eq!(find(&running, "rerun").style, ButtonStyle::Primary);
        assert!(!find(&running, "logs").disabled);
        assert_eq!(find(&running, "logs").style, ButtonStyle::Secondary);

        let failed = render_progress(&snapshot(10, RunState::Failed), &r);
        assert!(find(&failed, "cancel").disabled);
        assert!(!find(&failed, "rerun").disabled);

        let mut ok = snapshot(10, RunState::Succeeded);
        for h in &mut ok.hosts {
            h.state = HostState::Succeeded;
        }
        let ok = render_progress(&ok, &r);
        assert!(find(&ok, "cancel").disabled);
        assert!(find(&ok, "rerun").disabled);
        assert!(ok.embeds.len() == 1, "no log tails for successes");

        // Only skipped and cancelled: nothing to rerun.
        let mut cancelled = snapshot(10, RunState::Cancelled);
        for (i, h) in cancelled.hosts.iter_mut().enumerate() {
            h.state = if i % 2 == 0 {
                HostState::Skipped
            } else {
                HostState::Cancelled { step: None }
            };
        }
        let cancelled = render_progress(&cancelled, &r);
        assert!(find(&cancelled, "rerun").disabled);
        assert!(find(&cancelled, "cancel").disabled);

        let mut big = snapshot(1, RunState::Failed);
        big.id = i64::MIN;
        let big = render_progress(&big, &r);
        assert_within_limits(&big);
        assert_eq!(
            big.buttons[1].custom_id,
            format!("drover:rerun:{}", i64::MIN)
        );
    }

    #[test]
    fn sanitize_neutralises_and_redacts() {
        let r = redactor();
        let s = sanitize(
            "@everyone @here <@1> <@!2> <@&3> <#4> ``` a\u{0}b\u{1b}[1;31mc\x1b]0;t\u{7}d\r\n password=x",
            &r,
        );
        assert_eq!(
            s,
            "@\u{200B}everyone @\u{200B}here <\u{200B}@\u{200B}1> <\u{200B}@\u{200B}!2> \
             <\u{200B}@\u{200B}&3> <\u{200B}#4> `\u{200B}`\u{200B}` abcd\n [redacted]"
        );
        assert_eq!(sanitize(&s, &r), s, "idempotent");
        // Controls are removed before redaction, so they cannot hide a secret.
        assert_eq!(sanitize("pass\u{7}word=hunter2", &r), "[redacted]");
        assert_eq!(sanitize("tab\tkept", &Redactor::default()), "tab\tkept");
        // Empty matches do not spray the text.
        let empty = Redactor::new(&["x*".to_string()]).unwrap();
        assert_eq!(sanitize("abxxc", &empty), "ab[redacted]c");
        assert!(Redactor::new(&["(".to_string()]).is_err());
    }

    #[test]
    fn code_block_keeps_tail_and_cannot_break() {
        let block = code_block("ok", 100);
        assert_eq!(block, "```\nok\n```");
        let text = format!("{}\nlast ``` line", "a".repeat(500));
        let block = code_block(&text, 100);
        assert_eq!(chars(&block), 100);
        assert!(
            block.ends_with("last `\u{200B}`\u{200B}` line\n```"),
            "{block}"
        );
        assert!(block.starts_with("```\n…\n"));
        assert_eq!(block.matches("```").count(), 2);
        assert_eq!(code_block("", 20), "```\n \n```");
        assert_eq!(code_block("abc", 8), "");
        for max in 9..40 {
            let b = code_block(&"`".repeat(100), max);
            assert!(chars(&b) <= max);
            assert_eq!(b.matches("```").count(), 2, "{b}");
        }
        // Multi-byte characters are counted as characters.
        let b = code_block(&"é👩".repeat(300), 50);
        assert_eq!(chars(&b), 50);
    }

    #[test]
    fn humanize() {
        assert_eq!(humanize_ms(-5), "0ms");
        assert_eq!(humanize_ms(850), "850ms");
        assert_eq!(humanize_ms(42_000), "42s");
        assert_eq!(humanize_ms(72_000), "1m 12s");
        assert_eq!(humanize_ms(7_500_000), "2h 5m");
        assert_eq!(humanize_ms(100 * 3_600_000), "4d 4h");
    }

    #[test]
    fn plan_is_short_and_safe() {
        let plan = render_plan("lamp", "web-group", 12, &["a".into(), "b_c".into()]);
        assert_eq!(
            plan,
            "▶️ Running **lamp** on **web-group** · 12 hosts · 2 scripts: 1. a → 2. b\\_c"
        );
        let one = render_plan("x", "y", 1, &[]);
        assert_eq!(
            one,
            "▶️ Running **x** on **y** · 1 host · 0 scripts: no scripts"
        );
        let many: Vec<String> = (0..500)
            .map(|i| format!("@everyone-```-{i}-{}", "s".repeat(60)))
            .collect();
        let plan = render_plan(&"@here".repeat(30), "<@&1>", 1000, &many);
        assert!(chars(&plan) <= 2000);
        assert!(plan.contains("more)"));
        assert!(!plan.contains("@everyone") && !plan.contains("@here") && !plan.contains("<@"));
        assert!(!plan.contains("``"));
    }
}
