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
//! ([`resize_area`]), labels by nearest neighbour. Every error names the file concerned and, where
//! there is one, the fix.

use std::collections::BTreeMap;
use std::fmt;
use std::fs;
use std::path::{Path, PathBuf};
use std::sync::Mutex;
use std::sync::atomic::{AtomicUsize, Ordering};

use cimle::label_png::{self, ColorPolicy, LabelError, LabelFormat};
use cimle::layout::Layout;

/// One training pair at the dataset's size.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Sample {
    /// Name of the pair (the file stem; for Cityscapes the part before `_leftImg8bit`).
    pub name: String,
    /// The photo, RGB, `height * width * 3` bytes, row-major.
    pub image: Vec<u8>,
    /// The semantic layout, `height`×`width`.
    pub layout: Layout,
}

/// A dataset in memory: every sample has the same size.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Dataset {
    /// Height of every image and layout.
    pub height: usize,
    /// Width of every image and layout.
    pub width: usize,
    /// The samples, sorted by name (Cityscapes: by relative path).
    pub samples: Vec<Sample>,
    /// The folder layout the samples were read from.
    pub kind: DatasetKind,
}

impl Dataset {
    /// Number of samples.
    pub fn len(&self) -> usize {
        self.samples.len()
    }

    /// Whether there are no samples (only with `limit: Some(0)`).
    pub fn is_empty(&self) -> bool {
        self.samples.is_empty()
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

/// What the dataset folder should look like; ends the message of [`DataError::Empty`].
const EXPECTED_LAYOUT: &str = "expected one of: \
    a synth folder (synth.json, images/*.png, labels/*.png, as written by `cimle synth`); \
    Cityscapes (leftImg8bit/<split>/<city>/<name>_leftImg8bit.png with \
    gtFine/<split>/<city>/<name>_gtFine_labelIds.png); \
    or images/*.png with labels/*.png of the same file names \
    (GTA-5 colour labels, train-id or Cityscapes labelIds PNGs)";

/// Why a dataset could not be loaded. Every variant names the file or folder concerned.
#[derive(Debug, thiserror::Error)]
pub enum DataError {
    /// The dataset path is not a folder.
    #[error("{}: not a folder ({error}); pass the folder that holds the dataset", path.display())]
    NotAFolder {
        /// The path given.
        path: PathBuf,
        /// What the file system said.
        error: String,
    },
    /// A file or folder could not be read.
    #[error("cannot read {}: {error}", path.display())]
    Io {
        /// The file or folder.
        path: PathBuf,
        /// The I/O error.
        error: std::io::Error,
    },
    /// A photo is not a readable PNG.
    #[error("{}: {message}", path.display())]
    Image {
        /// The photo.
        path: PathBuf,
        /// What is wrong with it.
        message: String,
    },
    /// A label could not be decoded.
    #[error("{}: {error}", path.display())]
    Label {
        /// The label file.
        path: PathBuf,
        /// What is wrong with it.
        error: LabelError,
    },
    /// A photo without a label.
    #[error(
        "{}: this image has no label; expected {} (add the label or remove the image)",
        image.display(),
        expected.display()
    )]
    MissingLabel {
        /// The photo.
        image: PathBuf,
        /// Where its label should be.
        expected: PathBuf,
    },
    /// A label without a photo.
    #[error(
        "{}: this label has no image; expected {} (add the image or remove the label)",
        label.display(),
        expected.display()
    )]
    MissingImage {
        /// The label.
        label: PathBuf,
        /// Where its photo should be.
        expected: PathBuf,
    },
    /// A photo and its label differ in size.
    #[error(
        "image {} is {}x{} but its label {} is {}x{} (width x height); \
         a label must have the size of its image",
        image.display(), image_size.1, image_size.0,
        label.display(), label_size.1, label_size.0
    )]
    SizeMismatch {
        /// The photo.
        image: PathBuf,
        /// Its `(height, width)`.
        image_size: (usize, usize),
        /// The label.
        label: PathBuf,
        /// Its `(height, width)`.
        label_size: (usize, usize),
    },
    /// A photo in a format other than PNG.
    #[error(
        "{}: only PNG images are supported; convert the images to PNG \
         (e.g. `mogrify -format png *.jpg`)",
        path.display()
    )]
    NotPng {
        /// The offending file.
        path: PathBuf,
    },
    /// No samples found.
    #[error("{}: no dataset found ({reason}); {EXPECTED_LAYOUT}", dir.display())]
    Empty {
        /// The dataset folder.
        dir: PathBuf,
        /// What was found instead.
        reason: String,
    },
    /// A zero target size.
    #[error("invalid target size {width}x{height} (width x height): both sides must be at least 1")]
    BadSize {
        /// Requested height.
        height: usize,
        /// Requested width.
        width: usize,
    },
}

/// How the labels of a dataset kind are decoded.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum LabelRule {
    /// Always this format.
    Fixed(LabelFormat),
    /// Colour images as colours, grayscale ones as this format.
    GrayAs(LabelFormat),
    /// Detected per file ([`label_png::decode_png_auto`]).
    Auto,
}

