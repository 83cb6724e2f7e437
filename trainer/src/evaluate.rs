//! Measuring a model on built-in scenes (METHOD.md "What the paper shows"): diversity, and how
//! well the generated appearance factors cover the true, skewed factor distributions.
//!
//! - Diversity: the mean pairwise perceptual distance between K samples of one layout, averaged
//!   over held-out layouts (the paper's protocol with LPIPS; no LPIPS weights can be had here, so
//!   the report names the distance it used).
//! - Factor coverage: each sample's factors are read back from its pixels
//!   ([`crate::factors::read_factors`]); per factor, the mode recall (the fraction of a factor's
//!   levels seen among a layout's K samples, averaged over layouts; rare levels also on their own)
//!   and the total-variation distance between the generated and the true level frequencies.

use std::collections::BTreeMap;

use burn::tensor::{Device, Tensor};
use cimle::generator::{Generator, images_to_rgb8, one_hot};
use cimle::latent::LatentCode;
use cimle::layout::Layout;
use serde::Serialize;

use crate::factors::{ReadFactors, read_factors};
use crate::imle::Method;
use crate::perceptual::{PerceptualDistance, rgb_to_tensor};
use crate::synth::{Categorical, generate_scene};

/// A level is "rare" when its true probability is at most this.
pub const RARE_PROBABILITY: f64 = 0.10;

/// Coverage of one appearance factor.
#[derive(Debug, Clone, Serialize)]
pub struct FactorCoverage {
    pub factor: String,
    /// Mean over layouts of (levels seen among the K samples) / (number of levels).
    pub mode_recall: f64,
    /// Mean over layouts of (rare levels seen) / (rare levels); `None` without rare levels.
    pub rare_recall: Option<f64>,
    /// Rare levels (true probability at most [`RARE_PROBABILITY`]).
    pub rare_levels: Vec<String>,
    /// ½ Σ |generated frequency − true probability| over levels.
    pub tv_distance: f64,
    /// Generated frequency of each level (over the samples where the reader gave a level).
    pub generated: BTreeMap<String, f64>,
    /// True probability of each level (docs/SYNTH.md).
    pub truth: BTreeMap<String, f64>,
    /// Samples where the factor could not be read.
    pub unread: usize,
}

/// The evaluation of one model.
#[derive(Debug, Clone, Serialize)]
pub struct Evaluation {
    pub layouts: usize,
    pub samples_per_layout: usize,
    pub distance: String,
    /// Mean pairwise distance between samples of one layout, averaged over layouts.
    pub diversity: f64,
    pub factors: Vec<FactorCoverage>,
}

/// Total-variation distance between two distributions over the same levels.
pub fn tv_distance(p: &BTreeMap<String, f64>, q: &BTreeMap<String, f64>) -> f64 {
    let keys: std::collections::BTreeSet<&String> = p.keys().chain(q.keys()).collect();
    0.5 * keys
        .into_iter()
        .map(|k| (p.get(k).copied().unwrap_or(0.0) - q.get(k).copied().unwrap_or(0.0)).abs())
        .sum::<f64>()
}

/// Mean of the pairwise distances `d(i, j)`, `i < j`, of `n` items (0 for fewer than 2).
pub fn mean_pairwise(n: usize, mut d: impl FnMut(usize, usize) -> f64) -> f64 {
    let mut sum = 0.0;
    let mut count = 0usize;
    for i in 0..n {
        for j in i + 1..n {
            sum += d(i, j);
            count += 1;
        }
    }
    if count == 0 { 0.0 } else { sum / count as f64 }
}

/// One factor's readings, per layout and sample.
fn column<T>(
    reads: &[Vec<ReadFactors>],
    factor: impl Fn(&ReadFactors) -> Option<T>,
) -> Vec<Vec<Option<T>>> {
    reads
        .iter()
        .map(|r| r.iter().map(&factor).collect())
        .collect()
}

