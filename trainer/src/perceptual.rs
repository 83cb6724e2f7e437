//! The perceptual distance `L` of conditional IMLE: docs/METHOD.md "Distance L (perceptual, VGG-19)",
//! "Loss rebalancing" and "Details of the released code worth keeping"; supplementary material
//! ("Distance Metric", equation (1), and "Loss Rebalancing").
//!
//! ```text
//! L(y, ŷ) = Σ_i λ_i · mean_{C,H,W}( M̂_i ∘ |Φ_i(y) − Φ_i(ŷ)| ),   i = pixels, conv1_2 … conv5_2
//! ```
//!
//! * `Φ` is the VGG-19 of [`crate::vgg`], fed images normalised as torchvision's weights expect
//!   ([`Vgg19Features::normalize`]); the pixel term `Φ_0` is that normalised image.
//! * [`PerceptualDistance`]: per-layer terms `[N, 6]` ([`PerceptualDistance::distance_terms`]),
//!   each the mean of `|fake − real| × mask` over the layer's C, H, W with the rarity mask
//!   area-downsampled to the layer's size ([`mask_pyramid`]), and their weighted sum
//!   ([`PerceptualDistance::distance`]). Everything is a differentiable tensor op (conv2d,
//!   avg_pool2d, abs, mul, mean) so the same code is the training loss on an autodiff device and
//!   the nearest-code selection metric (a ground truth of batch 1 against `m` candidates).
//! * [`LayerWeights`]: the λ_i, either CRN's GTA-5 constants used by the released code
//!   ([`LayerWeights::paper`]) or calibrated so that every layer contributes equally on given
//!   image pairs ([`LayerWeights::calibrate`], the paper's own rule).

use std::fmt;

use burn::tensor::module::avg_pool2d;
use burn::tensor::ops::AvgPoolOptions;
use burn::tensor::{Device, Tensor, TensorData};
use serde::Serialize;

use crate::vgg::{Vgg19Features, VggError};

/// Names of the six distance terms, in the order of [`LayerWeights`] and of every `[N, 6]` tensor.
pub const LAYER_NAMES: [&str; 6] = [
    "pixels", "conv1_2", "conv2_2", "conv3_2", "conv4_2", "conv5_2",
];

/// `[N, 1, H, W]` rarity mask to the six layers' sizes, by area (average) downsampling: the
/// pixel and conv1_2 terms use it as is, then each further layer halves it with the same 2x2
/// average pooling the network applies, so every map has exactly its layer's size (docs/METHOD.md
/// "Loss rebalancing": `M̂_i` is the mask downsampled to layer i's size).
pub fn mask_pyramid(mask: Tensor<4>) -> [Tensor<4>; 6] {
    let pool = |m: &Tensor<4>| avg_pool2d(m.clone(), AvgPoolOptions::new([2, 2]));
    let m2 = pool(&mask);
    let m3 = pool(&m2);
    let m4 = pool(&m3);
    let m5 = pool(&m4);
    [mask.clone(), mask, m2, m3, m4, m5]
}

/// The six maps the distance compares: index 0 the normalised image (pixel term), 1..=5 the
/// VGG features conv1_2 … conv5_2. Compute a ground truth's once and reuse it.
#[derive(Debug, Clone)]
pub struct Features {
    /// `[N, C_i, H_i, W_i]` maps in [`LAYER_NAMES`] order.
    pub maps: [Tensor<4>; 6],
}

impl Features {
    /// Batch size `N`.
    pub fn batch_size(&self) -> usize {
        self.maps[0].dims()[0]
    }

    /// The six map shapes.
    pub fn shapes(&self) -> [[usize; 4]; 6] {
        std::array::from_fn(|i| self.maps[i].dims())
    }

    /// Every map repeated `n` times along the batch (for a batch-1 ground truth against `n`
    /// candidates; [`PerceptualDistance::distance_terms`] also broadcasts a batch of 1 itself).
    pub fn repeat(&self, n: usize) -> Self {
        Self {
            maps: self.maps.clone().map(|m| m.repeat_dim(0, n)),
        }
    }

    /// The same maps cut from any autodiff graph (for ground truths computed on an autodiff
    /// device).
    pub fn detach(self) -> Self {
        Self {
            maps: self.maps.map(|m| m.detach()),
        }
    }
}

