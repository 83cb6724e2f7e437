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

use cimle::classes::id;
use serde::{Deserialize, Serialize};

// ---------------------------------------------------------------------------------------------
// Factors and their true distributions
// ---------------------------------------------------------------------------------------------

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
const TIME_OF_DAY_TABLE: [(TimeOfDay, f64); 3] = [
    (TimeOfDay::Day, 0.60),
    (TimeOfDay::Dusk, 0.30),
    (TimeOfDay::Night, 0.10),
];
const SEASON_TABLE: [(Season, f64); 3] = [
    (Season::Green, 0.60),
    (Season::Autumn, 0.30),
    (Season::Snow, 0.10),
];
const FACADE_TABLE: [(Facade, f64); 4] = [
    (Facade::Beige, 0.50),
    (Facade::Brick, 0.30),
    (Facade::Grey, 0.15),
    (Facade::Teal, 0.05),
];
const CAR_PAINT_TABLE: [(CarPaint, f64); 6] = [
    (CarPaint::White, 0.30),
    (CarPaint::Black, 0.25),
    (CarPaint::Grey, 0.20),
    (CarPaint::Red, 0.12),
    (CarPaint::Blue, 0.08),
    (CarPaint::Yellow, 0.05),
];
const N_CARS_TABLE: [(usize, f64); 5] = [(1, 0.10), (2, 0.20), (3, 0.30), (4, 0.25), (5, 0.15)];

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
const LANE_TABLE: [(i8, f64); 4] = [(-2, 0.20), (-1, 0.25), (0, 0.30), (1, 0.25)];

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

