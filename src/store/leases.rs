//! Leases: which process drives a run. A lease is taken and renewed by
//! its driver, released when it stops, stolen from a holder that is gone;
//! a takeover is audited.

use sqlx::Row;

use super::{audit, Store, Tx};
use crate::domain::{now_ms, Actor};
use crate::error::{Error, Result};

impl Store {
    /// Takes (or renews) the lease of a running run. False if another live
    /// controller holds it or the run is over.
    /// Taking a run over from another controller is audited.
    pub async fn acquire_lease(&self, run_id: i64, owner: &str, lease_ms: i64) -> Result<bool> {
        let now = now_ms();
        let mut tx = self.begin().await?;
        let previous = lease_holder(&mut tx, run_id).await?;
        let done = sqlx::query(
            "UPDATE runs SET lease_owner = ?, lease_expires_at = ?
             WHERE id = ? AND state = 'running'
               AND (lease_owner IS NULL OR lease_owner = ? OR lease_expires_at < ?)",
        )
        .bind(owner)
        .bind(now + lease_ms)
        .bind(run_id)
        .bind(owner)
        .bind(now)
        .execute(&mut *tx)
        .await?;
        let taken = done.rows_affected() == 1;
        if let Some(old) = previous.filter(|old| taken && old != owner) {
            let why = format!("from {old}, whose lease had expired");
            audit_takeover(&mut tx, run_id, owner, &why).await?;
        }
        tx.commit().await?;
        Ok(taken)
    }

    pub async fn release_lease(&self, run_id: i64, owner: &str) -> Result<()> {
        sqlx::query("UPDATE runs SET lease_owner = NULL, lease_expires_at = NULL WHERE id = ? AND lease_owner = ?")
            .bind(run_id)
            .bind(owner)
            .execute(&self.pool)
            .await?;
        Ok(())
    }

    /// Running runs whose controller's lease has expired.
    pub async fn orphaned_runs(&self) -> Result<Vec<i64>> {
        Ok(sqlx::query_scalar(
            "SELECT id FROM runs WHERE state = 'running' AND (lease_expires_at IS NULL OR lease_expires_at < ?) ORDER BY id",
        )
        .bind(now_ms())
        .fetch_all(&self.pool)
        .await?)
    }

    pub async fn lease_owner(&self, run_id: i64) -> Result<Option<String>> {
        let mut db = self.pool.acquire().await?;
        lease_holder(&mut db, run_id).await
    }

    /// Takes the lease from `old_owner` (known to be dead).
    pub async fn steal_lease(
        &self,
        run_id: i64,
        old_owner: &str,
        owner: &str,
        lease_ms: i64,
    ) -> Result<bool> {
        let why = format!("from {old_owner}, whose process is gone");
        self.hand_over_lease(run_id, old_owner, owner, lease_ms, Some(&why))
            .await
    }

    /// Running runs with their lease owners.
    pub async fn running_run_owners(&self) -> Result<Vec<(i64, String)>> {
        let rows = sqlx::query(
            "SELECT id, lease_owner FROM runs WHERE state = 'running' AND lease_owner IS NOT NULL",
        )
        .fetch_all(&self.pool)
        .await?;
        rows.iter()
            .map(|r| Ok((r.try_get("id")?, r.try_get("lease_owner")?)))
            .collect()
    }
}

/// The controller holding the lease of a run, if any.
pub(super) async fn lease_holder(
    db: &mut sqlx::SqliteConnection,
    run_id: i64,
) -> Result<Option<String>> {
    Ok(
        sqlx::query_scalar("SELECT lease_owner FROM runs WHERE id = ?")
            .bind(run_id)
            .fetch_optional(db)
            .await?
            .flatten(),
    )
}

/// What a controller hears when another one has taken its run.
pub fn lease_lost(run_id: i64) -> Error {
    Error::Refused(format!(
        "run {run_id} is now driven by another drover process (this one could not renew its lease in time); it goes on there"
    ))
}

/// The audit record of a controller taking a running run over.
pub(super) async fn audit_takeover(
    tx: &mut Tx<'_>,
    run_id: i64,
    owner: &str,
    why: &str,
) -> Result<()> {
    let detail = format!("driven by {owner}; {why}");
    audit(
        tx,
        &Actor::System,
        "run.takeover",
        &run_id.to_string(),
        &detail,
        "ok",
    )
    .await
}
