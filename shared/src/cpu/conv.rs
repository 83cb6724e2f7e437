//! Convolutions with a 3x3 (zero padding 1) or 1x1 kernel, stride 1, on padded grids.
//!
//! Weights are packed as `[taps][c_in][c_out]` (`taps` = 9 or 1; tap `t` is kernel row `t / 3`,
//! column `t % 3`), so tap `t` is a plain `c_in x c_out` matrix: [`pack`] and [`unpack`] convert
//! from and to burn's `[c_out, c_in, k, k]`.
//!
//! Two algorithms give the same numbers (up to rounding):
//! - **taps**: output pixel `p` is `Σ_t input[p + offset_t] · W_t`. On the padded grid,
//!   `offset_t = (dy − 1) · pw + (dx − 1)` is the same for every pixel, so each tap is one matrix
//!   product over the whole run of pixels ([`Grid::span`]), reading the input buffer shifted by
//!   `offset_t`. Nothing is copied.
//! - **im2col**: the nine shifted pixels are first copied side by side (`[pixels, 9 c_in]`), then
//!   one product. Used where the taps waste too much on borders (small maps with many samples)
//!   or where `c_in` is too small for a product to be efficient (the VGG's RGB input).
//!
//! 3x3 forward passes (and input gradients, convolutions too) with many input channels on
//! even-sided maps go to [`winograd`] instead, which needs 2.25x fewer multiplications.
//!
//! Outputs are computed on the span, then their border pixels are set to zero again. Inputs and
//! output gradients must have zero borders.

use super::gemm::{View, matmul_serial};
use super::grid::{Grid, Map, zero_border};
use super::par::{chunk_len, for_each_chunk_mut, map_ranges};
use super::winograd;

/// burn's `[c_out, c_in, k, k]` weights to the kernels' `[k·k][c_in][c_out]`.
pub fn pack(weight: &[f32], cout: usize, cin: usize, kernel: usize) -> Vec<f32> {
    let taps = kernel * kernel;
    assert_eq!(weight.len(), cout * cin * taps, "conv weight size");
    let mut out = vec![0.0; weight.len()];
    for o in 0..cout {
        for i in 0..cin {
            for t in 0..taps {
                out[(t * cin + i) * cout + o] = weight[(o * cin + i) * taps + t];
            }
        }
    }
    out
}

/// The inverse of [`pack`].
pub fn unpack(packed: &[f32], cout: usize, cin: usize, kernel: usize) -> Vec<f32> {
    let taps = kernel * kernel;
    assert_eq!(packed.len(), cout * cin * taps, "conv weight size");
    let mut out = vec![0.0; packed.len()];
    for o in 0..cout {
        for i in 0..cin {
            for t in 0..taps {
                out[(o * cin + i) * taps + t] = packed[(t * cin + i) * cout + o];
            }
        }
    }
    out
}

/// Pixel offset of tap `t` of a `kernel x kernel` kernel on a grid with padded row length `pw`.
fn tap_offset(t: usize, kernel: usize, pw: usize) -> isize {
    if kernel == 1 {
        return 0;
    }
    let (dy, dx) = ((t / 3) as isize - 1, (t % 3) as isize - 1);
    dy * pw as isize + dx
}

/// Largest im2col buffer (numbers) the kernels allocate; above it the taps are used.
const IM2COL_MAX: usize = 1 << 26;

fn use_im2col(grid: Grid, cin: usize, kernel: usize) -> bool {
    if kernel != 3 {
        return false;
    }
    let pixels = grid.n * grid.area();
    let (_, span) = grid.span();
    pixels * 9 * cin <= IM2COL_MAX && (cin < 16 || span * 4 > pixels * 5)
}

/// Flat indices of the interior pixels, sample by sample, row by row.
fn interior(grid: Grid) -> impl Iterator<Item = usize> {
    (0..grid.n).flat_map(move |s| {
        (0..grid.h).flat_map(move |y| {
            let row = grid.at(s, y, 0);
            row..row + grid.w
        })
    })
}

