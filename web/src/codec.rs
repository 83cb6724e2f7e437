//! Links that restore a layout and a style from the URL fragment (so the host never sees them).
//!
//! A link reads `#m=<model>&l=<layout>&s=<style>`: the model's id, the layout as base64url of a
//! small binary (version byte, height and width as u16 little-endian, then run-length pairs of
//! class id and LEB128 run length in raster order) and the style of [`crate::style::Style`].

use wasm_bindgen::prelude::*;

use crate::base64url::{base64url_decode, base64url_encode};
use crate::limits::check_size;
use crate::style::Style;

const LAYOUT_VERSION: u8 = 1;

/// The layout codec of the module docs.
pub fn encode_layout(ids: &[u8], height: usize, width: usize) -> String {
    let mut bytes = vec![LAYOUT_VERSION];
    bytes.extend_from_slice(&(height as u16).to_le_bytes());
    bytes.extend_from_slice(&(width as u16).to_le_bytes());
    let mut i = 0;
    while i < ids.len() {
        let id = ids[i];
        let mut run = 1usize;
        while i + run < ids.len() && ids[i + run] == id {
            run += 1;
        }
        bytes.push(id);
        let mut r = run;
        loop {
            let byte = (r & 0x7f) as u8;
            r >>= 7;
            if r == 0 {
                bytes.push(byte);
                break;
            }
            bytes.push(byte | 0x80);
        }
        i += run;
    }
    base64url_encode(&bytes)
}

/// Reads [`encode_layout`]'s text: `(ids, height, width)`, checking every class id against
/// `num_classes`.
pub fn decode_layout(text: &str, num_classes: usize) -> Result<(Vec<u8>, usize, usize), String> {
    let bytes = base64url_decode(text).ok_or("the layout in the link is not base64url")?;
    if bytes.len() < 5 || bytes[0] != LAYOUT_VERSION {
        return Err(format!(
            "the layout in the link is not a version-{LAYOUT_VERSION} cimle layout"
        ));
    }
    let height = usize::from(u16::from_le_bytes([bytes[1], bytes[2]]));
    let width = usize::from(u16::from_le_bytes([bytes[3], bytes[4]]));
    let total = check_size("the layout in the link", height, width)?;
    let mut ids = Vec::with_capacity(total);
    let mut pos = 5;
    while pos < bytes.len() {
        let id = bytes[pos];
        if usize::from(id) >= num_classes {
            return Err(format!(
                "the layout in the link uses class id {id}, but the model has {num_classes} classes"
            ));
        }
        pos += 1;
        let (mut run, mut shift) = (0usize, 0u32);
        loop {
            let byte = *bytes
                .get(pos)
                .ok_or("the layout in the link is truncated")?;
            pos += 1;
            if shift > 28 {
                return Err("the layout in the link has a run too long".into());
            }
            run |= usize::from(byte & 0x7f) << shift;
            shift += 7;
            if byte & 0x80 == 0 {
                break;
            }
        }
        if ids.len() + run > total {
            return Err("the layout in the link has more pixels than its size".into());
        }
        ids.extend(std::iter::repeat_n(id, run));
    }
    if ids.len() != total {
        return Err(format!(
            "the layout in the link has {} of its {total} pixels",
            ids.len()
        ));
    }
    Ok((ids, height, width))
}

/// What a link restores.
#[wasm_bindgen]
#[derive(Debug)]
pub struct Link {
    model: String,
    ids: Vec<u8>,
    height: usize,
    width: usize,
    style: Style,
}

#[wasm_bindgen]
impl Link {
    /// The fragment (without `#`) for a model id, a layout and a style.
    pub fn encode(model: &str, ids: &[u8], height: usize, width: usize, style: &Style) -> String {
        let model: String = model
            .chars()
            .filter(|c| c.is_ascii_alphanumeric() || matches!(c, '-' | '_' | '.'))
            .collect();
        format!(
            "m={model}&l={}&s={}",
            encode_layout(ids, height, width),
            style.encode()
        )
    }

    /// Parses a fragment (with or without `#`); the error says which part is wrong.
    pub fn decode(fragment: &str, num_classes: usize) -> Result<Link, JsValue> {
        Link::parse(fragment, num_classes).map_err(|e| JsValue::from_str(&e))
    }

    /// The model id.
    #[wasm_bindgen(getter)]
    pub fn model(&self) -> String {
        self.model.clone()
    }

    /// Row-major class ids.
    #[wasm_bindgen(getter)]
    pub fn ids(&self) -> Vec<u8> {
        self.ids.clone()
    }

    /// Layout height.
    #[wasm_bindgen(getter)]
    pub fn height(&self) -> usize {
        self.height
    }

    /// Layout width.
    #[wasm_bindgen(getter)]
    pub fn width(&self) -> usize {
        self.width
    }

