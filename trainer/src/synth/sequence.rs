//! Layout sequences for videos: one scene whose nearest car drives away toward the horizon and
//! back, everything else fixed.

use super::SynthSample;
use super::car::car_draws;
use super::factors::sample_factors;
use super::geometry::lane_rel_x;
use super::render::render;
use super::structure::build_structure;

/// Depth of the moving car in frame `t` of `frames`: out toward the horizon (70 m further at
/// `t = frames / 2`) and back. The motion loops: frame `frames` would equal frame 0.
pub(super) fn sequence_depth(z0: f32, t: usize, frames: usize) -> f32 {
    if frames < 2 {
        return z0;
    }
    let p = (t % frames) as f32 / frames as f32;
    let tri = 1.0 - (2.0 * p - 1.0).abs();
    z0 + 70.0 * tri
}

/// Frames of scene 0 of `seed` in which its nearest car drives along the camera's lane away
/// toward the horizon (to 70 m further) and back; everything else stays fixed (other cars in the
/// camera's lane are moved out of its way). The motion loops (frame `frames` would equal
/// frame 0), so the frames can play as a seamless video loop.
pub fn generate_sequence(
    seed: u64,
    frames: usize,
    height: usize,
    width: usize,
) -> Vec<SynthSample> {
    let factors = sample_factors(seed, 0);
    let st = build_structure(seed, 0, factors.n_cars);
    let mut cars = car_draws(&factors, &st);
    // The mover: nearest car, placed in the camera's lane; other cars leave that lane.
    let ego_x = lane_rel_x(0, factors.camera_offset);
    let z0 = 9.0;
    if let Some(m) = cars.first_mut() {
        m.xrel = ego_x;
        m.z = z0;
        m.oncoming = false;
    }
    for c in cars.iter_mut().skip(1) {
        if (c.xrel - ego_x).abs() < 0.5 {
            c.xrel = lane_rel_x(1, factors.camera_offset);
            c.oncoming = false;
        }
    }
    // Separate cars that now share the right lane.
    let right_x = lane_rel_x(1, factors.camera_offset);
    let mut last_z = f32::NEG_INFINITY;
    for c in cars
        .iter_mut()
        .skip(1)
        .filter(|c| (c.xrel - right_x).abs() < 0.5)
    {
        if c.z < last_z + 9.5 {
            c.z = last_z + 9.5;
        }
        last_z = c.z;
    }
    let mut f = factors.clone();
    f.car_lane = cars
        .iter()
        .map(|c| {
            if c.oncoming {
                -1
            } else if (c.xrel - ego_x).abs() < 0.5 {
                0
            } else {
                1
            }
        })
        .collect();
    (0..frames)
        .map(|t| {
            let mut cs = cars.clone();
            if let Some(m) = cs.first_mut() {
                m.z = sequence_depth(z0, t, frames);
            }
            let mut ff = f.clone();
            ff.car_distance = cs.iter().map(|c| c.z).collect();
            for (k, c) in cs.iter().enumerate() {
                if c.oncoming {
                    ff.car_lane[k] = factors.car_lane[k];
                }
            }
            let r = render(&ff, &st, &cs, height, width);
            SynthSample {
                image: r.image,
                labels: r.labels,
                factors: ff,
                height,
                width,
            }
        })
        .collect()
}

/// Label maps of [`generate_sequence`]: one scene where one car drives away toward the horizon
/// and back, the rest fixed (for videos).
pub fn layout_sequence(seed: u64, frames: usize, height: usize, width: usize) -> Vec<Vec<u8>> {
    generate_sequence(seed, frames, height, width)
        .into_iter()
        .map(|s| s.labels)
        .collect()
}
