//! 3x3 convolutions by Winograd's minimal filtering F(2x2, 3x3) (Lavin & Gray, "Fast Algorithms
//! for Convolutional Neural Networks", CVPR 2016): 16 multiplications per 2x2 output tile and
//! channel pair instead of 36, so 2.25x fewer than [`super::conv`]'s direct products.
//!
//! With `d` a 4x4 input tile, `g` a 3x3 kernel and
//!
//! ```text
//! Bᵀ = | 1  0 -1  0 |     G = | 1    0    0  |     Aᵀ = | 1  1  1  0 |
//!      | 0  1  1  0 |         | ½    ½    ½  |          | 0  1 -1 -1 |
//!      | 0 -1  1  0 |         | ½   -½    ½  |
//!      | 0  1  0 -1 |         | 0    0    1  |
//! ```
//!
//! the 2x2 output tile is `Y = Aᵀ [ Σ_cin (G g Gᵀ) ⊙ (Bᵀ d B) ] A`. The sum over input channels
//! of the 16 element-wise products is 16 matrix products `M_ξ = V_ξ · U_ξ` over a block of tiles
//! (`V_ξ`: tiles x c_in, `U_ξ`: c_in x c_out), one per position ξ of the 4x4 transformed tile.
//!
//! On the padded grid ([`super::grid`]) the 4x4 input tile of the output tile at interior
//! `(2i, 2j)` is the padded pixels `(2i..2i+4, 2j..2j+4)`: the zero border is the padding, so
//! nothing is copied. It needs an even height and width; [`suits`] says when it applies.

use super::gemm::{View, matmul_serial};
use super::grid::{Grid, Map, zero_border};
use super::par::{chunk_len, for_each_chunk_mut};

/// Positions of a transformed tile.
const XI: usize = 16;

/// Numbers of one transformed block (`tiles x 16 x channels`) kept in cache at once.
const BLOCK_NUMBERS: usize = 1 << 18;

/// Input channels from which the transforms cost less than the products they save (measured
/// on VGG shapes: 0.7x the direct products' speed at 32 channels, 1.5x to 2.2x at 64 and more).
pub const MIN_CHANNELS: usize = 64;

/// Whether [`forward`] computes this 3x3 convolution: even sides (whole 2x2 tiles) and at least
/// [`MIN_CHANNELS`] input channels.
pub fn suits(grid: Grid, cin: usize) -> bool {
    grid.h.is_multiple_of(2)
        && grid.w.is_multiple_of(2)
        && grid.h > 0
        && grid.w > 0
        && cin >= MIN_CHANNELS
}

/// `U_ξ = (G g Gᵀ)_ξ` for every input and output channel: `[16][c_in][c_out]`, from the packed
/// `[9][c_in][c_out]` weights of [`super::conv::pack`].
pub fn transform_weights(w: &[f32], cin: usize, cout: usize) -> Vec<f32> {
    assert_eq!(w.len(), 9 * cin * cout, "winograd weights");
    let mut u = vec![0.0; XI * cin * cout];
    let tap = |t: usize, i: usize| &w[(t * cin + i) * cout..][..cout];
    let mut gg = vec![0.0f32; 12 * cout];
    for i in 0..cin {
        // G g: 4 rows x 3 columns, each a run of c_out numbers.
        for kx in 0..3 {
            let (g0, g1, g2) = (tap(kx, i), tap(3 + kx, i), tap(6 + kx, i));
            let (r0, rest) = gg.split_at_mut(3 * cout);
            let (r1, rest) = rest.split_at_mut(3 * cout);
            let (r2, r3) = rest.split_at_mut(3 * cout);
            let o = kx * cout..(kx + 1) * cout;
            for ((((((a, b), c), d), &x0), &x1), &x2) in r0[o.clone()]
                .iter_mut()
                .zip(&mut r1[o.clone()])
                .zip(&mut r2[o.clone()])
                .zip(&mut r3[o])
                .zip(g0)
                .zip(g1)
                .zip(g2)
            {
                *a = x0;
                *b = 0.5 * (x0 + x1 + x2);
                *c = 0.5 * (x0 - x1 + x2);
                *d = x2;
            }
        }
        // (G g) Gᵀ: the same combination along the columns.
        for r in 0..4 {
            let row = &gg[r * 3 * cout..(r + 1) * 3 * cout];
            let (t0, t1, t2) = (&row[..cout], &row[cout..2 * cout], &row[2 * cout..]);
            for (b, f) in [
                (0, [1.0, 0.0, 0.0]),
                (1, [0.5, 0.5, 0.5]),
                (2, [0.5, -0.5, 0.5]),
                (3, [0.0, 0.0, 1.0]),
            ] {
                let dst = &mut u[((r * 4 + b) * cin + i) * cout..][..cout];
                for (((d, &x0), &x1), &x2) in dst.iter_mut().zip(t0).zip(t1).zip(t2) {
                    *d = f[0] * x0 + f[1] * x1 + f[2] * x2;
                }
            }
        }
    }
    u
}

