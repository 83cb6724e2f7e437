//! Loading whole dataset folders of every kind, and the errors a bad folder gets.

use std::fs;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};

use cimle::classes::{CLASSES, VOID, id};
use cimle::label_png::ColorPolicy;
use cimle::layout::Layout;

use super::*;

/// A fresh folder under the system temp dir, removed on drop.
struct TempDir(PathBuf);

impl TempDir {
    fn new(tag: &str) -> Self {
        static COUNTER: AtomicU64 = AtomicU64::new(0);
        let n = COUNTER.fetch_add(1, Ordering::Relaxed);
        let path =
            std::env::temp_dir().join(format!("cimle-data-test-{tag}-{}-{n}", std::process::id()));
        let _ = fs::remove_dir_all(&path);
        fs::create_dir_all(&path).unwrap();
        TempDir(path)
    }

    fn path(&self) -> &Path {
        &self.0
    }

    fn write(&self, rel: &str, bytes: &[u8]) -> PathBuf {
        let path = self.0.join(rel);
        fs::create_dir_all(path.parent().unwrap()).unwrap();
        fs::write(&path, bytes).unwrap();
        path
    }
}

impl Drop for TempDir {
    fn drop(&mut self) {
        let _ = fs::remove_dir_all(&self.0);
    }
}

pub(crate) fn png_bytes(
    w: u32,
    h: u32,
    color: png::ColorType,
    depth: png::BitDepth,
    data: &[u8],
    palette: Option<&[u8]>,
) -> Vec<u8> {
    cimle::label_png::encode_raw_png(w, h, color, depth, data, palette).unwrap()
}

/// A constant-colour RGB photo.
fn photo(w: u32, h: u32, rgb: [u8; 3]) -> Vec<u8> {
    let data: Vec<u8> = (0..w * h).flat_map(|_| rgb).collect();
    png_bytes(w, h, png::ColorType::Rgb, png::BitDepth::Eight, &data, None)
}

pub(crate) fn gray(w: u32, h: u32, data: &[u8]) -> Vec<u8> {
    png_bytes(
        w,
        h,
        png::ColorType::Grayscale,
        png::BitDepth::Eight,
        data,
        None,
    )
}

/// Top half `top`, bottom half `bottom`.
fn halves(h: usize, w: usize, top: u8, bottom: u8) -> Layout {
    let ids = (0..h * w)
        .map(|i| if i / w < h / 2 { top } else { bottom })
        .collect();
    Layout::new(h, w, ids).unwrap()
}

fn opts() -> LoadOptions {
    LoadOptions::default()
}

#[test]
fn loads_synth_folder() {
    let t = TempDir::new("synth");
    t.write("synth.json", b"{\"scenes\": 2}");
    for (name, top) in [("0000", id::SKY), ("0001", id::BUILDING)] {
        t.write(&format!("images/{name}.png"), &photo(8, 4, [10, 20, 30]));
        let l = halves(4, 8, top, id::ROAD);
        t.write(&format!("labels/{name}.png"), &l.encode_train_id_png());
    }
    let d = load_dataset(t.path(), 2, 4, opts()).unwrap();
    assert_eq!(d.kind, DatasetKind::Synth);
    assert_eq!((d.len(), d.height, d.width), (2, 2, 4));
    assert_eq!(d.names[0], "0000");
    assert_eq!(d.pairs[0].image.len(), 2 * 4 * 3);
    assert_eq!(&d.pairs[0].image[..3], &[10, 20, 30]);
    assert_eq!(d.pairs[0].layout.get(0, 0), id::SKY);
    assert_eq!(d.pairs[1].layout.get(0, 3), id::BUILDING);
    assert_eq!(d.pairs[1].layout.get(1, 0), id::ROAD);
}

#[test]
fn loads_cityscapes_folder() {
    let t = TempDir::new("cityscapes");
    for (split, city, name) in [
        ("train", "aachen", "aachen_000000_000019"),
        ("train", "bochum", "bochum_000000_000313"),
        ("val", "lindau", "lindau_000000_000019"),
    ] {
        t.write(
            &format!("leftImg8bit/{split}/{city}/{name}_leftImg8bit.png"),
            &photo(4, 2, [50, 60, 70]),
        );
        // labelIds: 7 road, 26 car, 1 ego vehicle (void), 23 sky.
        t.write(
            &format!("gtFine/{split}/{city}/{name}_gtFine_labelIds.png"),
            &gray(4, 2, &[23, 23, 23, 23, 7, 26, 26, 1]),
        );
        // Other gtFine files are ignored.
        t.write(
            &format!("gtFine/{split}/{city}/{name}_gtFine_color.png"),
            &photo(4, 2, [0, 0, 0]),
        );
    }
    let d = load_dataset(t.path(), 2, 4, opts()).unwrap();
    assert_eq!(d.kind, DatasetKind::Cityscapes);
    assert_eq!(d.len(), 3);
    assert_eq!(d.names[0], "aachen_000000_000019");
    let l = &d.pairs[0].layout;
    assert_eq!(l.ids(), &[10, 10, 10, 10, id::ROAD, id::CAR, id::CAR, VOID]);
    assert_eq!(&d.pairs[2].image[..3], &[50, 60, 70]);

    // A folder inside leftImg8bit/ reads only that part.
    let d = load_dataset(t.path().join("leftImg8bit/train"), 1, 2, opts()).unwrap();
    assert_eq!(d.kind, DatasetKind::Cityscapes);
    assert_eq!(d.len(), 2);
    assert_eq!(d.names[1], "bochum_000000_000313");
    assert_eq!(d.pairs[1].layout.ids(), &[id::CAR, VOID]);

    // limit
    let lim = LoadOptions {
        limit: Some(1),
        ..opts()
    };
    assert_eq!(load_dataset(t.path(), 2, 4, lim).unwrap().len(), 1);
}

