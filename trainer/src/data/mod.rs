//! Datasets: folders of photos and semantic labels, read into memory at a target size.
//!
//! Four folder layouts are recognised (see [`DatasetKind`]):
//!
//! - **Synth**: our scene generator's output, `synth.json` + `images/*.png` + `labels/*.png`
//!   (train-id PNGs, `255` = void).
//! - **Cityscapes**: `leftImg8bit/<split>/<city>/<name>_leftImg8bit.png` paired with
//!   `gtFine/<split>/<city>/<name>_gtFine_labelIds.png` (or `_gtFine_trainIds.png`). Point at the
//!   Cityscapes root to read every split, or at a folder inside `leftImg8bit/` (e.g.
//!   `leftImg8bit/train`) to read only that part.
//! - **GTA-5** ("Playing for Data"): `images/*.png` + `labels/*.png` whose labels are colour
//!   (usually palette-indexed) PNGs in the Cityscapes palette.
//! - **Generic**: `images/*.png` + `labels/*.png` with labels in any
//!   [`LabelFormat`], detected per file.
//!
//! Photos and labels are paired by file stem. Photos are resized by area averaging
//! ([`resize_rgb_area`]), labels by nearest neighbour. Every error names the file concerned and, where
//! there is one, the fix.

use std::fmt;
use std::path::Path;

use cimle::label_png::{ColorPolicy, LabelFormat};
use cimle::layout::Layout;

mod error;
mod find;
mod image;
mod load;
pub mod source;
#[cfg(test)]
mod tests;

pub use error::DataError;
pub use image::{read_png_rgb, resize_rgb_area};

/// One training pair: a layout and its photo (RGB8, `height * width * 3` bytes, row-major, the
/// layout's size). Every part of the trainer (datasets, built-in scenes, rebalancing, selection,
/// training steps) passes pairs as this type.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Pair {
    /// The semantic layout, `height`×`width`.
    pub layout: Layout,
    /// The photo, RGB, `height * width * 3` bytes, row-major.
    pub image: Vec<u8>,
}

/// A dataset in memory: every pair has the same size.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Dataset {
    /// Height of every image and layout.
    pub height: usize,
    /// Width of every image and layout.
    pub width: usize,
    /// The pairs, sorted by name (Cityscapes: by relative path).
    pub pairs: Vec<Pair>,
    /// The name of each pair (the file stem; for Cityscapes the part before `_leftImg8bit`).
    pub names: Vec<String>,
    /// The folder layout the pairs were read from.
    pub kind: DatasetKind,
}

impl Dataset {
    /// Number of pairs.
    pub fn len(&self) -> usize {
        self.pairs.len()
    }

    /// Whether there are no pairs (only with `limit: Some(0)`).
    pub fn is_empty(&self) -> bool {
        self.pairs.is_empty()
    }
}

/// The folder layouts [`load_dataset`] understands.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum DatasetKind {
    /// Our scene generator's output: `synth.json`, `images/`, `labels/` (train-id PNGs).
    Synth,
    /// Cityscapes: `leftImg8bit/` and `gtFine/` (labelIds).
    Cityscapes,
    /// GTA-5 "Playing for Data": `images/` and `labels/` with colour labels.
    Gta5,
    /// `images/` and `labels/` with labels in any supported format.
    Generic,
}

impl DatasetKind {
    /// Short lowercase name: `synth`, `cityscapes`, `gta5`, `generic`.
    pub fn name(self) -> &'static str {
        match self {
            Self::Synth => "synth",
            Self::Cityscapes => "cityscapes",
            Self::Gta5 => "gta5",
            Self::Generic => "generic",
        }
    }
}

impl fmt::Display for DatasetKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

/// Options of [`load_dataset`].
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct LoadOptions {
    /// What to do with label colours that are in no Cityscapes label.
    pub color_policy: ColorPolicy,
    /// Read at most this many pairs (the first ones in sorted order).
    pub limit: Option<usize>,
}

/// Reads the dataset in `dir`, resizing every pair to `height`×`width`.
///
/// The folder layout is detected (see the [module docs](self)); pairs are sorted by name and, with
/// `opts.limit`, only the first ones are read. Files are decoded on all available cores.
pub fn load_dataset(
    dir: impl AsRef<Path>,
    height: usize,
    width: usize,
    opts: LoadOptions,
) -> Result<Dataset, DataError> {
    let dir = dir.as_ref();
    if height == 0 || width == 0 {
        return Err(DataError::BadSize { height, width });
    }
    let (kind, mut pairs) = find::find_pairs(dir)?;
    if let Some(limit) = opts.limit {
        pairs.truncate(limit);
    }
    let loaded = load::load_all(&pairs, height, width, opts.color_policy)?;
    let kind = match kind {
        Some(kind) => kind,
        None if loaded.iter().all(|(_, _, f)| *f == LabelFormat::Color) => DatasetKind::Gta5,
        None => DatasetKind::Generic,
    };
    let mut names = Vec::with_capacity(loaded.len());
    let mut out = Vec::with_capacity(loaded.len());
    for (name, pair, _) in loaded {
        names.push(name);
        out.push(pair);
    }
    Ok(Dataset {
        height,
        width,
        pairs: out,
        names,
        kind,
    })
}
