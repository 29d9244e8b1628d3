//! Web accounts, sessions and one-time login links: the operations the web
//! server, the CLI (`drover web user`) and Discord (`/dashboard`) call. They
//! validate input, hash passwords (argon2id, default parameters) and mint
//! random tokens; the store keeps only hashes. Secrets (passwords, tokens)
//! live in types whose `Debug` shows nothing.

use std::fmt;

use argon2::password_hash::{PasswordHasher, PasswordVerifier};
use base64::Engine as _;
use rand::RngCore;
use sha2::{Digest, Sha256};

use crate::access::Level;
use crate::domain::{now_ms, Actor, Name};
use crate::error::{Error, Kind, Result};
use crate::ops::Drover;
use crate::store::accounts::{NewWebSession, WebUser};

/// Shortest password accepted, in characters.
pub const MIN_PASSWORD_CHARS: usize = 12;
/// Longest password accepted, in bytes (hashing cost stays bounded).
pub const MAX_PASSWORD_BYTES: usize = 1024;

/// A password as typed. `Debug` never shows it.
#[derive(Clone)]
pub struct Password(String);

impl Password {
    /// Checks the length rules; the refusal never repeats the password.
    pub fn new(raw: String) -> Result<Password> {
        let chars = raw.chars().count();
        if chars < MIN_PASSWORD_CHARS {
            return Err(Error::Refused(format!(
                "the password has {chars} characters; it needs at least {MIN_PASSWORD_CHARS}"
            )));
        }
        if raw.len() > MAX_PASSWORD_BYTES {
            return Err(Error::Refused(format!(
                "the password is longer than {MAX_PASSWORD_BYTES} bytes; choose a shorter one"
            )));
        }
        Ok(Password(raw))
    }

    /// A password given at login: not length-checked (the hash decides).
    pub fn attempt(raw: String) -> Password {
        Password(raw)
    }
}

impl fmt::Debug for Password {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("Password(********)")
    }
}

/// A session or link token as the browser holds it. `Debug` never shows it.
#[derive(Clone, PartialEq, Eq)]
pub struct Token(String);

impl Token {
    /// 256 random bits from the OS, base64url without padding.
    fn generate() -> Token {
        let mut bytes = [0u8; 32];
        rand::rngs::OsRng.fill_bytes(&mut bytes);
        Token(base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(bytes))
    }

    /// A token received from a browser.
    pub fn from_client(raw: &str) -> Token {
        Token(raw.to_string())
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }

    /// What the store keeps: hex SHA-256 of the token.
    fn sha256(&self) -> String {
        hex_sha256(&[self.0.as_bytes()])
    }

    /// The CSRF token of the session this token opens: derived from it, so
    /// it needs no storage and means nothing without the session cookie.
    pub fn csrf(&self) -> String {
        let digest = Sha256::new()
            .chain_update(b"drover csrf\0")
            .chain_update(self.0.as_bytes())
            .finalize();
        base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(digest)
    }
}

impl fmt::Debug for Token {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("Token(********)")
    }
}

fn hex_sha256(parts: &[&[u8]]) -> String {
    let mut hasher = Sha256::new();
    for part in parts {
        hasher.update(part);
    }
    hasher
        .finalize()
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect()
}

/// A logged-in browser.
#[derive(Debug, Clone)]
pub struct Session {
    pub actor: Actor,
    pub level: Level,
    /// Absolute end, epoch milliseconds.
    pub expires_at: i64,
}

/// What a login link is, seen before using it.
#[derive(Debug, Clone)]
pub enum LinkStatus {
    Usable { actor: Actor, level: Level },
    Expired,
    Unknown,
}

/// Why a login link cannot be used, and what to do instead.
pub fn link_refusal(why: &str) -> Error {
    Error::Refused(format!(
        "this login link {why}; ask for a new one with /dashboard in Discord"
    ))
}

/// Name and level of a new account, validated.
pub fn parse_account(name: &str, level: &str) -> Result<(Name, Level)> {
    Ok((Name::parse(Kind::WebUser, name)?, level.parse()?))
}

/// The actor a stored identity (`web:NAME`, `discord:ID`) names.
fn actor_of(identity: &str) -> Result<Actor> {
    if let Some(name) = identity.strip_prefix("web:") {
        return Ok(Actor::Web(name.to_string()));
    }
    if let Some(id) = identity
        .strip_prefix("discord:")
        .and_then(|id| id.parse().ok())
    {
        return Ok(Actor::Discord(id));
    }
    Err(Error::Refused(format!(
        "stored web identity '{identity}' is neither web:NAME nor discord:ID"
    )))
}

/// The audit name of someone who tried to log in: the name as typed, cut
/// to a length and to printable characters.
fn attempted_actor(name: &str) -> Actor {
    let clean: String = name.chars().filter(|c| !c.is_control()).take(64).collect();
    Actor::Web(clean)
}

