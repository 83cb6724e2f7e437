//! Format detection: which label format a PNG's pixels are in, and why (see the module docs of
//! [`super`]).

use super::error::hex;
use super::mapping::label_id_class;
use super::pixels::{PixelKind, Pixels, Values, single_values};
use super::{Detection, FORMAT_KEYWORD, LabelError, LabelFormat, TRAIN_ID_IGNORE};
use crate::classes::{self, CITYSCAPES_LABELS, CLASSES, MAX_LABEL_ID, VOID};

pub(super) fn detect_pixels(pixels: &Pixels) -> Result<Detection, LabelError> {
    if let Some(format) = pixels.declared {
        return Ok(Detection {
            format,
            reason: format!("the file's `{FORMAT_KEYWORD}` text chunk says so"),
        });
    }
    match &pixels.kind {
        PixelKind::Rgb(_) => Ok(Detection {
            format: LabelFormat::Color,
            reason: "an RGB PNG holds colours".into(),
        }),
        PixelKind::Gray { .. } => detect_values(&single_values(pixels, LabelFormat::TrainId)?),
        PixelKind::Indexed { indices, palette } => detect_palette(pixels, indices, palette),
    }
}

/// Train ids, label ids, or ambiguous: see [`LabelFormat::detect`].
pub(super) fn detect_values(v: &Values<'_>) -> Result<Detection, LabelError> {
    let what = v.what;
    let ignore = u16::from(TRAIN_ID_IGNORE);
    let max_label = u16::from(MAX_LABEL_ID);
    let neither = |index: usize| {
        let (x, y) = v.at(index);
        LabelError::Undetectable {
            what,
            value: v.values[index],
            x,
            y,
        }
    };
    if let Some(i) = v.values.iter().position(|&x| x > max_label && x != ignore) {
        return Err(neither(i));
    }
    let label_only = v
        .values
        .iter()
        .position(|&x| x > u16::from(VOID) && x <= max_label);
    let has_ignore = v.values.contains(&ignore);
    match (has_ignore, label_only) {
        (true, Some(i)) => Err(neither(i)),
        (true, None) => Ok(Detection {
            format: LabelFormat::TrainId,
            reason: format!("{what}s include 255, the train-id void value, which is no label id"),
        }),
        (false, Some(i)) => Ok(Detection {
            format: LabelFormat::LabelIds,
            reason: format!(
                "{what}s include {}, which is a label id but no train id",
                v.values[i]
            ),
        }),
        (false, None) => {
            // Every value is <= 19: both readings are valid.
            let n = v.values.len();
            let label_void = v
                .values
                .iter()
                .filter(|&&x| label_id_class(x) == Some(VOID))
                .count();
            let train_void = v.values.iter().filter(|&&x| x == u16::from(VOID)).count();
            if label_void * 2 >= n && label_void > train_void {
                Ok(Detection {
                    format: LabelFormat::TrainId,
                    reason: format!(
                        "all {what}s are 19 or less, so they could be label ids, but as label \
                         ids {} of the pixels would be void labels",
                        percent(label_void, n)
                    ),
                })
            } else {
                Err(LabelError::Ambiguous {
                    what,
                    as_train_ids: largest(&v.values, |x| CLASSES[usize::from(x)].name.to_owned()),
                    as_label_ids: largest(&v.values, |x| {
                        let label = &CITYSCAPES_LABELS[usize::from(x)];
                        if label.class == VOID {
                            format!("{} (void)", label.name)
                        } else {
                            label.name.to_owned()
                        }
                    }),
                })
            }
        }
    }
}

/// Palette images: colours, values, or GTA-5's label ids; see [`LabelFormat::detect`].
fn detect_palette(
    pixels: &Pixels,
    indices: &[u16],
    palette: &[[u8; 3]],
) -> Result<Detection, LabelError> {
    let mut used = vec![false; palette.len()];
    for &i in indices {
        used[usize::from(i)] = true;
    }
    let used: Vec<(usize, [u8; 3])> = (0..palette.len())
        .filter(|&i| used[i])
        .map(|i| (i, palette[i]))
        .collect();
    let colors = |reason: &str| Detection {
        format: LabelFormat::Color,
        reason: reason.to_owned(),
    };
    if used
        .iter()
        .all(|&(_, c)| classes::color_to_class(c).is_some())
    {
        return Ok(colors("a palette PNG whose colours are all label colours"));
    }
    if used.iter().all(|&(_, c)| c[0] == c[1] && c[1] == c[2]) {
        let detection = detect_values(&single_values(pixels, LabelFormat::TrainId)?)?;
        return Ok(Detection {
            reason: format!("a palette PNG with a gray palette: {}", detection.reason),
            ..detection
        });
    }
    // GTA-5 stores labels as palette indices that are Cityscapes label ids, in a palette that
    // mostly holds the Cityscapes colours of those ids. When every Cityscapes colour used sits at
    // its own label id, the indices are label ids and other colours read through them.
    let cityscapes: Vec<&(usize, [u8; 3])> = used
        .iter()
        .filter(|(_, c)| classes::is_cityscapes_color(*c))
        .collect();
    let unknown: Vec<&(usize, [u8; 3])> = used
        .iter()
        .filter(|(_, c)| classes::color_to_class(*c).is_none())
        .collect();
    let at_own_id = |&&(i, c): &&(usize, [u8; 3])| {
        i <= usize::from(MAX_LABEL_ID) && CITYSCAPES_LABELS[i].color == c
    };
    if !cityscapes.is_empty()
        && cityscapes.iter().all(at_own_id)
        && unknown.iter().all(|(i, _)| *i <= usize::from(MAX_LABEL_ID))
    {
        let read: Vec<String> = unknown
            .iter()
            .take(3)
            .map(|(i, c)| {
                format!(
                    "{} at index {i} is `{}`",
                    hex(c),
                    CITYSCAPES_LABELS[*i].name
                )
            })
            .collect();
        return Ok(Detection {
            format: LabelFormat::LabelIds,
            reason: format!(
                "a palette PNG whose Cityscapes colours all sit at their label ids, as GTA-5 \
                 stores labels, so its indices are label ids: {}",
                read.join(", ")
            ),
        });
    }
    Ok(colors("a palette PNG holds colours"))
}

fn percent(part: usize, whole: usize) -> String {
    let p = (part as f64 * 100.0 / whole.max(1) as f64).round();
    if part > 0 && p < 1.0 {
        "<1 %".to_owned()
    } else {
        format!("{p} %")
    }
}

/// The four most frequent names of `values` (values `<= 19`), with their share of the pixels.
fn largest(values: &[u16], name: impl Fn(u8) -> String) -> String {
    let mut counts = [0usize; 20];
    for &v in values {
        if let Some(c) = counts.get_mut(usize::from(v)) {
            *c += 1;
        }
    }
    let mut order: Vec<u8> = (0u8..20).filter(|&v| counts[usize::from(v)] > 0).collect();
    order.sort_by_key(|&v| (std::cmp::Reverse(counts[usize::from(v)]), v));
    let mut parts: Vec<String> = order
        .iter()
        .take(4)
        .map(|&v| {
            format!(
                "{} {}",
                name(v),
                percent(counts[usize::from(v)], values.len())
            )
        })
        .collect();
    if order.len() > 4 {
        parts.push("…".to_owned());
    }
    parts.join(", ")
}
