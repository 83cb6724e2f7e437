//! The weights file: one versioned, self-describing format (docs/METHOD.md "Generator").
//!
//! A weights file is a plain [safetensors](https://github.com/huggingface/safetensors) file, so
//! any tool that reads safetensors can open it. Its metadata holds:
//!
//! | key       | value                                                            |
//! |-----------|------------------------------------------------------------------|
//! | `format`  | `cimle-generator`                                                |
//! | `version` | the format version, [`FORMAT_VERSION`]                           |
//! | `config`  | the [`GeneratorConfig`] as JSON (resolution, widths, classes...) |
//! | others    | free-form provenance (`trained_by`, `round`, ...)                |
//!
//! Tensors are named by their module path (`encoder.conv1.weight`, `refinement.3.norm2.gamma`,
//! `to_rgb.bias`, ...) and stored in f32 or f16. Bytes in, bytes out: no file I/O here.

use std::collections::{BTreeMap, HashMap};

use burn::module::{Module, ModuleMapper, ModuleVisitor, Param};
use burn::tensor::{Device, Tensor, TensorData};
use safetensors::tensor::{Dtype, SafeTensors, TensorView};

use crate::config::GeneratorConfig;
use crate::generator::Generator;

/// The `format` metadata value of a cimle weights file.
pub const FORMAT_NAME: &str = "cimle-generator";
/// The newest format version this build reads and the one it writes.
pub const FORMAT_VERSION: u32 = 1;

/// Most output pixels a weights file's config may claim: 2,097,152 (1024x2048, Cityscapes' full
/// resolution). The small preset is 64x128, the browser and paper presets 256x512.
pub const MAX_RESOLUTION_PIXELS: usize = 1024 * 2048;
/// Longest output side a weights file's config may claim.
pub const MAX_SIDE: usize = 4096;
/// Most refinement modules a config may have (the presets have 3 to 7).
pub const MAX_MODULES: usize = 16;
/// Most channels of one refinement module or of the noise encoder (the paper's widest is 1024).
pub const MAX_CHANNELS: usize = 2048;
/// Most classes a config may have (layouts store one byte a pixel; the built-in set has 20).
pub const MAX_CLASSES: usize = 256;
/// Most latent channels a config may have (the presets have 4 or 10).
pub const MAX_LATENT_CHANNELS: usize = 1024;
/// Most parameters a config may describe: 400 million (the paper preset has about 98 million).
pub const MAX_PARAMS: usize = 400_000_000;

/// Storage precision of the tensors.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Precision {
    /// 4 bytes a number: training checkpoints.
    F32,
    /// 2 bytes a number: what the browser downloads.
    F16,
}

/// Why a weights file could not be read or written.
#[derive(Debug, thiserror::Error)]
pub enum WeightsError {
    #[error("not a readable safetensors file ({0}); the file is truncated or of another kind")]
    Unreadable(String),
    #[error(
        "this safetensors file is not a cimle generator: its `format` metadata is {}, expected \
         \"{FORMAT_NAME}\"",
        found.as_deref().map_or("missing".to_owned(), |f| format!("{f:?}"))
    )]
    Foreign { found: Option<String> },
    #[error(
        "weights format version {found:?} is newer than this build or invalid: this build reads \
         versions 1 to {FORMAT_VERSION}"
    )]
    NewerVersion { found: String },
    #[error("the embedded generator config is invalid: {0}")]
    BadConfig(String),
    #[error("the embedded generator config is too large: {0}")]
    TooLarge(String),
    #[error(
        "the embedded generator config needs {needs} parameters, but the file's tensors hold \
         only {holds} numbers: the file is truncated or its config does not belong to it"
    )]
    TooFewNumbers { needs: usize, holds: usize },
    #[error("tensor `{0}` is missing from the weights file")]
    MissingTensor(String),
    #[error("the weights file has tensors the generator does not: {0:?}")]
    UnusedTensors(Vec<String>),
    #[error("tensor `{name}` has shape {found:?}, the config says {expected:?}")]
    ShapeMismatch {
        name: String,
        expected: Vec<usize>,
        found: Vec<usize>,
    },
    #[error("tensor `{name}` is stored as {dtype}; only F32 and F16 are supported")]
    Dtype { name: String, dtype: String },
    #[error("could not serialise the weights: {0}")]
    Serialize(String),
    #[error(
        "tensor `{name}` holds {count} non-finite numbers (NaN or infinity): the run that wrote \
         it diverged; use an earlier round's weights"
    )]
    NonFinite { name: String, count: usize },
    #[error(
        "tensor `{name}` holds {count} numbers beyond f16's range (|x| > 65504): save it as f32"
    )]
    F16Overflow { name: String, count: usize },
}

