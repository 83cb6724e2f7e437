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
mod tests;
