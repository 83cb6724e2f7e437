//! `cimle sample`'s picture: one layout rendered with many latent codes, a batch at a time,
//! straight into the grid (and, one file each, into a frames folder), so memory holds the grid
//! and one batch, never every sample.

use std::path::{Path, PathBuf};

use cimle::latent::LatentCode;
use cimle::layout::Layout;
use cimle::model::RenderError;

use crate::fs::write_atomic;
use crate::limits::{LimitError, MAX_PICTURE_PIXELS, check_count};
use crate::method::Method;
use crate::picture::{GridCanvas, GridShape, RgbImage};
use crate::render::Renderer;

/// Samples rendered per forward pass.
pub const SAMPLE_BATCH: usize = 8;

/// Why the samples could not be rendered or written.
#[derive(Debug, thiserror::Error)]
pub enum SampleError {
    #[error(transparent)]
    Limit(#[from] LimitError),
    #[error("rendering: {0}")]
    Render(#[from] RenderError),
    #[error("writing {}: {error}", path.display())]
    Write {
        path: PathBuf,
        error: std::io::Error,
    },
}

/// What to sample: `count` codes from seed `first_seed` on (sample `i` uses seed
/// `first_seed + i`, or the zero code for a CRN model) of one layout.
pub struct SampleJob<'a> {
    pub renderer: Renderer,
    pub method: Method,
    pub layout: &'a Layout,
    pub first_seed: u64,
    pub count: usize,
    /// Also write each sample as `sample-NNN-seed-S.png` into this folder.
    pub frames: Option<&'a Path>,
}

/// The grid of `count` samples of `h x w` and their layout: in rows of 4 (fewer when there are
/// fewer cells), 4 pixels apart.
pub fn grid_shape(count: usize, h: usize, w: usize) -> GridShape {
    let cells = count.saturating_add(1);
    GridShape {
        cells,
        columns: cells.min(4),
        cell_width: w,
        cell_height: h,
        gap: 4,
    }
}

/// Checks that the grid of `count` samples of `h x w` stays within [`MAX_PICTURE_PIXELS`].
pub fn check_grid(count: usize, h: usize, w: usize) -> Result<(), LimitError> {
    let pixels = grid_shape(count, h, w)
        .size()
        .and_then(|(gw, gh)| gw.checked_mul(gh))
        .unwrap_or(usize::MAX);
    // Samples of this size that fit: a row of 4 takes 4 samples' area and the gaps.
    let fit = (MAX_PICTURE_PIXELS / ((h + 4) * (w + 4)).max(1)).saturating_sub(1);
    check_count(
        &format!("--count {count} (the pixels of the grid)"),
        pixels,
        MAX_PICTURE_PIXELS,
        &format!("; at most about {fit} samples of this {h}x{w} model fit in one grid"),
    )
}

impl SampleJob<'_> {
    /// The codes of samples `start..start + n`.
    fn codes(&self, start: usize, n: usize) -> Vec<LatentCode> {
        let c = self.renderer.config();
        (start..start + n)
            .map(|i| {
                self.method.sampling_code(
                    self.first_seed + i as u64,
                    c.latent_channels,
                    c.height,
                    c.width,
                )
            })
            .collect()
    }

    /// Renders the samples into the grid (the layout first), writing each to the frames folder
    /// as it comes; `progress(n)` after every batch of `n`.
    pub fn render(&self, mut progress: impl FnMut(usize)) -> Result<RgbImage, SampleError> {
        let c = self.renderer.config();
        let (h, w) = (c.height, c.width);
        check_grid(self.count, h, w)?;
        let mut grid = GridCanvas::new(grid_shape(self.count, h, w), [255, 255, 255]);
        let layout_cell = RgbImage::from_rgb(w, h, self.layout.to_color_rgb()).ok_or(
            RenderError::LayoutSize {
                index: 0,
                got: [self.layout.height(), self.layout.width()],
                want: [h, w],
            },
        )?;
        grid.push(&layout_cell);
        for start in (0..self.count).step_by(SAMPLE_BATCH) {
            let n = (self.count - start).min(SAMPLE_BATCH);
            let codes = self.codes(start, n);
            let refs: Vec<&LatentCode> = codes.iter().collect();
            let images = self
                .renderer
                .render(&vec![self.layout; n], &refs, SAMPLE_BATCH)?;
            for (k, image) in images.iter().enumerate() {
                grid.push(image);
                if let Some(dir) = self.frames {
                    let i = start + k;
                    let seed = self.first_seed + i as u64;
                    let path = dir.join(format!("sample-{i:03}-seed-{seed}.png"));
                    write_atomic(&path, &image.encode_png())
                        .map_err(|error| SampleError::Write { path, error })?;
                }
            }
            progress(n);
        }
        Ok(grid.finish())
    }
}

#[cfg(test)]
mod tests {
    use burn::tensor::Device;
    use cimle::config::Preset;

    use super::*;
    use crate::picture::grid;

    #[test]
    fn the_streamed_grid_is_the_grid_of_all_samples() {
        let device = Device::flex();
        let cfg = Preset::Tiny.config();
        let g = cfg.init_seeded(&device, 3);
        let renderer = Renderer::new(&g, &cfg, &device);
        let layout = Layout::filled(cfg.height, cfg.width, 13);
        let dir = std::env::temp_dir().join(format!("cimle-sample-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        std::fs::create_dir_all(&dir).unwrap();
        let job = SampleJob {
            renderer,
            method: Method::Cimle,
            layout: &layout,
            first_seed: 5,
            count: 11,
            frames: Some(&dir),
        };
        let mut seen = 0;
        let streamed = job.render(|n| seen += n).unwrap();
        assert_eq!(seen, 11);
        // The same picture as rendering everything first and laying it out.
        let codes = job.codes(0, 11);
        let refs: Vec<&LatentCode> = codes.iter().collect();
        let mut cells =
            vec![RgbImage::from_rgb(cfg.width, cfg.height, layout.to_color_rgb()).unwrap()];
        cells.extend(
            job.renderer
                .render(&[&layout; 11], &refs, SAMPLE_BATCH)
                .unwrap(),
        );
        assert_eq!(streamed, grid(&cells, 4, 4, [255, 255, 255]));
        assert!(dir.join("sample-010-seed-15.png").is_file());
        assert_eq!(std::fs::read_dir(&dir).unwrap().count(), 11);
        std::fs::remove_dir_all(&dir).unwrap();
    }

    #[test]
    fn a_grid_too_large_for_memory_is_refused_with_the_limit() {
        assert!(check_grid(19, 64, 128).is_ok());
        assert!(check_grid(10_000, 64, 128).is_ok());
        let err = check_grid(10_000, 1024, 2048).unwrap_err().to_string();
        assert!(err.contains("--count 10000"), "{err}");
        assert!(err.contains(&MAX_PICTURE_PIXELS.to_string()), "{err}");
        assert!(err.contains("at most about"), "{err}");
        assert!(check_grid(usize::MAX, 64, 128).is_err());
    }
}