#[test]
fn cityscapes_missing_label_names_expected_file() {
    let t = TempDir::new("cityscapes-missing");
    t.write(
        "leftImg8bit/train/ulm/ulm_000001_000019_leftImg8bit.png",
        &photo(2, 2, [1, 2, 3]),
    );
    fs::create_dir_all(t.path().join("gtFine/train/ulm")).unwrap();
    let err = load_dataset(t.path(), 2, 2, opts()).unwrap_err();
    let msg = err.to_string();
    assert!(matches!(err, DataError::MissingLabel { .. }));
    assert!(
        msg.contains("gtFine/train/ulm/ulm_000001_000019_gtFine_labelIds.png"),
        "{msg}"
    );
}

#[test]
fn loads_gta5_folder_with_palette_labels() {
    let t = TempDir::new("gta5");
    let palette: Vec<u8> = [
        CLASSES[usize::from(id::ROAD)].color,
        CLASSES[usize::from(id::CAR)].color,
        [250, 170, 160], // parking: void
    ]
    .concat();
    for name in ["00001", "00002"] {
        t.write(&format!("images/{name}.png"), &photo(3, 2, [9, 8, 7]));
        t.write(
            &format!("labels/{name}.png"),
            &png_bytes(
                3,
                2,
                png::ColorType::Indexed,
                png::BitDepth::Eight,
                &[0, 1, 2, 1, 1, 0],
                Some(&palette),
            ),
        );
    }
    let d = load_dataset(t.path(), 2, 3, opts()).unwrap();
    assert_eq!(d.kind, DatasetKind::Gta5);
    assert_eq!(d.len(), 2);
    assert_eq!(
        d.pairs[1].layout.ids(),
        &[id::ROAD, id::CAR, VOID, id::CAR, id::CAR, id::ROAD]
    );
    assert_eq!(&d.pairs[1].image[..3], &[9, 8, 7]);
}

#[test]
fn gta5_unknown_colour_policy() {
    let t = TempDir::new("gta5-unknown");
    t.write("images/a.png", &photo(2, 1, [0, 0, 0]));
    let label = png_bytes(
        2,
        1,
        png::ColorType::Rgb,
        png::BitDepth::Eight,
        &[128, 64, 128, 1, 1, 141],
        None,
    );
    let label_path = t.write("labels/a.png", &label);
    let err = load_dataset(t.path(), 1, 2, opts()).unwrap_err();
    let msg = err.to_string();
    assert!(msg.contains(&label_path.display().to_string()), "{msg}");
    assert!(msg.contains("#01018d") && msg.contains("car"), "{msg}");
    let lenient = LoadOptions {
        color_policy: ColorPolicy::MapToNearest,
        limit: None,
    };
    let d = load_dataset(t.path(), 1, 2, lenient).unwrap();
    assert_eq!(d.pairs[0].layout.ids(), &[id::ROAD, id::CAR]);
}

#[test]
fn loads_generic_folder_with_mixed_formats() {
    let t = TempDir::new("generic");
    t.write("images/a.png", &photo(2, 2, [1, 1, 1]));
    t.write("images/b.png", &photo(2, 2, [2, 2, 2]));
    t.write("images/c.png", &photo(2, 2, [3, 3, 3]));
    // train ids, labelIds, colour
    t.write("labels/a.png", &gray(2, 2, &[0, 255, 13, 13]));
    t.write("labels/b.png", &gray(2, 2, &[7, 26, 33, 0]));
    t.write(
        "labels/c.png",
        &halves(2, 2, id::SKY, id::TERRAIN).encode_color_png(),
    );
    t.write("notes.txt", b"ignored");
    t.write("labels/readme.txt", b"ignored too");
    let d = load_dataset(t.path(), 4, 4, opts()).unwrap();
    assert_eq!(d.kind, DatasetKind::Generic);
    assert_eq!(d.len(), 3);
    assert_eq!(d.pairs[0].layout.get(0, 0), id::ROAD);
    assert_eq!(d.pairs[0].layout.get(0, 3), VOID);
    assert_eq!(d.pairs[0].layout.get(3, 3), id::CAR);
    assert_eq!(d.pairs[1].layout.get(0, 2), id::CAR);
    assert_eq!(d.pairs[1].layout.get(3, 0), id::BICYCLE);
    assert_eq!(d.pairs[2].layout.get(0, 0), id::SKY);
    assert_eq!(d.pairs[2].layout.get(3, 0), id::TERRAIN);
    assert_eq!(d.pairs[2].image.len(), 4 * 4 * 3);
    assert!(d.pairs[2].image.iter().all(|&v| v == 3));
}

