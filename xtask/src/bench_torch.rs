//! `cargo xtask bench-torch [--threads N] [--reps N]`: cimle's CPU training path side by side
//! with PyTorch running the same network on the same cores.
//!
//! 1. Installs PyTorch into `target/torch-venv` (PyPI; only ever a comparison, never a
//!    dependency of cimle) and builds `cimle`.
//! 2. `cimle bench --write-fixture` writes three fixtures (the small preset with the full-width
//!    and the half-width random VGG-19, and the 256x512 browser preset): the generator, the VGG,
//!    inputs and cimle's outputs. `benches/torch_reference.py check` loads each into its own
//!    PyTorch modules and must reproduce cimle's render, distance, loss, Adam update and
//!    selection within the stated tolerances before anything is timed.
//! 3. Every row is timed `reps` times per side, alternating cimle and PyTorch processes, with
//!    the same thread count; the table gives medians, the ratio and each side's peak memory.
//!    Written to `target/bench-torch.md` and `.json`.

use std::path::{Path, PathBuf};
use std::process::Command;

use anyhow::{Context, Result, bail};

use crate::tools::{root, run};

/// The PyTorch release the reference is measured with.
pub const TORCH_VERSION: &str = "2.15.0";

fn venv() -> PathBuf {
    root().join("target/torch-venv")
}

/// `target/torch-venv` with torch and safetensors, created when missing.
fn ensure_venv() -> Result<PathBuf> {
    let python = venv().join("bin/python");
    let ok = python.exists()
        && Command::new(&python)
            .args([
                "-c",
                &format!("import torch, safetensors; assert torch.__version__.startswith('{TORCH_VERSION}')"),
            ])
            .status()
            .is_ok_and(|s| s.success());
    if !ok {
        eprintln!(
            "installing PyTorch {TORCH_VERSION} into {} (a few GB, once)",
            venv().display()
        );
        run("python3", &["-m", "venv", &venv().to_string_lossy()])?;
        run(
            &python.to_string_lossy(),
            &[
                "-m",
                "pip",
                "install",
                "--quiet",
                &format!("torch=={TORCH_VERSION}"),
                "safetensors",
                "numpy",
            ],
        )?;
    }
    Ok(python)
}

struct Row {
    name: &'static str,
    fixture: &'static str,
    case: &'static str,
    batch: usize,
    repeats: usize,
}

const ROWS: [Row; 8] = [
    Row {
        name: "train step, small 64x128, full-width VGG-19, batch 1",
        fixture: "small-vgg1",
        case: "train-step",
        batch: 1,
        repeats: 20,
    },
    Row {
        name: "train step, small 64x128, VGG-19 channels / 2 (the quick-start's), batch 1",
        fixture: "small-vgg2",
        case: "train-step",
        batch: 1,
        repeats: 20,
    },
    Row {
        name: "selection, small, m = 10, full-width VGG-19",
        fixture: "small-vgg1",
        case: "selection",
        batch: 1,
        repeats: 2,
    },
    Row {
        name: "selection, small, m = 10, VGG-19 channels / 2",
        fixture: "small-vgg2",
        case: "selection",
        batch: 1,
        repeats: 2,
    },
    Row {
        name: "generator forward, small 64x128, batch 1, no grad",
        fixture: "small-vgg2",
        case: "forward",
        batch: 1,
        repeats: 40,
    },
    Row {
        name: "generator forward, small 64x128, batch 8, no grad",
        fixture: "small-vgg2",
        case: "forward",
        batch: 8,
        repeats: 10,
    },
    Row {
        name: "generator forward, 256x512 browser preset, batch 1, no grad",
        fixture: "browser",
        case: "forward",
        batch: 1,
        repeats: 5,
    },
    Row {
        name: "generator forward, 256x512 browser preset, batch 8, no grad",
        fixture: "browser",
        case: "forward",
        batch: 8,
        repeats: 2,
    },
];

/// One timed process's JSON line.
fn measure(mut cmd: Command, threads: usize) -> Result<serde_json::Value> {
    let t = threads.to_string();
    cmd.env("RAYON_NUM_THREADS", &t)
        .env("OMP_NUM_THREADS", &t)
        .env("MKL_NUM_THREADS", &t);
    let out = cmd.output().with_context(|| format!("running {cmd:?}"))?;
    if !out.status.success() {
        bail!("{cmd:?} failed: {}", String::from_utf8_lossy(&out.stderr));
    }
    let text = String::from_utf8_lossy(&out.stdout);
    let line = text
        .lines()
        .rev()
        .find(|l| l.trim_start().starts_with('{'))
        .unwrap_or("{}");
    Ok(serde_json::from_str(line)?)
}

fn median(mut v: Vec<f64>) -> f64 {
    v.sort_by(f64::total_cmp);
    let n = v.len();
    if n == 0 {
        f64::NAN
    } else if n % 2 == 1 {
        v[n / 2]
    } else {
        (v[n / 2 - 1] + v[n / 2]) / 2.0
    }
}

fn machine() -> String {
    let cpu = std::fs::read_to_string("/proc/cpuinfo")
        .ok()
        .and_then(|s| {
            s.lines()
                .find(|l| l.starts_with("model name"))
                .and_then(|l| l.split(':').nth(1))
                .map(|m| m.trim().to_string())
        })
        .unwrap_or_else(|| "unknown CPU".into());
    let cores = std::thread::available_parallelism().map_or(0, |n| n.get());
    format!("{cpu}, {cores} cores")
}

