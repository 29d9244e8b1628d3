//! Pinning keys learned on first contact: a compare-and-set that pins a
//! host's key only while the host has none, so that a key learned by a run,
//! `host check` or `log fetch` never overwrites one pinned meanwhile (by
//! `host trust` or another of them). A run also records the key with its
//! host row, for its later connections and its reruns.

use super::{audit, leases::lease_lost, Store, Tx};
use crate::domain::{now_ms, Actor};
use crate::error::Result;

/// A host key accepted for a host that had none pinned.
#[derive(Debug, Clone, Copy)]
pub struct LearnedKey<'a> {
    pub host: &'a str,
    pub address: &'a str,
    pub port: u16,
    /// OpenSSH one-line form.
    pub key: &'a str,
}

/// What pinning a learned key found.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum KeyPin {
    /// The host had no key: this one is pinned now.
    Pinned,
    /// The host already had this very key pinned.
    AlreadyPinned,
    /// No host of that name at that address and port in the inventory
    /// (removed or moved since): nothing is pinned there.
    NotInInventory,
    /// Another key (OpenSSH form) was pinned meanwhile and stays: the
    /// learned key must be refused as a mismatch against it.
    PinnedOther(String),
}

impl Store {
    /// Pins `learned` if the host is still unpinned (audited as `actor`).
    pub async fn pin_learned_key(&self, actor: &Actor, learned: LearnedKey<'_>) -> Result<KeyPin> {
        let mut tx = self.begin().await?;
        let pin = pin_if_unpinned(&mut tx, actor, learned, "").await?;
        tx.commit().await?;
        Ok(pin)
    }

    /// Pins a key a run learned for one of its hosts if the host is still
    /// unpinned, and records it as that run host's key, in one transaction
    /// and only while `owner` holds the run's lease. When another key was
    /// pinned meanwhile, nothing is written.
    pub async fn learn_run_host_key(
        &self,
        run_id: i64,
        owner: &str,
        run_host_id: i64,
        learned: LearnedKey<'_>,
    ) -> Result<KeyPin> {
        let mut tx = self.begin().await?;
        let holder: Option<String> =
            sqlx::query_scalar("SELECT lease_owner FROM runs WHERE id = ?")
                .bind(run_id)
                .fetch_optional(&mut *tx)
                .await?
                .flatten();
        if holder.as_deref() != Some(owner) {
            return Err(lease_lost(run_id));
        }
        let why = format!(" (learned by run {run_id})");
        let pin = pin_if_unpinned(&mut tx, &Actor::System, learned, &why).await?;
        if !matches!(pin, KeyPin::PinnedOther(_)) {
            sqlx::query(
                "UPDATE run_hosts SET host_key = ? WHERE id = ? AND run_id = ? AND host_key IS NULL",
            )
            .bind(learned.key)
            .bind(run_host_id)
            .bind(run_id)
            .execute(&mut *tx)
            .await?;
        }
        tx.commit().await?;
        Ok(pin)
    }
}

/// The compare-and-set: one statement pins the key only where none is;
/// when it changes nothing, the pinned key says why.
async fn pin_if_unpinned(
    tx: &mut Tx<'_>,
    actor: &Actor,
    learned: LearnedKey<'_>,
    why: &str,
) -> Result<KeyPin> {
    let port = i64::from(learned.port);
    let done = sqlx::query(
        "UPDATE hosts SET host_key = ?, updated_at = ?
         WHERE name = ? AND address = ? AND port = ? AND host_key IS NULL",
    )
    .bind(learned.key)
    .bind(now_ms())
    .bind(learned.host)
    .bind(learned.address)
    .bind(port)
    .execute(&mut **tx)
    .await?;
    if done.rows_affected() == 1 {
        let detail = format!("pinned {}{why}", learned.key);
        audit(tx, actor, "host.key", learned.host, &detail, "ok").await?;
        return Ok(KeyPin::Pinned);
    }
    let pinned: Option<Option<String>> = sqlx::query_scalar(
        "SELECT host_key FROM hosts WHERE name = ? AND address = ? AND port = ?",
    )
    .bind(learned.host)
    .bind(learned.address)
    .bind(port)
    .fetch_optional(&mut **tx)
    .await?;
    Ok(match pinned.flatten() {
        None => KeyPin::NotInInventory,
        Some(key) if same_key(&key, learned.key) => KeyPin::AlreadyPinned,
        Some(key) => KeyPin::PinnedOther(key),
    })
}

/// Same key type and key data (comments aside).
fn same_key(a: &str, b: &str) -> bool {
    let fields =
        |k: &str| -> Vec<String> { k.split_whitespace().take(2).map(String::from).collect() };
    fields(a) == fields(b)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::domain::{Name, NewHost};
    use crate::error::EntityKind;

    use crate::ssh::test_keys::{ED25519 as KEY_A, ED25519_B as KEY_B};

    fn learned(key: &str) -> LearnedKey<'_> {
        LearnedKey {
            host: "web-1",
            address: "192.0.2.1",
            port: 22,
            key,
        }
    }

    #[tokio::test]
    async fn a_learned_key_is_pinned_only_where_none_is() {
        let dir = tempfile::tempdir().expect("tempdir");
        let store = Store::open(&dir.path().join("drover.db"))
            .await
            .expect("open");
        let actor = Actor::Cli("tester".into());
        assert_eq!(
            store
                .pin_learned_key(&actor, learned(KEY_A))
                .await
                .expect("pin"),
            KeyPin::NotInInventory
        );
        let host = NewHost {
            name: Name::parse(EntityKind::Host, "web-1").expect("name"),
            address: "192.0.2.1".into(),
            port: 22,
            user: None,
            description: String::new(),
            use_sudo: false,
            groups: Vec::new(),
            jump: None,
        };
        store.add_host(&actor, &host).await.expect("add");
        let pin = |key| store.pin_learned_key(&actor, learned(key));
        assert_eq!(pin(KEY_A).await.expect("pin"), KeyPin::Pinned);
        let commented = format!("{KEY_A} comment");
        assert_eq!(pin(&commented).await.expect("pin"), KeyPin::AlreadyPinned);
        assert_eq!(
            pin(KEY_B).await.expect("pin"),
            KeyPin::PinnedOther(KEY_A.to_string())
        );
        let kept = store.host("web-1").await.expect("host").host_key;
        assert_eq!(kept.as_deref(), Some(KEY_A), "the first pin stays");
        let moved = LearnedKey {
            address: "192.0.2.99",
            ..learned(KEY_B)
        };
        assert_eq!(
            store.pin_learned_key(&actor, moved).await.expect("pin"),
            KeyPin::NotInInventory,
            "a key seen at another address is not this host's"
        );
    }
}
