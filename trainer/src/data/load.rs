//! Reading the pairs found on disk into memory, on all cores: decode, check sizes, resize to the
//! target size (area for photos, nearest for labels).

use std::fs;
use std::path::Path;
use std::sync::Mutex;
use std::sync::atomic::{AtomicUsize, Ordering};

use cimle::label_png::{self, ColorPolicy, LabelError, LabelFormat};

use super::find::{LabelRule, PairFiles};
use super::image::{read_png_rgb, resize_rgb_area};
use super::{DataError, Pair};
use crate::limits::check_png;

/// A loaded pair: its name, the pair, and the label format its label file was read as.
pub(super) type Loaded = (String, Pair, LabelFormat);

/// Loads the pairs on all cores. The error reported is the one of the first failing pair in
/// order (pairs after a failure are skipped).
pub(super) fn load_all(
    pairs: &[PairFiles],
    height: usize,
    width: usize,
    policy: ColorPolicy,
) -> Result<Vec<Loaded>, DataError> {
    type Slot = Option<Result<Loaded, DataError>>;
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
    pair: &PairFiles,
    height: usize,
    width: usize,
    policy: ColorPolicy,
) -> Result<Loaded, DataError> {
    let image_bytes = read_file(&pair.image)?;
    check_png(&pair.image, &image_bytes)?;
    let (image, ih, iw) = read_png_rgb(&image_bytes).map_err(|message| DataError::Image {
        path: pair.image.clone(),
        message,
    })?;
    let label_bytes = read_file(&pair.label)?;
    check_png(&pair.label, &label_bytes)?;
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
        resize_rgb_area(&image, ih, iw, height, width)
    };
    let layout = if (ih, iw) == (height, width) {
        label
    } else {
        label.resize_nearest(height, width)
    };
    Ok((pair.name.clone(), Pair { layout, image }, format))
}
