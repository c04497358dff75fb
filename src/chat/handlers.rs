use axum::{
    extract::State,
    http::StatusCode,
    response::{IntoResponse, Response},
    Json,
};
use serde::{Deserialize, Serialize};

use crate::{
    domain::{ClientAddress, Message},
    error::{ApiError, ApiJson, ApiQuery},
    identity::{Identity, Session},
    rooms::{access, RoomPath},
    state::AppState,
    storage::Page,
};

const DEFAULT_LIMIT: u32 = 50;
const MAX_LIMIT: u32 = 200;

#[derive(Deserialize)]
pub struct HistoryQuery {
    after: Option<i64>,
    before: Option<i64>,
    limit: Option<u32>,
    /// Seconds to wait for something new: makes the request a long poll.
    wait: Option<u64>,
}

impl HistoryQuery {
    fn page(self) -> Result<Page, ApiError> {
        let invalid = |message: &str| ApiError::BadRequest { code: "invalid_query", message: message.into() };
        let limit = self.limit.unwrap_or(DEFAULT_LIMIT);
        if !(1..=MAX_LIMIT).contains(&limit) {
            return Err(invalid("limit must be from 1 to 200"));
        }
        if self.after.is_some_and(|a| a < 0) || self.before.is_some_and(|b| b < 1) {
            return Err(invalid("after must be 0 or more and before 1 or more"));
        }
        Ok(Page { after: self.after, before: self.before, limit })
    }
}

#[derive(Serialize)]
pub struct MessageList {
    messages: Vec<Message>,
}

pub async fn list_messages(
    State(state): State<AppState>,
    identity: Identity,
    session: Option<Session>,
    address: ClientAddress,
    RoomPath(room): RoomPath,
    ApiQuery(query): ApiQuery<HistoryQuery>,
) -> Result<Response, ApiError> {
    if let Some(wait) = query.wait {
        let (after, has_before) = (query.after, query.before.is_some());
        query.page()?; // the same bounds on `after` and `limit` as plain history
        if wait > crate::streams::MAX_POLL_WAIT || has_before {
            return Err(ApiError::BadRequest {
                code: "invalid_query",
                message: format!(
                    "wait must be 0 to {} seconds, and goes with after, not before",
                    crate::streams::MAX_POLL_WAIT
                ),
            });
        }
        return crate::streams::long_poll(&state, &identity, session.as_ref(), address, room, after, wait).await;
    }
    let page = query.page()?;
    access::ensure_can_read(&state, room, identity.id, address).await?;
    // An address barred by a kick does not get to read along either.
    access::ensure_not_barred(&state, room, identity.id, address).await?;
    Ok(Json(MessageList { messages: state.store.messages(room, page, identity.id).await? }).into_response())
}

#[derive(Deserialize)]
pub struct PostMessage {
    #[serde(default)]
    text: String,
    /// A user id: makes the message a whisper that only they (and the sender) ever see.
    #[serde(default)]
    to: Option<String>,
}

#[tracing::instrument(skip_all, fields(room.id = %room, user.id = %identity.id))]
pub async fn create_message(
    State(state): State<AppState>,
    Session(identity): Session,
    RoomPath(room): RoomPath,
    ApiJson(input): ApiJson<PostMessage>,
) -> Result<(StatusCode, Json<Message>), ApiError> {
    let stored = super::post::post_text(&state, &identity, room, &input.text, input.to.as_deref()).await?;
    Ok((StatusCode::CREATED, Json(stored)))
}
