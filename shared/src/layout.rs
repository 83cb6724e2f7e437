//! Semantic layouts: an H×W map of class ids (see [`crate::classes`]), and their PNG forms.
//!
//! Three label formats are read, all from PNG bytes (no file I/O here; callers prefix errors with
//! the file name, so every message reads well after `"labels/foo.png: "`):
//!
//! - [`LabelFormat::Color`]: colours of the Cityscapes palette (GTA-5 labels, `*_gtFine_color.png`).
//!   Non-training colours (parking, guard rail, …) give `void`; colours in no Cityscapes label are
//!   an error under [`ColorPolicy::Strict`] and are mapped to the nearest class colour under
//!   [`ColorPolicy::MapToNearest`].
//! - [`LabelFormat::TrainId`]: one value per pixel, `0..=18` the training classes and `255` (or
//!   `19`) void, as in Cityscapes' `*_trainIds.png` and the images our scene generator writes.
//! - [`LabelFormat::LabelIds`]: Cityscapes' `*_labelIds.png`, values `0..=33`, mapped through the
//!   full label table.
//!
//! Every decoder accepts RGB, RGBA, grayscale (with or without alpha, any bit depth) and
//! palette-indexed PNGs. For the single-value formats a palette-indexed PNG holds the value as the
//! palette *index* (the PIL `"P"` mode convention), and an RGB image must be gray (`r == g == b`).
//! Decoders never panic on their input.

use std::fmt;
use std::io::Cursor;
use std::str::FromStr;

use crate::classes::{self, CLASSES, NUM_CLASSES, VOID};

/// Largest width or height accepted (the PNG limit, `2^31 - 1`).
const MAX_SIDE: usize = i32::MAX as usize;

/// Largest decoded image buffer accepted, in bytes (guards against absurd header dimensions).
const MAX_DECODED_BYTES: usize = 1 << 30;

/// The value written for `void` pixels in train-id PNGs (Cityscapes' ignore label).
pub const TRAIN_ID_IGNORE: u8 = 255;

/// Why a layout could not be built or decoded.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum LayoutError {
    /// The bytes are not a PNG the decoder can read.
    #[error("cannot decode PNG: {0} (is the file corrupt or truncated?)")]
    Png(String),
    /// A zero or too large width/height.
    #[error(
        "invalid layout size {width}x{height} (width x height): both sides must be between 1 and {MAX_SIDE}"
    )]
    BadSize {
        /// Requested height.
        height: usize,
        /// Requested width.
        width: usize,
    },
    /// The id buffer does not hold `height * width` ids.
    #[error("a {width}x{height} layout needs {expected} class ids, got {actual}")]
    WrongLength {
        /// Layout height.
        height: usize,
        /// Layout width.
        width: usize,
        /// `height * width`.
        expected: usize,
        /// Length of the buffer given.
        actual: usize,
    },
    /// A class id outside `0..NUM_CLASSES`.
    #[error(
        "class id {id} at index {index} is out of range: ids are 0..={max} (19 is void)",
        max = NUM_CLASSES - 1
    )]
    InvalidClass {
        /// The offending id.
        id: u8,
        /// Its index in the id buffer (`y * width + x`).
        index: usize,
    },
    /// A colour label uses a colour that no Cityscapes label has.
    #[error(
        "unknown label colour {} {} at pixel (x={x}, y={y}), nearest class `{nearest}`; \
         {count} pixel(s) have colours outside the Cityscapes palette. \
         Pass --map-unknown-colors to map such colours to the nearest palette entry",
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
        /// Number of pixels whose colour is in no Cityscapes label.
        count: usize,
    },
    /// A train-id label holds a value that is not a train id.
    #[error(
        "value {value} at pixel (x={x}, y={y}) is not a Cityscapes train id \
         (0-18 are classes, 19 and 255 are void); {count} pixel(s) have such values. \
         If this is a labelIds image pass --label-format label-ids"
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
        "value {value} at pixel (x={x}, y={y}) is not a Cityscapes labelId (0-33); \
         {count} pixel(s) have such values. \
         If this is a train-id image (255 = void) pass --label-format train-id"
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
        "pixel (x={x}, y={y}) has colour {} {}, but {format} labels hold one gray value per pixel. \
         If this is a colour label pass --label-format color",
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
    /// A grayscale label whose values fit neither train ids nor labelIds.
    #[error(
        "cannot tell the label format: gray value {value} at pixel (x={x}, y={y}) is neither a \
         train id (0-18, void 19 or 255) nor a Cityscapes labelId (0-33), or the image mixes both. \
         Labels must be train-id, labelIds or Cityscapes-palette colour PNGs"
    )]
    Undetectable {
        /// The first value above 33.
        value: u16,
        /// Its column.
        x: usize,
        /// Its row.
        y: usize,
    },
    /// An unknown `--label-format` name.
    #[error("unknown label format `{0}`: expected color, train-id or label-ids")]
    UnknownFormat(String),
}

