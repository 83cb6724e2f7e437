//! The stated limits of what one command takes on: pixels per image, images per call, frames per
//! video. Each is checked before anything is allocated for the work, with an error that states
//! the limit and how to stay within it.

use std::path::Path;

/// The most pixels of one image (a photo, a layout, a rendered sample, a weights file's
/// resolution): 2048x1024, Cityscapes' full resolution.
pub const MAX_IMAGE_PIXELS: usize = 2048 * 1024;

/// The most samples `cimle sample` renders in one call.
pub const MAX_SAMPLES: usize = 10_000;

/// The most pixels of one picture assembled from samples (the grid of `cimle sample`): 128
/// megapixels, about 384 MB of RGB.
pub const MAX_PICTURE_PIXELS: usize = 128 << 20;

/// The most frames `interpolate`, `animate` and `compare` render for one video.
pub const MAX_VIDEO_FRAMES: usize = 10_000;

/// The most scenes `cimle synth` writes, or `--synth-count` generates in memory, in one call.
pub const MAX_SCENES: usize = 1_000_000;

/// The most renders one measurement takes (`evaluate`, `compare`, `train --eval-every`:
/// layouts x samples).
pub const MAX_RENDERS: usize = 100_000;

/// A limit that input or flags would pass.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum LimitError {
    #[error(
        "{what} is {width}x{height} (width x height), {pixels} pixels; cimle handles images of at \
         most {MAX_IMAGE_PIXELS} pixels (2048x1024, Cityscapes' full resolution): {fix}",
        pixels = (*height as u128) * (*width as u128)
    )]
    Image {
        what: String,
        height: usize,
        width: usize,
        fix: String,
    },
    #[error("{what}: {value} is more than the limit of {limit}{hint}")]
    Count {
        what: String,
        value: usize,
        limit: usize,
        hint: String,
    },
}

/// Checks that an image of `height x width` is within [`MAX_IMAGE_PIXELS`]; `what` names it in
/// the error (a file, a flag, a weights file's resolution) and `fix` says what to do.
pub fn check_image(what: &str, height: usize, width: usize, fix: &str) -> Result<(), LimitError> {
    match height.checked_mul(width) {
        Some(p) if p <= MAX_IMAGE_PIXELS => Ok(()),
        _ => Err(LimitError::Image {
            what: what.to_string(),
            height,
            width,
            fix: fix.to_string(),
        }),
    }
}

/// Checks `value <= limit` for the count `what` (a flag and what it counts).
pub fn check_count(what: &str, value: usize, limit: usize, hint: &str) -> Result<(), LimitError> {
    if value <= limit {
        Ok(())
    } else {
        Err(LimitError::Count {
            what: what.to_string(),
            value,
            limit,
            hint: hint.to_string(),
        })
    }
}

/// The `(height, width)` a PNG's header (its first chunk, IHDR) declares, read without
/// decoding the image: nothing is allocated for its pixels.
pub fn png_size(bytes: &[u8]) -> Result<(usize, usize), String> {
    const SIGNATURE: [u8; 8] = [0x89, b'P', b'N', b'G', 0x0D, 0x0A, 0x1A, 0x0A];
    if bytes.len() < 24 || bytes[..8] != SIGNATURE || &bytes[12..16] != b"IHDR" {
        return Err("not a PNG (no PNG signature and IHDR chunk)".into());
    }
    let be = |i: usize| u32::from_be_bytes([bytes[i], bytes[i + 1], bytes[i + 2], bytes[i + 3]]);
    Ok((be(20) as usize, be(16) as usize))
}

/// Checks the size a PNG file declares against [`MAX_IMAGE_PIXELS`] before it is decoded.
/// Bytes that are not a PNG pass: the decoder reports them with its own error.
pub fn check_png(path: &Path, bytes: &[u8]) -> Result<(), LimitError> {
    match png_size(bytes) {
        Ok((h, w)) => check_image(&path.display().to_string(), h, w, "downscale it first"),
        Err(_) => Ok(()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn png_header_only(width: u32, height: u32) -> Vec<u8> {
        // A valid signature and IHDR chunk, then nothing: enough for the size, no pixels.
        let mut out = vec![0x89, b'P', b'N', b'G', 0x0D, 0x0A, 0x1A, 0x0A];
        let mut ihdr = Vec::new();
        ihdr.extend_from_slice(&width.to_be_bytes());
        ihdr.extend_from_slice(&height.to_be_bytes());
        ihdr.extend_from_slice(&[8, 2, 0, 0, 0]);
        out.extend_from_slice(&(ihdr.len() as u32).to_be_bytes());
        let mut chunk = b"IHDR".to_vec();
        chunk.extend_from_slice(&ihdr);
        out.extend_from_slice(&chunk);
        out.extend_from_slice(&crc32(&chunk).to_be_bytes());
        out
    }

    fn crc32(bytes: &[u8]) -> u32 {
        let mut crc = 0xFFFF_FFFFu32;
        for &b in bytes {
            crc ^= u32::from(b);
            for _ in 0..8 {
                crc = if crc & 1 == 1 {
                    (crc >> 1) ^ 0xEDB8_8320
                } else {
                    crc >> 1
                };
            }
        }
        !crc
    }

    #[test]
    fn image_limit_is_cityscapes_full_resolution() {
        assert!(check_image("a", 1024, 2048, "").is_ok());
        let err = check_image("a.png", 6000, 6000, "shrink it")
            .unwrap_err()
            .to_string();
        assert!(err.contains("a.png is 6000x6000"), "{err}");
        assert!(err.contains("2097152 pixels"), "{err}");
        assert!(err.ends_with(": shrink it"), "{err}");
        assert!(check_image("b", usize::MAX, 2, "").is_err());
    }

    #[test]
    fn a_png_header_gives_its_size_without_the_pixels() {
        let huge = png_header_only(100_000, 100_000);
        assert_eq!(png_size(&huge), Ok((100_000, 100_000)));
        let err = check_png(Path::new("huge.png"), &huge).unwrap_err();
        assert!(
            err.to_string().contains("huge.png is 100000x100000"),
            "{err}"
        );
        assert!(check_png(Path::new("ok.png"), &png_header_only(128, 64)).is_ok());
        // Not a PNG: left to the decoder's own error.
        assert!(check_png(Path::new("x.jpg"), b"\xFF\xD8\xFF").is_ok());
    }

    #[test]
    fn counts_state_their_limit() {
        assert!(check_count("--count", 10, 10, "").is_ok());
        let err = check_count("--count", 11, 10, "; ask for fewer")
            .unwrap_err()
            .to_string();
        assert_eq!(
            err,
            "--count: 11 is more than the limit of 10; ask for fewer"
        );
    }
}
