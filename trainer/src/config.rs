//! Everything that defines a training run ([`TrainingConfig`], saved as `RUN/config.json`), the
//! defaults of each preset ([`TrainingConfig::for_preset`]) and the learning-rate schedule.

use burn::config::Config;
use burn::optim::AdamConfig;
use cimle::config::{GeneratorConfig, Preset};

use crate::method::Method;

/// Everything that defines a training run; saved as `config.json` beside the run.
#[derive(Config, Debug)]
pub struct TrainingConfig {
    /// The generator's shape.
    pub generator: GeneratorConfig,
    /// The optimiser (Adam, as released).
    #[config(default = "AdamConfig::new()")]
    pub optimizer: AdamConfig,
    /// Number of rounds (16 released).
    #[config(default = 16)]
    pub rounds: usize,
    /// |S|: training pairs selected per round (400 released).
    #[config(default = 400)]
    pub images_per_round: usize,
    /// m: latent codes tried per image (10 released).
    #[config(default = 10)]
    pub candidates: usize,
    /// Adam steps between two selections (10,000 released).
    #[config(default = 10000)]
    pub steps_per_round: usize,
    /// Pairs per Adam step (1 released).
    #[config(default = 1)]
    pub batch_size: usize,
    /// Learning rate before the re-initialisation (1e-4 released).
    #[config(default = 1e-4)]
    pub lr: f64,
    /// After this many rounds: new noise encoder, lr / 10 (6 released). `None`: never.
    #[config(default = "Some(6)")]
    pub reinit_after_rounds: Option<usize>,
    /// From this round on, lr / 10 without a new noise encoder: the end of a short run spent
    /// at a smaller step. `None` (the released schedule, and configs written before it
    /// existed): only the re-initialisation lowers the lr.
    #[config(default = "None")]
    pub lr_decay_after_rounds: Option<usize>,
    /// Renders per forward pass during selection; 0 picks it (one image's m codes on the CPU
    /// kernels, from available memory on a GPU).
    #[config(default = 0)]
    pub selection_batch: usize,
    /// Seed of everything random in the run (data order, latent codes).
    #[config(default = 0)]
    pub seed: u64,
    /// What the distance is (recorded for reports).
    #[config(default = "String::new()")]
    pub distance: String,
    /// What the data is (recorded for reports).
    #[config(default = "String::new()")]
    pub data: String,
    /// Dataset rebalancing: S split among the five largest classes, images drawn in proportion
    /// to their rarity (supplementary appendix A). Off: S is drawn uniformly.
    #[config(default = true)]
    pub dataset_rebalance: bool,
    /// Loss rebalancing: the rarity mask weighs the distance in selection and training.
    #[config(default = true)]
    pub loss_rebalance: bool,
    /// Classes present in fewer images get no KDE (68 released: "67 images or fewer").
    #[config(default = 68)]
    pub rarity_min_images: usize,
    /// cIMLE (the default) or the CRN regression baseline ([`Method`]). A CRN run keeps every
    /// other setting, including the round structure (S images a round, L steps of B pairs, the
    /// lr schedule and re-initialisation), so it takes the same gradient steps
    /// ([`TrainingConfig::gradient_steps`]); it ignores `candidates`. Absent from a saved
    /// `config.json` (older runs): cIMLE.
    #[config(default = "Method::Cimle")]
    pub method: Method,
    /// Dataset rebalancing draws images in proportion to `R_p(k)^t` (`None`: 1, the paper's).
    #[config(default = "None")]
    pub sampling_temper: Option<f64>,
    /// Loss rebalancing weighs pixels by `M̂^t` (`None`: 1, the paper's).
    #[config(default = "None")]
    pub mask_temper: Option<f64>,
    /// Area balancing (`--area-balance α`): the distance weighs each pixel by its class's
    /// share of the image to the power −α ([`crate::rebalance::area_mask`]), in selection and
    /// training, times the rarity mask when loss rebalancing is on too. `None`: off (the
    /// released code's, and configs written before it existed).
    #[config(default = "None")]
    pub area_balance: Option<f64>,
    /// RS-IMLE's ε as a fraction of the median distance between two training photos (`None`:
    /// [`crate::selection::RS_EPSILON_RATIO`]).
    #[config(default = "None")]
    pub rs_epsilon_ratio: Option<f64>,
    /// Adaptive IMLE: how much a threshold tightens when it is reached (`None`:
    /// [`crate::selection::ADAPTIVE_GAMMA`]).
    #[config(default = "None")]
    pub adaptive_gamma: Option<f64>,
    /// Adaptive IMLE: rounds an image trains with a code before it may change (`None`:
    /// [`crate::selection::ADAPTIVE_STALENESS`]).
    #[config(default = "None")]
    pub adaptive_staleness: Option<usize>,
    /// Adaptive IMLE: rounds after which a code is replaced anyway (`None`:
    /// [`crate::selection::ADAPTIVE_FORCE`]).
    #[config(default = "None")]
    pub adaptive_force: Option<usize>,
}