fn hex(c: &[u8; 3]) -> String {
    format!("#{:02x}{:02x}{:02x}", c[0], c[1], c[2])
}

fn rgb_tuple(c: &[u8; 3]) -> String {
    format!("({}, {}, {})", c[0], c[1], c[2])
}

/// Checks a layout size and returns the number of pixels.
fn pixel_count(height: usize, width: usize) -> Result<usize, LayoutError> {
    let bad = || LayoutError::BadSize { height, width };
    if height == 0 || width == 0 || height > MAX_SIDE || width > MAX_SIDE {
        return Err(bad());
    }
    height.checked_mul(width).ok_or_else(bad)
}

/// An H×W map of class ids, each `< NUM_CLASSES`, stored row-major.
///
/// Both sides are at least 1; the invariants are checked on construction so every method can rely
/// on them.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct Layout {
    height: usize,
    width: usize,
    ids: Vec<u8>,
}

impl Layout {
    /// A layout from row-major class ids; checks the size, the length and every id.
    pub fn new(height: usize, width: usize, ids: Vec<u8>) -> Result<Self, LayoutError> {
        let expected = pixel_count(height, width)?;
        if ids.len() != expected {
            return Err(LayoutError::WrongLength {
                height,
                width,
                expected,
                actual: ids.len(),
            });
        }
        if let Some((index, &id)) = ids
            .iter()
            .enumerate()
            .find(|&(_, &id)| usize::from(id) >= NUM_CLASSES)
        {
            return Err(LayoutError::InvalidClass { id, index });
        }
        Ok(Self { height, width, ids })
    }

    /// A layout where every pixel has class `id`.
    ///
    /// # Panics
    /// If a side is zero or above `2^31 - 1`, or `id >= NUM_CLASSES` (programming errors).
    pub fn filled(height: usize, width: usize, id: u8) -> Self {
        assert!(
            usize::from(id) < NUM_CLASSES,
            "Layout::filled: class id {id} out of range"
        );
        match pixel_count(height, width) {
            Ok(n) => Self {
                height,
                width,
                ids: vec![id; n],
            },
            Err(e) => panic!("Layout::filled: {e}"),
        }
    }

    /// Number of rows.
    pub fn height(&self) -> usize {
        self.height
    }

    /// Number of columns.
    pub fn width(&self) -> usize {
        self.width
    }

    /// The class ids, row-major (`ids()[y * width + x]`).
    pub fn ids(&self) -> &[u8] {
        &self.ids
    }

    /// The class ids, row-major, by value.
    pub fn into_ids(self) -> Vec<u8> {
        self.ids
    }

    /// Class id at row `y`, column `x`.
    ///
    /// # Panics
    /// If `(y, x)` is outside the layout.
    pub fn get(&self, y: usize, x: usize) -> u8 {
        assert!(
            y < self.height && x < self.width,
            "Layout::get({y}, {x}) outside a {}x{} layout",
            self.width,
            self.height
        );
        self.ids[y * self.width + x]
    }

