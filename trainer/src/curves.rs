//! Learning curves: a run measured as it trains (`cimle train --eval-every N`).
//!
//! After every N rounds (and after the last) the generator is measured as `cimle evaluate`
//! measures it, on held-out built-in scenes; each point is kept in the run's state (so a resumed
//! run keeps its curve) and written to `RUN/eval.csv` and `RUN/curves.png` (fidelity,
//! sharpness, diversity and factor coverage against wall-clock minutes).

use std::path::Path;

use serde::{Deserialize, Serialize};

use crate::evaluate::Evaluation;
use crate::fs::write_atomic;
use crate::picture::{RgbImage, draw_text, grid, line_chart};

/// One measurement of a run in training.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct EvalPoint {
    /// Rounds done when measured.
    pub round: usize,
    /// Adam steps done.
    pub steps: usize,
    /// Training minutes so far (the time of measuring excluded).
    pub minutes: f64,
    pub best_psnr_db: f64,
    pub best_distance: f64,
    pub sharpness_ratio: f64,
    pub diversity: f64,
    /// Total-variation distance per factor: time of day, season, facade, car paint.
    pub tv: [f64; 4],
    pub mean_tv: f64,
    /// Mean recall of the rare levels.
    pub rare_recall: f64,
    /// Fraction of layouts whose samples show day, dusk and night all three.
    pub all_times_of_day: f64,
}

impl EvalPoint {
    /// The point of an evaluation after `round` rounds, `steps` steps and `minutes` minutes.
    pub fn new(round: usize, steps: usize, minutes: f64, e: &Evaluation) -> Self {
        let f = e.fidelity.as_ref();
        let tv: [f64; 4] =
            std::array::from_fn(|i| e.factors.get(i).map_or(f64::NAN, |c| c.tv_distance));
        Self {
            round,
            steps,
            minutes,
            best_psnr_db: f.map_or(f64::NAN, |f| f.best_psnr_db),
            best_distance: f.map_or(f64::NAN, |f| f.best_distance),
            sharpness_ratio: f.map_or(f64::NAN, |f| f.sharpness_ratio),
            diversity: e.diversity,
            tv,
            mean_tv: e.mean_tv(),
            rare_recall: e.rare_recall().unwrap_or(f64::NAN),
            all_times_of_day: e.all_times_of_day,
        }
    }
}

const HEADER: &str = "round,steps,minutes,best_psnr_db,best_distance,sharpness_ratio,diversity,\
tv_time_of_day,tv_season,tv_facade,tv_car_paint,mean_tv,rare_recall,all_times_of_day";

/// `eval.csv`: one row per point.
pub fn csv(points: &[EvalPoint]) -> String {
    let mut out = format!("{HEADER}\n");
    for p in points {
        out.push_str(&format!(
            "{},{},{:.3},{:.3},{:.5},{:.4},{:.5},{:.4},{:.4},{:.4},{:.4},{:.4},{:.4},{:.4}\n",
            p.round,
            p.steps,
            p.minutes,
            p.best_psnr_db,
            p.best_distance,
            p.sharpness_ratio,
            p.diversity,
            p.tv[0],
            p.tv[1],
            p.tv[2],
            p.tv[3],
            p.mean_tv,
            p.rare_recall,
            p.all_times_of_day
        ));
    }
    out
}

/// `curves.png`: one small chart per measure against training minutes.
pub fn picture(points: &[EvalPoint]) -> RgbImage {
    type Get = fn(&EvalPoint) -> f64;
    let charts: [(&str, Get); 8] = [
        ("best-of-K PSNR (dB)", |p| p.best_psnr_db),
        ("sharpness ratio", |p| p.sharpness_ratio),
        ("best-of-K distance", |p| p.best_distance),
        ("diversity", |p| p.diversity),
        ("TV time of day", |p| p.tv[0]),
        ("mean TV (4 factors)", |p| p.mean_tv),
        ("rare-level recall", |p| p.rare_recall),
        ("layouts with day+dusk+night", |p| p.all_times_of_day),
    ];
    let cells: Vec<RgbImage> = charts
        .iter()
        .map(|(title, get)| {
            let pts: Vec<(f64, f64)> = points.iter().map(|p| (p.minutes, get(p))).collect();
            let chart = line_chart(&pts, 420, 220);
            let mut cell = RgbImage::filled(420, 250, [255, 255, 255]);
            cell.blit(&chart, 0, 30);
            draw_text(
                &mut cell,
                &format!("{title} vs minutes"),
                8,
                8,
                2,
                [20, 20, 20],
            );
            cell
        })
        .collect();
    grid(&cells, 4, 4, [220, 220, 220])
}

/// Writes `eval.csv` and `curves.png` into `out`.
pub fn write(out: &Path, points: &[EvalPoint]) -> std::io::Result<()> {
    write_atomic(&out.join("eval.csv"), csv(points).as_bytes())?;
    write_atomic(&out.join("curves.png"), &picture(points).encode_png())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn point(round: usize, psnr: f64) -> EvalPoint {
        EvalPoint {
            round,
            steps: round * 10,
            minutes: round as f64 * 0.5,
            best_psnr_db: psnr,
            best_distance: 1.0,
            sharpness_ratio: 0.5,
            diversity: 2.0,
            tv: [0.1, 0.2, 0.3, 0.4],
            mean_tv: 0.25,
            rare_recall: 0.5,
            all_times_of_day: 0.25,
        }
    }

    #[test]
    fn csv_has_a_header_and_a_row_per_point() {
        let text = csv(&[point(1, 15.0), point(2, 17.5)]);
        let lines: Vec<&str> = text.lines().collect();
        assert_eq!(lines.len(), 3);
        assert_eq!(lines[0].split(',').count(), lines[2].split(',').count());
        assert!(lines[2].starts_with("2,20,1.000,17.500,"), "{}", lines[2]);
        let p = picture(&[point(1, 15.0), point(2, 17.5)]);
        assert!(p.width > 1000 && p.height > 400);
    }
}