/// [`WeightsError::NonFinite`] when `values` hold NaN or infinity.
fn check_finite(name: &str, values: &[f32]) -> Result<(), WeightsError> {
    match values.iter().filter(|v| !v.is_finite()).count() {
        0 => Ok(()),
        count => Err(WeightsError::NonFinite {
            name: name.to_string(),
            count,
        }),
    }
}

/// What a weights file says about itself, read without building the network.
#[derive(Debug, Clone)]
pub struct WeightsHeader {
    /// The generator's shape and class set.
    pub config: GeneratorConfig,
    /// The format version found.
    pub version: u32,
    /// Every metadata entry, `format`, `version` and `config` included.
    pub metadata: BTreeMap<String, String>,
}

/// Reads and checks the metadata of a weights file (format, version, config).
pub fn read_header(bytes: &[u8]) -> Result<WeightsHeader, WeightsError> {
    let (_, meta) =
        SafeTensors::read_metadata(bytes).map_err(|e| WeightsError::Unreadable(e.to_string()))?;
    let metadata: BTreeMap<String, String> = meta
        .metadata()
        .clone()
        .unwrap_or_default()
        .into_iter()
        .collect();
    let format = metadata.get("format").cloned();
    if format.as_deref() != Some(FORMAT_NAME) {
        return Err(WeightsError::Foreign { found: format });
    }
    let version_text = metadata.get("version").cloned().unwrap_or_default();
    let version: u32 = version_text
        .parse()
        .map_err(|_| WeightsError::NewerVersion {
            found: version_text.clone(),
        })?;
    if version > FORMAT_VERSION || version == 0 {
        return Err(WeightsError::NewerVersion {
            found: version_text,
        });
    }
    let config_json = metadata
        .get("config")
        .ok_or_else(|| WeightsError::BadConfig("no `config` metadata entry".into()))?;
    let config: GeneratorConfig =
        serde_json::from_str(config_json).map_err(|e| WeightsError::BadConfig(e.to_string()))?;
    check_bounds(&config)?;
    config
        .validate()
        .map_err(|e| WeightsError::BadConfig(e.to_string()))?;
    if config.num_params() > MAX_PARAMS {
        return Err(WeightsError::TooLarge(format!(
            "it describes {} parameters, more than the {MAX_PARAMS} a weights file may have",
            config.num_params()
        )));
    }
    Ok(WeightsHeader {
        config,
        version,
        metadata,
    })
}

/// Checks the config's sizes against the limits above before anything is computed or allocated
/// from them (after this, [`GeneratorConfig::num_params`] cannot overflow, even on 32 bits).
fn check_bounds(config: &GeneratorConfig) -> Result<(), WeightsError> {
    let too_large = |what: String| Err(WeightsError::TooLarge(what));
    let (h, w) = (config.height, config.width);
    if h > MAX_SIDE || w > MAX_SIDE || h.saturating_mul(w) > MAX_RESOLUTION_PIXELS {
        return too_large(format!(
            "it claims a {h}x{w} output; weights files may claim at most {MAX_SIDE} pixels a side \
             and {MAX_RESOLUTION_PIXELS} pixels in all (1024x2048)"
        ));
    }
    if config.modules() > MAX_MODULES {
        return too_large(format!(
            "it has {} refinement modules, more than the {MAX_MODULES} allowed",
            config.modules()
        ));
    }
    if let Some(&c) = config
        .widths
        .iter()
        .chain([&config.encoder_width])
        .find(|&&c| c > MAX_CHANNELS)
    {
        return too_large(format!(
            "it has a module of {c} channels, more than the {MAX_CHANNELS} allowed"
        ));
    }
    if config.num_classes() > MAX_CLASSES {
        return too_large(format!(
            "it has {} classes, more than the {MAX_CLASSES} allowed",
            config.num_classes()
        ));
    }
    if config.latent_channels > MAX_LATENT_CHANNELS {
        return too_large(format!(
            "it has {} latent channels, more than the {MAX_LATENT_CHANNELS} allowed",
            config.latent_channels
        ));
    }
    Ok(())
}

