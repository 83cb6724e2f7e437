//! The appearance factors of a built-in scene and their true distributions (docs/SYNTH.md):
//! time of day, season, facade colour, per-car paint and lane, and the scene's geometry
//! parameters, drawn from a scene's own random stream ([`sample_factors`]).

use serde::{Deserialize, Serialize};

use super::geometry::{car_rect, lane_min_distance, lane_rel_x, rect_overlap_fraction};
use super::palette::{Sky, facade_albedo, foliage_albedo, mix3, paint_albedo, to_u8};
use super::rng::Rng;

/// Time of day: sky gradient, overall light level, lit windows and lamps.
#[derive(Serialize, Deserialize, Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[serde(rename_all = "lowercase")]
pub enum TimeOfDay {
    Day,
    Dusk,
    Night,
}

/// Season: tree crowns, terrain and (for snow) sidewalks and road edges.
#[derive(Serialize, Deserialize, Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[serde(rename_all = "lowercase")]
pub enum Season {
    Green,
    Autumn,
    Snow,
}

/// Facade palette shared by all buildings of a scene.
#[derive(Serialize, Deserialize, Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[serde(rename_all = "lowercase")]
pub enum Facade {
    Beige,
    Brick,
    Grey,
    Teal,
}

/// Paint of one car.
#[derive(Serialize, Deserialize, Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[serde(rename_all = "lowercase")]
pub enum CarPaint {
    White,
    Black,
    Grey,
    Red,
    Blue,
    Yellow,
}

/// The sampler reads these tables and [`factor_spec`] publishes them: one source of truth.
pub(super) const TIME_OF_DAY_TABLE: [(TimeOfDay, f64); 3] = [
    (TimeOfDay::Day, 0.60),
    (TimeOfDay::Dusk, 0.30),
    (TimeOfDay::Night, 0.10),
];
pub(super) const SEASON_TABLE: [(Season, f64); 3] = [
    (Season::Green, 0.60),
    (Season::Autumn, 0.30),
    (Season::Snow, 0.10),
];
pub(super) const FACADE_TABLE: [(Facade, f64); 4] = [
    (Facade::Beige, 0.50),
    (Facade::Brick, 0.30),
    (Facade::Grey, 0.15),
    (Facade::Teal, 0.05),
];
pub(super) const CAR_PAINT_TABLE: [(CarPaint, f64); 6] = [
    (CarPaint::White, 0.30),
    (CarPaint::Black, 0.25),
    (CarPaint::Grey, 0.20),
    (CarPaint::Red, 0.12),
    (CarPaint::Blue, 0.08),
    (CarPaint::Yellow, 0.05),
];
pub(super) const N_CARS_TABLE: [(usize, f64); 5] =
    [(1, 0.10), (2, 0.20), (3, 0.30), (4, 0.25), (5, 0.15)];

/// Horizon row as a fraction of the image height (from the top), uniform.
pub const HORIZON_RANGE: (f32, f32) = (0.35, 0.55);
/// Vanishing point column as a fraction of the image width, uniform.
pub const VANISHING_X_RANGE: (f32, f32) = (0.42, 0.58);
/// Lateral camera offset from the centre of its lane in metres (+ = right), uniform.
pub const CAMERA_OFFSET_RANGE: (f32, f32) = (-0.5, 0.5);
/// Distances (metres, camera to the car's nearest face) a car may be placed at.
pub const CAR_DISTANCE_RANGE: (f32, f32) = (8.0, 55.0);

/// Lane a car may occupy and how often it is tried (placement uses rejection, so the realised
/// lane frequencies are not exactly these; lanes are layout, not an appearance factor).
/// -2, -1: oncoming lanes (car faces the camera), 0: the camera's lane, 1: lane to the right.
pub(super) const LANE_TABLE: [(i8, f64); 4] = [(-2, 0.20), (-1, 0.25), (0, 0.30), (1, 0.25)];

