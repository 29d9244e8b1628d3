//! Runs handed to a background `drover run resume`. The process that starts
//! the driver holds the run's lease first (a run it created for
//! `--detach`, or an orphan it claimed) and hands the lease to the started
//! process by its controller id; the started process waits for that before
//! it drives. So a run whose controller died is adopted once, however many
//! `run list|status|logs` ask at the same time, and never by a process that
//! would only find it taken.

use std::time::Duration;

use super::controller::{controller_id_of, owner_is_dead_local_process, parent_controller_id};
use super::{Engine, LEASE_MS};
use crate::error::Result;

/// How long a started driver waits for the process that started it to hand
/// the run over.
const HANDOVER_WAIT: Duration = Duration::from_secs(10);
const HANDOVER_POLL: Duration = Duration::from_millis(20);

/// Why a run had no live controller.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Orphaned {
    /// Its controller was a process of this machine that is gone.
    ControllerDied,
    /// Its controller stopped renewing its lease.
    LeaseExpired,
    /// Nobody held it.
    NoController,
}

/// A run whose lease this process holds, to be handed to a driver it starts.
#[derive(Debug)]
pub struct Handover {
    pub run_id: i64,
    /// `None`: a run this process created.
    pub orphaned: Option<Orphaned>,
    previous: Option<String>,
}

impl Engine {
    /// Claims an orphaned run for a driver this process is about to start;
    /// `None` when another process got there first or the run is not
    /// orphaned any more.
    pub async fn claim_orphan(&self, run_id: i64) -> Result<Option<Handover>> {
        let owner = self.store.lease_owner(run_id).await?;
        let dead = owner.filter(|o| owner_is_dead_local_process(o));
        let Some(claim) = self
            .store
            .claim_lease(run_id, &self.owner, dead.as_deref(), LEASE_MS)
            .await?
        else {
            return Ok(None);
        };
        let orphaned = match (&claim.previous, &dead) {
            (None, _) => Orphaned::NoController,
            (Some(previous), Some(dead)) if previous == dead => Orphaned::ControllerDied,
            (Some(_), _) => Orphaned::LeaseExpired,
        };
        Ok(Some(Handover {
            run_id,
            orphaned: Some(orphaned),
            previous: claim.previous,
        }))
    }

    /// A run this process created holding its lease, to be handed over.
    pub fn own_run(&self, run_id: i64) -> Handover {
        Handover {
            run_id,
            orphaned: None,
            previous: None,
        }
    }

    /// Hands the run's lease to process `pid` (a child of this process), the
    /// takeover of an orphan recorded in its name. False when this process
    /// no longer held the lease.
    pub async fn hand_over(&self, handover: &Handover, pid: u32) -> Result<bool> {
        let driver = controller_id_of(pid);
        let why = handover.previous.as_deref().map(|previous| {
            let reason = match handover.orphaned {
                Some(Orphaned::ControllerDied) => "whose process is gone",
                _ => "whose lease had expired",
            };
            format!(
                "from {previous}, {reason}; adopted for it by {}",
                self.owner
            )
        });
        self.store
            .hand_over_lease(
                handover.run_id,
                &self.owner,
                &driver,
                LEASE_MS,
                why.as_deref(),
            )
            .await
    }

    /// Gives up a claim whose driver could not be started.
    pub async fn withdraw(&self, handover: &Handover) -> Result<()> {
        self.store.release_lease(handover.run_id, &self.owner).await
    }

    /// Waits (bounded) while the process that started this one still holds
    /// the run's lease, about to hand it over.
    pub async fn await_handover(&self, run_id: i64) -> Result<()> {
        let parent = parent_controller_id();
        let deadline = tokio::time::Instant::now() + HANDOVER_WAIT;
        while tokio::time::Instant::now() < deadline
            && !owner_is_dead_local_process(&parent)
            && self.store.lease_owner(run_id).await?.as_deref() == Some(parent.as_str())
        {
            tokio::time::sleep(HANDOVER_POLL).await;
        }
        Ok(())
    }
}
