//! What a training run learns from and its budget, the flags `train` and `compare` share:
//! checked into a [`Budget`], then loaded into everything a run needs ([`Budget::prepare`]: the
//! pairs, their rarity scores, the distance's network and layer weights, the device).

use anyhow::{Context, Result, bail};
use cimle::config::Preset;

use super::checks::{at_least, at_most, positive, synth_count};
use crate::backend::Backend;
use crate::cli::flags::{BudgetFlags, VggFlags};
use crate::config::{Recipe, TrainingConfig};
use crate::data::source::DataSource;
use crate::data::{LoadOptions, Pair};
use crate::perceptual::{LayerWeights, LayerWeightsChoice};
use crate::rebalance::{RarityScores, cached_scores};
use crate::run::RunInputs;
use crate::vgg::{Vgg19Features, VggSource};
use cimle::label_png::ColorPolicy;

/// The most renders one selection pass may share (`--selection-batch`).
pub const MAX_SELECTION_BATCH: usize = 4096;

/// The checked budget flags.
#[derive(Debug, Clone)]
pub struct Budget {
    pub preset: Preset,
    /// The settings the flags started from.
    pub recipe: Recipe,
    /// The preset's defaults with every flag that overrides them; `data` and `distance` (the
    /// descriptions) are filled in by [`Budget::prepare`].
    pub config: TrainingConfig,
    pub data: DataSource,
    pub backend: Backend,
    pub vgg: VggSource,
    pub layer_weights: LayerWeightsChoice,
}

/// `--vgg19` / `--vgg-width-div` (`default_div` when not given), checked.
pub fn vgg_source(f: &VggFlags, default_div: usize) -> Result<VggSource> {
    match &f.vgg19 {
        Some(path) => Ok(VggSource::Torchvision(path.clone())),
        None => {
            let width_div = f.vgg_width_div.unwrap_or(default_div);
            if width_div == 0 || 64 % width_div != 0 {
                bail!(
                    "--vgg-width-div {width_div}: give a divisor of 64 (1, 2, 4, 8, 16, 32 or 64)"
                );
            }
            Ok(VggSource::Random { width_div })
        }
    }
}

/// The network of `source` on `device`, an error saying which it was.
pub fn build_vgg(source: &VggSource, device: &burn::tensor::Device) -> Result<Vgg19Features> {
    source.build(device).with_context(|| match source {
        VggSource::Torchvision(path) => format!("loading VGG-19 weights from {}", path.display()),
        VggSource::Random { .. } => "building the random-feature VGG-19".to_string(),
    })
}

impl Budget {
    /// Checks the flags and sets the run's config from the recipe's defaults for the preset
    /// ([`TrainingConfig::for_recipe`]) and the flags given.
    pub fn from_flags(f: &BudgetFlags) -> Result<Self> {
        let preset = Preset::from(f.preset);
        let recipe = f
            .recipe
            .map(Recipe::from)
            .unwrap_or(Recipe::default_for(preset));
        let mut config = TrainingConfig::for_recipe(preset, recipe);
        let reasons = [
            (f.rounds, "--rounds", "a run needs a round"),
            (
                f.images_per_round,
                "--images-per-round",
                "a round trains on some images",
            ),
            (
                f.candidates,
                "--candidates",
                "selection picks among at least one code",
            ),
            (
                f.steps_per_round,
                "--steps-per-round",
                "a round takes Adam steps",
            ),
            (f.batch_size, "--batch-size", "a step trains on some pairs"),
            (f.limit, "--limit", "a run needs data"),
        ];
        for (value, flag, why) in reasons {
            if let Some(v) = value {
                at_least(flag, v, 1, why)?;
            }
        }
        if let Some(lr) = f.lr {
            positive("--lr", lr)?;
        }
        at_most(
            "--selection-batch",
            f.selection_batch,
            MAX_SELECTION_BATCH,
            "renders a forward pass; 0 picks it from the memory available",
        )?;
        config.rounds = f.rounds.unwrap_or(config.rounds);
        config.images_per_round = f.images_per_round.unwrap_or(config.images_per_round);
        config.candidates = f.candidates.unwrap_or(config.candidates);
        config.steps_per_round = f.steps_per_round.unwrap_or(config.steps_per_round);
        config.batch_size = f.batch_size.unwrap_or(config.batch_size);
        config.lr = f.lr.unwrap_or(config.lr);
        if let Some(r) = f.reinit_after {
            config.reinit_after_rounds = (r > 0).then_some(r);
        }
        if let Some(r) = f.lr_decay_after {
            config.lr_decay_after_rounds = (r > 0).then_some(r);
        }
        if let Some(global) = f.global_code {
            // Off is written as absent, the released architecture's value in older configs.
            config.generator = config
                .generator
                .with_global_code(global.is_on().then_some(true));
        }
        let config = config
            .with_selection_batch(f.selection_batch)
            .with_seed(f.seed)
            .with_rarity_min_images(f.rarity_min_images);
        let data = DataSource::from_flag(
            &f.data,
            f.seed,
            f.synth_count,
            LoadOptions {
                color_policy: color_policy(f.map_unknown_colors),
                limit: f.limit,
            },
        );
        if data.is_synth() {
            synth_count(f.synth_count, "training needs scenes")?;
        }
        Ok(Self {
            preset,
            recipe,
            config,
            data,
            backend: f.backend,
            vgg: vgg_source(&f.vgg, recipe.vgg_width_div())?,
            layer_weights: f.layer_weights,
        })
    }

