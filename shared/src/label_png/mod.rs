//! Label PNGs: decoding PNG bytes into [`Layout`]s, encoding layouts as PNGs, and telling which
//! label format a file is in (and why).
//!
//! Three label formats are read, all from PNG bytes (no file I/O here; callers prefix errors with
//! the file name, so every message reads well after `"labels/foo.png: "`). Errors describe the
//! data and the choice to make ("choose the label-ids format"); the programs add how to make it.
//!
//! - [`LabelFormat::Color`]: colours of the Cityscapes palette (GTA-5 labels, `*_gtFine_color.png`).
//!   Non-training colours (parking, guard rail, …) and GTA-5's extra colours
//!   ([`classes::GTA5_VOID_COLORS`]) give `void`; colours in neither palette are an error under
//!   [`ColorPolicy::Strict`] and are mapped to the nearest class colour under
//!   [`ColorPolicy::MapToNearest`].
//! - [`LabelFormat::TrainId`]: one value per pixel, `0..=18` the training classes and `255` (or
//!   `19`) void, as in Cityscapes' `*_trainIds.png` and the images our scene generator writes.
//! - [`LabelFormat::LabelIds`]: Cityscapes' `*_labelIds.png`, values `0..=33`, mapped through the
//!   full label table.
//!
//! Every decoder accepts RGB, RGBA, grayscale (with or without alpha, any bit depth) and
//! palette-indexed PNGs. For the single-value formats a palette-indexed PNG holds the value as the
//! palette *index* (the PIL `"P"` mode convention), and an RGB image must be gray (`r == g == b`).
//!
//! Detection ([`LabelFormat::detect`], [`decode_png_auto`]) returns a [`Detection`]: the format and
//! the reason, for the caller to print. Train ids and label ids overlap (`0..=19` are both), so a
//! gray file whose values are all `<= 19` is read as train ids only when the label-id reading
//! would make at least half of its pixels void; otherwise it is refused as
//! [`LabelError::Ambiguous`], with both readings spelled out. Files cimle writes record their
//! format in a PNG text chunk ([`FORMAT_KEYWORD`]), so they are never ambiguous.
//!
//! Decoders never panic on their input, and check the image size against [`MAX_PIXELS`] before
//! allocating pixel buffers.
//!
//! [`classes::GTA5_VOID_COLORS`]: crate::classes::GTA5_VOID_COLORS

mod detect;
mod encode;
mod error;
mod format;
mod mapping;
mod pixels;
#[cfg(test)]
mod tests;

pub use encode::encode_raw_png;
pub use error::LabelError;
pub use format::{Detection, LabelFormat};

use crate::layout::Layout;
use detect::detect_pixels;
use mapping::{color_layout, label_ids_to_layout, train_ids_to_layout};
use pixels::{Pixels, read_pixels, single_values};

/// The value written for `void` pixels in train-id PNGs (Cityscapes' ignore label).
pub const TRAIN_ID_IGNORE: u8 = 255;

/// Most pixels a PNG decoded here may have: 16,777,216 (4096x4096). Cityscapes (2048x1024) and
/// GTA-5 (1914x1052) labels have about 2 million.
pub const MAX_PIXELS: usize = 1 << 24;

/// Keyword of the PNG text chunk in which cimle records the format of the label files it writes.
pub const FORMAT_KEYWORD: &str = "cimle-label-format";

/// How colour labels treat colours that no Cityscapes or GTA-5 label uses.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum ColorPolicy {
    /// Refuse them with [`LabelError::UnknownColor`].
    #[default]
    Strict,
    /// Map them to the class with the nearest palette colour (see [`classes::nearest_class`]).
    ///
    /// [`classes::nearest_class`]: crate::classes::nearest_class
    MapToNearest,
}

/// A decoded label and how many pixels had to be mapped to the nearest palette colour.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Decoded {
    /// The layout.
    pub layout: Layout,
    /// Pixels whose colour was in no label palette and was mapped to the nearest class
    /// (always 0 except for colour labels under [`ColorPolicy::MapToNearest`]).
    pub remapped_pixels: usize,
}

/// Decodes a label PNG in the given format.
pub fn decode_png(
    bytes: &[u8],
    format: LabelFormat,
    policy: ColorPolicy,
) -> Result<Decoded, LabelError> {
    decode_pixels(&read_pixels(bytes)?, format, policy)
}

/// Decodes a label PNG whose format is detected as by [`LabelFormat::detect`] (decoding the
/// pixels only once); returns the detection (format and reason) with the layout.
pub fn decode_png_auto(
    bytes: &[u8],
    policy: ColorPolicy,
) -> Result<(Detection, Decoded), LabelError> {
    let pixels = read_pixels(bytes)?;
    let detection = detect_pixels(&pixels)?;
    let decoded = decode_pixels(&pixels, detection.format, policy)?;
    Ok((detection, decoded))
}

/// Decodes a colour label PNG (Cityscapes palette, any PNG colour type).
///
/// Training-class colours give their class, other Cityscapes and GTA-5 colours give void; colours
/// in neither palette follow `policy`.
pub fn decode_color_png(bytes: &[u8], policy: ColorPolicy) -> Result<Decoded, LabelError> {
    color_layout(&read_pixels(bytes)?, policy)
}

/// Decodes a train-id PNG: values `0..=18` are classes, `19` and `255` are void; any other value
/// is an error naming it and its first pixel.
pub fn decode_train_id_png(bytes: &[u8]) -> Result<Layout, LabelError> {
    train_ids_to_layout(&single_values(&read_pixels(bytes)?, LabelFormat::TrainId)?)
}

/// Decodes a Cityscapes `*_labelIds.png`: values `0..=33` go through the full label table
/// (non-training labels give void); values above 33 are an error naming the value and a pixel.
pub fn decode_label_ids_png(bytes: &[u8]) -> Result<Layout, LabelError> {
    label_ids_to_layout(&single_values(&read_pixels(bytes)?, LabelFormat::LabelIds)?)
}

/// Decodes any PNG to 8-bit RGB: returns `(rgb, height, width)` with `height * width * 3` bytes.
///
/// Grayscale is replicated to three channels (low bit depths scaled to `0..=255`), palettes are
/// expanded, alpha is dropped and 16-bit samples keep their high byte.
pub fn decode_rgb8(bytes: &[u8]) -> Result<(Vec<u8>, usize, usize), LabelError> {
    let pixels = read_pixels(bytes)?;
    Ok((pixels.to_rgb8(), pixels.height, pixels.width))
}

fn decode_pixels(
    pixels: &Pixels,
    format: LabelFormat,
    policy: ColorPolicy,
) -> Result<Decoded, LabelError> {
    let layout = match format {
        LabelFormat::Color => return color_layout(pixels, policy),
        LabelFormat::TrainId => train_ids_to_layout(&single_values(pixels, format)?)?,
        LabelFormat::LabelIds => label_ids_to_layout(&single_values(pixels, format)?)?,
    };
    Ok(Decoded {
        layout,
        remapped_pixels: 0,
    })
}
