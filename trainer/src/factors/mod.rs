//! Reading a scene's appearance factors back from its pixels.
//!
//! The evaluation of a generator trained on the built-in scenes ([`crate::synth`]) asks whether
//! its samples reproduce the known factor distributions (time of day, season, facade colour, car
//! paint). A generated sample has no factors attached, so they are read back from its pixels:
//! the semantic layout the sample was generated from says *where* the sky, vegetation, buildings
//! and cars are, and robust colour statistics of those regions say *what* they look like.
//!
//! [`read_factors`] classifies each region's statistic by the nearest calibrated reference colour
//! (measured on real synth scenes, see [`Calibration`]); [`reader_accuracy`] checks the reader
//! against the true factors of real synth scenes.
//!
//! Features, all coarse so that blurry, colour-shifted generated images still read:
//!
//! - **Time of day**: per-channel median colour of the sky pixels, plus the mean colour of the
//!   whole image (the overall light level; the only evidence when the layout has no sky).
//! - **Season**: median colours of the vegetation, terrain and sidewalk pixels (snow whitens the
//!   sidewalks), compared with references measured under the time of day just read.
//! - **Facade**: median colour of the building pixels; windows cover about a quarter of a wall, so
//!   the median is the wall colour.
//! - **Nearest car paint**: the car blob reaching lowest in the image is the nearest car (on flat
//!   ground a nearer car touches the road lower down). The median colour of its lower-body band
//!   (between bumper and belt line: plain paint, no glass, few wheel pixels) is the paint.
//!
//! Region statistics use "interior" pixels (all four neighbours share the label) when there are
//! enough of them, so blurred region boundaries do not leak colour from neighbouring regions.
//! Facade and paint are dimmed and tinted at dusk and more so at night, where several levels
//! become dark and close together: they read less reliably then ([`FactorAccuracy::by_time_of_day`]
//! reports it).

use serde::Serialize;

use crate::synth::{CarPaint, Categorical, Facade, Season, TimeOfDay};

mod accuracy;
mod calibration;
mod regions;
#[cfg(test)]
mod tests;

pub use accuracy::{FactorAccuracy, ReaderAccuracy, SliceAccuracy, reader_accuracy};
pub use calibration::{
    CALIBRATION_COUNT, CALIBRATION_SEED, CALIBRATION_SIZE, Calibration, calibrate,
};

use calibration::sq_dist;
use regions::{RegionColors, extract};

type Rgb = [f32; 3];

/// Fewest pixels a region needs for its colour to be read.
pub const MIN_REGION_PIXELS: usize = 6;

/// Appearance factors read from one image (with its layout). `None` where the layout lacks the
/// region a factor is read from, the region has too few pixels, or the image and labels do not
/// match the given size.
#[derive(Serialize, Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct ReadFactors {
    pub time_of_day: Option<TimeOfDay>,
    pub season: Option<Season>,
    pub facade: Option<Facade>,
    /// Paint of the nearest car (the car blob that reaches lowest in the image).
    pub nearest_car_paint: Option<CarPaint>,
}

/// The level whose references are nearest: smallest sum over the available regions of the squared
/// distance to the level's reference, in units of the region's spread. `None` when no region is
/// available. All levels count alike (no prior), so the reader does not favour frequent levels.
fn nearest<const L: usize>(regions: &[(Option<Rgb>, &[Rgb; L], f32)]) -> Option<usize> {
    let mut score = [0.0f32; L];
    let mut any = false;
    for &(f, refs, sd) in regions {
        let Some(f) = f else { continue };
        any = true;
        for (s, r) in score.iter_mut().zip(refs) {
            *s += sq_dist(f, *r) / (sd * sd);
        }
    }
    if !any {
        return None;
    }
    (0..L).min_by(|&a, &b| score[a].total_cmp(&score[b]))
}

impl Calibration {
    fn read(&self, f: &RegionColors) -> ReadFactors {
        let tod = nearest(&[
            (f.sky, &self.time_of_day[0], self.time_of_day_sd[0]),
            (f.image, &self.time_of_day[1], self.time_of_day_sd[1]),
        ]);
        let Some(t) = tod else {
            return ReadFactors::default();
        };
        let sr = f.season_regions();
        let season = nearest(&[
            (sr[0], &self.season[t][0], self.season_sd[t][0]),
            (sr[1], &self.season[t][1], self.season_sd[t][1]),
            (sr[2], &self.season[t][2], self.season_sd[t][2]),
        ]);
        let facade = nearest(&[(f.building, &self.facade[t], self.facade_sd[t])]);
        let paint = nearest(&[(f.car, &self.paint[t], self.paint_sd[t])]);
        ReadFactors {
            time_of_day: Some(TimeOfDay::all()[t]),
            season: season.map(|l| Season::all()[l]),
            facade: facade.map(|l| Facade::all()[l]),
            nearest_car_paint: paint.map(|l| CarPaint::all()[l]),
        }
    }

    /// Reads the factors of `image` (RGB8, row-major) using its layout `labels` (train ids) with
    /// these references. See [`read_factors`].
    pub fn read_factors(
        &self,
        image: &[u8],
        labels: &[u8],
        height: usize,
        width: usize,
    ) -> ReadFactors {
        match extract(image, labels, height, width) {
            Some(f) => self.read(&f),
            None => ReadFactors::default(),
        }
    }
}

/// Reads the appearance factors of `image` (RGB8, row-major, `height * width * 3` bytes) from
/// the pixels of the regions its layout `labels` (one train id per pixel) marks, using the
/// references in [`Calibration::MEASURED`]. Every field is `None` when the sizes do not match.
pub fn read_factors(image: &[u8], labels: &[u8], height: usize, width: usize) -> ReadFactors {
    Calibration::MEASURED.read_factors(image, labels, height, width)
}
