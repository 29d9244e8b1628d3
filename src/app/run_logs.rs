//! A run's step logs as users read them: whole (streamed, bounded memory),
//! as a capped text, or their tail read from the files' ends; always
//! passed through `logs.redact`.

use super::App;
use crate::error::Result;
use crate::state::RunSnapshot;

impl App {
    /// The run whose logs are asked for, once `host` and `script` (when
    /// given) are known to belong to it; unknown ones are refused with the
    /// ones the run has.
    pub async fn log_selection(
        &self,
        id: i64,
        host: Option<&str>,
        script: Option<&str>,
    ) -> Result<RunSnapshot> {
        let snapshot = self.store.run_snapshot(id).await?;
        if let Some(host) = host {
            if !snapshot.hosts.iter().any(|h| h.host == host) {
                let known: Vec<&str> = snapshot.hosts.iter().map(|h| h.host.as_str()).collect();
                return Err(crate::error::Error::Refused(format!(
                    "host '{host}' is not in run {id} (hosts: {})",
                    known.join(", ")
                )));
            }
        }
        if let Some(script) = script {
            if !snapshot.scripts.iter().any(|s| s == script) {
                return Err(crate::error::Error::Refused(format!(
                    "script '{script}' is not in run {id} (scripts: {})",
                    snapshot.scripts.join(", ")
                )));
            }
        }
        Ok(snapshot)
    }

    /// The step log files of a run in display order (host by host, step by
    /// step): every host or one, every script or one.
    fn log_files(
        &self,
        snapshot: &RunSnapshot,
        host: Option<&str>,
        script: Option<&str>,
    ) -> Vec<LogFile> {
        let root = self.log_root();
        let mut files = Vec::new();
        for h in snapshot
            .hosts
            .iter()
            .filter(|h| host.is_none_or(|x| x == h.host))
        {
            for (index, name) in snapshot.scripts.iter().enumerate() {
                if script.is_some_and(|s| s != name) {
                    continue;
                }
                let step = index as u32 + 1;
                files.push(LogFile {
                    header: format!(
                        "==> {} · step {step}/{} {name} <==\n",
                        h.host,
                        snapshot.scripts.len()
                    ),
                    path: crate::engine::logs::step_log_path(&root, snapshot.id, &h.host, step),
                });
            }
        }
        files
    }

    /// Copies the step logs of a run to `out` as they are on disk, passed
    /// through `logs.redact` line by line, each after a
    /// `==> host · step i/n script <==` header: every host or one, every
    /// script or one. Memory stays bounded whatever the logs' size.
    pub fn write_logs(
        &self,
        snapshot: &RunSnapshot,
        host: Option<&str>,
        script: Option<&str>,
        out: &mut dyn std::io::Write,
    ) -> std::io::Result<()> {
        for log in self.log_files(snapshot, host, script) {
            let Ok(mut file) = std::fs::File::open(&log.path) else {
                continue;
            };
            out.write_all(log.header.as_bytes())?;
            let mut last = LastByte {
                out: &mut *out,
                last: None,
            };
            let mut redacting = crate::redact::RedactingWriter::new(&self.redactor, &mut last);
            std::io::copy(&mut file, &mut redacting)?;
            redacting.end_line()?;
            if last.last.is_some_and(|b| b != b'\n') {
                out.write_all(b"\n")?;
            }
        }
        Ok(())
    }

    /// The step logs of a run as text (lossy UTF-8) for front ends that
    /// need one piece: about `limit` bytes of logs from the start, cut at a
    /// line's end (so that `logs.redact` still sees whole lines), then a
    /// line saying that the rest was cut and where to get it.
    pub async fn run_logs_text(
        &self,
        id: i64,
        host: Option<&str>,
        script: Option<&str>,
        limit: usize,
    ) -> Result<String> {
        let snapshot = self.log_selection(id, host, script).await?;
        let mut capped = Capped {
            bytes: Vec::new(),
            limit,
            cut: false,
        };
        match self.write_logs(&snapshot, host, script, &mut capped) {
            Ok(()) => {}
            Err(_) if capped.cut => {}
            Err(e) => return Err(crate::error::Error::io("cannot read the run's logs", e)),
        }
        if capped.cut {
            let line_end = capped.bytes.iter().rposition(|b| *b == b'\n');
            capped.bytes.truncate(line_end.map_or(0, |at| at + 1));
        }
        let mut text = String::from_utf8_lossy(&capped.bytes).into_owned();
        if capped.cut {
            text.push_str(&format!(
                "[logs cut after {} bytes: `drover run logs {id}` prints all of them]\n",
                capped.bytes.len()
            ));
        }
        Ok(text)
    }

