//! Rooms and the validated input that creates one.

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

use super::{invisible_character, invisible_message, trimmed_within, Invalid, RoomId, User};

/// A room as the API shows it. The password hash never leaves storage.
#[derive(Clone, Debug, Serialize, Deserialize, PartialEq)]
pub struct Room {
    pub id: RoomId,
    pub title: String,
    pub max: u32,
    pub locked: bool,
    /// Users holding a seat: present, or within the grace period after leaving.
    pub members: u32,
    pub owner: User,
    pub created_at: DateTime<Utc>,
}

/// 1–100 characters after trimming.
#[derive(Clone, Debug)]
pub struct RoomTitle(String);

impl RoomTitle {
    pub fn parse(raw: &str) -> Result<Self, Invalid> {
        let title = trimmed_within(raw, 1, 100)
            .ok_or_else(|| Invalid::new("invalid_title", "title must be 1 to 100 characters"))?;
        if title.chars().any(char::is_control) {
            return Err(Invalid::new("invalid_title", "title may not contain control characters"));
        }
        if let Some(c) = invisible_character(&title) {
            return Err(Invalid::new("invalid_title", invisible_message("a title", c)));
        }
        Ok(Self(title))
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }
}

/// How many users may hold a seat at once: at least 2, at most the configured bound.
#[derive(Clone, Copy, Debug)]
pub struct Capacity(u32);

impl Capacity {
    pub const DEFAULT: u32 = 10;

    pub fn parse(raw: Option<i64>, upper_bound: u32) -> Result<Self, Invalid> {
        let max = raw.unwrap_or(i64::from(Capacity::DEFAULT));
        if (2..=i64::from(upper_bound)).contains(&max) {
            Ok(Self(max as u32))
        } else {
            Err(Invalid::new("invalid_max", format!("max must be a whole number from 2 to {upper_bound}")))
        }
    }

    pub fn get(self) -> u32 {
        self.0
    }
}

/// A room password as typed: 1–128 characters, kept only until it is hashed or checked.
/// An empty string means "no password", as an empty form field would.
pub struct RoomPassword(String);

impl RoomPassword {
    pub fn parse(raw: Option<&str>) -> Result<Option<Self>, Invalid> {
        match raw {
            None | Some("") => Ok(None),
            Some(p) if p.chars().count() <= 128 => Ok(Some(Self(p.to_owned()))),
            Some(_) => Err(Invalid::new("invalid_password", "password must be at most 128 characters")),
        }
    }

    pub fn expose(&self) -> &str {
        &self.0
    }
}

impl std::fmt::Debug for RoomPassword {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("RoomPassword([redacted])")
    }
}

/// Everything storage needs to create a room; the password is already hashed.
pub struct NewRoom {
    pub title: RoomTitle,
    pub max: Capacity,
    pub password_hash: Option<String>,
    pub owner: User,
    /// Where the owner's first seat is taken from.
    pub owner_address: super::ClientAddress,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn capacity_bounds() {
        assert_eq!(Capacity::parse(None, 100).unwrap().get(), 10);
        assert!(Capacity::parse(Some(1), 100).is_err());
        assert!(Capacity::parse(Some(101), 100).is_err());
        assert_eq!(Capacity::parse(Some(2), 100).unwrap().get(), 2);
    }

    #[test]
    fn titles_are_trimmed() {
        assert_eq!(RoomTitle::parse("  hi ").unwrap().as_str(), "hi");
        assert!(RoomTitle::parse(" \n ").is_err());
        assert!(RoomTitle::parse(&"t".repeat(101)).is_err());
    }
}
