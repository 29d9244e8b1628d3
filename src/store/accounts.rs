//! Web dashboard persistence: accounts, sessions and one-time login links
//! (migration 0002). Only hashes are stored: argon2id PHC strings for
//! passwords, hex SHA-256 for session and link tokens. Every change is
//! committed together with its audit record.

use sqlx::sqlite::SqliteRow;
use sqlx::Row;

use super::{audit, ensure_absent, id_of, Store};
use crate::access::Level;
use crate::domain::{format_ms, Actor, Name};
use crate::error::{EntityKind, Result};

/// A web account as listed (never its password hash).
#[derive(Debug, Clone, serde::Serialize)]
pub struct WebUser {
    pub name: String,
    pub level: Level,
    pub created_at: String,
    pub updated_at: String,
}

/// What a password check needs of an account.
pub struct WebCredentials {
    pub id: i64,
    pub name: String,
    pub level: Level,
    pub password_hash: String,
}

impl std::fmt::Debug for WebCredentials {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("WebCredentials")
            .field("id", &self.id)
            .field("name", &self.name)
            .field("level", &self.level)
            .finish_non_exhaustive()
    }
}

/// A live session, looked up by its token's hash.
#[derive(Debug, Clone)]
pub struct WebSessionRecord {
    /// The audit name: `web:NAME` or `discord:ID`.
    pub identity: String,
    pub level: Level,
    pub last_seen_at: i64,
    pub expires_at: i64,
}

/// A session to record.
#[derive(Debug, Clone)]
pub struct NewWebSession<'a> {
    pub token_sha256: &'a str,
    pub level: Level,
    /// The account of a password login; `None` for a login link.
    pub user_id: Option<i64>,
    pub now: i64,
    pub expires_at: i64,
    /// Audit detail of the login (where from, how).
    pub detail: &'a str,
}

/// A login link, as stored.
#[derive(Debug, Clone)]
pub struct LoginLinkRecord {
    pub identity: String,
    pub level: Level,
    pub expires_at: i64,
}

fn level_of(row: &SqliteRow) -> Result<Level> {
    row.try_get::<String, _>("level")?.parse()
}

impl Store {
    /// Adds an account with an already hashed password.
    pub async fn add_web_user(
        &self,
        actor: &Actor,
        name: &Name,
        level: Level,
        password_hash: &str,
        now: i64,
    ) -> Result<WebUser> {
        let mut tx = self.begin().await?;
        ensure_absent(&mut tx, EntityKind::WebUser, name.as_str()).await?;
        sqlx::query(
            "INSERT INTO web_users (name, level, password_hash, created_at, updated_at)
             VALUES (?, ?, ?, ?, ?)",
        )
        .bind(name.as_str())
        .bind(level.as_str())
        .bind(password_hash)
        .bind(now)
        .bind(now)
        .execute(&mut *tx)
        .await?;
        let detail = format!("level={level}");
        audit(&mut tx, actor, "web.user.add", name.as_str(), &detail, "ok").await?;
        tx.commit().await?;
        Ok(WebUser {
            name: name.to_string(),
            level,
            created_at: format_ms(now),
            updated_at: format_ms(now),
        })
    }

    /// Every account, by name.
    pub async fn web_users(&self) -> Result<Vec<WebUser>> {
        let rows =
            sqlx::query("SELECT name, level, created_at, updated_at FROM web_users ORDER BY name")
                .fetch_all(&self.pool)
                .await?;
        rows.iter()
            .map(|r| {
                Ok(WebUser {
                    name: r.try_get("name")?,
                    level: level_of(r)?,
                    created_at: format_ms(r.try_get("created_at")?),
                    updated_at: format_ms(r.try_get("updated_at")?),
                })
            })
            .collect()
    }

    pub async fn web_user_count(&self) -> Result<i64> {
        Ok(sqlx::query_scalar("SELECT COUNT(*) FROM web_users")
            .fetch_one(&self.pool)
            .await?)
    }

    /// Removes an account and, with it, its sessions.
    pub async fn remove_web_user(&self, actor: &Actor, name: &str) -> Result<()> {
        super::delete_named(self, actor, EntityKind::WebUser, name, "web.user.rm").await
    }

