//! `cimle compare`: the comparison the paper makes (docs/METHOD.md "What the paper shows": "Baselines
//! trained with the same rebalancing still lack diversity"; supplementary B, figure 1, and the
//! temporal consistency of figure 4).
//!
//! Four or five runs on the same data and the same budget ([`compared_runs`]), trained one
//! after another with [`train_run`] into `OUT/<name>/`. `cimle` and `crn` keep the recipe's
//! rebalancing (the study's: none); the others vary it:
//!
//! | name                         | method | dataset rebalancing | loss rebalancing |
//! |------------------------------|--------|---------------------|------------------|
//! | `cimle`                      | cIMLE  | the recipe's        | the recipe's     |
//! | `crn`                        | CRN    | the recipe's        | the recipe's     |
//! | `cimle-rebalanced`           | cIMLE  | on                  | on               |
//! | `crn-rebalanced`             | CRN    | on                  | on               |
//!
//! With both rebalancings on in the recipe (`--recipe released`), the last two rows are instead
//! `cimle-no-dataset-rebalance` (off, on), `cimle-no-loss-rebalance` (on, off) and
//! `crn-no-rebalance` (off, off).
//!
//! CRN is the regression baseline ([`Method::Crn`]): the same generator with the zero code and
//! no selection. Every run takes the same rounds x steps x batch gradient steps with the same lr
//! schedule. A run whose checkpoint says it finished is skipped and one that was interrupted is
//! resumed, so a killed `compare` continues where it stopped when run again with the same flags
//! (a run folder trained with other settings is an error, not overwritten).
//!
//! Then every model is measured ([`evaluate_on_synth`] on held-out built-in scenes when the
//! training data is the built-in scenes; for a dataset, diversity alone on some of its layouts,
//! [`diversity_on_layouts`]), and `OUT/` receives, each written atomically:
//!
//! ```text
//! OUT/report.md    one table: a row per run (diversity, per-factor mode recall, rare-mode
//!                  recall, per-factor TV distance, training time) and the frame differences
//! OUT/report.json  the same numbers, the full evaluations included
//! OUT/metrics.png  bar charts: diversity, rare-mode recall, mean TV distance per run
//! OUT/samples.png  one held-out layout (and its photo), then K samples of it per run, a row each
//! OUT/frames.png   the built-in car-driving-away-and-back sequence rendered with one fixed code
//!                  by `cimle` and `crn`, each followed by its adjacent-frame difference maps
//! ```

use std::path::{Path, PathBuf};

use burn::tensor::Device;
use cimle::generator::Generator;
use cimle::layout::Layout;
use cimle::model::Model;
use cimle::weights::WeightsHeader;

use crate::config::TrainingConfig;
use crate::cpu_vgg::CpuDistance;
use crate::evaluate::{Evaluation, RenderedLayout, diversity_on_layouts, evaluate_on_synth};
use crate::fs::write_atomic;
use crate::method::Method;
use crate::perceptual::LayerWeights;
use crate::run::{RunError, RunInputs, RunOptions, read_run_state, resume, train_run};
use crate::synth;
use crate::video::VideoError;
use crate::weights_file::{WeightsFile, WeightsFileError};

mod figures;
mod report;

pub use report::{Budget, CompareReport, RunReport, VideoReport, format_seconds};

/// Why a comparison could not be run or reported.
#[derive(Debug, thiserror::Error)]
pub enum CompareError {
    #[error("{0}")]
    Options(String),
    #[error(transparent)]
    Run(#[from] RunError),
    #[error("{}: {error}", path.display())]
    Io {
        path: PathBuf,
        error: std::io::Error,
    },
    #[error(transparent)]
    Weights(#[from] WeightsFileError),
    #[error(
        "{} holds a run trained with other settings ({}); compare the same flags again, delete \
         that folder, or choose another --out",
        dir.display(),
        fields.join("; ")
    )]
    OtherSettings { dir: PathBuf, fields: Vec<String> },
    #[error("rendering the frame-difference figure: {0}")]
    Video(#[from] VideoError),
    #[error("{}: measuring the model: {why}", path.display())]
    Render { path: PathBuf, why: String },
}

fn io_err(path: &Path) -> impl FnOnce(std::io::Error) -> CompareError + '_ {
    move |error| CompareError::Io {
        path: path.to_path_buf(),
        error,
    }
}

/// One of the compared runs: its folder name under `OUT/` and its training config.
#[derive(Debug, Clone)]
pub struct ComparedRun {
    pub name: &'static str,
    pub config: TrainingConfig,
}

