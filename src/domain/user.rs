//! Anonymous users: an id, a colour derived from it, and a display name.

use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};

use super::{invisible_character, invisible_message, trimmed_within, Invalid, UserId};

/// A user as every API response shows one.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct User {
    pub id: UserId,
    pub name: String,
    pub color: String,
}

impl User {
    /// `name` of `None` shows the colour, as the original did for everyone.
    pub fn new(id: UserId, name: Option<&str>) -> Self {
        let color = color_for(id);
        let name = name.map(str::to_owned).unwrap_or_else(|| color.clone());
        Self { id, name, color }
    }
}

impl User {
    /// The chosen nickname, `None` for a user who goes by their colour (stored as NULL).
    pub fn nickname(&self) -> Option<&str> {
        (self.name != self.color).then_some(self.name.as_str())
    }
}

/// A nickname: 1–32 characters after trimming, no control characters.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct DisplayName(String);

impl DisplayName {
    pub fn parse(raw: &str) -> Result<Self, Invalid> {
        let invalid = || Invalid::new("invalid_name", "name must be 1 to 32 characters, without control characters");
        let name = trimmed_within(raw, 1, 32).ok_or_else(invalid)?;
        if name.chars().any(char::is_control) {
            return Err(invalid());
        }
        if let Some(c) = invisible_character(&name) {
            return Err(Invalid::new("invalid_name", invisible_message("a name", c)));
        }
        Ok(Self(name))
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }
}

/// The user's colour: hue, saturation and lightness picked from a hash of the id within
/// ranges that stay readable on a light background. The original hashed into ~3,200 colours,
/// so two people often shared one; this spreads over ~160,000 distinct `#rrggbb` values.
pub fn color_for(id: UserId) -> String {
    let digest = Sha256::digest(id.0.as_bytes());
    let hue = hue_of(&digest);
    let saturation = 0.55 + f64::from(digest[2]) / 255.0 * 0.30;
    let lightness = 0.32 + f64::from(digest[3]) / 255.0 * 0.16;
    let (r, g, b) = hsl_to_rgb(hue, saturation, lightness);
    format!("#{r:02x}{g:02x}{b:02x}")
}

fn hue_of(digest: &[u8]) -> f64 {
    f64::from(u16::from_be_bytes([digest[0], digest[1]])) / 65536.0 * 360.0
}

/// The golden angle: each new hue as far from all the ones before it as a wheel allows, so
/// people who arrive one after another (who end up in a room together) get far-apart hues.
const GOLDEN_ANGLE: f64 = 137.507_764;
/// How close to its place on the wheel a new user's hue must fall.
const HUE_TOLERANCE: f64 = 3.0;

/// A new user's id, picked so that its colour's hue is the `nth` step around the wheel by the
/// golden angle. Hashed colours fell where they liked (users reported three similar purples
/// in one room); the colour stays a function of the id, so nothing about it is stored, and a
/// hue within 3° of a target takes ~60 random ids (a few SHA-256 each: microseconds).
pub fn spaced_user_id(nth: u64) -> UserId {
    let target = (nth as f64 * GOLDEN_ANGLE) % 360.0;
    loop {
        let id = UserId::random();
        let hue = hue_of(&Sha256::digest(id.0.as_bytes()));
        let off = (hue - target).abs();
        if off.min(360.0 - off) <= HUE_TOLERANCE {
            return id;
        }
    }
}

/// The hue (degrees) of a `#rrggbb` colour such as [`color_for`] makes; `None` for
/// anything else. For checking how far apart colours are (the tests do).
pub fn hue_of_color(color: &str) -> Option<f64> {
    let hex = color.strip_prefix('#').filter(|hex| hex.len() == 6)?;
    let channel = |i: usize| u8::from_str_radix(hex.get(i..i + 2)?, 16).ok().map(|v| f64::from(v) / 255.0);
    let (r, g, b) = (channel(0)?, channel(2)?, channel(4)?);
    let (max, min) = (r.max(g).max(b), r.min(g).min(b));
    let d = max - min;
    let h = if d == 0.0 {
        0.0
    } else if max == r {
        60.0 * (((g - b) / d) % 6.0)
    } else if max == g {
        60.0 * ((b - r) / d + 2.0)
    } else {
        60.0 * ((r - g) / d + 4.0)
    };
    Some((h + 360.0) % 360.0)
}

fn hsl_to_rgb(h: f64, s: f64, l: f64) -> (u8, u8, u8) {
    let c = (1.0 - (2.0 * l - 1.0).abs()) * s;
    let x = c * (1.0 - ((h / 60.0) % 2.0 - 1.0).abs());
    let m = l - c / 2.0;
    let (r, g, b) = match h as u32 / 60 {
        0 => (c, x, 0.0),
        1 => (x, c, 0.0),
        2 => (0.0, c, x),
        3 => (0.0, x, c),
        4 => (x, 0.0, c),
        _ => (c, 0.0, x),
    };
    let to_byte = |v: f64| ((v + m) * 255.0).round().clamp(0.0, 255.0) as u8;
    (to_byte(r), to_byte(g), to_byte(b))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn colours_are_stable_and_well_formed() {
        let id = UserId::random();
        let color = color_for(id);
        assert_eq!(color, color_for(id));
        assert_eq!(color.len(), 7);
        assert!(color.starts_with('#') && color[1..].bytes().all(|b| b.is_ascii_hexdigit()));
    }

    #[test]
    fn colours_rarely_collide() {
        let colors: std::collections::HashSet<_> = (0..2000).map(|_| color_for(UserId::random())).collect();
        // With ~3,200 colours (the original) 2,000 users give ~500 collisions; we allow 20.
        assert!(colors.len() > 1980, "{} distinct", colors.len());
    }

    #[test]
    fn users_who_arrive_one_after_another_get_far_apart_hues() {
        let hues: Vec<f64> = (100..108).map(|n| hue_of_color(&color_for(spaced_user_id(n))).unwrap()).collect();
        for (i, a) in hues.iter().enumerate() {
            for b in &hues[i + 1..] {
                let apart = (a - b).abs().min(360.0 - (a - b).abs());
                // Eight golden-angle steps are at least 32.5° apart; rounding to #rrggbb and
                // the tolerance take a few degrees.
                assert!(apart > 24.0, "hues {hues:?}");
            }
        }
    }

    #[test]
    fn names_are_trimmed_and_bounded() {
        assert_eq!(DisplayName::parse("  Ann ").unwrap().as_str(), "Ann");
        assert!(DisplayName::parse("   ").is_err());
        assert!(DisplayName::parse(&"x".repeat(33)).is_err());
        assert!(DisplayName::parse("a\u{7}b").is_err());
        assert!(DisplayName::parse(&"é".repeat(32)).is_ok());
    }
}
