//! One safe matrix product over strided views, on the `gemm` crate's SIMD kernels.
//!
//! `dst = (accumulate ? dst : 0) + a · b` with `a` an `m x k` view and `b` a `k x n` view of
//! slices, each given by an offset and row and column strides. Every view is checked against its
//! slice before the product runs, so a wrong stride is a panic with a message, never a stray
//! read or write.

use core::sync::atomic::{AtomicUsize, Ordering};

/// A strided read-only view of a matrix inside a slice.
#[derive(Debug, Clone, Copy)]
pub struct View<'a> {
    pub data: &'a [f32],
    /// Index of element (0, 0).
    pub offset: usize,
    /// Step from one row to the next.
    pub row_stride: usize,
    /// Step from one column to the next.
    pub col_stride: usize,
}

impl<'a> View<'a> {
    /// A row-major view: `rows` of `cols` with row stride `row_stride`, starting at `offset`.
    pub fn rows(data: &'a [f32], offset: usize, row_stride: usize) -> Self {
        Self {
            data,
            offset,
            row_stride,
            col_stride: 1,
        }
    }

    /// The transpose of a row-major view: element `(i, j)` is `data[offset + j · row_stride + i]`.
    pub fn transposed(data: &'a [f32], offset: usize, row_stride: usize) -> Self {
        Self {
            data,
            offset,
            row_stride: 1,
            col_stride: row_stride,
        }
    }

    fn check(&self, rows: usize, cols: usize, what: &str) {
        if rows == 0 || cols == 0 {
            return;
        }
        let last = self.offset + (rows - 1) * self.row_stride + (cols - 1) * self.col_stride;
        assert!(
            last < self.data.len(),
            "matmul: {what} view of {rows}x{cols} (offset {}, strides {}/{}) reaches {last}, the slice holds {}",
            self.offset,
            self.row_stride,
            self.col_stride,
            self.data.len()
        );
    }
}

static THREADS: AtomicUsize = AtomicUsize::new(0);

/// Threads the matrix products may use (0: all of rayon's pool; 1: the calling thread only).
pub fn set_threads(threads: usize) {
    THREADS.store(threads, Ordering::Relaxed);
}

/// The thread count set by [`set_threads`], resolved: at least 1.
pub fn threads() -> usize {
    let set = THREADS.load(Ordering::Relaxed);
    if set > 0 {
        return set;
    }
    #[cfg(not(target_arch = "wasm32"))]
    {
        rayon::current_num_threads().max(1)
    }
    #[cfg(target_arch = "wasm32")]
    {
        1
    }
}

/// Below this many multiply-adds a product runs on one thread: splitting costs more than it saves.
const PARALLEL_MIN_FLOPS: usize = 1 << 18;

fn parallelism(m: usize, n: usize, k: usize) -> gemm::Parallelism {
    #[cfg(not(target_arch = "wasm32"))]
    {
        let threads = threads();
        if threads > 1 && m * n * k >= PARALLEL_MIN_FLOPS {
            return gemm::Parallelism::Rayon(threads);
        }
    }
    let _ = (m, n, k, PARALLEL_MIN_FLOPS);
    gemm::Parallelism::None
}

/// `dst[m x n] = (accumulate ? dst : 0) + a[m x k] · b[k x n]`, where `dst` is row-major with
/// row stride `dst_stride` from `dst_offset`. Large products use the threads of [`threads`].
///
/// # Panics
/// If any view reaches past its slice.
#[allow(clippy::too_many_arguments)]
pub fn matmul(
    m: usize,
    n: usize,
    k: usize,
    dst: &mut [f32],
    dst_offset: usize,
    dst_stride: usize,
    accumulate: bool,
    a: View<'_>,
    b: View<'_>,
) {
    let par = parallelism(m, n, k);
    matmul_on(m, n, k, dst, dst_offset, dst_stride, accumulate, a, b, par);
}

