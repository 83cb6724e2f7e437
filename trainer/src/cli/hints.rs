//! The command-line way out of an error: the model crate and the library describe the data
//! only, so the flag to pass (or the file to give) is added here, after the message, in
//! parentheses.

use cimle::label_png::{LabelError, LabelFormat};
use cimle::weights::WeightsError;

use crate::data::DataError;
use crate::layout_file::LayoutFileError;
use crate::weights_file::WeightsFileError;

/// The error line of a failed command: its message (every cause, outermost first), then the
/// hint where there is one.
pub fn error_line(err: &anyhow::Error) -> String {
    let message = format!("{err:#}");
    match hint(err) {
        Some(hint) => format!("{message} ({hint})"),
        None => message,
    }
}

/// The hint for an error, from the first cause that has one: a layout file (`--layout`,
/// `--layouts`), whose format and colours have flags; a dataset label, where only
/// --map-unknown-colors applies (`train`, `rarity` and `compare` have no --label-format); a
/// weights file, which has to be a cimle one.
pub fn hint(err: &anyhow::Error) -> Option<&'static str> {
    for cause in err.chain() {
        if let Some(LayoutFileError::Decode { error, .. }) = cause.downcast_ref() {
            return label_hint(error);
        }
        if let Some(DataError::Label {
            error: error @ LabelError::UnknownColor { .. },
            ..
        }) = cause.downcast_ref()
        {
            return label_hint(error);
        }
        if let Some(WeightsFileError::Weights { error, .. }) = cause.downcast_ref() {
            return weights_hint(error);
        }
    }
    None
}

/// The flags that read a layout file that failed this way.
pub fn label_hint(e: &LabelError) -> Option<&'static str> {
    Some(match e {
        LabelError::UnknownColor { .. } => {
            "pass --map-unknown-colors to map such colours to the nearest class"
        }
        LabelError::GrayAsColor {
            reads_as: Some(LabelFormat::TrainId),
            ..
        }
        | LabelError::InvalidLabelId { .. } => "pass --label-format train-id",
        LabelError::GrayAsColor {
            reads_as: Some(LabelFormat::LabelIds),
            ..
        }
        | LabelError::InvalidTrainId { .. } => "pass --label-format label-ids",
        LabelError::GrayAsColor { .. } | LabelError::Ambiguous { .. } => {
            "pass --label-format label-ids or --label-format train-id"
        }
        LabelError::NotGray { .. } => "pass --label-format color",
        _ => return None,
    })
}

/// What to give `--weights` instead of a file that failed this way.
pub fn weights_hint(e: &WeightsError) -> Option<&'static str> {
    match e {
        WeightsError::Foreign { .. } => Some(
            "give a run's RUN/weights.safetensors, or export one with `cimle export --weights \
             RUN/weights.safetensors --out FILE`",
        ),
        WeightsError::Unreadable(_) => {
            Some("give a run's RUN/weights.safetensors or a file written by `cimle export`")
        }
        WeightsError::NewerVersion { .. } => {
            Some("update cimle, or export the model again with this build's `cimle export`")
        }
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    use std::path::PathBuf;

    use cimle::classes::VOID;
    use cimle::label_png::{ColorPolicy, decode_png};
    use cimle::layout::Layout;

    use super::*;

    /// A colour label with one pixel of a colour no label has.
    fn unknown_color() -> LabelError {
        let mut out = Vec::new();
        {
            let mut enc = png::Encoder::new(&mut out, 2, 1);
            enc.set_color(png::ColorType::Rgb);
            enc.set_depth(png::BitDepth::Eight);
            let mut w = enc.write_header().unwrap();
            w.write_image_data(&[128, 64, 128, 1, 1, 141]).unwrap();
        }
        decode_png(&out, LabelFormat::Color, ColorPolicy::Strict).unwrap_err()
    }

    #[test]
    fn a_layout_file_gets_its_flag_after_the_message() {
        let err = anyhow::Error::new(LayoutFileError::Decode {
            path: PathBuf::from("l.png"),
            error: unknown_color(),
        })
        .context("sampling w.safetensors");
        let line = error_line(&err);
        assert!(
            line.starts_with("sampling w.safetensors: l.png: "),
            "{line}"
        );
        assert!(
            line.ends_with(" (pass --map-unknown-colors to map such colours to the nearest class)"),
            "{line}"
        );
        // Train ids (255 is void) read as label ids: the format they are.
        let gray = Layout::filled(1, 2, VOID).encode_train_id_png();
        let error = decode_png(&gray, LabelFormat::LabelIds, ColorPolicy::Strict).unwrap_err();
        assert_eq!(label_hint(&error), Some("pass --label-format train-id"));
    }

    #[test]
    fn a_dataset_label_gets_only_the_colour_flag() {
        let err = anyhow::Error::new(DataError::Label {
            path: PathBuf::from("labels/a.png"),
            error: unknown_color(),
        });
        assert!(
            error_line(&err)
                .ends_with("(pass --map-unknown-colors to map such colours to the nearest class)")
        );
        // `train` has no --label-format: no hint that names it.
        let gray = Layout::filled(1, 2, VOID).encode_train_id_png();
        let error = decode_png(&gray, LabelFormat::LabelIds, ColorPolicy::Strict).unwrap_err();
        let err = anyhow::Error::new(DataError::Label {
            path: PathBuf::from("labels/a.png"),
            error,
        });
        assert_eq!(hint(&err), None);
        assert_eq!(error_line(&err), format!("{err:#}"));
    }

    #[test]
    fn a_foreign_weights_file_is_told_what_to_give() {
        let err = anyhow::Error::new(WeightsFileError::Weights {
            path: PathBuf::from("x.safetensors"),
            error: WeightsError::Foreign { found: None },
        })
        .context("evaluating");
        let line = error_line(&err);
        assert!(line.contains("x.safetensors: this safetensors file is not a cimle generator"));
        assert!(line.ends_with("--out FILE`)"), "{line}");
        let plain = anyhow::anyhow!("something else").context("x");
        assert_eq!(error_line(&plain), "x: something else");
    }
}
