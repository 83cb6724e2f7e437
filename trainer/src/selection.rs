//! Step 2 of a round: the code each chosen image trains with, by [`Method`].
//!
//! Every method draws its candidates the same way: image `k` (its index in the dataset) tries
//! `m` codes of seeds [`candidate_seed`]`(run seed, round, k, j)` ([`round_candidates`]), so
//! every code of a run is reproducible from its seed. Then:
//!
//! - **cIMLE** (docs/METHOD.md "Training"): the nearest candidate to the photo under `L`.
//! - **CRN**: the zero code; nothing is rendered.
//! - **RS-IMLE** (Vashist, Peng & Li, ECCV 2024, arXiv 2409.17439): candidates whose render is
//!   closer than ε to the photo are rejected, then the nearest remaining one is taken. The
//!   authors reject samples near *any* data point, so that training codes look like the codes
//!   drawn at test time; conditionally, a candidate of image k is compared with y_k alone (as
//!   the authors' conditional follow-up, IMLE Policy, does). ε is fixed for the run:
//!   `ρ · median_{k≠l} L(y_k, y_l)` over training photos (ρ = [`RS_EPSILON_RATIO`]), a
//!   scale-free version of the authors' absolute ε = 0.1 on unit-normalised features. When all
//!   m candidates are rejected, two more batches of m are drawn; if those are all rejected too,
//!   the image is already reproduced well and sits this round out (IMLE Policy drops such
//!   conditions from the loss).
//! - **Adaptive IMLE** (Aghabozorgi, Peng & Li, ICML 2023): each image keeps its code across
//!   rounds with a threshold τ_k. When chosen again, the current render's distance d_k is
//!   measured; the code is replaced when `d_k < τ_k` after at least [`ADAPTIVE_STALENESS`]
//!   rounds with it, or after [`ADAPTIVE_FORCE`] rounds whatever `d_k`; then `τ_k ← (1 − γ) d_k`
//!   and the nearest of m fresh candidates is taken. A first selection sets `τ_k = (1 − γ) d`
//!   from the chosen code's distance (the authors' code starts from a placeholder and
//!   re-selects at once, which comes to the same). As in the authors' code, every chosen image
//!   trains every round; τ only decides when its code changes.

use std::collections::BTreeMap;

use cimle::latent::LatentCode;
use serde::{Deserialize, Serialize};

use crate::config::TrainingConfig;
use crate::imle::{candidate_seed, nearest};
use crate::method::Method;

/// RS-IMLE's default ε, as a fraction of the median distance between two training photos.
pub const RS_EPSILON_RATIO: f64 = 0.1;
/// Extra batches of m candidates RS-IMLE draws when every candidate of an image was rejected.
pub const RS_EXTRA_BATCHES: usize = 2;
/// Adaptive IMLE's default γ (the authors' reproduction scripts use 0.01 to 0.02).
pub const ADAPTIVE_GAMMA: f64 = 0.02;
/// Adaptive IMLE's default staleness, in rounds an image trained with a code.
pub const ADAPTIVE_STALENESS: usize = 1;
/// Adaptive IMLE's default forced replacement, in rounds an image trained with a code.
pub const ADAPTIVE_FORCE: usize = 5;

/// Adaptive IMLE's memory of one image.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct Example {
    /// The threshold τ_k.
    pub tau: f32,
    /// The round and candidate index of the current code (its seed is
    /// [`candidate_seed`]`(run seed, round, k, candidate)`).
    pub round: usize,
    pub candidate: usize,
    /// Rounds trained with the current code.
    pub age: usize,
}

/// What a method remembers across rounds (kept in the run's checkpoint).
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct MethodState {
    /// RS-IMLE's ε, fixed at the first round.
    pub epsilon: Option<f32>,
    /// Adaptive IMLE's per-image memory, by dataset index.
    pub examples: BTreeMap<usize, Example>,
}

/// Counts of one round's selection, for the log.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct RoundStats {
    /// Candidates rendered.
    pub rendered: usize,
    /// RS-IMLE: candidates rejected for being closer than ε.
    pub rejected: usize,
    /// RS-IMLE: images whose every candidate (extra batches included) was rejected.
    pub sat_out: usize,
    /// Adaptive IMLE: images that kept their code.
    pub kept: usize,
    /// Adaptive IMLE: codes replaced because the threshold was reached.
    pub reached: usize,
    /// Adaptive IMLE: codes replaced because they were too old.
    pub forced: usize,
}

