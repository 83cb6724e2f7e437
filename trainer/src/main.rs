//! `cimle`: the command-line face of the trainer. Raw flags (clap) are parsed here and turned
//! into validated settings before any work starts; the work itself lives in the library.

use std::path::{Path, PathBuf};
use std::time::Instant;

use anyhow::{Context, Result, bail};
use cimle::config::Preset;
use cimle::generator::{images_to_rgb8, one_hot};
use cimle::label_png::{ColorPolicy, LabelError, LabelFormat};
use cimle::latent::LatentCode;
use cimle::layout::Layout;
use cimle::weights::{Precision, WeightsError, load_generator, save_generator};
use cimle_trainer::backend::Backend;
use cimle_trainer::data::{DataError, LoadOptions, load_dataset, read_png_rgb, resize_area};
use cimle_trainer::imle::{Method, Pair, TrainingConfig};
use cimle_trainer::perceptual::{
    LayerWeights, PerceptualDistance, Vgg19Config, Vgg19Features, distance_report, load_vgg19,
    rgb_to_tensor,
};
use cimle_trainer::picture::{RgbImage, grid, write_atomic};
use cimle_trainer::rebalance::{RarityScores, cache_key};
use cimle_trainer::run::{RunOptions, progress_bar, train_run};
use cimle_trainer::synth;
use clap::{Args, Parser, Subcommand};

#[derive(Parser, Debug)]
#[command(
    name = "cimle",
    version,
    about = "Conditional IMLE: many plausible photos from one semantic layout"
)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand, Debug)]
enum Command {
    /// Generate procedural street scenes (image, label and factors per sample).
    Synth(SynthArgs),
    /// Train a generator with conditional IMLE (or, with --method crn, the regression baseline).
    Train(TrainArgs),
    /// Render a layout with many latent codes into a grid (the paper's figure).
    Sample(SampleArgs),
    /// Export weights for the browser (f16 with --half) and print their size.
    Export(ExportArgs),
    /// Print the perceptual distance between two images, layer by layer.
    Distance(DistanceArgs),
    /// Measure train-step time and selection throughput; writes a JSON report.
    Bench(BenchArgs),
    /// Write the rarity scores R_p(k) of a dataset (which images are rare, per class).
    Rarity(RarityArgs),
    /// Measure a model on held-out built-in scenes: diversity, factor recall, TV distance.
    Evaluate(EvaluateArgs),
    /// Train cIMLE, its two rebalancing ablations and the CRN baselines on one budget, then
    /// compare them: report.md, metrics.png, samples.png, frames.png.
    Compare(CompareArgs),
    /// Render one layout while the latent code moves from one seed's code to another's
    /// (frames, animated PNG, adjacent-frame differences).
    Interpolate(InterpolateArgs),
    /// Render a sequence of layouts (a car driving away and back, or a folder of PNGs) with one
    /// fixed code or a code interpolated across the frames.
    Animate(AnimateArgs),
}

#[derive(Args, Debug)]
struct BenchArgs {
    /// Generator preset.
    #[arg(long, default_value = "small")]
    preset: String,
    /// Train steps and renders measured (after warm-up).
    #[arg(long, default_value_t = 10)]
    steps: usize,
    /// JSON report path.
    #[arg(long)]
    out: Option<PathBuf>,
    /// Threads of the CPU kernels (0: one per core).
    #[arg(long, default_value_t = 0)]
    threads: usize,
    /// Write a fixture folder (the preset's generator, the VGG-19, inputs and cimle's outputs)
    /// for `benches/torch_reference.py`, and stop.
    #[arg(long, value_name = "DIR", conflicts_with = "fixture")]
    write_fixture: Option<PathBuf>,
    /// Time one case on a fixture folder and print one JSON line (used by `cargo xtask
    /// bench-torch`).
    #[arg(long, value_name = "DIR", requires = "case")]
    fixture: Option<PathBuf>,
    /// The case to time with --fixture: train-step, selection or forward.
    #[arg(long)]
    case: Option<String>,
    /// Renders per forward pass in the `forward` case.
    #[arg(long, default_value_t = 1)]
    batch: usize,
    #[command(flatten)]
    vgg: VggArgs,
}

#[derive(Args, Debug)]
struct SynthArgs {
    /// Output folder (created).
    #[arg(long)]
    out: PathBuf,
    /// Number of scenes.
    #[arg(long, default_value_t = 500)]
    count: usize,
    /// Seed of the scene generator.
    #[arg(long, default_value_t = 0)]
    seed: u64,
    /// Size HxW, e.g. 64x128.
    #[arg(long, default_value = "64x128")]
    size: String,
}

#[derive(Args, Debug)]
struct VggArgs {
    /// torchvision `vgg19` state dict (.pth or .safetensors) with ImageNet weights; also read
    /// from CIMLE_VGG19. Without it: the random-feature VGG-19.
    #[arg(long, env = "CIMLE_VGG19")]
    vgg19: Option<PathBuf>,
    /// Channel divisor of the random-feature VGG-19 (1 = full width; ignored with --vgg19).
    #[arg(long, default_value_t = 1)]
    vgg_width_div: usize,
}

/// What a training run learns from and its budget: shared by `train` and `compare`.
#[derive(Args, Debug)]
struct BudgetArgs {
    /// Dataset folder, or `synth` for built-in scenes generated in memory.
    #[arg(long, default_value = "synth")]
    data: String,
    /// Generator preset: tiny, small, browser, paper.
    #[arg(long, default_value = "small")]
    preset: String,
    /// Rounds of select-then-train.
    #[arg(long)]
    rounds: Option<usize>,
    /// |S|: images selected per round.
    #[arg(long)]
    images_per_round: Option<usize>,
    /// m: latent codes tried per image (cIMLE only).
    #[arg(long)]
    candidates: Option<usize>,
    /// L: Adam steps per round.
    #[arg(long)]
    steps_per_round: Option<usize>,
    /// Pairs per Adam step.
    #[arg(long)]
    batch_size: Option<usize>,
    /// Learning rate (divided by 10 after --reinit-after rounds).
    #[arg(long)]
    lr: Option<f64>,
    /// Rounds after which the noise encoder is re-initialised (0 = never).
    #[arg(long)]
    reinit_after: Option<usize>,
    /// Renders per forward pass in selection (0 = from available memory).
    #[arg(long, default_value_t = 0)]
    selection_batch: usize,
    /// auto (a GPU through wgpu when one exists, else the CPU), cpu (cimle's CPU kernels),
    /// flex (burn's Flex CPU backend, the reference), wgpu or cuda.
    #[arg(long, default_value = "auto")]
    backend: String,
    /// Seed of the run.
    #[arg(long, default_value_t = 0)]
    seed: u64,
    /// With --data synth: number of scenes generated.
    #[arg(long, default_value_t = 400)]
    synth_count: usize,
    /// Layer weights λ: `paper` (released GTA-5 constants), `auto` (equal contributions on the
    /// data), or six numbers for pixels, conv1_2 ... conv5_2 (e.g. 1,1,1,1,1,0).
    #[arg(long, default_value = "paper")]
    layer_weights: String,
    /// Map label colours that are in no Cityscapes label to the nearest class.
    #[arg(long)]
    map_unknown_colors: bool,
    /// Read at most this many pairs from --data.
    #[arg(long)]
    limit: Option<usize>,
    /// Feed the noise encoder the code's global component too (see `GeneratorConfig::global_code`):
    /// on or off.
    #[arg(long, default_value = "off")]
    global_code: String,
    /// Classes present in fewer images get no rarity KDE.
    #[arg(long, default_value_t = cimle_trainer::rebalance::DEFAULT_MIN_IMAGES)]
    rarity_min_images: usize,
    #[command(flatten)]
    vgg: VggArgs,
}

