//! The messages that show a run's progress in a front end (Discord's
//! progress message, and the messages that continue it).

use sqlx::Row;

use super::Store;
use crate::domain::now_ms;
use crate::error::Result;

/// Where a front end shows a run.
#[derive(Debug, Clone)]
pub struct RunMessage {
    pub channel_id: String,
    pub message_id: String,
    pub created_at: i64,
}

impl Store {
    /// Running runs that a front end shows in a message.
    pub async fn running_runs_with_messages(&self) -> Result<Vec<i64>> {
        Ok(sqlx::query_scalar(
            "SELECT DISTINCT m.run_id FROM run_messages m JOIN runs r ON r.id = m.run_id
             WHERE r.state = 'running' ORDER BY m.run_id",
        )
        .fetch_all(&self.pool)
        .await?)
    }

    /// Records the message that now shows a run's progress.
    pub async fn record_run_message(
        &self,
        run_id: i64,
        channel_id: &str,
        message_id: &str,
    ) -> Result<()> {
        sqlx::query("INSERT OR IGNORE INTO run_messages (run_id, channel_id, message_id, created_at) VALUES (?, ?, ?, ?)")
            .bind(run_id)
            .bind(channel_id)
            .bind(message_id)
            .bind(now_ms())
            .execute(&self.pool)
            .await?;
        Ok(())
    }

    /// The messages that showed a run, oldest first (a long run moves on to
    /// new ones; the last is the live one).
    pub async fn run_messages(&self, run_id: i64) -> Result<Vec<RunMessage>> {
        let rows = sqlx::query(
            "SELECT channel_id, message_id, created_at FROM run_messages WHERE run_id = ? ORDER BY created_at, rowid",
        )
        .bind(run_id)
        .fetch_all(&self.pool)
        .await?;
        rows.iter()
            .map(|r| {
                Ok(RunMessage {
                    channel_id: r.try_get("channel_id")?,
                    message_id: r.try_get("message_id")?,
                    created_at: r.try_get("created_at")?,
                })
            })
            .collect()
    }
}
