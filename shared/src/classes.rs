//! The semantic classes cimle works with: the 19 Cityscapes training classes plus `void`.
//!
//! A layout stores one class id per pixel. Ids `0..=18` are the Cityscapes *training ids* (road,
//! sidewalk, …, bicycle) and [`VOID`] (`19`) stands for everything the benchmark ignores (the
//! `255` of Cityscapes' `*_trainIds.png` files). Colours are the official Cityscapes palette, which
//! GTA-5 ("Playing for Data") label PNGs use as well.
//!
//! Besides the training classes this module carries the *full* Cityscapes label table (ids `0..=33`
//! and the license plate, `-1`, as in `cityscapesScripts/helpers/labels.py`), so that `labelIds`
//! images and colour images that use non-training colours (parking, guard rail, …) can be read:
//! every non-training label maps to [`VOID`].
//!
//! GTA-5 label files use the same label set and palette, stored as palette PNGs whose indices
//! are Cityscapes label ids. Some of their palettes give a non-training label a colour that
//! Cityscapes does not use ([`GTA5_VOID_COLORS`]); those colours are `void` as well.

/// Number of classes in a layout: the 19 Cityscapes training classes plus [`VOID`].
pub const NUM_CLASSES: usize = 20;

/// Class id of `void`: pixels that belong to no training class (Cityscapes' ignore label).
pub const VOID: u8 = 19;

/// Name and palette colour of one layout class.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ClassInfo {
    /// Official Cityscapes name, e.g. `"traffic light"`.
    pub name: &'static str,
    /// Official Cityscapes palette colour (RGB).
    pub color: [u8; 3],
}

const fn class(name: &'static str, r: u8, g: u8, b: u8) -> ClassInfo {
    ClassInfo {
        name,
        color: [r, g, b],
    }
}

/// The layout classes indexed by class id (= Cityscapes train id; `void` last).
pub const CLASSES: [ClassInfo; NUM_CLASSES] = [
    class("road", 128, 64, 128),
    class("sidewalk", 244, 35, 232),
    class("building", 70, 70, 70),
    class("wall", 102, 102, 156),
    class("fence", 190, 153, 153),
    class("pole", 153, 153, 153),
    class("traffic light", 250, 170, 30),
    class("traffic sign", 220, 220, 0),
    class("vegetation", 107, 142, 35),
    class("terrain", 152, 251, 152),
    class("sky", 70, 130, 180),
    class("person", 220, 20, 60),
    class("rider", 255, 0, 0),
    class("car", 0, 0, 142),
    class("truck", 0, 0, 70),
    class("bus", 0, 60, 100),
    class("train", 0, 80, 100),
    class("motorcycle", 0, 0, 230),
    class("bicycle", 119, 11, 32),
    class("void", 0, 0, 0),
];

/// Named class ids, e.g. `id::CAR`.
pub mod id {
    /// `road`.
    pub const ROAD: u8 = 0;
    /// `sidewalk`.
    pub const SIDEWALK: u8 = 1;
    /// `building`.
    pub const BUILDING: u8 = 2;
    /// `wall`.
    pub const WALL: u8 = 3;
    /// `fence`.
    pub const FENCE: u8 = 4;
    /// `pole`.
    pub const POLE: u8 = 5;
    /// `traffic light`.
    pub const TRAFFIC_LIGHT: u8 = 6;
    /// `traffic sign`.
    pub const TRAFFIC_SIGN: u8 = 7;
    /// `vegetation`.
    pub const VEGETATION: u8 = 8;
    /// `terrain`.
    pub const TERRAIN: u8 = 9;
    /// `sky`.
    pub const SKY: u8 = 10;
    /// `person`.
    pub const PERSON: u8 = 11;
    /// `rider`.
    pub const RIDER: u8 = 12;
    /// `car`.
    pub const CAR: u8 = 13;
    /// `truck`.
    pub const TRUCK: u8 = 14;
    /// `bus`.
    pub const BUS: u8 = 15;
    /// `train`.
    pub const TRAIN: u8 = 16;
    /// `motorcycle`.
    pub const MOTORCYCLE: u8 = 17;
    /// `bicycle`.
    pub const BICYCLE: u8 = 18;
    /// `void`: everything that is not a training class.
    pub const VOID: u8 = super::VOID;
}

