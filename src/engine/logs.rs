//! Full per-step logs on the controller: one file per run, host and step
//! under the log directory (`logs/<run>/<host>/<step>.log`). Memory stays
//! bounded whatever a script prints: the head goes straight to the file, and
//! past the per-step cap only a fixed-size tail is kept, written at the end
//! after a line saying how many bytes were dropped. Logs can hold what
//! scripts print about a host, so directories are created owner-only (0700)
//! and files readable by their owner only (0600), like the database.

use std::collections::VecDeque;
use std::fs::File;
use std::io::{Read, Seek, SeekFrom, Write};
use std::path::{Path, PathBuf};

/// Bytes of a step's output kept from its start.
pub const HEAD_CAP: u64 = 8 * 1024 * 1024;
/// Bytes of a step's output kept from its end once the head is full.
pub const TAIL_CAP: usize = 1024 * 1024;
/// Bytes of the excerpt stored in the database for front ends.
pub const EXCERPT_CAP: usize = 4096;

/// Creates (truncating) a file under the log directory, readable by its
/// owner only, with any missing directories (owner-only too).
pub fn create_private_file(path: &Path) -> std::io::Result<File> {
    open_private_file(path, Open::Truncate)
}

/// Like [`create_private_file`], but keeps what the file holds and writes
/// after it (a log that several processes write in turn).
pub fn append_private_file(path: &Path) -> std::io::Result<File> {
    open_private_file(path, Open::Append)
}

/// How [`open_private_file`] treats what a file already holds.
#[derive(Clone, Copy, PartialEq, Eq)]
enum Open {
    Truncate,
    Append,
    /// Kept, readable, and written over from the start.
    Keep,
}

fn open_private_file(path: &Path, how: Open) -> std::io::Result<File> {
    use std::os::unix::fs::{DirBuilderExt, OpenOptionsExt};
    if let Some(dir) = path.parent() {
        std::fs::DirBuilder::new()
            .recursive(true)
            .mode(0o700)
            .create(dir)?;
    }
    std::fs::OpenOptions::new()
        .read(how == Open::Keep)
        .write(true)
        .create(true)
        .append(how == Open::Append)
        .truncate(how == Open::Truncate)
        .mode(0o600)
        .open(path)
}

/// Where a step's log lives.
pub fn step_log_path(root: &Path, run_id: i64, host: &str, step: u32) -> PathBuf {
    host_log_dir(root, run_id, host).join(format!("{step}.log"))
}

fn host_log_dir(root: &Path, run_id: i64, host: &str) -> PathBuf {
    root.join(run_id.to_string()).join(host)
}

/// Creates the log directories of a run's hosts and syncs the directories
/// that name them (the run's, the log root and its parent), so that a host's
/// logs need only their own directory synced to survive a power loss.
pub fn prepare_run_dirs<'a>(
    root: &Path,
    run_id: i64,
    hosts: impl IntoIterator<Item = &'a str>,
) -> std::io::Result<()> {
    use std::os::unix::fs::DirBuilderExt;
    let mut builder = std::fs::DirBuilder::new();
    builder.recursive(true).mode(0o700);
    for host in hosts {
        builder.create(host_log_dir(root, run_id, host))?;
    }
    let run_dir = root.join(run_id.to_string());
    builder.create(&run_dir)?;
    sync_dir(&run_dir)?;
    sync_dir(root)?;
    match root.parent().filter(|p| !p.as_os_str().is_empty()) {
        Some(parent) => sync_dir(parent),
        None => Ok(()),
    }
}

/// Syncs a host's step logs (steps `1..=steps`, those that exist) and their
/// directory to disk; on failure, the step and path that failed.
pub fn sync_host_logs(
    root: &Path,
    run_id: i64,
    host: &str,
    steps: u32,
) -> Result<(), (u32, PathBuf, std::io::Error)> {
    for step in 1..=steps {
        let path = step_log_path(root, run_id, host, step);
        match File::open(&path).and_then(|f| f.sync_all()) {
            Err(e) if e.kind() != std::io::ErrorKind::NotFound => return Err((step, path, e)),
            _ => {}
        }
    }
    let dir = host_log_dir(root, run_id, host);
    match sync_dir(&dir) {
        Err(e) if e.kind() != std::io::ErrorKind::NotFound => Err((steps, dir, e)),
        _ => Ok(()),
    }
}

