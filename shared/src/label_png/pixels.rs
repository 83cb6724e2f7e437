//! PNG bytes to pixels: recognising other file types, decoding the first frame as stored (size
//! checked before allocating), and reading one value per pixel.

use std::borrow::Cow;
use std::io::Cursor;

use super::{FORMAT_KEYWORD, LabelError, LabelFormat, MAX_PIXELS};

/// Cap on the PNG decoder's own allocations (text chunks, ICC profiles, row buffers).
const DECODER_LIMIT_BYTES: usize = 64 << 20;

const PNG_SIGNATURE: [u8; 8] = [0x89, b'P', b'N', b'G', b'\r', b'\n', 0x1a, b'\n'];

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
pub(super) struct Pixels {
    pub(super) height: usize,
    pub(super) width: usize,
    pub(super) kind: PixelKind,
    /// The label format named in a [`FORMAT_KEYWORD`] text chunk, if any.
    pub(super) declared: Option<LabelFormat>,
}

pub(super) enum PixelKind {
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
    pub(super) fn to_rgb8(&self) -> Vec<u8> {
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
pub(super) fn read_pixels(bytes: &[u8]) -> Result<Pixels, LabelError> {
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
pub(super) struct Values<'a> {
    pub(super) height: usize,
    pub(super) width: usize,
    /// `"gray value"` or `"palette index"`.
    pub(super) what: &'static str,
    pub(super) values: Cow<'a, [u16]>,
}

impl Values<'_> {
    pub(super) fn at(&self, index: usize) -> (usize, usize) {
        (index % self.width, index / self.width)
    }
}

/// Reads one value per pixel: gray level (any bit depth, unscaled), palette index, or the common
/// value of a gray RGB pixel; a non-gray RGB pixel is [`LabelError::NotGray`] for `format`.
pub(super) fn single_values(
    pixels: &Pixels,
    format: LabelFormat,
) -> Result<Values<'_>, LabelError> {
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
