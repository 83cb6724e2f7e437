//! The VGG-19 loader and the perceptual distance against the fixture written by
//! `xtask/scripts/make_vgg_fixture.py` (a width/16 torchvision VGG-19, float16 weights, as
//! `.safetensors` and as a hand-written PyTorch zip `.pth`) and against that script's numpy
//! reference implementation (conv3x3 pad 1 + bias, ReLU, 2x2 average pooling, torchvision
//! normalisation).

use std::path::PathBuf;

use burn::tensor::{Device, Tensor, TensorData};
use cimle_trainer::perceptual::{LayerWeights, PerceptualDistance};
use cimle_trainer::vgg::{CONV_INDICES, Vgg19Features, VggError, load_vgg19};

// Pasted from the output of `python3 xtask/scripts/make_vgg_fixture.py` (the defaults:
// --seed 1811 --width-div 16 --dtype f16), which computes them in float64 with numpy from the
// float16 weights it stores. Pattern A is `((c*7 + i*3 + j*5) % 17) / 8 - 1`, pattern B
// `((c*5 + i*7 + j*3) % 13) / 6 - 1`, both 1x3x32x32 (c channel, i row, j column).
//
// Feature sums of pattern A (1x3x32x32), index 0 = the normalised input:
const REF_SUMS: [f64; 6] = [
    6.952662619e+02,
    5.989911899e+03,
    1.307250738e+03,
    5.756921203e+02,
    1.815012639e+02,
    1.001281110e+01,
];
// Feature shapes [N, C, H, W]:
const REF_SHAPES: [[usize; 4]; 6] = [
    [1, 3, 32, 32],
    [1, 4, 32, 32],
    [1, 8, 16, 16],
    [1, 16, 8, 8],
    [1, 32, 4, 4],
    [1, 32, 2, 2],
];
// conv1_2 of pattern A, flattened, first 8 values:
const REF_CONV1_2_HEAD: [f64; 8] = [
    0.000000000e+00,
    1.466394676e+00,
    2.154178540e+00,
    1.035892010e+00,
    0.000000000e+00,
    6.756445409e-01,
    1.887813732e+00,
    0.000000000e+00,
];
// conv5_2 of pattern A, flattened, first 8 values:
const REF_CONV5_2_HEAD: [f64; 8] = [
    1.643943097e-01,
    2.295974190e-02,
    1.064460288e-01,
    2.634362832e-02,
    6.887541888e-02,
    0.000000000e+00,
    1.463327452e-01,
    0.000000000e+00,
];
// Per-layer terms mean|A - B| over C, H, W (no mask):
const REF_TERMS: [f64; 6] = [
    1.577595436e+00,
    1.450568645e+00,
    5.579960286e-01,
    2.125706047e-01,
    9.452647181e-02,
    1.783682186e-02,
];

fn fixture(name: &str) -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("tests")
        .join("fixtures")
        .join(name)
}

fn device() -> Device {
    Device::flex()
}

fn pattern(kind: char, device: &Device) -> Tensor<4> {
    let mut v = Vec::with_capacity(3 * 32 * 32);
    for c in 0..3usize {
        for i in 0..32usize {
            for j in 0..32usize {
                v.push(match kind {
                    'a' => ((c * 7 + i * 3 + j * 5) % 17) as f32 / 8.0 - 1.0,
                    _ => ((c * 5 + i * 7 + j * 3) % 13) as f32 / 6.0 - 1.0,
                });
            }
        }
    }
    Tensor::from_data(TensorData::new(v, [1, 3, 32, 32]), device)
}

fn values<const D: usize>(t: Tensor<D>) -> Vec<f32> {
    t.into_data()
        .convert::<f32>()
        .try_into_vec::<f32>()
        .unwrap()
}

fn assert_close(what: &str, got: f64, want: f64, rel: f64) {
    let tol = rel * want.abs().max(1.0);
    assert!(
        (got - want).abs() <= tol,
        "{what}: got {got}, numpy reference {want} (tolerance {tol})"
    );
}

