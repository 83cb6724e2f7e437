//! Tests of the perceptual distance: features, terms, masks, layer weights, gradients, the RGB
//! conversion and the report, on a small random-feature VGG-19.

use super::*;
use crate::vgg::Vgg19Config;
use burn::module::Module;
use cimle::latent::PortableRng;

fn device() -> Device {
    Device::flex()
}

fn small_vgg(seed: u64) -> Vgg19Features {
    Vgg19Features::random(seed, &Vgg19Config::new().with_width_div(16), &device()).unwrap()
}

/// Deterministic images in `[-1, 1]`, different per `k`.
fn image(k: usize, n: usize, h: usize, w: usize, device: &Device) -> Tensor<4> {
    let values: Vec<f32> = (0..n * 3 * h * w)
        .map(|i| (((i * (7 + 2 * k) + 3 * k) % 23) as f32) / 11.0 - 1.0)
        .collect();
    Tensor::from_data(TensorData::new(values, [n, 3, h, w]), device)
}

fn noise(n: usize, h: usize, w: usize, seed: u64, scale: f32, device: &Device) -> Tensor<4> {
    let mut values = vec![0.0f32; n * 3 * h * w];
    PortableRng::new(seed).fill_normal(&mut values);
    values.iter_mut().for_each(|v| *v *= scale);
    Tensor::from_data(TensorData::new(values, [n, 3, h, w]), device)
}

fn values<const D: usize>(t: Tensor<D>) -> Vec<f32> {
    tensor_values(t)
}

#[test]
fn feature_shapes_follow_the_pooling() {
    let dist = PerceptualDistance::new(small_vgg(1), LayerWeights::paper());
    let f = dist.features(image(0, 2, 48, 80, &device()));
    assert_eq!(
        f.shapes(),
        [
            [2, 3, 48, 80],
            [2, 4, 48, 80],
            [2, 8, 24, 40],
            [2, 16, 12, 20],
            [2, 32, 6, 10],
            [2, 32, 3, 5]
        ]
    );
}

#[test]
fn distance_to_self_is_zero() {
    let dev = device();
    let dist = PerceptualDistance::new(small_vgg(1), LayerWeights::paper());
    let x = image(1, 2, 32, 32, &dev);
    let f = dist.features(x);
    let d = values(dist.distance(&f, &f, None));
    assert_eq!(d, vec![0.0, 0.0]);
}

#[test]
fn distance_grows_with_noise() {
    let dev = device();
    let dist = PerceptualDistance::new(small_vgg(2), LayerWeights::paper());
    let x = image(2, 1, 32, 32, &dev);
    let real = dist.features(x.clone());
    let mut last = 0.0;
    for (k, scale) in [0.02, 0.1, 0.5].into_iter().enumerate() {
        let fake = dist.features(x.clone() + noise(1, 32, 32, 5, scale, &dev));
        let d = values(dist.distance(&real, &fake, None))[0];
        let terms = values(dist.distance_terms(&real, &fake, None));
        assert!(terms.iter().all(|t| *t > 0.0), "step {k}: terms {terms:?}");
        assert!(d > last, "step {k}: distance {d} not above {last}");
        last = d;
    }
}

#[test]
fn zero_mask_gives_zero_and_ones_mask_changes_nothing() {
    let dev = device();
    let dist = PerceptualDistance::new(small_vgg(3), LayerWeights::paper());
    let real = dist.features(image(3, 2, 32, 48, &dev));
    let fake = dist.features(image(4, 2, 32, 48, &dev));
    let zeros = Tensor::<4>::zeros([2, 1, 32, 48], &dev);
    assert_eq!(
        values(dist.distance(&real, &fake, Some(zeros))),
        vec![0.0; 2]
    );
    let ones = Tensor::<4>::ones([1, 1, 32, 48], &dev);
    let with = values(dist.distance_terms(&real, &fake, Some(ones)));
    let without = values(dist.distance_terms(&real, &fake, None));
    for (a, b) in with.iter().zip(&without) {
        assert!((a - b).abs() <= 1e-6 * b.abs().max(1.0), "{a} vs {b}");
    }
}