    /// The last `limit` bytes or so of a run's step logs (every host or
    /// one), with their headers, read from the ends of the files: memory
    /// and reading stay bounded however big the logs are. When output was
    /// left out, the text starts with a line saying so and naming the
    /// command that prints all of it, at a line start. Passed through
    /// `logs.redact`.
    pub fn logs_tail(&self, snapshot: &RunSnapshot, host: Option<&str>, limit: usize) -> String {
        let note = format!("{}\n", rest_of_logs_note(snapshot.id, host));
        let tail = tail_of(&self.log_files(snapshot, host, None), limit, &note);
        String::from_utf8_lossy(&self.redactor.redact_bytes(&tail)).into_owned()
    }

    /// Bytes of the text `logs_tail` gives for a run's step logs (every
    /// host or one), read from the files' metadata: the logs with their
    /// header lines, so that a limit of this size cuts nothing. 0 when no
    /// step printed anything.
    pub fn logs_size(&self, snapshot: &RunSnapshot, host: Option<&str>) -> u64 {
        let mut output = 0;
        let mut text = 0;
        for log in self.log_files(snapshot, host, None) {
            if let Ok(meta) = std::fs::metadata(&log.path) {
                output += meta.len();
                // The header, and the newline a log without one gets.
                text += meta.len() + log.header.len() as u64 + 1;
            }
        }
        if output == 0 {
            0
        } else {
            text
        }
    }
}

/// The line that says output was left out and which command prints all
/// of it (`drover run logs ID [HOST]`).
pub fn rest_of_logs_note(id: i64, host: Option<&str>) -> String {
    let host = host.map(|h| format!(" {h}")).unwrap_or_default();
    format!("[earlier output left out; `drover run logs {id}{host}` prints all of it]")
}

/// One step log of a run with the header line shown before it.
struct LogFile {
    header: String,
    path: std::path::PathBuf,
}

/// The end of `files` taken as one text (headers included, a newline
/// after each log): about `limit` bytes, read backwards from the last file;
/// `note` first when output was left out.
fn tail_of(files: &[LogFile], limit: usize, note: &str) -> Vec<u8> {
    let mut pieces: Vec<Vec<u8>> = Vec::new();
    let mut room = limit;
    let mut cut = false;
    for log in files.iter().rev() {
        if room == 0 {
            cut = true;
            break;
        }
        let Ok((mut body, whole)) = read_tail(&log.path, room) else {
            continue;
        };
        if !body.is_empty() && !body.ends_with(b"\n") {
            body.push(b'\n');
        }
        if !whole {
            // Start at a line's start, under the log's header.
            let line_start = body.iter().position(|b| *b == b'\n').map_or(0, |at| at + 1);
            body.drain(..line_start);
            cut = true;
        }
        room = room.saturating_sub(body.len() + log.header.len());
        pieces.push(body);
        pieces.push(log.header.clone().into_bytes());
        if cut {
            break;
        }
    }
    let mut bytes = Vec::new();
    if cut {
        bytes.extend_from_slice(note.as_bytes());
    }
    for piece in pieces.iter().rev() {
        bytes.extend_from_slice(piece);
    }
    bytes
}

/// The last `limit` bytes of a file, and whether that is all of it.
fn read_tail(path: &std::path::Path, limit: usize) -> std::io::Result<(Vec<u8>, bool)> {
    use std::io::{Read, Seek, SeekFrom};
    let mut file = std::fs::File::open(path)?;
    let len = file.metadata()?.len();
    let take = len.min(limit as u64);
    file.seek(SeekFrom::Start(len - take))?;
    let mut body = Vec::with_capacity(usize::try_from(take).unwrap_or(0));
    file.take(take).read_to_end(&mut body)?;
    Ok((body, take == len))
}