/// Which settings `cimle train` and `cimle compare` start from (`--recipe`); every flag given
/// overrides its part.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Recipe {
    /// What docs/TRAINING.md's study measured best on 2 CPU cores at 64x128, on the built-in
    /// scenes: no dataset or loss rebalancing (both over-drew dusk and night), the global code,
    /// no encoder re-initialisation, four pairs a step, lr / 10 for the last two rounds, the
    /// half-width random-feature VGG-19, and 28 rounds for the small preset. The small preset's
    /// default.
    Study,
    /// The released code's settings on the preset's budget ([`TrainingConfig::for_preset`]):
    /// both rebalancings, no global code, a new noise encoder and lr / 10 after round 6, a
    /// batch of one, the full-width VGG-19. The default of the presets the study did not
    /// measure (tiny, browser, paper).
    Released,
}

impl Recipe {
    /// The recipe a preset starts from when `--recipe` is not given.
    pub fn default_for(preset: Preset) -> Self {
        match preset {
            Preset::Small => Recipe::Study,
            Preset::Tiny | Preset::Browser | Preset::Paper => Recipe::Released,
        }
    }

    /// Channel divisor of the random-feature VGG-19 the distance uses (`--vgg-width-div`).
    pub fn vgg_width_div(self) -> usize {
        match self {
            Recipe::Study => 2,
            Recipe::Released => 1,
        }
    }

    pub fn name(self) -> &'static str {
        match self {
            Recipe::Study => "study",
            Recipe::Released => "released",
        }
    }
}

impl std::fmt::Display for Recipe {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.name())
    }
}

/// Pairs per Adam step in the study recipe: four pairs a step beat four times the steps of
/// one pair (docs/TRAINING.md, third batch).
pub const STUDY_BATCH_SIZE: usize = 4;
/// Rounds of the small preset in the study recipe: 28 rounds of 4 pairs a step fit the
/// quick-start's 20 minutes on 2 cores (14.3 min); over four draws they beat 20 rounds on
/// sharpness and on time-of-day and mean TV, and match them on PSNR (docs/TRAINING.md, fifth
/// batch).
pub const STUDY_SMALL_ROUNDS: usize = 28;
/// Rounds at the end of a study-recipe run trained at lr / 10 (docs/TRAINING.md, third batch).
pub const STUDY_DECAYED_ROUNDS: usize = 2;

impl TrainingConfig {
    /// α of area balancing when it weighs anything (`--area-balance` above 0; α = 0 weighs
    /// every pixel alike).
    pub fn area_alpha(&self) -> Option<f64> {
        self.area_balance.filter(|&a| a > 0.0)
    }

