//! Rendering with a burn generator, in batches, to RGB8 pictures: what `sample`, the videos and
//! a run's per-round grids draw with (measurements go through the model crate's
//! [`cimle::model::Model`]).

use burn::tensor::Device;
use cimle::config::GeneratorConfig;
use cimle::generator::{Generator, images_to_rgb8, one_hot};
use cimle::latent::{LatentCode, LatentError};
use cimle::layout::Layout;
use cimle::model::RenderError;

use crate::picture::RgbImage;

/// A burn generator ready to render: the network, the config read with it, and its device.
#[derive(Clone, Copy)]
pub struct Renderer<'a> {
    pub generator: &'a Generator,
    pub config: &'a GeneratorConfig,
    pub device: &'a Device,
}

impl Renderer<'_> {
    /// Renders `layouts[i]` with `codes[i]`, `batch` renders a forward pass (at least 1), and
    /// reads every image back from the device. Layouts must have the model's size and codes its
    /// shape; a mismatch, or a read-back that fails, is an error.
    pub fn render(
        &self,
        layouts: &[&Layout],
        codes: &[&LatentCode],
        batch: usize,
    ) -> Result<Vec<RgbImage>, RenderError> {
        self.check(layouts, codes)?;
        let (h, w) = (self.config.height, self.config.width);
        let mut out = Vec::with_capacity(layouts.len());
        for (ls, cs) in layouts.chunks(batch.max(1)).zip(codes.chunks(batch.max(1))) {
            let x = one_hot(ls, self.config.num_classes(), self.device);
            let owned: Vec<LatentCode> = cs.iter().map(|c| (*c).clone()).collect();
            let z = LatentCode::batch_tensor(&owned, self.device)
                .map_err(|source| RenderError::Code { index: 0, source })?;
            let data = self
                .generator
                .forward(x, z)
                .into_data()
                .try_to_vec::<f32>()
                .map_err(|e| RenderError::ReadBack(format!("{e:?}")))?;
            if data.len() != ls.len() * 3 * h * w {
                return Err(RenderError::ReadBack(format!(
                    "{} numbers came back for {} images of {h}x{w}",
                    data.len(),
                    ls.len()
                )));
            }
            for rgb in images_to_rgb8(&data, ls.len(), h, w) {
                out.push(RgbImage::from_rgb(w, h, rgb).ok_or_else(|| {
                    RenderError::ReadBack(format!(
                        "an image of {h}x{w} came back with another size"
                    ))
                })?);
            }
        }
        Ok(out)
    }

    fn check(&self, layouts: &[&Layout], codes: &[&LatentCode]) -> Result<(), RenderError> {
        if layouts.len() != codes.len() {
            return Err(RenderError::Count {
                layouts: layouts.len(),
                codes: codes.len(),
            });
        }
        let want = [self.config.height, self.config.width];
        for (index, l) in layouts.iter().enumerate() {
            if [l.height(), l.width()] != want {
                return Err(RenderError::LayoutSize {
                    index,
                    got: [l.height(), l.width()],
                    want,
                });
            }
        }
        let shape = [self.config.latent_channels, want[0], want[1]];
        for (index, c) in codes.iter().enumerate() {
            if c.shape() != shape {
                return Err(RenderError::Code {
                    index,
                    source: LatentError::ShapeMismatch {
                        a: c.shape(),
                        b: shape,
                    },
                });
            }
        }
        Ok(())
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
        let r = Renderer {
            generator: &g,
            config: &cfg,
            device: &device,
        };
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
