//! Rendering a burn generator's images in batches, as RGB8 pictures: what `sample`, the videos
//! and a run's per-round grids draw with. The rendering itself is the model crate's
//! [`cimle::model::Model`] (the CPU kernels on Flex), the one inference path of every renderer;
//! this file adds batching and the picture type.

use burn::tensor::Device;
use cimle::config::GeneratorConfig;
use cimle::generator::Generator;
use cimle::latent::LatentCode;
use cimle::layout::Layout;
use cimle::model::{Model, RenderError, Sampling};

use crate::picture::RgbImage;

/// A generator ready to render.
pub struct Renderer {
    model: Model,
}

impl Renderer {
    /// The renderer of `generator` (with its `config`) on `device`.
    pub fn new(generator: &Generator, config: &GeneratorConfig, device: &Device) -> Self {
        // The codes are given to `render`, so the sampling rule is never consulted.
        let model = Model::of_network(generator, config.clone(), Sampling::Codes, device);
        Self { model }
    }

    /// The generator's shape and class set.
    pub fn config(&self) -> &GeneratorConfig {
        self.model.config()
    }

    /// Renders `layouts[i]` with `codes[i]`, `batch` renders a forward pass (at least 1).
    /// Layouts must have the model's size and codes its shape; a mismatch, or a read-back that
    /// fails, is an error.
    pub fn render(
        &self,
        layouts: &[&Layout],
        codes: &[&LatentCode],
        batch: usize,
    ) -> Result<Vec<RgbImage>, RenderError> {
        if layouts.len() != codes.len() {
            return Err(RenderError::Count {
                layouts: layouts.len(),
                codes: codes.len(),
            });
        }
        let (h, w) = (self.config().height, self.config().width);
        let mut out = Vec::with_capacity(layouts.len());
        for (ls, cs) in layouts.chunks(batch.max(1)).zip(codes.chunks(batch.max(1))) {
            for rgb in self.model.render(ls, cs)? {
                out.push(RgbImage::from_rgb(w, h, rgb).ok_or_else(|| {
                    RenderError::ReadBack(format!(
                        "an image of {h}x{w} came back with another size"
                    ))
                })?);
            }
        }
        Ok(out)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use cimle::config::Preset;

    #[test]
    fn renders_in_any_batching_and_refuses_mismatches() {
        let device = Device::flex();
        let cfg = Preset::Tiny.config();
        let g = cfg.init_seeded(&device, 1);
        let layout = Layout::filled(cfg.height, cfg.width, 0);
        let codes: Vec<LatentCode> = (0..3)
            .map(|s| LatentCode::from_seed(s, cfg.latent_channels, cfg.height, cfg.width))
            .collect();
        let refs: Vec<&LatentCode> = codes.iter().collect();
        let layouts = vec![&layout; 3];
        let r = Renderer::new(&g, &cfg, &device);
        let one = r.render(&layouts, &refs, 3).unwrap();
        // Batching changes nothing.
        assert_eq!(r.render(&layouts, &refs, 1).unwrap(), one);
        assert_eq!(one.len(), 3);
        assert_eq!((one[0].width, one[0].height), (cfg.width, cfg.height));
        assert_ne!(one[0], one[1]);
        let small = Layout::filled(8, 16, 0);
        let err = r.render(&[&small], &refs[..1], 1).unwrap_err();
        assert!(matches!(err, RenderError::LayoutSize { .. }), "{err}");
        let err = r.render(&layouts[..2], &refs, 1).unwrap_err();
        assert!(matches!(err, RenderError::Count { .. }), "{err}");
    }
}
