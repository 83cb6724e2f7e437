//! The rarity scores `R_p(k) = 1 / D_p(c_k(p))` of a dataset: average colours, one KDE per
//! class, the cache key that tells a fresh cache from a stale one, and the CSV of `cimle rarity`.

use std::fmt::Write as _;

use cimle::classes::NUM_CLASSES;
use cimle::layout::Layout;
use serde::{Deserialize, Serialize};

use super::RarityError;
use super::kde::{COVARIANCE_RIDGE, GaussianKde};
use super::mask::rarity_mask;
use crate::data::Pair;

/// Bumped whenever the computation of the scores changes, so that older caches become stale.
const ALGORITHM_VERSION: u64 = 1;

/// `c_k(p)` for every class p: the mean RGB of the pixels of class p, in **0..255** units, or
/// `None` where p is absent from the layout.
///
/// docs/METHOD.md "Dataset rebalancing": `c_k(p) = Σ 1[x_k^{ij} = p] y_k^{ij} / Σ 1[x_k^{ij} = p]`.
///
/// # Panics
/// If `image` does not hold `layout.height() * layout.width() * 3` bytes (RGB8, row-major).
pub fn average_colors(image: &[u8], layout: &Layout) -> [Option<[f64; 3]>; NUM_CLASSES] {
    assert_eq!(
        image.len(),
        layout.ids().len() * 3,
        "average_colors: an RGB8 image of a {}x{} layout holds {} bytes",
        layout.height(),
        layout.width(),
        layout.ids().len() * 3
    );
    let mut sums = [[0u64; 3]; NUM_CLASSES];
    let mut counts = [0u64; NUM_CLASSES];
    for (&id, px) in layout.ids().iter().zip(image.chunks_exact(3)) {
        let p = usize::from(id);
        counts[p] += 1;
        for c in 0..3 {
            sums[p][c] += u64::from(px[c]);
        }
    }
    // docs/METHOD.md "Dataset rebalancing": c_k(p), the class's pixel sum over its pixel count.
    std::array::from_fn(|p| (counts[p] > 0).then(|| sums[p].map(|s| s as f64 / counts[p] as f64)))
}

/// How a class's density `D_p` was obtained.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum KdeStatus {
    /// scipy's KDE exactly.
    Fitted,
    /// The colour covariance was singular: fitted with [`COVARIANCE_RIDGE`].
    Regularized,
    /// Present in fewer than `max(min_images, 2)` images (or absent): no KDE, all scores 0.
    Skipped,
}

/// One class's KDE, as recorded in [`RarityScores`].
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct ClassKde {
    /// Number of images that contain the class (the KDE's sample count when fitted).
    pub images: usize,
    /// How `D_p` was obtained.
    pub status: KdeStatus,
}

impl ClassKde {
    /// Whether the class has a KDE (fitted or regularised), and so scores.
    pub fn fitted(&self) -> bool {
        self.status != KdeStatus::Skipped
    }
}

/// A fast, portable checksum (not cryptographic) for detecting stale caches.
struct KeyHasher(u64);

impl KeyHasher {
    const MUL: u64 = 0x9E37_79B9_7F4A_7C15;

    fn new() -> Self {
        let mut h = Self(0x243F_6A88_85A3_08D3);
        h.word(ALGORITHM_VERSION);
        h
    }

    fn word(&mut self, w: u64) {
        self.0 = (self.0.rotate_left(23) ^ w).wrapping_mul(Self::MUL);
    }

    fn bytes(&mut self, bytes: &[u8]) {
        self.word(bytes.len() as u64);
        let mut chunks = bytes.chunks_exact(8);
        for c in &mut chunks {
            self.word(u64::from_le_bytes([
                c[0], c[1], c[2], c[3], c[4], c[5], c[6], c[7],
            ]));
        }
        let mut last = [0u8; 8];
        last[..chunks.remainder().len()].copy_from_slice(chunks.remainder());
        self.word(u64::from_le_bytes(last));
    }

