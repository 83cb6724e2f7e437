//! Calibration: the reference colour of every factor level, measured on real built-in scenes,
//! and the spread of each feature around it ([`Calibration::MEASURED`] is what the reader uses).

use serde::Serialize;

use super::Rgb;
use super::regions::extract;
use crate::synth::{CarPaint, Categorical, Facade, Season, TimeOfDay, generate_scene};

/// Smallest spread a calibrated feature is given (8-bit levels), so that no region is trusted to
/// a precision a generated image cannot be expected to reach (some regions of the synth scenes
/// vary by less than one level, e.g. the sidewalk by day).
const SD_FLOOR: f32 = 4.0;

/// Reference colours of every factor level, as the reader's features see them (lit, hazed,
/// noisy), and the typical spread of each feature around its level's reference. Season, facade
/// and paint references are kept per time of day, because dusk and night light tint and dim
/// every surface; the reader picks the set of the time of day it read.
///
/// [`Calibration::MEASURED`] holds the values [`calibrate`] measured; the reader uses them.
#[derive(Serialize, Debug, Clone, PartialEq)]
pub struct Calibration {
    /// `[region][level]`: median sky colour, mean image colour; levels day, dusk, night.
    pub time_of_day: [[Rgb; 3]; 2],
    /// Spread (pooled RMS deviation per channel) of each time-of-day region.
    pub time_of_day_sd: [f32; 2],
    /// `[time of day][region][level]`: median vegetation, terrain and sidewalk colours; levels
    /// green, autumn, snow.
    pub season: [[[Rgb; 3]; 3]; 3],
    /// `[time of day][region]`.
    pub season_sd: [[f32; 3]; 3],
    /// `[time of day][level]`: median building colour; levels beige, brick, grey, teal.
    pub facade: [[Rgb; 4]; 3],
    /// `[time of day]`.
    pub facade_sd: [f32; 3],
    /// `[time of day][level]`: median lower-body colour of the nearest car; levels white, black,
    /// grey, red, blue, yellow.
    pub paint: [[Rgb; 6]; 3],
    /// `[time of day]`.
    pub paint_sd: [f32; 3],
}

pub(super) fn level_index<T: Categorical>(v: T) -> usize {
    T::all().iter().position(|&x| x == v).unwrap_or(0)
}

pub(super) fn sq_dist(a: Rgb, b: Rgb) -> f32 {
    (a[0] - b[0]).powi(2) + (a[1] - b[1]).powi(2) + (a[2] - b[2]).powi(2)
}

/// Class means and pooled spread of one feature.
pub(super) struct Accum<const L: usize> {
    pub(super) sum: [[f64; 3]; L],
    pub(super) n: [usize; L],
    pub(super) samples: Vec<(usize, Rgb)>,
}

impl<const L: usize> Accum<L> {
    pub(super) fn new() -> Self {
        Accum {
            sum: [[0.0; 3]; L],
            n: [0; L],
            samples: Vec::new(),
        }
    }
    pub(super) fn add(&mut self, level: usize, f: Option<Rgb>) {
        if let Some(f) = f {
            for (s, v) in self.sum[level].iter_mut().zip(f) {
                *s += v as f64;
            }
            self.n[level] += 1;
            self.samples.push((level, f));
        }
    }
    /// Means (a level never seen falls back to `fallback`) and the pooled per-channel RMS
    /// deviation from them (at least [`SD_FLOOR`]).
    pub(super) fn finish(&self, fallback: impl Fn(usize) -> Rgb) -> ([Rgb; L], f32) {
        let mut means = [[0.0f32; 3]; L];
        for (l, m) in means.iter_mut().enumerate() {
            *m = if self.n[l] == 0 {
                fallback(l)
            } else {
                self.sum[l].map(|s| (s / self.n[l] as f64) as f32)
            };
        }
        let ss: f64 = self
            .samples
            .iter()
            .map(|&(l, f)| sq_dist(f, means[l]) as f64)
            .sum();
        let sd = if self.samples.is_empty() {
            1.0
        } else {
            ((ss / (3 * self.samples.len()) as f64).sqrt() as f32).max(SD_FLOOR)
        };
        (means, sd)
    }
}

pub(super) fn reference<T: Categorical>(l: usize) -> Rgb {
    T::all()[l].reference_rgb().map(|v| v as f32)
}

/// Measures the reference colours on scenes `0..count` of `seed` rendered at `height x width`:
/// each level's reference is the mean of its feature over the scenes that truly have it (under
/// their true time of day), and each spread is the pooled RMS deviation from those means. A level
/// never seen keeps its daylight `reference_rgb()`.
pub fn calibrate(seed: u64, count: usize, height: usize, width: usize) -> Calibration {
    let mut tod = [Accum::<3>::new(), Accum::<3>::new()];
    let mut season: [[Accum<3>; 3]; 3] = Default::default();
    let mut facade: [Accum<4>; 3] = Default::default();
    let mut paint: [Accum<6>; 3] = Default::default();
    for i in 0..count {
        let s = generate_scene(seed, i as u64, height, width);
        let Some(f) = extract(&s.image, &s.labels, height, width) else {
            continue;
        };
        let t = level_index(s.factors.time_of_day);
        tod[0].add(t, f.sky);
        tod[1].add(t, f.image);
        for (acc, r) in season[t].iter_mut().zip(f.season_regions()) {
            acc.add(level_index(s.factors.season), r);
        }
        facade[t].add(level_index(s.factors.facade), f.building);
        if let Some(&p) = s.factors.car_paint.first() {
            paint[t].add(level_index(p), f.car);
        }
    }
    let mut c = Calibration {
        time_of_day: [[[0.0; 3]; 3]; 2],
        time_of_day_sd: [1.0; 2],
        season: [[[[0.0; 3]; 3]; 3]; 3],
        season_sd: [[1.0; 3]; 3],
        facade: [[[0.0; 3]; 4]; 3],
        facade_sd: [1.0; 3],
        paint: [[[0.0; 3]; 6]; 3],
        paint_sd: [1.0; 3],
    };
    for (r, acc) in tod.iter().enumerate() {
        (c.time_of_day[r], c.time_of_day_sd[r]) = acc.finish(reference::<TimeOfDay>);
    }
    for t in 0..3 {
        for (r, acc) in season[t].iter().enumerate() {
            (c.season[t][r], c.season_sd[t][r]) = acc.finish(reference::<Season>);
        }
        (c.facade[t], c.facade_sd[t]) = facade[t].finish(reference::<Facade>);
        (c.paint[t], c.paint_sd[t]) = paint[t].finish(reference::<CarPaint>);
    }
    c
}

