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

/// Writes the bilinear resize of every channel of `src` into channels `offset..offset + src.c`
/// of `dst` (interior pixels only).
pub fn bilinear_forward(src: &Map, dst: &mut Map, offset: usize) {
    let (sg, dg, c, dc) = (src.grid, dst.grid, src.c, dst.c);
    check(sg, dg, c, dc, offset);
    let ty = bilinear_taps(sg.h, dg.h);
    let tx = bilinear_taps(sg.w, dg.w);
    let mut acc = vec![0.0f32; c];
    for s in 0..sg.n {
        for y in 0..dg.h {
            let ([y0, y1], [wy0, wy1]) = (ty.index[y], ty.weight[y]);
            for x in 0..dg.w {
                let ([x0, x1], [wx0, wx1]) = (tx.index[x], tx.weight[x]);
                acc.fill(0.0);
                for (yy, wy) in [(y0, wy0), (y1, wy1)] {
                    for (xx, wx) in [(x0, wx0), (x1, wx1)] {
                        let wgt = wy * wx;
                        let p = sg.at(s, yy, xx) * c;
                        for (a, v) in acc.iter_mut().zip(&src.data[p..p + c]) {
                            *a += wgt * v;
                        }
                    }
                }
                let q = dg.at(s, y, x) * dc + offset;
                dst.data[q..q + c].copy_from_slice(&acc);
            }
        }
    }
}

/// Adds the transpose of [`bilinear_forward`] applied to channels `offset..offset + d_src.c` of
/// `d_dst` to `d_src`.
pub fn bilinear_backward(d_dst: &Map, offset: usize, d_src: &mut Map) {
    let (sg, dg, c, dc) = (d_src.grid, d_dst.grid, d_src.c, d_dst.c);
    check(sg, dg, c, dc, offset);
    let ty = bilinear_taps(sg.h, dg.h);
    let tx = bilinear_taps(sg.w, dg.w);
    for s in 0..sg.n {
        for y in 0..dg.h {
            let ([y0, y1], [wy0, wy1]) = (ty.index[y], ty.weight[y]);
            for x in 0..dg.w {
                let ([x0, x1], [wx0, wx1]) = (tx.index[x], tx.weight[x]);
                let q = dg.at(s, y, x) * dc + offset;
                for (yy, wy) in [(y0, wy0), (y1, wy1)] {
                    for (xx, wx) in [(x0, wx0), (x1, wx1)] {
                        let wgt = wy * wx;
                        let p = sg.at(s, yy, xx) * c;
                        let (dst, src) = (&mut d_src.data[p..p + c], &d_dst.data[q..q + c]);
                        for (d, v) in dst.iter_mut().zip(src) {
                            *d += wgt * v;
                        }
                    }
                }
            }
        }
    }
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
    let mut acc = vec![0.0f32; c];
    for s in 0..sg.n {
        for y in 0..dg.h {
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
                let q = dg.at(s, y, x) * dc + offset;
                for (d, a) in dst.data[q..q + c].iter_mut().zip(&acc) {
                    *d = a * scale;
                }
            }
        }
    }
}

/// Adds the transpose of [`area_forward`] applied to channels `offset..offset + d_src.c` of
/// `d_dst` to `d_src`.
pub fn area_backward(d_dst: &Map, offset: usize, factor: usize, d_src: &mut Map) {
    let (sg, dg, c, dc) = (d_src.grid, d_dst.grid, d_src.c, d_dst.c);
    check(sg, dg, c, dc, offset);
    let scale = 1.0 / (factor * factor) as f32;
    for s in 0..sg.n {
        for y in 0..dg.h {
            for x in 0..dg.w {
                let q = dg.at(s, y, x) * dc + offset;
                for yy in y * factor..(y + 1) * factor {
                    let p = sg.at(s, yy, x * factor) * c;
                    for px in d_src.data[p..p + factor * c].chunks_exact_mut(c) {
                        for (d, v) in px.iter_mut().zip(&d_dst.data[q..q + c]) {
                            *d += v * scale;
                        }
                    }
                }
            }
        }
    }
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
