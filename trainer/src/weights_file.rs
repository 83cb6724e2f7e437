//! A weights file read from disk for rendering: the generator, what the file says about itself,
//! and how its model is sampled (its training [`Method`]). Its resolution is checked against
//! [`MAX_IMAGE_PIXELS`](crate::limits::MAX_IMAGE_PIXELS) before anything of that size is built.

use std::path::{Path, PathBuf};

use burn::tensor::Device;
use cimle::generator::Generator;
use cimle::weights::{WeightsError, WeightsHeader, load_generator, read_header};

use crate::limits::{LimitError, check_image};
use crate::method::{Method, UnknownMethod};

/// Why a weights file could not be used. Every variant names the file.
#[derive(Debug, thiserror::Error)]
pub enum WeightsFileError {
    #[error(
        "reading weights {}: {error}; give a run's weights.safetensors or a `cimle export` file",
        path.display()
    )]
    Read {
        path: PathBuf,
        error: std::io::Error,
    },
    #[error("{}: {error}", path.display())]
    Weights { path: PathBuf, error: WeightsError },
    #[error("{}: {error}", path.display())]
    Method { path: PathBuf, error: UnknownMethod },
    #[error("{error}")]
    TooLarge { error: LimitError },
}

/// A weights file, loaded.
pub struct WeightsFile {
    pub generator: Generator,
    pub header: WeightsHeader,
    /// How the model was trained, and so how it is sampled (no entry: cIMLE).
    pub method: Method,
}

impl WeightsFile {
    /// Reads `path` and builds its generator on `device`.
    pub fn load(path: &Path, device: &Device) -> Result<Self, WeightsFileError> {
        let bytes = std::fs::read(path).map_err(|error| WeightsFileError::Read {
            path: path.to_path_buf(),
            error,
        })?;
        let weights = |error| WeightsFileError::Weights {
            path: path.to_path_buf(),
            error,
        };
        let header = read_header(&bytes).map_err(weights)?;
        check_image(
            &format!("{}: the model's resolution", path.display()),
            header.config.height,
            header.config.width,
            "this model is too large to render",
        )
        .map_err(|error| WeightsFileError::TooLarge { error })?;
        let method =
            Method::of_weights(&header.metadata).map_err(|error| WeightsFileError::Method {
                path: path.to_path_buf(),
                error,
            })?;
        let (generator, header) = load_generator(&bytes, device).map_err(weights)?;
        Ok(Self {
            generator,
            header,
            method,
        })
    }

    /// [`WeightsFile::load`] on `device` for a command that samples: says on stderr, for a CRN
    /// model, that every sample uses the zero code.
    pub fn load_for_sampling(path: &Path, device: &Device) -> Result<Self, WeightsFileError> {
        let file = Self::load(path, device)?;
        file.note_sampling(path);
        Ok(file)
    }

    /// Says on stderr, for a CRN model, that every sample uses the zero code.
    fn note_sampling(&self, path: &Path) {
        if self.method == Method::Crn {
            eprintln!(
                "note: {} is a CRN model (regression, trained without noise): every sample uses \
                 the zero code, whatever the seed",
                path.display()
            );
        }
    }
}

#[cfg(test)]
mod tests {
    use std::collections::BTreeMap;

    use cimle::config::Preset;
    use cimle::weights::{Precision, save_generator};

    use super::*;

    fn write(name: &str, bytes: &[u8]) -> PathBuf {
        let path =
            std::env::temp_dir().join(format!("cimle-weights-{name}-{}", std::process::id()));
        std::fs::write(&path, bytes).unwrap();
        path
    }

    #[test]
    fn loads_a_model_and_its_method() {
        let device = Device::flex();
        let cfg = Preset::Tiny.config();
        let g = cfg.init_seeded(&device, 2);
        let mut meta = BTreeMap::new();
        meta.insert("method".to_string(), "crn".to_string());
        let path = write(
            "crn",
            &save_generator(&g, &cfg, Precision::F32, &meta).unwrap(),
        );
        let file = WeightsFile::load(&path, &device).unwrap();
        assert_eq!(file.method, Method::Crn);
        assert_eq!(file.header.config, cfg);
        std::fs::remove_file(path).unwrap();
    }

    #[test]
    fn a_huge_resolution_is_refused_before_anything_is_built() {
        let device = Device::flex();
        let cfg = Preset::Tiny.config();
        let g = cfg.init_seeded(&device, 2);
        let bytes = save_generator(&g, &cfg, Precision::F32, &BTreeMap::new()).unwrap();
        // The same file with a config that claims 100000x100000 (a multiple of 4, so valid).
        let (_, meta) = safetensors::SafeTensors::read_metadata(&bytes).unwrap();
        let mut metadata = meta.metadata().clone().unwrap();
        let config = metadata["config"]
            .replace("\"height\":16", "\"height\":100000")
            .replace("\"width\":32", "\"width\":100000");
        assert_ne!(config, metadata["config"]);
        metadata.insert("config".into(), config);
        let forged = forge(&bytes, metadata);
        let path = write("huge", &forged);
        let err = WeightsFile::load(&path, &device).err().unwrap().to_string();
        assert!(err.contains("100000x100000"), "{err}");
        assert!(err.contains("2097152 pixels"), "{err}");
        std::fs::remove_file(path).unwrap();
        // An unreadable file names itself and what to give instead.
        let err = WeightsFile::load(Path::new("/nonexistent/w.safetensors"), &device)
            .err()
            .unwrap()
            .to_string();
        assert!(err.contains("/nonexistent/w.safetensors"), "{err}");
        assert!(err.contains("cimle export"), "{err}");
    }

    /// `bytes` (a safetensors file) with its metadata replaced.
    fn forge(bytes: &[u8], metadata: std::collections::HashMap<String, String>) -> Vec<u8> {
        let n = u64::from_le_bytes(bytes[..8].try_into().unwrap()) as usize;
        let mut header: serde_json::Value = serde_json::from_slice(&bytes[8..8 + n]).unwrap();
        header["__metadata__"] = serde_json::to_value(metadata).unwrap();
        let mut text = serde_json::to_vec(&header).unwrap();
        while !text.len().is_multiple_of(8) {
            text.push(b' ');
        }
        let mut out = (text.len() as u64).to_le_bytes().to_vec();
        out.extend_from_slice(&text);
        out.extend_from_slice(&bytes[8 + n..]);
        out
    }
}
