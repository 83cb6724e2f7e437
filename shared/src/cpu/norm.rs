//! Layer norm fused with a leaky ReLU, forward and backward, per sample of a padded grid.
//!
//! ```text
//! x̂ = (x − μ) / sqrt(σ² + ε)      μ, σ² over the C x H x W numbers of the sample (biased variance)
//! a = γ_c · x̂ + β_c               per-channel scale and offset
//! y = a if a > 0 else slope · a    (slope = 0 gives a ReLU)
//! ```
//!
//! This is burn's `GroupNorm` with one group (TF-slim's `layer_norm`, docs/METHOD.md "Details") followed
//! by `leaky_relu`, as in every layer of the generator. Borders of the output are zero.

use super::grid::{Grid, Map, zero_border};
use super::par::{chunk_len, for_each_chunk_mut, map_ranges};

/// burn's `GroupNorm` epsilon.
pub const EPSILON: f64 = 1e-5;

/// Per-sample mean and reciprocal standard deviation of a forward pass.
#[derive(Debug, Clone, PartialEq)]
pub struct Stats {
    pub mean: Vec<f32>,
    pub rstd: Vec<f32>,
}

/// Pixels whose per-channel sums are kept in `f32` before they join the `f64` totals: short
/// enough for `f32` to lose nothing that matters, long enough for the channel loop to vectorise.
const SUM_BLOCK: usize = 256;

/// Adds each block of [`SUM_BLOCK`] pixels' per-channel `f32` sums to `f64` totals.
struct BlockSums {
    block: Vec<f32>,
    total: Vec<f64>,
}

impl BlockSums {
    fn new(c: usize) -> Self {
        Self {
            block: vec![0.0; c],
            total: vec![0.0; c],
        }
    }

    fn flush(&mut self) {
        for (t, b) in self.total.iter_mut().zip(&mut self.block) {
            *t += *b as f64;
            *b = 0.0;
        }
    }
}

/// Mean and `1 / sqrt(var + ε)` of one sample's numbers (`data`: its whole padded plane, zero
/// border, so sums over it are sums over the interior; `count` interior numbers).
fn sample_stats(data: &[f32], c: usize, count: usize) -> (f32, f32) {
    let parts = map_ranges(data.len() / c, 1024, |lo, hi| {
        let (mut s1, mut s2) = (BlockSums::new(c), BlockSums::new(c));
        for block in data[lo * c..hi * c].chunks(SUM_BLOCK * c) {
            for px in block.chunks_exact(c) {
                for ((a, b), &v) in s1.block.iter_mut().zip(&mut s2.block).zip(px) {
                    *a += v;
                    *b += v * v;
                }
            }
            s1.flush();
            s2.flush();
        }
        (s1.total.iter().sum::<f64>(), s2.total.iter().sum::<f64>())
    });
    let (s1, s2) = parts.iter().fold((0.0, 0.0), |a, b| (a.0 + b.0, a.1 + b.1));
    let mean = s1 / count as f64;
    let var = (s2 / count as f64 - mean * mean).max(0.0);
    (mean as f32, (1.0 / (var + EPSILON).sqrt()) as f32)
}

/// Each sample's mean and reciprocal standard deviation. `x` must have a zero border.
fn stats(x: &Map) -> Stats {
    let (g, c) = (x.grid, x.c);
    let plane = g.plane() * c;
    let (mean, rstd) = (0..g.n)
        .map(|s| sample_stats(&x.data[s * plane..(s + 1) * plane], c, g.area() * c))
        .unzip();
    Stats { mean, rstd }
}

/// Sample `s`'s per-channel `scale`, `shift` with `γ · x̂ + β = x · scale + shift`.
fn affine(stats: &Stats, s: usize, gamma: &[f32], beta: &[f32]) -> (Vec<f32>, Vec<f32>) {
    let (mean, rstd) = (stats.mean[s], stats.rstd[s]);
    let scale: Vec<f32> = gamma.iter().map(|g| g * rstd).collect();
    let shift = beta
        .iter()
        .zip(&scale)
        .map(|(b, sc)| b - mean * sc)
        .collect();
    (scale, shift)
}

