//! Animated PNG (APNG) encoding from raw frames, shared by the trainer's `animate` and the
//! browser app's "Download animation" (bytes in, bytes out).

/// Pixel layout of the frames.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum FrameColor {
    /// 3 bytes per pixel.
    Rgb,
    /// 4 bytes per pixel.
    Rgba,
}

impl FrameColor {
    fn bytes(self) -> usize {
        match self {
            FrameColor::Rgb => 3,
            FrameColor::Rgba => 4,
        }
    }
}

/// Why frames could not be encoded.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ApngError {
    /// No frames.
    #[error("an animation needs at least one frame")]
    NoFrames,
    /// A frame buffer of the wrong length.
    #[error("frame {index} has {got} bytes, but {width}x{height} frames need {expected}")]
    FrameData {
        /// Which frame.
        index: usize,
        /// Frame width.
        width: usize,
        /// Frame height.
        height: usize,
        /// Bytes given.
        got: usize,
        /// Bytes needed.
        expected: usize,
    },
    /// A side of zero or above the PNG limit.
    #[error("a {width}x{height} animation is outside PNG's limits (sides 1 to 2^31 - 1)")]
    Limits {
        /// Frame width.
        width: usize,
        /// Frame height.
        height: usize,
    },
    /// A zero delay.
    #[error("a frame delay of 0 ms is not allowed (viewers treat it as 'as fast as possible')")]
    ZeroDelay,
    /// The PNG encoder refused.
    #[error("PNG encoding failed: {0}")]
    Png(String),
}

/// An APNG of `frames` (`width x height`, row-major, `color` pixels), each shown `delay_ms`,
/// looping forever. Frame 0 is also the still image, for viewers without APNG support.
pub fn encode_apng(
    frames: &[&[u8]],
    width: usize,
    height: usize,
    color: FrameColor,
    delay_ms: u16,
) -> Result<Vec<u8>, ApngError> {
    if frames.is_empty() {
        return Err(ApngError::NoFrames);
    }
    let side = |n: usize| {
        u32::try_from(n)
            .ok()
            .filter(|&v| (1..=i32::MAX as u32).contains(&v))
    };
    let (Some(pw), Some(ph)) = (side(width), side(height)) else {
        return Err(ApngError::Limits { width, height });
    };
    let expected = width
        .checked_mul(height)
        .and_then(|n| n.checked_mul(color.bytes()))
        .ok_or(ApngError::Limits { width, height })?;
    for (index, f) in frames.iter().enumerate() {
        if f.len() != expected {
            return Err(ApngError::FrameData {
                index,
                width,
                height,
                got: f.len(),
                expected,
            });
        }
    }
    if delay_ms == 0 {
        return Err(ApngError::ZeroDelay);
    }
    let num_frames =
        u32::try_from(frames.len()).map_err(|_| ApngError::Limits { width, height })?;
    let png_err = |e: png::EncodingError| ApngError::Png(e.to_string());
    let mut out = Vec::new();
    {
        let mut enc = png::Encoder::new(&mut out, pw, ph);
        enc.set_color(match color {
            FrameColor::Rgb => png::ColorType::Rgb,
            FrameColor::Rgba => png::ColorType::Rgba,
        });
        enc.set_depth(png::BitDepth::Eight);
        enc.set_animated(num_frames, 0).map_err(png_err)?;
        enc.set_frame_delay(delay_ms, 1000).map_err(png_err)?;
        let mut writer = enc.write_header().map_err(png_err)?;
        for frame in frames {
            writer.write_image_data(frame).map_err(png_err)?;
        }
        writer.finish().map_err(png_err)?;
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn frames_round_trip_through_a_decoder() {
        let a = [255u8, 0, 0, 255, 0, 255, 0, 255];
        let b = [0u8, 0, 255, 255, 9, 9, 9, 128];
        let png = encode_apng(&[&a, &b], 2, 1, FrameColor::Rgba, 100).unwrap();
        let mut dec = png::Decoder::new(std::io::Cursor::new(png))
            .read_info()
            .unwrap();
        let anim = dec.info().animation_control().copied().unwrap();
        assert_eq!(anim.num_frames, 2);
        let mut buf = vec![0; dec.output_buffer_size()];
        dec.next_frame(&mut buf).unwrap();
        assert_eq!(buf, a);
        dec.next_frame(&mut buf).unwrap();
        assert_eq!(buf, b);
    }

    #[test]
    fn bad_input_is_an_error() {
        let f = [0u8; 6];
        assert_eq!(
            encode_apng(&[], 2, 1, FrameColor::Rgb, 10),
            Err(ApngError::NoFrames)
        );
        assert!(matches!(
            encode_apng(&[&f[..5]], 2, 1, FrameColor::Rgb, 10),
            Err(ApngError::FrameData { index: 0, .. })
        ));
        assert_eq!(
            encode_apng(&[&f], 2, 1, FrameColor::Rgb, 0),
            Err(ApngError::ZeroDelay)
        );
        assert!(matches!(
            encode_apng(&[&f], 0, 1, FrameColor::Rgb, 10),
            Err(ApngError::Limits { .. })
        ));
    }
}