    fn pair(&mut self, pair: &Pair) {
        self.word(pair.layout.height() as u64);
        self.word(pair.layout.width() as u64);
        self.bytes(pair.layout.ids());
        self.bytes(&pair.image);
    }

    fn finish(self, images: usize, min_images: usize) -> String {
        let mut h = self;
        h.word(images as u64);
        h.word(min_images as u64);
        // SplitMix64's finaliser, so every input bit reaches every output bit.
        let mut z = h.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        format!(
            "v{ALGORITHM_VERSION}-n{images}-m{min_images}-{:016x}",
            z ^ (z >> 31)
        )
    }
}

/// The cache key of a dataset: the algorithm version, the image count, every pair's size, a fast
/// checksum of every layout and image byte, and `min_images`. [`RarityScores::compute`] stores the
/// same key in [`RarityScores::cache_key`]; a cached file whose key differs is stale.
pub fn cache_key<'a>(pairs: impl IntoIterator<Item = &'a Pair>, min_images: usize) -> String {
    let mut hasher = KeyHasher::new();
    let mut images = 0;
    for pair in pairs {
        hasher.pair(pair);
        images += 1;
    }
    hasher.finish(images, min_images)
}

/// The rarity scores `R_p(k)` of a dataset, with what is needed to reuse them.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct RarityScores {
    /// [`cache_key`] of the dataset the scores were computed from.
    pub cache_key: String,
    /// Classes in fewer images than this were skipped.
    pub min_images: usize,
    /// Per class: image count and whether it has a KDE.
    pub classes: [ClassKde; NUM_CLASSES],
    /// `scores[k][p] = R_p(k)`, 0 where p is absent from image k or skipped.
    pub scores: Vec<[f64; NUM_CLASSES]>,
}