/// A categorical scene factor whose levels and probabilities are published in [`factor_spec`].
pub trait Categorical: Copy + PartialEq + Sized + 'static {
    /// Field name in [`SceneFactors`].
    const FACTOR: &'static str;
    /// Levels with their true probabilities, in a fixed order.
    fn table() -> &'static [(Self, f64)];
    /// Lowercase name, identical to the serde representation.
    fn name(self) -> &'static str;
    /// Reference colour of the level (daylight albedo of what it paints), for reading the factor
    /// back from pixels.
    fn reference_rgb(self) -> [u8; 3];
    /// True probability of the level.
    fn probability(self) -> f64 {
        Self::table()
            .iter()
            .find(|(v, _)| *v == self)
            .map(|e| e.1)
            .unwrap_or(0.0)
    }
    /// All levels in table order.
    fn all() -> Vec<Self> {
        Self::table().iter().map(|e| e.0).collect()
    }
}

impl Categorical for TimeOfDay {
    const FACTOR: &'static str = "time_of_day";
    fn table() -> &'static [(Self, f64)] {
        &TIME_OF_DAY_TABLE
    }
    fn name(self) -> &'static str {
        match self {
            TimeOfDay::Day => "day",
            TimeOfDay::Dusk => "dusk",
            TimeOfDay::Night => "night",
        }
    }
    /// Sky colour halfway between zenith and horizon.
    fn reference_rgb(self) -> [u8; 3] {
        let s = Sky::of(self);
        to_u8(mix3(s.top, s.horizon, 0.5))
    }
}

impl Categorical for Season {
    const FACTOR: &'static str = "season";
    fn table() -> &'static [(Self, f64)] {
        &SEASON_TABLE
    }
    fn name(self) -> &'static str {
        match self {
            Season::Green => "green",
            Season::Autumn => "autumn",
            Season::Snow => "snow",
        }
    }
    /// Tree crown colour.
    fn reference_rgb(self) -> [u8; 3] {
        to_u8(foliage_albedo(self))
    }
}

impl Categorical for Facade {
    const FACTOR: &'static str = "facade";
    fn table() -> &'static [(Self, f64)] {
        &FACADE_TABLE
    }
    fn name(self) -> &'static str {
        match self {
            Facade::Beige => "beige",
            Facade::Brick => "brick",
            Facade::Grey => "grey",
            Facade::Teal => "teal",
        }
    }
    /// Wall colour.
    fn reference_rgb(self) -> [u8; 3] {
        to_u8(facade_albedo(self))
    }
}

impl Categorical for CarPaint {
    const FACTOR: &'static str = "car_paint";
    fn table() -> &'static [(Self, f64)] {
        &CAR_PAINT_TABLE
    }
    fn name(self) -> &'static str {
        match self {
            CarPaint::White => "white",
            CarPaint::Black => "black",
            CarPaint::Grey => "grey",
            CarPaint::Red => "red",
            CarPaint::Blue => "blue",
            CarPaint::Yellow => "yellow",
        }
    }
    /// Body paint colour.
    fn reference_rgb(self) -> [u8; 3] {
        to_u8(paint_albedo(self))
    }
}

/// Everything sampled about a scene that evaluation may want to read back. Per-car vectors are
/// parallel and ordered nearest car first.
#[derive(Serialize, Deserialize, Debug, Clone, PartialEq)]
pub struct SceneFactors {
    pub time_of_day: TimeOfDay,
    pub season: Season,
    pub facade: Facade,
    /// Horizon row as a fraction of the image height from the top.
    pub horizon: f32,
    /// Vanishing point column as a fraction of the image width.
    pub vanishing_x: f32,
    /// Lateral camera offset from the centre of its lane, metres (+ = right).
    pub camera_offset: f32,
    pub n_cars: usize,
    /// One per car, nearest first.
    pub car_paint: Vec<CarPaint>,
    /// Lane of each car: -2, -1 oncoming, 0 the camera's lane, 1 the lane to the right.
    pub car_lane: Vec<i8>,
    /// Distance from the camera to each car's nearest face, metres.
    pub car_distance: Vec<f32>,
}

