//! How a generator is trained, and so how it is sampled: conditional IMLE, its two successors,
//! or the CRN regression baseline ([`Method`]); the name a run records in `config.json` and in
//! its weights file's metadata.

use std::collections::BTreeMap;
use std::fmt;
use std::str::FromStr;

use cimle::latent::LatentCode;
use cimle::model::Sampling;

/// How a generator is trained, and so how it is sampled.
///
/// - [`Method::Cimle`]: conditional IMLE (docs/METHOD.md "Training: conditional IMLE"): every image's
///   training code is the nearest of m random codes; samples use one Gaussian code per seed.
/// - [`Method::Crn`]: the regression baseline (CRN, docs/METHOD.md "The problem"): the same generator
///   with its latent input all zeros, so the noise encoder sees zeros; each step minimises
///   `L(y_k, T(x_k, 0))` directly (with the rarity mask when loss rebalancing is on), with no
///   nearest-code selection. Such a model is sampled with the zero code whatever the seed
///   ([`Method::sampling_code`]): it has one output per layout.
/// - [`Method::RsImle`]: rejection-sampling IMLE (Vashist, Peng & Li, ECCV 2024): candidates
///   closer than ε to the photo are rejected before the nearest is taken
///   ([`crate::selection`]).
/// - [`Method::AdaptiveImle`]: Adaptive IMLE (Aghabozorgi, Peng & Li, ICML 2023): each image
///   keeps its code until its distance falls below its own threshold, which then tightens
///   ([`crate::selection`]).
///
/// A run records its method in `config.json` ([`TrainingConfig::method`]) and in its weights
/// file's metadata under [`METHOD_METADATA_KEY`] (the weights format's free-form provenance
/// entries, which `cimle export` keeps), so every command that renders from a weights file
/// (`sample`, `interpolate`, `animate`, `evaluate`, `compare`) picks the right codes by itself
/// ([`Method::of_weights`]).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default, clap::ValueEnum)]
pub enum Method {
    /// Conditional IMLE (the default).
    #[default]
    Cimle,
    /// Regression with the zero code (the CRN baseline).
    Crn,
    /// Rejection-sampling IMLE.
    RsImle,
    /// Adaptive IMLE.
    AdaptiveImle,
}

/// The weights-file metadata key that names the [`Method`] a model was trained by (`cimle` or
/// `crn`). Files without it (every file written before the CRN baseline existed) are cIMLE.
pub use cimle::model::METHOD_METADATA_KEY;

/// A method name that is none of [`Method::ALL`].
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error(
    "unknown training method {0:?}: choose cimle (conditional IMLE), crn (regression with the zero code), rs-imle (rejection-sampling IMLE) or adaptive-imle"
)]
pub struct UnknownMethod(pub String);

impl Method {
    /// Every method.
    pub const ALL: [Method; 4] = [
        Method::Cimle,
        Method::Crn,
        Method::RsImle,
        Method::AdaptiveImle,
    ];

    /// The name in flags, `config.json` and weights metadata.
    pub fn name(self) -> &'static str {
        match self {
            Method::Cimle => "cimle",
            Method::Crn => "crn",
            Method::RsImle => "rs-imle",
            Method::AdaptiveImle => "adaptive-imle",
        }
    }

    /// The all-zero code of shape `channels x height x width`: a CRN model's only input code.
    pub fn zero_code(channels: usize, height: usize, width: usize) -> LatentCode {
        LatentCode::zeros(channels, height, width)
    }

    /// How a model trained by this method is sampled (the model crate's [`Sampling`]).
    pub fn sampling(self) -> Sampling {
        match self {
            Method::Crn => Sampling::ZeroCode,
            Method::Cimle | Method::RsImle | Method::AdaptiveImle => Sampling::Codes,
        }
    }

    /// The code a model trained by this method renders "seed `seed`" with: the seed's Gaussian
    /// code for cIMLE ([`LatentCode::from_seed`]), the zero code for CRN whatever the seed.
    pub fn sampling_code(
        self,
        seed: u64,
        channels: usize,
        height: usize,
        width: usize,
    ) -> LatentCode {
        self.sampling().code(seed, channels, height, width)
    }

    /// Whether samples of this method depend on the code (false for CRN).
    pub fn uses_codes(self) -> bool {
        self != Method::Crn
    }

    /// The method a weights file's metadata names ([`METHOD_METADATA_KEY`]); cIMLE when the
    /// entry is absent (files from before the baseline existed), an error when it names an
    /// unknown method.
    pub fn of_weights(metadata: &BTreeMap<String, String>) -> Result<Method, UnknownMethod> {
        metadata
            .get(METHOD_METADATA_KEY)
            .map_or(Ok(Method::Cimle), |name| name.parse())
    }
}

impl fmt::Display for Method {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

impl FromStr for Method {
    type Err = UnknownMethod;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        Method::ALL
            .into_iter()
            .find(|m| m.name().eq_ignore_ascii_case(s.trim()))
            .ok_or_else(|| UnknownMethod(s.to_string()))
    }
}

impl serde::Serialize for Method {
    fn serialize<S: serde::Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.serialize_str(self.name())
    }
}

/// Reads `"cimle"` or `"crn"`; `null` **or a missing field** reads as [`Method::Cimle`].
///
/// burn's `Config` derive copies no `#[serde(default)]` onto its fields, so a `config.json`
/// saved before `method` existed would not load if this read a plain string. Reading through
/// `Option` makes serde hand a missing field to us as `None` (as it does for `Option` fields).
impl<'de> serde::Deserialize<'de> for Method {
    fn deserialize<D: serde::Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        match Option::<String>::deserialize(deserializer)? {
            None => Ok(Method::Cimle),
            Some(name) => name.parse().map_err(serde::de::Error::custom),
        }
    }
}
