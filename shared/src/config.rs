//! Generator configuration and its named presets (docs/METHOD.md "Generator").
//!
//! One code path serves every size: the resolution, the width of every refinement module, the
//! noise encoder's width, the latent channels and the class set are all values of
//! [`GeneratorConfig`]. The config travels inside every weights file, so a loader never guesses.

use burn::config::Config;
use core::fmt;
use core::str::FromStr;

use crate::classes::{CLASSES, NUM_CLASSES};

/// One class of the model's class set, as stored in a weights file.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct ClassEntry {
    /// Human-readable name (Cityscapes' official name, or `void`).
    pub name: String,
    /// Palette colour used to draw and decode layouts.
    pub color: [u8; 3],
}

/// The built-in class set: the 19 Cityscapes training classes plus `void`.
pub fn default_classes() -> Vec<ClassEntry> {
    CLASSES
        .iter()
        .map(|c| ClassEntry {
            name: c.name.to_string(),
            color: c.color,
        })
        .collect()
}

/// Shape of a generator `T(x, z)`: cascaded refinement modules plus a noise encoder.
#[derive(Config, Debug, PartialEq)]
pub struct GeneratorConfig {
    /// Output height in pixels; divisible by `2^(modules - 1)`.
    pub height: usize,
    /// Output width in pixels; divisible by `2^(modules - 1)`.
    pub width: usize,
    /// Output channels of each refinement module, coarsest first (one entry per module).
    pub widths: Vec<usize>,
    /// Hidden width of the noise encoder's two 3x3 convolutions (100 in the paper).
    #[config(default = 100)]
    pub encoder_width: usize,
    /// Channels of the spatial latent code and of the encoded noise (10 in the paper).
    #[config(default = 10)]
    pub latent_channels: usize,
    /// The class set: one-hot channels, names and palette colours.
    #[config(default = "default_classes()")]
    pub classes: Vec<ClassEntry>,
    /// Also feed the noise encoder each code channel's spatial mean, scaled by `sqrt(H W)` so
    /// it is N(0, 1) like one noise pixel: a global component of the code that a whole-image
    /// style (time of day, season) can follow ([`crate::generator`]). `None` (files written
    /// before it existed) and `Some(false)`: the released architecture.
    #[config(default = "None")]
    pub global_code: Option<bool>,
}

/// Errors in a generator configuration.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ConfigError {
    #[error("the generator needs at least one refinement module (widths is empty)")]
    NoModules,
    #[error(
        "resolution {height}x{width} is not divisible by 2^{} = {factor} (one halving per module \
         after the first); pick a size that is a multiple of {factor}",
        modules - 1
    )]
    Resolution {
        height: usize,
        width: usize,
        modules: usize,
        factor: usize,
    },
    #[error("every width must be at least 1 (got {0:?})")]
    ZeroWidth(Vec<usize>),
    #[error("the class set is empty")]
    NoClasses,
    #[error("latent_channels and encoder_width must be at least 1")]
    ZeroLatent,
    #[error("unknown preset `{0}`: choose one of tiny, small, browser, paper")]
    UnknownPreset(String),
}

/// The named presets.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Preset {
    /// 16x32, three narrow modules: unit tests, seconds on a CPU.
    Tiny,
    /// 64x128, five modules: the CPU quick-start (trains in minutes).
    Small,
    /// 256x512, seven modules, a few million parameters: runs in a browser over WebGPU.
    Browser,
    /// 256x512, seven modules, 1024/512 channels: the released ~98M-parameter network.
    Paper,
}

impl Preset {
    /// Every preset, smallest first.
    pub const ALL: [Preset; 4] = [Preset::Tiny, Preset::Small, Preset::Browser, Preset::Paper];

    /// The preset's configuration, with the built-in class set.
    pub fn config(self) -> GeneratorConfig {
        match self {
            Preset::Tiny => GeneratorConfig::new(16, 32, vec![16, 16, 8])
                .with_encoder_width(8)
                .with_latent_channels(4),
            Preset::Small => GeneratorConfig::new(64, 128, vec![96, 96, 64, 48, 32])
                .with_encoder_width(16)
                .with_latent_channels(10),
            Preset::Browser => GeneratorConfig::new(256, 512, vec![256, 256, 128, 128, 64, 32, 16])
                .with_encoder_width(16)
                .with_latent_channels(10),
            // docs/METHOD.md "Generator": 1024 channels up to 64x128, 512 at 128x256 and 256x512.
            Preset::Paper => {
                GeneratorConfig::new(256, 512, vec![1024, 1024, 1024, 1024, 1024, 512, 512])
                    .with_encoder_width(100)
                    .with_latent_channels(10)
            }
        }
    }

    /// The preset's name as the CLI spells it.
    pub fn name(self) -> &'static str {
        match self {
            Preset::Tiny => "tiny",
            Preset::Small => "small",
            Preset::Browser => "browser",
            Preset::Paper => "paper",
        }
    }
}

impl fmt::Display for Preset {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

impl FromStr for Preset {
    type Err = ConfigError;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        Preset::ALL
            .into_iter()
            .find(|p| p.name() == s)
            .ok_or_else(|| ConfigError::UnknownPreset(s.to_string()))
    }
}