/// The λ_i of the six terms `[pixels, conv1_2, conv2_2, conv3_2, conv4_2, conv5_2]`.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, serde::Deserialize)]
pub struct LayerWeights(pub [f32; 6]);

impl LayerWeights {
    /// CRN's GTA-5 weights, used by the released conditional IMLE code:
    /// `[1, 1/1.4, 1/1.8, 1/1.3, 1/2.2, 10/0.62]` (docs/METHOD.md "Distance L").
    pub fn paper() -> Self {
        Self([1.0, 1.0 / 1.4, 1.0 / 1.8, 1.0 / 1.3, 1.0 / 2.2, 10.0 / 0.62])
    }

    /// CRN's Cityscapes 256p weights: `[1, 1/1.6, 1/2.3, 1/1.8, 1/2.8, 10/0.8]`.
    pub fn crn_cityscapes() -> Self {
        Self([1.0, 1.0 / 1.6, 1.0 / 2.3, 1.0 / 1.8, 1.0 / 2.8, 10.0 / 0.8])
    }

    /// All six weights 1.
    pub fn uniform() -> Self {
        Self([1.0; 6])
    }

    /// "auto": the paper's rule, "λ_i set such that the loss of each layer makes the same
    /// contribution to the total loss", measured on `pairs` of `[N, 3, H, W]` images in
    /// `[-1, 1]` (typically training images against renders, or against other training images).
    ///
    /// With `t̄_i` the mean of term `i` ([`PerceptualDistance::distance_terms`], no mask) over
    /// every image of every pair, `λ_i = 1 / t̄_i`, normalised so that the pixel weight is 1:
    /// `λ_i = t̄_0 / t̄_i`. Then `λ_i · t̄_i = t̄_0` for every layer on these pairs. The weights
    /// of `distance` itself are not used. Fails if a mean term is zero or not finite (identical
    /// pairs, no pairs).
    pub fn calibrate(
        distance: &PerceptualDistance,
        pairs: &[(Tensor<4>, Tensor<4>)],
    ) -> Result<Self, VggError> {
        let mut sums = [0.0f64; 6];
        let mut count = 0usize;
        for (a, b) in pairs {
            let fa = distance.features(a.clone());
            let fb = distance.features(b.clone());
            let terms = distance.distance_terms(&fa, &fb, None);
            let n = terms.dims()[0];
            let values = tensor_values(terms);
            for row in values.chunks_exact(6) {
                for (s, v) in sums.iter_mut().zip(row) {
                    *s += f64::from(*v);
                }
            }
            count += n;
        }
        if count == 0 {
            return Err(VggError::Calibration("no image pairs given".into()));
        }
        let means = sums.map(|s| s / count as f64);
        if let Some(i) = means.iter().position(|m| !(m.is_finite() && *m > 0.0)) {
            return Err(VggError::Calibration(format!(
                "mean {} term is {} over {count} images: the pairs must differ",
                LAYER_NAMES[i], means[i]
            )));
        }
        Ok(Self(means.map(|m| (means[0] / m) as f32)))
    }
}

impl Default for LayerWeights {
    fn default() -> Self {
        Self::paper()
    }
}

fn tensor_values<const D: usize>(t: Tensor<D>) -> Vec<f32> {
    t.into_data()
        .convert::<f32>()
        .try_into_vec::<f32>()
        .expect("f32 tensor data")
}

/// How a run picks its layer weights (`--layer-weights`).
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum LayerWeightsChoice {
    /// CRN's GTA-5 constants ([`LayerWeights::paper`]).
    Paper,
    /// Calibrated on the training photos ([`LayerWeightsChoice::resolve`]).
    Auto,
    /// Six given weights.
    Fixed(LayerWeights),
}

impl LayerWeightsChoice {
    /// The layer weights. `Auto` calibrates them so that every layer contributes equally between
    /// training photos: each of the first (up to) 32 photos against the next, cyclically
    /// ([`LayerWeights::calibrate`]); `photos` are RGB8 images of `h x w`.
    pub fn resolve(
        self,
        vgg: &Vgg19Features,
        photos: &[&[u8]],
        (h, w): (usize, usize),
        device: &Device,
    ) -> Result<LayerWeights, VggError> {
        match self {
            LayerWeightsChoice::Paper => Ok(LayerWeights::paper()),
            LayerWeightsChoice::Fixed(weights) => Ok(weights),
            LayerWeightsChoice::Auto => {
                let probe = PerceptualDistance::new(vgg.clone(), LayerWeights::paper());
                let n = photos.len().min(32);
                let images: Vec<_> = photos[..n]
                    .iter()
                    .map(|p| rgb_to_tensor(p, h, w, device))
                    .collect();
                let couples: Vec<_> = (0..n)
                    .map(|i| (images[i].clone(), images[(i + 1) % n].clone()))
                    .collect();
                LayerWeights::calibrate(&probe, &couples)
            }
        }
    }
}