/// One photo and its label, found on disk.
#[derive(Debug, Clone)]
struct Pair {
    name: String,
    image: PathBuf,
    label: PathBuf,
    rule: LabelRule,
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
    let (kind, mut pairs) = find_pairs(dir)?;
    if let Some(limit) = opts.limit {
        pairs.truncate(limit);
    }
    let loaded = load_pairs(&pairs, height, width, opts.color_policy)?;
    let kind = match kind {
        Some(kind) => kind,
        None if loaded.iter().all(|(_, f)| *f == LabelFormat::Color) => DatasetKind::Gta5,
        None => DatasetKind::Generic,
    };
    Ok(Dataset {
        height,
        width,
        samples: loaded.into_iter().map(|(s, _)| s).collect(),
        kind,
    })
}

/// Detects the folder layout and lists the pairs. The kind is `None` for `images/` + `labels/`
/// folders, where it depends on the label formats.
fn find_pairs(dir: &Path) -> Result<(Option<DatasetKind>, Vec<Pair>), DataError> {
    match fs::metadata(dir) {
        Ok(m) if m.is_dir() => {}
        Ok(_) => {
            return Err(DataError::NotAFolder {
                path: dir.to_path_buf(),
                error: "it is a file".into(),
            });
        }
        Err(e) => {
            return Err(DataError::NotAFolder {
                path: dir.to_path_buf(),
                error: e.to_string(),
            });
        }
    }
    let images = dir.join("images");
    let labels = dir.join("labels");
    if dir.join("synth.json").is_file() {
        for sub in [&images, &labels] {
            if !sub.is_dir() {
                return Err(DataError::Empty {
                    dir: dir.to_path_buf(),
                    reason: format!("synth.json is there but {} is missing", sub.display()),
                });
            }
        }
        let pairs = pair_by_stem(
            dir,
            &images,
            &labels,
            LabelRule::GrayAs(LabelFormat::TrainId),
        )?;
        return Ok((Some(DatasetKind::Synth), pairs));
    }
    if let Some((root, walk_from)) = cityscapes_root(dir) {
        return Ok((
            Some(DatasetKind::Cityscapes),
            cityscapes_pairs(dir, &root, &walk_from)?,
        ));
    }
    if images.is_dir() && labels.is_dir() {
        return Ok((None, pair_by_stem(dir, &images, &labels, LabelRule::Auto)?));
    }
    let reason = match (images.is_dir(), labels.is_dir()) {
        (true, false) => "images/ is there but labels/ is missing".to_owned(),
        (false, true) => "labels/ is there but images/ is missing".to_owned(),
        _ if dir.join("leftImg8bit").is_dir() => {
            "leftImg8bit/ is there but gtFine/ is missing".to_owned()
        }
        _ if dir.join("gtFine").is_dir() => {
            "gtFine/ is there but leftImg8bit/ is missing".to_owned()
        }
        _ => "no images/ and labels/ or leftImg8bit/ and gtFine/ folders".to_owned(),
    };
    Err(DataError::Empty {
        dir: dir.to_path_buf(),
        reason,
    })
}

/// For a Cityscapes root (with `leftImg8bit/` and `gtFine/`) or a folder inside its
/// `leftImg8bit/`, returns `(root, folder to walk)`.
fn cityscapes_root(dir: &Path) -> Option<(PathBuf, PathBuf)> {
    if dir.join("leftImg8bit").is_dir() && dir.join("gtFine").is_dir() {
        return Some((dir.to_path_buf(), dir.join("leftImg8bit")));
    }
    let canonical = fs::canonicalize(dir).ok()?;
    canonical
        .ancestors()
        .skip(1)
        .find(|a| {
            a.file_name().is_some_and(|n| n == "leftImg8bit")
                && a.parent().is_some_and(|p| p.join("gtFine").is_dir())
        })
        .and_then(|a| a.parent())
        .map(|root| (root.to_path_buf(), canonical.clone()))
}

const CITYSCAPES_IMAGE_SUFFIX: &str = "_leftImg8bit.png";

/// Pairs every `*_leftImg8bit.png` under `walk_from` with its `gtFine` labelIds (or trainIds)
/// file.
fn cityscapes_pairs(dir: &Path, root: &Path, walk_from: &Path) -> Result<Vec<Pair>, DataError> {
    let image_root = root.join("leftImg8bit");
    let mut files = Vec::new();
    walk_pngs(walk_from, 0, &mut files)?;
    let mut pairs = Vec::new();
    for image in files {
        let Some(file_name) = image.file_name().and_then(|n| n.to_str()) else {
            continue;
        };
        let Some(name) = file_name.strip_suffix(CITYSCAPES_IMAGE_SUFFIX) else {
            continue;
        };
        let rel_dir = image
            .parent()
            .and_then(|p| p.strip_prefix(&image_root).ok())
            .unwrap_or_else(|| Path::new(""));
        let label_dir = root.join("gtFine").join(rel_dir);
        let label_ids = label_dir.join(format!("{name}_gtFine_labelIds.png"));
        let train_ids = label_dir.join(format!("{name}_gtFine_trainIds.png"));
        let (label, format) = if label_ids.is_file() {
            (label_ids, LabelFormat::LabelIds)
        } else if train_ids.is_file() {
            (train_ids, LabelFormat::TrainId)
        } else {
            return Err(DataError::MissingLabel {
                image,
                expected: label_ids,
            });
        };
        pairs.push(Pair {
            name: name.to_owned(),
            image,
            label,
            rule: LabelRule::Fixed(format),
        });
    }
    if pairs.is_empty() {
        return Err(DataError::Empty {
            dir: dir.to_path_buf(),
            reason: format!(
                "no *{CITYSCAPES_IMAGE_SUFFIX} files under {}",
                walk_from.display()
            ),
        });
    }
    pairs.sort_by(|a, b| a.image.cmp(&b.image));
    Ok(pairs)
}