/// The outcome of a round's selection.
#[derive(Debug, Clone)]
pub struct RoundCodes {
    /// The code of each chosen image.
    pub codes: Vec<LatentCode>,
    /// Whether each image trains this round (false: RS-IMLE found it reproduced already).
    pub trains: Vec<bool>,
    /// The distance of each image's code's render to its photo (CRN: none).
    pub distances: Vec<f32>,
    pub stats: RoundStats,
}

/// The seed of candidate `j` of dataset image `k` in round `round`.
fn code(config: &TrainingConfig, round: usize, k: usize, j: usize) -> LatentCode {
    let g = &config.generator;
    LatentCode::from_seed(
        candidate_seed(config.seed, round, k, j),
        g.latent_channels,
        g.height,
        g.width,
    )
}

/// Candidates `from..from + m` of each chosen image in round `round`.
pub fn round_candidates(
    config: &TrainingConfig,
    chosen: &[usize],
    round: usize,
    from: usize,
) -> Vec<Vec<LatentCode>> {
    let m = config.candidates.max(1);
    chosen
        .iter()
        .map(|&k| {
            (from..from + m)
                .map(|j| code(config, round, k, j))
                .collect()
        })
        .collect()
}

/// Step 2 for `config.method`. `chosen` are the dataset indices of the round's images;
/// `measure(positions, candidates)` renders `candidates[i]` for the chosen image at
/// `positions[i]` (an index into `chosen`) and returns their distances to its photo, one row per
/// image. `state` is the method's memory across rounds (RS-IMLE's ε must be set before).
pub fn round_codes(
    config: &TrainingConfig,
    state: &mut MethodState,
    chosen: &[usize],
    round: usize,
    mut measure: impl FnMut(&[usize], &[Vec<LatentCode>]) -> Vec<Vec<f32>>,
) -> RoundCodes {
    let g = &config.generator;
    let (c, h, w) = (g.latent_channels, g.height, g.width);
    let n = chosen.len();
    let m = config.candidates.max(1);
    let all: Vec<usize> = (0..n).collect();
    let mut stats = RoundStats::default();
    match config.method {
        Method::Crn => RoundCodes {
            codes: vec![LatentCode::zeros(c, h, w); n],
            trains: vec![true; n],
            distances: Vec::new(),
            stats,
        },
        Method::Cimle => {
            let mut candidates = round_candidates(config, chosen, round, 0);
            let rows = measure(&all, &candidates);
            stats.rendered = n * m;
            let picks: Vec<_> = rows.iter().map(|r| nearest(r)).collect();
            RoundCodes {
                codes: picks
                    .iter()
                    .zip(&mut candidates)
                    .map(|(p, c)| c.swap_remove(p.index))
                    .collect(),
                trains: vec![true; n],
                distances: picks.iter().map(|p| p.distance).collect(),
                stats,
            }
        }
        Method::RsImle => {
            let epsilon = state
                .epsilon
                .expect("RS-IMLE's epsilon is set before the first round");
            let mut best: Vec<Option<(LatentCode, f32)>> = vec![None; n];
            let mut pending = all.clone();
            for batch in 0..=RS_EXTRA_BATCHES {
                if pending.is_empty() {
                    break;
                }
                let ks: Vec<usize> = pending.iter().map(|&i| chosen[i]).collect();
                let candidates = round_candidates(config, &ks, round, batch * m);
                let rows = measure(&pending, &candidates);
                stats.rendered += pending.len() * m;
                let mut still = Vec::new();
                for ((&i, row), cands) in pending.iter().zip(&rows).zip(candidates) {
                    let accepted = row.iter().zip(cands).filter(|(d, _)| **d >= epsilon);
                    let pick = accepted.min_by(|a, b| a.0.total_cmp(b.0));
                    stats.rejected += row.iter().filter(|d| **d < epsilon).count();
                    match pick {
                        Some((&d, code)) => best[i] = Some((code, d)),
                        None => still.push(i),
                    }
                }
                pending = still;
            }
            stats.sat_out = pending.len();
            let mut trains = vec![true; n];
            let mut codes = Vec::with_capacity(n);
            let mut distances = Vec::with_capacity(n);
            for (i, b) in best.into_iter().enumerate() {
                match b {
                    Some((code, d)) => {
                        codes.push(code);
                        distances.push(d);
                    }
                    None => {
                        trains[i] = false;
                        codes.push(code(config, round, chosen[i], 0));
                        distances.push(f32::NAN);
                    }
                }
            }
            if trains.iter().all(|t| !t) {
                // Everything is reproduced within ε: train on all rather than on nothing.
                trains.fill(true);
            }
            RoundCodes {
                codes,
                trains,
                distances,
                stats,
            }
        }
        Method::AdaptiveImle => {
            let gamma = config.adaptive_gamma.unwrap_or(ADAPTIVE_GAMMA) as f32;
            let staleness = config.adaptive_staleness.unwrap_or(ADAPTIVE_STALENESS);
            let force = config.adaptive_force.unwrap_or(ADAPTIVE_FORCE);
            let mut codes: Vec<Option<LatentCode>> = vec![None; n];
            let mut distances = vec![f32::NAN; n];
            // Images with a code: measure it as the generator is now.
            let known: Vec<usize> = all
                .iter()
                .copied()
                .filter(|&i| state.examples.contains_key(&chosen[i]))
                .collect();
            let mut fresh: Vec<usize> =
                all.iter().copied().filter(|i| !known.contains(i)).collect();
            if !known.is_empty() {
                let current: Vec<Vec<LatentCode>> = known
                    .iter()
                    .map(|&i| {
                        let ex = state.examples[&chosen[i]];
                        vec![code(config, ex.round, chosen[i], ex.candidate)]
                    })
                    .collect();
                let rows = measure(&known, &current);
                stats.rendered += known.len();
                for ((&i, row), mut cur) in known.iter().zip(&rows).zip(current) {
                    let k = chosen[i];
                    let d = row[0];
                    let ex = state.examples.get_mut(&k).expect("known");
                    let reached = d < ex.tau && ex.age >= staleness;
                    let old = ex.age >= force;
                    if reached || old {
                        ex.tau = (1.0 - gamma) * d;
                        if reached {
                            stats.reached += 1;
                        } else {
                            stats.forced += 1;
                        }
                        fresh.push(i);
                    } else {
                        ex.age += 1;
                        stats.kept += 1;
                        codes[i] = cur.pop();
                        distances[i] = d;
                    }
                }
            }
            fresh.sort_unstable();
            if !fresh.is_empty() {
                let ks: Vec<usize> = fresh.iter().map(|&i| chosen[i]).collect();
                let mut candidates = round_candidates(config, &ks, round, 0);
                let rows = measure(&fresh, &candidates);
                stats.rendered += fresh.len() * m;
                for ((&i, row), cands) in fresh.iter().zip(&rows).zip(&mut candidates) {
                    let pick = nearest(row);
                    let k = chosen[i];
                    let tau = state
                        .examples
                        .get(&k)
                        .map_or((1.0 - gamma) * pick.distance, |ex| ex.tau);
                    state.examples.insert(
                        k,
                        Example {
                            tau,
                            round,
                            candidate: pick.index,
                            age: 1,
                        },
                    );
                    codes[i] = Some(cands.swap_remove(pick.index));
                    distances[i] = pick.distance;
                }
            }
            RoundCodes {
                codes: codes
                    .into_iter()
                    .map(|c| c.expect("every image has a code"))
                    .collect(),
                trains: vec![true; n],
                distances,
                stats,
            }
        }
    }
}

