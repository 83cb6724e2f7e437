//! The regions the reader looks at and their robust colour statistics: median colours of the
//! interior pixels of sky, vegetation, terrain, sidewalk, buildings and the nearest car.

use cimle::classes::id;

use super::{MIN_REGION_PIXELS, Rgb};

/// Robust colour statistics of the regions the reader looks at.
#[derive(Debug, Clone, Copy, Default)]
pub(super) struct RegionColors {
    pub(super) sky: Option<Rgb>,
    /// Mean colour of the whole image.
    pub(super) image: Option<Rgb>,
    pub(super) vegetation: Option<Rgb>,
    pub(super) terrain: Option<Rgb>,
    pub(super) sidewalk: Option<Rgb>,
    pub(super) building: Option<Rgb>,
    pub(super) car: Option<Rgb>,
}

impl RegionColors {
    pub(super) fn season_regions(&self) -> [Option<Rgb>; 3] {
        [self.vegetation, self.terrain, self.sidewalk]
    }
}

/// Per-channel median of the listed pixels.
pub(super) fn median_rgb(image: &[u8], pixels: impl Iterator<Item = usize>) -> Option<Rgb> {
    let mut hist = [[0u32; 256]; 3];
    let mut n = 0u32;
    for p in pixels {
        for (ch, h) in hist.iter_mut().enumerate() {
            h[image[p * 3 + ch] as usize] += 1;
        }
        n += 1;
    }
    if n == 0 {
        return None;
    }
    let mut out = [0.0f32; 3];
    for (ch, h) in hist.iter().enumerate() {
        // Mean of the lower and upper medians.
        let lo_rank = (n - 1) / 2;
        let hi_rank = n / 2;
        let (mut lo, mut hi) = (None, None);
        let mut acc = 0u32;
        for (v, &c) in h.iter().enumerate() {
            acc += c;
            if lo.is_none() && acc > lo_rank {
                lo = Some(v);
            }
            if acc > hi_rank {
                hi = Some(v);
                break;
            }
        }
        out[ch] = (lo.unwrap_or(0) + hi.unwrap_or(0)) as f32 * 0.5;
    }
    Some(out)
}

/// Whether pixel `p` and its four neighbours (inside the image) all carry `label`.
pub(super) fn interior(labels: &[u8], h: usize, w: usize, p: usize, label: u8) -> bool {
    let (y, x) = (p / w, p % w);
    labels[p] == label
        && (y == 0 || labels[p - w] == label)
        && (y + 1 == h || labels[p + w] == label)
        && (x == 0 || labels[p - 1] == label)
        && (x + 1 == w || labels[p + 1] == label)
}

/// Median colour of the pixels of `candidates` (all labelled `label`), using only interior pixels
/// when there are enough of them.
pub(super) fn region_median(
    image: &[u8],
    labels: &[u8],
    h: usize,
    w: usize,
    label: u8,
    candidates: &[usize],
) -> Option<Rgb> {
    if candidates.len() < MIN_REGION_PIXELS {
        return None;
    }
    let inner: Vec<usize> = candidates
        .iter()
        .copied()
        .filter(|&p| interior(labels, h, w, p, label))
        .collect();
    if inner.len() >= MIN_REGION_PIXELS {
        median_rgb(image, inner.into_iter())
    } else {
        median_rgb(image, candidates.iter().copied())
    }
}

/// Pixels of the nearest car's lower body: the 4-connected car blob that reaches lowest in the
/// image (ties: the larger blob), restricted to the band between its bumper and belt line.
pub(super) fn nearest_car_pixels(labels: &[u8], h: usize, w: usize) -> Vec<usize> {
    let mut comp = vec![u32::MAX; h * w];
    // (bottom row, size, pixels) of the best blob so far.
    let mut best: Option<(usize, usize, Vec<usize>)> = None;
    let mut stack = Vec::new();
    for start in 0..h * w {
        if labels[start] != id::CAR || comp[start] != u32::MAX {
            continue;
        }
        let mut pixels = Vec::new();
        comp[start] = start as u32;
        stack.push(start);
        while let Some(p) = stack.pop() {
            pixels.push(p);
            let (y, x) = (p / w, p % w);
            let mut visit = |q: usize| {
                if labels[q] == id::CAR && comp[q] == u32::MAX {
                    comp[q] = start as u32;
                    stack.push(q);
                }
            };
            if y > 0 {
                visit(p - w);
            }
            if y + 1 < h {
                visit(p + w);
            }
            if x > 0 {
                visit(p - 1);
            }
            if x + 1 < w {
                visit(p + 1);
            }
        }
        let bottom = pixels.iter().map(|&p| p / w).max().unwrap_or(0);
        let better = match &best {
            None => true,
            Some((b, n, _)) => bottom > *b || (bottom == *b && pixels.len() > *n),
        };
        if better {
            best = Some((bottom, pixels.len(), pixels));
        }
    }
    let Some((bottom, _, pixels)) = best else {
        return Vec::new();
    };
    // Horizon row: the first row with road (the road reaches the horizon), else just below the
    // last sky row, else the middle of the typical range.
    let road_top = labels.iter().position(|&l| l == id::ROAD).map(|p| p / w);
    let sky_bottom = labels
        .iter()
        .rposition(|&l| l == id::SKY)
        .map(|p| p / w + 1);
    let horizon = road_top.or(sky_bottom).unwrap_or(h * 45 / 100).min(bottom) as f32;
    // The camera is 1.6 m above the road, so a car standing on the road at this distance spans
    // `bottom - horizon` pixels per 1.6 m. The lower body (0.35 m to the belt line at ~0.85 m)
    // lies between these fractions of that span above the bottom row.
    let span = bottom as f32 + 1.0 - horizon;
    let lo = bottom as f32 + 1.0 - span * (0.85 / 1.6);
    let hi = bottom as f32 + 1.0 - span * (0.35 / 1.6);
    let band: Vec<usize> = pixels
        .iter()
        .copied()
        .filter(|&p| {
            let y = (p / w) as f32 + 0.5;
            y >= lo && y <= hi
        })
        .collect();
    if band.len() >= MIN_REGION_PIXELS {
        band
    } else {
        pixels
    }
}

pub(super) fn extract(image: &[u8], labels: &[u8], h: usize, w: usize) -> Option<RegionColors> {
    let n = h.checked_mul(w)?;
    if n == 0 || labels.len() != n || image.len() != n.checked_mul(3)? {
        return None;
    }
    let mut by_label: [Vec<usize>; 20] = Default::default();
    let mut sum = [0.0f64; 3];
    for (p, &l) in labels.iter().enumerate() {
        if (l as usize) < by_label.len() {
            by_label[l as usize].push(p);
        }
        for (ch, s) in sum.iter_mut().enumerate() {
            *s += image[p * 3 + ch] as f64;
        }
    }
    let region = |label: u8| region_median(image, labels, h, w, label, &by_label[label as usize]);
    let car_pixels = nearest_car_pixels(labels, h, w);
    Some(RegionColors {
        sky: region(id::SKY),
        image: Some(sum.map(|s| (s / n as f64) as f32)),
        vegetation: region(id::VEGETATION),
        terrain: region(id::TERRAIN),
        sidewalk: region(id::SIDEWALK),
        building: region(id::BUILDING),
        car: region_median(image, labels, h, w, id::CAR, &car_pixels),
    })
}
