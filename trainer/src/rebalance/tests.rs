//! Tests of the rarity scores, the KDE, the sampler and the mask, with the fixtures they share.

use burn::tensor::{Device, Tensor};
use cimle::classes::NUM_CLASSES;
use cimle::latent::PortableRng;
use cimle::layout::Layout;

use super::sampler::draw_proportional;
use super::*;
use crate::data::Pair;

#[test]
fn tempering_softens_the_spread_and_one_is_the_identity() {
    let mut scores = RarityScores {
        cache_key: String::new(),
        min_images: 0,
        classes: [ClassKde {
            images: 2,
            status: KdeStatus::Fitted,
        }; NUM_CLASSES],
        scores: vec![[0.0; NUM_CLASSES]; 2],
    };
    scores.scores[0][0] = 1000.0;
    scores.scores[1][0] = 10.0;
    assert_eq!(scores.tempered(1.0).scores, scores.scores);
    let half = scores.tempered(0.5);
    assert!((half.scores[0][0] / half.scores[1][0] - 10.0).abs() < 1e-9);
    assert_eq!(half.scores[0][1], 0.0);
    let none = scores.tempered(0.0);
    assert_eq!(none.scores[0][0], none.scores[1][0]);
}

fn layout(h: usize, w: usize, ids: Vec<u8>) -> Layout {
    Layout::new(h, w, ids).unwrap()
}

/// A 4x4 pair: the top half of class `top` in colour `top_rgb`, the bottom half of class
/// `bottom` in colour `bottom_rgb`.
fn pair(top: u8, top_rgb: [u8; 3], bottom: u8, bottom_rgb: [u8; 3]) -> Pair {
    let ids: Vec<u8> = (0..16).map(|i| if i < 8 { top } else { bottom }).collect();
    let image = (0..16)
        .flat_map(|i| if i < 8 { top_rgb } else { bottom_rgb })
        .collect();
    Pair {
        layout: layout(4, 4, ids),
        image,
    }
}

fn close(a: f64, b: f64, rel: f64) -> bool {
    (a - b).abs() <= rel * a.abs().max(b.abs())
}

#[test]
fn average_colors_are_class_means_in_0_255() {
    // 2x2: three pixels of road, one of sky.
    let l = layout(2, 2, vec![0, 0, 10, 0]);
    let image = [10, 20, 30, 20, 40, 60, 255, 255, 255, 30, 60, 90];
    let c = average_colors(&image, &l);
    assert_eq!(c[0], Some([20.0, 40.0, 60.0]));
    assert_eq!(c[10], Some([255.0, 255.0, 255.0]));
    assert_eq!(c.iter().filter(|c| c.is_some()).count(), 2);
}

/// Reference values from scipy 1.17.1 / numpy 2.4.6:
/// ```python
/// import numpy as np
/// from scipy.stats import gaussian_kde
/// pts = np.array([[120., 122., 125.], [128., 130., 126.], [110., 118., 131.],
///                 [135., 127., 120.], [200., 40., 35.], [125., 121., 128.]])
/// kde = gaussian_kde(pts.T)
/// kde.factor, kde.covariance
/// for q in ([125., 124., 126.], [200., 40., 35.], [160., 90., 80.]):
///     print(repr(kde(np.array(q).reshape(3, 1))[0]))
/// ```
#[test]
fn kde_matches_scipy_gaussian_kde() {
    let pts = [
        [120., 122., 125.],
        [128., 130., 126.],
        [110., 118., 131.],
        [135., 127., 120.],
        [200., 40., 35.],
        [125., 121., 128.],
    ];
    let kde = GaussianKde::fit(&pts).unwrap();
    assert_eq!(kde.len(), 6);
    assert!(close(kde.factor(), 0.7741685699586098, 1e-14));
    let scipy_cov = [
        [624.908685632794, -620.5934594148694, -710.0544918401779],
        [-620.5934594148694, 709.2953316722097, 753.6862235991939],
        [-710.0544918401779, 753.6862235991939, 835.0961626642081],
    ];
    for (row, want) in kde.covariance().iter().zip(&scipy_cov) {
        for (&a, &b) in row.iter().zip(want) {
            assert!(close(a, b, 1e-12), "{a} vs {b}");
        }
    }
    for (q, want) in [
        ([125., 124., 126.], 2.8042395256745895e-05),
        ([200., 40., 35.], 2.5717039226396756e-05),
        ([160., 90., 80.], 7.353026760210654e-07),
    ] {
        let got = kde.density(q);
        assert!(close(got, want, 1e-9), "D({q:?}) = {got}, scipy {want}");
    }
    // The threaded path (over 2^20 kernel evaluations) gives the same numbers.
    let many: Vec<[f64; 3]> = (0..1100)
        .map(|i| {
            [
                (i % 97) as f64,
                (i % 31) as f64 * 2.0,
                (i % 13) as f64 * 5.0,
            ]
        })
        .collect();
    let big = GaussianKde::fit(&many).unwrap();
    let batched = big.densities(&many);
    for (x, d) in many.iter().zip(batched) {
        assert_eq!(d, big.density(*x));
    }
}

