//! VGG-19 as the perceptual distance uses it (docs/METHOD.md "Distance L"): torchvision's
//! `vgg19().features` up to conv5_2, every max pooling replaced by 2x2 average pooling (CRN's
//! choice, kept by the released code), ReLU after every conv; the five features are taken after
//! the ReLUs of conv1_2, conv2_2, conv3_2, conv4_2 and conv5_2 (torchvision indices 2, 7, 12, 21,
//! 30). Weights come from a torchvision state dict ([`load_vgg19`], `.pth` or `.safetensors`) or
//! from a fixed seed ([`Vgg19Features::random`], the "random-feature VGG-19" used where no
//! download is possible).
//!
//! # Input normalisation
//!
//! Images enter in the generator's range `[-1, 1]`. The released code (TensorFlow, MatConvNet
//! `imagenet-vgg-verydeep-19` weights) feeds `[0, 255]` images minus the ImageNet mean colour,
//! because *those* weights were trained that way. cimle loads *torchvision* weights, which were
//! trained on `(x − mean) / std` of `[0, 1]` images, so this module feeds exactly that
//! ([`IMAGENET_MEAN`], [`IMAGENET_STD`], [`Vgg19Features::normalize`]). The pixel term of the
//! distance is taken on the same normalised image (CRN's pixel term is likewise taken on the VGG
//! input), so pixel and feature terms are both about 1/58 of the released code's
//! (`1 / (255 · 0.226)`) and the paper's λ keep roughly their relative balance;
//! [`crate::perceptual::LayerWeights::calibrate`] makes it exact.

use std::path::{Path, PathBuf};

use burn::config::Config;
use burn::module::{Module, Param};
use burn::nn::PaddingConfig2d;
use burn::nn::conv::Conv2d;
use burn::store::{ModuleStore, PytorchStore, SafetensorsStore, bridge};
use burn::tensor::activation::relu;
use burn::tensor::module::avg_pool2d;
use burn::tensor::ops::AvgPoolOptions;
use burn::tensor::{Device, Tensor, TensorData};
use cimle::latent::PortableRng;

/// torchvision indices of the 16 convolutions of `vgg19().features`.
pub const CONV_INDICES: [usize; 16] = [0, 2, 5, 7, 10, 12, 14, 16, 19, 21, 23, 25, 28, 30, 32, 34];

/// Output channels of the 16 convolutions at full width (`width_div = 1`).
pub const CONV_CHANNELS: [usize; 16] = [
    64, 64, 128, 128, 256, 256, 256, 256, 512, 512, 512, 512, 512, 512, 512, 512,
];

/// torchvision indices of the five feature layers: conv1_2, conv2_2, conv3_2, conv4_2, conv5_2.
pub const FEATURE_INDICES: [usize; 5] = [2, 7, 12, 21, 30];

/// ImageNet mean colour of `[0, 1]` RGB images (torchvision's normalisation).
pub const IMAGENET_MEAN: [f32; 3] = [0.485, 0.456, 0.406];

/// ImageNet per-channel standard deviation of `[0, 1]` RGB images (torchvision's normalisation).
pub const IMAGENET_STD: [f32; 3] = [0.229, 0.224, 0.225];

/// Positions (in [`CONV_INDICES`]) of the convs followed by a pooling layer in torchvision's VGG-19
/// (conv1_2, conv2_2, conv3_4, conv4_4; the pool after conv5_4 is never reached here).
pub(crate) const POOL_AFTER: [usize; 4] = [1, 3, 7, 11];

/// Positions (in [`CONV_INDICES`]) of the five feature convs.
pub(crate) const FEATURE_POSITIONS: [usize; 5] = [1, 3, 5, 9, 13];

/// Smallest image side the five layers accept: conv5_2 sits after four 2x2 poolings.
pub const MIN_SIDE: usize = 16;

