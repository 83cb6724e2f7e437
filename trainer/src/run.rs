//! A training run on disk: `config.json`, per-round atomic checkpoints, sample grids and loss
//! curves, and `--resume` that loses at most the round in progress.
//!
//! ```text
//! RUN/config.json             the TrainingConfig (its `method`: cimle or crn), written first
//! RUN/checkpoint.bin          weights + optimiser state + RNG state + round (atomic)
//! RUN/weights.safetensors     the generator in cimle's weights format, f32 (atomic); its
//!                             metadata's `method` entry says how to sample it
//! RUN/samples/round-NN.png    layout | photo | samples, for a few fixed layouts and seeds
//!                             (one zero-code column for a CRN run)
//! RUN/loss.csv, RUN/loss.png  every step's loss, and its curve
//! ```

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::time::Instant;

use burn::tensor::Device;
use cimle::cpu::CpuGenerator;
use cimle::generator::{Generator, images_to_rgb8, one_hot};
use cimle::latent::{LatentCode, PortableRng};
use cimle::model::Model;
use cimle::weights::{Precision, save_generator};
use indicatif::{ProgressBar, ProgressState, ProgressStyle};
use serde::{Deserialize, Serialize};

use crate::cpu_vgg::CpuDistance;
use crate::curves::{self, EvalPoint};
use crate::engine::{Engine, TrainPath};
use crate::evaluate::evaluate_on_synth;
use crate::imle::{
    METHOD_METADATA_KEY, Method, Pair, TrainingConfig, auto_selection_batch, available_memory,
    candidate_seed, choose_indices, round_lr,
};
use crate::perceptual::{LayerWeights, Vgg19Features};
use crate::picture::{RgbImage, grid, line_chart, write_atomic};
use crate::rebalance::{RarityScores, RebalancedSampler, largest_classes};
use crate::selection::{MethodState, RS_EPSILON_RATIO, round_codes, rs_epsilon};

const CHECKPOINT_MAGIC: &[u8; 8] = b"CIMLECKP";
/// 2: the state names its optimiser format (`cimle-adam` or `burn`); 1: always burn's.
const CHECKPOINT_VERSION: u32 = 2;
/// Seeds of the sample columns in every round's grid: fixed, so rounds compare.
const PREVIEW_SEEDS: [u64; 6] = [0, 1, 2, 3, 4, 5];

/// Why a run could not proceed.
#[derive(Debug, thiserror::Error)]
pub enum RunError {
    #[error("{path}: {source}")]
    Io {
        path: PathBuf,
        source: std::io::Error,
    },
    #[error(
        "{0} already holds a checkpoint: pass --resume to continue that run, or choose another --out"
    )]
    Exists(PathBuf),
    #[error("{path}: not a cimle checkpoint ({why}); delete it or choose another --out")]
    BadCheckpoint { path: PathBuf, why: String },
    #[error("no training data: the dataset is empty")]
    NoData,
    #[error(
        "round {round}, step {step}: the training loss is {loss} (not a finite number). The run \
         stopped; its last checkpoint (after round {round}) is kept. Lower --lr and resume, or \
         start again"
    )]
    NonFinite {
        round: usize,
        step: usize,
        loss: f32,
    },
    #[error("could not save weights: {0}")]
    Weights(#[from] cimle::weights::WeightsError),
    #[error("measuring the generator (--eval-every): {0}")]
    Eval(String),
}

fn io_err(path: &Path) -> impl FnOnce(std::io::Error) -> RunError + '_ {
    move |source| RunError::Io {
        path: path.to_path_buf(),
        source,
    }
}

