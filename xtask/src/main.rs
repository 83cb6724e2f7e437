//! Chores. Each installs what it needs itself, idempotently (see `tools`).
//!
//! - `cargo xtask quickstart`: the README's first command: train the small model on built-in
//!   scenes, sample it, then build the site (with the model just trained added) and serve it.
//! - `cargo xtask test`: the second, which `.ci/run` calls: format, native tests, a bounded run
//!   of every fuzz target, the site, wasm tests in headless Chromium, the end-to-end page test.
//! - `cargo xtask site [--add-model WEIGHTS]`: build the deployable site into `target/site`,
//!   optionally with a trained model added first in its menu.
//! - `cargo xtask serve [--port N]`: serve `target/site` on localhost.
//! - `cargo xtask bench-web`: ms per sample in headless Chromium (CPU and WebGPU) and natively.
//! - `cargo xtask bench-torch [--threads N] [--reps N]`: cimle's CPU training path side by
//!   side with PyTorch on the same network and cores (`bench_torch`).
//! - `cargo xtask fuzz [--seconds N]`: every fuzz target for N seconds (docs/FUZZING.md).

mod bench_torch;
mod site;
mod tools;

use std::time::{Duration, Instant};

use anyhow::{Context, Result, bail};

use tools::{
    ensure_cargo_fuzz, ensure_chromium, ensure_toolchain, ensure_wasm_bindgen, run, run_env,
};

/// The fuzz targets (`fuzz/fuzz_targets/`) and the libFuzzer options of the bounded run in
/// `cargo xtask test`: the input size cap suits the target's seeds.
const FUZZ_TARGETS: [(&str, &str); 3] = [
    ("label_png", "-max_len=8192"),
    ("weights", "-max_len=65536"),
    ("link", "-max_len=4096"),
];

/// Seconds each fuzz target runs in `cargo xtask test` (docs/FUZZING.md has the longer runs).
const FUZZ_SECONDS: u32 = 20;

/// Builds the fuzz targets (no sanitizer: stable Rust) and runs each for [`FUZZ_SECONDS`] from
/// the committed seeds in `fuzz/seeds/` (new inputs go to the ignored `fuzz/corpus/`). A crash
/// fails the step and leaves its input in `fuzz/artifacts/`.
///
/// The instrumented build goes to `fuzz/target` even where `CARGO_TARGET_DIR` is set: it shares
/// nothing with the main build, and would otherwise rebuild into a shared target folder.
fn fuzz(seconds: u32) -> Result<()> {
    ensure_cargo_fuzz()?;
    let target_dir = tools::root().join("fuzz/target");
    let target_dir = target_dir.to_string_lossy();
    let build = ["-s", "none", "-a", "--target-dir", &target_dir];
    run("cargo", &[&["fuzz", "build"][..], &build].concat())?;
    for (target, max_len) in FUZZ_TARGETS {
        let corpus = format!("fuzz/corpus/{target}");
        let seeds = format!("fuzz/seeds/{target}");
        std::fs::create_dir_all(tools::root().join(&corpus))?;
        let total = format!("-max_total_time={seconds}");
        let options = [&total, max_len, "-timeout=20", "-rss_limit_mb=2048"];
        run(
            "cargo",
            &[
                &["fuzz", "run"][..],
                &build,
                &[target, &corpus, &seeds, "--"],
                &options,
            ]
            .concat(),
        )
        .with_context(|| {
            format!(
                "fuzz target {target} failed: the input is in fuzz/artifacts/{target}/ \
                 (docs/FUZZING.md says how to reproduce it)"
            )
        })?;
    }
    Ok(())
}

fn test() -> Result<()> {
    let started = Instant::now();
    ensure_toolchain()?;
    run("cargo", &["fmt", "--all", "--check"])?;
    ensure_chromium()?;
    // Release profile, like the binary: burn compiles once per target.
    run("cargo", &["test", "--release", "--workspace"])?;
    // Lints are part of the tests: a warning fails the run.
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
    fuzz(FUZZ_SECONDS)?;
    let site = site::build()?;
    ensure_wasm_bindgen()?;
    // wasm-bindgen-test in headless Chromium; web/webdriver.json adds the WebGPU flag. Same
    // profile as the site, so the wasm build of burn is shared.
    run_env(
        "cargo",
        &[
            &["test"],
            site::WASM_BUILD,
            // The crate's unit tests run natively above; each wasm test binary is a whole-
            // program (LTO) link of burn.
            &["--test", "browser"],
            // Print the measured differences (wasm CPU and WebGPU against native).
            &["--", "--nocapture"],
        ]
        .concat(),
        &[
            (
                "CARGO_TARGET_WASM32_UNKNOWN_UNKNOWN_RUNNER",
                "wasm-bindgen-test-runner",
            ),
            ("CHROMEDRIVER", "/usr/bin/chromedriver"),
            ("WASM_BINDGEN_TEST_TIMEOUT", "1200"),
        ],
    )?;
    run_env(
        "cargo",
        &[
            "test",
            "--release",
            "--workspace",
            "--test",
            "page",
            "--",
            "--ignored",
            "--nocapture",
        ],
        &[("CIMLE_SITE", &site.to_string_lossy())],
    )?;
    eprintln!(
        "cargo xtask test: all green in {:.1} min",
        started.elapsed().as_secs_f64() / 60.0
    );
    Ok(())
}

