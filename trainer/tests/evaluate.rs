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
    let md = std::fs::read_to_string(out.join("report.md")).unwrap();
    assert!(
        md.contains("| time_of_day |") && md.contains("random-feature VGG-19"),
        "{md}"
    );
    std::fs::remove_dir_all(dir).unwrap();
}
