//! The raw flags of every command, as clap reads them: one struct per command, and the groups
//! of flags several commands share. [`crate::commands`] turns them into checked settings and
//! runs them.

use std::path::PathBuf;

use clap::Args;

use super::values::{self, BenchCase, LabelFormatFlag, PresetFlag, RecipeFlag, Size, Switch};
use crate::backend::Backend;
use crate::method::Method;
use crate::perceptual::LayerWeightsChoice;

#[derive(Args, Debug, Clone)]
pub struct BenchFlags {
    /// Generator preset.
    #[arg(long, value_enum, default_value_t = PresetFlag::Small)]
    pub preset: PresetFlag,
    /// Train steps and renders measured (after warm-up).
    #[arg(long, default_value_t = 10)]
    pub steps: usize,
    /// JSON report path.
    #[arg(long)]
    pub out: Option<PathBuf>,
    /// Threads of the CPU kernels (0: one per core).
    #[arg(long, default_value_t = 0)]
    pub threads: usize,
    /// Write a fixture folder (the preset's generator, the VGG-19, inputs and cimle's outputs)
    /// for `benches/torch_reference.py`, and stop.
    #[arg(long, value_name = "DIR", conflicts_with = "fixture")]
    pub write_fixture: Option<PathBuf>,
    /// Time one case on a fixture folder and print one JSON line (used by `cargo xtask
    /// bench-torch`).
    #[arg(long, value_name = "DIR", requires = "case")]
    pub fixture: Option<PathBuf>,
    /// The case to time with --fixture.
    #[arg(long, value_enum)]
    pub case: Option<BenchCase>,
    /// Renders per forward pass in the `forward` case.
    #[arg(long, default_value_t = 1)]
    pub batch: usize,
    #[command(flatten)]
    pub vgg: VggFlags,
}

#[derive(Args, Debug, Clone)]
pub struct SynthFlags {
    /// Output folder (created).
    #[arg(long)]
    pub out: PathBuf,
    /// Number of scenes.
    #[arg(long, default_value_t = 500)]
    pub count: usize,
    /// Seed of the scene generator.
    #[arg(long, default_value_t = 0)]
    pub seed: u64,
    /// Size HxW, e.g. 64x128.
    #[arg(long, default_value = "64x128", value_parser = values::size)]
    pub size: Size,
}

#[derive(Args, Debug, Clone)]
pub struct VggFlags {
    /// torchvision `vgg19` state dict (.pth or .safetensors) with ImageNet weights; also read
    /// from CIMLE_VGG19. Without it: the random-feature VGG-19.
    #[arg(long, env = "CIMLE_VGG19")]
    pub vgg19: Option<PathBuf>,
    /// Channel divisor of the random-feature VGG-19 (1 = full width; ignored with --vgg19).
    /// Default: 1; in `train` and `compare`, the recipe's (study 2, released 1).
    #[arg(long)]
    pub vgg_width_div: Option<usize>,
}

