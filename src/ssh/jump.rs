//! Connections to jump hosts, shared: every host reached through the same
//! chain of jump hosts goes through one connection to each hop, as a
//! direct-tcpip channel. A hop's connection lives as long as a connection
//! through it does (reference counted), is opened again when it drops, and
//! carries at most [`CHANNELS_PER_CONNECTION`] hosts (then a second one is
//! opened).

use std::collections::HashMap;
use std::sync::{Arc, Mutex, Weak};

use futures::future::BoxFuture;

use super::{ConnectError, Connection, SshSettings, Target};

/// Hosts carried by one connection to a jump host. sshd's `MaxSessions`
/// does not count direct-tcpip channels; this bound keeps one connection's
/// window and one sshd process from carrying a whole fleet.
pub const CHANNELS_PER_CONNECTION: usize = 100;

/// Pins the key learned for a jump host (an inventory host without a
/// pinned key); an error refuses the hop.
pub type PinHop =
    Arc<dyn Fn(Target, String) -> BoxFuture<'static, Result<(), ConnectError>> + Send + Sync>;

/// Live connections per chain of hops. Cheap to clone; clones share.
#[derive(Clone, Default)]
pub struct JumpPool {
    slots: Arc<Mutex<HashMap<String, Slot>>>,
}

type Slot = Arc<tokio::sync::Mutex<Vec<Weak<Connection>>>>;

impl std::fmt::Debug for JumpPool {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("JumpPool")
    }
}

/// `user@address:port` of each hop: what makes two chains the same.
fn chain_key(chain: &[Target]) -> String {
    let hops: Vec<String> = chain
        .iter()
        .map(|t| format!("{}@{}:{}", t.user, t.address, t.port))
        .collect();
    hops.join(" > ")
}

impl JumpPool {
    /// A connection to the last hop of `chain`, through the ones before it,
    /// opening what is missing. A hop that fails names itself
    /// ([`ConnectError::Jump`]).
    pub async fn connection(
        &self,
        chain: &[Target],
        settings: &Arc<SshSettings>,
        pin: &PinHop,
    ) -> Result<Arc<Connection>, ConnectError> {
        let mut via: Option<Arc<Connection>> = None;
        for depth in 1..=chain.len() {
            let hops = &chain[..depth];
            let hop = &hops[depth - 1];
            via = Some(self.hop(hops, hop, via, settings, pin).await?);
        }
        via.ok_or_else(|| ConnectError::Network("no jump host".into()))
    }

    /// How many live connections the pool holds (tests, benchmarks).
    pub fn live_connections(&self) -> usize {
        let slots = self.slots.lock().unwrap_or_else(|p| p.into_inner());
        slots
            .values()
            .map(|slot| {
                slot.try_lock()
                    .map(|conns| conns.iter().filter(|w| w.strong_count() > 0).count())
                    .unwrap_or(0)
            })
            .sum()
    }

    async fn hop(
        &self,
        hops: &[Target],
        hop: &Target,
        via: Option<Arc<Connection>>,
        settings: &Arc<SshSettings>,
        pin: &PinHop,
    ) -> Result<Arc<Connection>, ConnectError> {
        let slot = {
            let mut slots = self.slots.lock().unwrap_or_else(|p| p.into_inner());
            slots.entry(chain_key(hops)).or_default().clone()
        };
        let mut conns = slot.lock().await;
        conns.retain(|w| w.upgrade().is_some_and(|c| !c.is_closed()));
        // Our own reference and the pool's look-up count as one each.
        let reusable = conns
            .iter()
            .filter_map(Weak::upgrade)
            .find(|c| Arc::strong_count(c) <= CHANNELS_PER_CONNECTION + 1);
        if let Some(conn) = reusable {
            return Ok(conn);
        }
        let in_jump = |e: ConnectError| ConnectError::Jump {
            hop: hop.name.clone(),
            source: Box::new(e),
        };
        let conn = Connection::open_via(hop, settings.clone(), via)
            .await
            .map_err(in_jump)?;
        if let Some(key) = conn.learned_key.clone() {
            if let Err(e) = pin(hop.clone(), key).await {
                conn.close_shared().await;
                return Err(in_jump(e));
            }
        }
        let conn = Arc::new(conn);
        conns.push(Arc::downgrade(&conn));
        Ok(conn)
    }
}
