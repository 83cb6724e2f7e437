//! One inference path: a generator read from a weights file, rendering layouts with latent codes
//! to RGB8 images, and the code a model renders "seed s" with.
//!
//! Every renderer of cimle goes through [`Model`]: `cimle sample`, the videos, `cimle
//! evaluate`, the per-round grids and the browser app. On burn's Flex CPU device the render runs
//! on cimle's CPU kernels ([`crate::cpu`]); on any other device (wgpu, WebGPU) through burn's
//! [`Generator`], with a synchronous and an asynchronous read-back.

use std::collections::BTreeMap;

use burn::module::Module;
use burn::tensor::Device;

use crate::config::GeneratorConfig;
use crate::cpu::CpuGenerator;
use crate::generator::{Generator, images_to_rgb8, one_hot};
use crate::latent::{LatentCode, LatentError};
use crate::layout::Layout;
use crate::weights::{WeightsError, WeightsHeader, load_generator};

/// The weights-file metadata key that names how a model was trained (`cimle` or `crn`). Files
/// without it are cIMLE.
pub const METHOD_METADATA_KEY: &str = "method";

/// How a model turns a seed into the code it renders.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Sampling {
    /// Conditional IMLE: seed `s` is the Gaussian code [`LatentCode::from_seed`].
    #[default]
    Codes,
    /// The CRN regression baseline, trained with the zero code: every seed renders the zero
    /// code (one output per layout).
    ZeroCode,
}

/// A `method` metadata entry that is neither `cimle` nor `crn`.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error(
    "unknown training method {0:?} in the weights file: known are cimle (conditional IMLE), rs-imle, adaptive-imle and crn (regression with the zero code)"
)]
pub struct UnknownMethod(pub String);

impl Sampling {
    /// From a weights file's metadata ([`METHOD_METADATA_KEY`]).
    pub fn of_metadata(metadata: &BTreeMap<String, String>) -> Result<Self, UnknownMethod> {
        match metadata
            .get(METHOD_METADATA_KEY)
            .map(|s| s.trim().to_ascii_lowercase())
        {
            None => Ok(Sampling::Codes),
            Some(m) if m == "cimle" => Ok(Sampling::Codes),
            Some(m) if m == "crn" => Ok(Sampling::ZeroCode),
            Some(_) => Err(UnknownMethod(metadata[METHOD_METADATA_KEY].clone())),
        }
    }

    /// The code "seed `seed`" renders, of shape `channels x height x width`.
    pub fn code(self, seed: u64, channels: usize, height: usize, width: usize) -> LatentCode {
        match self {
            Sampling::Codes => LatentCode::from_seed(seed, channels, height, width),
            Sampling::ZeroCode => LatentCode::zeros(channels, height, width),
        }
    }

    /// Whether renders depend on the code.
    pub fn uses_codes(self) -> bool {
        self == Sampling::Codes
    }
}

/// Why a render failed.
#[derive(Debug, thiserror::Error)]
pub enum RenderError {
    #[error("{layouts} layouts but {codes} codes: give one code per layout")]
    Count { layouts: usize, codes: usize },
    #[error("layout {index} is {got:?}, the model renders {want:?} (height x width)")]
    LayoutSize {
        index: usize,
        got: [usize; 2],
        want: [usize; 2],
    },
    #[error("code {index}: {source}")]
    Code { index: usize, source: LatentError },
    #[error("reading the image back from the device failed: {0}")]
    ReadBack(String),
}

enum Net {
    Kernels(Box<CpuGenerator>),
    Burn {
        generator: Box<Generator>,
        device: Device,
    },
}

/// A generator ready to render.
pub struct Model {
    config: GeneratorConfig,
    metadata: BTreeMap<String, String>,
    sampling: Sampling,
    net: Net,
}

impl Model {
    /// A model from the bytes of a weights file, on `device` (the CPU kernels on Flex).
    pub fn load(bytes: &[u8], device: &Device) -> Result<Self, ModelError> {
        let (generator, header) = load_generator(bytes, device)?;
        Self::from_generator(generator, header, device)
    }

    /// A model from a burn generator and its header (metadata and config), on `device`.
    pub fn from_generator(
        generator: Generator,
        header: WeightsHeader,
        device: &Device,
    ) -> Result<Self, ModelError> {
        let sampling = Sampling::of_metadata(&header.metadata)?;
        let mut model = Self::of_network(&generator, header.config, sampling, device);
        model.metadata = header.metadata;
        Ok(model)
    }

    /// A model of a burn generator in training (no weights file, so no metadata), on `device`:
    /// the CPU kernels on Flex, else `generator` itself.
    pub fn of_network(
        generator: &Generator,
        config: GeneratorConfig,
        sampling: Sampling,
        device: &Device,
    ) -> Self {
        let net = if *device == Device::flex() {
            Net::Kernels(Box::new(CpuGenerator::from_generator(generator, &config)))
        } else {
            Net::Burn {
                generator: Box::new(generator.clone().fork(device)),
                device: device.clone(),
            }
        };
        Self {
            config,
            metadata: BTreeMap::new(),
            sampling,
            net,
        }
    }

    /// A model on the CPU kernels from the CPU generator of a training run.
    pub fn from_cpu(generator: CpuGenerator, sampling: Sampling) -> Self {
        Self {
            config: generator.config().clone(),
            metadata: BTreeMap::new(),
            sampling,
            net: Net::Kernels(Box::new(generator)),
        }
    }

