//! Where training pairs come from (`--data`): built-in scenes generated in memory, or a dataset
//! folder read by [`load_dataset`](super::load_dataset).

use std::path::{Path, PathBuf};

use cimle::layout::Layout;

use super::{DataError, LoadOptions, Pair, load_dataset};
use crate::synth::generate_scene;

/// The name of the rarity-score cache beside a dataset folder.
pub const RARITY_CACHE: &str = ".cimle-rarity.json";

/// The training data of a run.
#[derive(Debug, Clone, PartialEq)]
pub enum DataSource {
    /// `count` built-in scenes of scene seed `seed`, generated in memory.
    Synth { seed: u64, count: usize },
    /// A dataset folder.
    Folder { dir: PathBuf, options: LoadOptions },
}

impl DataSource {
    /// `--data` as given: the word `synth` (built-in scenes), or a folder.
    pub fn from_flag(
        data: &str,
        synth_seed: u64,
        synth_count: usize,
        options: LoadOptions,
    ) -> Self {
        if data == "synth" {
            DataSource::Synth {
                seed: synth_seed,
                count: synth_count,
            }
        } else {
            DataSource::Folder {
                dir: PathBuf::from(data),
                options,
            }
        }
    }

    /// Whether the pairs are built-in scenes (whose appearance factors are known).
    pub fn is_synth(&self) -> bool {
        matches!(self, DataSource::Synth { .. })
    }

    /// The pairs at `height x width`, and what they are in words (recorded in a run's
    /// `config.json`).
    pub fn load(&self, height: usize, width: usize) -> Result<(Vec<Pair>, String), DataError> {
        match self {
            DataSource::Synth { seed, count } => Ok((
                synth_pairs(*seed, *count, height, width)?,
                format!("built-in scenes (seed {seed}, {count} scenes)"),
            )),
            DataSource::Folder { dir, options } => {
                let ds = load_dataset(dir, height, width, *options)?;
                let desc = format!("{} ({}, {} pairs)", dir.display(), ds.kind, ds.len());
                Ok((ds.pairs, desc))
            }
        }
    }

    /// Where the rarity scores of a dataset folder are cached (none for built-in scenes).
    pub fn rarity_cache(&self) -> Option<PathBuf> {
        match self {
            DataSource::Synth { .. } => None,
            DataSource::Folder { dir, .. } => Some(Path::new(dir).join(RARITY_CACHE)),
        }
    }
}

/// Built-in scene `index` of scene seed `seed` as a training pair.
pub fn synth_pair(seed: u64, index: usize, height: usize, width: usize) -> Result<Pair, DataError> {
    let s = generate_scene(seed, index as u64, height, width);
    let layout =
        Layout::new(height, width, s.labels).map_err(|error| DataError::Scene { index, error })?;
    Ok(Pair {
        layout,
        image: s.image,
    })
}

/// The first `count` built-in scenes of scene seed `seed`.
pub fn synth_pairs(
    seed: u64,
    count: usize,
    height: usize,
    width: usize,
) -> Result<Vec<Pair>, DataError> {
    (0..count)
        .map(|i| synth_pair(seed, i, height, width))
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn synth_source_generates_its_scenes_and_has_no_cache() {
        let source = DataSource::from_flag("synth", 3, 2, LoadOptions::default());
        assert!(source.is_synth());
        assert_eq!(source.rarity_cache(), None);
        let (pairs, desc) = source.load(16, 32).unwrap();
        assert_eq!(desc, "built-in scenes (seed 3, 2 scenes)");
        assert_eq!(pairs.len(), 2);
        let scene = generate_scene(3, 1, 16, 32);
        assert_eq!(pairs[1].image, scene.image);
        assert_eq!(pairs[1].layout.ids(), &scene.labels[..]);
    }

    #[test]
    fn a_folder_source_caches_beside_the_folder() {
        let source = DataSource::from_flag("some/dir", 0, 0, LoadOptions::default());
        assert!(!source.is_synth());
        assert_eq!(
            source.rarity_cache(),
            Some(PathBuf::from("some/dir/.cimle-rarity.json"))
        );
        let err = source.load(16, 32).unwrap_err();
        assert!(
            err.to_string().starts_with("some/dir: not a folder"),
            "{err}"
        );
    }
}