/// Coverage of one factor from the levels read per layout (`None` = unread).
fn coverage<T: Categorical + PartialEq>(
    factor: &str,
    per_layout: &[Vec<Option<T>>],
) -> FactorCoverage {
    let levels = T::all();
    let truth: BTreeMap<String, f64> = levels
        .iter()
        .map(|&l| (l.name().to_string(), l.probability()))
        .collect();
    let rare: Vec<T> = levels
        .iter()
        .copied()
        .filter(|l| l.probability() <= RARE_PROBABILITY)
        .collect();
    let mut counts: BTreeMap<String, f64> =
        levels.iter().map(|l| (l.name().to_string(), 0.0)).collect();
    let (mut read, mut unread) = (0usize, 0usize);
    let (mut recall, mut rare_recall) = (0.0, 0.0);
    for samples in per_layout {
        let seen = |l: &T| samples.iter().any(|s| s.as_ref() == Some(l));
        recall += levels.iter().filter(|l| seen(l)).count() as f64 / levels.len() as f64;
        if !rare.is_empty() {
            rare_recall += rare.iter().filter(|l| seen(l)).count() as f64 / rare.len() as f64;
        }
        for s in samples {
            match s {
                Some(l) => {
                    *counts.entry(l.name().to_string()).or_default() += 1.0;
                    read += 1;
                }
                None => unread += 1,
            }
        }
    }
    let n = per_layout.len().max(1) as f64;
    let generated: BTreeMap<String, f64> = counts
        .into_iter()
        .map(|(k, c)| (k, if read == 0 { 0.0 } else { c / read as f64 }))
        .collect();
    FactorCoverage {
        factor: factor.to_string(),
        mode_recall: recall / n,
        rare_recall: (!rare.is_empty()).then_some(rare_recall / n),
        rare_levels: rare.iter().map(|l| l.name().to_string()).collect(),
        tv_distance: tv_distance(&generated, &truth),
        generated,
        truth,
        unread,
    }
}

/// A held-out layout and the RGB8 samples rendered for it.
pub type RenderedLayout = (Layout, Vec<Vec<u8>>);

/// Renders `samples` codes of `layout` (seeds `0..samples` through
/// [`Method::sampling_code`]: all zero codes for a CRN model) and returns the RGB8 samples and
/// their mean pairwise distance under `distance` (0 when they are identical).
fn render_and_measure(
    generator: &Generator,
    method: Method,
    latent_channels: usize,
    distance: &PerceptualDistance,
    layout: &Layout,
    samples: usize,
    device: &Device,
) -> Option<(Vec<Vec<u8>>, f64)> {
    let [h, w] = generator.resolution();
    let codes: Vec<LatentCode> = (0..samples as u64)
        .map(|s| method.sampling_code(s, latent_channels, h, w))
        .collect();
    let x = one_hot(&vec![layout; samples], generator.num_classes(), device);
    let z = LatentCode::batch_tensor(&codes, device).ok()?;
    let data = generator
        .forward(x, z)
        .into_data()
        .try_to_vec::<f32>()
        .unwrap_or_default();
    let images = images_to_rgb8(&data, samples, h, w);
    // Features once per sample, then every pair.
    let batch = Tensor::cat(
        images
            .iter()
            .map(|im| rgb_to_tensor(im, h, w, device))
            .collect(),
        0,
    );
    let features = distance.features(batch);
    let row = |i: usize| crate::perceptual::Features {
        maps: features.maps.clone().map(|m| m.narrow(0, i, 1)),
    };
    let singles: Vec<_> = (0..samples).map(row).collect();
    let diversity = mean_pairwise(samples, |i, j| {
        distance
            .distance(&singles[i], &singles[j], None)
            .into_data()
            .try_to_vec::<f32>()
            .ok()
            .and_then(|v| v.first().copied())
            .unwrap_or(f32::NAN) as f64
    });
    Some((images, diversity))
}

/// Diversity alone, on given layouts (at the model's size): the mean over `layouts` of the mean
/// pairwise distance between `samples` samples of each. What `cimle compare` reports for a model
/// trained on a dataset whose appearance factors are unknown. Returns the diversity and the
/// rendered samples.
pub fn diversity_on_layouts(
    generator: &Generator,
    method: Method,
    latent_channels: usize,
    distance: &PerceptualDistance,
    layouts: &[Layout],
    samples: usize,
    device: &Device,
) -> (f64, Vec<RenderedLayout>) {
    let mut rendered = Vec::new();
    let mut diversity = 0.0;
    for layout in layouts {
        if let Some((images, d)) = render_and_measure(
            generator,
            method,
            latent_channels,
            distance,
            layout,
            samples,
            device,
        ) {
            diversity += d;
            rendered.push((layout.clone(), images));
        }
    }
    (diversity / rendered.len().max(1) as f64, rendered)
}