/// Joins the module path of the parameter being visited: `refinement.3.conv1.weight`.
#[derive(Default)]
struct PathStack(Vec<String>);

impl PathStack {
    fn enter(&mut self, name: &str) {
        self.0.push(name.to_string());
    }
    fn exit(&mut self) {
        self.0.pop();
    }
    /// The current path; parameters are the last `enter`ed name.
    fn current(&self) -> String {
        self.0.join(".")
    }
}

/// Collects every float parameter as (path, shape, values).
struct Collector {
    path: PathStack,
    tensors: Vec<(String, Vec<usize>, Vec<f32>)>,
}

impl ModuleVisitor for Collector {
    fn enter_module(&mut self, name: &str, _container_type: &str) {
        self.path.enter(name);
    }
    fn exit_module(&mut self, _name: &str, _container_type: &str) {
        self.path.exit();
    }
    fn visit_float<const D: usize>(&mut self, param: &Param<Tensor<D>>) {
        let data = param.val().into_data().convert::<f32>();
        let shape = data.shape().to_vec();
        let values = data.try_to_vec::<f32>().unwrap_or_default();
        self.tensors.push((self.path.current(), shape, values));
    }
}

/// Replaces every float parameter by the stored tensor of the same path, recording problems.
struct Loader {
    path: PathStack,
    stored: HashMap<String, (Vec<usize>, Vec<f32>)>,
    error: Option<WeightsError>,
}

impl ModuleMapper for Loader {
    fn enter_module(&mut self, name: &str, _container_type: &str) {
        self.path.enter(name);
    }
    fn exit_module(&mut self, _name: &str, _container_type: &str) {
        self.path.exit();
    }
    fn map_float<const D: usize>(&mut self, param: Param<Tensor<D>>) -> Param<Tensor<D>> {
        if self.error.is_some() {
            return param;
        }
        let name = self.path.current();
        let expected = param.lazy_shape().to_vec();
        match self.stored.remove(&name) {
            None => {
                self.error = Some(WeightsError::MissingTensor(name));
                param
            }
            Some((found, _)) if found != expected => {
                self.error = Some(WeightsError::ShapeMismatch {
                    name,
                    expected,
                    found,
                });
                param
            }
            Some((shape, values)) => {
                param.map(|t| Tensor::from_data(TensorData::new(values, shape), &t.device()))
            }
        }
    }
}

/// Every parameter of `generator` as `(module path, shape, values)`, in burn's visiting order:
/// the tensors a weights file stores.
pub fn generator_tensors(generator: &Generator) -> Vec<(String, Vec<usize>, Vec<f32>)> {
    let mut collector = Collector {
        path: PathStack::default(),
        tensors: Vec::new(),
    };
    generator.visit(&mut collector);
    collector.tensors
}

/// A generator of shape `config` on `device` whose parameters are `tensors`
/// (`(module path, shape, values)`, every one of them, nothing else).
pub fn generator_from_tensors(
    config: &GeneratorConfig,
    tensors: Vec<(String, Vec<usize>, Vec<f32>)>,
    device: &Device,
) -> Result<Generator, WeightsError> {
    let stored: HashMap<String, (Vec<usize>, Vec<f32>)> = tensors
        .into_iter()
        .map(|(name, shape, values)| (name, (shape, values)))
        .collect();
    let mut loader = Loader {
        path: PathStack::default(),
        stored,
        error: None,
    };
    let generator = config.init(device).map(&mut loader);
    if let Some(error) = loader.error {
        return Err(error);
    }
    if !loader.stored.is_empty() {
        let mut unused: Vec<String> = loader.stored.into_keys().collect();
        unused.sort();
        return Err(WeightsError::UnusedTensors(unused));
    }
    Ok(generator)
}

/// Serialises a generator and its config into the weights format.
/// `provenance` adds free-form metadata (how it was trained, which round).
pub fn save_generator(
    generator: &Generator,
    config: &GeneratorConfig,
    precision: Precision,
    provenance: &BTreeMap<String, String>,
) -> Result<Vec<u8>, WeightsError> {
    save_tensors(generator_tensors(generator), config, precision, provenance)
}