/// What survives a kill: everything needed to continue after the last finished round.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct RunState {
    /// Rounds completed.
    pub rounds_done: usize,
    /// The run's random generator after the last completed round.
    pub rng: PortableRng,
    /// `(round, step, loss)` of every training step so far.
    pub losses: Vec<(usize, usize, f32)>,
    /// Seconds spent in completed rounds.
    pub seconds: f64,
    /// The layer weights λ in use.
    pub layer_weights: LayerWeights,
    /// Who wrote the optimiser state: `cimle-adam` (the CPU kernels) or `burn`.
    #[serde(default = "burn_optimizer")]
    pub optimizer: String,
    /// The learning curve so far (`--eval-every`).
    #[serde(default)]
    pub evals: Vec<EvalPoint>,
    /// What the training method remembers across rounds (RS-IMLE's ε, Adaptive IMLE's
    /// thresholds).
    #[serde(default)]
    pub method: MethodState,
}

fn burn_optimizer() -> String {
    TrainPath::Burn.optimizer_format().to_string()
}

/// Result of [`train_run`].
#[derive(Debug, Clone)]
pub struct RunSummary {
    pub state: RunState,
    /// Path of the latest weights file.
    pub weights: PathBuf,
}

/// Options of a run that are not part of the model's definition.
#[derive(Debug, Clone)]
pub struct RunOptions {
    /// The run folder.
    pub out: PathBuf,
    /// Continue from `out/checkpoint.bin`.
    pub resume: bool,
    /// Show progress bars (they hide themselves when stderr is not a terminal).
    pub progress: bool,
    /// cimle's CPU kernels or burn's autodiff.
    pub path: TrainPath,
    /// Measure the generator as it trains (learning curves), or not.
    pub eval: Option<EvalOptions>,
}

/// How a run measures itself as it trains ([`crate::curves`]).
#[derive(Debug, Clone)]
pub struct EvalOptions {
    /// Measure after every this many rounds (and after the last).
    pub every_rounds: usize,
    /// Held-out built-in layouts.
    pub layouts: usize,
    /// Samples per layout.
    pub samples: usize,
    /// Seed of the held-out scenes.
    pub seed: u64,
    /// The distance of the fidelity and diversity measures.
    pub distance: CpuDistance,
}

fn encode_checkpoint(state: &RunState, model: &[u8], optim: &[u8]) -> Vec<u8> {
    let json = serde_json::to_vec(state).unwrap_or_default();
    let mut out = Vec::with_capacity(32 + json.len() + model.len() + optim.len());
    out.extend_from_slice(CHECKPOINT_MAGIC);
    out.extend_from_slice(&CHECKPOINT_VERSION.to_le_bytes());
    for part in [&json[..], model, optim] {
        out.extend_from_slice(&(part.len() as u64).to_le_bytes());
        out.extend_from_slice(part);
    }
    out
}

fn decode_checkpoint(bytes: &[u8]) -> Result<(RunState, Vec<u8>, Vec<u8>), String> {
    if bytes.len() < 12 || &bytes[..8] != CHECKPOINT_MAGIC {
        return Err("wrong magic bytes".into());
    }
    let version = u32::from_le_bytes([bytes[8], bytes[9], bytes[10], bytes[11]]);
    if version == 0 || version > CHECKPOINT_VERSION {
        return Err(format!(
            "checkpoint version {version}, this build reads {CHECKPOINT_VERSION}"
        ));
    }
    let mut rest = &bytes[12..];
    let mut parts = Vec::new();
    for _ in 0..3 {
        if rest.len() < 8 {
            return Err("truncated".into());
        }
        let mut len_bytes = [0u8; 8];
        len_bytes.copy_from_slice(&rest[..8]);
        let len = u64::from_le_bytes(len_bytes) as usize;
        rest = &rest[8..];
        if rest.len() < len {
            return Err("truncated".into());
        }
        parts.push(rest[..len].to_vec());
        rest = &rest[len..];
    }
    let optim = parts.pop().unwrap_or_default();
    let model = parts.pop().unwrap_or_default();
    let json = parts.pop().unwrap_or_default();
    let state = serde_json::from_slice(&json).map_err(|e| format!("state: {e}"))?;
    Ok((state, model, optim))
}

