//! Measuring a model on built-in scenes (docs/METHOD.md "What the paper shows"): diversity, and how
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

use cimle::layout::Layout;
use cimle::model::{Model, RenderError};
use serde::Serialize;

use crate::cpu_vgg::{CpuDistance, CpuFeatures, sample_features};
use crate::factors::{ReadFactors, read_factors};
use crate::synth::{Categorical, generate_scene_with_noise_free};

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
    /// Nearest-sample fidelity to the photos and sharpness (built-in scenes only).
    pub fidelity: Option<Fidelity>,
    /// Fraction of layouts among whose samples day, dusk and night are all read.
    pub all_times_of_day: f64,
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

/// Renders per pass when measuring.
const RENDER_BATCH: usize = 10;

/// How close the nearest of K samples comes to each held-out photo, and how sharp the samples
/// are (issue: "IMLE's own promise that every real image has a near sample").
#[derive(Debug, Clone, Serialize)]
pub struct Fidelity {
    /// Mean over layouts of the best PSNR (dB) among the K samples against the layout's photo.
    pub best_psnr_db: f64,
    /// Mean over layouts of the smallest distance `L` among the K samples to the photo.
    pub best_distance: f64,
    /// Mean gradient magnitude of the samples over that of the photos (1 = as sharp).
    pub sharpness_ratio: f64,
    /// Mean gradient magnitude of the samples (grey levels 0..1 per pixel).
    pub sample_sharpness: f64,
    /// Mean gradient magnitude of the photos.
    pub photo_sharpness: f64,
    /// Mean gradient magnitude of the photos before their sensor noise
    /// ([`crate::synth::generate_scene_with_noise_free`]): what a model that painted each scene
    /// exactly, but not the noise, would score. `noise_free_sharpness / photo_sharpness` is the
    /// highest sharpness ratio such a model reaches.
    pub noise_free_photo_sharpness: f64,
    /// Mean over layouts of the PSNR of the photo's own [`flat_painting`] (every class in its
    /// exact mean colour, row by row, without texture): the best PSNR a sample that paints no
    /// texture can reach, however right its colours.
    pub flat_painting_psnr_db: f64,
    /// The best-PSNR sample's squared error ([`split_error`]), averaged over layouts: the part
    /// from wrong colours of whole classes, row by row (8-bit units²).
    pub best_colour_mse: f64,
    /// ... and the part from texture: detail within a class's row that differs from the photo's.
    pub best_texture_mse: f64,
    /// Mean over layouts of the best sample's PSNR were its colours exact (its texture error
    /// alone): how much of the gap to the photo is colour, how much texture.
    pub best_psnr_with_exact_colours_db: f64,
}

/// The squared error of a sample against a photo of the same layout, split by the layout's
/// (class, row) groups: `colour`, the error of the groups' mean colours, and `texture`, the error
/// of what is left within each group. Both are means over the RGB values; they add up to the MSE.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct ErrorSplit {
    pub colour_mse: f64,
    pub texture_mse: f64,
}

/// The mean colour of every (class, row) group of an RGB8 image, per pixel and channel: the
/// image painted flat, each class in its own colour row by row (the sky's gradient and the
/// haze stay, the texture goes). Of all images constant on those groups, this one is the
/// closest to `rgb` in squared error.
pub fn flat_painting(rgb: &[u8], labels: &[u8], width: usize) -> Vec<f64> {
    let mut sums: BTreeMap<(u8, usize), ([f64; 3], f64)> = BTreeMap::new();
    for (i, &label) in labels.iter().enumerate() {
        let entry = sums.entry((label, i / width.max(1))).or_default();
        for c in 0..3 {
            entry.0[c] += rgb[i * 3 + c] as f64;
        }
        entry.1 += 1.0;
    }
    let mut out = vec![0.0; labels.len() * 3];
    for (i, &label) in labels.iter().enumerate() {
        let (sum, count) = sums[&(label, i / width.max(1))];
        for c in 0..3 {
            out[i * 3 + c] = sum[c] / count;
        }
    }
    out
}

/// Splits the squared error of `sample` against `photo` (RGB8, `labels.len()` pixels of one
/// layout, rows of `width`) into [`ErrorSplit`]'s colour and texture parts.
pub fn split_error(sample: &[u8], photo: &[u8], labels: &[u8], width: usize) -> ErrorSplit {
    let (flat_s, flat_p) = (
        flat_painting(sample, labels, width),
        flat_painting(photo, labels, width),
    );
    let (mut colour, mut texture) = (0.0, 0.0);
    for i in 0..flat_s.len() {
        let dc = flat_s[i] - flat_p[i];
        let dt = (sample[i] as f64 - flat_s[i]) - (photo[i] as f64 - flat_p[i]);
        colour += dc * dc;
        texture += dt * dt;
    }
    let n = flat_s.len().max(1) as f64;
    ErrorSplit {
        colour_mse: colour / n,
        texture_mse: texture / n,
    }
}

