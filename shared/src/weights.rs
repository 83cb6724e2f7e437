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
mod tests {
    use super::*;
    use crate::config::Preset;
    use crate::generator::one_hot;
    use crate::latent::LatentCode;
    use crate::layout::Layout;

    fn render(g: &Generator, cfg: &GeneratorConfig, device: &Device) -> Vec<f32> {
        let layout = Layout::filled(cfg.height, cfg.width, 13);
        let x = one_hot(&[&layout], cfg.num_classes(), device);
        let z =
            LatentCode::from_seed(3, cfg.latent_channels, cfg.height, cfg.width).to_tensor(device);
        g.forward(x, z).into_data().try_to_vec::<f32>().unwrap()
    }

    fn tiny() -> (Generator, GeneratorConfig, Device) {
        let device = Device::flex();
        let cfg = Preset::Tiny.config();
        (cfg.init(&device), cfg, device)
    }

    #[test]
    fn round_trip_f32_is_exact_and_f16_is_close() {
        let (g, cfg, device) = tiny();
        let before = render(&g, &cfg, &device);
        let mut prov = BTreeMap::new();
        prov.insert("round".to_string(), "3".to_string());
        let bytes = save_generator(&g, &cfg, Precision::F32, &prov).unwrap();
        let (g32, header) = load_generator(&bytes, &device).unwrap();
        assert_eq!(header.config, cfg);
        assert_eq!(header.metadata["round"], "3");
        assert_eq!(render(&g32, &cfg, &device), before);

        let half_bytes = save_generator(&g, &cfg, Precision::F16, &prov).unwrap();
        assert!(half_bytes.len() < bytes.len() * 6 / 10);
        let (g16, _) = load_generator(&half_bytes, &device).unwrap();
        let after = render(&g16, &cfg, &device);
        let max = before
            .iter()
            .zip(&after)
            .map(|(a, b)| (a - b).abs())
            .fold(0.0, f32::max);
        assert!(max < 0.05, "f16 round trip moved outputs by {max}");
        assert_ne!(after, before);
    }

    #[test]
    fn tensor_names_follow_module_paths() {
        let (g, cfg, _) = tiny();
        let bytes = save_generator(&g, &cfg, Precision::F32, &BTreeMap::new()).unwrap();
        let st = SafeTensors::deserialize(&bytes).unwrap();
        let names = st.names();
        for expected in [
            "encoder.conv1.weight",
            "refinement.0.conv1.weight",
            "refinement.2.norm2.gamma",
            "to_rgb.bias",
        ] {
            assert!(names.contains(&expected), "{expected} not in {names:?}");
        }
        let total: usize = st
            .tensors()
            .iter()
            .map(|(_, v)| v.shape().iter().product::<usize>())
            .sum();
        assert_eq!(total, cfg.num_params());
    }

    #[test]
    fn truncated_foreign_and_newer_files_are_rejected() {
        let (g, cfg, device) = tiny();
        let bytes = save_generator(&g, &cfg, Precision::F32, &BTreeMap::new()).unwrap();
        for cut in [0, 5, 100, bytes.len() / 2, bytes.len() - 1] {
            assert!(
                matches!(
                    load_generator(&bytes[..cut], &device),
                    Err(WeightsError::Unreadable(_))
                ),
                "cut at {cut}"
            );
        }
        let data = vec![0u8; 16];
        let view = TensorView::new(Dtype::F32, vec![4], &data).unwrap();
        let foreign = safetensors::serialize([("w", view.clone())], None).unwrap();
        assert!(matches!(
            load_generator(&foreign, &device),
            Err(WeightsError::Foreign { found: None })
        ));
        let mut meta = HashMap::new();
        meta.insert("format".to_string(), FORMAT_NAME.to_string());
        meta.insert("version".to_string(), (FORMAT_VERSION + 1).to_string());
        meta.insert("config".to_string(), serde_json::to_string(&cfg).unwrap());
        let newer = safetensors::serialize([("w", view)], Some(meta)).unwrap();
        let err = load_generator(&newer, &device).unwrap_err();
        assert!(matches!(err, WeightsError::NewerVersion { .. }), "{err}");
        assert!(err.to_string().contains("newer"));
    }