#[test]
fn half_mask_weights_the_masked_half() {
    let dev = device();
    let dist = PerceptualDistance::new(small_vgg(3), LayerWeights::paper());
    let real = dist.features(image(3, 1, 32, 32, &dev));
    let fake = dist.features(image(4, 1, 32, 32, &dev));
    // Left half 1, right half 0: the pixel term only sees the left half's differences.
    let mask_values: Vec<f32> = (0..32 * 32)
        .map(|p| if p % 32 < 16 { 1.0 } else { 0.0 })
        .collect();
    let mask = Tensor::<4>::from_data(TensorData::new(mask_values, [1, 1, 32, 32]), &dev);
    let masked = values(dist.distance_terms(&real, &fake, Some(mask)))[0];
    let diff = values((real.maps[0].clone() - fake.maps[0].clone()).abs());
    let left: f32 = diff
        .iter()
        .enumerate()
        .filter(|(i, _)| i % 32 < 16)
        .map(|(_, v)| v)
        .sum();
    let expected = left / diff.len() as f32;
    assert!((masked - expected).abs() < 1e-5, "{masked} vs {expected}");
}

#[test]
fn mask_pyramid_matches_layer_sizes() {
    let dev = device();
    let dist = PerceptualDistance::new(small_vgg(4), LayerWeights::paper());
    for (h, w) in [(32, 32), (48, 80), (64, 128)] {
        let f = dist.features(image(5, 1, h, w, &dev));
        let pyramid = mask_pyramid(Tensor::<4>::ones([1, 1, h, w], &dev));
        for (i, (m, map)) in pyramid.iter().zip(&f.maps).enumerate() {
            assert_eq!(m.dims()[2..], map.dims()[2..], "layer {i} at {h}x{w}");
        }
    }
    // Area downsampling: a mask with one bright 2x2 block averages it.
    let mut v = vec![0.0f32; 32 * 32];
    for (y, x) in [(0, 0), (0, 1), (1, 0), (1, 1)] {
        v[y * 32 + x] = 1.0;
    }
    let pyramid = mask_pyramid(Tensor::from_data(TensorData::new(v, [1, 1, 32, 32]), &dev));
    assert_eq!(values(pyramid[2].clone())[0], 1.0);
    assert_eq!(values(pyramid[3].clone())[0], 0.25);
    assert_eq!(values(pyramid[5].clone())[0], 1.0 / 64.0);
}

#[test]
fn paper_weights_are_the_stated_constants() {
    let w = LayerWeights::paper().0;
    let expected = [
        1.0,
        0.714_285_7,
        0.555_555_6,
        0.769_230_8,
        0.454_545_45,
        16.129_032,
    ];
    for (a, b) in w.iter().zip(expected) {
        assert!((a - b).abs() < 1e-6, "{w:?}");
    }
    assert_eq!(LayerWeights::default(), LayerWeights::paper());
    assert_eq!(LayerWeights::crn_cityscapes().0[5], 12.5);
}

#[test]
fn calibrated_weights_equalise_contributions() {
    let dev = device();
    let mut dist = PerceptualDistance::new(small_vgg(5), LayerWeights::uniform());
    let pairs = vec![
        (image(6, 2, 32, 32, &dev), image(7, 2, 32, 32, &dev)),
        (image(8, 1, 32, 32, &dev), image(9, 1, 32, 32, &dev)),
    ];
    let weights = LayerWeights::calibrate(&dist, &pairs).unwrap();
    assert_eq!(weights.0[0], 1.0);
    dist.set_weights(weights);
    // Mean weighted contribution of each layer over the calibration images.
    let mut contrib = [0.0f64; 6];
    for (a, b) in &pairs {
        let t =
            values(dist.distance_terms(&dist.features(a.clone()), &dist.features(b.clone()), None));
        for row in t.chunks_exact(6) {
            for i in 0..6 {
                contrib[i] += f64::from(row[i] * weights.0[i]) / 3.0;
            }
        }
    }
    for c in contrib {
        assert!((c / contrib[0] - 1.0).abs() < 1e-4, "{contrib:?}");
    }
    // Identical pairs cannot be calibrated on.
    let same = vec![(image(6, 1, 32, 32, &dev), image(6, 1, 32, 32, &dev))];
    assert!(LayerWeights::calibrate(&dist, &same).is_err());
    assert!(LayerWeights::calibrate(&dist, &[]).is_err());
}

