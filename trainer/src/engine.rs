//! The two ways a run computes its selections and Adam steps, behind one interface:
//!
//! - [`Engine::Kernels`]: cimle's own CPU kernels ([`crate::cpu_train`]), the default on a CPU;
//! - [`Engine::Burn`]: burn's autodiff on any device ([`crate::imle`]): GPUs through wgpu, and
//!   burn's Flex CPU backend (`--backend flex`), kept as a reference.
//!
//! Both train the same network with the same distance and the same Adam (tests check that their
//! losses, gradients and updates agree); a checkpoint says which one wrote its optimiser state.

use burn::module::Module;
use burn::optim::ModuleOptimizer;
use burn::store::ModuleRecord;
use burn::tensor::{Bytes, Device, Tensor};
use cimle::config::GeneratorConfig;
use cimle::cpu::CpuGenerator;
use cimle::generator::Generator;
use cimle::latent::LatentCode;

use crate::adam::Adam;
use crate::config::TrainingConfig;
use crate::cpu_train::{CpuTrainer, NonFiniteLoss};
use crate::cpu_vgg::{CpuFeatures, CpuVgg};
use crate::cpu_vgg::{distance_terms, distances};
use crate::data::Pair;
use crate::imle::{
    Candidates, Scorer, TrainBatch, candidate_distances, concat_features, init_optimizer,
    photo_features, train_step,
};
use crate::perceptual::{Features, LayerWeights, PerceptualDistance};
use crate::rebalance::rarity_mask_tensor;
use crate::vgg::Vgg19Features;

/// Which training path a run uses.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum TrainPath {
    /// cimle's CPU kernels.
    #[default]
    Kernels,
    /// burn's autodiff on the run's device.
    Burn,
}

/// The name a checkpoint records for each path's optimiser state.
impl TrainPath {
    pub fn optimizer_format(self) -> &'static str {
        match self {
            TrainPath::Kernels => "cimle-adam",
            TrainPath::Burn => "burn",
        }
    }
}

/// burn's generator, optimiser and distances (the GPU path).
pub struct BurnTrainer {
    generator: Generator,
    optimizer: ModuleOptimizer,
    train: PerceptualDistance,
    select: PerceptualDistance,
    device: Device,
    ad: Device,
}

/// What a checkpoint holds of an [`Engine`] ([`Engine::save`]), read back for [`Engine::load`].
pub struct SavedEngine<'a> {
    /// The generator's record.
    pub model: Vec<u8>,
    /// The optimiser's state.
    pub optimizer: &'a [u8],
    /// Which path wrote `optimizer` ([`TrainPath::optimizer_format`]).
    pub optimizer_format: &'a str,
}

/// A run's generator and optimiser on one of the two paths.
pub enum Engine {
    Kernels(Box<CpuTrainer>),
    Burn(Box<BurnTrainer>),
}

/// The features of the photos selected for a round, computed once.
pub enum Photos {
    Kernels(Vec<CpuFeatures>),
    Burn(Vec<Features>),
}

impl Photos {
    /// The features of the photos at `positions`.
    pub fn subset(&self, positions: &[usize]) -> Photos {
        match self {
            Photos::Kernels(f) => {
                Photos::Kernels(positions.iter().map(|&i| f[i].clone()).collect())
            }
            Photos::Burn(f) => Photos::Burn(positions.iter().map(|&i| f[i].clone()).collect()),
        }
    }
}

impl Engine {
    /// Where a path's burn generator lives while it is built: Flex for the kernels (then
    /// converted), the run's device with autodiff for burn.
    fn generator_device(path: TrainPath, device: &Device) -> Device {
        match path {
            TrainPath::Kernels => Device::flex(),
            TrainPath::Burn => device.clone().autodiff(),
        }
    }

    fn assemble(
        path: TrainPath,
        config: &TrainingConfig,
        generator: Generator,
        optimizer: Option<&[u8]>,
        vgg: Vgg19Features,
        weights: LayerWeights,
        device: &Device,
    ) -> Result<Self, String> {
        match path {
            TrainPath::Kernels => {
                let cpu = CpuGenerator::from_generator(&generator, &config.generator);
                let adam = match optimizer {
                    Some(bytes) => Adam::from_bytes(bytes, &config.optimizer, &cpu)?,
                    None => Adam::new(&config.optimizer, cpu.params().len())
                        .map_err(|e| e.to_string())?,
                };
                Ok(Engine::Kernels(Box::new(CpuTrainer {
                    generator: cpu,
                    vgg: CpuVgg::from_burn(&vgg),
                    weights,
                    adam,
                })))
            }
            TrainPath::Burn => {
                let ad = device.clone().autodiff();
                let optimizer = match optimizer {
                    Some(bytes) => init_optimizer(config)
                        .from_bytes(Bytes::from_bytes_vec(bytes.to_vec()))
                        .map_err(|e| format!("optimiser state: {e}"))?,
                    None => init_optimizer(config),
                };
                Ok(Engine::Burn(Box::new(BurnTrainer {
                    generator,
                    optimizer,
                    train: PerceptualDistance::new(vgg.clone().fork(&ad), weights),
                    select: PerceptualDistance::new(vgg, weights),
                    device: device.clone(),
                    ad,
                })))
            }
        }
    }

