//! Errors of the core, as types. Front ends print them as they are: every
//! message says what was wrong and, where it helps, what would be right.

use std::fmt;

/// The kinds of things operators manage, used in error messages.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum EntityKind {
    Host,
    ServerGroup,
    Script,
    ScriptGroup,
    Task,
    Run,
    WebUser,
}

impl fmt::Display for EntityKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            EntityKind::Host => "host",
            EntityKind::ServerGroup => "server group",
            EntityKind::Script => "script",
            EntityKind::ScriptGroup => "script group",
            EntityKind::Task => "task",
            EntityKind::Run => "run",
            EntityKind::WebUser => "web user",
        })
    }
}

/// Everything the core can refuse or fail with.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    #[error("invalid {kind} name '{name}': {rule}")]
    InvalidName {
        kind: EntityKind,
        name: String,
        rule: &'static str,
    },
    #[error("{kind} '{name}' already exists")]
    AlreadyExists { kind: EntityKind, name: String },
    #[error("unknown {kind} '{name}'{}", known_list(.known))]
    NotFound {
        kind: EntityKind,
        name: String,
        known: Vec<String>,
    },
    #[error("{kind} '{name}' is still used by {}; {hint}", .users.join(", "))]
    InUse {
        kind: EntityKind,
        name: String,
        users: Vec<String>,
        hint: &'static str,
    },
    #[error("invalid {what} '{value}': {expected}")]
    InvalidValue {
        what: &'static str,
        value: String,
        expected: String,
    },
    #[error("script body is {size} bytes; the limit is {limit} bytes (1 MiB)")]
    ScriptTooLarge { size: usize, limit: usize },
    /// The body was read only up to just past the limit, so its full size
    /// is unknown.
    #[error("script body is more than {limit} bytes; the limit is {limit} bytes (1 MiB)")]
    ScriptOverLimit { limit: usize },
    #[error(
        "script body is not valid UTF-8 (first bad byte at offset {offset}); scripts must be text"
    )]
    ScriptNotUtf8 { offset: usize },
    #[error("script body is empty; a script needs at least one command")]
    ScriptEmpty,
    #[error("position {position} is out of range for script group '{group}': valid positions are 1..={max}")]
    BadPosition {
        group: String,
        position: i64,
        max: i64,
    },
    #[error("script '{script}' is already in script group '{group}' at position {position}")]
    AlreadyInGroup {
        script: String,
        group: String,
        position: i64,
    },
    #[error(
        "run {run} is already being rerun as run {rerun}, which is still running; \
         wait for it to end (drover run status {rerun}) or cancel it (drover run cancel {rerun})"
    )]
    RerunLive { run: i64, rerun: i64 },
    #[error("{0}")]
    Refused(String),
    /// A run environment key that would make a shell, an interpreter or the
    /// dynamic loader run other code than the script.
    #[error("environment variable {key} is refused: {why}; an admin can allow it by name with `[run] env_allow = [\"{key}\"]` in the configuration")]
    EnvKeyRefused { key: String, why: &'static str },
    /// A run environment value that shells may import as a function.
    #[error("environment variable {key} is refused: its value starts with '()', which shells may import as a function definition (the value is not repeated here)")]
    EnvValueRefused { key: String },
    #[error("configuration: {0}")]
    Config(String),
    #[error("import of {path}: {message}")]
    Import { path: String, message: String },
    /// A refused line of an imported file: `inventory.ini:12: ...`.
    #[error("{file}:{line}: {message}")]
    ImportAt {
        file: String,
        line: usize,
        message: String,
    },
    #[error("{context}: {source}")]
    Io {
        context: String,
        #[source]
        source: std::io::Error,
    },
    /// A state name in the database that this version does not know (a
    /// newer drover wrote it, or someone edited the file).
    #[error(
        "the database holds an unknown {of} state '{value}'; this version of drover knows {known}"
    )]
    UnknownStoredState {
        of: &'static str,
        value: String,
        known: String,
    },
    #[error("database error: {0}")]
    Database(#[from] sqlx::Error),
    #[error("database migration failed: {0}")]
    Migrate(#[from] sqlx::migrate::MigrateError),
}

fn known_list(known: &[String]) -> String {
    if known.is_empty() {
        String::new()
    } else {
        const SHOWN: usize = 20;
        let mut list = known
            .iter()
            .take(SHOWN)
            .cloned()
            .collect::<Vec<_>>()
            .join(", ");
        if known.len() > SHOWN {
            list.push_str(&format!(" and {} more", known.len() - SHOWN));
        }
        format!(" (known: {list})")
    }
}

impl Error {
    pub fn not_found(kind: EntityKind, name: impl Into<String>) -> Self {
        Error::NotFound {
            kind,
            name: name.into(),
            known: Vec::new(),
        }
    }

    pub fn io(context: impl Into<String>, source: std::io::Error) -> Self {
        Error::Io {
            context: context.into(),
            source,
        }
    }

    /// True when the error is the operator's input being refused, as opposed
    /// to an internal failure (database, I/O).
    pub fn is_refusal(&self) -> bool {
        !matches!(
            self,
            Error::Database(_)
                | Error::Migrate(_)
                | Error::Io { .. }
                | Error::UnknownStoredState { .. }
        )
    }
}

impl Error {
    /// True for a store failure that may pass if tried again: the database
    /// locked (busy) beyond the busy timeout, a full disk, an I/O error, a
    /// file that could not be opened, or no connection free in time.
    /// Anything else (a refused change, a broken schema) fails the same way
    /// every time.
    pub fn is_transient(&self) -> bool {
        match self {
            Error::Database(sqlx::Error::Database(e)) => e
                .code()
                .and_then(|code| code.parse::<i32>().ok())
                .is_some_and(|code| TRANSIENT_SQLITE_CODES.contains(&(code & 0xff))),
            Error::Database(
                sqlx::Error::Io(_) | sqlx::Error::PoolTimedOut | sqlx::Error::WorkerCrashed,
            ) => true,
            Error::Io { .. } => true,
            _ => false,
        }
    }
}

/// SQLite's primary result codes of failures that may pass: BUSY, LOCKED,
/// IOERR, FULL, CANTOPEN, PROTOCOL.
const TRANSIENT_SQLITE_CODES: [i32; 6] = [5, 6, 10, 13, 14, 15];

pub type Result<T, E = Error> = std::result::Result<T, E>;