/// Errors of loading VGG-19 weights and calibrating layer weights.
#[derive(Debug, thiserror::Error)]
pub enum VggError {
    /// The file could not be opened or parsed.
    #[error("cannot read VGG-19 weights from {path}: {message}")]
    Read {
        /// The weights file.
        path: PathBuf,
        /// What went wrong.
        message: String,
    },
    /// Tensors the network needs are absent, or have the wrong shape.
    #[error(
        "VGG-19 weights {path} do not fit torchvision's vgg19 layout{}{}",
        list("missing tensors", missing),
        list("shape mismatches", mismatched)
    )]
    Invalid {
        /// The weights file.
        path: PathBuf,
        /// Missing state-dict keys, e.g. `features.5.weight`.
        missing: Vec<String>,
        /// `key: expected [..], found [..]` for every tensor of the wrong shape.
        mismatched: Vec<String>,
    },
    /// A [`Vgg19Config`] that cannot describe a VGG-19.
    #[error("invalid VGG-19 config: {0}")]
    Config(String),
    /// [`LayerWeights::calibrate`] could not produce finite weights.
    #[error("cannot calibrate layer weights: {0}")]
    Calibration(String),
}

fn list(what: &str, items: &[String]) -> String {
    if items.is_empty() {
        String::new()
    } else {
        format!("; {what} ({}): {}", items.len(), items.join(", "))
    }
}

/// Shape of a [`Vgg19Features`]: every width of torchvision's VGG-19 divided by `width_div`.
///
/// `width_div = 1` is the real network (needed for ImageNet weights); larger values give small
/// networks for test fixtures and fast CPU runs (`16`: channels 4, 4, 8, 8, 16 × 4, 32 × 8).
#[derive(Config, Debug, PartialEq, Eq)]
pub struct Vgg19Config {
    /// Divisor of every layer width; must divide 64.
    #[config(default = 1)]
    pub width_div: usize,
}

impl Vgg19Config {
    /// Output channels of the 16 convolutions.
    pub fn channels(&self) -> [usize; 16] {
        CONV_CHANNELS.map(|c| c / self.width_div.max(1))
    }

    /// `[out, in, 3, 3]` shape of the weight of each of the 16 convolutions.
    pub fn weight_shapes(&self) -> [[usize; 4]; 16] {
        let channels = self.channels();
        let mut shapes = [[0; 4]; 16];
        let mut cin = 3;
        for (shape, &cout) in shapes.iter_mut().zip(&channels) {
            *shape = [cout, cin, 3, 3];
            cin = cout;
        }
        shapes
    }

    /// Checks that `width_div` divides 64 (so every width is a whole number of channels).
    pub fn check(&self) -> Result<(), VggError> {
        if self.width_div == 0 || 64 % self.width_div != 0 {
            return Err(VggError::Config(format!(
                "width_div must divide 64, got {}",
                self.width_div
            )));
        }
        Ok(())
    }
}

/// torchvision's `vgg19().features` with average pooling, run up to conv5_2.
///
/// Holds all 16 convolutions of the state dict (conv5_3 and conv5_4 are loaded and checked but
/// never run). Parameters never require gradients: the network is a fixed feature extractor, yet
/// gradients flow through it to its input on an autodiff device.
#[derive(Module, Debug)]
pub struct Vgg19Features {
    /// The 16 convolutions, in torchvision order ([`CONV_INDICES`]).
    convs: Vec<Conv2d>,
    /// What the weights are, for reports: see [`Vgg19Features::describe`].
    #[module(skip)]
    description: String,
    /// The width divisor the network was built with.
    #[module(skip)]
    width_div: usize,
}

fn conv_from(weight: Tensor<4>, bias: Tensor<1>) -> Conv2d {
    Conv2d {
        weight: Param::from_tensor(weight),
        bias: Some(Param::from_tensor(bias)),
        stride: [1, 1],
        kernel_size: [3, 3],
        dilation: [1, 1],
        groups: 1,
        padding: PaddingConfig2d::Explicit(1, 1, 1, 1),
    }
}

