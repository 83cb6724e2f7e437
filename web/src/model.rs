//! A generator loaded from a weights file, on WebGPU (burn's wgpu backend) or on the CPU (the
//! shared crate's CPU kernels). Rendering is the shared crate's [`cimle::model::Model`], the one
//! inference path of every cimle renderer; this file adds the page's styles (codes and masks).

use std::rc::Rc;

use burn::tensor::Device;
use cimle::generator::images_to_rgb8;
use cimle::layout::Layout;
use cimle::model::Model as Net;
use wasm_bindgen::prelude::*;

use crate::style::{Layer, Style};

/// A loaded generator and what its weights file says about itself.
#[wasm_bindgen]
pub struct Model {
    net: Rc<Net>,
    backend: String,
}

/// Everything one render needs, owned, so that the future outlives the JavaScript borrow.
struct Job {
    net: Rc<Net>,
    layout: Layout,
    layers: Vec<Layer>,
}

impl Job {
    /// The style's image, `[3, H, W]` floats in `[-1, 1]`, read back asynchronously (the only
    /// way on WebGPU).
    async fn run(self) -> Result<Vec<f32>, String> {
        let mut out = Vec::new();
        for layer in &self.layers {
            let image = self
                .net
                .render_floats_async(&[&self.layout], &[&layer.code])
                .await
                .map_err(|e| format!("rendering: {e}"))?;
            composite(&mut out, image, layer.mask.as_deref());
        }
        Ok(out)
    }

    /// [`Job::run`] with a blocking read (CPU, native callers).
    fn run_blocking(self) -> Result<Vec<f32>, String> {
        let mut out = Vec::new();
        for layer in &self.layers {
            let image = self
                .net
                .render_floats(&[&self.layout], &[&layer.code])
                .map_err(|e| format!("rendering: {e}"))?;
            composite(&mut out, image, layer.mask.as_deref());
        }
        Ok(out)
    }
}

/// Paints `image` over `out` where `mask` is set (everywhere without a mask, or when `out` is
/// still empty): channel-planar `[C, H, W]` floats, mask `H x W`.
fn composite(out: &mut Vec<f32>, image: Vec<f32>, mask: Option<&[bool]>) {
    match mask {
        Some(mask) if out.len() == image.len() && !mask.is_empty() => {
            for (i, (o, v)) in out.iter_mut().zip(image).enumerate() {
                if mask[i % mask.len()] {
                    *o = v;
                }
            }
        }
        _ => *out = image,
    }
}

fn to_rgba(floats: &[f32], h: usize, w: usize) -> Vec<u8> {
    images_to_rgb8(floats, 1, h, w)
        .remove(0)
        .chunks_exact(3)
        .flat_map(|p| [p[0], p[1], p[2], 255])
        .collect()
}

fn js_error(e: String) -> JsValue {
    JsValue::from_str(&e)
}

#[cfg(feature = "webgpu")]
thread_local! {
    /// The WebGPU device and adapter label, set up once per page: burn's wgpu runtime cannot be
    /// initialised twice, and every model shares it.
    static WEBGPU: std::cell::RefCell<Option<(Device, String)>> = const { std::cell::RefCell::new(None) };
}

/// Starts (once) burn's wgpu runtime on the browser's WebGPU adapter.
#[cfg(feature = "webgpu")]
async fn webgpu_device() -> Result<(Device, String), String> {
    if let Some(found) = WEBGPU.with(|w| w.borrow().clone()) {
        return Ok(found);
    }
    let (device, setup) = Device::wgpu_options()
        .init_with_setup_async()
        .await
        .map_err(|e| format!("WebGPU could not start: {e}"))?;
    let info = setup.adapter.get_info();
    let name = [&info.name, &info.driver]
        .into_iter()
        .find(|s| !s.is_empty())
        .cloned()
        .unwrap_or_else(|| match info.device_type {
            burn::tensor::wgpu::wgpu::DeviceType::Cpu => "software adapter".to_string(),
            other => format!("{other:?} adapter"),
        });
    let label = format!("WebGPU ({name})");
    WEBGPU.with(|w| *w.borrow_mut() = Some((device.clone(), label.clone())));
    Ok((device, label))
}

#[wasm_bindgen]
impl Model {
    /// Loads a cimle weights file (f32 or f16) on the CPU.
    #[wasm_bindgen(constructor)]
    pub fn new(bytes: &[u8]) -> Result<Model, JsValue> {
        Self::load(bytes, Device::flex(), "CPU".into()).map_err(js_error)
    }

    /// Loads a weights file on the browser's WebGPU adapter; fails (so the page can fall back
    /// to [`Model::new`]) where WebGPU is missing or refuses to start.
    #[cfg(feature = "webgpu")]
    #[wasm_bindgen(js_name = loadWebGpu)]
    pub async fn load_webgpu(bytes: Vec<u8>) -> Result<Model, JsValue> {
        let (device, label) = webgpu_device().await.map_err(js_error)?;
        Self::load(&bytes, device, label).map_err(js_error)
    }