/// Collects the PNG files under `dir` recursively (hidden entries skipped, depth-limited so that
/// symbolic-link cycles end).
fn walk_pngs(dir: &Path, depth: usize, out: &mut Vec<PathBuf>) -> Result<(), DataError> {
    const MAX_DEPTH: usize = 8;
    for path in list_dir(dir)? {
        if path.is_dir() {
            if depth < MAX_DEPTH {
                walk_pngs(&path, depth + 1, out)?;
            }
        } else if has_extension(&path, "png") {
            out.push(path);
        }
    }
    Ok(())
}

/// The non-hidden entries of a folder, sorted.
fn list_dir(dir: &Path) -> Result<Vec<PathBuf>, DataError> {
    let io = |error| DataError::Io {
        path: dir.to_path_buf(),
        error,
    };
    let mut paths = Vec::new();
    for entry in fs::read_dir(dir).map_err(io)? {
        let path = entry.map_err(io)?.path();
        if !path
            .file_name()
            .and_then(|n| n.to_str())
            .is_some_and(|n| n.starts_with('.'))
        {
            paths.push(path);
        }
    }
    paths.sort();
    Ok(paths)
}

fn has_extension(path: &Path, ext: &str) -> bool {
    path.extension()
        .and_then(|e| e.to_str())
        .is_some_and(|e| e.eq_ignore_ascii_case(ext))
}

/// Image formats we recognise but cannot read: reported instead of silently skipped.
const OTHER_IMAGE_EXTENSIONS: [&str; 7] = ["jpg", "jpeg", "bmp", "tif", "tiff", "webp", "gif"];

/// The PNG files of a flat folder by stem; other image formats are an error, other files are
/// ignored.
fn pngs_by_stem(dir: &Path) -> Result<BTreeMap<String, PathBuf>, DataError> {
    let mut map = BTreeMap::new();
    for path in list_dir(dir)? {
        if !path.is_file() {
            continue;
        }
        if OTHER_IMAGE_EXTENSIONS
            .iter()
            .any(|ext| has_extension(&path, ext))
        {
            return Err(DataError::NotPng { path });
        }
        if !has_extension(&path, "png") {
            continue;
        }
        if let Some(stem) = path.file_stem().and_then(|s| s.to_str()) {
            map.insert(stem.to_owned(), path.clone());
        }
    }
    Ok(map)
}

/// Pairs `images/<stem>.png` with `labels/<stem>.png`; a file without its partner is an error.
fn pair_by_stem(
    dir: &Path,
    images: &Path,
    labels: &Path,
    rule: LabelRule,
) -> Result<Vec<Pair>, DataError> {
    let image_files = pngs_by_stem(images)?;
    let mut label_files = pngs_by_stem(labels)?;
    let mut pairs = Vec::with_capacity(image_files.len());
    for (stem, image) in image_files {
        match label_files.remove(&stem) {
            Some(label) => pairs.push(Pair {
                name: stem,
                image,
                label,
                rule,
            }),
            None => {
                return Err(DataError::MissingLabel {
                    image,
                    expected: labels.join(format!("{stem}.png")),
                });
            }
        }
    }
    if let Some((stem, label)) = label_files.into_iter().next() {
        return Err(DataError::MissingImage {
            label,
            expected: images.join(format!("{stem}.png")),
        });
    }
    if pairs.is_empty() {
        return Err(DataError::Empty {
            dir: dir.to_path_buf(),
            reason: format!(
                "{} and {} hold no PNG files",
                images.display(),
                labels.display()
            ),
        });
    }
    Ok(pairs)
}

/// Loads the pairs on all cores. The error reported is the one of the first failing pair in
/// order (pairs after a failure are skipped).
fn load_pairs(
    pairs: &[Pair],
    height: usize,
    width: usize,
    policy: ColorPolicy,
) -> Result<Vec<(Sample, LabelFormat)>, DataError> {
    type Slot = Option<Result<(Sample, LabelFormat), DataError>>;
    let results: Vec<Mutex<Slot>> = pairs.iter().map(|_| Mutex::new(None)).collect();
    let next = AtomicUsize::new(0);
    let first_failure = AtomicUsize::new(usize::MAX);
    let workers = std::thread::available_parallelism()
        .map(|n| n.get())
        .unwrap_or(1)
        .min(pairs.len())
        .max(1);
    std::thread::scope(|scope| {
        for _ in 0..workers {
            scope.spawn(|| {
                loop {
                    let i = next.fetch_add(1, Ordering::Relaxed);
                    if i >= pairs.len() || i > first_failure.load(Ordering::Relaxed) {
                        break;
                    }
                    let result = load_pair(&pairs[i], height, width, policy);
                    if result.is_err() {
                        first_failure.fetch_min(i, Ordering::Relaxed);
                    }
                    if let Ok(mut slot) = results[i].lock() {
                        *slot = Some(result);
                    }
                }
            });
        }
    });
    let mut out = Vec::with_capacity(pairs.len());
    for (slot, pair) in results.into_iter().zip(pairs) {
        match slot.into_inner().ok().flatten() {
            Some(Ok(loaded)) => out.push(loaded),
            Some(Err(e)) => return Err(e),
            // Only reachable if a worker panicked; report the pair rather than panic here.
            None => {
                return Err(DataError::Image {
                    path: pair.image.clone(),
                    message: "was not loaded (a loader thread failed)".into(),
                });
            }
        }
    }
    Ok(out)
}

