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

use std::borrow::Cow;
use std::fmt;
use std::io::Cursor;
use std::str::FromStr;

use crate::classes::{self, CITYSCAPES_LABELS, CLASSES, MAX_LABEL_ID, VOID};
use crate::layout::{Layout, LayoutError};

/// The value written for `void` pixels in train-id PNGs (Cityscapes' ignore label).
pub const TRAIN_ID_IGNORE: u8 = 255;

/// Most pixels a PNG decoded here may have: 16,777,216 (4096x4096). Cityscapes (2048x1024) and
/// GTA-5 (1914x1052) labels have about 2 million.
pub const MAX_PIXELS: usize = 1 << 24;

/// Keyword of the PNG text chunk in which cimle records the format of the label files it writes.
pub const FORMAT_KEYWORD: &str = "cimle-label-format";

/// Cap on the PNG decoder's own allocations (text chunks, ICC profiles, row buffers).
const DECODER_LIMIT_BYTES: usize = 64 << 20;

const PNG_SIGNATURE: [u8; 8] = [0x89, b'P', b'N', b'G', b'\r', b'\n', 0x1a, b'\n'];

/// Why a label PNG (or any PNG given to [`decode_rgb8`]) could not be read.
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

fn hex(c: &[u8; 3]) -> String {
    format!("#{:02x}{:02x}{:02x}", c[0], c[1], c[2])
}

fn rgb_tuple(c: &[u8; 3]) -> String {
    format!("({}, {}, {})", c[0], c[1], c[2])
}

/// How colour labels treat colours that no Cityscapes or GTA-5 label uses.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum ColorPolicy {
    /// Refuse them with [`LabelError::UnknownColor`].
    #[default]
    Strict,
    /// Map them to the class with the nearest palette colour (see [`classes::nearest_class`]).
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

impl Layout {
    /// The layout as an 8-bit RGB PNG in the Cityscapes palette (void is black), marked as a
    /// colour label ([`FORMAT_KEYWORD`]).
    pub fn encode_color_png(&self) -> Vec<u8> {
        encode_png(
            self,
            png::ColorType::Rgb,
            &self.to_color_rgb(),
            LabelFormat::Color,
        )
    }

    /// The layout as an 8-bit grayscale PNG of train ids, void written as 255 as Cityscapes does,
    /// marked as a train-id label ([`FORMAT_KEYWORD`]).
    pub fn encode_train_id_png(&self) -> Vec<u8> {
        let values: Vec<u8> = self
            .ids()
            .iter()
            .map(|&id| if id == VOID { TRAIN_ID_IGNORE } else { id })
            .collect();
        encode_png(
            self,
            png::ColorType::Grayscale,
            &values,
            LabelFormat::TrainId,
        )
    }
}

/// Encodes an 8-bit PNG with a text chunk naming its label format. Sizes were validated when the
/// layout was built and writing into a `Vec` cannot fail, so an error here is a bug.
fn encode_png(layout: &Layout, color: png::ColorType, data: &[u8], format: LabelFormat) -> Vec<u8> {
    let mut out = Vec::new();
    let (w, h) = (
        u32::try_from(layout.width()).expect("layout width fits PNG (checked on construction)"),
        u32::try_from(layout.height()).expect("layout height fits PNG (checked on construction)"),
    );
    let mut encoder = png::Encoder::new(&mut out, w, h);
    encoder.set_color(color);
    encoder.set_depth(png::BitDepth::Eight);
    encoder
        .add_text_chunk(FORMAT_KEYWORD.to_owned(), format.name().to_owned())
        .and_then(|()| encoder.write_header())
        .and_then(|mut writer| {
            writer.write_image_data(data)?;
            writer.finish()
        })
        .expect("encoding a valid layout into memory cannot fail");
    out
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

/// What the first bytes of a file that is not a PNG say it is.
fn sniff(bytes: &[u8]) -> Option<&'static str> {
    let starts = |sig: &[u8]| bytes.starts_with(sig);
    let at = |offset: usize, sig: &[u8]| bytes.get(offset..offset + sig.len()) == Some(sig);
    if bytes.is_empty() {
        Some("empty")
    } else if starts(&[0xff, 0xd8, 0xff]) {
        Some("a JPEG image")
    } else if starts(b"GIF87a") || starts(b"GIF89a") {
        Some("a GIF image")
    } else if starts(b"RIFF") && at(8, b"WEBP") {
        Some("a WebP image")
    } else if starts(b"II*\0") || starts(b"MM\0*") {
        Some("a TIFF image")
    } else if starts(b"BM")
        && bytes.len() >= 18
        && matches!(bytes[14], 12 | 40 | 52 | 56 | 108 | 124)
        && bytes[15..18] == [0, 0, 0]
    {
        Some("a BMP image")
    } else if at(4, b"ftypavif") || at(4, b"ftypavis") {
        Some("an AVIF image")
    } else if at(4, b"ftypheic") || at(4, b"ftypheix") || at(4, b"ftypmif1") {
        Some("a HEIF image")
    } else if starts(b"qoif") {
        Some("a QOI image")
    } else if starts(b"%PDF") {
        Some("a PDF document")
    } else if starts(b"PK\x03\x04") {
        Some("a ZIP archive")
    } else if starts(&[0x1f, 0x8b]) {
        Some("a gzip file")
    } else if bytes.len() >= 9 && bytes[8] == b'{' && bytes[5..8] == [0, 0, 0] {
        Some("a safetensors file")
    } else if starts(b"<svg") || starts(b"<?xml") {
        Some("an SVG or XML text file")
    } else {
        None
    }
}

/// The pixels of a PNG as stored, one decode for every reading of them.
struct Pixels {
    height: usize,
    width: usize,
    kind: PixelKind,
    /// The label format named in a [`FORMAT_KEYWORD`] text chunk, if any.
    declared: Option<LabelFormat>,
}

enum PixelKind {
    /// RGB or RGBA: 3 bytes a pixel (alpha dropped, 16-bit samples keep their high byte).
    Rgb(Vec<u8>),
    /// Grayscale (alpha dropped): raw levels, not rescaled, and the bit depth.
    Gray { levels: Vec<u16>, bits: u8 },
    /// Palette indices (each checked to be inside the palette) and the palette.
    Indexed {
        indices: Vec<u16>,
        palette: Vec<[u8; 3]>,
    },
}

