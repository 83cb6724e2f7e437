//! Running commands, and installing what the chores need, each only when missing: the wasm32
//! target and rustfmt/clippy (rustup), wasm-bindgen-cli at the version in Cargo.lock (cargo),
//! binaryen's `wasm-opt` (npm: Debian's v108 emits broken modules), Chromium and chromedriver
//! (Debian's packages; no tool downloads its own browser), cargo-fuzz (cargo).

use std::path::{Path, PathBuf};
use std::process::Command;

use anyhow::{Context, Result, bail};

/// The workspace root.
pub fn root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .parent()
        .map(Path::to_path_buf)
        .unwrap_or_else(|| PathBuf::from("."))
}

/// Runs a command in the workspace root, echoing it, failing on a non-zero exit.
pub fn run(program: &str, args: &[&str]) -> Result<()> {
    run_env(program, args, &[])
}

/// [`run`] with extra environment variables.
pub fn run_env(program: &str, args: &[&str], env: &[(&str, &str)]) -> Result<()> {
    eprintln!("+ {program} {}", args.join(" "));
    let status = Command::new(program)
        .args(args)
        .envs(env.iter().copied())
        .current_dir(root())
        .status()
        .with_context(|| format!("starting {program}"))?;
    if !status.success() {
        bail!("`{program} {}` failed with {status}", args.join(" "));
    }
    Ok(())
}

/// A command's stdout, or `None` if it cannot run or fails.
pub fn output(program: &str, args: &[&str]) -> Option<String> {
    Command::new(program)
        .args(args)
        .output()
        .ok()
        .filter(|o| o.status.success())
        .map(|o| String::from_utf8_lossy(&o.stdout).into_owned())
}

/// rustup target and components, added only when missing.
pub fn ensure_toolchain() -> Result<()> {
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

/// The version of a package in Cargo.lock.
fn locked_version(name: &str) -> Result<String> {
    let lock = std::fs::read_to_string(root().join("Cargo.lock")).context("reading Cargo.lock")?;
    let mut lines = lock.lines();
    while let Some(line) = lines.next() {
        if line.trim() == format!("name = \"{name}\"")
            && let Some(v) = lines
                .next()
                .and_then(|l| l.trim().strip_prefix("version = "))
        {
            return Ok(v.trim_matches('"').to_string());
        }
    }
    bail!("{name} is not in Cargo.lock")
}

/// `wasm-bindgen` (and its test runner) at the version the web crate links against.
pub fn ensure_wasm_bindgen() -> Result<()> {
    let want = locked_version("wasm-bindgen")?;
    let have = output("wasm-bindgen", &["--version"]).unwrap_or_default();
    if !have.split_whitespace().any(|w| w == want) {
        run(
            "cargo",
            &["install", "wasm-bindgen-cli", "--version", &want, "--force"],
        )?;
    }
    Ok(())
}

/// The cargo-fuzz release the fuzz step was written against.
const CARGO_FUZZ: &str = "0.13.2";

/// `cargo fuzz`, installed from crates.io when missing. It drives libFuzzer through the
/// `libfuzzer-sys` crate; without a sanitizer (`-s none`) it needs no nightly compiler.
pub fn ensure_cargo_fuzz() -> Result<()> {
    if output("cargo", &["fuzz", "--version"]).is_none() {
        run(
            "cargo",
            &["install", "cargo-fuzz", "--version", CARGO_FUZZ, "--locked"],
        )?;
    }
    Ok(())
}

const BINARYEN: &str = "binaryen@132.0.0";

/// binaryen's `wasm-opt` from npm, installed under `target/tools` (Node.js and npm from
/// Debian's packages when missing).
pub fn ensure_wasm_opt() -> Result<PathBuf> {
    let prefix = root().join("target/tools/binaryen");
    let bin = prefix.join("node_modules/.bin/wasm-opt");
    if bin.exists() {
        return Ok(bin);
    }
    if output("npm", &["--version"]).is_none() {
        apt_install(&["nodejs", "npm"])?;
    }
    std::fs::create_dir_all(&prefix)?;
    let prefix_s = prefix.to_string_lossy().into_owned();
    run(
        "npm",
        &[
            "install",
            "--prefix",
            &prefix_s,
            "--no-audit",
            "--no-fund",
            BINARYEN,
        ],
    )?;
    if !bin.exists() {
        bail!("npm installed {BINARYEN} but {} is missing", bin.display());
    }
    Ok(bin)
}

/// Debian's `chromium` and `chromium-driver`, installed when either is missing.
pub fn ensure_chromium() -> Result<()> {
    if Path::new("/usr/bin/chromium").exists() && Path::new("/usr/bin/chromedriver").exists() {
        return Ok(());
    }
    apt_install(&["chromium", "chromium-driver"])
}

fn apt_install(packages: &[&str]) -> Result<()> {
    let root_user = output("id", &["-u"]).is_some_and(|u| u.trim() == "0");
    let sudo: &[&str] = if root_user { &[] } else { &["sudo"] };
    let env = [("DEBIAN_FRONTEND", "noninteractive")];
    let with = |args: &[&str]| -> Result<()> {
        let mut all: Vec<&str> = sudo.to_vec();
        all.push("apt-get");
        all.extend_from_slice(args);
        run_env(all[0], &all[1..], &env)
    };
    // A fresh machine may have no package lists yet.
    if with(
        &["install", "-y", "--no-install-recommends"]
            .iter()
            .chain(packages)
            .copied()
            .collect::<Vec<_>>(),
    )
    .is_err()
    {
        with(&["update"])?;
        with(
            &["install", "-y", "--no-install-recommends"]
                .iter()
                .chain(packages)
                .copied()
                .collect::<Vec<_>>(),
        )?;
    }
    Ok(())
}