fn read_file(path: &Path) -> Result<Vec<u8>, DataError> {
    fs::read(path).map_err(|error| DataError::Io {
        path: path.to_path_buf(),
        error,
    })
}

/// Reads, checks and resizes one pair; returns the label format found.
fn load_pair(
    pair: &Pair,
    height: usize,
    width: usize,
    policy: ColorPolicy,
) -> Result<(Sample, LabelFormat), DataError> {
    let (image, ih, iw) =
        read_png_rgb(&read_file(&pair.image)?).map_err(|message| DataError::Image {
            path: pair.image.clone(),
            message,
        })?;
    let label_bytes = read_file(&pair.label)?;
    let decoded = match pair.rule {
        LabelRule::Fixed(format) => {
            label_png::decode_png(&label_bytes, format, policy).map(|d| (format, d))
        }
        LabelRule::Auto => {
            label_png::decode_png_auto(&label_bytes, policy).map(|(found, d)| (found.format, d))
        }
        // One decode in the usual case; a grayscale label detected as another format is decoded
        // again as `gray` so that the error speaks of that format.
        LabelRule::GrayAs(gray) => match label_png::decode_png_auto(&label_bytes, policy) {
            Ok((found, d)) if found.format == gray || found.format == LabelFormat::Color => {
                Ok((found.format, d))
            }
            Ok(_) | Err(LabelError::Undetectable { .. } | LabelError::Ambiguous { .. }) => {
                label_png::decode_png(&label_bytes, gray, policy).map(|d| (gray, d))
            }
            Err(e) => Err(e),
        },
    };
    let (format, decoded) = decoded.map_err(|error| DataError::Label {
        path: pair.label.clone(),
        error,
    })?;
    let label = decoded.layout;
    if (label.height(), label.width()) != (ih, iw) {
        return Err(DataError::SizeMismatch {
            image: pair.image.clone(),
            image_size: (ih, iw),
            label: pair.label.clone(),
            label_size: (label.height(), label.width()),
        });
    }
    let image = if (ih, iw) == (height, width) {
        image
    } else {
        resize_area(&image, ih, iw, height, width)
    };
    let layout = if (ih, iw) == (height, width) {
        label
    } else {
        label.resize_nearest(height, width)
    };
    Ok((
        Sample {
            name: pair.name.clone(),
            image,
            layout,
        },
        format,
    ))
}

/// Decodes a PNG (RGB, RGBA, grayscale with or without alpha, palette; 1- to 16-bit) to 8-bit RGB.
/// Returns `(rgb, height, width)`; alpha is dropped, 16-bit samples keep their high byte.
pub fn read_png_rgb(bytes: &[u8]) -> Result<(Vec<u8>, usize, usize), String> {
    label_png::decode_rgb8(bytes).map_err(|e| e.to_string())
}

/// For each output index along one axis, the source indices it covers and their weights (which
/// sum to 1): the exact overlap of output cell `o` (spanning `[o, o + 1) * n_in / n_out` in source
/// coordinates) with each source cell.
fn area_weights(n_in: usize, n_out: usize) -> Vec<Vec<(usize, f32)>> {
    // In units of 1 / n_out source pixels: source cell i spans [i * n_out, (i + 1) * n_out) and
    // output cell o spans [o * n_in, (o + 1) * n_in), so every overlap is an integer.
    let (n_in64, n_out64) = (n_in as u64, n_out as u64);
    (0..n_out as u64)
        .map(|o| {
            let (start, end) = (o * n_in64, (o + 1) * n_in64);
            let first = start / n_out64;
            let last = ((end - 1) / n_out64).min(n_in64 - 1);
            (first..=last)
                .filter_map(|i| {
                    let lo = start.max(i * n_out64);
                    let hi = end.min((i + 1) * n_out64);
                    (hi > lo).then(|| (i as usize, (hi - lo) as f32 / n_in as f32))
                })
                .collect()
        })
        .collect()
}