    /// Reads the data and builds the run's distance. `rarity`: whether any run will rebalance
    /// (then the rarity scores are computed, or read from their cache beside a dataset).
    pub fn prepare(&self, rarity: bool) -> Result<Prepared> {
        let backend = self.backend.resolve();
        let device = backend.device()?;
        let (h, w) = (self.config.generator.height, self.config.generator.width);
        let (pairs, data_desc) = self.data.load(h, w)?;
        let rarity = if rarity {
            let cache = self.data.rarity_cache();
            Some(
                cached_scores(cache.as_deref(), &pairs, self.config.rarity_min_images)
                    .context("computing rarity scores")?,
            )
        } else {
            None
        };
        let vgg = build_vgg(&self.vgg, &device)?;
        let vgg_desc = vgg.describe().to_string();
        let photos: Vec<&[u8]> = pairs.iter().map(|p| p.image.as_slice()).collect();
        let layer_weights = self
            .layer_weights
            .resolve(&vgg, &photos, (h, w), &device)
            .context("--layer-weights auto")?;
        let config = self
            .config
            .clone()
            .with_data(data_desc.clone())
            .with_distance(format!("{vgg_desc}, layer weights {:?}", layer_weights.0));
        Ok(Prepared {
            config,
            pairs,
            rarity,
            vgg,
            layer_weights,
            device,
            backend,
            data_desc,
            vgg_desc,
        })
    }
}

/// `--map-unknown-colors` as a colour policy.
pub fn color_policy(map_unknown_colors: bool) -> ColorPolicy {
    if map_unknown_colors {
        ColorPolicy::MapToNearest
    } else {
        ColorPolicy::Strict
    }
}

/// Everything a run needs that the flags decide, loaded.
pub struct Prepared {
    /// The budget's config, with what the data and the distance are.
    pub config: TrainingConfig,
    pub pairs: Vec<Pair>,
    /// The pairs' rarity scores, when asked for.
    pub rarity: Option<RarityScores>,
    pub vgg: Vgg19Features,
    pub layer_weights: LayerWeights,
    pub device: burn::tensor::Device,
    /// The backend `auto` resolved to.
    pub backend: Backend,
    pub data_desc: String,
    pub vgg_desc: String,
}

