//! Drawing a scene: sky and ground, buildings, trees, poles, cars, then sensor noise.

use cimle::classes::id;

use super::car::{CarDraw, draw_car};
use super::factors::{SceneFactors, Season, TimeOfDay};
use super::geometry::{CAM_H, EGO_LANE_X, FACADE_X, FOCAL_H, LANE_W, ROAD_HALF, VERGE_OUT, Z_FAR};
use super::palette::{
    LAMP_LIT, Light, MARK_ALBEDO, POLE_ALBEDO, ROAD_ALBEDO, TRUNK_ALBEDO, WINDOW_ALBEDO,
    WINDOW_LIT, facade_albedo, foliage_albedo, mix3, scale3, sidewalk_albedo, terrain_albedo,
};
use super::raster::{Cam, Canvas, Paint, Rendered, coverage};
use super::rng::{hash01, mix64};
use super::structure::{Block, PoleKind, Structure};

/// What every part of a scene is drawn with.
struct Scene<'a> {
    factors: &'a SceneFactors,
    st: &'a Structure,
    cars: &'a [CarDraw],
    cam: Cam,
    light: Light,
    /// The scene's hash key (texture noise, lit windows).
    key: u64,
}

/// Renders a scene at `h x w`: its image, labels and car-body instance map.
pub(super) fn render(
    factors: &SceneFactors,
    st: &Structure,
    cars: &[CarDraw],
    h: usize,
    w: usize,
) -> Rendered {
    assert!(h > 0 && w > 0, "image size must be positive");
    let scene = Scene {
        factors,
        st,
        cars,
        cam: Cam {
            f: FOCAL_H * h as f32,
            xv: factors.vanishing_x * w as f32,
            yh: factors.horizon * h as f32,
            cam_x: EGO_LANE_X + factors.camera_offset,
        },
        light: Light::of(factors.time_of_day),
        key: st.key,
    };
    let mut cv = Canvas::new(h, w);
    draw_sky_and_ground(&mut cv, &scene);
    draw_buildings(&mut cv, &scene);
    draw_trees(&mut cv, &scene);
    draw_poles(&mut cv, &scene);
    for c in cars {
        draw_car(&mut cv, &scene.cam, &scene.light, c);
    }
    let image = sensor_noise(&cv, scene.key);
    let noise_free = cv
        .rgb
        .iter()
        .flat_map(|c| c.map(|v| v.round().clamp(0.0, 255.0) as u8))
        .collect();
    Rendered {
        image,
        noise_free,
        labels: cv.lab,
        inst: cv.inst,
    }
}

