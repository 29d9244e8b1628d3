//! `logs.redact`: replaces configured patterns by `[redacted]` in every
//! piece of host output shown to a user (run excerpts and reasons in tables,
//! live lines and JSON, `run logs`, `--show-output`, `log fetch`, Discord).
//! Step logs on disk stay raw. Pure: no I/O of its own, no front end.
//!
//! Text is redacted as bytes (step output need not be UTF-8), and streams
//! line by line ([`RedactingWriter`]), so a pattern matches within one line
//! of output: a secret split over two lines is not seen.

use std::io::Write;

use regex::bytes::{Captures, Regex};

use crate::state::RunSnapshot;

/// What a match is replaced by.
pub const REDACTED: &str = "[redacted]";

/// Longest line held back by [`RedactingWriter`]: a longer one is redacted
/// and written in pieces of this size.
const MAX_LINE: usize = 64 * 1024;

/// Replaces every match of the configured `logs.redact` expressions by
/// `[redacted]`.
#[derive(Debug, Clone, Default)]
pub struct Redactor {
    patterns: Vec<Regex>,
}

impl Redactor {
    pub fn new(patterns: &[String]) -> Result<Redactor, regex::Error> {
        let patterns = patterns
            .iter()
            .map(|p| Regex::new(p))
            .collect::<Result<Vec<_>, _>>()?;
        Ok(Redactor { patterns })
    }

    /// True when there is nothing to redact.
    pub fn is_empty(&self) -> bool {
        self.patterns.is_empty()
    }

    /// `bytes` with every (non-empty) match replaced, pattern after pattern.
    pub fn redact_bytes(&self, bytes: &[u8]) -> Vec<u8> {
        let mut out = bytes.to_vec();
        for re in &self.patterns {
            if re.is_match(&out) {
                out = re
                    .replace_all(&out, |c: &Captures<'_>| {
                        if c[0].is_empty() {
                            Vec::new()
                        } else {
                            REDACTED.as_bytes().to_vec()
                        }
                    })
                    .into_owned();
            }
        }
        out
    }

    /// `text` with every (non-empty) match replaced, pattern after pattern.
    pub fn redact(&self, text: &str) -> String {
        if self.is_empty() {
            return text.to_string();
        }
        String::from_utf8_lossy(&self.redact_bytes(text.as_bytes())).into_owned()
    }

    /// The host output a snapshot carries (excerpts, reasons), redacted.
    pub fn snapshot(&self, mut snapshot: RunSnapshot) -> RunSnapshot {
        if self.is_empty() {
            return snapshot;
        }
        for host in &mut snapshot.hosts {
            host.excerpt = self.redact(&host.excerpt);
            if let Some(reason) = host.state.reason_mut() {
                *reason = self.redact(reason);
            }
        }
        snapshot
    }
}

/// A writer that redacts what passes through it line by line (memory stays
/// bounded: a line longer than 64 KiB is redacted in pieces). Call
/// [`RedactingWriter::end_line`] where a piece of output ends without a
/// newline (the end of a file), so that its last line is written.
pub struct RedactingWriter<'a> {
    redactor: &'a Redactor,
    out: &'a mut dyn Write,
    line: Vec<u8>,
}

impl<'a> RedactingWriter<'a> {
    pub fn new(redactor: &'a Redactor, out: &'a mut dyn Write) -> RedactingWriter<'a> {
        RedactingWriter {
            redactor,
            out,
            line: Vec::new(),
        }
    }

    /// Writes the line held back so far, redacted.
    pub fn end_line(&mut self) -> std::io::Result<()> {
        if self.line.is_empty() {
            return Ok(());
        }
        let redacted = self.redactor.redact_bytes(&self.line);
        self.line.clear();
        self.out.write_all(&redacted)
    }
}

impl Write for RedactingWriter<'_> {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        if self.redactor.is_empty() {
            return self.out.write(buf);
        }
        let mut rest = buf;
        while !rest.is_empty() {
            let room = MAX_LINE - self.line.len();
            let newline = rest[..rest.len().min(room)]
                .iter()
                .position(|b| *b == b'\n');
            let take = newline.map_or(rest.len().min(room), |at| at + 1);
            self.line.extend_from_slice(&rest[..take]);
            rest = &rest[take..];
            if newline.is_some() || self.line.len() >= MAX_LINE {
                self.end_line()?;
            }
        }
        Ok(buf.len())
    }

    fn flush(&mut self) -> std::io::Result<()> {
        self.out.flush()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn redactor() -> Redactor {
        Redactor::new(&["hunter[0-9]+".to_string(), "x*".to_string()]).expect("patterns")
    }

    #[test]
    fn replaces_matches_and_ignores_empty_ones() {
        assert_eq!(
            redactor().redact("pw hunter22 ok"),
            "pw [redacted] ok".to_string()
        );
        assert_eq!(
            redactor().redact_bytes(b"\xffhunter1\xfe"),
            b"\xff[redacted]\xfe".to_vec()
        );
    }

    fn through_writer(redactor: &Redactor, chunks: &[&[u8]]) -> Vec<u8> {
        let mut out = Vec::new();
        let mut writer = RedactingWriter::new(redactor, &mut out);
        for chunk in chunks {
            writer.write_all(chunk).expect("write");
        }
        writer.end_line().expect("end");
        out
    }

    #[test]
    fn the_stream_is_redacted_whatever_the_chunks() {
        let redactor = redactor();
        let text: &[u8] = b"a hunter2\nb hunter33 c\nlast hunter4";
        let whole = through_writer(&redactor, &[text]);
        assert_eq!(
            whole,
            b"a [redacted]\nb [redacted] c\nlast [redacted]".to_vec()
        );
        for size in [1, 2, 5, 7] {
            let chunks: Vec<&[u8]> = text.chunks(size).collect();
            assert_eq!(
                through_writer(&redactor, &chunks),
                whole,
                "chunks of {size}"
            );
        }
    }

    #[test]
    fn without_patterns_bytes_pass_unchanged_and_long_lines_stay_bounded() {
        let raw: Vec<u8> = (0..=255u8).cycle().take(300_000).collect();
        assert_eq!(through_writer(&Redactor::default(), &[&raw]), raw);
        let long = vec![b'a'; 3 * MAX_LINE + 5];
        let out = through_writer(&redactor(), &[&long]);
        assert_eq!(out, long);
    }
}
