//! Label PNG decoders on arbitrary bytes: never a panic or an unbounded allocation, and every
//! layout decoded survives a round trip through the PNGs cimle writes.
#![no_main]

use cimle::label_png::{
    ColorPolicy, LabelFormat, MAX_PIXELS, decode_color_png, decode_png, decode_png_auto,
    decode_rgb8, decode_train_id_png,
};
use cimle::layout::Layout;
use libfuzzer_sys::fuzz_target;

fn round_trips(layout: &Layout) {
    assert!(layout.height() * layout.width() <= MAX_PIXELS);
    let back = decode_train_id_png(&layout.encode_train_id_png()).expect("own train-id PNG");
    assert_eq!(&back, layout);
    let back =
        decode_color_png(&layout.encode_color_png(), ColorPolicy::Strict).expect("own colour PNG");
    assert_eq!(&back.layout, layout);
}

fuzz_target!(|data: &[u8]| {
    let detected = LabelFormat::detect(data);
    match decode_png_auto(data, ColorPolicy::Strict) {
        Ok((detection, decoded)) => {
            assert_eq!(detected.as_ref().map(|d| d.format), Ok(detection.format));
            round_trips(&decoded.layout);
        }
        Err(_) => {
            // Detection may succeed where decoding in the detected format fails, not the
            // other way round.
        }
    }
    for format in LabelFormat::ALL {
        for policy in [ColorPolicy::Strict, ColorPolicy::MapToNearest] {
            if let Ok(decoded) = decode_png(data, format, policy) {
                round_trips(&decoded.layout);
            }
        }
    }
    if let Ok((rgb, h, w)) = decode_rgb8(data) {
        assert_eq!(rgb.len(), h * w * 3);
        assert!(h * w <= MAX_PIXELS);
    }
});