impl Pixels {
    /// 3 bytes a pixel; gray levels of low bit depths are scaled to `0..=255`.
    fn to_rgb8(&self) -> Vec<u8> {
        match &self.kind {
            PixelKind::Rgb(rgb) => rgb.clone(),
            PixelKind::Gray { levels, bits } => {
                let max = (1u32 << bits) - 1;
                levels
                    .iter()
                    .flat_map(|&v| {
                        let g = if *bits == 16 {
                            (v >> 8) as u8
                        } else {
                            (u32::from(v) * 255 / max) as u8
                        };
                        [g, g, g]
                    })
                    .collect()
            }
            PixelKind::Indexed { indices, palette } => indices
                .iter()
                .flat_map(|&i| palette[usize::from(i)])
                .collect(),
        }
    }
}

fn png_error(e: png::DecodingError) -> LabelError {
    match e {
        png::DecodingError::LimitsExceeded => LabelError::Png(format!(
            "a chunk needs more than the decoder's {} MiB memory limit",
            DECODER_LIMIT_BYTES >> 20
        )),
        e => LabelError::Png(e.to_string()),
    }
}

/// Decodes the first frame with no transformation, checking the size before allocating.
fn read_pixels(bytes: &[u8]) -> Result<Pixels, LabelError> {
    if !bytes.starts_with(&PNG_SIGNATURE)
        && let Some(kind) = sniff(bytes)
    {
        return Err(if kind == "empty" {
            LabelError::Png("the file is empty".into())
        } else {
            LabelError::NotPng { kind }
        });
    }
    let mut decoder = png::Decoder::new_with_limits(
        Cursor::new(bytes),
        png::Limits {
            bytes: DECODER_LIMIT_BYTES,
        },
    );
    decoder.set_transformations(png::Transformations::IDENTITY);
    let header = decoder.read_header_info().map_err(png_error)?;
    let (width, height) = (header.width, header.height);
    if u64::from(width) * u64::from(height) > MAX_PIXELS as u64 {
        return Err(LabelError::TooLarge { width, height });
    }
    let mut reader = decoder.read_info().map_err(png_error)?;
    let info = reader.info();
    let declared = info
        .uncompressed_latin1_text
        .iter()
        .find(|t| t.keyword == FORMAT_KEYWORD)
        .and_then(|t| t.text.parse().ok());
    let palette: Option<Vec<[u8; 3]>> = info
        .palette
        .as_ref()
        .map(|p| p.chunks_exact(3).map(|c| [c[0], c[1], c[2]]).collect());
    // At most 8 bytes a pixel (16-bit RGBA) plus one filter byte a row: about 128 MiB.
    let mut buf = vec![0u8; reader.output_buffer_size()];
    let frame = reader.next_frame(&mut buf).map_err(png_error)?;
    let (height, width) = (frame.height as usize, frame.width as usize);
    let bits = frame.bit_depth as u8;
    let channels = match frame.color_type {
        png::ColorType::Grayscale | png::ColorType::Indexed => 1,
        png::ColorType::GrayscaleAlpha => 2,
        png::ColorType::Rgb => 3,
        png::ColorType::Rgba => 4,
    };
    if frame.line_size == 0 || frame.buffer_size() > buf.len() || height == 0 || width == 0 {
        return Err(LabelError::Png("inconsistent image dimensions".into()));
    }
    let short = || LabelError::Png("image data shorter than its header says".into());
    let rows: Vec<&[u8]> = buf.chunks(frame.line_size).take(height).collect();
    if rows.len() != height {
        return Err(short());
    }
    // Sample `i` of a row, at the frame's bit depth.
    let sample = |row: &[u8], i: usize| -> Option<u16> {
        match bits {
            16 => row
                .get(2 * i..2 * i + 2)
                .map(|b| u16::from_be_bytes([b[0], b[1]])),
            8 => row.get(i).map(|&b| u16::from(b)),
            1 | 2 | 4 => {
                let bit = i * usize::from(bits);
                row.get(bit / 8).map(|&byte| {
                    let shift = 8 - usize::from(bits) - bit % 8;
                    u16::from((byte >> shift) & ((1u8 << bits) - 1))
                })
            }
            _ => None,
        }
    };
    let n = height * width;
    let kind = match frame.color_type {
        png::ColorType::Rgb | png::ColorType::Rgba => {
            let mut rgb = Vec::with_capacity(n * 3);
            for row in &rows {
                for x in 0..width {
                    for c in 0..3 {
                        let v = sample(row, x * channels + c).ok_or_else(short)?;
                        rgb.push(if bits == 16 { (v >> 8) as u8 } else { v as u8 });
                    }
                }
            }
            PixelKind::Rgb(rgb)
        }
        png::ColorType::Grayscale | png::ColorType::GrayscaleAlpha => {
            let mut levels = Vec::with_capacity(n);
            for row in &rows {
                for x in 0..width {
                    levels.push(sample(row, x * channels).ok_or_else(short)?);
                }
            }
            PixelKind::Gray { levels, bits }
        }
        png::ColorType::Indexed => {
            let palette =
                palette.ok_or_else(|| LabelError::Png("palette image without a palette".into()))?;
            let mut indices = Vec::with_capacity(n);
            for (y, row) in rows.iter().enumerate() {
                for x in 0..width {
                    let index = sample(row, x).ok_or_else(short)?;
                    if usize::from(index) >= palette.len() {
                        return Err(LabelError::PaletteIndex {
                            index,
                            x,
                            y,
                            len: palette.len(),
                        });
                    }
                    indices.push(index);
                }
            }
            PixelKind::Indexed { indices, palette }
        }
    };
    Ok(Pixels {
        height,
        width,
        kind,
        declared,
    })
}

/// One value per pixel, as read from a single-channel (or gray RGB) PNG.
struct Values<'a> {
    height: usize,
    width: usize,
    /// `"gray value"` or `"palette index"`.
    what: &'static str,
    values: Cow<'a, [u16]>,
}

impl Values<'_> {
    fn at(&self, index: usize) -> (usize, usize) {
        (index % self.width, index / self.width)
    }
}