impl Vgg19Features {
    /// The "random-feature VGG-19": He-normal weights (`N(0, 2 / fan_in)`, `fan_in = 9 · c_in`)
    /// and zero biases drawn from cimle's portable generator ([`PortableRng`]: xoshiro256** with
    /// Box-Muller through the pure-Rust `libm`), so a seed gives the same network on every
    /// platform. Convolutions are drawn in torchvision order, each weight tensor row-major.
    pub fn random(seed: u64, config: &Vgg19Config, device: &Device) -> Result<Self, VggError> {
        config.check()?;
        let mut rng = PortableRng::new(seed);
        let convs = config
            .weight_shapes()
            .iter()
            .map(|&[cout, cin, kh, kw]| {
                let mut values = vec![0.0f32; cout * cin * kh * kw];
                rng.fill_normal(&mut values);
                let std = (2.0 / (cin * kh * kw) as f64).sqrt() as f32;
                values.iter_mut().for_each(|v| *v *= std);
                let weight =
                    Tensor::from_data(TensorData::new(values, [cout, cin, kh, kw]), device);
                conv_from(weight, Tensor::zeros([cout], device))
            })
            .collect();
        Ok(Self {
            convs,
            description: if config.width_div == 1 {
                format!("random-feature VGG-19 (seed {seed})")
            } else {
                format!(
                    "random-feature VGG-19 (seed {seed}, channels / {})",
                    config.width_div
                )
            },
            width_div: config.width_div,
        }
        .no_grad())
    }

    /// "ImageNet VGG-19 (path)" for loaded weights, "random-feature VGG-19 (seed N)" otherwise
    /// (with ", channels / D" for a narrowed network).
    pub fn describe(&self) -> &str {
        &self.description
    }

    /// The network's shape.
    pub fn config(&self) -> Vgg19Config {
        Vgg19Config::new().with_width_div(self.width_div)
    }

    /// Output channels of the five feature layers (conv1_2 … conv5_2).
    pub fn feature_channels(&self) -> [usize; 5] {
        let channels = self.config().channels();
        FEATURE_POSITIONS.map(|p| channels[p])
    }

    /// `[N, 3, H, W]` images in `[-1, 1]` to the network's input: `(x01 − mean) / std` with
    /// `x01 = (x + 1) / 2` and torchvision's ImageNet [`IMAGENET_MEAN`] / [`IMAGENET_STD`]
    /// (see the module docs for why not the released code's `[0, 255]` minus mean colour).
    pub fn normalize(images: Tensor<4>) -> Tensor<4> {
        let device = images.device();
        let dims = images.dims();
        assert_eq!(
            dims[1], 3,
            "VGG-19 takes RGB images [N, 3, H, W], got {dims:?}"
        );
        // x01 = (x + 1) / 2, so (x01 - m) / s = x * (0.5 / s) + (0.5 - m) / s.
        let scale: [f32; 3] = std::array::from_fn(|c| 0.5 / IMAGENET_STD[c]);
        let shift: [f32; 3] = std::array::from_fn(|c| (0.5 - IMAGENET_MEAN[c]) / IMAGENET_STD[c]);
        let scale = Tensor::<4>::from_data(TensorData::new(scale.to_vec(), [1, 3, 1, 1]), &device);
        let shift = Tensor::<4>::from_data(TensorData::new(shift.to_vec(), [1, 3, 1, 1]), &device);
        images * scale.expand(dims) + shift.expand(dims)
    }

    /// The five features (after ReLU at conv1_2, conv2_2, conv3_2, conv4_2, conv5_2) of an input
    /// already passed through [`Vgg19Features::normalize`]. Runs 14 of the 16 convs.
    pub fn forward_normalized(&self, x: Tensor<4>) -> [Tensor<4>; 5] {
        let [_, _, h, w] = x.dims();
        assert!(
            h >= MIN_SIDE && w >= MIN_SIDE,
            "VGG-19 features need images of at least {MIN_SIDE}x{MIN_SIDE}, got {h}x{w}"
        );
        let mut x = x;
        let mut out: Vec<Tensor<4>> = Vec::with_capacity(5);
        let last = FEATURE_POSITIONS[4];
        for (position, conv) in self.convs.iter().enumerate().take(last + 1) {
            x = relu(conv.forward(x));
            if FEATURE_POSITIONS.contains(&position) {
                out.push(x.clone());
            }
            if POOL_AFTER.contains(&position) {
                x = avg_pool2d(x, AvgPoolOptions::new([2, 2]));
            }
        }
        out.try_into()
            .unwrap_or_else(|_| unreachable!("five feature positions"))
    }

    /// The five features of `[N, 3, H, W]` images in `[-1, 1]`.
    pub fn forward(&self, images: Tensor<4>) -> [Tensor<4>; 5] {
        self.forward_normalized(Self::normalize(images))
    }

    /// The 16 convolutions, in torchvision order.
    pub fn convs(&self) -> &[Conv2d] {
        &self.convs
    }
}

