//! Procedural street scenes: cimle's built-in dataset.
//!
//! Every sample is a pure function of `(seed, index)`: a perspective street (road with converging
//! lane marks, grass verges, sidewalks, building blocks with windows, trees, street lamps, signs,
//! traffic lights, 1-5 cars, sky) rendered together with its exact label map (Cityscapes train
//! ids). The scene's appearance is drawn from a few deliberately skewed, *known* distributions
//! ([`factor_spec`]) so that evaluation can check whether a model reproduces them: time of day,
//! season, facade colour and per-car paint. Geometry lives in metres (camera 1.6 m above the road,
//! focal length proportional to the image height), so the same sample rendered at another size
//! shows the same scene.
//!
//! See `docs/SYNTH.md` for the factor table.

mod car;
mod factors;
mod geometry;
mod palette;
mod raster;
mod render;
mod rng;
mod sequence;
mod structure;
#[cfg(test)]
mod tests;

pub use factors::{
    CAMERA_OFFSET_RANGE, CAR_DISTANCE_RANGE, CarPaint, Categorical, Distribution, Facade,
    FactorDef, FactorSpec, HORIZON_RANGE, LevelSpec, SceneFactors, Season, TimeOfDay,
    VANISHING_X_RANGE, factor_spec, sample_factors,
};
pub use sequence::{generate_sequence, layout_sequence};

use car::car_draws;
use raster::Rendered;
use render::render;
use structure::build_structure;

/// One rendered sample.
#[derive(Debug, Clone, PartialEq)]
pub struct SynthSample {
    /// RGB8, row-major, `height * width * 3` bytes.
    pub image: Vec<u8>,
    /// Cityscapes train ids, row-major, `height * width` bytes.
    pub labels: Vec<u8>,
    pub factors: SceneFactors,
    pub height: usize,
    pub width: usize,
}

fn render_scene(seed: u64, index: u64, height: usize, width: usize) -> (SceneFactors, Rendered) {
    let factors = sample_factors(seed, index);
    let st = build_structure(seed, index, factors.n_cars);
    let cars = car_draws(&factors, &st);
    let r = render(&factors, &st, &cars, height, width);
    (factors, r)
}

/// [`generate_scene`], and its photo before the sensor noise (RGB8), from one render: what a
/// model that painted the scene exactly, but not the noise no layout can predict, would give.
/// Evaluation compares samples' sharpness with it too.
pub fn generate_scene_with_noise_free(
    seed: u64,
    index: u64,
    height: usize,
    width: usize,
) -> (SynthSample, Vec<u8>) {
    let (factors, r) = render_scene(seed, index, height, width);
    let sample = SynthSample {
        image: r.image,
        labels: r.labels,
        factors,
        height,
        width,
    };
    (sample, r.noise_free)
}

/// Sample `index` of the dataset with `seed` at `height x width` (any size; 1:2 is typical).
/// A pure function: the same arguments give the same bytes.
pub fn generate_scene(seed: u64, index: u64, height: usize, width: usize) -> SynthSample {
    generate_scene_with_noise_free(seed, index, height, width).0
}
