//! Conditional IMLE training (METHOD.md "Training: conditional IMLE").
//!
//! Repeat for every round:
//! 1. pick a batch S of training pairs `(x_k, y_k)`;
//! 2. for each k draw m latent codes, render `T(x_k, z_kj)` without gradients, and keep the
//!    code `z_k*` nearest to `y_k` under the distance L ([`select_nearest_latents`]);
//! 3. train L Adam steps on the pairs `((x_k, z_k*), y_k)`, minimising `L(y_k, T(x_k, z_k*))`.
//!
//! After a configurable round the noise encoder is re-initialised and the learning rate divided
//! by 10, as the released code does.

use burn::config::Config;
use burn::optim::{AdamConfig, GradientsParams, ModuleOptimizer};
use burn::tensor::{Device, Tensor};
use cimle::config::GeneratorConfig;
use cimle::generator::{Generator, one_hot};
use cimle::latent::{LatentCode, PortableRng};
use cimle::layout::Layout;

use crate::perceptual::{Features, PerceptualDistance, rgb_to_tensor};

/// Everything that defines a training run; saved as `config.json` beside the run.
#[derive(Config, Debug)]
pub struct TrainingConfig {
    /// The generator's shape.
    pub generator: GeneratorConfig,
    /// The optimiser (Adam, as released).
    #[config(default = "AdamConfig::new()")]
    pub optimizer: AdamConfig,
    /// Number of rounds (16 released).
    #[config(default = 16)]
    pub rounds: usize,
    /// |S|: training pairs selected per round (400 released).
    #[config(default = 400)]
    pub images_per_round: usize,
    /// m: latent codes tried per image (10 released).
    #[config(default = 10)]
    pub candidates: usize,
    /// Adam steps between two selections (10,000 released).
    #[config(default = 10000)]
    pub steps_per_round: usize,
    /// Pairs per Adam step (1 released).
    #[config(default = 1)]
    pub batch_size: usize,
    /// Learning rate before the re-initialisation (1e-4 released).
    #[config(default = 1e-4)]
    pub lr: f64,
    /// After this many rounds: new noise encoder, lr / 10 (6 released). `None`: never.
    #[config(default = "Some(6)")]
    pub reinit_after_rounds: Option<usize>,
    /// Renders per forward pass during selection; 0 picks it from available memory.
    #[config(default = 0)]
    pub selection_batch: usize,
    /// Seed of everything random in the run (data order, latent codes).
    #[config(default = 0)]
    pub seed: u64,
    /// What the distance is (recorded for reports).
    #[config(default = "String::new()")]
    pub distance: String,
    /// What the data is (recorded for reports).
    #[config(default = "String::new()")]
    pub data: String,
    /// Dataset rebalancing: S split among the five largest classes, images drawn in proportion
    /// to their rarity (supplementary appendix A). Off: S is drawn uniformly.
    #[config(default = true)]
    pub dataset_rebalance: bool,
    /// Loss rebalancing: the rarity mask weighs the distance in selection and training.
    #[config(default = true)]
    pub loss_rebalance: bool,
    /// Classes present in fewer images get no KDE (68 released: "67 images or fewer").
    #[config(default = 68)]
    pub rarity_min_images: usize,
}

/// One training pair: a layout and its photo (RGB8, the layout's size).
#[derive(Debug, Clone)]
pub struct Pair {
    pub layout: Layout,
    pub image: Vec<u8>,
}

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

/// Step 2 of METHOD.md "Training": for every image `k`, render all its candidate codes
/// without gradients and keep the one whose render is nearest to `y_k` under `distance`.
///
/// Several images and codes share each forward pass (`batch` renders at most; at least one
/// image's candidates), and each ground truth's features are computed once. `generator` and
/// `distance` should live on a device without autodiff. `masks[k]` is image k's rarity mask
/// `[1, 1, H, W]` (loss rebalancing), or none.
#[allow(clippy::too_many_arguments)]
pub fn select_nearest_latents(
    generator: &Generator,
    distance: &PerceptualDistance,
    pairs: &[&Pair],
    candidates: &[Vec<LatentCode>],
    masks: Option<&[Tensor<4>]>,
    batch: usize,
    device: &Device,
    mut progress: impl FnMut(usize),
) -> Vec<Selection> {
    let num_classes = generator.num_classes();
    let m = candidates.first().map_or(0, Vec::len);
    let mut out = Vec::with_capacity(pairs.len());
    if m == 0 {
        return out;
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
            .unwrap_or_default();
        for i in 0..g {
            let row = &d[i * m..(i + 1) * m];
            let (index, &best) = row
                .iter()
                .enumerate()
                .min_by(|a, b| a.1.total_cmp(b.1))
                .unwrap_or((0, &f32::INFINITY));
            out.push(Selection {
                index,
                distance: best,
            });
        }
        progress(g);
    }
    out
}

/// Renders per forward pass during selection, from the memory one render needs and the
/// memory available (`available_bytes`), between `m` and 256.
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

/// Step 3 of METHOD.md "Training": one Adam step on a mini-batch of selected pairs,
/// minimising `L(y_k, T(x_k, z_k*))`. Returns the updated generator and the batch's mean loss.
#[allow(clippy::too_many_arguments)]
pub fn train_step(
    generator: Generator,
    optimizer: &mut ModuleOptimizer,
    distance: &PerceptualDistance,
    pairs: &[&Pair],
    codes: &[&LatentCode],
    masks: Option<Tensor<4>>,
    lr: f64,
    device: &Device,
) -> (Generator, f32) {
    let layouts: Vec<&Layout> = pairs.iter().map(|p| &p.layout).collect();
    let (h, w) = (layouts[0].height(), layouts[0].width());
    let x = one_hot(&layouts, generator.num_classes(), device);
    let owned: Vec<LatentCode> = codes.iter().map(|c| (*c).clone()).collect();
    let z = LatentCode::batch_tensor(&owned, device).expect("selected codes share one shape");
    let targets = Tensor::cat(
        pairs
            .iter()
            .map(|p| rgb_to_tensor(&p.image, h, w, device))
            .collect(),
        0,
    );
    let real = distance.features(targets).detach();
    let fake = distance.features(generator.forward(x, z));
    let loss = distance.distance(&real, &fake, masks).mean();
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

/// The generator's learning rate in round `round` (0-based): lr, then lr / 10 after the
/// re-initialisation round.
pub fn round_lr(config: &TrainingConfig, round: usize) -> f64 {
    match config.reinit_after_rounds {
        Some(r) if round >= r => config.lr / 10.0,
        _ => config.lr,
    }
}

/// The optimiser of a run.
pub fn init_optimizer(config: &TrainingConfig) -> ModuleOptimizer {
    config.optimizer.init()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::perceptual::{LayerWeights, Vgg19Config, Vgg19Features};
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
            let sel =
                select_nearest_latents(&g, &dist, &refs, &candidates, None, batch, &device, |_| {});
            let picked: Vec<usize> = sel.iter().map(|s| s.index).collect();
            assert_eq!(picked, winners, "batch {batch}: {sel:?}");
        }
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
    fn lr_drops_tenfold_after_the_reinit_round() {
        let cfg = TrainingConfig::new(Preset::Tiny.config()).with_reinit_after_rounds(Some(2));
        assert_eq!(round_lr(&cfg, 1), 1e-4);
        assert!((round_lr(&cfg, 2) - 1e-5).abs() < 1e-12);
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