/// PSNR (dB) of a mean squared error in 8-bit units.
fn psnr_of_mse(mse: f64) -> f64 {
    if mse == 0.0 {
        f64::INFINITY
    } else {
        10.0 * (255.0f64 * 255.0 / mse).log10()
    }
}

/// PSNR (dB) of an RGB8 image against a reference of the same size.
pub fn psnr(image: &[u8], reference: &[u8]) -> f64 {
    let mse = image
        .iter()
        .zip(reference)
        .map(|(&a, &b)| {
            let d = a as f64 - b as f64;
            d * d
        })
        .sum::<f64>()
        / image.len().max(1) as f64;
    psnr_of_mse(mse)
}

/// Mean gradient magnitude of an RGB8 image: the grey level (channel mean, 0..1) differenced
/// with its right and lower neighbours, `sqrt(gx² + gy²)` averaged over the pixels that have
/// both.
pub fn sharpness(rgb: &[u8], h: usize, w: usize) -> f64 {
    if h < 2 || w < 2 {
        return 0.0;
    }
    let grey = |y: usize, x: usize| -> f64 {
        let p = &rgb[(y * w + x) * 3..][..3];
        (p[0] as f64 + p[1] as f64 + p[2] as f64) / (3.0 * 255.0)
    };
    let mut sum = 0.0;
    for y in 0..h - 1 {
        for x in 0..w - 1 {
            let g = grey(y, x);
            let (gx, gy) = (grey(y, x + 1) - g, grey(y + 1, x) - g);
            sum += (gx * gx + gy * gy).sqrt();
        }
    }
    sum / ((h - 1) * (w - 1)) as f64
}

/// The samples of one layout and what was measured on them.
struct Measured {
    /// The RGB8 samples.
    images: Vec<Vec<u8>>,
    /// Their mean pairwise distance (0 when they are identical).
    diversity: f64,
    /// Given the layout's photo: the best PSNR of a sample against it, that sample's index, and
    /// the smallest distance.
    nearest: Option<(f64, usize, f64)>,
}

/// Renders `samples` seeds (`0..samples` through [`Model::code`]: all zero codes for a CRN
/// model) of `layout` and measures them under `distance`, against `photo` where given.
fn render_and_measure(
    model: &Model,
    distance: &CpuDistance,
    layout: &Layout,
    samples: usize,
    photo: Option<&[u8]>,
) -> Result<Measured, RenderError> {
    let [h, w] = [model.config().height, model.config().width];
    let seeds: Vec<u64> = (0..samples as u64).collect();
    let images = model.render_seeds(layout, &seeds, RENDER_BATCH)?;
    let refs: Vec<&[u8]> = images.iter().map(Vec::as_slice).collect();
    let features = distance.features_rgb8(&refs, h, w);
    let singles: Vec<CpuFeatures> = (0..samples)
        .map(|i| sample_features(&features, i))
        .collect();
    let diversity = mean_pairwise(samples, |i, j| {
        distance.distances(&singles[i], &singles[j])[0] as f64
    });
    let nearest = photo.map(|photo| {
        let target = distance.features_rgb8(&[photo], h, w);
        let d = distance.distances(&target, &features);
        let best_d = d.iter().fold(f64::INFINITY, |m, &v| m.min(v as f64));
        let (best, best_psnr) = images.iter().map(|im| psnr(im, photo)).enumerate().fold(
            (0, f64::NEG_INFINITY),
            |b, (i, p)| if p > b.1 { (i, p) } else { b },
        );
        (best_psnr, best, best_d)
    });
    Ok(Measured {
        images,
        diversity,
        nearest,
    })
}

/// Diversity alone, on given layouts (at the model's size): the mean over `layouts` of the mean
/// pairwise distance between `samples` samples of each. What `cimle compare` reports for a model
/// trained on a dataset whose appearance factors are unknown. Returns the diversity and the
/// rendered samples.
pub fn diversity_on_layouts(
    model: &Model,
    distance: &CpuDistance,
    layouts: &[Layout],
    samples: usize,
) -> Result<(f64, Vec<RenderedLayout>), RenderError> {
    let mut rendered = Vec::new();
    let mut diversity = 0.0;
    for layout in layouts {
        let measured = render_and_measure(model, distance, layout, samples, None)?;
        diversity += measured.diversity;
        rendered.push((layout.clone(), measured.images));
    }
    Ok((diversity / rendered.len().max(1) as f64, rendered))
}

