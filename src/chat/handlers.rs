use axum::{extract::State, http::StatusCode, Json};
use serde::{Deserialize, Serialize};

use crate::{
    domain::{Message, MessageText, NewMessage, NewMessageBody},
    error::{ApiError, ApiJson, ApiQuery},
    identity::Identity,
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
}

impl HistoryQuery {
    fn page(self) -> Result<Page, ApiError> {
        let invalid = |message: &str| ApiError::BadRequest {
            code: "invalid_query",
            message: message.into(),
        };
        let limit = self.limit.unwrap_or(DEFAULT_LIMIT);
        if !(1..=MAX_LIMIT).contains(&limit) {
            return Err(invalid("limit must be from 1 to 200"));
        }
        if self.after.is_some_and(|a| a < 0) || self.before.is_some_and(|b| b < 1) {
            return Err(invalid("after must be 0 or more and before 1 or more"));
        }
        Ok(Page {
            after: self.after,
            before: self.before,
            limit,
        })
    }
}

#[derive(Serialize)]
pub struct MessageList {
    messages: Vec<Message>,
}

pub async fn list_messages(
    State(state): State<AppState>,
    identity: Identity,
    RoomPath(room): RoomPath,
    ApiQuery(query): ApiQuery<HistoryQuery>,
) -> Result<Json<MessageList>, ApiError> {
    let page = query.page()?;
    access::ensure_can_read(&state, room, identity.id).await?;
    Ok(Json(MessageList {
        messages: state.store.messages(room, page).await?,
    }))
}

#[derive(Deserialize)]
pub struct PostMessage {
    #[serde(default)]
    text: String,
}

#[tracing::instrument(skip_all, fields(room.id = %room, user.id = %identity.id))]
pub async fn create_message(
    State(state): State<AppState>,
    identity: Identity,
    RoomPath(room): RoomPath,
    ApiJson(input): ApiJson<PostMessage>,
) -> Result<(StatusCode, Json<Message>), ApiError> {
    let text = MessageText::parse(&input.text, state.config.max_message_chars)?;
    access::ensure_seated(&state, room, identity.id).await?;
    let message = NewMessage {
        room,
        author: identity.user(),
        body: NewMessageBody::Chat(text),
    };
    let stored = super::deliver::append_and_publish(&state, message).await?;
    Ok((StatusCode::CREATED, Json(stored)))
}
