//! Tests of the weights file: round trips, tensor names, and the files and configs it refuses.

use super::*;
use crate::config::Preset;
use crate::generator::one_hot;
use crate::latent::LatentCode;
use crate::layout::Layout;

fn render(g: &Generator, cfg: &GeneratorConfig, device: &Device) -> Vec<f32> {
    let layout = Layout::filled(cfg.height, cfg.width, 13);
    let x = one_hot(&[&layout], cfg.num_classes(), device);
    let z = LatentCode::from_seed(3, cfg.latent_channels, cfg.height, cfg.width).to_tensor(device);
    g.forward(x, z).into_data().try_to_vec::<f32>().unwrap()
}

fn tiny() -> (Generator, GeneratorConfig, Device) {
    let device = Device::flex();
    let cfg = Preset::Tiny.config();
    (cfg.init(&device), cfg, device)
}

#[test]
fn round_trip_f32_is_exact_and_f16_is_close() {
    let (g, cfg, device) = tiny();
    let before = render(&g, &cfg, &device);
    let mut prov = BTreeMap::new();
    prov.insert("round".to_string(), "3".to_string());
    let bytes = save_generator(&g, &cfg, Precision::F32, &prov).unwrap();
    let (g32, header) = load_generator(&bytes, &device).unwrap();
    assert_eq!(header.config, cfg);
    assert_eq!(header.metadata["round"], "3");
    assert_eq!(render(&g32, &cfg, &device), before);

    let half_bytes = save_generator(&g, &cfg, Precision::F16, &prov).unwrap();
    assert!(half_bytes.len() < bytes.len() * 6 / 10);
    let (g16, _) = load_generator(&half_bytes, &device).unwrap();
    let after = render(&g16, &cfg, &device);
    let max = before
        .iter()
        .zip(&after)
        .map(|(a, b)| (a - b).abs())
        .fold(0.0, f32::max);
    assert!(max < 0.05, "f16 round trip moved outputs by {max}");
    assert_ne!(after, before);
}

#[test]
fn tensor_names_follow_module_paths() {
    let (g, cfg, _) = tiny();
    let bytes = save_generator(&g, &cfg, Precision::F32, &BTreeMap::new()).unwrap();
    let st = SafeTensors::deserialize(&bytes).unwrap();
    let names = st.names();
    for expected in [
        "encoder.conv1.weight",
        "refinement.0.conv1.weight",
        "refinement.2.norm2.gamma",
        "to_rgb.bias",
    ] {
        assert!(names.contains(&expected), "{expected} not in {names:?}");
    }
    let total: usize = st
        .tensors()
        .iter()
        .map(|(_, v)| v.shape().iter().product::<usize>())
        .sum();
    assert_eq!(total, cfg.num_params());
}

#[test]
fn truncated_foreign_and_newer_files_are_rejected() {
    let (g, cfg, device) = tiny();
    let bytes = save_generator(&g, &cfg, Precision::F32, &BTreeMap::new()).unwrap();
    for cut in [0, 5, 100, bytes.len() / 2, bytes.len() - 1] {
        assert!(
            matches!(
                load_generator(&bytes[..cut], &device),
                Err(WeightsError::Unreadable(_))
            ),
            "cut at {cut}"
        );
    }
    let data = vec![0u8; 16];
    let view = TensorView::new(Dtype::F32, vec![4], &data).unwrap();
    let foreign = safetensors::serialize([("w", view.clone())], None).unwrap();
    assert!(matches!(
        load_generator(&foreign, &device),
        Err(WeightsError::Foreign { found: None })
    ));
    let mut meta = HashMap::new();
    meta.insert("format".to_string(), FORMAT_NAME.to_string());
    meta.insert("version".to_string(), (FORMAT_VERSION + 1).to_string());
    meta.insert("config".to_string(), serde_json::to_string(&cfg).unwrap());
    let newer = safetensors::serialize([("w", view)], Some(meta)).unwrap();
    let err = load_generator(&newer, &device).unwrap_err();
    assert!(matches!(err, WeightsError::NewerVersion { .. }), "{err}");
    assert!(err.to_string().contains("newer"));
}

#[test]
fn shape_mismatch_and_missing_tensors_are_errors() {
    let (g, cfg, device) = tiny();
    let bytes = save_generator(&g, &cfg, Precision::F32, &BTreeMap::new()).unwrap();
    // Same tensors, but a config that claims other module widths.
    let st = SafeTensors::deserialize(&bytes).unwrap();
    let with_widths = |widths: Vec<usize>| {
        let other = GeneratorConfig {
            widths,
            ..cfg.clone()
        };
        let mut meta = HashMap::new();
        meta.insert("format".to_string(), FORMAT_NAME.to_string());
        meta.insert("version".to_string(), FORMAT_VERSION.to_string());
        meta.insert("config".to_string(), serde_json::to_string(&other).unwrap());
        safetensors::serialize(st.tensors(), Some(meta)).unwrap()
    };
    for widths in [vec![8, 16, 8], vec![16, 16, 12]] {
        let err = load_generator(&with_widths(widths), &device).unwrap_err();
        assert!(matches!(err, WeightsError::ShapeMismatch { .. }), "{err}");
    }
    // Far wider modules need far more numbers than the file holds: refused before the
    // network is built.
    let err = load_generator(&with_widths(vec![1024, 1024, 1024]), &device).unwrap_err();
    assert!(
        matches!(err, WeightsError::TooFewNumbers { needs, holds } if needs > holds),
        "{err}"
    );
    let mut meta = HashMap::new();
    meta.insert("format".to_string(), FORMAT_NAME.to_string());
    meta.insert("version".to_string(), FORMAT_VERSION.to_string());

    let mut fewer = st.tensors();
    fewer.retain(|(name, _)| name != "to_rgb.bias");
    meta.insert("config".to_string(), serde_json::to_string(&cfg).unwrap());
    let missing = safetensors::serialize(fewer, Some(meta)).unwrap();
    let err = load_generator(&missing, &device).unwrap_err();
    assert!(err.to_string().contains("to_rgb.bias"), "{err}");
}

