//! The largest sizes the page reads from outside (a link, an uploaded PNG), checked before
//! anything of that size is allocated, so a crafted link or file gets an error that states the
//! limit instead of exhausting the tab's memory. Plain data: the link codec, styles and uploads
//! all use it. Sizes are written height x width, as everywhere in cimle ("256x512").

/// Longest side of a layout or a region mask (pixels).
pub const MAX_SIDE: usize = 8192;
/// Most pixels of a layout or a region mask: 4096x4096 (16 MiB of class ids).
pub const MAX_PIXELS: usize = 1 << 24;
/// Most steps (seeds, interpolations, regions) in one style.
pub const MAX_STEPS: usize = 64;
/// Deepest nesting of interpolations and regions in one style.
pub const MAX_DEPTH: usize = 16;

/// Checks a `height x width` size that `what` ("the layout in the link") claims; returns its
/// number of pixels.
pub fn check_size(what: &str, height: usize, width: usize) -> Result<usize, String> {
    if height == 0 || width == 0 {
        return Err(format!(
            "{what} has an empty size, {height}x{width} (height x width)"
        ));
    }
    if height > MAX_SIDE || width > MAX_SIDE || height.saturating_mul(width) > MAX_PIXELS {
        return Err(format!(
            "{what} is {height}x{width} (height x width), larger than the page accepts: at \
             most {MAX_SIDE} pixels a side and {MAX_PIXELS} pixels in all"
        ));
    }
    Ok(height * width)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sizes_within_the_limits_pass_and_others_name_the_limit() {
        assert_eq!(check_size("x", 256, 512), Ok(256 * 512));
        assert_eq!(check_size("x", 4096, 4096), Ok(MAX_PIXELS));
        assert_eq!(check_size("x", 1, MAX_SIDE), Ok(MAX_SIDE));
        for (h, w) in [
            (MAX_SIDE + 1, 1),
            (1, MAX_SIDE + 1),
            (4097, 4096),
            (usize::MAX, usize::MAX),
        ] {
            let err = check_size("the mask", h, w).unwrap_err();
            assert!(err.starts_with(&format!("the mask is {h}x{w}")), "{err}");
            assert!(
                err.contains("at most 8192 pixels a side and 16777216"),
                "{err}"
            );
        }
        assert!(check_size("x", 0, 5).unwrap_err().contains("empty"));
    }
}
