//! `cimle evaluate`: one model measured on held-out built-in scenes (diversity, factor recall,
//! TV distance, fidelity) and the factor reader's own accuracy; `--out` is checked before the
//! model renders anything.

use std::path::PathBuf;

use anyhow::{Context, Result};
use burn::tensor::Device;
use cimle::model::Model;

use super::budget::{build_vgg, vgg_source};
use super::checks::{at_least, renders};
use crate::cli::flags::EvaluateFlags;
use crate::cpu_vgg::CpuDistance;
use crate::evaluate::evaluate_on_synth;
use crate::factors::reader_accuracy;
use crate::fs::{prepare_dir, write_atomic};
use crate::perceptual::LayerWeights;
use crate::picture::{RgbImage, grid};
use crate::vgg::VggSource;
use crate::weights_file::WeightsFile;

/// Layouts shown in `samples.png` (every layout is measured).
pub const PICTURED_LAYOUTS: usize = 4;

/// A checked `cimle evaluate`.
#[derive(Debug, Clone)]
pub struct EvaluateSettings {
    pub weights: PathBuf,
    pub out: PathBuf,
    pub layouts: usize,
    pub samples: usize,
    pub seed: u64,
    pub vgg: VggSource,
}

impl EvaluateSettings {
    pub fn from_flags(f: &EvaluateFlags) -> Result<Self> {
        at_least("--samples", f.samples, 2, "diversity compares samples")?;
        at_least("--layouts", f.layouts, 1, "a measurement needs a layout")?;
        renders(("--layouts", "--samples"), f.layouts, f.samples)?;
        Ok(Self {
            weights: f.weights.clone(),
            out: f.out.clone(),
            layouts: f.layouts,
            samples: f.samples,
            seed: f.seed,
            vgg: vgg_source(&f.vgg, 1)?,
        })
    }
}

/// Measures the model and writes `report.md`, `report.json` and `samples.png`.
pub fn evaluate(s: &EvaluateSettings) -> Result<()> {
    prepare_dir("--out", &s.out)?;
    let device = Device::flex();
    let file = WeightsFile::load_for_sampling(&s.weights, &device)?;
    let method = file.method;
    let cfg = file.header.config.clone();
    let model = Model::from_generator(file.generator, file.header, &device)
        .with_context(|| format!("{}", s.weights.display()))?;
    let distance = CpuDistance::new(&build_vgg(&s.vgg, &device)?, LayerWeights::paper());
    let (evaluation, rendered) = evaluate_on_synth(&model, &distance, s.layouts, s.samples, s.seed)
        .with_context(|| format!("evaluating {}", s.weights.display()))?;
    anyhow::ensure!(
        evaluation.layouts == s.layouts && rendered.len() == s.layouts,
        "{} of {} layouts were measured",
        rendered.len(),
        s.layouts
    );
    let reader = reader_accuracy(s.seed ^ 1, 200, cfg.height, cfg.width);
    let report = format!(
        "# cimle evaluate: {} ({method} model{})\n\n{}\n## The factor reader on 200 real built-in scenes ({}x{})\n\n{}\n",
        s.weights.display(),
        if method.uses_codes() {
            ""
        } else {
            ": every sample uses the zero code"
        },
        evaluation.markdown(),
        cfg.height,
        cfg.width,
        reader
    );
    let write = |name: &str, bytes: &[u8]| {
        let path = s.out.join(name);
        write_atomic(&path, bytes).with_context(|| format!("writing {}", path.display()))
    };
    write("report.md", report.as_bytes())?;
    write(
        "report.json",
        &serde_json::to_vec_pretty(
            &serde_json::json!({ "method": method, "model": evaluation, "reader": reader }),
        )?,
    )?;
    let (h, w) = (cfg.height, cfg.width);
    let mut cells = Vec::new();
    for (layout, images) in rendered.iter().take(PICTURED_LAYOUTS) {
        cells.push(RgbImage::from_rgb(w, h, layout.to_color_rgb()).context("layout size")?);
        for im in images {
            cells.push(RgbImage::from_rgb(w, h, im.clone()).context("sample size")?);
        }
    }
    write(
        "samples.png",
        &grid(&cells, s.samples + 1, 2, [255, 255, 255]).encode_png(),
    )?;
    println!("{report}");
    if s.layouts > PICTURED_LAYOUTS {
        eprintln!(
            "note: all {} layouts were measured; samples.png shows the first {PICTURED_LAYOUTS}",
            s.layouts
        );
    }
    Ok(())
}
