//! cimle's model crate: Conditional IMLE (Li, Zhang & Malik, ICCV 2019, arXiv 1811.12373)
//! for diverse image synthesis from semantic layouts.
//!
//! Everything here works on bytes and tensors only (no file or network I/O) and compiles natively
//! and to `wasm32-unknown-unknown`, so the trainer and the browser app share one model.

pub mod apng;
pub mod classes;
pub mod config;
pub mod cpu;
pub mod generator;
pub mod label_png;
pub mod latent;
pub mod layout;
pub mod model;
pub mod weights;
