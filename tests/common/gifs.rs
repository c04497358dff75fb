//! GIFs for the tests, made with the `gif` encoder; shared by the suites that include this file.

/// A real GIF made with the `gif` encoder: `frames` frames of `w`×`h`.
pub fn make_gif(w: u16, h: u16, frames: usize) -> Vec<u8> {
    let mut out = Vec::new();
    {
        let palette = [0, 0, 0, 255, 0, 0, 0, 255, 0, 255, 255, 255];
        let mut encoder = gif::Encoder::new(&mut out, w, h, &palette).unwrap();
        for i in 0..frames {
            let pixels: Vec<u8> = (0..usize::from(w) * usize::from(h)).map(|p| ((p / 3 + i) % 4) as u8).collect();
            let frame = gif::Frame { width: w, height: h, buffer: pixels.into(), ..Default::default() };
            encoder.write_frame(&frame).unwrap();
        }
    }
    out
}

/// Issue 13's bomb: frames of 4096×4096 in one colour, a few KB each once compressed, 16 MiB
/// each decoded.
pub fn gif_bomb(frames: usize) -> Vec<u8> {
    let mut out = Vec::new();
    {
        let mut encoder = gif::Encoder::new(&mut out, 4096, 4096, &[0, 0, 0, 255, 255, 255]).unwrap();
        let flat = vec![0u8; 4096 * 4096];
        for _ in 0..frames {
            let frame = gif::Frame { width: 4096, height: 4096, buffer: flat.as_slice().into(), ..Default::default() };
            encoder.write_frame(&frame).unwrap();
        }
    }
    out
}
