//! Conditional IMLE training (docs/METHOD.md "Training: conditional IMLE").
//!
//! Repeat for every round:
//! 1. pick a batch S of training pairs `(x_k, y_k)`;
//! 2. for each k draw m latent codes, render `T(x_k, z_kj)` without gradients, and keep the
//!    code `z_k*` nearest to `y_k` under the distance L ([`select_nearest_latents`]);
//! 3. train L Adam steps on the pairs `((x_k, z_k*), y_k)`, minimising `L(y_k, T(x_k, z_k*))`.
//!
//! After a configurable round the noise encoder is re-initialised and the learning rate divided
//! by 10, as the released code does.
//!
//! The same loop also trains the regression baseline the paper compares against ([`crate::method::Method::Crn`],
//! docs/METHOD.md "The problem" and "What the paper shows"): the same generator given the zero code,
//! step 2 skipped, step 3 minimising `L(y_k, T(x_k, 0))` ([`crate::selection::round_codes`]).

use burn::optim::{GradientsParams, ModuleOptimizer};
use burn::tensor::{Device, Tensor};
use cimle::config::GeneratorConfig;
use cimle::generator::{Generator, one_hot};
use cimle::latent::{LatentCode, PortableRng};
use cimle::layout::Layout;

use crate::config::TrainingConfig;
use crate::data::Pair;
use crate::perceptual::{Features, PerceptualDistance, rgb_to_tensor};

/// The seed of candidate `j` for image `k` in round `round`: every code of a run is
/// reproducible from the run's seed alone.
pub fn candidate_seed(run_seed: u64, round: usize, image: usize, candidate: usize) -> u64 {
    let mut state = run_seed ^ 0xC1AE_5EED;
    for v in [round as u64, image as u64, candidate as u64] {
        state = state.wrapping_mul(0x9E37_79B9_7F4A_7C15).rotate_left(29) ^ v;
        state = PortableRng::new(state).next_u64();
    }
    state
}

/// The outcome of selection for one image: which candidate won, at what distance.
#[derive(Debug, Clone, PartialEq)]
pub struct Selection {
    /// Index of the nearest candidate.
    pub index: usize,
    /// Its distance L to the ground truth.
    pub distance: f32,
}

/// Repeats every sample of a batch `m` times in place: `[a, b] -> [a, a, b, b]` for `m = 2`.
fn interleave(t: Tensor<4>, m: usize) -> Tensor<4> {
    let [n, c, h, w] = t.dims();
    t.unsqueeze_dim::<5>(1)
        .expand([n, m, c, h, w])
        .reshape([n * m, c, h, w])
}

/// What selection scores candidates with: a generator and the distance its renders are measured by, on
/// one device (without autodiff).
#[derive(Clone, Copy)]
pub struct Scorer<'a> {
    pub generator: &'a Generator,
    pub distance: &'a PerceptualDistance,
    pub device: &'a Device,
}

/// The candidates of a selection: the pairs, the candidate codes of each (every pair has the
/// same number), and each pair's rarity mask `[1, 1, H, W]` (loss rebalancing) or none.
#[derive(Clone, Copy)]
pub struct Candidates<'a> {
    pub pairs: &'a [&'a Pair],
    pub codes: &'a [Vec<LatentCode>],
    pub masks: Option<&'a [Tensor<4>]>,
}

/// Step 2 of docs/METHOD.md "Training": for every image `k`, render all its candidate codes
/// without gradients and keep the one whose render is nearest to `y_k` under the distance
/// (the argmin of [`candidate_distances`]).
pub fn select_nearest_latents(
    with: Scorer,
    candidates: Candidates,
    batch: usize,
    progress: impl FnMut(usize),
) -> Vec<Selection> {
    candidate_distances(with, candidates, batch, progress)
        .iter()
        .map(|row| nearest(row))
        .collect()
}

/// The nearest entry of a row of candidate distances.
pub fn nearest(row: &[f32]) -> Selection {
    let (index, &distance) = row
        .iter()
        .enumerate()
        .min_by(|a, b| a.1.total_cmp(b.1))
        .unwrap_or((0, &f32::INFINITY));
    Selection { index, distance }
}