/// [`matmul`] on the calling thread only (for callers that split the work themselves).
#[allow(clippy::too_many_arguments)]
pub fn matmul_serial(
    m: usize,
    n: usize,
    k: usize,
    dst: &mut [f32],
    dst_offset: usize,
    dst_stride: usize,
    accumulate: bool,
    a: View<'_>,
    b: View<'_>,
) {
    let par = gemm::Parallelism::None;
    matmul_on(m, n, k, dst, dst_offset, dst_stride, accumulate, a, b, par);
}

#[allow(clippy::too_many_arguments)]
fn matmul_on(
    m: usize,
    n: usize,
    k: usize,
    dst: &mut [f32],
    dst_offset: usize,
    dst_stride: usize,
    accumulate: bool,
    a: View<'_>,
    b: View<'_>,
    par: gemm::Parallelism,
) {
    if m == 0 || n == 0 {
        return;
    }
    let d = View::rows(dst, dst_offset, dst_stride);
    d.check(m, n, "destination");
    if k == 0 {
        if !accumulate {
            for i in 0..m {
                dst[dst_offset + i * dst_stride..][..n].fill(0.0);
            }
        }
        return;
    }
    a.check(m, k, "left");
    b.check(k, n, "right");
    // SAFETY: the three views were checked to lie inside their slices; `dst` is borrowed
    // mutably, so it overlaps neither input. The workspace's only `unsafe` (Cargo.toml lints).
    #[allow(unsafe_code)]
    unsafe {
        gemm::gemm(
            m,
            n,
            k,
            dst.as_mut_ptr().add(dst_offset),
            1,
            dst_stride as isize,
            accumulate,
            a.data.as_ptr().add(a.offset),
            a.col_stride as isize,
            a.row_stride as isize,
            b.data.as_ptr().add(b.offset),
            b.col_stride as isize,
            b.row_stride as isize,
            1.0,
            1.0,
            false,
            false,
            false,
            par,
        );
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn naive(m: usize, n: usize, k: usize, a: &[f32], b: &[f32]) -> Vec<f32> {
        let mut c = vec![0.0; m * n];
        for i in 0..m {
            for j in 0..n {
                c[i * n + j] = (0..k).map(|p| a[i * k + p] * b[p * n + j]).sum();
            }
        }
        c
    }

    #[test]
    fn products_of_row_major_and_transposed_views() {
        let (m, n, k) = (37, 19, 23);
        let a: Vec<f32> = (0..m * k).map(|i| ((i * 7) % 13) as f32 - 6.0).collect();
        let b: Vec<f32> = (0..k * n).map(|i| ((i * 5) % 11) as f32 - 5.0).collect();
        let want = naive(m, n, k, &a, &b);
        let mut c = vec![0.0; m * n];
        matmul(
            m,
            n,
            k,
            &mut c,
            0,
            n,
            false,
            View::rows(&a, 0, k),
            View::rows(&b, 0, n),
        );
        assert_eq!(c, want);
        // aᵀ stored row-major is read back through a transposed view.
        let at: Vec<f32> = (0..k * m).map(|i| a[(i % m) * k + i / m]).collect();
        let mut c2 = vec![1.0; m * n];
        matmul(
            m,
            n,
            k,
            &mut c2,
            0,
            n,
            true,
            View::transposed(&at, 0, m),
            View::rows(&b, 0, n),
        );
        let plus_one: Vec<f32> = want.iter().map(|v| v + 1.0).collect();
        assert_eq!(c2, plus_one);
    }

    #[test]
    #[should_panic(expected = "reaches")]
    fn a_view_past_its_slice_is_refused() {
        let a = vec![0.0; 10];
        let b = vec![0.0; 10];
        let mut c = vec![0.0; 100];
        matmul(
            4,
            4,
            4,
            &mut c,
            0,
            4,
            false,
            View::rows(&a, 0, 4),
            View::rows(&b, 0, 4),
        );
    }
}