/// The rows `[taps x c_in]` of the given pixels: each pixel's shifted neighbours side by side.
fn im2col(input: &Map, kernel: usize, pixels: &[usize]) -> Vec<f32> {
    im2col_of(input, kernel, pixels.len(), pixels.iter().copied())
}

/// [`im2col`] of `count` pixels given by an iterator.
fn im2col_of(
    input: &Map,
    kernel: usize,
    count: usize,
    pixels: impl Iterator<Item = usize>,
) -> Vec<f32> {
    let (g, cin) = (input.grid, input.c);
    let taps = kernel * kernel;
    let width = taps * cin;
    let mut col = vec![0.0; count * width];
    for (p, q) in pixels.enumerate() {
        let dst = &mut col[p * width..(p + 1) * width];
        for t in 0..taps {
            let src = (q as isize + tap_offset(t, kernel, g.pw())) as usize * cin;
            dst[t * cin..(t + 1) * cin].copy_from_slice(&input.data[src..src + cin]);
        }
    }
    col
}

/// Pixels a thread handles at least in one product.
const MIN_ROWS: usize = 16;

/// Pixels whose im2col rows are built and multiplied at once when im2col runs over the span:
/// the column buffer stays in cache.
const IM2COL_BLOCK: usize = 512;

/// `out = conv(input, w) + bias` (`out`: same grid, `cout` channels, zero border on return).
pub fn forward(input: &Map, w: &[f32], bias: Option<&[f32]>, kernel: usize, out: &mut Map) {
    forward_then(input, w, bias, kernel, false, out);
}

/// `out = max(conv(input, w) + bias, 0)`: [`forward`] with the ReLU applied to each block of
/// rows while it is still in cache.
pub fn forward_relu(input: &Map, w: &[f32], bias: Option<&[f32]>, kernel: usize, out: &mut Map) {
    forward_then(input, w, bias, kernel, true, out);
}

fn forward_then(
    input: &Map,
    w: &[f32],
    bias: Option<&[f32]>,
    kernel: usize,
    relu: bool,
    out: &mut Map,
) {
    let (g, cin, cout) = (input.grid, input.c, out.c);
    let taps = kernel * kernel;
    assert_eq!(out.grid, g, "conv output grid");
    assert_eq!(w.len(), taps * cin * cout, "conv weights");
    if let Some(bias) = bias {
        assert_eq!(bias.len(), cout, "conv bias");
    }
    if kernel == 3 && winograd::suits(g, cin) {
        let u = winograd::transform_weights(w, cin, cout);
        winograd::forward(input, &u, bias, relu, out);
        return;
    }
    let add_bias = |rows: &mut [f32]| {
        if let Some(bias) = bias {
            for px in rows.chunks_exact_mut(cout) {
                for (v, b) in px.iter_mut().zip(bias) {
                    *v += b;
                }
            }
        }
        if relu {
            for v in rows.iter_mut() {
                *v = v.max(0.0);
            }
        }
    };
    // `d = col · w + bias` (then the ReLU) for one block of im2col rows.
    let width = taps * cin;
    let im2col_product = |col: &[f32], d: &mut [f32]| {
        let rows = d.len() / cout;
        let (a, b) = (View::rows(col, 0, width), View::rows(w, 0, cout));
        matmul_serial(rows, cout, width, d, 0, cout, false, a, b);
        add_bias(d);
    };
    let (first, count) = g.span();
    if use_im2col(g, cin, kernel) && count * 4 <= g.n * g.area() * 5 {
        // Few border pixels (wide maps with few input channels, e.g. the VGG's RGB input):
        // im2col over the whole span, block by block, straight into the output.
        let chunk = chunk_len(count, MIN_ROWS).min(IM2COL_BLOCK);
        let dst = &mut out.data[first * cout..(first + count) * cout];
        for_each_chunk_mut(dst, chunk * cout, |i, d| {
            let (lo, rows) = (first + i * chunk, d.len() / cout);
            im2col_product(&im2col_of(input, kernel, rows, lo..lo + rows), d);
        });
    } else if use_im2col(g, cin, kernel) {
        let pixels = interior(g).collect::<Vec<_>>();
        let mut dense = vec![0.0; pixels.len() * cout];
        let chunk = chunk_len(pixels.len(), MIN_ROWS);
        for_each_chunk_mut(&mut dense, chunk * cout, |i, d| {
            let rows = d.len() / cout;
            im2col_product(
                &im2col(input, kernel, &pixels[i * chunk..i * chunk + rows]),
                d,
            );
        });
        for (p, &q) in pixels.iter().enumerate() {
            out.data[q * cout..(q + 1) * cout].copy_from_slice(&dense[p * cout..(p + 1) * cout]);
        }
    } else {
        let chunk = chunk_len(count, MIN_ROWS);
        let dst = &mut out.data[first * cout..(first + count) * cout];
        for_each_chunk_mut(dst, chunk * cout, |i, d| {
            let (lo, rows) = (first + i * chunk, d.len() / cout);
            for t in 0..taps {
                let start = (lo as isize + tap_offset(t, kernel, g.pw())) as usize;
                matmul_serial(
                    rows,
                    cout,
                    cin,
                    d,
                    0,
                    cout,
                    t > 0,
                    View::rows(&input.data, start * cin, cin),
                    View::rows(w, t * cin * cout, cout),
                );
            }
            add_bias(d);
        });
    }
    zero_border(&mut out.data, g, cout);
}