/// Reads a run's checkpoint: its state, and the generator and optimiser on `path`.
pub fn load_checkpoint(
    file: &Path,
    config: &TrainingConfig,
    vgg: Vgg19Features,
    path: TrainPath,
    device: &Device,
) -> Result<(RunState, Engine), RunError> {
    let bytes = std::fs::read(file).map_err(io_err(file))?;
    let bad = |why: String| RunError::BadCheckpoint {
        path: file.to_path_buf(),
        why,
    };
    let (state, model, optim) = decode_checkpoint(&bytes).map_err(bad)?;
    let engine = Engine::load(
        path,
        config,
        vgg,
        state.layer_weights,
        device,
        model,
        &optim,
        &state.optimizer,
    )
    .map_err(bad)?;
    Ok((state, engine))
}

/// The state saved in a run's checkpoint (rounds done, losses, seconds), without loading the
/// model: what `cimle compare` reads to tell a finished run from an interrupted one.
pub fn read_run_state(path: &Path) -> Result<RunState, RunError> {
    let bytes = std::fs::read(path).map_err(io_err(path))?;
    let (state, _, _) = decode_checkpoint(&bytes).map_err(|why| RunError::BadCheckpoint {
        path: path.to_path_buf(),
        why,
    })?;
    Ok(state)
}

/// A terminal progress bar with rate and ETA (hidden when `show` is false; indicatif also hides
/// it when stderr is not a terminal).
pub fn progress_bar(len: u64, prefix: impl Into<String>, show: bool) -> ProgressBar {
    let pb = if show {
        ProgressBar::new(len)
    } else {
        ProgressBar::hidden()
    };
    pb.set_style(
        ProgressStyle::with_template(
            "{prefix:>18} [{bar:28}] {pos}/{len} {rate:>9} ETA {eta:>4} {msg}",
        )
        .unwrap_or_else(|_| ProgressStyle::default_bar())
        .with_key("rate", |s: &ProgressState, w: &mut dyn std::fmt::Write| {
            let _ = std::fmt::Write::write_fmt(w, format_args!("{:.2}/s", s.per_sec()));
        })
        .progress_chars("=> "),
    );
    pb.set_prefix(prefix.into());
    pb
}

/// Renders `layouts` with the fixed preview seeds: `[layout, photo, samples...]` per row. A CRN
/// model's samples all use the zero code ([`Method::sampling_code`]), so it gets one column.
fn preview_grid(
    generator: &Generator,
    previews: &[&Pair],
    latent: usize,
    method: Method,
    device: &Device,
) -> RgbImage {
    let seeds: &[u64] = if method.uses_codes() {
        &PREVIEW_SEEDS
    } else {
        &PREVIEW_SEEDS[..1]
    };
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
            .map(|&s| method.sampling_code(s, latent, h, w))
            .collect();
        let layouts = vec![&pair.layout; codes.len()];
        let x = one_hot(&layouts, generator.num_classes(), device);
        if let Ok(z) = LatentCode::batch_tensor(&codes, device) {
            let data = generator
                .forward(x, z)
                .into_data()
                .try_to_vec::<f32>()
                .unwrap_or_default();
            for rgb in images_to_rgb8(&data, codes.len(), h, w) {
                cells.push(RgbImage::from_rgb(w, h, rgb).unwrap_or(RgbImage::filled(w, h, [0; 3])));
            }
        }
    }
    grid(&cells, 2 + seeds.len(), 2, [255, 255, 255])
}

