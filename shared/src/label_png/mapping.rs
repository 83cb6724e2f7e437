//! Pixels to classes: colour labels through the palettes, train ids and label ids through their
//! tables, with the first bad value and its pixel reported.

use super::detect::detect_values;
use super::pixels::{PixelKind, Pixels, Values, single_values};
use super::{ColorPolicy, Decoded, LabelError, LabelFormat, TRAIN_ID_IGNORE};
use crate::classes::{self, CLASSES, VOID};
use crate::layout::Layout;

pub(super) fn label_id_class(value: u16) -> Option<u8> {
    u8::try_from(value)
        .ok()
        .and_then(classes::label_id_to_train_id)
}

/// Colour labels: palette colours give their class; unknown colours follow `policy`. A gray image
/// with unknown levels is [`LabelError::GrayAsColor`] (its levels are values, not colours).
pub(super) fn color_layout(pixels: &Pixels, policy: ColorPolicy) -> Result<Decoded, LabelError> {
    let rgb = pixels.to_rgb8();
    let width = pixels.width;
    let mut ids = Vec::with_capacity(rgb.len() / 3);
    let mut unknown = 0usize;
    let mut first_unknown: Option<([u8; 3], usize)> = None;
    let mut all_gray = true;
    // Labels come in runs of one colour: remember the last lookup.
    let mut last: Option<([u8; 3], Option<u8>)> = None;
    for (index, px) in rgb.chunks_exact(3).enumerate() {
        let color = [px[0], px[1], px[2]];
        all_gray &= color[0] == color[1] && color[1] == color[2];
        let class = match last {
            Some((c, class)) if c == color => class,
            _ => {
                let class = classes::color_to_class(color);
                last = Some((color, class));
                class
            }
        };
        let id = match class {
            Some(id) => id,
            None => {
                unknown += 1;
                first_unknown.get_or_insert((color, index));
                classes::nearest_class(color)
            }
        };
        ids.push(id);
    }
    if let (ColorPolicy::Strict, Some((color, index))) = (policy, first_unknown) {
        let (x, y) = (index % width, index / width);
        let gray = matches!(pixels.kind, PixelKind::Gray { .. }) || all_gray;
        if gray {
            let reads_as = single_values(pixels, LabelFormat::TrainId)
                .ok()
                .and_then(|v| detect_values(&v).ok())
                .map(|d| d.format);
            return Err(LabelError::GrayAsColor {
                value: color[0],
                x,
                y,
                count: unknown,
                reads_as,
            });
        }
        let nearest = CLASSES[usize::from(classes::nearest_class(color))].name;
        return Err(LabelError::UnknownColor {
            color,
            x,
            y,
            nearest,
            count: unknown,
        });
    }
    Ok(Decoded {
        layout: Layout::new(pixels.height, width, ids)?,
        remapped_pixels: unknown,
    })
}

/// Maps values through `map`; on failure reports the first bad value, its pixel and the count.
fn map_values(
    v: &Values<'_>,
    map: impl Fn(u16) -> Option<u8>,
    error: impl FnOnce(u16, usize, usize, usize) -> LabelError,
) -> Result<Layout, LabelError> {
    let mut ids = Vec::with_capacity(v.values.len());
    let mut bad: Option<(u16, usize)> = None;
    let mut count = 0usize;
    for (index, &value) in v.values.iter().enumerate() {
        match map(value) {
            Some(id) => ids.push(id),
            None => {
                count += 1;
                bad.get_or_insert((value, index));
                ids.push(VOID);
            }
        }
    }
    if let Some((value, index)) = bad {
        let (x, y) = v.at(index);
        return Err(error(value, x, y, count));
    }
    Ok(Layout::new(v.height, v.width, ids)?)
}

pub(super) fn train_ids_to_layout(v: &Values<'_>) -> Result<Layout, LabelError> {
    map_values(
        v,
        |value| match u8::try_from(value) {
            Ok(TRAIN_ID_IGNORE) => Some(VOID),
            Ok(id) if id <= VOID => Some(id),
            _ => None,
        },
        |value, x, y, count| LabelError::InvalidTrainId { value, x, y, count },
    )
}

pub(super) fn label_ids_to_layout(v: &Values<'_>) -> Result<Layout, LabelError> {
    map_values(v, label_id_class, |value, x, y, count| {
        LabelError::InvalidLabelId { value, x, y, count }
    })
}
