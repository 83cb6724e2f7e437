//! cimle's browser app logic, compiled to WebAssembly with wasm-bindgen: the model (on WebGPU or
//! the CPU), the layout editor, layout uploads, styles (latent codes as shareable recipes) and
//! the links that restore a layout and a style. The page (`www/`) only wires these to the DOM.
//!
//! Every function that JavaScript calls has a twin returning a `String` error (`*_text`,
//! `*_blocking`, `parse`, `replace`), which native tests call: `JsValue` cannot be built off wasm.

pub mod base64url;
pub mod codec;
pub mod editor;
pub mod import;
pub mod limits;
pub mod model;
pub mod style;

pub use codec::Link;
pub use editor::Editor;
pub use import::{Imported, import_layout};
pub use model::Model;
pub use style::Style;

use wasm_bindgen::prelude::*;

/// An animated PNG of `count` RGBA frames (`height x width`, concatenated), `delay_ms` each.
#[wasm_bindgen(js_name = encodeApng)]
pub fn encode_apng(
    frames: &[u8],
    count: usize,
    height: usize,
    width: usize,
    delay_ms: u16,
) -> Result<Vec<u8>, JsValue> {
    encode_apng_text(frames, count, height, width, delay_ms).map_err(|e| JsValue::from_str(&e))
}

/// [`encode_apng`] with a text error.
pub fn encode_apng_text(
    frames: &[u8],
    count: usize,
    height: usize,
    width: usize,
    delay_ms: u16,
) -> Result<Vec<u8>, String> {
    let size = height * width * 4;
    if count == 0 || size == 0 || frames.len() != count * size {
        return Err(format!(
            "{count} RGBA frames of {height}x{width} need {} bytes, got {}",
            count * size,
            frames.len()
        ));
    }
    let views: Vec<&[u8]> = frames.chunks_exact(size).collect();
    cimle::apng::encode_apng(
        &views,
        width,
        height,
        cimle::apng::FrameColor::Rgba,
        delay_ms,
    )
    .map_err(|e| e.to_string())
}

/// The version of this crate, shown in the page's footer.
#[wasm_bindgen]
pub fn version() -> String {
    env!("CARGO_PKG_VERSION").to_string()
}
