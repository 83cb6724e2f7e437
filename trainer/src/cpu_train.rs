//! Steps 2 and 3 of conditional IMLE (docs/METHOD.md "Training") on cimle's CPU kernels: the
//! nearest-code selection and the Adam steps, with the generator ([`CpuGenerator`]), the distance
//! ([`CpuVgg`]) and the optimiser ([`Adam`]) written out by hand. This is the trainer's CPU path;
//! the GPU path runs the same steps through burn ([`crate::imle`]).
//!
//! The photo's features do not change during a round, so [`CpuTrainer::photo_features`] computes
//! them once per selected image and both selection and every training step reuse them.

use cimle::cpu::grid::{Grid, Map};
use cimle::cpu::{CpuGenerator, GeneratorGrads};
use cimle::latent::LatentCode;
use cimle::layout::Layout;

use crate::adam::Adam;
use crate::cpu_vgg::{
    CpuFeatures, CpuVgg, distance_terms, distance_terms_backward, distances, mask_pyramid,
};
use crate::data::Pair;
use crate::imle::{Selection, nearest};
use crate::perceptual::LayerWeights;

/// A training step whose loss is not a finite number.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
#[error("the training loss is {loss} (not finite): the learning rate may be too high")]
pub struct NonFiniteLoss {
    pub loss: f32,
}

/// Generator, distance and optimiser of the CPU path.
#[derive(Debug, Clone)]
pub struct CpuTrainer {
    pub generator: CpuGenerator,
    pub vgg: CpuVgg,
    pub weights: LayerWeights,
    pub adam: Adam,
}

/// `[n, 3]` map of RGB8 photos in [-1, 1] (`v / 127.5 − 1`, as [`crate::perceptual::rgb_to_tensor`]).
pub fn photo_map(photos: &[&[u8]], h: usize, w: usize) -> Map {
    let mut map = Map::zeros(Grid::new(photos.len(), h, w), 3);
    for (s, rgb) in photos.iter().enumerate() {
        assert_eq!(rgb.len(), h * w * 3, "photo size");
        for y in 0..h {
            for (d, &v) in map
                .row_mut(s, y)
                .iter_mut()
                .zip(&rgb[y * w * 3..(y + 1) * w * 3])
            {
                *d = f32::from(v) / 127.5 - 1.0;
            }
        }
    }
    map
}

/// The features of each sample of a batch, concatenated into one batch.
fn concat_features(parts: &[&CpuFeatures]) -> CpuFeatures {
    CpuFeatures {
        maps: std::array::from_fn(|i| {
            Map::concat(&parts.iter().map(|f| &f.maps[i]).collect::<Vec<_>>())
        }),
    }
}

impl CpuTrainer {
    /// The features of each pair's photo, one batch-1 set per pair.
    pub fn photo_features(&self, pairs: &[&Pair]) -> Vec<CpuFeatures> {
        let Some(first) = pairs.first() else {
            return Vec::new();
        };
        let (h, w) = (first.layout.height(), first.layout.width());
        let photos: Vec<&[u8]> = pairs.iter().map(|p| p.image.as_slice()).collect();
        let (all, _) = self.vgg.features(&photo_map(&photos, h, w), false);
        (0..pairs.len())
            .map(|s| CpuFeatures {
                maps: std::array::from_fn(|i| all.maps[i].sample(s)),
            })
            .collect()
    }

    /// Step 2 of docs/METHOD.md "Training" for `pairs[k]` with its codes `candidates[k]`: the nearest
    /// of them to the photo under `L` (the argmin of [`CpuTrainer::candidate_distances`]).
    pub fn select(
        &self,
        pairs: &[&Pair],
        photos: &[CpuFeatures],
        candidates: &[Vec<LatentCode>],
        masks: Option<&[Vec<f32>]>,
        batch: usize,
        progress: impl FnMut(usize),
    ) -> Vec<Selection> {
        self.candidate_distances(pairs, photos, candidates, masks, batch, progress)
            .iter()
            .map(|row| nearest(row))
            .collect()
    }

