//! Colours of the scene: albedos per material and factor level, skies and the light of each time
//! of day (tint, haze, lamp pools, lit windows).

use super::factors::{CarPaint, Facade, Season, TimeOfDay};
use super::geometry::{HAZE_DIST, HAZE_MAX};

pub(super) type Rgb = [f32; 3];

pub(super) fn paint_albedo(p: CarPaint) -> Rgb {
    match p {
        CarPaint::White => [236.0, 236.0, 232.0],
        CarPaint::Black => [26.0, 27.0, 30.0],
        CarPaint::Grey => [132.0, 135.0, 140.0],
        CarPaint::Red => [196.0, 28.0, 28.0],
        CarPaint::Blue => [30.0, 64.0, 176.0],
        CarPaint::Yellow => [240.0, 202.0, 24.0],
    }
}

pub(super) fn facade_albedo(f: Facade) -> Rgb {
    match f {
        Facade::Beige => [214.0, 192.0, 150.0],
        Facade::Brick => [152.0, 62.0, 42.0],
        Facade::Grey => [118.0, 121.0, 128.0],
        Facade::Teal => [40.0, 138.0, 138.0],
    }
}

pub(super) fn foliage_albedo(s: Season) -> Rgb {
    match s {
        Season::Green => [52.0, 118.0, 40.0],
        Season::Autumn => [212.0, 108.0, 26.0],
        Season::Snow => [226.0, 230.0, 236.0],
    }
}

pub(super) fn terrain_albedo(s: Season) -> Rgb {
    match s {
        Season::Green => [92.0, 150.0, 58.0],
        Season::Autumn => [150.0, 118.0, 58.0],
        Season::Snow => [238.0, 240.0, 245.0],
    }
}

pub(super) fn sidewalk_albedo(s: Season) -> Rgb {
    match s {
        Season::Snow => [206.0, 211.0, 222.0],
        _ => [168.0, 163.0, 155.0],
    }
}

pub(super) const ROAD_ALBEDO: Rgb = [84.0, 84.0, 90.0];
pub(super) const MARK_ALBEDO: Rgb = [228.0, 228.0, 222.0];
pub(super) const TRUNK_ALBEDO: Rgb = [84.0, 60.0, 42.0];
pub(super) const POLE_ALBEDO: Rgb = [100.0, 103.0, 108.0];
pub(super) const TYRE_ALBEDO: Rgb = [22.0, 22.0, 24.0];
pub(super) const GLASS_ALBEDO: Rgb = [44.0, 54.0, 68.0];
pub(super) const WINDOW_ALBEDO: Rgb = [58.0, 72.0, 94.0];
pub(super) const WINDOW_LIT: Rgb = [255.0, 206.0, 118.0];
pub(super) const LAMP_LIT: Rgb = [255.0, 236.0, 170.0];

pub(super) struct Sky {
    pub(super) top: Rgb,
    pub(super) mid: Rgb,
    pub(super) horizon: Rgb,
}

impl Sky {
    pub(super) fn of(t: TimeOfDay) -> Sky {
        match t {
            TimeOfDay::Day => Sky {
                top: [62.0, 120.0, 206.0],
                mid: [118.0, 166.0, 224.0],
                horizon: [184.0, 212.0, 238.0],
            },
            TimeOfDay::Dusk => Sky {
                top: [58.0, 42.0, 108.0],
                mid: [176.0, 84.0, 112.0],
                horizon: [252.0, 148.0, 62.0],
            },
            TimeOfDay::Night => Sky {
                top: [4.0, 6.0, 16.0],
                mid: [10.0, 12.0, 28.0],
                horizon: [30.0, 30.0, 52.0],
            },
        }
    }
}

pub(super) fn mix3(a: Rgb, b: Rgb, t: f32) -> Rgb {
    [
        a[0] + (b[0] - a[0]) * t,
        a[1] + (b[1] - a[1]) * t,
        a[2] + (b[2] - a[2]) * t,
    ]
}

pub(super) fn scale3(a: Rgb, s: f32) -> Rgb {
    [a[0] * s, a[1] * s, a[2] * s]
}

pub(super) fn to_u8(c: Rgb) -> [u8; 3] {
    [
        c[0].round().clamp(0.0, 255.0) as u8,
        c[1].round().clamp(0.0, 255.0) as u8,
        c[2].round().clamp(0.0, 255.0) as u8,
    ]
}

/// Illumination of a scene: tints albedo, adds haze with distance, leaves lights bright.
pub(super) struct Light {
    pub(super) tint: Rgb,
    pub(super) haze: Rgb,
    pub(super) sky: Sky,
    /// Strength of street lamp light pools on the ground (0 by day).
    pub(super) lamp_pool: f32,
    /// Probability that a window is lit.
    pub(super) window_lit: f32,
    /// Whether car lights and lamps glow.
    pub(super) lights_on: bool,
}

impl Light {
    pub(super) fn of(t: TimeOfDay) -> Light {
        let sky = Sky::of(t);
        match t {
            TimeOfDay::Day => Light {
                tint: [1.0, 1.0, 1.0],
                haze: sky.horizon,
                sky,
                lamp_pool: 0.0,
                window_lit: 0.0,
                lights_on: false,
            },
            TimeOfDay::Dusk => Light {
                tint: [0.80, 0.64, 0.58],
                haze: [214.0, 134.0, 84.0],
                sky,
                lamp_pool: 0.25,
                window_lit: 0.25,
                lights_on: true,
            },
            TimeOfDay::Night => Light {
                tint: [0.27, 0.29, 0.38],
                haze: [26.0, 26.0, 44.0],
                sky,
                lamp_pool: 1.1,
                window_lit: 0.45,
                lights_on: true,
            },
        }
    }
    pub(super) fn haze_at(z: f32) -> f32 {
        HAZE_MAX * (1.0 - (-z / HAZE_DIST).exp())
    }
    /// Colour of a lit surface with albedo `a` at distance `z`.
    pub(super) fn lit(&self, a: Rgb, z: f32) -> Rgb {
        let c = [
            a[0] * self.tint[0],
            a[1] * self.tint[1],
            a[2] * self.tint[2],
        ];
        mix3(c, self.haze, Self::haze_at(z))
    }
    /// Colour of a light source (unaffected by the light level).
    pub(super) fn glow(&self, c: Rgb, z: f32) -> Rgb {
        mix3(c, self.haze, 0.5 * Self::haze_at(z))
    }
}