/// The runs of the comparison, all from `base` (its method and rebalancing flags are replaced;
/// everything else, the budget and lr schedule included, is kept, so every run takes
/// `base.gradient_steps()` steps of `base.batch_size` pairs): `cimle` and `crn` with `base`'s
/// rebalancing, then both with the paper's (dataset and loss rebalancing on) when `base` has
/// another, or, when `base` is the paper's, the appendix's two one-sided ablations and CRN
/// without rebalancing.
pub fn compared_runs(base: &TrainingConfig) -> Vec<ComparedRun> {
    let run = |name, method, dataset, loss| ComparedRun {
        name,
        config: base
            .clone()
            .with_method(method)
            .with_dataset_rebalance(dataset)
            .with_loss_rebalance(loss),
    };
    let (dataset, loss) = (base.dataset_rebalance, base.loss_rebalance);
    let mut runs = vec![
        run("cimle", Method::Cimle, dataset, loss),
        run("crn", Method::Crn, dataset, loss),
    ];
    if dataset && loss {
        runs.extend([
            run("cimle-no-dataset-rebalance", Method::Cimle, false, true),
            run("cimle-no-loss-rebalance", Method::Cimle, true, false),
            run("crn-no-rebalance", Method::Crn, false, false),
        ]);
    } else {
        runs.extend([
            run("cimle-rebalanced", Method::Cimle, true, true),
            run("crn-rebalanced", Method::Crn, true, true),
        ]);
    }
    runs
}

/// What `cimle compare` measures and draws, besides the training settings.
#[derive(Debug, Clone)]
pub struct CompareOptions {
    /// The output folder: one folder per run, and the reports.
    pub out: PathBuf,
    /// Layouts measured: held-out built-in scenes (or layouts of a dataset).
    pub layouts: usize,
    /// K: samples per layout (at least 2).
    pub samples: usize,
    /// Seed of the held-out built-in scenes.
    pub eval_seed: u64,
    /// The training data is the built-in scenes: measure factor coverage on held-out built-in
    /// scenes. Otherwise diversity alone, on `layouts` layouts spread over the training pairs.
    pub synth_data: bool,
    /// Scene seed of the built-in layout sequence (a car drives away and back).
    pub video_seed: u64,
    /// Frames of that sequence (at least 2).
    pub video_frames: usize,
    /// Seed of the cIMLE model's one code for every frame (CRN uses the zero code).
    pub video_code_seed: u64,
    /// Progress bars and per-round lines while training.
    pub progress: bool,
    /// cimle's CPU kernels or burn's autodiff.
    pub path: crate::engine::TrainPath,
}

/// Where a run folder stands.
enum RunStatus {
    Fresh,
    Interrupted(usize),
    Finished,
}

/// Finished, interrupted (rounds done) or not started; an error when the folder holds a run
/// of other settings.
fn run_status(dir: &Path, config: &TrainingConfig) -> Result<RunStatus, CompareError> {
    let checkpoint = dir.join("checkpoint.bin");
    if !checkpoint.exists() {
        return Ok(RunStatus::Fresh);
    }
    let config_path = dir.join("config.json");
    let saved = resume::read_config(&config_path).map_err(|why| RunError::UnreadableConfig {
        path: config_path.clone(),
        why,
    })?;
    let fields = resume::differences(&saved, config, &[]);
    if !fields.is_empty() {
        return Err(CompareError::OtherSettings {
            dir: dir.to_path_buf(),
            fields,
        });
    }
    let state = read_run_state(&checkpoint)?;
    Ok(
        if state.rounds_done >= config.rounds && dir.join("weights.safetensors").is_file() {
            RunStatus::Finished
        } else {
            RunStatus::Interrupted(state.rounds_done)
        },
    )
}
fn describe_run(config: &TrainingConfig) -> String {
    let on = |b: bool| if b { "on" } else { "off" };
    format!(
        "{}, dataset rebalancing {}, loss rebalancing {}",
        match config.method {
            Method::Cimle => "conditional IMLE",
            Method::Crn => "CRN regression (zero code)",
            Method::RsImle => "rejection-sampling IMLE",
            Method::AdaptiveImle => "adaptive IMLE",
        },
        on(config.dataset_rebalance),
        on(config.loss_rebalance)
    )
}

/// A trained model of the comparison, loaded and measured.
pub(super) struct Measured {
    name: &'static str,
    method: Method,
    generator: Generator,
    header: WeightsHeader,
}