/// The distance `L` of docs/METHOD.md: a VGG-19 and the six layer weights.
#[derive(Debug)]
pub struct PerceptualDistance {
    vgg: Vgg19Features,
    weights: LayerWeights,
}

impl PerceptualDistance {
    /// A distance from a network and layer weights.
    pub fn new(vgg: Vgg19Features, weights: LayerWeights) -> Self {
        Self { vgg, weights }
    }

    /// The network.
    pub fn vgg(&self) -> &Vgg19Features {
        &self.vgg
    }

    /// The layer weights λ.
    pub fn weights(&self) -> LayerWeights {
        self.weights
    }

    /// Replaces the layer weights (e.g. by calibrated ones).
    pub fn set_weights(&mut self, weights: LayerWeights) {
        self.weights = weights;
    }

    /// The network's description ([`Vgg19Features::describe`]).
    pub fn describe(&self) -> &str {
        self.vgg.describe()
    }

    /// The six maps of `[N, 3, H, W]` images in `[-1, 1]` (`H, W ≥ 16`).
    pub fn features(&self, images: Tensor<4>) -> Features {
        let x = Vgg19Features::normalize(images);
        let [f1, f2, f3, f4, f5] = self.vgg.forward_normalized(x.clone());
        Features {
            maps: [x, f1, f2, f3, f4, f5],
        }
    }

    /// Per-layer terms `[N, 6]`: term `i` of sample `n` is the mean over `C_i × H_i × W_i` of
    /// `|fake_i − real_i| × mask_i`, with `mask_i` the `[N or 1, 1, H, W]` mask area-downsampled
    /// to the layer ([`mask_pyramid`]); no mask means all ones.
    ///
    /// `real` may have batch 1 against `N` fakes (it is broadcast), or batch `N`. Differentiable
    /// in both feature sets.
    ///
    /// # Panics
    /// If the batch sizes or the map sizes (image sizes) disagree, or the mask is not
    /// `[N or 1, 1, H, W]` at the image size.
    pub fn distance_terms(
        &self,
        real: &Features,
        fake: &Features,
        mask: Option<Tensor<4>>,
    ) -> Tensor<2> {
        let n = fake.batch_size();
        let nr = real.batch_size();
        assert!(
            nr == n || nr == 1,
            "real features have batch {nr}, fakes {n}: need equal batches or a real batch of 1"
        );
        let masks = mask.map(|m| {
            let [nm, cm, hm, wm] = m.dims();
            let [_, _, h, w] = fake.maps[0].dims();
            assert!(
                (nm == n || nm == 1) && cm == 1 && [hm, wm] == [h, w],
                "mask must be [{n} or 1, 1, {h}, {w}], got {:?}",
                m.dims()
            );
            mask_pyramid(m)
        });
        let terms: Vec<Tensor<2>> = (0..6)
            .map(|i| {
                let f = fake.maps[i].clone();
                let dims = f.dims();
                let r = real.maps[i].clone();
                let rdims = r.dims();
                assert_eq!(
                    rdims[1..],
                    dims[1..],
                    "{} maps differ in shape: real {rdims:?}, fake {dims:?}",
                    LAYER_NAMES[i]
                );
                let r = if rdims[0] == n { r } else { r.expand(dims) };
                let mut diff = (f - r).abs();
                if let Some(masks) = &masks {
                    let m = masks[i].clone();
                    assert_eq!(
                        m.dims()[2..],
                        dims[2..],
                        "mask pyramid vs {}",
                        LAYER_NAMES[i]
                    );
                    diff = diff * m.expand(dims);
                }
                diff.reshape([n, dims[1] * dims[2] * dims[3]]).mean_dim(1)
            })
            .collect();
        Tensor::cat(terms, 1)
    }

