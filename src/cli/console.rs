//! The command line's writes to standard output and standard error. A
//! reader that goes away (`drover host list | head`, a closed pager) ends
//! the output quietly: no panic, no error message, and the exit code stays
//! what the command did. Any other write failure is an error.

use std::io::{self, Write};

/// True when a write failed because nobody reads the output any more.
pub fn reader_gone(e: &io::Error) -> bool {
    e.kind() == io::ErrorKind::BrokenPipe
}

/// A write whose reader went away counts as done.
pub fn unless_reader_gone(result: io::Result<()>) -> io::Result<()> {
    match result {
        Err(e) if reader_gone(&e) => Ok(()),
        other => other,
    }
}

/// Prints `text` (a trailing newline added) on standard output.
pub fn print(text: &str) -> io::Result<()> {
    let mut out = io::stdout().lock();
    unless_reader_gone(
        out.write_all(text.as_bytes())
            .and_then(|()| out.write_all(b"\n"))
            .and_then(|()| out.flush()),
    )
}

/// Prints one line on standard error (progress, notes, errors). Nothing is
/// left to tell when standard error itself cannot be written, so a failure
/// is dropped.
pub fn note(line: &str) {
    let mut err = io::stderr().lock();
    let _ = err
        .write_all(line.as_bytes())
        .and_then(|()| err.write_all(b"\n"));
}
