//! The store: every SQL statement of drover lives here. SQLite through sqlx,
//! migrations embedded and applied on open, WAL and foreign keys on, every
//! multi-row change in one transaction together with its audit record.
//! Every connection runs with `synchronous=FULL`: a commit has reached the
//! disk when it returns, so what is stored survives a power loss (the
//! engine lets a host remove a run's files only after such a commit).

mod inventory;
pub use inventory::{
    body_sha256, InventoryChanges, ItemChange, LibraryChanges, ScriptChange, ScriptGroupInput,
    ValidScript,
};
pub mod accounts;
mod handover;
pub use handover::LeaseClaim;
pub mod host_keys;
pub mod leases;
pub mod run_messages;
pub mod runs;

use std::path::{Path, PathBuf};
use std::str::FromStr;
use std::time::Duration;

use sqlx::sqlite::{SqliteConnectOptions, SqliteJournalMode, SqlitePoolOptions, SqliteSynchronous};
use sqlx::{Row, Sqlite, SqlitePool, Transaction};

use crate::domain::{now_ms, Actor, AuditEntry};
use crate::error::{EntityKind, Error, Result};

static MIGRATOR: sqlx::migrate::Migrator = sqlx::migrate!("./migrations");

/// Handle on the database; cheap to clone.
#[derive(Clone, Debug)]
pub struct Store {
    pool: SqlitePool,
    path: Option<PathBuf>,
}

type Tx<'a> = Transaction<'a, Sqlite>;

/// The default database file: `drover.db` in the user's data directory.
pub fn default_database_path() -> PathBuf {
    dirs::data_dir()
        .unwrap_or_else(|| PathBuf::from("."))
        .join("drover")
        .join("drover.db")
}

/// Turns `sqlite://PATH`, `sqlite:PATH` or a plain path into a file path;
/// any other `SCHEME://` is refused (drover stores in SQLite only).
pub fn database_path(url: &str) -> Result<PathBuf> {
    let stripped = url
        .strip_prefix("sqlite://")
        .or_else(|| url.strip_prefix("sqlite:"));
    let stripped = match stripped {
        Some(path) => path,
        None => match url.split_once("://") {
            Some((scheme, _)) => {
                return Err(Error::Config(format!(
                    "database url '{scheme}://...': drover keeps its data in SQLite; give a file path or sqlite://PATH"
                )))
            }
            None => url,
        },
    };
    let stripped = stripped.split('?').next().unwrap_or(stripped);
    Ok(PathBuf::from(stripped))
}

impl Store {
    /// Opens (creating if needed) the database file and applies migrations.
    pub async fn open(path: &Path) -> Result<Store> {
        if let Some(dir) = path.parent().filter(|d| !d.as_os_str().is_empty()) {
            std::fs::create_dir_all(dir).map_err(|e| {
                Error::io(
                    format!("cannot create database directory {}", dir.display()),
                    e,
                )
            })?;
        }
        let options = SqliteConnectOptions::from_str("sqlite://")?
            .filename(path)
            .create_if_missing(true)
            .journal_mode(SqliteJournalMode::Wal)
            .synchronous(SqliteSynchronous::Full)
            .foreign_keys(true)
            .busy_timeout(Duration::from_secs(10));
        let pool = SqlitePoolOptions::new()
            .max_connections(4)
            .connect_with(options)
            .await?;
        MIGRATOR.run(&pool).await?;
        restrict_permissions(path);
        Ok(Store {
            pool,
            path: Some(path.to_path_buf()),
        })
    }

    /// The database file, if any.
    pub fn path(&self) -> Option<&Path> {
        self.path.as_deref()
    }

    /// A write transaction that holds the write lock from its start, so that
    /// concurrent writers (CLI and bot) wait instead of failing.
    async fn begin(&self) -> Result<Tx<'static>> {
        Ok(self.pool.begin_with("BEGIN IMMEDIATE").await?)
    }

    pub async fn close(&self) {
        self.pool.close().await;
    }

    /// The latest audit entries, newest first.
    pub async fn audit_log(&self, limit: u32) -> Result<Vec<AuditEntry>> {
        let rows = sqlx::query(
            "SELECT at, actor, action, target, detail, outcome FROM audit ORDER BY id DESC LIMIT ?",
        )
        .bind(i64::from(limit))
        .fetch_all(&self.pool)
        .await?;
        rows.iter()
            .map(|r| {
                Ok(AuditEntry {
                    at: crate::domain::format_ms(r.try_get("at")?),
                    actor: r.try_get("actor")?,
                    action: r.try_get("action")?,
                    target: r.try_get("target")?,
                    detail: r.try_get("detail")?,
                    outcome: r.try_get("outcome")?,
                })
            })
            .collect()
    }

    /// Records an audit entry outside any other change (e.g. a refused command).
    pub async fn audit(
        &self,
        actor: &Actor,
        action: &str,
        target: &str,
        detail: &str,
        outcome: &str,
    ) -> Result<()> {
        let mut tx = self.begin().await?;
        audit(&mut tx, actor, action, target, detail, outcome).await?;
        tx.commit().await?;
        Ok(())
    }
}

/// The database holds run environments and pinned keys: readable by its
/// owner only (the file, its WAL and shared-memory files).
fn restrict_permissions(path: &Path) {
    use std::os::unix::fs::PermissionsExt;
    for suffix in ["", "-wal", "-shm"] {
        let mut file = path.as_os_str().to_owned();
        file.push(suffix);
        if let Err(e) = std::fs::set_permissions(&file, std::fs::Permissions::from_mode(0o600)) {
            if e.kind() != std::io::ErrorKind::NotFound {
                tracing::warn!(file = ?file, error = %e, "cannot restrict the database file's permissions");
            }
        }
    }
}

