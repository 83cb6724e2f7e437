//! The perceptual distance `L` of [`crate::perceptual`] on cimle's CPU kernels
//! ([`cimle::cpu`]), with the backward pass to the images that training needs.
//!
//! ```text
//! L(y, ŷ) = Σ_i λ_i · mean_{C,H,W}( M̂_i ∘ |Φ_i(y) − Φ_i(ŷ)| ),   i = pixels, conv1_2 … conv5_2
//! ```
//!
//! The same VGG-19 as [`Vgg19Features`] (its weights are copied from it): 14 convolutions with
//! biases and ReLUs, 2x2 average pools after conv1_2, conv2_2, conv3_4 and conv4_4, the input
//! normalised as [`Vgg19Features::normalize`] does. The network's weights never change, so the
//! backward pass computes only the gradient of the input (no weight gradients).

use std::sync::OnceLock;

use cimle::cpu::grid::{Grid, Map, zero_border};
use cimle::cpu::par::{for_each_chunk_mut, for_each_row_mut, map_ranges};
use cimle::cpu::resize;
use cimle::cpu::{conv, winograd};

use crate::perceptual::LayerWeights;
use crate::vgg::{FEATURE_POSITIONS, IMAGENET_MEAN, IMAGENET_STD, POOL_AFTER, Vgg19Features};

/// Numbers a thread handles at once in the backward pass's element-wise sweeps.
const PASS_CHUNK: usize = 1 << 14;

/// One convolution: packed weights, bias, output channels, and the weights' Winograd transform,
/// made once, the first time a map suits it (the network's weights never change).
#[derive(Debug, Clone)]
struct Conv {
    weight: Vec<f32>,
    bias: Vec<f32>,
    cout: usize,
    winograd: OnceLock<Vec<f32>>,
    winograd_transposed: OnceLock<Vec<f32>>,
}

impl Conv {
    /// `y = max(conv(input) + bias, 0)`.
    fn forward_relu(&self, input: &Map, y: &mut Map) {
        if winograd::suits(input.grid, input.c) {
            let u = self
                .winograd
                .get_or_init(|| winograd::transform_weights(&self.weight, input.c, self.cout));
            winograd::forward(input, u, Some(&self.bias), true, y);
        } else {
            conv::forward_relu(input, &self.weight, Some(&self.bias), 3, y);
        }
    }

    /// The gradient of the input, `d_x = convᵀ(d_y)`.
    fn backward_input(&self, d_y: &Map, d_x: &mut Map) {
        if winograd::suits(d_y.grid, d_y.c) {
            let u = self.winograd_transposed.get_or_init(|| {
                winograd::transform_weights_transposed(&self.weight, d_x.c, self.cout)
            });
            winograd::forward(d_y, u, None, false, d_x);
        } else {
            conv::backward_input(d_y, &self.weight, 3, d_x);
        }
    }
}

/// The VGG-19 feature network on the CPU kernels.
#[derive(Debug, Clone)]
pub struct CpuVgg {
    convs: Vec<Conv>,
    description: String,
}

/// The six maps the distance compares: index 0 the normalised image (pixel term), 1..=5 the
/// features conv1_2 … conv5_2 (after their ReLUs).
#[derive(Debug, Clone)]
pub struct CpuFeatures {
    pub maps: [Map; 6],
}

/// The ReLU outputs of every convolution of a forward pass: what the backward pass needs.
#[derive(Debug, Clone)]
pub struct VggTape {
    outputs: Vec<Map>,
}

/// Per-channel `scale`, `shift` of the input normalisation `x · scale + shift`.
fn normalisation() -> ([f32; 3], [f32; 3]) {
    (
        std::array::from_fn(|c| 0.5 / IMAGENET_STD[c]),
        std::array::from_fn(|c| (0.5 - IMAGENET_MEAN[c]) / IMAGENET_STD[c]),
    )
}

impl CpuVgg {
    /// The first 14 convolutions of `vgg` (conv1_1 … conv5_2).
    pub fn from_burn(vgg: &Vgg19Features) -> Self {
        let last = FEATURE_POSITIONS[4];
        let convs = vgg
            .convs()
            .iter()
            .take(last + 1)
            .map(|c| {
                let [cout, cin, kh, _] = c.weight.dims();
                let w = c
                    .weight
                    .val()
                    .into_data()
                    .convert::<f32>()
                    .try_to_vec::<f32>()
                    .expect("f32 weights");
                let bias = c.bias.as_ref().map_or_else(
                    || vec![0.0; cout],
                    |b| {
                        b.val()
                            .into_data()
                            .convert::<f32>()
                            .try_to_vec::<f32>()
                            .expect("f32 bias")
                    },
                );
                Conv {
                    weight: conv::pack(&w, cout, cin, kh),
                    bias,
                    cout,
                    winograd: OnceLock::new(),
                    winograd_transposed: OnceLock::new(),
                }
            })
            .collect();
        Self {
            convs,
            description: vgg.describe().to_string(),
        }
    }