    /// The distance `L` from the render of every candidate code of `pairs[k]` to its photo
    /// (`photos[k]`, with `masks[k]`, the `H x W` rarity mask, when given), rendered without
    /// gradients, `batch` renders a pass (at least one image's codes): one row per image.
    pub fn candidate_distances(
        &self,
        pairs: &[&Pair],
        photos: &[CpuFeatures],
        candidates: &[Vec<LatentCode>],
        masks: Option<&[Vec<f32>]>,
        batch: usize,
        mut progress: impl FnMut(usize),
    ) -> Vec<Vec<f32>> {
        let m = candidates.first().map_or(0, Vec::len);
        let mut out = Vec::with_capacity(pairs.len());
        if m == 0 {
            return vec![Vec::new(); pairs.len()];
        }
        let per_pass = (batch / m).max(1);
        for start in (0..pairs.len()).step_by(per_pass) {
            let end = (start + per_pass).min(pairs.len());
            let layouts: Vec<&Layout> = pairs[start..end]
                .iter()
                .flat_map(|p| std::iter::repeat_n(&p.layout, m))
                .collect();
            let codes: Vec<&LatentCode> = candidates[start..end].iter().flatten().collect();
            let (image, _) = self.generator.forward(&layouts, &codes, false);
            let (fake, _) = self.vgg.features(&image, false);
            // One photo (and mask) per image: each is compared with its m consecutive renders.
            let real = concat_features(&photos[start..end].iter().collect::<Vec<_>>());
            let pyramid = masks.map(|all| {
                let (h, w) = (layouts[0].height(), layouts[0].width());
                let each: Vec<&[f32]> = all[start..end].iter().map(Vec::as_slice).collect();
                mask_pyramid(&each, h, w)
            });
            let d = distances(
                &distance_terms(&real, &fake, pyramid.as_ref()),
                &self.weights,
            );
            out.extend(d.chunks(m).map(<[f32]>::to_vec));
            progress(end - start);
        }
        out
    }

    /// The loss `mean_k L(y_k, T(x_k, z_k))` of a mini-batch and its gradients, without a step.
    pub fn loss_and_grads(
        &self,
        pairs: &[&Pair],
        codes: &[&LatentCode],
        photos: &[&CpuFeatures],
        masks: Option<&[&[f32]]>,
    ) -> (f32, GeneratorGrads) {
        let layouts: Vec<&Layout> = pairs.iter().map(|p| &p.layout).collect();
        let (h, w) = (layouts[0].height(), layouts[0].width());
        let (image, gtape) = self.generator.forward(&layouts, codes, true);
        let (fake, vtape) = self.vgg.features(&image, true);
        let real = concat_features(photos);
        let pyramid = masks.map(|m| mask_pyramid(m, h, w));
        let terms = distance_terms(&real, &fake, pyramid.as_ref());
        let n = pairs.len() as f32;
        let loss = distances(&terms, &self.weights).iter().sum::<f32>() / n;
        let coef: Vec<[f32; 6]> = vec![self.weights.0.map(|l| l / n); pairs.len()];
        let d_maps = distance_terms_backward(&real, &fake, pyramid.as_ref(), &coef);
        let d_image = self.vgg.backward(&vtape.expect("kept"), &d_maps);
        let grads = self.generator.backward(&gtape.expect("kept"), &d_image);
        (loss, grads)
    }

    /// Step 3 of docs/METHOD.md "Training": one Adam step on a mini-batch of selected pairs with their
    /// codes, photo features and rarity masks. Returns the mini-batch's mean loss; a loss that is
    /// not finite is an error and leaves the generator unchanged.
    pub fn step(
        &mut self,
        pairs: &[&Pair],
        codes: &[&LatentCode],
        photos: &[&CpuFeatures],
        masks: Option<&[&[f32]]>,
        lr: f64,
    ) -> Result<f32, NonFiniteLoss> {
        let (loss, grads) = self.loss_and_grads(pairs, codes, photos, masks);
        if !loss.is_finite() {
            return Err(NonFiniteLoss { loss });
        }
        self.adam.step(self.generator.params_mut(), &grads, lr);
        Ok(loss)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::perceptual::{PerceptualDistance, rgb_to_tensor};
    use crate::vgg::{Vgg19Config, Vgg19Features};
    use burn::module::{Module, ModuleVisitor, Param as BurnParam};
    use burn::optim::{AdamConfig, GradientsParams};
    use burn::tensor::{Device, Tensor, TensorData};
    use cimle::config::{GeneratorConfig, Preset};
    use cimle::generator::one_hot;

    fn pair(cfg: &GeneratorConfig, index: u64) -> Pair {
        let s = crate::synth::generate_scene(3, index, cfg.height, cfg.width);
        Pair {
            layout: Layout::new(cfg.height, cfg.width, s.labels).unwrap(),
            image: s.image,
        }
    }

    /// Collects every parameter's gradient by module path.
    struct GradCollector<'a> {
        path: Vec<String>,
        grads: &'a burn::tensor::Gradients,
        out: Vec<(String, Vec<f32>)>,
    }