    /// "CPU", or "WebGPU (adapter name)".
    pub fn backend(&self) -> String {
        self.backend.clone()
    }

    /// Output height in pixels.
    pub fn height(&self) -> usize {
        self.net.config().height
    }

    /// Output width in pixels.
    pub fn width(&self) -> usize {
        self.net.config().width
    }

    /// Number of layout classes.
    #[wasm_bindgen(js_name = numClasses)]
    pub fn num_classes(&self) -> usize {
        self.net.config().num_classes()
    }

    /// Class names, in id order.
    #[wasm_bindgen(js_name = classNames)]
    pub fn class_names(&self) -> Vec<String> {
        self.net
            .config()
            .classes
            .iter()
            .map(|c| c.name.clone())
            .collect()
    }

    /// Palette colours, RGB per class in id order.
    pub fn palette(&self) -> Vec<u8> {
        self.net
            .config()
            .classes
            .iter()
            .flat_map(|c| c.color)
            .collect()
    }

    /// Number of parameters.
    #[wasm_bindgen(js_name = numParams)]
    pub fn num_params(&self) -> usize {
        self.net.config().num_params()
    }

    /// The training metadata stored in the weights file, as JSON (command, rounds, ...).
    pub fn metadata(&self) -> String {
        serde_json::to_string(self.net.metadata()).unwrap_or_default()
    }

    /// Whether the weights file says the model is the CRN regression baseline (metadata
    /// `method = crn`, written by `cimle train --method crn`): it ignores styles.
    #[wasm_bindgen(js_name = isRegression)]
    pub fn is_regression(&self) -> bool {
        !self.net.sampling().uses_codes()
    }

    /// Renders a layout (`height x width` class ids, any size: resized by nearest neighbour to
    /// the model's) in a style: a promise of RGBA bytes at the model's resolution.
    pub fn render(
        &self,
        ids: &[u8],
        height: usize,
        width: usize,
        style: &Style,
    ) -> Result<js_sys::Promise, JsValue> {
        let (h, w) = (self.height(), self.width());
        self.promise(ids, height, width, style, move |floats| {
            js_sys::Uint8Array::from(to_rgba(&floats, h, w).as_slice()).into()
        })
    }

    /// As [`Model::render`], but the raw output: `3 x H x W` floats in `[-1, 1]` (for tests that
    /// compare backends).
    #[wasm_bindgen(js_name = renderFloats)]
    pub fn render_floats(
        &self,
        ids: &[u8],
        height: usize,
        width: usize,
        style: &Style,
    ) -> Result<js_sys::Promise, JsValue> {
        self.promise(ids, height, width, style, |floats| {
            js_sys::Float32Array::from(floats.as_slice()).into()
        })
    }
}

impl Model {
    /// A promise of a render's output, converted for JavaScript by `convert`.
    fn promise(
        &self,
        ids: &[u8],
        height: usize,
        width: usize,
        style: &Style,
        convert: impl FnOnce(Vec<f32>) -> JsValue + 'static,
    ) -> Result<js_sys::Promise, JsValue> {
        let job = self.job(ids, height, width, style).map_err(js_error)?;
        Ok(wasm_bindgen_futures::future_to_promise(async move {
            Ok(convert(job.run().await.map_err(js_error)?))
        }))
    }

    /// Loads a weights file on `device`, with a readable error.
    pub fn load(bytes: &[u8], device: Device, backend: String) -> Result<Model, String> {
        let net = Net::load(bytes, &device).map_err(|e| format!("weights file: {e}"))?;
        Ok(Model {
            net: Rc::new(net),
            backend,
        })
    }

    /// Loads on the CPU (native callers and tests).
    pub fn from_bytes(bytes: &[u8]) -> Result<Model, String> {
        Self::load(bytes, Device::flex(), "CPU".into())
    }

    fn job(&self, ids: &[u8], height: usize, width: usize, style: &Style) -> Result<Job, String> {
        let cfg = self.net.config();
        let layout =
            Layout::new(height, width, ids.to_vec()).map_err(|e| format!("layout: {e}"))?;
        if let Some(&bad) = layout
            .ids()
            .iter()
            .find(|&&c| usize::from(c) >= cfg.num_classes())
        {
            return Err(format!(
                "layout: class id {bad} is not one of the model's {} classes",
                cfg.num_classes()
            ));
        }
        let layout = if (height, width) == (cfg.height, cfg.width) {
            layout
        } else {
            layout.resize_nearest(cfg.height, cfg.width)
        };
        let (c, h, w) = (cfg.latent_channels, cfg.height, cfg.width);
        let layers = if self.is_regression() {
            // A CRN baseline was trained with the zero code only: every style is that code.
            let zero = cimle::latent::LatentCode::from_data(c, h, w, vec![0.0; c * h * w])
                .map_err(|e| e.to_string())?;
            vec![Layer {
                code: zero,
                mask: None,
            }]
        } else {
            style.layers(c, h, w)
        };
        Ok(Job {
            net: Rc::clone(&self.net),
            layout,
            layers,
        })
    }