/// The sky gradient (with stars at night), then the ground row by row: road with lane marks,
/// verges, sidewalks, contact shadows under cars and lamp light pools.
fn draw_sky_and_ground(cv: &mut Canvas, s: &Scene) {
    let (cam, light, st, cars, factors, key) = (&s.cam, &s.light, s.st, s.cars, s.factors, s.key);
    let (h, w, season) = (cv.h, cv.w, factors.season);
    // Street lamp light pools (camera-relative X, z) under the lamp heads.
    let pools: Vec<(f32, f32)> = st
        .poles
        .iter()
        .filter(|p| p.kind == PoleKind::Lamp)
        .map(|p| (p.x - p.side * 1.9 - cam.cam_x, p.z))
        .collect();

    let terrain = terrain_albedo(season);
    let sidewalk = sidewalk_albedo(season);
    for py in 0..h {
        let yc = py as f32 + 0.5;
        if yc <= cam.yh {
            let t = (yc / cam.yh.max(1.0)).clamp(0.0, 1.0);
            let c = if t < 0.5 {
                mix3(light.sky.top, light.sky.mid, t * 2.0)
            } else {
                mix3(light.sky.mid, light.sky.horizon, (t - 0.5) * 2.0)
            };
            for px in 0..w {
                let i = py * w + px;
                let mut c = c;
                if factors.time_of_day == TimeOfDay::Night
                    && t < 0.8
                    && hash01(key ^ 0x57A2, px as i64, py as i64) < 0.004
                {
                    c = [200.0, 200.0, 215.0];
                }
                cv.rgb[i] = c;
                cv.lab[i] = id::SKY;
            }
            continue;
        }
        let z = (cam.f * CAM_H / (yc - cam.yh)).min(1.0e5);
        let mpp = z / cam.f; // metres per pixel, laterally
        let dz_row = z * z / (cam.f * CAM_H); // metres of depth per pixel row
        let fade = 1.0 / (1.0 + mpp * 3.0);
        for px in 0..w {
            let xrel = (px as f32 + 0.5 - cam.xv) * mpp;
            let x = xrel + cam.cam_x;
            let ax = x.abs();
            let n = hash01(key, (x * 2.0).floor() as i64, (z * 2.0).floor() as i64) - 0.5;
            let (mut a, lab) = if ax < ROAD_HALF {
                let mut a = scale3(ROAD_ALBEDO, 1.0 + 0.12 * n * fade);
                if season == Season::Snow {
                    a = scale3(a, 1.12);
                    let edge = ((ax - 4.6) / 1.2).clamp(0.0, 1.0);
                    let patch = hash01(
                        key ^ 0x5A0,
                        (x * 1.5).floor() as i64,
                        (z * 0.7).floor() as i64,
                    );
                    if patch < edge {
                        a = mix3(a, [222.0, 225.0, 232.0], 0.85);
                    }
                }
                // Lane marks: centre line, dashed lane lines, edge lines.
                let mut m = coverage(x, mpp, 0.0, 0.08);
                let dash = if dz_row > 9.0 {
                    1.0 / 3.0
                } else if (z + st.dash_phase).rem_euclid(9.0) < 3.0 {
                    1.0
                } else {
                    0.0
                };
                m += dash * (coverage(x, mpp, -LANE_W, 0.07) + coverage(x, mpp, LANE_W, 0.07));
                m += coverage(x, mpp, -ROAD_HALF + 0.25, 0.08)
                    + coverage(x, mpp, ROAD_HALF - 0.25, 0.08);
                (mix3(a, MARK_ALBEDO, m.min(1.0) * 0.9), id::ROAD)
            } else if !(VERGE_OUT..=FACADE_X).contains(&ax) {
                let speck = hash01(
                    key ^ 0x7E77,
                    (x * 5.0).floor() as i64,
                    (z * 5.0).floor() as i64,
                ) - 0.5;
                (
                    scale3(terrain, 1.0 + 0.25 * speck * fade + 0.1 * n),
                    id::TERRAIN,
                )
            } else {
                let mut a = scale3(sidewalk, 1.0 + 0.06 * n * fade);
                if mpp < 0.25 {
                    let seam_z = coverage((z).rem_euclid(1.5), dz_row.min(1.5), 0.0, 0.04)
                        + coverage((z).rem_euclid(1.5), dz_row.min(1.5), 1.5, 0.04);
                    let seam_x = coverage((ax - VERGE_OUT).rem_euclid(1.5), mpp, 0.0, 0.04)
                        + coverage((ax - VERGE_OUT).rem_euclid(1.5), mpp, 1.5, 0.04);
                    a = scale3(a, 1.0 - 0.25 * (seam_z + seam_x).min(1.0));
                }
                if season == Season::Autumn
                    && hash01(
                        key ^ 0x1EAF,
                        (x * 4.0).floor() as i64,
                        (z * 4.0).floor() as i64,
                    ) < 0.12
                {
                    a = foliage_albedo(Season::Autumn);
                }
                (a, id::SIDEWALK)
            };
            // Contact shadows under cars.
            for c in cars {
                if (xrel - c.xrel).abs() < c.shape.w * 0.5 + 0.1
                    && z > c.z - 0.3
                    && z < c.z + c.shape.len + 0.2
                {
                    a = scale3(a, 0.35);
                }
            }
            let mut col = light.lit(a, z);
            if light.lamp_pool > 0.0 {
                let mut e = 0.0;
                for &(lx, lz) in &pools {
                    let d2 = (xrel - lx) * (xrel - lx) + (z - lz) * (z - lz);
                    if d2 < 49.0 {
                        let t = 1.0 - d2 / 49.0;
                        e += t * t;
                    }
                }
                if e > 0.0 {
                    let add = light.lamp_pool * e.min(1.5) * (1.0 - Light::haze_at(z));
                    col = [
                        col[0] + a[0] * add * 1.0,
                        col[1] + a[1] * add * 0.85,
                        col[2] + a[2] * add * 0.55,
                    ];
                }
            }
            let i = py * w + px;
            cv.rgb[i] = col;
            cv.lab[i] = lab;
            cv.depth[i] = z;
        }
    }
}

