//! `cimle compare` end to end on a tiny budget: five runs, the reports and pictures, a table of
//! five rows, CRN models sampled with the zero code, and a second invocation that skips the
//! finished runs.

use std::path::{Path, PathBuf};
use std::process::{Command, Output};

use cimle::weights::read_header;

/// The tiny preset starts from the released recipe (both rebalancings on): cIMLE and CRN with
/// it, then the appendix's ablations and CRN without rebalancing.
const RUNS: [&str; 5] = [
    "cimle",
    "crn",
    "cimle-no-dataset-rebalance",
    "cimle-no-loss-rebalance",
    "crn-no-rebalance",
];

fn compare(out: &Path, steps: &str) -> Output {
    Command::new(env!("CARGO_BIN_EXE_cimle"))
        .args([
            "compare",
            "--data",
            "synth",
            "--preset",
            "tiny",
            "--backend",
            "cpu",
            "--synth-count",
            "12",
            "--rarity-min-images",
            "4",
            "--rounds",
            "1",
            "--images-per-round",
            "4",
            "--candidates",
            "2",
            "--batch-size",
            "2",
            "--vgg-width-div",
            "16",
            "--layouts",
            "2",
            "--samples",
            "3",
            "--video-frames",
            "4",
            "--steps-per-round",
            steps,
        ])
        .arg("--out")
        .arg(out)
        .output()
        .unwrap()
}

fn stderr(o: &Output) -> String {
    String::from_utf8_lossy(&o.stderr).into_owned()
}

/// The data rows of the first Markdown table in `text`, by their first cell.
fn table_rows(text: &str) -> Vec<String> {
    text.lines()
        .skip_while(|l| !l.starts_with("| run |"))
        .skip(2)
        .take_while(|l| l.starts_with('|'))
        .map(|l| l.split('|').nth(1).unwrap_or("").trim().to_string())
        .collect()
}

fn sample_frames(weights: &Path, dir: &Path) -> Vec<Vec<u8>> {
    let o = Command::new(env!("CARGO_BIN_EXE_cimle"))
        .args(["sample", "--count", "3", "--layout"])
        .arg(dir.join("layout.png"))
        .arg("--weights")
        .arg(weights)
        .arg("--out")
        .arg(dir.join("grid.png"))
        .arg("--frames")
        .arg(dir.join("frames"))
        .output()
        .unwrap();
    assert!(o.status.success(), "{}", stderr(&o));
    let mut files: Vec<PathBuf> = std::fs::read_dir(dir.join("frames"))
        .unwrap()
        .map(|e| e.unwrap().path())
        .collect();
    files.sort();
    files.iter().map(|f| std::fs::read(f).unwrap()).collect()
}

