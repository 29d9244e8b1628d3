//! The parser of the runner's output file: step output framed by marker
//! lines that carry the run's nonce (step starts, exit codes, timeouts, the
//! runner's end), read across chunk boundaries with bounded memory.

/// What starts every marker line (after the nonce comes the marker).
const MARK: &str = "\n\x1eDROVER ";

/// How a step ended, as the runner reported it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum StepEnd {
    Exit(i32),
    TimedOut,
}

/// What the parser found in the output stream.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum RemoteEvent {
    /// Output of the current step.
    Output(Vec<u8>),
    /// A step started; `offset` is where its output begins in `out`.
    Start { step: u32, offset: u64 },
    /// A step ended; `offset` is just after its end marker.
    End {
        step: u32,
        end: StepEnd,
        offset: u64,
    },
    /// `sudo -n` wants a password.
    SudoRefused,
    /// The runner finished.
    Done,
    /// The follower printed everything it will print (not part of the
    /// output file). `runner_done`: the control file says the runner
    /// finished (even if its done marker never reached the output).
    EndOfOutput { runner_done: bool },
}

/// Splits the remote `out` stream into output and markers, across chunk
/// boundaries, with bounded memory (only a possible partial marker is held).
pub struct MarkerParser {
    prefix: Vec<u8>,
    pending: Vec<u8>,
    /// Offset in `out` of the first byte of `pending`.
    offset: u64,
}

const MAX_MARKER_LINE: usize = 128;

impl MarkerParser {
    pub fn new(nonce: &str, start_offset: u64) -> MarkerParser {
        MarkerParser {
            prefix: format!("{MARK}{nonce} ").into_bytes(),
            pending: Vec::new(),
            offset: start_offset,
        }
    }

    /// Offset in `out` up to which everything has been emitted.
    pub fn offset(&self) -> u64 {
        self.offset
    }

    pub fn feed(&mut self, data: &[u8], events: &mut Vec<RemoteEvent>) {
        self.pending.extend_from_slice(data);
        let mut consumed = 0;
        loop {
            let found = find(&self.pending[consumed..], &self.prefix);
            let Some(at) = found else {
                // Keep a tail that could be the start of a marker.
                let rest_len = self.pending.len() - consumed;
                let keep = partial_prefix_len(&self.pending[consumed..], &self.prefix);
                self.emit(consumed, rest_len - keep, events);
                consumed += rest_len - keep;
                break;
            };
            let body_start = consumed + at + self.prefix.len();
            let newline = self.pending[body_start..].iter().position(|b| *b == b'\n');
            match newline {
                Some(nl) if nl <= MAX_MARKER_LINE => {
                    self.emit(consumed, at, events);
                    let line = String::from_utf8_lossy(&self.pending[body_start..body_start + nl])
                        .into_owned();
                    let marker_end = body_start + nl + 1;
                    let after = self.offset + (marker_end - (consumed + at)) as u64;
                    consumed = marker_end;
                    let event = parse_marker(&line, after);
                    // The follower's own end line is not in the file.
                    if !matches!(event, Some(RemoteEvent::EndOfOutput { .. })) {
                        self.offset = after;
                    }
                    if let Some(event) = event {
                        events.push(event);
                    }
                }
                None if self.pending.len() - body_start <= MAX_MARKER_LINE => {
                    // Possibly a marker whose line is not complete yet.
                    self.emit(consumed, at, events);
                    consumed += at;
                    break;
                }
                _ => {
                    // Too long to be a marker: plain output.
                    self.emit(consumed, at + 1, events);
                    consumed += at + 1;
                }
            }
        }
        self.pending.drain(..consumed);
    }

    fn emit(&mut self, from: usize, len: usize, events: &mut Vec<RemoteEvent>) {
        if len == 0 {
            return;
        }
        let bytes = self.pending[from..from + len].to_vec();
        self.offset += len as u64;
        match events.last_mut() {
            Some(RemoteEvent::Output(prev)) => prev.extend_from_slice(&bytes),
            _ => events.push(RemoteEvent::Output(bytes)),
        }
    }

    /// Bytes after `offset()` kept back as a possible marker start.
    pub fn held(&self) -> &[u8] {
        &self.pending
    }

    /// Whatever is held back at the end of the stream is output.
    pub fn finish(&mut self, events: &mut Vec<RemoteEvent>) {
        let len = self.pending.len();
        self.emit(0, len, events);
        self.pending.clear();
    }
}

fn find(haystack: &[u8], needle: &[u8]) -> Option<usize> {
    haystack.windows(needle.len()).position(|w| w == needle)
}

