//! `cimle compare`: the comparison the paper makes (docs/METHOD.md "What the paper shows": "Baselines
//! trained with the same rebalancing still lack diversity"; supplementary B, figure 1, and the
//! temporal consistency of figure 4).
//!
//! Five runs on the same data and the same budget ([`compared_runs`]), trained one after another
//! with [`train_run`] into `OUT/<name>/`:
//!
//! | name                         | method | dataset rebalancing | loss rebalancing |
//! |------------------------------|--------|---------------------|------------------|
//! | `cimle`                      | cIMLE  | on                  | on               |
//! | `cimle-no-dataset-rebalance` | cIMLE  | off                 | on               |
//! | `cimle-no-loss-rebalance`    | cIMLE  | on                  | off              |
//! | `crn`                        | CRN    | off                 | off              |
//! | `crn-rebalanced`             | CRN    | on                  | on               |
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
use cimle::latent::LatentCode;
use cimle::layout::Layout;
use cimle::model::Model;
use cimle::weights::{WeightsError, load_generator};
use serde::Serialize;

use crate::cpu_vgg::CpuDistance;
use crate::evaluate::{Evaluation, RenderedLayout, diversity_on_layouts, evaluate_on_synth};
use crate::imle::{Method, Pair, TrainingConfig, UnknownMethod};
use crate::perceptual::{LayerWeights, Vgg19Features};
use crate::picture::{RgbImage, bar_chart, draw_text, labelled_rows, write_atomic};
use crate::rebalance::RarityScores;
use crate::run::{RunError, RunOptions, read_run_state, train_run};
use crate::synth;
use crate::video::{VideoError, frame_differences, render_frames};

/// Why a comparison could not be run or reported.
#[derive(Debug, thiserror::Error)]
pub enum CompareError {
    #[error("{0}")]
    Options(String),
    #[error(transparent)]
    Run(#[from] RunError),
    #[error("{path}: {source}")]
    Io {
        path: PathBuf,
        source: std::io::Error,
    },
    #[error("{path}: {source}")]
    Weights { path: PathBuf, source: WeightsError },
    #[error("{path}: {source}")]
    Method {
        path: PathBuf,
        source: UnknownMethod,
    },
    #[error(
        "{dir} holds a run trained with other settings (differing: {fields}); compare the same \
         flags again, delete that folder, or choose another --out"
    )]
    OtherSettings { dir: PathBuf, fields: String },
    #[error("rendering the frame-difference figure: {0}")]
    Video(#[from] VideoError),
    #[error("{path}: measuring the model: {why}")]
    Render { path: PathBuf, why: String },
}

fn io_err(path: &Path) -> impl FnOnce(std::io::Error) -> CompareError + '_ {
    move |source| CompareError::Io {
        path: path.to_path_buf(),
        source,
    }
}

/// One of the compared runs: its folder name under `OUT/` and its training config.
#[derive(Debug, Clone)]
pub struct ComparedRun {
    pub name: &'static str,
    pub config: TrainingConfig,
}

