//! `cimle`: the command-line face of the trainer. The commands and their flags (clap), one call
//! into the library per command ([`cimle_trainer::commands`]), and the error line (with the
//! flag to pass, [`cimle_trainer::cli::hints`]) when one fails.

use anyhow::Result;
use cimle_trainer::cli::flags::{
    AnimateFlags, BenchFlags, CompareFlags, DistanceFlags, EvaluateFlags, ExportFlags,
    InterpolateFlags, RarityFlags, SampleFlags, SynthFlags, TrainFlags,
};
use cimle_trainer::cli::hints::error_line;
use cimle_trainer::commands::{
    bench, compare, distance, evaluate, rarity, sample, synth, train, video,
};
use clap::{Parser, Subcommand};

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
    Synth(SynthFlags),
    /// Train a generator with conditional IMLE (or, with --method crn, the regression baseline).
    Train(TrainFlags),
    /// Render a layout with many latent codes into a grid (the paper's figure).
    Sample(SampleFlags),
    /// Export weights for the browser (f16 with --half) and print their size.
    Export(ExportFlags),
    /// Print the perceptual distance between two images, layer by layer.
    Distance(DistanceFlags),
    /// Measure train-step time and selection throughput; writes a JSON report.
    Bench(BenchFlags),
    /// Write the rarity scores R_p(k) of a dataset (which images are rare, per class).
    Rarity(RarityFlags),
    /// Measure a model on held-out built-in scenes: diversity, factor recall, TV distance.
    Evaluate(EvaluateFlags),
    /// Train cIMLE, its two rebalancing ablations and the CRN baselines on one budget, then
    /// compare them: report.md, metrics.png, samples.png, frames.png.
    Compare(CompareFlags),
    /// Render one layout while the latent code moves from one seed's code to another's
    /// (frames, animated PNG, adjacent-frame differences).
    Interpolate(InterpolateFlags),
    /// Render a sequence of layouts (a car driving away and back, or a folder of PNGs) with one
    /// fixed code or a code interpolated across the frames.
    Animate(AnimateFlags),
}

impl Command {
    /// Checks the flags, then runs the command.
    fn run(self) -> Result<()> {
        match self {
            Command::Synth(f) => synth::synth(&synth::SynthSettings::from_flags(&f)?),
            Command::Train(f) => train::train(&train::TrainSettings::from_flags(&f)?),
            Command::Sample(f) => sample::sample(&sample::SampleSettings::from_flags(&f)?),
            Command::Export(f) => sample::export(&f),
            Command::Distance(f) => distance::distance(&f),
            Command::Bench(f) => bench::bench(&f),
            Command::Rarity(f) => rarity::rarity(&f),
            Command::Evaluate(f) => {
                evaluate::evaluate(&evaluate::EvaluateSettings::from_flags(&f)?)
            }
            Command::Compare(f) => compare::compare(&compare::CompareSettings::from_flags(&f)?),
            Command::Interpolate(f) => video::interpolate(&f),
            Command::Animate(f) => video::animate(&f),
        }
    }
}

fn main() {
    cimle_trainer::memory::keep_freed_memory();
    if let Err(err) = Cli::parse().command.run() {
        eprintln!("error: {}", error_line(&err));
        std::process::exit(1);
    }
}
