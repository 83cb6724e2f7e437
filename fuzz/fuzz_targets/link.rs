//! The share-link decoder of the page on arbitrary text: a link is parsed or refused without a
//! panic, and a parsed link's layout encodes back to the same layout.
//!
//! The input is also fed to the layout and style decoders as the bytes *inside* the base64url
//! text, so the fuzzer mutates the layout's binary form and the style's JSON directly.
//!
//! Styles are only parsed here, not realised into latent codes, and their round trip is not
//! asserted: both have known faults in `web/src/style.rs` (docs/FUZZING.md, "What the runs
//! found"), which the web crate's owners are fixing.
#![no_main]

use cimle_web::base64url::{base64url_decode, base64url_encode};
use cimle_web::codec::{Link, decode_layout, encode_layout};
use cimle_web::style::Style;
use libfuzzer_sys::fuzz_target;

const NUM_CLASSES: usize = 20;

fuzz_target!(|data: &[u8]| {
    let text = String::from_utf8_lossy(data);
    if let Some(bytes) = base64url_decode(&text) {
        assert_eq!(base64url_decode(&base64url_encode(&bytes)), Some(bytes));
    }
    let inner = base64url_encode(data);
    for layout in [&*text, &inner] {
        if let Ok((ids, h, w)) = decode_layout(layout, NUM_CLASSES) {
            assert_eq!(ids.len(), h * w);
            let again = decode_layout(&encode_layout(&ids, h, w), NUM_CLASSES);
            assert_eq!(again, Ok((ids, h, w)));
        }
    }
    if let Ok(style) = Style::decode_text(&inner) {
        let _ = Style::decode_text(&style.encode());
    }
    if let Ok(link) = Link::parse(&text, NUM_CLASSES) {
        assert_eq!(link.ids().len(), link.height() * link.width());
        let _ = Link::parse(
            &Link::encode("m", &link.ids(), link.height(), link.width(), &link.style()),
            NUM_CLASSES,
        );
    }
});
