//! Checking the reader on real built-in scenes: accuracy and confusion per factor, split by the
//! true time of day.

use std::fmt;

use serde::Serialize;

use super::Calibration;
use super::calibration::level_index;
#[cfg(doc)]
use super::read_factors;
use crate::synth::{CarPaint, Categorical, Facade, Season, TimeOfDay, generate_scene};

/// Accuracy of the reader on the scenes of one true time of day.
#[derive(Serialize, Debug, Clone, PartialEq)]
pub struct SliceAccuracy {
    pub time_of_day: String,
    /// Scenes where the reader gave a value.
    pub read: usize,
    pub correct: usize,
    /// `correct / read`; `None` when nothing was read.
    pub accuracy: Option<f64>,
}

/// How well one factor is read back.
#[derive(Serialize, Debug, Clone, PartialEq)]
pub struct FactorAccuracy {
    pub factor: String,
    /// Level names, in the order of the confusion matrix.
    pub levels: Vec<String>,
    pub scenes: usize,
    /// Scenes where the reader gave a value.
    pub read: usize,
    /// Scenes where it gave none (region missing or too small).
    pub abstained: usize,
    pub correct: usize,
    /// `correct / read`; `None` when nothing was read.
    pub accuracy: Option<f64>,
    /// `confusion[true level][read level]`, counts over the scenes read.
    pub confusion: Vec<Vec<usize>>,
    /// The same accuracy split by the scene's true time of day (day, dusk, night).
    pub by_time_of_day: Vec<SliceAccuracy>,
}

pub(super) fn ratio(a: usize, b: usize) -> Option<f64> {
    (b > 0).then(|| a as f64 / b as f64)
}

pub(super) struct Tally<T: Categorical> {
    pub(super) confusion: Vec<Vec<usize>>,
    pub(super) abstained: usize,
    /// [tod] (read, correct).
    pub(super) by_tod: [(usize, usize); 3],
    pub(super) _t: std::marker::PhantomData<T>,
}

impl<T: Categorical> Tally<T> {
    pub(super) fn new() -> Self {
        let l = T::all().len();
        Tally {
            confusion: vec![vec![0; l]; l],
            abstained: 0,
            by_tod: [(0, 0); 3],
            _t: std::marker::PhantomData,
        }
    }
    pub(super) fn add(&mut self, truth: T, read: Option<T>, tod: TimeOfDay) {
        match read {
            None => self.abstained += 1,
            Some(r) => {
                self.confusion[level_index(truth)][level_index(r)] += 1;
                let s = &mut self.by_tod[level_index(tod)];
                s.0 += 1;
                s.1 += (r == truth) as usize;
            }
        }
    }
    pub(super) fn finish(self, name: &str) -> FactorAccuracy {
        let read: usize = self.confusion.iter().flatten().sum();
        let correct: usize = (0..self.confusion.len())
            .map(|i| self.confusion[i][i])
            .sum();
        FactorAccuracy {
            factor: name.to_string(),
            levels: T::all().iter().map(|v| v.name().to_string()).collect(),
            scenes: read + self.abstained,
            read,
            abstained: self.abstained,
            correct,
            accuracy: ratio(correct, read),
            confusion: self.confusion,
            by_time_of_day: TimeOfDay::all()
                .iter()
                .zip(self.by_tod)
                .map(|(t, (r, c))| SliceAccuracy {
                    time_of_day: t.name().to_string(),
                    read: r,
                    correct: c,
                    accuracy: ratio(c, r),
                })
                .collect(),
        }
    }
}

/// The reader checked against the true factors of real synth scenes.
#[derive(Serialize, Debug, Clone, PartialEq)]
pub struct ReaderAccuracy {
    pub seed: u64,
    pub count: usize,
    pub height: usize,
    pub width: usize,
    pub time_of_day: FactorAccuracy,
    pub season: FactorAccuracy,
    pub facade: FactorAccuracy,
    /// Against the paint of the scene's nearest car.
    pub nearest_car_paint: FactorAccuracy,
}