impl Prepared {
    /// What a run (or each run of a comparison) learns from and measures with.
    pub fn run_inputs(&self) -> RunInputs<'_> {
        RunInputs {
            pairs: &self.pairs,
            rarity: self.rarity.as_ref(),
            vgg: self.vgg.clone(),
            layer_weights: self.layer_weights,
            device: self.device.clone(),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::cli::parse_flags;

    fn budget(args: &[&str]) -> Result<Budget> {
        Budget::from_flags(&parse_flags::<BudgetFlags>(args)?)
    }

    fn json(c: &TrainingConfig) -> serde_json::Value {
        serde_json::to_value(c).unwrap()
    }

    #[test]
    fn the_preset_gives_the_defaults_and_flags_override_them() {
        let b = budget(&[]).unwrap();
        assert_eq!((b.preset, b.recipe), (Preset::Small, Recipe::Study));
        let d = TrainingConfig::for_recipe(Preset::Small, Recipe::Study);
        assert_eq!((b.config.rounds, b.config.lr), (d.rounds, d.lr));
        assert_eq!(b.vgg, VggSource::Random { width_div: 2 });
        assert_eq!(
            b.data,
            DataSource::Synth {
                seed: 0,
                count: 400
            }
        );
        let b = budget(&[
            "--preset",
            "tiny",
            "--rounds",
            "5",
            "--lr",
            "0.01",
            "--reinit-after",
            "0",
            "--global-code",
            "on",
            "--seed",
            "9",
            "--batch-size",
            "3",
        ])
        .unwrap();
        assert_eq!(
            b.config.generator,
            Preset::Tiny.config().with_global_code(Some(true))
        );
        assert_eq!(
            (b.config.rounds, b.config.lr, b.config.batch_size),
            (5, 0.01, 3)
        );
        assert_eq!((b.config.reinit_after_rounds, b.config.seed), (None, 9));
        let b = budget(&["--preset", "small", "--reinit-after", "3"]).unwrap();
        assert_eq!(b.config.reinit_after_rounds, Some(3));
    }

    #[test]
    fn the_recipe_sets_the_study_settings_and_flags_still_override_them() {
        // The small preset starts from the study; the others from the released settings.
        let study = budget(&["--preset", "small"]).unwrap().config;
        assert_eq!(
            (
                study.rounds,
                study.batch_size,
                study.reinit_after_rounds,
                study.lr_decay_after_rounds
            ),
            (28, 4, None, Some(26))
        );
        assert!(study.generator.has_global_code());
        assert!(!study.dataset_rebalance && !study.loss_rebalance);
        for preset in ["tiny", "browser", "paper"] {
            let b = budget(&["--preset", preset]).unwrap();
            assert_eq!(b.recipe, Recipe::Released, "{preset}");
            assert_eq!(
                json(&b.config),
                json(&TrainingConfig::for_preset(b.preset)),
                "{preset}: the released settings"
            );
            assert_eq!(b.vgg, VggSource::Random { width_div: 1 });
        }
        // One flag away: the released settings of the small preset.
        let b = budget(&["--recipe", "released"]).unwrap();
        assert_eq!(
            json(&b.config),
            json(&TrainingConfig::for_preset(Preset::Small))
        );
        assert_eq!(b.vgg, VggSource::Random { width_div: 1 });
        let released = &b.config;
        assert_eq!(
            (released.batch_size, released.reinit_after_rounds),
            (1, Some(6))
        );
        assert!(released.dataset_rebalance && released.loss_rebalance);
        assert!(!released.generator.has_global_code());
        // The study on a large preset: its settings on that preset's budget.
        let b = budget(&["--preset", "browser", "--recipe", "study"]).unwrap();
        assert_eq!(
            (
                b.config.rounds,
                b.config.batch_size,
                b.config.lr_decay_after_rounds
            ),
            (16, 4, Some(14))
        );
        // Flags override the recipe's parts.
        let b = budget(&[
            "--global-code",
            "off",
            "--batch-size",
            "1",
            "--lr-decay-after",
            "0",
            "--reinit-after",
            "6",
            "--vgg-width-div",
            "4",
        ])
        .unwrap();
        let c = &b.config;
        assert!(!c.generator.has_global_code());
        assert_eq!(c.generator, Preset::Small.config());
        assert_eq!(
            (c.batch_size, c.lr_decay_after_rounds, c.reinit_after_rounds),
            (1, None, Some(6))
        );
        assert_eq!(b.vgg, VggSource::Random { width_div: 4 });
    }

    #[test]
    fn meaningless_numbers_are_refused_with_their_flag() {
        for (args, said) in [
            (&["--lr", "nan"][..], "--lr NaN"),
            (&["--lr", "inf"], "--lr inf"),
            (&["--lr=-0.1"], "--lr -0.1"),
            (&["--lr", "0"], "--lr 0"),
            (&["--rounds", "0"], "--rounds 0"),
            (&["--candidates", "0"], "--candidates 0"),
            (&["--images-per-round", "0"], "--images-per-round 0"),
            (&["--steps-per-round", "0"], "--steps-per-round 0"),
            (&["--batch-size", "0"], "--batch-size 0"),
            (&["--limit", "0"], "--limit 0"),
            (&["--synth-count", "0"], "--synth-count 0"),
            (&["--synth-count", "2000000"], "--synth-count 2000000"),
            (&["--vgg-width-div", "3"], "--vgg-width-div 3"),
            (&["--selection-batch", "100000"], "--selection-batch 100000"),
        ] {
            let err = budget(args).err().unwrap().to_string();
            assert!(err.starts_with(said), "{args:?}: {err}");
        }
        // Choices are clap's: a wrong one lists the right ones.
        let err = budget(&["--preset", "huge"]).err().unwrap().to_string();
        assert!(err.contains("tiny, small, browser, paper"), "{err}");
        let err = budget(&["--global-code", "yes"]).err().unwrap().to_string();
        assert!(err.contains("on, off"), "{err}");
    }
}
