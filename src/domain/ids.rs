//! Newtype ids, so a room id never passes for a user id.

use std::fmt;

use serde::{Deserialize, Serialize};
use uuid::Uuid;

macro_rules! uuid_id {
    ($(#[$doc:meta])* $name:ident) => {
        $(#[$doc])*
        #[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
        #[serde(transparent)]
        pub struct $name(pub Uuid);

        impl $name {
            pub fn random() -> Self {
                Self(Uuid::new_v4())
            }

            /// `None` for anything that is not a UUID, so garbage ids become a 404, not a 500.
            pub fn parse(raw: &str) -> Option<Self> {
                Uuid::parse_str(raw).ok().map(Self)
            }
        }

        impl fmt::Display for $name {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                self.0.hyphenated().fmt(f)
            }
        }
    };
}

uuid_id!(
    /// A room, random so that ids cannot be guessed by counting.
    RoomId
);
uuid_id!(
    /// An anonymous user, minted when a browser first arrives and kept in its session cookie.
    UserId
);

/// A stored GIF: the hex SHA-256 of its bytes, so the same file uploaded twice is stored once
/// and any instance can serve it.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub struct GifId(String);

impl GifId {
    pub fn of(bytes: &[u8]) -> Self {
        use sha2::{Digest, Sha256};
        Self(hex::encode(Sha256::digest(bytes)))
    }

    /// Accepts exactly 64 lowercase hex digits: the only names we ever hand out.
    pub fn parse(raw: &str) -> Option<Self> {
        let ok = raw.len() == 64 && raw.bytes().all(|b| b.is_ascii_digit() || (b'a'..=b'f').contains(&b));
        ok.then(|| Self(raw.to_owned()))
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }

    /// Where the GIF is served: under its room, so only who may read the room can fetch it.
    pub fn url(&self, room: RoomId) -> String {
        format!("/api/rooms/{room}/gifs/{}.gif", self.0)
    }
}
