//! cimle's own CPU kernels: the generator's forward and backward passes written out by hand on
//! plain `f32` buffers, for the trainer's CPU path and the browser's CPU fallback.
//!
//! burn runs the same network through its general-purpose tensor ops (and is what the GPU paths
//! use). On a CPU most of that path's time goes to layout conversions, allocations and
//! elementwise passes rather than to the matrix products themselves; here every activation lives
//! in one layout that the convolutions read and write in place, so nearly all the time is spent in
//! `gemm`'s SIMD matrix products (AVX-512 or AVX2 natively, SIMD128 in WebAssembly).
//!
//! # The layout: padded channels-last grids
//!
//! A batch of `n` maps of `h x w` pixels and `c` channels is one buffer of
//! `n x (h + 2) x (w + 2) x c` numbers ([`Grid`], [`Map`]): every map carries a one-pixel border of
//! zeros, and the channels of one pixel are contiguous. A 3x3 convolution with zero padding is then
//! nine matrix products, one per kernel tap, each reading the input buffer shifted by that tap's
//! offset ([`conv`]): no im2col copy, no padding copy. Their outputs land on the border too; the
//! next elementwise pass writes zeros there again ([`Map::zero_border`]).
//!
//! # What is here
//! - [`grid`]: [`Grid`] and [`Map`];
//! - [`gemm`]: one safe, bounds-checked matrix product over strided views;
//! - [`conv`]: 3x3 and 1x1 convolutions, forward, input gradient and weight gradient;
//! - [`winograd`]: the 3x3 forward by Winograd F(2x2, 3x3), 2.25x fewer multiplications;
//! - [`norm`]: layer norm (`GroupNorm` with one group) fused with LeakyReLU, forward and backward;
//! - [`resize`]: bilinear resizes (half-pixel centres) and area pooling, forward and backward;
//! - [`generator`]: the generator `T(x, z)` of [`crate::generator`] on these kernels, with its
//!   backward pass and the conversion from and to a burn [`crate::generator::Generator`].

pub mod conv;
pub mod gemm;
pub mod generator;
pub mod grid;
pub mod norm;
pub mod par;
pub mod resize;
pub mod winograd;

pub use generator::{CpuGenerator, GeneratorGrads, GeneratorTape};
pub use grid::{Grid, Map};