    /// The style.
    #[wasm_bindgen(getter)]
    pub fn style(&self) -> Style {
        self.style.clone()
    }
}

impl Link {
    /// [`Link::decode`] with a text error.
    pub fn parse(fragment: &str, num_classes: usize) -> Result<Link, String> {
        let fragment = fragment.trim_start_matches('#');
        let (mut model, mut layout, mut style) = (None, None, None);
        for part in fragment.split('&') {
            match part.split_once('=') {
                Some(("m", v)) => model = Some(v.to_string()),
                Some(("l", v)) => layout = Some(v),
                Some(("s", v)) => style = Some(v),
                _ => {}
            }
        }
        let layout = layout.ok_or("the link has no layout (l=...)")?;
        let (ids, height, width) = decode_layout(layout, num_classes)?;
        let style = Style::decode_text(style.ok_or("the link has no style (s=...)")?)?;
        Ok(Link {
            model: model.unwrap_or_default(),
            ids,
            height,
            width,
            style,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn layouts_round_trip_and_are_compact() {
        let (h, w) = (256, 512);
        let mut ids = vec![10u8; h * w];
        for v in ids[h * w / 2..].iter_mut() {
            *v = 0;
        }
        ids[300] = 13;
        let text = encode_layout(&ids, h, w);
        assert!(text.len() < 40, "{}", text.len());
        assert_eq!(decode_layout(&text, 20).unwrap(), (ids, h, w));
    }

    #[test]
    fn bad_layouts_are_errors_not_panics() {
        let ok = encode_layout(&[1, 1, 2, 2], 2, 2);
        assert!(decode_layout(&ok, 2).unwrap_err().contains("class id 2"));
        let truncated = &ok[..ok.len() - 2];
        assert!(decode_layout(truncated, 20).is_err());
        assert!(decode_layout("", 20).is_err());
        let mut long = base64url_decode(&ok).unwrap();
        long.extend([1, 9]);
        assert!(
            decode_layout(&base64url_encode(&long), 20)
                .unwrap_err()
                .contains("more pixels")
        );
    }

    #[test]
    fn crafted_layout_sizes_are_refused_before_anything_is_allocated() {
        // Version 1, 65535x65535, one run of class 0: 4 GiB of ids if believed.
        let huge = base64url_encode(&[1, 0xff, 0xff, 0xff, 0xff, 0, 1]);
        let err = decode_layout(&huge, 20).unwrap_err();
        assert!(
            err.contains("the layout in the link is 65535x65535 (height x width)")
                && err.contains("at most 8192 pixels a side"),
            "{err}"
        );
        // 8192x8192: each side is allowed, the total is not.
        let square = base64url_encode(&[1, 0, 0x20, 0, 0x20, 0, 1]);
        assert!(
            decode_layout(&square, 20)
                .unwrap_err()
                .contains("16777216 pixels in all")
        );
        let empty = base64url_encode(&[1, 0, 0, 5, 0]);
        assert!(
            decode_layout(&empty, 20)
                .unwrap_err()
                .contains("empty size")
        );
        // A run longer than the layout is refused without growing the ids past the size.
        let mut long = vec![1, 2, 0, 2, 0, 3];
        long.extend([0xff, 0xff, 0xff, 0xff, 0x0f]);
        assert!(
            decode_layout(&base64url_encode(&long), 20)
                .unwrap_err()
                .contains("more pixels than its size")
        );
    }

    #[test]
    fn a_link_with_a_crafted_style_region_is_an_error_naming_the_limit() {
        let layout = encode_layout(&[0; 4], 2, 2);
        let style = base64url_encode(
            br#"{"k":"r","base":{"k":"s","s":1},"seed":2,"h":65536,"w":65536,"runs":[0,9]}"#,
        );
        let err = Link::parse(&format!("#m=x&l={layout}&s={style}"), 20).unwrap_err();
        assert!(
            err.contains("a region of the style in the link is 65536x65536 (height x width)"),
            "{err}"
        );
    }

    #[test]
    fn links_restore_layout_and_style() {
        let style = Style::from_seed(77).region(&[1, 0, 0, 0], 2, 2, 8).unwrap();
        let ids = [0u8, 1, 2, 19];
        let frag = Link::encode("browser", &ids, 2, 2, &style);
        let link = Link::parse(&format!("#{frag}"), 20).unwrap();
        assert_eq!(link.model(), "browser");
        assert_eq!(
            (link.ids(), link.height(), link.width()),
            (ids.to_vec(), 2, 2)
        );
        assert_eq!(link.style(), style);
        assert!(Link::parse("m=x&l=AQIAAgAA", 20).is_err());
        assert!(Link::parse("m=x", 20).unwrap_err().contains("no layout"));
    }
}