/// [`transform_weights`] of the kernel that computes the input gradient of a convolution: the
/// packed `[9][c_in][c_out]` weights flipped in space and transposed to `[9][c_out][c_in]`, so
/// that `d_in = conv3x3(d_out)` with them ([`super::conv::backward_input`]).
pub fn transform_weights_transposed(w: &[f32], cin: usize, cout: usize) -> Vec<f32> {
    assert_eq!(w.len(), 9 * cin * cout, "winograd weights");
    let mut flipped = vec![0.0; w.len()];
    for t in 0..9 {
        for i in 0..cin {
            for o in 0..cout {
                flipped[((8 - t) * cout + o) * cin + i] = w[(t * cin + i) * cout + o];
            }
        }
    }
    transform_weights(&flipped, cout, cin)
}

/// `V = Bᵀ d B` of the tile whose top-left padded pixel is `base`, for every channel, into
/// `dst` (`16 x c` numbers, position-major).
fn transform_input(input: &Map, base: usize, dst: &mut [f32]) {
    let (c, pw) = (input.c, input.grid.pw());
    let px = |r: usize, q: usize| &input.data[(base + r * pw + q) * c..][..c];
    // Bᵀ d: the row combinations, per column q.
    let mut t = [[0.0f32; 4]; 4];
    let rows: [[&[f32]; 4]; 4] = std::array::from_fn(|r| std::array::from_fn(|q| px(r, q)));
    let (v, _) = dst.split_at_mut(XI * c);
    for ch in 0..c {
        for q in 0..4 {
            let d = [
                rows[0][q][ch],
                rows[1][q][ch],
                rows[2][q][ch],
                rows[3][q][ch],
            ];
            t[0][q] = d[0] - d[2];
            t[1][q] = d[1] + d[2];
            t[2][q] = d[2] - d[1];
            t[3][q] = d[1] - d[3];
        }
        for (a, row) in t.iter().enumerate() {
            v[(a * 4) * c + ch] = row[0] - row[2];
            v[(a * 4 + 1) * c + ch] = row[1] + row[2];
            v[(a * 4 + 2) * c + ch] = row[2] - row[1];
            v[(a * 4 + 3) * c + ch] = row[1] - row[3];
        }
    }
}

/// `Y = Aᵀ M A` of one tile (`m`: `16 x c` numbers, position-major), plus the bias and the
/// optional ReLU, into the four output pixels `out[o00..]`, `out[o00 + 1..]`, `out[o10..]`,
/// `out[o10 + 1..]` (pixel indices into `out`, `c` numbers each).
fn transform_output(
    m: &[f32],
    c: usize,
    bias: Option<&[f32]>,
    relu: bool,
    out: &mut [f32],
    o00: usize,
    o10: usize,
) {
    let at = |xi: usize| &m[xi * c..][..c];
    let mm: [&[f32]; XI] = std::array::from_fn(at);
    for ch in 0..c {
        // Aᵀ M: two rows, per column q.
        let mut u = [[0.0f32; 4]; 2];
        for q in 0..4 {
            let (a, b, cc, d) = (mm[q][ch], mm[4 + q][ch], mm[8 + q][ch], mm[12 + q][ch]);
            u[0][q] = a + b + cc;
            u[1][q] = b - cc - d;
        }
        let shift = bias.map_or(0.0, |b| b[ch]);
        let mut y = [
            u[0][0] + u[0][1] + u[0][2] + shift,
            u[0][1] - u[0][2] - u[0][3] + shift,
            u[1][0] + u[1][1] + u[1][2] + shift,
            u[1][1] - u[1][2] - u[1][3] + shift,
        ];
        if relu {
            for v in y.iter_mut() {
                *v = v.max(0.0);
            }
        }
        out[o00 * c + ch] = y[0];
        out[(o00 + 1) * c + ch] = y[1];
        out[o10 * c + ch] = y[2];
        out[(o10 + 1) * c + ch] = y[3];
    }
}