/// Appends to the audit trail inside `tx`.
async fn audit(
    tx: &mut Tx<'_>,
    actor: &Actor,
    action: &str,
    target: &str,
    detail: &str,
    outcome: &str,
) -> Result<()> {
    sqlx::query(
        "INSERT INTO audit (at, actor, action, target, detail, outcome) VALUES (?, ?, ?, ?, ?, ?)",
    )
    .bind(now_ms())
    .bind(actor.to_string())
    .bind(action)
    .bind(target)
    .bind(detail)
    .bind(outcome)
    .execute(&mut **tx)
    .await?;
    Ok(())
}

/// Table and column for each kind, to look up ids by name.
fn table_of(kind: EntityKind) -> &'static str {
    match kind {
        EntityKind::Host => "hosts",
        EntityKind::ServerGroup => "server_groups",
        EntityKind::Script => "scripts",
        EntityKind::ScriptGroup => "script_groups",
        EntityKind::Task => "tasks",
        EntityKind::Run => "runs",
        EntityKind::WebUser => "web_users",
    }
}

/// Deletes a named thing (its dependent rows go by the schema's cascades),
/// audited as `action`, in one transaction.
async fn delete_named(
    store: &Store,
    actor: &Actor,
    kind: EntityKind,
    name: &str,
    action: &str,
) -> Result<()> {
    let mut tx = store.begin().await?;
    let id = id_of(&mut tx, kind, name).await?;
    sqlx::query(&format!("DELETE FROM {} WHERE id = ?", table_of(kind)))
        .bind(id)
        .execute(&mut *tx)
        .await?;
    audit(&mut tx, actor, action, name, "", "ok").await?;
    tx.commit().await?;
    Ok(())
}

/// The id of a named thing, or a NotFound error listing the known names.
async fn id_of(conn: &mut sqlx::SqliteConnection, kind: EntityKind, name: &str) -> Result<i64> {
    let table = table_of(kind);
    let found: Option<i64> = sqlx::query_scalar(&format!("SELECT id FROM {table} WHERE name = ?"))
        .bind(name)
        .fetch_optional(&mut *conn)
        .await?;
    match found {
        Some(id) => Ok(id),
        None => {
            let known: Vec<String> =
                sqlx::query_scalar(&format!("SELECT name FROM {table} ORDER BY name"))
                    .fetch_all(&mut *conn)
                    .await?;
            Err(Error::NotFound {
                kind,
                name: name.to_string(),
                known,
            })
        }
    }
}

async fn exists(conn: &mut sqlx::SqliteConnection, kind: EntityKind, name: &str) -> Result<bool> {
    let table = table_of(kind);
    let found: Option<i64> = sqlx::query_scalar(&format!("SELECT id FROM {table} WHERE name = ?"))
        .bind(name)
        .fetch_optional(&mut *conn)
        .await?;
    Ok(found.is_some())
}

async fn ensure_absent(
    conn: &mut sqlx::SqliteConnection,
    kind: EntityKind,
    name: &str,
) -> Result<()> {
    if exists(conn, kind, name).await? {
        return Err(Error::AlreadyExists {
            kind,
            name: name.to_string(),
        });
    }
    Ok(())
}

/// Names known for a kind (for autocomplete and error messages).
impl Store {
    pub async fn names(&self, kind: EntityKind) -> Result<Vec<String>> {
        let table = table_of(kind);
        if kind == EntityKind::Run {
            let ids: Vec<i64> = sqlx::query_scalar("SELECT id FROM runs ORDER BY id DESC")
                .fetch_all(&self.pool)
                .await?;
            return Ok(ids.into_iter().map(|i| i.to_string()).collect());
        }
        Ok(
            sqlx::query_scalar(&format!("SELECT name FROM {table} ORDER BY name"))
                .fetch_all(&self.pool)
                .await?,
        )
    }

    /// At most `limit` names of `kind` containing `partial` (case
    /// insensitive), those starting with it first, each part by name: what
    /// an autocomplete suggests. SQLite filters and cuts, so only what is
    /// returned is read into memory, whatever the inventory's size.
    pub async fn names_matching(
        &self,
        kind: EntityKind,
        partial: &str,
        limit: usize,
    ) -> Result<Vec<String>> {
        let column = if kind == EntityKind::Run {
            "CAST(id AS TEXT)"
        } else {
            "name"
        };
        let table = table_of(kind);
        let limit = i64::try_from(limit).unwrap_or(i64::MAX);
        Ok(sqlx::query_scalar(&format!(
            "SELECT {column} FROM {table} WHERE instr({column}, ?1) > 0 \
             ORDER BY instr({column}, ?1) <> 1, {column} LIMIT ?2"
        ))
        .bind(partial.to_lowercase())
        .bind(limit)
        .fetch_all(&self.pool)
        .await?)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn every_connection_commits_to_disk_before_it_returns() {
        let dir = tempfile::tempdir().expect("tempdir");
        let store = Store::open(&dir.path().join("drover.db"))
            .await
            .expect("open");
        // Every connection of the pool, held at once.
        let mut held = Vec::new();
        for _ in 0..store.pool.options().get_max_connections() {
            held.push(store.pool.acquire().await.expect("connection"));
        }
        for conn in &mut held {
            let synchronous: i64 = sqlx::query_scalar("PRAGMA synchronous")
                .fetch_one(&mut **conn)
                .await
                .expect("pragma");
            assert_eq!(synchronous, 2, "FULL");
            let journal: String = sqlx::query_scalar("PRAGMA journal_mode")
                .fetch_one(&mut **conn)
                .await
                .expect("pragma");
            assert_eq!(journal, "wal");
        }
    }
}