/// Probability of one level of a factor.
#[derive(Serialize, Deserialize, Debug, Clone, PartialEq)]
pub struct LevelSpec {
    pub value: String,
    pub probability: f64,
    /// Daylight reference colour of the level (what it paints), when it has one.
    #[serde(skip_serializing_if = "Option::is_none", default)]
    pub rgb: Option<[u8; 3]>,
}

/// How a factor is distributed.
#[derive(Serialize, Deserialize, Debug, Clone, PartialEq)]
#[serde(tag = "kind", rename_all = "lowercase")]
pub enum Distribution {
    /// Independent draw from the listed levels with exactly these probabilities.
    Categorical { levels: Vec<LevelSpec> },
    /// Uniform on `[min, max)`.
    Uniform { min: f64, max: f64 },
    /// Scene layout sampled with rejection (no target distribution); `note` says how.
    Layout { note: String },
}

/// One factor of [`SceneFactors`].
#[derive(Serialize, Deserialize, Debug, Clone, PartialEq)]
pub struct FactorDef {
    /// Field name in [`SceneFactors`].
    pub name: String,
    /// "scene" (one value per scene) or "car" (one independent value per car).
    pub scope: String,
    pub description: String,
    pub distribution: Distribution,
}

/// Every factor of the dataset with its true distribution.
#[derive(Serialize, Deserialize, Debug, Clone, PartialEq)]
pub struct FactorSpec {
    pub factors: Vec<FactorDef>,
}

impl FactorSpec {
    /// The factor called `name`.
    pub fn factor(&self, name: &str) -> Option<&FactorDef> {
        self.factors.iter().find(|f| f.name == name)
    }

    /// True probability of `value` for the categorical factor `name`.
    pub fn probability(&self, name: &str, value: &str) -> Option<f64> {
        match &self.factor(name)?.distribution {
            Distribution::Categorical { levels } => levels
                .iter()
                .find(|l| l.value == value)
                .map(|l| l.probability),
            _ => None,
        }
    }
}

pub(super) fn categorical<T: Categorical>(scope: &str, description: &str) -> FactorDef {
    FactorDef {
        name: T::FACTOR.to_string(),
        scope: scope.to_string(),
        description: description.to_string(),
        distribution: Distribution::Categorical {
            levels: T::table()
                .iter()
                .map(|&(v, p)| LevelSpec {
                    value: v.name().to_string(),
                    probability: p,
                    rgb: Some(v.reference_rgb()),
                })
                .collect(),
        },
    }
}

pub(super) fn uniform(name: &str, description: &str, r: (f32, f32)) -> FactorDef {
    FactorDef {
        name: name.to_string(),
        scope: "scene".to_string(),
        description: description.to_string(),
        // The sampler works in f32; publish the decimal the constant was written as.
        distribution: Distribution::Uniform {
            min: (r.0 as f64 * 1e6).round() / 1e6,
            max: (r.1 as f64 * 1e6).round() / 1e6,
        },
    }
}

