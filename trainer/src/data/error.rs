//! Why a dataset could not be loaded: every error names the file or folder concerned and, where
//! there is one, the fix.

use std::path::PathBuf;

use cimle::label_png::LabelError;
use cimle::layout::LayoutError;

use crate::limits::LimitError;

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
    /// An image or label larger than [`crate::limits::MAX_IMAGE_PIXELS`] (the message names
    /// the file).
    #[error(transparent)]
    TooLarge(#[from] LimitError),
    /// A built-in scene that is not a valid layout (a size no layout can have).
    #[error("built-in scene {index}: {error}")]
    Scene {
        /// The scene's index.
        index: usize,
        /// Why its labels are not a layout.
        error: LayoutError,
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