/// Resizes an RGB image (`h * w * 3` bytes, row-major) to `new_h`×`new_w` by area averaging: each
/// output pixel is the mean of the source area it covers, counting partly covered source pixels by
/// their covered fraction. When enlarging this replicates pixels (up to the shared edge pixels of
/// non-integer factors). Returns an empty buffer if any size is zero.
///
/// # Panics
/// If `rgb.len() != h * w * 3`.
pub fn resize_area(rgb: &[u8], h: usize, w: usize, new_h: usize, new_w: usize) -> Vec<u8> {
    assert_eq!(
        Some(rgb.len()),
        h.checked_mul(w).and_then(|n| n.checked_mul(3)),
        "resize_area: buffer of {} bytes is not {w}x{h} RGB",
        rgb.len()
    );
    if h == 0 || w == 0 || new_h == 0 || new_w == 0 {
        return Vec::new();
    }
    if (h, w) == (new_h, new_w) {
        return rgb.to_vec();
    }
    let wx = area_weights(w, new_w);
    let wy = area_weights(h, new_h);
    // Horizontal pass: h x new_w x 3 floats.
    let mut tmp = vec![0f32; h * new_w * 3];
    for (src_row, dst_row) in rgb.chunks_exact(w * 3).zip(tmp.chunks_exact_mut(new_w * 3)) {
        for (dst, weights) in dst_row.chunks_exact_mut(3).zip(&wx) {
            for &(i, wt) in weights {
                for c in 0..3 {
                    dst[c] += wt * f32::from(src_row[i * 3 + c]);
                }
            }
        }
    }
    // Vertical pass.
    let mut out = Vec::with_capacity(new_h * new_w * 3);
    let mut acc = vec![0f32; new_w * 3];
    for weights in &wy {
        acc.iter_mut().for_each(|a| *a = 0.0);
        for &(i, wt) in weights {
            let row = &tmp[i * new_w * 3..(i + 1) * new_w * 3];
            for (a, &v) in acc.iter_mut().zip(row) {
                *a += wt * v;
            }
        }
        out.extend(acc.iter().map(|&v| (v + 0.5).clamp(0.0, 255.0) as u8));
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use cimle::classes::{CLASSES, VOID, id};
    use std::sync::atomic::AtomicU64;

    /// A fresh folder under the system temp dir, removed on drop.
    struct TempDir(PathBuf);

    impl TempDir {
        fn new(tag: &str) -> Self {
            static COUNTER: AtomicU64 = AtomicU64::new(0);
            let n = COUNTER.fetch_add(1, Ordering::Relaxed);
            let path = std::env::temp_dir()
                .join(format!("cimle-data-test-{tag}-{}-{n}", std::process::id()));
            let _ = fs::remove_dir_all(&path);
            fs::create_dir_all(&path).unwrap();
            TempDir(path)
        }

        fn path(&self) -> &Path {
            &self.0
        }

        fn write(&self, rel: &str, bytes: &[u8]) -> PathBuf {
            let path = self.0.join(rel);
            fs::create_dir_all(path.parent().unwrap()).unwrap();
            fs::write(&path, bytes).unwrap();
            path
        }
    }

    impl Drop for TempDir {
        fn drop(&mut self) {
            let _ = fs::remove_dir_all(&self.0);
        }
    }

    fn png_bytes(
        w: u32,
        h: u32,
        color: png::ColorType,
        depth: png::BitDepth,
        data: &[u8],
        palette: Option<&[u8]>,
    ) -> Vec<u8> {
        let mut out = Vec::new();
        {
            let mut enc = png::Encoder::new(&mut out, w, h);
            enc.set_color(color);
            enc.set_depth(depth);
            if let Some(p) = palette {
                enc.set_palette(p.to_vec());
            }
            let mut writer = enc.write_header().unwrap();
            writer.write_image_data(data).unwrap();
            writer.finish().unwrap();
        }
        out
    }

    /// A constant-colour RGB photo.
    fn photo(w: u32, h: u32, rgb: [u8; 3]) -> Vec<u8> {
        let data: Vec<u8> = (0..w * h).flat_map(|_| rgb).collect();
        png_bytes(w, h, png::ColorType::Rgb, png::BitDepth::Eight, &data, None)
    }

    fn gray(w: u32, h: u32, data: &[u8]) -> Vec<u8> {
        png_bytes(
            w,
            h,
            png::ColorType::Grayscale,
            png::BitDepth::Eight,
            data,
            None,
        )
    }

    /// Top half `top`, bottom half `bottom`.
    fn halves(h: usize, w: usize, top: u8, bottom: u8) -> Layout {
        let ids = (0..h * w)
            .map(|i| if i / w < h / 2 { top } else { bottom })
            .collect();
        Layout::new(h, w, ids).unwrap()
    }

    fn opts() -> LoadOptions {
        LoadOptions::default()
    }

    #[test]
    fn resize_area_constant_stays_constant() {
        let img: Vec<u8> = (0..5 * 7).flat_map(|_| [13u8, 200, 77]).collect();
        for (nh, nw) in [(2, 3), (3, 3), (11, 13), (5, 7), (1, 1), (4, 9)] {
            let out = resize_area(&img, 5, 7, nh, nw);
            assert_eq!(out.len(), nh * nw * 3);
            assert!(out.chunks(3).all(|p| p == [13, 200, 77]), "{nh}x{nw}");
        }
    }

    #[test]
    fn resize_area_downscale_is_block_mean() {
        // 4x4 single-value image (replicated to RGB), values 0, 10, ..., 150.
        let vals: Vec<u8> = (0..16).map(|i| (i * 10) as u8).collect();
        let img: Vec<u8> = vals.iter().flat_map(|&v| [v, v, 255 - v]).collect();
        let out = resize_area(&img, 4, 4, 2, 2);
        let mean = |idx: [usize; 4]| -> u8 {
            let s: u32 = idx.iter().map(|&i| u32::from(vals[i])).sum();
            ((s as f32) / 4.0 + 0.5) as u8
        };
        let expected = [
            mean([0, 1, 4, 5]),
            mean([2, 3, 6, 7]),
            mean([8, 9, 12, 13]),
            mean([10, 11, 14, 15]),
        ];
        for (k, e) in expected.iter().enumerate() {
            assert_eq!(out[k * 3], *e, "block {k}");
            assert_eq!(out[k * 3 + 1], *e);
            assert_eq!(out[k * 3 + 2], 255 - *e);
        }
    }

    #[test]
    fn resize_area_upscale_replicates() {
        let img = vec![
            10, 20, 30, 40, 50, 60, //
            70, 80, 90, 100, 110, 120,
        ];
        let out = resize_area(&img, 2, 2, 4, 4);
        let px = |y: usize, x: usize| &out[(y * 4 + x) * 3..(y * 4 + x) * 3 + 3];
        for y in 0..4 {
            for x in 0..4 {
                let src = ((y / 2) * 2 + x / 2) * 3;
                assert_eq!(px(y, x), &img[src..src + 3], "({y}, {x})");
            }
        }
    }

    #[test]
    fn resize_area_fractional_coverage() {
        // 3 -> 2 columns: output 0 covers source 0 fully and half of 1.
        let img = vec![0, 0, 0, 90, 90, 90, 180, 180, 180];
        let out = resize_area(&img, 1, 3, 1, 2);
        assert_eq!(out, vec![30, 30, 30, 150, 150, 150]);
    }

    #[test]
    fn read_png_rgb_handles_colour_types() {
        let (rgb, h, w) = read_png_rgb(&gray(2, 1, &[7, 200])).unwrap();
        assert_eq!((h, w), (1, 2));
        assert_eq!(rgb, vec![7, 7, 7, 200, 200, 200]);
        let pal = [1u8, 2, 3, 4, 5, 6];
        let bytes = png_bytes(
            2,
            1,
            png::ColorType::Indexed,
            png::BitDepth::Eight,
            &[1, 0],
            Some(&pal),
        );
        assert_eq!(read_png_rgb(&bytes).unwrap().0, vec![4, 5, 6, 1, 2, 3]);
        let bytes = png_bytes(
            1,
            1,
            png::ColorType::Rgba,
            png::BitDepth::Sixteen,
            &[1, 0, 2, 0, 3, 0, 0, 0],
            None,
        );
        assert_eq!(read_png_rgb(&bytes).unwrap().0, vec![1, 2, 3]);
        assert!(read_png_rgb(b"nope").is_err());
    }

    #[test]
    fn loads_synth_folder() {
        let t = TempDir::new("synth");
        t.write("synth.json", b"{\"scenes\": 2}");
        for (name, top) in [("0000", id::SKY), ("0001", id::BUILDING)] {
            t.write(&format!("images/{name}.png"), &photo(8, 4, [10, 20, 30]));
            let l = halves(4, 8, top, id::ROAD);
            t.write(&format!("labels/{name}.png"), &l.encode_train_id_png());
        }
        let d = load_dataset(t.path(), 2, 4, opts()).unwrap();
        assert_eq!(d.kind, DatasetKind::Synth);
        assert_eq!((d.len(), d.height, d.width), (2, 2, 4));
        assert_eq!(d.samples[0].name, "0000");
        assert_eq!(d.samples[0].image.len(), 2 * 4 * 3);
        assert_eq!(&d.samples[0].image[..3], &[10, 20, 30]);
        assert_eq!(d.samples[0].layout.get(0, 0), id::SKY);
        assert_eq!(d.samples[1].layout.get(0, 3), id::BUILDING);
        assert_eq!(d.samples[1].layout.get(1, 0), id::ROAD);
    }

    #[test]
    fn loads_cityscapes_folder() {
        let t = TempDir::new("cityscapes");
        for (split, city, name) in [
            ("train", "aachen", "aachen_000000_000019"),
            ("train", "bochum", "bochum_000000_000313"),
            ("val", "lindau", "lindau_000000_000019"),
        ] {
            t.write(
                &format!("leftImg8bit/{split}/{city}/{name}_leftImg8bit.png"),
                &photo(4, 2, [50, 60, 70]),
            );
            // labelIds: 7 road, 26 car, 1 ego vehicle (void), 23 sky.
            t.write(
                &format!("gtFine/{split}/{city}/{name}_gtFine_labelIds.png"),
                &gray(4, 2, &[23, 23, 23, 23, 7, 26, 26, 1]),
            );
            // Other gtFine files are ignored.
            t.write(
                &format!("gtFine/{split}/{city}/{name}_gtFine_color.png"),
                &photo(4, 2, [0, 0, 0]),
            );
        }
        let d = load_dataset(t.path(), 2, 4, opts()).unwrap();
        assert_eq!(d.kind, DatasetKind::Cityscapes);
        assert_eq!(d.len(), 3);
        assert_eq!(d.samples[0].name, "aachen_000000_000019");
        let l = &d.samples[0].layout;
        assert_eq!(l.ids(), &[10, 10, 10, 10, id::ROAD, id::CAR, id::CAR, VOID]);
        assert_eq!(&d.samples[2].image[..3], &[50, 60, 70]);

        // A folder inside leftImg8bit/ reads only that part.
        let d = load_dataset(t.path().join("leftImg8bit/train"), 1, 2, opts()).unwrap();
        assert_eq!(d.kind, DatasetKind::Cityscapes);
        assert_eq!(d.len(), 2);
        assert_eq!(d.samples[1].name, "bochum_000000_000313");
        assert_eq!(d.samples[1].layout.ids(), &[id::CAR, VOID]);

        // limit
        let lim = LoadOptions {
            limit: Some(1),
            ..opts()
        };
        assert_eq!(load_dataset(t.path(), 2, 4, lim).unwrap().len(), 1);
    }

    #[test]
    fn cityscapes_missing_label_names_expected_file() {
        let t = TempDir::new("cityscapes-missing");
        t.write(
            "leftImg8bit/train/ulm/ulm_000001_000019_leftImg8bit.png",
            &photo(2, 2, [1, 2, 3]),
        );
        fs::create_dir_all(t.path().join("gtFine/train/ulm")).unwrap();
        let err = load_dataset(t.path(), 2, 2, opts()).unwrap_err();
        let msg = err.to_string();
        assert!(matches!(err, DataError::MissingLabel { .. }));
        assert!(
            msg.contains("gtFine/train/ulm/ulm_000001_000019_gtFine_labelIds.png"),
            "{msg}"
        );
    }

    #[test]
    fn loads_gta5_folder_with_palette_labels() {
        let t = TempDir::new("gta5");
        let palette: Vec<u8> = [
            CLASSES[usize::from(id::ROAD)].color,
            CLASSES[usize::from(id::CAR)].color,
            [250, 170, 160], // parking: void
        ]
        .concat();
        for name in ["00001", "00002"] {
            t.write(&format!("images/{name}.png"), &photo(3, 2, [9, 8, 7]));
            t.write(
                &format!("labels/{name}.png"),
                &png_bytes(
                    3,
                    2,
                    png::ColorType::Indexed,
                    png::BitDepth::Eight,
                    &[0, 1, 2, 1, 1, 0],
                    Some(&palette),
                ),
            );
        }
        let d = load_dataset(t.path(), 2, 3, opts()).unwrap();
        assert_eq!(d.kind, DatasetKind::Gta5);
        assert_eq!(d.len(), 2);
        assert_eq!(
            d.samples[1].layout.ids(),
            &[id::ROAD, id::CAR, VOID, id::CAR, id::CAR, id::ROAD]
        );
        assert_eq!(&d.samples[1].image[..3], &[9, 8, 7]);
    }

    #[test]
    fn gta5_unknown_colour_policy() {
        let t = TempDir::new("gta5-unknown");
        t.write("images/a.png", &photo(2, 1, [0, 0, 0]));
        let label = png_bytes(
            2,
            1,
            png::ColorType::Rgb,
            png::BitDepth::Eight,
            &[128, 64, 128, 1, 1, 141],
            None,
        );
        let label_path = t.write("labels/a.png", &label);
        let err = load_dataset(t.path(), 1, 2, opts()).unwrap_err();
        let msg = err.to_string();
        assert!(msg.contains(&label_path.display().to_string()), "{msg}");
        assert!(msg.contains("#01018d") && msg.contains("car"), "{msg}");
        let lenient = LoadOptions {
            color_policy: ColorPolicy::MapToNearest,
            limit: None,
        };
        let d = load_dataset(t.path(), 1, 2, lenient).unwrap();
        assert_eq!(d.samples[0].layout.ids(), &[id::ROAD, id::CAR]);
    }

    #[test]
    fn loads_generic_folder_with_mixed_formats() {
        let t = TempDir::new("generic");
        t.write("images/a.png", &photo(2, 2, [1, 1, 1]));
        t.write("images/b.png", &photo(2, 2, [2, 2, 2]));
        t.write("images/c.png", &photo(2, 2, [3, 3, 3]));
        // train ids, labelIds, colour
        t.write("labels/a.png", &gray(2, 2, &[0, 255, 13, 13]));
        t.write("labels/b.png", &gray(2, 2, &[7, 26, 33, 0]));
        t.write(
            "labels/c.png",
            &halves(2, 2, id::SKY, id::TERRAIN).encode_color_png(),
        );
        t.write("notes.txt", b"ignored");
        t.write("labels/readme.txt", b"ignored too");
        let d = load_dataset(t.path(), 4, 4, opts()).unwrap();
        assert_eq!(d.kind, DatasetKind::Generic);
        assert_eq!(d.len(), 3);
        assert_eq!(d.samples[0].layout.get(0, 0), id::ROAD);
        assert_eq!(d.samples[0].layout.get(0, 3), VOID);
        assert_eq!(d.samples[0].layout.get(3, 3), id::CAR);
        assert_eq!(d.samples[1].layout.get(0, 2), id::CAR);
        assert_eq!(d.samples[1].layout.get(3, 0), id::BICYCLE);
        assert_eq!(d.samples[2].layout.get(0, 0), id::SKY);
        assert_eq!(d.samples[2].layout.get(3, 0), id::TERRAIN);
        assert_eq!(d.samples[2].image.len(), 4 * 4 * 3);
        assert!(d.samples[2].image.iter().all(|&v| v == 3));
    }

    #[test]
    fn missing_partner_errors_name_the_file() {
        let t = TempDir::new("partner");
        t.write("images/a.png", &photo(2, 2, [0, 0, 0]));
        t.write("images/b.png", &photo(2, 2, [0, 0, 0]));
        t.write("labels/a.png", &gray(2, 2, &[0; 4]));
        let err = load_dataset(t.path(), 2, 2, opts()).unwrap_err();
        let msg = err.to_string();
        assert!(matches!(err, DataError::MissingLabel { .. }), "{msg}");
        assert!(msg.contains(&t.path().join("labels/b.png").display().to_string()));
        assert!(msg.contains(&t.path().join("images/b.png").display().to_string()));

        fs::remove_file(t.path().join("images/b.png")).unwrap();
        t.write("labels/z.png", &gray(2, 2, &[0; 4]));
        let err = load_dataset(t.path(), 2, 2, opts()).unwrap_err();
        let msg = err.to_string();
        assert!(matches!(err, DataError::MissingImage { .. }), "{msg}");
        assert!(msg.contains(&t.path().join("images/z.png").display().to_string()));
    }

    #[test]
    fn size_mismatch_names_both_files() {
        let t = TempDir::new("size");
        let image = t.write("images/a.png", &photo(4, 3, [0, 0, 0]));
        let label = t.write("labels/a.png", &gray(2, 2, &[0; 4]));
        let err = load_dataset(t.path(), 2, 2, opts()).unwrap_err();
        let msg = err.to_string();
        assert!(matches!(err, DataError::SizeMismatch { .. }), "{msg}");
        assert!(msg.contains(&image.display().to_string()), "{msg}");
        assert!(msg.contains(&label.display().to_string()), "{msg}");
        assert!(msg.contains("4x3") && msg.contains("2x2"), "{msg}");
    }

    #[test]
    fn corrupt_png_errors_name_the_file() {
        let t = TempDir::new("corrupt");
        let good = photo(2, 2, [0, 0, 0]);
        let image = t.write("images/a.png", &good[..good.len() / 2]);
        t.write("labels/a.png", &gray(2, 2, &[0; 4]));
        let msg = load_dataset(t.path(), 2, 2, opts())
            .unwrap_err()
            .to_string();
        assert!(msg.starts_with(&image.display().to_string()), "{msg}");
        assert!(msg.contains("cannot decode PNG"), "{msg}");

        t.write("images/a.png", &good);
        let label = t.write("labels/a.png", b"\x89PNG garbage");
        let err = load_dataset(t.path(), 2, 2, opts()).unwrap_err();
        let msg = err.to_string();
        assert!(matches!(err, DataError::Label { .. }), "{msg}");
        assert!(msg.starts_with(&label.display().to_string()), "{msg}");
    }

    #[test]
    fn empty_and_missing_folders_explain_expected_layout() {
        let t = TempDir::new("empty");
        let msg = load_dataset(t.path(), 2, 2, opts())
            .unwrap_err()
            .to_string();
        for part in [
            "no dataset found",
            "synth.json",
            "leftImg8bit",
            "labels/*.png",
        ] {
            assert!(msg.contains(part), "{part:?} missing from: {msg}");
        }
        fs::create_dir_all(t.path().join("images")).unwrap();
        fs::create_dir_all(t.path().join("labels")).unwrap();
        let msg = load_dataset(t.path(), 2, 2, opts())
            .unwrap_err()
            .to_string();
        assert!(msg.contains("hold no PNG files"), "{msg}");
        let err = load_dataset(t.path().join("nope"), 2, 2, opts()).unwrap_err();
        assert!(matches!(err, DataError::NotAFolder { .. }));
        let err = load_dataset(t.path(), 0, 2, opts()).unwrap_err();
        assert!(matches!(err, DataError::BadSize { .. }));
    }

    #[test]
    fn jpeg_images_are_reported() {
        let t = TempDir::new("jpeg");
        let jpg = t.write("images/a.jpg", b"\xff\xd8\xff");
        t.write("labels/a.png", &gray(2, 2, &[0; 4]));
        let msg = load_dataset(t.path(), 2, 2, opts())
            .unwrap_err()
            .to_string();
        assert!(msg.contains(&jpg.display().to_string()), "{msg}");
        assert!(msg.contains("only PNG"), "{msg}");
    }

    #[test]
    fn first_error_in_order_is_reported() {
        let t = TempDir::new("order");
        for i in 0..12 {
            t.write(&format!("images/{i:02}.png"), &photo(2, 2, [0, 0, 0]));
            let bytes = if i >= 5 {
                b"broken".to_vec()
            } else {
                gray(2, 2, &[0; 4])
            };
            t.write(&format!("labels/{i:02}.png"), &bytes);
        }
        let msg = load_dataset(t.path(), 2, 2, opts())
            .unwrap_err()
            .to_string();
        assert!(msg.contains("labels/05.png"), "{msg}");
    }
}