impl GeneratorConfig {
    /// Number of refinement modules.
    pub fn modules(&self) -> usize {
        self.widths.len()
    }

    /// Number of layout classes (one-hot channels).
    pub fn num_classes(&self) -> usize {
        self.classes.len()
    }

    /// Whether the noise encoder also sees the code's global component.
    pub fn has_global_code(&self) -> bool {
        self.global_code == Some(true)
    }

    /// Input channels of the noise encoder: `[x, z]`, plus the global code when on.
    pub fn encoder_inputs(&self) -> usize {
        let l = self.latent_channels;
        self.num_classes() + l + if self.has_global_code() { l } else { 0 }
    }

    /// `[height, width]` of refinement module `k` (0 = coarsest); each module doubles the size.
    pub fn module_size(&self, k: usize) -> [usize; 2] {
        let shift = self.modules().saturating_sub(1 + k);
        [self.height >> shift, self.width >> shift]
    }

    /// Checks that the configuration describes a buildable network.
    pub fn validate(&self) -> Result<(), ConfigError> {
        let modules = self.modules();
        if modules == 0 {
            return Err(ConfigError::NoModules);
        }
        if self.widths.contains(&0) {
            return Err(ConfigError::ZeroWidth(self.widths.clone()));
        }
        if self.classes.is_empty() {
            return Err(ConfigError::NoClasses);
        }
        if self.latent_channels == 0 || self.encoder_width == 0 {
            return Err(ConfigError::ZeroLatent);
        }
        let factor = 1usize.checked_shl(modules as u32 - 1).unwrap_or(0);
        if factor == 0
            || self.height == 0
            || self.width == 0
            || !self.height.is_multiple_of(factor)
            || !self.width.is_multiple_of(factor)
        {
            return Err(ConfigError::Resolution {
                height: self.height,
                width: self.width,
                modules,
                factor,
            });
        }
        Ok(())
    }

    /// Number of trainable parameters, computed from the shapes alone (no tensors).
    pub fn num_params(&self) -> usize {
        let c = self.num_classes();
        let l = self.latent_channels;
        let e = self.encoder_width;
        // Noise encoder: conv3x3(C+l -> e, bias) + LN(e) + conv3x3(e -> e, bias) + LN(e) + conv1x1(e -> l, bias).
        let mut n = self.encoder_inputs() * e * 9 + e + 2 * e + e * e * 9 + e + 2 * e + e * l + l;
        let mut prev = 0;
        for &w in &self.widths {
            // Two conv3x3 without bias, each followed by a layer norm with scale and offset.
            n += (prev + c + l) * w * 9 + 2 * w + w * w * 9 + 2 * w;
            prev = w;
        }
        // Final 1x1 conv to RGB, with bias.
        n + prev * 3 + 3
    }

    /// Size in bytes (f32) of the largest single activation of one forward pass at batch 1,
    /// the quantity WebGPU's `maxStorageBufferBindingSize` (128 MiB by default) bounds.
    pub fn largest_activation_bytes(&self) -> usize {
        let c = self.num_classes();
        let l = self.latent_channels;
        let full = self.height * self.width;
        let mut largest = full * self.encoder_inputs().max(self.encoder_width);
        let mut prev = 0;
        for (k, &w) in self.widths.iter().enumerate() {
            let [h, wd] = self.module_size(k);
            largest = largest.max(h * wd * (prev + c + l).max(w));
            prev = w;
        }
        largest * 4
    }
}

/// Asserts at compile time that the built-in class set and the config default agree.
const _: () = assert!(NUM_CLASSES == 20);

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn presets_validate_and_parse() {
        for p in Preset::ALL {
            p.config().validate().unwrap();
            assert_eq!(p.name().parse::<Preset>().unwrap(), p);
        }
        assert!(matches!(
            "huge".parse::<Preset>(),
            Err(ConfigError::UnknownPreset(_))
        ));
    }

    #[test]
    fn paper_preset_has_about_98m_parameters() {
        let n = Preset::Paper.config().num_params();
        assert!((97_000_000..100_000_000).contains(&n), "{n}");
    }

    #[test]
    fn browser_preset_is_a_few_million_and_fits_webgpu_default_binding() {
        let cfg = Preset::Browser.config();
        assert!((1_000_000..10_000_000).contains(&cfg.num_params()));
        assert!(cfg.largest_activation_bytes() < 128 << 20);
    }

    #[test]
    fn module_sizes_double_up_to_the_output() {
        let cfg = Preset::Paper.config();
        assert_eq!(cfg.module_size(0), [4, 8]);
        assert_eq!(cfg.module_size(6), [256, 512]);
    }

    #[test]
    fn bad_resolution_is_an_error() {
        let cfg = GeneratorConfig::new(18, 32, vec![8, 8, 8]);
        assert!(matches!(
            cfg.validate(),
            Err(ConfigError::Resolution { .. })
        ));
        assert!(GeneratorConfig::new(16, 32, vec![]).validate().is_err());
    }
}