    /// Sets the class id at row `y`, column `x`.
    ///
    /// # Panics
    /// If `(y, x)` is outside the layout or `id >= NUM_CLASSES`.
    pub fn set(&mut self, y: usize, x: usize, id: u8) {
        assert!(
            y < self.height && x < self.width,
            "Layout::set({y}, {x}) outside a {}x{} layout",
            self.width,
            self.height
        );
        assert!(
            usize::from(id) < NUM_CLASSES,
            "Layout::set: class id {id} out of range"
        );
        self.ids[y * self.width + x] = id;
    }

    /// The layout resampled to `height`×`width` by nearest neighbour at pixel centres: output
    /// pixel `(i, j)` takes the source pixel containing `((i + 0.5) H / height, (j + 0.5) W / width)`.
    ///
    /// # Panics
    /// If a side is zero or above `2^31 - 1`.
    pub fn resize_nearest(&self, height: usize, width: usize) -> Layout {
        if let Err(e) = pixel_count(height, width) {
            panic!("Layout::resize_nearest: {e}");
        }
        let src_index = |o: usize, n_out: usize, n_in: usize| -> usize {
            // floor((o + 0.5) * n_in / n_out) in exact integer arithmetic.
            let v = ((2 * o as u128 + 1) * n_in as u128) / (2 * n_out as u128);
            (v as usize).min(n_in - 1)
        };
        let cols: Vec<usize> = (0..width)
            .map(|j| src_index(j, width, self.width))
            .collect();
        let mut ids = Vec::with_capacity(height * width);
        for i in 0..height {
            let row = &self.ids[src_index(i, height, self.height) * self.width..][..self.width];
            ids.extend(cols.iter().map(|&c| row[c]));
        }
        Layout { height, width, ids }
    }

    /// Number of pixels of each class, indexed by class id.
    pub fn class_areas(&self) -> [usize; NUM_CLASSES] {
        let mut areas = [0usize; NUM_CLASSES];
        for &id in &self.ids {
            areas[usize::from(id)] += 1;
        }
        areas
    }

    /// The layout in palette colours: `height * width * 3` bytes, RGB, row-major.
    pub fn to_color_rgb(&self) -> Vec<u8> {
        self.ids
            .iter()
            .flat_map(|&id| CLASSES[usize::from(id)].color)
            .collect()
    }

    /// The layout as an 8-bit RGB PNG in the Cityscapes palette (void is black).
    pub fn encode_color_png(&self) -> Vec<u8> {
        encode_png(
            self.height,
            self.width,
            png::ColorType::Rgb,
            &self.to_color_rgb(),
        )
    }

    /// The layout as an 8-bit grayscale PNG of train ids, void written as 255 as Cityscapes does.
    pub fn encode_train_id_png(&self) -> Vec<u8> {
        let values: Vec<u8> = self
            .ids
            .iter()
            .map(|&id| if id == VOID { TRAIN_ID_IGNORE } else { id })
            .collect();
        encode_png(self.height, self.width, png::ColorType::Grayscale, &values)
    }
}

/// Encodes an 8-bit PNG. Sizes were validated when the layout was built and writing into a
/// `Vec` cannot fail, so an error here is a bug.
fn encode_png(height: usize, width: usize, color: png::ColorType, data: &[u8]) -> Vec<u8> {
    let mut out = Vec::new();
    let (w, h) = (
        u32::try_from(width).expect("layout width fits PNG (checked on construction)"),
        u32::try_from(height).expect("layout height fits PNG (checked on construction)"),
    );
    let mut encoder = png::Encoder::new(&mut out, w, h);
    encoder.set_color(color);
    encoder.set_depth(png::BitDepth::Eight);
    encoder
        .write_header()
        .and_then(|mut writer| {
            writer.write_image_data(data)?;
            writer.finish()
        })
        .expect("encoding a valid layout into memory cannot fail");
    out
}