/// What a training run learns from and its budget: shared by `train` and `compare`.
#[derive(Args, Debug, Clone)]
pub struct BudgetFlags {
    /// Dataset folder, or `synth` for built-in scenes generated in memory.
    #[arg(long, default_value = "synth")]
    pub data: String,
    /// Generator preset.
    #[arg(long, value_enum, default_value_t = PresetFlag::Small)]
    pub preset: PresetFlag,
    /// The settings to start from; the flags below override their parts. study: what
    /// docs/TRAINING.md measured best on 2 CPU cores (no rebalancing, global code on, batch 4,
    /// no encoder reset, lr / 10 for the last 2 rounds, VGG width / 2); released: the released
    /// code's settings on the preset's budget. Default: study with --preset small, else
    /// released.
    #[arg(long, value_enum)]
    pub recipe: Option<RecipeFlag>,
    /// Rounds of select-then-train.
    #[arg(long)]
    pub rounds: Option<usize>,
    /// |S|: images selected per round.
    #[arg(long)]
    pub images_per_round: Option<usize>,
    /// m: latent codes tried per image (cIMLE only).
    #[arg(long)]
    pub candidates: Option<usize>,
    /// L: Adam steps per round.
    #[arg(long)]
    pub steps_per_round: Option<usize>,
    /// Pairs per Adam step.
    #[arg(long)]
    pub batch_size: Option<usize>,
    /// Learning rate (divided by 10 after --reinit-after rounds).
    #[arg(long)]
    pub lr: Option<f64>,
    /// Rounds after which the noise encoder is re-initialised (0 = never).
    #[arg(long)]
    pub reinit_after: Option<usize>,
    /// Rounds after which the lr drops tenfold, keeping the noise encoder (0 = never).
    #[arg(long)]
    pub lr_decay_after: Option<usize>,
    /// Renders per forward pass in selection (0 = automatic: one image's m codes on the CPU
    /// kernels, from available memory on a GPU).
    #[arg(long, default_value_t = 0)]
    pub selection_batch: usize,
    /// auto (a GPU through wgpu when one exists, else the CPU), cpu (cimle's CPU kernels),
    /// flex (burn's Flex CPU backend, the reference), wgpu or cuda.
    #[arg(long, value_enum, default_value_t = Backend::Auto)]
    pub backend: Backend,
    /// Seed of the run.
    #[arg(long, default_value_t = 0)]
    pub seed: u64,
    /// With --data synth: number of scenes generated.
    #[arg(long, default_value_t = 400)]
    pub synth_count: usize,
    /// Layer weights λ: `paper` (released GTA-5 constants), `auto` (equal contributions on the
    /// data), or six numbers for pixels, conv1_2 ... conv5_2 (e.g. 1,1,1,1,1,0).
    #[arg(long, default_value = "paper", value_parser = values::layer_weights)]
    pub layer_weights: LayerWeightsChoice,
    /// Map label colours that are in no Cityscapes label to the nearest class.
    #[arg(long)]
    pub map_unknown_colors: bool,
    /// Read at most this many pairs from --data.
    #[arg(long)]
    pub limit: Option<usize>,
    /// Feed the noise encoder the code's global component too (see `GeneratorConfig::global_code`).
    /// Default: the recipe's (study on, released off).
    #[arg(long, value_enum)]
    pub global_code: Option<Switch>,
    /// Classes present in fewer images get no rarity KDE.
    #[arg(long, default_value_t = crate::rebalance::DEFAULT_MIN_IMAGES)]
    pub rarity_min_images: usize,
    #[command(flatten)]
    pub vgg: VggFlags,
}

#[derive(Args, Debug, Clone)]
pub struct TrainFlags {
    /// Run folder: config.json, checkpoints, sample grids, loss curve.
    #[arg(long)]
    pub out: PathBuf,
    /// Continue the run in --out from its last checkpoint.
    #[arg(long)]
    pub resume: bool,
    /// cimle (conditional IMLE: each image trains with the nearest of m codes), rs-imle
    /// (rejection-sampling IMLE: candidates closer than epsilon are rejected first),
    /// adaptive-imle (per-image thresholds decide when a code changes) or crn (the regression
    /// baseline: the same generator fed the zero code, no selection, same budget). The weights
    /// file records it, and sampling a crn model uses the zero code.
    #[arg(long, value_enum, default_value_t = Method::Cimle)]
    pub method: Method,
    /// Dataset rebalancing draws images in proportion to R_p(k)^T (1: the paper's; 0: uniform
    /// among images with the class).
    #[arg(long)]
    pub sampling_temper: Option<f64>,
    /// Loss rebalancing weighs pixels by the normalised rarity mask to the power T (1: the
    /// paper's; 0: no weighting).
    #[arg(long)]
    pub mask_temper: Option<f64>,
    /// Area balancing: the distance weighs each pixel by its class's share of the image to the
    /// power -A (1: every class of an image weighs the same in total; 0: no weighting), in
    /// selection and training. Default: off.
    #[arg(long)]
    pub area_balance: Option<f64>,
    /// rs-imle: epsilon as a fraction of the median distance between two training photos.
    #[arg(long)]
    pub rs_epsilon_ratio: Option<f64>,
    /// adaptive-imle: gamma, how much a threshold tightens when reached (tau <- (1 - gamma) d).
    #[arg(long)]
    pub adaptive_gamma: Option<f64>,
    /// adaptive-imle: rounds an image trains with a code before it may change.
    #[arg(long)]
    pub adaptive_staleness: Option<usize>,
    /// adaptive-imle: rounds after which an image's code is replaced anyway.
    #[arg(long)]
    pub adaptive_force: Option<usize>,
    /// Dataset rebalancing (supplementary appendix A): on draws S in proportion to rarity,
    /// off uniformly. Default: the recipe's (study off, released on).
    #[arg(long, value_enum, conflicts_with = "no_dataset_rebalance")]
    pub dataset_rebalance: Option<Switch>,
    /// Loss rebalancing: on weighs the distance by the rarity mask, off uses the plain
    /// distance. Default: the recipe's (study off, released on).
    #[arg(long, value_enum, conflicts_with = "no_loss_rebalance")]
    pub loss_rebalance: Option<Switch>,
    /// The same as --dataset-rebalance off.
    #[arg(long)]
    pub no_dataset_rebalance: bool,
    /// The same as --loss-rebalance off.
    #[arg(long)]
    pub no_loss_rebalance: bool,
    /// Measure the generator after every N rounds (and after the last) on held-out built-in
    /// scenes, as `cimle evaluate` does: RUN/eval.csv and RUN/curves.png. 0: never.
    #[arg(long, default_value_t = 0)]
    pub eval_every: usize,
    /// Held-out layouts of each --eval-every measurement.
    #[arg(long, default_value_t = 8)]
    pub eval_layouts: usize,
    /// Samples per layout of each --eval-every measurement (at least 2).
    #[arg(long, default_value_t = 10)]
    pub eval_samples: usize,
    /// Seed of the held-out built-in scenes of --eval-every (training uses --seed).
    #[arg(long, default_value_t = 777)]
    pub eval_seed: u64,
    #[command(flatten)]
    pub budget: BudgetFlags,
}

