//! The label formats ([`LabelFormat`]: names, parsing, detection entry point) and the result of
//! detecting one ([`Detection`]).

use std::fmt;
use std::str::FromStr;

use super::LabelError;
use super::detect::detect_pixels;
use super::pixels::read_pixels;

/// The file formats a label PNG may be in.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum LabelFormat {
    /// Cityscapes palette colours (GTA-5 labels, `*_gtFine_color.png`).
    Color,
    /// Train ids `0..=18`, void `255` (or `19`).
    TrainId,
    /// Cityscapes labelIds `0..=33`.
    LabelIds,
}

/// The format of a label file as detected, and why.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Detection {
    /// The format the file is read in.
    pub format: LabelFormat,
    /// Why, in words (e.g. "255 is the train-id void value and no label id").
    pub reason: String,
}

impl fmt::Display for Detection {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{} ({})", self.format.describe(), self.reason)
    }
}

impl LabelFormat {
    /// All formats, in the order `color`, `train-id`, `label-ids`.
    pub const ALL: [LabelFormat; 3] = [Self::Color, Self::TrainId, Self::LabelIds];

    /// The command-line name: `color`, `train-id` or `label-ids`.
    pub fn name(self) -> &'static str {
        match self {
            Self::Color => "color",
            Self::TrainId => "train-id",
            Self::LabelIds => "label-ids",
        }
    }

    /// What the format holds, in words: "Cityscapes palette colours", "train ids", "Cityscapes
    /// label ids".
    pub fn describe(self) -> &'static str {
        match self {
            Self::Color => "Cityscapes palette colours",
            Self::TrainId => "train ids",
            Self::LabelIds => "Cityscapes label ids",
        }
    }

    /// Detects the format of a label PNG and says why (see the module docs); use
    /// [`decode_png_auto`] to detect and decode in one pass.
    ///
    /// RGB and RGBA images are colours. Grayscale images are train ids when a value is `255`,
    /// label ids when a value is in `20..=33`, and, when every value is `<= 19`, train ids only if
    /// the label-id reading would make at least half the pixels void (else
    /// [`LabelError::Ambiguous`]). Palette images are colours when every colour they use is a
    /// label colour; with a gray palette their indices are values as above; when every known
    /// colour sits at its Cityscapes label id (GTA-5's files), the indices are label ids.
    ///
    /// [`decode_png_auto`]: super::decode_png_auto
    pub fn detect(bytes: &[u8]) -> Result<Detection, LabelError> {
        detect_pixels(&read_pixels(bytes)?)
    }
}

impl fmt::Display for LabelFormat {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

impl FromStr for LabelFormat {
    type Err = LabelError;

    /// Parses `color`/`colour`, `train-id`/`trainid`/`train_id`/`trainIds`, and
    /// `label-ids`/`labelids`/`label_ids`/`labelIds` (case-insensitive).
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        let norm: String = s
            .trim()
            .chars()
            .filter(|c| !matches!(c, '-' | '_'))
            .map(|c| c.to_ascii_lowercase())
            .collect();
        match norm.as_str() {
            "color" | "colour" => Ok(Self::Color),
            "trainid" | "trainids" => Ok(Self::TrainId),
            "labelids" | "labelid" => Ok(Self::LabelIds),
            _ => Err(LabelError::UnknownFormat(s.to_owned())),
        }
    }
}