fn cimle(args: &[&str]) -> Result<()> {
    let mut all = vec!["run", "--release", "-p", "cimle-trainer", "--"];
    all.extend_from_slice(args);
    run("cargo", &all)
}

fn quickstart() -> Result<()> {
    let started = Instant::now();
    let run_dir = "runs/quickstart";
    cimle(&[
        "train",
        "--data",
        "synth",
        "--preset",
        "small",
        // The small preset's default recipe is docs/TRAINING.md's study (no rebalancing, a
        // global code, four pairs a step, no encoder reset, lr / 10 for the last two rounds, a
        // half-width random-feature VGG-19); `--recipe released` is the released code's.
        "--eval-every",
        "4",
        "--out",
        run_dir,
    ])?;
    cimle(&[
        "synth",
        "--out",
        "runs/quickstart/layouts",
        "--count",
        "4",
        "--seed",
        "12345",
        "--size",
        "64x128",
    ])?;
    cimle(&[
        "sample",
        "--weights",
        "runs/quickstart/weights.safetensors",
        "--layout",
        "runs/quickstart/layouts/labels/000000.png",
        "--count",
        "19",
        "--out",
        "runs/quickstart/grid.png",
    ])?;
    let site = site::build()?;
    add_model(
        &site,
        "runs/quickstart/weights.safetensors",
        "yours",
        "Your quick-start model",
    )?;
    eprintln!(
        "quickstart trained and sampled in {:.1} min: runs/quickstart/grid.png (layout + 19 \
         samples), runs/quickstart/samples/ (per round), runs/quickstart/loss.png",
        started.elapsed().as_secs_f64() / 60.0
    );
    serve(&site, 8080)
}

/// Exports a run's weights in f16 into the site and lists them first in its model menu.
fn add_model(site: &std::path::Path, weights: &str, id: &str, name: &str) -> Result<()> {
    let file = format!("{id}.safetensors");
    let target = site.join("models").join(&file);
    cimle(&[
        "export",
        "--weights",
        weights,
        "--half",
        "--out",
        &target.to_string_lossy(),
    ])?;
    let path = site.join("models/models.json");
    let mut manifest: serde_json::Value =
        serde_json::from_slice(&std::fs::read(&path)?).context("parsing models/models.json")?;
    let models = manifest["models"]
        .as_array_mut()
        .context("models/models.json has no models list")?;
    models.retain(|m| m["id"] != id);
    models.insert(
        0,
        serde_json::json!({"id": id, "name": name, "file": file,
            "about": format!("Exported from {weights}.")}),
    );
    std::fs::write(&path, serde_json::to_vec_pretty(&manifest)?)?;
    Ok(())
}

fn serve(site: &std::path::Path, port: u16) -> Result<()> {
    if !site.join("index.html").exists() {
        bail!(
            "{} has no built site: run `cargo xtask site` first",
            site.display()
        );
    }
    let server = cimle_e2e::server::serve(site, port).with_context(|| {
        format!("listening on 127.0.0.1:{port} (is the port in use? pass --port N)")
    })?;
    eprintln!("serving {} at {}", site.display(), server.url);
    println!("{}", server.url);
    eprintln!("open that URL in a browser with WebGPU (Chrome, Edge); Ctrl+C stops");
    loop {
        std::thread::sleep(Duration::from_secs(3600));
    }
}

