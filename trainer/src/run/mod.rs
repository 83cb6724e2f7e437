//! A training run on disk: `config.json`, per-round atomic checkpoints, sample grids and loss
//! curves, and `--resume` that loses at most the round in progress and refuses flags that are
//! not the run's.
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

use std::path::{Path, PathBuf};
use std::time::Instant;

use burn::tensor::Device;
use cimle::cpu::CpuGenerator;
use cimle::latent::PortableRng;
use cimle::model::Model;
use indicatif::ProgressBar;

use crate::config::{TrainingConfig, round_lr};
use crate::cpu_vgg::CpuDistance;
use crate::curves::{self, EvalPoint};
use crate::data::Pair;
use crate::engine::{Engine, TrainPath};
use crate::evaluate::evaluate_on_synth;
use crate::fs::write_atomic;
use crate::imle::{
    auto_selection_batch, available_memory, candidate_seed, choose_indices, cpu_selection_batch,
};
use crate::method::Method;
use crate::perceptual::LayerWeights;
use crate::progress::progress_bar;
use crate::rebalance::{
    RarityScores, RebalancedSampler, area_mask, combine_masks, largest_classes,
};
use crate::selection::{MethodState, RS_EPSILON_RATIO, RoundCodes, round_codes, rs_epsilon};
use crate::vgg::Vgg19Features;

mod checkpoint;
mod outputs;
pub mod resume;

pub use checkpoint::{RunState, load_checkpoint, read_run_state};
pub use outputs::write_loss_outputs;

use checkpoint::encode_checkpoint;
use outputs::{preview_grid, write_weights};

/// Why a run could not proceed.
#[derive(Debug, thiserror::Error)]
pub enum RunError {
    #[error("{}: {error}", path.display())]
    Io {
        path: PathBuf,
        error: std::io::Error,
    },
    #[error(
        "{0} already holds a checkpoint: pass --resume to continue that run, or choose another --out"
    )]
    Exists(PathBuf),
    #[error("{}: not a cimle checkpoint ({why}); delete it or choose another --out", path.display())]
    BadCheckpoint { path: PathBuf, why: String },
    #[error(
        "{} holds a run of other settings, so it cannot be resumed with these flags:\n  {}\nGive \
         the run's flags again (more --rounds is fine; a run started with the defaults before \
         --recipe existed needs --recipe released), or choose another --out",
        dir.display(),
        fields.join("\n  ")
    )]
    OtherSettings { dir: PathBuf, fields: Vec<String> },
    #[error("{}: cannot check the flags against the run ({why}); delete the file to resume anyway", path.display())]
    UnreadableConfig { path: PathBuf, why: String },
    #[error("no training data: the dataset is empty")]
    NoData,
    #[error(
        "round {round}, step {step}: the training loss is {loss} (not a finite number). The run \
         stopped; {kept}. Lower --lr and resume, or start again"
    )]
    NonFinite {
        round: usize,
        step: usize,
        loss: f32,
        kept: String,
    },
    #[error("could not save the run: {0}")]
    Save(String),
    #[error("could not save weights: {0}")]
    Weights(#[from] cimle::weights::WeightsError),
    #[error("rendering the round's sample grid: {0}")]
    Render(String),
    #[error("measuring the generator (--eval-every): {0}")]
    Eval(String),
}

fn io_err(path: &Path) -> impl FnOnce(std::io::Error) -> RunError + '_ {
    move |error| RunError::Io {
        path: path.to_path_buf(),
        error,
    }
}

/// Result of [`train_run`].
#[derive(Debug, Clone)]
pub struct RunSummary {
    pub state: RunState,
    /// Path of the latest weights file.
    pub weights: PathBuf,
}

/// What a run learns from and measures with; `compare` trains several runs on the same inputs.
#[derive(Debug, Clone)]
pub struct RunInputs<'a> {
    /// The training pairs.
    pub pairs: &'a [Pair],
    /// The pairs' rarity scores when either rebalancing is on (see [`RarityScores::compute`]);
    /// without them both are off.
    pub rarity: Option<&'a RarityScores>,
    /// The distance's network on `device` (without autodiff).
    pub vgg: Vgg19Features,
    /// The distance's layer weights λ.
    pub layer_weights: LayerWeights,
    /// Where the run computes.
    pub device: Device,
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