/// How colour labels treat colours that no Cityscapes label uses.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum ColorPolicy {
    /// Refuse them with [`LayoutError::UnknownColor`].
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
    /// Pixels whose colour was in no Cityscapes label and was mapped to the nearest class
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

    /// Guesses the format of a label PNG: RGB, RGBA and palette-indexed images are
    /// [`Color`](Self::Color); grayscale images are [`TrainId`](Self::TrainId) when every value is
    /// `<= 19` or `255`, else [`LabelIds`](Self::LabelIds) when every value is `<= 33`, else an
    /// error. (A labelIds image that only uses ids `<= 19` reads as train ids; pass the format
    /// explicitly for such files.) Only the header of a colour image is read, so corrupt pixel
    /// data is reported when decoding; use [`decode_png_auto`] to detect and decode in one pass.
    pub fn detect(bytes: &[u8]) -> Result<LabelFormat, LayoutError> {
        match read_color_type(bytes)? {
            png::ColorType::Rgb | png::ColorType::Rgba | png::ColorType::Indexed => Ok(Self::Color),
            png::ColorType::Grayscale | png::ColorType::GrayscaleAlpha => {
                detect_values(&decode_values(bytes, None)?)
            }
        }
    }
}

impl fmt::Display for LabelFormat {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

impl FromStr for LabelFormat {
    type Err = LayoutError;

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
            _ => Err(LayoutError::UnknownFormat(s.to_owned())),
        }
    }
}

/// Decodes a label PNG in the given format.
pub fn decode_png(
    bytes: &[u8],
    format: LabelFormat,
    policy: ColorPolicy,
) -> Result<Decoded, LayoutError> {
    match format {
        LabelFormat::Color => decode_color_png(bytes, policy),
        LabelFormat::TrainId => Ok(unmapped(decode_train_id_png(bytes)?)),
        LabelFormat::LabelIds => Ok(unmapped(decode_label_ids_png(bytes)?)),
    }
}

/// Decodes a label PNG whose format is detected as by [`LabelFormat::detect`] (decoding the
/// pixels only once); returns the format found with the layout.
pub fn decode_png_auto(
    bytes: &[u8],
    policy: ColorPolicy,
) -> Result<(LabelFormat, Decoded), LayoutError> {
    match read_color_type(bytes)? {
        png::ColorType::Rgb | png::ColorType::Rgba | png::ColorType::Indexed => {
            Ok((LabelFormat::Color, decode_color_png(bytes, policy)?))
        }
        png::ColorType::Grayscale | png::ColorType::GrayscaleAlpha => {
            let values = decode_values(bytes, None)?;
            let format = detect_values(&values)?;
            let layout = match format {
                LabelFormat::LabelIds => label_ids_to_layout(&values)?,
                _ => train_ids_to_layout(&values)?,
            };
            Ok((format, unmapped(layout)))
        }
    }
}

fn unmapped(layout: Layout) -> Decoded {
    Decoded {
        layout,
        remapped_pixels: 0,
    }
}

/// Decodes a colour label PNG (Cityscapes palette, any PNG colour type).
///
/// Training-class colours give their class, other Cityscapes colours give void; colours in no
/// Cityscapes label follow `policy`.
pub fn decode_color_png(bytes: &[u8], policy: ColorPolicy) -> Result<Decoded, LayoutError> {
    let (rgb, height, width) = decode_rgb8(bytes)?;
    let mut ids = Vec::with_capacity(height * width);
    let mut unknown = 0usize;
    let mut first_unknown: Option<([u8; 3], usize)> = None;
    // Labels come in runs of one colour: remember the last lookup.
    let mut last: Option<([u8; 3], Option<u8>)> = None;
    for (index, px) in rgb.chunks_exact(3).enumerate() {
        let color = [px[0], px[1], px[2]];
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
        let nearest = CLASSES[usize::from(classes::nearest_class(color))].name;
        return Err(LayoutError::UnknownColor {
            color,
            x: index % width,
            y: index / width,
            nearest,
            count: unknown,
        });
    }
    Ok(Decoded {
        layout: Layout::new(height, width, ids)?,
        remapped_pixels: unknown,
    })
}