/// Trains (or skips, or resumes) the runs of [`compared_runs`]`(base)` on `inputs`, then
/// measures them and writes the reports into `options.out` (see the module docs). Runs that
/// rebalance need `inputs.rarity` (without it they train as if rebalancing were off, as
/// [`train_run`] does). Diversity is measured with `inputs.vgg` under the paper's layer weights,
/// as `cimle evaluate` does.
pub fn run_compare(
    base: &TrainingConfig,
    inputs: &RunInputs,
    options: &CompareOptions,
) -> Result<CompareReport, CompareError> {
    if options.samples < 2 || options.layouts == 0 {
        return Err(CompareError::Options(format!(
            "--samples {} --layouts {}: give at least 2 samples and 1 layout",
            options.samples, options.layouts
        )));
    }
    if options.video_frames < 2 {
        return Err(CompareError::Options(format!(
            "--video-frames {}: adjacent differences need at least 2 frames",
            options.video_frames
        )));
    }
    if inputs.pairs.is_empty() {
        return Err(RunError::NoData.into());
    }
    let runs = compared_runs(base);
    let trained_now = train_all(&runs, inputs, options)?;

    // Measure every model.
    eprintln!("measuring the {} models", runs.len());
    let distance = CpuDistance::new(&inputs.vgg, LayerWeights::paper());
    let pairs = inputs.pairs;
    let data_layouts: Vec<(Layout, Vec<u8>)> = if options.synth_data {
        Vec::new()
    } else {
        let n = options.layouts.min(pairs.len());
        (0..n)
            .map(|i| {
                let p = &pairs[i * pairs.len() / n];
                (p.layout.clone(), p.image.clone())
            })
            .collect()
    };
    let mut reports = Vec::with_capacity(runs.len());
    let mut rendered_first: Vec<RenderedLayout> = Vec::new();
    let mut models = Vec::with_capacity(runs.len());
    for (run, now) in runs.iter().zip(trained_now) {
        let dir = options.out.join(run.name);
        let weights = dir.join("weights.safetensors");
        let file = WeightsFile::load(&weights, &Device::flex())?;
        let model =
            Model::from_generator(file.generator.clone(), file.header.clone(), &Device::flex())
                .map_err(|e| CompareError::Render {
                    path: weights.clone(),
                    why: e.to_string(),
                })?;
        let state = read_run_state(&dir.join("checkpoint.bin"))?;
        let render_err = |why: String| CompareError::Render {
            path: weights.clone(),
            why,
        };
        let (diversity, evaluation, rendered) = if options.synth_data {
            let (evaluation, rendered) = evaluate_on_synth(
                &model,
                &distance,
                options.layouts,
                options.samples,
                options.eval_seed,
            )
            .map_err(|e| render_err(e.to_string()))?;
            (evaluation.diversity, Some(evaluation), rendered)
        } else {
            let layouts: Vec<Layout> = data_layouts.iter().map(|l| l.0.clone()).collect();
            let (diversity, rendered) =
                diversity_on_layouts(&model, &distance, &layouts, options.samples)
                    .map_err(|e| render_err(e.to_string()))?;
            (diversity, None, rendered)
        };
        if let Some(first) = rendered.into_iter().next() {
            rendered_first.push(first);
        }
        reports.push(RunReport {
            name: run.name.to_string(),
            method: file.method,
            dataset_rebalance: run.config.dataset_rebalance,
            loss_rebalance: run.config.loss_rebalance,
            gradient_steps: state.losses.len(),
            train_seconds: state.seconds,
            trained_now: now,
            diversity,
            rare_recall: evaluation.as_ref().and_then(Evaluation::rare_recall),
            mean_tv: evaluation.as_ref().map(Evaluation::mean_tv),
            evaluation,
            weights,
        });
        models.push(Measured {
            name: run.name,
            method: file.method,
            generator: file.generator,
            header: file.header,
        });
    }

    // Figure 4: one layout sequence, one code, cIMLE against CRN (on the device the models
    // were loaded on).
    let (video_rows, video) = figures::video_figure(&models, options, &Device::flex())?;
    let report = CompareReport {
        data: base.data.clone(),
        training_distance: base.distance.clone(),
        distance: distance.describe().to_string(),
        evaluation: if options.synth_data {
            format!(
                "{} held-out built-in layouts (scene seed {}) x {} samples: diversity and, per \
                 appearance factor, mode recall and TV distance",
                options.layouts, options.eval_seed, options.samples
            )
        } else {
            format!(
                "diversity only, on {} layouts of the training data (no held-out split) x {} \
                 samples: appearance factors are known only for built-in scenes (--data synth), \
                 so mode recall and TV distance are not measured",
                data_layouts.len(),
                options.samples
            )
        },
        layouts: if options.synth_data {
            options.layouts
        } else {
            data_layouts.len()
        },
        samples: options.samples,
        budget: Budget::of(base),
        runs: reports,
        video,
    };

    let g = &base.generator;
    let photo = if options.synth_data {
        synth::generate_scene(options.eval_seed, 0, g.height, g.width).image
    } else {
        data_layouts
            .first()
            .map(|l| l.1.clone())
            .unwrap_or_default()
    };
    let write = |name: &str, bytes: &[u8]| {
        let path = options.out.join(name);
        write_atomic(&path, bytes).map_err(io_err(&path))
    };
    let samples_png =
        figures::samples_picture(&report.runs, &rendered_first, photo, (g.height, g.width));
    write("samples.png", &samples_png.encode_png())?;
    write(
        "frames.png",
        &figures::frames_picture(&video_rows).encode_png(),
    )?;
    let metrics_png = figures::metrics_picture(&report.runs, options.synth_data);
    write("metrics.png", &metrics_png.encode_png())?;
    let json = serde_json::to_vec_pretty(&report)
        .map_err(|e| CompareError::Options(format!("report.json: {e}")))?;
    write("report.json", &json)?;
    write("report.md", report.markdown().as_bytes())?;
    Ok(report)
}

