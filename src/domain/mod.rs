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
pub use user::{color_for, hue_of_color, spaced_user_id, DisplayName, User};

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

/// Characters that change how text around them is shown without being seen themselves: every
/// format character (Unicode category Cf: direction overrides and isolates, zero-width spaces
/// and marks, the byte-order mark, soft hyphens, tags, …) and the few letters and marks that
/// render as nothing (Hangul fillers, the combining grapheme joiner). In a name or title they
/// allow impersonation ("Bob" and "B\u{200B}ob") and scrambled text ("\u{202E}txt.exe").
/// The zero-width joiner is allowed between two emoji, where it builds one (👩‍👩‍👧), and
/// nowhere else.
pub fn invisible_character(text: &str) -> Option<char> {
    use unicode_properties::{GeneralCategory, UnicodeEmoji, UnicodeGeneralCategory};
    let is_emoji = |c: Option<char>| c.is_some_and(|c| !c.is_ascii() && c.is_emoji_char());
    let chars: Vec<char> = text.chars().collect();
    chars.iter().enumerate().find_map(|(i, &c)| {
        let hidden = match c {
            '\u{200D}' => !(is_emoji(i.checked_sub(1).map(|p| chars[p])) && is_emoji(chars.get(i + 1).copied())),
            '\u{034F}'
            | '\u{115F}'
            | '\u{1160}'
            | '\u{17B4}'
            | '\u{17B5}'
            | '\u{180B}'..='\u{180F}'
            | '\u{3164}'
            | '\u{FFA0}' => true,
            c => c.general_category() == GeneralCategory::Format,
        };
        hidden.then_some(c)
    })
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
        for bad in [
            "B\u{200B}ob",
            "\u{202E}txt.exe",
            "a\u{2066}b\u{2069}",
            "\u{FEFF}x",
            "Bo\u{200D}b",
            "x\u{00AD}y",
            "\u{0600}x",
            "Bob👍\u{200D}",
            "Bob👍\u{200D}\u{200D}👍",
        ] {
            assert!(invisible_character(bad).is_some(), "{bad:?}");
        }
        for good in ["Zoë", "李小龙", "👩\u{200D}👩\u{200D}👧", "O'Brien", "❤\u{FE0F}"] {
            assert_eq!(invisible_character(good), None, "{good:?}");
        }
    }
}
