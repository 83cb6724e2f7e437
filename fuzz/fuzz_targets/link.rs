//! The share-link decoder of the page on arbitrary text: a link is parsed or refused without a
//! panic, and a parsed link encodes back to one that parses to the same layout and style.
#![no_main]

use cimle_web::codec::{Link, base64url_decode, base64url_encode, decode_layout};
use libfuzzer_sys::fuzz_target;

const NUM_CLASSES: usize = 20;

fuzz_target!(|data: &[u8]| {
    let text = String::from_utf8_lossy(data);
    if let Some(bytes) = base64url_decode(&text) {
        assert_eq!(base64url_decode(&base64url_encode(&bytes)), Some(bytes));
    }
    if let Ok((ids, h, w)) = decode_layout(&text, NUM_CLASSES) {
        assert_eq!(ids.len(), h * w);
    }
    if let Ok(link) = Link::parse(&text, NUM_CLASSES) {
        let (ids, h, w, style) = (link.ids(), link.height(), link.width(), link.style());
        let again = Link::parse(&Link::encode("m", &ids, h, w, &style), NUM_CLASSES)
            .expect("an encoded link parses");
        assert_eq!((again.ids(), again.height(), again.width()), (ids, h, w));
        assert_eq!(again.style(), style);
    }
});
