//! Writes the seed corpus of the fuzz targets `label_png` and `weights` (docs/FUZZING.md):
//! small, valid inputs of every kind the decoders take, for the fuzzer to mutate.
//!
//! `cargo run --release -p cimle-shared --example fuzz_seeds -- fuzz/seeds`

use std::collections::BTreeMap;
use std::path::Path;

use burn::tensor::Device;
use cimle::classes::{CITYSCAPES_LABELS, id};
use cimle::config::GeneratorConfig;
use cimle::layout::Layout;
use cimle::weights::{Precision, save_generator};

fn png(
    width: u32,
    height: u32,
    color: png::ColorType,
    depth: png::BitDepth,
    data: &[u8],
    palette: Option<Vec<u8>>,
) -> Vec<u8> {
    cimle::label_png::encode_raw_png(width, height, color, depth, data, palette.as_deref())
        .expect("encoding a seed PNG into memory")
}

fn write(dir: &Path, name: &str, bytes: &[u8]) {
    std::fs::write(dir.join(name), bytes).unwrap_or_else(|e| panic!("writing {name}: {e}"));
}

fn main() {
    let root = std::env::args()
        .nth(1)
        .unwrap_or_else(|| "fuzz/seeds".into());
    let labels = Path::new(&root).join("label_png");
    let weights = Path::new(&root).join("weights");
    for dir in [&labels, &weights] {
        std::fs::create_dir_all(dir).expect("creating the seed folders");
    }
    use png::{BitDepth as D, ColorType as C};

    let mut layout = Layout::filled(4, 8, id::ROAD);
    for x in 0..8 {
        layout.set(0, x, id::SKY);
        layout.set(1, x, if x < 4 { id::BUILDING } else { id::VOID });
    }
    layout.set(3, 2, id::CAR);
    write(&labels, "colour.png", &layout.encode_color_png());
    write(&labels, "train-id.png", &layout.encode_train_id_png());
    let gray = |v: &[u8]| png(v.len() as u32, 1, C::Grayscale, D::Eight, v, None);
    write(&labels, "train-id-bare.png", &gray(&[0, 10, 2, 255, 13, 0]));
    write(&labels, "label-ids.png", &gray(&[7, 26, 33, 1, 23, 21]));
    write(&labels, "ambiguous.png", &gray(&[7, 7, 8, 11, 17, 7]));
    write(
        &labels,
        "gray16.png",
        &png(2, 1, C::Grayscale, D::Sixteen, &[0, 7, 0, 255], None),
    );
    write(
        &labels,
        "gray-alpha.png",
        &png(2, 1, C::GrayscaleAlpha, D::Eight, &[3, 255, 26, 0], None),
    );
    write(
        &labels,
        "gray4.png",
        &png(3, 1, C::Grayscale, D::Four, &[0x1d, 0x30], None),
    );
    write(
        &labels,
        "rgba.png",
        &png(
            2,
            1,
            C::Rgba,
            D::Eight,
            &[70, 130, 180, 255, 20, 20, 20, 0],
            None,
        ),
    );
    write(
        &labels,
        "rgb16.png",
        &png(1, 1, C::Rgb, D::Sixteen, &[0, 1, 60, 2, 100, 3], None),
    );
    // GTA-5 style: palette indices are label ids, rgb(20, 20, 20) and an unknown colour among
    // the void entries.
    let mut palette: Vec<u8> = CITYSCAPES_LABELS
        .iter()
        .take(34)
        .flat_map(|l| l.color)
        .collect();
    palette[12..15].copy_from_slice(&[20, 20, 20]);
    palette[3..6].copy_from_slice(&[33, 44, 55]);
    write(
        &labels,
        "gta5-palette.png",
        &png(
            6,
            1,
            C::Indexed,
            D::Eight,
            &[7, 4, 26, 1, 23, 11],
            Some(palette),
        ),
    );
    write(
        &labels,
        "jpeg-start.bin",
        b"\xff\xd8\xff\xe0\x00\x10JFIF\x00\x01",
    );

    let device = Device::flex();
    let config = GeneratorConfig::new(4, 8, vec![2, 2])
        .with_encoder_width(2)
        .with_latent_channels(1);
    let generator = config.init(&device);
    let mut provenance = BTreeMap::new();
    provenance.insert("trained_by".to_owned(), "fuzz seed".to_owned());
    for (name, precision) in [
        ("f16.safetensors", Precision::F16),
        ("f32.safetensors", Precision::F32),
    ] {
        let bytes = save_generator(&generator, &config, precision, &provenance).expect("saving");
        write(&weights, name, &bytes);
    }
    eprintln!("seeds written under {root}");
}
