//! Property tests: every parser that sees untrusted bytes answers (accepts or refuses) for any
//! input, never panics, and refuses what it must. proptest shrinks any failure to a minimal
//! case; add those as plain regression tests next to the parser.

use proptest::prelude::*;

use crate::{
    domain::{DisplayName, GifId, MessageText, RoomId, RoomPassword, RoomTitle},
    identity::SessionKey,
    uploads::{inspect, GifLimits, GifRejection},
};

const LIMITS: GifLimits = GifLimits { max_dimension: 256, max_frames: 16, max_total_pixels: 1 << 20 };

/// A real GIF to mutate: mutations of valid files reach far deeper into the decoder than
/// random bytes, which die at the signature.
fn seed_gif() -> Vec<u8> {
    let mut out = Vec::new();
    {
        let palette = [0, 0, 0, 255, 255, 255, 255, 0, 0, 0, 255, 0];
        let mut encoder = gif::Encoder::new(&mut out, 12, 9, &palette).unwrap();
        for i in 0..3usize {
            let pixels: Vec<u8> = (0..12 * 9).map(|p| ((p + i) % 4) as u8).collect();
            encoder
                .write_frame(&gif::Frame { width: 12, height: 9, buffer: pixels.into(), ..Default::default() })
                .unwrap();
        }
    }
    out
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 2000, ..ProptestConfig::default() })]

    #[test]
    fn the_gif_check_answers_any_bytes(bytes in proptest::collection::vec(any::<u8>(), 0..2048)) {
        let _ = inspect(&bytes, LIMITS);
    }

    #[test]
    fn the_gif_check_answers_any_mutation_of_a_real_gif(
        edits in proptest::collection::vec((any::<prop::sample::Index>(), any::<u8>()), 1..8),
        cut in any::<prop::sample::Index>(),
    ) {
        let mut gif = seed_gif();
        for (at, byte) in edits {
            let i = at.index(gif.len());
            gif[i] = byte;
        }
        let keep = cut.index(gif.len()) + 1;
        gif.truncate(keep);
        if let Ok(info) = inspect(&gif, LIMITS) {
            prop_assert!(info.width <= 256 && info.height <= 256 && info.frames as usize <= 16);
        }
    }

    #[test]
    fn anything_without_the_signature_is_not_a_gif(bytes in proptest::collection::vec(any::<u8>(), 0..64)) {
        prop_assume!(!bytes.starts_with(b"GIF87a") && !bytes.starts_with(b"GIF89a"));
        prop_assert_eq!(inspect(&bytes, LIMITS), Err(GifRejection::NotAGif));
    }

    #[test]
    fn text_parsers_answer_any_string(raw in any::<String>()) {
        if let Ok(title) = RoomTitle::parse(&raw) {
            prop_assert!(!title.as_str().chars().any(char::is_control));
            prop_assert!((1..=100).contains(&title.as_str().chars().count()));
        }
        if let Ok(name) = DisplayName::parse(&raw) {
            prop_assert!((1..=32).contains(&name.as_str().chars().count()));
        }
        if let Ok(text) = MessageText::parse(&raw, 1000) {
            let text = text.into_inner();
            prop_assert!(!text.chars().any(|c| c.is_control() && !matches!(c, '\n' | '\r' | '\t')));
        }
        let _ = RoomPassword::parse(Some(&raw));
        let _ = RoomId::parse(&raw);
        let _ = GifId::parse(&raw);
    }

    #[test]
    fn no_cookie_opens_unless_this_key_sealed_it(raw in any::<String>()) {
        prop_assert!(SessionKey::random().open(&raw).is_none());
    }
}