    #[test]
    fn shape_mismatch_and_missing_tensors_are_errors() {
        let (g, cfg, device) = tiny();
        let bytes = save_generator(&g, &cfg, Precision::F32, &BTreeMap::new()).unwrap();
        // Same tensors, but a config that claims other module widths.
        let st = SafeTensors::deserialize(&bytes).unwrap();
        let with_widths = |widths: Vec<usize>| {
            let other = GeneratorConfig {
                widths,
                ..cfg.clone()
            };
            let mut meta = HashMap::new();
            meta.insert("format".to_string(), FORMAT_NAME.to_string());
            meta.insert("version".to_string(), FORMAT_VERSION.to_string());
            meta.insert("config".to_string(), serde_json::to_string(&other).unwrap());
            safetensors::serialize(st.tensors(), Some(meta)).unwrap()
        };
        for widths in [vec![8, 16, 8], vec![16, 16, 12]] {
            let err = load_generator(&with_widths(widths), &device).unwrap_err();
            assert!(matches!(err, WeightsError::ShapeMismatch { .. }), "{err}");
        }
        // Far wider modules need far more numbers than the file holds: refused before the
        // network is built.
        let err = load_generator(&with_widths(vec![1024, 1024, 1024]), &device).unwrap_err();
        assert!(
            matches!(err, WeightsError::TooFewNumbers { needs, holds } if needs > holds),
            "{err}"
        );
        let mut meta = HashMap::new();
        meta.insert("format".to_string(), FORMAT_NAME.to_string());
        meta.insert("version".to_string(), FORMAT_VERSION.to_string());

        let mut fewer = st.tensors();
        fewer.retain(|(name, _)| name != "to_rgb.bias");
        meta.insert("config".to_string(), serde_json::to_string(&cfg).unwrap());
        let missing = safetensors::serialize(fewer, Some(meta)).unwrap();
        let err = load_generator(&missing, &device).unwrap_err();
        assert!(err.to_string().contains("to_rgb.bias"), "{err}");
    }

    /// A one-tensor weights file whose metadata claims `cfg`.
    fn claiming(cfg: &GeneratorConfig) -> Vec<u8> {
        let data = vec![0u8; 16];
        let view = TensorView::new(Dtype::F32, vec![4], &data).unwrap();
        let mut meta = HashMap::new();
        meta.insert("format".to_string(), FORMAT_NAME.to_string());
        meta.insert("version".to_string(), FORMAT_VERSION.to_string());
        meta.insert("config".to_string(), serde_json::to_string(cfg).unwrap());
        safetensors::serialize([("w", view)], Some(meta)).unwrap()
    }

