//! The report of `cimle compare`: what every run measured, as one table (`report.md`, printed)
//! and as JSON (`report.json`).

use std::path::PathBuf;

use serde::Serialize;

use crate::evaluate::Evaluation;
use crate::method::Method;

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
    /// lr / 10 from this round on, without a new noise encoder.
    pub lr_decay_after_rounds: Option<usize>,
    /// m, for the cIMLE runs (CRN selects nothing).
    pub candidates: usize,
}

impl Budget {
    /// The budget of `base`, which every compared run shares.
    pub fn of(base: &crate::config::TrainingConfig) -> Self {
        Budget {
            rounds: base.rounds,
            images_per_round: base.images_per_round,
            steps_per_round: base.steps_per_round,
            batch_size: base.batch_size,
            gradient_steps: base.gradient_steps(),
            lr: base.lr,
            reinit_after_rounds: base.reinit_after_rounds,
            lr_decay_after_rounds: base.lr_decay_after_rounds,
            candidates: base.candidates,
        }
    }

    /// The lr schedule in words.
    pub fn lr_schedule(&self) -> String {
        let mut parts = Vec::new();
        if let Some(r) = self.reinit_after_rounds {
            parts.push(format!("/ 10 and a new noise encoder after round {r}"));
        }
        if let Some(r) = self.lr_decay_after_rounds {
            parts.push(format!("/ 10 from round {} on", r + 1));
        }
        if parts.is_empty() {
            "no drop".into()
        } else {
            parts.join("; ")
        }
    }
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

    /// cIMLE against CRN trained with the same settings (the runs `cimle` and `crn`): mean TV
    /// distance and rare-mode recall of each, and by how much cIMLE is better (`None` without
    /// factor measurements).
    pub fn headline(&self) -> Option<String> {
        let find = |name: &str| self.runs.iter().find(|r| r.name == name);
        let (c, r) = (find("cimle")?, find("crn")?);
        let (c_tv, r_tv) = (c.mean_tv?, r.mean_tv?);
        let (c_rare, r_rare) = (c.rare_recall?, r.rare_recall?);
        let verdict = |better: bool| if better { "better" } else { "not better" };
        Some(format!(
            "cIMLE against CRN with the same settings: mean TV distance {c_tv:.3} against \
             {r_tv:.3} ({} by {:.3}); rare-mode recall {c_rare:.2} against {r_rare:.2} ({} by \
             {:.2}).",
            verdict(c_tv < r_tv),
            (r_tv - c_tv).abs(),
            verdict(c_rare > r_rare),
            (c_rare - r_rare).abs(),
        ))
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
            b.lr_schedule(),
            b.candidates,
            self.training_distance,
            self.evaluation,
            self.distance,
        ));
        out.push_str(&self.table());
        out.push('\n');
        if let Some(line) = self.headline() {
            out.push_str(&line);
            out.push_str("\n\n");
        }
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
