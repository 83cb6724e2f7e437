//! Scene geometry in metres (world X: 0 = the road's centre line, + = right; Z: distance ahead),
//! the camera, and where cars fit in view.

use super::factors::CAR_DISTANCE_RANGE;

/// Camera height above the road.
pub(super) const CAM_H: f32 = 1.6;
/// Focal length in units of the image height.
pub(super) const FOCAL_H: f32 = 1.7;
/// Width/height ratio the car placement keeps cars in view for.
pub(super) const REF_ASPECT: f32 = 2.0;
/// World X of the camera's lane centre.
pub(super) const EGO_LANE_X: f32 = 1.5;
pub(super) const LANE_W: f32 = 3.0;
pub(super) const ROAD_HALF: f32 = 6.0;
pub(super) const VERGE_OUT: f32 = 7.5;
pub(super) const FACADE_X: f32 = 10.5;
/// Buildings end here; the street continues to the horizon.
pub(super) const Z_FAR: f32 = 240.0;
/// Distance over which haze builds up.
pub(super) const HAZE_DIST: f32 = 220.0;
pub(super) const HAZE_MAX: f32 = 0.8;
/// Nominal car size for placement (the drawn cars vary around it).
pub(super) const CAR_W_NOM: f32 = 1.9;
pub(super) const CAR_H_NOM: f32 = 1.6;

pub(super) fn lane_rel_x(lane: i8, camera_offset: f32) -> f32 {
    EGO_LANE_X + LANE_W * lane as f32 - (EGO_LANE_X + camera_offset)
}

/// Nearest distance at which a car in a lane is fully in view at the reference aspect.
pub(super) fn lane_min_distance(xrel: f32) -> f32 {
    let half_view = (REF_ASPECT * 0.5) / FOCAL_H; // metres of half width per metre of depth
    ((xrel.abs() + CAR_W_NOM * 0.5 + 0.2) / half_view).max(CAR_DISTANCE_RANGE.0)
}

/// Projected rectangle of a nominal car in units of the image height, relative to the vanishing
/// point: (x0, x1, y0, y1).
pub(super) fn car_rect(xrel: f32, z: f32) -> (f32, f32, f32, f32) {
    let s = FOCAL_H / z;
    (
        (xrel - CAR_W_NOM * 0.5) * s,
        (xrel + CAR_W_NOM * 0.5) * s,
        (CAM_H - CAR_H_NOM) * s,
        CAM_H * s,
    )
}

pub(super) fn rect_overlap_fraction(a: (f32, f32, f32, f32), b: (f32, f32, f32, f32)) -> f32 {
    let ix = (a.1.min(b.1) - a.0.max(b.0)).max(0.0);
    let iy = (a.3.min(b.3) - a.2.max(b.2)).max(0.0);
    let area_a = (a.1 - a.0) * (a.3 - a.2);
    let area_b = (b.1 - b.0) * (b.3 - b.2);
    ix * iy / area_a.min(area_b).max(1e-9)
}