/// RS-IMLE's ε from distances between training photos: `ratio` times their median.
pub fn rs_epsilon(photo_distances: &[f32], ratio: f64) -> f32 {
    let mut d: Vec<f32> = photo_distances
        .iter()
        .copied()
        .filter(|v| v.is_finite())
        .collect();
    d.sort_by(f32::total_cmp);
    let median = d.get(d.len() / 2).copied().unwrap_or(0.0);
    (median as f64 * ratio) as f32
}

#[cfg(test)]
mod tests {
    use super::*;
    use cimle::config::Preset;

    fn config(method: Method) -> TrainingConfig {
        TrainingConfig::new(Preset::Tiny.config())
            .with_candidates(4)
            .with_method(method)
    }

    /// A fake renderer: candidate j of image k lies at distance `table(k, j)`.
    fn by_table(
        chosen: &[usize],
        table: impl Fn(usize, &LatentCode) -> f32,
    ) -> impl FnMut(&[usize], &[Vec<LatentCode>]) -> Vec<Vec<f32>> {
        let chosen = chosen.to_vec();
        move |positions, candidates| {
            positions
                .iter()
                .zip(candidates)
                .map(|(&i, cs)| cs.iter().map(|c| table(chosen[i], c)).collect())
                .collect()
        }
    }

    /// The distance of a code in these tests: its first number, shifted to be positive.
    fn d(code: &LatentCode) -> f32 {
        code.data()[0] + 10.0
    }

