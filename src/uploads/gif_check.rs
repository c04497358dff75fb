//! Is this upload really a GIF? The signature must say so, and the whole file must decode:
//! header, every frame's data, the trailer. Dimensions, frame count and total decoded pixels
//! are bounded, so a small crafted file cannot make us spend unbounded CPU; and frames are
//! decoded piece by piece into one small buffer that is reused, so a 4096×4096 frame costs
//! 64 KiB of memory, not 16 MiB.

use gif::{ColorOutput, DecodeOptions};

/// How much of a frame is decoded at a time.
const DECODE_PIECE: usize = 64 * 1024;

#[derive(Clone, Copy, Debug)]
pub struct GifLimits {
    pub max_dimension: u16,
    pub max_frames: usize,
    /// Sum of all frames' areas; LZW compresses flat frames ~1000:1, so this, not the file
    /// size, is what bounds decoding time.
    pub max_total_pixels: u64,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct GifInfo {
    pub width: u16,
    pub height: u16,
    pub frames: u32,
}

#[derive(Debug, PartialEq, Eq, thiserror::Error)]
pub enum GifRejection {
    #[error("the file is not a GIF")]
    NotAGif,
    #[error("the GIF is damaged or incomplete: {0}")]
    Corrupt(String),
    #[error("the GIF is too large: {0}")]
    OverLimit(String),
}

pub fn inspect(bytes: &[u8], limits: GifLimits) -> Result<GifInfo, GifRejection> {
    if !(bytes.starts_with(b"GIF87a") || bytes.starts_with(b"GIF89a")) {
        return Err(GifRejection::NotAGif);
    }
    let mut options = DecodeOptions::new();
    options.set_color_output(ColorOutput::Indexed);
    let mut decoder = options.read_info(bytes).map_err(|e| GifRejection::Corrupt(e.to_string()))?;
    let (width, height) = (decoder.width(), decoder.height());
    if width == 0 || height == 0 {
        return Err(GifRejection::Corrupt("zero width or height".into()));
    }
    if width > limits.max_dimension || height > limits.max_dimension {
        return Err(GifRejection::OverLimit(format!(
            "{width}×{height} pixels; at most {max}×{max}",
            max = limits.max_dimension
        )));
    }
    let mut frames = 0usize;
    let mut pixels = 0u64;
    let mut buffer = vec![0u8; DECODE_PIECE];
    while let Some(frame) = decoder.next_frame_info().map_err(|e| GifRejection::Corrupt(e.to_string()))? {
        frames += 1;
        pixels += u64::from(frame.width) * u64::from(frame.height);
        if frames > limits.max_frames {
            return Err(GifRejection::OverLimit(format!("more than {} frames", limits.max_frames)));
        }
        if frame.width > limits.max_dimension || frame.height > limits.max_dimension {
            return Err(GifRejection::OverLimit("a frame is larger than allowed".into()));
        }
        if pixels > limits.max_total_pixels {
            return Err(GifRejection::OverLimit("too many pixels in all frames together".into()));
        }
        // Every byte of the frame must decode; what it decodes to is of no interest.
        let mut left = decoder.buffer_size();
        while left > 0 {
            let piece = left.min(buffer.len());
            let filled = decoder.fill_buffer(&mut buffer[..piece]).map_err(|e| GifRejection::Corrupt(e.to_string()))?;
            if !filled {
                return Err(GifRejection::Corrupt("a frame's image data is truncated".into()));
            }
            left -= piece;
        }
    }
    if frames == 0 {
        return Err(GifRejection::Corrupt("no frames".into()));
    }
    Ok(GifInfo { width, height, frames: frames as u32 })
}

#[cfg(test)]
pub(crate) mod tests {
    use super::*;

    const LIMITS: GifLimits = GifLimits { max_dimension: 512, max_frames: 10, max_total_pixels: 1 << 20 };

    /// A real GIF of `frames` frames, `w`×`h`, made with the encoder.
    pub fn make_gif(w: u16, h: u16, frames: usize) -> Vec<u8> {
        let mut out = Vec::new();
        {
            let palette = [0, 0, 0, 255, 255, 255];
            let mut encoder = gif::Encoder::new(&mut out, w, h, &palette).unwrap();
            for i in 0..frames {
                let pixels: Vec<u8> = (0..usize::from(w) * usize::from(h)).map(|p| ((p + i) % 2) as u8).collect();
                let frame = gif::Frame { width: w, height: h, buffer: pixels.into(), ..Default::default() };
                encoder.write_frame(&frame).unwrap();
            }
        }
        out
    }

    #[test]
    fn accepts_a_real_gif() {
        assert_eq!(inspect(&make_gif(8, 6, 3), LIMITS), Ok(GifInfo { width: 8, height: 6, frames: 3 }));
    }

    #[test]
    fn rejects_other_formats_and_damage() {
        assert_eq!(inspect(b"\x89PNG\r\n\x1a\n....", LIMITS), Err(GifRejection::NotAGif));
        assert_eq!(inspect(b"hello", LIMITS), Err(GifRejection::NotAGif));
        let gif = make_gif(16, 16, 2);
        assert!(matches!(inspect(&gif[..gif.len() - 20], LIMITS), Err(GifRejection::Corrupt(_))));
        assert!(matches!(inspect(&gif[..13], LIMITS), Err(GifRejection::Corrupt(_))));
    }

    #[test]
    fn a_frame_larger_than_the_decoding_piece_decodes_and_its_truncation_is_found() {
        let limits = GifLimits { max_dimension: 1024, max_frames: 10, max_total_pixels: 1 << 24 };
        let gif = make_gif(700, 300, 2); // 210,000 pixels a frame: four pieces
        assert_eq!(inspect(&gif, limits), Ok(GifInfo { width: 700, height: 300, frames: 2 }));
        assert!(matches!(inspect(&gif[..gif.len() * 3 / 4], limits), Err(GifRejection::Corrupt(_))));
    }

    #[test]
    fn enforces_limits() {
        assert!(matches!(inspect(&make_gif(600, 2, 1), LIMITS), Err(GifRejection::OverLimit(_))));
        assert!(matches!(inspect(&make_gif(2, 2, 11), LIMITS), Err(GifRejection::OverLimit(_))));
    }
}
