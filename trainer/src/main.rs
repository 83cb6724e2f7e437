//! `cimle`: the command-line face of the trainer. The commands and their flags (clap), one call
//! into the library per command ([`cimle_trainer::commands`]), and the hints that name this
//! binary's flags where an error of the model crate's calls for one.

use anyhow::Result;
use cimle::layout::LayoutError;
use cimle::weights::WeightsError;
use cimle_trainer::cli::flags::{
    AnimateFlags, BenchFlags, CompareFlags, DistanceFlags, EvaluateFlags, ExportFlags,
    InterpolateFlags, RarityFlags, SampleFlags, SynthFlags, TrainFlags,
};
use cimle_trainer::commands::{
    bench, compare, distance, evaluate, rarity, sample, synth, train, video,
};
use cimle_trainer::data::DataError;
use cimle_trainer::layout_file::LayoutFileError;
use cimle_trainer::weights_file::WeightsFileError;
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

    /// Whether the command reads layout files with `--label-format`.
    fn reads_layout_files(&self) -> bool {
        matches!(
            self,
            Command::Sample(_) | Command::Interpolate(_) | Command::Animate(_)
        )
    }
}

/// What to do about an error, in this binary's flags, where the library's message does not
/// already say it.
fn hint(err: &anyhow::Error, layout_flags: bool) -> Option<&'static str> {
    for cause in err.chain() {
        let layout = cause
            .downcast_ref::<LayoutFileError>()
            .and_then(|e| match e {
                LayoutFileError::Decode { error, .. } => Some((error, layout_flags)),
                _ => None,
            })
            .or_else(|| match cause.downcast_ref::<DataError>() {
                Some(DataError::Label { error, .. }) => Some((error, false)),
                _ => None,
            });
        if let Some((error, label_format)) = layout {
            return match error {
                LayoutError::UnknownColor { .. } if label_format => Some(
                    "pass --map-unknown-colors to map such colours to the nearest class, or \
                     --label-format label-ids if the file holds Cityscapes label ids",
                ),
                LayoutError::UnknownColor { .. } => {
                    Some("pass --map-unknown-colors to map such colours to the nearest class")
                }
                LayoutError::InvalidTrainId { .. } if label_format => {
                    Some("if the file holds Cityscapes label ids, pass --label-format label-ids")
                }
                LayoutError::InvalidLabelId { .. } if label_format => {
                    Some("if the file holds train ids (255 = void), pass --label-format train-id")
                }
                LayoutError::NotGray { .. } if label_format => {
                    Some("if the file is a colour label, pass --label-format color")
                }
                _ => None,
            };
        }
        if let Some(WeightsFileError::Weights {
            error: WeightsError::Foreign { .. } | WeightsError::Unreadable(_),
            ..
        }) = cause.downcast_ref::<WeightsFileError>()
        {
            return Some(
                "--weights takes a run's weights.safetensors or a file written by `cimle export`",
            );
        }
    }
    None
}

fn main() {
    let command = Cli::parse().command;
    let layout_flags = command.reads_layout_files();
    if let Err(err) = command.run() {
        let message = format!("{err:#}");
        eprintln!("error: {message}");
        if let Some(hint) = hint(&err, layout_flags)
            && !hint
                .split_whitespace()
                .filter(|w| w.starts_with("--"))
                .all(|flag| message.contains(flag))
        {
            eprintln!("hint: {hint}");
        }
        std::process::exit(1);
    }
}