/// Renders `samples` codes (seeds `0..samples`; the zero code for every sample of a
/// [`Method::Crn`] model) for each of `layouts` held-out built-in scenes (seed `seed`), and
/// measures diversity and factor coverage. Returns the evaluation and the rendered samples
/// (RGB8 per layout) for pictures.
#[allow(clippy::too_many_arguments)]
pub fn evaluate_on_synth(
    generator: &Generator,
    method: Method,
    latent_channels: usize,
    distance: &PerceptualDistance,
    layouts: usize,
    samples: usize,
    seed: u64,
    device: &Device,
) -> (Evaluation, Vec<RenderedLayout>) {
    let [h, w] = generator.resolution();
    let mut rendered = Vec::new();
    let mut diversity = 0.0;
    let mut reads: Vec<Vec<ReadFactors>> = Vec::new();
    for k in 0..layouts {
        let scene = generate_scene(seed, k as u64, h, w);
        let Ok(layout) = Layout::new(h, w, scene.labels) else {
            continue;
        };
        let Some((images, d)) = render_and_measure(
            generator,
            method,
            latent_channels,
            distance,
            &layout,
            samples,
            device,
        ) else {
            continue;
        };
        diversity += d;
        reads.push(
            images
                .iter()
                .map(|im| read_factors(im, layout.ids(), h, w))
                .collect(),
        );
        rendered.push((layout, images));
    }
    let evaluation = Evaluation {
        layouts: rendered.len(),
        samples_per_layout: samples,
        distance: distance.describe().to_string(),
        diversity: diversity / rendered.len().max(1) as f64,
        factors: vec![
            coverage("time_of_day", &column(&reads, |f| f.time_of_day)),
            coverage("season", &column(&reads, |f| f.season)),
            coverage("facade", &column(&reads, |f| f.facade)),
            coverage(
                "car_paint (nearest car)",
                &column(&reads, |f| f.nearest_car_paint),
            ),
        ],
    };
    (evaluation, rendered)
}

impl Evaluation {
    /// Mean rare-level recall over the factors that have rare levels (`None` if none has).
    pub fn rare_recall(&self) -> Option<f64> {
        let rare: Vec<f64> = self.factors.iter().filter_map(|f| f.rare_recall).collect();
        (!rare.is_empty()).then(|| rare.iter().sum::<f64>() / rare.len() as f64)
    }

    /// Mean total-variation distance over the factors.
    pub fn mean_tv(&self) -> f64 {
        self.factors.iter().map(|f| f.tv_distance).sum::<f64>() / self.factors.len().max(1) as f64
    }

    /// The report as Markdown.
    pub fn markdown(&self) -> String {
        let mut out = format!(
            "{} held-out built-in layouts x {} samples; distance: {}\n\n\
             diversity (mean pairwise distance between samples of one layout): {:.4}\n\n\
             | factor | mode recall | rare-level recall (levels) | TV distance | generated frequencies | unread |\n\
             |---|---|---|---|---|---|\n",
            self.layouts, self.samples_per_layout, self.distance, self.diversity
        );
        for f in &self.factors {
            let generated: Vec<String> = f
                .generated
                .iter()
                .map(|(k, v)| {
                    format!(
                        "{k} {:.2} (true {:.2})",
                        v,
                        f.truth.get(k).copied().unwrap_or(0.0)
                    )
                })
                .collect();
            out.push_str(&format!(
                "| {} | {:.2} | {} | {:.3} | {} | {} |\n",
                f.factor,
                f.mode_recall,
                f.rare_recall
                    .map(|r| format!("{r:.2} ({})", f.rare_levels.join(", ")))
                    .unwrap_or_else(|| "-".into()),
                f.tv_distance,
                generated.join(", "),
                f.unread
            ));
        }
        out
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tv_distance_of_known_distributions() {
        let p: BTreeMap<String, f64> = [("a".into(), 0.5), ("b".into(), 0.5)].into();
        let q: BTreeMap<String, f64> = [("a".into(), 0.9), ("c".into(), 0.1)].into();
        assert!((tv_distance(&p, &q) - 0.5).abs() < 1e-12);
        assert_eq!(tv_distance(&p, &p), 0.0);
    }

    #[test]
    fn mean_pairwise_averages_every_pair_once() {
        let x = [0.0f64, 1.0, 3.0];
        let m = mean_pairwise(3, |i, j| (x[i] - x[j]).abs());
        assert!((m - (1.0 + 3.0 + 2.0) / 3.0).abs() < 1e-12);
        assert_eq!(mean_pairwise(1, |_, _| 9.0), 0.0);
    }

    #[test]
    fn coverage_counts_recall_rare_levels_and_frequencies() {
        use crate::synth::TimeOfDay::*;
        // Two layouts: one sees day and night, the other only day (one unread sample).
        let reads = vec![vec![Some(Day), Some(Night)], vec![Some(Day), None]];
        let c = coverage("time_of_day", &reads);
        assert!((c.mode_recall - (2.0 / 3.0 + 1.0 / 3.0) / 2.0).abs() < 1e-12);
        assert_eq!(c.rare_levels, vec!["night".to_string()]);
        assert!((c.rare_recall.unwrap() - 0.5).abs() < 1e-12);
        assert!((c.generated["day"] - 2.0 / 3.0).abs() < 1e-12);
        assert_eq!(c.unread, 1);
        // generated day 2/3, night 1/3, dusk 0 vs true 0.6 / 0.1 / 0.3
        let expect = 0.5 * ((2.0 / 3.0 - 0.6f64).abs() + (1.0 / 3.0 - 0.1f64).abs() + 0.3);
        assert!((c.tv_distance - expect).abs() < 1e-12, "{}", c.tv_distance);
    }
}