#[derive(Args, Debug)]
struct TrainArgs {
    /// Run folder: config.json, checkpoints, sample grids, loss curve.
    #[arg(long)]
    out: PathBuf,
    /// Continue the run in --out from its last checkpoint.
    #[arg(long)]
    resume: bool,
    /// cimle (conditional IMLE: each image trains with the nearest of m codes), rs-imle
    /// (rejection-sampling IMLE: candidates closer than epsilon are rejected first),
    /// adaptive-imle (per-image thresholds decide when a code changes) or crn (the regression
    /// baseline: the same generator fed the zero code, no selection, same budget). The weights
    /// file records it, and sampling a crn model uses the zero code.
    #[arg(long, default_value = "cimle")]
    method: Method,
    /// Dataset rebalancing draws images in proportion to R_p(k)^T (1: the paper's; 0: uniform
    /// among images with the class).
    #[arg(long)]
    sampling_temper: Option<f64>,
    /// Loss rebalancing weighs pixels by the normalised rarity mask to the power T (1: the
    /// paper's; 0: no weighting).
    #[arg(long)]
    mask_temper: Option<f64>,
    /// rs-imle: epsilon as a fraction of the median distance between two training photos.
    #[arg(long)]
    rs_epsilon_ratio: Option<f64>,
    /// adaptive-imle: gamma, how much a threshold tightens when reached (tau <- (1 - gamma) d).
    #[arg(long)]
    adaptive_gamma: Option<f64>,
    /// adaptive-imle: rounds an image trains with a code before it may change.
    #[arg(long)]
    adaptive_staleness: Option<usize>,
    /// adaptive-imle: rounds after which an image's code is replaced anyway.
    #[arg(long)]
    adaptive_force: Option<usize>,
    /// Draw S uniformly instead of in proportion to rarity (supplementary appendix A).
    #[arg(long)]
    no_dataset_rebalance: bool,
    /// Use the plain distance instead of the rarity-masked one.
    #[arg(long)]
    no_loss_rebalance: bool,
    /// Measure the generator after every N rounds (and after the last) on held-out built-in
    /// scenes, as `cimle evaluate` does: RUN/eval.csv and RUN/curves.png. 0: never.
    #[arg(long, default_value_t = 0)]
    eval_every: usize,
    /// Held-out layouts of each --eval-every measurement.
    #[arg(long, default_value_t = 8)]
    eval_layouts: usize,
    /// Samples per layout of each --eval-every measurement (at least 2).
    #[arg(long, default_value_t = 10)]
    eval_samples: usize,
    /// Seed of the held-out built-in scenes of --eval-every (training uses --seed).
    #[arg(long, default_value_t = 777)]
    eval_seed: u64,
    #[command(flatten)]
    budget: BudgetArgs,
}

#[derive(Args, Debug)]
struct CompareArgs {
    /// Output folder: a run folder per method (cimle, cimle-no-dataset-rebalance,
    /// cimle-no-loss-rebalance, crn, crn-rebalanced), report.md, report.json, metrics.png,
    /// samples.png, frames.png. Finished runs found there are skipped, interrupted ones resumed.
    #[arg(long)]
    out: PathBuf,
    #[command(flatten)]
    budget: BudgetArgs,
    /// Held-out built-in layouts measured (with a dataset: layouts of the dataset).
    #[arg(long, default_value_t = 8)]
    layouts: usize,
    /// K: samples per layout.
    #[arg(long, default_value_t = 10)]
    samples: usize,
    /// Seed of the held-out built-in scenes (training uses --seed).
    #[arg(long, default_value_t = 777)]
    eval_seed: u64,
    /// Scene seed of the built-in sequence of frames.png (a car drives away and back).
    #[arg(long, default_value_t = 12345)]
    video_seed: u64,
    /// Frames of that sequence.
    #[arg(long, default_value_t = 12)]
    video_frames: usize,
    /// Seed of the cIMLE model's one code for every frame (CRN: the zero code).
    #[arg(long, default_value_t = 0)]
    video_code_seed: u64,
}

#[derive(Args, Debug)]
struct RarityArgs {
    /// Dataset folder, or `synth` for built-in scenes.
    #[arg(long)]
    data: String,
    /// CSV of per-image, per-class rarity scores R_p(k).
    #[arg(long)]
    out: PathBuf,
    /// Size the images are read at, HxW.
    #[arg(long, default_value = "64x128")]
    size: String,
    /// With --data synth: number of scenes and their seed.
    #[arg(long, default_value_t = 400)]
    synth_count: usize,
    #[arg(long, default_value_t = 0)]
    seed: u64,
    /// Classes present in fewer images get no KDE.
    #[arg(long, default_value_t = cimle_trainer::rebalance::DEFAULT_MIN_IMAGES)]
    min_images: usize,
    /// Map unknown label colours to the nearest class.
    #[arg(long)]
    map_unknown_colors: bool,
}

#[derive(Args, Debug)]
struct EvaluateArgs {
    /// Weights file of a model trained on built-in scenes.
    #[arg(long)]
    weights: PathBuf,
    /// Report folder: report.md, report.json, samples.png.
    #[arg(long)]
    out: PathBuf,
    /// Held-out built-in layouts.
    #[arg(long, default_value_t = 8)]
    layouts: usize,
    /// K: samples per layout.
    #[arg(long, default_value_t = 10)]
    samples: usize,
    /// Seed of the held-out scenes (training uses seed 0 by default).
    #[arg(long, default_value_t = 777)]
    seed: u64,
    #[command(flatten)]
    vgg: VggArgs,
}

/// How layout PNGs are read (sample, interpolate, animate).
#[derive(Args, Debug)]
struct LayoutFormatArgs {
    /// Label format: color, train-id, label-ids (default: detected per file).
    #[arg(long)]
    label_format: Option<String>,
    /// Map layout colours that are in no Cityscapes label to the nearest class.
    #[arg(long)]
    map_unknown_colors: bool,
}

#[derive(Args, Debug)]
struct SampleArgs {
    /// Weights file (a run's weights.safetensors or an export).
    #[arg(long)]
    weights: PathBuf,
    /// Layout PNG: palette colours, train ids or Cityscapes labelIds.
    #[arg(long)]
    layout: PathBuf,
    /// Number of samples.
    #[arg(long, default_value_t = 19)]
    count: usize,
    /// Seed of the first sample; sample i uses seed + i.
    #[arg(long, default_value_t = 0)]
    seed: u64,
    /// Output grid PNG.
    #[arg(long)]
    out: PathBuf,
    /// Also write each sample alone into this folder.
    #[arg(long)]
    frames: Option<PathBuf>,
    #[command(flatten)]
    layout_format: LayoutFormatArgs,
}