    /// What the weights are ([`Vgg19Features::describe`]).
    pub fn describe(&self) -> &str {
        &self.description
    }

    /// The six maps of `images` (a `[n, 3]` map in [-1, 1]); with `keep`, the tape for
    /// [`CpuVgg::backward`].
    pub fn features(&self, images: &Map, keep: bool) -> (CpuFeatures, Option<VggTape>) {
        assert_eq!(images.c, 3, "VGG-19 takes RGB images");
        let g = images.grid;
        assert!(
            g.h >= crate::vgg::MIN_SIDE && g.w >= crate::vgg::MIN_SIDE,
            "VGG-19 features need images of at least 16x16, got {}x{}",
            g.h,
            g.w
        );
        let (scale, shift) = normalisation();
        let mut x = Map::zeros(g, 3);
        for s in 0..g.n {
            for y in 0..g.h {
                let src = images.row(s, y);
                let start = g.at(s, y, 0) * 3;
                for (d, (i, v)) in x.data[start..start + g.w * 3]
                    .iter_mut()
                    .zip(src.iter().enumerate())
                {
                    *d = v * scale[i % 3] + shift[i % 3];
                }
            }
        }
        let mut maps: Vec<Map> = vec![x.clone()];
        // The input of the next convolution: a pooled map, or else the previous output, which
        // lies in `outputs` (with `keep`), in `maps` (a feature, without `keep`) or in `prev`.
        // Without `keep` no map is copied.
        let mut pooled = Some(x);
        let mut prev: Option<Map> = None;
        let mut outputs = Vec::new();
        for (position, c) in self.convs.iter().enumerate() {
            let input = match (&pooled, keep, &prev) {
                (Some(p), _, _) => p,
                (None, true, _) => outputs.last().expect("a previous output"),
                (None, false, Some(p)) => p,
                (None, false, None) => maps.last().expect("a previous feature"),
            };
            let mut y = Map::zeros(input.grid, c.cout);
            c.forward_relu(input, &mut y);
            pooled = POOL_AFTER.contains(&position).then(|| {
                let mut p = Map::zeros(y.grid.half(), y.c);
                resize::area_forward(&y, 2, &mut p, 0);
                p
            });
            let feature = FEATURE_POSITIONS.contains(&position);
            prev = None;
            match (keep, feature) {
                (true, true) => {
                    maps.push(y.clone());
                    outputs.push(y);
                }
                (true, false) => outputs.push(y),
                (false, true) => maps.push(y),
                (false, false) => prev = Some(y),
            }
        }
        let maps: [Map; 6] = maps.try_into().expect("six maps");
        (CpuFeatures { maps }, keep.then_some(VggTape { outputs }))
    }

    /// The gradient of the images from the gradients of the six maps (`d_maps`, zero borders)
    /// and the forward pass's tape.
    pub fn backward(&self, tape: &VggTape, d_maps: &[Map; 6]) -> Map {
        let mut g: Option<Map> = None;
        for position in (0..self.convs.len()).rev() {
            let y = &tape.outputs[position];
            let mut d_y = match g.take() {
                Some(gp) if POOL_AFTER.contains(&position) => {
                    let mut d = Map::zeros(y.grid, y.c);
                    resize::area_backward(&gp, 0, 2, &mut d);
                    d
                }
                Some(gp) => gp,
                None => Map::zeros(y.grid, y.c),
            };
            // The feature map's own gradient joins; then the ReLU passes the gradient where
            // the output is positive.
            let feature = FEATURE_POSITIONS.iter().position(|&p| p == position);
            let d_feature = feature.map(|f| &d_maps[f + 1].data);
            for_each_chunk_mut(&mut d_y.data, PASS_CHUNK, |i, d| {
                let lo = i * PASS_CHUNK;
                if let Some(df) = d_feature {
                    for (d, v) in d.iter_mut().zip(&df[lo..]) {
                        *d += v;
                    }
                }
                for (d, &v) in d.iter_mut().zip(&y.data[lo..]) {
                    if v <= 0.0 {
                        *d = 0.0;
                    }
                }
            });
            let cin = if position == 0 {
                3
            } else {
                tape.outputs[position - 1].c
            };
            let mut d_x = Map::zeros(y.grid, cin);
            self.convs[position].backward_input(&d_y, &mut d_x);
            g = Some(d_x);
        }
        let mut d = g.expect("at least one convolution");
        for (a, b) in d.data.iter_mut().zip(&d_maps[0].data) {
            *a += b;
        }
        let (scale, _) = normalisation();
        for px in d.data.chunks_exact_mut(3) {
            for (v, s) in px.iter_mut().zip(&scale) {
                *v *= s;
            }
        }
        zero_border(&mut d.data, d.grid, 3);
        d
    }
}