    /// A fresh run: the generator drawn from `config.seed` (by burn, on the CPU path too, so a
    /// seed gives the same initial network on both).
    pub fn new(
        path: TrainPath,
        config: &TrainingConfig,
        vgg: Vgg19Features,
        weights: LayerWeights,
        device: &Device,
    ) -> Result<Self, String> {
        let generator = config
            .generator
            .init_seeded(&Self::generator_device(path, device), config.seed);
        Self::assemble(path, config, generator, None, vgg, weights, device)
    }

    /// A resumed run from a checkpoint's generator record and optimiser state, which must have
    /// been written by the same path (`saved.optimizer_format`).
    pub fn load(
        path: TrainPath,
        config: &TrainingConfig,
        vgg: Vgg19Features,
        weights: LayerWeights,
        device: &Device,
        saved: SavedEngine<'_>,
    ) -> Result<Self, String> {
        let SavedEngine {
            model,
            optimizer,
            optimizer_format,
        } = saved;
        if optimizer_format != path.optimizer_format() {
            let (hint, other) = match path {
                TrainPath::Kernels => ("--backend flex or --backend wgpu", "burn's"),
                TrainPath::Burn => ("--backend cpu", "cimle's CPU kernels'"),
            };
            return Err(format!(
                "its optimiser state is {other} (\"{optimizer_format}\"); resume it with {hint}, \
                 the path that wrote it"
            ));
        }
        let record = ModuleRecord::from_bytes(Bytes::from_bytes_vec(model))
            .map_err(|e| format!("model record: {e}"))?;
        let generator = config
            .generator
            .init(&Self::generator_device(path, device))
            .try_load_record(record)
            .map_err(|e| format!("model record: {e}"))?;
        Self::assemble(
            path,
            config,
            generator,
            Some(optimizer),
            vgg,
            weights,
            device,
        )
    }

    /// The generator record and optimiser state for a checkpoint.
    pub fn save(&self) -> Result<(Vec<u8>, Vec<u8>), String> {
        let err =
            |e: burn::store::RecordError| format!("could not serialise the training state: {e}");
        match self {
            Engine::Kernels(t) => {
                let model = t
                    .generator
                    .to_generator(&Device::flex())
                    .into_record()
                    .into_bytes()
                    .map_err(err)?;
                Ok((model.to_vec(), t.adam.to_bytes(&t.generator)?))
            }
            Engine::Burn(t) => {
                let model = t
                    .generator
                    .clone()
                    .into_record()
                    .into_bytes()
                    .map_err(err)?;
                let optim = t.optimizer.clone().into_bytes().map_err(err)?;
                Ok((model.to_vec(), optim.to_vec()))
            }
        }
    }

    /// The generator without autodiff, for previews and weights files.
    pub fn inference(&self) -> Generator {
        match self {
            Engine::Kernels(t) => t.generator.to_generator(&Device::flex()),
            Engine::Burn(t) => t.generator.valid(),
        }
    }

    /// The device [`Engine::inference`]'s generator lives on.
    pub fn inference_device(&self) -> Device {
        match self {
            Engine::Kernels(_) => Device::flex(),
            Engine::Burn(t) => t.device.clone(),
        }
    }

    /// A new noise encoder drawn from `seed` (the released schedule's re-initialisation); the
    /// optimiser forgets the old encoder's moments.
    pub fn reinit_encoder(&mut self, config: &GeneratorConfig, seed: u64) {
        match self {
            Engine::Kernels(t) => {
                let device = Device::flex();
                let fresh = t
                    .generator
                    .to_generator(&device)
                    .with_new_noise_encoder(config, &device, seed);
                t.generator
                    .replace_encoder(&CpuGenerator::from_generator(&fresh, config));
                t.adam.reset(t.generator.params(), "encoder.");
            }
            Engine::Burn(t) => {
                let generator = t.generator.clone();
                t.generator = generator.with_new_noise_encoder(config, &t.ad, seed);
            }
        }
    }

    /// The features of each pair's photo.
    pub fn photos(&self, pairs: &[&Pair]) -> Photos {
        match self {
            Engine::Kernels(t) => Photos::Kernels(t.photo_features(pairs)),
            Engine::Burn(t) => Photos::Burn(photo_features(&t.select, pairs, &t.device)),
        }
    }