/// Reads one value per pixel: gray level (any bit depth, unscaled), palette index, or the common
/// value of a gray RGB pixel; a non-gray RGB pixel is [`LabelError::NotGray`] for `format`.
fn single_values(pixels: &Pixels, format: LabelFormat) -> Result<Values<'_>, LabelError> {
    let (what, values) = match &pixels.kind {
        PixelKind::Rgb(rgb) => {
            let mut values = Vec::with_capacity(rgb.len() / 3);
            for (index, px) in rgb.chunks_exact(3).enumerate() {
                if px[0] != px[1] || px[1] != px[2] {
                    return Err(LabelError::NotGray {
                        color: [px[0], px[1], px[2]],
                        x: index % pixels.width,
                        y: index / pixels.width,
                        format,
                    });
                }
                values.push(u16::from(px[0]));
            }
            ("gray value", Cow::Owned(values))
        }
        PixelKind::Gray { levels, .. } => ("gray value", Cow::Borrowed(levels.as_slice())),
        PixelKind::Indexed { indices, .. } => ("palette index", Cow::Borrowed(indices.as_slice())),
    };
    Ok(Values {
        height: pixels.height,
        width: pixels.width,
        what,
        values,
    })
}

fn detect_pixels(pixels: &Pixels) -> Result<Detection, LabelError> {
    if let Some(format) = pixels.declared {
        return Ok(Detection {
            format,
            reason: format!("the file's `{FORMAT_KEYWORD}` text chunk says so"),
        });
    }
    match &pixels.kind {
        PixelKind::Rgb(_) => Ok(Detection {
            format: LabelFormat::Color,
            reason: "an RGB PNG holds colours".into(),
        }),
        PixelKind::Gray { .. } => detect_values(&single_values(pixels, LabelFormat::TrainId)?),
        PixelKind::Indexed { indices, palette } => detect_palette(pixels, indices, palette),
    }
}

/// Train ids, label ids, or ambiguous: see [`LabelFormat::detect`].
fn detect_values(v: &Values<'_>) -> Result<Detection, LabelError> {
    let what = v.what;
    let ignore = u16::from(TRAIN_ID_IGNORE);
    let max_label = u16::from(MAX_LABEL_ID);
    let neither = |index: usize| {
        let (x, y) = v.at(index);
        LabelError::Undetectable {
            what,
            value: v.values[index],
            x,
            y,
        }
    };
    if let Some(i) = v.values.iter().position(|&x| x > max_label && x != ignore) {
        return Err(neither(i));
    }
    let label_only = v
        .values
        .iter()
        .position(|&x| x > u16::from(VOID) && x <= max_label);
    let has_ignore = v.values.contains(&ignore);
    match (has_ignore, label_only) {
        (true, Some(i)) => Err(neither(i)),
        (true, None) => Ok(Detection {
            format: LabelFormat::TrainId,
            reason: format!("{what}s include 255, the train-id void value, which is no label id"),
        }),
        (false, Some(i)) => Ok(Detection {
            format: LabelFormat::LabelIds,
            reason: format!(
                "{what}s include {}, which is a label id but no train id",
                v.values[i]
            ),
        }),
        (false, None) => {
            // Every value is <= 19: both readings are valid.
            let n = v.values.len();
            let label_void = v
                .values
                .iter()
                .filter(|&&x| label_id_class(x) == Some(VOID))
                .count();
            let train_void = v.values.iter().filter(|&&x| x == u16::from(VOID)).count();
            if label_void * 2 >= n && label_void > train_void {
                Ok(Detection {
                    format: LabelFormat::TrainId,
                    reason: format!(
                        "all {what}s are 19 or less, so they could be label ids, but as label \
                         ids {} of the pixels would be void labels",
                        percent(label_void, n)
                    ),
                })
            } else {
                Err(LabelError::Ambiguous {
                    what,
                    as_train_ids: largest(&v.values, |x| CLASSES[usize::from(x)].name.to_owned()),
                    as_label_ids: largest(&v.values, |x| {
                        let label = &CITYSCAPES_LABELS[usize::from(x)];
                        if label.class == VOID {
                            format!("{} (void)", label.name)
                        } else {
                            label.name.to_owned()
                        }
                    }),
                })
            }
        }
    }
}

/// Palette images: colours, values, or GTA-5's label ids; see [`LabelFormat::detect`].
fn detect_palette(
    pixels: &Pixels,
    indices: &[u16],
    palette: &[[u8; 3]],
) -> Result<Detection, LabelError> {
    let mut used = vec![false; palette.len()];
    for &i in indices {
        used[usize::from(i)] = true;
    }
    let used: Vec<(usize, [u8; 3])> = (0..palette.len())
        .filter(|&i| used[i])
        .map(|i| (i, palette[i]))
        .collect();
    let colors = |reason: &str| Detection {
        format: LabelFormat::Color,
        reason: reason.to_owned(),
    };
    if used
        .iter()
        .all(|&(_, c)| classes::color_to_class(c).is_some())
    {
        return Ok(colors("a palette PNG whose colours are all label colours"));
    }
    if used.iter().all(|&(_, c)| c[0] == c[1] && c[1] == c[2]) {
        let detection = detect_values(&single_values(pixels, LabelFormat::TrainId)?)?;
        return Ok(Detection {
            reason: format!("a palette PNG with a gray palette: {}", detection.reason),
            ..detection
        });
    }
    // GTA-5 stores labels as palette indices that are Cityscapes label ids, in a palette that
    // mostly holds the Cityscapes colours of those ids. When every Cityscapes colour used sits at
    // its own label id, the indices are label ids and other colours read through them.
    let cityscapes: Vec<&(usize, [u8; 3])> = used
        .iter()
        .filter(|(_, c)| classes::is_cityscapes_color(*c))
        .collect();
    let unknown: Vec<&(usize, [u8; 3])> = used
        .iter()
        .filter(|(_, c)| classes::color_to_class(*c).is_none())
        .collect();
    let at_own_id = |&&(i, c): &&(usize, [u8; 3])| {
        i <= usize::from(MAX_LABEL_ID) && CITYSCAPES_LABELS[i].color == c
    };
    if !cityscapes.is_empty()
        && cityscapes.iter().all(at_own_id)
        && unknown.iter().all(|(i, _)| *i <= usize::from(MAX_LABEL_ID))
    {
        let read: Vec<String> = unknown
            .iter()
            .take(3)
            .map(|(i, c)| {
                format!(
                    "{} at index {i} is `{}`",
                    hex(c),
                    CITYSCAPES_LABELS[*i].name
                )
            })
            .collect();
        return Ok(Detection {
            format: LabelFormat::LabelIds,
            reason: format!(
                "a palette PNG whose Cityscapes colours all sit at their label ids, as GTA-5 \
                 stores labels, so its indices are label ids: {}",
                read.join(", ")
            ),
        });
    }
    Ok(colors("a palette PNG holds colours"))
}