/// Renders `samples` codes (seeds `0..samples`; the zero code for every sample of a CRN model)
/// for each of `layouts` held-out built-in scenes (seed `seed`), and measures diversity, factor
/// coverage and fidelity to each scene's photo. Returns the evaluation and the rendered samples
/// (RGB8 per layout) for pictures.
pub fn evaluate_on_synth(
    model: &Model,
    distance: &CpuDistance,
    layouts: usize,
    samples: usize,
    seed: u64,
) -> Result<(Evaluation, Vec<RenderedLayout>), EvaluateError> {
    let [h, w] = [model.config().height, model.config().width];
    let mut rendered = Vec::new();
    let mut diversity = 0.0;
    let mut reads: Vec<Vec<ReadFactors>> = Vec::new();
    let (mut psnr_sum, mut dist_sum) = (0.0, 0.0);
    let (mut flat_psnr, mut colour_mse, mut texture_mse, mut exact_colour_psnr) =
        (0.0, 0.0, 0.0, 0.0);
    let (mut sample_sharp, mut photo_sharp, mut clean_sharp) = (0.0, 0.0, 0.0);
    for k in 0..layouts {
        let (scene, noise_free) = generate_scene_with_noise_free(seed, k as u64, h, w);
        let layout = Layout::new(h, w, scene.labels).map_err(|e| EvaluateError::Scene {
            index: k,
            why: e.to_string(),
        })?;
        let Measured {
            images,
            diversity: d,
            nearest,
        } = render_and_measure(model, distance, &layout, samples, Some(&scene.image))?;
        if let Some((best_psnr, best, best_d)) = nearest {
            psnr_sum += best_psnr;
            dist_sum += best_d;
            let split = split_error(&images[best], &scene.image, layout.ids(), w);
            colour_mse += split.colour_mse;
            texture_mse += split.texture_mse;
            exact_colour_psnr += psnr_of_mse(split.texture_mse);
            let flat = flat_painting(&scene.image, layout.ids(), w);
            let flat_mse = flat
                .iter()
                .zip(&scene.image)
                .map(|(&f, &p)| (f - p as f64).powi(2))
                .sum::<f64>()
                / flat.len().max(1) as f64;
            flat_psnr += psnr_of_mse(flat_mse);
        }
        diversity += d;
        photo_sharp += sharpness(&scene.image, h, w);
        clean_sharp += sharpness(&noise_free, h, w);
        sample_sharp += images.iter().map(|im| sharpness(im, h, w)).sum::<f64>() / samples as f64;
        reads.push(
            images
                .iter()
                .map(|im| read_factors(im, layout.ids(), h, w))
                .collect(),
        );
        rendered.push((layout, images));
    }
    let n = rendered.len().max(1) as f64;
    let times = column(&reads, |f| f.time_of_day);
    let all_times = times
        .iter()
        .filter(|samples| {
            crate::synth::TimeOfDay::all()
                .iter()
                .all(|t| samples.iter().any(|s| s.as_ref() == Some(t)))
        })
        .count() as f64
        / n;
    let evaluation = Evaluation {
        layouts: rendered.len(),
        samples_per_layout: samples,
        distance: distance.describe().to_string(),
        diversity: diversity / n,
        all_times_of_day: all_times,
        fidelity: Some(Fidelity {
            best_psnr_db: psnr_sum / n,
            best_distance: dist_sum / n,
            sharpness_ratio: if photo_sharp > 0.0 {
                sample_sharp / photo_sharp
            } else {
                0.0
            },
            sample_sharpness: sample_sharp / n,
            photo_sharpness: photo_sharp / n,
            noise_free_photo_sharpness: clean_sharp / n,
            flat_painting_psnr_db: flat_psnr / n,
            best_colour_mse: colour_mse / n,
            best_texture_mse: texture_mse / n,
            best_psnr_with_exact_colours_db: exact_colour_psnr / n,
        }),
        factors: vec![
            coverage("time_of_day", &times),
            coverage("season", &column(&reads, |f| f.season)),
            coverage("facade", &column(&reads, |f| f.facade)),
            coverage(
                "car_paint (nearest car)",
                &column(&reads, |f| f.nearest_car_paint),
            ),
        ],
    };
    Ok((evaluation, rendered))
}