/// Length of the longest suffix of `data` that is a proper prefix of `needle`.
fn partial_prefix_len(data: &[u8], needle: &[u8]) -> usize {
    let max = needle.len().saturating_sub(1).min(data.len());
    (1..=max)
        .rev()
        .find(|&n| data[data.len() - n..] == needle[..n])
        .unwrap_or(0)
}

fn parse_marker(line: &str, offset: u64) -> Option<RemoteEvent> {
    let parts: Vec<&str> = line.split_whitespace().collect();
    match parts.first().copied()? {
        "start" => Some(RemoteEvent::Start {
            step: parts.get(1)?.parse().ok()?,
            offset,
        }),
        "end" => {
            let end = match *parts.get(2)? {
                "timeout" => StepEnd::TimedOut,
                code => StepEnd::Exit(code.parse().ok()?),
            };
            Some(RemoteEvent::End {
                step: parts.get(1)?.parse().ok()?,
                end,
                offset,
            })
        }
        "error" if parts.get(1) == Some(&"sudo") => Some(RemoteEvent::SudoRefused),
        "done" => Some(RemoteEvent::Done),
        "eof" => Some(RemoteEvent::EndOfOutput {
            runner_done: parts.get(1) == Some(&"done"),
        }),
        _ => None,
    }
}

#[cfg(test)]
pub(super) mod tests {
    use super::*;

    pub(in crate::engine::remote) fn marker(nonce: &str, body: &str) -> String {
        format!("\n\x1eDROVER {nonce} {body}\n")
    }

    fn stream() -> String {
        let n = "abc";
        format!(
            "{}hello\nworld{}{}partial no newline{}{}",
            marker(n, "start 1"),
            marker(n, "end 1 0"),
            marker(n, "start 2"),
            marker(n, "end 2 timeout"),
            marker(n, "done")
        )
    }

    fn parse_in_chunks(data: &[u8], chunk: usize) -> Vec<RemoteEvent> {
        let mut parser = MarkerParser::new("abc", 0);
        let mut events = Vec::new();
        for piece in data.chunks(chunk) {
            parser.feed(piece, &mut events);
        }
        parser.finish(&mut events);
        assert_eq!(parser.offset(), data.len() as u64);
        merge_outputs(events)
    }

    /// Merges adjacent outputs, so that chunking does not matter.
    pub(in crate::engine::remote) fn merge_outputs(events: Vec<RemoteEvent>) -> Vec<RemoteEvent> {
        let mut merged: Vec<RemoteEvent> = Vec::new();
        for e in events {
            match (merged.last_mut(), e) {
                (Some(RemoteEvent::Output(a)), RemoteEvent::Output(b)) => a.extend(b),
                (_, e) => merged.push(e),
            }
        }
        merged
    }

    #[test]
    fn parses_markers_at_any_chunking() {
        let data = stream();
        let whole = parse_in_chunks(data.as_bytes(), data.len());
        for chunk in [1, 2, 3, 7, 16] {
            assert_eq!(
                parse_in_chunks(data.as_bytes(), chunk),
                whole,
                "chunk {chunk}"
            );
        }
        assert!(matches!(whole[0], RemoteEvent::Start { step: 1, .. }));
        assert_eq!(whole[1], RemoteEvent::Output(b"hello\nworld".to_vec()));
        assert!(matches!(
            whole[2],
            RemoteEvent::End {
                step: 1,
                end: StepEnd::Exit(0),
                ..
            }
        ));
        assert_eq!(
            whole[4],
            RemoteEvent::Output(b"partial no newline".to_vec())
        );
        assert!(matches!(
            whole[5],
            RemoteEvent::End {
                step: 2,
                end: StepEnd::TimedOut,
                ..
            }
        ));
        assert!(matches!(whole[6], RemoteEvent::Done));
    }

    #[test]
    fn foreign_nonce_is_output() {
        let data = format!("{}x{}", marker("abc", "start 1"), marker("evil", "end 1 0"));
        let events = parse_in_chunks(data.as_bytes(), 5);
        assert_eq!(events.len(), 2);
        assert!(matches!(&events[1], RemoteEvent::Output(o) if o.ends_with(b"evil end 1 0\n")));
    }

    #[test]
    fn start_offset_points_at_output() {
        let data = stream();
        let events = parse_in_chunks(data.as_bytes(), 4);
        let RemoteEvent::Start { offset, .. } = events[0] else {
            panic!("{events:?}")
        };
        assert_eq!(
            &data.as_bytes()[offset as usize..offset as usize + 5],
            b"hello"
        );
    }
}