fn label_id_class(value: u16) -> Option<u8> {
    u8::try_from(value)
        .ok()
        .and_then(classes::label_id_to_train_id)
}

fn percent(part: usize, whole: usize) -> String {
    let p = (part as f64 * 100.0 / whole.max(1) as f64).round();
    if part > 0 && p < 1.0 {
        "<1 %".to_owned()
    } else {
        format!("{p} %")
    }
}

/// The four most frequent names of `values` (values `<= 19`), with their share of the pixels.
fn largest(values: &[u16], name: impl Fn(u8) -> String) -> String {
    let mut counts = [0usize; 20];
    for &v in values {
        if let Some(c) = counts.get_mut(usize::from(v)) {
            *c += 1;
        }
    }
    let mut order: Vec<u8> = (0u8..20).filter(|&v| counts[usize::from(v)] > 0).collect();
    order.sort_by_key(|&v| (std::cmp::Reverse(counts[usize::from(v)]), v));
    let mut parts: Vec<String> = order
        .iter()
        .take(4)
        .map(|&v| {
            format!(
                "{} {}",
                name(v),
                percent(counts[usize::from(v)], values.len())
            )
        })
        .collect();
    if order.len() > 4 {
        parts.push("…".to_owned());
    }
    parts.join(", ")
}

/// Colour labels: palette colours give their class; unknown colours follow `policy`. A gray image
/// with unknown levels is [`LabelError::GrayAsColor`] (its levels are values, not colours).
fn color_layout(pixels: &Pixels, policy: ColorPolicy) -> Result<Decoded, LabelError> {
    let rgb = pixels.to_rgb8();
    let width = pixels.width;
    let mut ids = Vec::with_capacity(rgb.len() / 3);
    let mut unknown = 0usize;
    let mut first_unknown: Option<([u8; 3], usize)> = None;
    let mut all_gray = true;
    // Labels come in runs of one colour: remember the last lookup.
    let mut last: Option<([u8; 3], Option<u8>)> = None;
    for (index, px) in rgb.chunks_exact(3).enumerate() {
        let color = [px[0], px[1], px[2]];
        all_gray &= color[0] == color[1] && color[1] == color[2];
        let class = match last {
            Some((c, class)) if c == color => class,
            _ => {
                let class = classes::color_to_class(color);
                last = Some((color, class));
                class
            }
        };
        let id = match class {
            Some(id) => id,
            None => {
                unknown += 1;
                first_unknown.get_or_insert((color, index));
                classes::nearest_class(color)
            }
        };
        ids.push(id);
    }
    if let (ColorPolicy::Strict, Some((color, index))) = (policy, first_unknown) {
        let (x, y) = (index % width, index / width);
        let gray = matches!(pixels.kind, PixelKind::Gray { .. }) || all_gray;
        if gray {
            let reads_as = single_values(pixels, LabelFormat::TrainId)
                .ok()
                .and_then(|v| detect_values(&v).ok())
                .map(|d| d.format);
            return Err(LabelError::GrayAsColor {
                value: color[0],
                x,
                y,
                count: unknown,
                reads_as,
            });
        }
        let nearest = CLASSES[usize::from(classes::nearest_class(color))].name;
        return Err(LabelError::UnknownColor {
            color,
            x,
            y,
            nearest,
            count: unknown,
        });
    }
    Ok(Decoded {
        layout: Layout::new(pixels.height, width, ids)?,
        remapped_pixels: unknown,
    })
}

/// Maps values through `map`; on failure reports the first bad value, its pixel and the count.
fn map_values(
    v: &Values<'_>,
    map: impl Fn(u16) -> Option<u8>,
    error: impl FnOnce(u16, usize, usize, usize) -> LabelError,
) -> Result<Layout, LabelError> {
    let mut ids = Vec::with_capacity(v.values.len());
    let mut bad: Option<(u16, usize)> = None;
    let mut count = 0usize;
    for (index, &value) in v.values.iter().enumerate() {
        match map(value) {
            Some(id) => ids.push(id),
            None => {
                count += 1;
                bad.get_or_insert((value, index));
                ids.push(VOID);
            }
        }
    }
    if let Some((value, index)) = bad {
        let (x, y) = v.at(index);
        return Err(error(value, x, y, count));
    }
    Ok(Layout::new(v.height, v.width, ids)?)
}

fn train_ids_to_layout(v: &Values<'_>) -> Result<Layout, LabelError> {
    map_values(
        v,
        |value| match u8::try_from(value) {
            Ok(TRAIN_ID_IGNORE) => Some(VOID),
            Ok(id) if id <= VOID => Some(id),
            _ => None,
        },
        |value, x, y, count| LabelError::InvalidTrainId { value, x, y, count },
    )
}