/// Syncs a directory's entries to disk.
fn sync_dir(dir: &Path) -> std::io::Result<()> {
    File::open(dir)?.sync_all()
}

/// A bounded ring of the last bytes seen.
#[derive(Debug)]
pub struct TailBuffer {
    cap: usize,
    bytes: VecDeque<u8>,
}

impl TailBuffer {
    pub fn new(cap: usize) -> TailBuffer {
        TailBuffer {
            cap,
            bytes: VecDeque::new(),
        }
    }

    pub fn push(&mut self, data: &[u8]) {
        let data = &data[data.len().saturating_sub(self.cap)..];
        let overflow = (self.bytes.len() + data.len()).saturating_sub(self.cap);
        self.bytes.drain(..overflow.min(self.bytes.len()));
        self.bytes.extend(data);
    }

    pub fn to_vec(&self) -> Vec<u8> {
        self.bytes.iter().copied().collect()
    }
}

/// The log of one step being written. Every chunk received goes to the
/// file at once (no buffer), so `run logs` shows a running step's output
/// live.
pub struct StepLog {
    file: File,
    total: u64,
    tail: Option<TailBuffer>,
    excerpt: TailBuffer,
    /// A log an earlier controller wrote (it died inside the step), kept
    /// until this one reads the step's output again: from its start, so it
    /// then replaces the file whole.
    earlier: bool,
}

/// What a finished step log reports.
#[derive(Debug, Clone)]
pub struct StepLogSummary {
    pub bytes: u64,
    /// Last lines of output, lossily decoded.
    pub excerpt: String,
}

impl StepLog {
    /// Creates (truncating) the step's log file, owner-only.
    pub fn create(path: &Path) -> std::io::Result<StepLog> {
        Ok(StepLog {
            file: create_private_file(path)?,
            total: 0,
            tail: None,
            excerpt: TailBuffer::new(EXCERPT_CAP),
            earlier: false,
        })
    }

    /// Opens the log of a step that an earlier controller was writing when
    /// it died, keeping what it holds until the step's output is read again.
    pub fn resume(path: &Path) -> std::io::Result<StepLog> {
        Ok(StepLog {
            file: open_private_file(path, Open::Keep)?,
            total: 0,
            tail: None,
            excerpt: TailBuffer::new(EXCERPT_CAP),
            earlier: true,
        })
    }

    /// Empties a log an earlier controller wrote, before writing it anew.
    fn drop_earlier(&mut self) -> std::io::Result<()> {
        if std::mem::take(&mut self.earlier) {
            self.file.set_len(0)?;
            self.file.seek(SeekFrom::Start(0))?;
        }
        Ok(())
    }

    pub fn write(&mut self, data: &[u8]) -> std::io::Result<()> {
        if data.is_empty() {
            return Ok(());
        }
        self.drop_earlier()?;
        self.excerpt.push(data);
        let head_room = usize::try_from(HEAD_CAP.saturating_sub(self.total)).unwrap_or(usize::MAX);
        let (head, rest) = data.split_at(data.len().min(head_room));
        self.file.write_all(head)?;
        if !rest.is_empty() {
            self.tail
                .get_or_insert_with(|| TailBuffer::new(TAIL_CAP))
                .push(rest);
        }
        self.total += data.len() as u64;
        Ok(())
    }

    /// Bytes received so far.
    pub fn total(&self) -> u64 {
        self.total
    }