/// The five runs of the comparison, all from `base` (its method and rebalancing flags are
/// replaced; everything else, the budget and lr schedule included, is kept, so every run takes
/// `base.gradient_steps()` steps of `base.batch_size` pairs).
pub fn compared_runs(base: &TrainingConfig) -> Vec<ComparedRun> {
    let run = |name, method, dataset, loss| ComparedRun {
        name,
        config: base
            .clone()
            .with_method(method)
            .with_dataset_rebalance(dataset)
            .with_loss_rebalance(loss),
    };
    vec![
        run("cimle", Method::Cimle, true, true),
        run("cimle-no-dataset-rebalance", Method::Cimle, false, true),
        run("cimle-no-loss-rebalance", Method::Cimle, true, false),
        run("crn", Method::Crn, false, false),
        run("crn-rebalanced", Method::Crn, true, true),
    ]
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

/// The budget every run shares.
#[derive(Debug, Clone, Serialize)]
pub struct Budget {
    pub rounds: usize,
    pub images_per_round: usize,
    pub steps_per_round: usize,
    pub batch_size: usize,
    pub gradient_steps: usize,
    pub lr: f64,
    pub reinit_after_rounds: Option<usize>,
    /// m, for the cIMLE runs (CRN selects nothing).
    pub candidates: usize,
}

/// One run's row of the report.
#[derive(Debug, Clone, Serialize)]
pub struct RunReport {
    pub name: String,
    pub method: Method,
    pub dataset_rebalance: bool,
    pub loss_rebalance: bool,
    /// Adam steps taken (rounds done x steps per round).
    pub gradient_steps: usize,
    /// Seconds of training (selection and steps) over all its rounds, from its checkpoint.
    pub train_seconds: f64,
    /// Trained (or finished) by this invocation; false: found finished and skipped.
    pub trained_now: bool,
    /// Mean pairwise distance between the K samples of a layout, averaged over layouts.
    pub diversity: f64,
    /// Factor coverage on held-out built-in scenes (`None` for a dataset).
    pub evaluation: Option<Evaluation>,
    /// Mean rare-level recall over the factors with rare levels.
    pub rare_recall: Option<f64>,
    /// Mean TV distance over the factors.
    pub mean_tv: Option<f64>,
    pub weights: PathBuf,
}

/// The frame-difference measurement (figure 4).
#[derive(Debug, Clone, Serialize)]
pub struct VideoReport {
    pub scene_seed: u64,
    pub frames: usize,
    /// Seed of the cIMLE code (CRN: the zero code).
    pub code_seed: u64,
    /// `(run, mean adjacent-frame difference in 0..255, per adjacent pair)`.
    pub runs: Vec<(String, f64, Vec<f64>)>,
}

/// Everything `cimle compare` found.
#[derive(Debug, Clone, Serialize)]
pub struct CompareReport {
    pub data: String,
    /// The distance the runs were trained with.
    pub training_distance: String,
    /// The distance diversity is measured with (paper layer weights).
    pub distance: String,
    /// What was measured, in words.
    pub evaluation: String,
    pub layouts: usize,
    pub samples: usize,
    pub budget: Budget,
    pub runs: Vec<RunReport>,
    pub video: VideoReport,
}

/// Where a run folder stands.
enum RunStatus {
    Fresh,
    Interrupted(usize),
    Finished,
}

/// The top-level fields of two configs (as JSON) that differ.
fn differing_fields(a: &serde_json::Value, b: &serde_json::Value) -> Vec<String> {
    let (Some(a), Some(b)) = (a.as_object(), b.as_object()) else {
        return vec!["everything".into()];
    };
    let keys: std::collections::BTreeSet<&String> = a.keys().chain(b.keys()).collect();
    keys.into_iter()
        .filter(|k| a.get(*k) != b.get(*k))
        .cloned()
        .collect()
}

/// Finished, interrupted (rounds done) or not started; an error when the folder holds a run
/// of other settings.
fn run_status(dir: &Path, config: &TrainingConfig) -> Result<RunStatus, CompareError> {
    let checkpoint = dir.join("checkpoint.bin");
    if !checkpoint.exists() {
        return Ok(RunStatus::Fresh);
    }
    let config_path = dir.join("config.json");
    let saved: serde_json::Value = std::fs::read(&config_path)
        .map_err(io_err(&config_path))
        .and_then(|bytes| {
            serde_json::from_slice(&bytes).map_err(|e| CompareError::Io {
                path: config_path.clone(),
                source: std::io::Error::new(std::io::ErrorKind::InvalidData, e),
            })
        })?;
    // Through TrainingConfig, so a config saved before a field existed reads its default.
    let saved = serde_json::from_value::<TrainingConfig>(saved.clone())
        .ok()
        .and_then(|c| serde_json::to_value(&c).ok())
        .unwrap_or(saved);
    let wanted = serde_json::to_value(config).unwrap_or_default();
    let fields = differing_fields(&saved, &wanted);
    if !fields.is_empty() {
        return Err(CompareError::OtherSettings {
            dir: dir.to_path_buf(),
            fields: fields.join(", "),
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

/// Trains (or skips, or resumes) the five runs of [`compared_runs`]`(base)` on `pairs`, then
/// measures them and writes the reports into `options.out` (see the module docs). `rarity`
/// holds the pairs' rarity scores (needed by the rebalanced runs; without it they train as
/// if rebalancing were off, as [`train_run`] does). `vgg` is the distance's network on
/// `device`; diversity is measured with it under the paper's layer weights, as `cimle
/// evaluate` does.
#[allow(clippy::too_many_arguments)]
pub fn run_compare(
    base: &TrainingConfig,
    pairs: &[Pair],
    rarity: Option<&RarityScores>,
    vgg: Vgg19Features,
    layer_weights: LayerWeights,
    device: &Device,
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
    if pairs.is_empty() {
        return Err(RunError::NoData.into());
    }
    let runs = compared_runs(base);
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
            pairs,
            rarity,
            vgg.clone(),
            layer_weights,
            device,
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

    // Measure every model.
    eprintln!("measuring the {} models", runs.len());
    let distance = CpuDistance::new(&vgg, LayerWeights::paper());
    let g = &base.generator;
    let (h, w, latent) = (g.height, g.width, g.latent_channels);
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
        let bytes = std::fs::read(&weights).map_err(io_err(&weights))?;
        let (generator, header) =
            load_generator(&bytes, &Device::flex()).map_err(|source| CompareError::Weights {
                path: weights.clone(),
                source,
            })?;
        let method =
            Method::of_weights(&header.metadata).map_err(|source| CompareError::Method {
                path: weights.clone(),
                source,
            })?;
        let model = Model::from_generator(generator.clone(), header.clone(), &Device::flex())
            .map_err(|e| CompareError::Render {
                path: weights.clone(),
                why: e.to_string(),
            })?;
        let state = read_run_state(&dir.join("checkpoint.bin"))?;
        let (diversity, evaluation, rendered) = if options.synth_data {
            let (evaluation, rendered) = evaluate_on_synth(
                &model,
                &distance,
                options.layouts,
                options.samples,
                options.eval_seed,
            )
            .map_err(|e| CompareError::Render {
                path: weights.clone(),
                why: e.to_string(),
            })?;
            (evaluation.diversity, Some(evaluation), rendered)
        } else {
            let layouts: Vec<Layout> = data_layouts.iter().map(|l| l.0.clone()).collect();
            let (diversity, rendered) =
                diversity_on_layouts(&model, &distance, &layouts, options.samples).map_err(
                    |e| CompareError::Render {
                        path: weights.clone(),
                        why: e.to_string(),
                    },
                )?;
            (diversity, None, rendered)
        };
        if let Some(first) = rendered.into_iter().next() {
            rendered_first.push(first);
        }
        reports.push(RunReport {
            name: run.name.to_string(),
            method,
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
        models.push((run.name, method, generator, header.config));
    }

    // Figure 4: one layout sequence, one code, cIMLE against CRN.
    let sequence: Vec<Layout> =
        synth::layout_sequence(options.video_seed, options.video_frames, h, w)
            .into_iter()
            .filter_map(|ids| Layout::new(h, w, ids).ok())
            .collect();
    let mut video_rows = vec![(
        "layouts".to_string(),
        sequence
            .iter()
            .filter_map(|l| RgbImage::from_rgb(w, h, l.to_color_rgb()))
            .collect::<Vec<_>>(),
    )];
    let mut video_runs = Vec::new();
    for (name, method, generator, config) in &models {
        if !["cimle", "crn"].contains(name) {
            continue;
        }
        let code: LatentCode = method.sampling_code(options.video_code_seed, latent, h, w);
        let frames = render_frames(generator, config, &sequence, &[code], device)?;
        let (maps, means) = frame_differences(&frames);
        let labelled: Vec<RgbImage> = maps
            .into_iter()
            .zip(&means)
            .map(|(mut map, mean)| {
                draw_text(&mut map, &format!("{mean:.1}"), 1, 1, 1, [255, 90, 60]);
                map
            })
            .collect();
        let mean = means.iter().sum::<f64>() / means.len().max(1) as f64;
        video_rows.push((format!("{name} frames"), frames));
        video_rows.push((format!("{name} differences"), labelled));
        video_runs.push((name.to_string(), mean, means));
    }

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
        budget: Budget {
            rounds: base.rounds,
            images_per_round: base.images_per_round,
            steps_per_round: base.steps_per_round,
            batch_size: base.batch_size,
            gradient_steps: base.gradient_steps(),
            lr: base.lr,
            reinit_after_rounds: base.reinit_after_rounds,
            candidates: base.candidates,
        },
        runs: reports,
        video: VideoReport {
            scene_seed: options.video_seed,
            frames: options.video_frames,
            code_seed: options.video_code_seed,
            runs: video_runs,
        },
    };

    // Pictures.
    let cell =
        |data: Vec<u8>| RgbImage::from_rgb(w, h, data).unwrap_or(RgbImage::filled(w, h, [0; 3]));
    let mut sample_rows = Vec::new();
    if let Some((layout, _)) = rendered_first.first() {
        let photo = if options.synth_data {
            synth::generate_scene(options.eval_seed, 0, h, w).image
        } else {
            data_layouts
                .first()
                .map(|l| l.1.clone())
                .unwrap_or_default()
        };
        sample_rows.push((
            "layout, photo".to_string(),
            vec![cell(layout.to_color_rgb()), cell(photo)],
        ));
    }
    for (run, (_, images)) in report.runs.iter().zip(&rendered_first) {
        sample_rows.push((run.name.clone(), images.iter().cloned().map(cell).collect()));
    }
    let background = [255, 255, 255];
    let ink = [30, 30, 30];
    let samples_png = labelled_rows(&sample_rows, 2, background, ink);
    let frames_png = labelled_rows(&video_rows, 2, [40, 40, 40], [235, 235, 235]);

    let bars = |value: &dyn Fn(&RunReport) -> Option<f64>| -> Vec<(String, Option<f64>)> {
        report
            .runs
            .iter()
            .map(|r| (r.name.clone(), value(r)))
            .collect()
    };
    let mut charts = vec![(
        String::new(),
        vec![bar_chart(
            "diversity (mean pairwise distance, higher = more diverse)",
            &bars(&|r| Some(r.diversity)),
            160,
        )],
    )];
    if options.synth_data {
        charts.push((
            String::new(),
            vec![bar_chart(
                "rare-mode recall (mean over factors, higher = better)",
                &bars(&|r| r.rare_recall),
                160,
            )],
        ));
        charts.push((
            String::new(),
            vec![bar_chart(
                "mean TV distance to the true frequencies (lower = better)",
                &bars(&|r| r.mean_tv),
                160,
            )],
        ));
    }
    let metrics_png = labelled_rows(&charts, 8, background, ink);

    let write = |name: &str, bytes: &[u8]| {
        let path = options.out.join(name);
        write_atomic(&path, bytes).map_err(io_err(&path))
    };
    write("samples.png", &samples_png.encode_png())?;
    write("frames.png", &frames_png.encode_png())?;
    write("metrics.png", &metrics_png.encode_png())?;
    write(
        "report.json",
        &serde_json::to_vec_pretty(&report).unwrap_or_default(),
    )?;
    write("report.md", report.markdown().as_bytes())?;
    Ok(report)
}

/// `12.3 s`, `4.5 min` or `2.1 h`.
pub fn format_seconds(s: f64) -> String {
    if s < 120.0 {
        format!("{s:.1} s")
    } else if s < 7200.0 {
        format!("{:.1} min", s / 60.0)
    } else {
        format!("{:.1} h", s / 3600.0)
    }
}

impl CompareReport {
    /// The table: a row per run; diversity, then (built-in scenes only) mode recall per factor,
    /// rare-mode recall, TV distance per factor; then training time.
    pub fn table(&self) -> String {
        let factors: Vec<String> = self
            .runs
            .iter()
            .find_map(|r| r.evaluation.as_ref())
            .map(|e| e.factors.iter().map(|f| f.factor.clone()).collect())
            .unwrap_or_default();
        let mut header = vec!["run".to_string(), "diversity".to_string()];
        header.extend(factors.iter().map(|f| format!("mode recall: {f}")));
        if !factors.is_empty() {
            header.push("rare-mode recall".into());
        }
        header.extend(factors.iter().map(|f| format!("TV: {f}")));
        header.push("training time".into());
        let mut out = format!("| {} |\n", header.join(" | "));
        out.push_str(&format!("|{}\n", "---|".repeat(header.len())));
        for r in &self.runs {
            let mut cells = vec![r.name.clone(), format!("{:.4}", r.diversity)];
            if let Some(e) = &r.evaluation {
                cells.extend(e.factors.iter().map(|f| format!("{:.2}", f.mode_recall)));
                cells.push(r.rare_recall.map_or("-".into(), |v| format!("{v:.2}")));
                cells.extend(e.factors.iter().map(|f| format!("{:.3}", f.tv_distance)));
            } else {
                cells.extend(std::iter::repeat_n(
                    "-".to_string(),
                    2 * factors.len() + usize::from(!factors.is_empty()),
                ));
            }
            cells.push(format_seconds(r.train_seconds));
            out.push_str(&format!("| {} |\n", cells.join(" | ")));
        }
        out
    }

    /// The whole report as Markdown.
    pub fn markdown(&self) -> String {
        let b = &self.budget;
        let mut out = String::from("# cimle compare\n\n");
        out.push_str(&format!(
            "- data: {}\n- budget of every run: {} rounds x {} Adam steps of batch {} = {} \
             gradient steps; {} images selected a round; lr {} ({}); cIMLE \
             runs try {} codes per image, CRN runs use the zero code and select nothing\n\
             - trained with: {}\n- measured: {}\n- diversity: mean pairwise distance between \
             the samples of one layout under {}\n\n",
            self.data,
            b.rounds,
            b.steps_per_round,
            b.batch_size,
            b.gradient_steps,
            b.images_per_round,
            b.lr,
            b.reinit_after_rounds
                .map_or("no drop".to_string(), |r| format!(
                    "/ 10 and a new noise encoder after round {r}"
                )),
            b.candidates,
            self.training_distance,
            self.evaluation,
            self.distance,
        ));
        out.push_str(&self.table());
        out.push('\n');
        if let Some(e) = self.runs.iter().find_map(|r| r.evaluation.as_ref()) {
            let rare: Vec<String> = e
                .factors
                .iter()
                .filter(|f| !f.rare_levels.is_empty())
                .map(|f| format!("{}: {}", f.factor, f.rare_levels.join(", ")))
                .collect();
            out.push_str(&format!(
                "Rare levels (true probability at most {}): {}. Rare-mode recall is the mean over \
                 those factors of the fraction of rare levels seen among a layout's samples.\n\n",
                crate::evaluate::RARE_PROBABILITY,
                rare.join("; ")
            ));
        }
        out.push_str(
            "A CRN model renders every sample with the zero code, so its samples of a layout are \
             one image and its diversity is 0 by construction (the paper's CRN scores 0.12 LPIPS, \
             from CRN's own setup; this baseline is the same generator as cIMLE without noise).\n\n",
        );
        let v = &self.video;
        out.push_str(&format!(
            "## Temporal consistency (frames.png)\n\nThe built-in sequence of scene seed {} (a car \
             drives away and back), {} frames, one code for every frame (seed {} for cIMLE, the \
             zero code for CRN). Mean adjacent-frame difference, 0..255 (lower = steadier):\n\n\
             | run | mean adjacent difference |\n|---|---|\n",
            v.scene_seed, v.frames, v.code_seed
        ));
        for (name, mean, _) in &v.runs {
            out.push_str(&format!("| {name} | {mean:.3} |\n"));
        }
        out.push_str(
            "\nPictures: metrics.png (bar charts), samples.png (one layout, its photo, then each \
             run's samples), frames.png (layouts; then per model its frames and the adjacent \
             difference maps, white = 64 levels or more).\n",
        );
        out
    }
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
    }

    /// Budget parity: every compared run, CRN or cIMLE, takes the same gradient steps of the same
    /// batch with the same lr schedule, and differs from the others only in method and
    /// rebalancing.
    #[test]
    fn compared_runs_share_one_budget() {
        let base = base();
        let runs = compared_runs(&base);
        let names: Vec<&str> = runs.iter().map(|r| r.name).collect();
        assert_eq!(
            names,
            [
                "cimle",
                "cimle-no-dataset-rebalance",
                "cimle-no-loss-rebalance",
                "crn",
                "crn-rebalanced"
            ]
        );
        let flags: Vec<(Method, bool, bool)> = runs
            .iter()
            .map(|r| {
                (
                    r.config.method,
                    r.config.dataset_rebalance,
                    r.config.loss_rebalance,
                )
            })
            .collect();
        assert_eq!(
            flags,
            [
                (Method::Cimle, true, true),
                (Method::Cimle, false, true),
                (Method::Cimle, true, false),
                (Method::Crn, false, false),
                (Method::Crn, true, true),
            ]
        );
        let crn = &runs[3].config;
        for run in &runs {
            let c = &run.config;
            assert_eq!(c.gradient_steps(), 21, "{}", run.name);
            assert_eq!(c.gradient_steps(), crn.gradient_steps(), "{}", run.name);
            assert_eq!(c.pairs_seen(), crn.pairs_seen(), "{}", run.name);
            for round in 0..c.rounds {
                assert_eq!(
                    crate::imle::round_lr(c, round),
                    crate::imle::round_lr(crn, round)
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

    #[test]
    fn differing_fields_names_what_changed() {
        let a = serde_json::to_value(base()).unwrap();
        let b = serde_json::to_value(base().with_rounds(4).with_method(Method::Cimle)).unwrap();
        assert_eq!(differing_fields(&a, &b), ["method", "rounds"]);
        assert!(differing_fields(&a, &a).is_empty());
    }
}