/// The files of a run folder.
struct RunFiles {
    dir: PathBuf,
    config: PathBuf,
    checkpoint: PathBuf,
    weights: PathBuf,
}

impl RunFiles {
    fn new(dir: &Path) -> Self {
        Self {
            dir: dir.to_path_buf(),
            config: dir.join("config.json"),
            checkpoint: dir.join("checkpoint.bin"),
            weights: dir.join("weights.safetensors"),
        }
    }

    fn write_config(&self, config: &TrainingConfig) -> Result<(), RunError> {
        let json = serde_json::to_vec_pretty(config)
            .map_err(|e| RunError::Save(format!("{}: {e}", self.config.display())))?;
        write_atomic(&self.config, &json).map_err(io_err(&self.config))
    }

    fn write_checkpoint(
        &self,
        state: &RunState,
        model: &[u8],
        optim: &[u8],
    ) -> Result<(), RunError> {
        let bytes = encode_checkpoint(state, model, optim)
            .map_err(|why| RunError::Save(format!("{}: {why}", self.checkpoint.display())))?;
        write_atomic(&self.checkpoint, &bytes).map_err(io_err(&self.checkpoint))
    }
}

/// Runs (or resumes) conditional IMLE training on `inputs.pairs` (or, with `config.method` =
/// [`Method::Crn`], the regression baseline: same rounds, steps and schedule, zero codes, no
/// selection), writing everything under `options.out`. The weights file names the method in its
/// metadata ([`crate::method::METHOD_METADATA_KEY`]). `options.path` says whether cimle's CPU
/// kernels or burn's autodiff on `inputs.device` train.
///
/// With `options.resume`, a folder that holds a checkpoint continues it, after checking that
/// its `config.json` matches `config` (but for [`resume::RESUMABLE_FIELDS`]); one without a
/// checkpoint starts fresh, and says so.
pub fn train_run(
    config: &TrainingConfig,
    inputs: &RunInputs,
    options: &RunOptions,
) -> Result<RunSummary, RunError> {
    let pairs = inputs.pairs;
    if pairs.is_empty() {
        return Err(RunError::NoData);
    }
    let files = RunFiles::new(&options.out);
    std::fs::create_dir_all(&files.dir).map_err(io_err(&files.dir))?;
    let (mut state, mut engine) = start(config, inputs, options, &files)?;

    let plan = Plan::new(config, inputs, &engine);
    for round in state.rounds_done..config.rounds {
        let started = Instant::now();
        if config.reinit_after_rounds == Some(round) && round > 0 {
            let seed = candidate_seed(config.seed, round, usize::MAX, usize::MAX);
            engine.reinit_encoder(&config.generator, seed);
        }
        let label = format!("round {}/{}", round + 1, config.rounds);
        let codes = train_round(config, &plan, &mut state, &mut engine, round, options)?;

        // Outputs of the round: checkpoint first (it is what --resume needs), then the rest.
        state.rounds_done = round + 1;
        state.seconds += started.elapsed().as_secs_f64();
        let (model_bytes, optim_bytes) = engine.save().map_err(RunError::Save)?;
        files.write_checkpoint(&state, &model_bytes, &optim_bytes)?;
        let inference = engine.inference();
        write_weights(&files.weights, &inference, config, state.rounds_done)?;
        let grid_path = files
            .dir
            .join("samples")
            .join(format!("round-{:02}.png", round + 1));
        let picture = preview_grid(
            &inference,
            config,
            &plan.previews,
            &engine.inference_device(),
        )?;
        write_atomic(&grid_path, &picture.encode_png()).map_err(io_err(&grid_path))?;
        write_loss_outputs(&files.dir, &state.losses)?;
        if let Some(eval) = &options.eval {
            let due = (round + 1) % eval.every_rounds.max(1) == 0 || round + 1 == config.rounds;
            if due {
                let cpu = CpuGenerator::from_generator(&inference, &config.generator);
                let model = Model::from_cpu(cpu, config.method.sampling());
                let point = measure(&state, &model, eval)?;
                state.evals.push(point);
                // The checkpoint holds the curve too, so a resumed run continues it.
                files.write_checkpoint(&state, &model_bytes, &optim_bytes)?;
                curves::write(&files.dir, &state.evals).map_err(io_err(&files.dir))?;
                if options.progress {
                    report_eval(&label, eval.samples, &state.evals[state.evals.len() - 1]);
                }
            }
        }
        if options.progress {
            report_round(config, &state, &codes, round, &label, started);
        }
    }
    Ok(RunSummary {
        state,
        weights: files.weights,
    })
}

