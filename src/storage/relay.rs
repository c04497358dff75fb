//! How events travel between instances that share a PostgreSQL database: NOTIFY to send, LISTEN
//! to receive, on one channel. What travels, and what a receiver does with it, is the realtime
//! bus's business (`realtime/bus.rs`); the connections stay here, with the rest of storage.

use sqlx::{postgres::PgListener, PgPool};

use super::StoreResult;

/// The channel every instance of a deployment sends on and listens to.
const CHANNEL: &str = "gifchat_events";

#[derive(Clone)]
pub struct Relay {
    pool: PgPool,
}

/// Receives what every instance (this one included) sends from the moment it was created.
pub struct Listener(PgListener);

impl Relay {
    pub(super) fn new(pool: PgPool) -> Self {
        Self { pool }
    }

    /// Sends the payloads, in order, in one round trip. Each must stay under PostgreSQL's
    /// 8,000-byte limit.
    pub async fn send(&self, payloads: &[String]) -> StoreResult<()> {
        sqlx::query("SELECT pg_notify($1, payload) FROM unnest($2::text[]) AS payload")
            .bind(CHANNEL)
            .bind(payloads)
            .execute(&self.pool)
            .await?;
        Ok(())
    }

    /// Starts listening on a connection of its own.
    pub async fn listen(&self) -> StoreResult<Listener> {
        let mut listener = PgListener::connect_with(&self.pool).await?;
        listener.listen(CHANNEL).await?;
        Ok(Listener(listener))
    }
}

impl Listener {
    /// The next payload; `None` once the connection is lost. What was sent while it was down
    /// is gone: listen again, then catch up from storage.
    pub async fn next(&mut self) -> Option<String> {
        match self.0.try_recv().await {
            Ok(Some(notification)) => Some(notification.payload().to_owned()),
            Ok(None) | Err(_) => None,
        }
    }
}
