//! `cimle bench`: the speed figures of BENCHMARKS.md, measured on the machine at hand.
//!
//! - train step: one Adam step of batch 1 (generator forward and backward through the
//!   perceptual distance), mean over `steps` after two warm-up steps;
//! - selection: images per second of [`select_nearest_latents`] with m codes per image,
//!   rendered in batches of the automatic size.

use std::time::Instant;

use burn::module::Module;
use burn::tensor::{Device, Tensor};
use cimle::config::GeneratorConfig;
use cimle::latent::LatentCode;
use cimle::layout::Layout;
use serde::Serialize;

use crate::imle::{
    Pair, TrainingConfig, auto_selection_batch, available_memory, candidate_seed, init_optimizer,
    select_nearest_latents, train_step,
};
use crate::perceptual::{LayerWeights, PerceptualDistance, Vgg19Features};
use crate::synth::generate_scene;

/// One benchmark report.
#[derive(Debug, Clone, Serialize)]
pub struct BenchReport {
    pub preset: String,
    pub backend: String,
    pub resolution: [usize; 2],
    pub parameters: usize,
    pub distance: String,
    pub train_step_ms: f64,
    pub train_steps_measured: usize,
    pub selection_images_per_s: f64,
    pub selection_renders_per_s: f64,
    pub selection_candidates: usize,
    pub selection_batch: usize,
    pub selection_images_measured: usize,
}

/// Measures train-step time and selection throughput for `config` on `device`.
#[allow(clippy::too_many_arguments)]
pub fn run_bench(
    preset: &str,
    backend: &str,
    config: &GeneratorConfig,
    vgg: Vgg19Features,
    device: &Device,
    steps: usize,
    images: usize,
    candidates: usize,
) -> BenchReport {
    let (h, w) = (config.height, config.width);
    let pairs: Vec<Pair> = (0..images.max(1))
        .map(|i| {
            let s = generate_scene(1, i as u64, h, w);
            Pair {
                layout: Layout::new(h, w, s.labels).unwrap_or_else(|_| Layout::filled(h, w, 0)),
                image: s.image,
            }
        })
        .collect();
    let distance_desc = vgg.describe().to_string();
    let ad = device.clone().autodiff();
    let train_config = TrainingConfig::new(config.clone());
    let mut generator = config.init(&ad);
    let mut optimizer = init_optimizer(&train_config);
    let train_distance = PerceptualDistance::new(vgg.clone().fork(&ad), LayerWeights::paper());
    let code = LatentCode::from_seed(0, config.latent_channels, h, w);
    let mut step = |g| {
        train_step(
            g,
            &mut optimizer,
            &train_distance,
            &[&pairs[0]],
            &[&code],
            None::<Tensor<4>>,
            1e-4,
            &ad,
        )
        .0
    };
    for _ in 0..2 {
        generator = step(generator);
    }
    let started = Instant::now();
    for _ in 0..steps {
        generator = step(generator);
    }
    let train_step_ms = started.elapsed().as_secs_f64() * 1000.0 / steps.max(1) as f64;

    let select_distance = PerceptualDistance::new(vgg, LayerWeights::paper());
    let inference = generator.valid();
    let batch = auto_selection_batch(config, candidates, available_memory());
    let refs: Vec<&Pair> = pairs.iter().collect();
    let codes: Vec<Vec<LatentCode>> = (0..refs.len())
        .map(|k| {
            (0..candidates)
                .map(|j| {
                    LatentCode::from_seed(candidate_seed(0, 0, k, j), config.latent_channels, h, w)
                })
                .collect()
        })
        .collect();
    // Warm-up on one image, then the measured pass.
    select_nearest_latents(
        &inference,
        &select_distance,
        &refs[..1],
        &codes[..1],
        None,
        batch,
        device,
        |_| {},
    );
    let started = Instant::now();
    select_nearest_latents(
        &inference,
        &select_distance,
        &refs,
        &codes,
        None,
        batch,
        device,
        |_| {},
    );
    let secs = started.elapsed().as_secs_f64();
    BenchReport {
        preset: preset.to_string(),
        backend: backend.to_string(),
        resolution: [h, w],
        parameters: config.num_params(),
        distance: distance_desc,
        train_step_ms,
        train_steps_measured: steps,
        selection_images_per_s: refs.len() as f64 / secs,
        selection_renders_per_s: (refs.len() * candidates) as f64 / secs,
        selection_candidates: candidates,
        selection_batch: batch,
        selection_images_measured: refs.len(),
    }
}

impl BenchReport {
    /// One Markdown table row: preset | backend | resolution | params | step ms | images/s.
    pub fn markdown_row(&self) -> String {
        format!(
            "| {} | {} | {}x{} | {} | {:.0} | {:.2} (m={}, batch {}) |",
            self.preset,
            self.backend,
            self.resolution[0],
            self.resolution[1],
            self.parameters,
            self.train_step_ms,
            self.selection_images_per_s,
            self.selection_candidates,
            self.selection_batch
        )
    }
}