/// The rarity mask `[H, W]` of each sample, area-downsampled to each of the six maps' sizes
/// (as [`crate::perceptual::mask_pyramid`]): `[mask, mask, /2, /4, /8, /16]`, one channel.
pub fn mask_pyramid(masks: &[&[f32]], h: usize, w: usize) -> [Map; 6] {
    let mut full = Map::zeros(Grid::new(masks.len(), h, w), 1);
    for (s, m) in masks.iter().enumerate() {
        assert_eq!(m.len(), h * w, "mask size");
        for y in 0..h {
            full.row_mut(s, y).copy_from_slice(&m[y * w..(y + 1) * w]);
        }
    }
    let mut levels = vec![full.clone(), full];
    for _ in 0..4 {
        let prev = levels.last().expect("a level");
        let mut next = Map::zeros(prev.grid.half(), 1);
        resize::area_forward(prev, 2, &mut next, 0);
        levels.push(next);
    }
    levels.try_into().expect("six levels")
}

/// Per-layer terms of every sample: term `i` of sample `s` is the mean over `C_i x H_i x W_i` of
/// `|fake_i − real_i| · mask_i`. `real` holds one sample per group of `fake`'s samples (batch 1:
/// broadcast to all; batch of `fake`: one each; `k` samples: each compared with `n / k`
/// consecutive fakes, as in selection); `masks` (from [`mask_pyramid`]) likewise.
pub fn distance_terms(
    real: &CpuFeatures,
    fake: &CpuFeatures,
    masks: Option<&[Map; 6]>,
) -> Vec<[f32; 6]> {
    let n = fake.maps[0].grid.n;
    (0..n)
        .map(|s| {
            std::array::from_fn(|i| {
                let f = &fake.maps[i];
                let rows = map_ranges(f.grid.h, 1, |lo, hi| {
                    (lo..hi)
                        .map(|y| {
                            let r = Row::new(real, fake, masks, s, i, y);
                            match r.mask {
                                None => abs_diff_sum(r.fake, r.real) as f64,
                                Some(m) => r
                                    .fake
                                    .chunks_exact(f.c)
                                    .zip(r.real.chunks_exact(f.c))
                                    .zip(m)
                                    .map(|((a, b), &w)| (w * abs_diff_sum(a, b)) as f64)
                                    .sum(),
                            }
                        })
                        .sum::<f64>()
                });
                (rows.iter().sum::<f64>() / (f.grid.area() * f.c) as f64) as f32
            })
        })
        .collect()
}

/// `Σ |a − b|` over lanes the compiler can vectorise.
fn abs_diff_sum(a: &[f32], b: &[f32]) -> f32 {
    const LANES: usize = 16;
    let mut acc = [0.0f32; LANES];
    let (ca, cb) = (a.chunks_exact(LANES), b.chunks_exact(LANES));
    let tail: f32 = ca
        .remainder()
        .iter()
        .zip(cb.remainder())
        .map(|(x, y)| (x - y).abs())
        .sum();
    for (x, y) in ca.zip(cb) {
        for k in 0..LANES {
            acc[k] += (x[k] - y[k]).abs();
        }
    }
    acc.iter().sum::<f32>() + tail
}

/// `L` of every sample: `Σ_i λ_i · term_i`.
pub fn distances(terms: &[[f32; 6]], weights: &LayerWeights) -> Vec<f32> {
    terms
        .iter()
        .map(|t| t.iter().zip(&weights.0).map(|(a, b)| a * b).sum())
        .collect()
}