impl<const L: usize> Default for Accum<L> {
    fn default() -> Self {
        Self::new()
    }
}

/// Scenes `0..CALIBRATION_COUNT` of this seed at this size gave [`Calibration::MEASURED`].
pub const CALIBRATION_SEED: u64 = 0xCA11B;
/// Number of scenes [`Calibration::MEASURED`] was measured on.
pub const CALIBRATION_COUNT: usize = 4000;
/// Image size (height, width) [`Calibration::MEASURED`] was measured at: the model resolution.
pub const CALIBRATION_SIZE: (usize, usize) = (64, 128);

impl Calibration {
    /// The references [`read_factors`] uses, measured by
    /// `calibrate(CALIBRATION_SEED, CALIBRATION_COUNT, 64, 128)` (4000 real synth scenes at the
    /// model resolution; every level's reference is the mean of its feature over the scenes that
    /// truly have it) and rounded to 0.1. The test `measured_calibration_is_current` re-measures
    /// them; when the scenes change, `cargo test --release -p cimle-trainer --lib
    /// factors::tests::print_measured_calibration -- --ignored --nocapture` prints new values.
    pub const MEASURED: Calibration = Calibration {
        time_of_day: [
            [
                [94.6, 146.8, 216.6],
                [126.0, 66.3, 108.7],
                [8.0, 10.0, 23.2],
            ],
            [
                [110.4, 112.9, 109.8],
                [102.8, 75.2, 60.3],
                [41.2, 39.4, 40.4],
            ],
        ],
        time_of_day_sd: [4.0, 11.2],
        season: [
            [
                [
                    [58.9, 116.9, 52.5],
                    [192.4, 108.6, 40.7],
                    [203.6, 209.7, 217.2],
                ],
                [
                    [95.9, 152.6, 65.5],
                    [151.4, 121.9, 65.5],
                    [235.6, 238.8, 244.7],
                ],
                [
                    [166.1, 163.0, 157.0],
                    [166.8, 162.2, 156.3],
                    [201.3, 207.5, 219.3],
                ],
            ],
            [
                [
                    [52.3, 74.7, 26.5],
                    [160.4, 69.6, 19.9],
                    [169.0, 133.7, 120.4],
                ],
                [
                    [84.4, 104.6, 37.5],
                    [132.4, 83.6, 37.5],
                    [204.7, 164.3, 147.3],
                ],
                [
                    [141.1, 108.0, 90.4],
                    [142.4, 106.7, 89.4],
                    [171.2, 138.4, 128.0],
                ],
            ],
            [
                [[14.1, 30.8, 16.6], [49.7, 28.3, 12.2], [52.8, 57.4, 78.2]],
                [
                    [45.1, 70.8, 30.1],
                    [79.3, 60.3, 31.4],
                    [129.0, 127.3, 130.5],
                ],
                [[62.6, 61.1, 66.8], [65.0, 59.9, 65.2], [83.0, 84.5, 98.7]],
            ],
        ],
        season_sd: [[4.5, 4.0, 4.0], [4.0, 7.9, 5.3], [4.0, 37.8, 26.1]],
        facade: [
            [
                [171.0, 159.5, 134.7],
                [128.1, 76.0, 68.3],
                [104.4, 110.5, 121.9],
                [56.9, 121.9, 127.2],
            ],
            [
                [152.0, 106.6, 74.2],
                [115.0, 49.8, 32.1],
                [94.5, 73.3, 66.5],
                [54.7, 80.8, 69.7],
            ],
            [
                [46.9, 45.3, 48.7],
                [34.0, 19.0, 20.1],
                [27.3, 29.8, 43.2],
                [13.7, 33.5, 45.7],
            ],
        ],
        facade_sd: [7.8, 5.4, 4.0],
        paint: [
            [
                [219.7, 220.2, 217.3],
                [38.8, 39.5, 44.3],
                [131.8, 135.0, 141.5],
                [186.5, 39.6, 41.4],
                [40.0, 71.2, 172.6],
                [223.3, 194.1, 40.4],
            ],
            [
                [181.8, 140.4, 122.6],
                [35.5, 26.2, 22.8],
                [108.6, 85.4, 78.0],
                [153.3, 28.5, 24.4],
                [37.0, 46.1, 94.1],
                [186.3, 122.5, 18.7],
            ],
            [
                [57.9, 61.1, 79.0],
                [9.7, 10.5, 15.0],
                [34.2, 37.0, 49.8],
                [49.2, 11.4, 16.2],
                [9.6, 18.9, 63.6],
                [60.3, 54.7, 11.8],
            ],
        ],
        paint_sd: [20.6, 15.6, 8.0],
    };
}
