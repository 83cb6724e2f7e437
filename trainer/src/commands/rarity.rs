//! `cimle rarity`: the rarity scores R_p(k) of a dataset as CSV (cached beside a dataset folder).

use anyhow::{Context, Result};

use super::budget::color_policy;
use super::checks::synth_count;
use super::synth::scene_size;
use crate::cli::flags::RarityFlags;
use crate::data::LoadOptions;
use crate::data::source::DataSource;
use crate::fs::{prepare_file, write_atomic};
use crate::rebalance::cached_scores;

/// Computes (or reads from the cache) and writes the scores.
pub fn rarity(f: &RarityFlags) -> Result<()> {
    let (h, w) = (f.size.height, f.size.width);
    scene_size("--size", h, w)?;
    let source = DataSource::from_flag(
        &f.data,
        f.seed,
        f.synth_count,
        LoadOptions {
            color_policy: color_policy(f.map_unknown_colors),
            limit: None,
        },
    );
    if source.is_synth() {
        synth_count(f.synth_count, "scores need images")?;
    }
    prepare_file("--out", &f.out)?;
    let (pairs, desc) = source.load(h, w)?;
    let cache = source.rarity_cache();
    let scores =
        cached_scores(cache.as_deref(), &pairs, f.min_images).context("computing rarity scores")?;
    let names: Vec<&str> = cimle::classes::CLASSES.iter().map(|c| c.name).collect();
    write_atomic(&f.out, scores.to_csv(&names).as_bytes())
        .with_context(|| format!("writing {}", f.out.display()))?;
    let fitted: Vec<&str> = scores
        .fitted_classes()
        .iter()
        .map(|&p| names[p as usize])
        .collect();
    eprintln!(
        "{desc}: rarity of {} images written to {}; classes with a KDE: {}",
        scores.len(),
        f.out.display(),
        fitted.join(", ")
    );
    Ok(())
}
