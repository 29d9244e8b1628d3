//! Leases moved between processes: a process claims the lease of a run for
//! another one (an orphan it adopts, or a run it created for `--detach`) and
//! hands it to the process it starts to drive the run. While it holds the
//! claim, no other process sees the run as orphaned, so one run is adopted
//! once however many queries ask at the same time.

use super::leases::{audit_takeover, lease_holder};
use super::Store;
use crate::domain::now_ms;
use crate::error::Result;

/// A lease claimed from an orphaned run.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LeaseClaim {
    /// The controller that held the lease before (`None`: nobody).
    pub previous: Option<String>,
}

impl Store {
    /// Takes the lease of a running run for `claimant` when it is free,
    /// expired, or held by `dead_owner` (a process known to be gone).
    /// Unaudited: the claimant hands the run to the process that drives it
    /// (`hand_over_lease`), and that records the takeover. `None` when the
    /// run is over or another live controller holds it.
    pub async fn claim_lease(
        &self,
        run_id: i64,
        claimant: &str,
        dead_owner: Option<&str>,
        lease_ms: i64,
    ) -> Result<Option<LeaseClaim>> {
        let now = now_ms();
        let mut tx = self.begin().await?;
        let previous = lease_holder(&mut tx, run_id).await?;
        let done = sqlx::query(
            "UPDATE runs SET lease_owner = ?, lease_expires_at = ?
             WHERE id = ? AND state = 'running'
               AND (lease_owner IS NULL OR lease_expires_at < ? OR lease_owner = ?)",
        )
        .bind(claimant)
        .bind(now + lease_ms)
        .bind(run_id)
        .bind(now)
        .bind(dead_owner)
        .execute(&mut *tx)
        .await?;
        tx.commit().await?;
        Ok((done.rows_affected() == 1).then_some(LeaseClaim { previous }))
    }

    /// Moves the lease of a running run from `from` to `to`; with
    /// `takeover` (why the run changed hands) the move is audited as the
    /// takeover of the run by `to`. False when `from` no longer holds it.
    pub async fn hand_over_lease(
        &self,
        run_id: i64,
        from: &str,
        to: &str,
        lease_ms: i64,
        takeover: Option<&str>,
    ) -> Result<bool> {
        let mut tx = self.begin().await?;
        let done = sqlx::query(
            "UPDATE runs SET lease_owner = ?, lease_expires_at = ?
             WHERE id = ? AND state = 'running' AND lease_owner = ?",
        )
        .bind(to)
        .bind(now_ms() + lease_ms)
        .bind(run_id)
        .bind(from)
        .execute(&mut *tx)
        .await?;
        let moved = done.rows_affected() == 1;
        if let Some(why) = takeover.filter(|_| moved) {
            audit_takeover(&mut tx, run_id, to, why).await?;
        }
        tx.commit().await?;
        Ok(moved)
    }
}
