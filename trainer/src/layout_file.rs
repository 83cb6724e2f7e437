//! A layout PNG given to a command (`--layout`, `--layouts DIR`): read in its label format
//! (given, or detected per file), checked against the image-size limit before it is decoded, and
//! resized to the model's size.

use std::path::{Path, PathBuf};

use cimle::label_png::{
    ColorPolicy, Detection, LabelError, LabelFormat, decode_png, decode_png_auto,
};
use cimle::layout::Layout;

use crate::limits::{LimitError, check_png};

/// How layout files are read.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct LayoutReading {
    /// The label format of every file; `None`: detected per file.
    pub format: Option<LabelFormat>,
    /// What to do with colours that are in no Cityscapes label.
    pub policy: ColorPolicy,
}

/// Why a layout file could not be read. Every variant names the file.
#[derive(Debug, thiserror::Error)]
pub enum LayoutFileError {
    #[error("reading layout {}: {error}", path.display())]
    Read {
        path: PathBuf,
        error: std::io::Error,
    },
    #[error(
        "{}: is a JPEG image; layouts must be PNG (lossless: JPEG blurs the class colours), \
         e.g. from the tool that drew the layout",
        path.display()
    )]
    Jpeg { path: PathBuf },
    #[error(transparent)]
    TooLarge(#[from] LimitError),
    #[error("{}: {error}", path.display())]
    Decode { path: PathBuf, error: LabelError },
    #[error("reading the layout folder {}: {error}", path.display())]
    Folder {
        path: PathBuf,
        error: std::io::Error,
    },
}

/// A layout read from a file, at the size asked for.
#[derive(Debug, Clone)]
pub struct LayoutFile {
    pub layout: Layout,
    /// Pixels whose unknown colours were mapped to the nearest class.
    pub remapped_pixels: usize,
    /// The file's own `(height, width)`, when it was resized.
    pub resized_from: Option<(usize, usize)>,
    /// The format detected, and why, when none was given.
    pub detected: Option<Detection>,
}

impl LayoutReading {
    /// Reads `path` and resizes it (nearest) to `h x w`.
    pub fn read(&self, path: &Path, h: usize, w: usize) -> Result<LayoutFile, LayoutFileError> {
        let bytes = std::fs::read(path).map_err(|error| LayoutFileError::Read {
            path: path.to_path_buf(),
            error,
        })?;
        if bytes.starts_with(&[0xFF, 0xD8, 0xFF]) {
            return Err(LayoutFileError::Jpeg {
                path: path.to_path_buf(),
            });
        }
        check_png(path, &bytes)?;
        let decode = |error| LayoutFileError::Decode {
            path: path.to_path_buf(),
            error,
        };
        let (detected, decoded) = match self.format {
            Some(format) => (None, decode_png(&bytes, format, self.policy)),
            None => match decode_png_auto(&bytes, self.policy) {
                Ok((detection, decoded)) => (Some(detection), Ok(decoded)),
                Err(e) => (None, Err(e)),
            },
        };
        let decoded = decoded.map_err(decode)?;
        let layout = decoded.layout;
        let size = (layout.height(), layout.width());
        Ok(if size == (h, w) {
            LayoutFile {
                layout,
                remapped_pixels: decoded.remapped_pixels,
                resized_from: None,
                detected,
            }
        } else {
            LayoutFile {
                layout: layout.resize_nearest(h, w),
                remapped_pixels: decoded.remapped_pixels,
                resized_from: Some(size),
                detected,
            }
        })
    }

    /// [`LayoutReading::read`], saying on stderr what format was detected and what was mapped
    /// or resized.
    pub fn read_noted(&self, path: &Path, h: usize, w: usize) -> Result<Layout, LayoutFileError> {
        let file = self.read(path, h, w)?;
        if let Some(detection) = &file.detected {
            eprintln!("{}: read as {detection}", path.display());
        }
        if file.remapped_pixels > 0 {
            eprintln!(
                "{}: mapped {} pixels of unknown colours to the nearest class",
                path.display(),
                file.remapped_pixels
            );
        }
        if let Some((fh, fw)) = file.resized_from {
            eprintln!(
                "{}: layout is {fh}x{fw}, the model's size is {h}x{w}: resized (nearest)",
                path.display()
            );
        }
        Ok(file.layout)
    }
}

/// The `.png` files of `dir`, sorted by name.
pub fn layout_files(dir: &Path) -> Result<Vec<PathBuf>, LayoutFileError> {
    let folder = |error| LayoutFileError::Folder {
        path: dir.to_path_buf(),
        error,
    };
    let mut files = Vec::new();
    for entry in std::fs::read_dir(dir).map_err(folder)? {
        let path = entry.map_err(folder)?.path();
        let is_png = path
            .extension()
            .is_some_and(|e| e.eq_ignore_ascii_case("png"));
        if is_png && path.is_file() {
            files.push(path);
        }
    }
    files.sort();
    Ok(files)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn scratch(name: &str) -> PathBuf {
        let dir = std::env::temp_dir().join(format!("cimle-layout-{name}-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        std::fs::create_dir_all(&dir).unwrap();
        dir
    }

    #[test]
    fn reads_resizes_and_refuses_what_is_not_a_layout() {
        let dir = scratch("read");
        let layout = Layout::new(2, 4, vec![0, 0, 13, 13, 10, 10, 10, 10]).unwrap();
        let path = dir.join("b.png");
        std::fs::write(&path, layout.encode_train_id_png()).unwrap();
        std::fs::write(dir.join("a.png"), layout.encode_color_png()).unwrap();
        std::fs::write(dir.join("notes.txt"), b"x").unwrap();
        let reading = LayoutReading::default();
        let same = reading.read(&path, 2, 4).unwrap();
        assert_eq!(same.layout, layout);
        assert_eq!(same.resized_from, None);
        // No format given: detected, and the detection kept for the note.
        let detected = same.detected.expect("a detection");
        assert_eq!(detected.format, LabelFormat::TrainId);
        let given = LayoutReading {
            format: Some(LabelFormat::TrainId),
            ..reading
        };
        assert_eq!(given.read(&path, 2, 4).unwrap().detected, None);
        let bigger = reading.read(&path, 4, 8).unwrap();
        assert_eq!(bigger.resized_from, Some((2, 4)));
        assert_eq!(bigger.layout.get(3, 7), 10);
        assert_eq!(
            layout_files(&dir).unwrap(),
            vec![dir.join("a.png"), dir.join("b.png")]
        );
        std::fs::write(dir.join("c.jpg"), [0xFF, 0xD8, 0xFF, 0xE0, 0, 0]).unwrap();
        let err = reading.read(&dir.join("c.jpg"), 2, 4).unwrap_err();
        assert!(err.to_string().contains("is a JPEG image"), "{err}");
        let err = reading.read(&dir.join("none.png"), 2, 4).unwrap_err();
        assert!(err.to_string().contains("none.png"), "{err}");
        std::fs::remove_dir_all(&dir).unwrap();
    }
}
