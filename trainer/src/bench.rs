//! `cimle bench`: speed figures measured on the machine at hand, and the cimle side of the
//! side-by-side benchmark against PyTorch (`cargo xtask bench-torch`, BENCHMARKS.md).
//!
//! Everything is measured on the trainer's default CPU path ([`crate::cpu_train`]):
//! - **train step**: one Adam step of batch 1 (generator forward and backward through the
//!   perceptual distance to a photo whose features are computed once, as training does);
//! - **selection**: images per second of the nearest-of-m-codes search, `batch` renders a pass;
//! - **forward**: one render of a batch, no gradients.
//!
//! A *fixture* folder ([`write_fixture`]) holds the inputs and cimle's own outputs for one
//! preset, so that another implementation (`benches/torch_reference.py`) can load exactly the
//! same network, check that it computes the same numbers, and then time the same cases
//! ([`run_case`]).

use std::collections::BTreeMap;
use std::path::Path;
use std::time::Instant;

use burn::tensor::Device;
use cimle::config::{GeneratorConfig, Preset};
use cimle::cpu::CpuGenerator;
use cimle::cpu::grid::Map;
use cimle::latent::LatentCode;
use cimle::layout::Layout;
use cimle::weights::{Precision, load_generator, save_generator};
use safetensors::tensor::{Dtype, TensorView};
use serde::{Deserialize, Serialize};

use crate::adam::Adam;
use crate::config::TrainingConfig;
use crate::cpu_train::{CpuTrainer, photo_map};
use crate::cpu_vgg::{CpuFeatures, CpuVgg, distance_terms};
use crate::data::Pair;
use crate::imle::{candidate_seed, cpu_selection_batch};
use crate::perceptual::LayerWeights;
use crate::synth::generate_scene;
use crate::vgg::{CONV_INDICES, Vgg19Features, load_vgg19};

/// Codes per image in the selection case (the released m).
pub const CANDIDATES: usize = 10;
/// Images in the selection case.
pub const SELECTION_IMAGES: usize = 8;
/// Learning rate of the fixture's Adam step.
pub const FIXTURE_LR: f64 = 1e-3;

/// What a fixture's `meta.json` says.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct FixtureMeta {
    pub preset: String,
    pub vgg: String,
    pub resolution: [usize; 2],
    pub parameters: usize,
    pub lr: f64,
    pub candidates: usize,
    pub selection_batch: usize,
    pub layer_weights: [f32; 6],
    /// Largest relative difference the other implementation may show, per checked quantity.
    pub tolerance: BTreeMap<String, f64>,
}

/// The tolerances a reference implementation must meet: relative to the largest magnitude of
/// the quantity, per tensor (f32 arithmetic in a different order). The first Adam update is
/// `lr · g / (|g| + ε)`: where `|g|` is near ε, or within rounding noise of the tensor's largest
/// gradient, it follows that rounding, so the update is compared where
/// `|g| > max(10 ε, 0.01 max |g|)` and the gradients themselves everywhere.
pub fn tolerances() -> BTreeMap<String, f64> {
    [
        ("generator output", 1e-4),
        ("distance terms", 1e-4),
        ("training loss", 1e-4),
        ("gradients", 1e-3),
        ("Adam step (update)", 1e-3),
    ]
    .into_iter()
    .map(|(k, v)| (k.to_string(), v))
    .collect()
}

fn pairs(config: &GeneratorConfig, count: usize, seed: u64) -> Vec<Pair> {
    let (h, w) = (config.height, config.width);
    (0..count)
        .map(|i| {
            let s = generate_scene(seed, i as u64, h, w);
            Pair {
                layout: Layout::new(h, w, s.labels).unwrap_or_else(|_| Layout::filled(h, w, 0)),
                image: s.image,
            }
        })
        .collect()
}

fn codes_for(config: &GeneratorConfig, count: usize, seed: u64) -> Vec<LatentCode> {
    (0..count)
        .map(|j| {
            LatentCode::from_seed(
                candidate_seed(seed, 0, 0, j),
                config.latent_channels,
                config.height,
                config.width,
            )
        })
        .collect()
}