#[derive(Args, Debug)]
struct VideoOutArgs {
    /// Output folder: frame-NNN.png, interpolation.png (animated PNG), differences.png,
    /// differences.csv.
    #[arg(long)]
    out: PathBuf,
    /// Milliseconds each frame shows in the animated PNG.
    #[arg(long, default_value_t = 100)]
    delay_ms: u16,
}

#[derive(Args, Debug)]
struct InterpolateArgs {
    /// Weights file (a run's weights.safetensors or an export).
    #[arg(long)]
    weights: PathBuf,
    /// Layout PNG: palette colours, train ids or Cityscapes labelIds.
    #[arg(long)]
    layout: PathBuf,
    /// Seed of the first frame's latent code.
    #[arg(long)]
    from: u64,
    /// Seed of the last frame's latent code.
    #[arg(long)]
    to: u64,
    /// Frames, both ends included (at least 2).
    #[arg(long, default_value_t = 24)]
    frames: usize,
    /// Interpolate on a straight line instead of spherically (midpoints look washed out).
    #[arg(long)]
    lerp: bool,
    #[command(flatten)]
    output: VideoOutArgs,
    #[command(flatten)]
    layout_format: LayoutFormatArgs,
}

#[derive(Args, Debug)]
#[command(group(clap::ArgGroup::new("frames_from").required(true).args(["synth_seed", "layouts"])))]
#[command(group(clap::ArgGroup::new("style").required(true).args(["seed", "from"])))]
struct AnimateArgs {
    /// Weights file (a run's weights.safetensors or an export).
    #[arg(long)]
    weights: PathBuf,
    /// Built-in layout sequence of this scene seed: a car drives away and back.
    #[arg(long)]
    synth_seed: Option<u64>,
    /// Folder of layout PNGs, one per frame, played in file-name order.
    #[arg(long)]
    layouts: Option<PathBuf>,
    /// Frames (at least 2). Default 32 with --synth-seed; with --layouts, every PNG (or the
    /// first N).
    #[arg(long)]
    frames: Option<usize>,
    /// Seed of the one latent code used for every frame (a consistent style).
    #[arg(long, conflicts_with = "to")]
    seed: Option<u64>,
    /// Seed of the first frame's code; the code moves to --to's across the frames.
    #[arg(long, requires = "to")]
    from: Option<u64>,
    /// Seed of the last frame's code.
    #[arg(long, requires = "from")]
    to: Option<u64>,
    /// With --from/--to: interpolate on a straight line instead of spherically.
    #[arg(long)]
    lerp: bool,
    #[command(flatten)]
    output: VideoOutArgs,
    #[command(flatten)]
    layout_format: LayoutFormatArgs,
}

#[derive(Args, Debug)]
struct ExportArgs {
    /// Weights file to export.
    #[arg(long)]
    weights: PathBuf,
    /// Output weights file.
    #[arg(long)]
    out: PathBuf,
    /// Store tensors in f16 (half the size; what the browser loads).
    #[arg(long)]
    half: bool,
}

#[derive(Args, Debug)]
struct DistanceArgs {
    /// First image (PNG).
    a: PathBuf,
    /// Second image (PNG, same size).
    b: PathBuf,
    /// Print JSON instead of a table.
    #[arg(long)]
    json: bool,
    /// Layer weights: paper or auto... (only `paper` here: auto needs a dataset).
    #[command(flatten)]
    vgg: VggArgs,
}

fn parse_size(s: &str) -> Result<(usize, usize)> {
    let (h, w) = s
        .split_once(['x', 'X'])
        .with_context(|| format!("--size {s:?}: write it as HxW, e.g. 64x128"))?;
    let h: usize = h
        .trim()
        .parse()
        .with_context(|| format!("--size {s:?}: bad height"))?;
    let w: usize = w
        .trim()
        .parse()
        .with_context(|| format!("--size {s:?}: bad width"))?;
    if h < 32 || w < 64 {
        bail!("--size {s}: scenes need at least 32x64");
    }
    Ok((h, w))
}

fn make_vgg(args: &VggArgs, device: &burn::tensor::Device) -> Result<Vgg19Features> {
    match &args.vgg19 {
        Some(path) => load_vgg19(path, device)
            .with_context(|| format!("loading VGG-19 weights from {}", path.display())),
        None => Vgg19Features::random(
            0,
            &Vgg19Config {
                width_div: args.vgg_width_div,
            },
            device,
        )
        .context("building the random-feature VGG-19"),
    }
}

fn synth_command(args: SynthArgs) -> Result<()> {
    let (h, w) = parse_size(&args.size)?;
    for sub in ["images", "labels", "factors"] {
        std::fs::create_dir_all(args.out.join(sub))
            .with_context(|| format!("creating {}", args.out.join(sub).display()))?;
    }
    let pb = progress_bar(args.count as u64, "synth", true);
    for i in 0..args.count {
        let s = synth::generate_scene(args.seed, i as u64, h, w);
        let name = format!("{i:06}");
        let image = RgbImage::from_rgb(w, h, s.image).context("scene image size")?;
        let layout = Layout::new(h, w, s.labels).context("scene labels")?;
        let write = |sub: &str, ext: &str, bytes: &[u8]| {
            let path = args.out.join(sub).join(format!("{name}.{ext}"));
            write_atomic(&path, bytes).with_context(|| format!("writing {}", path.display()))
        };
        write("images", "png", &image.encode_png())?;
        write("labels", "png", &layout.encode_train_id_png())?;
        write("factors", "json", &serde_json::to_vec_pretty(&s.factors)?)?;
        pb.inc(1);
    }
    pb.finish_and_clear();
    let meta = serde_json::json!({
        "generator": "cimle synth",
        "seed": args.seed,
        "count": args.count,
        "height": h,
        "width": w,
        "labels": "train-id PNG (void = 255)",
        "factors": synth::factor_spec(),
    });
    let path = args.out.join("synth.json");
    write_atomic(&path, &serde_json::to_vec_pretty(&meta)?)
        .with_context(|| format!("writing {}", path.display()))?;
    eprintln!(
        "wrote {} scenes of {h}x{w} to {}",
        args.count,
        args.out.display()
    );
    Ok(())
}

/// Built-in scenes in memory.
pub fn synth_pairs(seed: u64, count: usize, h: usize, w: usize) -> Result<Vec<Pair>> {
    (0..count)
        .map(|i| {
            let s = synth::generate_scene(seed, i as u64, h, w);
            Ok(Pair {
                layout: Layout::new(h, w, s.labels).context("scene labels")?,
                image: s.image,
            })
        })
        .collect()
}

/// Reads `--data` (a folder, or `synth`) at `h x w`: the pairs and a description.
fn load_pairs(
    data: &str,
    h: usize,
    w: usize,
    synth: (u64, usize),
    map_unknown_colors: bool,
    limit: Option<usize>,
) -> Result<(Vec<Pair>, String)> {
    if data == "synth" {
        let (seed, count) = synth;
        let pairs = synth_pairs(seed, count, h, w)?;
        return Ok((
            pairs,
            format!("built-in scenes (seed {seed}, {count} scenes)"),
        ));
    }
    let dir = Path::new(data);
    let options = LoadOptions {
        color_policy: if map_unknown_colors {
            ColorPolicy::MapToNearest
        } else {
            ColorPolicy::Strict
        },
        limit,
    };
    let ds = load_dataset(dir, h, w, options).map_err(data_error)?;
    let desc = format!("{} ({}, {} pairs)", dir.display(), ds.kind, ds.len());
    let pairs = ds
        .samples
        .into_iter()
        .map(|s| Pair {
            layout: s.layout,
            image: s.image,
        })
        .collect();
    Ok((pairs, desc))
}

