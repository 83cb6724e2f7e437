//! Bad input through the `cimle` binary, each case once the cause of an abort, a machine-sized
//! allocation, a silent failure or work thrown away: now refused up front, with an error that
//! names the flag or file and states the limit or the fix (issue 12).

use std::collections::{BTreeMap, HashMap};
use std::path::{Path, PathBuf};
use std::process::{Command, Output};
use std::time::{Duration, Instant};

use burn::tensor::Device;
use cimle::config::Preset;
use cimle::layout::Layout;
use cimle::weights::{Precision, save_generator};

/// A fresh folder under the system temp dir, unique to this test and process.
fn temp_dir(name: &str) -> PathBuf {
    let dir = std::env::temp_dir().join(format!("cimle-hostile-{name}-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).unwrap();
    dir
}

fn cimle(args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_cimle"))
        .args(args)
        .output()
        .unwrap()
}

fn s(p: &Path) -> &str {
    p.to_str().unwrap()
}

/// Asserts a clean failure (exit 1, no panic) whose stderr holds every needle; returns stderr.
fn fails_with(o: &Output, needles: &[&str]) -> String {
    let err = String::from_utf8_lossy(&o.stderr).into_owned();
    assert_eq!(o.status.code(), Some(1), "not a clean failure: {err}");
    for n in needles {
        assert!(err.contains(n), "{n:?} missing from: {err}");
    }
    err
}

/// A tiny model's weights file and a layout at its size.
fn tiny_model(dir: &Path) -> (PathBuf, PathBuf) {
    let cfg = Preset::Tiny.config();
    let g = cfg.init_seeded(&Device::flex(), 3);
    let weights = dir.join("tiny.safetensors");
    std::fs::write(
        &weights,
        save_generator(&g, &cfg, Precision::F32, &BTreeMap::new()).unwrap(),
    )
    .unwrap();
    let layout = dir.join("layout.png");
    std::fs::write(&layout, Layout::filled(16, 32, 0).encode_color_png()).unwrap();
    (weights, layout)
}

/// A real `width x height` PNG that is a few kilobytes on disk (1-bit grey, all black) and
/// 3 bytes a pixel once decoded.
fn huge_png(path: &Path, width: u32, height: u32) {
    let mut out = Vec::new();
    {
        let mut enc = png::Encoder::new(&mut out, width, height);
        enc.set_color(png::ColorType::Grayscale);
        enc.set_depth(png::BitDepth::One);
        let mut w = enc.write_header().unwrap();
        let row = (width as usize).div_ceil(8);
        w.write_image_data(&vec![0u8; row * height as usize])
            .unwrap();
    }
    std::fs::write(path, out).unwrap();
}

#[test]
fn distance_refuses_images_over_the_pixel_limit_before_decoding_them() {
    let dir = temp_dir("distance");
    let (a, b) = (dir.join("a.png"), dir.join("b.png"));
    huge_png(&a, 6000, 6000);
    huge_png(&b, 6000, 6000);
    assert!(std::fs::metadata(&a).unwrap().len() < 200_000);
    let started = Instant::now();
    let o = cimle(&["distance", s(&a), s(&b), "--vgg-width-div", "16"]);
    fails_with(
        &o,
        &["a.png is 6000x6000", "at most 2097152 pixels", "2048x1024"],
    );
    assert!(started.elapsed() < Duration::from_secs(20));
    std::fs::remove_dir_all(&dir).unwrap();
}

#[test]
fn sample_counts_and_seeds_are_bounded() {
    let dir = temp_dir("sample-counts");
    let (weights, layout) = tiny_model(&dir);
    let grid = dir.join("grid.png");
    let base = [
        "sample",
        "--weights",
        s(&weights),
        "--layout",
        s(&layout),
        "--out",
        s(&grid),
    ];
    let run = |extra: &[&str]| {
        let args: Vec<&str> = base.iter().chain(extra).copied().collect();
        cimle(&args)
    };
    fails_with(
        &run(&["--count", "18446744073709551615"]),
        &["--count 18446744073709551615: at most 10000"],
    );
    fails_with(&run(&["--count", "0"]), &["--count 0: must be at least 1"]);
    fails_with(
        &run(&["--seed", "18446744073709551615", "--count", "3"]),
        &["wrap around", "--seed 18446744073709551613 or less"],
    );
    assert!(!grid.exists());
    // The largest seed itself is fine.
    let o = run(&["--seed", "18446744073709551615", "--count", "1"]);
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    assert!(grid.is_file());
    std::fs::remove_dir_all(&dir).unwrap();
}

#[test]
fn synth_checks_size_and_count_before_creating_anything() {
    let dir = temp_dir("synth");
    let out = dir.join("scenes");
    for (size, count, needle) in [
        (
            "100000x100000",
            "4",
            "--size 100000x100000: a scene is 100000x100000",
        ),
        ("64x128", "0", "--count 0"),
        ("64x128", "5000000", "--count 5000000: at most 1000000"),
    ] {
        let o = cimle(&["synth", "--out", s(&out), "--size", size, "--count", count]);
        fails_with(&o, &[needle]);
        assert!(
            !out.exists(),
            "{size} {count}: {} was created",
            out.display()
        );
    }
    std::fs::remove_dir_all(&dir).unwrap();
}

/// A weights file whose config claims `height x width`, tensors unchanged.
fn forged_weights(dir: &Path, height: usize, width: usize) -> PathBuf {
    let cfg = Preset::Tiny.config();
    let g = cfg.init_seeded(&Device::flex(), 1);
    let bytes = save_generator(&g, &cfg, Precision::F32, &BTreeMap::new()).unwrap();
    let n = u64::from_le_bytes(bytes[..8].try_into().unwrap()) as usize;
    let mut header: serde_json::Value = serde_json::from_slice(&bytes[8..8 + n]).unwrap();
    let meta: HashMap<String, String> =
        serde_json::from_value(header["__metadata__"].clone()).unwrap();
    let mut config: serde_json::Value = serde_json::from_str(&meta["config"]).unwrap();
    config["height"] = height.into();
    config["width"] = width.into();
    header["__metadata__"]["config"] = config.to_string().into();
    let mut text = serde_json::to_vec(&header).unwrap();
    while !text.len().is_multiple_of(8) {
        text.push(b' ');
    }
    let mut out = (text.len() as u64).to_le_bytes().to_vec();
    out.extend_from_slice(&text);
    out.extend_from_slice(&bytes[8 + n..]);
    let path = dir.join("forged.safetensors");
    std::fs::write(&path, out).unwrap();
    path
}

#[test]
fn weights_that_claim_a_huge_resolution_are_refused_before_rendering() {
    let dir = temp_dir("huge-weights");
    let (_, layout) = tiny_model(&dir);
    let weights = forged_weights(&dir, 100_000, 100_000);
    let o = cimle(&[
        "sample",
        "--weights",
        s(&weights),
        "--layout",
        s(&layout),
        "--out",
        s(&dir.join("g.png")),
    ]);
    fails_with(
        &o,
        &["forged.safetensors", "100000x100000", "2097152 pixels"],
    );
    let o = cimle(&[
        "evaluate",
        "--weights",
        s(&weights),
        "--out",
        s(&dir.join("eval")),
        "--vgg-width-div",
        "16",
    ]);
    fails_with(&o, &["forged.safetensors", "100000x100000"]);
    std::fs::remove_dir_all(&dir).unwrap();
}

/// `cimle train` of the tiny preset (unless `extra` names another) on a few built-in scenes.
fn tiny_train(out: &Path, extra: &[&str]) -> Output {
    let preset = if extra.contains(&"--preset") {
        &[][..]
    } else {
        &["--preset", "tiny"][..]
    };
    let mut args = vec!["train", "--backend", "cpu"];
    args.extend_from_slice(preset);
    args.extend_from_slice(&[
        "--synth-count",
        "6",
        "--images-per-round",
        "4",
        "--candidates",
        "2",
        "--steps-per-round",
        "3",
        "--vgg-width-div",
        "16",
        "--out",
        s(out),
    ]);
    args.extend_from_slice(extra);
    cimle(&args)
}

#[test]
fn numeric_train_flags_that_would_fail_silently_are_refused() {
    let dir = temp_dir("train-flags");
    let out = dir.join("run");
    for (flags, needle) in [
        (
            &["--lr", "nan"][..],
            "--lr NaN: give a finite number above 0",
        ),
        (&["--lr", "inf"], "--lr inf: give a finite number above 0"),
        (
            &["--lr=-0.001"],
            "--lr -0.001: give a finite number above 0",
        ),
        (&["--rounds", "0"], "--rounds 0: must be at least 1"),
    ] {
        fails_with(&tiny_train(&out, flags), &[needle]);
        assert!(
            !out.join("config.json").exists(),
            "{flags:?} wrote a config"
        );
    }
    std::fs::remove_dir_all(&dir).unwrap();
}

#[test]
fn output_locations_are_checked_before_any_rendering() {
    let dir = temp_dir("outputs");
    let (weights, layout) = tiny_model(&dir);
    // A file where a folder should go: no folder can be created under it, not even by root.
    let file = dir.join("file");
    std::fs::write(&file, b"x").unwrap();
    let blocked = file.join("sub");
    let grid = dir.join("grid.png");
    let o = cimle(&[
        "sample",
        "--weights",
        s(&weights),
        "--layout",
        s(&layout),
        "--out",
        s(&grid),
        "--frames",
        s(&blocked),
    ]);
    fails_with(&o, &["--frames", "cannot create this folder"]);
    assert!(
        !grid.exists(),
        "the grid was written before --frames was checked"
    );
    for args in [
        vec![
            "evaluate",
            "--weights",
            s(&weights),
            "--vgg-width-div",
            "16",
        ],
        vec![
            "interpolate",
            "--weights",
            s(&weights),
            "--layout",
            s(&layout),
            "--from",
            "1",
            "--to",
            "2",
        ],
        vec![
            "animate",
            "--weights",
            s(&weights),
            "--synth-seed",
            "1",
            "--seed",
            "2",
        ],
    ] {
        let args: Vec<&str> = args.into_iter().chain(["--out", s(&blocked)]).collect();
        let started = Instant::now();
        fails_with(&cimle(&args), &["--out", "cannot create this folder"]);
        assert!(started.elapsed() < Duration::from_secs(20), "{args:?}");
    }
    // train --out: once, not the OS message twice.
    let err = fails_with(
        &tiny_train(&blocked, &[]),
        &["--out", "cannot create this folder"],
    );
    let os = err
        .split("folder (")
        .nth(1)
        .unwrap()
        .split(')')
        .next()
        .unwrap();
    assert_eq!(err.matches(os).count(), 1, "{err}");
    std::fs::remove_dir_all(&dir).unwrap();
}

#[test]
fn resume_refuses_other_flags_and_allows_more_rounds() {
    let dir = temp_dir("resume-check");
    let out = dir.join("run");
    // --resume on a folder with no checkpoint: a fresh run, and it says so.
    let o = tiny_train(&out, &["--rounds", "1", "--resume"]);
    let err = String::from_utf8_lossy(&o.stderr);
    assert!(o.status.success(), "{err}");
    assert!(err.contains("holds no checkpoint"), "{err}");
    let config = std::fs::read(out.join("config.json")).unwrap();
    fails_with(
        &tiny_train(
            &out,
            &["--rounds", "1", "--resume", "--seed", "5", "--lr", "0.01"],
        ),
        &[
            "lr: the run is 0.001, the flags say 0.01",
            "seed: the run is 0, the flags say 5",
        ],
    );
    let err = fails_with(
        &tiny_train(&out, &["--rounds", "1", "--resume", "--preset", "small"]),
        &["preset: the run is tiny, the flags say small"],
    );
    assert!(err.len() < 1000, "{err}");
    assert_eq!(std::fs::read(out.join("config.json")).unwrap(), config);
    // More rounds: what resuming is for.
    let o = tiny_train(&out, &["--rounds", "2", "--resume"]);
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    let saved: serde_json::Value =
        serde_json::from_slice(&std::fs::read(out.join("config.json")).unwrap()).unwrap();
    assert_eq!(saved["rounds"], 2);
    assert!(out.join("samples/round-02.png").is_file());
    std::fs::remove_dir_all(&dir).unwrap();
}
