//! Resizes between padded grids, forward and backward.
//!
//! - [`bilinear_forward`]: bilinear resampling with half-pixel centres, exactly the weights of
//!   [`crate::generator::bilinear_matrix`] (PyTorch's `align_corners=False`): each output pixel is
//!   a weighted sum of at most 2 x 2 input pixels. Used for the x2 upsampling between refinement
//!   modules and for resizing the encoded noise.
//! - [`area_forward`]: average pooling by an integer factor (burn's `avg_pool2d`), for the VGG's
//!   2x2 pools and the rarity-mask pyramid.
//!
//! Every function reads all channels of its source and writes them into channels
//! `offset..offset + c` of a destination that may be wider, so a refinement module's input
//! `[up2(previous), layout, noise]` is assembled in place, with no concatenation copy.

use super::grid::{Grid, Map};
use super::par::for_each_row_mut;

/// The two source indices and weights of each output sample of a 1-D bilinear resize.
#[derive(Debug, Clone, PartialEq)]
pub struct Taps {
    pub index: Vec<[usize; 2]>,
    pub weight: Vec<[f32; 2]>,
}

/// 1-D bilinear taps from `n_in` to `n_out` samples: row `i` of
/// [`crate::generator::bilinear_matrix`], as its (at most) two non-zero entries.
pub fn bilinear_taps(n_in: usize, n_out: usize) -> Taps {
    let scale = n_in as f64 / n_out as f64;
    let mut taps = Taps {
        index: Vec::with_capacity(n_out),
        weight: Vec::with_capacity(n_out),
    };
    for i in 0..n_out {
        let src = ((i as f64 + 0.5) * scale - 0.5).max(0.0);
        let i0 = (src.floor() as usize).min(n_in.saturating_sub(1));
        let i1 = (i0 + 1).min(n_in.saturating_sub(1));
        let frac = (src - i0 as f64) as f32;
        taps.index.push([i0, i1]);
        taps.weight.push([1.0 - frac, frac]);
    }
    taps
}

fn check(src: Grid, dst: Grid, c: usize, dst_c: usize, offset: usize) {
    assert_eq!(src.n, dst.n, "resize: sample counts differ");
    assert!(
        offset + c <= dst_c,
        "resize: channels {offset}..{} of {dst_c}",
        offset + c
    );
}

/// The rows of `dst` (of `n_dst`) that read row (or column) `i` of `src` (of `n_src`) in a
/// bilinear resize, with their weights: the transpose of [`bilinear_taps`].
fn bilinear_sources(n_src: usize, n_dst: usize) -> Vec<Vec<(usize, f32)>> {
    let taps = bilinear_taps(n_src, n_dst);
    let mut readers = vec![Vec::new(); n_src];
    for (o, (idx, wgt)) in taps.index.iter().zip(&taps.weight).enumerate() {
        readers[idx[0]].push((o, wgt[0]));
        readers[idx[1]].push((o, wgt[1]));
    }
    readers
}

/// Writes the bilinear resize of every channel of `src` into channels `offset..offset + src.c`
/// of `dst` (interior pixels only).
pub fn bilinear_forward(src: &Map, dst: &mut Map, offset: usize) {
    let (sg, dg, c, dc) = (src.grid, dst.grid, src.c, dst.c);
    check(sg, dg, c, dc, offset);
    let ty = bilinear_taps(sg.h, dg.h);
    let tx = bilinear_taps(sg.w, dg.w);
    for_each_row_mut(&mut dst.data, dg, dc, |s, y, out| {
        let ([y0, y1], [wy0, wy1]) = (ty.index[y], ty.weight[y]);
        let (r0, r1) = (sg.at(s, y0, 0) * c, sg.at(s, y1, 0) * c);
        for x in 0..dg.w {
            let ([x0, x1], [wx0, wx1]) = (tx.index[x], tx.weight[x]);
            let px = |r: usize, xx: usize| &src.data[r + xx * c..r + xx * c + c];
            let (a, b, e, f) = (px(r0, x0), px(r0, x1), px(r1, x0), px(r1, x1));
            let (w00, w01, w10, w11) = (wy0 * wx0, wy0 * wx1, wy1 * wx0, wy1 * wx1);
            let q = (x + 1) * dc + offset;
            for ((((o, a), b), e), f) in out[q..q + c].iter_mut().zip(a).zip(b).zip(e).zip(f) {
                *o = w00 * a + w01 * b + w10 * e + w11 * f;
            }
        }
    });
}

/// Adds the transpose of [`bilinear_forward`] applied to channels `offset..offset + d_src.c` of
/// `d_dst` to `d_src`.
pub fn bilinear_backward(d_dst: &Map, offset: usize, d_src: &mut Map) {
    let (sg, dg, c, dc) = (d_src.grid, d_dst.grid, d_src.c, d_dst.c);
    check(sg, dg, c, dc, offset);
    let readers = bilinear_sources(sg.h, dg.h);
    let tx = bilinear_taps(sg.w, dg.w);
    // Each source row gathers from the destination rows that read it.
    for_each_row_mut(&mut d_src.data, sg, c, |s, sy, row| {
        for &(y, wy) in &readers[sy] {
            for x in 0..dg.w {
                let ([x0, x1], [wx0, wx1]) = (tx.index[x], tx.weight[x]);
                let q = dg.at(s, y, x) * dc + offset;
                let v = &d_dst.data[q..q + c];
                for (xx, wx) in [(x0, wx0), (x1, wx1)] {
                    let wgt = wy * wx;
                    let p = (xx + 1) * c;
                    for (d, v) in row[p..p + c].iter_mut().zip(v) {
                        *d += wgt * v;
                    }
                }
            }
        }
    });
}

