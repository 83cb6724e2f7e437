//! The generator `T(x, z)` of docs/METHOD.md "Generator": a noise encoder and a cascaded refinement
//! network (CRN; Chen & Koltun, ICCV 2017) as in the released conditional IMLE code
//! (Li, Zhang & Malik, ICCV 2019, arXiv 1811.12373).
//!
//! ```text
//! layout x [N,C,H,W] one-hot ──┬─────────────────────────────────┐
//! noise  z [N,L,H,W] ──► NoiseEncoder ──► e [N,L,H,W]           │
//!                                          │ bilinear resize      │ area resize
//!                       module 0 (4x8):  [x_0, e_0]               │
//!                       module k:        [up2(out_{k-1}), x_k, e_k] ─► 2 x (conv3x3, LN, LReLU)
//!                       to_rgb: conv1x1 ─► image [N,3,H,W], trained toward [-1, 1]
//! ```
//!
//! Every resize is a pair of matrix products ([`resize_bilinear`]) or an average pool, ops with a
//! backward pass on every burn backend (bilinear `interpolate` has none on wgpu and ndarray).
//!
//! With [`GeneratorConfig::global_code`] on, the encoder's input also holds the code's global
//! component `g_c = sqrt(H W) · mean_{i,j} z[c, i, j]` ([`global_code`]), broadcast to every
//! pixel: i.i.d. noise averages out over an image, so without it a whole-image style (day or
//! night) has to be computed from a few coarse noise values.

use burn::module::{Initializer, Module};
use burn::nn::conv::{Conv2d, Conv2dConfig};
use burn::nn::{GroupNorm, GroupNormConfig, PaddingConfig2d};
use burn::tensor::activation::leaky_relu;
use burn::tensor::module::avg_pool2d;
use burn::tensor::ops::AvgPoolOptions;
use burn::tensor::{Device, Tensor, TensorData};

use crate::config::GeneratorConfig;
use crate::layout::Layout;

/// LeakyReLU slope of every refinement and encoder layer (docs/METHOD.md "Generator").
const LEAKY_SLOPE: f64 = 0.2;
/// Std of the noise encoder's (truncated) normal initialisation in the released code.
const ENCODER_INIT_STD: f64 = 0.15;

/// `[n_out, n_in]` weights of 1-D bilinear resampling with half-pixel centres
/// (PyTorch's `align_corners=False`, TensorFlow 2's `resize`): row `i` holds the weights of the
/// input samples that make output sample `i`.
pub fn bilinear_matrix(n_in: usize, n_out: usize) -> Vec<f32> {
    let mut m = vec![0.0f32; n_out * n_in];
    if n_in == 0 {
        return m;
    }
    let scale = n_in as f64 / n_out as f64;
    for i in 0..n_out {
        let src = ((i as f64 + 0.5) * scale - 0.5).max(0.0);
        let i0 = (src.floor() as usize).min(n_in - 1);
        let i1 = (i0 + 1).min(n_in - 1);
        let frac = (src - i0 as f64) as f32;
        m[i * n_in + i0] += 1.0 - frac;
        m[i * n_in + i1] += frac;
    }
    m
}

/// Bilinear resize of `[N, C, H, W]` to `[N, C, size[0], size[1]]` as two matrix products,
/// `R_h · x · R_wᵀ`: equal to bilinear `interpolate` with `align_corners = false`, and
/// differentiable on every backend.
pub fn resize_bilinear(x: Tensor<4>, size: [usize; 2]) -> Tensor<4> {
    let [_, _, h, w] = x.dims();
    let [oh, ow] = size;
    if [h, w] == size {
        return x;
    }
    let device = x.device();
    // R_wᵀ: [W, OW]
    let rw = Tensor::<2>::from_data(TensorData::new(bilinear_matrix(w, ow), [ow, w]), &device)
        .transpose()
        .unsqueeze::<4>();
    // R_h: [OH, H]
    let rh = Tensor::<2>::from_data(TensorData::new(bilinear_matrix(h, oh), [oh, h]), &device)
        .unsqueeze::<4>();
    rh.matmul(x.matmul(rw))
}

/// Area (box-filter) downsampling by an integer factor, used for the layout.
fn resize_area(x: Tensor<4>, factor: usize) -> Tensor<4> {
    if factor == 1 {
        return x;
    }
    avg_pool2d(x, AvgPoolOptions::new([factor, factor]))
}