enum Format {
    Pytorch,
    Safetensors,
}

fn sniff_format(path: &Path) -> Result<Format, VggError> {
    let ext = path
        .extension()
        .and_then(|e| e.to_str())
        .map(str::to_ascii_lowercase);
    match ext.as_deref() {
        Some("pth" | "pt" | "bin" | "ckpt") => return Ok(Format::Pytorch),
        Some("safetensors") => return Ok(Format::Safetensors),
        _ => {}
    }
    // Unknown extension: a zip (torch >= 1.6) or a pickle (legacy torch) is PyTorch.
    let mut head = [0u8; 4];
    let read = std::fs::File::open(path)
        .and_then(|mut f| std::io::Read::read(&mut f, &mut head))
        .map_err(|e| VggError::Read {
            path: path.to_path_buf(),
            message: e.to_string(),
        })?;
    if read >= 2 && (head[..2] == *b"PK" || head[0] == 0x80) {
        Ok(Format::Pytorch)
    } else {
        Ok(Format::Safetensors)
    }
}

/// Loads a torchvision `vgg19` (or `vgg19().features`-shaped) state dict from `.pth` / `.pt`
/// (PyTorch zip or legacy pickle, read by burn-store's PyTorch reader) or `.safetensors`.
///
/// Key mapping, the whole of it (torchvision → [`Vgg19Features`]):
///
/// | state-dict key                         | module parameter                          |
/// |----------------------------------------|-------------------------------------------|
/// | `features.{CONV_INDICES[k]}.weight`    | `convs[k].weight`, `[out, in, 3, 3]` as is |
/// | `features.{CONV_INDICES[k]}.bias`      | `convs[k].bias`, `[out]` as is             |
/// | `features.{1,3,4,…}` (ReLU, MaxPool)   | none: parameter-free, ReLU and 2x2 avg pool in code |
/// | `classifier.*`                          | ignored                                   |
///
/// for `k = 0..16` and `CONV_INDICES = [0, 2, 5, 7, 10, 12, 14, 16, 19, 21, 23, 25, 28, 30, 32,
/// 34]`: the torchvision indices are kept (no contiguous renumbering) and each convolution is
/// looked up by its own index. No tensor is transposed (PyTorch and burn both store conv
/// weights as `[out, in, kh, kw]`). Any float dtype is converted to `f32`. The width divisor is
/// inferred from `features.0.weight` (64 output channels for the real network).
///
/// Fails with [`VggError::Invalid`] naming every missing key and every shape mismatch, and
/// with [`VggError::Read`] if the file cannot be read.
pub fn load_vgg19(path: impl AsRef<Path>, device: &Device) -> Result<Vgg19Features, VggError> {
    let path = path.as_ref();
    let read_err = |message: String| VggError::Read {
        path: path.to_path_buf(),
        message,
    };
    let tensors = match sniff_format(path)? {
        Format::Pytorch => {
            let mut store = PytorchStore::from_file(path).map_indices_contiguous(false);
            store
                .get_all_tensors()
                .map_err(|e| read_err(e.to_string()))?
                .clone()
        }
        Format::Safetensors => {
            let mut store = SafetensorsStore::from_file(path);
            store
                .get_all_tensors()
                .map_err(|e| read_err(e.to_string()))?
                .clone()
        }
    };

    // Infer the width divisor from the first conv; validate everything against it.
    let width_div = match tensors.get("features.0.weight").map(|t| t.shape.as_slice()) {
        Some(&[c, 3, 3, 3]) if c > 0 && 64 % c == 0 => 64 / c,
        _ => 1,
    };
    let config = Vgg19Config::new().with_width_div(width_div);
    let mut missing = Vec::new();
    let mut mismatched = Vec::new();
    for (k, shape) in config.weight_shapes().iter().enumerate() {
        let idx = CONV_INDICES[k];
        let expected: [&[usize]; 2] = [shape, &shape[..1]];
        for (suffix, expected) in ["weight", "bias"].iter().zip(expected) {
            let key = format!("features.{idx}.{suffix}");
            match tensors.get(&key) {
                None => missing.push(key),
                Some(t) if t.shape.as_slice() != expected => mismatched.push(format!(
                    "{key}: expected {expected:?}, found {:?}",
                    t.shape.as_slice()
                )),
                Some(_) => {}
            }
        }
    }
    if !missing.is_empty() || !mismatched.is_empty() {
        return Err(VggError::Invalid {
            path: path.to_path_buf(),
            missing,
            mismatched,
        });
    }

    let fetch = |key: String| -> Result<TensorData, VggError> {
        let tensor = &tensors[&key];
        bridge::to_data(tensor)
            .map(|data| data.convert::<f32>())
            .map_err(|e| read_err(format!("{key}: {e}")))
    };
    let mut convs = Vec::with_capacity(16);
    for idx in CONV_INDICES {
        let weight = fetch(format!("features.{idx}.weight"))?;
        let bias = fetch(format!("features.{idx}.bias"))?;
        convs.push(conv_from(
            Tensor::from_data(weight, device),
            Tensor::from_data(bias, device),
        ));
    }
    Ok(Vgg19Features {
        convs,
        description: format!("ImageNet VGG-19 ({})", path.display()),
        width_div,
    }
    .no_grad())
}