/// The gradient of the input: `d_in = conv_transposed(d_out, w)`, with a zero border.
/// `d_out` must have a zero border.
pub fn backward_input(d_out: &Map, w: &[f32], kernel: usize, d_in: &mut Map) {
    let (g, cin, cout) = (d_out.grid, d_in.c, d_out.c);
    let taps = kernel * kernel;
    assert_eq!(d_in.grid, g, "conv input-gradient grid");
    assert_eq!(w.len(), taps * cin * cout, "conv weights");
    if kernel == 3 && winograd::suits(g, cout) {
        let u = winograd::transform_weights_transposed(w, cin, cout);
        winograd::forward(d_out, &u, None, false, d_in);
        return;
    }
    if use_im2col(g, cin, kernel) {
        let pixels = interior(g).collect::<Vec<_>>();
        let width = taps * cin;
        let mut d_col = vec![0.0; pixels.len() * width];
        let chunk = chunk_len(pixels.len(), MIN_ROWS);
        for_each_chunk_mut(&mut d_col, chunk * width, |i, d| {
            let rows = d.len() / width;
            let mut dense = vec![0.0; rows * cout];
            for (r, &q) in pixels[i * chunk..i * chunk + rows].iter().enumerate() {
                dense[r * cout..(r + 1) * cout]
                    .copy_from_slice(&d_out.data[q * cout..(q + 1) * cout]);
            }
            matmul_serial(
                rows,
                width,
                cout,
                d,
                0,
                width,
                false,
                View::rows(&dense, 0, cout),
                View::transposed(w, 0, cout),
            );
        });
        d_in.data.fill(0.0);
        for (p, &q) in pixels.iter().enumerate() {
            let src = &d_col[p * width..(p + 1) * width];
            for t in 0..taps {
                let dst = (q as isize + tap_offset(t, kernel, g.pw())) as usize * cin;
                for (d, s) in d_in.data[dst..dst + cin].iter_mut().zip(&src[t * cin..]) {
                    *d += s;
                }
            }
        }
    } else {
        let (first, count) = g.span();
        let chunk = chunk_len(count, MIN_ROWS);
        let dst = &mut d_in.data[first * cin..(first + count) * cin];
        for_each_chunk_mut(dst, chunk * cin, |i, d| {
            let (lo, rows) = (first + i * chunk, d.len() / cin);
            for t in 0..taps {
                let start = (lo as isize - tap_offset(t, kernel, g.pw())) as usize;
                matmul_serial(
                    rows,
                    cin,
                    cout,
                    d,
                    0,
                    cin,
                    t > 0,
                    View::rows(&d_out.data, start * cout, cout),
                    View::transposed(w, t * cin * cout, cout),
                );
            }
        });
    }
    zero_border(&mut d_in.data, g, cin);
}