    /// The distance from the render of each candidate code of `pairs[k]` to its photo
    /// (`photos[k]`, rarity mask `masks[k]`): one row per pair (step 2).
    pub fn candidate_distances(
        &self,
        pairs: &[&Pair],
        photos: &Photos,
        candidates: &[Vec<LatentCode>],
        masks: Option<&[Vec<f32>]>,
        batch: usize,
        progress: impl FnMut(usize),
    ) -> Vec<Vec<f32>> {
        match (self, photos) {
            (Engine::Kernels(t), Photos::Kernels(p)) => {
                t.candidate_distances(pairs, p, candidates, masks, batch, progress)
            }
            (Engine::Burn(t), _) => {
                let masks: Option<Vec<Tensor<4>>> = masks.map(|all| {
                    let (h, w) = (pairs[0].layout.height(), pairs[0].layout.width());
                    all.iter()
                        .map(|m| rarity_mask_tensor(m, h, w, &t.device))
                        .collect()
                });
                let inference = t.generator.valid();
                candidate_distances(
                    Scorer {
                        generator: &inference,
                        distance: &t.select,
                        device: &t.device,
                    },
                    Candidates {
                        pairs,
                        codes: candidates,
                        masks: masks.as_deref(),
                    },
                    batch,
                    progress,
                )
            }
            _ => unreachable!("photos come from the same engine"),
        }
    }

    /// `L(y_i, y_{i+1})` between consecutive photos of `pairs` (cyclically): how far apart two
    /// training photos typically are (RS-IMLE's ε is a fraction of their median).
    pub fn photo_distances(&self, pairs: &[&Pair]) -> Vec<f32> {
        let n = pairs.len();
        if n < 2 {
            return Vec::new();
        }
        match self.photos(pairs) {
            Photos::Kernels(f) => {
                let t = match self {
                    Engine::Kernels(t) => t,
                    Engine::Burn(_) => unreachable!("kernel photos come from the kernels"),
                };
                (0..n)
                    .map(|i| {
                        let terms = distance_terms(&f[(i + 1) % n], &f[i], None);
                        distances(&terms, &t.weights)[0]
                    })
                    .collect()
            }
            Photos::Burn(f) => {
                let t = match self {
                    Engine::Burn(t) => t,
                    Engine::Kernels(_) => unreachable!("burn photos come from burn"),
                };
                (0..n)
                    .map(|i| {
                        t.select
                            .distance(&f[(i + 1) % n], &f[i], None)
                            .into_data()
                            .try_to_vec::<f32>()
                            .ok()
                            .and_then(|v| v.first().copied())
                            .unwrap_or(f32::NAN)
                    })
                    .collect()
            }
        }
    }

    /// One Adam step on `pairs[idx]` with their codes, photo features and rarity masks (step 3).
    /// A loss that is not finite is an error.
    pub fn step(
        &mut self,
        pairs: &[&Pair],
        codes: &[LatentCode],
        photos: &Photos,
        idx: &[usize],
        masks: Option<&[Vec<f32>]>,
        lr: f64,
    ) -> Result<f32, NonFiniteLoss> {
        let batch_pairs: Vec<&Pair> = idx.iter().map(|&i| pairs[i]).collect();
        let batch_codes: Vec<&LatentCode> = idx.iter().map(|&i| &codes[i]).collect();
        match (self, photos) {
            (Engine::Kernels(t), Photos::Kernels(p)) => {
                let batch_photos: Vec<&CpuFeatures> = idx.iter().map(|&i| &p[i]).collect();
                let batch_masks: Option<Vec<&[f32]>> =
                    masks.map(|all| idx.iter().map(|&i| all[i].as_slice()).collect());
                t.step(
                    &batch_pairs,
                    &batch_codes,
                    &batch_photos,
                    batch_masks.as_deref(),
                    lr,
                )
            }
            (Engine::Burn(t), Photos::Burn(p)) => {
                let (h, w) = (
                    batch_pairs[0].layout.height(),
                    batch_pairs[0].layout.width(),
                );
                let batch_photos = concat_features(&idx.iter().map(|&i| &p[i]).collect::<Vec<_>>());
                let batch_masks = masks.map(|all| {
                    Tensor::cat(
                        idx.iter()
                            .map(|&i| rarity_mask_tensor(&all[i], h, w, &t.ad))
                            .collect(),
                        0,
                    )
                });
                let generator = t.generator.clone();
                let (g, loss) = train_step(
                    generator,
                    &mut t.optimizer,
                    &t.train,
                    TrainBatch {
                        pairs: &batch_pairs,
                        codes: &batch_codes,
                        photos: &batch_photos,
                        masks: batch_masks,
                    },
                    lr,
                    &t.ad,
                );
                t.generator = g;
                if loss.is_finite() {
                    Ok(loss)
                } else {
                    Err(NonFiniteLoss { loss })
                }
            }
            _ => unreachable!("photos come from the same engine"),
        }
    }
}