    impl ModuleVisitor for GradCollector<'_> {
        fn enter_module(&mut self, name: &str, _: &str) {
            self.path.push(name.to_string());
        }
        fn exit_module(&mut self, _: &str, _: &str) {
            self.path.pop();
        }
        fn visit_float<const D: usize>(&mut self, param: &BurnParam<Tensor<D>>) {
            let g = param
                .val()
                .grad(self.grads)
                .map(|g| g.into_data().convert::<f32>().try_to_vec::<f32>().unwrap())
                .unwrap_or_default();
            self.out.push((self.path.join("."), g));
        }
    }

    fn rel(a: &[f32], b: &[f32]) -> f32 {
        assert_eq!(a.len(), b.len());
        let d = a
            .iter()
            .zip(b)
            .map(|(x, y)| (x - y).abs())
            .fold(0.0, f32::max);
        let s = b.iter().fold(0.0f32, |m, v| m.max(v.abs()));
        d / s.max(1e-12)
    }

    /// The CPU path's loss and every parameter gradient equal burn's autodiff of the same
    /// network and distance (with and without rarity masks, batch 2), and one Adam step moves the
    /// parameters as burn's Adam does.
    #[test]
    fn loss_gradients_and_adam_equal_burns() {
        for global in [None, Some(true)] {
            let cfg = GeneratorConfig::new(32, 64, vec![12, 10, 8, 6])
                .with_encoder_width(6)
                .with_latent_channels(5)
                .with_global_code(global);
            loss_gradients_and_adam_agree(&cfg);
        }
    }

    fn loss_gradients_and_adam_agree(cfg: &GeneratorConfig) {
        let device = Device::flex();
        let ad = device.clone().autodiff();
        let (h, w) = (cfg.height, cfg.width);
        let vgg = Vgg19Features::random(1, &Vgg19Config { width_div: 16 }, &device).unwrap();
        let weights = LayerWeights::paper();
        let pairs = [pair(cfg, 0), pair(cfg, 1)];
        let refs: Vec<&Pair> = pairs.iter().collect();
        let codes: Vec<LatentCode> = (0..2)
            .map(|s| LatentCode::from_seed(s + 10, cfg.latent_channels, h, w))
            .collect();
        let code_refs: Vec<&LatentCode> = codes.iter().collect();
        let masks: Vec<Vec<f32>> = (0..2)
            .map(|s| {
                (0..h * w)
                    .map(|i| 0.2 + ((i * 13 + s * 5) % 7) as f32 / 7.0)
                    .collect()
            })
            .collect();
        for use_masks in [false, true] {
            let generator = cfg.init_seeded(&ad, 5);
            let cpu = CpuGenerator::from_generator(&generator.valid(), cfg);
            let params = cpu.params().len();
            let mut trainer = CpuTrainer {
                generator: cpu,
                vgg: CpuVgg::from_burn(&vgg),
                weights,
                adam: Adam::new(&AdamConfig::new(), params).unwrap(),
            };
            let photos = trainer.photo_features(&refs);
            let photo_refs: Vec<&CpuFeatures> = photos.iter().collect();
            let mask_refs: Vec<&[f32]> = masks.iter().map(Vec::as_slice).collect();
            let m = use_masks.then_some(mask_refs.as_slice());
            let (loss, grads) = trainer.loss_and_grads(&refs, &code_refs, &photo_refs, m);

            // burn: the same loss through autodiff.
            let distance = PerceptualDistance::new(vgg.clone().fork(&ad), weights);
            let layouts: Vec<&Layout> = refs.iter().map(|p| &p.layout).collect();
            let x = one_hot(&layouts, cfg.num_classes(), &ad);
            let z = LatentCode::batch_tensor(&codes, &ad).unwrap();
            let targets = Tensor::cat(
                refs.iter()
                    .map(|p| rgb_to_tensor(&p.image, h, w, &ad))
                    .collect(),
                0,
            );
            let mask_t = use_masks.then(|| {
                Tensor::<4>::from_data(TensorData::new(masks.concat(), [2, 1, h, w]), &ad)
            });
            let real = distance.features(targets).detach();
            let fake = distance.features(generator.forward(x, z));
            let burn_loss = distance.distance(&real, &fake, mask_t).mean();
            let want_loss = burn_loss.clone().into_data().try_to_vec::<f32>().unwrap()[0];
            assert!(
                (loss - want_loss).abs() <= 1e-4 * want_loss.abs(),
                "loss {loss} vs {want_loss}"
            );
            let g = burn_loss.backward();
            let mut collector = GradCollector {
                path: Vec::new(),
                grads: &g,
                out: Vec::new(),
            };
            generator.visit(&mut collector);
            let params = trainer.generator.params().to_vec();
            for ((name, want), (p, got)) in
                collector.out.iter().zip(params.iter().zip(&grads.values))
            {
                assert_eq!(name, &p.name);
                let got = cimle::cpu::generator::to_burn_layout(p, got);
                let r = rel(&got, want);
                assert!(
                    r < 2e-3,
                    "masks {use_masks}: gradient of {name} differs by {r} (relative)"
                );
            }

            // One Adam step each: the parameter updates agree.
            let before = trainer.generator.tensors();
            let lr = 1e-3;
            let mut optimizer = AdamConfig::new().init();
            let grads_params = GradientsParams::from_grads(g, &generator);
            let stepped = optimizer.step(lr, generator, grads_params);
            let want = cimle::weights::generator_tensors(&stepped.valid());
            trainer.step(&refs, &code_refs, &photo_refs, m, lr).unwrap();
            let got = trainer.generator.tensors();
            for ((b, (name, _, w)), (_, _, g)) in before.iter().zip(&want).zip(&got) {
                let dw: Vec<f32> = w.iter().zip(&b.2).map(|(x, y)| x - y).collect();
                let dg: Vec<f32> = g.iter().zip(&b.2).map(|(x, y)| x - y).collect();
                // Adam divides by sqrt(v): where a gradient is tiny the update's sign and size
                // follow rounding, so compare updates where burn's moved the parameter at all.
                let r = rel(&dg, &dw);
                assert!(
                    r < 5e-2,
                    "masks {use_masks}: Adam update of {name} differs by {r}"
                );
            }
        }
    }

    #[test]
    fn a_non_finite_loss_is_an_error_and_changes_nothing() {
        let device = Device::flex();
        let cfg = Preset::Tiny.config();
        let vgg = Vgg19Features::random(1, &Vgg19Config { width_div: 16 }, &device).unwrap();
        let generator = CpuGenerator::from_generator(&cfg.init_seeded(&device, 1), &cfg);
        let params = generator.params().len();
        let mut trainer = CpuTrainer {
            generator,
            vgg: CpuVgg::from_burn(&vgg),
            weights: LayerWeights([f32::NAN; 6]),
            adam: Adam::new(&AdamConfig::new(), params).unwrap(),
        };
        let p = pair(&cfg, 2);
        let photos = trainer.photo_features(&[&p]);
        let code = LatentCode::from_seed(1, cfg.latent_channels, cfg.height, cfg.width);
        let before = trainer.generator.tensors();
        let err = trainer
            .step(&[&p], &[&code], &[&photos[0]], None, 1e-3)
            .unwrap_err();
        assert!(err.loss.is_nan());
        assert_eq!(trainer.generator.tensors(), before);
    }

    /// Selection renders several images' candidates in one pass and compares each group of m
    /// renders with its own photo and mask: the distances equal those of one render at a time.
    #[test]
    fn batched_selection_distances_equal_one_render_at_a_time() {
        let device = Device::flex();
        let cfg = Preset::Tiny.config();
        let vgg = Vgg19Features::random(1, &Vgg19Config { width_div: 16 }, &device).unwrap();
        let generator = CpuGenerator::from_generator(&cfg.init_seeded(&device, 3), &cfg);
        let params = generator.params().len();
        let trainer = CpuTrainer {
            generator,
            vgg: CpuVgg::from_burn(&vgg),
            weights: LayerWeights::paper(),
            adam: Adam::new(&AdamConfig::new(), params).unwrap(),
        };
        let (h, w, m) = (cfg.height, cfg.width, 3);
        let pairs = [pair(&cfg, 4), pair(&cfg, 5), pair(&cfg, 6)];
        let refs: Vec<&Pair> = pairs.iter().collect();
        let photos = trainer.photo_features(&refs);
        let candidates: Vec<Vec<LatentCode>> = (0..pairs.len() as u64)
            .map(|k| {
                (0..m as u64)
                    .map(|j| LatentCode::from_seed(100 + 10 * k + j, cfg.latent_channels, h, w))
                    .collect()
            })
            .collect();
        let masks: Vec<Vec<f32>> = (0..pairs.len())
            .map(|k| (0..h * w).map(|i| 0.1 + ((i * 7 + k) % 5) as f32).collect())
            .collect();
        for use_masks in [false, true] {
            let masks = use_masks.then_some(masks.as_slice());
            let mut want = Vec::new();
            for (k, p) in refs.iter().enumerate() {
                let row: Vec<f32> = candidates[k]
                    .iter()
                    .map(|code| {
                        let (image, _) = trainer.generator.forward(&[&p.layout], &[code], false);
                        let (fake, _) = trainer.vgg.features(&image, false);
                        let pyramid = masks.map(|all| mask_pyramid(&[&all[k]], h, w));
                        let terms = distance_terms(&photos[k], &fake, pyramid.as_ref());
                        distances(&terms, &trainer.weights)[0]
                    })
                    .collect();
                want.push(row);
            }
            // 2 images a pass, then 1 (the last pass): groups of m renders share a photo.
            let got =
                trainer.candidate_distances(&refs, &photos, &candidates, masks, 2 * m, |_| {});
            for (g, w) in got.iter().flatten().zip(want.iter().flatten()) {
                assert!(
                    (g - w).abs() <= 1e-5 * w.abs(),
                    "masks {use_masks}: {g} vs {w}"
                );
            }
            assert_eq!(got.len(), 3);
        }
    }
}