    /// The generator's shape and class set.
    pub fn config(&self) -> &GeneratorConfig {
        &self.config
    }

    /// The weights file's metadata.
    pub fn metadata(&self) -> &BTreeMap<String, String> {
        &self.metadata
    }

    /// How seeds become codes.
    pub fn sampling(&self) -> Sampling {
        self.sampling
    }

    /// The code "seed `seed`" renders with this model.
    pub fn code(&self, seed: u64) -> LatentCode {
        let c = &self.config;
        self.sampling
            .code(seed, c.latent_channels, c.height, c.width)
    }

    fn check(&self, layouts: &[&Layout], codes: &[&LatentCode]) -> Result<(), RenderError> {
        if layouts.len() != codes.len() {
            return Err(RenderError::Count {
                layouts: layouts.len(),
                codes: codes.len(),
            });
        }
        let want = [self.config.height, self.config.width];
        for (index, l) in layouts.iter().enumerate() {
            if [l.height(), l.width()] != want {
                return Err(RenderError::LayoutSize {
                    index,
                    got: [l.height(), l.width()],
                    want,
                });
            }
        }
        let shape = [self.config.latent_channels, want[0], want[1]];
        for (index, c) in codes.iter().enumerate() {
            if c.shape() != shape {
                return Err(RenderError::Code {
                    index,
                    source: LatentError::ShapeMismatch {
                        a: c.shape(),
                        b: shape,
                    },
                });
            }
        }
        Ok(())
    }

    /// Renders `layouts[i]` with `codes[i]`: one RGB8 image (`H x W x 3`, row-major) each.
    pub fn render(
        &self,
        layouts: &[&Layout],
        codes: &[&LatentCode],
    ) -> Result<Vec<Vec<u8>>, RenderError> {
        let floats = self.render_floats(layouts, codes)?;
        Ok(self.to_rgb8(&floats, layouts.len()))
    }

    /// [`Model::render`] with an asynchronous read-back (the browser's WebGPU path, where a
    /// synchronous one would block).
    pub async fn render_async(
        &self,
        layouts: &[&Layout],
        codes: &[&LatentCode],
    ) -> Result<Vec<Vec<u8>>, RenderError> {
        let floats = self.render_floats_async(layouts, codes).await?;
        Ok(self.to_rgb8(&floats, layouts.len()))
    }

    /// The generator's raw output for `layouts[i]` with `codes[i]`: `[N, 3, H, W]` floats in
    /// `[-1, 1]`, channel-planar (what the browser composites region by region).
    pub fn render_floats(
        &self,
        layouts: &[&Layout],
        codes: &[&LatentCode],
    ) -> Result<Vec<f32>, RenderError> {
        self.check(layouts, codes)?;
        if layouts.is_empty() {
            return Ok(Vec::new());
        }
        match &self.net {
            Net::Kernels(g) => Ok(g.forward(layouts, codes, false).0.to_nchw()),
            Net::Burn { generator, device } => burn_forward(generator, device, layouts, codes)?
                .into_data()
                .try_to_vec::<f32>()
                .map_err(|e| RenderError::ReadBack(format!("{e:?}"))),
        }
    }

    /// [`Model::render_floats`] with an asynchronous read-back.
    pub async fn render_floats_async(
        &self,
        layouts: &[&Layout],
        codes: &[&LatentCode],
    ) -> Result<Vec<f32>, RenderError> {
        self.check(layouts, codes)?;
        if layouts.is_empty() {
            return Ok(Vec::new());
        }
        match &self.net {
            Net::Kernels(_) => self.render_floats(layouts, codes),
            Net::Burn { generator, device } => burn_forward(generator, device, layouts, codes)?
                .into_data_async()
                .await
                .map_err(|e| RenderError::ReadBack(format!("{e:?}")))?
                .try_to_vec::<f32>()
                .map_err(|e| RenderError::ReadBack(format!("{e:?}"))),
        }
    }

    fn to_rgb8(&self, floats: &[f32], n: usize) -> Vec<Vec<u8>> {
        images_to_rgb8(floats, n, self.config.height, self.config.width)
    }

    /// Renders `seeds` of one layout ([`Model::code`] each), at most `batch` a pass.
    pub fn render_seeds(
        &self,
        layout: &Layout,
        seeds: &[u64],
        batch: usize,
    ) -> Result<Vec<Vec<u8>>, RenderError> {
        let mut out = Vec::with_capacity(seeds.len());
        for chunk in seeds.chunks(batch.max(1)) {
            let codes: Vec<LatentCode> = chunk.iter().map(|&s| self.code(s)).collect();
            let refs: Vec<&LatentCode> = codes.iter().collect();
            out.extend(self.render(&vec![layout; chunk.len()], &refs)?);
        }
        Ok(out)
    }
}

fn burn_forward(
    generator: &Generator,
    device: &Device,
    layouts: &[&Layout],
    codes: &[&LatentCode],
) -> Result<burn::tensor::Tensor<4>, RenderError> {
    let x = one_hot(layouts, generator.num_classes(), device);
    let owned: Vec<LatentCode> = codes.iter().map(|c| (*c).clone()).collect();
    let z = LatentCode::batch_tensor(&owned, device)
        .map_err(|source| RenderError::Code { index: 0, source })?;
    Ok(generator.forward(x, z))
}

/// Why a model could not be built.
#[derive(Debug, thiserror::Error)]
pub enum ModelError {
    #[error(transparent)]
    Weights(#[from] WeightsError),
    #[error(transparent)]
    Method(#[from] UnknownMethod),
}