/// scipy: `gaussian_kde(np.array([[10,20,30],[40,60,20],[90,10,50]]).T)` raises
/// `LinAlgError` (3 points always lie in a plane). A ridge makes it defined.
#[test]
fn kde_of_three_colours_is_singular_unless_regularised() {
    let three = [[10., 20., 30.], [40., 60., 20.], [90., 10., 50.]];
    assert!(matches!(
        GaussianKde::fit(&three),
        Err(RarityError::SingularCovariance { n: 3 })
    ));
    let kde = GaussianKde::fit_with_ridge(&three, COVARIANCE_RIDGE).unwrap();
    let d = kde.density(three[0]);
    assert!(d.is_finite() && d > 0.0);
    // A constant channel is singular too, and so are identical points.
    let flat = [
        [1., 2., 7.],
        [3., 5., 7.],
        [4., 1., 7.],
        [9., 9., 7.],
        [0., 3., 7.],
    ];
    assert!(GaussianKde::fit(&flat).is_err());
    let same = [[5., 5., 5.]; 10];
    assert!(GaussianKde::fit(&same).is_err());
    let kde = GaussianKde::fit_with_ridge(&same, 1.0).unwrap();
    assert!(kde.density([5., 5., 5.]) > kde.density([6., 5., 5.]));
    assert!(matches!(
        GaussianKde::fit(&[[1., 2., 3.]]),
        Err(RarityError::TooFewPoints(1))
    ));
    assert!(matches!(
        GaussianKde::fit(&[[1., 2., f64::NAN], [1., 2., 3.]]),
        Err(RarityError::NonFinite)
    ));
}

/// 50 images of grey road (slightly varied) and 2 of red road; sky in only 5 images.
fn grey_and_red_roads() -> Vec<Pair> {
    let mut pairs = Vec::new();
    for i in 0..52u8 {
        let road = if i < 50 {
            [120 + i % 7, 121 + i % 5, 119 + i % 3]
        } else {
            [200 + i % 2, 30, 31 + i % 3]
        };
        let top = if i % 10 == 0 { 10 } else { 2 };
        pairs.push(pair(top, [90 + i % 11, 100 + i % 4, 80 + i % 6], 0, road));
    }
    pairs
}

#[test]
fn rare_colour_gets_larger_rarity() {
    let pairs = grey_and_red_roads();
    let r = RarityScores::compute(&pairs, 10).unwrap();
    assert_eq!(r.len(), 52);
    assert_eq!(r.classes[0].status, KdeStatus::Fitted);
    assert_eq!(r.classes[0].images, 52);
    let max_grey = (0..50).map(|k| r.scores[k][0]).fold(0.0, f64::max);
    let min_red = (50..52)
        .map(|k| r.scores[k][0])
        .fold(f64::INFINITY, f64::min);
    assert!(max_grey > 0.0);
    assert!(min_red > max_grey, "red {min_red} vs grey {max_grey}");
    // Absent classes score 0.
    assert!(r.scores.iter().all(|s| s[13] == 0.0));
}

#[test]
fn identical_colours_are_regularised_and_still_rank_rarity() {
    let mut pairs: Vec<Pair> = (0..50)
        .map(|_| pair(2, [90, 90, 90], 0, [128; 3]))
        .collect();
    pairs.push(pair(2, [90, 90, 90], 0, [200, 30, 30]));
    pairs.push(pair(2, [90, 90, 90], 0, [200, 30, 30]));
    let r = RarityScores::compute(&pairs, 10).unwrap();
    assert_eq!(r.classes[0].status, KdeStatus::Regularized);
    assert_eq!(r.classes[2].status, KdeStatus::Regularized);
    assert!(r.scores[50][0] > r.scores[0][0]);
    // Building has one colour: every image equally (un)rare.
    assert!(
        r.scores
            .iter()
            .all(|s| s[2] == r.scores[0][2] && s[2] > 0.0)
    );
}