#[test]
fn compare_trains_five_runs_reports_them_and_skips_finished_runs_when_rerun() {
    let dir = std::env::temp_dir().join(format!("cimle-test-compare-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    let out = dir.join("cmp");

    let first = compare(&out, "3");
    assert!(first.status.success(), "{}", stderr(&first));
    let log = stderr(&first);
    for (i, name) in RUNS.iter().enumerate() {
        assert!(log.contains(&format!("run {}/5: {name} (", i + 1)), "{log}");
        assert!(
            out.join(name).join("weights.safetensors").is_file(),
            "{name}"
        );
    }
    for f in [
        "report.md",
        "report.json",
        "metrics.png",
        "samples.png",
        "frames.png",
    ] {
        assert!(out.join(f).is_file(), "{f} missing");
    }
    let md = std::fs::read_to_string(out.join("report.md")).unwrap();
    assert_eq!(table_rows(&md), RUNS, "{md}");
    assert!(
        md.contains("random-feature VGG-19") && md.contains("mode recall: time_of_day"),
        "{md}"
    );
    assert!(md.contains("mean adjacent difference"), "{md}");
    let headline = md
        .lines()
        .find(|l| l.starts_with("cIMLE against CRN with the same settings: mean TV distance "))
        .unwrap_or_else(|| panic!("no cIMLE-against-CRN line: {md}"));
    assert!(
        headline.contains(" against 0.")
            && headline.contains("rare-mode recall ")
            && !headline.contains("  "),
        "{headline}"
    );
    // The table also goes to stdout.
    assert_eq!(
        table_rows(&String::from_utf8_lossy(&first.stdout)),
        RUNS,
        "{}",
        String::from_utf8_lossy(&first.stdout)
    );

    let report: serde_json::Value =
        serde_json::from_slice(&std::fs::read(out.join("report.json")).unwrap()).unwrap();
    let runs = report["runs"].as_array().unwrap();
    assert_eq!(runs.len(), 5);
    for run in runs {
        // Budget parity: 1 round x 3 steps for every run, CRN included.
        assert_eq!(run["gradient_steps"], 3, "{run}");
        assert_eq!(run["evaluation"]["factors"].as_array().unwrap().len(), 4);
    }
    let diversity = |i: usize| runs[i]["diversity"].as_f64().unwrap();
    assert!(diversity(0) > 0.0, "cIMLE samples differ");
    assert_eq!(diversity(1), 0.0, "CRN samples are one image");
    assert_eq!(diversity(4), 0.0, "CRN samples are one image");
    let video = report["video"]["runs"].as_array().unwrap();
    assert_eq!(video.len(), 2);
    assert_eq!(video[0][0], "cimle");
    assert_eq!(video[1][0], "crn");

    // How a CRN model is marked: in config.json and in the weights file's metadata.
    let config: serde_json::Value =
        serde_json::from_slice(&std::fs::read(out.join("crn/config.json")).unwrap()).unwrap();
    assert_eq!(config["method"], "crn");
    let header = read_header(&std::fs::read(out.join("crn/weights.safetensors")).unwrap()).unwrap();
    assert_eq!(header.metadata["method"], "crn");
    let header =
        read_header(&std::fs::read(out.join("cimle/weights.safetensors")).unwrap()).unwrap();
    assert_eq!(header.metadata["method"], "cimle");

    // `cimle sample` on a CRN model renders the zero code for every seed; cIMLE's differ.
    let layout = cimle_trainer::synth::generate_scene(5, 0, 16, 32);
    let layout = cimle::layout::Layout::new(16, 32, layout.labels).unwrap();
    let sampled = dir.join("sample");
    std::fs::create_dir_all(&sampled).unwrap();
    std::fs::write(sampled.join("layout.png"), layout.encode_train_id_png()).unwrap();
    let crn = sample_frames(&out.join("crn/weights.safetensors"), &sampled);
    assert_eq!(crn.len(), 3);
    assert!(crn.iter().all(|f| f == &crn[0]));
    std::fs::remove_dir_all(sampled.join("frames")).unwrap();
    let cimle = sample_frames(&out.join("cimle/weights.safetensors"), &sampled);
    assert_ne!(cimle[0], cimle[1]);

    // Again with the same flags: every run is found finished and skipped, nothing retrained.
    let checkpoint = |name: &str| std::fs::read(out.join(name).join("checkpoint.bin")).unwrap();
    let before: Vec<Vec<u8>> = RUNS.iter().map(|n| checkpoint(n)).collect();
    let second = compare(&out, "3");
    assert!(second.status.success(), "{}", stderr(&second));
    let log = stderr(&second);
    assert_eq!(log.matches("finished earlier: skipped").count(), 5, "{log}");
    let after: Vec<Vec<u8>> = RUNS.iter().map(|n| checkpoint(n)).collect();
    assert!(before == after, "a finished run was retrained");
    let md = std::fs::read_to_string(out.join("report.md")).unwrap();
    assert_eq!(table_rows(&md), RUNS);

    // Other settings into the same folder are refused, not mixed in.
    let other = compare(&out, "4");
    assert!(!other.status.success());
    assert!(
        stderr(&other).contains("other settings"),
        "{}",
        stderr(&other)
    );

    std::fs::remove_dir_all(dir).unwrap();
}