/// The distance `L` from every candidate code's render of image `k` to its photo `y_k`:
/// one row per image, one entry per candidate.
///
/// Several images and codes share each forward pass (`batch` renders at most; at least one
/// image's candidates), and each photo's features are computed once.
pub fn candidate_distances(
    with: Scorer,
    candidates: Candidates,
    batch: usize,
    mut progress: impl FnMut(usize),
) -> Vec<Vec<f32>> {
    let Scorer {
        generator,
        distance,
        device,
    } = with;
    let Candidates {
        pairs,
        codes: candidates,
        masks,
    } = candidates;
    let num_classes = generator.num_classes();
    let m = candidates.first().map_or(0, Vec::len);
    let mut out = Vec::with_capacity(pairs.len());
    if m == 0 {
        return vec![Vec::new(); pairs.len()];
    }
    let images_per_pass = (batch / m).max(1);
    for start in (0..pairs.len()).step_by(images_per_pass) {
        let end = (start + images_per_pass).min(pairs.len());
        let group = &pairs[start..end];
        let g = group.len();
        let layouts: Vec<&Layout> = group.iter().map(|p| &p.layout).collect();
        let (h, w) = (layouts[0].height(), layouts[0].width());
        let targets = Tensor::cat(
            group
                .iter()
                .map(|p| rgb_to_tensor(&p.image, h, w, device))
                .collect(),
            0,
        );
        // Ground-truth features: once per image, then repeated for its m candidates.
        let real = distance.features(targets);
        let real = Features {
            maps: real.maps.map(|t| interleave(t, m)),
        };
        let x = interleave(one_hot(&layouts, num_classes, device), m);
        let codes: Vec<LatentCode> = candidates[start..end].iter().flatten().cloned().collect();
        let z = LatentCode::batch_tensor(&codes, device).expect("candidate codes share one shape");
        let mask = masks.map(|all| interleave(Tensor::cat(all[start..end].to_vec(), 0), m));
        let fake = distance.features(generator.forward(x, z));
        let d = distance
            .distance(&real, &fake, mask)
            .into_data()
            .try_to_vec::<f32>()
            .unwrap_or_else(|_| vec![f32::NAN; g * m]);
        out.extend(d.chunks(m).map(<[f32]>::to_vec));
        progress(g);
    }
    out
}

/// Renders per selection pass on the CPU kernels when `--selection-batch` is 0 (at least m):
/// one image's candidates at a time keeps the VGG's maps in cache. On the 64x128 preset with the
/// full-width VGG, 10 renders a pass select 2.47 images/s against 1.95 at 80 (`cimle bench
/// --case selection` on a fixture with its `selection_batch` edited, 2 threads, 2026-12-02).
pub const CPU_SELECTION_BATCH: usize = 10;

/// The automatic selection batch on the CPU kernels for `m` codes an image: at least one image.
pub fn cpu_selection_batch(m: usize) -> usize {
    CPU_SELECTION_BATCH.max(m)
}

/// Renders per forward pass during selection on burn's backends (GPU), from the memory one
/// render needs and the memory available (`available_bytes`), between `m` and 256.
pub fn auto_selection_batch(config: &GeneratorConfig, m: usize, available_bytes: u64) -> usize {
    let px = (config.height * config.width) as u64;
    // Generator activations (about three live copies of the largest) plus VGG-19 maps
    // (conv1 64ch at full size, conv2 128 at 1/4, ... ≈ 300 floats per pixel).
    let per_render = 3 * config.largest_activation_bytes() as u64 + px * 300 * 4;
    let budget = available_bytes / 4;
    ((budget / per_render.max(1)) as usize).clamp(m.max(1), 256)
}

/// Bytes of memory available to this process (Linux `MemAvailable`), or 2 GiB if unknown.
pub fn available_memory() -> u64 {
    std::fs::read_to_string("/proc/meminfo")
        .ok()
        .and_then(|s| {
            s.lines()
                .find(|l| l.starts_with("MemAvailable:"))
                .and_then(|l| l.split_whitespace().nth(1))
                .and_then(|kb| kb.parse::<u64>().ok())
        })
        .map_or(2 << 30, |kb| kb * 1024)
}

/// One mini-batch of step 3: the selected pairs, their codes, the features of their photos
/// (computed once per round: they do not change) and their rarity masks `[B, 1, H, W]`.
pub struct TrainBatch<'a> {
    pub pairs: &'a [&'a Pair],
    pub codes: &'a [&'a LatentCode],
    pub photos: &'a Features,
    pub masks: Option<Tensor<4>>,
}

