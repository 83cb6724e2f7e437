//! Whether a run folder's settings (`RUN/config.json`) are those of the flags given now: what
//! `train --resume` and `compare` check before they continue a run, so that `config.json` never
//! describes one run while the weights come from another.

use std::path::Path;

use cimle::config::Preset;
use serde_json::Value;

use crate::config::TrainingConfig;

/// The fields `train --resume` may change: more (or fewer) rounds is what resuming is for.
/// Everything else, the selection batch included (a batch of another size may round its
/// distances differently, and so select other codes), must be what the run was started with.
pub const RESUMABLE_FIELDS: [&str; 1] = ["rounds"];

/// Reads a run's `config.json` as a [`TrainingConfig`] (a config saved before a field existed
/// reads that field's default).
pub fn read_config(path: &Path) -> Result<TrainingConfig, String> {
    let bytes = std::fs::read(path).map_err(|e| e.to_string())?;
    serde_json::from_slice(&bytes).map_err(|e| format!("not a run config ({e})"))
}

/// The differences between the settings a run was started with (`saved`) and the ones asked
/// for now (`wanted`), one line each, as `field: the run is X, the flags say Y`; fields named in
/// `ignore` are not compared. A different generator shape is named by its preset when both are
/// presets (`preset: the run is small, the flags say browser`).
pub fn differences(
    saved: &TrainingConfig,
    wanted: &TrainingConfig,
    ignore: &[&str],
) -> Vec<String> {
    let (a, b) = (to_value(saved), to_value(wanted));
    let mut out = Vec::new();
    if saved.generator != wanted.generator
        && let (Some(p), Some(q)) = (preset_of(saved), preset_of(wanted))
        && p != q
    {
        out.push(format!("preset: the run is {p}, the flags say {q}"));
        diff_values(
            "",
            &without(&a, "generator"),
            &without(&b, "generator"),
            ignore,
            &mut out,
        );
        return out;
    }
    diff_values("", &a, &b, ignore, &mut out);
    out
}

fn to_value(config: &TrainingConfig) -> Value {
    serde_json::to_value(config).unwrap_or(Value::Null)
}

fn without(v: &Value, key: &str) -> Value {
    let mut v = v.clone();
    if let Some(o) = v.as_object_mut() {
        o.remove(key);
    }
    v
}

/// The preset whose generator this config's is (its global-code option aside).
fn preset_of(config: &TrainingConfig) -> Option<Preset> {
    let g = &config.generator;
    Preset::ALL
        .into_iter()
        .find(|p| p.config().with_global_code(g.global_code) == *g)
}

/// Appends a line per differing leaf of two JSON values (objects are compared field by field).
fn diff_values(path: &str, a: &Value, b: &Value, ignore: &[&str], out: &mut Vec<String>) {
    if a == b || ignore.contains(&path) {
        return;
    }
    if let (Value::Object(x), Value::Object(y)) = (a, b) {
        let keys: std::collections::BTreeSet<&String> = x.keys().chain(y.keys()).collect();
        for k in keys {
            let sub = if path.is_empty() {
                k.clone()
            } else {
                format!("{path}.{k}")
            };
            let (va, vb) = (
                x.get(k).unwrap_or(&Value::Null),
                y.get(k).unwrap_or(&Value::Null),
            );
            diff_values(&sub, va, vb, ignore, out);
        }
        return;
    }
    out.push(format!(
        "{path}: the run is {}, the flags say {}",
        show(a),
        show(b)
    ));
}

fn show(v: &Value) -> String {
    match v {
        Value::String(s) => s.clone(),
        Value::Null => "not set".into(),
        other => other.to_string(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn base() -> TrainingConfig {
        TrainingConfig::new(Preset::Small.config())
            .with_seed(3)
            .with_lr(1e-3)
            .with_data("built-in scenes (seed 3, 400 scenes)".into())
    }

    #[test]
    fn equal_configs_and_ignored_fields_differ_in_nothing() {
        assert!(differences(&base(), &base(), &[]).is_empty());
        let more = base().with_rounds(40);
        assert_eq!(
            differences(&base(), &more, &RESUMABLE_FIELDS),
            Vec::<String>::new()
        );
        assert_eq!(differences(&base(), &more, &[]).len(), 1);
        // Only the rounds: another selection batch is named like any other field.
        let batched = more.with_selection_batch(8);
        assert_eq!(
            differences(&base(), &batched, &RESUMABLE_FIELDS),
            vec!["selection_batch: the run is 0, the flags say 8"]
        );
    }

    #[test]
    fn every_differing_field_is_named_with_both_values() {
        let other = base()
            .with_seed(4)
            .with_lr(0.01)
            .with_data("runs/data (synth, 10 pairs)".into());
        let d = differences(&base(), &other, &RESUMABLE_FIELDS);
        assert_eq!(
            d,
            vec![
                "data: the run is built-in scenes (seed 3, 400 scenes), the flags say runs/data (synth, 10 pairs)",
                "lr: the run is 0.001, the flags say 0.01",
                "seed: the run is 3, the flags say 4",
            ]
        );
    }

    #[test]
    fn another_preset_is_named_as_one_line() {
        let browser = TrainingConfig {
            generator: Preset::Browser.config(),
            ..base()
        };
        assert_eq!(
            differences(&base(), &browser, &RESUMABLE_FIELDS),
            vec!["preset: the run is small, the flags say browser"]
        );
        // The global code is a generator option of its own.
        let global = TrainingConfig {
            generator: Preset::Small.config().with_global_code(Some(true)),
            ..base()
        };
        assert_eq!(
            differences(&base(), &global, &[]),
            vec!["generator.global_code: the run is not set, the flags say true"]
        );
    }
}
