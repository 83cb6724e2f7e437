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
//! The same loop also trains the regression baseline the paper compares against ([`Method::Crn`],
//! docs/METHOD.md "The problem" and "What the paper shows"): the same generator given the zero code,
//! step 2 skipped, step 3 minimising `L(y_k, T(x_k, 0))` ([`round_codes`]).

use std::collections::BTreeMap;
use std::fmt;
use std::str::FromStr;

use burn::config::Config;
use burn::optim::{AdamConfig, GradientsParams, ModuleOptimizer};
use burn::tensor::{Device, Tensor};
use cimle::config::GeneratorConfig;
use cimle::generator::{Generator, one_hot};
use cimle::latent::{LatentCode, PortableRng};
use cimle::layout::Layout;
use cimle::model::Sampling;

use crate::perceptual::{Features, PerceptualDistance, rgb_to_tensor};

/// How a generator is trained, and so how it is sampled.
///
/// - [`Method::Cimle`]: conditional IMLE (docs/METHOD.md "Training: conditional IMLE"): every image's
///   training code is the nearest of m random codes; samples use one Gaussian code per seed.
/// - [`Method::Crn`]: the regression baseline (CRN, docs/METHOD.md "The problem"): the same generator
///   with its latent input all zeros, so the noise encoder sees zeros; each step minimises
///   `L(y_k, T(x_k, 0))` directly (with the rarity mask when loss rebalancing is on), with no
///   nearest-code selection. Such a model is sampled with the zero code whatever the seed
///   ([`Method::sampling_code`]): it has one output per layout.
/// - [`Method::RsImle`]: rejection-sampling IMLE (Vashist, Peng & Li, ECCV 2024): candidates
///   closer than ε to the photo are rejected before the nearest is taken
///   ([`crate::selection`]).
/// - [`Method::AdaptiveImle`]: Adaptive IMLE (Aghabozorgi, Peng & Li, ICML 2023): each image
///   keeps its code until its distance falls below its own threshold, which then tightens
///   ([`crate::selection`]).
///
/// A run records its method in `config.json` ([`TrainingConfig::method`]) and in its weights
/// file's metadata under [`METHOD_METADATA_KEY`] (the weights format's free-form provenance
/// entries, which `cimle export` keeps), so every command that renders from a weights file
/// (`sample`, `interpolate`, `animate`, `evaluate`, `compare`) picks the right codes by itself
/// ([`Method::of_weights`]).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default)]
pub enum Method {
    /// Conditional IMLE (the default).
    #[default]
    Cimle,
    /// Regression with the zero code (the CRN baseline).
    Crn,
    /// Rejection-sampling IMLE.
    RsImle,
    /// Adaptive IMLE.
    AdaptiveImle,
}

/// The weights-file metadata key that names the [`Method`] a model was trained by (`cimle` or
/// `crn`). Files without it (every file written before the CRN baseline existed) are cIMLE.
pub use cimle::model::METHOD_METADATA_KEY;

/// A method name that is none of [`Method::ALL`].
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error(
    "unknown training method {0:?}: choose cimle (conditional IMLE), crn (regression with the zero code), rs-imle (rejection-sampling IMLE) or adaptive-imle"
)]
pub struct UnknownMethod(pub String);

impl Method {
    /// Every method.
    pub const ALL: [Method; 4] = [
        Method::Cimle,
        Method::Crn,
        Method::RsImle,
        Method::AdaptiveImle,
    ];