/// Trains the runs one after another (skipping finished ones, resuming interrupted ones);
/// returns, per run, whether this invocation trained it.
fn train_all(
    runs: &[ComparedRun],
    inputs: &RunInputs,
    options: &CompareOptions,
) -> Result<Vec<bool>, CompareError> {
    let mut trained_now = Vec::with_capacity(runs.len());
    for (i, run) in runs.iter().enumerate() {
        let dir = options.out.join(run.name);
        eprintln!(
            "run {}/{}: {} ({})",
            i + 1,
            runs.len(),
            run.name,
            describe_run(&run.config)
        );
        let resume = match run_status(&dir, &run.config)? {
            RunStatus::Finished => {
                eprintln!("  finished earlier: skipped ({})", dir.display());
                trained_now.push(false);
                continue;
            }
            RunStatus::Interrupted(done) => {
                eprintln!(
                    "  resuming after round {done} of {} ({})",
                    run.config.rounds,
                    dir.display()
                );
                true
            }
            RunStatus::Fresh => false,
        };
        let summary = train_run(
            &run.config,
            inputs,
            &RunOptions {
                out: dir,
                resume,
                progress: options.progress,
                path: options.path,
                eval: None,
            },
        )?;
        eprintln!("  done in {}", format_seconds(summary.state.seconds));
        trained_now.push(true);
    }
    Ok(trained_now)
}

#[cfg(test)]
mod tests {
    use super::*;
    use cimle::config::Preset;

    fn base() -> TrainingConfig {
        TrainingConfig::new(Preset::Tiny.config())
            .with_rounds(3)
            .with_steps_per_round(7)
            .with_batch_size(2)
            .with_candidates(5)
            .with_lr(3e-4)
            .with_reinit_after_rounds(Some(2))
            .with_method(Method::Crn)
            .with_dataset_rebalance(false)
            .with_loss_rebalance(false)
    }

    /// Budget parity: every compared run, CRN or cIMLE, takes the same gradient steps of the same
    /// batch with the same lr schedule, and differs from the others only in method and
    /// rebalancing.
    #[test]
    fn compared_runs_share_one_budget() {
        let base = base();
        let runs = compared_runs(&base);
        let described = |runs: &[ComparedRun]| -> Vec<(&str, Method, bool, bool)> {
            runs.iter()
                .map(|r| {
                    (
                        r.name,
                        r.config.method,
                        r.config.dataset_rebalance,
                        r.config.loss_rebalance,
                    )
                })
                .collect()
        };
        assert_eq!(
            described(&runs),
            [
                ("cimle", Method::Cimle, false, false),
                ("crn", Method::Crn, false, false),
                ("cimle-rebalanced", Method::Cimle, true, true),
                ("crn-rebalanced", Method::Crn, true, true),
            ]
        );
        // The paper's rebalancing as the base: the appendix's ablations instead.
        let rebalanced = base
            .clone()
            .with_dataset_rebalance(true)
            .with_loss_rebalance(true);
        assert_eq!(
            described(&compared_runs(&rebalanced)),
            [
                ("cimle", Method::Cimle, true, true),
                ("crn", Method::Crn, true, true),
                ("cimle-no-dataset-rebalance", Method::Cimle, false, true),
                ("cimle-no-loss-rebalance", Method::Cimle, true, false),
                ("crn-no-rebalance", Method::Crn, false, false),
            ]
        );
        let crn = &runs[1].config;
        for run in &runs {
            let c = &run.config;
            assert_eq!(c.gradient_steps(), 21, "{}", run.name);
            assert_eq!(c.gradient_steps(), crn.gradient_steps(), "{}", run.name);
            assert_eq!(c.pairs_seen(), crn.pairs_seen(), "{}", run.name);
            for round in 0..c.rounds {
                assert_eq!(
                    crate::config::round_lr(c, round),
                    crate::config::round_lr(crn, round)
                );
            }
            // Apart from the three flags, the saved configs are identical.
            let strip = |c: &TrainingConfig| {
                let mut v = serde_json::to_value(c).unwrap();
                for k in ["method", "dataset_rebalance", "loss_rebalance"] {
                    v.as_object_mut().unwrap().remove(k);
                }
                v
            };
            assert_eq!(strip(c), strip(crn), "{}", run.name);
        }
    }
}
