//! The rarity scores of a dataset folder, cached beside it (`.cimle-rarity.json`) and reused
//! while the pairs and `min_images` are unchanged ([`cache_key`]).

use std::path::Path;

use super::{RarityError, RarityScores, cache_key};
use crate::data::Pair;
use crate::fs::write_atomic;

/// The rarity scores of `pairs`: read from `cache` when that file holds scores of exactly these
/// pairs and `min_images`, computed otherwise, and then written to `cache` where it can be (a
/// folder that cannot be written only gets a note). No cache (built-in scenes): computed.
pub fn cached_scores(
    cache: Option<&Path>,
    pairs: &[Pair],
    min_images: usize,
) -> Result<RarityScores, RarityError> {
    let key = cache_key(pairs.iter(), min_images);
    if let Some(path) = cache
        && let Ok(text) = std::fs::read_to_string(path)
        && let Ok(scores) = RarityScores::from_json(&text)
        && scores.is_fresh(&key)
    {
        eprintln!("rarity scores: {} (cached)", path.display());
        return Ok(scores);
    }
    let scores = RarityScores::compute(pairs.iter(), min_images)?;
    if let Some(path) = cache
        && let Ok(json) = scores.to_json()
        && let Err(e) = write_atomic(path, json.as_bytes())
    {
        eprintln!(
            "note: could not cache rarity scores at {}: {e}",
            path.display()
        );
    }
    Ok(scores)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::data::source::synth_pairs;

    #[test]
    fn scores_are_cached_and_a_stale_cache_is_recomputed() {
        let dir = std::env::temp_dir().join(format!("cimle-rarity-cache-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        std::fs::create_dir_all(&dir).unwrap();
        let cache = dir.join(".cimle-rarity.json");
        let pairs = synth_pairs(1, 6, 16, 32).unwrap();
        let first = cached_scores(Some(&cache), &pairs, 2).unwrap();
        let read = |path: &Path| RarityScores::from_json(&std::fs::read_to_string(path).unwrap());
        assert_eq!(read(&cache).unwrap().cache_key, first.cache_key);
        // A cache with the right key is what comes back: it was read, not recomputed.
        let mut planted = first.clone();
        planted.scores[0][0] = 12345.0;
        std::fs::write(&cache, planted.to_json().unwrap()).unwrap();
        assert_eq!(
            cached_scores(Some(&cache), &pairs, 2).unwrap().scores[0][0],
            12345.0
        );
        // Another min_images: stale, recomputed and rewritten.
        let other = cached_scores(Some(&cache), &pairs, 3).unwrap();
        assert_eq!(other.min_images, 3);
        assert_ne!(other.cache_key, first.cache_key);
        assert_eq!(read(&cache).unwrap().cache_key, other.cache_key);
        // No cache at all: computed, nothing written.
        assert_eq!(cached_scores(None, &pairs, 2).unwrap(), first);
        std::fs::remove_dir_all(&dir).unwrap();
    }
}