async fn hash_password(password: Password) -> Result<String> {
    blocking(move || {
        argon2::Argon2::default()
            .hash_password(password.0.as_bytes())
            .map(|hash| hash.to_string())
            .map_err(|e| Error::Refused(format!("cannot hash the password: {e}")))
    })
    .await
}

/// True when `password` matches the PHC string `hash`.
async fn verify_password(password: Password, hash: String) -> Result<bool> {
    blocking(move || {
        Ok(argon2::Argon2::default()
            .verify_password(password.0.as_bytes(), hash.as_str())
            .is_ok())
    })
    .await
}

/// A PHC string of a random password: logins of unknown accounts are
/// checked against it, so they take as long as those of real ones.
fn decoy_hash() -> &'static str {
    static DECOY: std::sync::OnceLock<String> = std::sync::OnceLock::new();
    DECOY.get_or_init(|| {
        argon2::Argon2::default()
            .hash_password(Token::generate().as_str().as_bytes())
            .map(|h| h.to_string())
            .unwrap_or_default()
    })
}

/// Runs CPU-heavy work (argon2) off the async threads.
async fn blocking<T: Send + 'static>(
    work: impl FnOnce() -> Result<T> + Send + 'static,
) -> Result<T> {
    tokio::task::spawn_blocking(work).await.map_err(|e| {
        Error::io(
            "password hashing did not complete",
            std::io::Error::other(e),
        )
    })?
}

fn millis(duration: std::time::Duration) -> i64 {
    i64::try_from(duration.as_millis()).unwrap_or(i64::MAX)
}

impl Drover {
    /// `web user add`: a new account.
    pub async fn web_user_add(
        &self,
        actor: &Actor,
        name: &str,
        level: &str,
        password: Password,
    ) -> Result<WebUser> {
        let (name, level) = parse_account(name, level)?;
        let hash = hash_password(password).await?;
        self.store
            .add_web_user(actor, &name, level, &hash, now_ms())
            .await
    }

    /// `web user list`.
    pub async fn web_users(&self) -> Result<Vec<WebUser>> {
        self.store.web_users().await
    }

    /// `web user rm`: the account and its sessions.
    pub async fn web_user_remove(&self, actor: &Actor, name: &str) -> Result<()> {
        self.store.remove_web_user(actor, name).await
    }

    /// `web user passwd`: a new password; the account's sessions end.
    pub async fn web_user_passwd(
        &self,
        actor: &Actor,
        name: &str,
        password: Password,
    ) -> Result<()> {
        if self.store.web_credentials(name).await?.is_none() {
            return Err(Error::NotFound {
                kind: Kind::WebUser,
                name: name.to_string(),
                known: self.store.names(Kind::WebUser).await?,
            });
        }
        let hash = hash_password(password).await?;
        self.store
            .set_web_password(actor, name, &hash, now_ms())
            .await
    }

    /// Whether any account exists (the login page says how to make one).
    pub async fn web_accounts_exist(&self) -> Result<bool> {
        Ok(self.store.web_user_count().await? > 0)
    }

    /// A password login from `client` (an address, for the audit trail).
    /// `Ok(None)` for a wrong name or password, audited without either the
    /// password or which of the two was wrong.
    pub async fn web_login(
        &self,
        name: &str,
        password: Password,
        client: &str,
    ) -> Result<Option<(Token, Session)>> {
        let account = self.store.web_credentials(name).await?;
        let known = account.is_some();
        let hash = account
            .as_ref()
            .map_or_else(|| decoy_hash().to_string(), |a| a.password_hash.clone());
        let matches = verify_password(password, hash).await?;
        let Some(account) = account.filter(|_| matches) else {
            let why = if known {
                "denied: wrong password"
            } else {
                "denied: unknown account"
            };
            self.audit_login_refused(name, client, why).await?;
            return Ok(None);
        };
        let actor = Actor::Web(account.name);
        let session = self
            .open_session(
                actor,
                account.level,
                Some(account.id),
                &format!("password from {client}"),
            )
            .await?;
        Ok(Some(session))
    }

    /// Audits a login refused before any password check (too many tries).
    pub async fn web_login_throttled(
        &self,
        name: &str,
        client: &str,
        retry_secs: u64,
    ) -> Result<()> {
        let why = format!("denied: too many failed logins; locked for {retry_secs}s");
        self.audit_login_refused(name, client, &why).await
    }

    /// The audit record of a refused password login (never the password).
    async fn audit_login_refused(&self, name: &str, client: &str, why: &str) -> Result<()> {
        let detail = format!("from {client}");
        self.store
            .audit(&attempted_actor(name), "web.login", "", &detail, why)
            .await
    }

