//! `cimle train`: the flags checked into [`TrainSettings`], then one run ([`train_run`]).

use std::path::PathBuf;
use std::time::Instant;

use anyhow::Result;

use super::budget::Budget;
use super::checks::{at_least, non_negative, renders};
use crate::cli::flags::TrainFlags;
use crate::cli::values::Switch;
use crate::cpu_vgg::CpuDistance;
use crate::fs::prepare_dir;
use crate::method::Method;
use crate::perceptual::LayerWeights;
use crate::run::{EvalOptions, RunOptions, train_run};

/// `--eval-every` and its measurement.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct EvalSettings {
    pub every: usize,
    pub layouts: usize,
    pub samples: usize,
    pub seed: u64,
}

/// Largest `--area-balance`: beyond it the largest class's pixels weigh under 1e-4 of the
/// smallest's and the distance all but ignores the road.
const MAX_AREA_BALANCE: f64 = 2.0;

/// A checked `cimle train`.
#[derive(Debug, Clone)]
pub struct TrainSettings {
    pub out: PathBuf,
    pub resume: bool,
    /// The budget, its config carrying the method and rebalancing flags.
    pub budget: Budget,
    pub eval: Option<EvalSettings>,
}

impl TrainSettings {
    pub fn from_flags(f: &TrainFlags) -> Result<Self> {
        let mut budget = Budget::from_flags(&f.budget)?;
        for (flag, value) in [
            ("--sampling-temper", f.sampling_temper),
            ("--mask-temper", f.mask_temper),
            ("--area-balance", f.area_balance),
            ("--rs-epsilon-ratio", f.rs_epsilon_ratio),
        ] {
            if let Some(v) = value {
                non_negative(flag, v)?;
            }
        }
        if let Some(a) = f.area_balance
            && a > MAX_AREA_BALANCE
        {
            anyhow::bail!(
                "--area-balance {a}: give at most {MAX_AREA_BALANCE} (1 already weighs every \
                 class the same in total)"
            );
        }
        if let Some(g) = f.adaptive_gamma
            && !(0.0..1.0).contains(&g)
        {
            anyhow::bail!("--adaptive-gamma {g}: give a number in [0, 1)");
        }
        if let Some(force) = f.adaptive_force {
            at_least(
                "--adaptive-force",
                force,
                1,
                "a code is replaced after some rounds",
            )?;
        }
        let dataset_rebalance = switch_or(
            f.dataset_rebalance,
            f.no_dataset_rebalance,
            budget.config.dataset_rebalance,
        );
        let loss_rebalance = switch_or(
            f.loss_rebalance,
            f.no_loss_rebalance,
            budget.config.loss_rebalance,
        );
        budget.config = budget
            .config
            .with_method(f.method)
            .with_sampling_temper(f.sampling_temper)
            .with_mask_temper(f.mask_temper)
            .with_area_balance(f.area_balance)
            .with_rs_epsilon_ratio(f.rs_epsilon_ratio)
            .with_adaptive_gamma(f.adaptive_gamma)
            .with_adaptive_staleness(f.adaptive_staleness)
            .with_adaptive_force(f.adaptive_force)
            .with_dataset_rebalance(dataset_rebalance)
            .with_loss_rebalance(loss_rebalance);
        let eval = if f.eval_every > 0 {
            at_least(
                "--eval-samples",
                f.eval_samples,
                2,
                "diversity compares samples",
            )?;
            at_least(
                "--eval-layouts",
                f.eval_layouts,
                1,
                "a measurement needs a layout",
            )?;
            renders(
                ("--eval-layouts", "--eval-samples"),
                f.eval_layouts,
                f.eval_samples,
            )?;
            Some(EvalSettings {
                every: f.eval_every,
                layouts: f.eval_layouts,
                samples: f.eval_samples,
                seed: f.eval_seed,
            })
        } else {
            None
        };
        Ok(Self {
            out: f.out.clone(),
            resume: f.resume,
            budget,
            eval,
        })
    }
}

/// `--X on|off`, else off when `--no-X` is given, else the recipe's `default`.
fn switch_or(switch: Option<Switch>, no: bool, default: bool) -> bool {
    match switch {
        Some(s) => s.is_on(),
        None => !no && default,
    }
}