impl RarityScores {
    /// The scores of a dataset (one pass over the pairs, which also computes the cache key).
    ///
    /// Classes present in fewer than `max(min_images, 2)` images are skipped (no KDE, scores 0);
    /// a class whose colours have a singular covariance is fitted with [`COVARIANCE_RIDGE`].
    pub fn compute<'a>(
        pairs: impl IntoIterator<Item = &'a Pair>,
        min_images: usize,
    ) -> Result<Self, RarityError> {
        let mut hasher = KeyHasher::new();
        let mut colors = Vec::new();
        for (index, pair) in pairs.into_iter().enumerate() {
            let (height, width) = (pair.layout.height(), pair.layout.width());
            let expected = pair.layout.ids().len() * 3;
            if pair.image.len() != expected {
                return Err(RarityError::ImageSize {
                    index,
                    height,
                    width,
                    expected,
                    actual: pair.image.len(),
                });
            }
            hasher.pair(pair);
            colors.push(average_colors(&pair.image, &pair.layout));
        }
        let key = hasher.finish(colors.len(), min_images);
        Ok(Self::from_colors(&colors, min_images, key))
    }

    /// The scores from every image's average colours ([`average_colors`]), with a given key.
    pub fn from_colors(
        colors: &[[Option<[f64; 3]>; NUM_CLASSES]],
        min_images: usize,
        cache_key: String,
    ) -> Self {
        let mut scores = vec![[0.0; NUM_CLASSES]; colors.len()];
        let classes = std::array::from_fn(|p| {
            let (images, points): (Vec<usize>, Vec<[f64; 3]>) = colors
                .iter()
                .enumerate()
                .filter_map(|(k, c)| c[p].map(|c| (k, c)))
                .unzip();
            let skipped = ClassKde {
                images: images.len(),
                status: KdeStatus::Skipped,
            };
            if images.len() < min_images.max(2) {
                return skipped;
            }
            let (kde, status) = match GaussianKde::fit(&points) {
                Ok(kde) => (kde, KdeStatus::Fitted),
                Err(RarityError::SingularCovariance { .. }) => {
                    match GaussianKde::fit_with_ridge(&points, COVARIANCE_RIDGE) {
                        Ok(kde) => (kde, KdeStatus::Regularized),
                        Err(_) => return skipped,
                    }
                }
                Err(_) => return skipped,
            };
            for (&k, density) in images.iter().zip(kde.densities(&points)) {
                // docs/METHOD.md "Dataset rebalancing": R_p(k) = 1 / D_p(c_k(p)) (0 when p is absent).
                scores[k][p] = 1.0 / density;
            }
            ClassKde {
                images: images.len(),
                status,
            }
        });
        Self {
            cache_key,
            min_images,
            classes,
            scores,
        }
    }

    /// Number of images.
    pub fn len(&self) -> usize {
        self.scores.len()
    }

    /// Whether there are no images.
    pub fn is_empty(&self) -> bool {
        self.scores.is_empty()
    }

    /// `R_p(k)` for every class p.
    ///
    /// # Panics
    /// If `k >= self.len()`.
    pub fn image(&self, k: usize) -> &[f64; NUM_CLASSES] {
        &self.scores[k]
    }

    /// The classes with a KDE, in id order.
    pub fn fitted_classes(&self) -> Vec<u8> {
        (0..NUM_CLASSES as u8)
            .filter(|&p| self.classes[usize::from(p)].fitted())
            .collect()
    }

    /// Image k's normalised rarity mask ([`rarity_mask`]).
    ///
    /// # Panics
    /// If `k >= self.len()`.
    pub fn mask(&self, k: usize, layout: &Layout) -> Vec<f32> {
        rarity_mask(layout, &self.scores[k])
    }

    /// The scores raised to the power `t` (`R_p(k)^t`; zeros stay zero): `t = 1` is the paper's
    /// rebalancing, `t = 0` makes every present class equally rare (no rebalancing), values
    /// between soften the spread (a road pixel weighs about 1/1000 of a sign pixel on the
    /// built-in scenes at `t = 1`).
    pub fn tempered(&self, t: f64) -> RarityScores {
        let mut out = self.clone();
        for row in &mut out.scores {
            for s in row.iter_mut() {
                if usable(*s) {
                    *s = s.powf(t);
                }
            }
        }
        out
    }

    /// The scores as CSV, for `cimle rarity --out scores.csv`: a header `image,<class names...>`
    /// and one row per image, `k,R_0(k),...,R_19(k)`. `names[p]` heads column p (quoted when it
    /// holds a comma or a quote); a missing name is written as `class<p>`.
    pub fn to_csv<S: AsRef<str>>(&self, names: &[S]) -> String {
        let mut out = String::from("image");
        for p in 0..NUM_CLASSES {
            let name = names
                .get(p)
                .map_or_else(|| format!("class{p}"), |n| n.as_ref().to_owned());
            out.push(',');
            if name.contains([',', '"', '\n', '\r']) {
                let _ = write!(out, "\"{}\"", name.replace('"', "\"\""));
            } else {
                out.push_str(&name);
            }
        }
        out.push('\n');
        for (k, row) in self.scores.iter().enumerate() {
            let _ = write!(out, "{k}");
            for s in row {
                let _ = write!(out, ",{s}");
            }
            out.push('\n');
        }
        out
    }

    /// The scores as JSON, to cache beside a dataset.
    pub fn to_json(&self) -> Result<String, RarityError> {
        Ok(serde_json::to_string(self)?)
    }

    /// Scores read back from [`RarityScores::to_json`]; compare [`RarityScores::cache_key`] with
    /// [`cache_key`] of the dataset before use ([`RarityScores::is_fresh`]). The scores come back
    /// to within one ulp (serde_json's default float parser; exact with its `float_roundtrip`
    /// feature).
    pub fn from_json(json: &str) -> Result<Self, RarityError> {
        Ok(serde_json::from_str(json)?)
    }

    /// Whether these scores were computed from a dataset with this [`cache_key`].
    pub fn is_fresh(&self, key: &str) -> bool {
        self.cache_key == key
    }
}

/// A usable score: positive and finite.
pub(super) fn usable(score: f64) -> bool {
    score > 0.0 && score.is_finite()
}