/// Step 3 of docs/METHOD.md "Training": one Adam step on a mini-batch of selected pairs,
/// minimising `L(y_k, T(x_k, z_k*))`. Returns the updated generator and the batch's mean loss.
pub fn train_step(
    generator: Generator,
    optimizer: &mut ModuleOptimizer,
    distance: &PerceptualDistance,
    batch: TrainBatch,
    lr: f64,
    device: &Device,
) -> (Generator, f32) {
    let TrainBatch {
        pairs,
        codes,
        photos,
        masks,
    } = batch;
    let layouts: Vec<&Layout> = pairs.iter().map(|p| &p.layout).collect();
    let x = one_hot(&layouts, generator.num_classes(), device);
    let owned: Vec<LatentCode> = codes.iter().map(|c| (*c).clone()).collect();
    let z = LatentCode::batch_tensor(&owned, device).expect("selected codes share one shape");
    let fake = distance.features(generator.forward(x, z));
    let loss = distance.distance(photos, &fake, masks).mean();
    let value = loss
        .clone()
        .into_data()
        .try_to_vec::<f32>()
        .ok()
        .and_then(|v| v.first().copied())
        .unwrap_or(f32::NAN);
    let grads = GradientsParams::from_grads(loss.backward(), &generator);
    (optimizer.step(lr, generator, grads), value)
}

/// The features of each pair's photo (batch 1 each), computed without gradients.
pub fn photo_features(
    distance: &PerceptualDistance,
    pairs: &[&Pair],
    device: &Device,
) -> Vec<Features> {
    pairs
        .iter()
        .map(|p| {
            let (h, w) = (p.layout.height(), p.layout.width());
            distance
                .features(rgb_to_tensor(&p.image, h, w, device))
                .detach()
        })
        .collect()
}

/// Per-pair features joined into one batch.
pub fn concat_features(parts: &[&Features]) -> Features {
    Features {
        maps: std::array::from_fn(|i| {
            Tensor::cat(parts.iter().map(|f| f.maps[i].clone()).collect(), 0)
        }),
    }
}

/// Picks `count` distinct indices of `0..n` (all of them, shuffled, if `count >= n`).
pub fn choose_indices(rng: &mut PortableRng, n: usize, count: usize) -> Vec<usize> {
    let mut idx: Vec<usize> = (0..n).collect();
    let take = count.min(n);
    for i in 0..take {
        let j = i + rng.below((n - i) as u64) as usize;
        idx.swap(i, j);
    }
    idx.truncate(take);
    idx
}

