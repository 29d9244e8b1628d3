//! The host keys of a run, and pinning keys learned on first contact.
//!
//! A run verifies each host against the key recorded with the run's host
//! row (pinned when the run was created), and only that: takeover, cancel,
//! resume and reruns use it too, whatever became of the host in the
//! inventory since. A key accepted for a host without one (from known_hosts,
//! or new under `accept-new`) is pinned, only if the host is still unpinned,
//! before anything runs on the connection; a run also records it with its
//! host row. When another key was pinned meanwhile, the connection is
//! refused as a mismatch against that key.

use std::sync::Arc;

use crate::domain::Actor;
use crate::error::Error;
use crate::ssh::{ConnectError, Connection, SshSettings, Target};
use crate::store::host_keys::{KeyPin, LearnedKey};
use crate::store::Store;

/// Why a host could not be used.
#[derive(Debug)]
pub enum OpenError {
    /// Not reached, or its key refused (a key pinned meanwhile included).
    Connect(ConnectError),
    /// The learned key could not be stored.
    Pin(Error),
}

/// Where a key learned on first contact is pinned.
pub enum PinTo<'a> {
    /// The inventory host, audited as `actor` (`host check`, `log fetch`).
    Inventory { store: &'a Store, actor: &'a Actor },
    /// The inventory host and the run's host row (a run).
    Run { keys: &'a RunKeys, run_host_id: i64 },
}

/// Connects to `target`, verifies its key and authenticates. A key
/// accepted for a host without a pinned one is pinned before the connection
/// is handed out; what pinning found comes with it (`None`: the key was
/// already the target's).
pub async fn open_pinning(
    target: &Target,
    settings: Arc<SshSettings>,
    pin_to: PinTo<'_>,
) -> Result<(Connection, Option<KeyPin>), OpenError> {
    let conn = Connection::open(target, settings)
        .await
        .map_err(OpenError::Connect)?;
    let Some(key) = conn.learned_key.clone() else {
        return Ok((conn, None));
    };
    let learned = LearnedKey {
        host: &target.name,
        address: &target.address,
        port: target.port,
        key: &key,
    };
    let pinned = match pin_to {
        PinTo::Inventory { store, actor } => store.pin_learned_key(actor, learned).await,
        PinTo::Run { keys, run_host_id } => {
            keys.store
                .learn_run_host_key(keys.run_id, &keys.owner, run_host_id, learned)
                .await
        }
    };
    match pinned {
        Ok(KeyPin::PinnedOther(other)) => {
            conn.close().await;
            Err(OpenError::Connect(ConnectError::pinned_meanwhile(
                &other, &key,
            )))
        }
        Ok(pin) => Ok((conn, Some(pin))),
        Err(e) => {
            conn.close().await;
            Err(OpenError::Pin(e))
        }
    }
}

/// What the hosts of one run need to settle their keys.
#[derive(Clone)]
pub struct RunKeys {
    store: Store,
    run_id: i64,
    /// The controller driving the run (keys are recorded under its lease).
    owner: String,
}

impl RunKeys {
    pub fn new(store: Store, run_id: i64, owner: String) -> RunKeys {
        RunKeys {
            store,
            run_id,
            owner,
        }
    }

    /// Connects to the run host `run_host_id`, verified against
    /// `target.pinned_key` (the run's key for it); a key learned now is
    /// recorded with the run first.
    pub async fn connect(
        &self,
        target: &Target,
        run_host_id: i64,
        settings: Arc<SshSettings>,
    ) -> Result<Connection, ConnectError> {
        let pin_to = PinTo::Run {
            keys: self,
            run_host_id,
        };
        match open_pinning(target, settings, pin_to).await {
            Ok((conn, _)) => Ok(conn),
            Err(OpenError::Connect(e)) => Err(e),
            Err(OpenError::Pin(e)) => Err(ConnectError::Network(format!(
                "cannot record the host key with the run: {e}"
            ))),
        }
    }
}