/// The building blocks on both sides: facades along the street and the front faces seen across
/// gaps, with windows (lit at dusk and night).
fn draw_buildings(cv: &mut Canvas, s: &Scene) {
    let (cam, light, st, factors) = (&s.cam, &s.light, s.st, s.factors);
    let wall = facade_albedo(factors.facade);
    for (si, side) in [-1.0f32, 1.0].into_iter().enumerate() {
        let blocks = &st.blocks[si];
        let face_shade = if side > 0.0 { 1.0 } else { 0.86 };
        let xp = side * FACADE_X - cam.cam_x;
        let facade_paint = |b: &Block, u: f32, y: f32, z: f32, shade: f32, along: f32| -> Paint {
            let base = scale3(wall, b.tone * shade);
            let fl = (y / b.floor_h).floor();
            let yf = y - fl * b.floor_h;
            let col_i = ((u - 0.8) / b.pitch).floor();
            let uc = (u - 0.8) - col_i * b.pitch;
            let in_win = if fl < 1.0 {
                yf > 0.5 && yf < b.floor_h - 0.5 && uc < b.pitch - 0.6
            } else {
                yf > 0.9 && yf < 0.9 + b.win_h && uc < b.win_w
            };
            let inside = u > 0.8 && u < along - 0.8 && y < b.height - 1.0;
            let a = if inside && in_win {
                let hsh = hash01(b.key, fl as i64, col_i as i64);
                if hsh < light.window_lit {
                    let lvl = 0.75 + 0.25 * hash01(b.key ^ 1, fl as i64, col_i as i64);
                    return (light.glow(scale3(WINDOW_LIT, lvl), z), id::BUILDING, 0);
                }
                scale3(WINDOW_ALBEDO, 0.8 + 0.45 * hsh)
            } else if y > b.height - 0.45 {
                scale3(base, 0.72)
            } else if y < 0.5 {
                scale3(base, 0.8)
            } else {
                base
            };
            (light.lit(a, z), id::BUILDING, 0)
        };
        for b in blocks {
            // Facade along the street.
            cv.side_plane(cam, xp, (b.z0, b.z1.min(Z_FAR)), (0.0, b.height), |z, y| {
                if y > b.height || y < 0.0 {
                    return None;
                }
                Some(facade_paint(b, z - b.z0, y, z, face_shade, b.z1 - b.z0))
            });
            // Front face of the block (visible across a gap or a lower block in front).
            if b.z0 > 1.0 {
                let (x0, x1) = if side > 0.0 {
                    (xp, xp + 30.0)
                } else {
                    (xp - 30.0, xp)
                };
                cv.billboard(cam, (x0, x1), (0.0, b.height), b.z0, false, |x, y| {
                    let u = (x - xp).abs();
                    Some(facade_paint(b, u, y, b.z0, 0.72, 30.0))
                });
            }
        }
    }
}

/// Trees: trunk, then a crown of blobs.
fn draw_trees(cv: &mut Canvas, s: &Scene) {
    let (cam, light, st, season) = (&s.cam, &s.light, s.st, s.factors.season);
    let foliage = foliage_albedo(season);
    for t in &st.trees {
        let xr = t.x - cam.cam_x;
        cv.billboard(
            cam,
            (xr - 0.14, xr + 0.14),
            (0.0, t.crown_y),
            t.z,
            true,
            |_, y| {
                Some((
                    light.lit(scale3(TRUNK_ALBEDO, 0.85 + 0.15 * (y / t.crown_y)), t.z),
                    id::VEGETATION,
                    0,
                ))
            },
        );
        let r = t.crown_r * 1.7;
        let zc = t.z - 0.3;
        cv.billboard(
            cam,
            (xr - r, xr + r),
            (t.crown_y - r, t.crown_y + r),
            zc,
            false,
            |x, y| {
                let dx = x - xr;
                let dy = y - t.crown_y;
                if !t
                    .blobs
                    .iter()
                    .any(|&(bx, by, br)| (dx - bx) * (dx - bx) + (dy - by) * (dy - by) < br * br)
                {
                    return None;
                }
                let leaf = hash01(t.key, (x * 4.0).floor() as i64, (y * 4.0).floor() as i64);
                let mut a = scale3(
                    foliage,
                    0.78 + 0.3 * (dy / t.crown_r + 1.0) * 0.5 + 0.22 * (leaf - 0.5),
                );
                if season == Season::Snow && leaf < 0.12 {
                    a = [92.0, 80.0, 70.0];
                }
                Some((light.lit(a, zc), id::VEGETATION, 0))
            },
        );
    }
}