/// Everything a case needs, loaded from a fixture folder.
pub struct Fixture {
    pub meta: FixtureMeta,
    pub trainer: CpuTrainer,
    pub pairs: Vec<Pair>,
    pub codes: Vec<LatentCode>,
    pub selection_pairs: Vec<Pair>,
    pub selection_codes: Vec<Vec<LatentCode>>,
}

fn f32_view<'a>(
    name: &str,
    shape: Vec<usize>,
    bytes: &'a [u8],
) -> Result<(String, TensorView<'a>), String> {
    TensorView::new(Dtype::F32, shape, bytes)
        .map(|v| (name.to_string(), v))
        .map_err(|e| e.to_string())
}

fn write_tensors(path: &Path, tensors: &[(&str, Vec<usize>, Vec<f32>)]) -> anyhow::Result<()> {
    let bytes: Vec<Vec<u8>> = tensors
        .iter()
        .map(|(_, _, v)| v.iter().flat_map(|x| x.to_le_bytes()).collect())
        .collect();
    let views = tensors
        .iter()
        .zip(&bytes)
        .map(|((name, shape, _), b)| f32_view(name, shape.clone(), b))
        .collect::<Result<Vec<_>, _>>()
        .map_err(anyhow::Error::msg)?;
    let out = safetensors::serialize(views, None)?;
    crate::fs::write_atomic(path, &out)?;
    Ok(())
}

fn one_hot_nchw(layouts: &[&Layout], classes: usize) -> Vec<f32> {
    let Some(first) = layouts.first() else {
        return Vec::new();
    };
    let plane = first.height() * first.width();
    let mut out = vec![0.0; layouts.len() * classes * plane];
    for (n, l) in layouts.iter().enumerate() {
        for (i, &id) in l.ids().iter().enumerate() {
            if (id as usize) < classes {
                out[(n * classes + id as usize) * plane + i] = 1.0;
            }
        }
    }
    out
}

fn codes_nchw(codes: &[&LatentCode]) -> Vec<f32> {
    codes
        .iter()
        .flat_map(|c| c.data().iter().copied())
        .collect()
}

/// Images of the selection case for `preset`: none at 256x512 (its rows time renders only; the
/// inputs alone would take 420 MB).
pub fn selection_images(preset: Preset) -> usize {
    match preset {
        Preset::Tiny | Preset::Small => SELECTION_IMAGES,
        Preset::Browser | Preset::Paper => 0,
    }
}