#[derive(Args, Debug, Clone)]
pub struct CompareFlags {
    /// Output folder: a run folder per compared run (cimle and crn with the recipe's
    /// rebalancing; cimle-rebalanced and crn-rebalanced, or with --recipe released the
    /// rebalancing ablations), report.md, report.json, metrics.png, samples.png, frames.png. Finished runs found there are skipped, interrupted ones resumed.
    #[arg(long)]
    pub out: PathBuf,
    #[command(flatten)]
    pub budget: BudgetFlags,
    /// Held-out built-in layouts measured (with a dataset: layouts of the dataset).
    #[arg(long, default_value_t = 8)]
    pub layouts: usize,
    /// K: samples per layout.
    #[arg(long, default_value_t = 10)]
    pub samples: usize,
    /// Seed of the held-out built-in scenes (training uses --seed).
    #[arg(long, default_value_t = 777)]
    pub eval_seed: u64,
    /// Scene seed of the built-in sequence of frames.png (a car drives away and back).
    #[arg(long, default_value_t = 12345)]
    pub video_seed: u64,
    /// Frames of that sequence.
    #[arg(long, default_value_t = 12)]
    pub video_frames: usize,
    /// Seed of the cIMLE model's one code for every frame (CRN: the zero code).
    #[arg(long, default_value_t = 0)]
    pub video_code_seed: u64,
}

#[derive(Args, Debug, Clone)]
pub struct RarityFlags {
    /// Dataset folder, or `synth` for built-in scenes.
    #[arg(long)]
    pub data: String,
    /// CSV of per-image, per-class rarity scores R_p(k).
    #[arg(long)]
    pub out: PathBuf,
    /// Size the images are read at, HxW.
    #[arg(long, default_value = "64x128", value_parser = values::size)]
    pub size: Size,
    /// With --data synth: number of scenes and their seed.
    #[arg(long, default_value_t = 400)]
    pub synth_count: usize,
    #[arg(long, default_value_t = 0)]
    pub seed: u64,
    /// Classes present in fewer images get no KDE.
    #[arg(long, default_value_t = crate::rebalance::DEFAULT_MIN_IMAGES)]
    pub min_images: usize,
    /// Map unknown label colours to the nearest class.
    #[arg(long)]
    pub map_unknown_colors: bool,
}

#[derive(Args, Debug, Clone)]
pub struct EvaluateFlags {
    /// Weights file of a model trained on built-in scenes.
    #[arg(long)]
    pub weights: PathBuf,
    /// Report folder: report.md, report.json, samples.png.
    #[arg(long)]
    pub out: PathBuf,
    /// Held-out built-in layouts.
    #[arg(long, default_value_t = 8)]
    pub layouts: usize,
    /// K: samples per layout.
    #[arg(long, default_value_t = 10)]
    pub samples: usize,
    /// Seed of the held-out scenes (training uses seed 0 by default).
    #[arg(long, default_value_t = 777)]
    pub seed: u64,
    #[command(flatten)]
    pub vgg: VggFlags,
}

/// How layout PNGs are read (sample, interpolate, animate).
#[derive(Args, Debug, Clone)]
pub struct LayoutFormatFlags {
    /// Label format (default: detected per file).
    #[arg(long, value_enum)]
    pub label_format: Option<LabelFormatFlag>,
    /// Map layout colours that are in no Cityscapes label to the nearest class.
    #[arg(long)]
    pub map_unknown_colors: bool,
}

