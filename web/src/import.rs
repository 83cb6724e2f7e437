//! Uploaded layout PNGs: Cityscapes-palette colours, train ids or labelIds (detected), resized
//! to the editor's size with a notice, and unknown colours refused with a message that names
//! the colour. Messages are written for the page (no command-line flags). The size in the
//! PNG's header is checked against [`crate::limits`] before the image is decoded.

use cimle::label_png::{ColorPolicy, LabelError, LabelFormat, decode_png_auto};
use wasm_bindgen::prelude::*;

use crate::limits::check_size;

/// A decoded upload.
#[wasm_bindgen]
pub struct Imported {
    ids: Vec<u8>,
    notice: String,
}

#[wasm_bindgen]
impl Imported {
    /// Class ids at the requested size.
    #[wasm_bindgen(getter)]
    pub fn ids(&self) -> Vec<u8> {
        self.ids.clone()
    }

    /// What happened ("read as Cityscapes palette colours; resized from 1024x2048 to 256x512
    /// (height x width)").
    #[wasm_bindgen(getter)]
    pub fn notice(&self) -> String {
        self.notice.clone()
    }
}

/// Decodes a layout PNG named `name` and resizes it to `height x width`.
#[wasm_bindgen(js_name = importLayout)]
pub fn import_layout(
    name: &str,
    bytes: &[u8],
    height: usize,
    width: usize,
) -> Result<Imported, JsValue> {
    import_layout_text(name, bytes, height, width).map_err(|e| JsValue::from_str(&e))
}

/// [`import_layout`] with a text error.
pub fn import_layout_text(
    name: &str,
    bytes: &[u8],
    height: usize,
    width: usize,
) -> Result<Imported, String> {
    if let Some((png_height, png_width)) = png_size(bytes) {
        check_size(&format!("{name}: the image"), png_height, png_width)?;
    }
    let (detection, decoded) = decode_png_auto(bytes, ColorPolicy::Strict)
        .map_err(|e| format!("{name}: {}", page_message(&e)))?;
    let layout = decoded.layout;
    let kind = match detection.format {
        LabelFormat::Color => "Cityscapes palette colours",
        LabelFormat::TrainId => "train ids",
        LabelFormat::LabelIds => "Cityscapes labelIds",
    };
    let mut notice = format!("{name}: read as {kind}");
    let resized = if (layout.height(), layout.width()) != (height, width) {
        notice += &format!(
            "; resized from {}x{} to {height}x{width} (height x width, nearest neighbour)",
            layout.height(),
            layout.width()
        );
        layout.resize_nearest(height, width)
    } else {
        layout
    };
    Ok(Imported {
        ids: resized.into_ids(),
        notice,
    })
}

/// The `(height, width)` in a PNG's header, or `None` when the bytes do not start like a PNG
/// (the decoder then says what is wrong).
fn png_size(bytes: &[u8]) -> Option<(usize, usize)> {
    const SIGNATURE: &[u8] = b"\x89PNG\r\n\x1a\n";
    if bytes.len() < 24 || !bytes.starts_with(SIGNATURE) || &bytes[12..16] != b"IHDR" {
        return None;
    }
    let be =
        |at: usize| u32::from_be_bytes([bytes[at], bytes[at + 1], bytes[at + 2], bytes[at + 3]]);
    Some((be(20) as usize, be(16) as usize))
}

fn hex(c: [u8; 3]) -> String {
    format!("#{:02x}{:02x}{:02x}", c[0], c[1], c[2])
}