/// Writes a fixture for `preset` with `vgg` into `dir`: the generator (seed 0), the VGG-19 in
/// torchvision's key names, the inputs, and cimle's outputs on them (render, distance terms,
/// training loss, the parameters after one Adam step, the selection's picks).
pub fn write_fixture(dir: &Path, preset: Preset, vgg: &Vgg19Features) -> anyhow::Result<()> {
    std::fs::create_dir_all(dir)?;
    let device = Device::flex();
    let config = preset.config();
    let (h, w, c) = (config.height, config.width, config.num_classes());
    let generator = config.init_seeded(&device, 0);
    let bytes = save_generator(&generator, &config, Precision::F32, &BTreeMap::new())?;
    crate::fs::write_atomic(&dir.join("generator.safetensors"), &bytes)?;

    // VGG-19 with torchvision's names (features.N.weight / .bias).
    let mut vgg_tensors = Vec::new();
    for (conv, &index) in vgg.convs().iter().zip(&CONV_INDICES) {
        let weight = conv.weight.val();
        let shape = weight.dims().to_vec();
        let values = weight
            .into_data()
            .convert::<f32>()
            .try_to_vec::<f32>()
            .map_err(|e| anyhow::anyhow!("{e:?}"))?;
        let bias = conv
            .bias
            .as_ref()
            .map(|b| b.val().into_data().convert::<f32>().try_to_vec::<f32>())
            .transpose()
            .map_err(|e| anyhow::anyhow!("{e:?}"))?
            .unwrap_or_else(|| vec![0.0; shape[0]]);
        vgg_tensors.push((format!("features.{index}.weight"), shape.clone(), values));
        vgg_tensors.push((format!("features.{index}.bias"), vec![shape[0]], bias));
    }
    let named: Vec<(&str, Vec<usize>, Vec<f32>)> = vgg_tensors
        .iter()
        .map(|(n, s, v)| (n.as_str(), s.clone(), v.clone()))
        .collect();
    write_tensors(&dir.join("vgg.safetensors"), &named)?;

    let weights = LayerWeights::paper();
    // As `cimle train` on the CPU kernels.
    let selection_batch = cpu_selection_batch(CANDIDATES);
    let meta = FixtureMeta {
        preset: preset.name().to_string(),
        vgg: vgg.describe().to_string(),
        resolution: [h, w],
        parameters: config.num_params(),
        lr: FIXTURE_LR,
        candidates: CANDIDATES,
        selection_batch,
        layer_weights: weights.0,
        tolerance: tolerances(),
    };
    crate::fs::write_atomic(&dir.join("meta.json"), &serde_json::to_vec_pretty(&meta)?)?;

    // Inputs.
    let train = pairs(&config, 1, 11);
    let codes = codes_for(&config, 1, 11);
    let n_sel = selection_images(preset);
    let sel = pairs(&config, n_sel, 12);
    let sel_codes: Vec<LatentCode> = (0..n_sel)
        .flat_map(|k| codes_for(&config, CANDIDATES, 100 + k as u64))
        .collect();
    let photos = |ps: &[Pair]| -> Vec<f32> {
        let refs: Vec<&[u8]> = ps.iter().map(|p| p.image.as_slice()).collect();
        photo_map(&refs, h, w).to_nchw()
    };
    let layouts = |ps: &[Pair]| -> Vec<f32> {
        let refs: Vec<&Layout> = ps.iter().map(|p| &p.layout).collect();
        one_hot_nchw(&refs, c)
    };
    let l = config.latent_channels;
    write_tensors(
        &dir.join("inputs.safetensors"),
        &[
            ("layout", vec![1, c, h, w], layouts(&train)),
            (
                "code",
                vec![1, l, h, w],
                codes_nchw(&codes.iter().collect::<Vec<_>>()),
            ),
            ("target", vec![1, 3, h, w], photos(&train)),
            ("sel_layout", vec![n_sel, c, h, w], layouts(&sel)),
            (
                "sel_code",
                vec![n_sel * CANDIDATES, l, h, w],
                codes_nchw(&sel_codes.iter().collect::<Vec<_>>()),
            ),
            ("sel_target", vec![n_sel, 3, h, w], photos(&sel)),
        ],
    )?;

    // cimle's outputs.
    let mut fixture = load_fixture(dir)?;
    let p = &fixture.pairs[0];
    let (image, _) = fixture
        .trainer
        .generator
        .forward(&[&p.layout], &[&fixture.codes[0]], false);
    let photos_f = fixture.trainer.photo_features(&[p]);
    let (fake, _) = fixture.trainer.vgg.features(&image, false);
    let terms = distance_terms(&photos_f[0], &fake, None);
    let sel_refs: Vec<&Pair> = fixture.selection_pairs.iter().collect();
    let sel_photos = fixture.trainer.photo_features(&sel_refs);
    let picks = fixture.trainer.select(
        &sel_refs,
        &sel_photos,
        &fixture.selection_codes,
        None,
        selection_batch,
        |_| {},
    );
    let mut expected = vec![
        ("image", vec![1, 3, h, w], image.to_nchw()),
        ("terms", vec![1, 6], terms[0].to_vec()),
    ];
    if n_sel > 0 {
        expected.push((
            "selection",
            vec![n_sel],
            picks.iter().map(|s| s.index as f32).collect(),
        ));
    }
    let trainer = &mut fixture.trainer;
    let (_, grads) = trainer.loss_and_grads(&[p], &[&fixture.codes[0]], &[&photos_f[0]], None);
    let grad_tensors: Vec<(String, Vec<usize>, Vec<f32>)> = trainer
        .generator
        .params()
        .iter()
        .zip(&grads.values)
        .map(|(p, g)| {
            (
                p.name.clone(),
                p.shape.clone(),
                cimle::cpu::generator::to_burn_layout(p, g),
            )
        })
        .collect();
    let named: Vec<(&str, Vec<usize>, Vec<f32>)> = grad_tensors
        .iter()
        .map(|(n, s, v)| (n.as_str(), s.clone(), v.clone()))
        .collect();
    write_tensors(&dir.join("grads.safetensors"), &named)?;
    let loss = trainer
        .step(
            &[p],
            &[&fixture.codes[0]],
            &[&photos_f[0]],
            None,
            FIXTURE_LR,
        )
        .map_err(anyhow::Error::new)?;
    expected.push(("loss", vec![1], vec![loss]));
    write_tensors(&dir.join("expected.safetensors"), &expected)?;
    let stepped = cimle::weights::save_tensors(
        trainer.generator.tensors(),
        &config,
        Precision::F32,
        &BTreeMap::new(),
    )?;
    crate::fs::write_atomic(&dir.join("generator-step1.safetensors"), &stepped)?;
    Ok(())
}

