//! Storing a message and publishing it, as one unit that a disconnecting client cannot cut
//! in half: the pair runs in its own task, so once the write has started, the publish follows
//! even if the request that asked for it is dropped.

use crate::{domain::Message, domain::NewMessage, error::ApiError, state::AppState};

pub async fn append_and_publish(state: &AppState, message: NewMessage) -> Result<Message, ApiError> {
    let (store, hub) = (state.store.clone(), state.hub.clone());
    let task = tokio::spawn(async move {
        let started = std::time::Instant::now();
        let stored = store.append_message(message).await?;
        hub.publish_message(&stored);
        hub.metrics().write_took(started.elapsed());
        Ok::<_, crate::storage::StorageError>(stored)
    });
    Ok(task.await.map_err(|err| ApiError::Internal(err.into()))??)
}