    /// The name in flags, `config.json` and weights metadata.
    pub fn name(self) -> &'static str {
        match self {
            Method::Cimle => "cimle",
            Method::Crn => "crn",
            Method::RsImle => "rs-imle",
            Method::AdaptiveImle => "adaptive-imle",
        }
    }

    /// The all-zero code of shape `channels x height x width`: a CRN model's only input code.
    pub fn zero_code(channels: usize, height: usize, width: usize) -> LatentCode {
        LatentCode::zeros(channels, height, width)
    }

    /// How a model trained by this method is sampled (the model crate's [`Sampling`]).
    pub fn sampling(self) -> Sampling {
        match self {
            Method::Crn => Sampling::ZeroCode,
            Method::Cimle | Method::RsImle | Method::AdaptiveImle => Sampling::Codes,
        }
    }

    /// The code a model trained by this method renders "seed `seed`" with: the seed's Gaussian
    /// code for cIMLE ([`LatentCode::from_seed`]), the zero code for CRN whatever the seed.
    pub fn sampling_code(
        self,
        seed: u64,
        channels: usize,
        height: usize,
        width: usize,
    ) -> LatentCode {
        self.sampling().code(seed, channels, height, width)
    }

    /// Whether samples of this method depend on the code (false for CRN).
    pub fn uses_codes(self) -> bool {
        self != Method::Crn
    }

    /// The method a weights file's metadata names ([`METHOD_METADATA_KEY`]); cIMLE when the
    /// entry is absent (files from before the baseline existed), an error when it names an
    /// unknown method.
    pub fn of_weights(metadata: &BTreeMap<String, String>) -> Result<Method, UnknownMethod> {
        metadata
            .get(METHOD_METADATA_KEY)
            .map_or(Ok(Method::Cimle), |name| name.parse())
    }
}

impl fmt::Display for Method {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

impl FromStr for Method {
    type Err = UnknownMethod;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        Method::ALL
            .into_iter()
            .find(|m| m.name().eq_ignore_ascii_case(s.trim()))
            .ok_or_else(|| UnknownMethod(s.to_string()))
    }
}

impl serde::Serialize for Method {
    fn serialize<S: serde::Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.serialize_str(self.name())
    }
}

/// Reads `"cimle"` or `"crn"`; `null` **or a missing field** reads as [`Method::Cimle`].
///
/// burn's `Config` derive copies no `#[serde(default)]` onto its fields, so a `config.json`
/// saved before `method` existed would not load if this read a plain string. Reading through
/// `Option` makes serde hand a missing field to us as `None` (as it does for `Option` fields).
impl<'de> serde::Deserialize<'de> for Method {
    fn deserialize<D: serde::Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        match Option::<String>::deserialize(deserializer)? {
            None => Ok(Method::Cimle),
            Some(name) => name.parse().map_err(serde::de::Error::custom),
        }
    }
}

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
    /// cIMLE (the default) or the CRN regression baseline ([`Method`]). A CRN run keeps every
    /// other setting, including the round structure (S images a round, L steps of B pairs, the
    /// lr schedule and re-initialisation), so it takes the same gradient steps
    /// ([`TrainingConfig::gradient_steps`]); it ignores `candidates`. Absent from a saved
    /// `config.json` (older runs): cIMLE.
    #[config(default = "Method::Cimle")]
    pub method: Method,
    /// Dataset rebalancing draws images in proportion to `R_p(k)^t` (`None`: 1, the paper's).
    #[config(default = "None")]
    pub sampling_temper: Option<f64>,
    /// Loss rebalancing weighs pixels by `M̂^t` (`None`: 1, the paper's).
    #[config(default = "None")]
    pub mask_temper: Option<f64>,
    /// RS-IMLE's ε as a fraction of the median distance between two training photos (`None`:
    /// [`crate::selection::RS_EPSILON_RATIO`]).
    #[config(default = "None")]
    pub rs_epsilon_ratio: Option<f64>,
    /// Adaptive IMLE: how much a threshold tightens when it is reached (`None`:
    /// [`crate::selection::ADAPTIVE_GAMMA`]).
    #[config(default = "None")]
    pub adaptive_gamma: Option<f64>,
    /// Adaptive IMLE: rounds an image trains with a code before it may change (`None`:
    /// [`crate::selection::ADAPTIVE_STALENESS`]).
    #[config(default = "None")]
    pub adaptive_staleness: Option<usize>,
    /// Adaptive IMLE: rounds after which a code is replaced anyway (`None`:
    /// [`crate::selection::ADAPTIVE_FORCE`]).
    #[config(default = "None")]
    pub adaptive_force: Option<usize>,
}

impl TrainingConfig {
    /// Adam steps of the whole run: rounds x steps per round (each on `batch_size` pairs). Runs
    /// that are compared take equal budgets: the same value here, the same batch size and the
    /// same lr schedule.
    pub fn gradient_steps(&self) -> usize {
        self.rounds * self.steps_per_round
    }

