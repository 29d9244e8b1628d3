//! The audit trail: written by the app only. Changes are audited by the
//! store in the transaction that makes them; what happens in a front end
//! alone (a Discord command's invocation, a denied button) is recorded
//! through [`App::record`] with the actor and the outcome the front end
//! reports.

use super::App;
use crate::domain::{Actor, AuditEntry};
use crate::error::Result;

impl App {
    /// Records what `actor` did in a front end and how it ended (`ok`,
    /// `denied: ...`, `error: ...`). Secrets never go in `detail`.
    pub async fn record(
        &self,
        actor: &Actor,
        action: &str,
        target: &str,
        detail: &str,
        outcome: &str,
    ) -> Result<()> {
        self.store
            .audit(actor, action, target, detail, outcome)
            .await
    }

    /// The newest audit entries, newest first.
    pub async fn audit_log(&self, limit: u32) -> Result<Vec<AuditEntry>> {
        self.store.audit_log(limit).await
    }
}