    /// Closes a step that did not end here (its host was lost, its run
    /// files were gone): a log an earlier controller wrote and nothing
    /// replaced is kept as it is, else the same as [`StepLog::finish`].
    pub fn abandon(mut self) -> std::io::Result<StepLogSummary> {
        if !self.earlier {
            return self.finish();
        }
        let bytes = self.file.metadata()?.len();
        self.file
            .seek(SeekFrom::Start(bytes.saturating_sub(EXCERPT_CAP as u64)))?;
        let mut last = Vec::with_capacity(EXCERPT_CAP);
        self.file.read_to_end(&mut last)?;
        Ok(StepLogSummary {
            bytes,
            excerpt: excerpt_text(&last),
        })
    }

    /// Writes the kept tail (if the cap was passed) and closes the file.
    pub fn finish(mut self) -> std::io::Result<StepLogSummary> {
        self.drop_earlier()?;
        if let Some(tail) = self.tail.take() {
            let kept = tail.to_vec();
            let dropped = self.total - HEAD_CAP - kept.len() as u64;
            writeln!(
                self.file,
                "\n[drover: {dropped} bytes dropped here; the step printed {} bytes in all, the last {} follow]",
                self.total,
                kept.len()
            )?;
            self.file.write_all(&kept)?;
        }
        self.file.flush()?;
        Ok(StepLogSummary {
            bytes: self.total,
            excerpt: excerpt_text(&self.excerpt.to_vec()),
        })
    }
}

/// Lossy UTF-8 of the excerpt, starting at a line boundary when possible.
fn excerpt_text(bytes: &[u8]) -> String {
    let text = String::from_utf8_lossy(bytes);
    if bytes.len() >= EXCERPT_CAP {
        if let Some(nl) = text.find('\n') {
            return text[nl + 1..].to_string();
        }
    }
    text.into_owned()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tail_buffer_keeps_last_bytes() {
        let mut t = TailBuffer::new(4);
        t.push(b"ab");
        t.push(b"cdef");
        assert_eq!(t.to_vec(), b"cdef");
        t.push(b"0123456789");
        assert_eq!(t.to_vec(), b"6789");
    }

    #[test]
    fn a_resumed_log_is_kept_until_the_step_is_read_again() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("1.log");
        let earlier = b"line one\nline two of the earlier controller\n";
        std::fs::write(&path, earlier).unwrap();
        // nothing read again (host lost): kept as it is
        let summary = StepLog::resume(&path).unwrap().abandon().unwrap();
        assert_eq!(std::fs::read(&path).unwrap(), earlier);
        assert_eq!(summary.bytes, earlier.len() as u64);
        assert_eq!(summary.excerpt.as_bytes(), earlier);
        // read again from the step's start: replaced whole, even if shorter
        let mut log = StepLog::resume(&path).unwrap();
        log.write(b"line one\n").unwrap();
        let summary = log.abandon().unwrap();
        assert_eq!(std::fs::read(&path).unwrap(), b"line one\n");
        assert_eq!(summary.bytes, 9);
        // the step ended having printed nothing: the log is empty
        std::fs::write(&path, earlier).unwrap();
        let summary = StepLog::resume(&path).unwrap().finish().unwrap();
        assert_eq!(std::fs::read(&path).unwrap(), b"");
        assert_eq!(summary.bytes, 0);
    }

    #[test]
    fn cap_keeps_head_and_tail() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("1.log");
        let mut log = StepLog::create(&path).unwrap();
        let chunk = vec![b'x'; 1024 * 1024];
        for _ in 0..12 {
            log.write(&chunk).unwrap();
        }
        log.write(b"\nTHE END\n").unwrap();
        let summary = log.finish().unwrap();
        assert_eq!(summary.bytes, 12 * 1024 * 1024 + 9);
        assert!(summary.excerpt.ends_with("THE END\n"));
        let written = std::fs::read(&path).unwrap();
        assert!(written.len() < 10 * 1024 * 1024);
        let text = String::from_utf8_lossy(&written);
        assert!(text.contains("bytes dropped here"));
        assert!(text.ends_with("THE END\n"));
    }
}