    /// Training pairs seen over the run: [`Self::gradient_steps`] x batch size.
    pub fn pairs_seen(&self) -> usize {
        self.gradient_steps() * self.batch_size.max(1)
    }
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

/// Step 2 of docs/METHOD.md "Training": for every image `k`, render all its candidate codes
/// without gradients and keep the one whose render is nearest to `y_k` under `distance`
/// (the argmin of [`candidate_distances`]).
#[allow(clippy::too_many_arguments)]
pub fn select_nearest_latents(
    generator: &Generator,
    distance: &PerceptualDistance,
    pairs: &[&Pair],
    candidates: &[Vec<LatentCode>],
    masks: Option<&[Tensor<4>]>,
    batch: usize,
    device: &Device,
    progress: impl FnMut(usize),
) -> Vec<Selection> {
    candidate_distances(
        generator, distance, pairs, candidates, masks, batch, device, progress,
    )
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
/// one row per image, one entry per candidate (every image has the same number of candidates).
///
/// Several images and codes share each forward pass (`batch` renders at most; at least one
/// image's candidates), and each photo's features are computed once. `generator` and
/// `distance` should live on a device without autodiff. `masks[k]` is image k's rarity mask
/// `[1, 1, H, W]` (loss rebalancing), or none.
#[allow(clippy::too_many_arguments)]
pub fn candidate_distances(
    generator: &Generator,
    distance: &PerceptualDistance,
    pairs: &[&Pair],
    candidates: &[Vec<LatentCode>],
    masks: Option<&[Tensor<4>]>,
    batch: usize,
    device: &Device,
    mut progress: impl FnMut(usize),
) -> Vec<Vec<f32>> {
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

/// Step 3 of docs/METHOD.md "Training": one Adam step on a mini-batch of selected pairs,
/// minimising `L(y_k, T(x_k, z_k*))`, where `photos` are the features of the pairs' photos
/// (computed once per round: they do not change). Returns the updated generator and the
/// batch's mean loss.
#[allow(clippy::too_many_arguments)]
pub fn train_step(
    generator: Generator,
    optimizer: &mut ModuleOptimizer,
    distance: &PerceptualDistance,
    pairs: &[&Pair],
    codes: &[&LatentCode],
    photos: &Features,
    masks: Option<Tensor<4>>,
    lr: f64,
    device: &Device,
) -> (Generator, f32) {
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
            let sel =
                select_nearest_latents(&g, &dist, &refs, &candidates, None, batch, &device, |_| {});
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
            &[&pair],
            &[&codes[0]],
            &photos[0],
            None,
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
    fn the_method_is_saved_and_older_configs_read_as_cimle() {
        let cfg = TrainingConfig::new(Preset::Tiny.config()).with_method(Method::Crn);
        let mut json = serde_json::to_value(&cfg).unwrap();
        assert_eq!(json["method"], "crn");
        let back: TrainingConfig = serde_json::from_value(json.clone()).unwrap();
        assert_eq!(back.method, Method::Crn);
        // A config.json from before the field existed.
        json.as_object_mut().unwrap().remove("method");
        let old: TrainingConfig = serde_json::from_value(json.clone()).unwrap();
        assert_eq!(old.method, Method::Cimle);
        json["method"] = "gan".into();
        assert!(serde_json::from_value::<TrainingConfig>(json).is_err());
        // The weights metadata entry.
        let mut meta = BTreeMap::new();
        assert_eq!(Method::of_weights(&meta), Ok(Method::Cimle));
        meta.insert(METHOD_METADATA_KEY.to_string(), "crn".to_string());
        assert_eq!(Method::of_weights(&meta), Ok(Method::Crn));
        meta.insert(METHOD_METADATA_KEY.to_string(), "gan".to_string());
        assert!(Method::of_weights(&meta).is_err());
        assert_eq!("CRN".parse::<Method>(), Ok(Method::Crn));
        // Sampling: a seed's Gaussian code for cIMLE, zeros for CRN.
        let c = Method::Cimle.sampling_code(7, 2, 4, 8);
        assert_eq!(c, LatentCode::from_seed(7, 2, 4, 8));
        assert!(
            Method::Crn
                .sampling_code(7, 2, 4, 8)
                .data()
                .iter()
                .all(|&v| v == 0.0)
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