#[test]
fn classes_under_min_images_are_skipped() {
    let pairs = grey_and_red_roads();
    // Sky is in 6 of the 52 images (i % 10 == 0).
    let r = RarityScores::compute(&pairs, 10).unwrap();
    assert_eq!(r.classes[10].images, 6);
    assert_eq!(r.classes[10].status, KdeStatus::Skipped);
    assert!(r.scores.iter().all(|s| s[10] == 0.0));
    assert_eq!(r.fitted_classes(), vec![0, 2]);
    let r = RarityScores::compute(&pairs, 6).unwrap();
    assert!(r.classes[10].fitted());
    assert!(r.scores.iter().filter(|s| s[10] > 0.0).count() == 6);

    // The released threshold: 67 images get no KDE, 68 do.
    let jitter = |i: usize| [(i * 7 % 50) as u8, (i * 13 % 40) as u8, (i * 29 % 60) as u8];
    for (n, fitted) in [(67, false), (68, true)] {
        let pairs: Vec<Pair> = (0..n)
            .map(|i| pair(10, jitter(i), 0, jitter(i + 1)))
            .collect();
        let r = RarityScores::compute(&pairs, DEFAULT_MIN_IMAGES).unwrap();
        assert_eq!(r.classes[0].fitted(), fitted, "{n} images");
        assert_eq!(r.classes[0].images, n);
    }
}

#[test]
fn compute_rejects_a_wrong_image_size() {
    let mut pairs = grey_and_red_roads();
    pairs[3].image.pop();
    assert!(matches!(
        RarityScores::compute(&pairs, 10),
        Err(RarityError::ImageSize { index: 3, .. })
    ));
}

#[test]
fn csv_has_the_header_and_one_row_per_image() {
    let pairs = grey_and_red_roads();
    let r = RarityScores::compute(&pairs, 10).unwrap();
    let names: Vec<String> = (0..NUM_CLASSES).map(|p| format!("c{p}")).collect();
    let csv = r.to_csv(&names);
    let lines: Vec<&str> = csv.lines().collect();
    assert_eq!(lines.len(), 1 + 52);
    assert_eq!(lines[0], format!("image,{}", names.join(",")));
    for (k, line) in lines[1..].iter().enumerate() {
        let cells: Vec<&str> = line.split(',').collect();
        assert_eq!(cells.len(), 1 + NUM_CLASSES);
        assert_eq!(cells[0], k.to_string());
        assert_eq!(cells[1].parse::<f64>().unwrap(), r.scores[k][0]);
    }
    let quoted = r.to_csv(&["road, paved"]);
    assert!(quoted.starts_with("image,\"road, paved\",class1,"));
}

#[test]
fn json_round_trips_and_the_cache_key_detects_changes() {
    let mut pairs = grey_and_red_roads();
    let r = RarityScores::compute(&pairs, 10).unwrap();
    let back = RarityScores::from_json(&r.to_json().unwrap()).unwrap();
    assert_eq!(back.cache_key, r.cache_key);
    assert_eq!(back.min_images, r.min_images);
    assert_eq!(back.classes, r.classes);
    assert_eq!(back.len(), r.len());
    for (a, b) in back.scores.iter().flatten().zip(r.scores.iter().flatten()) {
        // serde_json parses floats to within an ulp unless its `float_roundtrip` is on.
        assert!(close(*a, *b, 1e-15), "{a} vs {b}");
    }
    let key = cache_key(&pairs, 10);
    assert!(r.is_fresh(&key));
    assert_ne!(cache_key(&pairs, 11), key);
    assert_ne!(cache_key(&pairs[..51], 10), key);
    pairs[7].image[5] ^= 1;
    assert_ne!(cache_key(&pairs, 10), key);
    pairs[7].image[5] ^= 1;
    pairs[7].layout.set(0, 0, 5);
    assert_ne!(cache_key(&pairs, 10), key);
}

#[test]
fn largest_classes_by_total_area() {
    let a = layout(1, 6, vec![0, 0, 0, 2, 2, 10]);
    let b = layout(1, 6, vec![2, 2, 19, 19, 19, 1]);
    // road 3, building 4, sky 1, void 3, sidewalk 1.
    assert_eq!(largest_classes([&a, &b], 5), vec![2, 0, 19, 1, 10]);
    assert_eq!(largest_classes([&a, &b], 2), vec![2, 0]);
    assert_eq!(largest_classes([&a], 5), vec![0, 2, 10]);
}

