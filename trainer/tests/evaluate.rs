//! `cimle evaluate` end to end on a tiny model: the report files appear and hold the measures.

use std::collections::BTreeMap;
use std::process::Command;

use burn::tensor::Device;
use cimle::config::Preset;
use cimle::weights::{Precision, save_generator};

#[test]
fn evaluate_writes_a_report_with_diversity_and_factor_coverage() {
    let dir = std::env::temp_dir().join(format!("cimle-test-evaluate-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).unwrap();
    let cfg = Preset::Tiny.config();
    let g = cfg.init_seeded(&Device::flex(), 3);
    let weights = dir.join("tiny.safetensors");
    std::fs::write(
        &weights,
        save_generator(&g, &cfg, Precision::F32, &BTreeMap::new()).unwrap(),
    )
    .unwrap();
    let out = dir.join("report");
    let o = Command::new(env!("CARGO_BIN_EXE_cimle"))
        .args([
            "evaluate",
            "--layouts",
            "2",
            "--samples",
            "3",
            "--vgg-width-div",
            "16",
        ])
        .arg("--weights")
        .arg(&weights)
        .arg("--out")
        .arg(&out)
        .output()
        .unwrap();
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    for f in ["report.md", "report.json", "samples.png"] {
        assert!(out.join(f).is_file(), "{f} missing");
    }
    let report: serde_json::Value =
        serde_json::from_slice(&std::fs::read(out.join("report.json")).unwrap()).unwrap();
    let model = &report["model"];
    assert_eq!(model["layouts"], 2);
    assert_eq!(model["samples_per_layout"], 3);
    // Different codes give different images, so the mean pairwise distance is positive.
    assert!(model["diversity"].as_f64().unwrap() > 0.0);
    let factors = model["factors"].as_array().unwrap();
    assert_eq!(factors.len(), 4);
    for f in factors {
        let tv = f["tv_distance"].as_f64().unwrap();
        assert!((0.0..=1.0).contains(&tv), "{f}");
    }
    // Fidelity: a best-of-3 PSNR in a plausible range for an untrained model, a distance, and
    // the sharpness ratio of samples to photos.
    let fidelity = &model["fidelity"];
    let psnr = fidelity["best_psnr_db"].as_f64().unwrap();
    assert!((3.0..40.0).contains(&psnr), "{fidelity}");
    assert!(fidelity["best_distance"].as_f64().unwrap() > 0.0);
    let ratio = fidelity["sharpness_ratio"].as_f64().unwrap();
    let (samples, photos) = (
        fidelity["sample_sharpness"].as_f64().unwrap(),
        fidelity["photo_sharpness"].as_f64().unwrap(),
    );
    assert!(
        photos > 0.0 && (ratio - samples / photos).abs() < 1e-9,
        "{fidelity}"
    );
    let md = std::fs::read_to_string(out.join("report.md")).unwrap();
    assert!(md.contains("best-of-3 PSNR"), "{md}");
    assert!(
        md.contains("| time_of_day |") && md.contains("random-feature VGG-19"),
        "{md}"
    );
    std::fs::remove_dir_all(dir).unwrap();
}

/// `cimle train --eval-every 1` measures the generator after every round: eval.csv has a row
/// per round with the measures, and curves.png is drawn.
#[test]
fn training_with_eval_every_writes_a_learning_curve() {
    let out = std::env::temp_dir().join(format!("cimle-test-curves-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&out);
    let o = Command::new(env!("CARGO_BIN_EXE_cimle"))
        .args([
            "train",
            "--preset",
            "tiny",
            "--data",
            "synth",
            "--synth-count",
            "6",
            "--images-per-round",
            "4",
            "--candidates",
            "2",
            "--steps-per-round",
            "5",
            "--rounds",
            "3",
            "--vgg-width-div",
            "16",
            "--backend",
            "cpu",
            "--eval-every",
            "1",
            "--eval-layouts",
            "2",
            "--eval-samples",
            "3",
        ])
        .arg("--out")
        .arg(&out)
        .output()
        .unwrap();
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    let csv = std::fs::read_to_string(out.join("eval.csv")).unwrap();
    let lines: Vec<&str> = csv.lines().collect();
    assert_eq!(lines.len(), 4, "{csv}");
    assert!(lines[0].starts_with("round,steps,minutes,best_psnr_db"));
    for (r, line) in lines[1..].iter().enumerate() {
        let cols: Vec<&str> = line.split(',').collect();
        assert_eq!(cols[0], (r + 1).to_string());
        assert_eq!(cols[1], ((r + 1) * 5).to_string());
        let psnr: f64 = cols[3].parse().unwrap();
        assert!(psnr.is_finite() && psnr > 0.0, "{line}");
    }
    assert!(out.join("curves.png").is_file());
    std::fs::remove_dir_all(out).unwrap();
}