    #[test]
    fn absurd_configs_are_refused_before_allocating() {
        let device = Device::flex();
        let cases = [
            (
                GeneratorConfig::new(100_000, 100_000, vec![8]),
                "100000x100000",
            ),
            (GeneratorConfig::new(2048, 2048, vec![8]), "2097152 pixels"),
            (
                GeneratorConfig::new(16, 32, vec![8; 17]),
                "17 refinement modules",
            ),
            (
                GeneratorConfig::new(16, 32, vec![8, 100_000]),
                "100000 channels",
            ),
            (
                GeneratorConfig::new(16, 32, vec![8]).with_encoder_width(1 << 40),
                "1099511627776 channels",
            ),
            (
                GeneratorConfig::new(16, 32, vec![8]).with_latent_channels(1 << 20),
                "1048576 latent channels",
            ),
            (
                GeneratorConfig::new(16, 32, vec![8]).with_classes(vec![
                    crate::config::ClassEntry {
                        name: "x".into(),
                        color: [0, 0, 0],
                    };
                    300
                ]),
                "300 classes",
            ),
            // 11 modules of 2048 channels at 1024x2048: within every size limit, but about
            // 830 million parameters.
            (
                GeneratorConfig::new(1024, 2048, vec![2048; 11]),
                "more than the 400000000",
            ),
        ];
        for (cfg, part) in cases {
            let bytes = claiming(&cfg);
            let err = read_header(&bytes).unwrap_err();
            assert!(matches!(err, WeightsError::TooLarge(_)), "{err}");
            let msg = err.to_string();
            assert!(msg.contains(part), "{part:?} missing from: {msg}");
            assert!(matches!(
                load_generator(&bytes, &device),
                Err(WeightsError::TooLarge(_))
            ));
        }
        // The largest presets are well inside the limits.
        for p in [Preset::Browser, Preset::Paper] {
            let cfg = p.config();
            check_bounds(&cfg).unwrap();
            assert!(cfg.num_params() * 4 < MAX_PARAMS);
            assert!(cfg.height * cfg.width * 16 <= MAX_RESOLUTION_PIXELS);
        }
        // A valid config the file does not hold the numbers for.
        let err = load_generator(&claiming(&Preset::Browser.config()), &device).unwrap_err();
        assert!(
            matches!(err, WeightsError::TooFewNumbers { holds: 4, .. }),
            "{err}"
        );
    }

    #[test]
    fn non_finite_weights_are_neither_written_nor_read() {
        let (g, cfg, _) = tiny();
        let mut tensors = generator_tensors(&g);
        let meta = BTreeMap::new();
        tensors[1].2[3] = f32::NAN;
        let name = tensors[1].0.clone();
        match save_tensors(tensors.clone(), &cfg, Precision::F32, &meta) {
            Err(WeightsError::NonFinite { name: n, count: 1 }) => assert_eq!(n, name),
            other => panic!("expected NonFinite, got {other:?}"),
        }
        // A file written by another tool with an infinity in it is refused on load.
        tensors[1].2[3] = 1e6;
        match save_tensors(tensors.clone(), &cfg, Precision::F16, &meta) {
            Err(WeightsError::F16Overflow { count: 1, .. }) => {}
            other => panic!("expected F16Overflow, got {other:?}"),
        }
        let bytes = save_tensors(tensors, &cfg, Precision::F32, &meta).unwrap();
        let needle = 1e6f32.to_le_bytes();
        let at = bytes
            .windows(4)
            .position(|w| w == needle)
            .expect("the value is stored");
        let mut broken = bytes.clone();
        broken[at..at + 4].copy_from_slice(&f32::INFINITY.to_le_bytes());
        let device = Device::flex();
        match load_generator(&broken, &device) {
            Err(e @ WeightsError::NonFinite { .. }) => {
                assert!(e.to_string().contains("earlier round"), "{e}")
            }
            Err(other) => panic!("expected NonFinite, got {other}"),
            Ok(_) => panic!("a file with an infinity loaded"),
        }
        assert!(load_generator(&bytes, &device).is_ok());
    }

    #[test]
    fn foreign_files_are_described_without_naming_commands() {
        let data = vec![0u8; 16];
        let view = TensorView::new(Dtype::F32, vec![4], &data).unwrap();
        let mut meta = HashMap::new();
        meta.insert("format".to_string(), "pt".to_string());
        let foreign = safetensors::serialize([("w", view)], Some(meta)).unwrap();
        let msg = read_header(&foreign).unwrap_err().to_string();
        assert!(msg.contains("metadata is \"pt\""), "{msg}");
        assert!(
            !msg.contains("checkpoint.safetensors") && !msg.contains("cimle export"),
            "{msg}"
        );
        let msg = read_header(b"junk").unwrap_err().to_string();
        assert!(!msg.contains("cimle export"), "{msg}");
    }
}
