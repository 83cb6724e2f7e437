//! Cars: where each of a scene's cars stands, and how one is drawn (body, glass, wheels, lights).

use cimle::classes::id;

use super::factors::SceneFactors;
use super::geometry::lane_rel_x;
use super::palette::{GLASS_ALBEDO, Light, Rgb, TYRE_ALBEDO, paint_albedo, scale3};
use super::raster::{Cam, Canvas, Paint};
use super::structure::{CarShape, Structure};

/// A car ready to draw.
#[derive(Clone, Copy)]
pub(super) struct CarDraw {
    pub(super) xrel: f32,
    pub(super) z: f32,
    pub(super) shape: CarShape,
    pub(super) paint: Rgb,
    pub(super) oncoming: bool,
    pub(super) inst: u8,
}

pub(super) fn draw_car(cv: &mut Canvas, cam: &Cam, light: &Light, c: &CarDraw) {
    let CarShape { w, h: hgt, len } = c.shape;
    let hw = w * 0.5;
    let yb = 0.34 + (hgt - 0.34) * 0.45; // top of the lower body (belt line)
    let wheel_r = 0.33;
    let lights_on = light.lights_on;
    let body = |shade: f32, y: f32, z: f32| -> Paint {
        (
            light.lit(scale3(c.paint, shade * (0.95 + 0.08 * (y / hgt))), z),
            id::CAR,
            c.inst,
        )
    };
    let part = |a: Rgb, z: f32| -> Paint { (light.lit(a, z), id::CAR, 0) };

    // Side face, when the car is off to one side of the camera.
    let side_x = if c.xrel + hw < -0.05 {
        Some(c.xrel + hw)
    } else if c.xrel - hw > 0.05 {
        Some(c.xrel - hw)
    } else {
        None
    };
    if let Some(xs) = side_x {
        let z0 = c.z;
        cv.side_plane(cam, xs, (z0, z0 + len), (0.0, hgt), |z, y| {
            let u = z - z0;
            for wc in [0.85, len - 0.85] {
                let d2 = (u - wc) * (u - wc) + (y - wheel_r) * (y - wheel_r);
                if d2 < wheel_r * wheel_r {
                    return Some(if d2 < 0.12 * 0.12 {
                        part([120.0, 120.0, 124.0], z)
                    } else {
                        part(TYRE_ALBEDO, z)
                    });
                }
                if d2 < (wheel_r + 0.07) * (wheel_r + 0.07) && y > 0.2 {
                    return Some(part(scale3(TYRE_ALBEDO, 0.8), z));
                }
            }
            if y < 0.24 || y > hgt {
                return None;
            }
            if y < yb {
                return Some(body(0.88, y, z));
            }
            let t = (y - yb) / (hgt - yb);
            let (lo, hi) = if c.oncoming {
                (1.0 + 0.7 * t, len - 0.9 - 0.4 * t)
            } else {
                (0.9 + 0.4 * t, len - 1.0 - 0.7 * t)
            };
            if u < lo || u > hi {
                return None;
            }
            let mid = (lo + hi) * 0.5;
            if y > yb + 0.06
                && y < hgt - 0.07
                && u > lo + 0.1
                && u < hi - 0.1
                && (u - mid).abs() > 0.06
            {
                return Some(part(scale3(GLASS_ALBEDO, 1.0 + 0.4 * t), z));
            }
            Some(body(0.88, y, z))
        });
    }

    // Rear (or front, for oncoming cars) face.
    let z = c.z;
    cv.billboard(
        cam,
        (c.xrel - hw, c.xrel + hw),
        (0.0, hgt),
        z,
        false,
        |x, y| {
            let lx = (x - c.xrel).abs();
            if y < 0.3 {
                return if lx > hw - 0.42 && lx < hw - 0.05 {
                    Some(part(TYRE_ALBEDO, z))
                } else {
                    None
                };
            }
            if y < yb {
                if y > yb - 0.24 && y < yb - 0.06 && lx > hw - 0.4 && lx < hw - 0.04 {
                    return Some(match (c.oncoming, lights_on) {
                        (true, true) => (light.glow([255.0, 250.0, 226.0], z), id::CAR, 0),
                        (true, false) => part([222.0, 222.0, 212.0], z),
                        (false, true) => (light.glow([255.0, 44.0, 32.0], z), id::CAR, 0),
                        (false, false) => part([158.0, 22.0, 22.0], z),
                    });
                }
                if y > 0.4 && y < 0.56 && lx < 0.26 {
                    return Some(part([226.0, 226.0, 214.0], z));
                }
                if y < 0.4 {
                    return Some(part(scale3(c.paint, 0.55), z));
                }
                return Some(body(1.0, y, z));
            }
            let t = (y - yb) / (hgt - yb);
            let half = hw * (0.95 - 0.2 * t);
            if lx > half {
                return None;
            }
            if y < hgt - 0.07 && y > yb + 0.06 && lx < half - 0.1 {
                return Some(part(scale3(GLASS_ALBEDO, 0.9 + 0.5 * t), z));
            }
            Some(body(1.0, y, z))
        },
    );
}

pub(super) fn car_draws(factors: &SceneFactors, st: &Structure) -> Vec<CarDraw> {
    (0..factors.n_cars.min(factors.car_paint.len()))
        .map(|k| {
            let lane = factors.car_lane[k];
            CarDraw {
                xrel: lane_rel_x(lane, factors.camera_offset),
                z: factors.car_distance[k],
                shape: st.car_shapes[k],
                paint: paint_albedo(factors.car_paint[k]),
                oncoming: lane < 0,
                inst: (k + 1) as u8,
            }
        })
        .collect()
}
