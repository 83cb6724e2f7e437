//! Flag values with a fixed set of choices or a format of their own, parsed by clap: presets,
//! recipes, label formats, on/off, layer weights, sizes and the bench cases.

use cimle::config::Preset;
use cimle::label_png::LabelFormat;
use clap::ValueEnum;

use crate::config::Recipe;
use crate::perceptual::{LayerWeights, LayerWeightsChoice};

/// `--preset`: the generator's size ([`Preset`]).
#[derive(ValueEnum, Debug, Clone, Copy, PartialEq, Eq)]
pub enum PresetFlag {
    Tiny,
    Small,
    Browser,
    Paper,
}

impl From<PresetFlag> for Preset {
    fn from(p: PresetFlag) -> Self {
        match p {
            PresetFlag::Tiny => Preset::Tiny,
            PresetFlag::Small => Preset::Small,
            PresetFlag::Browser => Preset::Browser,
            PresetFlag::Paper => Preset::Paper,
        }
    }
}

/// `--recipe`: the settings a run starts from ([`Recipe`]).
#[derive(ValueEnum, Debug, Clone, Copy, PartialEq, Eq)]
pub enum RecipeFlag {
    Study,
    Released,
}

impl From<RecipeFlag> for Recipe {
    fn from(r: RecipeFlag) -> Self {
        match r {
            RecipeFlag::Study => Recipe::Study,
            RecipeFlag::Released => Recipe::Released,
        }
    }
}

/// `--label-format`: how a layout PNG encodes its classes ([`LabelFormat`]).
#[derive(ValueEnum, Debug, Clone, Copy, PartialEq, Eq)]
pub enum LabelFormatFlag {
    /// Palette colours (Cityscapes' colours; GTA-5 labels).
    Color,
    /// Cityscapes train ids (0-18, 255 = void).
    TrainId,
    /// Cityscapes label ids (`*_labelIds.png`).
    LabelIds,
}

impl From<LabelFormatFlag> for LabelFormat {
    fn from(f: LabelFormatFlag) -> Self {
        match f {
            LabelFormatFlag::Color => LabelFormat::Color,
            LabelFormatFlag::TrainId => LabelFormat::TrainId,
            LabelFormatFlag::LabelIds => LabelFormat::LabelIds,
        }
    }
}

/// An option that is on or off.
#[derive(ValueEnum, Debug, Clone, Copy, PartialEq, Eq)]
pub enum Switch {
    On,
    Off,
}

impl Switch {
    pub fn is_on(self) -> bool {
        self == Switch::On
    }
}

/// `bench --case`: what one fixture case times.
#[derive(ValueEnum, Debug, Clone, Copy, PartialEq, Eq)]
pub enum BenchCase {
    TrainStep,
    Selection,
    Forward,
}

impl BenchCase {
    /// The case's name, as `crate::bench::run_case` takes it.
    pub fn name(self) -> &'static str {
        match self {
            BenchCase::TrainStep => "train-step",
            BenchCase::Selection => "selection",
            BenchCase::Forward => "forward",
        }
    }
}

/// `--layer-weights`: `paper`, `auto`, or six weights >= 0, not all 0.
pub fn layer_weights(s: &str) -> Result<LayerWeightsChoice, String> {
    match s {
        "paper" => return Ok(LayerWeightsChoice::Paper),
        "auto" => return Ok(LayerWeightsChoice::Auto),
        _ => {}
    }
    let values: Vec<f32> = s
        .split(',')
        .map(|v| v.trim().parse::<f32>())
        .collect::<Result<_, _>>()
        .ok()
        .filter(|v: &Vec<f32>| v.len() == 6 && v.iter().all(|x| x.is_finite() && *x >= 0.0))
        .ok_or_else(|| {
            "choose paper, auto, or six weights >= 0 for pixels, conv1_2, conv2_2, conv3_2, \
             conv4_2, conv5_2 (e.g. 1,1,1,1,1,0)"
                .to_string()
        })?;
    if values.iter().all(|&x| x == 0.0) {
        return Err("at least one weight must be above 0".into());
    }
    let mut weights = [0.0; 6];
    weights.copy_from_slice(&values);
    Ok(LayerWeightsChoice::Fixed(LayerWeights(weights)))
}

/// An image size `HxW` (height first, as the model's sizes are written), e.g. `64x128`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Size {
    pub height: usize,
    pub width: usize,
}

/// Parses `HxW`.
pub fn size(s: &str) -> Result<Size, String> {
    let (h, w) = s
        .split_once(['x', 'X'])
        .ok_or("write it as HxW, e.g. 64x128")?;
    let h: usize = h
        .trim()
        .parse()
        .map_err(|_| "bad height: write it as HxW, e.g. 64x128")?;
    let w: usize = w
        .trim()
        .parse()
        .map_err(|_| "bad width: write it as HxW, e.g. 64x128")?;
    Ok(Size {
        height: h,
        width: w,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn layer_weights_are_a_name_or_six_numbers() {
        assert_eq!(layer_weights("paper"), Ok(LayerWeightsChoice::Paper));
        assert_eq!(layer_weights("auto"), Ok(LayerWeightsChoice::Auto));
        assert_eq!(
            layer_weights("1, 1,1,1,1,0"),
            Ok(LayerWeightsChoice::Fixed(LayerWeights([
                1.0, 1.0, 1.0, 1.0, 1.0, 0.0
            ])))
        );
        for bad in [
            "1,1,1",
            "1,1,1,1,1,nan",
            "1,1,1,1,1,-1",
            "papers",
            "1,1,1,1,1,inf",
        ] {
            assert!(layer_weights(bad).is_err(), "{bad}");
        }
        assert!(
            layer_weights("0,0,0,0,0,0")
                .unwrap_err()
                .contains("above 0")
        );
    }

    #[test]
    fn sizes_are_height_by_width() {
        assert_eq!(
            size("64x128"),
            Ok(Size {
                height: 64,
                width: 128
            })
        );
        assert_eq!(size(" 32 X 64").unwrap().width, 64);
        assert!(size("64").is_err());
        assert!(size("64x").is_err());
        assert!(size("-1x64").is_err());
    }

    #[test]
    fn enumerated_flags_map_to_their_types() {
        assert_eq!(Preset::from(PresetFlag::Browser), Preset::Browser);
        assert_eq!(
            LabelFormat::from(LabelFormatFlag::LabelIds),
            LabelFormat::LabelIds
        );
        assert_eq!(BenchCase::TrainStep.name(), "train-step");
        // clap's names are the documented ones.
        let names: Vec<String> = LabelFormatFlag::value_variants()
            .iter()
            .map(|v| v.to_possible_value().unwrap().get_name().to_string())
            .collect();
        assert_eq!(names, ["color", "train-id", "label-ids"]);
        assert!(Switch::On.is_on() && !Switch::Off.is_on());
    }
}