    async fn open_session(
        &self,
        actor: Actor,
        level: Level,
        user_id: Option<i64>,
        detail: &str,
    ) -> Result<(Token, Session)> {
        let token = Token::generate();
        let now = now_ms();
        let expires_at = now.saturating_add(millis(self.config.web.session_lifetime));
        let new = NewWebSession {
            token_sha256: &token.sha256(),
            level,
            user_id,
            now,
            expires_at,
            detail,
        };
        self.store.create_web_session(&actor, &new).await?;
        Ok((
            token,
            Session {
                actor,
                level,
                expires_at,
            },
        ))
    }

    /// The session a browser's token opens, if it has not ended; marks it
    /// used (at most every tenth of the idle timeout, to spare writes).
    pub async fn web_session(&self, token: &Token) -> Result<Option<Session>> {
        let now = now_ms();
        let idle = millis(self.config.web.idle_timeout);
        let hash = token.sha256();
        let Some(record) = self
            .store
            .web_session(&hash, now, now.saturating_sub(idle))
            .await?
        else {
            return Ok(None);
        };
        if now - record.last_seen_at >= idle / 10 {
            self.store.touch_web_session(&hash, now).await?;
        }
        Ok(Some(Session {
            actor: actor_of(&record.identity)?,
            level: record.level,
            expires_at: record.expires_at,
        }))
    }

    /// Logout: the session is deleted.
    pub async fn web_logout(&self, session: &Session, token: &Token) -> Result<()> {
        self.store
            .delete_web_session(&session.actor, &token.sha256())
            .await
    }

    /// A single-use login link token for `actor` at `level` (Discord's
    /// /dashboard), usable for `web.login_link_ttl`.
    pub async fn web_login_link(&self, actor: &Actor, level: Level) -> Result<Token> {
        let token = Token::generate();
        let now = now_ms();
        let expires_at = now.saturating_add(millis(self.config.web.login_link_ttl));
        self.store
            .create_login_link(actor, &token.sha256(), level, now, expires_at)
            .await?;
        Ok(token)
    }

    /// What a login link would do, without using it.
    pub async fn web_login_link_status(&self, token: &Token) -> Result<LinkStatus> {
        Ok(match self.store.login_link(&token.sha256()).await? {
            None => LinkStatus::Unknown,
            Some(link) if link.expires_at <= now_ms() => LinkStatus::Expired,
            Some(link) => LinkStatus::Usable {
                actor: actor_of(&link.identity)?,
                level: link.level,
            },
        })
    }

    /// Uses a login link: it is burnt first (committed), then a session
    /// opens for whom it was made. An unknown, used or expired link is
    /// refused with why.
    pub async fn web_login_link_use(
        &self,
        token: &Token,
        client: &str,
    ) -> Result<(Token, Session)> {
        let refused = link_refusal;
        let Some(link) = self.store.burn_login_link(&token.sha256()).await? else {
            return Err(refused("is unknown or was already used"));
        };
        let actor = actor_of(&link.identity)?;
        if link.expires_at <= now_ms() {
            self.store
                .audit(
                    &actor,
                    "web.login",
                    "",
                    &format!("login link from {client}"),
                    "denied: link expired",
                )
                .await?;
            return Err(refused("has expired"));
        }
        self.open_session(
            actor,
            link.level,
            None,
            &format!("login link from {client}"),
        )
        .await
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn secrets_never_show_in_debug_output() {
        let password = Password::new("correct horse battery".into()).expect("long enough");
        assert_eq!(format!("{password:?}"), "Password(********)");
        let token = Token::generate();
        assert!(!format!("{token:?}").contains(token.as_str()));
    }

    #[test]
    fn short_passwords_are_refused_without_repeating_them() {
        let err = Password::new("hunter2".into()).unwrap_err().to_string();
        assert!(err.contains("at least 12"), "{err}");
        assert!(!err.contains("hunter2"), "{err}");
    }

    #[test]
    fn tokens_are_256_random_bits_and_csrf_is_bound_to_the_token() {
        let (a, b) = (Token::generate(), Token::generate());
        assert_eq!(a.as_str().len(), 43, "32 bytes in base64url");
        assert_ne!(a, b);
        assert_ne!(a.csrf(), b.csrf());
        assert_eq!(a.csrf(), Token::from_client(a.as_str()).csrf());
        assert_ne!(a.sha256(), a.as_str());
    }

    #[test]
    fn identities_name_their_actor() {
        assert_eq!(actor_of("web:alice").unwrap(), Actor::Web("alice".into()));
        assert_eq!(actor_of("discord:42").unwrap(), Actor::Discord(42));
        assert!(actor_of("cli:root").is_err());
        assert_eq!(attempted_actor("a\nb").to_string(), "web:ab");
    }
}