    /// `L` per sample, `[N]`: `Σ_i λ_i · term_i` of [`PerceptualDistance::distance_terms`].
    pub fn distance(&self, real: &Features, fake: &Features, mask: Option<Tensor<4>>) -> Tensor<1> {
        let terms = self.distance_terms(real, fake, mask);
        let [n, _] = terms.dims();
        let weights = Tensor::<2>::from_data(
            TensorData::new(self.weights.0.to_vec(), [1, 6]),
            &terms.device(),
        );
        (terms * weights.expand([n, 6])).sum_dim(1).reshape([n])
    }

    /// `L` between two batches of `[N, 3, H, W]` images in `[-1, 1]` (features computed here).
    pub fn distance_images(
        &self,
        real: Tensor<4>,
        fake: Tensor<4>,
        mask: Option<Tensor<4>>,
    ) -> Tensor<1> {
        let real = self.features(real);
        let fake = self.features(fake);
        self.distance(&real, &fake, mask)
    }
}

/// `H × W × 3` row-major RGB8 to a `[1, 3, H, W]` image in `[-1, 1]` (`v / 127.5 − 1`).
///
/// # Panics
/// If `rgb.len() != h * w * 3`.
pub fn rgb_to_tensor(rgb: &[u8], h: usize, w: usize, device: &Device) -> Tensor<4> {
    assert_eq!(
        rgb.len(),
        h * w * 3,
        "RGB8 buffer of {h}x{w} must hold {} bytes",
        h * w * 3
    );
    let mut planar = vec![0.0f32; 3 * h * w];
    for (p, px) in rgb.chunks_exact(3).enumerate() {
        for c in 0..3 {
            planar[c * h * w + p] = f32::from(px[c]) / 127.5 - 1.0;
        }
    }
    Tensor::from_data(TensorData::new(planar, [1, 3, h, w]), device)
}

/// `[N, 3, H, W]` images in `[-1, 1]` to RGB8: `N` images one after another, each `H × W × 3`
/// row-major; values are clamped to `[-1, 1]` and rounded (`(v + 1) · 127.5`). The inverse of
/// [`rgb_to_tensor`] on its outputs.
pub fn tensor_to_rgb(images: Tensor<4>) -> Vec<u8> {
    let [n, c, h, w] = images.dims();
    assert_eq!(
        c,
        3,
        "tensor_to_rgb takes [N, 3, H, W], got {:?}",
        images.dims()
    );
    let values = tensor_values(images);
    let mut rgb = vec![0u8; n * h * w * 3];
    for b in 0..n {
        for ch in 0..3 {
            let plane = &values[(b * 3 + ch) * h * w..][..h * w];
            for (p, v) in plane.iter().enumerate() {
                let byte = ((v.clamp(-1.0, 1.0) + 1.0) * 127.5).round();
                rgb[(b * h * w + p) * 3 + ch] = byte as u8;
            }
        }
    }
    rgb
}

/// One row of a [`DistanceReport`].
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct LayerTerm {
    /// Layer name ([`LAYER_NAMES`]).
    pub layer: String,
    /// The unweighted term: mean `|Φ(a) − Φ(b)|` over the layer.
    pub term: f32,
    /// The layer weight λ.
    pub weight: f32,
    /// `weight × term`.
    pub weighted: f32,
}

/// What `cimle distance A.png B.png` prints: every term of `L(A, B)` and the total.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct DistanceReport {
    /// The network ([`Vgg19Features::describe`]).
    pub network: String,
    /// Image height.
    pub height: usize,
    /// Image width.
    pub width: usize,
    /// The six terms.
    pub layers: Vec<LayerTerm>,
    /// `Σ weighted`.
    pub total: f32,
}

impl fmt::Display for DistanceReport {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        writeln!(
            f,
            "perceptual distance, {} ({}x{}, height x width)",
            self.network, self.height, self.width
        )?;
        writeln!(
            f,
            "{:<8} {:>12} {:>12} {:>12}",
            "layer", "term", "weight", "weighted"
        )?;
        for l in &self.layers {
            writeln!(
                f,
                "{:<8} {:>12.6} {:>12.6} {:>12.6}",
                l.layer, l.term, l.weight, l.weighted
            )?;
        }
        write!(
            f,
            "{:<8} {:>12} {:>12} {:>12.6}",
            "total", "", "", self.total
        )
    }
}