impl ReaderAccuracy {
    /// The four factors in order.
    pub fn factors(&self) -> [&FactorAccuracy; 4] {
        [
            &self.time_of_day,
            &self.season,
            &self.facade,
            &self.nearest_car_paint,
        ]
    }
}

/// Runs [`read_factors`] on scenes `0..count` of `seed` rendered at `height x width` and compares
/// with their true factors.
pub fn reader_accuracy(seed: u64, count: usize, height: usize, width: usize) -> ReaderAccuracy {
    Calibration::MEASURED.reader_accuracy(seed, count, height, width, |_, _, _| {})
}

impl Calibration {
    /// [`reader_accuracy`] with these references, on images first passed through
    /// `degrade(image, height, width)` (e.g. a blur or a colour shift, to see how the reader
    /// copes with generated-looking images; `|_, _, _| {}` for none).
    pub fn reader_accuracy(
        &self,
        seed: u64,
        count: usize,
        height: usize,
        width: usize,
        degrade: impl Fn(&mut [u8], usize, usize),
    ) -> ReaderAccuracy {
        let mut tod = Tally::<TimeOfDay>::new();
        let mut season = Tally::<Season>::new();
        let mut facade = Tally::<Facade>::new();
        let mut paint = Tally::<CarPaint>::new();
        for i in 0..count {
            let mut s = generate_scene(seed, i as u64, height, width);
            degrade(&mut s.image, height, width);
            let r = self.read_factors(&s.image, &s.labels, height, width);
            let f = &s.factors;
            let t = f.time_of_day;
            tod.add(t, r.time_of_day, t);
            season.add(f.season, r.season, t);
            facade.add(f.facade, r.facade, t);
            if let Some(&p) = f.car_paint.first() {
                paint.add(p, r.nearest_car_paint, t);
            }
        }
        ReaderAccuracy {
            seed,
            count,
            height,
            width,
            time_of_day: tod.finish(TimeOfDay::FACTOR),
            season: season.finish(Season::FACTOR),
            facade: facade.finish(Facade::FACTOR),
            nearest_car_paint: paint.finish("nearest_car_paint"),
        }
    }
}

pub(super) fn pct(a: Option<f64>) -> String {
    a.map_or_else(|| "–".to_string(), |a| format!("{:.1} %", 100.0 * a))
}

impl fmt::Display for ReaderAccuracy {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        writeln!(
            f,
            "Factor reader on {} synth scenes (seed {}, {}x{}):",
            self.count, self.seed, self.height, self.width
        )?;
        writeln!(f)?;
        writeln!(
            f,
            "| Factor | Read | Abstained | Accuracy | Day | Dusk | Night |"
        )?;
        writeln!(f, "|---|---:|---:|---:|---:|---:|---:|")?;
        for a in self.factors() {
            write!(
                f,
                "| {} | {} | {} | {} |",
                a.factor,
                a.read,
                a.abstained,
                pct(a.accuracy)
            )?;
            for s in &a.by_time_of_day {
                write!(f, " {} |", pct(s.accuracy))?;
            }
            writeln!(f)?;
        }
        for a in self.factors() {
            writeln!(f)?;
            writeln!(
                f,
                "Confusion of `{}` (rows: true, columns: read):",
                a.factor
            )?;
            writeln!(f)?;
            write!(f, "| true \\ read |")?;
            for l in &a.levels {
                write!(f, " {l} |")?;
            }
            writeln!(f)?;
            write!(f, "|---|")?;
            for _ in &a.levels {
                write!(f, "---:|")?;
            }
            writeln!(f)?;
            for (l, row) in a.levels.iter().zip(&a.confusion) {
                write!(f, "| {l} |")?;
                for c in row {
                    write!(f, " {c} |")?;
                }
                writeln!(f)?;
            }
        }
        Ok(())
    }
}
