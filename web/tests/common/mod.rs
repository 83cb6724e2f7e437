//! What the native and the wasm tests share: the shipped model, the reference render and the
//! fixture format (every `STRIDE`-th output float, little-endian f32).

#![allow(dead_code)]

use cimle_web::{Model, Style, import::import_layout_text};

/// The model the site ships at the `browser` preset (256x512).
pub const SHIPPED_MODEL: &[u8] = include_bytes!("../../../www/models/streets-256x512.safetensors");
/// The site's first example layout.
pub const EXAMPLE_LAYOUT: &[u8] = include_bytes!("../../../www/examples/street-1.png");
/// The seed of the reference style.
pub const SEED: u32 = 7;
/// Every STRIDE-th float of the `3 x 256 x 512` output is stored (coprime with the sizes, so
/// the samples cover every channel, row and column).
pub const STRIDE: usize = 13;

/// The reference layout at the model's size.
pub fn layout(model: &Model) -> Vec<u8> {
    import_layout_text(
        "street-1.png",
        EXAMPLE_LAYOUT,
        model.height(),
        model.width(),
    )
    .unwrap()
    .ids()
}

/// The reference style: a seed, plus a resampled sky region (so compositing is covered too).
pub fn style(model: &Model, ids: &[u8]) -> Style {
    let sky: Vec<u8> = ids.iter().map(|&c| u8::from(c == 10)).collect();
    Style::from_seed(SEED)
        .region(&sky, model.height(), model.width(), SEED + 1)
        .unwrap()
}

/// The native CPU render of the reference.
pub fn render_reference(model: &Model) -> Vec<f32> {
    let ids = layout(model);
    let style = style(model, &ids);
    model
        .render_floats_blocking(&ids, model.height(), model.width(), &style)
        .unwrap()
}

pub fn sample(floats: &[f32]) -> Vec<f32> {
    floats.iter().step_by(STRIDE).copied().collect()
}

pub fn encode_reference(floats: &[f32]) -> Vec<u8> {
    sample(floats)
        .iter()
        .flat_map(|v| v.to_le_bytes())
        .collect()
}

pub fn decode_reference(bytes: &[u8]) -> Vec<f32> {
    bytes
        .chunks_exact(4)
        .map(|b| f32::from_le_bytes([b[0], b[1], b[2], b[3]]))
        .collect()
}

/// Largest absolute difference; infinite when the lengths differ.
pub fn max_abs_diff(a: &[f32], b: &[f32]) -> f32 {
    if a.len() != b.len() {
        return f32::INFINITY;
    }
    a.iter()
        .zip(b)
        .map(|(x, y)| (x - y).abs())
        .fold(0.0, f32::max)
}

/// Mean absolute difference.
pub fn mean_abs_diff(a: &[f32], b: &[f32]) -> f32 {
    a.iter().zip(b).map(|(x, y)| (x - y).abs()).sum::<f32>() / a.len().max(1) as f32
}