/// Which VGG-19 a command measures with (`--vgg19 PATH`, or the random-feature network with
/// `--vgg-width-div`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum VggSource {
    /// A torchvision `vgg19` state dict ([`load_vgg19`]).
    Torchvision(PathBuf),
    /// The random-feature VGG-19 of seed 0 ([`Vgg19Features::random`]), every width divided by
    /// `width_div`.
    Random { width_div: usize },
}

impl VggSource {
    /// The network on `device`.
    pub fn build(&self, device: &Device) -> Result<Vgg19Features, VggError> {
        match self {
            VggSource::Torchvision(path) => load_vgg19(path, device),
            VggSource::Random { width_div } => Vgg19Features::random(
                0,
                &Vgg19Config {
                    width_div: *width_div,
                },
                device,
            ),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn device() -> Device {
        Device::flex()
    }

    fn small_vgg(seed: u64) -> Vgg19Features {
        Vgg19Features::random(seed, &Vgg19Config::new().with_width_div(16), &device()).unwrap()
    }

    fn values<const D: usize>(t: Tensor<D>) -> Vec<f32> {
        t.into_data().convert::<f32>().try_to_vec::<f32>().unwrap()
    }

    #[test]
    fn random_vgg_is_deterministic_and_described() {
        let a = small_vgg(7);
        let b = small_vgg(7);
        let c = small_vgg(8);
        assert_eq!(
            a.describe(),
            "random-feature VGG-19 (seed 7, channels / 16)"
        );
        assert_eq!(a.convs().len(), 16);
        assert_eq!(a.feature_channels(), [4, 8, 16, 32, 32]);
        let w = |v: &Vgg19Features, k: usize| values(v.convs()[k].weight.val());
        assert_eq!(w(&a, 5), w(&b, 5));
        assert_ne!(w(&a, 5), w(&c, 5));
        // He-normal: std sqrt(2 / fan_in) within sampling error (conv 13: 32 x 32 x 9 weights).
        let v = w(&a, 13);
        let var = v.iter().map(|x| f64::from(*x).powi(2)).sum::<f64>() / v.len() as f64;
        let expected = 2.0 / (32.0 * 9.0);
        assert!(
            (var / expected - 1.0).abs() < 0.1,
            "variance {var} vs {expected}"
        );
    }

    #[test]
    fn a_source_builds_its_network() {
        let vgg = VggSource::Random { width_div: 16 }
            .build(&device())
            .unwrap();
        assert_eq!(vgg.describe(), small_vgg(0).describe());
        assert!(VggSource::Random { width_div: 3 }.build(&device()).is_err());
        let err = VggSource::Torchvision("/nonexistent/vgg.pth".into())
            .build(&device())
            .unwrap_err();
        assert!(err.to_string().contains("/nonexistent/vgg.pth"), "{err}");
    }

    #[test]
    fn config_rejects_bad_width_div() {
        assert!(Vgg19Config::new().with_width_div(3).check().is_err());
        assert!(Vgg19Config::new().with_width_div(0).check().is_err());
        assert_eq!(Vgg19Config::new().channels()[15], 512);
        assert_eq!(Vgg19Config::new().weight_shapes()[2], [128, 64, 3, 3]);
    }
}