/// The rarity scores of `pairs`, from the cache beside a dataset folder when it is fresh;
/// computed (and cached, where the folder is writable) otherwise.
fn rarity_scores(data: &str, pairs: &[Pair], min_images: usize) -> Result<RarityScores> {
    let key = cache_key(pairs.iter(), min_images);
    let cache = (data != "synth").then(|| Path::new(data).join(".cimle-rarity.json"));
    if let Some(path) = &cache
        && let Ok(text) = std::fs::read_to_string(path)
        && let Ok(scores) = RarityScores::from_json(&text)
        && scores.is_fresh(&key)
    {
        eprintln!("rarity scores: {} (cached)", path.display());
        return Ok(scores);
    }
    let scores =
        RarityScores::compute(pairs.iter(), min_images).context("computing rarity scores")?;
    if let Some(path) = &cache
        && let Ok(json) = scores.to_json()
        && let Err(e) = write_atomic(path, json.as_bytes())
    {
        eprintln!(
            "note: could not cache rarity scores at {}: {e}",
            path.display()
        );
    }
    Ok(scores)
}

fn rarity_command(args: RarityArgs) -> Result<()> {
    let (h, w) = parse_size(&args.size)?;
    let (pairs, desc) = load_pairs(
        &args.data,
        h,
        w,
        (args.seed, args.synth_count),
        args.map_unknown_colors,
        None,
    )?;
    let scores = rarity_scores(&args.data, &pairs, args.min_images)?;
    let names: Vec<&str> = cimle::classes::CLASSES.iter().map(|c| c.name).collect();
    write_atomic(&args.out, scores.to_csv(&names).as_bytes())
        .with_context(|| format!("writing {}", args.out.display()))?;
    let fitted: Vec<&str> = scores
        .fitted_classes()
        .iter()
        .map(|&p| names[p as usize])
        .collect();
    eprintln!(
        "{desc}: rarity of {} images written to {}; classes with a KDE: {}",
        scores.len(),
        args.out.display(),
        fitted.join(", ")
    );
    Ok(())
}

/// Everything a run needs that flags decide: the base config (cIMLE, both rebalancings on), the
/// pairs, their rarity scores when asked for, the distance's network and its layer weights.
struct Prepared {
    config: TrainingConfig,
    pairs: Vec<Pair>,
    rarity: Option<RarityScores>,
    vgg: Vgg19Features,
    layer_weights: LayerWeights,
    device: burn::tensor::Device,
    backend: Backend,
    preset: Preset,
    data_desc: String,
    vgg_desc: String,
}

/// Reads the data and builds the run settings of `train` and `compare` from their shared flags.
/// `rarity` says whether any run will rebalance (then the rarity scores are computed).
fn prepare_training(args: &BudgetArgs, rarity: bool) -> Result<Prepared> {
    let preset: Preset = args.preset.parse()?;
    let backend = args.backend.parse::<Backend>()?.resolve();
    let gen_cfg = preset
        .config()
        .with_global_code(match args.global_code.as_str() {
            "on" => Some(true),
            "off" => None,
            other => bail!("--global-code {other}: choose on or off"),
        });
    let (h, w) = (gen_cfg.height, gen_cfg.width);
    let device = backend.device()?;

    let (pairs, data_desc) = load_pairs(
        &args.data,
        h,
        w,
        (args.seed, args.synth_count),
        args.map_unknown_colors,
        args.limit,
    )?;
    let rarity = if rarity {
        Some(rarity_scores(&args.data, &pairs, args.rarity_min_images)?)
    } else {
        None
    };

    let vgg = make_vgg(&args.vgg, &device)?;
    let vgg_desc = vgg.describe().to_string();
    let layer_weights = match args.layer_weights.as_str() {
        "paper" => LayerWeights::paper(),
        "auto" => {
            // Equal contributions on the data: training photos against other training photos.
            let probe = PerceptualDistance::new(vgg.clone(), LayerWeights::paper());
            let n = pairs.len().min(32);
            let images: Vec<_> = pairs[..n]
                .iter()
                .map(|p| rgb_to_tensor(&p.image, h, w, &device))
                .collect();
            let couples: Vec<_> = (0..n)
                .map(|i| (images[i].clone(), images[(i + 1) % n].clone()))
                .collect();
            LayerWeights::calibrate(&probe, &couples)?
        }
        other => {
            let values: Vec<f32> = other
                .split(',')
                .map(|v| v.trim().parse::<f32>())
                .collect::<Result<_, _>>()
                .ok()
                .filter(|v: &Vec<f32>| v.len() == 6 && v.iter().all(|x| x.is_finite() && *x >= 0.0))
                .with_context(|| {
                    format!(
                        "--layer-weights {other}: choose paper, auto, or six weights >= 0 for \
                         pixels, conv1_2, conv2_2, conv3_2, conv4_2, conv5_2 (e.g. 1,1,1,1,1,0)"
                    )
                })?;
            if values.iter().all(|&x| x == 0.0) {
                bail!("--layer-weights {other}: at least one weight must be above 0");
            }
            LayerWeights(values.try_into().expect("six values"))
        }
    };

    let mut config = TrainingConfig::new(gen_cfg)
        .with_selection_batch(args.selection_batch)
        .with_seed(args.seed)
        .with_data(data_desc.clone())
        .with_rarity_min_images(args.rarity_min_images)
        .with_distance(format!("{vgg_desc}, layer weights {:?}", layer_weights.0));
    // The CPU quick-start defaults of each preset; every one can be overridden by a flag.
    let (rounds, s, m, l) = match preset {
        Preset::Tiny => (2, 8, 4, 10),
        Preset::Small => (16, 32, 10, 150),
        Preset::Browser | Preset::Paper => (16, 400, 10, 10000),
    };
    config.rounds = args.rounds.unwrap_or(rounds);
    config.images_per_round = args.images_per_round.unwrap_or(s);
    config.candidates = args.candidates.unwrap_or(m);
    config.steps_per_round = args.steps_per_round.unwrap_or(l);
    config.batch_size = args.batch_size.unwrap_or(1);
    config.lr = match (args.lr, preset) {
        (Some(lr), _) => lr,
        // The CPU quick-start takes 2,400 steps, not 160,000: a larger step size.
        (None, Preset::Small | Preset::Tiny) => 1e-3,
        (None, _) => config.lr,
    };
    // As released: a new noise encoder and lr / 10 after round 6 (of 16).
    config.reinit_after_rounds = match args.reinit_after {
        Some(0) => None,
        Some(r) => Some(r),
        None if preset == Preset::Tiny => None,
        None => Some(6),
    };
    if config.candidates == 0 || config.images_per_round == 0 || config.batch_size == 0 {
        bail!("--candidates, --images-per-round and --batch-size must be at least 1");
    }
    Ok(Prepared {
        config,
        pairs,
        rarity,
        vgg,
        layer_weights,
        device,
        backend,
        preset,
        data_desc,
        vgg_desc,
    })
}

