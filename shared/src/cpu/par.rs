//! Splitting work over threads: rayon natively, the calling thread in WebAssembly.

use super::gemm::threads;
use super::grid::Grid;

/// Calls `f(index, chunk)` for consecutive chunks of `data` of `chunk` numbers each (the last may
/// be shorter), on several threads where there are several.
pub fn for_each_chunk_mut<F>(data: &mut [f32], chunk: usize, f: F)
where
    F: Fn(usize, &mut [f32]) + Sync + Send,
{
    let chunk = chunk.max(1);
    #[cfg(not(target_arch = "wasm32"))]
    if threads() > 1 && data.len() > chunk {
        use rayon::prelude::*;
        data.par_chunks_mut(chunk)
            .enumerate()
            .for_each(|(i, c)| f(i, c));
        return;
    }
    data.chunks_mut(chunk)
        .enumerate()
        .for_each(|(i, c)| f(i, c));
}

/// `f(lo, hi)` over a split of `0..total` into at most [`threads`] ranges of at least `min`
/// items; the results in order.
pub fn map_ranges<T, F>(total: usize, min: usize, f: F) -> Vec<T>
where
    T: Send,
    F: Fn(usize, usize) -> T + Sync + Send,
{
    let parts = ranges(total, min);
    #[cfg(not(target_arch = "wasm32"))]
    if parts.len() > 1 {
        use rayon::prelude::*;
        return parts.into_par_iter().map(|(lo, hi)| f(lo, hi)).collect();
    }
    parts.into_iter().map(|(lo, hi)| f(lo, hi)).collect()
}

/// A split of `0..total` into at most [`threads`] near-equal ranges of at least `min` items.
pub fn ranges(total: usize, min: usize) -> Vec<(usize, usize)> {
    let parts = threads().min(total / min.max(1)).max(1);
    let size = total.div_ceil(parts);
    (0..parts)
        .map(|i| (i * size, ((i + 1) * size).min(total)))
        .filter(|(lo, hi)| lo < hi)
        .collect()
}

/// The number of items per chunk that splits `total` items over the threads (at least `min`).
pub fn chunk_len(total: usize, min: usize) -> usize {
    let parts = threads().min(total / min.max(1)).max(1);
    total.div_ceil(parts).max(1)
}

/// Calls `f(s, y, row)` for every interior row `y` of every sample `s` of a `grid` buffer with
/// `c` channels a pixel, `row` being the whole padded row (`pw · c` numbers, border included),
/// on several threads where there are several.
pub fn for_each_row_mut<F>(data: &mut [f32], grid: Grid, c: usize, f: F)
where
    F: Fn(usize, usize, &mut [f32]) + Sync + Send,
{
    let ph = grid.h + 2;
    for_each_chunk_mut(data, grid.pw() * c, |r, row| {
        let (s, py) = (r / ph, r % ph);
        if py >= 1 && py <= grid.h {
            f(s, py - 1, row);
        }
    });
}