/// The gradient of `Σ_s Σ_i coef[s][i] · term_i(s)` with respect to `fake`'s maps.
pub fn distance_terms_backward(
    real: &CpuFeatures,
    fake: &CpuFeatures,
    masks: Option<&[Map; 6]>,
    coef: &[[f32; 6]],
) -> [Map; 6] {
    std::array::from_fn(|i| {
        let f = &fake.maps[i];
        let mut d = Map::zeros(f.grid, f.c);
        let count = (f.grid.area() * f.c) as f32;
        let c = f.c;
        for_each_row_mut(&mut d.data, f.grid, c, |s, y, row| {
            let k = coef[s][i] / count;
            let r = Row::new(real, fake, masks, s, i, y);
            let dst = &mut row[c..(f.grid.w + 1) * c];
            match r.mask {
                None => {
                    for ((d, a), b) in dst.iter_mut().zip(r.fake).zip(r.real) {
                        *d = k * sign(a - b);
                    }
                }
                Some(m) => {
                    let pixels = dst.chunks_exact_mut(c).zip(r.fake.chunks_exact(c));
                    for ((dp, fp), (rp, &w)) in pixels.zip(r.real.chunks_exact(c).zip(m)) {
                        for ((d, a), b) in dp.iter_mut().zip(fp).zip(rp) {
                            *d = k * w * sign(a - b);
                        }
                    }
                }
            }
        });
        d
    })
}

fn sign(v: f32) -> f32 {
    if v > 0.0 {
        1.0
    } else if v < 0.0 {
        -1.0
    } else {
        0.0
    }
}

/// Row `y` of sample `s`'s map `i`: the fake's numbers, the matching real's, and the mask's
/// (one number a pixel), interior pixels only.
struct Row<'a> {
    fake: &'a [f32],
    real: &'a [f32],
    mask: Option<&'a [f32]>,
}

impl<'a> Row<'a> {
    fn new(
        real: &'a CpuFeatures,
        fake: &'a CpuFeatures,
        masks: Option<&'a [Map; 6]>,
        s: usize,
        i: usize,
        y: usize,
    ) -> Self {
        let (fm, rm) = (&fake.maps[i], &real.maps[i]);
        assert_eq!(
            (rm.grid.h, rm.grid.w, rm.c),
            (fm.grid.h, fm.grid.w, fm.c),
            "real and fake maps differ in shape"
        );
        Self {
            fake: fm.row(s, y),
            real: rm.row(group_sample(rm, fm, s), y),
            mask: masks.map(|m| m[i].row(group_sample(&m[i], fm, s), y)),
        }
    }
}

/// The sample of `shared` that fake sample `s` is compared with: `shared` holds one sample per
/// group of `fake.grid.n / shared.grid.n` consecutive fakes.
fn group_sample(shared: &Map, fake: &Map, s: usize) -> usize {
    let (n, k) = (fake.grid.n, shared.grid.n);
    assert!(
        k > 0 && n % k == 0,
        "{k} real samples cannot be shared by {n} fakes"
    );
    s / (n / k)
}

/// The distance `L` on the CPU kernels: the network and the layer weights λ.
#[derive(Debug, Clone)]
pub struct CpuDistance {
    pub vgg: CpuVgg,
    pub weights: LayerWeights,
}

impl CpuDistance {
    /// From burn's network and the layer weights.
    pub fn new(vgg: &Vgg19Features, weights: LayerWeights) -> Self {
        Self {
            vgg: CpuVgg::from_burn(vgg),
            weights,
        }
    }

    /// What the network is ([`Vgg19Features::describe`]).
    pub fn describe(&self) -> &str {
        self.vgg.describe()
    }

    /// The features of RGB8 images (`h x w x 3` each), one batch.
    pub fn features_rgb8(&self, images: &[&[u8]], h: usize, w: usize) -> CpuFeatures {
        self.vgg
            .features(&crate::cpu_train::photo_map(images, h, w), false)
            .0
    }

    /// `L(a_i, b_i)` for every sample of two batches of features (`a` may have batch 1).
    pub fn distances(&self, a: &CpuFeatures, b: &CpuFeatures) -> Vec<f32> {
        distances(&distance_terms(a, b, None), &self.weights)
    }
}

/// Sample `s` of a batch of features, as a batch of 1.
pub fn sample_features(f: &CpuFeatures, s: usize) -> CpuFeatures {
    CpuFeatures {
        maps: std::array::from_fn(|i| f.maps[i].sample(s)),
    }
}
