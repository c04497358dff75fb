//! The vocabulary every layer speaks: ids, users, rooms and messages, plus the validated input
//! types (`parse` constructors) that handlers turn raw JSON into before anything else sees it.

mod ids;
mod message;
mod room;
mod user;

pub use ids::{GifId, RoomId, UserId};
pub use message::{Member, MemberChange, Message, MessageKind, MessageText, NewMessage, NewMessageBody, StoredGif};
pub use room::{Capacity, NewRoom, Room, RoomPassword, RoomTitle};
pub use user::{color_for, DisplayName, User};

/// Why a piece of input was refused: a machine code for clients and a sentence for people.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Invalid {
    pub code: &'static str,
    pub message: String,
}

impl Invalid {
    pub fn new(code: &'static str, message: impl Into<String>) -> Self {
        Self { code, message: message.into() }
    }
}

/// Trims `raw` and checks its length in characters (not bytes, so "ñ" counts once).
fn trimmed_within(raw: &str, min: usize, max: usize) -> Option<String> {
    let trimmed = raw.trim();
    let chars = trimmed.chars().count();
    (min..=max).contains(&chars).then(|| trimmed.to_owned())
}