/// A one-tensor weights file whose metadata claims `cfg`.
fn claiming(cfg: &GeneratorConfig) -> Vec<u8> {
    let data = vec![0u8; 16];
    let view = TensorView::new(Dtype::F32, vec![4], &data).unwrap();
    let mut meta = HashMap::new();
    meta.insert("format".to_string(), FORMAT_NAME.to_string());
    meta.insert("version".to_string(), FORMAT_VERSION.to_string());
    meta.insert("config".to_string(), serde_json::to_string(cfg).unwrap());
    safetensors::serialize([("w", view)], Some(meta)).unwrap()
}

#[test]
fn absurd_configs_are_refused_before_allocating() {
    let device = Device::flex();
    let cases = [
        (
            GeneratorConfig::new(100_000, 100_000, vec![8]),
            "100000x100000",
        ),
        (GeneratorConfig::new(2048, 2048, vec![8]), "2097152 pixels"),
        (
            GeneratorConfig::new(16, 32, vec![8; 17]),
            "17 refinement modules",
        ),
        (
            GeneratorConfig::new(16, 32, vec![8, 100_000]),
            "100000 channels",
        ),
        (
            GeneratorConfig::new(16, 32, vec![8]).with_encoder_width(1 << 40),
            "1099511627776 channels",
        ),
        (
            GeneratorConfig::new(16, 32, vec![8]).with_latent_channels(1 << 20),
            "1048576 latent channels",
        ),
        (
            GeneratorConfig::new(16, 32, vec![8]).with_classes(vec![
                crate::config::ClassEntry {
                    name: "x".into(),
                    color: [0, 0, 0],
                };
                300
            ]),
            "300 classes",
        ),
        // 11 modules of 2048 channels at 1024x2048: within every size limit, but about
        // 830 million parameters.
        (
            GeneratorConfig::new(1024, 2048, vec![2048; 11]),
            "more than the 400000000",
        ),
    ];
    for (cfg, part) in cases {
        let bytes = claiming(&cfg);
        let err = read_header(&bytes).unwrap_err();
        assert!(matches!(err, WeightsError::TooLarge(_)), "{err}");
        let msg = err.to_string();
        assert!(msg.contains(part), "{part:?} missing from: {msg}");
        assert!(matches!(
            load_generator(&bytes, &device),
            Err(WeightsError::TooLarge(_))
        ));
    }
    // The largest presets are well inside the limits.
    for p in [Preset::Browser, Preset::Paper] {
        let cfg = p.config();
        check_bounds(&cfg).unwrap();
        assert!(cfg.num_params() * 4 < MAX_PARAMS);
        assert!(cfg.height * cfg.width * 16 <= MAX_RESOLUTION_PIXELS);
    }
    // A valid config the file does not hold the numbers for.
    let err = load_generator(&claiming(&Preset::Browser.config()), &device).unwrap_err();
    assert!(
        matches!(err, WeightsError::TooFewNumbers { holds: 4, .. }),
        "{err}"
    );
}

#[test]
fn non_finite_weights_are_neither_written_nor_read() {
    let (g, cfg, _) = tiny();
    let mut tensors = generator_tensors(&g);
    let meta = BTreeMap::new();
    tensors[1].2[3] = f32::NAN;
    let name = tensors[1].0.clone();
    match save_tensors(tensors.clone(), &cfg, Precision::F32, &meta) {
        Err(WeightsError::NonFinite { name: n, count: 1 }) => assert_eq!(n, name),
        other => panic!("expected NonFinite, got {other:?}"),
    }
    // A file written by another tool with an infinity in it is refused on load.
    tensors[1].2[3] = 1e6;
    match save_tensors(tensors.clone(), &cfg, Precision::F16, &meta) {
        Err(WeightsError::F16Overflow { count: 1, .. }) => {}
        other => panic!("expected F16Overflow, got {other:?}"),
    }
    let bytes = save_tensors(tensors, &cfg, Precision::F32, &meta).unwrap();
    let needle = 1e6f32.to_le_bytes();
    let at = bytes
        .windows(4)
        .position(|w| w == needle)
        .expect("the value is stored");
    let mut broken = bytes.clone();
    broken[at..at + 4].copy_from_slice(&f32::INFINITY.to_le_bytes());
    let device = Device::flex();
    match load_generator(&broken, &device) {
        Err(e @ WeightsError::NonFinite { .. }) => {
            assert!(e.to_string().contains("earlier round"), "{e}")
        }
        Err(other) => panic!("expected NonFinite, got {other}"),
        Ok(_) => panic!("a file with an infinity loaded"),
    }
    assert!(load_generator(&bytes, &device).is_ok());
}

#[test]
fn foreign_files_are_described_without_naming_commands() {
    let data = vec![0u8; 16];
    let view = TensorView::new(Dtype::F32, vec![4], &data).unwrap();
    let mut meta = HashMap::new();
    meta.insert("format".to_string(), "pt".to_string());
    let foreign = safetensors::serialize([("w", view)], Some(meta)).unwrap();
    let msg = read_header(&foreign).unwrap_err().to_string();
    assert!(msg.contains("metadata is \"pt\""), "{msg}");
    assert!(
        !msg.contains("checkpoint.safetensors") && !msg.contains("cimle export"),
        "{msg}"
    );
    let msg = read_header(b"junk").unwrap_err().to_string();
    assert!(!msg.contains("cimle export"), "{msg}");
}
