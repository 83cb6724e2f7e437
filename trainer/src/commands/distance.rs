//! `cimle distance A.png B.png`: the perceptual distance between two photos, term by term. Both
//! files are checked against the image-size limit before they are decoded.

use std::path::Path;

use anyhow::{Context, Result, bail};
use burn::tensor::Device;

use super::budget::{build_vgg, vgg_source};
use crate::cli::flags::DistanceFlags;
use crate::data::{read_png_rgb, resize_rgb_area};
use crate::limits::check_png;
use crate::perceptual::{LayerWeights, PerceptualDistance, distance_report};
use crate::vgg::MIN_SIDE;

/// An RGB8 photo read from a PNG file: `(rgb, height, width)`.
fn read_photo(path: &Path) -> Result<(Vec<u8>, usize, usize)> {
    let bytes = std::fs::read(path).with_context(|| format!("reading {}", path.display()))?;
    check_png(path, &bytes)?;
    read_png_rgb(&bytes).map_err(|e| anyhow::anyhow!("{}: {e}", path.display()))
}

/// Prints `L(A, B)` and its terms (a table, or JSON with `--json`); B is resized (area) to A's
/// size when they differ.
pub fn distance(f: &DistanceFlags) -> Result<()> {
    let vgg = vgg_source(&f.vgg, 1)?;
    let (a, ah, aw) = read_photo(&f.a)?;
    let (mut b, bh, bw) = read_photo(&f.b)?;
    if (ah, aw) != (bh, bw) {
        eprintln!("{}: {bh}x{bw} resized to {ah}x{aw} (area)", f.b.display());
        b = resize_rgb_area(&b, bh, bw, ah, aw);
    }
    if ah < MIN_SIDE || aw < MIN_SIDE {
        bail!(
            "{}: images must be at least {MIN_SIDE}x{MIN_SIDE} for VGG-19's four poolings",
            f.a.display()
        );
    }
    let device = Device::flex();
    let dist = PerceptualDistance::new(build_vgg(&vgg, &device)?, LayerWeights::paper());
    let report = distance_report(&dist, &a, &b, ah, aw, &device);
    if f.json {
        println!("{}", serde_json::to_string_pretty(&report)?);
    } else {
        println!("{report}");
    }
    Ok(())
}
