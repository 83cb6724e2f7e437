//! Chores: `cargo xtask quickstart` (the README's first command) and `cargo xtask test` (the
//! second, which `.ci/run` calls). Each installs what it needs itself, idempotently.

use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::Instant;

use anyhow::{Context, Result, bail};

fn root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .parent()
        .map(Path::to_path_buf)
        .unwrap_or_else(|| PathBuf::from("."))
}

/// Runs a command in the workspace root, echoing it, failing on a non-zero exit.
fn run(program: &str, args: &[&str]) -> Result<()> {
    eprintln!("+ {program} {}", args.join(" "));
    let status = Command::new(program)
        .args(args)
        .current_dir(root())
        .status()
        .with_context(|| format!("starting {program}"))?;
    if !status.success() {
        bail!("`{program} {}` failed with {status}", args.join(" "));
    }
    Ok(())
}

fn output(program: &str, args: &[&str]) -> Option<String> {
    Command::new(program)
        .args(args)
        .output()
        .ok()
        .filter(|o| o.status.success())
        .map(|o| String::from_utf8_lossy(&o.stdout).into_owned())
}

/// rustup target and components, added only when missing.
fn ensure_toolchain() -> Result<()> {
    let targets = output("rustup", &["target", "list", "--installed"]).unwrap_or_default();
    if !targets
        .lines()
        .any(|l| l.trim() == "wasm32-unknown-unknown")
    {
        run("rustup", &["target", "add", "wasm32-unknown-unknown"])?;
    }
    let components = output("rustup", &["component", "list", "--installed"]).unwrap_or_default();
    for c in ["rustfmt", "clippy"] {
        if !components.lines().any(|l| l.starts_with(c)) {
            run("rustup", &["component", "add", c])?;
        }
    }
    Ok(())
}

fn test() -> Result<()> {
    let started = Instant::now();
    ensure_toolchain()?;
    run("cargo", &["fmt", "--all", "--check"])?;
    // The model crate must build for the browser.
    run(
        "cargo",
        &[
            "build",
            "--release",
            "-p",
            "cimle-shared",
            "--target",
            "wasm32-unknown-unknown",
        ],
    )?;
    // Release profile, like the binary: burn compiles once.
    run("cargo", &["test", "--release", "--workspace"])?;
    if std::env::var_os("CIMLE_CLIPPY").is_some() {
        run(
            "cargo",
            &[
                "clippy",
                "--release",
                "--workspace",
                "--all-targets",
                "--",
                "-D",
                "warnings",
            ],
        )?;
    }
    eprintln!(
        "cargo xtask test: all green in {:.1} min",
        started.elapsed().as_secs_f64() / 60.0
    );
    Ok(())
}

fn quickstart() -> Result<()> {
    let started = Instant::now();
    let run_dir = "runs/quickstart";
    run(
        "cargo",
        &[
            "run",
            "--release",
            "-p",
            "cimle-trainer",
            "--",
            "train",
            "--data",
            "synth",
            "--preset",
            "small",
            // A narrower random-feature VGG-19 halves the CPU time, and the rarity mask, which
            // weighs a road pixel ~1/1000 of a sign pixel, starves the common classes in a
            // 15-minute run (README, "The quick-start").
            "--vgg-width-div",
            "2",
            "--no-loss-rebalance",
            "--out",
            run_dir,
        ],
    )?;
    run(
        "cargo",
        &[
            "run",
            "--release",
            "-p",
            "cimle-trainer",
            "--",
            "synth",
            "--out",
            "runs/quickstart/layouts",
            "--count",
            "4",
            "--seed",
            "12345",
            "--size",
            "64x128",
        ],
    )?;
    run(
        "cargo",
        &[
            "run",
            "--release",
            "-p",
            "cimle-trainer",
            "--",
            "sample",
            "--weights",
            "runs/quickstart/weights.safetensors",
            "--layout",
            "runs/quickstart/layouts/labels/000000.png",
            "--count",
            "19",
            "--out",
            "runs/quickstart/grid.png",
        ],
    )?;
    eprintln!(
        "quickstart done in {:.1} min: runs/quickstart/grid.png (layout + 19 samples), \
         runs/quickstart/samples/ (per round), runs/quickstart/loss.png",
        started.elapsed().as_secs_f64() / 60.0
    );
    Ok(())
}

fn main() -> Result<()> {
    let task = std::env::args().nth(1).unwrap_or_default();
    match task.as_str() {
        "test" => test(),
        "quickstart" => quickstart(),
        _ => bail!("usage: cargo xtask <quickstart|test>"),
    }
}