/// Writes the `factor x factor` average pooling of every channel of `src` into channels
/// `offset..offset + src.c` of `dst` (`dst` is `factor` times smaller).
pub fn area_forward(src: &Map, factor: usize, dst: &mut Map, offset: usize) {
    let (sg, dg, c, dc) = (src.grid, dst.grid, src.c, dst.c);
    check(sg, dg, c, dc, offset);
    assert_eq!(
        (sg.h / factor, sg.w / factor),
        (dg.h, dg.w),
        "area pooling sizes"
    );
    let scale = 1.0 / (factor * factor) as f32;
    for_each_row_mut(&mut dst.data, dg, dc, |s, y, out| {
        let mut acc = vec![0.0f32; c];
        for x in 0..dg.w {
            acc.fill(0.0);
            for yy in y * factor..(y + 1) * factor {
                let p = sg.at(s, yy, x * factor) * c;
                for px in src.data[p..p + factor * c].chunks_exact(c) {
                    for (a, v) in acc.iter_mut().zip(px) {
                        *a += v;
                    }
                }
            }
            let q = (x + 1) * dc + offset;
            for (d, a) in out[q..q + c].iter_mut().zip(&acc) {
                *d = a * scale;
            }
        }
    });
}

/// Adds the transpose of [`area_forward`] applied to channels `offset..offset + d_src.c` of
/// `d_dst` to `d_src`.
pub fn area_backward(d_dst: &Map, offset: usize, factor: usize, d_src: &mut Map) {
    let (sg, dg, c, dc) = (d_src.grid, d_dst.grid, d_src.c, d_dst.c);
    check(sg, dg, c, dc, offset);
    let scale = 1.0 / (factor * factor) as f32;
    for_each_row_mut(&mut d_src.data, sg, c, |s, yy, row| {
        let y = yy / factor;
        if y >= dg.h {
            return;
        }
        for x in 0..dg.w {
            let q = dg.at(s, y, x) * dc + offset;
            let p = (x * factor + 1) * c;
            for px in row[p..p + factor * c].chunks_exact_mut(c) {
                for (d, v) in px.iter_mut().zip(&d_dst.data[q..q + c]) {
                    *d += v * scale;
                }
            }
        }
    });
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::generator::bilinear_matrix;

    #[test]
    fn taps_are_the_bilinear_matrix() {
        for (n_in, n_out) in [(4, 8), (8, 4), (64, 4), (5, 7), (1, 3), (16, 16)] {
            let m = bilinear_matrix(n_in, n_out);
            let taps = bilinear_taps(n_in, n_out);
            for i in 0..n_out {
                let mut row = vec![0.0f32; n_in];
                for k in 0..2 {
                    row[taps.index[i][k]] += taps.weight[i][k];
                }
                assert_eq!(
                    row,
                    m[i * n_in..(i + 1) * n_in].to_vec(),
                    "{n_in}->{n_out} row {i}"
                );
            }
        }
    }

    /// ⟨resize(x), y⟩ = ⟨x, resizeᵀ(y)⟩ for both resizes: the backward is the transpose.
    #[test]
    fn backward_passes_are_transposes() {
        let vals = |k: usize, seed: usize| -> Vec<f32> {
            (0..k)
                .map(|i| ((i * 31 + seed * 7) % 17) as f32 - 8.0)
                .collect()
        };
        let (n, c) = (2, 3);
        for ((h, w), (oh, ow)) in [((4, 6), (8, 12)), ((16, 8), (4, 2)), ((5, 5), (3, 7))] {
            let x = Map::from_nchw(&vals(n * c * h * w, 1), [n, c, h, w]);
            let y = Map::from_nchw(&vals(n * (c + 2) * oh * ow, 2), [n, c + 2, oh, ow]);
            let mut fx = Map::zeros(Grid::new(n, oh, ow), c + 2);
            bilinear_forward(&x, &mut fx, 1);
            let mut ty = Map::zeros(x.grid, c);
            bilinear_backward(&y, 1, &mut ty);
            let dot = |a: &Map, b: &Map| -> f64 {
                a.data
                    .iter()
                    .zip(&b.data)
                    .map(|(u, v)| (*u as f64) * (*v as f64))
                    .sum()
            };
            let lhs: f64 = {
                // Only channels 1..1+c of fx are written; y's other channels must not count.
                let mut masked = y.clone();
                for px in masked.data.chunks_exact_mut(c + 2) {
                    px[0] = 0.0;
                    px[c + 1] = 0.0;
                }
                dot(&fx, &masked)
            };
            assert!((lhs - dot(&x, &ty)).abs() < 1e-3 * lhs.abs().max(1.0));
        }
        let x = Map::from_nchw(&vals(n * c * 8 * 12, 3), [n, c, 8, 12]);
        let y = Map::from_nchw(&vals(n * c * 2 * 3, 4), [n, c, 2, 3]);
        let mut fx = Map::zeros(Grid::new(n, 2, 3), c);
        area_forward(&x, 4, &mut fx, 0);
        let mut ty = Map::zeros(x.grid, c);
        area_backward(&y, 0, 4, &mut ty);
        let dot = |a: &Map, b: &Map| -> f64 {
            a.data
                .iter()
                .zip(&b.data)
                .map(|(u, v)| (*u as f64) * (*v as f64))
                .sum()
        };
        assert!((dot(&fx, &y) - dot(&x, &ty)).abs() < 1e-3);
        // A pooled constant is that constant.
        let ones = Map::from_nchw(&vec![2.0; 8 * 12], [1, 1, 8, 12]);
        let mut p = Map::zeros(Grid::new(1, 4, 6), 1);
        area_forward(&ones, 2, &mut p, 0);
        assert_eq!(p.to_nchw(), vec![2.0; 24]);
    }
}