/// Every factor, its levels and their true probabilities (read from the sampler's own tables).
pub fn factor_spec() -> FactorSpec {
    FactorSpec {
        factors: vec![
            categorical::<TimeOfDay>(
                "scene",
                "sky gradient (blue / orange-purple / near black), overall light level; at night lit windows, lamps and car lights",
            ),
            categorical::<Season>(
                "scene",
                "tree crowns and terrain green / orange-brown / white; snow also whitens sidewalks and road edges",
            ),
            categorical::<Facade>("scene", "wall colour of every building in the scene"),
            FactorDef {
                name: "n_cars".to_string(),
                scope: "scene".to_string(),
                description: "number of cars on the road".to_string(),
                distribution: Distribution::Categorical {
                    levels: N_CARS_TABLE
                        .iter()
                        .map(|&(n, p)| LevelSpec { value: n.to_string(), probability: p, rgb: None })
                        .collect(),
                },
            },
            categorical::<CarPaint>("car", "body paint, drawn independently for every car"),
            uniform("horizon", "horizon row as a fraction of image height from the top", HORIZON_RANGE),
            uniform("vanishing_x", "vanishing point column as a fraction of image width", VANISHING_X_RANGE),
            uniform(
                "camera_offset",
                "lateral camera offset from its lane centre, metres (+ = right)",
                CAMERA_OFFSET_RANGE,
            ),
            FactorDef {
                name: "car_lane".to_string(),
                scope: "car".to_string(),
                description: "lane of each car: -2, -1 oncoming (facing the camera), 0 camera's lane, 1 right lane".to_string(),
                distribution: Distribution::Layout {
                    note: format!(
                        "lane tried with probabilities {}, rejected when the car would overlap another or leave the view",
                        LANE_TABLE.iter().map(|(l, p)| format!("{l}: {p}")).collect::<Vec<_>>().join(", ")
                    ),
                },
            },
            FactorDef {
                name: "car_distance".to_string(),
                scope: "car".to_string(),
                description: "metres from the camera to the car's nearest face".to_string(),
                distribution: Distribution::Layout {
                    note: format!(
                        "biased towards near, within [{}, {}] m (outer lanes start further away so the car is in view), rejected on overlap",
                        CAR_DISTANCE_RANGE.0, CAR_DISTANCE_RANGE.1
                    ),
                },
            },
        ],
    }
}

/// The factors of sample `index` of the dataset with `seed`, without rendering.
/// [`generate_scene`] renders exactly these.
pub fn sample_factors(seed: u64, index: u64) -> SceneFactors {
    let mut r = Rng::stream(seed, index, 0);
    let time_of_day = r.pick(&TIME_OF_DAY_TABLE);
    let season = r.pick(&SEASON_TABLE);
    let facade = r.pick(&FACADE_TABLE);
    let horizon = r.range(HORIZON_RANGE.0, HORIZON_RANGE.1);
    let vanishing_x = r.range(VANISHING_X_RANGE.0, VANISHING_X_RANGE.1);
    let camera_offset = r.range(CAMERA_OFFSET_RANGE.0, CAMERA_OFFSET_RANGE.1);
    let n_cars = r.pick(&N_CARS_TABLE);

    let mut cars: Vec<(f32, i8, CarPaint)> = Vec::with_capacity(n_cars);
    for _ in 0..n_cars {
        let paint = r.pick(&CAR_PAINT_TABLE);
        let mut placed = None;
        for _attempt in 0..64 {
            let lane = r.pick(&LANE_TABLE);
            let xrel = lane_rel_x(lane, camera_offset);
            let zmin = lane_min_distance(xrel);
            let z = zmin + (CAR_DISTANCE_RANGE.1 - zmin).max(0.0) * r.f32().powf(1.3);
            let rect = car_rect(xrel, z);
            let ok = cars.iter().all(|&(oz, ol, _)| {
                if ol == lane {
                    (oz - z).abs() >= 9.5
                } else {
                    rect_overlap_fraction(rect, car_rect(lane_rel_x(ol, camera_offset), oz)) <= 0.3
                }
            });
            if ok {
                placed = Some((z, lane));
                break;
            }
        }
        // Always place the car: behind the furthest car of the camera's lane.
        let (z, lane) = placed.unwrap_or_else(|| {
            let far = cars
                .iter()
                .filter(|c| c.1 == 0)
                .map(|c| c.0)
                .fold(CAR_DISTANCE_RANGE.0, f32::max);
            (far + 10.0, 0)
        });
        cars.push((z, lane, paint));
    }
    cars.sort_by(|a, b| a.0.total_cmp(&b.0));

    SceneFactors {
        time_of_day,
        season,
        facade,
        horizon,
        vanishing_x,
        camera_offset,
        n_cars,
        car_paint: cars.iter().map(|c| c.2).collect(),
        car_lane: cars.iter().map(|c| c.1).collect(),
        car_distance: cars.iter().map(|c| c.0).collect(),
    }
}
