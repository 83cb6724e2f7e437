//! Finding a dataset on disk: which folder layout it is (synth, Cityscapes, `images/` +
//! `labels/`), and which photo goes with which label file.

use std::collections::BTreeMap;
use std::fs;
use std::path::{Path, PathBuf};

use cimle::label_png::LabelFormat;

use super::{DataError, DatasetKind};

/// How the labels of a dataset kind are decoded.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum LabelRule {
    /// Always this format.
    Fixed(LabelFormat),
    /// Colour images as colours, grayscale ones as this format.
    GrayAs(LabelFormat),
    /// Detected per file ([`cimle::label_png::decode_png_auto`]).
    Auto,
}

/// One photo and its label, found on disk.
#[derive(Debug, Clone)]
pub(super) struct PairFiles {
    pub(super) name: String,
    pub(super) image: PathBuf,
    pub(super) label: PathBuf,
    pub(super) rule: LabelRule,
}

/// Detects the folder layout and lists the pairs. The kind is `None` for `images/` + `labels/`
/// folders, where it depends on the label formats.
pub(super) fn find_pairs(dir: &Path) -> Result<(Option<DatasetKind>, Vec<PairFiles>), DataError> {
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
fn cityscapes_pairs(
    dir: &Path,
    root: &Path,
    walk_from: &Path,
) -> Result<Vec<PairFiles>, DataError> {
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
        pairs.push(PairFiles {
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
) -> Result<Vec<PairFiles>, DataError> {
    let image_files = pngs_by_stem(images)?;
    let mut label_files = pngs_by_stem(labels)?;
    let mut pairs = Vec::with_capacity(image_files.len());
    for (stem, image) in image_files {
        match label_files.remove(&stem) {
            Some(label) => pairs.push(PairFiles {
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
