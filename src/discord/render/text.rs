//! Text for Discord: host output made safe to show (controls stripped,
//! secrets redacted, mentions neutralised, code blocks unbreakable),
//! markdown escaped, lengths cut at the front or the back, durations and
//! plurals in words.

use super::Redactor;
use crate::text::strip_controls;

pub(super) const ZWSP: char = '\u{200B}';
pub(super) const ELLIPSIS: char = '…';

pub(super) fn chars(s: &str) -> usize {
    s.chars().count()
}

/// Makes host-produced text safe to show: control characters (but `\n` and
/// `\t`) and ANSI escapes removed, redact patterns replaced by `[redacted]`,
/// mentions neutralised, backtick runs broken up by U+200B.
pub fn sanitize(text: &str, redactor: &Redactor) -> String {
    neutralise(&redactor.redact(&strip_controls(text)))
}

/// Inserts U+200B after every `@`, after `<` starting a mention, and between
/// consecutive backticks. Idempotent.
pub(super) fn neutralise(text: &str) -> String {
    let mut out = String::with_capacity(text.len() + 8);
    let mut it = text.chars().peekable();
    while let Some(c) = it.next() {
        out.push(c);
        let next = it.peek().copied();
        let insert = match c {
            '@' => next != Some(ZWSP),
            '<' => matches!(next, Some('@' | '#' | '/')),
            '`' => next == Some('`'),
            _ => false,
        };
        if insert {
            out.push(ZWSP);
        }
    }
    out
}

/// Backslash-escapes Discord markdown in inline text.
pub(super) fn escape_markdown(text: &str) -> String {
    let mut out = String::with_capacity(text.len() + 4);
    for c in text.chars() {
        if matches!(c, '\\' | '*' | '_' | '~' | '`' | '|' | '[' | ']') {
            out.push('\\');
        }
        out.push(c);
    }
    out
}

pub(super) fn one_line(text: &str) -> String {
    let joined: Vec<&str> = text.split_whitespace().collect();
    joined.join(" ")
}

/// The first `max` characters, the last one an ellipsis if cut.
pub(super) fn truncate_head(text: &str, max: usize) -> String {
    if chars(text) <= max {
        return text.to_string();
    }
    if max == 0 {
        return String::new();
    }
    let mut out: String = text.chars().take(max - 1).collect();
    out.push(ELLIPSIS);
    out
}

/// A name for inline display: sanitised, one line, at most `max` characters
/// before markdown escaping.
pub(super) fn inline_text(text: &str, redactor: &Redactor, max: usize) -> String {
    escape_markdown(&truncate_head(&one_line(&sanitize(text, redactor)), max))
}

/// A fenced code block of at most `max_chars` characters in all, keeping the
/// tail of `text`. Backtick runs inside are broken, so the block cannot be
/// closed early; empty if `max_chars` is too small for any block.
pub fn code_block(text: &str, max_chars: usize) -> String {
    const OPEN: &str = "```\n";
    const CLOSE: &str = "\n```";
    let overhead = OPEN.len() + CLOSE.len();
    if max_chars <= overhead {
        return String::new();
    }
    let cleaned = neutralise(&strip_controls(text));
    let body = cleaned.trim_matches('\n');
    let room = max_chars - overhead;
    let body = if body.trim().is_empty() {
        " ".to_string()
    } else if chars(body) <= room {
        body.to_string()
    } else {
        keep_tail(body, room)
    };
    format!("{OPEN}{body}{CLOSE}")
}

/// The last characters of `body`, marked as cut, `room` characters in all;
/// starts at a line boundary when one is near.
pub(super) fn keep_tail(body: &str, room: usize) -> String {
    let total = chars(body);
    if room <= 2 {
        return body.chars().skip(total.saturating_sub(room)).collect();
    }
    let keep = room - 2;
    let start = body
        .char_indices()
        .nth(total - keep)
        .map_or(body.len(), |(i, _)| i);
    let mut tail = &body[start..];
    if let Some(nl) = tail.find('\n') {
        let rest = &tail[nl + 1..];
        if chars(&tail[..nl]) < keep / 4 && !rest.trim().is_empty() {
            tail = rest;
        }
    }
    let tail = tail.trim_start_matches('\n');
    format!("{ELLIPSIS}\n{tail}")
}

/// Milliseconds as a short duration: `850ms`, `42s`, `1m 12s`, `2h 5m`, `3d 4h`.
pub fn humanize_ms(ms: i64) -> String {
    let ms = ms.max(0);
    if ms < 1000 {
        return format!("{ms}ms");
    }
    let s = ms / 1000;
    if s < 60 {
        format!("{s}s")
    } else if s < 3600 {
        format!("{}m {}s", s / 60, s % 60)
    } else if s < 86_400 {
        format!("{}h {}m", s / 3600, (s % 3600) / 60)
    } else {
        format!("{}d {}h", s / 86_400, (s % 86_400) / 3600)
    }
}

pub(super) fn plural(n: usize, one: &str, many: &str) -> String {
    if n == 1 {
        format!("{n} {one}")
    } else {
        format!("{n} {many}")
    }
}
