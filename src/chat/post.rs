//! Posting a text message or whisper: the rules every transport shares (REST and WebSocket).

use crate::{
    domain::{Invalid, Message, MessageText, NewMessage, NewMessageBody, RoomId, UserId},
    error::ApiError,
    identity::Identity,
    rooms::access,
    state::AppState,
};

/// Validates, stores and publishes, if the user holds a seat (checked as the message is
/// stored). `to` (a user id) makes it a whisper.
pub async fn post_text(
    state: &AppState,
    identity: &Identity,
    room: RoomId,
    text: &str,
    to: Option<&str>,
) -> Result<Message, ApiError> {
    let text = MessageText::parse(text, state.config.max_message_chars)?;
    let recipient = to.map(|raw| parse_recipient(raw, identity.id)).transpose()?;
    let body = match recipient {
        None => NewMessageBody::Chat(text),
        Some(to) => {
            // A stranger learns nothing about who is in the room.
            access::ensure_seated(state, room, identity.id).await?;
            NewMessageBody::Whisper { text, to: access::seated_member(state, room, to).await? }
        }
    };
    append_and_publish(state, NewMessage { room, author: identity.user(), body }).await
}

/// Stores and publishes a post (text or GIF) through the room's writer, or says why its author
/// may not post there: the one seat check every kind of post goes through.
pub async fn append_and_publish(state: &AppState, message: NewMessage) -> Result<Message, ApiError> {
    let (room, author) = (message.room, message.author.id);
    match state.writes.append_and_publish(message).await? {
        Some(stored) => Ok(stored),
        None => Err(access::refusal(state, room, author).await),
    }
}

pub(super) fn parse_recipient(raw: &str, sender: UserId) -> Result<UserId, ApiError> {
    let to = UserId::parse(raw).ok_or_else(|| Invalid::new("invalid_user", "`to` must be a user id"))?;
    if to == sender {
        return Err(Invalid::new("invalid_user", "you cannot whisper to yourself").into());
    }
    Ok(to)
}