/// Scores for 6 images: class 0 with weights 1, 2, 0, 3, 0, 4; class 2 with one positive
/// image; class 10 with none.
fn toy_scores() -> RarityScores {
    let mut scores = vec![[0.0; NUM_CLASSES]; 6];
    for (k, s) in [1.0, 2.0, 0.0, 3.0, 0.0, 4.0].into_iter().enumerate() {
        scores[k][0] = s * 1e6;
    }
    scores[4][2] = 0.5;
    RarityScores {
        cache_key: String::new(),
        min_images: 1,
        classes: [ClassKde {
            images: 6,
            status: KdeStatus::Fitted,
        }; NUM_CLASSES],
        scores,
    }
}

#[test]
fn shares_of_the_batch_sum_to_its_size() {
    let r = toy_scores();
    let sampler = RebalancedSampler::new(&r, &[0, 2, 10, 19, 1]);
    assert_eq!(sampler.shares(23), vec![5, 5, 5, 4, 4]);
    assert_eq!(sampler.shares(3), vec![1, 1, 1, 0, 0]);
    for size in 0..60 {
        assert_eq!(sampler.shares(size).iter().sum::<usize>(), size);
    }
    // Slot i belongs to class i % 5: class 2's slots always hold image 4.
    let batch = sampler.sample_batch(&mut PortableRng::new(3), 23);
    assert_eq!(batch.len(), 23);
    for (i, &k) in batch.iter().enumerate() {
        match i % 5 {
            0 => assert!(r.scores[k][0] > 0.0),
            1 => assert_eq!(k, 4),
            _ => assert!(k < 6),
        }
    }
}

#[test]
fn draws_follow_the_rarity_scores() {
    let r = toy_scores();
    let sampler = RebalancedSampler::new(&r, &[0, 10]);
    assert!(!sampler.is_uniform(0));
    assert!(sampler.is_uniform(1));
    let want0 = [0.1, 0.2, 0.0, 0.3, 0.0, 0.4];
    for (p, w) in sampler.probabilities(0).iter().zip(want0) {
        assert!((p - w).abs() < 1e-12);
    }
    let draws = 20_000;
    let batch = sampler.sample_batch(&mut PortableRng::new(42), 2 * draws);
    let mut counts = [[0usize; 6]; 2];
    for (i, &k) in batch.iter().enumerate() {
        counts[i % 2][k] += 1;
    }
    // Never drawn for road: the images whose road score is 0.
    assert_eq!(counts[0][2], 0);
    assert_eq!(counts[0][4], 0);
    for k in 0..6 {
        // Standard deviation of a frequency over 20,000 draws is at most 0.0036.
        let f0 = counts[0][k] as f64 / draws as f64;
        assert!((f0 - want0[k]).abs() < 0.015, "road image {k}: {f0}");
        let f1 = counts[1][k] as f64 / draws as f64;
        assert!((f1 - 1.0 / 6.0).abs() < 0.015, "uniform image {k}: {f1}");
    }
    // The same seed gives the same batch.
    assert_eq!(
        sampler.sample_batch(&mut PortableRng::new(42), 2 * draws),
        batch
    );
    // No classes: uniform; no images: nothing.
    let none = RebalancedSampler::new(&r, &[]);
    assert!(none.shares(7).is_empty());
    assert!(
        none.sample_batch(&mut PortableRng::new(1), 7)
            .iter()
            .all(|&k| k < 6)
    );
    let empty = RarityScores {
        scores: Vec::new(),
        ..r
    };
    let sampler = RebalancedSampler::new(&empty, &[0]);
    assert!(sampler.sample_batch(&mut PortableRng::new(1), 7).is_empty());
}

#[test]
fn draw_proportional_handles_the_top_end() {
    // u rounded up to the total must still land on a positive-weight image.
    let cum = [1.0, 1.0, 3.0, 3.0];
    let mut rng = PortableRng::new(0);
    for _ in 0..1000 {
        let k = draw_proportional(&cum, &mut rng);
        assert!(k == 0 || k == 2);
    }
    assert_eq!(cum.partition_point(|&c| c < 3.0), 2);
}