fn leaky(a: f32, slope: f32) -> f32 {
    if a > 0.0 { a } else { a * slope }
}

fn check_params(c: usize, gamma: &[f32], beta: &[f32]) {
    assert_eq!(
        (gamma.len(), beta.len()),
        (c, c),
        "layer norm scale and offset"
    );
}

/// `out = leaky_relu(γ · x̂ + β, slope)`; returns the statistics the backward pass needs. `x` must
/// have a zero border.
pub fn forward(x: &Map, gamma: &[f32], beta: &[f32], slope: f32, out: &mut Map) -> Stats {
    assert_eq!((out.grid, out.c), (x.grid, x.c), "layer norm output");
    check_params(x.c, gamma, beta);
    let stats = stats(x);
    normalise(
        &stats,
        gamma,
        beta,
        slope,
        x.grid,
        &mut out.data,
        Some(&x.data),
    );
    stats
}

/// [`forward`] writing over its input, for inference, where `x` is not needed again: no second
/// buffer to allocate, fill and stream through the cache.
pub fn forward_in_place(x: &mut Map, gamma: &[f32], beta: &[f32], slope: f32) -> Stats {
    check_params(x.c, gamma, beta);
    let stats = stats(x);
    normalise(&stats, gamma, beta, slope, x.grid, &mut x.data, None);
    stats
}

/// `dst = leaky_relu(γ · (src − μ) / σ + β, slope)` sample by sample, with `src` = `dst` itself
/// when `None`; `gamma.len()` channels a pixel; the border is zero on return.
fn normalise(
    stats: &Stats,
    gamma: &[f32],
    beta: &[f32],
    slope: f32,
    g: Grid,
    dst: &mut [f32],
    src: Option<&[f32]>,
) {
    let c = gamma.len();
    let plane = g.plane() * c;
    let chunk = chunk_len(plane / c, 1024) * c;
    for s in 0..g.n {
        let (scale, shift) = affine(stats, s, gamma, beta);
        let src = src.map(|x| &x[s * plane..(s + 1) * plane]);
        for_each_chunk_mut(
            &mut dst[s * plane..(s + 1) * plane],
            chunk,
            |i, d| match src {
                Some(src) => {
                    let xs = &src[i * chunk..i * chunk + d.len()];
                    for (dpx, spx) in d.chunks_exact_mut(c).zip(xs.chunks_exact(c)) {
                        for (((o, &x), &sc), &sh) in dpx.iter_mut().zip(spx).zip(&scale).zip(&shift)
                        {
                            *o = leaky(x * sc + sh, slope);
                        }
                    }
                }
                None => {
                    for px in d.chunks_exact_mut(c) {
                        for ((v, &sc), &sh) in px.iter_mut().zip(&scale).zip(&shift) {
                            *v = leaky(*v * sc + sh, slope);
                        }
                    }
                }
            },
        );
    }
    zero_border(dst, g, c);
}