/// `out = conv3x3(input, w) + bias` (then `max(·, 0)` with `relu`), by F(2x2, 3x3); `u` is
/// [`transform_weights`] of the packed weights. Same contract as [`super::conv::forward`]:
/// `input` has a zero border, and so has `out` on return. Needs [`suits`].
pub fn forward(input: &Map, u: &[f32], bias: Option<&[f32]>, relu: bool, out: &mut Map) {
    let (g, cin, cout) = (input.grid, input.c, out.c);
    assert!(suits(g, cin), "winograd: {g:?} with {cin} input channels");
    assert_eq!(out.grid, g, "winograd output grid");
    assert_eq!(u.len(), XI * cin * cout, "winograd weights");
    let (pw, ph) = (g.pw(), g.h + 2);
    let row = pw * cout;
    // Work is split by pairs of padded rows, starting at padded row 1: pair k holds flat rows
    // 2k + 1 and 2k + 2, which in every sample (h + 2 rows, an even number) are either the two
    // output rows of tile row (py - 1) / 2, or a bottom and a top border row.
    let pairs = (g.n * ph - 1).div_ceil(2);
    let per_chunk = chunk_len(pairs, 1);
    let block = (BLOCK_NUMBERS / (XI * cin.max(cout))).clamp(32, 512);
    let data = &mut out.data[row..];
    for_each_chunk_mut(data, per_chunk * 2 * row, |k, chunk| {
        // The tiles of this chunk: (input base pixel, output pixel of the tile's top left,
        // relative to the chunk).
        let first_pair = k * per_chunk;
        let mut tiles = Vec::new();
        for p in 0..chunk.len().div_ceil(2 * row) {
            let r = 2 * (first_pair + p) + 1;
            let (s, py) = (r / ph, r % ph);
            if py > g.h {
                continue;
            }
            for j in 0..g.w / 2 {
                let base = s * g.plane() + (py - 1) * pw + 2 * j;
                tiles.push((base, 2 * p * pw + 2 * j + 1));
            }
        }
        let mut v = vec![0.0f32; block * XI * cin];
        let mut m = vec![0.0f32; block * XI * cout];
        for group in tiles.chunks(block) {
            let nt = group.len();
            for (&(base, _), dst) in group.iter().zip(v.chunks_exact_mut(XI * cin)) {
                transform_input(input, base, dst);
            }
            for xi in 0..XI {
                matmul_serial(
                    nt,
                    cout,
                    cin,
                    &mut m,
                    xi * cout,
                    XI * cout,
                    false,
                    View::rows(&v, xi * cin, XI * cin),
                    View::rows(u, xi * cin * cout, cout),
                );
            }
            for (&(_, o), mt) in group.iter().zip(m.chunks_exact(XI * cout)) {
                transform_output(mt, cout, bias, relu, chunk, o, o + pw);
            }
        }
    });
    zero_border(&mut out.data, g, cout);
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::cpu::conv;

    fn vals(len: usize, seed: usize) -> Vec<f32> {
        (0..len)
            .map(|i| (((i * 7919 + seed * 104729) % 2003) as f32 / 1001.0) - 1.0)
            .collect()
    }

    /// The convolution by its definition: burn's `[c_out, c_in, 3, 3]` weights, zero padding.
    fn naive(x: &[f32], [n, cin, h, w]: [usize; 4], wt: &[f32], cout: usize) -> Vec<f32> {
        let mut y = vec![0.0; n * cout * h * w];
        for s in 0..n {
            for o in 0..cout {
                for r in 0..h {
                    for q in 0..w {
                        let mut acc = 0.0f64;
                        for i in 0..cin {
                            for ky in 0..3 {
                                for kx in 0..3 {
                                    let (yy, xx) = (r + ky, q + kx);
                                    if yy < 1 || xx < 1 || yy > h || xx > w {
                                        continue;
                                    }
                                    let v = x[((s * cin + i) * h + yy - 1) * w + xx - 1];
                                    acc += (v * wt[((o * cin + i) * 3 + ky) * 3 + kx]) as f64;
                                }
                            }
                        }
                        y[((s * cout + o) * h + r) * w + q] = acc as f32;
                    }
                }
            }
        }
        y
    }

    /// Winograd's output equals the convolution's definition, with and without bias and ReLU,
    /// on batches, maps of one tile and wide maps, and whatever the split over threads.
    #[test]
    fn equals_the_convolution() {
        for &(n, h, w, cin, cout) in &[
            (1, 2, 2, 64, 3),
            (2, 4, 6, 65, 5),
            (3, 8, 4, 64, 16),
            (1, 16, 32, 70, 40),
        ] {
            let g = Grid::new(n, h, w);
            let x = vals(n * cin * h * w, 1);
            let input = Map::from_nchw(&x, [n, cin, h, w]);
            let wt = vals(cout * cin * 9, 2);
            let u = transform_weights(&conv::pack(&wt, cout, cin, 3), cin, cout);
            let bias = vals(cout, 3);
            let plain = naive(&x, [n, cin, h, w], &wt, cout);
            for (b, relu) in [
                (None, false),
                (Some(&bias[..]), false),
                (Some(&bias[..]), true),
            ] {
                let mut got = Map::zeros(g, cout);
                got.data.fill(7.0);
                forward(&input, &u, b, relu, &mut got);
                let border = got.data.clone();
                let got = got.to_nchw();
                for (i, (&x, &p)) in got.iter().zip(&plain).enumerate() {
                    let o = (i / (h * w)) % cout;
                    let mut y = p + b.map_or(0.0, |b| b[o]);
                    if relu {
                        y = y.max(0.0);
                    }
                    assert!(
                        (x - y).abs() <= 1e-4 * (1.0 + y.abs()),
                        "{:?} value {i}: {x} vs {y}",
                        (n, h, w, cin, cout, b.is_some(), relu)
                    );
                }
                let mut zeroed = Map {
                    grid: g,
                    c: cout,
                    data: border.clone(),
                };
                zeroed.zero_border();
                assert_eq!(zeroed.data, border, "the border is zero on return");
            }
        }
    }

    /// The transposed weights give the adjoint of the convolution: `<conv(x), y> = <x, convᵀ(y)>`.
    #[test]
    fn transposed_weights_give_the_adjoint() {
        let (n, h, w, cin, cout) = (2, 6, 8, 64, 72);
        let g = Grid::new(n, h, w);
        let x = Map::from_nchw(&vals(n * cin * h * w, 4), [n, cin, h, w]);
        let y = Map::from_nchw(&vals(n * cout * h * w, 5), [n, cout, h, w]);
        let w9 = conv::pack(&vals(cout * cin * 9, 6), cout, cin, 3);
        let mut fx = Map::zeros(g, cout);
        forward(&x, &transform_weights(&w9, cin, cout), None, false, &mut fx);
        let mut ty = Map::zeros(g, cin);
        forward(
            &y,
            &transform_weights_transposed(&w9, cin, cout),
            None,
            false,
            &mut ty,
        );
        let dot = |a: &Map, b: &Map| -> f64 {
            a.data
                .iter()
                .zip(&b.data)
                .map(|(u, v)| (*u as f64) * (*v as f64))
                .sum()
        };
        let (lhs, rhs) = (dot(&fx, &y), dot(&x, &ty));
        assert!(
            (lhs - rhs).abs() < 1e-4 * lhs.abs().max(1.0),
            "{lhs} vs {rhs}"
        );
    }

    #[test]
    fn odd_sides_and_few_channels_are_left_to_the_direct_products() {
        assert!(suits(Grid::new(1, 4, 8), 64));
        assert!(!suits(Grid::new(1, 5, 8), 64));
        assert!(!suits(Grid::new(1, 4, 7), 64));
        assert!(!suits(Grid::new(1, 4, 8), 32));
    }
}
