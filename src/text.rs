//! Plain-text presentation shared by front ends: aligned tables, key/value
//! lines, JSON, and host output stripped of what would not show as text.

use std::iter::Peekable;
use std::str::Chars;

use serde::Serialize;

/// A table whose columns are padded to their widest cell.
pub struct Table {
    headers: Vec<&'static str>,
    rows: Vec<Vec<String>>,
}

impl Table {
    pub fn new(headers: &[&'static str]) -> Table {
        Table {
            headers: headers.to_vec(),
            rows: Vec::new(),
        }
    }

    pub fn row(&mut self, cells: Vec<String>) {
        self.rows.push(cells);
    }

    pub fn render(&self) -> String {
        let mut widths: Vec<usize> = self.headers.iter().map(|h| h.chars().count()).collect();
        for row in &self.rows {
            for (i, cell) in row.iter().enumerate() {
                if let Some(w) = widths.get_mut(i) {
                    *w = (*w).max(cell.chars().count());
                }
            }
        }
        let line = |cells: Vec<&str>| {
            let padded: Vec<String> = cells
                .iter()
                .zip(&widths)
                .map(|(c, w)| format!("{c:<w$}", w = *w))
                .collect();
            padded.join("  ").trim_end().to_string()
        };
        let mut out = line(self.headers.clone());
        out.push('\n');
        for row in &self.rows {
            out.push_str(&line(row.iter().map(String::as_str).collect()));
            out.push('\n');
        }
        out
    }
}

pub fn json<T: Serialize + ?Sized>(value: &T) -> String {
    serde_json::to_string_pretty(value)
        .unwrap_or_else(|e| format!("{{\"error\": \"cannot render JSON: {e}\"}}"))
}

/// `key: value` lines with aligned values.
pub fn fields(pairs: &[(&str, String)]) -> String {
    let width = pairs.iter().map(|(k, _)| k.len()).max().unwrap_or(0) + 1;
    pairs
        .iter()
        .map(|(k, v)| format!("{:<width$} {v}\n", format!("{k}:")))
        .collect()
}

pub fn or_dash(value: &str) -> String {
    if value.is_empty() {
        "-".to_string()
    } else {
        value.to_string()
    }
}

fn is_invisible_format(c: char) -> bool {
    matches!(
        c,
        '\u{061C}' | '\u{200E}' | '\u{200F}' | '\u{202A}'..='\u{202E}' | '\u{2066}'..='\u{2069}' | '\u{FEFF}'
    )
}

/// Host output made safe to display as text anywhere (a terminal, a chat
/// message, a web page): control characters but `\n` and `\t` removed,
/// ANSI escape sequences (colours, titles) removed, and the invisible
/// direction marks and overrides that make text read differently from
/// what it is removed too.
pub fn strip_controls(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    let mut it = text.chars().peekable();
    while let Some(c) = it.next() {
        match c {
            '\n' | '\t' => out.push(c),
            '\u{2028}' | '\u{2029}' => out.push('\n'),
            '\u{1b}' => skip_escape(&mut it),
            c if c.is_control() || is_invisible_format(c) => {}
            c => out.push(c),
        }
    }
    out
}

/// Skips the rest of an ANSI CSI (`ESC [ … final`) or OSC (`ESC ] … BEL`)
/// sequence; a lone ESC is just dropped.
fn skip_escape(it: &mut Peekable<Chars<'_>>) {
    match it.peek() {
        Some('[') => {
            it.next();
            while let Some(&c) = it.peek() {
                if ('\u{20}'..='\u{3f}').contains(&c) {
                    it.next();
                } else {
                    if ('\u{40}'..='\u{7e}').contains(&c) {
                        it.next();
                    }
                    break;
                }
            }
        }
        Some(']') => {
            it.next();
            while let Some(&c) = it.peek() {
                match c {
                    '\u{7}' => {
                        it.next();
                        break;
                    }
                    '\u{1b}' => {
                        it.next();
                        if it.peek() == Some(&'\\') {
                            it.next();
                        }
                        break;
                    }
                    '\n' => break,
                    _ => {
                        it.next();
                    }
                }
            }
        }
        _ => {}
    }
}

/// Orders names as people count: digit runs by their value (`web-2`
/// before `web-10`), the rest by character.
pub fn natural_order(a: &str, b: &str) -> std::cmp::Ordering {
    let (mut a, mut b) = (a, b);
    loop {
        let (Some(x), Some(y)) = (a.chars().next(), b.chars().next()) else {
            return a.len().cmp(&b.len());
        };
        if x.is_ascii_digit() && y.is_ascii_digit() {
            let digits = |s: &str| s.find(|c: char| !c.is_ascii_digit()).unwrap_or(s.len());
            let (na, nb) = (digits(a), digits(b));
            let (da, db) = (
                a[..na].trim_start_matches('0'),
                b[..nb].trim_start_matches('0'),
            );
            let order = da
                .len()
                .cmp(&db.len())
                .then_with(|| da.cmp(db))
                .then_with(|| na.cmp(&nb));
            if order.is_ne() {
                return order;
            }
            (a, b) = (&a[na..], &b[nb..]);
        } else {
            if x != y {
                return x.cmp(&y);
            }
            (a, b) = (&a[x.len_utf8()..], &b[y.len_utf8()..]);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_count_like_people_do() {
        let mut names = vec![
            "web-10", "web-2", "db-1", "web-1", "web-02", "web", "web-1a", "é-1",
        ];
        names.sort_by(|a, b| natural_order(a, b));
        assert_eq!(
            names,
            ["db-1", "web", "web-1", "web-1a", "web-2", "web-02", "web-10", "é-1"]
        );
    }

    #[test]
    fn host_output_keeps_its_text_and_loses_escapes_and_overrides() {
        let raw = "a\u{1b}[1;31mred\u{1b}[0m \u{1b}]0;title\u{7}b\u{202E}evil\u{202C}\r\n\tc\u{0}";
        assert_eq!(strip_controls(raw), "ared bevil\n\tc");
    }
}