/// Trains: checks that `--out` can be written, loads the data and the distance, then runs.
pub fn train(s: &TrainSettings) -> Result<()> {
    prepare_dir("--out", &s.out)?;
    let c = &s.budget.config;
    let rebalance = c.dataset_rebalance || c.loss_rebalance;
    let prepared = s.budget.prepare(rebalance)?;
    let config = &prepared.config;
    let (h, w) = (config.generator.height, config.generator.width);
    eprintln!(
        "cimle train: {} preset ({} parameters, {h}x{w}) on {}; data: {}; distance: {}",
        s.budget.preset,
        config.generator.num_params(),
        prepared.backend,
        prepared.data_desc,
        prepared.vgg_desc
    );
    let on = |b: bool| if b { "on" } else { "off" };
    let area = config
        .area_alpha()
        .map_or(String::new(), |a| format!(", area {a}"));
    eprintln!(
        "  recipe {} (docs/TRAINING.md); rebalancing: dataset {}, loss {}{area}; global code {}",
        s.budget.recipe,
        on(config.dataset_rebalance),
        on(config.loss_rebalance),
        on(config.generator.has_global_code())
    );
    match config.method {
        Method::Cimle | Method::RsImle | Method::AdaptiveImle => eprintln!(
            "  {}: {} rounds x (select {} images x {} codes, then {} Adam steps of batch {})",
            config.method,
            config.rounds,
            config.images_per_round,
            config.candidates,
            config.steps_per_round,
            config.batch_size
        ),
        Method::Crn => eprintln!(
            "  CRN regression with the zero code: {} rounds x (pick {} images, then {} Adam \
             steps of batch {}); no selection",
            config.rounds, config.images_per_round, config.steps_per_round, config.batch_size
        ),
    }
    let eval = s.eval.map(|e| {
        eprintln!(
            "  measured after every {} rounds on {} held-out built-in layouts x {} samples: {}",
            e.every,
            e.layouts,
            e.samples,
            s.out.join("curves.png").display()
        );
        EvalOptions {
            every_rounds: e.every,
            layouts: e.layouts,
            samples: e.samples,
            seed: e.seed,
            distance: CpuDistance::new(&prepared.vgg, LayerWeights::paper()),
        }
    });
    let started = Instant::now();
    let summary = train_run(
        config,
        &prepared.run_inputs(),
        &RunOptions {
            out: s.out.clone(),
            resume: s.resume,
            progress: true,
            path: prepared.backend.train_path(),
            eval,
        },
    )?;
    eprintln!(
        "done: {} rounds in {:.1} min; weights: {}; samples: {}",
        summary.state.rounds_done,
        started.elapsed().as_secs_f64() / 60.0,
        summary.weights.display(),
        s.out.join("samples").display()
    );
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::cli::parse_flags;

    fn settings(args: &[&str]) -> Result<TrainSettings> {
        let argv: Vec<&str> = ["--out", "runs/x"].iter().chain(args).copied().collect();
        TrainSettings::from_flags(&parse_flags::<TrainFlags>(&argv)?)
    }

    #[test]
    fn method_and_rebalancing_flags_reach_the_config() {
        let s = settings(&[
            "--method",
            "rs-imle",
            "--recipe",
            "released",
            "--no-loss-rebalance",
            "--mask-temper",
            "0.5",
            "--area-balance",
            "0.75",
        ])
        .unwrap();
        let c = &s.budget.config;
        assert_eq!(c.method, Method::RsImle);
        assert!(c.dataset_rebalance && !c.loss_rebalance);
        assert_eq!(c.mask_temper, Some(0.5));
        assert_eq!(c.area_balance, Some(0.75));
        assert!(settings(&["--area-balance", "-1"]).is_err());
        assert!(settings(&["--area-balance", "2.5"]).is_err());
        assert_eq!(settings(&[]).unwrap().budget.config.area_balance, None);
        assert_eq!(s.eval, None);
        // The study recipe rebalances nothing unless asked; --X on|off beats the recipe.
        let rebalancing = |args: &[&str]| {
            let c = settings(args).unwrap().budget.config;
            (c.dataset_rebalance, c.loss_rebalance)
        };
        assert_eq!(rebalancing(&[]), (false, false));
        assert_eq!(rebalancing(&["--dataset-rebalance", "on"]), (true, false));
        assert_eq!(rebalancing(&["--loss-rebalance", "on"]), (false, true));
        assert_eq!(
            rebalancing(&["--recipe", "released", "--dataset-rebalance", "off"]),
            (false, true)
        );
        assert_eq!(
            rebalancing(&["--recipe", "released", "--no-dataset-rebalance"]),
            (false, true)
        );
        let both = settings(&["--dataset-rebalance", "on", "--no-dataset-rebalance"]);
        assert!(both.is_err(), "a switch and its --no- form conflict");
        let s = settings(&["--eval-every", "2"]).unwrap();
        assert_eq!(
            s.eval,
            Some(EvalSettings {
                every: 2,
                layouts: 8,
                samples: 10,
                seed: 777
            })
        );
    }

    #[test]
    fn out_of_range_method_flags_are_refused() {
        for (args, said) in [
            (&["--adaptive-gamma", "1"][..], "--adaptive-gamma 1"),
            (&["--rs-epsilon-ratio", "nan"], "--rs-epsilon-ratio NaN"),
            (&["--sampling-temper=-1"], "--sampling-temper -1"),
            (&["--adaptive-force", "0"], "--adaptive-force 0"),
            (
                &["--eval-every", "1", "--eval-samples", "1"],
                "--eval-samples 1",
            ),
            (
                &["--eval-every", "1", "--eval-layouts", "0"],
                "--eval-layouts 0",
            ),
            (&["--rounds", "0"], "--rounds 0"),
        ] {
            let err = settings(args).err().unwrap().to_string();
            assert!(err.starts_with(said), "{args:?}: {err}");
        }
        let err = settings(&["--method", "gan"]).err().unwrap().to_string();
        assert!(err.contains("cimle, crn, rs-imle, adaptive-imle"), "{err}");
    }
}
