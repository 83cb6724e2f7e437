//! Writing layouts as label PNGs (colour or train ids), marked with their format.

use super::{FORMAT_KEYWORD, LabelFormat, TRAIN_ID_IGNORE};
use crate::classes::VOID;
use crate::layout::Layout;

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

/// A PNG of any colour type and bit depth, with an optional palette and no format text chunk:
/// the files a layout never writes (16-bit, palettes, grey with alpha) for tests, fuzz seeds
/// and tools. `data` is the raw image data, rows packed as the PNG specification orders them.
pub fn encode_raw_png(
    width: u32,
    height: u32,
    color: png::ColorType,
    depth: png::BitDepth,
    data: &[u8],
    palette: Option<&[u8]>,
) -> Result<Vec<u8>, png::EncodingError> {
    let mut out = Vec::new();
    let mut encoder = png::Encoder::new(&mut out, width, height);
    encoder.set_color(color);
    encoder.set_depth(depth);
    if let Some(p) = palette {
        encoder.set_palette(p.to_vec());
    }
    let mut writer = encoder.write_header()?;
    writer.write_image_data(data)?;
    writer.finish()?;
    Ok(out)
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