/// The whole benchmark.
pub fn bench_torch(threads: usize, reps: usize) -> Result<()> {
    let python = ensure_venv()?;
    run("cargo", &["build", "--release", "-p", "cimle-trainer"])?;
    let cimle = root().join("target/release/cimle");
    let script = root().join("benches/torch_reference.py");
    let dir = root().join("target/bench-torch");
    let fixture = |name: &str| dir.join(name);
    for (name, preset, div) in [
        ("small-vgg1", "small", "1"),
        ("small-vgg2", "small", "2"),
        ("browser", "browser", "4"),
    ] {
        let path = fixture(name);
        run(
            &cimle.to_string_lossy(),
            &[
                "bench",
                "--write-fixture",
                &path.to_string_lossy(),
                "--preset",
                preset,
                "--vgg-width-div",
                div,
            ],
        )?;
        let check = measure(
            {
                let mut c = Command::new(&python);
                c.arg(&script)
                    .arg("check")
                    .arg(&path)
                    .arg("--threads")
                    .arg(threads.to_string());
                c
            },
            threads,
        )
        .with_context(|| format!("the PyTorch reference does not reproduce cimle on {name}"))?;
        eprintln!("check {name}: {}", check["errors"]);
        if check["ok"] != serde_json::Value::Bool(true) {
            bail!(
                "the PyTorch reference differs from cimle on {name} beyond the tolerance: {check}"
            );
        }
    }
    let mut table = format!(
        "| measurement | cimle (CPU kernels) | PyTorch {TORCH_VERSION} eager | cimle's speed relative to PyTorch | peak memory: cimle / PyTorch (MiB) |\n|---|---:|---:|---:|---:|\n"
    );
    let mut json_rows = Vec::new();
    for row in &ROWS {
        let (mut ours, mut theirs, mut mem_ours, mut mem_theirs) =
            (Vec::new(), Vec::new(), 0.0f64, 0.0f64);
        let mut unit = String::new();
        for _ in 0..reps.max(1) {
            let mut c = Command::new(&cimle);
            c.args(["bench", "--fixture"])
                .arg(fixture(row.fixture))
                .args([
                    "--case",
                    row.case,
                    "--batch",
                    &row.batch.to_string(),
                    "--steps",
                    &row.repeats.to_string(),
                    "--threads",
                    &threads.to_string(),
                ]);
            let a = measure(c, threads)?;
            let mut c = Command::new(&python);
            c.arg(&script)
                .arg("time")
                .arg(fixture(row.fixture))
                .arg(row.case)
                .args([
                    "--batch",
                    &row.batch.to_string(),
                    "--repeats",
                    &row.repeats.to_string(),
                    "--threads",
                    &threads.to_string(),
                ]);
            let b = measure(c, threads)?;
            ours.push(a["value"].as_f64().unwrap_or(f64::NAN));
            theirs.push(b["value"].as_f64().unwrap_or(f64::NAN));
            mem_ours = mem_ours.max(a["peak_rss_mib"].as_f64().unwrap_or(0.0));
            mem_theirs = mem_theirs.max(b["peak_rss_mib"].as_f64().unwrap_or(0.0));
            unit = a["unit"].as_str().unwrap_or("").to_string();
        }
        let (a, b) = (median(ours.clone()), median(theirs.clone()));
        // Speed relative to PyTorch: > 1 means cimle is faster.
        let speed = if unit == "ms" { b / a } else { a / b };
        let fmt = |v: f64| {
            if unit == "ms" {
                format!("{v:.1} ms")
            } else {
                format!("{v:.2} {unit}")
            }
        };
        eprintln!(
            "{}: cimle {} PyTorch {} -> {speed:.2}x",
            row.name,
            fmt(a),
            fmt(b)
        );
        table += &format!(
            "| {} | {} | {} | {:.2}x | {:.0} / {:.0} |\n",
            row.name,
            fmt(a),
            fmt(b),
            speed,
            mem_ours,
            mem_theirs
        );
        json_rows.push(serde_json::json!({
            "row": row.name, "unit": unit, "cimle": ours, "pytorch": theirs,
            "cimle_median": a, "pytorch_median": b, "speed_relative": speed,
            "peak_rss_mib_cimle": mem_ours, "peak_rss_mib_pytorch": mem_theirs,
        }));
    }
    let header = format!(
        "Machine: {}; {threads} threads each; {reps} runs per side, alternating; medians.\n\
         Command: `cargo xtask bench-torch --threads {threads} --reps {reps}`.\n\n",
        machine()
    );
    let report = header + &table;
    println!("{report}");
    write(&dir.with_extension("md"), report.as_bytes())?;
    write(
        &dir.with_extension("json"),
        &serde_json::to_vec_pretty(
            &serde_json::json!({ "machine": machine(), "threads": threads, "reps": reps, "rows": json_rows }),
        )?,
    )?;
    eprintln!("written to {}", dir.with_extension("md").display());
    Ok(())
}

fn write(path: &Path, bytes: &[u8]) -> Result<()> {
    std::fs::write(path, bytes).with_context(|| format!("writing {}", path.display()))
}