/// Name of class `id`, or `None` if `id >= NUM_CLASSES`.
pub fn class_name(id: u8) -> Option<&'static str> {
    CLASSES.get(usize::from(id)).map(|c| c.name)
}

/// Class id for a class name (case-insensitive; `_` and `-` may stand for spaces, so
/// `traffic_light` and `Traffic-Light` both give [`id::TRAFFIC_LIGHT`]).
pub fn class_by_name(name: &str) -> Option<u8> {
    let wanted: String = name
        .trim()
        .chars()
        .map(|c| match c {
            '_' | '-' => ' ',
            c => c.to_ascii_lowercase(),
        })
        .collect();
    CLASSES
        .iter()
        .position(|c| c.name == wanted)
        .and_then(|i| u8::try_from(i).ok())
}

/// One row of the full Cityscapes label table (`labels.py` of cityscapesScripts).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct CityscapesLabel {
    /// Official name, e.g. `"guard rail"`.
    pub name: &'static str,
    /// Label id as stored in `*_labelIds.png` (`0..=33`; `-1` for the license plate).
    pub id: i8,
    /// The layout class this label maps to: its train id, or [`VOID`] for labels that are not
    /// used for training (Cityscapes' train id 255 / -1).
    pub class: u8,
    /// Official palette colour (RGB).
    pub color: [u8; 3],
}

const fn label(name: &'static str, id: i8, class: u8, r: u8, g: u8, b: u8) -> CityscapesLabel {
    CityscapesLabel {
        name,
        id,
        class,
        color: [r, g, b],
    }
}

/// The full Cityscapes label table, in the order of `labels.py` (label id `0..=33`, then the
/// license plate with id `-1`). `CITYSCAPES_LABELS[i].id == i` for `i <= 33`.
pub const CITYSCAPES_LABELS: [CityscapesLabel; 35] = [
    label("unlabeled", 0, VOID, 0, 0, 0),
    label("ego vehicle", 1, VOID, 0, 0, 0),
    label("rectification border", 2, VOID, 0, 0, 0),
    label("out of roi", 3, VOID, 0, 0, 0),
    label("static", 4, VOID, 0, 0, 0),
    label("dynamic", 5, VOID, 111, 74, 0),
    label("ground", 6, VOID, 81, 0, 81),
    label("road", 7, id::ROAD, 128, 64, 128),
    label("sidewalk", 8, id::SIDEWALK, 244, 35, 232),
    label("parking", 9, VOID, 250, 170, 160),
    label("rail track", 10, VOID, 230, 150, 140),
    label("building", 11, id::BUILDING, 70, 70, 70),
    label("wall", 12, id::WALL, 102, 102, 156),
    label("fence", 13, id::FENCE, 190, 153, 153),
    label("guard rail", 14, VOID, 180, 165, 180),
    label("bridge", 15, VOID, 150, 100, 100),
    label("tunnel", 16, VOID, 150, 120, 90),
    label("pole", 17, id::POLE, 153, 153, 153),
    label("polegroup", 18, VOID, 153, 153, 153),
    label("traffic light", 19, id::TRAFFIC_LIGHT, 250, 170, 30),
    label("traffic sign", 20, id::TRAFFIC_SIGN, 220, 220, 0),
    label("vegetation", 21, id::VEGETATION, 107, 142, 35),
    label("terrain", 22, id::TERRAIN, 152, 251, 152),
    label("sky", 23, id::SKY, 70, 130, 180),
    label("person", 24, id::PERSON, 220, 20, 60),
    label("rider", 25, id::RIDER, 255, 0, 0),
    label("car", 26, id::CAR, 0, 0, 142),
    label("truck", 27, id::TRUCK, 0, 0, 70),
    label("bus", 28, id::BUS, 0, 60, 100),
    label("caravan", 29, VOID, 0, 0, 90),
    label("trailer", 30, VOID, 0, 0, 110),
    label("train", 31, id::TRAIN, 0, 80, 100),
    label("motorcycle", 32, id::MOTORCYCLE, 0, 0, 230),
    label("bicycle", 33, id::BICYCLE, 119, 11, 32),
    label("license plate", -1, VOID, 0, 0, 142),
];

