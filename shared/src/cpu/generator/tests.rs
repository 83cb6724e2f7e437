//! Tests of the CPU generator against burn's: the same images, tensors that round-trip, and
//! foreign tensor sets refused.

use super::*;
use crate::config::Preset;
use crate::generator::one_hot;

fn layouts(cfg: &GeneratorConfig, n: usize) -> Vec<Layout> {
    (0..n)
        .map(|s| {
            let ids = (0..cfg.height * cfg.width)
                .map(|i| (((i / 7) * 3 + (i % cfg.width) / 5 + s * 4) % 21) as u8)
                .map(|id| id.min(19))
                .collect();
            Layout::new(cfg.height, cfg.width, ids).unwrap()
        })
        .collect()
}

/// The CPU generator renders what burn's renders, for every module count of the presets
/// (shrunk) and for batches; its tensors round-trip through burn unchanged.
#[test]
fn renders_equal_burns() {
    let device = Device::flex();
    let small = Preset::Small.config();
    let shrunk = GeneratorConfig::new(32, 64, vec![12, 10, 8, 6])
        .with_encoder_width(6)
        .with_latent_channels(5);
    let global = shrunk.clone().with_global_code(Some(true));
    for cfg in [Preset::Tiny.config(), shrunk, small, global] {
        let g = cfg.init_seeded(&device, 3);
        let cpu = CpuGenerator::from_generator(&g, &cfg);
        let back = CpuGenerator::from_generator(&cpu.to_generator(&device), &cfg);
        assert_eq!(back.tensors(), cpu.tensors());
        let ls = layouts(&cfg, 3);
        let refs: Vec<&Layout> = ls.iter().collect();
        let codes: Vec<LatentCode> = (0..3)
            .map(|s| LatentCode::from_seed(s, cfg.latent_channels, cfg.height, cfg.width))
            .collect();
        let code_refs: Vec<&LatentCode> = codes.iter().collect();
        let want = g
            .forward(
                one_hot(&refs, cfg.num_classes(), &device),
                LatentCode::batch_tensor(&codes, &device).unwrap(),
            )
            .into_data()
            .try_to_vec::<f32>()
            .unwrap();
        let (image, tape) = cpu.forward(&refs, &code_refs, false);
        assert!(tape.is_none());
        assert_eq!(image.c, 3);
        let got = image.to_nchw();
        let diff = got
            .iter()
            .zip(&want)
            .map(|(a, b)| (a - b).abs())
            .fold(0.0f32, f32::max);
        let scale = want.iter().fold(0.0f32, |m, v| m.max(v.abs()));
        assert!(
            diff <= 1e-4 * scale.max(1.0),
            "{:?}: max diff {diff} (scale {scale})",
            cfg.widths
        );
    }
}

#[test]
fn foreign_tensor_sets_are_refused() {
    let device = Device::flex();
    let cfg = Preset::Tiny.config();
    let mut tensors = generator_tensors(&cfg.init(&device));
    tensors.push(("extra.weight".into(), vec![1], vec![0.0]));
    assert!(matches!(
        CpuGenerator::from_tensors(&cfg, tensors.clone()),
        Err(WeightsError::UnusedTensors(_))
    ));
    tensors.pop();
    tensors.remove(0);
    assert!(matches!(
        CpuGenerator::from_tensors(&cfg, tensors),
        Err(WeightsError::MissingTensor(_))
    ));
}