/// Street lamps, signs and traffic lights, each on its pole.
fn draw_poles(cv: &mut Canvas, s: &Scene) {
    let (cam, light, st) = (&s.cam, &s.light, s.st);
    for p in &st.poles {
        let xr = p.x - cam.cam_x;
        let pole = |z: f32| -> Paint { (light.lit(POLE_ALBEDO, z), id::POLE, 0) };
        match p.kind {
            PoleKind::Lamp => {
                let top = 7.6;
                cv.billboard(
                    cam,
                    (xr - 0.09, xr + 0.09),
                    (0.0, top),
                    p.z,
                    true,
                    |_, _| Some(pole(p.z)),
                );
                let reach = -p.side * 1.9;
                let (a0, a1) = if reach < 0.0 {
                    (xr + reach, xr)
                } else {
                    (xr, xr + reach)
                };
                cv.billboard(cam, (a0, a1), (top - 0.15, top), p.z, true, |_, _| {
                    Some(pole(p.z))
                });
                let hx = xr + reach;
                cv.billboard(
                    cam,
                    (hx - 0.4, hx + 0.4),
                    (top - 0.42, top - 0.05),
                    p.z - 0.05,
                    true,
                    |_, y| {
                        if light.lights_on && y < top - 0.2 {
                            Some((light.glow(LAMP_LIT, p.z), id::POLE, 0))
                        } else {
                            Some(pole(p.z))
                        }
                    },
                );
            }
            PoleKind::Sign(kind) => {
                cv.billboard(
                    cam,
                    (xr - 0.05, xr + 0.05),
                    (0.0, 2.9),
                    p.z,
                    true,
                    |_, _| Some(pole(p.z)),
                );
                let (cy, s) = (2.55, 0.36);
                let zs = p.z - 0.05;
                cv.billboard(cam, (xr - s, xr + s), (cy - s, cy + s), zs, true, |x, y| {
                    let (u, v) = ((x - xr) / s, (y - cy) / s);
                    let a = match kind {
                        0 => {
                            let rr = u * u + v * v;
                            if rr > 1.0 {
                                return None;
                            }
                            if rr > 0.55 {
                                [200.0, 30.0, 30.0]
                            } else {
                                [235.0, 235.0, 235.0]
                            }
                        }
                        1 => {
                            if u.abs() > 0.85 || v.abs() > 0.85 {
                                return None;
                            }
                            if u.abs() < 0.3 && v.abs() < 0.5 {
                                [235.0, 235.0, 235.0]
                            } else {
                                [30.0, 80.0, 180.0]
                            }
                        }
                        _ => {
                            // Triangle pointing up: inside if v >= -0.8 and |u| <= (1 - v) * 0.55.
                            let lim = (0.9 - v) * 0.55;
                            if v < -0.8 || u.abs() > lim {
                                return None;
                            }
                            if v < -0.55 || u.abs() > lim - 0.28 {
                                [205.0, 30.0, 30.0]
                            } else {
                                [240.0, 240.0, 235.0]
                            }
                        }
                    };
                    Some((light.lit(a, zs), id::TRAFFIC_SIGN, 0))
                });
            }
            PoleKind::TrafficLight(active) => {
                cv.billboard(
                    cam,
                    (xr - 0.07, xr + 0.07),
                    (0.0, 3.2),
                    p.z,
                    true,
                    |_, _| Some(pole(p.z)),
                );
                let zs = p.z - 0.1;
                cv.billboard(
                    cam,
                    (xr - 0.22, xr + 0.22),
                    (3.1, 4.25),
                    zs,
                    true,
                    |x, y| {
                        for (k, (ly, lamp)) in [
                            (3.95, [255.0, 40.0, 30.0]),
                            (3.67, [255.0, 190.0, 30.0]),
                            (3.39, [60.0, 255.0, 90.0]),
                        ]
                        .into_iter()
                        .enumerate()
                        {
                            let d2 = (x - xr) * (x - xr) + (y - ly) * (y - ly);
                            if d2 < 0.12 * 0.12 {
                                return Some(if k as u8 == active {
                                    (light.glow(lamp, zs), id::TRAFFIC_LIGHT, 0)
                                } else {
                                    (light.lit(scale3(lamp, 0.22), zs), id::TRAFFIC_LIGHT, 0)
                                });
                            }
                        }
                        Some((light.lit([34.0, 36.0, 34.0], zs), id::TRAFFIC_LIGHT, 0))
                    },
                );
            }
        }
    }
}

/// Sensor noise and quantisation: the canvas's colours to RGB8.
fn sensor_noise(cv: &Canvas, key: u64) -> Vec<u8> {
    let (h, w) = (cv.h, cv.w);
    let nkey = key ^ ((h as u64) << 32) ^ (w as u64);
    let mut image = vec![0u8; h * w * 3];
    for (i, c) in cv.rgb.iter().enumerate() {
        let py = (i / w) as i64;
        let px = (i % w) as i64;
        let hsh = mix64(nkey ^ mix64((py << 20) as u64 ^ px as u64));
        let l = ((hsh & 0xFF) as f32 + ((hsh >> 8) & 0xFF) as f32) / 255.0 - 1.0; // triangular [-1, 1]
        for ch in 0..3 {
            let chroma = (((hsh >> (16 + 8 * ch)) & 0xFF) as f32 / 255.0 - 0.5) * 3.0;
            image[i * 3 + ch] = (c[ch] + 6.0 * l + chroma).round().clamp(0.0, 255.0) as u8;
        }
    }
    image
}