/// Loads a fixture written by [`write_fixture`] onto the CPU path.
pub fn load_fixture(dir: &Path) -> anyhow::Result<Fixture> {
    let meta: FixtureMeta = serde_json::from_slice(&std::fs::read(dir.join("meta.json"))?)?;
    let device = Device::flex();
    let (generator, header) =
        load_generator(&std::fs::read(dir.join("generator.safetensors"))?, &device)?;
    let config = header.config;
    let vgg = load_vgg19(dir.join("vgg.safetensors"), &device)?;
    let cpu = CpuGenerator::from_generator(&generator, &config);
    let params = cpu.params().len();
    let trainer = CpuTrainer {
        generator: cpu,
        vgg: CpuVgg::from_burn(&vgg),
        weights: LayerWeights(meta.layer_weights),
        adam: Adam::new(&TrainingConfig::new(config.clone()).optimizer, params)?,
    };
    let n_sel = meta
        .preset
        .parse::<Preset>()
        .map_or(SELECTION_IMAGES, selection_images);
    Ok(Fixture {
        pairs: pairs(&config, 1, 11),
        codes: codes_for(&config, 1, 11),
        selection_pairs: pairs(&config, n_sel, 12),
        selection_codes: (0..n_sel)
            .map(|k| codes_for(&config, CANDIDATES, 100 + k as u64))
            .collect(),
        meta,
        trainer,
    })
}

/// One timed case's result.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct CaseResult {
    pub case: String,
    pub value: f64,
    pub unit: String,
    pub peak_rss_mib: f64,
    pub threads: usize,
}

/// This process's peak resident memory (Linux `VmHWM`), MiB; 0 where unknown.
pub fn peak_rss_mib() -> f64 {
    std::fs::read_to_string("/proc/self/status")
        .ok()
        .and_then(|s| {
            s.lines()
                .find(|l| l.starts_with("VmHWM:"))
                .and_then(|l| l.split_whitespace().nth(1))
                .and_then(|kb| kb.parse::<f64>().ok())
        })
        .map_or(0.0, |kb| kb / 1024.0)
}

/// The cases [`run_case`] knows.
pub const CASES: [&str; 3] = ["train-step", "selection", "forward"];