/// Colours found in GTA-5 ("Playing for Data") label files that no Cityscapes label has.
///
/// GTA-5 keeps the Cityscapes label set and palette, but its palette PNGs draw some pixels of
/// non-training labels in these colours: rgb(20, 20, 20) is in 4 of 7 real GTA-5 label files
/// checked for issue 12, on pixels that are none of the 19 training classes (Cityscapes draws its
/// `unlabeled`, `ego vehicle`, `rectification border`, `out of roi` and `static` labels black).
/// The published GTA-5 material we could consult names no palette beyond Cityscapes', so this list
/// holds what real files showed; a palette PNG with another unknown colour is still read through
/// its indices when its palette is a label-id palette (see `label_png`).
pub const GTA5_VOID_COLORS: [[u8; 3]; 1] = [[20, 20, 20]];

/// The largest Cityscapes label id (`bicycle`).
pub const MAX_LABEL_ID: u8 = 33;

/// Layout class of a Cityscapes label id (the values of `*_labelIds.png`).
///
/// Training labels give their train id, all other labels (`unlabeled`, `parking`, `polegroup`, …)
/// give `Some(VOID)`; ids above [`MAX_LABEL_ID`] are not Cityscapes labels and give `None`.
pub fn label_id_to_train_id(id: u8) -> Option<u8> {
    if id > MAX_LABEL_ID {
        return None;
    }
    CITYSCAPES_LABELS.get(usize::from(id)).map(|l| l.class)
}

/// Layout class of a label colour from the full Cityscapes palette or GTA-5's extra colours.
///
/// Colours of training classes give that class, colours of non-training labels (Cityscapes' and
/// [`GTA5_VOID_COLORS`]) give [`VOID`]. Where two labels share a colour the training class wins
/// (`polegroup` has `pole`'s colour, `license plate` has `car`'s). Colours that no Cityscapes or
/// GTA-5 label uses give `None`.
pub fn color_to_class(rgb: [u8; 3]) -> Option<u8> {
    if let Some(i) = CLASSES[..usize::from(VOID)]
        .iter()
        .position(|c| c.color == rgb)
    {
        return u8::try_from(i).ok();
    }
    (is_cityscapes_color(rgb) || GTA5_VOID_COLORS.contains(&rgb)).then_some(VOID)
}

/// Whether some row of the full Cityscapes label table has this colour.
pub fn is_cityscapes_color(rgb: [u8; 3]) -> bool {
    CITYSCAPES_LABELS.iter().any(|l| l.color == rgb)
}