    /// The raw output on this thread (CPU models; native callers and tests).
    pub fn render_floats_blocking(
        &self,
        ids: &[u8],
        height: usize,
        width: usize,
        style: &Style,
    ) -> Result<Vec<f32>, String> {
        self.job(ids, height, width, style)?.run_blocking()
    }

    /// The raw output, read back asynchronously (every backend, WebGPU included).
    pub async fn render_floats_async(
        &self,
        ids: &[u8],
        height: usize,
        width: usize,
        style: &Style,
    ) -> Result<Vec<f32>, String> {
        self.job(ids, height, width, style)?.run().await
    }

    /// RGBA bytes on this thread (CPU models; native callers and tests).
    pub fn render_rgba_blocking(
        &self,
        ids: &[u8],
        height: usize,
        width: usize,
        style: &Style,
    ) -> Result<Vec<u8>, String> {
        let floats = self.render_floats_blocking(ids, height, width, style)?;
        Ok(to_rgba(&floats, self.height(), self.width()))
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
        let g = cfg.init_seeded(&Device::flex(), 3);
        save_generator(&g, &cfg, Precision::F16, &BTreeMap::new()).unwrap()
    }

    #[test]
    fn renders_rgba_that_depends_on_the_style() {
        let model = Model::from_bytes(&tiny_weights()).unwrap();
        let (h, w) = (model.height(), model.width());
        let ids = vec![13u8; h * w];
        let s1 = Style::from_seed(1);
        let a = model.render_rgba_blocking(&ids, h, w, &s1).unwrap();
        assert_eq!(a.len(), h * w * 4);
        assert!(a.chunks(4).all(|p| p[3] == 255));
        assert_eq!(a, model.render_rgba_blocking(&ids, h, w, &s1).unwrap());
        let b = model
            .render_rgba_blocking(&ids, h, w, &Style::from_seed(2))
            .unwrap();
        assert_ne!(a, b);
        assert_eq!(model.class_names().len(), 20);
        assert_eq!(model.palette()[..3], [128, 64, 128]);
    }

    #[test]
    fn layouts_of_another_size_are_resized() {
        let model = Model::from_bytes(&tiny_weights()).unwrap();
        let (h, w) = (model.height(), model.width());
        let small = vec![13u8; h * w];
        let big = vec![13u8; 4 * h * w];
        let s = Style::from_seed(4);
        assert_eq!(
            model.render_floats_blocking(&small, h, w, &s).unwrap(),
            model
                .render_floats_blocking(&big, 2 * h, 2 * w, &s)
                .unwrap()
        );
    }

    #[test]
    fn a_region_resample_changes_only_the_region() {
        let model = Model::from_bytes(&tiny_weights()).unwrap();
        let (h, w) = (model.height(), model.width());
        let mut ids = vec![0u8; h * w];
        ids[h * w / 2..].fill(13);
        let base = Style::from_seed(1);
        // The region: the car half of the layout.
        let mask: Vec<u8> = ids.iter().map(|&c| u8::from(c == 13)).collect();
        let region = base.region(&mask, h, w, 77).unwrap();
        let a = model.render_floats_blocking(&ids, h, w, &base).unwrap();
        let b = model.render_floats_blocking(&ids, h, w, &region).unwrap();
        let mut changed_inside = 0;
        for (i, (x, y)) in a.iter().zip(&b).enumerate() {
            if mask[i % (h * w)] == 0 {
                assert_eq!(x, y, "value {i} outside the region changed");
            } else if x != y {
                changed_inside += 1;
            }
        }
        assert!(changed_inside > h * w / 2, "{changed_inside}");
    }

    #[test]
    fn a_crn_model_renders_the_zero_code_whatever_the_style() {
        let cfg = Preset::Tiny.config();
        let g = cfg.init_seeded(&Device::flex(), 3);
        let meta = BTreeMap::from([("method".to_string(), "crn".to_string())]);
        let crn =
            Model::from_bytes(&save_generator(&g, &cfg, Precision::F16, &meta).unwrap()).unwrap();
        assert!(crn.is_regression());
        let (h, w) = (crn.height(), crn.width());
        let ids = vec![13u8; h * w];
        let a = crn.render_floats_blocking(&ids, h, w, &Style::from_seed(1));
        assert_eq!(
            a,
            crn.render_floats_blocking(&ids, h, w, &Style::from_seed(2))
        );
        let cimle = Model::from_bytes(&tiny_weights()).unwrap();
        assert!(!cimle.is_regression());
    }

    #[test]
    fn bad_layouts_and_bytes_are_errors() {
        let model = Model::from_bytes(&tiny_weights()).unwrap();
        let s = Style::from_seed(1);
        let err = model
            .render_floats_blocking(&[0u8; 7], 2, 4, &s)
            .unwrap_err();
        assert!(err.contains("needs 8 class ids"), "{err}");
        let err = model
            .render_floats_blocking(&[25u8; 8], 2, 4, &s)
            .unwrap_err();
        assert!(err.contains("class id 25"), "{err}");
        let err = Model::from_bytes(b"nope").err().unwrap();
        assert!(err.contains("weights file"), "{err}");
    }
}