#[test]
fn missing_partner_errors_name_the_file() {
    let t = TempDir::new("partner");
    t.write("images/a.png", &photo(2, 2, [0, 0, 0]));
    t.write("images/b.png", &photo(2, 2, [0, 0, 0]));
    t.write("labels/a.png", &gray(2, 2, &[0; 4]));
    let err = load_dataset(t.path(), 2, 2, opts()).unwrap_err();
    let msg = err.to_string();
    assert!(matches!(err, DataError::MissingLabel { .. }), "{msg}");
    assert!(msg.contains(&t.path().join("labels/b.png").display().to_string()));
    assert!(msg.contains(&t.path().join("images/b.png").display().to_string()));

    fs::remove_file(t.path().join("images/b.png")).unwrap();
    t.write("labels/z.png", &gray(2, 2, &[0; 4]));
    let err = load_dataset(t.path(), 2, 2, opts()).unwrap_err();
    let msg = err.to_string();
    assert!(matches!(err, DataError::MissingImage { .. }), "{msg}");
    assert!(msg.contains(&t.path().join("images/z.png").display().to_string()));
}

#[test]
fn size_mismatch_names_both_files() {
    let t = TempDir::new("size");
    let image = t.write("images/a.png", &photo(4, 3, [0, 0, 0]));
    let label = t.write("labels/a.png", &gray(2, 2, &[0; 4]));
    let err = load_dataset(t.path(), 2, 2, opts()).unwrap_err();
    let msg = err.to_string();
    assert!(matches!(err, DataError::SizeMismatch { .. }), "{msg}");
    assert!(msg.contains(&image.display().to_string()), "{msg}");
    assert!(msg.contains(&label.display().to_string()), "{msg}");
    assert!(msg.contains("4x3") && msg.contains("2x2"), "{msg}");
}

#[test]
fn corrupt_png_errors_name_the_file() {
    let t = TempDir::new("corrupt");
    let good = photo(2, 2, [0, 0, 0]);
    let image = t.write("images/a.png", &good[..good.len() / 2]);
    t.write("labels/a.png", &gray(2, 2, &[0; 4]));
    let msg = load_dataset(t.path(), 2, 2, opts())
        .unwrap_err()
        .to_string();
    assert!(msg.starts_with(&image.display().to_string()), "{msg}");
    assert!(msg.contains("cannot decode PNG"), "{msg}");

    t.write("images/a.png", &good);
    let label = t.write("labels/a.png", b"\x89PNG garbage");
    let err = load_dataset(t.path(), 2, 2, opts()).unwrap_err();
    let msg = err.to_string();
    assert!(matches!(err, DataError::Label { .. }), "{msg}");
    assert!(msg.starts_with(&label.display().to_string()), "{msg}");
}

#[test]
fn empty_and_missing_folders_explain_expected_layout() {
    let t = TempDir::new("empty");
    let msg = load_dataset(t.path(), 2, 2, opts())
        .unwrap_err()
        .to_string();
    for part in [
        "no dataset found",
        "synth.json",
        "leftImg8bit",
        "labels/*.png",
    ] {
        assert!(msg.contains(part), "{part:?} missing from: {msg}");
    }
    fs::create_dir_all(t.path().join("images")).unwrap();
    fs::create_dir_all(t.path().join("labels")).unwrap();
    let msg = load_dataset(t.path(), 2, 2, opts())
        .unwrap_err()
        .to_string();
    assert!(msg.contains("hold no PNG files"), "{msg}");
    let err = load_dataset(t.path().join("nope"), 2, 2, opts()).unwrap_err();
    assert!(matches!(err, DataError::NotAFolder { .. }));
    let err = load_dataset(t.path(), 0, 2, opts()).unwrap_err();
    assert!(matches!(err, DataError::BadSize { .. }));
}

#[test]
fn jpeg_images_are_reported() {
    let t = TempDir::new("jpeg");
    let jpg = t.write("images/a.jpg", b"\xff\xd8\xff");
    t.write("labels/a.png", &gray(2, 2, &[0; 4]));
    let msg = load_dataset(t.path(), 2, 2, opts())
        .unwrap_err()
        .to_string();
    assert!(msg.contains(&jpg.display().to_string()), "{msg}");
    assert!(msg.contains("only PNG"), "{msg}");
}

#[test]
fn first_error_in_order_is_reported() {
    let t = TempDir::new("order");
    for i in 0..12 {
        t.write(&format!("images/{i:02}.png"), &photo(2, 2, [0, 0, 0]));
        let bytes = if i >= 5 {
            b"broken".to_vec()
        } else {
            gray(2, 2, &[0; 4])
        };
        t.write(&format!("labels/{i:02}.png"), &bytes);
    }
    let msg = load_dataset(t.path(), 2, 2, opts())
        .unwrap_err()
        .to_string();
    assert!(msg.contains("labels/05.png"), "{msg}");
}