fn conv_values(vgg: &Vgg19Features) -> Vec<Vec<f32>> {
    vgg.convs()
        .iter()
        .flat_map(|c| {
            [
                values(c.weight.val()),
                values(c.bias.as_ref().expect("bias").val()),
            ]
        })
        .collect()
}

#[test]
fn safetensors_fixture_loads_all_convs() {
    let vgg = load_vgg19(fixture("vgg19_div16.safetensors"), &device()).unwrap();
    assert_eq!(vgg.convs().len(), 16);
    assert_eq!(vgg.config().width_div, 16);
    assert_eq!(vgg.feature_channels(), [4, 8, 16, 32, 32]);
    assert!(vgg.describe().starts_with("ImageNet VGG-19 ("));
    assert!(vgg.describe().ends_with("vgg19_div16.safetensors)"));
    // Every one of the 32 tensors was loaded (none left at zero), with its own shape.
    let shapes = vgg.config().weight_shapes();
    for (k, conv) in vgg.convs().iter().enumerate() {
        assert_eq!(conv.weight.val().dims(), shapes[k], "conv {k}");
        assert!(values(conv.weight.val()).iter().any(|v| *v != 0.0));
        assert!(
            values(conv.bias.as_ref().unwrap().val())
                .iter()
                .any(|v| *v != 0.0)
        );
    }
}

#[test]
fn pth_fixture_loads_the_same_tensors() {
    let pth = load_vgg19(fixture("vgg19_div16.pth"), &device()).unwrap();
    let st = load_vgg19(fixture("vgg19_div16.safetensors"), &device()).unwrap();
    assert_eq!(pth.convs().len(), 16);
    assert!(pth.describe().ends_with("vgg19_div16.pth)"));
    let (a, b) = (conv_values(&pth), conv_values(&st));
    assert_eq!(a.len(), 32);
    assert_eq!(a, b);
}

