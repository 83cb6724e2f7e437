//! `cimle bench`: the train-step time and selection throughput of a preset on the CPU path, or
//! one case timed on a fixture folder for `cargo xtask bench-torch` (see [`crate::bench`]).

use anyhow::{Context, Result};
use burn::tensor::Device;
use cimle::config::Preset;

use super::budget::{build_vgg, vgg_source};
use super::checks::{at_least, at_most};
use crate::bench::{load_fixture, run_bench, run_case, write_fixture};
use crate::cli::flags::BenchFlags;
use crate::fs::{prepare_dir, prepare_file, write_atomic};

/// The most renders one timed forward pass takes (`--batch`).
pub const MAX_BENCH_BATCH: usize = 1024;

/// Benchmarks, or writes a fixture, or times a fixture case, as the flags say.
pub fn bench(f: &BenchFlags) -> Result<()> {
    at_least("--steps", f.steps, 1, "a measurement takes a step")?;
    at_least("--batch", f.batch, 1, "a forward pass renders an image")?;
    at_most(
        "--batch",
        f.batch,
        MAX_BENCH_BATCH,
        "renders a forward pass",
    )?;
    cimle::cpu::gemm::set_threads(f.threads);
    if let (Some(dir), Some(case)) = (&f.fixture, f.case) {
        let mut fixture = load_fixture(dir)
            .with_context(|| format!("loading the bench fixture {}", dir.display()))?;
        let result = run_case(&mut fixture, case.name(), f.batch, f.steps)?;
        println!("{}", serde_json::to_string(&result)?);
        return Ok(());
    }
    if let Some(out) = &f.out {
        prepare_file("--out", out)?;
    }
    if let Some(dir) = &f.write_fixture {
        prepare_dir("--write-fixture", dir)?;
    }
    let preset = Preset::from(f.preset);
    let device = Device::flex();
    let vgg = build_vgg(&vgg_source(&f.vgg, 1)?, &device)?;
    if let Some(dir) = &f.write_fixture {
        write_fixture(dir, preset, &vgg)
            .with_context(|| format!("writing the bench fixture {}", dir.display()))?;
        eprintln!("fixture written to {}", dir.display());
        return Ok(());
    }
    eprintln!("cimle bench: {preset} on the CPU ({} train steps)", f.steps);
    let tmp = std::env::temp_dir().join(format!("cimle-bench-{}", std::process::id()));
    let report = run_bench(preset, &vgg, f.steps, &tmp);
    let _ = std::fs::remove_dir_all(&tmp);
    let report = report?;
    println!(
        "| preset | resolution | parameters | train step (ms, batch 1) | selection (images/s) | forward (ms, batch 1) |"
    );
    println!("|---|---|---|---|---|---|");
    println!("{}", report.markdown_row());
    println!("distance: {}; {} threads", report.distance, report.threads);
    if let Some(out) = &f.out {
        write_atomic(out, &serde_json::to_vec_pretty(&report)?)
            .with_context(|| format!("writing {}", out.display()))?;
    }
    Ok(())
}
