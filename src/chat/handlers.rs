use axum::{extract::State, http::StatusCode, Json};
use serde::{Deserialize, Serialize};

use crate::{
    domain::{Invalid, Message, MessageText, NewMessage, NewMessageBody, UserId},
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
    RoomPath(room): RoomPath,
    ApiQuery(query): ApiQuery<HistoryQuery>,
) -> Result<Json<MessageList>, ApiError> {
    let page = query.page()?;
    access::ensure_can_read(&state, room, identity.id).await?;
    Ok(Json(MessageList { messages: state.store.messages(room, page, identity.id).await? }))
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
    identity: Identity,
    RoomPath(room): RoomPath,
    ApiJson(input): ApiJson<PostMessage>,
) -> Result<(StatusCode, Json<Message>), ApiError> {
    let text = MessageText::parse(&input.text, state.config.max_message_chars)?;
    let recipient = input.to.as_deref().map(|raw| parse_recipient(raw, identity.id)).transpose()?;
    access::ensure_seated(&state, room, identity.id).await?;
    let body = match recipient {
        None => NewMessageBody::Chat(text),
        Some(to) => NewMessageBody::Whisper { text, to: access::seated_member(&state, room, to).await? },
    };
    let message = NewMessage { room, author: identity.user(), body };
    let stored = super::deliver::append_and_publish(&state, message).await?;
    Ok((StatusCode::CREATED, Json(stored)))
}

fn parse_recipient(raw: &str, sender: UserId) -> Result<UserId, ApiError> {
    let to = UserId::parse(raw).ok_or_else(|| Invalid::new("invalid_user", "`to` must be a user id"))?;
    if to == sender {
        return Err(Invalid::new("invalid_user", "you cannot whisper to yourself").into());
    }
    Ok(to)
}