fn categorical<T: Categorical>(scope: &str, description: &str) -> FactorDef {
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

fn uniform(name: &str, description: &str, r: (f32, f32)) -> FactorDef {
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

// ---------------------------------------------------------------------------------------------
// Deterministic randomness
// ---------------------------------------------------------------------------------------------

fn mix64(mut z: u64) -> u64 {
    z = z.wrapping_add(0x9E37_79B9_7F4A_7C15);
    z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
    z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
    z ^ (z >> 31)
}

/// SplitMix64.
struct Rng(u64);

impl Rng {
    fn stream(seed: u64, index: u64, tag: u64) -> Rng {
        Rng(mix64(
            mix64(seed ^ 0xC1B1_E5EE_D000_0001)
                ^ mix64(index ^ 0x1D3C_0000_5EED_0002).rotate_left(17)
                ^ tag.wrapping_mul(0xD6E8_FEB8_6659_FD93),
        ))
    }
    fn next_u64(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9E37_79B9_7F4A_7C15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        z ^ (z >> 31)
    }
    /// Uniform on [0, 1).
    fn f64(&mut self) -> f64 {
        (self.next_u64() >> 11) as f64 * (1.0 / (1u64 << 53) as f64)
    }
    fn f32(&mut self) -> f32 {
        self.f64() as f32
    }
    fn range(&mut self, lo: f32, hi: f32) -> f32 {
        lo + (hi - lo) * self.f32()
    }
    fn chance(&mut self, p: f64) -> bool {
        self.f64() < p
    }
    fn pick<T: Copy>(&mut self, table: &[(T, f64)]) -> T {
        let u = self.f64();
        let mut acc = 0.0;
        for &(v, p) in table {
            acc += p;
            if u < acc {
                return v;
            }
        }
        table[table.len() - 1].0
    }
}

/// Stateless hash of a few integers to [0, 1).
fn hash01(key: u64, a: i64, b: i64) -> f32 {
    let h = mix64(
        key ^ mix64((a as u64).wrapping_mul(0x9E37_79B9_7F4A_7C15) ^ (b as u64).rotate_left(32)),
    );
    (h >> 40) as f32 * (1.0 / (1u64 << 24) as f32)
}

// ---------------------------------------------------------------------------------------------
// Scene geometry (metres). World X: 0 = road centre line, + = right; Z: distance ahead.
// ---------------------------------------------------------------------------------------------

/// Camera height above the road.
const CAM_H: f32 = 1.6;
/// Focal length in units of the image height.
const FOCAL_H: f32 = 1.7;
/// Width/height ratio the car placement keeps cars in view for.
const REF_ASPECT: f32 = 2.0;
/// World X of the camera's lane centre.
const EGO_LANE_X: f32 = 1.5;
const LANE_W: f32 = 3.0;
const ROAD_HALF: f32 = 6.0;
const VERGE_OUT: f32 = 7.5;
const FACADE_X: f32 = 10.5;
/// Buildings end here; the street continues to the horizon.
const Z_FAR: f32 = 240.0;
/// Distance over which haze builds up.
const HAZE_DIST: f32 = 220.0;
const HAZE_MAX: f32 = 0.8;
/// Nominal car size for placement (the drawn cars vary around it).
const CAR_W_NOM: f32 = 1.9;
const CAR_H_NOM: f32 = 1.6;

fn lane_rel_x(lane: i8, camera_offset: f32) -> f32 {
    EGO_LANE_X + LANE_W * lane as f32 - (EGO_LANE_X + camera_offset)
}

/// Nearest distance at which a car in a lane is fully in view at the reference aspect.
fn lane_min_distance(xrel: f32) -> f32 {
    let half_view = (REF_ASPECT * 0.5) / FOCAL_H; // metres of half width per metre of depth
    ((xrel.abs() + CAR_W_NOM * 0.5 + 0.2) / half_view).max(CAR_DISTANCE_RANGE.0)
}

/// Projected rectangle of a nominal car in units of the image height, relative to the vanishing
/// point: (x0, x1, y0, y1).
fn car_rect(xrel: f32, z: f32) -> (f32, f32, f32, f32) {
    let s = FOCAL_H / z;
    (
        (xrel - CAR_W_NOM * 0.5) * s,
        (xrel + CAR_W_NOM * 0.5) * s,
        (CAM_H - CAR_H_NOM) * s,
        CAM_H * s,
    )
}

fn rect_overlap_fraction(a: (f32, f32, f32, f32), b: (f32, f32, f32, f32)) -> f32 {
    let ix = (a.1.min(b.1) - a.0.max(b.0)).max(0.0);
    let iy = (a.3.min(b.3) - a.2.max(b.2)).max(0.0);
    let area_a = (a.1 - a.0) * (a.3 - a.2);
    let area_b = (b.1 - b.0) * (b.3 - b.2);
    ix * iy / area_a.min(area_b).max(1e-9)
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

// ---------------------------------------------------------------------------------------------
// Palettes
// ---------------------------------------------------------------------------------------------

type Rgb = [f32; 3];

fn paint_albedo(p: CarPaint) -> Rgb {
    match p {
        CarPaint::White => [236.0, 236.0, 232.0],
        CarPaint::Black => [26.0, 27.0, 30.0],
        CarPaint::Grey => [132.0, 135.0, 140.0],
        CarPaint::Red => [196.0, 28.0, 28.0],
        CarPaint::Blue => [30.0, 64.0, 176.0],
        CarPaint::Yellow => [240.0, 202.0, 24.0],
    }
}

fn facade_albedo(f: Facade) -> Rgb {
    match f {
        Facade::Beige => [214.0, 192.0, 150.0],
        Facade::Brick => [152.0, 62.0, 42.0],
        Facade::Grey => [118.0, 121.0, 128.0],
        Facade::Teal => [40.0, 138.0, 138.0],
    }
}

fn foliage_albedo(s: Season) -> Rgb {
    match s {
        Season::Green => [52.0, 118.0, 40.0],
        Season::Autumn => [212.0, 108.0, 26.0],
        Season::Snow => [226.0, 230.0, 236.0],
    }
}

fn terrain_albedo(s: Season) -> Rgb {
    match s {
        Season::Green => [92.0, 150.0, 58.0],
        Season::Autumn => [150.0, 118.0, 58.0],
        Season::Snow => [238.0, 240.0, 245.0],
    }
}

fn sidewalk_albedo(s: Season) -> Rgb {
    match s {
        Season::Snow => [206.0, 211.0, 222.0],
        _ => [168.0, 163.0, 155.0],
    }
}

const ROAD_ALBEDO: Rgb = [84.0, 84.0, 90.0];
const MARK_ALBEDO: Rgb = [228.0, 228.0, 222.0];
const TRUNK_ALBEDO: Rgb = [84.0, 60.0, 42.0];
const POLE_ALBEDO: Rgb = [100.0, 103.0, 108.0];
const TYRE_ALBEDO: Rgb = [22.0, 22.0, 24.0];
const GLASS_ALBEDO: Rgb = [44.0, 54.0, 68.0];
const WINDOW_ALBEDO: Rgb = [58.0, 72.0, 94.0];
const WINDOW_LIT: Rgb = [255.0, 206.0, 118.0];
const LAMP_LIT: Rgb = [255.0, 236.0, 170.0];

struct Sky {
    top: Rgb,
    mid: Rgb,
    horizon: Rgb,
}

impl Sky {
    fn of(t: TimeOfDay) -> Sky {
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

fn mix3(a: Rgb, b: Rgb, t: f32) -> Rgb {
    [
        a[0] + (b[0] - a[0]) * t,
        a[1] + (b[1] - a[1]) * t,
        a[2] + (b[2] - a[2]) * t,
    ]
}

fn scale3(a: Rgb, s: f32) -> Rgb {
    [a[0] * s, a[1] * s, a[2] * s]
}

fn to_u8(c: Rgb) -> [u8; 3] {
    [
        c[0].round().clamp(0.0, 255.0) as u8,
        c[1].round().clamp(0.0, 255.0) as u8,
        c[2].round().clamp(0.0, 255.0) as u8,
    ]
}

/// Illumination of a scene: tints albedo, adds haze with distance, leaves lights bright.
struct Light {
    tint: Rgb,
    haze: Rgb,
    sky: Sky,
    /// Strength of street lamp light pools on the ground (0 by day).
    lamp_pool: f32,
    /// Probability that a window is lit.
    window_lit: f32,
    /// Whether car lights and lamps glow.
    lights_on: bool,
}

impl Light {
    fn of(t: TimeOfDay) -> Light {
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
    fn haze_at(z: f32) -> f32 {
        HAZE_MAX * (1.0 - (-z / HAZE_DIST).exp())
    }
    /// Colour of a lit surface with albedo `a` at distance `z`.
    fn lit(&self, a: Rgb, z: f32) -> Rgb {
        let c = [
            a[0] * self.tint[0],
            a[1] * self.tint[1],
            a[2] * self.tint[2],
        ];
        mix3(c, self.haze, Self::haze_at(z))
    }
    /// Colour of a light source (unaffected by the light level).
    fn glow(&self, c: Rgb, z: f32) -> Rgb {
        mix3(c, self.haze, 0.5 * Self::haze_at(z))
    }
}

// ---------------------------------------------------------------------------------------------
// Scene structure (everything not in the factors), from its own random stream
// ---------------------------------------------------------------------------------------------

struct Block {
    z0: f32,
    z1: f32,
    height: f32,
    tone: f32,
    floor_h: f32,
    win_w: f32,
    win_h: f32,
    pitch: f32,
    key: u64,
}

struct Tree {
    x: f32,
    z: f32,
    /// Crown blobs: (dx, dy, r) around (x, trunk_h + r0).
    blobs: Vec<(f32, f32, f32)>,
    crown_y: f32,
    crown_r: f32,
    key: u64,
}

#[derive(Clone, Copy, PartialEq)]
enum PoleKind {
    Lamp,
    Sign(u8),
    TrafficLight(u8),
}

struct Pole {
    x: f32,
    z: f32,
    /// -1 left side, +1 right side.
    side: f32,
    kind: PoleKind,
}

#[derive(Clone, Copy)]
struct CarShape {
    w: f32,
    h: f32,
    len: f32,
}

struct Structure {
    /// [left, right] building blocks, ordered by z.
    blocks: [Vec<Block>; 2],
    trees: Vec<Tree>,
    poles: Vec<Pole>,
    car_shapes: Vec<CarShape>,
    dash_phase: f32,
    key: u64,
}

fn build_structure(seed: u64, index: u64, max_cars: usize) -> Structure {
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

// ---------------------------------------------------------------------------------------------
// Rasteriser: z-buffered canvas, every write sets colour and label together
// ---------------------------------------------------------------------------------------------

struct Cam {
    f: f32,
    xv: f32,
    yh: f32,
    cam_x: f32,
}

impl Cam {
    fn px(&self, xrel: f32, z: f32) -> f32 {
        self.xv + self.f * xrel / z
    }
    fn py(&self, y: f32, z: f32) -> f32 {
        self.yh + self.f * (CAM_H - y) / z
    }
}

struct Canvas {
    w: usize,
    h: usize,
    rgb: Vec<Rgb>,
    lab: Vec<u8>,
    depth: Vec<f32>,
    /// Car index + 1 on pixels of plain body paint, else 0 (for tests).
    inst: Vec<u8>,
}

/// What a shader paints at a pixel: colour, label, car-body instance (0 = none).
type Paint = (Rgb, u8, u8);

impl Canvas {
    fn new(h: usize, w: usize) -> Canvas {
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
    fn put(&mut self, i: usize, z: f32, p: Paint) {
        if z < self.depth[i] {
            self.depth[i] = z;
            self.rgb[i] = p.0;
            self.lab[i] = p.1;
            self.inst[i] = p.2;
        }
    }

    /// Pixel index range whose centres fall in [a, b), clamped to `0..n`; with `min1`, at least
    /// the pixel containing the midpoint when that is inside.
    fn span(a: f32, b: f32, n: usize, min1: bool) -> (usize, usize) {
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
    /// `[x0, x1]` and height `[y0, y1]`. The shader gets (X, Y) at each pixel centre (clamped into
    /// the rectangle) and returns `None` where the shape is transparent.
    #[allow(clippy::too_many_arguments)]
    fn billboard(
        &mut self,
        cam: &Cam,
        x0: f32,
        x1: f32,
        y0: f32,
        y1: f32,
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
    #[allow(clippy::too_many_arguments)]
    fn side_plane(
        &mut self,
        cam: &Cam,
        xp: f32,
        z0: f32,
        z1: f32,
        y0: f32,
        y1: f32,
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
fn coverage(a: f32, fp: f32, c: f32, hw: f32) -> f32 {
    let lo = (a - fp * 0.5).max(c - hw);
    let hi = (a + fp * 0.5).min(c + hw);
    ((hi - lo) / fp).clamp(0.0, 1.0)
}

/// A car ready to draw.
#[derive(Clone, Copy)]
struct CarDraw {
    xrel: f32,
    z: f32,
    shape: CarShape,
    paint: Rgb,
    oncoming: bool,
    inst: u8,
}

struct Rendered {
    image: Vec<u8>,
    labels: Vec<u8>,
    /// Car-body instance map (read by the tests).
    #[cfg_attr(not(test), allow(dead_code))]
    inst: Vec<u8>,
}

fn render(
    factors: &SceneFactors,
    st: &Structure,
    cars: &[CarDraw],
    h: usize,
    w: usize,
) -> Rendered {
    assert!(h > 0 && w > 0, "image size must be positive");
    let cam = Cam {
        f: FOCAL_H * h as f32,
        xv: factors.vanishing_x * w as f32,
        yh: factors.horizon * h as f32,
        cam_x: EGO_LANE_X + factors.camera_offset,
    };
    let light = Light::of(factors.time_of_day);
    let season = factors.season;
    let mut cv = Canvas::new(h, w);
    let key = st.key;

    // Street lamp light pools (camera-relative X, z) under the lamp heads.
    let pools: Vec<(f32, f32)> = st
        .poles
        .iter()
        .filter(|p| p.kind == PoleKind::Lamp)
        .map(|p| (p.x - p.side * 1.9 - cam.cam_x, p.z))
        .collect();

    // --- sky and ground -------------------------------------------------------------------
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

    // --- buildings --------------------------------------------------------------------------
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
            cv.side_plane(&cam, xp, b.z0, b.z1.min(Z_FAR), 0.0, b.height, |z, y| {
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
                cv.billboard(&cam, x0, x1, 0.0, b.height, b.z0, false, |x, y| {
                    let u = (x - xp).abs();
                    Some(facade_paint(b, u, y, b.z0, 0.72, 30.0))
                });
            }
        }
    }

    // --- trees ------------------------------------------------------------------------------
    let foliage = foliage_albedo(season);
    for t in &st.trees {
        let xr = t.x - cam.cam_x;
        cv.billboard(
            &cam,
            xr - 0.14,
            xr + 0.14,
            0.0,
            t.crown_y,
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
            &cam,
            xr - r,
            xr + r,
            t.crown_y - r,
            t.crown_y + r,
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

    // --- poles, lamps, signs, traffic lights ------------------------------------------------
    for p in &st.poles {
        let xr = p.x - cam.cam_x;
        let pole = |z: f32| -> Paint { (light.lit(POLE_ALBEDO, z), id::POLE, 0) };
        match p.kind {
            PoleKind::Lamp => {
                let top = 7.6;
                cv.billboard(&cam, xr - 0.09, xr + 0.09, 0.0, top, p.z, true, |_, _| {
                    Some(pole(p.z))
                });
                let reach = -p.side * 1.9;
                let (a0, a1) = if reach < 0.0 {
                    (xr + reach, xr)
                } else {
                    (xr, xr + reach)
                };
                cv.billboard(&cam, a0, a1, top - 0.15, top, p.z, true, |_, _| {
                    Some(pole(p.z))
                });
                let hx = xr + reach;
                cv.billboard(
                    &cam,
                    hx - 0.4,
                    hx + 0.4,
                    top - 0.42,
                    top - 0.05,
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
                cv.billboard(&cam, xr - 0.05, xr + 0.05, 0.0, 2.9, p.z, true, |_, _| {
                    Some(pole(p.z))
                });
                let (cy, s) = (2.55, 0.36);
                let zs = p.z - 0.05;
                cv.billboard(&cam, xr - s, xr + s, cy - s, cy + s, zs, true, |x, y| {
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
                cv.billboard(&cam, xr - 0.07, xr + 0.07, 0.0, 3.2, p.z, true, |_, _| {
                    Some(pole(p.z))
                });
                let zs = p.z - 0.1;
                cv.billboard(&cam, xr - 0.22, xr + 0.22, 3.1, 4.25, zs, true, |x, y| {
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
                });
            }
        }
    }

    // --- cars -------------------------------------------------------------------------------
    for c in cars {
        draw_car(&mut cv, &cam, &light, c);
    }

    // --- sensor noise and quantisation ------------------------------------------------------
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
    Rendered {
        image,
        labels: cv.lab,
        inst: cv.inst,
    }
}

fn draw_car(cv: &mut Canvas, cam: &Cam, light: &Light, c: &CarDraw) {
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
        cv.side_plane(cam, xs, z0, z0 + len, 0.0, hgt, |z, y| {
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
    cv.billboard(cam, c.xrel - hw, c.xrel + hw, 0.0, hgt, z, false, |x, y| {
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
    });
}

fn car_draws(factors: &SceneFactors, st: &Structure) -> Vec<CarDraw> {
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

fn render_scene(seed: u64, index: u64, height: usize, width: usize) -> (SceneFactors, Rendered) {
    let factors = sample_factors(seed, index);
    let st = build_structure(seed, index, factors.n_cars);
    let cars = car_draws(&factors, &st);
    let r = render(&factors, &st, &cars, height, width);
    (factors, r)
}

/// Sample `index` of the dataset with `seed` at `height x width` (any size; 1:2 is typical).
/// A pure function: the same arguments give the same bytes.
pub fn generate_scene(seed: u64, index: u64, height: usize, width: usize) -> SynthSample {
    let (factors, r) = render_scene(seed, index, height, width);
    SynthSample {
        image: r.image,
        labels: r.labels,
        factors,
        height,
        width,
    }
}

/// Depth of the moving car in frame `t` of `frames`: out toward the horizon (70 m further at
/// `t = frames / 2`) and back. The motion loops: frame `frames` would equal frame 0.
fn sequence_depth(z0: f32, t: usize, frames: usize) -> f32 {
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

// ---------------------------------------------------------------------------------------------
// Tests
// ---------------------------------------------------------------------------------------------

#[cfg(test)]
mod tests {
    use super::*;

    fn dist(a: Rgb, b: Rgb) -> f32 {
        ((a[0] - b[0]).powi(2) + (a[1] - b[1]).powi(2) + (a[2] - b[2]).powi(2)).sqrt()
    }

    #[test]
    fn deterministic_per_seed_and_index() {
        let a = generate_scene(7, 3, 64, 128);
        let b = generate_scene(7, 3, 64, 128);
        assert_eq!(a, b);
        let c = generate_scene(7, 4, 64, 128);
        assert_ne!(a.image, c.image);
        assert_ne!(a.labels, c.labels);
        let d = generate_scene(8, 3, 64, 128);
        assert_ne!(a.image, d.image);
        assert_eq!(sample_factors(7, 3), a.factors);
    }

    #[test]
    fn sizes_match_request() {
        for (h, w) in [
            (32, 64),
            (64, 128),
            (256, 512),
            (48, 48),
            (33, 70),
            (1, 1),
            (8, 16),
        ] {
            let s = generate_scene(1, 0, h, w);
            assert_eq!((s.height, s.width), (h, w));
            assert_eq!(s.image.len(), h * w * 3);
            assert_eq!(s.labels.len(), h * w);
        }
    }

    #[test]
    fn labels_valid_and_main_classes_present() {
        let n = 60;
        let mut counts = [0usize; 20];
        for i in 0..n {
            let s = generate_scene(11, i, 64, 128);
            let mut present = [false; 256];
            for &l in &s.labels {
                assert!(l < 19, "label {l} out of range (void is never drawn)");
                present[l as usize] = true;
            }
            for (k, p) in present.iter().take(20).enumerate() {
                counts[k] += *p as usize;
            }
        }
        for cls in [id::ROAD, id::SIDEWALK, id::BUILDING, id::SKY, id::CAR] {
            assert!(
                counts[cls as usize] * 10 >= n as usize * 9,
                "class {cls} present in only {}/{n} scenes",
                counts[cls as usize]
            );
        }
        for cls in [id::VEGETATION, id::TERRAIN, id::POLE] {
            assert!(
                counts[cls as usize] * 2 >= n as usize,
                "class {cls} present in only {}/{n} scenes",
                counts[cls as usize]
            );
        }
    }

    #[test]
    fn factor_frequencies_match_spec() {
        let spec = factor_spec();
        let n = 40_000u64;
        let mut tally: std::collections::HashMap<(String, String), usize> = Default::default();
        let mut cars = 0usize;
        let mut horizon_sum = 0.0f64;
        for i in 0..n {
            let f = sample_factors(2024, i);
            assert_eq!(f.car_paint.len(), f.n_cars);
            assert_eq!(f.car_lane.len(), f.n_cars);
            assert_eq!(f.car_distance.len(), f.n_cars);
            assert!(f.car_distance.windows(2).all(|p| p[0] <= p[1]));
            assert!((HORIZON_RANGE.0..HORIZON_RANGE.1).contains(&f.horizon));
            horizon_sum += f.horizon as f64;
            *tally
                .entry(("time_of_day".into(), f.time_of_day.name().into()))
                .or_default() += 1;
            *tally
                .entry(("season".into(), f.season.name().into()))
                .or_default() += 1;
            *tally
                .entry(("facade".into(), f.facade.name().into()))
                .or_default() += 1;
            *tally
                .entry(("n_cars".into(), f.n_cars.to_string()))
                .or_default() += 1;
            for p in &f.car_paint {
                *tally
                    .entry(("car_paint".into(), p.name().into()))
                    .or_default() += 1;
            }
            cars += f.n_cars;
        }
        let mut checked = 0;
        for fd in &spec.factors {
            if let Distribution::Categorical { levels } = &fd.distribution {
                let total: f64 = levels.iter().map(|l| l.probability).sum();
                assert!(
                    (total - 1.0).abs() < 1e-9,
                    "{} probabilities sum to {total}",
                    fd.name
                );
                let denom = if fd.scope == "car" { cars } else { n as usize } as f64;
                for l in levels {
                    let got = *tally.get(&(fd.name.clone(), l.value.clone())).unwrap_or(&0) as f64
                        / denom;
                    assert!(
                        (got - l.probability).abs() < 0.015,
                        "{}={}: empirical {got:.4} vs spec {}",
                        fd.name,
                        l.value,
                        l.probability
                    );
                    checked += 1;
                }
            }
        }
        assert_eq!(checked, 3 + 3 + 4 + 5 + 6);
        let mean_h = horizon_sum / n as f64;
        assert!((mean_h - 0.45).abs() < 0.005, "mean horizon {mean_h}");
        // Spec probabilities are the sampler's own.
        assert_eq!(spec.probability("car_paint", "yellow"), Some(0.05));
        assert_eq!(
            spec.probability("time_of_day", "night"),
            Some(TimeOfDay::Night.probability())
        );
    }

    #[test]
    fn spec_and_factors_serialize_as_lowercase() {
        let f = sample_factors(5, 5);
        let js = serde_json::to_string(&f).unwrap();
        assert!(
            js.contains(&format!("\"time_of_day\":\"{}\"", f.time_of_day.name())),
            "{js}"
        );
        assert_eq!(serde_json::from_str::<SceneFactors>(&js).unwrap(), f);
        for p in CarPaint::all() {
            assert_eq!(
                serde_json::to_string(&p).unwrap(),
                format!("\"{}\"", p.name())
            );
        }
        let spec = factor_spec();
        let js = serde_json::to_string_pretty(&spec).unwrap();
        assert_eq!(serde_json::from_str::<FactorSpec>(&js).unwrap(), spec);
        assert!(js.contains("\"kind\": \"categorical\""));
    }

    #[test]
    fn night_darker_than_day() {
        let (mut day, mut night) = ((0.0f64, 0usize), (0.0f64, 0usize));
        let (mut day_all, mut night_all) = ((0.0f64, 0usize), (0.0f64, 0usize));
        for i in 0..400 {
            let f = sample_factors(3, i);
            if f.time_of_day == TimeOfDay::Dusk {
                continue;
            }
            let s = generate_scene(3, i, 32, 64);
            let mut sky = (0.0f64, 0usize);
            let mut all = 0.0f64;
            for (p, &l) in s.labels.iter().enumerate() {
                let v = s.image[p * 3..p * 3 + 3]
                    .iter()
                    .map(|&c| c as f64)
                    .sum::<f64>()
                    / 3.0;
                all += v;
                if l == id::SKY {
                    sky.0 += v;
                    sky.1 += 1;
                }
            }
            let acc = if f.time_of_day == TimeOfDay::Night {
                (&mut night, &mut night_all)
            } else {
                (&mut day, &mut day_all)
            };
            acc.0.0 += sky.0 / sky.1.max(1) as f64;
            acc.0.1 += 1;
            acc.1.0 += all / s.labels.len() as f64;
            acc.1.1 += 1;
        }
        assert!(
            day.1 > 100 && night.1 > 10,
            "{} day, {} night scenes",
            day.1,
            night.1
        );
        let (d, n) = (day.0 / day.1 as f64, night.0 / night.1 as f64);
        assert!(n < d * 0.35, "night sky {n:.1} vs day sky {d:.1}");
        let (da, na) = (
            day_all.0 / day_all.1 as f64,
            night_all.0 / night_all.1 as f64,
        );
        assert!(na < da * 0.5, "night mean {na:.1} vs day mean {da:.1}");
    }

    #[test]
    fn car_colour_matches_paint() {
        let palette: Vec<(CarPaint, Rgb)> = CarPaint::all()
            .into_iter()
            .map(|p| (p, paint_albedo(p)))
            .collect();
        let mut checked = 0;
        let mut seen = std::collections::HashSet::new();
        for i in 0..300 {
            let (f, r) = render_scene(9, i, 64, 128);
            if f.time_of_day != TimeOfDay::Day {
                continue;
            }
            for k in 0..f.n_cars {
                if f.car_distance[k] > 25.0 {
                    continue;
                }
                let mut sum = [0.0f32; 3];
                let mut cnt = 0usize;
                for (p, &inst) in r.inst.iter().enumerate() {
                    if inst as usize == k + 1 {
                        assert_eq!(r.labels[p], id::CAR);
                        for (acc, &v) in sum.iter_mut().zip(&r.image[p * 3..p * 3 + 3]) {
                            *acc += v as f32;
                        }
                        cnt += 1;
                    }
                }
                if cnt < 20 {
                    continue;
                }
                let mean = scale3(sum, 1.0 / cnt as f32);
                let truth = paint_albedo(f.car_paint[k]);
                let nearest = palette
                    .iter()
                    .min_by(|a, b| dist(mean, a.1).total_cmp(&dist(mean, b.1)))
                    .unwrap()
                    .0;
                assert_eq!(nearest, f.car_paint[k], "scene {i} car {k}: mean {mean:?}");
                assert!(
                    dist(mean, truth) < 40.0,
                    "scene {i} car {k}: mean {mean:?} vs paint {truth:?}"
                );
                seen.insert(f.car_paint[k]);
                checked += 1;
            }
        }
        assert!(checked >= 60, "only {checked} cars checked");
        assert!(seen.len() >= 5, "only {} paints seen", seen.len());
    }

    #[test]
    fn every_car_pixel_is_labelled_car_and_cars_visible() {
        // Each car draws at least a few pixels at 64x128 and body pixels are labelled car.
        let mut visible = 0;
        let mut total = 0;
        for i in 0..100 {
            let (f, r) = render_scene(21, i, 64, 128);
            for k in 0..f.n_cars {
                total += 1;
                if r.inst.iter().filter(|&&v| v as usize == k + 1).count() >= 3 {
                    visible += 1;
                }
            }
            for (p, &v) in r.inst.iter().enumerate() {
                if v > 0 {
                    assert_eq!(r.labels[p], id::CAR);
                }
            }
        }
        assert!(visible * 10 >= total * 8, "{visible}/{total} cars visible");
    }

    #[test]
    fn layout_sequence_car_recedes_and_returns() {
        let frames = 12;
        let seq = layout_sequence(4, frames, 128, 256);
        assert_eq!(seq.len(), frames);
        for f in &seq {
            assert_eq!(f.len(), 128 * 256);
        }
        for t in 1..frames {
            assert!(seq[t - 1] != seq[t], "frames {} and {t} identical", t - 1);
        }
        let area: Vec<usize> = seq
            .iter()
            .map(|f| f.iter().filter(|&&l| l == id::CAR).count())
            .collect();
        let mid = frames / 2;
        assert!(area[mid] < area[0] / 2, "{area:?}");
        for t in 1..=mid {
            assert!(
                area[t] < area[t - 1],
                "car area grows while driving away: {area:?}"
            );
        }
        for t in (mid + 1)..frames {
            assert!(
                area[t] > area[t - 1],
                "car area shrinks while coming back: {area:?}"
            );
        }
        // Everything but cars (and what they uncover) stays fixed: sky and buildings unchanged
        // away from the road.
        let same = seq[0].iter().zip(&seq[mid]).filter(|(a, b)| a == b).count();
        assert!(same as f64 > 0.9 * seq[0].len() as f64);
    }

    #[test]
    fn scene_is_perspective_consistent() {
        // Sky only above the horizon, road only below it; road pixels converge: the road is wider
        // in the bottom row than just below the horizon.
        for i in 0..20 {
            let s = generate_scene(13, i, 64, 128);
            let yh = s.factors.horizon * 64.0;
            let row_count = |y: usize, c: u8| {
                s.labels[y * 128..(y + 1) * 128]
                    .iter()
                    .filter(|&&l| l == c)
                    .count()
            };
            for y in 0..64 {
                if (y as f32 + 0.5) > yh {
                    assert_eq!(row_count(y, id::SKY), 0, "sky below horizon in scene {i}");
                } else {
                    assert_eq!(row_count(y, id::ROAD), 0, "road above horizon in scene {i}");
                }
            }
            let first = (yh.ceil() as usize + 2).min(63);
            assert!(
                row_count(63, id::ROAD) + row_count(63, id::CAR) > row_count(first, id::ROAD) + 10,
                "scene {i}"
            );
        }
    }
}