/// A fresh run (its `config.json` written first), or the one in `files` resumed.
fn start(
    config: &TrainingConfig,
    inputs: &RunInputs,
    options: &RunOptions,
    files: &RunFiles,
) -> Result<(RunState, Engine), RunError> {
    if files.checkpoint.exists() {
        if !options.resume {
            return Err(RunError::Exists(files.dir.clone()));
        }
        check_resume(config, files)?;
        let (state, engine) = load_checkpoint(
            &files.checkpoint,
            config,
            inputs.vgg.clone(),
            options.path,
            &inputs.device,
        )?;
        // More rounds than the run was started with: config.json says so from now on.
        files.write_config(config)?;
        return Ok((state, engine));
    }
    if options.resume {
        eprintln!(
            "note: --resume: {} holds no checkpoint (checkpoint.bin), so there is nothing to \
             resume; starting a fresh run there",
            files.dir.display()
        );
    }
    files.write_config(config)?;
    let state = RunState {
        rounds_done: 0,
        rng: PortableRng::new(config.seed),
        losses: Vec::new(),
        seconds: 0.0,
        layer_weights: inputs.layer_weights,
        optimizer: options.path.optimizer_format().to_string(),
        evals: Vec::new(),
        method: MethodState::default(),
    };
    let engine = Engine::new(
        options.path,
        config,
        inputs.vgg.clone(),
        inputs.layer_weights,
        &inputs.device,
    )
    .map_err(|why| RunError::BadCheckpoint {
        path: files.checkpoint.clone(),
        why,
    })?;
    Ok((state, engine))
}

/// Refuses to resume a run whose `config.json` differs from `config` in anything but
/// [`resume::RESUMABLE_FIELDS`]. A missing `config.json` cannot be checked: a note says so.
fn check_resume(config: &TrainingConfig, files: &RunFiles) -> Result<(), RunError> {
    if !files.config.exists() {
        eprintln!(
            "note: {} is missing, so the flags cannot be checked against the run's; it is \
             written again from these flags",
            files.config.display()
        );
        return Ok(());
    }
    let saved = resume::read_config(&files.config).map_err(|why| RunError::UnreadableConfig {
        path: files.config.clone(),
        why,
    })?;
    let fields = resume::differences(&saved, config, &resume::RESUMABLE_FIELDS);
    if fields.is_empty() {
        Ok(())
    } else {
        Err(RunError::OtherSettings {
            dir: files.dir.clone(),
            fields,
        })
    }
}

/// What every round of a run uses: the selection batch, the preview pairs, the rebalancing.
struct Plan<'a> {
    pairs: &'a [Pair],
    batch: usize,
    previews: Vec<&'a Pair>,
    sampler: Option<RebalancedSampler>,
    /// The tempered scores of the rarity mask M̂^k (docs/METHOD.md "Loss rebalancing").
    mask_scores: Option<RarityScores>,
    /// α of area balancing, when on.
    area_balance: Option<f64>,
}

impl<'a> Plan<'a> {
    fn new(config: &TrainingConfig, inputs: &RunInputs<'a>, engine: &Engine) -> Self {
        let pairs = inputs.pairs;
        let m = config.candidates.max(1);
        let batch = match (config.selection_batch, engine) {
            (0, Engine::Kernels(_)) => cpu_selection_batch(m),
            (0, Engine::Burn(_)) => auto_selection_batch(&config.generator, m, available_memory()),
            (set, _) => set,
        };
        let sampler = inputs
            .rarity
            .filter(|_| config.dataset_rebalance)
            .map(|scores| {
                let classes = largest_classes(pairs.iter().map(|p| &p.layout), 5);
                RebalancedSampler::new(
                    &scores.tempered(config.sampling_temper.unwrap_or(1.0)),
                    &classes,
                )
            });
        let mask_scores = inputs
            .rarity
            .filter(|_| config.loss_rebalance)
            .map(|scores| scores.tempered(config.mask_temper.unwrap_or(1.0)));
        Self {
            pairs,
            batch,
            previews: pairs.iter().take(3).collect(),
            sampler,
            mask_scores,
            area_balance: config.area_alpha(),
        }
    }