    /// Replaces an account's password hash and ends its sessions.
    pub async fn set_web_password(
        &self,
        actor: &Actor,
        name: &str,
        password_hash: &str,
        now: i64,
    ) -> Result<()> {
        let mut tx = self.begin().await?;
        let id = id_of(&mut tx, EntityKind::WebUser, name).await?;
        sqlx::query("UPDATE web_users SET password_hash = ?, updated_at = ? WHERE id = ?")
            .bind(password_hash)
            .bind(now)
            .bind(id)
            .execute(&mut *tx)
            .await?;
        let ended = sqlx::query("DELETE FROM web_sessions WHERE user_id = ?")
            .bind(id)
            .execute(&mut *tx)
            .await?
            .rows_affected();
        let detail = format!("sessions ended: {ended}");
        audit(&mut tx, actor, "web.user.passwd", name, &detail, "ok").await?;
        tx.commit().await?;
        Ok(())
    }

    /// The account a login names, if any.
    pub async fn web_credentials(&self, name: &str) -> Result<Option<WebCredentials>> {
        let row =
            sqlx::query("SELECT id, name, level, password_hash FROM web_users WHERE name = ?")
                .bind(name)
                .fetch_optional(&self.pool)
                .await?;
        row.map(|r| {
            Ok(WebCredentials {
                id: r.try_get("id")?,
                name: r.try_get("name")?,
                level: level_of(&r)?,
                password_hash: r.try_get("password_hash")?,
            })
        })
        .transpose()
    }

    /// Records a session (a login) with its audit record; drops expired
    /// sessions on the way.
    pub async fn create_web_session(&self, actor: &Actor, new: &NewWebSession<'_>) -> Result<()> {
        let mut tx = self.begin().await?;
        sqlx::query("DELETE FROM web_sessions WHERE expires_at <= ?")
            .bind(new.now)
            .execute(&mut *tx)
            .await?;
        sqlx::query(
            "INSERT INTO web_sessions (token_sha256, identity, level, user_id, created_at, last_seen_at, expires_at)
             VALUES (?, ?, ?, ?, ?, ?, ?)",
        )
        .bind(new.token_sha256)
        .bind(actor.to_string())
        .bind(new.level.as_str())
        .bind(new.user_id)
        .bind(new.now)
        .bind(new.now)
        .bind(new.expires_at)
        .execute(&mut *tx)
        .await?;
        audit(&mut tx, actor, "web.login", "", new.detail, "ok").await?;
        tx.commit().await?;
        Ok(())
    }

    /// The session of a token hash, unless it has ended (past its absolute
    /// end, or unused since `idle_since`).
    pub async fn web_session(
        &self,
        token_sha256: &str,
        now: i64,
        idle_since: i64,
    ) -> Result<Option<WebSessionRecord>> {
        let row = sqlx::query(
            "SELECT identity, level, last_seen_at, expires_at FROM web_sessions
             WHERE token_sha256 = ? AND expires_at > ? AND last_seen_at > ?",
        )
        .bind(token_sha256)
        .bind(now)
        .bind(idle_since)
        .fetch_optional(&self.pool)
        .await?;
        row.map(|r| {
            Ok(WebSessionRecord {
                identity: r.try_get("identity")?,
                level: level_of(&r)?,
                last_seen_at: r.try_get("last_seen_at")?,
                expires_at: r.try_get("expires_at")?,
            })
        })
        .transpose()
    }

    /// Marks a session as used now (for the idle timeout).
    pub async fn touch_web_session(&self, token_sha256: &str, now: i64) -> Result<()> {
        sqlx::query("UPDATE web_sessions SET last_seen_at = ? WHERE token_sha256 = ?")
            .bind(now)
            .bind(token_sha256)
            .execute(&self.pool)
            .await?;
        Ok(())
    }

    /// Ends a session (logout), audited.
    pub async fn delete_web_session(&self, actor: &Actor, token_sha256: &str) -> Result<()> {
        let mut tx = self.begin().await?;
        sqlx::query("DELETE FROM web_sessions WHERE token_sha256 = ?")
            .bind(token_sha256)
            .execute(&mut *tx)
            .await?;
        audit(&mut tx, actor, "web.logout", "", "", "ok").await?;
        tx.commit().await?;
        Ok(())
    }