/// Decodes a train-id PNG: values `0..=18` are classes, `19` and `255` are void; any other value
/// is an error naming it and its first pixel.
pub fn decode_train_id_png(bytes: &[u8]) -> Result<Layout, LayoutError> {
    train_ids_to_layout(&decode_values(bytes, Some(LabelFormat::TrainId))?)
}

/// Decodes a Cityscapes `*_labelIds.png`: values `0..=33` go through the full label table
/// (non-training labels give void); values above 33 are an error naming the value and a pixel.
pub fn decode_label_ids_png(bytes: &[u8]) -> Result<Layout, LayoutError> {
    label_ids_to_layout(&decode_values(bytes, Some(LabelFormat::LabelIds))?)
}

/// Decodes any PNG to 8-bit RGB: returns `(rgb, height, width)` with `height * width * 3` bytes.
///
/// Grayscale is replicated to three channels, palettes are expanded, alpha is dropped and 16-bit
/// samples keep their high byte.
pub fn decode_rgb8(bytes: &[u8]) -> Result<(Vec<u8>, usize, usize), LayoutError> {
    let (info, buf) = decode_raw(
        bytes,
        png::Transformations::EXPAND | png::Transformations::STRIP_16,
    )?;
    let (height, width) = (info.height as usize, info.width as usize);
    let samples = match info.color_type {
        png::ColorType::Grayscale => 1,
        png::ColorType::GrayscaleAlpha => 2,
        png::ColorType::Rgb => 3,
        png::ColorType::Rgba => 4,
        png::ColorType::Indexed => {
            return Err(LayoutError::Png(
                "palette was not expanded (missing PLTE chunk?)".into(),
            ));
        }
    };
    if info.bit_depth != png::BitDepth::Eight {
        return Err(LayoutError::Png(format!(
            "unexpected bit depth {:?} after expansion",
            info.bit_depth
        )));
    }
    let mut rgb = Vec::with_capacity(height * width * 3);
    for row in buf.chunks_exact(info.line_size).take(height) {
        for px in row.chunks_exact(samples).take(width) {
            if samples < 3 {
                rgb.extend_from_slice(&[px[0], px[0], px[0]]);
            } else {
                rgb.extend_from_slice(&px[..3]);
            }
        }
    }
    if rgb.len() != height * width * 3 {
        return Err(LayoutError::Png(
            "image data shorter than its header says".into(),
        ));
    }
    Ok((rgb, height, width))
}

/// Reads the PNG header and returns the colour type as stored in the file.
fn read_color_type(bytes: &[u8]) -> Result<png::ColorType, LayoutError> {
    let mut decoder = png::Decoder::new(Cursor::new(bytes));
    let info = decoder.read_header_info().map_err(png_error)?;
    Ok(info.color_type)
}

fn png_error(e: png::DecodingError) -> LayoutError {
    LayoutError::Png(e.to_string())
}

/// Decodes the first frame with the given transformations, guarding the buffer size.
fn decode_raw(
    bytes: &[u8],
    transformations: png::Transformations,
) -> Result<(png::OutputInfo, Vec<u8>), LayoutError> {
    let mut decoder = png::Decoder::new(Cursor::new(bytes));
    decoder.set_transformations(transformations);
    let mut reader = decoder.read_info().map_err(png_error)?;
    let size = reader.output_buffer_size();
    if size > MAX_DECODED_BYTES {
        let info = reader.info();
        return Err(LayoutError::Png(format!(
            "image of {}x{} pixels is too large to decode",
            info.width, info.height
        )));
    }
    let mut buf = vec![0u8; size];
    let info = reader.next_frame(&mut buf).map_err(png_error)?;
    let used = info.buffer_size();
    if info.line_size == 0 || used > buf.len() {
        return Err(LayoutError::Png("inconsistent image dimensions".into()));
    }
    buf.truncate(used);
    Ok((info, buf))
}

