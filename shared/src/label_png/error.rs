//! [`LabelError`], why a label PNG could not be read, and the helpers that word its messages.

use super::{LabelFormat, MAX_PIXELS};
use crate::layout::LayoutError;

/// Why a label PNG (or any PNG given to [`decode_rgb8`]) could not be read.
///
/// [`decode_rgb8`]: super::decode_rgb8
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum LabelError {
    /// The bytes are another kind of file, recognised by its first bytes.
    #[error("the file is {kind}, not a PNG; convert it to PNG{}", jpeg_note(kind))]
    NotPng {
        /// What the file is, e.g. `"a JPEG image"`.
        kind: &'static str,
    },
    /// The bytes are not a PNG the decoder can read.
    #[error("cannot decode PNG: {0} (is the file corrupt or truncated?)")]
    Png(String),
    /// The header claims more pixels than [`MAX_PIXELS`].
    #[error(
        "the image is {width}x{height} pixels, more than the {MAX_PIXELS} (4096x4096) a PNG may \
         have here; scale it down first"
    )]
    TooLarge {
        /// Width from the header.
        width: u32,
        /// Height from the header.
        height: u32,
    },
    /// A colour label uses a colour that neither the Cityscapes nor the GTA-5 palette has.
    #[error(
        "unknown label colour {} {} at pixel (x={x}, y={y}), nearest class `{nearest}`; \
         {count} pixel(s) have colours in neither the Cityscapes nor the GTA-5 label palette",
        hex(color),
        rgb_tuple(color)
    )]
    UnknownColor {
        /// The first unknown colour (in raster order).
        color: [u8; 3],
        /// Column of its first pixel.
        x: usize,
        /// Row of its first pixel.
        y: usize,
        /// Name of the class whose colour is nearest.
        nearest: &'static str,
        /// Number of pixels whose colour is in no label palette.
        count: usize,
    },
    /// A gray image read as colours: its gray levels are values, not palette colours.
    #[error(
        "the image holds gray values, not label colours: value {value} at pixel (x={x}, y={y}) \
         is no Cityscapes or GTA-5 colour ({count} pixel(s) are such values); {}",
        choose_for(*reads_as)
    )]
    GrayAsColor {
        /// The first gray value that is no label colour.
        value: u8,
        /// Its column.
        x: usize,
        /// Its row.
        y: usize,
        /// Number of pixels whose gray level is no label colour.
        count: usize,
        /// The single-value format the values fit, when only one fits.
        reads_as: Option<LabelFormat>,
    },
    /// A train-id label holds a value that is not a train id.
    #[error(
        "value {value} at pixel (x={x}, y={y}) is not a Cityscapes train id \
         (0-18 are classes, 19 and 255 are void); {count} pixel(s) have such values. \
         If the file holds Cityscapes label ids (0-33), choose the label-ids format"
    )]
    InvalidTrainId {
        /// The first offending value.
        value: u16,
        /// Its column.
        x: usize,
        /// Its row.
        y: usize,
        /// Number of pixels with invalid values.
        count: usize,
    },
    /// A labelIds label holds a value above 33.
    #[error(
        "value {value} at pixel (x={x}, y={y}) is not a Cityscapes label id (0-33); \
         {count} pixel(s) have such values. \
         If the file holds train ids (255 = void), choose the train-ids format"
    )]
    InvalidLabelId {
        /// The first offending value.
        value: u16,
        /// Its column.
        x: usize,
        /// Its row.
        y: usize,
        /// Number of pixels with invalid values.
        count: usize,
    },
    /// A single-value label (train ids or labelIds) stored as a non-gray RGB image.
    #[error(
        "pixel (x={x}, y={y}) has colour {} {}, but {format} labels hold one gray value per \
         pixel. If the file holds label colours, choose the colour format",
        hex(color),
        rgb_tuple(color)
    )]
    NotGray {
        /// The colour found.
        color: [u8; 3],
        /// Its column.
        x: usize,
        /// Its row.
        y: usize,
        /// The format that was expected.
        format: LabelFormat,
    },
    /// A palette index beyond the palette.
    #[error("pixel (x={x}, y={y}) uses palette entry {index}, but the palette has {len} entries")]
    PaletteIndex {
        /// The index found.
        index: u16,
        /// Its column.
        x: usize,
        /// Its row.
        y: usize,
        /// Number of palette entries.
        len: usize,
    },
    /// A grayscale label whose values fit neither train ids nor labelIds.
    #[error(
        "cannot tell the label format: {what} {value} at pixel (x={x}, y={y}) is neither a \
         train id (0-18, void 19 or 255) nor a Cityscapes label id (0-33), or the image mixes \
         both (255 is only a train id, 20-33 only label ids). Labels must be train-id, label-id \
         or Cityscapes-palette colour PNGs"
    )]
    Undetectable {
        /// `"gray value"` or `"palette index"`.
        what: &'static str,
        /// The first value that decided it.
        value: u16,
        /// Its column.
        x: usize,
        /// Its row.
        y: usize,
    },
    /// Every value is a valid train id and a valid label id, and the readings disagree.
    #[error(
        "cannot tell whether the {what}s are train ids or Cityscapes label ids: all are 19 or \
         less and none is 255, so both readings are valid. As train ids the label is \
         {as_train_ids}; as label ids it is {as_label_ids}. Choose the label-ids or train-ids \
         format"
    )]
    Ambiguous {
        /// `"gray value"` or `"palette index"`.
        what: &'static str,
        /// The largest classes of the train-id reading, with their share of the pixels.
        as_train_ids: String,
        /// The largest labels of the label-id reading, with their share of the pixels.
        as_label_ids: String,
    },
    /// An unknown label format name.
    #[error("unknown label format `{0}`: expected color, train-id or label-ids")]
    UnknownFormat(String),
    /// The decoded pixels do not make a layout.
    #[error(transparent)]
    Layout(#[from] LayoutError),
}

fn jpeg_note(kind: &str) -> &'static str {
    if kind.contains("JPEG") {
        " (for a label map, export it again from its source instead: JPEG compression changes \
         label colours, and a label map must be lossless)"
    } else {
        ""
    }
}

fn choose_for(format: Option<LabelFormat>) -> String {
    match format {
        Some(f) => format!(
            "they read as {}: choose the {} format",
            f.describe(),
            f.name()
        ),
        None => "choose the label-ids or train-ids format".to_owned(),
    }
}

pub(super) fn hex(c: &[u8; 3]) -> String {
    format!("#{:02x}{:02x}{:02x}", c[0], c[1], c[2])
}

fn rgb_tuple(c: &[u8; 3]) -> String {
    format!("({}, {}, {})", c[0], c[1], c[2])
}
