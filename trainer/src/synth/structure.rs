//! The structure of a scene (everything not in its factors: building blocks, trees, poles, car
//! shapes), from its own random stream.

use super::geometry::Z_FAR;
use super::geometry::{ROAD_HALF, VERGE_OUT};
use super::rng::Rng;

pub(super) struct Block {
    pub(super) z0: f32,
    pub(super) z1: f32,
    pub(super) height: f32,
    pub(super) tone: f32,
    pub(super) floor_h: f32,
    pub(super) win_w: f32,
    pub(super) win_h: f32,
    pub(super) pitch: f32,
    pub(super) key: u64,
}

pub(super) struct Tree {
    pub(super) x: f32,
    pub(super) z: f32,
    /// Crown blobs: (dx, dy, r) around (x, trunk_h + r0).
    pub(super) blobs: Vec<(f32, f32, f32)>,
    pub(super) crown_y: f32,
    pub(super) crown_r: f32,
    pub(super) key: u64,
}

#[derive(Clone, Copy, PartialEq)]
pub(super) enum PoleKind {
    Lamp,
    Sign(u8),
    TrafficLight(u8),
}

pub(super) struct Pole {
    pub(super) x: f32,
    pub(super) z: f32,
    /// -1 left side, +1 right side.
    pub(super) side: f32,
    pub(super) kind: PoleKind,
}

#[derive(Clone, Copy)]
pub(super) struct CarShape {
    pub(super) w: f32,
    pub(super) h: f32,
    pub(super) len: f32,
}

pub(super) struct Structure {
    /// [left, right] building blocks, ordered by z.
    pub(super) blocks: [Vec<Block>; 2],
    pub(super) trees: Vec<Tree>,
    pub(super) poles: Vec<Pole>,
    pub(super) car_shapes: Vec<CarShape>,
    pub(super) dash_phase: f32,
    pub(super) key: u64,
}

pub(super) fn build_structure(seed: u64, index: u64, max_cars: usize) -> Structure {
    let mut r = Rng::stream(seed, index, 1);
    let key = r.next_u64();
    let mut blocks: [Vec<Block>; 2] = [Vec::new(), Vec::new()];
    for side in blocks.iter_mut() {
        let mut z = -r.range(2.0, 15.0);
        let storey = r.range(3.0, 3.6);
        while z < Z_FAR {
            if z > 12.0 && r.chance(0.22) {
                z += r.range(6.0, 16.0);
                continue;
            }
            let len = r.range(12.0, 40.0);
            let floors = 3 + (r.f32() * 6.0) as i32;
            let win_w = r.range(0.9, 1.6);
            side.push(Block {
                z0: z,
                z1: z + len,
                height: floors as f32 * storey + r.range(0.6, 1.4),
                tone: r.range(0.86, 1.08),
                floor_h: storey,
                win_w,
                win_h: r.range(1.2, 1.8),
                pitch: win_w + r.range(1.0, 2.2),
                key: r.next_u64(),
            });
            z += len;
        }
    }

    let mut trees = Vec::new();
    let mut poles = Vec::new();
    for side in [-1.0f32, 1.0] {
        let density = r.range(0.25, 0.95) as f64;
        let mut z = r.range(3.0, 12.0);
        while z < 150.0 {
            if r.chance(density) {
                let crown_r = r.range(1.5, 2.6);
                let trunk_h = r.range(2.0, 3.2);
                let crown_y = trunk_h + crown_r * 0.8;
                let n = 5 + (r.f32() * 4.0) as usize;
                let mut blobs = vec![(0.0, 0.0, crown_r * 0.85)];
                for _ in 0..n {
                    let a = r.range(0.0, std::f32::consts::TAU);
                    let d = r.range(0.3, 0.65) * crown_r;
                    blobs.push((a.cos() * d, a.sin() * d * 0.9, r.range(0.45, 0.7) * crown_r));
                }
                trees.push(Tree {
                    x: side * (ROAD_HALF + (VERGE_OUT - ROAD_HALF) * 0.5 + r.range(-0.15, 0.15)),
                    z,
                    blobs,
                    crown_y,
                    crown_r,
                    key: r.next_u64(),
                });
            }
            z += r.range(8.0, 16.0);
        }
        let mut z = r.range(6.0, 22.0);
        while z < 170.0 {
            let u = r.f32();
            let kind = if u < 0.6 {
                PoleKind::Lamp
            } else if u < 0.85 {
                PoleKind::Sign((r.f32() * 3.0) as u8)
            } else {
                PoleKind::TrafficLight((r.f32() * 3.0) as u8)
            };
            // Keep poles out of tree trunks.
            let mut pz = z;
            if trees
                .iter()
                .any(|t| t.x * side > 0.0 && (t.z - pz).abs() < 1.5)
            {
                pz += 3.0;
            }
            poles.push(Pole {
                x: side * (VERGE_OUT + 0.4),
                z: pz,
                side,
                kind,
            });
            z += r.range(18.0, 34.0);
        }
    }

    let car_shapes = (0..max_cars)
        .map(|_| {
            let u = r.f32();
            if u < 0.3 {
                CarShape {
                    w: 1.66,
                    h: 1.42,
                    len: 3.9,
                }
            } else if u < 0.8 {
                CarShape {
                    w: 1.80,
                    h: 1.48,
                    len: 4.6,
                }
            } else {
                CarShape {
                    w: 1.92,
                    h: 1.78,
                    len: 4.9,
                }
            }
        })
        .collect();

    Structure {
        blocks,
        trees,
        poles,
        car_shapes,
        dash_phase: r.range(0.0, 9.0),
        key,
    }
}
