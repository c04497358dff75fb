//! Messages: everything that takes a place in a room's sequence.

use bytes::Bytes;
use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

use super::{trimmed_within, GifId, Invalid, RoomId, User};

#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum MessageKind {
    Chat,
    Gif,
    System,
    /// A private message: only its sender and its recipient ever see it.
    Whisper,
}

impl MessageKind {
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Chat => "chat",
            Self::Gif => "gif",
            Self::System => "system",
            Self::Whisper => "whisper",
        }
    }

    pub fn parse(raw: &str) -> Option<Self> {
        match raw {
            "chat" => Some(Self::Chat),
            "gif" => Some(Self::Gif),
            "system" => Some(Self::System),
            "whisper" => Some(Self::Whisper),
            _ => None,
        }
    }
}

/// What a system message says happened to its `user`'s membership. Clients keep their member
/// list current from these: they travel in the room's sequence, so a list read `as_of` some id
/// plus the changes after that id is the list now, with no race between the two.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum MemberChange {
    Joined,
    Left,
    /// Removed by the owner.
    Kicked,
    /// Became the owner.
    Owner,
    /// Took a new nickname (`user.name` is the new one).
    Renamed,
}

impl MemberChange {
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Joined => "joined",
            Self::Left => "left",
            Self::Kicked => "kicked",
            Self::Owner => "owner",
            Self::Renamed => "renamed",
        }
    }

    pub fn parse(raw: &str) -> Option<Self> {
        [Self::Joined, Self::Left, Self::Kicked, Self::Owner, Self::Renamed].into_iter().find(|c| c.as_str() == raw)
    }
}

/// A stored message. `id` is the room's own sequence number: strictly increasing, no gaps,
/// and the SSE event id, so a reconnecting client can say exactly where it stopped.
#[derive(Clone, Debug, Serialize, Deserialize, PartialEq)]
pub struct Message {
    pub id: i64,
    pub room: RoomId,
    pub kind: MessageKind,
    pub user: User,
    /// The recipient of a whisper.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub to: Option<User>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub text: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub gif_url: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub gif_width: Option<u16>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub gif_height: Option<u16>,
    pub created_at: DateTime<Utc>,
    /// On system messages: the membership change they record.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub change: Option<MemberChange>,
}

/// Chat text: 1 to `max_chars` characters after trimming.
#[derive(Clone, Debug)]
pub struct MessageText(String);

impl MessageText {
    /// Newlines and tabs are text; other control characters (escape sequences, NUL) are not.
    pub fn parse(raw: &str, max_chars: usize) -> Result<Self, Invalid> {
        let text = trimmed_within(raw, 1, max_chars)
            .ok_or_else(|| Invalid::new("invalid_text", format!("text must be 1 to {max_chars} characters")))?;
        if text.chars().any(|c| c.is_control() && !matches!(c, '\n' | '\r' | '\t')) {
            return Err(Invalid::new(
                "invalid_text",
                "text may not contain control characters other than newlines and tabs",
            ));
        }
        Ok(Self(text))
    }

    pub fn into_inner(self) -> String {
        self.0
    }
}

/// A GIF that passed validation, ready to store.
#[derive(Clone, Debug)]
pub struct StoredGif {
    pub id: GifId,
    pub bytes: Bytes,
    pub width: u16,
    pub height: u16,
    pub frames: u32,
}

/// What a message says, by kind.
#[derive(Clone, Debug)]
pub enum NewMessageBody {
    Chat(MessageText),
    Gif(StoredGif),
    System { text: String, change: MemberChange },
    Whisper { text: MessageText, to: User },
}

/// A message on its way into storage, where it gets its sequence number.
#[derive(Clone, Debug)]
pub struct NewMessage {
    pub room: RoomId,
    pub author: User,
    pub body: NewMessageBody,
}

impl NewMessage {
    pub fn kind(&self) -> MessageKind {
        match self.body {
            NewMessageBody::Chat(_) => MessageKind::Chat,
            NewMessageBody::Gif(_) => MessageKind::Gif,
            NewMessageBody::System { .. } => MessageKind::System,
            NewMessageBody::Whisper { .. } => MessageKind::Whisper,
        }
    }

    /// The text, recipient and GIF columns of this message, for storage.
    pub fn parts(&self) -> (Option<String>, Option<&User>, Option<&StoredGif>) {
        match &self.body {
            NewMessageBody::Chat(text) => (Some(text.0.clone()), None, None),
            NewMessageBody::System { text, .. } => (Some(text.clone()), None, None),
            NewMessageBody::Whisper { text, to } => (Some(text.0.clone()), Some(to), None),
            NewMessageBody::Gif(gif) => (None, None, Some(gif)),
        }
    }

    /// The message as stored under `id`, at `created_at`.
    pub fn stored(&self, id: i64, created_at: DateTime<Utc>) -> Message {
        let (text, to, gif) = self.parts();
        Message {
            id,
            room: self.room,
            kind: self.kind(),
            user: self.author.clone(),
            to: to.cloned(),
            text,
            gif_url: gif.map(|g| g.id.url(self.room)),
            gif_width: gif.map(|g| g.width),
            gif_height: gif.map(|g| g.height),
            created_at,
            change: self.change(),
        }
    }

    pub fn change(&self) -> Option<MemberChange> {
        match self.body {
            NewMessageBody::System { change, .. } => Some(change),
            _ => None,
        }
    }
}

impl Message {
    /// Who may read it: `None` for everyone in the room, or the two ends of a whisper.
    pub fn audience(&self) -> Option<[super::UserId; 2]> {
        self.to.as_ref().map(|to| [self.user.id, to.id])
    }
}

/// A member of a room as the `members` event lists them.
#[derive(Clone, Debug, Serialize, Deserialize, PartialEq)]
pub struct Member {
    #[serde(flatten)]
    pub user: User,
    pub owner: bool,
    /// When their seat was taken.
    pub since: DateTime<Utc>,
}