/// Layouts as the one-hot tensor `x[n, p, i, j] = 1` iff pixel (i, j) of layout n has class p
/// (docs/METHOD.md "Generator"): `[N, num_classes, H, W]`. Class ids at or above `num_classes` get
/// an all-zero column (decoders never produce them).
pub fn one_hot(layouts: &[&Layout], num_classes: usize, device: &Device) -> Tensor<4> {
    let (h, w) = layouts
        .first()
        .map(|l| (l.height(), l.width()))
        .unwrap_or((0, 0));
    let plane = h * w;
    let mut data = vec![0.0f32; layouts.len() * num_classes * plane];
    for (n, layout) in layouts.iter().enumerate() {
        for (i, &id) in layout.ids().iter().enumerate().take(plane) {
            let p = id as usize;
            if p < num_classes {
                data[(n * num_classes + p) * plane + i] = 1.0;
            }
        }
    }
    Tensor::from_data(
        TensorData::new(data, [layouts.len(), num_classes, h, w]),
        device,
    )
}

/// The inverse of [`one_hot`]: each pixel's class is its largest channel (ties go to the lower
/// id), so soft or area-resized maps decode too. `data` is `[N, C, H, W]` channel-major.
pub fn layouts_from_one_hot(
    data: &[f32],
    [n, c, h, w]: [usize; 4],
) -> Result<Vec<Layout>, crate::layout::LayoutError> {
    let plane = h * w;
    (0..n)
        .map(|i| {
            let ids = (0..plane)
                .map(|p| {
                    (0..c)
                        .map(|k| data.get((i * c + k) * plane + p).copied().unwrap_or(0.0))
                        .enumerate()
                        .fold(
                            (0usize, f32::MIN),
                            |best, (k, v)| if v > best.1 { (k, v) } else { best },
                        )
                        .0 as u8
                })
                .collect();
            Layout::new(h, w, ids)
        })
        .collect()
}

fn conv3x3(c_in: usize, c_out: usize, bias: bool) -> Conv2dConfig {
    Conv2dConfig::new([c_in, c_out], [3, 3])
        .with_padding(PaddingConfig2d::Explicit(1, 1, 1, 1))
        .with_bias(bias)
}

/// Layer norm over C x H x W of each sample with a per-channel scale and offset
/// (TF-slim's `layer_norm`, docs/METHOD.md "Details"): `GroupNorm` with one group.
fn layer_norm(channels: usize, device: &Device) -> GroupNorm {
    GroupNormConfig::new(1, channels).init(device)
}

/// The global component of codes `[N, L, H, W]`: `sqrt(H W)` times each channel's mean, so it is
/// N(0, 1) for Gaussian codes, broadcast back to `[N, L, H, W]`.
pub fn global_code(noise: Tensor<4>) -> Tensor<4> {
    let dims = noise.dims();
    let [n, l, h, w] = dims;
    let scale = ((h * w) as f64).sqrt() / (h * w) as f64;
    noise
        .reshape([n, l, h * w])
        .sum_dim(2)
        .mul_scalar(scale)
        .reshape([n, l, 1, 1])
        .expand(dims)
}

/// The noise encoder: `concat[x, z] -> conv3x3+LN+LReLU -> conv3x3+LN+LReLU -> conv1x1`,
/// turning the spatial noise into `L` feature channels (docs/METHOD.md "Generator"); with the global
/// code on, `concat[x, z, g]`.
#[derive(Module, Debug)]
pub struct NoiseEncoder {
    conv1: Conv2d,
    norm1: GroupNorm,
    conv2: Conv2d,
    norm2: GroupNorm,
    out: Conv2d,
    #[module(skip)]
    global: bool,
}

