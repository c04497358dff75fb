//! The vocabulary every layer speaks: ids, users, rooms and messages, plus the validated input
//! types (`parse` constructors) that handlers turn raw JSON into before anything else sees it.

mod address;
mod ids;
mod message;
mod room;
mod user;

pub use address::ClientAddress;
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

/// Characters that change how text around them is shown without being seen themselves:
/// direction overrides and isolates (U+202A–U+202E, U+2066–U+2069), zero-width spaces and
/// marks, the byte-order mark, soft hyphens, tags. In a name or title they allow
/// impersonation ("Bob" and "B\u{200B}ob") and scrambled text ("\u{202E}txt.exe").
/// The zero-width joiner is allowed after an emoji, where it builds one (👩‍👩‍👧), but not
/// after a letter, where it only hides.
pub fn invisible_character(text: &str) -> Option<char> {
    let mut previous: Option<char> = None;
    for c in text.chars() {
        let hidden = match c {
            '\u{200D}' => previous.is_none_or(|p| p.is_alphanumeric() || p.is_whitespace()),
            '\u{00AD}'
            | '\u{034F}'
            | '\u{061C}'
            | '\u{115F}'
            | '\u{1160}'
            | '\u{17B4}'
            | '\u{17B5}'
            | '\u{180B}'..='\u{180F}'
            | '\u{200B}'
            | '\u{200C}'
            | '\u{200E}'
            | '\u{200F}'
            | '\u{202A}'..='\u{202E}'
            | '\u{2060}'..='\u{206F}'
            | '\u{3164}'
            | '\u{FEFF}'
            | '\u{FFA0}'
            | '\u{FFF9}'..='\u{FFFB}'
            | '\u{1D173}'..='\u{1D17A}'
            | '\u{E0000}'..='\u{E007F}' => true,
            _ => false,
        };
        if hidden {
            return Some(c);
        }
        previous = Some(c);
    }
    None
}

/// The sentence for a refused invisible character, naming it by code point.
fn invisible_message(field: &str, c: char) -> String {
    format!("{field} may not contain invisible or direction-changing characters (found U+{:04X})", u32::from(c))
}

#[cfg(test)]
mod invisible_tests {
    use super::invisible_character;

    #[test]
    fn invisible_and_bidi_characters_are_found_and_emoji_joins_are_not() {
        for bad in ["B\u{200B}ob", "\u{202E}txt.exe", "a\u{2066}b\u{2069}", "\u{FEFF}x", "Bo\u{200D}b", "x\u{00AD}y"] {
            assert!(invisible_character(bad).is_some(), "{bad:?}");
        }
        for good in ["Zoë", "李小龙", "👩\u{200D}👩\u{200D}👧", "O'Brien", "❤\u{FE0F}"] {
            assert_eq!(invisible_character(good), None, "{good:?}");
        }
    }
}