/// The decoder's errors, reworded where they name command-line flags.
fn page_message(e: &LabelError) -> String {
    match e {
        LabelError::UnknownColor {
            color,
            x,
            y,
            nearest,
            count,
        } => format!(
            "colour {} (rgb {}, {}, {}) at pixel ({x}, {y}) is not a class colour \
             ({count} pixel(s) have unknown colours; the nearest class is `{nearest}`). \
             Paint layouts with the palette colours listed beside the canvas",
            hex(*color),
            color[0],
            color[1],
            color[2]
        ),
        LabelError::InvalidTrainId { value, x, y, .. }
        | LabelError::InvalidLabelId { value, x, y, .. }
        | LabelError::Undetectable { value, x, y, .. } => format!(
            "gray value {value} at pixel ({x}, {y}) is neither a train id (0-18, 255 void) nor \
             a Cityscapes labelId (0-33). Upload a colour, train-id or labelIds label PNG"
        ),
        LabelError::Png(msg) => format!("not a readable PNG ({msg})"),
        LabelError::Ambiguous { .. } => format!(
            "{e}. The page cannot ask which: upload the layout as a colour PNG in the Cityscapes \
             palette instead"
        ),
        other => other.to_string(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use cimle::layout::Layout;

    fn rgb_png(w: u32, h: u32, rgb: &[u8]) -> Vec<u8> {
        let mut out = Vec::new();
        let mut enc = png::Encoder::new(&mut out, w, h);
        enc.set_color(png::ColorType::Rgb);
        enc.set_depth(png::BitDepth::Eight);
        let mut writer = enc.write_header().unwrap();
        writer.write_image_data(rgb).unwrap();
        writer.finish().unwrap();
        out
    }

    #[test]
    fn colour_labels_are_read_and_resized_with_a_notice() {
        let layout = Layout::new(2, 4, vec![0, 0, 13, 13, 10, 10, 10, 10]).unwrap();
        let png = layout.encode_color_png();
        let same = import_layout_text("a.png", &png, 2, 4).unwrap();
        assert_eq!(same.ids(), layout.ids());
        assert!(!same.notice().contains("resized"), "{}", same.notice());
        let big = import_layout_text("a.png", &png, 4, 8).unwrap();
        assert_eq!(big.ids().len(), 32);
        assert!(
            big.notice()
                .contains("resized from 2x4 to 4x8 (height x width"),
            "{}",
            big.notice()
        );
        let ids = import_layout_text("t.png", &layout.encode_train_id_png(), 2, 4).unwrap();
        assert_eq!(ids.ids(), layout.ids());
        assert!(ids.notice().contains("train ids"));
    }

    #[test]
    fn a_png_claiming_a_huge_size_is_refused_before_decoding() {
        // A real 1x1 PNG whose header is then edited to claim 100000x60000 (the CRC no longer
        // matches, but the size is checked first: the decoder would otherwise try to make room
        // for the image).
        let mut png = rgb_png(1, 1, &[128, 64, 128]);
        png[16..20].copy_from_slice(&60_000u32.to_be_bytes());
        png[20..24].copy_from_slice(&100_000u32.to_be_bytes());
        let err = import_layout_text("big.png", &png, 256, 512).err().unwrap();
        assert!(
            err.starts_with("big.png: the image is 100000x60000 (height x width)")
                && err.contains("at most 8192 pixels a side"),
            "{err}"
        );
        // 5000x4000 has allowed sides but too many pixels.
        png[16..20].copy_from_slice(&4000u32.to_be_bytes());
        png[20..24].copy_from_slice(&5000u32.to_be_bytes());
        let err = import_layout_text("big.png", &png, 256, 512).err().unwrap();
        assert!(err.contains("16777216 pixels in all"), "{err}");
    }

    #[test]
    fn unknown_colours_and_junk_get_page_messages() {
        let png = rgb_png(2, 1, &[128, 64, 128, 1, 2, 3]);
        let err = import_layout_text("x.png", &png, 1, 2).err().unwrap();
        assert!(err.starts_with("x.png: colour #010203"), "{err}");
        assert!(!err.contains("--"), "{err}");
        let err = import_layout_text("y.png", b"not a png", 1, 2)
            .err()
            .unwrap();
        assert!(err.contains("y.png: not a readable PNG"), "{err}");
    }
}
