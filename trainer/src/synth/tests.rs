//! Tests of the built-in scenes: determinism, the factor frequencies, labels against pixels, and
//! the layout sequences.

use super::factors::*;
use super::palette::*;
use super::sequence::*;
use super::*;
use cimle::classes::id;

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
                let got =
                    *tally.get(&(fd.name.clone(), l.value.clone())).unwrap_or(&0) as f64 / denom;
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

#[test]
fn the_noise_free_photo_is_the_photo_without_its_sensor_noise() {
    let (h, w) = (64, 128);
    for index in 0..3 {
        let (scene, clean) = generate_scene_with_noise_free(7, index, h, w);
        assert_eq!(scene, generate_scene(7, index, h, w));
        assert_eq!(clean, generate_scene_with_noise_free(7, index, h, w).1);
        let noisy = scene.image;
        assert_eq!(clean.len(), noisy.len());
        // Noise: 6 levels of luminance and 1.5 of chroma at most, then rounding (and clamping,
        // which only brings the two closer).
        let worst = noisy
            .iter()
            .zip(&clean)
            .map(|(&a, &b)| (a as i32 - b as i32).abs())
            .max()
            .unwrap();
        assert!(worst <= 8, "scene {index}: {worst} levels apart");
        assert!(noisy != clean, "scene {index}: no noise");
        let sharp = |im: &[u8]| crate::evaluate::sharpness(im, h, w);
        assert!(
            sharp(&clean) < sharp(&noisy),
            "scene {index}: noise adds gradient"
        );
    }
}