/// ms per sample in headless Chromium (wasm on the CPU and on WebGPU, `www/bench.html`) and
/// natively (`web/examples/render_bench.rs`) for each shipped model; writes
/// `target/bench-web.md`.
fn bench_web() -> Result<()> {
    let site = site::site_dir();
    if !site.join("index.html").exists() {
        site::build()?;
    }
    ensure_chromium()?;
    run(
        "cargo",
        &["build", "--release", "--workspace", "--examples"],
    )?;
    let server = cimle_e2e::server::serve(&site, 0)?;
    let browser = cimle_e2e::webdriver::Browser::start()?;
    let mut table = String::from(
        "| model | where | backend | ms per sample (median) | runs |\n|---|---|---|---:|---|\n",
    );
    for model in ["streets-256x512.safetensors", "streets-64x128.safetensors"] {
        let native = tools::output(
            &tools::root()
                .join("target/release/examples/render_bench")
                .to_string_lossy(),
            &[
                &site.join("models").join(model).to_string_lossy(),
                &site.join("examples/street-1.png").to_string_lossy(),
                "4",
            ],
        )
        .context("running render_bench")?;
        let v: serde_json::Value = serde_json::from_str(native.trim())?;
        eprintln!("{model} native: {v}");
        table += &format!(
            "| {model} | native | {} | {} | {} |\n",
            v["backend"].as_str().unwrap_or(""),
            v["ms_per_sample_median"],
            v["samples"]
        );
        for backend in ["cpu", "webgpu"] {
            browser.goto(&format!(
                "{}bench.html?backend={backend}&count=4&model={model}",
                server.url
            ))?;
            browser.wait_for("document.body.dataset.result", Duration::from_secs(1800))?;
            let text = browser.eval("return document.body.dataset.result;")?;
            let v: serde_json::Value = serde_json::from_str(text.as_str().unwrap_or("{}"))?;
            eprintln!("{model} {backend}: {v}");
            if let Some(e) = v.get("error") {
                bail!("bench.html on {backend} failed: {e}");
            }
            table += &format!(
                "| {model} | headless Chromium (wasm) | {} | {} | {} |\n",
                v["backend"].as_str().unwrap_or(""),
                v["ms_per_sample_median"],
                v["samples"]
            );
        }
    }
    let out = tools::root().join("target/bench-web.md");
    std::fs::write(&out, &table)?;
    println!("{table}");
    eprintln!("written to {}", out.display());
    Ok(())
}

fn main() -> Result<()> {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let task = args.first().map(String::as_str).unwrap_or_default();
    match task {
        "test" => test(),
        "quickstart" => quickstart(),
        "site" => {
            let site = site::build()?;
            match (args.get(1).map(String::as_str), args.get(2)) {
                (Some("--add-model"), Some(weights)) => {
                    add_model(&site, weights, "yours", "Your model")
                }
                (Some(other), _) => {
                    bail!("unknown site flag `{other}`: use --add-model WEIGHTS")
                }
                (None, _) => Ok(()),
            }
        }
        "serve" => {
            let port = match args.get(1).map(String::as_str) {
                Some("--port") => args
                    .get(2)
                    .and_then(|p| p.parse().ok())
                    .context("--port needs a number, e.g. --port 8080")?,
                Some(other) => bail!("unknown serve flag `{other}`: use --port N"),
                None => 8080,
            };
            serve(&site::site_dir(), port)
        }
        "bench-web" => bench_web(),
        "bench-torch" => {
            let mut threads = 2;
            let mut reps = 3;
            let mut rest = args[1..].iter();
            while let Some(flag) = rest.next() {
                let value = rest.next().and_then(|v| v.parse().ok());
                match (flag.as_str(), value) {
                    ("--threads", Some(v)) => threads = v,
                    ("--reps", Some(v)) => reps = v,
                    _ => bail!("bench-torch takes --threads N and --reps N"),
                }
            }
            bench_torch::bench_torch(threads, reps)
        }
        "fuzz" => {
            let seconds = match args.get(1).map(String::as_str) {
                Some("--seconds") => args
                    .get(2)
                    .and_then(|s| s.parse().ok())
                    .context("--seconds needs a number, e.g. --seconds 600")?,
                Some(other) => bail!("unknown fuzz flag `{other}`: use --seconds N"),
                None => FUZZ_SECONDS,
            };
            fuzz(seconds)
        }
        _ => bail!(
            "usage: cargo xtask <quickstart|test|site [--add-model WEIGHTS]|serve [--port N]|bench-web|bench-torch [--threads N] [--reps N]|fuzz [--seconds N]>"
        ),
    }
}

#[cfg(test)]
mod tests {
    #[test]
    fn www_has_what_the_site_build_copies() {
        let www = super::tools::root().join("www");
        for f in [
            "index.html",
            "app.js",
            "worker.js",
            "style.css",
            "favicon.svg",
            "models/models.json",
        ] {
            assert!(www.join(f).exists(), "www/{f} is missing");
        }
        let manifest: serde_json::Value =
            serde_json::from_slice(&std::fs::read(www.join("models/models.json")).unwrap())
                .unwrap();
        for m in manifest["models"].as_array().unwrap() {
            let file = m["file"].as_str().unwrap();
            assert!(
                www.join("models").join(file).exists(),
                "model {file} is missing"
            );
        }
        for e in manifest["examples"].as_array().unwrap() {
            let file = e["file"].as_str().unwrap();
            assert!(
                www.join("examples").join(file).exists(),
                "example {file} is missing"
            );
        }
    }
}