    /// Records a login link (audited under whom it is for); drops expired
    /// links on the way.
    pub async fn create_login_link(
        &self,
        actor: &Actor,
        token_sha256: &str,
        level: Level,
        now: i64,
        expires_at: i64,
    ) -> Result<()> {
        let mut tx = self.begin().await?;
        sqlx::query("DELETE FROM web_login_links WHERE expires_at <= ?")
            .bind(now)
            .execute(&mut *tx)
            .await?;
        sqlx::query(
            "INSERT INTO web_login_links (token_sha256, identity, level, created_at, expires_at)
             VALUES (?, ?, ?, ?, ?)",
        )
        .bind(token_sha256)
        .bind(actor.to_string())
        .bind(level.as_str())
        .bind(now)
        .bind(expires_at)
        .execute(&mut *tx)
        .await?;
        let detail = format!("level={level}");
        audit(&mut tx, actor, "web.link.create", "", &detail, "ok").await?;
        tx.commit().await?;
        Ok(())
    }

    /// A login link, without using it.
    pub async fn login_link(&self, token_sha256: &str) -> Result<Option<LoginLinkRecord>> {
        let row = sqlx::query(
            "SELECT identity, level, expires_at FROM web_login_links WHERE token_sha256 = ?",
        )
        .bind(token_sha256)
        .fetch_optional(&self.pool)
        .await?;
        row.map(|r| link_of(&r)).transpose()
    }

    /// Deletes a login link and gives what it was, in its own committed
    /// transaction: the link is burnt whatever happens next.
    pub async fn burn_login_link(&self, token_sha256: &str) -> Result<Option<LoginLinkRecord>> {
        let mut tx = self.begin().await?;
        let row = sqlx::query(
            "DELETE FROM web_login_links WHERE token_sha256 = ? RETURNING identity, level, expires_at",
        )
        .bind(token_sha256)
        .fetch_optional(&mut *tx)
        .await?;
        tx.commit().await?;
        row.map(|r| link_of(&r)).transpose()
    }
}

fn link_of(row: &SqliteRow) -> Result<LoginLinkRecord> {
    Ok(LoginLinkRecord {
        identity: row.try_get("identity")?,
        level: level_of(row)?,
        expires_at: row.try_get("expires_at")?,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    async fn store() -> (tempfile::TempDir, Store) {
        let dir = tempfile::tempdir().expect("tempdir");
        let store = Store::open(&dir.path().join("drover.db"))
            .await
            .expect("open with the production migrations");
        (dir, store)
    }

    #[tokio::test]
    async fn a_burnt_link_is_gone_for_good_and_expired_ones_are_pruned() {
        let (_dir, store) = store().await;
        let actor = Actor::Discord(7);
        store
            .create_login_link(&actor, "old", Level::Viewer, 0, 1_000)
            .await
            .unwrap();
        store
            .create_login_link(&actor, "new", Level::Operator, 2_000, 9_000)
            .await
            .unwrap();
        assert!(store.login_link("old").await.unwrap().is_none(), "pruned");
        let link = store.login_link("new").await.unwrap().expect("kept");
        assert_eq!(
            (link.identity.as_str(), link.level),
            ("discord:7", Level::Operator)
        );
        let burnt = store
            .burn_login_link("new")
            .await
            .unwrap()
            .expect("burnt once");
        assert_eq!(burnt.expires_at, 9_000);
        assert!(
            store.burn_login_link("new").await.unwrap().is_none(),
            "never twice"
        );
        assert!(store.login_link("new").await.unwrap().is_none());
    }

    #[tokio::test]
    async fn sessions_end_at_their_absolute_end_or_when_idle() {
        let (_dir, store) = store().await;
        let actor = Actor::Web("alice".into());
        let new = NewWebSession {
            token_sha256: "t",
            level: Level::Admin,
            user_id: None,
            now: 1_000,
            expires_at: 10_000,
            detail: "test",
        };
        store.create_web_session(&actor, &new).await.unwrap();
        let live = |now, idle_since| {
            let store = store.clone();
            async move {
                store
                    .web_session("t", now, idle_since)
                    .await
                    .unwrap()
                    .is_some()
            }
        };
        assert!(live(2_000, 500).await);
        assert!(!live(2_000, 1_000).await, "unused since 1000: idle");
        store.touch_web_session("t", 5_000).await.unwrap();
        assert!(live(6_000, 1_000).await, "touched");
        assert!(!live(10_000, 0).await, "absolute end");
        store.delete_web_session(&actor, "t").await.unwrap();
        assert!(!live(2_000, 0).await, "logged out");
    }
}