/// A writer that remembers the last byte written through it.
struct LastByte<'a> {
    out: &'a mut dyn std::io::Write,
    last: Option<u8>,
}

impl std::io::Write for LastByte<'_> {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        let n = self.out.write(buf)?;
        if n > 0 {
            self.last = Some(buf[n - 1]);
        }
        Ok(n)
    }

    fn flush(&mut self) -> std::io::Result<()> {
        self.out.flush()
    }
}

/// A buffer that takes at most `limit` bytes, then refuses more (which
/// stops the copy) and says it was cut.
struct Capped {
    bytes: Vec<u8>,
    limit: usize,
    cut: bool,
}

impl std::io::Write for Capped {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        let room = self.limit.saturating_sub(self.bytes.len());
        if room == 0 && !buf.is_empty() {
            self.cut = true;
            return Err(std::io::Error::other("log text limit reached"));
        }
        let n = buf.len().min(room);
        self.bytes.extend_from_slice(&buf[..n]);
        Ok(n)
    }

    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn capped_text_keeps_the_first_bytes_and_stops_the_copy() {
        let mut capped = Capped {
            bytes: Vec::new(),
            limit: 10,
            cut: false,
        };
        let copied = std::io::copy(&mut &[b'x'; 100][..], &mut capped);
        assert!(copied.is_err(), "the copy stops at the limit");
        assert!(capped.cut);
        assert_eq!(capped.bytes, vec![b'x'; 10]);

        let mut roomy = Capped {
            bytes: Vec::new(),
            limit: 10,
            cut: false,
        };
        std::io::copy(&mut &b"0123456789"[..], &mut roomy).expect("fits exactly");
        assert!(!roomy.cut, "exactly the limit is not cut");
    }

    fn log_file(dir: &std::path::Path, name: &str, body: &[u8]) -> LogFile {
        let path = dir.join(name);
        std::fs::write(&path, body).expect("write log");
        LogFile {
            header: format!("==> {name} <==\n"),
            path,
        }
    }

    #[test]
    fn tail_of_small_logs_is_all_of_them_in_order() {
        let dir = tempfile::tempdir().expect("tempdir");
        let files = vec![
            log_file(dir.path(), "a", b"one\ntwo\n"),
            LogFile {
                header: "==> missing <==\n".into(),
                path: dir.path().join("missing"),
            },
            log_file(dir.path(), "b", b"no newline"),
        ];
        let text = tail_of(&files, 1000, "[cut]\n");
        assert_eq!(text, b"==> a <==\none\ntwo\n==> b <==\nno newline\n");
    }

    #[test]
    fn tail_of_big_logs_keeps_the_end_from_a_line_start_and_says_so() {
        let dir = tempfile::tempdir().expect("tempdir");
        let lines: String = (1..=1000).map(|i| format!("line {i}\n")).collect();
        let files = vec![
            log_file(dir.path(), "first", b"never shown\n"),
            log_file(dir.path(), "big", lines.as_bytes()),
            log_file(dir.path(), "last", b"end\n"),
        ];
        let text = String::from_utf8(tail_of(&files, 100, "[cut]\n")).expect("utf8");
        assert!(text.starts_with("[cut]\n==> big <==\nline "), "{text}");
        assert!(text.ends_with("line 1000\n==> last <==\nend\n"), "{text}");
        assert!(!text.contains("never shown"));
        let body_start = text.find("<==\n").map(|at| at + 4).expect("header");
        assert!(
            text[body_start..].starts_with("line "),
            "cut at a line start: {text}"
        );
        assert!(text.len() < 100 + 120, "about the limit: {}", text.len());
    }

    #[test]
    fn last_byte_is_the_last_one_written() {
        let mut sink = Vec::new();
        let mut last = LastByte {
            out: &mut sink,
            last: None,
        };
        std::io::copy(&mut &b"ab\ncd"[..], &mut last).expect("copy");
        assert_eq!(last.last, Some(b'd'));
        assert_eq!(sink, b"ab\ncd");
    }
}