#[test]
fn a_layer_weights_choice_resolves_to_its_weights() {
    let dev = device();
    let vgg = small_vgg(5);
    let photos: Vec<Vec<u8>> = (0..3)
        .map(|k| crate::synth::generate_scene(1, k, 32, 64).image)
        .collect();
    let refs: Vec<&[u8]> = photos.iter().map(Vec::as_slice).collect();
    let paper = LayerWeightsChoice::Paper.resolve(&vgg, &refs, (32, 64), &dev);
    assert_eq!(paper.unwrap(), LayerWeights::paper());
    let fixed = LayerWeights([1.0, 0.0, 0.0, 0.0, 0.0, 2.0]);
    let got = LayerWeightsChoice::Fixed(fixed).resolve(&vgg, &refs, (32, 64), &dev);
    assert_eq!(got.unwrap(), fixed);
    // Auto: each photo against the next, cyclically.
    let auto = LayerWeightsChoice::Auto
        .resolve(&vgg, &refs, (32, 64), &dev)
        .unwrap();
    let probe = PerceptualDistance::new(vgg.clone(), LayerWeights::paper());
    let t = |k: usize| rgb_to_tensor(&photos[k % 3], 32, 64, &dev);
    let couples = vec![(t(0), t(1)), (t(1), t(2)), (t(2), t(3))];
    assert_eq!(auto, LayerWeights::calibrate(&probe, &couples).unwrap());
    assert!(
        LayerWeightsChoice::Auto
            .resolve(&vgg, &[], (32, 64), &dev)
            .is_err()
    );
}

#[test]
fn batch_of_one_broadcasts_against_candidates() {
    let dev = device();
    let dist = PerceptualDistance::new(small_vgg(6), LayerWeights::paper());
    let real = dist.features(image(10, 1, 32, 32, &dev));
    let fakes = dist.features(image(11, 4, 32, 32, &dev) + noise(4, 32, 32, 9, 0.3, &dev));
    let mask = Tensor::<4>::ones([1, 1, 32, 32], &dev).mul_scalar(0.5);
    let broadcast = values(dist.distance(&real, &fakes, Some(mask.clone())));
    let repeated =
        values(dist.distance(&real.repeat(4), &fakes, Some(mask.clone().repeat_dim(0, 4))));
    assert_eq!(broadcast.len(), 4);
    for (a, b) in broadcast.iter().zip(&repeated) {
        assert!((a - b).abs() <= 1e-6 * b.abs(), "{a} vs {b}");
    }
    // Batched equals one at a time.
    for (k, want) in broadcast.iter().enumerate() {
        let one = Features {
            maps: fakes.maps.clone().map(|m| m.narrow(0, k, 1)),
        };
        let d = values(dist.distance(&real, &one, Some(mask.clone())))[0];
        assert!((d - want).abs() <= 1e-5 * d.abs(), "{d} vs {want}");
    }
}

