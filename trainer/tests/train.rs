//! End-to-end training tests: a tiny run learns, and a run killed with SIGKILL mid-round
//! resumes and finishes with a loadable checkpoint.

use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use burn::tensor::Device;
use cimle::config::Preset;
use cimle::layout::Layout;
use cimle::weights::load_generator;
use cimle_trainer::config::TrainingConfig;
use cimle_trainer::data::Pair;
use cimle_trainer::engine::TrainPath;
use cimle_trainer::perceptual::LayerWeights;
use cimle_trainer::run::{RunInputs, RunOptions, load_checkpoint, train_run};
use cimle_trainer::vgg::{Vgg19Config, Vgg19Features};

fn temp_dir(name: &str) -> PathBuf {
    let dir = std::env::temp_dir().join(format!("cimle-test-{name}-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    dir
}

fn synth_pairs(count: usize, h: usize, w: usize) -> Vec<Pair> {
    cimle_trainer::data::source::synth_pairs(7, count, h, w).unwrap()
}

#[test]
fn a_tiny_run_on_built_in_scenes_lowers_the_loss() {
    let device = Device::flex();
    let cfg = Preset::Tiny.config();
    let pairs = synth_pairs(8, cfg.height, cfg.width);
    let config = TrainingConfig::new(cfg)
        .with_rounds(3)
        .with_images_per_round(8)
        .with_candidates(4)
        .with_steps_per_round(40)
        .with_lr(2e-3)
        .with_reinit_after_rounds(None);
    let vgg = Vgg19Features::random(0, &Vgg19Config { width_div: 16 }, &device).unwrap();
    let out = temp_dir("lowers-loss");
    let inputs = RunInputs {
        pairs: &pairs,
        rarity: None,
        vgg,
        layer_weights: LayerWeights::paper(),
        device: device.clone(),
    };
    let summary = train_run(
        &config,
        &inputs,
        &RunOptions {
            out: out.clone(),
            resume: false,
            progress: false,
            path: TrainPath::Kernels,
            eval: None,
        },
    )
    .unwrap();
    let losses = &summary.state.losses;
    assert_eq!(losses.len(), 3 * 40);
    let mean = |r: std::ops::Range<usize>| {
        losses[r.clone()].iter().map(|l| l.2).sum::<f32>() / r.len() as f32
    };
    let first = mean(0..20);
    let last = mean(100..120);
    assert!(last < 0.9 * first, "loss went from {first} to {last}");
    for file in [
        "config.json",
        "checkpoint.bin",
        "weights.safetensors",
        "loss.csv",
        "loss.png",
    ] {
        assert!(out.join(file).is_file(), "{file} missing");
    }
    for r in 1..=3 {
        assert!(out.join(format!("samples/round-{r:02}.png")).is_file());
    }
    // A second run into the same folder without --resume is refused, not overwritten.
    let again = train_run(
        &config,
        &inputs,
        &RunOptions {
            out: out.clone(),
            resume: false,
            progress: false,
            path: TrainPath::Kernels,
            eval: None,
        },
    );
    assert!(again.unwrap_err().to_string().contains("--resume"));
    std::fs::remove_dir_all(out).unwrap();
}

/// Resuming restores everything a round depends on (weights, Adam moments with their
/// parameter ids, the RNG): 1 round + resume 1 round gives the weights of 2 rounds in a row.
#[test]
fn resuming_continues_exactly_where_the_run_stopped() {
    for path in [TrainPath::Kernels, TrainPath::Burn] {
        resume_equals_an_uninterrupted_run(path);
    }
}

fn resume_equals_an_uninterrupted_run(path: TrainPath) {
    let device = Device::flex();
    let cfg = Preset::Tiny.config();
    let pairs = synth_pairs(12, cfg.height, cfg.width);
    let config = |rounds| {
        TrainingConfig::new(cfg.clone())
            .with_rounds(rounds)
            .with_images_per_round(6)
            .with_candidates(3)
            .with_steps_per_round(8)
            .with_lr(2e-3)
            .with_reinit_after_rounds(None)
            .with_selection_batch(6)
    };
    let inputs = RunInputs {
        pairs: &pairs,
        rarity: None,
        vgg: Vgg19Features::random(0, &Vgg19Config { width_div: 16 }, &device).unwrap(),
        layer_weights: LayerWeights::paper(),
        device: device.clone(),
    };
    let run = |rounds: usize, out: &PathBuf, resume: bool| {
        train_run(
            &config(rounds),
            &inputs,
            &RunOptions {
                out: out.clone(),
                resume,
                progress: false,
                path,
                eval: None,
            },
        )
        .unwrap()
    };
    let straight = temp_dir(&format!("straight-{path:?}"));
    let split = temp_dir(&format!("split-{path:?}"));
    let a = run(2, &straight, false);
    run(1, &split, false);
    let b = run(2, &split, true);
    assert_eq!(b.state.rounds_done, 2);
    assert_eq!(a.state.losses.len(), b.state.losses.len());
    let weights = |dir: &PathBuf| {
        let bytes = std::fs::read(dir.join("weights.safetensors")).unwrap();
        let st = safetensors::SafeTensors::deserialize(&bytes).unwrap();
        let mut all: Vec<(String, Vec<u8>)> = st
            .tensors()
            .into_iter()
            .map(|(n, v)| (n, v.data().to_vec()))
            .collect();
        all.sort();
        all
    };
    let (wa, wb) = (weights(&straight), weights(&split));
    assert_eq!(wa.len(), wb.len());
    for ((na, da), (nb, db)) in wa.iter().zip(&wb) {
        assert_eq!(na, nb);
        let max = da
            .chunks_exact(4)
            .zip(db.chunks_exact(4))
            .map(|(x, y)| {
                let x = f32::from_le_bytes([x[0], x[1], x[2], x[3]]);
                let y = f32::from_le_bytes([y[0], y[1], y[2], y[3]]);
                (x - y).abs()
            })
            .fold(0.0f32, f32::max);
        assert!(max < 1e-5, "{path:?}: {na} differs by {max} after resuming");
    }
    std::fs::remove_dir_all(straight).unwrap();
    std::fs::remove_dir_all(split).unwrap();
}

fn cimle() -> Command {
    Command::new(env!("CARGO_BIN_EXE_cimle"))
}

fn tiny_train_args(out: &Path, rounds: usize) -> Vec<String> {
    [
        "train",
        "--backend",
        "cpu",
        "--preset",
        "tiny",
        "--data",
        "synth",
        "--synth-count",
        "8",
        "--images-per-round",
        "8",
        "--candidates",
        "4",
        "--steps-per-round",
        "600",
        "--vgg-width-div",
        "16",
        "--rounds",
        &rounds.to_string(),
        "--out",
    ]
    .iter()
    .map(|s| s.to_string())
    .chain([out.display().to_string()])
    .collect()
}

#[test]
fn a_run_killed_mid_round_resumes_and_finishes() {
    let out = temp_dir("resume");
    let rounds = 4;
    let mut child = cimle()
        .args(tiny_train_args(&out, rounds))
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    // Wait for the first checkpoint, then a little more, so the kill lands inside a round.
    let ckpt = out.join("checkpoint.bin");
    let started = Instant::now();
    while !ckpt.exists() {
        assert!(
            started.elapsed() < Duration::from_secs(300),
            "no checkpoint after 300 s"
        );
        assert!(child.try_wait().unwrap().is_none(), "trainer exited early");
        std::thread::sleep(Duration::from_millis(20));
    }
    std::thread::sleep(Duration::from_millis(150));
    // SIGKILL: no chance to clean up.
    child.kill().unwrap();
    child.wait().unwrap();
    let device = Device::flex();
    let config: TrainingConfig =
        serde_json::from_slice(&std::fs::read(out.join("config.json")).unwrap()).unwrap();
    let vgg = || Vgg19Features::random(0, &Vgg19Config { width_div: 16 }, &device).unwrap();
    let (state, _) = load_checkpoint(&ckpt, &config, vgg(), TrainPath::Kernels, &device).unwrap();
    assert!(
        state.rounds_done >= 1 && state.rounds_done < rounds,
        "{}",
        state.rounds_done
    );
    // No temporary files are mistaken for outputs, and the files that exist are whole.
    assert!(
        load_generator(
            &std::fs::read(out.join("weights.safetensors")).unwrap(),
            &device
        )
        .is_ok()
    );

    // Other settings are refused before anything is written, each named, with the way back to
    // the defaults of runs started before --recipe existed.
    let other = cimle()
        .args(tiny_train_args(&out, rounds))
        .args(["--resume", "--recipe", "study"])
        .output()
        .unwrap();
    assert!(!other.status.success());
    let err = String::from_utf8_lossy(&other.stderr);
    assert!(
        err.contains("other settings")
            && err.contains("batch_size: the run is 1, the flags say 4")
            && err.contains("--recipe released"),
        "{err}"
    );

    let status = cimle()
        .args(tiny_train_args(&out, rounds))
        .arg("--resume")
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .status()
        .unwrap();
    assert!(status.success());
    let (state, _) = load_checkpoint(&ckpt, &config, vgg(), TrainPath::Kernels, &device).unwrap();
    assert_eq!(state.rounds_done, rounds);
    assert_eq!(state.losses.len(), rounds * 600);
    let bytes = std::fs::read(out.join("weights.safetensors")).unwrap();
    let (_, header) = load_generator(&bytes, &device).unwrap();
    assert_eq!(header.metadata["round"], rounds.to_string());
    std::fs::remove_dir_all(out).unwrap();
}

#[test]
fn bad_flags_and_bad_inputs_fail_with_a_clear_message() {
    let out = temp_dir("badflags");
    let o = cimle()
        .args(["train", "--preset", "huge", "--out"])
        .arg(&out)
        .output()
        .unwrap();
    assert!(!o.status.success());
    let err = String::from_utf8_lossy(&o.stderr);
    assert!(
        err.contains("'huge'") && err.contains("--preset") && err.contains("tiny, small"),
        "{err}"
    );

    std::fs::create_dir_all(&out).unwrap();
    let bogus = out.join("bogus.safetensors");
    std::fs::write(&bogus, b"this is not a weights file").unwrap();
    let layout = out.join("layout.png");
    std::fs::write(&layout, Layout::filled(16, 32, 0).encode_color_png()).unwrap();
    let o = cimle()
        .args(["sample", "--weights"])
        .arg(&bogus)
        .arg("--layout")
        .arg(&layout)
        .arg("--out")
        .arg(out.join("grid.png"))
        .output()
        .unwrap();
    assert!(!o.status.success());
    let err = String::from_utf8_lossy(&o.stderr);
    assert!(
        err.contains("bogus.safetensors") && err.contains("truncated"),
        "{err}"
    );
    assert!(!out.join("grid.png").exists());
    std::fs::remove_dir_all(out).unwrap();
}