fn train_command(args: TrainArgs) -> Result<()> {
    let rebalance = !(args.no_dataset_rebalance && args.no_loss_rebalance);
    let Prepared {
        config,
        pairs,
        rarity,
        vgg,
        layer_weights,
        device,
        backend,
        preset,
        data_desc,
        vgg_desc,
    } = prepare_training(&args.budget, rebalance)?;
    if args
        .rs_epsilon_ratio
        .is_some_and(|r| !(r.is_finite() && r >= 0.0))
        || args
            .adaptive_gamma
            .is_some_and(|g| !(0.0..1.0).contains(&g))
    {
        bail!("--rs-epsilon-ratio must be a number >= 0 and --adaptive-gamma in [0, 1)");
    }
    let config = config
        .with_method(args.method)
        .with_sampling_temper(args.sampling_temper)
        .with_mask_temper(args.mask_temper)
        .with_rs_epsilon_ratio(args.rs_epsilon_ratio)
        .with_adaptive_gamma(args.adaptive_gamma)
        .with_adaptive_staleness(args.adaptive_staleness)
        .with_adaptive_force(args.adaptive_force)
        .with_dataset_rebalance(!args.no_dataset_rebalance)
        .with_loss_rebalance(!args.no_loss_rebalance);
    let (h, w) = (config.generator.height, config.generator.width);

    eprintln!(
        "cimle train: {} preset ({} parameters, {h}x{w}) on {backend}; data: {data_desc}; distance: {vgg_desc}",
        preset,
        config.generator.num_params()
    );
    eprintln!(
        "  rebalancing: dataset {}, loss {}",
        if config.dataset_rebalance {
            "on"
        } else {
            "off"
        },
        if config.loss_rebalance { "on" } else { "off" }
    );
    match config.method {
        Method::Cimle | Method::RsImle | Method::AdaptiveImle => eprintln!(
            "  {}: {} rounds x (select {} images x {} codes, then {} Adam steps of batch {})",
            config.method,
            config.rounds,
            config.images_per_round,
            config.candidates,
            config.steps_per_round,
            config.batch_size
        ),
        Method::Crn => eprintln!(
            "  CRN regression with the zero code: {} rounds x (pick {} images, then {} Adam \
             steps of batch {}); no selection",
            config.rounds, config.images_per_round, config.steps_per_round, config.batch_size
        ),
    }
    let eval = if args.eval_every > 0 {
        if args.eval_samples < 2 || args.eval_layouts == 0 {
            bail!("--eval-samples must be at least 2 and --eval-layouts at least 1");
        }
        eprintln!(
            "  measured after every {} rounds on {} held-out built-in layouts x {} samples: {}",
            args.eval_every,
            args.eval_layouts,
            args.eval_samples,
            args.out.join("curves.png").display()
        );
        Some(cimle_trainer::run::EvalOptions {
            every_rounds: args.eval_every,
            layouts: args.eval_layouts,
            samples: args.eval_samples,
            seed: args.eval_seed,
            distance: cimle_trainer::cpu_vgg::CpuDistance::new(&vgg, LayerWeights::paper()),
        })
    } else {
        None
    };
    let started = Instant::now();
    let summary = train_run(
        &config,
        &pairs,
        rarity.as_ref(),
        vgg,
        layer_weights,
        &device,
        &RunOptions {
            out: args.out.clone(),
            resume: args.resume,
            progress: true,
            path: backend.train_path(),
            eval,
        },
    )?;
    eprintln!(
        "done: {} rounds in {:.1} min; weights: {}; samples: {}",
        summary.state.rounds_done,
        started.elapsed().as_secs_f64() / 60.0,
        summary.weights.display(),
        args.out.join("samples").display()
    );
    Ok(())
}

fn compare_command(args: CompareArgs) -> Result<()> {
    use cimle_trainer::compare::{CompareOptions, compared_runs, run_compare};
    if args.samples < 2 || args.layouts == 0 {
        bail!("--samples must be at least 2 and --layouts at least 1");
    }
    check_frame_count(args.video_frames).context("--video-frames")?;
    let prepared = prepare_training(&args.budget, true)?;
    let base = &prepared.config;
    let (h, w) = (base.generator.height, base.generator.width);
    let runs = compared_runs(base);
    eprintln!(
        "cimle compare: {} runs of the {} preset ({} parameters, {h}x{w}) on {}; data: {}; \
         distance: {}",
        runs.len(),
        prepared.preset,
        base.generator.num_params(),
        prepared.backend,
        prepared.data_desc,
        prepared.vgg_desc
    );
    eprintln!(
        "  each: {} rounds x {} Adam steps of batch {} = {} gradient steps ({} images a round; \
         cIMLE runs try {} codes per image)",
        base.rounds,
        base.steps_per_round,
        base.batch_size,
        base.gradient_steps(),
        base.images_per_round,
        base.candidates
    );
    let synth_data = args.budget.data == "synth";
    if !synth_data {
        eprintln!(
            "  note: --data is a dataset, not the built-in scenes: the report gives diversity \
             only (appearance factors are known only for built-in scenes)"
        );
    }
    let started = Instant::now();
    let report = run_compare(
        base,
        &prepared.pairs,
        prepared.rarity.as_ref(),
        prepared.vgg,
        prepared.layer_weights,
        &prepared.device,
        &CompareOptions {
            out: args.out.clone(),
            layouts: args.layouts,
            samples: args.samples,
            eval_seed: args.eval_seed,
            synth_data,
            video_seed: args.video_seed,
            video_frames: args.video_frames,
            video_code_seed: args.video_code_seed,
            progress: true,
            path: prepared.backend.train_path(),
        },
    )?;
    eprintln!(
        "done in {:.1} min: {} (report.md, report.json, metrics.png, samples.png, frames.png)",
        started.elapsed().as_secs_f64() / 60.0,
        args.out.display()
    );
    println!("{}", report.table());
    Ok(())
}

fn read_layout(path: &Path, how: &LayoutFormatArgs, h: usize, w: usize) -> Result<Layout> {
    let (format, map_unknown) = (how.label_format.as_deref(), how.map_unknown_colors);
    let bytes =
        std::fs::read(path).with_context(|| format!("reading layout {}", path.display()))?;
    let format = format
        .map(|f| {
            f.parse::<LabelFormat>()
                .map_err(|e| anyhow::anyhow!("--label-format: {e}"))
        })
        .transpose()?;
    let policy = if map_unknown {
        ColorPolicy::MapToNearest
    } else {
        ColorPolicy::Strict
    };
    let decoded = match format {
        Some(format) => cimle::label_png::decode_png(&bytes, format, policy),
        None => cimle::label_png::decode_png_auto(&bytes, policy).map(|(detection, decoded)| {
            eprintln!("{}: read as {detection}", path.display());
            decoded
        }),
    }
    .map_err(|e| match label_hint(&e) {
        Some(hint) => anyhow::anyhow!("{}: {e} ({hint})", path.display()),
        None => anyhow::anyhow!("{}: {e}", path.display()),
    })?;
    if decoded.remapped_pixels > 0 {
        eprintln!(
            "{}: mapped {} pixels of unknown colours to the nearest class",
            path.display(),
            decoded.remapped_pixels
        );
    }
    let layout = decoded.layout;
    if (layout.height(), layout.width()) != (h, w) {
        eprintln!(
            "{}: layout is {}x{}, the model's size is {h}x{w}: resized (nearest)",
            path.display(),
            layout.height(),
            layout.width()
        );
        return Ok(layout.resize_nearest(h, w));
    }
    Ok(layout)
}