    /// `cimle train`'s defaults for a preset and a recipe: the preset's budget
    /// ([`Self::for_preset`]) with the recipe's settings. The study's lr drop comes
    /// [`STUDY_DECAYED_ROUNDS`] before the recipe's last round; a run given other `--rounds`
    /// keeps that round unless `--lr-decay-after` moves it, so that `--resume` with more rounds
    /// continues the same schedule.
    pub fn for_recipe(preset: Preset, recipe: Recipe) -> Self {
        let config = Self::for_preset(preset);
        match recipe {
            Recipe::Released => config,
            Recipe::Study => {
                let rounds = match preset {
                    Preset::Small => STUDY_SMALL_ROUNDS,
                    Preset::Tiny | Preset::Browser | Preset::Paper => config.rounds,
                };
                let decay = rounds.saturating_sub(STUDY_DECAYED_ROUNDS);
                let mut config = config;
                config.generator = config.generator.with_global_code(Some(true));
                config
                    .with_rounds(rounds)
                    .with_batch_size(STUDY_BATCH_SIZE)
                    .with_reinit_after_rounds(None)
                    .with_lr_decay_after_rounds((decay > 0).then_some(decay))
                    .with_dataset_rebalance(false)
                    .with_loss_rebalance(false)
            }
        }
    }

    /// The released recipe for a preset: its generator and the CPU quick-start budget of the
    /// small presets (docs/TRAINING.md), the released schedule for the large ones; a batch of
    /// 1, and as released a new noise encoder and lr / 10 after round 6 (of 16), except for the
    /// tiny preset's two rounds.
    pub fn for_preset(preset: Preset) -> Self {
        let (rounds, images_per_round, candidates, steps_per_round) = match preset {
            Preset::Tiny => (2, 8, 4, 10),
            Preset::Small => (16, 32, 10, 150),
            Preset::Browser | Preset::Paper => (16, 400, 10, 10000),
        };
        let config = TrainingConfig::new(preset.config());
        // The CPU quick-start takes 2,400 steps, not 160,000: a larger step size.
        let lr = match preset {
            Preset::Tiny | Preset::Small => 1e-3,
            Preset::Browser | Preset::Paper => config.lr,
        };
        config
            .with_rounds(rounds)
            .with_images_per_round(images_per_round)
            .with_candidates(candidates)
            .with_steps_per_round(steps_per_round)
            .with_batch_size(1)
            .with_lr(lr)
            .with_reinit_after_rounds((preset != Preset::Tiny).then_some(6))
    }

    /// Adam steps of the whole run: rounds x steps per round (each on `batch_size` pairs). Runs
    /// that are compared take equal budgets: the same value here, the same batch size and the
    /// same lr schedule.
    pub fn gradient_steps(&self) -> usize {
        self.rounds * self.steps_per_round
    }

    /// Training pairs seen over the run: [`Self::gradient_steps`] x batch size.
    pub fn pairs_seen(&self) -> usize {
        self.gradient_steps() * self.batch_size.max(1)
    }
}

/// The generator's learning rate in round `round` (0-based): lr, then lr / 10 from the
/// re-initialisation round or the decay round, whichever comes first.
pub fn round_lr(config: &TrainingConfig, round: usize) -> f64 {
    let lowered = [config.reinit_after_rounds, config.lr_decay_after_rounds]
        .into_iter()
        .flatten()
        .any(|r| round >= r);
    if lowered { config.lr / 10.0 } else { config.lr }
}

#[cfg(test)]
mod tests {
    use std::collections::BTreeMap;

    use cimle::latent::LatentCode;

    use super::*;
    use crate::method::METHOD_METADATA_KEY;