impl NoiseEncoder {
    /// A freshly initialised encoder (truncated-normal weights, std 0.15, as released).
    pub fn init(config: &GeneratorConfig, device: &Device) -> Self {
        let (l, e) = (config.latent_channels, config.encoder_width);
        let init = Initializer::Normal {
            mean: 0.0,
            std: ENCODER_INIT_STD,
        };
        // Truncate at two standard deviations, as `tf.truncated_normal_initializer` does
        // (by clamping rather than redrawing: the tails hold under 5 % of the mass).
        let truncate = |conv: Conv2d| Conv2d {
            weight: conv
                .weight
                // detach: the clamped weight must be a leaf, not a node of the init graph.
                .map(|w| {
                    let clamped = w.clamp(-2.0 * ENCODER_INIT_STD, 2.0 * ENCODER_INIT_STD);
                    if device.is_autodiff() {
                        clamped.detach().require_grad()
                    } else {
                        clamped
                    }
                }),
            ..conv
        };
        Self {
            conv1: truncate(
                conv3x3(config.encoder_inputs(), e, true)
                    .with_initializer(init.clone())
                    .init(device),
            ),
            norm1: layer_norm(e, device),
            conv2: truncate(
                conv3x3(e, e, true)
                    .with_initializer(init.clone())
                    .init(device),
            ),
            norm2: layer_norm(e, device),
            out: truncate(
                Conv2dConfig::new([e, l], [1, 1])
                    .with_initializer(init)
                    .init(device),
            ),
            global: config.has_global_code(),
        }
    }

    /// `layout [N,C,H,W]`, `noise [N,L,H,W]` -> encoded noise `[N,L,H,W]`.
    pub fn forward(&self, layout: Tensor<4>, noise: Tensor<4>) -> Tensor<4> {
        let x = if self.global {
            let g = global_code(noise.clone());
            Tensor::cat(vec![layout, noise, g], 1)
        } else {
            Tensor::cat(vec![layout, noise], 1)
        };
        let x = leaky_relu(self.norm1.forward(self.conv1.forward(x)), LEAKY_SLOPE);
        let x = leaky_relu(self.norm2.forward(self.conv2.forward(x)), LEAKY_SLOPE);
        self.out.forward(x)
    }
}

/// One CRN refinement module: two [conv3x3 (no bias) + layer norm + LeakyReLU(0.2)].
#[derive(Module, Debug)]
pub struct RefinementModule {
    conv1: Conv2d,
    norm1: GroupNorm,
    conv2: Conv2d,
    norm2: GroupNorm,
}

impl RefinementModule {
    /// A module taking `c_in` channels to `c_out`.
    pub fn init(c_in: usize, c_out: usize, device: &Device) -> Self {
        Self {
            conv1: conv3x3(c_in, c_out, false).init(device),
            norm1: layer_norm(c_out, device),
            conv2: conv3x3(c_out, c_out, false).init(device),
            norm2: layer_norm(c_out, device),
        }
    }

    /// `[N, c_in, h, w]` -> `[N, c_out, h, w]`.
    pub fn forward(&self, x: Tensor<4>) -> Tensor<4> {
        let x = leaky_relu(self.norm1.forward(self.conv1.forward(x)), LEAKY_SLOPE);
        leaky_relu(self.norm2.forward(self.conv2.forward(x)), LEAKY_SLOPE)
    }
}

/// The generator `T(x, z)`.
#[derive(Module, Debug)]
pub struct Generator {
    encoder: NoiseEncoder,
    refinement: Vec<RefinementModule>,
    to_rgb: Conv2d,
    height: usize,
    width: usize,
    num_classes: usize,
}

impl GeneratorConfig {
    /// A freshly initialised generator of this shape. Call [`GeneratorConfig::validate`] first
    /// for configs that come from outside: burn panics on impossible shapes.
    pub fn init(&self, device: &Device) -> Generator {
        let (c, l) = (self.num_classes(), self.latent_channels);
        let mut prev = 0;
        let refinement = self
            .widths
            .iter()
            .map(|&w| {
                let module = RefinementModule::init(prev + c + l, w, device);
                prev = w;
                module
            })
            .collect();
        Generator {
            encoder: NoiseEncoder::init(self, device),
            refinement,
            to_rgb: Conv2dConfig::new([prev, 3], [1, 1]).init(device),
            height: self.height,
            width: self.width,
            num_classes: c,
        }
    }
}

/// Serialises seeded initialisations: burn's random generator may be global to the process.
static SEEDED_INIT: std::sync::Mutex<()> = std::sync::Mutex::new(());

/// Reads every parameter once: burn initialises parameters lazily, on first use.
struct TouchParams;

impl burn::module::ModuleVisitor for TouchParams {
    fn visit_float<const D: usize>(&mut self, param: &burn::module::Param<Tensor<D>>) {
        let _ = param.val();
    }
}