fn sample_command(args: SampleArgs) -> Result<()> {
    let device = burn::tensor::Device::flex();
    let (generator, header) = load_weights(&args.weights, &device)?;
    let method = weights_method(&header, &args.weights)?;
    let cfg = header.config;
    let (h, w) = (cfg.height, cfg.width);
    let layout = read_layout(&args.layout, &args.layout_format, h, w)?;
    let mut cells = vec![RgbImage::from_rgb(w, h, layout.to_color_rgb()).context("layout size")?];
    let pb = progress_bar(args.count as u64, "sample", true);
    let mut frames = Vec::new();
    for chunk_start in (0..args.count).step_by(8) {
        let n = (args.count - chunk_start).min(8);
        let codes: Vec<LatentCode> = (0..n)
            .map(|i| {
                method.sampling_code(
                    args.seed + (chunk_start + i) as u64,
                    cfg.latent_channels,
                    h,
                    w,
                )
            })
            .collect();
        let x = one_hot(&vec![&layout; n], cfg.num_classes(), &device);
        let z = LatentCode::batch_tensor(&codes, &device)?;
        let data = generator
            .forward(x, z)
            .into_data()
            .try_to_vec::<f32>()
            .map_err(|e| anyhow::anyhow!("{e:?}"))?;
        for rgb in images_to_rgb8(&data, n, h, w) {
            let img = RgbImage::from_rgb(w, h, rgb).context("sample size")?;
            frames.push(img.clone());
            cells.push(img);
        }
        pb.inc(n as u64);
    }
    pb.finish_and_clear();
    let columns = if cells.len() <= 4 { cells.len() } else { 4 };
    let picture = grid(&cells, columns, 4, [255, 255, 255]);
    write_atomic(&args.out, &picture.encode_png())
        .with_context(|| format!("writing {}", args.out.display()))?;
    if let Some(dir) = &args.frames {
        for (i, f) in frames.iter().enumerate() {
            let path = dir.join(format!("sample-{:03}-seed-{}.png", i, args.seed + i as u64));
            write_atomic(&path, &f.encode_png())
                .with_context(|| format!("writing {}", path.display()))?;
        }
    }
    eprintln!(
        "wrote {} samples of {h}x{w} to {}",
        args.count,
        args.out.display()
    );
    Ok(())
}

/// The command-line way out of a label error (the model crate describes the data only).
fn label_hint(e: &LabelError) -> Option<&'static str> {
    Some(match e {
        LabelError::UnknownColor { .. } => {
            "pass --map-unknown-colors to map such colours to the nearest class"
        }
        LabelError::GrayAsColor {
            reads_as: Some(LabelFormat::TrainId),
            ..
        }
        | LabelError::InvalidLabelId { .. } => "pass --label-format train-id",
        LabelError::GrayAsColor {
            reads_as: Some(LabelFormat::LabelIds),
            ..
        }
        | LabelError::InvalidTrainId { .. } => "pass --label-format label-ids",
        LabelError::GrayAsColor { .. } | LabelError::Ambiguous { .. } => {
            "pass --label-format label-ids or --label-format train-id"
        }
        LabelError::NotGray { .. } => "pass --label-format color",
        _ => return None,
    })
}

/// A dataset error with the command-line way out where there is one (`train` and `rarity` have
/// --map-unknown-colors but no --label-format).
fn data_error(e: DataError) -> anyhow::Error {
    match &e {
        DataError::Label {
            error: error @ LabelError::UnknownColor { .. },
            ..
        } => anyhow::anyhow!("{e} ({})", label_hint(error).unwrap_or_default()),
        _ => e.into(),
    }
}

/// Loads a weights file on `device`: the generator and what the file says about itself.
fn load_weights(
    path: &Path,
    device: &burn::tensor::Device,
) -> Result<(cimle::generator::Generator, cimle::weights::WeightsHeader)> {
    let bytes = std::fs::read(path).with_context(|| {
        format!(
            "reading weights {}: give a run's weights.safetensors or a `cimle export` file",
            path.display()
        )
    })?;
    let (generator, header) = load_generator(&bytes, device).map_err(|e| {
        let hint = match e {
            WeightsError::Foreign { .. } => {
                " (give a run's RUN/weights.safetensors, or export one with \
                 `cimle export --weights RUN/weights.safetensors --out FILE`)"
            }
            WeightsError::Unreadable(_) => {
                " (give a run's RUN/weights.safetensors or a file written by `cimle export`)"
            }
            WeightsError::NewerVersion { .. } => {
                " (update cimle, or export the model again with this build's `cimle export`)"
            }
            _ => "",
        };
        anyhow::anyhow!("{}: {e}{hint}", path.display())
    })?;
    Ok((generator, header))
}

/// How the model in a weights file is sampled: a code per seed (cIMLE), or the zero code
/// whatever the seed (CRN), as the file's `method` metadata entry says (no entry: cIMLE; see
/// `Method::of_weights`). Says so on stderr for a CRN model.
fn weights_method(header: &cimle::weights::WeightsHeader, path: &Path) -> Result<Method> {
    let method =
        Method::of_weights(&header.metadata).with_context(|| format!("{}", path.display()))?;
    if method == Method::Crn {
        eprintln!(
            "note: {} is a CRN model (regression, trained without noise): every sample uses the \
             zero code, whatever the seed",
            path.display()
        );
    }
    Ok(method)
}

/// The most frames `interpolate` and `animate` render.
const MAX_VIDEO_FRAMES: usize = 10_000;

/// `frames` from 2 to [`MAX_VIDEO_FRAMES`], or an error naming the flag.
fn check_frame_count(frames: usize) -> Result<()> {
    if frames < 2 {
        bail!(
            "--frames {frames}: a video needs at least 2 frames (adjacent differences need a pair)"
        );
    }
    if frames > MAX_VIDEO_FRAMES {
        bail!("--frames {frames}: at most {MAX_VIDEO_FRAMES} frames");
    }
    Ok(())
}

/// Checks `--delay-ms` and creates the `--out` folder, before any rendering.
fn prepare_out(args: &VideoOutArgs) -> Result<()> {
    if args.delay_ms == 0 {
        bail!("--delay-ms 0: give at least 1 ms a frame");
    }
    let out = &args.out;
    if out.exists() && !out.is_dir() {
        bail!(
            "--out {}: is a file, not a folder; give a folder (created if missing)",
            out.display()
        );
    }
    std::fs::create_dir_all(out)
        .with_context(|| format!("creating the output folder {}", out.display()))
}