/// The distance between two `h × w` RGB8 images, term by term (for `cimle distance`).
///
/// # Panics
/// If a buffer is not `h * w * 3` bytes, or `h` or `w` is below [`crate::vgg::MIN_SIDE`].
pub fn distance_report(
    dist: &PerceptualDistance,
    a_rgb: &[u8],
    b_rgb: &[u8],
    h: usize,
    w: usize,
    device: &Device,
) -> DistanceReport {
    let a = dist.features(rgb_to_tensor(a_rgb, h, w, device));
    let b = dist.features(rgb_to_tensor(b_rgb, h, w, device));
    let terms = tensor_values(dist.distance_terms(&a, &b, None));
    let weights = dist.weights().0;
    let layers: Vec<LayerTerm> = (0..6)
        .map(|i| LayerTerm {
            layer: LAYER_NAMES[i].to_string(),
            term: terms[i],
            weight: weights[i],
            weighted: terms[i] * weights[i],
        })
        .collect();
    let total = layers.iter().map(|l| l.weighted).sum();
    DistanceReport {
        network: dist.describe().to_string(),
        height: h,
        width: w,
        layers,
        total,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::vgg::Vgg19Config;
    use burn::module::Module;
    use cimle::latent::PortableRng;

    fn device() -> Device {
        Device::flex()
    }

    fn small_vgg(seed: u64) -> Vgg19Features {
        Vgg19Features::random(seed, &Vgg19Config::new().with_width_div(16), &device()).unwrap()
    }

    /// Deterministic images in `[-1, 1]`, different per `k`.
    fn image(k: usize, n: usize, h: usize, w: usize, device: &Device) -> Tensor<4> {
        let values: Vec<f32> = (0..n * 3 * h * w)
            .map(|i| (((i * (7 + 2 * k) + 3 * k) % 23) as f32) / 11.0 - 1.0)
            .collect();
        Tensor::from_data(TensorData::new(values, [n, 3, h, w]), device)
    }

    fn noise(n: usize, h: usize, w: usize, seed: u64, scale: f32, device: &Device) -> Tensor<4> {
        let mut values = vec![0.0f32; n * 3 * h * w];
        PortableRng::new(seed).fill_normal(&mut values);
        values.iter_mut().for_each(|v| *v *= scale);
        Tensor::from_data(TensorData::new(values, [n, 3, h, w]), device)
    }

    fn values<const D: usize>(t: Tensor<D>) -> Vec<f32> {
        tensor_values(t)
    }

    #[test]
    fn feature_shapes_follow_the_pooling() {
        let dist = PerceptualDistance::new(small_vgg(1), LayerWeights::paper());
        let f = dist.features(image(0, 2, 48, 80, &device()));
        assert_eq!(
            f.shapes(),
            [
                [2, 3, 48, 80],
                [2, 4, 48, 80],
                [2, 8, 24, 40],
                [2, 16, 12, 20],
                [2, 32, 6, 10],
                [2, 32, 3, 5]
            ]
        );
    }

    #[test]
    fn distance_to_self_is_zero() {
        let dev = device();
        let dist = PerceptualDistance::new(small_vgg(1), LayerWeights::paper());
        let x = image(1, 2, 32, 32, &dev);
        let f = dist.features(x);
        let d = values(dist.distance(&f, &f, None));
        assert_eq!(d, vec![0.0, 0.0]);
    }

    #[test]
    fn distance_grows_with_noise() {
        let dev = device();
        let dist = PerceptualDistance::new(small_vgg(2), LayerWeights::paper());
        let x = image(2, 1, 32, 32, &dev);
        let real = dist.features(x.clone());
        let mut last = 0.0;
        for (k, scale) in [0.02, 0.1, 0.5].into_iter().enumerate() {
            let fake = dist.features(x.clone() + noise(1, 32, 32, 5, scale, &dev));
            let d = values(dist.distance(&real, &fake, None))[0];
            let terms = values(dist.distance_terms(&real, &fake, None));
            assert!(terms.iter().all(|t| *t > 0.0), "step {k}: terms {terms:?}");
            assert!(d > last, "step {k}: distance {d} not above {last}");
            last = d;
        }
    }

    #[test]
    fn zero_mask_gives_zero_and_ones_mask_changes_nothing() {
        let dev = device();
        let dist = PerceptualDistance::new(small_vgg(3), LayerWeights::paper());
        let real = dist.features(image(3, 2, 32, 48, &dev));
        let fake = dist.features(image(4, 2, 32, 48, &dev));
        let zeros = Tensor::<4>::zeros([2, 1, 32, 48], &dev);
        assert_eq!(
            values(dist.distance(&real, &fake, Some(zeros))),
            vec![0.0; 2]
        );
        let ones = Tensor::<4>::ones([1, 1, 32, 48], &dev);
        let with = values(dist.distance_terms(&real, &fake, Some(ones)));
        let without = values(dist.distance_terms(&real, &fake, None));
        for (a, b) in with.iter().zip(&without) {
            assert!((a - b).abs() <= 1e-6 * b.abs().max(1.0), "{a} vs {b}");
        }
    }

    #[test]
    fn half_mask_weights_the_masked_half() {
        let dev = device();
        let dist = PerceptualDistance::new(small_vgg(3), LayerWeights::paper());
        let real = dist.features(image(3, 1, 32, 32, &dev));
        let fake = dist.features(image(4, 1, 32, 32, &dev));
        // Left half 1, right half 0: the pixel term only sees the left half's differences.
        let mask_values: Vec<f32> = (0..32 * 32)
            .map(|p| if p % 32 < 16 { 1.0 } else { 0.0 })
            .collect();
        let mask = Tensor::<4>::from_data(TensorData::new(mask_values, [1, 1, 32, 32]), &dev);
        let masked = values(dist.distance_terms(&real, &fake, Some(mask)))[0];
        let diff = values((real.maps[0].clone() - fake.maps[0].clone()).abs());
        let left: f32 = diff
            .iter()
            .enumerate()
            .filter(|(i, _)| i % 32 < 16)
            .map(|(_, v)| v)
            .sum();
        let expected = left / diff.len() as f32;
        assert!((masked - expected).abs() < 1e-5, "{masked} vs {expected}");
    }

    #[test]
    fn mask_pyramid_matches_layer_sizes() {
        let dev = device();
        let dist = PerceptualDistance::new(small_vgg(4), LayerWeights::paper());
        for (h, w) in [(32, 32), (48, 80), (64, 128)] {
            let f = dist.features(image(5, 1, h, w, &dev));
            let pyramid = mask_pyramid(Tensor::<4>::ones([1, 1, h, w], &dev));
            for (i, (m, map)) in pyramid.iter().zip(&f.maps).enumerate() {
                assert_eq!(m.dims()[2..], map.dims()[2..], "layer {i} at {h}x{w}");
            }
        }
        // Area downsampling: a mask with one bright 2x2 block averages it.
        let mut v = vec![0.0f32; 32 * 32];
        for (y, x) in [(0, 0), (0, 1), (1, 0), (1, 1)] {
            v[y * 32 + x] = 1.0;
        }
        let pyramid = mask_pyramid(Tensor::from_data(TensorData::new(v, [1, 1, 32, 32]), &dev));
        assert_eq!(values(pyramid[2].clone())[0], 1.0);
        assert_eq!(values(pyramid[3].clone())[0], 0.25);
        assert_eq!(values(pyramid[5].clone())[0], 1.0 / 64.0);
    }

    #[test]
    fn paper_weights_are_the_stated_constants() {
        let w = LayerWeights::paper().0;
        let expected = [
            1.0,
            0.714_285_7,
            0.555_555_6,
            0.769_230_8,
            0.454_545_45,
            16.129_032,
        ];
        for (a, b) in w.iter().zip(expected) {
            assert!((a - b).abs() < 1e-6, "{w:?}");
        }
        assert_eq!(LayerWeights::default(), LayerWeights::paper());
        assert_eq!(LayerWeights::crn_cityscapes().0[5], 12.5);
    }

    #[test]
    fn calibrated_weights_equalise_contributions() {
        let dev = device();
        let mut dist = PerceptualDistance::new(small_vgg(5), LayerWeights::uniform());
        let pairs = vec![
            (image(6, 2, 32, 32, &dev), image(7, 2, 32, 32, &dev)),
            (image(8, 1, 32, 32, &dev), image(9, 1, 32, 32, &dev)),
        ];
        let weights = LayerWeights::calibrate(&dist, &pairs).unwrap();
        assert_eq!(weights.0[0], 1.0);
        dist.set_weights(weights);
        // Mean weighted contribution of each layer over the calibration images.
        let mut contrib = [0.0f64; 6];
        for (a, b) in &pairs {
            let t = values(dist.distance_terms(
                &dist.features(a.clone()),
                &dist.features(b.clone()),
                None,
            ));
            for row in t.chunks_exact(6) {
                for i in 0..6 {
                    contrib[i] += f64::from(row[i] * weights.0[i]) / 3.0;
                }
            }
        }
        for c in contrib {
            assert!((c / contrib[0] - 1.0).abs() < 1e-4, "{contrib:?}");
        }
        // Identical pairs cannot be calibrated on.
        let same = vec![(image(6, 1, 32, 32, &dev), image(6, 1, 32, 32, &dev))];
        assert!(LayerWeights::calibrate(&dist, &same).is_err());
        assert!(LayerWeights::calibrate(&dist, &[]).is_err());
    }

    #[test]
    fn a_layer_weights_choice_resolves_to_its_weights() {
        let dev = device();
        let vgg = small_vgg(5);
        let photos: Vec<Vec<u8>> = (0..3)
            .map(|k| crate::synth::generate_scene(1, k, 32, 64).image)
            .collect();
        let refs: Vec<&[u8]> = photos.iter().map(Vec::as_slice).collect();
        let paper = LayerWeightsChoice::Paper.resolve(&vgg, &refs, (32, 64), &dev);
        assert_eq!(paper.unwrap(), LayerWeights::paper());
        let fixed = LayerWeights([1.0, 0.0, 0.0, 0.0, 0.0, 2.0]);
        let got = LayerWeightsChoice::Fixed(fixed).resolve(&vgg, &refs, (32, 64), &dev);
        assert_eq!(got.unwrap(), fixed);
        // Auto: each photo against the next, cyclically.
        let auto = LayerWeightsChoice::Auto
            .resolve(&vgg, &refs, (32, 64), &dev)
            .unwrap();
        let probe = PerceptualDistance::new(vgg.clone(), LayerWeights::paper());
        let t = |k: usize| rgb_to_tensor(&photos[k % 3], 32, 64, &dev);
        let couples = vec![(t(0), t(1)), (t(1), t(2)), (t(2), t(3))];
        assert_eq!(auto, LayerWeights::calibrate(&probe, &couples).unwrap());
        assert!(
            LayerWeightsChoice::Auto
                .resolve(&vgg, &[], (32, 64), &dev)
                .is_err()
        );
    }

    #[test]
    fn batch_of_one_broadcasts_against_candidates() {
        let dev = device();
        let dist = PerceptualDistance::new(small_vgg(6), LayerWeights::paper());
        let real = dist.features(image(10, 1, 32, 32, &dev));
        let fakes = dist.features(image(11, 4, 32, 32, &dev) + noise(4, 32, 32, 9, 0.3, &dev));
        let mask = Tensor::<4>::ones([1, 1, 32, 32], &dev).mul_scalar(0.5);
        let broadcast = values(dist.distance(&real, &fakes, Some(mask.clone())));
        let repeated =
            values(dist.distance(&real.repeat(4), &fakes, Some(mask.clone().repeat_dim(0, 4))));
        assert_eq!(broadcast.len(), 4);
        for (a, b) in broadcast.iter().zip(&repeated) {
            assert!((a - b).abs() <= 1e-6 * b.abs(), "{a} vs {b}");
        }
        // Batched equals one at a time.
        for (k, want) in broadcast.iter().enumerate() {
            let one = Features {
                maps: fakes.maps.clone().map(|m| m.narrow(0, k, 1)),
            };
            let d = values(dist.distance(&real, &one, Some(mask.clone())))[0];
            assert!((d - want).abs() <= 1e-5 * d.abs(), "{d} vs {want}");
        }
    }

    #[test]
    fn gradient_flows_to_the_input() {
        let dev = Device::flex().autodiff();
        let config = Vgg19Config::new().with_width_div(16);
        // Built on the autodiff device, forked onto it (as the trainer does), or left on the
        // plain device (its weights then enter the graph as constants).
        let variants = [
            ("built", Vgg19Features::random(11, &config, &dev).unwrap()),
            (
                "forked",
                Vgg19Features::random(11, &config, &device())
                    .unwrap()
                    .fork(&dev),
            ),
            (
                "plain",
                Vgg19Features::random(11, &config, &device()).unwrap(),
            ),
        ];
        for (how, vgg) in variants {
            let dist = PerceptualDistance::new(vgg, LayerWeights::paper());
            let real = dist.features(image(12, 2, 32, 32, &dev)).detach();
            let x = image(13, 2, 32, 32, &dev).require_grad();
            let fake = dist.features(x.clone());
            let mask = Tensor::<4>::ones([2, 1, 32, 32], &dev);
            let loss = dist.distance(&real, &fake, Some(mask.clone())).mean();
            let before = values(loss.clone())[0];
            let grads = loss.backward();
            let g = x.grad(&grads).expect("input gradient");
            let gv = values(g.clone());
            assert_eq!(gv.len(), 2 * 3 * 32 * 32, "{how}");
            assert!(gv.iter().all(|v| v.is_finite()), "{how}");
            let nonzero = gv.iter().filter(|v| **v != 0.0).count();
            assert!(
                nonzero > gv.len() / 2,
                "{how}: only {nonzero} non-zero entries"
            );
            // The VGG is frozen: its weights get no gradient.
            let w = dist.vgg().convs()[0].weight.val();
            assert!(
                w.grad(&grads).is_none(),
                "{how}: VGG weights got a gradient"
            );
            // A small step against the gradient lowers the loss.
            let norm = gv.iter().map(|v| v * v).sum::<f32>().sqrt();
            let step = x.detach() - g.mul_scalar(0.05 / norm);
            let after = values(dist.distance(&real, &dist.features(step), Some(mask)))
                .iter()
                .sum::<f32>()
                / 2.0;
            assert!(
                after < before,
                "{how}: loss {before} -> {after} after a descent step"
            );
        }
    }

    #[test]
    fn rgb_round_trip() {
        let dev = device();
        let rgb: Vec<u8> = (0..16 * 20 * 3).map(|i| ((i * 37) % 256) as u8).collect();
        let t = rgb_to_tensor(&rgb, 16, 20, &dev);
        assert_eq!(t.dims(), [1, 3, 16, 20]);
        let v = values(t.clone());
        assert_eq!(v[0], f32::from(rgb[0]) / 127.5 - 1.0);
        assert_eq!(v[16 * 20], f32::from(rgb[1]) / 127.5 - 1.0); // green plane
        assert_eq!(tensor_to_rgb(t), rgb);
        let extreme =
            Tensor::<4>::from_data(TensorData::new(vec![-3.0f32, 3.0, 0.0], [1, 3, 1, 1]), &dev);
        assert_eq!(tensor_to_rgb(extreme), vec![0, 255, 128]);
    }

    #[test]
    fn report_lists_terms_and_total() {
        let dev = device();
        let dist = PerceptualDistance::new(small_vgg(9), LayerWeights::paper());
        let a: Vec<u8> = (0..32 * 32 * 3).map(|i| ((i * 13) % 256) as u8).collect();
        let b: Vec<u8> = (0..32 * 32 * 3)
            .map(|i| ((i * 29 + 7) % 256) as u8)
            .collect();
        let report = distance_report(&dist, &a, &b, 32, 32, &dev);
        assert_eq!(
            report.network,
            "random-feature VGG-19 (seed 9, channels / 16)"
        );
        assert_eq!(report.layers.len(), 6);
        let sum: f32 = report.layers.iter().map(|l| l.weighted).sum();
        assert!((report.total - sum).abs() < 1e-6);
        let direct = values(dist.distance_images(
            rgb_to_tensor(&a, 32, 32, &dev),
            rgb_to_tensor(&b, 32, 32, &dev),
            None,
        ))[0];
        assert!(
            (report.total - direct).abs() <= 1e-5 * direct,
            "{} vs {direct}",
            report.total
        );
        let same = distance_report(&dist, &a, &a, 32, 32, &dev);
        assert_eq!(same.total, 0.0);
        let table = report.to_string();
        assert!(
            table.contains("conv5_2") && table.contains("total"),
            "{table}"
        );
        let json = serde_json::to_value(&report).unwrap();
        assert_eq!(json["layers"][5]["layer"], "conv5_2");
        assert!(json["total"].as_f64().unwrap() > 0.0);
    }
}
