//! `cimle interpolate` (one layout, a code moving from one seed's to another's) and `cimle
//! animate` (a layout sequence, one code or a moving one): frames rendered and written as a
//! video folder ([`write_video`]), the folder checked before anything renders.

use std::path::{Path, PathBuf};

use anyhow::{Context, Result, bail};
use burn::tensor::Device;
use cimle::latent::{Interpolation, LatentCode};
use cimle::layout::Layout;

use super::checks::{at_least, at_most};
use super::sample::layout_reading;
use crate::cli::flags::{AnimateFlags, InterpolateFlags, VideoOutFlags};
use crate::fs::prepare_dir;
use crate::layout_file::{LayoutReading, layout_files};
use crate::limits::MAX_VIDEO_FRAMES;
use crate::picture::RgbImage;
use crate::synth;
use crate::video::{DIFFERENCE_WHITE, interpolation_codes, render_frames, write_video};
use crate::weights_file::WeightsFile;

/// Frames of `animate --synth-seed` without `--frames`.
pub const DEFAULT_SEQUENCE_FRAMES: usize = 32;

/// `frames` from 2 to [`MAX_VIDEO_FRAMES`], or an error naming `--frames`.
fn check_frames(frames: usize) -> Result<()> {
    at_least("--frames", frames, 2, "adjacent differences need a pair")?;
    at_most("--frames", frames, MAX_VIDEO_FRAMES, "frames of a video")
}

/// Checks `--delay-ms` and creates the `--out` folder (and checks it takes files), before any
/// rendering.
fn prepare_out(out: &VideoOutFlags) -> Result<()> {
    if out.delay_ms == 0 {
        bail!("--delay-ms 0: give at least 1 ms a frame");
    }
    prepare_dir("--out", &out.out)?;
    Ok(())
}

fn how(lerp: bool) -> Interpolation {
    if lerp {
        Interpolation::Lerp
    } else {
        Interpolation::Slerp
    }
}

/// `cimle interpolate`.
pub fn interpolate(f: &InterpolateFlags) -> Result<()> {
    check_frames(f.frames)?;
    prepare_out(&f.output)?;
    let device = Device::flex();
    let file = WeightsFile::load_for_sampling(&f.weights, &device)?;
    let cfg = &file.header.config;
    let (h, w) = (cfg.height, cfg.width);
    let layout = layout_reading(&f.layout_format).read_noted(&f.layout, h, w)?;
    let code = |seed| file.method.sampling_code(seed, cfg.latent_channels, h, w);
    let codes = interpolation_codes(&code(f.from), &code(f.to), f.frames, how(f.lerp))?;
    if file.method.uses_codes() {
        eprintln!(
            "cimle interpolate: {} frames of {h}x{w}, seed {} to seed {} ({:?})",
            f.frames,
            f.from,
            f.to,
            how(f.lerp)
        );
    } else {
        eprintln!(
            "cimle interpolate: {} frames of {h}x{w}, all with the zero code (CRN model)",
            f.frames
        );
    }
    let frames = render_frames(&file.generator, cfg, &[layout], &codes, &device)
        .with_context(|| format!("rendering with {}", f.weights.display()))?;
    report_video(&f.output, &frames)
}

/// `cimle animate`.
pub fn animate(f: &AnimateFlags) -> Result<()> {
    if let Some(n) = f.frames {
        check_frames(n)?;
    }
    prepare_out(&f.output)?;
    let device = Device::flex();
    let file = WeightsFile::load_for_sampling(&f.weights, &device)?;
    let cfg = &file.header.config;
    let (h, w) = (cfg.height, cfg.width);
    let (layouts, source) = match (&f.layouts, f.synth_seed) {
        (Some(dir), _) => folder_sequence(dir, f.frames, layout_reading(&f.layout_format), (h, w))?,
        (None, Some(seed)) => {
            let n = f.frames.unwrap_or(DEFAULT_SEQUENCE_FRAMES);
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
    let code = |seed| file.method.sampling_code(seed, cfg.latent_channels, h, w);
    let (codes, style): (Vec<LatentCode>, String) = match (f.seed, f.from, f.to) {
        _ if !file.method.uses_codes() => (vec![code(0)], "the zero code (CRN model)".to_string()),
        (Some(seed), _, _) => (vec![code(seed)], format!("one code (seed {seed})")),
        (None, Some(from), Some(to)) => (
            interpolation_codes(&code(from), &code(to), n, how(f.lerp))?,
            format!("code from seed {from} to seed {to} ({:?})", how(f.lerp)),
        ),
        _ => bail!("give --seed S (one style) or --from S --to S (a style that changes)"),
    };
    eprintln!("cimle animate: {n} frames of {h}x{w}: {source}; {style}");
    let frames = render_frames(&file.generator, cfg, &layouts, &codes, &device)
        .with_context(|| format!("rendering with {}", f.weights.display()))?;
    report_video(&f.output, &frames)
}

/// The layouts of `--layouts DIR` (the first `frames` of them, if given) at `h x w`, and what
/// they are in words.
fn folder_sequence(
    dir: &Path,
    frames: Option<usize>,
    reading: LayoutReading,
    (h, w): (usize, usize),
) -> Result<(Vec<Layout>, String)> {
    let mut files: Vec<PathBuf> = layout_files(dir)
        .with_context(|| "give a folder of layout PNGs (--layouts DIR)".to_string())?;
    if files.is_empty() {
        bail!(
            "{}: no .png files; put one layout PNG per frame there (palette colours, train ids \
             or labelIds), named so that they sort in playing order",
            dir.display()
        );
    }
    if let Some(n) = frames {
        if n > files.len() {
            bail!(
                "--frames {n}: {} holds only {} layout PNGs; ask for at most {} frames or leave \
                 --frames out",
                dir.display(),
                files.len(),
                files.len()
            );
        }
        files.truncate(n);
    }
    check_frames(files.len())
        .with_context(|| format!("{}: holds {} layout PNG(s)", dir.display(), files.len()))?;
    let layouts = files
        .iter()
        .map(|f| reading.read_noted(f, h, w))
        .collect::<Result<Vec<_>, _>>()?;
    Ok((
        layouts,
        format!("{} layouts from {}", files.len(), dir.display()),
    ))
}

/// Writes the video and says what was written (the mean adjacent difference on stdout).
fn report_video(out: &VideoOutFlags, frames: &[RgbImage]) -> Result<()> {
    let dir = &out.out;
    let written = write_video(dir, frames, out.delay_ms)?;
    if written.stale_frames > 0 {
        eprintln!(
            "note: {} still holds {} frame-NNN.png files from an earlier, longer video \
             (frame-{:03}.png on); delete them or use another --out",
            dir.display(),
            written.stale_frames,
            written.frames
        );
    }
    println!(
        "mean adjacent-frame difference: {:.3} (0..255; max {:.3}) over {} pairs",
        written.mean, written.max, written.pairs
    );
    eprintln!(
        "wrote {} frames, interpolation.png (animated, {} ms a frame), differences.png (white = \
         {DIFFERENCE_WHITE} levels or more) and differences.csv to {}",
        written.frames,
        out.delay_ms,
        dir.display()
    );
    Ok(())
}
