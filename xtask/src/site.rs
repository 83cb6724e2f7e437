//! `cargo xtask site`: the deployable static site in `target/site`, built from `www/` and the
//! web crate compiled to WebAssembly. Every path in it is relative, so it works under any
//! sub-path of any static host. Built in `target/site.tmp` and renamed, so a failed build never
//! leaves a half-written site.

use std::io::Write;
use std::path::{Path, PathBuf};

use anyhow::{Context, Result, bail};

use crate::tools::{ensure_toolchain, ensure_wasm_bindgen, ensure_wasm_opt, root, run};

/// wasm-opt features: what rustc and wasm-bindgen emit for current browsers, SIMD included.
const WASM_FEATURES: &[&str] = &[
    "--enable-simd",
    "--enable-bulk-memory",
    "--enable-nontrapping-float-to-int",
    "--enable-sign-ext",
    "--enable-mutable-globals",
    "--enable-reference-types",
    "--enable-multivalue",
];

/// Cargo arguments selecting the web crate's wasm build. The site and the wasm tests share
/// them, so burn's wasm build is done once for both.
pub const WASM_BUILD: &[&str] = &[
    "--profile",
    "wasm-release",
    "-p",
    "cimle-web",
    "--target",
    "wasm32-unknown-unknown",
];

/// Where cargo writes what it builds: `CARGO_TARGET_DIR` when set (cargo honours it, so the
/// wasm module is there), else the workspace's `target/`.
fn target_dir() -> PathBuf {
    std::env::var_os("CARGO_TARGET_DIR")
        .map(PathBuf::from)
        .map(|dir| {
            if dir.is_absolute() {
                dir
            } else {
                root().join(dir)
            }
        })
        .unwrap_or_else(|| root().join("target"))
}

/// The built site's folder.
pub fn site_dir() -> PathBuf {
    root().join("target/site")
}

/// Builds the site; returns its folder.
pub fn build() -> Result<PathBuf> {
    ensure_toolchain()?;
    run("cargo", &[&["build"], WASM_BUILD].concat())?;
    ensure_wasm_bindgen()?;
    let tmp = root().join("target/site.tmp");
    if tmp.exists() {
        std::fs::remove_dir_all(&tmp)?;
    }
    copy_dir(&root().join("www"), &tmp)?;
    let wasm = target_dir().join("wasm32-unknown-unknown/wasm-release/cimle_web.wasm");
    let pkg = tmp.join("pkg");
    run(
        "wasm-bindgen",
        &[
            "--target",
            "web",
            "--no-typescript",
            "--out-dir",
            &pkg.to_string_lossy(),
            &wasm.to_string_lossy(),
        ],
    )?;
    let opt = ensure_wasm_opt()?;
    let bg = pkg.join("cimle_web_bg.wasm");
    let bg_s = bg.to_string_lossy().into_owned();
    let mut args = vec!["-Oz"];
    args.extend_from_slice(WASM_FEATURES);
    args.extend_from_slice(&[&bg_s, "-o", &bg_s]);
    run(&opt.to_string_lossy(), &args)?;
    let out = site_dir();
    if out.exists() {
        std::fs::remove_dir_all(&out)?;
    }
    std::fs::rename(&tmp, &out)?;
    let report = sizes(&out)?;
    eprintln!("{report}");
    eprintln!("site built in {}", out.display());
    Ok(out)
}

fn copy_dir(from: &Path, to: &Path) -> Result<()> {
    std::fs::create_dir_all(to)?;
    for entry in std::fs::read_dir(from).with_context(|| format!("reading {}", from.display()))? {
        let entry = entry?;
        let target = to.join(entry.file_name());
        if entry.file_type()?.is_dir() {
            copy_dir(&entry.path(), &target)?;
        } else {
            std::fs::copy(entry.path(), &target)
                .with_context(|| format!("copying {}", entry.path().display()))?;
        }
    }
    Ok(())
}

fn gzip_len(bytes: &[u8]) -> Result<usize> {
    let mut enc = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::best());
    enc.write_all(bytes)?;
    Ok(enc.finish()?.len())
}

/// A Markdown table of what a first visit downloads (page, code, the default model and the
/// first example), raw and gzip-compressed (level 9), also written to `SIZES.md`.
pub fn sizes(site: &Path) -> Result<String> {
    let manifest: serde_json::Value = serde_json::from_slice(
        &std::fs::read(site.join("models/models.json")).context("reading models/models.json")?,
    )
    .context("parsing models/models.json")?;
    let (Some(model), Some(example)) = (
        manifest["models"][0]["file"].as_str(),
        manifest["examples"][0]["file"].as_str(),
    ) else {
        bail!("models/models.json lists no model file or no example");
    };
    let files = [
        "index.html".to_string(),
        "style.css".into(),
        "app.js".into(),
        "worker.js".into(),
        "favicon.svg".into(),
        "models/models.json".into(),
        "pkg/cimle_web.js".into(),
        "pkg/cimle_web_bg.wasm".into(),
        format!("models/{model}"),
        format!("examples/{example}"),
    ];
    let mut table = String::from("| file | bytes | gzip -9 |\n|---|---:|---:|\n");
    let (mut raw_total, mut gz_total) = (0, 0);
    for f in &files {
        let bytes = std::fs::read(site.join(f)).with_context(|| format!("reading {f}"))?;
        let gz = gzip_len(&bytes)?;
        raw_total += bytes.len();
        gz_total += gz;
        table += &format!("| {f} | {} | {gz} |\n", bytes.len());
    }
    table += &format!(
        "| **first visit** | **{raw_total}** ({:.2} MB) | **{gz_total}** ({:.2} MB) |\n",
        raw_total as f64 / 1e6,
        gz_total as f64 / 1e6
    );
    // The other models, fetched only when picked in the menu.
    for m in manifest["models"].as_array().into_iter().flatten().skip(1) {
        let Some(file) = m["file"].as_str() else {
            continue;
        };
        let bytes = std::fs::read(site.join("models").join(file))
            .with_context(|| format!("reading models/{file}"))?;
        let gz = gzip_len(&bytes)?;
        table += &format!(
            "| models/{file} (when picked) | {} | {gz} |\n| **first visit + this model** | **{}** ({:.2} MB) | **{}** ({:.2} MB) |\n",
            bytes.len(),
            raw_total + bytes.len(),
            (raw_total + bytes.len()) as f64 / 1e6,
            gz_total + gz,
            (gz_total + gz) as f64 / 1e6
        );
    }
    std::fs::write(site.join("SIZES.md"), &table)?;
    Ok(table)
}
