//! `cimle compare`: the flags checked into [`CompareSettings`], then the runs and their
//! report ([`run_compare`]).

use std::path::PathBuf;
use std::time::Instant;

use anyhow::Result;

use super::budget::Budget;
use super::checks::{at_least, at_most, renders};
use crate::cli::flags::CompareFlags;
use crate::compare::{CompareOptions, compared_runs, run_compare};
use crate::fs::prepare_dir;
use crate::limits::MAX_VIDEO_FRAMES;

/// A checked `cimle compare`.
#[derive(Debug, Clone)]
pub struct CompareSettings {
    pub out: PathBuf,
    pub budget: Budget,
    pub layouts: usize,
    pub samples: usize,
    pub eval_seed: u64,
    pub video_seed: u64,
    pub video_frames: usize,
    pub video_code_seed: u64,
}

impl CompareSettings {
    pub fn from_flags(f: &CompareFlags) -> Result<Self> {
        at_least("--samples", f.samples, 2, "diversity compares samples")?;
        at_least("--layouts", f.layouts, 1, "a measurement needs a layout")?;
        renders(("--layouts", "--samples"), f.layouts, f.samples)?;
        at_least(
            "--video-frames",
            f.video_frames,
            2,
            "adjacent differences need a pair",
        )?;
        at_most(
            "--video-frames",
            f.video_frames,
            MAX_VIDEO_FRAMES,
            "frames of a video",
        )?;
        Ok(Self {
            out: f.out.clone(),
            budget: Budget::from_flags(&f.budget)?,
            layouts: f.layouts,
            samples: f.samples,
            eval_seed: f.eval_seed,
            video_seed: f.video_seed,
            video_frames: f.video_frames,
            video_code_seed: f.video_code_seed,
        })
    }
}

/// Compares: checks that `--out` can be written, loads the data and the distance once, trains
/// the runs and writes the report.
pub fn compare(s: &CompareSettings) -> Result<()> {
    prepare_dir("--out", &s.out)?;
    let prepared = s.budget.prepare(true)?;
    let base = &prepared.config;
    let (h, w) = (base.generator.height, base.generator.width);
    let runs = compared_runs(base);
    eprintln!(
        "cimle compare: {} runs of the {} preset ({} parameters, {h}x{w}) on {}; data: {}; \
         distance: {}",
        runs.len(),
        s.budget.preset,
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
    let synth_data = s.budget.data.is_synth();
    if !synth_data {
        eprintln!(
            "  note: --data is a dataset, not the built-in scenes: the report gives diversity \
             only (appearance factors are known only for built-in scenes)"
        );
    }
    let started = Instant::now();
    let report = run_compare(
        base,
        &prepared.run_inputs(),
        &CompareOptions {
            out: s.out.clone(),
            layouts: s.layouts,
            samples: s.samples,
            eval_seed: s.eval_seed,
            synth_data,
            video_seed: s.video_seed,
            video_frames: s.video_frames,
            video_code_seed: s.video_code_seed,
            progress: true,
            path: prepared.backend.train_path(),
        },
    )?;
    eprintln!(
        "done in {:.1} min: {} (report.md, report.json, metrics.png, samples.png, frames.png)",
        started.elapsed().as_secs_f64() / 60.0,
        s.out.display()
    );
    println!("{}", report.table());
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::cli::parse_flags;

    #[test]
    fn measurement_flags_are_checked() {
        let parse = |args: &[&str]| {
            let argv: Vec<&str> = ["--out", "o"].iter().chain(args).copied().collect();
            CompareSettings::from_flags(&parse_flags::<CompareFlags>(&argv).unwrap())
        };
        assert_eq!(parse(&[]).unwrap().video_frames, 12);
        for (args, said) in [
            (&["--samples", "1"][..], "--samples 1"),
            (&["--layouts", "0"], "--layouts 0"),
            (&["--video-frames", "1"], "--video-frames 1"),
            (&["--video-frames", "20000"], "--video-frames 20000"),
            (
                &["--layouts", "100000", "--samples", "100"],
                "--layouts 100000 x --samples 100",
            ),
            (&["--lr", "nan"], "--lr NaN"),
        ] {
            let err = parse(args).err().unwrap().to_string();
            assert!(err.starts_with(said), "{args:?}: {err}");
        }
    }
}