/// The backward pass of [`forward`]: from `d_out` (the gradient of `out`, zero border) and the
/// forward's input `x` and statistics, writes `d_x` (zero border) and adds to `d_gamma`, `d_beta`.
#[allow(clippy::too_many_arguments)]
pub fn backward(
    x: &Map,
    stats: &Stats,
    gamma: &[f32],
    beta: &[f32],
    slope: f32,
    d_out: &Map,
    d_x: &mut Map,
    d_gamma: &mut [f32],
    d_beta: &mut [f32],
) {
    let (g, c) = (x.grid, x.c);
    assert_eq!((d_out.grid, d_out.c), (g, c), "layer norm output gradient");
    assert_eq!((d_x.grid, d_x.c), (g, c), "layer norm input gradient");
    let count = (g.area() * c) as f64;
    let plane = g.plane() * c;
    let chunk = chunk_len(plane / c, 1024) * c;
    for s in 0..g.n {
        let (mean, rstd) = (stats.mean[s], stats.rstd[s]);
        let xs = &x.data[s * plane..(s + 1) * plane];
        let ds = &d_out.data[s * plane..(s + 1) * plane];
        // d_a = d_out · leaky'(a), a = γ x̂ + β: zero on the border, where d_out is zero.
        let d_a = |x: f32, d: f32, gamma: f32, beta: f32| -> (f32, f32) {
            let xhat = (x - mean) * rstd;
            let a = xhat * gamma + beta;
            (if a > 0.0 { d } else { d * slope }, xhat)
        };
        // First sweep: d_γ = Σ d_a x̂ and d_β = Σ d_a, per channel.
        let parts = map_ranges(plane / c, 1024, |lo, hi| {
            let (mut dg, mut db) = (BlockSums::new(c), BlockSums::new(c));
            let blocks = xs[lo * c..hi * c].chunks(SUM_BLOCK * c);
            for (xb, db_) in blocks.zip(ds[lo * c..hi * c].chunks(SUM_BLOCK * c)) {
                for (xp, dp) in xb.chunks_exact(c).zip(db_.chunks_exact(c)) {
                    let per_channel = xp.iter().zip(dp).zip(gamma).zip(beta);
                    for ((((&x, &d), &ga), &be), (sg, sb)) in
                        per_channel.zip(dg.block.iter_mut().zip(&mut db.block))
                    {
                        let (da, xhat) = d_a(x, d, ga, be);
                        *sg += da * xhat;
                        *sb += da;
                    }
                }
                dg.flush();
                db.flush();
            }
            (dg.total, db.total)
        });
        let (mut dg, mut db) = (vec![0.0f64; c], vec![0.0f64; c]);
        for (pg, pb) in parts {
            for ch in 0..c {
                dg[ch] += pg[ch];
                db[ch] += pb[ch];
            }
        }
        // With d_x̂ = d_a γ: Σ d_x̂ = Σ_c γ_c d_β,c and Σ d_x̂ x̂ = Σ_c γ_c d_γ,c.
        let (mut sum_dxhat, mut sum_dxhat_xhat) = (0.0, 0.0);
        for ch in 0..c {
            d_gamma[ch] += dg[ch] as f32;
            d_beta[ch] += db[ch] as f32;
            sum_dxhat += gamma[ch] as f64 * db[ch];
            sum_dxhat_xhat += gamma[ch] as f64 * dg[ch];
        }
        let m1 = (sum_dxhat / count) as f32;
        let m2 = (sum_dxhat_xhat / count) as f32;
        // d_x = rstd (d_x̂ − mean(d_x̂) − x̂ mean(d_x̂ x̂)).
        let dst = &mut d_x.data[s * plane..(s + 1) * plane];
        for_each_chunk_mut(dst, chunk, |k, d| {
            let base = k * chunk;
            let (xk, dk) = (&xs[base..base + d.len()], &ds[base..base + d.len()]);
            for ((op, xp), dp) in d
                .chunks_exact_mut(c)
                .zip(xk.chunks_exact(c))
                .zip(dk.chunks_exact(c))
            {
                let per_channel = xp.iter().zip(dp).zip(gamma).zip(beta);
                for ((((&x, &dv), &ga), &be), o) in per_channel.zip(op.iter_mut()) {
                    let (da, xhat) = d_a(x, dv, ga, be);
                    *o = rstd * (da * ga - m1 - xhat * m2);
                }
            }
        });
    }
    zero_border(&mut d_x.data, g, c);
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::cpu::grid::Grid;

    fn loss(x: &Map, gamma: &[f32], beta: &[f32], weights: &Map) -> f64 {
        let mut out = Map::zeros(x.grid, x.c);
        forward(x, gamma, beta, 0.2, &mut out);
        out.data
            .iter()
            .zip(&weights.data)
            .map(|(a, b)| (*a as f64) * (*b as f64))
            .sum()
    }

    /// Normalising in place gives the same numbers and statistics as into a second buffer.
    #[test]
    fn in_place_equals_out_of_place() {
        let (n, c, h, w) = (3, 5, 6, 7);
        let vals: Vec<f32> = (0..n * c * h * w)
            .map(|i| ((i * 7919) % 997) as f32 / 100.0 - 4.0)
            .collect();
        let x = Map::from_nchw(&vals, [n, c, h, w]);
        let (gamma, beta) = (
            vec![0.7, -1.2, 1.5, 1.0, 0.2],
            vec![0.1, 0.3, -0.2, 0.0, 2.0],
        );
        let mut out = Map::zeros(x.grid, c);
        let want = forward(&x, &gamma, &beta, 0.2, &mut out);
        let mut inplace = x.clone();
        let got = forward_in_place(&mut inplace, &gamma, &beta, 0.2);
        assert_eq!(got, want);
        assert_eq!(inplace, out);
        assert_ne!(inplace, x);
    }

    /// The analytic gradients against central differences of Σ w · out.
    #[test]
    fn gradients_match_finite_differences() {
        let (n, c, h, w) = (2, 3, 4, 5);
        let vals = |k: usize, seed: usize| -> Vec<f32> {
            (0..k)
                .map(|i| ((i * 7919 + seed * 31) % 997) as f32 / 498.5 - 1.0)
                .collect()
        };
        let x = Map::from_nchw(&vals(n * c * h * w, 1), [n, c, h, w]);
        let wts = Map::from_nchw(&vals(n * c * h * w, 2), [n, c, h, w]);
        let gamma = vec![0.7, -1.2, 1.5];
        let beta = vec![0.1, 0.3, -0.2];
        let mut out = Map::zeros(x.grid, c);
        let stats = forward(&x, &gamma, &beta, 0.2, &mut out);
        let mut d_x = Map::zeros(x.grid, c);
        let (mut dg, mut db) = (vec![0.0; c], vec![0.0; c]);
        backward(
            &x, &stats, &gamma, &beta, 0.2, &wts, &mut d_x, &mut dg, &mut db,
        );
        let eps = 1e-3;
        let g = Grid::new(n, h, w);
        for s in 0..n {
            for (y, xx) in [(0, 0), (1, 3), (3, 4)] {
                for ch in 0..c {
                    let i = g.at(s, y, xx) * c + ch;
                    let mut plus = x.clone();
                    plus.data[i] += eps;
                    let mut minus = x.clone();
                    minus.data[i] -= eps;
                    let fd = (loss(&plus, &gamma, &beta, &wts) - loss(&minus, &gamma, &beta, &wts))
                        / (2.0 * eps as f64);
                    assert!(
                        (fd - d_x.data[i] as f64).abs() < 2e-2,
                        "{fd} vs {}",
                        d_x.data[i]
                    );
                }
            }
        }
        for ch in 0..c {
            let mut gp = gamma.clone();
            gp[ch] += eps;
            let mut gm = gamma.clone();
            gm[ch] -= eps;
            let fd = (loss(&x, &gp, &beta, &wts) - loss(&x, &gm, &beta, &wts)) / (2.0 * eps as f64);
            assert!((fd - dg[ch] as f64).abs() < 2e-2, "dγ {fd} vs {}", dg[ch]);
            let mut bp = beta.clone();
            bp[ch] += eps;
            let mut bm = beta.clone();
            bm[ch] -= eps;
            let fd =
                (loss(&x, &gamma, &bp, &wts) - loss(&x, &gamma, &bm, &wts)) / (2.0 * eps as f64);
            assert!((fd - db[ch] as f64).abs() < 2e-2, "dβ {fd} vs {}", db[ch]);
        }
        // The border of the output and of the input gradient stays zero.
        assert_eq!(out.data[0], 0.0);
        assert_eq!(d_x.data[0], 0.0);
    }
}