fn label_ids_to_layout(v: &Values<'_>) -> Result<Layout, LabelError> {
    map_values(v, label_id_class, |value, x, y, count| {
        LabelError::InvalidLabelId { value, x, y, count }
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::classes::id;

    /// Encodes a PNG of any colour type and depth for the tests (no format text chunk).
    fn png_bytes(
        width: u32,
        height: u32,
        color: png::ColorType,
        depth: png::BitDepth,
        data: &[u8],
        palette: Option<&[u8]>,
    ) -> Vec<u8> {
        let mut out = Vec::new();
        {
            let mut enc = png::Encoder::new(&mut out, width, height);
            enc.set_color(color);
            enc.set_depth(depth);
            if let Some(p) = palette {
                enc.set_palette(p.to_vec());
            }
            let mut w = enc.write_header().unwrap();
            w.write_image_data(data).unwrap();
            w.finish().unwrap();
        }
        out
    }

    fn gray8(width: u32, height: u32, data: &[u8]) -> Vec<u8> {
        png_bytes(
            width,
            height,
            png::ColorType::Grayscale,
            png::BitDepth::Eight,
            data,
            None,
        )
    }

    fn rgb8(width: u32, height: u32, data: &[u8]) -> Vec<u8> {
        png_bytes(
            width,
            height,
            png::ColorType::Rgb,
            png::BitDepth::Eight,
            data,
            None,
        )
    }

    fn indexed(width: u32, height: u32, indices: &[u8], palette: &[[u8; 3]]) -> Vec<u8> {
        png_bytes(
            width,
            height,
            png::ColorType::Indexed,
            png::BitDepth::Eight,
            indices,
            Some(&palette.concat()),
        )
    }

    fn color_of(id: u8) -> [u8; 3] {
        CLASSES[usize::from(id)].color
    }

    /// Gray values in the given proportions (value, pixels), as one row.
    fn gray_row(parts: &[(u8, usize)]) -> Vec<u8> {
        let values: Vec<u8> = parts
            .iter()
            .flat_map(|&(v, n)| std::iter::repeat_n(v, n))
            .collect();
        gray8(values.len() as u32, 1, &values)
    }

    #[test]
    fn color_round_trip() {
        let ids: Vec<u8> = (0..20).collect();
        let l = Layout::new(4, 5, ids).unwrap();
        let d = decode_color_png(&l.encode_color_png(), ColorPolicy::Strict).unwrap();
        assert_eq!(d.layout, l);
        assert_eq!(d.remapped_pixels, 0);
    }

    #[test]
    fn train_id_round_trip_writes_255_for_void() {
        let ids: Vec<u8> = (0..20).rev().collect();
        let l = Layout::new(5, 4, ids).unwrap();
        let bytes = l.encode_train_id_png();
        let (rgb, h, w) = decode_rgb8(&bytes).unwrap();
        assert_eq!((h, w), (5, 4));
        assert_eq!(rgb[0], 255, "void is written as 255");
        assert_eq!(decode_train_id_png(&bytes).unwrap(), l);
        assert_eq!(
            LabelFormat::detect(&bytes).unwrap().format,
            LabelFormat::TrainId
        );
    }

    #[test]
    fn files_cimle_writes_say_their_format() {
        // All traffic sign (train id 7) would be road as label ids: ambiguous without the chunk.
        let l = Layout::filled(2, 3, id::TRAFFIC_SIGN);
        let bytes = l.encode_train_id_png();
        let (d, decoded) = decode_png_auto(&bytes, ColorPolicy::Strict).unwrap();
        assert_eq!(d.format, LabelFormat::TrainId);
        assert!(d.reason.contains(FORMAT_KEYWORD), "{}", d.reason);
        assert_eq!(decoded.layout, l);
        let d = LabelFormat::detect(&l.encode_color_png()).unwrap();
        assert_eq!(d.format, LabelFormat::Color);
        // The same pixels without the chunk are ambiguous.
        let bare = gray8(3, 2, &[7; 6]);
        assert!(matches!(
            LabelFormat::detect(&bare),
            Err(LabelError::Ambiguous { .. })
        ));
    }

    #[test]
    fn color_decoder_reads_rgb_and_maps_non_training_colours() {
        let mut data = Vec::new();
        for c in [
            color_of(id::ROAD),
            [153, 153, 153], // pole (and polegroup)
            [250, 170, 160], // parking -> void
            [0, 0, 142],     // car (and license plate)
        ] {
            data.extend_from_slice(&c);
        }
        let d = decode_color_png(&rgb8(2, 2, &data), ColorPolicy::Strict).unwrap();
        assert_eq!(d.layout.ids(), &[id::ROAD, id::POLE, VOID, id::CAR]);
    }

    #[test]
    fn color_decoder_reads_rgba() {
        let mut data = Vec::new();
        for (c, a) in [(color_of(id::SKY), 255u8), (color_of(id::PERSON), 0)] {
            data.extend_from_slice(&c);
            data.push(a);
        }
        let bytes = png_bytes(
            2,
            1,
            png::ColorType::Rgba,
            png::BitDepth::Eight,
            &data,
            None,
        );
        let d = decode_color_png(&bytes, ColorPolicy::Strict).unwrap();
        assert_eq!(d.layout.ids(), &[id::SKY, id::PERSON]);
        assert_eq!(
            LabelFormat::detect(&bytes).unwrap().format,
            LabelFormat::Color
        );
    }

    #[test]
    fn color_decoder_reads_palette_png() {
        // A palette in any order whose colours are all label colours reads as colours.
        let palette = [
            color_of(id::CAR),
            color_of(id::ROAD),
            color_of(id::VEGETATION),
        ];
        let bytes = indexed(3, 1, &[2, 0, 1], &palette);
        let d = decode_color_png(&bytes, ColorPolicy::Strict).unwrap();
        assert_eq!(d.layout.ids(), &[id::VEGETATION, id::CAR, id::ROAD]);
        let detected = LabelFormat::detect(&bytes).unwrap();
        assert_eq!(detected.format, LabelFormat::Color);
        assert!(detected.reason.contains("palette"), "{}", detected.reason);
        // As a single-value format the palette index is the value.
        assert_eq!(decode_train_id_png(&bytes).unwrap().ids(), &[2, 0, 1]);
    }

    #[test]
    fn color_decoder_reads_16_bit_rgb() {
        let c = color_of(id::BUS);
        let data: Vec<u8> = c.iter().flat_map(|&v| [v, 0x7f]).collect();
        let bytes = png_bytes(
            1,
            1,
            png::ColorType::Rgb,
            png::BitDepth::Sixteen,
            &data,
            None,
        );
        let d = decode_color_png(&bytes, ColorPolicy::Strict).unwrap();
        assert_eq!(d.layout.ids(), &[id::BUS]);
    }

    #[test]
    fn gta5_colours_outside_cityscapes_are_void() {
        // rgb(20, 20, 20), found in real GTA-5 label files, in an RGB file...
        let mut data = Vec::new();
        for c in [color_of(id::ROAD), [20, 20, 20], color_of(id::CAR)] {
            data.extend_from_slice(&c);
        }
        let d = decode_color_png(&rgb8(3, 1, &data), ColorPolicy::Strict).unwrap();
        assert_eq!(d.layout.ids(), &[id::ROAD, VOID, id::CAR]);
        assert_eq!(d.remapped_pixels, 0);
        // ...and in a GTA-5 style palette file (index = label id), detected as colours.
        let mut palette = vec![[0u8; 3]; 34];
        for (i, l) in CITYSCAPES_LABELS.iter().take(34).enumerate() {
            palette[i] = l.color;
        }
        palette[4] = [20, 20, 20];
        let bytes = indexed(4, 1, &[7, 4, 26, 4], &palette);
        let (detection, d) = decode_png_auto(&bytes, ColorPolicy::Strict).unwrap();
        assert_eq!(detection.format, LabelFormat::Color);
        assert_eq!(d.layout.ids(), &[id::ROAD, VOID, id::CAR, VOID]);
    }

    #[test]
    fn gta5_palette_files_read_other_colours_through_their_label_ids() {
        // Every Cityscapes colour sits at its label id; index 1 (ego vehicle) has a colour that
        // is in no palette: the indices are label ids.
        let mut palette: Vec<[u8; 3]> =
            CITYSCAPES_LABELS.iter().take(34).map(|l| l.color).collect();
        palette[1] = [33, 44, 55];
        let bytes = indexed(4, 1, &[7, 1, 26, 21], &palette);
        let (detection, d) = decode_png_auto(&bytes, ColorPolicy::Strict).unwrap();
        assert_eq!(detection.format, LabelFormat::LabelIds);
        assert!(detection.reason.contains("GTA-5"), "{}", detection.reason);
        assert!(
            detection
                .reason
                .contains("#212c37 at index 1 is `ego vehicle`"),
            "{}",
            detection.reason
        );
        assert_eq!(d.layout.ids(), &[id::ROAD, VOID, id::CAR, id::VEGETATION]);
        // A palette in another order with an unknown colour stays an unknown colour.
        let shuffled = [color_of(id::CAR), [33, 44, 55], color_of(id::ROAD)];
        let bytes = indexed(3, 1, &[0, 1, 2], &shuffled);
        let err = decode_png_auto(&bytes, ColorPolicy::Strict).unwrap_err();
        assert!(
            matches!(
                err,
                LabelError::UnknownColor {
                    color: [33, 44, 55],
                    x: 1,
                    y: 0,
                    ..
                }
            ),
            "{err}"
        );
    }

    #[test]
    fn unknown_colour_error_names_colour_pixel_and_nearest_class() {
        let mut data = Vec::new();
        for c in [
            color_of(id::ROAD),
            color_of(id::ROAD),
            [0, 0, 140], // near car, at x=2, y=0
            color_of(id::SKY),
            [1, 2, 3], // near void
            [0, 0, 140],
        ] {
            data.extend_from_slice(&c);
        }
        let bytes = rgb8(3, 2, &data);
        let err = decode_color_png(&bytes, ColorPolicy::Strict).unwrap_err();
        assert_eq!(
            err,
            LabelError::UnknownColor {
                color: [0, 0, 140],
                x: 2,
                y: 0,
                nearest: "car",
                count: 3,
            }
        );
        let msg = err.to_string();
        for part in [
            "#00008c",
            "(0, 0, 140)",
            "x=2, y=0",
            "car",
            "3 pixel",
            "GTA-5",
        ] {
            assert!(msg.contains(part), "{part:?} missing from: {msg}");
        }
        assert!(!msg.contains("--"), "the model crate names no flags: {msg}");

        let d = decode_color_png(&bytes, ColorPolicy::MapToNearest).unwrap();
        assert_eq!(d.remapped_pixels, 3);
        assert_eq!(
            d.layout.ids(),
            &[id::ROAD, id::ROAD, id::CAR, id::SKY, VOID, id::CAR]
        );
        // A colour next to GTA-5's is no GTA-5 colour.
        let err = decode_color_png(&rgb8(1, 1, &[21, 20, 20]), ColorPolicy::Strict).unwrap_err();
        assert!(
            matches!(
                err,
                LabelError::UnknownColor {
                    nearest: "void",
                    ..
                }
            ),
            "{err}"
        );
    }

    #[test]
    fn label_ids_read_as_colours_point_to_the_label_id_format() {
        let bytes = gray8(4, 1, &[7, 26, 33, 24]);
        let err = decode_png(&bytes, LabelFormat::Color, ColorPolicy::Strict).unwrap_err();
        assert_eq!(
            err,
            LabelError::GrayAsColor {
                value: 7,
                x: 0,
                y: 0,
                count: 4,
                reads_as: Some(LabelFormat::LabelIds),
            }
        );
        let msg = err.to_string();
        assert!(msg.contains("choose the label-ids format"), "{msg}");
        assert!(!msg.contains("--"), "{msg}");
        // The same values saved as gray RGB.
        let rgb: Vec<u8> = [7u8, 26, 33, 24].iter().flat_map(|&v| [v, v, v]).collect();
        let err = decode_color_png(&rgb8(4, 1, &rgb), ColorPolicy::Strict).unwrap_err();
        assert!(
            matches!(
                err,
                LabelError::GrayAsColor {
                    reads_as: Some(LabelFormat::LabelIds),
                    ..
                }
            ),
            "{err}"
        );
    }

    #[test]
    fn train_id_decoder_values() {
        let bytes = gray8(4, 1, &[0, 18, 19, 255]);
        let l = decode_train_id_png(&bytes).unwrap();
        assert_eq!(l.ids(), &[0, 18, VOID, VOID]);
        let err = decode_train_id_png(&gray8(2, 2, &[0, 1, 2, 40])).unwrap_err();
        assert_eq!(
            err,
            LabelError::InvalidTrainId {
                value: 40,
                x: 1,
                y: 1,
                count: 1
            }
        );
        let msg = err.to_string();
        assert!(msg.contains("value 40 at pixel (x=1, y=1)"), "{msg}");
        assert!(msg.contains("choose the label-ids format"), "{msg}");
        assert!(!msg.contains("--"), "{msg}");
    }

    #[test]
    fn train_id_decoder_accepts_gray_rgb_and_low_bit_depths() {
        let bytes = rgb8(2, 1, &[5, 5, 5, 255, 255, 255]);
        assert_eq!(decode_train_id_png(&bytes).unwrap().ids(), &[5, VOID]);
        let err = decode_train_id_png(&rgb8(1, 1, &[1, 2, 3])).unwrap_err();
        assert!(matches!(
            err,
            LabelError::NotGray {
                color: [1, 2, 3],
                ..
            }
        ));
        assert!(
            err.to_string().contains("choose the colour format"),
            "{err}"
        );
        // 4-bit grayscale: values are not rescaled to 0..255.
        let bytes = png_bytes(
            3,
            1,
            png::ColorType::Grayscale,
            png::BitDepth::Four,
            &[0x1d, 0x30],
            None,
        );
        assert_eq!(decode_train_id_png(&bytes).unwrap().ids(), &[1, 13, 3]);
        // ... but they are for RGB.
        assert_eq!(decode_rgb8(&bytes).unwrap().0[..3], [17, 17, 17]);
        // 16-bit grayscale keeps the full value.
        let bytes = png_bytes(
            2,
            1,
            png::ColorType::Grayscale,
            png::BitDepth::Sixteen,
            &[0, 7, 0, 255],
            None,
        );
        assert_eq!(decode_train_id_png(&bytes).unwrap().ids(), &[7, VOID]);
        // Gray + alpha: the gray sample counts.
        let bytes = png_bytes(
            2,
            1,
            png::ColorType::GrayscaleAlpha,
            png::BitDepth::Eight,
            &[3, 255, 255, 0],
            None,
        );
        assert_eq!(decode_train_id_png(&bytes).unwrap().ids(), &[3, VOID]);
    }

    #[test]
    fn label_ids_decoder_maps_through_table() {
        let bytes = gray8(6, 1, &[7, 26, 1, 0, 18, 33]);
        let l = decode_label_ids_png(&bytes).unwrap();
        assert_eq!(l.ids(), &[id::ROAD, id::CAR, VOID, VOID, VOID, id::BICYCLE]);
        let err = decode_label_ids_png(&gray8(3, 1, &[7, 34, 40])).unwrap_err();
        assert_eq!(
            err,
            LabelError::InvalidLabelId {
                value: 34,
                x: 1,
                y: 0,
                count: 2
            }
        );
        let msg = err.to_string();
        assert!(msg.contains("value 34"), "{msg}");
        assert!(msg.contains("choose the train-ids format"), "{msg}");
    }

    #[test]
    fn detect_formats_and_reasons() {
        let d = LabelFormat::detect(&gray8(3, 1, &[0, 19, 255])).unwrap();
        assert_eq!(d.format, LabelFormat::TrainId);
        assert!(d.reason.contains("255"), "{}", d.reason);
        let d = LabelFormat::detect(&gray8(3, 1, &[7, 26, 33])).unwrap();
        assert_eq!(d.format, LabelFormat::LabelIds);
        assert!(d.reason.contains("include 26"), "{}", d.reason);
        assert!(d.to_string().starts_with("Cityscapes label ids ("), "{d}");
        let err = LabelFormat::detect(&gray8(3, 1, &[7, 26, 100])).unwrap_err();
        assert_eq!(
            err,
            LabelError::Undetectable {
                what: "gray value",
                value: 100,
                x: 2,
                y: 0
            }
        );
        // 255 (train ids only) with 26 (label ids only): neither.
        let err = LabelFormat::detect(&gray8(2, 1, &[255, 26])).unwrap_err();
        assert!(
            matches!(err, LabelError::Undetectable { value: 26, .. }),
            "{err}"
        );
        assert_eq!(
            LabelFormat::detect(&rgb8(1, 1, &[0, 0, 0])).unwrap().format,
            LabelFormat::Color
        );
        let (d, decoded) = decode_png_auto(&gray8(2, 1, &[26, 7]), ColorPolicy::Strict).unwrap();
        assert_eq!(d.format, LabelFormat::LabelIds);
        assert_eq!(decoded.layout.ids(), &[id::CAR, id::ROAD]);
    }

    #[test]
    fn train_ids_without_void_are_train_ids_when_label_ids_would_be_mostly_void() {
        // A street in train ids: road 0, sidewalk 1, building 2, sky 10, car 13. As label ids
        // 0, 1, 2 and 10 are unlabeled, ego vehicle, rectification border and rail track: void.
        let bytes = gray_row(&[(10, 30), (2, 20), (0, 30), (1, 10), (13, 10)]);
        let (d, decoded) = decode_png_auto(&bytes, ColorPolicy::Strict).unwrap();
        assert_eq!(d.format, LabelFormat::TrainId);
        assert!(
            d.reason.contains("90 % of the pixels would be void"),
            "{}",
            d.reason
        );
        assert_eq!(decoded.layout.get(0, 0), id::SKY);
    }

    #[test]
    fn the_pages_example_layouts_read_as_train_ids() {
        // The shipped examples are train-id PNGs without void pixels and without the format
        // chunk (written before it existed): the label-id reading would make most pixels void.
        let dir = concat!(env!("CARGO_MANIFEST_DIR"), "/../www/examples");
        let mut seen = 0;
        for entry in std::fs::read_dir(dir).expect("www/examples") {
            let path = entry.expect("entry").path();
            if path.extension().is_some_and(|e| e == "png") {
                let bytes = std::fs::read(&path).expect("example");
                let d = LabelFormat::detect(&bytes).expect("example detects");
                assert_eq!(d.format, LabelFormat::TrainId, "{}: {d}", path.display());
                seen += 1;
            }
        }
        assert!(seen >= 1, "no example layouts in {dir}");
    }

    #[test]
    fn ambiguous_label_ids_crop_is_refused_with_both_readings() {
        // A labelIds crop with road (7), sidewalk (8), building (11) and pole (17) only, as in a
        // crop of frankfurt_000000_000576: every id is <= 19, so it also reads as train ids, in
        // which road would be traffic sign.
        let bytes = gray_row(&[(11, 25), (17, 5), (8, 15), (7, 55)]);
        let err = LabelFormat::detect(&bytes).unwrap_err();
        assert_eq!(
            err,
            LabelError::Ambiguous {
                what: "gray value",
                as_train_ids: "traffic sign 55 %, person 25 %, vegetation 15 %, motorcycle 5 %"
                    .into(),
                as_label_ids: "road 55 %, building 25 %, sidewalk 15 %, pole 5 %".into(),
            }
        );
        let msg = err.to_string();
        assert!(
            msg.contains("Choose the label-ids or train-ids format"),
            "{msg}"
        );
        assert!(!msg.contains("--"), "{msg}");
        assert!(decode_png_auto(&bytes, ColorPolicy::Strict).is_err());
        // Both explicit readings work.
        let as_ids = decode_png(&bytes, LabelFormat::LabelIds, ColorPolicy::Strict).unwrap();
        assert_eq!(as_ids.layout.get(0, 99), id::ROAD);
        let as_train = decode_png(&bytes, LabelFormat::TrainId, ColorPolicy::Strict).unwrap();
        assert_eq!(as_train.layout.get(0, 99), id::TRAFFIC_SIGN);
        // Void labels are marked in the label-id reading.
        let err = LabelFormat::detect(&gray_row(&[(7, 3), (1, 1)])).unwrap_err();
        assert!(err.to_string().contains("ego vehicle (void) 25 %"), "{err}");
    }

    #[test]
    fn gray_palette_indices_are_values() {
        let palette: Vec<[u8; 3]> = (0u8..=255).map(|v| [v, v, v]).collect();
        let bytes = indexed(3, 1, &[26, 7, 0], &palette);
        let (d, decoded) = decode_png_auto(&bytes, ColorPolicy::Strict).unwrap();
        assert_eq!(d.format, LabelFormat::LabelIds);
        assert!(d.reason.contains("gray palette"), "{}", d.reason);
        assert_eq!(decoded.layout.ids(), &[id::CAR, id::ROAD, VOID]);
        // An index beyond the palette is an error, not a panic.
        let bytes = png_bytes(
            2,
            1,
            png::ColorType::Indexed,
            png::BitDepth::Eight,
            &[0, 5],
            Some(&[0, 0, 0, 1, 1, 1]),
        );
        for format in LabelFormat::ALL {
            let err = decode_png(&bytes, format, ColorPolicy::Strict).unwrap_err();
            assert!(
                matches!(
                    err,
                    LabelError::PaletteIndex {
                        index: 5,
                        x: 1,
                        y: 0,
                        len: 2
                    }
                ),
                "{err}"
            );
        }
    }

    #[test]
    fn decode_png_dispatches_on_format() {
        let bytes = gray8(2, 1, &[7, 26]);
        let as_ids = decode_png(&bytes, LabelFormat::LabelIds, ColorPolicy::Strict).unwrap();
        assert_eq!(as_ids.layout.ids(), &[id::ROAD, id::CAR]);
        let as_train = decode_png(&bytes, LabelFormat::TrainId, ColorPolicy::Strict);
        assert!(matches!(
            as_train,
            Err(LabelError::InvalidTrainId { value: 26, .. })
        ));
        // A gray image read as colours, mapped on request: gray levels are no palette colours.
        let as_color = decode_png(&bytes, LabelFormat::Color, ColorPolicy::MapToNearest).unwrap();
        assert_eq!(as_color.remapped_pixels, 2);
    }

    #[test]
    fn label_format_parses_and_prints() {
        for f in LabelFormat::ALL {
            assert_eq!(f.to_string().parse::<LabelFormat>().unwrap(), f);
        }
        assert_eq!(
            "trainIds".parse::<LabelFormat>().unwrap(),
            LabelFormat::TrainId
        );
        assert_eq!("colour".parse::<LabelFormat>().unwrap(), LabelFormat::Color);
        let err = "jpeg".parse::<LabelFormat>().unwrap_err();
        assert!(
            err.to_string()
                .contains("expected color, train-id or label-ids")
        );
    }

    #[test]
    fn other_image_files_are_named() {
        let cases: [(&[u8], &str); 6] = [
            (b"\xff\xd8\xff\xe0\x00\x10JFIF\x00", "a JPEG image"),
            (b"GIF89a\x01\x00\x01\x00", "a GIF image"),
            (b"RIFF\x10\x00\x00\x00WEBPVP8 ", "a WebP image"),
            (b"II*\x00\x08\x00\x00\x00", "a TIFF image"),
            (b"\x00\x00\x00\x1cftypavif\x00\x00", "an AVIF image"),
            (
                b"\x10\x00\x00\x00\x00\x00\x00\x00{\"a\":1}",
                "a safetensors file",
            ),
        ];
        for (bytes, kind) in cases {
            for format in LabelFormat::ALL {
                let err = decode_png(bytes, format, ColorPolicy::Strict).unwrap_err();
                assert_eq!(err, LabelError::NotPng { kind }, "{kind}");
            }
            assert_eq!(decode_rgb8(bytes).unwrap_err(), LabelError::NotPng { kind });
        }
        let msg = LabelFormat::detect(cases[0].0).unwrap_err().to_string();
        assert!(
            msg.starts_with("the file is a JPEG image, not a PNG"),
            "{msg}"
        );
        assert!(msg.contains("lossless"), "{msg}");
    }

    #[test]
    fn huge_headers_are_refused_before_allocating() {
        // A valid header claiming 100000x100000 pixels (and no data).
        let mut bytes = Vec::new();
        {
            let enc = png::Encoder::new(&mut bytes, 100_000, 100_000);
            let writer = enc.write_header().unwrap();
            drop(writer);
        }
        let err = decode_png_auto(&bytes, ColorPolicy::Strict).unwrap_err();
        assert_eq!(
            err,
            LabelError::TooLarge {
                width: 100_000,
                height: 100_000
            }
        );
        let msg = err.to_string();
        assert!(
            msg.contains("100000x100000") && msg.contains("16777216"),
            "{msg}"
        );
        assert!(decode_rgb8(&bytes).is_err());
        // The limit itself is allowed: 4096x4096 passes the size check (and then finds no data).
        let mut bytes = Vec::new();
        drop(
            png::Encoder::new(&mut bytes, 4096, 4096)
                .write_header()
                .unwrap(),
        );
        assert!(matches!(decode_rgb8(&bytes), Err(LabelError::Png(_))));
    }

    #[test]
    fn corrupt_bytes_are_errors_not_panics() {
        let good = Layout::filled(8, 8, id::ROAD).encode_color_png();
        let inputs: Vec<Vec<u8>> = vec![
            vec![],
            b"not a png at all".to_vec(),
            good[..good.len() / 2].to_vec(),
            good[..20].to_vec(),
            {
                let mut b = good.clone();
                let n = b.len();
                b[n - 20] ^= 0xff;
                b
            },
        ];
        for bytes in &inputs {
            for format in LabelFormat::ALL {
                let r = decode_png(bytes, format, ColorPolicy::Strict);
                assert!(matches!(r, Err(LabelError::Png(_))), "{format}: {r:?}");
            }
            assert!(decode_png_auto(bytes, ColorPolicy::MapToNearest).is_err());
            assert!(LabelFormat::detect(bytes).is_err());
        }
        let msg = decode_rgb8(b"garbage").unwrap_err().to_string();
        assert!(msg.starts_with("cannot decode PNG"), "{msg}");
    }

    #[test]
    fn every_truncation_is_an_error() {
        let l = Layout::new(3, 3, vec![0, 1, 2, 3, 4, 5, 6, 7, 19]).unwrap();
        for bytes in [l.encode_color_png(), l.encode_train_id_png()] {
            // Cutting into the image data must fail (a missing IEND alone may be tolerated).
            for n in 0..bytes.len() - 12 {
                assert!(decode_png_auto(&bytes[..n], ColorPolicy::Strict).is_err());
            }
        }
    }
}