    #[test]
    fn cimle_takes_the_nearest_and_crn_renders_nothing() {
        let chosen = [3, 7];
        let cfg = config(Method::Cimle);
        let mut state = MethodState::default();
        let out = round_codes(&cfg, &mut state, &chosen, 2, by_table(&chosen, |_, c| d(c)));
        let cands = round_candidates(&cfg, &chosen, 2, 0);
        for (i, cs) in cands.iter().enumerate() {
            let best = cs.iter().min_by(|a, b| d(a).total_cmp(&d(b))).unwrap();
            assert_eq!(&out.codes[i], best);
            assert_eq!(out.distances[i], d(best));
        }
        assert_eq!(out.stats.rendered, 8);
        let out = round_codes(&config(Method::Crn), &mut state, &chosen, 2, |_, _| {
            panic!("CRN renders nothing")
        });
        assert!(out.codes.iter().all(|c| c.data().iter().all(|&v| v == 0.0)));
    }

    #[test]
    fn rs_imle_rejects_candidates_within_epsilon_and_sits_out_reproduced_images() {
        let chosen = [0, 1];
        let cfg = config(Method::RsImle);
        let mut state = MethodState {
            epsilon: Some(10.0),
            ..Default::default()
        };
        // Image 0: every candidate is closer than ε (distance 1): sits out after the extra
        // batches. Image 1: distances d(c) around 10; those below 10 are rejected.
        let out = round_codes(
            &cfg,
            &mut state,
            &chosen,
            0,
            by_table(&chosen, |k, c| if k == 0 { 1.0 } else { d(c) }),
        );
        assert!(!out.trains[0] && out.trains[1]);
        assert_eq!(out.stats.sat_out, 1);
        let cands = &round_candidates(&cfg, &[1], 0, 0)[0];
        let accepted: Vec<&LatentCode> = cands.iter().filter(|c| d(c) >= 10.0).collect();
        if let Some(best) = accepted.iter().min_by(|a, b| d(a).total_cmp(&d(b))) {
            assert_eq!(&&out.codes[1], best);
            assert!(out.distances[1] >= 10.0);
        }
        // Image 0's 3 batches of 4 and image 1's first batch (and more if all were rejected).
        assert!(out.stats.rendered >= 12 + 4);
        assert_eq!(
            out.stats.rejected,
            12 + cands.iter().filter(|c| d(c) < 10.0).count()
                + if accepted.is_empty() { 8 } else { 0 }
        );
    }

    #[test]
    fn adaptive_imle_keeps_a_code_until_its_threshold_is_reached() {
        let chosen = [5];
        let cfg = config(Method::AdaptiveImle)
            .with_adaptive_gamma(Some(0.5))
            .with_adaptive_staleness(Some(1))
            .with_adaptive_force(Some(3));
        let mut state = MethodState::default();
        // Round 0: fresh; τ = 0.5 d.
        let first = round_codes(&cfg, &mut state, &chosen, 0, by_table(&chosen, |_, c| d(c)));
        let ex = state.examples[&5];
        assert_eq!((ex.round, ex.age), (0, 1));
        assert!((ex.tau - 0.5 * first.distances[0]).abs() < 1e-6);
        // Round 1: the code's distance is still above τ: kept, one round older.
        let kept = round_codes(&cfg, &mut state, &chosen, 1, |_, cs: &[Vec<LatentCode>]| {
            vec![vec![100.0; cs[0].len()]]
        });
        assert_eq!(kept.codes[0], first.codes[0]);
        assert_eq!((kept.stats.kept, state.examples[&5].age), (1, 2));
        // Round 2: it fell below τ: a fresh code, τ tightened to (1 - γ) d.
        let tau = state.examples[&5].tau;
        let mut calls = 0;
        let reached = round_codes(&cfg, &mut state, &chosen, 2, |_, cs: &[Vec<LatentCode>]| {
            calls += 1;
            if calls == 1 {
                vec![vec![tau / 2.0]]
            } else {
                vec![cs[0].iter().map(d).collect()]
            }
        });
        assert_eq!(reached.stats.reached, 1);
        assert_eq!(state.examples[&5].round, 2);
        assert!((state.examples[&5].tau - 0.5 * tau / 2.0).abs() < 1e-6);
        // Rounds 3..: never reached, replaced anyway once 3 rounds old.
        let mut forced = 0;
        for r in 3..7 {
            let out = round_codes(&cfg, &mut state, &chosen, r, |_, cs: &[Vec<LatentCode>]| {
                vec![vec![1e6; cs[0].len()]]
            });
            forced += out.stats.forced;
        }
        assert_eq!(forced, 1);
    }

    #[test]
    fn rs_epsilon_is_a_fraction_of_the_median() {
        assert_eq!(rs_epsilon(&[4.0, 1.0, 2.0, f32::NAN, 3.0], 0.5), 1.5);
        assert_eq!(rs_epsilon(&[], 0.1), 0.0);
    }
}