/// Writes a rendered video into `args.out`: `frame-NNN.png`, `interpolation.png` (animated),
/// `differences.png` (the adjacent-frame difference maps, each labelled with its mean) and
/// `differences.csv`; prints the mean adjacent difference and returns it.
fn write_video(args: &VideoOutArgs, frames: &[RgbImage]) -> Result<f64> {
    use cimle_trainer::picture::draw_text;
    use cimle_trainer::video::{DIFFERENCE_WHITE, encode_apng, frame_differences};
    let out = &args.out;
    prepare_out(args)?;
    let write = |name: &str, bytes: &[u8]| -> Result<()> {
        let path = out.join(name);
        write_atomic(&path, bytes).with_context(|| format!("writing {}", path.display()))
    };
    for (i, f) in frames.iter().enumerate() {
        write(&format!("frame-{i:03}.png"), &f.encode_png())?;
    }
    // Frames of an earlier, longer video in the same folder would mix with these.
    let stale = (frames.len()..)
        .take_while(|i| out.join(format!("frame-{i:03}.png")).exists())
        .count();
    if stale > 0 {
        eprintln!(
            "note: {} still holds {stale} frame-NNN.png files from an earlier, longer video \
             (frame-{:03}.png on); delete them or use another --out",
            out.display(),
            frames.len()
        );
    }
    let apng = encode_apng(frames, args.delay_ms)
        .with_context(|| format!("encoding {}", out.join("interpolation.png").display()))?;
    write("interpolation.png", &apng)?;
    let (maps, means) = frame_differences(frames);
    let labelled: Vec<RgbImage> = maps
        .into_iter()
        .zip(&means)
        .map(|(mut map, mean)| {
            draw_text(&mut map, &format!("{mean:.1}"), 2, 2, 1, [255, 90, 60]);
            map
        })
        .collect();
    let columns = labelled.len().clamp(1, 4);
    write(
        "differences.png",
        &grid(&labelled, columns, 4, [40, 40, 40]).encode_png(),
    )?;
    let mut csv = String::from("pair,mean_abs_diff\n");
    for (i, m) in means.iter().enumerate() {
        csv.push_str(&format!("{i},{m:.4}\n"));
    }
    write("differences.csv", csv.as_bytes())?;
    let mean = if means.is_empty() {
        0.0
    } else {
        means.iter().sum::<f64>() / means.len() as f64
    };
    let max = means.iter().copied().fold(0.0, f64::max);
    println!(
        "mean adjacent-frame difference: {mean:.3} (0..255; max {max:.3}) over {} pairs",
        means.len()
    );
    eprintln!(
        "wrote {} frames, interpolation.png (animated, {} ms a frame), differences.png (white = \
         {DIFFERENCE_WHITE} levels or more) and differences.csv to {}",
        frames.len(),
        args.delay_ms,
        out.display()
    );
    Ok(mean)
}

fn interpolate_command(args: InterpolateArgs) -> Result<()> {
    use cimle::latent::Interpolation;
    use cimle_trainer::video::{interpolation_codes, render_frames};
    check_frame_count(args.frames)?;
    prepare_out(&args.output)?;
    let device = burn::tensor::Device::flex();
    let (generator, header) = load_weights(&args.weights, &device)?;
    let method = weights_method(&header, &args.weights)?;
    let cfg = header.config;
    let (h, w) = (cfg.height, cfg.width);
    let layout = read_layout(&args.layout, &args.layout_format, h, w)?;
    let how = if args.lerp {
        Interpolation::Lerp
    } else {
        Interpolation::Slerp
    };
    let a = method.sampling_code(args.from, cfg.latent_channels, h, w);
    let b = method.sampling_code(args.to, cfg.latent_channels, h, w);
    let codes = interpolation_codes(&a, &b, args.frames, how)?;
    if method.uses_codes() {
        eprintln!(
            "cimle interpolate: {} frames of {h}x{w}, seed {} to seed {} ({how:?})",
            args.frames, args.from, args.to
        );
    } else {
        eprintln!(
            "cimle interpolate: {} frames of {h}x{w}, all with the zero code (CRN model)",
            args.frames
        );
    }
    let frames = render_frames(&generator, &cfg, &[layout], &codes, &device)
        .with_context(|| format!("rendering with {}", args.weights.display()))?;
    write_video(&args.output, &frames)?;
    Ok(())
}

/// The sorted `.png` files of `dir`.
fn layout_files(dir: &Path) -> Result<Vec<PathBuf>> {
    let entries = std::fs::read_dir(dir).with_context(|| {
        format!(
            "reading the layout folder {}: give a folder of layout PNGs (--layouts DIR)",
            dir.display()
        )
    })?;
    let mut files = Vec::new();
    for entry in entries {
        let path = entry
            .with_context(|| format!("listing {}", dir.display()))?
            .path();
        let is_png = path
            .extension()
            .is_some_and(|e| e.eq_ignore_ascii_case("png"));
        if is_png && path.is_file() {
            files.push(path);
        }
    }
    files.sort();
    Ok(files)
}

fn animate_command(args: AnimateArgs) -> Result<()> {
    use cimle::latent::Interpolation;
    use cimle_trainer::video::{interpolation_codes, render_frames};
    prepare_out(&args.output)?;
    let device = burn::tensor::Device::flex();
    let (generator, header) = load_weights(&args.weights, &device)?;
    let method = weights_method(&header, &args.weights)?;
    let cfg = header.config;
    let (h, w) = (cfg.height, cfg.width);
    let (layouts, source) = match (&args.layouts, args.synth_seed) {
        (Some(dir), _) => {
            let mut files = layout_files(dir)?;
            if files.is_empty() {
                bail!(
                    "{}: no .png files; put one layout PNG per frame there (palette colours, \
                     train ids or labelIds), named so that they sort in playing order",
                    dir.display()
                );
            }
            if let Some(n) = args.frames {
                if n > files.len() {
                    bail!(
                        "--frames {n}: {} holds only {} layout PNGs; ask for at most {} frames \
                         or leave --frames out",
                        dir.display(),
                        files.len(),
                        files.len()
                    );
                }
                files.truncate(n);
            }
            check_frame_count(files.len()).with_context(|| {
                format!("{}: holds {} layout PNG(s)", dir.display(), files.len())
            })?;
            let layouts = files
                .iter()
                .map(|f| read_layout(f, &args.layout_format, h, w))
                .collect::<Result<Vec<_>>>()?;
            (
                layouts,
                format!("{} layouts from {}", files.len(), dir.display()),
            )
        }
        (None, Some(seed)) => {
            let n = args.frames.unwrap_or(32);
            check_frame_count(n)?;
            let layouts = synth::layout_sequence(seed, n, h, w)
                .into_iter()
                .map(|ids| Layout::new(h, w, ids).context("built-in layout sequence"))
                .collect::<Result<Vec<_>>>()?;
            (
                layouts,
                format!("built-in sequence of scene seed {seed} (a car drives away and back)"),
            )
        }
        (None, None) => bail!("give --synth-seed S (built-in scene) or --layouts DIR"),
    };
    let n = layouts.len();
    let latent = |seed: u64| method.sampling_code(seed, cfg.latent_channels, h, w);
    let (codes, style) = match (args.seed, args.from, args.to) {
        _ if !method.uses_codes() => (vec![latent(0)], "the zero code (CRN model)".to_string()),
        (Some(seed), _, _) => (vec![latent(seed)], format!("one code (seed {seed})")),
        (None, Some(from), Some(to)) => {
            let how = if args.lerp {
                Interpolation::Lerp
            } else {
                Interpolation::Slerp
            };
            (
                interpolation_codes(&latent(from), &latent(to), n, how)?,
                format!("code from seed {from} to seed {to} ({how:?})"),
            )
        }
        _ => bail!("give --seed S (one style) or --from S --to S (a style that changes)"),
    };
    eprintln!("cimle animate: {n} frames of {h}x{w}: {source}; {style}");
    let frames = render_frames(&generator, &cfg, &layouts, &codes, &device)
        .with_context(|| format!("rendering with {}", args.weights.display()))?;
    write_video(&args.output, &frames)?;
    Ok(())
}

