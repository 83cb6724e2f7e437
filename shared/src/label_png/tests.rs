//! Tests of the label PNG decoders, encoders and format detection, with the PNG fixtures they
//! share.

use super::*;
use crate::classes::{CITYSCAPES_LABELS, CLASSES, VOID, id};

/// Encodes a PNG of any colour type and depth for the tests (no format text chunk).
fn png_bytes(
    width: u32,
    height: u32,
    color: png::ColorType,
    depth: png::BitDepth,
    data: &[u8],
    palette: Option<&[u8]>,
) -> Vec<u8> {
    encode_raw_png(width, height, color, depth, data, palette).unwrap()
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
    let mut palette: Vec<[u8; 3]> = CITYSCAPES_LABELS.iter().take(34).map(|l| l.color).collect();
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
            as_train_ids: "traffic sign 55 %, person 25 %, vegetation 15 %, motorcycle 5 %".into(),
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