/// The fixture rewritten as float32 safetensors, minus `drop`, with `reshape` replaced by a
/// tensor of the wrong shape.
fn rewritten_fixture(tag: &str, drop: &[&str], reshape: Option<&str>) -> PathBuf {
    let bytes = std::fs::read(fixture("vgg19_div16.safetensors")).unwrap();
    let st = safetensors::SafeTensors::deserialize(&bytes).unwrap();
    let mut out: Vec<(String, Vec<usize>, Vec<u8>)> = Vec::new();
    for (name, view) in st.tensors() {
        if drop.contains(&name.as_str()) {
            continue;
        }
        assert_eq!(view.dtype(), safetensors::Dtype::F16);
        let f32s: Vec<u8> = view
            .data()
            .chunks_exact(2)
            .flat_map(|b| {
                half::f16::from_le_bytes([b[0], b[1]])
                    .to_f32()
                    .to_le_bytes()
            })
            .collect();
        let mut shape = view.shape().to_vec();
        let mut data = f32s;
        if reshape == Some(name.as_str()) {
            shape[0] += 1;
            data.extend(vec![0u8; data.len() / (shape[0] - 1)]);
        }
        out.push((name, shape, data));
    }
    let views: Vec<(String, safetensors::tensor::TensorView<'_>)> = out
        .iter()
        .map(|(n, s, d)| {
            let view = safetensors::tensor::TensorView::new(safetensors::Dtype::F32, s.clone(), d)
                .unwrap();
            (n.clone(), view)
        })
        .collect();
    let path = std::env::temp_dir().join(format!(
        "cimle-vgg-{tag}-{}.safetensors",
        std::process::id()
    ));
    std::fs::write(&path, safetensors::serialize(views, None).unwrap()).unwrap();
    path
}

#[test]
fn float32_state_dict_loads_identically() {
    let path = rewritten_fixture("f32", &[], None);
    let f32_vgg = load_vgg19(&path, &device());
    std::fs::remove_file(&path).ok();
    let f16_vgg = load_vgg19(fixture("vgg19_div16.safetensors"), &device()).unwrap();
    assert_eq!(conv_values(&f32_vgg.unwrap()), conv_values(&f16_vgg));
}

#[test]
fn missing_tensor_is_named() {
    let path = rewritten_fixture("missing", &["features.5.weight"], None);
    let err = load_vgg19(&path, &device());
    std::fs::remove_file(&path).ok();
    match err {
        Err(VggError::Invalid {
            missing,
            mismatched,
            ..
        }) => {
            assert_eq!(missing, vec!["features.5.weight".to_string()]);
            assert!(mismatched.is_empty(), "{mismatched:?}");
        }
        other => panic!("expected a missing-tensor error, got {other:?}"),
    }
    let path = rewritten_fixture("missing2", &["features.34.bias", "features.0.bias"], None);
    let message = load_vgg19(&path, &device()).unwrap_err().to_string();
    std::fs::remove_file(&path).ok();
    assert!(
        message.contains("features.0.bias") && message.contains("features.34.bias"),
        "{message}"
    );
}

#[test]
fn shape_mismatch_is_reported() {
    let path = rewritten_fixture("shape", &[], Some("features.21.weight"));
    let err = load_vgg19(&path, &device());
    std::fs::remove_file(&path).ok();
    match err {
        Err(VggError::Invalid {
            missing,
            mismatched,
            ..
        }) => {
            assert!(missing.is_empty());
            assert_eq!(mismatched.len(), 1, "{mismatched:?}");
            assert!(
                mismatched[0].starts_with(
                    "features.21.weight: expected [32, 32, 3, 3], found [33, 32, 3, 3]"
                ),
                "{mismatched:?}"
            );
        }
        other => panic!("expected a shape error, got {other:?}"),
    }
}

#[test]
fn unreadable_file_fails() {
    let err = load_vgg19(fixture("no-such-file.pth"), &device()).unwrap_err();
    assert!(matches!(err, VggError::Read { .. }), "{err}");
}

#[test]
fn conv_indices_are_torchvisions() {
    assert_eq!(
        CONV_INDICES,
        [0, 2, 5, 7, 10, 12, 14, 16, 19, 21, 23, 25, 28, 30, 32, 34]
    );
}

#[test]
fn features_match_numpy_reference() {
    let dev = device();
    for file in ["vgg19_div16.safetensors", "vgg19_div16.pth"] {
        let vgg = load_vgg19(fixture(file), &dev).unwrap();
        let dist = PerceptualDistance::new(vgg, LayerWeights::paper());
        let f = dist.features(pattern('a', &dev));
        assert_eq!(f.shapes(), REF_SHAPES, "{file}");
        for (i, map) in f.maps.iter().enumerate() {
            let sum: f64 = values(map.clone()).iter().map(|v| f64::from(*v)).sum();
            assert_close(&format!("{file} sum of map {i}"), sum, REF_SUMS[i], 1e-4);
        }
        for (head, map) in [
            (REF_CONV1_2_HEAD, &f.maps[1]),
            (REF_CONV5_2_HEAD, &f.maps[5]),
        ] {
            let v = values(map.clone());
            for (k, want) in head.iter().enumerate() {
                assert_close(&format!("{file} value {k}"), f64::from(v[k]), *want, 1e-4);
            }
        }
        // The five features straight from the network agree with Features.
        let direct = dist.vgg().forward(pattern('a', &dev));
        for (i, m) in direct.iter().enumerate() {
            assert_eq!(values(m.clone()), values(f.maps[i + 1].clone()));
        }
    }
}

#[test]
fn distance_terms_match_numpy_reference() {
    let dev = device();
    let vgg = load_vgg19(fixture("vgg19_div16.safetensors"), &dev).unwrap();
    let dist = PerceptualDistance::new(vgg, LayerWeights::paper());
    let a = dist.features(pattern('a', &dev));
    let b = dist.features(pattern('b', &dev));
    let terms = values(dist.distance_terms(&a, &b, None));
    for i in 0..6 {
        assert_close(
            &format!("term {i}"),
            f64::from(terms[i]),
            REF_TERMS[i],
            1e-4,
        );
    }
    let total = values(dist.distance(&a, &b, None))[0];
    let expected: f64 = REF_TERMS
        .iter()
        .zip(LayerWeights::paper().0)
        .map(|(t, w)| t * f64::from(w))
        .sum();
    assert_close("total", f64::from(total), expected, 1e-4);
}