/// [`save_generator`] from `(module path, shape, values)` triples.
pub fn save_tensors(
    tensors: Vec<(String, Vec<usize>, Vec<f32>)>,
    config: &GeneratorConfig,
    precision: Precision,
    provenance: &BTreeMap<String, String>,
) -> Result<Vec<u8>, WeightsError> {
    // A diverged network is never written: every reader would render black or NaN images.
    let encoded: Vec<(String, Vec<usize>, Vec<u8>)> = tensors
        .into_iter()
        .map(|(name, shape, values)| {
            check_finite(&name, &values)?;
            let bytes = match precision {
                Precision::F32 => values.iter().flat_map(|v| v.to_le_bytes()).collect(),
                Precision::F16 => {
                    let count = values
                        .iter()
                        .filter(|&&v| half::f16::from_f32(v).is_infinite())
                        .count();
                    if count > 0 {
                        return Err(WeightsError::F16Overflow { name, count });
                    }
                    values
                        .iter()
                        .flat_map(|&v| half::f16::from_f32(v).to_le_bytes())
                        .collect()
                }
            };
            Ok((name, shape, bytes))
        })
        .collect::<Result<_, WeightsError>>()?;
    let dtype = match precision {
        Precision::F32 => Dtype::F32,
        Precision::F16 => Dtype::F16,
    };
    let views = encoded
        .iter()
        .map(|(name, shape, bytes)| {
            TensorView::new(dtype, shape.clone(), bytes)
                .map(|view| (name.clone(), view))
                .map_err(|e| WeightsError::Serialize(e.to_string()))
        })
        .collect::<Result<Vec<_>, _>>()?;
    let mut metadata: HashMap<String, String> = provenance.clone().into_iter().collect();
    metadata.insert("format".into(), FORMAT_NAME.into());
    metadata.insert("version".into(), FORMAT_VERSION.to_string());
    metadata.insert(
        "config".into(),
        serde_json::to_string(config).map_err(|e| WeightsError::Serialize(e.to_string()))?,
    );
    safetensors::serialize(views, Some(metadata))
        .map_err(|e| WeightsError::Serialize(e.to_string()))
}

/// Decodes one stored tensor to f32 values.
fn decode_values(name: &str, view: &TensorView<'_>) -> Result<Vec<f32>, WeightsError> {
    let data = view.data();
    match view.dtype() {
        Dtype::F32 => Ok(data
            .chunks_exact(4)
            .map(|b| f32::from_le_bytes([b[0], b[1], b[2], b[3]]))
            .collect()),
        Dtype::F16 => Ok(data
            .chunks_exact(2)
            .map(|b| half::f16::from_le_bytes([b[0], b[1]]).to_f32())
            .collect()),
        other => Err(WeightsError::Dtype {
            name: name.to_string(),
            dtype: format!("{other:?}"),
        }),
    }
}

/// Builds a generator on `device` from the bytes of a weights file. Fails, never panics, on a
/// truncated, foreign, newer or mismatched file.
pub fn load_generator(
    bytes: &[u8],
    device: &Device,
) -> Result<(Generator, WeightsHeader), WeightsError> {
    let header = read_header(bytes)?;
    let tensors =
        SafeTensors::deserialize(bytes).map_err(|e| WeightsError::Unreadable(e.to_string()))?;
    // Building the network allocates every parameter: first make sure the file holds about that
    // many numbers, so a small file cannot make it allocate a large network. (A small shortfall
    // is left to the per-tensor checks, which name the missing or mismatched tensor.)
    let holds = tensors
        .iter()
        .map(|(_, view)| view.shape().iter().product::<usize>())
        .fold(0usize, usize::saturating_add);
    let needs = header.config.num_params();
    if needs > holds.saturating_mul(2).max(holds.saturating_add(1 << 20)) {
        return Err(WeightsError::TooFewNumbers { needs, holds });
    }
    let mut stored = Vec::new();
    for (name, view) in tensors.iter() {
        let values = decode_values(name, &view)?;
        check_finite(name, &values)?;
        stored.push((name.to_string(), view.shape().to_vec(), values));
    }
    let generator = generator_from_tensors(&header.config, stored, device)?;
    Ok((generator, header))
}

#[cfg(test)]
mod tests;