/// Runs (or resumes) conditional IMLE training on `pairs` (or, with `config.method` =
/// [`Method::Crn`], the regression baseline: same rounds, steps and schedule, zero codes, no
/// selection), writing everything under `options.out`. The weights file names the method in its
/// metadata ([`METHOD_METADATA_KEY`]). `vgg` is the distance's network on `device` (without
/// autodiff); `options.path` says whether cimle's CPU kernels or burn's autodiff on `device`
/// train. `rarity` holds the pairs' rarity scores when either rebalancing is on (see
/// [`RarityScores::compute`]); without it both are off.
#[allow(clippy::too_many_arguments)]
pub fn train_run(
    config: &TrainingConfig,
    pairs: &[Pair],
    rarity: Option<&RarityScores>,
    vgg: Vgg19Features,
    layer_weights: LayerWeights,
    device: &Device,
    options: &RunOptions,
) -> Result<RunSummary, RunError> {
    if pairs.is_empty() {
        return Err(RunError::NoData);
    }
    let out = &options.out;
    std::fs::create_dir_all(out).map_err(io_err(out))?;
    let checkpoint_path = out.join("checkpoint.bin");
    let weights_path = out.join("weights.safetensors");

    let (mut state, mut engine) = if options.resume && checkpoint_path.exists() {
        load_checkpoint(&checkpoint_path, config, vgg, options.path, device)?
    } else {
        if checkpoint_path.exists() && !options.resume {
            return Err(RunError::Exists(out.clone()));
        }
        let config_path = out.join("config.json");
        let json = serde_json::to_vec_pretty(config).unwrap_or_default();
        write_atomic(&config_path, &json).map_err(io_err(&config_path))?;
        let state = RunState {
            rounds_done: 0,
            rng: PortableRng::new(config.seed),
            losses: Vec::new(),
            seconds: 0.0,
            layer_weights,
            optimizer: options.path.optimizer_format().to_string(),
            evals: Vec::new(),
            method: MethodState::default(),
        };
        let engine =
            Engine::new(options.path, config, vgg, layer_weights, device).map_err(|why| {
                RunError::BadCheckpoint {
                    path: checkpoint_path.clone(),
                    why,
                }
            })?;
        (state, engine)
    };

    let gen_cfg = &config.generator;
    let m = config.candidates.max(1);
    let batch = if config.selection_batch > 0 {
        config.selection_batch
    } else {
        auto_selection_batch(gen_cfg, m, available_memory())
    };
    let previews: Vec<&Pair> = pairs.iter().take(3).collect();
    let sampler = rarity.filter(|_| config.dataset_rebalance).map(|scores| {
        let classes = largest_classes(pairs.iter().map(|p| &p.layout), 5);
        RebalancedSampler::new(
            &scores.tempered(config.sampling_temper.unwrap_or(1.0)),
            &classes,
        )
    });
    // M̂^k of docs/METHOD.md "Loss rebalancing", as H x W numbers.
    let mask_scores = rarity
        .filter(|_| config.loss_rebalance)
        .map(|scores| scores.tempered(config.mask_temper.unwrap_or(1.0)));
    let mask_of =
        |k: usize| -> Option<Vec<f32>> { Some(mask_scores.as_ref()?.mask(k, &pairs[k].layout)) };

    for round in state.rounds_done..config.rounds {
        let started = Instant::now();
        if config.reinit_after_rounds == Some(round) && round > 0 {
            let seed = candidate_seed(config.seed, round, usize::MAX, usize::MAX);
            engine.reinit_encoder(gen_cfg, seed);
        }
        let lr = round_lr(config, round);
        let label = format!("round {}/{}", round + 1, config.rounds);

        // 1. Pick S: rebalanced by rarity, or uniformly.
        let chosen = match &sampler {
            Some(sampler) => sampler.sample_batch(&mut state.rng, config.images_per_round),
            None => choose_indices(&mut state.rng, pairs.len(), config.images_per_round),
        };
        // Rarity masks of the chosen images, and their photos' features (fixed for the round).
        let masks: Option<Vec<Vec<f32>>> = chosen.iter().map(|&k| mask_of(k)).collect();
        let selected: Vec<&Pair> = chosen.iter().map(|&i| &pairs[i]).collect();
        let photos = engine.photos(&selected);

        // 2. The code of each image (crate::selection): the nearest of m rendered without
        //    gradients (cIMLE and its successors), or the zero code (CRN, nothing rendered).
        let pb = if config.method.uses_codes() {
            progress_bar(
                selected.len() as u64,
                format!("{label} select"),
                options.progress,
            )
        } else {
            ProgressBar::hidden()
        };
        if config.method == Method::RsImle && state.method.epsilon.is_none() {
            let sample: Vec<&Pair> = pairs.iter().take(64).collect();
            let ratio = config.rs_epsilon_ratio.unwrap_or(RS_EPSILON_RATIO);
            let epsilon = rs_epsilon(&engine.photo_distances(&sample), ratio);
            if options.progress {
                eprintln!(
                    "  RS-IMLE: epsilon = {epsilon:.4} ({ratio} x the median distance between training photos)"
                );
            }
            state.method.epsilon = Some(epsilon);
        }
        let round_codes = round_codes(
            config,
            &mut state.method,
            &chosen,
            round,
            |positions, candidates| {
                let sub_pairs: Vec<&Pair> = positions.iter().map(|&i| selected[i]).collect();
                let sub_masks: Option<Vec<Vec<f32>>> = masks
                    .as_ref()
                    .map(|all| positions.iter().map(|&i| all[i].clone()).collect());
                engine.candidate_distances(
                    &sub_pairs,
                    &photos.subset(positions),
                    candidates,
                    sub_masks.as_deref(),
                    batch,
                    |n| pb.inc(n as u64),
                )
            },
        );
        pb.finish_and_clear();
        let codes = &round_codes.codes;
        let training: Vec<usize> = (0..selected.len())
            .filter(|&i| round_codes.trains[i])
            .collect();

        // 3. L Adam steps on the selected pairs.
        let pb = progress_bar(
            config.steps_per_round as u64,
            format!("{label} train"),
            options.progress,
        );
        let mut order: Vec<usize> = Vec::new();
        let bs = config.batch_size.max(1);
        let mut running = 0.0f32;
        for step in 0..config.steps_per_round {
            let mut idx = Vec::with_capacity(bs);
            while idx.len() < bs {
                if order.is_empty() {
                    order = choose_indices(&mut state.rng, training.len(), training.len())
                        .into_iter()
                        .map(|i| training[i])
                        .collect();
                }
                idx.extend(order.pop());
            }
            let loss = engine
                .step(&selected, codes, &photos, &idx, masks.as_deref(), lr)
                .map_err(|e| RunError::NonFinite {
                    round: round + 1,
                    step: step + 1,
                    loss: e.loss,
                })?;
            state.losses.push((round, step, loss));
            running = if step == 0 {
                loss
            } else {
                0.95 * running + 0.05 * loss
            };
            pb.set_message(format!("loss {running:.4}"));
            pb.inc(1);
        }
        pb.finish_and_clear();

        // Outputs of the round: checkpoint first (it is what --resume needs), then the rest.
        state.rounds_done = round + 1;
        state.seconds += started.elapsed().as_secs_f64();
        let (model_bytes, optim_bytes) = engine.save().map_err(|why| RunError::BadCheckpoint {
            path: checkpoint_path.clone(),
            why,
        })?;
        let ckpt = encode_checkpoint(&state, &model_bytes, &optim_bytes);
        write_atomic(&checkpoint_path, &ckpt).map_err(io_err(&checkpoint_path))?;

        let inference = engine.inference();
        let mut provenance = BTreeMap::new();
        provenance.insert("round".to_string(), state.rounds_done.to_string());
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
        let weights = save_generator(&inference, gen_cfg, Precision::F32, &provenance)?;
        write_atomic(&weights_path, &weights).map_err(io_err(&weights_path))?;

        let grid_path = out
            .join("samples")
            .join(format!("round-{:02}.png", round + 1));
        let picture = preview_grid(
            &inference,
            &previews,
            gen_cfg.latent_channels,
            config.method,
            &engine.inference_device(),
        );
        write_atomic(&grid_path, &picture.encode_png()).map_err(io_err(&grid_path))?;
        write_loss_outputs(out, &state.losses)?;
        if let Some(eval) = &options.eval {
            let due = (round + 1) % eval.every_rounds.max(1) == 0 || round + 1 == config.rounds;
            if due {
                let cpu = CpuGenerator::from_generator(&inference, gen_cfg);
                let model = Model::from_cpu(cpu, config.method.sampling());
                let (evaluation, _) = evaluate_on_synth(
                    &model,
                    &eval.distance,
                    eval.layouts,
                    eval.samples,
                    eval.seed,
                )
                .map_err(|e| RunError::Eval(e.to_string()))?;
                let steps = state.losses.len();
                state.evals.push(EvalPoint::new(
                    round + 1,
                    steps,
                    state.seconds / 60.0,
                    &evaluation,
                ));
                // The checkpoint holds the curve too, so a resumed run continues it.
                let ckpt = encode_checkpoint(&state, &model_bytes, &optim_bytes);
                write_atomic(&checkpoint_path, &ckpt).map_err(io_err(&checkpoint_path))?;
                curves::write(out, &state.evals).map_err(io_err(out))?;
                if options.progress {
                    let p = state.evals.last().expect("just pushed");
                    eprintln!(
                        "{label}: eval: best-of-{} PSNR {:.2} dB, sharpness {:.2}, TV time of day {:.2}, mean TV {:.2}, day+dusk+night in {:.0} % of layouts",
                        eval.samples,
                        p.best_psnr_db,
                        p.sharpness_ratio,
                        p.tv[0],
                        p.mean_tv,
                        p.all_times_of_day * 100.0
                    );
                }
            }
        }
        if options.progress {
            let mean = |v: &[f32]| v.iter().sum::<f32>() / v.len().max(1) as f32;
            let losses: Vec<f32> = state
                .losses
                .iter()
                .filter(|l| l.0 == round)
                .map(|l| l.2)
                .collect();
            let distances: Vec<f32> = round_codes
                .distances
                .iter()
                .copied()
                .filter(|d| d.is_finite())
                .collect();
            let loss = if losses.is_empty() {
                "no training steps".to_string()
            } else {
                format!("mean training loss {:.4}", mean(&losses))
            };
            let st = &round_codes.stats;
            let selection = match config.method {
                Method::Cimle => format!("mean selected distance {:.4}", mean(&distances)),
                Method::Crn => "regression (CRN, zero code)".to_string(),
                Method::RsImle => format!(
                    "mean selected distance {:.4}, {} of {} candidates rejected, {} images sat out",
                    mean(&distances),
                    st.rejected,
                    st.rendered,
                    st.sat_out
                ),
                Method::AdaptiveImle => format!(
                    "mean code distance {:.4}, codes kept {}, replaced at threshold {}, forced {}",
                    mean(&distances),
                    st.kept,
                    st.reached,
                    st.forced
                ),
            };
            eprintln!(
                "{label}: {selection}, {loss}, {:.1} s",
                started.elapsed().as_secs_f64()
            );
        }
    }
    Ok(RunSummary {
        state,
        weights: weights_path,
    })
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn checkpoint_container_round_trips_and_rejects_damage() {
        let state = RunState {
            rounds_done: 2,
            rng: PortableRng::new(4),
            losses: vec![(0, 0, 1.5)],
            seconds: 3.0,
            layer_weights: LayerWeights::paper(),
            optimizer: "cimle-adam".into(),
            evals: Vec::new(),
            method: MethodState::default(),
        };
        let bytes = encode_checkpoint(&state, b"model", b"optim");
        let (s, m, o) = decode_checkpoint(&bytes).unwrap();
        assert_eq!(s.rounds_done, 2);
        assert_eq!(s.rng, state.rng);
        assert_eq!((m.as_slice(), o.as_slice()), (&b"model"[..], &b"optim"[..]));
        assert!(decode_checkpoint(&bytes[..bytes.len() - 1]).is_err());
        assert!(decode_checkpoint(b"PNG....").is_err());
    }
}
