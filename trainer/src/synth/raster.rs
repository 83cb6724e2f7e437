//! The rasteriser: a z-buffered canvas where every write sets colour and label together, with the
//! two primitives scenes are drawn from (upright billboards, street-parallel planes).

use cimle::classes::id;

use super::geometry::CAM_H;
use super::palette::Rgb;

pub(super) struct Cam {
    pub(super) f: f32,
    pub(super) xv: f32,
    pub(super) yh: f32,
    pub(super) cam_x: f32,
}

impl Cam {
    pub(super) fn px(&self, xrel: f32, z: f32) -> f32 {
        self.xv + self.f * xrel / z
    }
    pub(super) fn py(&self, y: f32, z: f32) -> f32 {
        self.yh + self.f * (CAM_H - y) / z
    }
}

pub(super) struct Canvas {
    pub(super) w: usize,
    pub(super) h: usize,
    pub(super) rgb: Vec<Rgb>,
    pub(super) lab: Vec<u8>,
    pub(super) depth: Vec<f32>,
    /// Car index + 1 on pixels of plain body paint, else 0 (for tests).
    pub(super) inst: Vec<u8>,
}

/// What a shader paints at a pixel: colour, label, car-body instance (0 = none).
pub(super) type Paint = (Rgb, u8, u8);

impl Canvas {
    pub(super) fn new(h: usize, w: usize) -> Canvas {
        Canvas {
            w,
            h,
            rgb: vec![[0.0; 3]; h * w],
            lab: vec![id::SKY; h * w],
            depth: vec![f32::INFINITY; h * w],
            inst: vec![0; h * w],
        }
    }

    #[inline]
    pub(super) fn put(&mut self, i: usize, z: f32, p: Paint) {
        if z < self.depth[i] {
            self.depth[i] = z;
            self.rgb[i] = p.0;
            self.lab[i] = p.1;
            self.inst[i] = p.2;
        }
    }

    /// Pixel index range whose centres fall in [a, b), clamped to `0..n`; with `min1`, at least
    /// the pixel containing the midpoint when that is inside.
    pub(super) fn span(a: f32, b: f32, n: usize, min1: bool) -> (usize, usize) {
        let (a, b) = if a <= b { (a, b) } else { (b, a) };
        let mut lo = (a - 0.5).ceil();
        let mut hi = (b - 0.5).ceil();
        if hi <= lo && min1 {
            let m = ((a + b) * 0.5).floor();
            lo = m;
            hi = m + 1.0;
        }
        let lo = lo.clamp(0.0, n as f32) as usize;
        let hi = hi.clamp(0.0, n as f32) as usize;
        (lo, hi.max(lo))
    }

    /// A flat upright rectangle facing the camera at depth `z`, spanning camera-relative X
    /// `(x0, x1)` and height `(y0, y1)`. The shader gets (X, Y) at each pixel centre (clamped into
    /// the rectangle) and returns `None` where the shape is transparent.
    pub(super) fn billboard(
        &mut self,
        cam: &Cam,
        (x0, x1): (f32, f32),
        (y0, y1): (f32, f32),
        z: f32,
        min1: bool,
        mut shader: impl FnMut(f32, f32) -> Option<Paint>,
    ) {
        if z <= 0.05 {
            return;
        }
        let (c0, c1) = Self::span(cam.px(x0, z), cam.px(x1, z), self.w, min1);
        let (r0, r1) = Self::span(cam.py(y1, z), cam.py(y0, z), self.h, min1);
        let k = z / cam.f;
        for py in r0..r1 {
            let y = (CAM_H - (py as f32 + 0.5 - cam.yh) * k).clamp(y0, y1);
            for px in c0..c1 {
                let x = ((px as f32 + 0.5 - cam.xv) * k).clamp(x0, x1);
                if let Some(p) = shader(x, y) {
                    self.put(py * self.w + px, z, p);
                }
            }
        }
    }

    /// A vertical plane at camera-relative X = `xp` (parallel to the street), spanning depth
    /// `[z0, z1]` and height `[y0, y1(z)]`. The shader gets (z, Y) at each pixel centre.
    pub(super) fn side_plane(
        &mut self,
        cam: &Cam,
        xp: f32,
        (z0, z1): (f32, f32),
        (y0, y1): (f32, f32),
        mut shader: impl FnMut(f32, f32) -> Option<Paint>,
    ) {
        let z0 = z0.max(0.3);
        if z1 <= z0 || xp.abs() < 1e-3 {
            return;
        }
        let (c0, c1) = Self::span(cam.px(xp, z0), cam.px(xp, z1), self.w, false);
        for px in c0..c1 {
            let dx = px as f32 + 0.5 - cam.xv;
            if dx * xp <= 0.0 {
                continue;
            }
            let z = cam.f * xp / dx;
            if z < z0 || z > z1 {
                continue;
            }
            let (r0, r1) = Self::span(cam.py(y1, z), cam.py(y0, z), self.h, false);
            let k = z / cam.f;
            for py in r0..r1 {
                let y = CAM_H - (py as f32 + 0.5 - cam.yh) * k;
                if let Some(p) = shader(z, y) {
                    self.put(py * self.w + px, z, p);
                }
            }
        }
    }
}

/// Fraction of the interval [a - fp/2, a + fp/2] covered by [c - hw, c + hw].
pub(super) fn coverage(a: f32, fp: f32, c: f32, hw: f32) -> f32 {
    let lo = (a - fp * 0.5).max(c - hw);
    let hi = (a + fp * 0.5).min(c + hw);
    ((hi - lo) / fp).clamp(0.0, 1.0)
}

pub(super) struct Rendered {
    pub(super) image: Vec<u8>,
    /// The same colours before sensor noise, quantised to RGB8.
    pub(super) noise_free: Vec<u8>,
    pub(super) labels: Vec<u8>,
    /// Car-body instance map (read by the tests).
    #[cfg_attr(not(test), allow(dead_code))]
    pub(super) inst: Vec<u8>,
}