    /// Image k's distance mask as `H x W` numbers: its rarity mask when loss rebalancing is
    /// on, its area mask when area balancing is, their product when both are.
    fn mask(&self, k: usize) -> Option<Vec<f32>> {
        let layout = &self.pairs[k].layout;
        let rarity = self.mask_scores.as_ref().map(|s| s.mask(k, layout));
        let area = self.area_balance.map(|alpha| area_mask(layout, alpha));
        match (rarity, area) {
            (Some(r), Some(a)) => Some(combine_masks(&r, &a)),
            (r, a) => r.or(a),
        }
    }
}

/// One round: pick S, give each image its code, take L Adam steps. Returns the round's codes.
fn train_round(
    config: &TrainingConfig,
    plan: &Plan,
    state: &mut RunState,
    engine: &mut Engine,
    round: usize,
    options: &RunOptions,
) -> Result<RoundCodes, RunError> {
    let pairs = plan.pairs;
    let label = format!("round {}/{}", round + 1, config.rounds);
    // 1. Pick S: rebalanced by rarity, or uniformly.
    let chosen = match &plan.sampler {
        Some(sampler) => sampler.sample_batch(&mut state.rng, config.images_per_round),
        None => choose_indices(&mut state.rng, pairs.len(), config.images_per_round),
    };
    // Rarity masks of the chosen images, and their photos' features (fixed for the round).
    let masks: Option<Vec<Vec<f32>>> = chosen.iter().map(|&k| plan.mask(k)).collect();
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
    let codes = round_codes(
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
                plan.batch,
                |n| pb.inc(n as u64),
            )
        },
    );
    pb.finish_and_clear();
    let training: Vec<usize> = (0..selected.len()).filter(|&i| codes.trains[i]).collect();

    // 3. L Adam steps on the selected pairs.
    let lr = round_lr(config, round);
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
            .step(&selected, &codes.codes, &photos, &idx, masks.as_deref(), lr)
            .map_err(|e| RunError::NonFinite {
                round: round + 1,
                step: step + 1,
                loss: e.loss,
                kept: if round == 0 {
                    "no round had finished, so there is no checkpoint".to_string()
                } else {
                    format!("its last checkpoint (after round {round}) is kept")
                },
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
    Ok(codes)
}

/// The learning-curve point of the generator after this round (`--eval-every`).
fn measure(state: &RunState, model: &Model, eval: &EvalOptions) -> Result<EvalPoint, RunError> {
    let (evaluation, _) =
        evaluate_on_synth(model, &eval.distance, eval.layouts, eval.samples, eval.seed)
            .map_err(|e| RunError::Eval(e.to_string()))?;
    Ok(EvalPoint::new(
        state.rounds_done,
        state.losses.len(),
        state.seconds / 60.0,
        &evaluation,
    ))
}

fn report_eval(label: &str, samples: usize, p: &EvalPoint) {
    eprintln!(
        "{label}: eval: best-of-{} PSNR {:.2} dB, sharpness {:.2}, TV time of day {:.2}, mean TV {:.2}, day+dusk+night in {:.0} % of layouts",
        samples,
        p.best_psnr_db,
        p.sharpness_ratio,
        p.tv[0],
        p.mean_tv,
        p.all_times_of_day * 100.0
    );
}

/// The round's line: selection, mean training loss, time.
fn report_round(
    config: &TrainingConfig,
    state: &RunState,
    codes: &RoundCodes,
    round: usize,
    label: &str,
    started: Instant,
) {
    let mean = |v: &[f32]| v.iter().sum::<f32>() / v.len().max(1) as f32;
    let losses: Vec<f32> = state
        .losses
        .iter()
        .filter(|l| l.0 == round)
        .map(|l| l.2)
        .collect();
    let distances: Vec<f32> = codes
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
    let st = &codes.stats;
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