/// Adds the weight gradient `Σ_p input[p + offset_t] ⊗ d_out[p]` to `d_w` (packed layout) and,
/// when given, the bias gradient `Σ_p d_out[p]` to `d_bias`. `input` and `d_out` must have zero
/// borders.
pub fn backward_weights(
    input: &Map,
    d_out: &Map,
    kernel: usize,
    d_w: &mut [f32],
    d_bias: Option<&mut [f32]>,
) {
    let (g, cin, cout) = (input.grid, input.c, d_out.c);
    let taps = kernel * kernel;
    assert_eq!(d_out.grid, g, "conv output-gradient grid");
    assert_eq!(d_w.len(), taps * cin * cout, "conv weight gradient");
    if let Some(d_bias) = d_bias {
        assert_eq!(d_bias.len(), cout, "conv bias gradient");
        let (first, count) = g.span();
        for px in d_out.data[first * cout..(first + count) * cout].chunks_exact(cout) {
            for (d, v) in d_bias.iter_mut().zip(px) {
                *d += v;
            }
        }
    }
    let width = taps * cin;
    let partials: Vec<Vec<f32>> = if use_im2col(g, cin, kernel) {
        let pixels = interior(g).collect::<Vec<_>>();
        map_ranges(pixels.len(), 256, |lo, hi| {
            let rows = hi - lo;
            let col = im2col(input, kernel, &pixels[lo..hi]);
            let mut dense = vec![0.0; rows * cout];
            for (r, &q) in pixels[lo..hi].iter().enumerate() {
                dense[r * cout..(r + 1) * cout]
                    .copy_from_slice(&d_out.data[q * cout..(q + 1) * cout]);
            }
            let mut part = vec![0.0; width * cout];
            matmul_serial(
                width,
                cout,
                rows,
                &mut part,
                0,
                cout,
                false,
                View::transposed(&col, 0, width),
                View::rows(&dense, 0, cout),
            );
            part
        })
    } else {
        let (first, count) = g.span();
        map_ranges(count, 256, |lo, hi| {
            let mut part = vec![0.0; width * cout];
            for t in 0..taps {
                let start = (first as isize + tap_offset(t, kernel, g.pw())) as usize + lo;
                matmul_serial(
                    cin,
                    cout,
                    hi - lo,
                    &mut part,
                    t * cin * cout,
                    cout,
                    false,
                    View::transposed(&input.data, start * cin, cin),
                    View::rows(&d_out.data, (first + lo) * cout, cout),
                );
            }
            part
        })
    };
    for part in partials {
        for (d, p) in d_w.iter_mut().zip(&part) {
            *d += p;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Direct convolution on `[n, c, h, w]` numbers: the definition.
    fn reference(
        x: &[f32],
        [n, cin, h, w]: [usize; 4],
        weight: &[f32],
        cout: usize,
        kernel: usize,
    ) -> Vec<f32> {
        let r = kernel as isize / 2;
        let mut out = vec![0.0; n * cout * h * w];
        for s in 0..n {
            for o in 0..cout {
                for y in 0..h as isize {
                    for xx in 0..w as isize {
                        let mut acc = 0.0;
                        for i in 0..cin {
                            for ky in 0..kernel as isize {
                                for kx in 0..kernel as isize {
                                    let (yy, xs) = (y + ky - r, xx + kx - r);
                                    if yy < 0 || xs < 0 || yy >= h as isize || xs >= w as isize {
                                        continue;
                                    }
                                    let wi = ((o * cin + i) * kernel + ky as usize) * kernel
                                        + kx as usize;
                                    let xi = ((s * cin + i) * h + yy as usize) * w + xs as usize;
                                    acc += weight[wi] * x[xi];
                                }
                            }
                        }
                        out[((s * cout + o) * h + y as usize) * w + xx as usize] = acc;
                    }
                }
            }
        }
        out
    }

    fn values(n: usize, seed: usize) -> Vec<f32> {
        (0..n)
            .map(|i| (((i * 2654435761 + seed * 97) % 1000) as f32 / 500.0) - 1.0)
            .collect()
    }

    fn max_diff(a: &[f32], b: &[f32]) -> f32 {
        assert_eq!(a.len(), b.len());
        a.iter()
            .zip(b)
            .map(|(x, y)| (x - y).abs())
            .fold(0.0, f32::max)
    }

    /// Forward, input gradient and weight gradient against the definition, for both algorithms
    /// (the shapes below pick taps and im2col).
    #[test]
    fn both_algorithms_match_the_definition() {
        for &(n, cin, cout, h, w, kernel) in &[
            (1, 5, 4, 6, 7, 3),
            (3, 20, 6, 4, 8, 3),
            (2, 18, 3, 9, 11, 3),
            (2, 7, 5, 5, 6, 1),
            // Few input channels on a wide map: im2col over the span.
            (1, 3, 5, 6, 60, 3),
        ] {
            let dims = [n, cin, h, w];
            let x = values(n * cin * h * w, 1);
            let weight = values(cout * cin * kernel * kernel, 2);
            let bias = values(cout, 3);
            let want = reference(&x, dims, &weight, cout, kernel);
            let input = Map::from_nchw(&x, dims);
            let packed = pack(&weight, cout, cin, kernel);
            assert_eq!(unpack(&packed, cout, cin, kernel), weight);
            let mut out = Map::zeros(input.grid, cout);
            forward(&input, &packed, Some(&bias), kernel, &mut out);
            out.zero_border();
            let got = out.to_nchw();
            let with_bias: Vec<f32> = want
                .iter()
                .enumerate()
                .map(|(i, v)| v + bias[(i / (h * w)) % cout])
                .collect();
            assert!(
                max_diff(&got, &with_bias) < 1e-4,
                "forward {dims:?} k{kernel}"
            );
            let mut relu = Map::zeros(input.grid, cout);
            forward_relu(&input, &packed, Some(&bias), kernel, &mut relu);
            let clamped: Vec<f32> = out.data.iter().map(|v| v.max(0.0)).collect();
            assert_eq!(relu.data, clamped, "forward_relu {dims:?} k{kernel}");

            // Gradients of L = Σ g · conv(x): d_in = Σ over outputs, by linearity checked
            // against finite sums of the definition.
            let g = values(n * cout * h * w, 4);
            let d_out = Map::from_nchw(&g, [n, cout, h, w]);
            let mut d_in = Map::zeros(input.grid, cin);
            backward_input(&d_out, &packed, kernel, &mut d_in);
            let d_in = d_in.to_nchw();
            // d_in[j] = Σ_i g_i ∂conv_i/∂x_j = conv of a unit input, evaluated via the reference.
            for j in (0..x.len()).step_by(7) {
                let mut unit = vec![0.0; x.len()];
                unit[j] = 1.0;
                let col = reference(&unit, dims, &weight, cout, kernel);
                let want: f32 = col.iter().zip(&g).map(|(a, b)| a * b).sum();
                assert!((d_in[j] - want).abs() < 1e-4, "d_in[{j}] {dims:?}");
            }
            let mut d_w = vec![0.0; packed.len()];
            let mut d_b = vec![0.0; cout];
            backward_weights(&input, &d_out, kernel, &mut d_w, Some(&mut d_b));
            let d_w = unpack(&d_w, cout, cin, kernel);
            for j in 0..weight.len() {
                let mut unit = vec![0.0; weight.len()];
                unit[j] = 1.0;
                let col = reference(&x, dims, &unit, cout, kernel);
                let want: f32 = col.iter().zip(&g).map(|(a, b)| a * b).sum();
                assert!((d_w[j] - want).abs() < 1e-3, "d_w[{j}] {dims:?}");
            }
            for (o, d) in d_b.iter().enumerate() {
                let want: f32 = (0..n)
                    .flat_map(|s| g[(s * cout + o) * h * w..][..h * w].iter())
                    .sum();
                assert!((d - want).abs() < 1e-3);
            }
        }
    }
}