/// The class (training class or `void`) whose palette colour is nearest to `rgb` in squared RGB
/// distance; ties go to the lower id. Use it to read labels whose colours were blurred or
/// re-quantised.
pub fn nearest_class(rgb: [u8; 3]) -> u8 {
    let dist = |c: [u8; 3]| -> u32 {
        c.iter()
            .zip(rgb)
            .map(|(&a, b)| {
                let d = u32::from(a.abs_diff(b));
                d * d
            })
            .sum()
    };
    let mut best = 0u8;
    let mut best_d = u32::MAX;
    for (i, c) in (0u8..).zip(CLASSES.iter()) {
        let d = dist(c.color);
        if d < best_d {
            best = i;
            best_d = d;
        }
    }
    best
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn training_classes_match_table() {
        assert_eq!(CLASSES.len(), NUM_CLASSES);
        assert_eq!(CLASSES[usize::from(VOID)].name, "void");
        assert_eq!(CLASSES[usize::from(id::CAR)].color, [0, 0, 142]);
        assert_eq!(CLASSES[usize::from(id::BICYCLE)].name, "bicycle");
        // Every training class appears in the full table with the same name and colour.
        for (i, c) in (0u8..).zip(CLASSES.iter()).take(usize::from(VOID)) {
            let row = CITYSCAPES_LABELS
                .iter()
                .find(|l| l.class == i)
                .expect("training class in the full table");
            assert_eq!(row.name, c.name);
            assert_eq!(row.color, c.color);
        }
    }

    #[test]
    fn full_table_ids_are_positions() {
        for (i, l) in CITYSCAPES_LABELS.iter().enumerate().take(34) {
            assert_eq!(usize::try_from(l.id).ok(), Some(i), "{}", l.name);
        }
        assert_eq!(CITYSCAPES_LABELS[34].id, -1);
    }

    #[test]
    fn label_ids_map_to_train_ids() {
        assert_eq!(label_id_to_train_id(7), Some(id::ROAD));
        assert_eq!(label_id_to_train_id(26), Some(id::CAR));
        assert_eq!(label_id_to_train_id(33), Some(id::BICYCLE));
        assert_eq!(label_id_to_train_id(0), Some(VOID));
        assert_eq!(label_id_to_train_id(1), Some(VOID));
        assert_eq!(label_id_to_train_id(18), Some(VOID));
        assert_eq!(label_id_to_train_id(29), Some(VOID));
        assert_eq!(label_id_to_train_id(34), None);
        assert_eq!(label_id_to_train_id(255), None);
    }

    #[test]
    fn colors_map_to_classes() {
        assert_eq!(color_to_class([128, 64, 128]), Some(id::ROAD));
        assert_eq!(color_to_class([153, 153, 153]), Some(id::POLE));
        assert_eq!(color_to_class([0, 0, 142]), Some(id::CAR));
        assert_eq!(color_to_class([250, 170, 160]), Some(VOID));
        assert_eq!(color_to_class([111, 74, 0]), Some(VOID));
        assert_eq!(color_to_class([0, 0, 0]), Some(VOID));
        assert_eq!(color_to_class([1, 2, 3]), None);
    }

    #[test]
    fn gta5_extra_colours_are_void_and_not_cityscapes() {
        for c in GTA5_VOID_COLORS {
            assert!(!is_cityscapes_color(c), "{c:?} is a Cityscapes colour");
            assert_eq!(color_to_class(c), Some(VOID));
        }
        assert_eq!(color_to_class([20, 20, 20]), Some(VOID));
        // A neighbour of the GTA-5 colour is still unknown.
        assert_eq!(color_to_class([21, 20, 20]), None);
        assert!(is_cityscapes_color([111, 74, 0]));
    }

    #[test]
    fn nearest_class_picks_closest_colour() {
        assert_eq!(nearest_class([0, 0, 140]), id::CAR);
        assert_eq!(nearest_class([126, 66, 130]), id::ROAD);
        assert_eq!(nearest_class([3, 3, 3]), VOID);
        for (i, c) in (0u8..).zip(CLASSES.iter()) {
            assert_eq!(nearest_class(c.color), i);
        }
    }

    #[test]
    fn names_round_trip() {
        assert_eq!(class_name(id::SKY), Some("sky"));
        assert_eq!(class_name(20), None);
        assert_eq!(class_by_name("Traffic_Light"), Some(id::TRAFFIC_LIGHT));
        assert_eq!(class_by_name("void"), Some(VOID));
        assert_eq!(class_by_name("caravan"), None);
    }
}
