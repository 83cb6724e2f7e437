//! `cimle sample` (one layout, many codes, a grid) and `cimle export` (a weights file written
//! again, in f32 or f16): the commands that render or rewrite a weights file as it is.

use std::path::PathBuf;

use anyhow::{Context, Result};
use burn::tensor::Device;
use cimle::weights::{Precision, save_generator};

use super::checks::{at_least, at_most, seed_range};
use crate::cli::flags::{ExportFlags, LayoutFormatFlags, SampleFlags};
use crate::fs::{prepare_dir, prepare_file, write_atomic};
use crate::layout_file::LayoutReading;
use crate::limits::MAX_SAMPLES;
use crate::progress::progress_bar;
use crate::render::Renderer;
use crate::sample::{SampleJob, check_grid};
use crate::weights_file::WeightsFile;

/// `--label-format` and `--map-unknown-colors`.
pub fn layout_reading(f: &LayoutFormatFlags) -> LayoutReading {
    LayoutReading {
        format: f.label_format.map(Into::into),
        policy: super::budget::color_policy(f.map_unknown_colors),
    }
}

/// A checked `cimle sample`.
#[derive(Debug, Clone)]
pub struct SampleSettings {
    pub weights: PathBuf,
    pub layout: PathBuf,
    pub reading: LayoutReading,
    pub count: usize,
    pub seed: u64,
    pub out: PathBuf,
    pub frames: Option<PathBuf>,
}

impl SampleSettings {
    pub fn from_flags(f: &SampleFlags) -> Result<Self> {
        at_least(
            "--count",
            f.count,
            1,
            "a grid of only the layout shows nothing",
        )?;
        at_most("--count", f.count, MAX_SAMPLES, "samples a call")?;
        seed_range("--seed", f.seed, f.count)?;
        Ok(Self {
            weights: f.weights.clone(),
            layout: f.layout.clone(),
            reading: layout_reading(&f.layout_format),
            count: f.count,
            seed: f.seed,
            out: f.out.clone(),
            frames: f.frames.clone(),
        })
    }
}

/// Samples: every output location is checked before anything is loaded or rendered; samples
/// stream into the grid (and the frames folder) a batch at a time.
pub fn sample(s: &SampleSettings) -> Result<()> {
    prepare_file("--out", &s.out)?;
    if let Some(dir) = &s.frames {
        prepare_dir("--frames", dir)?;
    }
    let device = Device::flex();
    let file = WeightsFile::load_for_sampling(&s.weights, &device)?;
    let cfg = &file.header.config;
    let (h, w) = (cfg.height, cfg.width);
    check_grid(s.count, h, w)?;
    let layout = s.reading.read_noted(&s.layout, h, w)?;
    let pb = progress_bar(s.count as u64, "sample", true);
    let picture = SampleJob {
        renderer: Renderer::new(&file.generator, cfg, &device),
        method: file.method,
        layout: &layout,
        first_seed: s.seed,
        count: s.count,
        frames: s.frames.as_deref(),
    }
    .render(|n| pb.inc(n as u64))
    .with_context(|| format!("sampling {}", s.weights.display()))?;
    pb.finish_and_clear();
    write_atomic(&s.out, &picture.encode_png())
        .with_context(|| format!("writing {}", s.out.display()))?;
    eprintln!(
        "wrote {} samples of {h}x{w} to {}",
        s.count,
        s.out.display()
    );
    Ok(())
}

/// `cimle export`: the weights again, in f32 or (`--half`) f16, keeping their provenance and
/// naming the file they came from; prints their size.
pub fn export(f: &ExportFlags) -> Result<()> {
    prepare_file("--out", &f.out)?;
    let file = WeightsFile::load(&f.weights, &Device::flex())?;
    let precision = if f.half {
        Precision::F16
    } else {
        Precision::F32
    };
    let header = &file.header;
    let mut provenance = header.metadata.clone();
    for key in ["format", "version", "config"] {
        provenance.remove(key);
    }
    provenance.insert("exported_from".into(), f.weights.display().to_string());
    let out = save_generator(&file.generator, &header.config, precision, &provenance)?;
    write_atomic(&f.out, &out).with_context(|| format!("writing {}", f.out.display()))?;
    println!(
        "{}: {} parameters, {}x{}, {:?}, {:.2} MB",
        f.out.display(),
        header.config.num_params(),
        header.config.height,
        header.config.width,
        precision,
        out.len() as f64 / 1e6
    );
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::cli::parse_flags;

    fn settings(args: &[&str]) -> Result<SampleSettings> {
        let argv: Vec<&str> = ["--weights", "w", "--layout", "l.png", "--out", "g.png"]
            .iter()
            .chain(args)
            .copied()
            .collect();
        SampleSettings::from_flags(&parse_flags::<SampleFlags>(&argv)?)
    }

    #[test]
    fn counts_and_seeds_are_checked() {
        let s = settings(&[]).unwrap();
        assert_eq!((s.count, s.seed, s.frames), (19, 0, None));
        assert_eq!(s.reading, LayoutReading::default());
        let s = settings(&["--label-format", "label-ids", "--map-unknown-colors"]).unwrap();
        assert_eq!(
            s.reading.format,
            Some(cimle::label_png::LabelFormat::LabelIds)
        );
        for (args, said) in [
            (&["--count", "0"][..], "--count 0"),
            (
                &["--count", "18446744073709551615"],
                "--count 18446744073709551615: at most 10000",
            ),
            (
                &["--seed", "18446744073709551615", "--count", "3"],
                "--seed 18446744073709551615",
            ),
        ] {
            let err = settings(args).err().unwrap().to_string();
            assert!(err.starts_with(said), "{args:?}: {err}");
        }
        assert!(settings(&["--seed", "18446744073709551615", "--count", "1"]).is_ok());
    }
}