fn export_command(args: ExportArgs) -> Result<()> {
    let device = burn::tensor::Device::flex();
    let (generator, header) = load_weights(&args.weights, &device)?;
    let precision = if args.half {
        Precision::F16
    } else {
        Precision::F32
    };
    let mut provenance = header.metadata.clone();
    for key in ["format", "version", "config"] {
        provenance.remove(key);
    }
    provenance.insert("exported_from".into(), args.weights.display().to_string());
    let out = save_generator(&generator, &header.config, precision, &provenance)?;
    write_atomic(&args.out, &out).with_context(|| format!("writing {}", args.out.display()))?;
    println!(
        "{}: {} parameters, {}x{}, {:?}, {:.2} MB",
        args.out.display(),
        header.config.num_params(),
        header.config.height,
        header.config.width,
        precision,
        out.len() as f64 / 1e6
    );
    Ok(())
}

fn distance_command(args: DistanceArgs) -> Result<()> {
    let device = burn::tensor::Device::flex();
    let read = |p: &Path| -> Result<(Vec<u8>, usize, usize)> {
        let bytes = std::fs::read(p).with_context(|| format!("reading {}", p.display()))?;
        read_png_rgb(&bytes).map_err(|e| anyhow::anyhow!("{}: {e}", p.display()))
    };
    let (a, ah, aw) = read(&args.a)?;
    let (mut b, bh, bw) = read(&args.b)?;
    if (ah, aw) != (bh, bw) {
        eprintln!(
            "{}: {bh}x{bw} resized to {ah}x{aw} (area)",
            args.b.display()
        );
        b = resize_area(&b, bh, bw, ah, aw);
    }
    if ah < 16 || aw < 16 {
        bail!(
            "{}: images must be at least 16x16 for VGG-19's four poolings",
            args.a.display()
        );
    }
    let dist = PerceptualDistance::new(make_vgg(&args.vgg, &device)?, LayerWeights::paper());
    let report = distance_report(&dist, &a, &b, ah, aw, &device);
    if args.json {
        println!("{}", serde_json::to_string_pretty(&report)?);
    } else {
        println!("{report}");
    }
    Ok(())
}

fn bench_command(args: BenchArgs) -> Result<()> {
    cimle::cpu::gemm::set_threads(args.threads);
    if let (Some(dir), Some(case)) = (&args.fixture, &args.case) {
        let mut fixture = cimle_trainer::bench::load_fixture(dir)
            .with_context(|| format!("loading the bench fixture {}", dir.display()))?;
        let result = cimle_trainer::bench::run_case(&mut fixture, case, args.batch, args.steps)?;
        println!("{}", serde_json::to_string(&result)?);
        return Ok(());
    }
    let preset: Preset = args.preset.parse()?;
    let device = burn::tensor::Device::flex();
    let vgg = make_vgg(&args.vgg, &device)?;
    if let Some(dir) = &args.write_fixture {
        cimle_trainer::bench::write_fixture(dir, preset, &vgg)
            .with_context(|| format!("writing the bench fixture {}", dir.display()))?;
        eprintln!("fixture written to {}", dir.display());
        return Ok(());
    }
    eprintln!(
        "cimle bench: {preset} on the CPU ({} train steps)",
        args.steps
    );
    let tmp = std::env::temp_dir().join(format!("cimle-bench-{}", std::process::id()));
    let report = cimle_trainer::bench::run_bench(preset, &vgg, args.steps.max(1), &tmp);
    let _ = std::fs::remove_dir_all(&tmp);
    let report = report?;
    println!(
        "| preset | resolution | parameters | train step (ms, batch 1) | selection (images/s) | forward (ms, batch 1) |"
    );
    println!("|---|---|---|---|---|---|");
    println!("{}", report.markdown_row());
    println!("distance: {}; {} threads", report.distance, report.threads);
    if let Some(out) = &args.out {
        write_atomic(out, &serde_json::to_vec_pretty(&report)?)
            .with_context(|| format!("writing {}", out.display()))?;
    }
    Ok(())
}

fn evaluate_command(args: EvaluateArgs) -> Result<()> {
    if args.samples < 2 || args.layouts == 0 {
        bail!("--samples must be at least 2 and --layouts at least 1");
    }
    let device = burn::tensor::Device::flex();
    let (generator, header) = load_weights(&args.weights, &device)?;
    let method = weights_method(&header, &args.weights)?;
    let cfg = header.config.clone();
    let model = cimle::model::Model::from_generator(generator, header, &device)
        .with_context(|| format!("{}", args.weights.display()))?;
    let distance = cimle_trainer::cpu_vgg::CpuDistance::new(
        &make_vgg(&args.vgg, &device)?,
        LayerWeights::paper(),
    );
    let (evaluation, rendered) = cimle_trainer::evaluate::evaluate_on_synth(
        &model,
        &distance,
        args.layouts,
        args.samples,
        args.seed,
    )
    .with_context(|| format!("evaluating {}", args.weights.display()))?;
    let reader = cimle_trainer::factors::reader_accuracy(args.seed ^ 1, 200, cfg.height, cfg.width);
    let report = format!(
        "# cimle evaluate: {} ({method} model{})\n\n{}\n## The factor reader on 200 real built-in scenes ({}x{})\n\n{}\n",
        args.weights.display(),
        if method.uses_codes() {
            ""
        } else {
            ": every sample uses the zero code"
        },
        evaluation.markdown(),
        cfg.height,
        cfg.width,
        reader
    );
    let write = |name: &str, bytes: &[u8]| {
        let path = args.out.join(name);
        write_atomic(&path, bytes).with_context(|| format!("writing {}", path.display()))
    };
    write("report.md", report.as_bytes())?;
    write(
        "report.json",
        &serde_json::to_vec_pretty(
            &serde_json::json!({ "method": method, "model": evaluation, "reader": reader }),
        )?,
    )?;
    let (h, w) = (cfg.height, cfg.width);
    let mut cells = Vec::new();
    for (layout, images) in rendered.iter().take(4) {
        cells.push(RgbImage::from_rgb(w, h, layout.to_color_rgb()).context("layout size")?);
        for im in images {
            cells.push(RgbImage::from_rgb(w, h, im.clone()).context("sample size")?);
        }
    }
    write(
        "samples.png",
        &grid(&cells, args.samples + 1, 2, [255, 255, 255]).encode_png(),
    )?;
    println!("{report}");
    Ok(())
}

fn main() {
    let cli = Cli::parse();
    let result = match cli.command {
        Command::Synth(a) => synth_command(a),
        Command::Train(a) => train_command(a),
        Command::Sample(a) => sample_command(a),
        Command::Export(a) => export_command(a),
        Command::Distance(a) => distance_command(a),
        Command::Bench(a) => bench_command(a),
        Command::Rarity(a) => rarity_command(a),
        Command::Evaluate(a) => evaluate_command(a),
        Command::Compare(a) => compare_command(a),
        Command::Interpolate(a) => interpolate_command(a),
        Command::Animate(a) => animate_command(a),
    };
    if let Err(err) = result {
        eprintln!("error: {err:#}");
        std::process::exit(1);
    }
}
