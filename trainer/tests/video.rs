//! Videos: the animated PNG, adjacent-frame differences, interpolation codes, rendering, and the
//! `cimle interpolate` / `cimle animate` commands end to end on a tiny model.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::process::Command;

use burn::tensor::Device;
use cimle::apng::ApngError;
use cimle::config::Preset;
use cimle::latent::{Interpolation, LatentCode};
use cimle::layout::Layout;
use cimle::weights::{Precision, save_generator};
use cimle_trainer::picture::RgbImage;
use cimle_trainer::video::{
    DIFFERENCE_WHITE, VideoError, encode_apng, frame_differences, interpolation_codes,
    render_frames,
};

/// A fresh folder under the system temp dir, unique to this test and process.
fn temp_dir(name: &str) -> PathBuf {
    let dir = std::env::temp_dir().join(format!("cimle-video-{name}-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).unwrap();
    dir
}

/// A `w x h` image whose pixel (x, y) is a function of (x, y, k): frames that differ.
fn pattern(w: usize, h: usize, k: u8) -> RgbImage {
    let data = (0..h)
        .flat_map(|y| {
            (0..w).flat_map(move |x| {
                [
                    (x as u8).wrapping_mul(7).wrapping_add(k),
                    (y as u8).wrapping_mul(13),
                    k.wrapping_mul(40),
                ]
            })
        })
        .collect();
    RgbImage::from_rgb(w, h, data).unwrap()
}

#[test]
fn apng_of_three_frames_decodes_as_animated_with_three_frames() {
    let frames = [pattern(5, 3, 0), pattern(5, 3, 1), pattern(5, 3, 2)];
    let bytes = encode_apng(&frames, 40).unwrap();
    let mut reader = png::Decoder::new(std::io::Cursor::new(bytes))
        .read_info()
        .unwrap();
    let actl = reader
        .info()
        .animation_control
        .expect("an acTL chunk: the PNG is animated");
    assert_eq!(actl.num_frames, 3);
    assert_eq!(actl.num_plays, 0, "loops forever");
    let fctl = reader.info().frame_control.expect("frame 0 has an fcTL");
    assert_eq!((fctl.delay_num, fctl.delay_den), (40, 1000));
    let mut buf = vec![0; reader.output_buffer_size()];
    for (i, frame) in frames.iter().enumerate() {
        let info = reader
            .next_frame(&mut buf)
            .unwrap_or_else(|e| panic!("frame {i}: {e}"));
        assert_eq!((info.width, info.height), (5, 3));
        assert_eq!(
            &buf[..info.buffer_size()],
            &frame.data[..],
            "frame {i} differs from the input"
        );
    }
}

#[test]
fn apng_refuses_mixed_sizes_no_frames_and_zero_delay() {
    let mixed = [pattern(5, 3, 0), pattern(4, 3, 1)];
    assert!(matches!(
        encode_apng(&mixed, 40),
        Err(VideoError::FrameSize { index: 1, .. })
    ));
    assert!(matches!(
        encode_apng(&[], 40),
        Err(VideoError::Apng(ApngError::NoFrames))
    ));
    assert!(matches!(
        encode_apng(&[pattern(5, 3, 0)], 0),
        Err(VideoError::Apng(ApngError::ZeroDelay))
    ));
    let broken = RgbImage {
        width: 5,
        height: 3,
        data: vec![0; 7],
    };
    assert!(matches!(
        encode_apng(&[pattern(5, 3, 0), broken], 40),
        Err(VideoError::Apng(ApngError::FrameData { index: 1, .. }))
    ));
}

#[test]
fn differences_of_identical_frames_are_all_zero() {
    let f = pattern(6, 4, 3);
    let (maps, means) = frame_differences(&[f.clone(), f.clone(), f]);
    assert_eq!(means, [0.0, 0.0]);
    assert_eq!(maps.len(), 2);
    for map in &maps {
        assert_eq!((map.width, map.height), (6, 4));
        assert!(map.data.iter().all(|&v| v == 0), "a non-black pixel");
    }
}

#[test]
fn differences_of_two_known_frames_give_the_known_mean() {
    // Left half: |10-20| + |20-20| + |30-0| = 40 over 3 channels; right half: identical.
    let mut a = RgbImage::filled(4, 2, [10, 20, 30]);
    let mut b = RgbImage::filled(4, 2, [20, 20, 0]);
    for y in 0..2 {
        for x in 2..4 {
            a.put(x, y, [100, 100, 100]);
            b.put(x, y, [100, 100, 100]);
        }
    }
    let (maps, means) = frame_differences(&[a, b]);
    let expected = (4.0 * 40.0) / (8.0 * 3.0); // 4 changed pixels of 8, 40 levels each
    assert_eq!(means.len(), 1);
    assert!(
        (means[0] - expected).abs() < 1e-12,
        "{} vs {expected}",
        means[0]
    );
    let grey = (40.0 / 3.0 * 255.0 / DIFFERENCE_WHITE).round() as u8;
    let px = |x: usize, y: usize| &maps[0].data[(y * 4 + x) * 3..(y * 4 + x) * 3 + 3];
    assert_eq!(px(0, 0), [grey; 3]);
    assert_eq!(px(1, 1), [grey; 3]);
    assert_eq!(px(3, 0), [0, 0, 0]);
    // Black and white differ by 255 in every channel: saturated white.
    let (maps, means) = frame_differences(&[
        RgbImage::filled(2, 2, [0, 0, 0]),
        RgbImage::filled(2, 2, [255, 255, 255]),
    ]);
    assert_eq!(means, [255.0]);
    assert!(maps[0].data.iter().all(|&v| v == 255));
    // Fewer than two frames: nothing to compare.
    assert!(frame_differences(&[pattern(3, 3, 0)]).1.is_empty());
    assert!(frame_differences(&[]).0.is_empty());
}

#[test]
fn interpolation_codes_start_and_end_at_the_two_codes() {
    let a = LatentCode::from_seed(1, 4, 16, 32);
    let b = LatentCode::from_seed(2, 4, 16, 32);
    for how in [Interpolation::Slerp, Interpolation::Lerp] {
        let codes = interpolation_codes(&a, &b, 5, how).unwrap();
        assert_eq!(codes.len(), 5);
        assert_eq!(codes[0], a);
        assert_eq!(codes[4], b);
        assert_ne!(codes[2], a);
        assert_ne!(codes[2], b);
        let mid = a.interpolate(&b, 0.5, how).unwrap();
        assert_eq!(codes[2], mid);
    }
    let one = interpolation_codes(&a, &b, 1, Interpolation::Slerp).unwrap();
    assert_eq!(one.len(), 1);
    assert_eq!(one[0], a);
    assert!(
        interpolation_codes(&a, &b, 0, Interpolation::Slerp)
            .unwrap()
            .is_empty()
    );
    let other = LatentCode::from_seed(2, 3, 16, 32);
    assert!(interpolation_codes(&a, &other, 5, Interpolation::Slerp).is_err());
}

#[test]
fn render_frames_pairs_layouts_with_codes_and_matches_single_renders() {
    let device = Device::flex();
    let cfg = Preset::Tiny.config();
    let generator = cfg.init(&device);
    let (h, w, l) = (cfg.height, cfg.width, cfg.latent_channels);
    let layout = Layout::filled(h, w, 0);
    // 10 codes, one layout: two batches (8 + 2); frame i is code i's render.
    let codes: Vec<LatentCode> = (0..10).map(|s| LatentCode::from_seed(s, l, h, w)).collect();
    let frames = render_frames(
        &generator,
        &cfg,
        std::slice::from_ref(&layout),
        &codes,
        &device,
    )
    .unwrap();
    assert_eq!(frames.len(), 10);
    assert_ne!(frames[0], frames[1]);
    let single = render_frames(
        &generator,
        &cfg,
        std::slice::from_ref(&layout),
        &codes[9..],
        &device,
    )
    .unwrap();
    let max_diff = single[0]
        .data
        .iter()
        .zip(&frames[9].data)
        .map(|(a, b)| a.abs_diff(*b))
        .max()
        .unwrap();
    assert!(
        max_diff <= 1,
        "batched and single renders differ by {max_diff}"
    );
    // Several layouts, one code.
    let layouts = [Layout::filled(h, w, 0), Layout::filled(h, w, 10)];
    let frames = render_frames(&generator, &cfg, &layouts, &codes[..1], &device).unwrap();
    assert_eq!(frames.len(), 2);
    assert_ne!(frames[0], frames[1]);
    // Mismatches are errors, not panics.
    assert!(matches!(
        render_frames(&generator, &cfg, &layouts, &codes[..3], &device),
        Err(VideoError::CountMismatch { .. })
    ));
    assert!(matches!(
        render_frames(
            &generator,
            &cfg,
            &[Layout::filled(h * 2, w, 0)],
            &codes[..1],
            &device
        ),
        Err(VideoError::LayoutSize { .. })
    ));
    assert!(matches!(
        render_frames(
            &generator,
            &cfg,
            &layouts,
            &[LatentCode::from_seed(0, l + 1, h, w)],
            &device
        ),
        Err(VideoError::CodeShape { .. })
    ));
}

/// A tiny model's weights file and a 16x32 all-road layout PNG in `dir`.
fn tiny_model(dir: &Path) -> (PathBuf, PathBuf) {
    let cfg = Preset::Tiny.config();
    let generator = cfg.init(&Device::flex());
    let bytes = save_generator(&generator, &cfg, Precision::F32, &BTreeMap::new()).unwrap();
    let weights = dir.join("tiny.safetensors");
    std::fs::write(&weights, bytes).unwrap();
    let layout = dir.join("layout.png");
    std::fs::write(
        &layout,
        Layout::filled(cfg.height, cfg.width, 0).encode_color_png(),
    )
    .unwrap();
    (weights, layout)
}

fn cimle(args: &[&str]) -> std::process::Output {
    let output = Command::new(env!("CARGO_BIN_EXE_cimle"))
        .args(args)
        .output()
        .expect("running cimle");
    eprintln!(
        "cimle {}\nstdout:\n{}\nstderr:\n{}",
        args.join(" "),
        String::from_utf8_lossy(&output.stdout),
        String::from_utf8_lossy(&output.stderr)
    );
    output
}

/// Checks the files of a video of `frames` frames in `out`; returns the CSV's means.
fn check_video_folder(out: &Path, frames: usize) -> Vec<f64> {
    for i in 0..frames {
        let path = out.join(format!("frame-{i:03}.png"));
        assert!(path.is_file(), "{} missing", path.display());
    }
    assert!(!out.join(format!("frame-{frames:03}.png")).exists());
    for name in ["interpolation.png", "differences.png", "differences.csv"] {
        assert!(out.join(name).is_file(), "{name} missing");
    }
    let apng = std::fs::read(out.join("interpolation.png")).unwrap();
    let reader = png::Decoder::new(std::io::Cursor::new(apng))
        .read_info()
        .unwrap();
    assert_eq!(
        reader.info().animation_control.map(|a| a.num_frames),
        Some(frames as u32)
    );
    let csv = std::fs::read_to_string(out.join("differences.csv")).unwrap();
    let mut lines = csv.lines();
    assert_eq!(lines.next(), Some("pair,mean_abs_diff"));
    let rows: Vec<&str> = lines.collect();
    assert_eq!(rows.len(), frames - 1, "{csv}");
    rows.iter()
        .enumerate()
        .map(|(i, row)| {
            let (pair, mean) = row.split_once(',').unwrap();
            assert_eq!(pair, i.to_string());
            let mean: f64 = mean.parse().unwrap();
            assert!((0.0..=255.0).contains(&mean), "{row}");
            mean
        })
        .collect()
}

fn printed_mean(output: &std::process::Output) -> f64 {
    let stdout = String::from_utf8_lossy(&output.stdout);
    let line = stdout
        .lines()
        .find(|l| l.starts_with("mean adjacent-frame difference: "))
        .unwrap_or_else(|| panic!("no mean printed: {stdout}"));
    line["mean adjacent-frame difference: ".len()..]
        .split_whitespace()
        .next()
        .unwrap()
        .parse()
        .unwrap()
}

#[test]
fn interpolate_and_animate_commands_write_frames_apng_and_differences() {
    let dir = temp_dir("cli");
    let (weights, layout) = tiny_model(&dir);
    let (weights, layout) = (weights.to_str().unwrap(), layout.to_str().unwrap());

    let out = dir.join("interp");
    let output = cimle(&[
        "interpolate",
        "--weights",
        weights,
        "--layout",
        layout,
        "--from",
        "1",
        "--to",
        "2",
        "--frames",
        "5",
        "--out",
        out.to_str().unwrap(),
    ]);
    assert!(output.status.success());
    let means = check_video_folder(&out, 5);
    let mean = means.iter().sum::<f64>() / means.len() as f64;
    assert!((printed_mean(&output) - mean).abs() < 1e-2);
    assert!(mean > 0.0, "the code changes, so the frames should too");

    let out = dir.join("anim");
    let output = cimle(&[
        "animate",
        "--weights",
        weights,
        "--synth-seed",
        "1",
        "--frames",
        "6",
        "--seed",
        "3",
        "--out",
        out.to_str().unwrap(),
    ]);
    assert!(output.status.success());
    check_video_folder(&out, 6);

    // A folder of layouts with a code interpolated across them.
    let layouts = dir.join("layouts");
    std::fs::create_dir_all(&layouts).unwrap();
    for (i, id) in [0u8, 10, 13].into_iter().enumerate() {
        std::fs::write(
            layouts.join(format!("{i:02}.png")),
            Layout::filled(16, 32, id).encode_color_png(),
        )
        .unwrap();
    }
    let out = dir.join("anim-dir");
    let output = cimle(&[
        "animate",
        "--weights",
        weights,
        "--layouts",
        layouts.to_str().unwrap(),
        "--from",
        "1",
        "--to",
        "2",
        "--out",
        out.to_str().unwrap(),
    ]);
    assert!(output.status.success());
    check_video_folder(&out, 3);

    let _ = std::fs::remove_dir_all(&dir);
}

#[test]
fn bad_input_is_an_error_naming_the_file_not_a_panic() {
    let dir = temp_dir("bad");
    let (weights, layout) = tiny_model(&dir);
    let (weights, layout) = (weights.to_str().unwrap(), layout.to_str().unwrap());
    let out = dir.join("out");
    let out = out.to_str().unwrap();
    let missing = dir.join("missing.png");
    let cases: Vec<(Vec<&str>, &str)> = vec![
        (
            vec![
                "interpolate",
                "--weights",
                weights,
                "--layout",
                missing.to_str().unwrap(),
                "--from",
                "1",
                "--to",
                "2",
                "--out",
                out,
            ],
            "missing.png",
        ),
        (
            vec![
                "interpolate",
                "--weights",
                layout,
                "--layout",
                layout,
                "--from",
                "1",
                "--to",
                "2",
                "--out",
                out,
            ],
            "layout.png",
        ),
        (
            vec![
                "interpolate",
                "--weights",
                weights,
                "--layout",
                layout,
                "--from",
                "1",
                "--to",
                "2",
                "--frames",
                "1",
                "--out",
                out,
            ],
            "--frames",
        ),
        (
            vec![
                "animate",
                "--weights",
                weights,
                "--layouts",
                dir.to_str().unwrap(),
                "--frames",
                "9",
                "--seed",
                "1",
                "--out",
                out,
            ],
            "--frames 9",
        ),
        (
            vec![
                "animate",
                "--weights",
                weights,
                "--synth-seed",
                "1",
                "--out",
                out,
            ],
            "--seed",
        ),
    ];
    for (args, needle) in cases {
        let output = cimle(&args);
        assert!(!output.status.success(), "{args:?} succeeded");
        assert_ne!(output.status.code(), Some(101), "{args:?} panicked");
        let stderr = String::from_utf8_lossy(&output.stderr);
        assert!(stderr.contains(needle), "{args:?}: {stderr}");
    }
    let _ = std::fs::remove_dir_all(&dir);
}