impl GeneratorConfig {
    /// [`GeneratorConfig::init`] with burn's random generator seeded first and every parameter
    /// drawn at once, so the same seed gives the same initial network on a given backend
    /// (a run and its resumed continuation agree; two runs with one seed agree).
    pub fn init_seeded(&self, device: &Device, seed: u64) -> Generator {
        let _guard = SEEDED_INIT.lock().unwrap_or_else(|e| e.into_inner());
        device.seed(seed);
        let generator = self.init(device);
        generator.visit(&mut TouchParams);
        generator
    }
}

impl Generator {
    /// `layout [N,C,H,W]` (one-hot), `noise [N,L,H,W]` -> image `[N,3,H,W]` in about [-1, 1].
    pub fn forward(&self, layout: Tensor<4>, noise: Tensor<4>) -> Tensor<4> {
        let encoded = self.encoder.forward(layout.clone(), noise);
        let modules = self.refinement.len();
        let mut features: Option<Tensor<4>> = None;
        for (k, module) in self.refinement.iter().enumerate() {
            let factor = 1usize << (modules - 1 - k);
            let size = [self.height / factor, self.width / factor];
            let x_k = resize_area(layout.clone(), factor);
            let e_k = resize_bilinear(encoded.clone(), size);
            let input = match features {
                None => Tensor::cat(vec![x_k, e_k], 1),
                Some(prev) => Tensor::cat(vec![resize_bilinear(prev, size), x_k, e_k], 1),
            };
            features = Some(module.forward(input));
        }
        match features {
            Some(f) => self.to_rgb.forward(f),
            None => Tensor::zeros([0, 3, self.height, self.width], &layout.device()),
        }
    }

    /// The same network with a freshly initialised noise encoder: the released schedule does
    /// this after round 6 (docs/METHOD.md "Details"). `seed` makes the new encoder reproducible.
    pub fn with_new_noise_encoder(
        self,
        config: &GeneratorConfig,
        device: &Device,
        seed: u64,
    ) -> Self {
        let _guard = SEEDED_INIT.lock().unwrap_or_else(|e| e.into_inner());
        device.seed(seed);
        let encoder = NoiseEncoder::init(config, device);
        encoder.visit(&mut TouchParams);
        Self { encoder, ..self }
    }

    /// `[height, width]` of the output.
    pub fn resolution(&self) -> [usize; 2] {
        [self.height, self.width]
    }

    /// One-hot channels of the layout input.
    pub fn num_classes(&self) -> usize {
        self.num_classes
    }
}

