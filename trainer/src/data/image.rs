//! Photos as RGB8 bytes: PNG decoding of any colour type, and resizing by area averaging.

use cimle::label_png;

/// Decodes a PNG (RGB, RGBA, grayscale with or without alpha, palette; 1- to 16-bit) to 8-bit RGB.
/// Returns `(rgb, height, width)`; alpha is dropped, 16-bit samples keep their high byte.
pub fn read_png_rgb(bytes: &[u8]) -> Result<(Vec<u8>, usize, usize), String> {
    label_png::decode_rgb8(bytes).map_err(|e| e.to_string())
}

/// For each output index along one axis, the source indices it covers and their weights (which
/// sum to 1): the exact overlap of output cell `o` (spanning `[o, o + 1) * n_in / n_out` in source
/// coordinates) with each source cell.
fn area_weights(n_in: usize, n_out: usize) -> Vec<Vec<(usize, f32)>> {
    // In units of 1 / n_out source pixels: source cell i spans [i * n_out, (i + 1) * n_out) and
    // output cell o spans [o * n_in, (o + 1) * n_in), so every overlap is an integer.
    let (n_in64, n_out64) = (n_in as u64, n_out as u64);
    (0..n_out as u64)
        .map(|o| {
            let (start, end) = (o * n_in64, (o + 1) * n_in64);
            let first = start / n_out64;
            let last = ((end - 1) / n_out64).min(n_in64 - 1);
            (first..=last)
                .filter_map(|i| {
                    let lo = start.max(i * n_out64);
                    let hi = end.min((i + 1) * n_out64);
                    (hi > lo).then(|| (i as usize, (hi - lo) as f32 / n_in as f32))
                })
                .collect()
        })
        .collect()
}

/// Resizes an RGB image (`h * w * 3` bytes, row-major) to `new_h`×`new_w` by area averaging: each
/// output pixel is the mean of the source area it covers, counting partly covered source pixels by
/// their covered fraction. When enlarging this replicates pixels (up to the shared edge pixels of
/// non-integer factors). Returns an empty buffer if any size is zero.
///
/// # Panics
/// If `rgb.len() != h * w * 3`.
pub fn resize_rgb_area(rgb: &[u8], h: usize, w: usize, new_h: usize, new_w: usize) -> Vec<u8> {
    assert_eq!(
        Some(rgb.len()),
        h.checked_mul(w).and_then(|n| n.checked_mul(3)),
        "resize_rgb_area: buffer of {} bytes is not {w}x{h} RGB",
        rgb.len()
    );
    if h == 0 || w == 0 || new_h == 0 || new_w == 0 {
        return Vec::new();
    }
    if (h, w) == (new_h, new_w) {
        return rgb.to_vec();
    }
    let wx = area_weights(w, new_w);
    let wy = area_weights(h, new_h);
    // Horizontal pass: h x new_w x 3 floats.
    let mut tmp = vec![0f32; h * new_w * 3];
    for (src_row, dst_row) in rgb.chunks_exact(w * 3).zip(tmp.chunks_exact_mut(new_w * 3)) {
        for (dst, weights) in dst_row.chunks_exact_mut(3).zip(&wx) {
            for &(i, wt) in weights {
                for c in 0..3 {
                    dst[c] += wt * f32::from(src_row[i * 3 + c]);
                }
            }
        }
    }
    // Vertical pass.
    let mut out = Vec::with_capacity(new_h * new_w * 3);
    let mut acc = vec![0f32; new_w * 3];
    for weights in &wy {
        acc.iter_mut().for_each(|a| *a = 0.0);
        for &(i, wt) in weights {
            let row = &tmp[i * new_w * 3..(i + 1) * new_w * 3];
            for (a, &v) in acc.iter_mut().zip(row) {
                *a += wt * v;
            }
        }
        out.extend(acc.iter().map(|&v| (v + 0.5).clamp(0.0, 255.0) as u8));
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::data::tests::{gray, png_bytes};

    #[test]
    fn resize_rgb_area_constant_stays_constant() {
        let img: Vec<u8> = (0..5 * 7).flat_map(|_| [13u8, 200, 77]).collect();
        for (nh, nw) in [(2, 3), (3, 3), (11, 13), (5, 7), (1, 1), (4, 9)] {
            let out = resize_rgb_area(&img, 5, 7, nh, nw);
            assert_eq!(out.len(), nh * nw * 3);
            assert!(out.chunks(3).all(|p| p == [13, 200, 77]), "{nh}x{nw}");
        }
    }

    #[test]
    fn resize_rgb_area_downscale_is_block_mean() {
        // 4x4 single-value image (replicated to RGB), values 0, 10, ..., 150.
        let vals: Vec<u8> = (0..16).map(|i| (i * 10) as u8).collect();
        let img: Vec<u8> = vals.iter().flat_map(|&v| [v, v, 255 - v]).collect();
        let out = resize_rgb_area(&img, 4, 4, 2, 2);
        let mean = |idx: [usize; 4]| -> u8 {
            let s: u32 = idx.iter().map(|&i| u32::from(vals[i])).sum();
            ((s as f32) / 4.0 + 0.5) as u8
        };
        let expected = [
            mean([0, 1, 4, 5]),
            mean([2, 3, 6, 7]),
            mean([8, 9, 12, 13]),
            mean([10, 11, 14, 15]),
        ];
        for (k, e) in expected.iter().enumerate() {
            assert_eq!(out[k * 3], *e, "block {k}");
            assert_eq!(out[k * 3 + 1], *e);
            assert_eq!(out[k * 3 + 2], 255 - *e);
        }
    }

    #[test]
    fn resize_rgb_area_upscale_replicates() {
        let img = vec![
            10, 20, 30, 40, 50, 60, //
            70, 80, 90, 100, 110, 120,
        ];
        let out = resize_rgb_area(&img, 2, 2, 4, 4);
        let px = |y: usize, x: usize| &out[(y * 4 + x) * 3..(y * 4 + x) * 3 + 3];
        for y in 0..4 {
            for x in 0..4 {
                let src = ((y / 2) * 2 + x / 2) * 3;
                assert_eq!(px(y, x), &img[src..src + 3], "({y}, {x})");
            }
        }
    }

    #[test]
    fn resize_rgb_area_fractional_coverage() {
        // 3 -> 2 columns: output 0 covers source 0 fully and half of 1.
        let img = vec![0, 0, 0, 90, 90, 90, 180, 180, 180];
        let out = resize_rgb_area(&img, 1, 3, 1, 2);
        assert_eq!(out, vec![30, 30, 30, 150, 150, 150]);
    }

    #[test]
    fn read_png_rgb_handles_colour_types() {
        let (rgb, h, w) = read_png_rgb(&gray(2, 1, &[7, 200])).unwrap();
        assert_eq!((h, w), (1, 2));
        assert_eq!(rgb, vec![7, 7, 7, 200, 200, 200]);
        let pal = [1u8, 2, 3, 4, 5, 6];
        let bytes = png_bytes(
            2,
            1,
            png::ColorType::Indexed,
            png::BitDepth::Eight,
            &[1, 0],
            Some(&pal),
        );
        assert_eq!(read_png_rgb(&bytes).unwrap().0, vec![4, 5, 6, 1, 2, 3]);
        let bytes = png_bytes(
            1,
            1,
            png::ColorType::Rgba,
            png::BitDepth::Sixteen,
            &[1, 0, 2, 0, 3, 0, 0, 0],
            None,
        );
        assert_eq!(read_png_rgb(&bytes).unwrap().0, vec![1, 2, 3]);
        assert!(read_png_rgb(b"nope").is_err());
    }
}
