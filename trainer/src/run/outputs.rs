//! What a run writes after every round besides its checkpoint: the weights file, the grid of
//! fixed layouts and seeds (`samples/round-NN.png`) and the loss curve (`loss.csv`, `loss.png`).

use std::collections::BTreeMap;
use std::path::Path;

use burn::tensor::Device;
use cimle::generator::Generator;
use cimle::latent::LatentCode;
use cimle::weights::{Precision, save_generator};

use super::{RunError, io_err};
use crate::config::TrainingConfig;
use crate::data::Pair;
use crate::fs::write_atomic;
use crate::method::{METHOD_METADATA_KEY, Method};
use crate::picture::{RgbImage, grid, line_chart};
use crate::render::Renderer;

/// Seeds of the sample columns in every round's grid: fixed, so rounds compare.
const PREVIEW_SEEDS: [u64; 6] = [0, 1, 2, 3, 4, 5];

/// Writes the generator after `rounds_done` rounds as a weights file (f32) whose metadata says
/// how it was trained (its method, data, distance) and by what.
pub(super) fn write_weights(
    path: &Path,
    generator: &Generator,
    config: &TrainingConfig,
    rounds_done: usize,
) -> Result<(), RunError> {
    let mut provenance = BTreeMap::new();
    provenance.insert("round".to_string(), rounds_done.to_string());
    provenance.insert("data".to_string(), config.data.clone());
    provenance.insert("distance".to_string(), config.distance.clone());
    provenance.insert(
        METHOD_METADATA_KEY.to_string(),
        config.method.name().to_string(),
    );
    provenance.insert(
        "trained_by".to_string(),
        format!("cimle {}", env!("CARGO_PKG_VERSION")),
    );
    let weights = save_generator(generator, &config.generator, Precision::F32, &provenance)?;
    write_atomic(path, &weights).map_err(io_err(path))
}

/// Renders `previews` with the fixed preview seeds: `[layout, photo, samples...]` per row. A CRN
/// model's samples all use the zero code ([`Method::sampling_code`]), so it gets one column.
pub(super) fn preview_grid(
    generator: &Generator,
    config: &TrainingConfig,
    previews: &[&Pair],
    device: &Device,
) -> Result<RgbImage, RunError> {
    let method: Method = config.method;
    let seeds: &[u64] = if method.uses_codes() {
        &PREVIEW_SEEDS
    } else {
        &PREVIEW_SEEDS[..1]
    };
    let renderer = Renderer::new(generator, &config.generator, device);
    let mut cells = Vec::new();
    for pair in previews {
        let (h, w) = (pair.layout.height(), pair.layout.width());
        cells.push(
            RgbImage::from_rgb(w, h, pair.layout.to_color_rgb())
                .unwrap_or(RgbImage::filled(w, h, [0; 3])),
        );
        cells.push(
            RgbImage::from_rgb(w, h, pair.image.clone()).unwrap_or(RgbImage::filled(w, h, [0; 3])),
        );
        let codes: Vec<LatentCode> = seeds
            .iter()
            .map(|&s| method.sampling_code(s, config.generator.latent_channels, h, w))
            .collect();
        let refs: Vec<&LatentCode> = codes.iter().collect();
        // One forward pass per layout, as every run has drawn its grids.
        let samples = renderer
            .render(&vec![&pair.layout; codes.len()], &refs, codes.len())
            .map_err(|e| RunError::Render(e.to_string()))?;
        cells.extend(samples);
    }
    Ok(grid(&cells, 2 + seeds.len(), 2, [255, 255, 255]))
}

/// Writes `loss.csv` (round, step, loss) and `loss.png` (loss against global step).
pub fn write_loss_outputs(out: &Path, losses: &[(usize, usize, f32)]) -> Result<(), RunError> {
    let mut csv = String::from("round,step,global_step,loss\n");
    let mut points = Vec::with_capacity(losses.len());
    for (i, (r, s, l)) in losses.iter().enumerate() {
        csv.push_str(&format!("{r},{s},{i},{l}\n"));
        points.push((i as f64, *l as f64));
    }
    let csv_path = out.join("loss.csv");
    write_atomic(&csv_path, csv.as_bytes()).map_err(io_err(&csv_path))?;
    let png_path = out.join("loss.png");
    write_atomic(&png_path, &line_chart(&points, 640, 320).encode_png()).map_err(io_err(&png_path))
}