/// Times `case` on `fixture`: `train-step` (ms per Adam step, batch 1), `selection`
/// (images per second, m codes each), `forward` (ms per render of `batch` images).
pub fn run_case(
    fixture: &mut Fixture,
    case: &str,
    batch: usize,
    repeats: usize,
) -> anyhow::Result<CaseResult> {
    let repeats = repeats.max(1);
    let (value, unit) = match case {
        "train-step" => {
            let p = &fixture.pairs[0];
            let photos: Vec<CpuFeatures> = fixture.trainer.photo_features(&[p]);
            let step = |t: &mut CpuTrainer| {
                t.step(
                    &[p],
                    &[&fixture.codes[0]],
                    &[&photos[0]],
                    None,
                    fixture.meta.lr,
                )
            };
            for _ in 0..3 {
                step(&mut fixture.trainer)?;
            }
            let start = Instant::now();
            for _ in 0..repeats {
                step(&mut fixture.trainer)?;
            }
            (
                start.elapsed().as_secs_f64() * 1000.0 / repeats as f64,
                "ms",
            )
        }
        "selection" => {
            let refs: Vec<&Pair> = fixture.selection_pairs.iter().collect();
            let m = fixture.meta.candidates;
            let batch = fixture.meta.selection_batch;
            let t = &fixture.trainer;
            // Warm-up on one image; the photo features are part of what is timed, as in a round.
            let photos = t.photo_features(&refs[..1]);
            t.select(
                &refs[..1],
                &photos,
                &fixture.selection_codes[..1],
                None,
                batch,
                |_| {},
            );
            let start = Instant::now();
            for _ in 0..repeats {
                let photos = t.photo_features(&refs);
                t.select(
                    &refs,
                    &photos,
                    &fixture.selection_codes,
                    None,
                    batch,
                    |_| {},
                );
            }
            let _ = m;
            (
                (refs.len() * repeats) as f64 / start.elapsed().as_secs_f64(),
                "images/s",
            )
        }
        "forward" => {
            let p = &fixture.pairs[0];
            let layouts = vec![&p.layout; batch.max(1)];
            let codes = vec![&fixture.codes[0]; batch.max(1)];
            let g = &fixture.trainer.generator;
            for _ in 0..2 {
                g.forward(&layouts, &codes, false);
            }
            let start = Instant::now();
            for _ in 0..repeats {
                let (image, _): (Map, _) = g.forward(&layouts, &codes, false);
                std::hint::black_box(image);
            }
            (
                start.elapsed().as_secs_f64() * 1000.0 / repeats as f64,
                "ms",
            )
        }
        other => anyhow::bail!("unknown case {other:?}: choose one of {}", CASES.join(", ")),
    };
    Ok(CaseResult {
        case: case.to_string(),
        value,
        unit: unit.to_string(),
        peak_rss_mib: peak_rss_mib(),
        threads: cimle::cpu::gemm::threads(),
    })
}

/// The quick report of `cimle bench` (no fixture): train step and selection on `preset`.
#[derive(Debug, Clone, Serialize)]
pub struct BenchReport {
    pub preset: String,
    pub resolution: [usize; 2],
    pub parameters: usize,
    pub distance: String,
    pub train_step_ms: f64,
    pub selection_images_per_s: f64,
    pub selection_candidates: usize,
    pub selection_batch: usize,
    pub forward_ms: f64,
    pub threads: usize,
}

/// Measures train step, selection and a batch-1 forward of `preset` with `vgg` (via a temporary
/// fixture folder).
pub fn run_bench(
    preset: Preset,
    vgg: &Vgg19Features,
    steps: usize,
    dir: &Path,
) -> anyhow::Result<BenchReport> {
    write_fixture(dir, preset, vgg)?;
    let mut fixture = load_fixture(dir)?;
    let train = run_case(&mut fixture, "train-step", 1, steps)?;
    let selection = run_case(&mut fixture, "selection", 1, 1)?;
    let forward = run_case(&mut fixture, "forward", 1, steps)?;
    let config = preset.config();
    Ok(BenchReport {
        preset: preset.name().to_string(),
        resolution: [config.height, config.width],
        parameters: config.num_params(),
        distance: vgg.describe().to_string(),
        train_step_ms: train.value,
        selection_images_per_s: selection.value,
        selection_candidates: CANDIDATES,
        selection_batch: fixture.meta.selection_batch,
        forward_ms: forward.value,
        threads: train.threads,
    })
}

impl BenchReport {
    /// One Markdown table row: preset | resolution | params | step ms | images/s | forward ms.
    pub fn markdown_row(&self) -> String {
        format!(
            "| {} | {}x{} | {} | {:.1} | {:.2} (m={}, batch {}) | {:.1} |",
            self.preset,
            self.resolution[0],
            self.resolution[1],
            self.parameters,
            self.train_step_ms,
            self.selection_images_per_s,
            self.selection_candidates,
            self.selection_batch,
            self.forward_ms,
        )
    }
}