#[test]
fn gradient_flows_to_the_input() {
    let dev = Device::flex().autodiff();
    let config = Vgg19Config::new().with_width_div(16);
    // Built on the autodiff device, forked onto it (as the trainer does), or left on the
    // plain device (its weights then enter the graph as constants).
    let variants = [
        ("built", Vgg19Features::random(11, &config, &dev).unwrap()),
        (
            "forked",
            Vgg19Features::random(11, &config, &device())
                .unwrap()
                .fork(&dev),
        ),
        (
            "plain",
            Vgg19Features::random(11, &config, &device()).unwrap(),
        ),
    ];
    for (how, vgg) in variants {
        let dist = PerceptualDistance::new(vgg, LayerWeights::paper());
        let real = dist.features(image(12, 2, 32, 32, &dev)).detach();
        let x = image(13, 2, 32, 32, &dev).require_grad();
        let fake = dist.features(x.clone());
        let mask = Tensor::<4>::ones([2, 1, 32, 32], &dev);
        let loss = dist.distance(&real, &fake, Some(mask.clone())).mean();
        let before = values(loss.clone())[0];
        let grads = loss.backward();
        let g = x.grad(&grads).expect("input gradient");
        let gv = values(g.clone());
        assert_eq!(gv.len(), 2 * 3 * 32 * 32, "{how}");
        assert!(gv.iter().all(|v| v.is_finite()), "{how}");
        let nonzero = gv.iter().filter(|v| **v != 0.0).count();
        assert!(
            nonzero > gv.len() / 2,
            "{how}: only {nonzero} non-zero entries"
        );
        // The VGG is frozen: its weights get no gradient.
        let w = dist.vgg().convs()[0].weight.val();
        assert!(
            w.grad(&grads).is_none(),
            "{how}: VGG weights got a gradient"
        );
        // A small step against the gradient lowers the loss.
        let norm = gv.iter().map(|v| v * v).sum::<f32>().sqrt();
        let step = x.detach() - g.mul_scalar(0.05 / norm);
        let after = values(dist.distance(&real, &dist.features(step), Some(mask)))
            .iter()
            .sum::<f32>()
            / 2.0;
        assert!(
            after < before,
            "{how}: loss {before} -> {after} after a descent step"
        );
    }
}

#[test]
fn rgb_round_trip() {
    let dev = device();
    let rgb: Vec<u8> = (0..16 * 20 * 3).map(|i| ((i * 37) % 256) as u8).collect();
    let t = rgb_to_tensor(&rgb, 16, 20, &dev);
    assert_eq!(t.dims(), [1, 3, 16, 20]);
    let v = values(t.clone());
    assert_eq!(v[0], f32::from(rgb[0]) / 127.5 - 1.0);
    assert_eq!(v[16 * 20], f32::from(rgb[1]) / 127.5 - 1.0); // green plane
    assert_eq!(tensor_to_rgb(t), rgb);
    let extreme =
        Tensor::<4>::from_data(TensorData::new(vec![-3.0f32, 3.0, 0.0], [1, 3, 1, 1]), &dev);
    assert_eq!(tensor_to_rgb(extreme), vec![0, 255, 128]);
}

#[test]
fn report_lists_terms_and_total() {
    let dev = device();
    let dist = PerceptualDistance::new(small_vgg(9), LayerWeights::paper());
    let a: Vec<u8> = (0..32 * 32 * 3).map(|i| ((i * 13) % 256) as u8).collect();
    let b: Vec<u8> = (0..32 * 32 * 3)
        .map(|i| ((i * 29 + 7) % 256) as u8)
        .collect();
    let report = distance_report(&dist, &a, &b, 32, 32, &dev);
    assert_eq!(
        report.network,
        "random-feature VGG-19 (seed 9, channels / 16)"
    );
    assert_eq!(report.layers.len(), 6);
    let sum: f32 = report.layers.iter().map(|l| l.weighted).sum();
    assert!((report.total - sum).abs() < 1e-6);
    let direct = values(dist.distance_images(
        rgb_to_tensor(&a, 32, 32, &dev),
        rgb_to_tensor(&b, 32, 32, &dev),
        None,
    ))[0];
    assert!(
        (report.total - direct).abs() <= 1e-5 * direct,
        "{} vs {direct}",
        report.total
    );
    let same = distance_report(&dist, &a, &a, 32, 32, &dev);
    assert_eq!(same.total, 0.0);
    let table = report.to_string();
    assert!(
        table.contains("conv5_2") && table.contains("total"),
        "{table}"
    );
    let json = serde_json::to_value(&report).unwrap();
    assert_eq!(json["layers"][5]["layer"], "conv5_2");
    assert!(json["total"].as_f64().unwrap() > 0.0);
}