/// Why an evaluation could not be made.
#[derive(Debug, thiserror::Error)]
pub enum EvaluateError {
    #[error("held-out scene {index}: {why}")]
    Scene { index: usize, why: String },
    #[error(transparent)]
    Render(#[from] RenderError),
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
             diversity (mean pairwise distance between samples of one layout): {:.4}\n\n{}\
             | factor | mode recall | rare-level recall (levels) | TV distance | generated frequencies | unread |\n\
             |---|---|---|---|---|---|\n",
            self.layouts,
            self.samples_per_layout,
            self.distance,
            self.diversity,
            self.fidelity.as_ref().map_or(String::new(), |f| format!(
                "fidelity: best-of-{k} PSNR {:.2} dB, best-of-{k} distance {:.4}; sharpness ratio \
                 {:.2} (samples {:.4}, photos {:.4}; the photos without their sensor noise \
                 {:.4}, ratio {:.2}); layouts with day, dusk and night among their samples: \
                 {:.0} %\n\n\
                 the best sample's squared error (8-bit units): {:.1} from the colours of whole \
                 classes, row by row, and {:.1} from texture; with exact colours its PSNR would \
                 be {:.2} dB. The photos painted flat (each class in its own mean colour, row by \
                 row, no texture): {:.2} dB, the most a sample without texture can score\n\n",
                f.best_psnr_db,
                f.best_distance,
                f.sharpness_ratio,
                f.sample_sharpness,
                f.photo_sharpness,
                f.noise_free_photo_sharpness,
                f.noise_free_photo_sharpness / f.photo_sharpness.max(f64::MIN_POSITIVE),
                self.all_times_of_day * 100.0,
                f.best_colour_mse,
                f.best_texture_mse,
                f.best_psnr_with_exact_colours_db,
                f.flat_painting_psnr_db,
                k = self.samples_per_layout
            ))
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
    fn psnr_and_sharpness_of_known_images() {
        let a = vec![100u8; 4 * 4 * 3];
        let mut b = a.clone();
        assert!(psnr(&a, &b).is_infinite());
        b[0] = 110; // one value off by 10: MSE = 100 / 48
        let want = 10.0 * (255.0f64 * 255.0 / (100.0 / 48.0)).log10();
        assert!((psnr(&a, &b) - want).abs() < 1e-9);
        assert_eq!(sharpness(&a, 4, 4), 0.0);
        // Vertical stripes 0 / 255: every horizontal step is 1 grey level apart.
        let stripes: Vec<u8> = (0..4 * 4)
            .flat_map(|i| [if i % 2 == 0 { 0 } else { 255 }; 3])
            .collect();
        assert!((sharpness(&stripes, 4, 4) - 1.0).abs() < 1e-12);
    }

    #[test]
    fn error_split_separates_class_colours_from_texture() {
        // 2 rows x 4 pixels; classes 0 (left half) and 1 (right half).
        let labels = [0u8, 0, 1, 1, 0, 0, 1, 1];
        let photo: Vec<u8> = [10u8, 30, 100, 100, 50, 50, 200, 220]
            .iter()
            .flat_map(|&v| [v; 3])
            .collect();
        // Flat painting: each (class, row) group's mean.
        let flat = flat_painting(&photo, &labels, 4);
        let grey: Vec<f64> = flat.iter().step_by(3).copied().collect();
        assert_eq!(grey, [20.0, 20.0, 100.0, 100.0, 50.0, 50.0, 210.0, 210.0]);
        // A sample off by a constant on class 1 only: colour error, no texture error.
        let shifted: Vec<u8> = photo
            .chunks(3)
            .zip(labels)
            .flat_map(|(p, l)| p.iter().map(move |&v| if l == 1 { v + 20 } else { v }))
            .collect();
        let split = split_error(&shifted, &photo, &labels, 4);
        assert_eq!(split.texture_mse, 0.0);
        assert!((split.colour_mse - 400.0 / 2.0).abs() < 1e-9, "{split:?}");
        // The flat painting itself: no colour error; its texture error is the photo's.
        let flat_u8: Vec<u8> = flat.iter().map(|&v| v as u8).collect();
        let split = split_error(&flat_u8, &photo, &labels, 4);
        assert_eq!(split.colour_mse, 0.0);
        // Residuals: row 0 class 0 is ±10, row 1 class 1 is ±10; others 0.
        assert!(
            (split.texture_mse - 4.0 * 100.0 / 8.0).abs() < 1e-9,
            "{split:?}"
        );
        // The parts add up to the MSE for any pair of images.
        let other: Vec<u8> = (0..24).map(|i| (i * 37 % 251) as u8).collect();
        let split = split_error(&other, &photo, &labels, 4);
        let mse = 10f64.powf(-psnr(&other, &photo) / 10.0) * 255.0 * 255.0;
        assert!((split.colour_mse + split.texture_mse - mse).abs() < 1e-6 * mse);
    }

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