#[test]
fn mask_is_normalised_to_max_one_with_the_documented_floor() {
    // 2x3: road, road, car / building, void, sky.
    let l = layout(2, 3, vec![0, 0, 13, 2, 19, 10]);
    let mut s = [0.0; NUM_CLASSES];
    s[0] = 2.0;
    s[13] = 8.0;
    s[2] = 4.0;
    s[19] = 0.0; // void skipped
    s[10] = f64::NAN; // unusable
    s[5] = 100.0; // not in the layout: ignored for the maximum
    let m = rarity_mask(&l, &s);
    assert_eq!(m, vec![0.25, 0.25, 1.0, 0.5, 0.25, 0.25]);
    assert_eq!(m.iter().copied().fold(0.0, f32::max), 1.0);
    assert!(m.iter().all(|&v| v > 0.0 && v <= 1.0));
    // No usable score: all ones.
    assert_eq!(rarity_mask(&l, &[0.0; NUM_CLASSES]), vec![1.0; 6]);
    // From the scores of a dataset.
    let pairs = grey_and_red_roads();
    let r = RarityScores::compute(&pairs, 10).unwrap();
    for (k, p) in pairs.iter().enumerate() {
        let m = r.mask(k, &p.layout);
        assert_eq!(m.iter().copied().fold(0.0, f32::max), 1.0);
        assert!(m.iter().all(|&v| v > 0.0));
    }
}

#[test]
fn area_mask_gives_every_class_the_same_total_weight_at_one() {
    // 10x10: one sky pixel (1 %, exactly the floor), road 59 pixels, building 30, car 10.
    let ids: Vec<u8> = (0..100)
        .map(|i| match i {
            0 => 10,
            1..60 => 0,
            60..90 => 2,
            _ => 13,
        })
        .collect();
    let l = layout(10, 10, ids);
    let m = area_mask(&l, 1.0);
    let total = |class: u8| -> f32 {
        l.ids()
            .iter()
            .zip(&m)
            .filter(|(id, _)| **id == class)
            .map(|(_, w)| w)
            .sum()
    };
    for class in [0, 2, 13] {
        assert!((total(class) - total(10)).abs() < 1e-5, "class {class}");
    }
    assert_eq!(m.iter().copied().fold(0.0, f32::max), 1.0);
    assert!(m.iter().all(|&v| v > 0.0 && v <= 1.0));
    // Half the exponent: a third of the area weighs sqrt(3) times more per pixel.
    let half = area_mask(&l, 0.5);
    assert!((half[95] / half[70] - 3f32.sqrt()).abs() < 1e-5);
    // α = 0: no weighting.
    assert_eq!(area_mask(&l, 0.0), vec![1.0; 100]);
    // A class under the floor weighs like one at it.
    let tiny: Vec<u8> = (0..400).map(|i| if i == 0 { 13 } else { 0 }).collect();
    let m = area_mask(&layout(20, 20, tiny), 1.0);
    assert!((m[1] - (399.0 / 400.0f32).recip() * 0.01).abs() < 1e-6);
    // Combining: the product, normalised to a maximum of one.
    assert_eq!(combine_masks(&[0.5, 0.25], &[0.5, 1.0]), vec![1.0, 1.0]);
    assert_eq!(combine_masks(&[0.5, 0.25], &[1.0, 1.0]), vec![1.0, 0.5]);
}

#[test]
fn mask_pyramid_matches_every_feature_size() {
    use crate::perceptual::{LayerWeights, PerceptualDistance, mask_pyramid};
    use crate::vgg::{Vgg19Config, Vgg19Features};
    let device = Device::flex();
    let (h, w) = (64, 128);
    // Road top half, car bottom-left, sky bottom-right.
    let ids: Vec<u8> = (0..h * w)
        .map(|i| match (i / w < h / 2, i % w < w / 2) {
            (true, _) => 0,
            (false, true) => 13,
            (false, false) => 10,
        })
        .collect();
    let l = layout(h, w, ids);
    let mut s = [0.0; NUM_CLASSES];
    s[0] = 1.0;
    s[13] = 5.0;
    s[10] = 2.0;
    let mask = rarity_mask(&l, &s);
    let t = rarity_mask_tensor(&mask, h, w, &device);
    assert_eq!(t.dims(), [1, 1, h, w]);
    let max = t.clone().max().into_data().try_to_vec::<f32>().unwrap()[0];
    assert_eq!(max, 1.0);

    let vgg = Vgg19Features::random(1, &Vgg19Config::new().with_width_div(16), &device).unwrap();
    let dist = PerceptualDistance::new(vgg, LayerWeights::paper());
    let images = Tensor::<4>::zeros([1, 3, h, w], &device);
    let features = dist.features(images);
    let pyramid = mask_pyramid(t);
    for (i, (m, f)) in pyramid.iter().zip(&features.maps).enumerate() {
        let ([_, c, mh, mw], [_, _, fh, fw]) = (m.dims(), f.dims());
        assert_eq!(c, 1);
        assert_eq!((mh, mw), (fh, fw), "layer {i}");
    }
    assert_eq!(pyramid[5].dims(), [1, 1, 4, 8]);
}