/// Converts a `[N, 3, H, W]` image tensor in [-1, 1] to N RGB8 buffers (`H*W*3` each),
/// clamping out-of-range values.
pub fn images_to_rgb8(data: &[f32], n: usize, h: usize, w: usize) -> Vec<Vec<u8>> {
    let plane = h * w;
    (0..n)
        .map(|i| {
            let mut out = vec![0u8; plane * 3];
            for c in 0..3 {
                let src = &data[(i * 3 + c) * plane..(i * 3 + c + 1) * plane];
                for (p, &v) in src.iter().enumerate() {
                    out[p * 3 + c] = ((v.clamp(-1.0, 1.0) + 1.0) * 127.5).round() as u8;
                }
            }
            out
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::Preset;
    use burn::tensor::module::interpolate;
    use burn::tensor::ops::{InterpolateMode, InterpolateOptions};

    fn max_abs_diff(a: Tensor<4>, b: Tensor<4>) -> f32 {
        let a = a.into_data().try_to_vec::<f32>().unwrap();
        let b = b.into_data().try_to_vec::<f32>().unwrap();
        assert_eq!(a.len(), b.len());
        a.iter()
            .zip(&b)
            .map(|(x, y)| (x - y).abs())
            .fold(0.0, f32::max)
    }

    #[test]
    fn matmul_resize_equals_bilinear_interpolate() {
        let device = Device::flex();
        let x = Tensor::<4>::random(
            [2, 3, 5, 8],
            burn::tensor::Distribution::Normal(0.0, 1.0),
            &device,
        );
        for size in [[10, 16], [3, 4], [5, 8], [7, 12]] {
            let ours = resize_bilinear(x.clone(), size);
            let reference = interpolate(
                x.clone(),
                InterpolateOptions::new(InterpolateMode::Bilinear)
                    .with_align_corners(false)
                    .with_output_size(size),
            );
            let d = max_abs_diff(ours, reference);
            assert!(d < 1e-5, "size {size:?}: max diff {d}");
        }
    }

    #[test]
    fn bilinear_matrix_rows_sum_to_one() {
        for (n_in, n_out) in [(4, 8), (8, 4), (5, 7), (1, 3)] {
            let m = bilinear_matrix(n_in, n_out);
            for row in m.chunks(n_in) {
                assert!((row.iter().sum::<f32>() - 1.0).abs() < 1e-6);
            }
        }
    }

    #[test]
    fn one_hot_marks_exactly_one_class_per_pixel() {
        let device = Device::flex();
        let layout = Layout::new(2, 2, vec![0, 13, 19, 13]).unwrap();
        let x = one_hot(&[&layout], 20, &device);
        assert_eq!(x.dims(), [1, 20, 2, 2]);
        let data = x.into_data().try_to_vec::<f32>().unwrap();
        assert_eq!(data.iter().sum::<f32>(), 4.0);
        assert_eq!(data[13 * 4 + 1], 1.0);
        assert_eq!(data[13 * 4 + 3], 1.0);
        assert_eq!(data[19 * 4 + 2], 1.0);
        assert_eq!(data[0], 1.0);
    }

    #[test]
    fn one_hot_round_trips_to_the_layout() {
        let device = Device::flex();
        let a = Layout::new(2, 3, vec![0, 1, 2, 19, 13, 10]).unwrap();
        let b = Layout::new(2, 3, vec![18, 17, 5, 5, 8, 19]).unwrap();
        let x = one_hot(&[&a, &b], 20, &device);
        let dims = x.dims();
        let data = x.into_data().try_to_vec::<f32>().unwrap();
        let back = layouts_from_one_hot(&data, dims).unwrap();
        assert_eq!(back, vec![a, b]);
    }

    /// Every preset's structure (its module count and resolution ratios) at tiny widths.
    #[test]
    fn output_shapes_for_every_preset_structure() {
        let device = Device::flex();
        for preset in Preset::ALL {
            let full = preset.config();
            let modules = full.modules();
            // Keep the structure, shrink the cost: height/width divided so the coarsest module is 1x2.
            let shrink = full.height >> (modules - 1);
            let cfg =
                GeneratorConfig::new(full.height / shrink, full.width / shrink, vec![4; modules])
                    .with_encoder_width(4)
                    .with_latent_channels(full.latent_channels);
            cfg.validate().unwrap();
            let g = cfg.init(&device);
            let layout = Layout::filled(cfg.height, cfg.width, 0);
            let x = one_hot(&[&layout, &layout], cfg.num_classes(), &device);
            let z = Tensor::<4>::random(
                [2, cfg.latent_channels, cfg.height, cfg.width],
                burn::tensor::Distribution::Normal(0.0, 1.0),
                &device,
            );
            let y = g.forward(x, z);
            assert_eq!(y.dims(), [2, 3, cfg.height, cfg.width], "{preset}");
        }
    }

    #[test]
    fn different_noise_gives_different_images() {
        let device = Device::flex();
        let cfg = Preset::Tiny.config();
        let g = cfg.init(&device);
        let layout = Layout::filled(cfg.height, cfg.width, 0);
        let x = one_hot(&[&layout, &layout], cfg.num_classes(), &device);
        let z = Tensor::<4>::random(
            [2, cfg.latent_channels, cfg.height, cfg.width],
            burn::tensor::Distribution::Normal(0.0, 1.0),
            &device,
        );
        let y = g.forward(x, z);
        let a = y.clone().narrow(0, 0, 1);
        let b = y.narrow(0, 1, 1);
        assert!(max_abs_diff(a, b) > 1e-3);
    }

    #[test]
    fn rgb8_conversion_clamps_and_scales() {
        let data = [-1.0, 0.0, 1.0, 2.0, -3.0, 0.5];
        // one image, 3 channels, 1x2 pixels: channel-major
        let rgb = images_to_rgb8(&data, 1, 1, 2);
        assert_eq!(rgb[0], vec![0, 255, 0, 128, 255, 191]);
    }
}
