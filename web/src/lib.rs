//! The browser app's logic, compiled to WebAssembly: load a weights file from bytes and render
//! a layout with a latent code seed into RGBA pixels for a canvas. The model is the shared
//! crate's, never a copy of it. This is the CPU path (burn's Flex backend); WebGPU joins with
//! the browser app (issue 4).

use burn::tensor::Device;
use cimle::generator::{Generator, images_to_rgb8, one_hot};
use cimle::latent::LatentCode;
use cimle::layout::Layout;
use cimle::weights::{WeightsHeader, load_generator};
use wasm_bindgen::prelude::*;

/// A loaded generator and what its weights file says about itself.
#[wasm_bindgen]
pub struct Model {
    generator: Generator,
    header: WeightsHeader,
    device: Device,
}

/// Errors as text, so that native tests and JavaScript see the same message.
fn render_rgba(model: &Model, layout_ids: &[u8], seed: u64) -> Result<Vec<u8>, String> {
    let cfg = &model.header.config;
    let (h, w) = (cfg.height, cfg.width);
    let layout = Layout::new(h, w, layout_ids.to_vec()).map_err(|e| {
        format!(
            "layout of {} ids does not fit the model's {h}x{w}: {e}",
            layout_ids.len()
        )
    })?;
    let x = one_hot(&[&layout], cfg.num_classes(), &model.device);
    let z = LatentCode::from_seed(seed, cfg.latent_channels, h, w).to_tensor(&model.device);
    let data = model
        .generator
        .forward(x, z)
        .into_data()
        .try_to_vec::<f32>()
        .map_err(|e| format!("reading the rendered image: {e:?}"))?;
    let rgb = images_to_rgb8(&data, 1, h, w).remove(0);
    Ok(rgb
        .chunks_exact(3)
        .flat_map(|p| [p[0], p[1], p[2], 255])
        .collect())
}

#[wasm_bindgen]
impl Model {
    /// Loads a cimle weights file (f32 or f16) on the CPU.
    #[wasm_bindgen(constructor)]
    pub fn new(bytes: &[u8]) -> Result<Model, JsValue> {
        Self::from_bytes(bytes).map_err(|e| JsValue::from_str(&e))
    }

    /// Output height in pixels.
    pub fn height(&self) -> usize {
        self.header.config.height
    }

    /// Output width in pixels.
    pub fn width(&self) -> usize {
        self.header.config.width
    }

    /// Class names, in id order.
    #[wasm_bindgen(js_name = classNames)]
    pub fn class_names(&self) -> Vec<String> {
        self.header
            .config
            .classes
            .iter()
            .map(|c| c.name.clone())
            .collect()
    }

    /// Renders `layout_ids` (row-major class ids, height x width) with the code of `seed`:
    /// RGBA bytes for an `ImageData`.
    pub fn render(&self, layout_ids: &[u8], seed: u64) -> Result<Vec<u8>, JsValue> {
        render_rgba(self, layout_ids, seed).map_err(|e| JsValue::from_str(&e))
    }
}

impl Model {
    /// Loads a weights file on the CPU, with a readable error.
    pub fn from_bytes(bytes: &[u8]) -> Result<Model, String> {
        let device = Device::flex();
        let (generator, header) =
            load_generator(bytes, &device).map_err(|e| format!("weights file: {e}"))?;
        Ok(Model {
            generator,
            header,
            device,
        })
    }

    /// [`Model::render`] with a text error (for native callers and tests).
    pub fn render_native(&self, layout_ids: &[u8], seed: u64) -> Result<Vec<u8>, String> {
        render_rgba(self, layout_ids, seed)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use cimle::config::Preset;
    use cimle::weights::{Precision, save_generator};
    use std::collections::BTreeMap;

    fn tiny_weights() -> Vec<u8> {
        let cfg = Preset::Tiny.config();
        let g = cfg.init(&Device::flex());
        save_generator(&g, &cfg, Precision::F16, &BTreeMap::new()).unwrap()
    }

    #[test]
    fn renders_rgba_that_depends_on_the_seed() {
        let model = Model::from_bytes(&tiny_weights()).unwrap();
        let (h, w) = (model.height(), model.width());
        let ids = vec![13u8; h * w];
        let a = model.render_native(&ids, 1).unwrap();
        assert_eq!(a.len(), h * w * 4);
        assert!(a.chunks(4).all(|p| p[3] == 255));
        assert_eq!(a, model.render_native(&ids, 1).unwrap());
        assert_ne!(a, model.render_native(&ids, 2).unwrap());
        assert_eq!(model.class_names().len(), 20);
    }

    #[test]
    fn wrong_layout_size_and_bad_bytes_are_errors() {
        let model = Model::from_bytes(&tiny_weights()).unwrap();
        let err = model.render_native(&[0u8; 7], 1).unwrap_err();
        assert!(err.contains("16x32"), "{err}");
        let err = Model::from_bytes(b"nope").err().unwrap();
        assert!(err.contains("weights file"), "{err}");
    }
}