/// One value per pixel, as read from a single-channel (or gray RGB) PNG.
struct Values {
    height: usize,
    width: usize,
    values: Vec<u16>,
}

/// Reads one value per pixel: gray level (any bit depth, unscaled), palette index, or the common
/// value of a gray RGB pixel. `format` names the expected format in [`LayoutError::NotGray`]
/// (`None`: called by detection, which never sees RGB images).
fn decode_values(bytes: &[u8], format: Option<LabelFormat>) -> Result<Values, LayoutError> {
    let color_type = read_color_type(bytes)?;
    if matches!(color_type, png::ColorType::Rgb | png::ColorType::Rgba) {
        let (rgb, height, width) = decode_rgb8(bytes)?;
        let mut values = Vec::with_capacity(height * width);
        for (index, px) in rgb.chunks_exact(3).enumerate() {
            if px[0] != px[1] || px[1] != px[2] {
                return Err(LayoutError::NotGray {
                    color: [px[0], px[1], px[2]],
                    x: index % width,
                    y: index / width,
                    format: format.unwrap_or(LabelFormat::TrainId),
                });
            }
            values.push(u16::from(px[0]));
        }
        return Ok(Values {
            height,
            width,
            values,
        });
    }
    // Raw samples: gray levels are not rescaled, palette indices are not expanded.
    let (info, buf) = decode_raw(bytes, png::Transformations::IDENTITY)?;
    let (height, width) = (info.height as usize, info.width as usize);
    let samples = match info.color_type {
        png::ColorType::GrayscaleAlpha => 2,
        _ => 1,
    };
    let bits = info.bit_depth as usize;
    let mut values = Vec::with_capacity(height * width);
    for row in buf.chunks_exact(info.line_size).take(height) {
        for x in 0..width {
            let value = match bits {
                16 => {
                    let at = x * samples * 2;
                    match (row.get(at), row.get(at + 1)) {
                        (Some(&hi), Some(&lo)) => u16::from_be_bytes([hi, lo]),
                        _ => break,
                    }
                }
                8 => match row.get(x * samples) {
                    Some(&v) => u16::from(v),
                    None => break,
                },
                1 | 2 | 4 => {
                    let bit = x * bits;
                    let Some(&byte) = row.get(bit / 8) else {
                        break;
                    };
                    let shift = 8 - bits - bit % 8;
                    u16::from((byte >> shift) & ((1u8 << bits) - 1))
                }
                _ => return Err(LayoutError::Png(format!("unsupported bit depth {bits}"))),
            };
            values.push(value);
        }
    }
    if values.len() != height * width {
        return Err(LayoutError::Png(
            "image data shorter than its header says".into(),
        ));
    }
    Ok(Values {
        height,
        width,
        values,
    })
}

/// Train-id format when all values are `<= 19` or `255`, labelIds when all are `<= 33`.
fn detect_values(v: &Values) -> Result<LabelFormat, LayoutError> {
    let train_ok = |&x: &u16| x <= u16::from(VOID) || x == u16::from(TRAIN_ID_IGNORE);
    if v.values.iter().all(train_ok) {
        return Ok(LabelFormat::TrainId);
    }
    match v
        .values
        .iter()
        .position(|&x| x > u16::from(classes::MAX_LABEL_ID))
    {
        None => Ok(LabelFormat::LabelIds),
        Some(index) => Err(LayoutError::Undetectable {
            value: v.values[index],
            x: index % v.width,
            y: index / v.width,
        }),
    }
}

/// Maps values through `map`; on failure reports the first bad value, its pixel and the count.
fn map_values(
    v: &Values,
    map: impl Fn(u16) -> Option<u8>,
    error: impl FnOnce(u16, usize, usize, usize) -> LayoutError,
) -> Result<Layout, LayoutError> {
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
        return Err(error(value, index % v.width, index / v.width, count));
    }
    Layout::new(v.height, v.width, ids)
}