    #[test]
    fn the_method_is_saved_and_older_configs_read_as_cimle() {
        let cfg = TrainingConfig::new(Preset::Tiny.config()).with_method(Method::Crn);
        let mut json = serde_json::to_value(&cfg).unwrap();
        assert_eq!(json["method"], "crn");
        let back: TrainingConfig = serde_json::from_value(json.clone()).unwrap();
        assert_eq!(back.method, Method::Crn);
        // A config.json from before the field existed.
        json.as_object_mut().unwrap().remove("method");
        let old: TrainingConfig = serde_json::from_value(json.clone()).unwrap();
        assert_eq!(old.method, Method::Cimle);
        json["method"] = "gan".into();
        assert!(serde_json::from_value::<TrainingConfig>(json).is_err());
        // The weights metadata entry.
        let mut meta = BTreeMap::new();
        assert_eq!(Method::of_weights(&meta), Ok(Method::Cimle));
        meta.insert(METHOD_METADATA_KEY.to_string(), "crn".to_string());
        assert_eq!(Method::of_weights(&meta), Ok(Method::Crn));
        meta.insert(METHOD_METADATA_KEY.to_string(), "gan".to_string());
        assert!(Method::of_weights(&meta).is_err());
        assert_eq!("CRN".parse::<Method>(), Ok(Method::Crn));
        // Sampling: a seed's Gaussian code for cIMLE, zeros for CRN.
        let c = Method::Cimle.sampling_code(7, 2, 4, 8);
        assert_eq!(c, LatentCode::from_seed(7, 2, 4, 8));
        assert!(
            Method::Crn
                .sampling_code(7, 2, 4, 8)
                .data()
                .iter()
                .all(|&v| v == 0.0)
        );
    }

    #[test]
    fn lr_drops_tenfold_after_the_reinit_round() {
        let cfg = TrainingConfig::new(Preset::Tiny.config()).with_reinit_after_rounds(Some(2));
        assert_eq!(round_lr(&cfg, 1), 1e-4);
        assert!((round_lr(&cfg, 2) - 1e-5).abs() < 1e-12);
    }

    #[test]
    fn lr_decays_tenfold_without_a_reinit() {
        let cfg = TrainingConfig::new(Preset::Tiny.config())
            .with_reinit_after_rounds(None)
            .with_lr_decay_after_rounds(Some(3));
        assert_eq!(round_lr(&cfg, 2), 1e-4);
        assert!((round_lr(&cfg, 3) - 1e-5).abs() < 1e-12);
        // The earlier of the two rounds wins.
        let both = cfg.with_reinit_after_rounds(Some(1));
        assert!((round_lr(&both, 1) - 1e-5).abs() < 1e-12);
        // Configs written before the field existed keep the released schedule.
        let mut json = serde_json::to_value(TrainingConfig::new(Preset::Tiny.config())).unwrap();
        json.as_object_mut()
            .unwrap()
            .remove("lr_decay_after_rounds");
        let old: TrainingConfig = serde_json::from_value(json).unwrap();
        assert_eq!(old.lr_decay_after_rounds, None);
    }

    #[test]
    fn presets_have_their_budgets_and_the_released_schedule() {
        let tiny = TrainingConfig::for_preset(Preset::Tiny);
        assert_eq!(tiny.generator, Preset::Tiny.config());
        assert_eq!(
            (
                tiny.rounds,
                tiny.images_per_round,
                tiny.candidates,
                tiny.steps_per_round
            ),
            (2, 8, 4, 10)
        );
        assert_eq!((tiny.lr, tiny.reinit_after_rounds), (1e-3, None));
        let small = TrainingConfig::for_preset(Preset::Small);
        assert_eq!(
            (
                small.rounds,
                small.images_per_round,
                small.candidates,
                small.steps_per_round
            ),
            (16, 32, 10, 150)
        );
        assert_eq!((small.lr, small.reinit_after_rounds), (1e-3, Some(6)));
        for preset in [Preset::Browser, Preset::Paper] {
            let c = TrainingConfig::for_preset(preset);
            assert_eq!(c.generator, preset.config());
            assert_eq!(
                (c.rounds, c.images_per_round, c.steps_per_round),
                (16, 400, 10000)
            );
            assert_eq!(
                (c.lr, c.batch_size, c.reinit_after_rounds),
                (1e-4, 1, Some(6))
            );
        }
    }
}