/// The optimiser of a run.
pub fn init_optimizer(config: &TrainingConfig) -> ModuleOptimizer {
    config.optimizer.init()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::method::Method;
    use crate::perceptual::LayerWeights;
    use crate::vgg::{Vgg19Config, Vgg19Features};
    use burn::module::Module;
    use cimle::config::Preset;
    use cimle::generator::images_to_rgb8;

    fn tiny_distance(device: &Device) -> PerceptualDistance {
        let vgg = Vgg19Features::random(1, &Vgg19Config { width_div: 16 }, device).unwrap();
        PerceptualDistance::new(vgg, LayerWeights::paper())
    }

    /// A constructed case: the ground truth IS the render of one candidate, so that candidate is
    /// at distance 0 and must be chosen, for every image, whatever the batching.
    #[test]
    fn selection_picks_the_known_nearest_code() {
        let device = Device::flex();
        let cfg = Preset::Tiny.config();
        let g = cfg.init(&device);
        let dist = tiny_distance(&device);
        let layouts = [
            Layout::filled(cfg.height, cfg.width, 0),
            Layout::filled(cfg.height, cfg.width, 13),
            Layout::filled(cfg.height, cfg.width, 10),
        ];
        let m = 5;
        let winners = [3usize, 0, 4];
        let mut pairs = Vec::new();
        let mut candidates = Vec::new();
        for (k, layout) in layouts.iter().enumerate() {
            let codes: Vec<LatentCode> = (0..m)
                .map(|j| {
                    LatentCode::from_seed(
                        candidate_seed(9, 0, k, j),
                        cfg.latent_channels,
                        cfg.height,
                        cfg.width,
                    )
                })
                .collect();
            let x = one_hot(&[layout], cfg.num_classes(), &device);
            let y = g.forward(x, codes[winners[k]].to_tensor(&device));
            let data = y.into_data().try_to_vec::<f32>().unwrap();
            let image = images_to_rgb8(&data, 1, cfg.height, cfg.width).remove(0);
            pairs.push(Pair {
                layout: layout.clone(),
                image,
            });
            candidates.push(codes);
        }
        let refs: Vec<&Pair> = pairs.iter().collect();
        for batch in [1, 5, 7, 15, 100] {
            let sel = select_nearest_latents(
                Scorer {
                    generator: &g,
                    distance: &dist,
                    device: &device,
                },
                Candidates {
                    pairs: &refs,
                    codes: &candidates,
                    masks: None,
                },
                batch,
                |_| {},
            );
            let picked: Vec<usize> = sel.iter().map(|s| s.index).collect();
            assert_eq!(picked, winners, "batch {batch}: {sel:?}");
        }
    }

    fn synth_pair(cfg: &GeneratorConfig, index: u64) -> Pair {
        let s = crate::synth::generate_scene(3, index, cfg.height, cfg.width);
        Pair {
            layout: Layout::new(cfg.height, cfg.width, s.labels).unwrap(),
            image: s.image,
        }
    }

    /// A CRN step is plain regression: its loss is the distance from `T(x, 0)` to `y` (what the
    /// generator renders with the zero code before the step), not the distance of a random
    /// code's render.
    #[test]
    fn a_crn_train_step_loss_is_the_distance_of_the_zero_code_render() {
        let device = Device::flex();
        let ad = device.clone().autodiff();
        let cfg = Preset::Tiny.config();
        let pair = synth_pair(&cfg, 5);
        let (h, w) = (cfg.height, cfg.width);
        let config = TrainingConfig::new(cfg.clone()).with_method(Method::Crn);
        let generator = cfg.init_seeded(&ad, 4);
        let vgg = Vgg19Features::random(1, &Vgg19Config { width_div: 16 }, &device).unwrap();
        let train_distance = PerceptualDistance::new(vgg.clone().fork(&ad), LayerWeights::paper());
        let d = PerceptualDistance::new(vgg, LayerWeights::paper());
        let mut state = crate::selection::MethodState::default();
        let codes = crate::selection::round_codes(&config, &mut state, &[0], 0, |_, _| {
            unreachable!("CRN selects nothing")
        })
        .codes;
        // The distance of a render to the photo, without gradients.
        let distance_of = |code: &LatentCode| -> f32 {
            let inference = generator.valid();
            let x = one_hot(&[&pair.layout], cfg.num_classes(), &device);
            let fake = d.features(inference.forward(x, code.to_tensor(&device)));
            let real = d.features(rgb_to_tensor(&pair.image, h, w, &device));
            d.distance(&real, &fake, None)
                .into_data()
                .try_to_vec::<f32>()
                .unwrap()[0]
        };
        let zero = distance_of(&Method::zero_code(cfg.latent_channels, h, w));
        let random = distance_of(&LatentCode::from_seed(1, cfg.latent_channels, h, w));
        let mut optimizer = init_optimizer(&config);
        let photos = photo_features(&train_distance, &[&pair], &ad);
        let (_, loss) = train_step(
            generator.clone(),
            &mut optimizer,
            &train_distance,
            TrainBatch {
                pairs: &[&pair],
                codes: &[&codes[0]],
                photos: &photos[0],
                masks: None,
            },
            1e-3,
            &ad,
        );
        assert!(
            (loss - zero).abs() <= 1e-4 * zero.abs().max(1.0),
            "{loss} vs {zero}"
        );
        assert!(
            (loss - random).abs() > 1e-3 * zero.abs().max(1.0),
            "{loss} vs {random}"
        );
    }

    #[test]
    fn candidate_seeds_are_distinct_and_reproducible() {
        let mut seen = std::collections::HashSet::new();
        for r in 0..4 {
            for k in 0..10 {
                for j in 0..10 {
                    assert!(seen.insert(candidate_seed(1, r, k, j)));
                }
            }
        }
        assert_eq!(candidate_seed(1, 2, 3, 4), candidate_seed(1, 2, 3, 4));
        assert_ne!(candidate_seed(1, 2, 3, 4), candidate_seed(2, 2, 3, 4));
    }

    #[test]
    fn choose_indices_is_a_distinct_subset() {
        let mut rng = PortableRng::new(5);
        let idx = choose_indices(&mut rng, 10, 4);
        assert_eq!(idx.len(), 4);
        let set: std::collections::HashSet<_> = idx.iter().collect();
        assert_eq!(set.len(), 4);
        assert!(idx.iter().all(|&i| i < 10));
        let mut all = choose_indices(&mut rng, 5, 9);
        all.sort();
        assert_eq!(all, vec![0, 1, 2, 3, 4]);
    }

    #[test]
    fn auto_batch_grows_with_memory_and_stays_in_bounds() {
        let cfg = Preset::Small.config();
        let small = auto_selection_batch(&cfg, 10, 1 << 28);
        let large = auto_selection_batch(&cfg, 10, 1 << 34);
        assert!(
            small >= 10 && large <= 256 && large > small,
            "{small} {large}"
        );
    }
}