fn train_ids_to_layout(v: &Values) -> Result<Layout, LayoutError> {
    map_values(
        v,
        |value| match u8::try_from(value) {
            Ok(TRAIN_ID_IGNORE) => Some(VOID),
            Ok(id) if id <= VOID => Some(id),
            _ => None,
        },
        |value, x, y, count| LayoutError::InvalidTrainId { value, x, y, count },
    )
}

fn label_ids_to_layout(v: &Values) -> Result<Layout, LayoutError> {
    map_values(
        v,
        |value| {
            u8::try_from(value)
                .ok()
                .and_then(classes::label_id_to_train_id)
        },
        |value, x, y, count| LayoutError::InvalidLabelId { value, x, y, count },
    )
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::classes::id;

    /// Encodes a PNG of any colour type and depth for the tests.
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

    fn color_of(id: u8) -> [u8; 3] {
        CLASSES[usize::from(id)].color
    }

    #[test]
    fn new_checks_length_and_ids() {
        assert!(Layout::new(2, 2, vec![0, 1, 2, 19]).is_ok());
        assert_eq!(
            Layout::new(2, 2, vec![0; 3]),
            Err(LayoutError::WrongLength {
                height: 2,
                width: 2,
                expected: 4,
                actual: 3
            })
        );
        assert_eq!(
            Layout::new(1, 2, vec![0, 20]),
            Err(LayoutError::InvalidClass { id: 20, index: 1 })
        );
        assert!(matches!(
            Layout::new(0, 3, vec![]),
            Err(LayoutError::BadSize { .. })
        ));
    }

    #[test]
    fn get_set_and_areas() {
        let mut l = Layout::filled(2, 3, id::SKY);
        l.set(1, 2, id::CAR);
        assert_eq!(l.get(1, 2), id::CAR);
        assert_eq!(l.get(0, 0), id::SKY);
        let areas = l.class_areas();
        assert_eq!(areas[usize::from(id::SKY)], 5);
        assert_eq!(areas[usize::from(id::CAR)], 1);
        assert_eq!(areas.iter().sum::<usize>(), 6);
        assert_eq!(&l.to_color_rgb()[15..18], &color_of(id::CAR));
    }

    #[test]
    fn resize_nearest_known_pattern() {
        // 2x2 checker -> 4x4: every source pixel becomes a 2x2 block.
        let l = Layout::new(2, 2, vec![0, 1, 2, 3]).unwrap();
        let up = l.resize_nearest(4, 4);
        assert_eq!(up.ids(), &[0, 0, 1, 1, 0, 0, 1, 1, 2, 2, 3, 3, 2, 2, 3, 3]);
        // 4x4 -> 2x2 samples at centres 1 and 3 (pixel-centre sampling, not the corners).
        let ids: Vec<u8> = (0..16).map(|i| i % 20).collect();
        let l = Layout::new(4, 4, ids).unwrap();
        assert_eq!(l.resize_nearest(2, 2).ids(), &[5, 7, 13, 15]);
        // 3 -> 2 columns: centres 0.75 and 2.25.
        let l = Layout::new(1, 3, vec![4, 5, 6]).unwrap();
        assert_eq!(l.resize_nearest(1, 2).ids(), &[4, 6]);
        // Same size is the identity.
        assert_eq!(l.resize_nearest(1, 3), l);
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
        assert_eq!(LabelFormat::detect(&bytes).unwrap(), LabelFormat::TrainId);
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
        assert_eq!(LabelFormat::detect(&bytes).unwrap(), LabelFormat::Color);
    }

    #[test]
    fn color_decoder_reads_palette_png() {
        // GTA-5 labels are palette-indexed PNGs in the Cityscapes palette.
        let palette: Vec<u8> = [
            color_of(id::CAR),
            color_of(id::ROAD),
            color_of(id::VEGETATION),
        ]
        .concat();
        let bytes = png_bytes(
            3,
            1,
            png::ColorType::Indexed,
            png::BitDepth::Eight,
            &[2, 0, 1],
            Some(&palette),
        );
        let d = decode_color_png(&bytes, ColorPolicy::Strict).unwrap();
        assert_eq!(d.layout.ids(), &[id::VEGETATION, id::CAR, id::ROAD]);
        assert_eq!(LabelFormat::detect(&bytes).unwrap(), LabelFormat::Color);
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
            LayoutError::UnknownColor {
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
            "--map-unknown-colors",
        ] {
            assert!(msg.contains(part), "{part:?} missing from: {msg}");
        }

        let d = decode_color_png(&bytes, ColorPolicy::MapToNearest).unwrap();
        assert_eq!(d.remapped_pixels, 3);
        assert_eq!(
            d.layout.ids(),
            &[id::ROAD, id::ROAD, id::CAR, id::SKY, VOID, id::CAR]
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
            LayoutError::InvalidTrainId {
                value: 40,
                x: 1,
                y: 1,
                count: 1
            }
        );
        assert!(err.to_string().contains("value 40 at pixel (x=1, y=1)"));
        assert!(err.to_string().contains("--label-format label-ids"));
    }

    #[test]
    fn train_id_decoder_accepts_gray_rgb_and_low_bit_depths() {
        let bytes = rgb8(2, 1, &[5, 5, 5, 255, 255, 255]);
        assert_eq!(decode_train_id_png(&bytes).unwrap().ids(), &[5, VOID]);
        let err = decode_train_id_png(&rgb8(1, 1, &[1, 2, 3])).unwrap_err();
        assert!(matches!(
            err,
            LayoutError::NotGray {
                color: [1, 2, 3],
                ..
            }
        ));
        assert!(err.to_string().contains("--label-format color"));
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
            LayoutError::InvalidLabelId {
                value: 34,
                x: 1,
                y: 0,
                count: 2
            }
        );
        assert!(err.to_string().contains("value 34"));
    }

    #[test]
    fn detect_formats() {
        assert_eq!(
            LabelFormat::detect(&gray8(3, 1, &[0, 19, 255])).unwrap(),
            LabelFormat::TrainId
        );
        assert_eq!(
            LabelFormat::detect(&gray8(3, 1, &[7, 26, 33])).unwrap(),
            LabelFormat::LabelIds
        );
        let err = LabelFormat::detect(&gray8(3, 1, &[7, 26, 100])).unwrap_err();
        assert_eq!(
            err,
            LayoutError::Undetectable {
                value: 100,
                x: 2,
                y: 0
            }
        );
        assert_eq!(
            LabelFormat::detect(&rgb8(1, 1, &[0, 0, 0])).unwrap(),
            LabelFormat::Color
        );
        let (format, d) = decode_png_auto(&gray8(2, 1, &[26, 7]), ColorPolicy::Strict).unwrap();
        assert_eq!(format, LabelFormat::LabelIds);
        assert_eq!(d.layout.ids(), &[id::CAR, id::ROAD]);
    }

    #[test]
    fn decode_png_dispatches_on_format() {
        let bytes = gray8(2, 1, &[7, 26]);
        let as_ids = decode_png(&bytes, LabelFormat::LabelIds, ColorPolicy::Strict).unwrap();
        assert_eq!(as_ids.layout.ids(), &[id::ROAD, id::CAR]);
        let as_train = decode_png(&bytes, LabelFormat::TrainId, ColorPolicy::Strict);
        assert!(matches!(
            as_train,
            Err(LayoutError::InvalidTrainId { value: 26, .. })
        ));
        // A gray image read as colours: gray levels that are not palette colours.
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
                assert!(matches!(r, Err(LayoutError::Png(_))), "{format}: {r:?}");
            }
            assert!(decode_png_auto(bytes, ColorPolicy::MapToNearest).is_err());
        }
        // Detection reads only the header of colour images; a broken header is an error.
        for bytes in [&inputs[0], &inputs[1], &inputs[3]] {
            assert!(matches!(
                LabelFormat::detect(bytes),
                Err(LayoutError::Png(_))
            ));
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