#[derive(Args, Debug, Clone)]
pub struct SampleFlags {
    /// Weights file (a run's weights.safetensors or an export).
    #[arg(long)]
    pub weights: PathBuf,
    /// Layout PNG: palette colours, train ids or Cityscapes labelIds.
    #[arg(long)]
    pub layout: PathBuf,
    /// Number of samples.
    #[arg(long, default_value_t = 19)]
    pub count: usize,
    /// Seed of the first sample; sample i uses seed + i.
    #[arg(long, default_value_t = 0)]
    pub seed: u64,
    /// Output grid PNG.
    #[arg(long)]
    pub out: PathBuf,
    /// Also write each sample alone into this folder.
    #[arg(long)]
    pub frames: Option<PathBuf>,
    #[command(flatten)]
    pub layout_format: LayoutFormatFlags,
}

#[derive(Args, Debug, Clone)]
pub struct VideoOutFlags {
    /// Output folder: frame-NNN.png, interpolation.png (animated PNG), differences.png,
    /// differences.csv.
    #[arg(long)]
    pub out: PathBuf,
    /// Milliseconds each frame shows in the animated PNG.
    #[arg(long, default_value_t = 100)]
    pub delay_ms: u16,
}

#[derive(Args, Debug, Clone)]
pub struct InterpolateFlags {
    /// Weights file (a run's weights.safetensors or an export).
    #[arg(long)]
    pub weights: PathBuf,
    /// Layout PNG: palette colours, train ids or Cityscapes labelIds.
    #[arg(long)]
    pub layout: PathBuf,
    /// Seed of the first frame's latent code.
    #[arg(long)]
    pub from: u64,
    /// Seed of the last frame's latent code.
    #[arg(long)]
    pub to: u64,
    /// Frames, both ends included (at least 2).
    #[arg(long, default_value_t = 24)]
    pub frames: usize,
    /// Interpolate on a straight line instead of spherically (midpoints look washed out).
    #[arg(long)]
    pub lerp: bool,
    #[command(flatten)]
    pub output: VideoOutFlags,
    #[command(flatten)]
    pub layout_format: LayoutFormatFlags,
}

#[derive(Args, Debug, Clone)]
#[command(group(clap::ArgGroup::new("frames_from").required(true).args(["synth_seed", "layouts"])))]
#[command(group(clap::ArgGroup::new("style").required(true).args(["seed", "from"])))]
pub struct AnimateFlags {
    /// Weights file (a run's weights.safetensors or an export).
    #[arg(long)]
    pub weights: PathBuf,
    /// Built-in layout sequence of this scene seed: a car drives away and back.
    #[arg(long)]
    pub synth_seed: Option<u64>,
    /// Folder of layout PNGs, one per frame, played in file-name order.
    #[arg(long)]
    pub layouts: Option<PathBuf>,
    /// Frames (at least 2). Default 32 with --synth-seed; with --layouts, every PNG (or the
    /// first N).
    #[arg(long)]
    pub frames: Option<usize>,
    /// Seed of the one latent code used for every frame (a consistent style).
    #[arg(long, conflicts_with = "to")]
    pub seed: Option<u64>,
    /// Seed of the first frame's code; the code moves to --to's across the frames.
    #[arg(long, requires = "to")]
    pub from: Option<u64>,
    /// Seed of the last frame's code.
    #[arg(long, requires = "from")]
    pub to: Option<u64>,
    /// With --from/--to: interpolate on a straight line instead of spherically.
    #[arg(long)]
    pub lerp: bool,
    #[command(flatten)]
    pub output: VideoOutFlags,
    #[command(flatten)]
    pub layout_format: LayoutFormatFlags,
}

#[derive(Args, Debug, Clone)]
pub struct ExportFlags {
    /// Weights file to export.
    #[arg(long)]
    pub weights: PathBuf,
    /// Output weights file.
    #[arg(long)]
    pub out: PathBuf,
    /// Store tensors in f16 (half the size; what the browser loads).
    #[arg(long)]
    pub half: bool,
}

#[derive(Args, Debug, Clone)]
pub struct DistanceFlags {
    /// First image (PNG).
    pub a: PathBuf,
    /// Second image (PNG, same size).
    pub b: PathBuf,
    /// Print JSON instead of a table.
    #[arg(long)]
    pub json: bool,
    /// Layer weights: paper or auto... (only `paper` here: auto needs a dataset).
    #[command(flatten)]
    pub vgg: VggFlags,
}
