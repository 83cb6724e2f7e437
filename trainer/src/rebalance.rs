//! Rarity scores and the two rebalancings of docs/METHOD.md "Dataset rebalancing" and "Loss
//! rebalancing" (the paper's supplementary, appendix A).
//!
//! 1. For image k and class p present in it, the average colour `c_k(p)` ([`average_colors`]).
//! 2. Per class p, a Gaussian kernel density estimate `D_p` fitted to `{c_k(p)}` over the images
//!    that contain p ([`GaussianKde`], scipy's `gaussian_kde` with its defaults).
//! 3. The rarity score `R_p(k) = 1 / D_p(c_k(p))` if p appears in image k, else 0
//!    ([`RarityScores`]; cached beside a dataset as JSON, exported by `cimle rarity` as CSV).
//! 4. Dataset rebalancing: the batch S is shared among the five classes of largest total area
//!    ([`largest_classes`]); a class's share is drawn with probability proportional to `R_p(k)`
//!    ([`RebalancedSampler`]).
//! 5. Loss rebalancing: the per-pixel mask `M^k[i,j] = R_p(k)`, normalised by its maximum
//!    ([`rarity_mask`], [`rarity_mask_tensor`]; `crate::perceptual::mask_pyramid` resizes it to
//!    every layer).
//!
//! Choices where the paper is silent (each repeated where it applies):
//! - Colours are in **0..255** units (the released code averages the `uint8` image read by
//!   `imread`). The unit only scales every density of a class by one constant (a KDE with Scott's
//!   rule is affine-equivariant), so sampling probabilities and normalised masks do not depend on
//!   it; the raw scores in the CSV are comparable to the released code's.
//! - "void" (class 19) is an ordinary class, as released (it is one of the five rebalancing classes
//!   on GTA-5).
//! - Classes present in fewer than `min_images` images ([`DEFAULT_MIN_IMAGES`] = 68, as released:
//!   "67 or fewer get no KDE") are *skipped*: no KDE, `R_p(k) = 0` for every image, never used to
//!   draw images (a skipped class in the sampler falls back to uniform draws), and in the mask they
//!   are weighted like the image's most common-looking scored class (see [`rarity_mask`]).
//! - A singular colour covariance (scipy raises `LinAlgError`): [`GaussianKde::fit`] returns
//!   [`RarityError::SingularCovariance`]; [`RarityScores`] then refits that class with
//!   [`COVARIANCE_RIDGE`] added to the diagonal of its colour covariance and records it as
//!   [`KdeStatus::Regularized`].

use std::fmt::Write as _;

use burn::tensor::{Device, Tensor, TensorData};
use cimle::classes::NUM_CLASSES;
use cimle::latent::PortableRng;
use cimle::layout::Layout;
use serde::{Deserialize, Serialize};

use crate::imle::Pair;

/// Classes present in fewer images than this get no KDE (the released code skips classes present
/// in 67 images or fewer).
pub const DEFAULT_MIN_IMAGES: usize = 68;

/// Number of classes that share the batch S (docs/METHOD.md "Dataset rebalancing": the five classes of
/// largest total area).
pub const REBALANCED_CLASSES: usize = 5;

/// Added to the diagonal of a class's colour covariance (in squared 0..255 levels, i.e. a spread
/// of one grey level) when that covariance is singular, e.g. when a class has exactly the same
/// average colour in every image or only two or three distinct colours.
pub const COVARIANCE_RIDGE: f64 = 1.0;

/// A Cholesky pivot at or below this fraction of the largest variance means "singular". LAPACK,
/// under scipy, only rejects pivots `<= 0`, which lets rank-deficient sets through with rounding
/// noise as their thinnest variance and meaningless densities.
pub const SINGULAR_TOLERANCE: f64 = 1e-10;

/// Bumped whenever the computation of the scores changes, so that older caches become stale.
const ALGORITHM_VERSION: u64 = 1;

/// Dimension of the colour space.
const D: usize = 3;

/// What can go wrong when computing rarity scores.
#[derive(Debug, thiserror::Error)]
pub enum RarityError {
    /// A KDE needs at least two points (the covariance divides by `n - 1`).
    #[error("a kernel density estimate needs at least 2 points, got {0}")]
    TooFewPoints(usize),
    /// The points lie in a plane, a line or a point.
    #[error(
        "the {n} colours lie in a lower-dimensional subspace, so their covariance is singular \
         (scipy's gaussian_kde raises LinAlgError here); fit with a ridge instead"
    )]
    SingularCovariance {
        /// Number of points.
        n: usize,
    },
    /// A point or the ridge is NaN or infinite, or the ridge is negative.
    #[error("a colour or the ridge is not a finite number (or the ridge is negative)")]
    NonFinite,
    /// An image does not hold `height * width * 3` bytes.
    #[error(
        "image {index}: {actual} bytes for a {height}x{width} layout (expected {expected}, RGB8)"
    )]
    ImageSize {
        /// Index of the pair.
        index: usize,
        /// Layout height.
        height: usize,
        /// Layout width.
        width: usize,
        /// `height * width * 3`.
        expected: usize,
        /// The image's length.
        actual: usize,
    },
    /// A cache could not be written or read.
    #[error("rarity cache: {0}")]
    Json(#[from] serde_json::Error),
}

// ---------------------------------------------------------------------------------------------
// Average colours
// ---------------------------------------------------------------------------------------------

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

// ---------------------------------------------------------------------------------------------
// Gaussian kernel density estimate
// ---------------------------------------------------------------------------------------------

type Mat3 = [[f64; D]; D];

/// Unbiased (`ddof = 1`) covariance of the points, as `numpy.cov(points.T)`.
#[allow(clippy::needless_range_loop)] // matrix indices read as the formulas
fn data_covariance(points: &[[f64; D]]) -> Mat3 {
    let n = points.len() as f64;
    let mut mean = [0.0; D];
    for x in points {
        for (m, v) in mean.iter_mut().zip(x) {
            *m += v;
        }
    }
    mean = mean.map(|m| m / n);
    let mut cov = [[0.0; D]; D];
    for x in points {
        let d: [f64; D] = std::array::from_fn(|i| x[i] - mean[i]);
        for i in 0..D {
            for j in 0..=i {
                cov[i][j] += d[i] * d[j];
            }
        }
    }
    for i in 0..D {
        for j in 0..=i {
            cov[i][j] /= n - 1.0;
            cov[j][i] = cov[i][j];
        }
    }
    cov
}

/// Lower-triangular `L` with `L Lᵀ = a`, or `None` when `a` is not (numerically) positive
/// definite: a pivot at or below [`SINGULAR_TOLERANCE`] times the largest diagonal entry.
#[allow(clippy::needless_range_loop)] // matrix indices read as the formulas
fn cholesky3(a: &Mat3) -> Option<Mat3> {
    let scale = a[0][0].max(a[1][1]).max(a[2][2]);
    if !(scale.is_finite() && scale > 0.0) {
        return None;
    }
    let mut l = [[0.0; D]; D];
    for j in 0..D {
        let pivot = a[j][j] - (0..j).map(|k| l[j][k] * l[j][k]).sum::<f64>();
        if pivot.is_nan() || pivot <= SINGULAR_TOLERANCE * scale {
            return None;
        }
        l[j][j] = pivot.sqrt();
        for i in j + 1..D {
            let s = a[i][j] - (0..j).map(|k| l[i][k] * l[j][k]).sum::<f64>();
            l[i][j] = s / l[j][j];
        }
    }
    Some(l)
}

/// Inverse of a lower-triangular matrix with a non-zero diagonal (itself lower-triangular), by
/// forward substitution on the columns of the identity.
#[allow(clippy::needless_range_loop)] // matrix indices read as the formulas
fn lower_inverse3(l: &Mat3) -> Mat3 {
    let mut inv = [[0.0; D]; D];
    for col in 0..D {
        for i in col..D {
            let rhs = if i == col { 1.0 } else { 0.0 };
            let s = rhs - (col..i).map(|k| l[i][k] * inv[k][col]).sum::<f64>();
            inv[i][col] = s / l[i][i];
        }
    }
    inv
}

/// `m x` for a lower-triangular `m`.
fn lower_mul(m: &Mat3, x: &[f64; D]) -> [f64; D] {
    std::array::from_fn(|i| (0..=i).map(|k| m[i][k] * x[k]).sum())
}

/// A 3-D Gaussian kernel density estimate, exactly as `scipy.stats.gaussian_kde(points.T)` with
/// its defaults.
///
/// docs/METHOD.md "Dataset rebalancing": `D_p`, the KDE of a class's average colours. Bandwidth by
/// Scott's rule: factor `n^(-1/(d+4))`, d = 3; kernel covariance `Σ = cov(points) · factor²`
/// (unbiased, unweighted); `D(x) = (1/n) Σ_i N(x; x_i, Σ)`. The determinant and the Mahalanobis
/// distances come from a hand-written 3x3 Cholesky factor `Σ = L Lᵀ`: the points are stored
/// whitened (`L⁻¹ x_i`).
#[derive(Debug, Clone, PartialEq)]
pub struct GaussianKde {
    factor: f64,
    covariance: Mat3,
    inv_chol: Mat3,
    whitened: Vec<[f64; D]>,
    norm: f64,
}

impl GaussianKde {
    /// Fits the KDE to `points` (at least 2). Fails with [`RarityError::SingularCovariance`]
    /// where scipy raises `LinAlgError` (points in a plane, e.g. any 3 points, or with a constant
    /// channel), and with [`RarityError::NonFinite`] on a NaN or infinite coordinate.
    pub fn fit(points: &[[f64; 3]]) -> Result<Self, RarityError> {
        Self::fit_with_ridge(points, 0.0)
    }

    /// As [`GaussianKde::fit`], with `ridge` added to the diagonal of the data covariance before
    /// the bandwidth factor is applied (`Σ = (cov + ridge·I) · factor²`); any `ridge > 0` makes
    /// every set of 2 or more points fit. `ridge = 0` is scipy exactly.
    pub fn fit_with_ridge(points: &[[f64; 3]], ridge: f64) -> Result<Self, RarityError> {
        let n = points.len();
        if n < 2 {
            return Err(RarityError::TooFewPoints(n));
        }
        if !(ridge.is_finite() && ridge >= 0.0) || points.iter().flatten().any(|v| !v.is_finite()) {
            return Err(RarityError::NonFinite);
        }
        // docs/METHOD.md "Dataset rebalancing": Scott's rule, factor = n^(-1/(d+4)).
        let factor = (n as f64).powf(-1.0 / (D as f64 + 4.0));
        let mut data_cov = data_covariance(points);
        for (i, row) in data_cov.iter_mut().enumerate() {
            row[i] += ridge;
        }
        // docs/METHOD.md "Dataset rebalancing": kernel covariance = data covariance × factor².
        let covariance = data_cov.map(|row| row.map(|v| v * factor * factor));
        let chol = cholesky3(&data_cov)
            .ok_or(RarityError::SingularCovariance { n })?
            .map(|row| row.map(|v| v * factor));
        let inv_chol = lower_inverse3(&chol);
        // det Σ = (Π diag L)², so 1 / ((2π)^{d/2} √det Σ) = 1 / ((2π)^{3/2} Π diag L).
        let sqrt_det = chol[0][0] * chol[1][1] * chol[2][2];
        let norm = 1.0 / (n as f64 * (2.0 * std::f64::consts::PI).powf(D as f64 / 2.0) * sqrt_det);
        let whitened = points.iter().map(|x| lower_mul(&inv_chol, x)).collect();
        Ok(Self {
            factor,
            covariance,
            inv_chol,
            whitened,
            norm,
        })
    }

    /// Number of points.
    pub fn len(&self) -> usize {
        self.whitened.len()
    }

    /// Whether there are no points (never true of a fitted KDE).
    pub fn is_empty(&self) -> bool {
        self.whitened.is_empty()
    }

    /// Scott's factor `n^(-1/7)` (scipy's `kde.factor`).
    pub fn factor(&self) -> f64 {
        self.factor
    }

    /// The kernel covariance `Σ` (scipy's `kde.covariance`).
    pub fn covariance(&self) -> [[f64; 3]; 3] {
        self.covariance
    }

    /// `D(x) = (1/n) Σ_i N(x; x_i, Σ)` (scipy's `kde(x)`).
    pub fn density(&self, x: [f64; 3]) -> f64 {
        let z = lower_mul(&self.inv_chol, &x);
        // docs/METHOD.md "Dataset rebalancing": D_p(x), the mean of the kernels at x.
        let sum: f64 = self
            .whitened
            .iter()
            .map(|zi| {
                let d2: f64 = (0..D).map(|c| (z[c] - zi[c]) * (z[c] - zi[c])).sum();
                (-0.5 * d2).exp()
            })
            .sum();
        sum * self.norm
    }

    /// [`GaussianKde::density`] at every point, on all cores when there is enough work; the
    /// results do not depend on the number of threads.
    pub fn densities(&self, xs: &[[f64; 3]]) -> Vec<f64> {
        let threads = std::thread::available_parallelism().map_or(1, |n| n.get());
        if threads <= 1 || xs.len().saturating_mul(self.len()) < 1 << 20 {
            return xs.iter().map(|&x| self.density(x)).collect();
        }
        let mut out = vec![0.0; xs.len()];
        let chunk = xs.len().div_ceil(threads);
        std::thread::scope(|s| {
            for (out, xs) in out.chunks_mut(chunk).zip(xs.chunks(chunk)) {
                s.spawn(move || {
                    for (o, &x) in out.iter_mut().zip(xs) {
                        *o = self.density(x);
                    }
                });
            }
        });
        out
    }
}

// ---------------------------------------------------------------------------------------------
// Rarity scores
// ---------------------------------------------------------------------------------------------

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

// ---------------------------------------------------------------------------------------------
// Dataset rebalancing
// ---------------------------------------------------------------------------------------------

/// The `k` classes of largest total area (pixel count) over the layouts, largest first (ties by
/// class id); classes with no pixel at all are never returned, so fewer than `k` may come back.
///
/// docs/METHOD.md "Dataset rebalancing": the classes that share the batch S ([`REBALANCED_CLASSES`]).
pub fn largest_classes<'a>(layouts: impl IntoIterator<Item = &'a Layout>, k: usize) -> Vec<u8> {
    let mut total = [0u64; NUM_CLASSES];
    for layout in layouts {
        for (t, a) in total.iter_mut().zip(layout.class_areas()) {
            *t += a as u64;
        }
    }
    let mut ids: Vec<u8> = (0..NUM_CLASSES as u8)
        .filter(|&p| total[usize::from(p)] > 0)
        .collect();
    // docs/METHOD.md "Dataset rebalancing": the classes with the largest total area over the dataset.
    ids.sort_by(|&a, &b| {
        total[usize::from(b)]
            .cmp(&total[usize::from(a)])
            .then(a.cmp(&b))
    });
    ids.truncate(k);
    ids
}

/// A usable score: positive and finite.
fn usable(score: f64) -> bool {
    score > 0.0 && score.is_finite()
}

/// How one class draws its share of the batch.
#[derive(Debug, Clone)]
struct ClassDraw {
    class: u8,
    /// Running sums of `R_p(k)` over k; `None`: no image has a positive score, draw uniformly.
    cumulative: Option<Vec<f64>>,
}

/// Draws the batch S of docs/METHOD.md "Dataset rebalancing".
///
/// The batch is shared among the given classes by cycling over them: slot i of the batch belongs
/// to class `classes[i % n]`, as in the released code. The shares therefore sum to |S| and differ
/// by at most one; the remainder `|S| mod n` goes to the *first* classes in the order given (the
/// largest with [`largest_classes`]): 23 over 5 gives 5, 5, 5, 4, 4.
///
/// Within its slots, class p draws image k **with replacement** (every draw independent, as the
/// released code's `searchsorted(cumulative, rand())`) with probability `R_p(k) / Σ_j R_p(j)`;
/// images with `R_p(k) = 0` (p absent, or p skipped) are never drawn for p. A class with no
/// positive score at all (skipped, or absent from the dataset) draws its slots uniformly over all
/// images. With no classes, every slot is uniform.
#[derive(Debug, Clone)]
pub struct RebalancedSampler {
    images: usize,
    classes: Vec<ClassDraw>,
}

impl RebalancedSampler {
    /// A sampler over `scores`' images for these classes (typically [`largest_classes`] with
    /// [`REBALANCED_CLASSES`]). A class id `>= NUM_CLASSES` has no scores and draws uniformly.
    pub fn new(scores: &RarityScores, classes: &[u8]) -> Self {
        let classes = classes
            .iter()
            .map(|&class| {
                let p = usize::from(class);
                let mut total = 0.0;
                let cumulative: Vec<f64> = scores
                    .scores
                    .iter()
                    .map(|row| {
                        let s = row.get(p).copied().unwrap_or(0.0);
                        // docs/METHOD.md "Dataset rebalancing": P(k) ∝ R_p(k).
                        total += if usable(s) { s } else { 0.0 };
                        total
                    })
                    .collect();
                ClassDraw {
                    class,
                    cumulative: (total > 0.0 && total.is_finite()).then_some(cumulative),
                }
            })
            .collect();
        Self {
            images: scores.len(),
            classes,
        }
    }

    /// The classes, in slot order.
    pub fn classes(&self) -> Vec<u8> {
        self.classes.iter().map(|c| c.class).collect()
    }

    /// Number of images drawn from.
    pub fn images(&self) -> usize {
        self.images
    }

    /// How many of `size` slots each class gets (in the order of [`RebalancedSampler::classes`];
    /// they sum to `size`; empty with no classes).
    pub fn shares(&self, size: usize) -> Vec<usize> {
        let n = self.classes.len();
        (0..n)
            .map(|j| size / n + usize::from(j < size % n))
            .collect()
    }

    /// The probability of each image in a draw of the class at position `j` of
    /// [`RebalancedSampler::classes`] (uniform where that class has no positive score).
    ///
    /// # Panics
    /// If `j` is out of range.
    pub fn probabilities(&self, j: usize) -> Vec<f64> {
        match &self.classes[j].cumulative {
            Some(cum) => {
                let total = cum.last().copied().unwrap_or(1.0);
                let mut prev = 0.0;
                cum.iter()
                    .map(|&c| {
                        let p = (c - prev) / total;
                        prev = c;
                        p
                    })
                    .collect()
            }
            None => vec![1.0 / self.images as f64; self.images],
        }
    }

    /// Whether the class at position `j` draws uniformly (it has no positive score).
    ///
    /// # Panics
    /// If `j` is out of range.
    pub fn is_uniform(&self, j: usize) -> bool {
        self.classes[j].cumulative.is_none()
    }

    /// The batch S: `size` image indices, slot i drawn for class `classes[i % n]` (see the type's
    /// documentation). Empty when there are no images.
    pub fn sample_batch(&self, rng: &mut PortableRng, size: usize) -> Vec<usize> {
        if self.images == 0 {
            return Vec::new();
        }
        (0..size)
            .map(|i| {
                let cumulative = match self.classes.len() {
                    0 => None,
                    n => self.classes[i % n].cumulative.as_deref(),
                };
                match cumulative {
                    Some(cum) => draw_proportional(cum, rng),
                    None => rng.below(self.images as u64) as usize,
                }
            })
            .collect()
    }
}

/// Index k with probability `(cum[k] - cum[k-1]) / cum[last]`: the first k with `cum[k] > u`,
/// `u` uniform in `[0, total)`. Indices of zero weight (`cum[k] == cum[k-1]`) are never returned.
fn draw_proportional(cum: &[f64], rng: &mut PortableRng) -> usize {
    let total = cum[cum.len() - 1];
    let u = rng.uniform() * total;
    let k = cum.partition_point(|&c| c <= u);
    if k < cum.len() {
        k
    } else {
        // `u` rounded up to `total`: the last image of positive weight.
        cum.partition_point(|&c| c < total)
    }
}

// ---------------------------------------------------------------------------------------------
// Loss rebalancing
// ---------------------------------------------------------------------------------------------

/// The normalised rarity mask `M̂ = M / max M` of one image, row-major `h * w`, in (0, 1].
///
/// docs/METHOD.md "Loss rebalancing": `M^k[i,j] = R_p(k)` for the pixel's class p. Only classes that
/// appear in `layout` count for the maximum. Pixels of a class without a usable score (0: skipped
/// or never seen; also NaN, infinite or negative) get the **smallest positive score among the
/// image's classes**, i.e. they weigh like the image's most common-looking scored class: with no
/// evidence of rarity they are treated as common, not ignored. (The released code gives them
/// about `1 / max²` of the maximum, effectively 0, which would drop every rare class from the loss
/// and contradict the paper's "(0, 1]".) If no class of the image has a usable score, the mask is
/// all ones (no rebalancing).
pub fn rarity_mask(layout: &Layout, scores_of_image: &[f64; NUM_CLASSES]) -> Vec<f32> {
    let areas = layout.class_areas();
    let present = || (0..NUM_CLASSES).filter(|&p| areas[p] > 0);
    let positive = || present().map(|p| scores_of_image[p]).filter(|&s| usable(s));
    let max = positive().fold(f64::NEG_INFINITY, f64::max);
    if !max.is_finite() {
        return vec![1.0; layout.ids().len()];
    }
    let floor = positive().fold(f64::INFINITY, f64::min);
    let per_class: [f32; NUM_CLASSES] = std::array::from_fn(|p| {
        let s = scores_of_image[p];
        let m = if usable(s) { s } else { floor };
        // docs/METHOD.md "Loss rebalancing": M̂ = M / max M.
        (m / max) as f32
    });
    layout
        .ids()
        .iter()
        .map(|&id| per_class[usize::from(id)])
        .collect()
}

// ---------------------------------------------------------------------------------------------
// Tensors
// ---------------------------------------------------------------------------------------------

/// A mask from [`rarity_mask`] as the `[1, 1, H, W]` tensor that
/// `crate::imle::select_nearest_latents` and `crate::perceptual::PerceptualDistance` take
/// (`crate::perceptual::mask_pyramid` resizes it to every layer).
///
/// # Panics
/// If `mask.len() != height * width`.
pub fn rarity_mask_tensor(mask: &[f32], height: usize, width: usize, device: &Device) -> Tensor<4> {
    assert_eq!(
        mask.len(),
        height * width,
        "rarity_mask_tensor: a {height}x{width} mask holds {} values",
        height * width
    );
    Tensor::<4>::from_data(
        TensorData::new(mask.to_vec(), [1, 1, height, width]),
        device,
    )
}

#[cfg(test)]
mod temper_tests {
    use super::*;

    #[test]
    fn tempering_softens_the_spread_and_one_is_the_identity() {
        let mut scores = RarityScores {
            cache_key: String::new(),
            min_images: 0,
            classes: [ClassKde {
                images: 2,
                status: KdeStatus::Fitted,
            }; NUM_CLASSES],
            scores: vec![[0.0; NUM_CLASSES]; 2],
        };
        scores.scores[0][0] = 1000.0;
        scores.scores[1][0] = 10.0;
        assert_eq!(scores.tempered(1.0).scores, scores.scores);
        let half = scores.tempered(0.5);
        assert!((half.scores[0][0] / half.scores[1][0] - 10.0).abs() < 1e-9);
        assert_eq!(half.scores[0][1], 0.0);
        let none = scores.tempered(0.0);
        assert_eq!(none.scores[0][0], none.scores[1][0]);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn layout(h: usize, w: usize, ids: Vec<u8>) -> Layout {
        Layout::new(h, w, ids).unwrap()
    }

    /// A 4x4 pair: the top half of class `top` in colour `top_rgb`, the bottom half of class
    /// `bottom` in colour `bottom_rgb`.
    fn pair(top: u8, top_rgb: [u8; 3], bottom: u8, bottom_rgb: [u8; 3]) -> Pair {
        let ids: Vec<u8> = (0..16).map(|i| if i < 8 { top } else { bottom }).collect();
        let image = (0..16)
            .flat_map(|i| if i < 8 { top_rgb } else { bottom_rgb })
            .collect();
        Pair {
            layout: layout(4, 4, ids),
            image,
        }
    }

    fn close(a: f64, b: f64, rel: f64) -> bool {
        (a - b).abs() <= rel * a.abs().max(b.abs())
    }

    #[test]
    fn average_colors_are_class_means_in_0_255() {
        // 2x2: three pixels of road, one of sky.
        let l = layout(2, 2, vec![0, 0, 10, 0]);
        let image = [10, 20, 30, 20, 40, 60, 255, 255, 255, 30, 60, 90];
        let c = average_colors(&image, &l);
        assert_eq!(c[0], Some([20.0, 40.0, 60.0]));
        assert_eq!(c[10], Some([255.0, 255.0, 255.0]));
        assert_eq!(c.iter().filter(|c| c.is_some()).count(), 2);
    }

    /// Reference values from scipy 1.17.1 / numpy 2.4.6:
    /// ```python
    /// import numpy as np
    /// from scipy.stats import gaussian_kde
    /// pts = np.array([[120., 122., 125.], [128., 130., 126.], [110., 118., 131.],
    ///                 [135., 127., 120.], [200., 40., 35.], [125., 121., 128.]])
    /// kde = gaussian_kde(pts.T)
    /// kde.factor, kde.covariance
    /// for q in ([125., 124., 126.], [200., 40., 35.], [160., 90., 80.]):
    ///     print(repr(kde(np.array(q).reshape(3, 1))[0]))
    /// ```
    #[test]
    fn kde_matches_scipy_gaussian_kde() {
        let pts = [
            [120., 122., 125.],
            [128., 130., 126.],
            [110., 118., 131.],
            [135., 127., 120.],
            [200., 40., 35.],
            [125., 121., 128.],
        ];
        let kde = GaussianKde::fit(&pts).unwrap();
        assert_eq!(kde.len(), 6);
        assert!(close(kde.factor(), 0.7741685699586098, 1e-14));
        let scipy_cov = [
            [624.908685632794, -620.5934594148694, -710.0544918401779],
            [-620.5934594148694, 709.2953316722097, 753.6862235991939],
            [-710.0544918401779, 753.6862235991939, 835.0961626642081],
        ];
        for (row, want) in kde.covariance().iter().zip(&scipy_cov) {
            for (&a, &b) in row.iter().zip(want) {
                assert!(close(a, b, 1e-12), "{a} vs {b}");
            }
        }
        for (q, want) in [
            ([125., 124., 126.], 2.8042395256745895e-05),
            ([200., 40., 35.], 2.5717039226396756e-05),
            ([160., 90., 80.], 7.353026760210654e-07),
        ] {
            let got = kde.density(q);
            assert!(close(got, want, 1e-9), "D({q:?}) = {got}, scipy {want}");
        }
        // The threaded path (over 2^20 kernel evaluations) gives the same numbers.
        let many: Vec<[f64; 3]> = (0..1100)
            .map(|i| {
                [
                    (i % 97) as f64,
                    (i % 31) as f64 * 2.0,
                    (i % 13) as f64 * 5.0,
                ]
            })
            .collect();
        let big = GaussianKde::fit(&many).unwrap();
        let batched = big.densities(&many);
        for (x, d) in many.iter().zip(batched) {
            assert_eq!(d, big.density(*x));
        }
    }

    /// scipy: `gaussian_kde(np.array([[10,20,30],[40,60,20],[90,10,50]]).T)` raises
    /// `LinAlgError` (3 points always lie in a plane). A ridge makes it defined.
    #[test]
    fn kde_of_three_colours_is_singular_unless_regularised() {
        let three = [[10., 20., 30.], [40., 60., 20.], [90., 10., 50.]];
        assert!(matches!(
            GaussianKde::fit(&three),
            Err(RarityError::SingularCovariance { n: 3 })
        ));
        let kde = GaussianKde::fit_with_ridge(&three, COVARIANCE_RIDGE).unwrap();
        let d = kde.density(three[0]);
        assert!(d.is_finite() && d > 0.0);
        // A constant channel is singular too, and so are identical points.
        let flat = [
            [1., 2., 7.],
            [3., 5., 7.],
            [4., 1., 7.],
            [9., 9., 7.],
            [0., 3., 7.],
        ];
        assert!(GaussianKde::fit(&flat).is_err());
        let same = [[5., 5., 5.]; 10];
        assert!(GaussianKde::fit(&same).is_err());
        let kde = GaussianKde::fit_with_ridge(&same, 1.0).unwrap();
        assert!(kde.density([5., 5., 5.]) > kde.density([6., 5., 5.]));
        assert!(matches!(
            GaussianKde::fit(&[[1., 2., 3.]]),
            Err(RarityError::TooFewPoints(1))
        ));
        assert!(matches!(
            GaussianKde::fit(&[[1., 2., f64::NAN], [1., 2., 3.]]),
            Err(RarityError::NonFinite)
        ));
    }

    /// 50 images of grey road (slightly varied) and 2 of red road; sky in only 5 images.
    fn grey_and_red_roads() -> Vec<Pair> {
        let mut pairs = Vec::new();
        for i in 0..52u8 {
            let road = if i < 50 {
                [120 + i % 7, 121 + i % 5, 119 + i % 3]
            } else {
                [200 + i % 2, 30, 31 + i % 3]
            };
            let top = if i % 10 == 0 { 10 } else { 2 };
            pairs.push(pair(top, [90 + i % 11, 100 + i % 4, 80 + i % 6], 0, road));
        }
        pairs
    }

    #[test]
    fn rare_colour_gets_larger_rarity() {
        let pairs = grey_and_red_roads();
        let r = RarityScores::compute(&pairs, 10).unwrap();
        assert_eq!(r.len(), 52);
        assert_eq!(r.classes[0].status, KdeStatus::Fitted);
        assert_eq!(r.classes[0].images, 52);
        let max_grey = (0..50).map(|k| r.scores[k][0]).fold(0.0, f64::max);
        let min_red = (50..52)
            .map(|k| r.scores[k][0])
            .fold(f64::INFINITY, f64::min);
        assert!(max_grey > 0.0);
        assert!(min_red > max_grey, "red {min_red} vs grey {max_grey}");
        // Absent classes score 0.
        assert!(r.scores.iter().all(|s| s[13] == 0.0));
    }

    #[test]
    fn identical_colours_are_regularised_and_still_rank_rarity() {
        let mut pairs: Vec<Pair> = (0..50)
            .map(|_| pair(2, [90, 90, 90], 0, [128; 3]))
            .collect();
        pairs.push(pair(2, [90, 90, 90], 0, [200, 30, 30]));
        pairs.push(pair(2, [90, 90, 90], 0, [200, 30, 30]));
        let r = RarityScores::compute(&pairs, 10).unwrap();
        assert_eq!(r.classes[0].status, KdeStatus::Regularized);
        assert_eq!(r.classes[2].status, KdeStatus::Regularized);
        assert!(r.scores[50][0] > r.scores[0][0]);
        // Building has one colour: every image equally (un)rare.
        assert!(
            r.scores
                .iter()
                .all(|s| s[2] == r.scores[0][2] && s[2] > 0.0)
        );
    }

    #[test]
    fn classes_under_min_images_are_skipped() {
        let pairs = grey_and_red_roads();
        // Sky is in 6 of the 52 images (i % 10 == 0).
        let r = RarityScores::compute(&pairs, 10).unwrap();
        assert_eq!(r.classes[10].images, 6);
        assert_eq!(r.classes[10].status, KdeStatus::Skipped);
        assert!(r.scores.iter().all(|s| s[10] == 0.0));
        assert_eq!(r.fitted_classes(), vec![0, 2]);
        let r = RarityScores::compute(&pairs, 6).unwrap();
        assert!(r.classes[10].fitted());
        assert!(r.scores.iter().filter(|s| s[10] > 0.0).count() == 6);

        // The released threshold: 67 images get no KDE, 68 do.
        let jitter = |i: usize| [(i * 7 % 50) as u8, (i * 13 % 40) as u8, (i * 29 % 60) as u8];
        for (n, fitted) in [(67, false), (68, true)] {
            let pairs: Vec<Pair> = (0..n)
                .map(|i| pair(10, jitter(i), 0, jitter(i + 1)))
                .collect();
            let r = RarityScores::compute(&pairs, DEFAULT_MIN_IMAGES).unwrap();
            assert_eq!(r.classes[0].fitted(), fitted, "{n} images");
            assert_eq!(r.classes[0].images, n);
        }
    }

    #[test]
    fn compute_rejects_a_wrong_image_size() {
        let mut pairs = grey_and_red_roads();
        pairs[3].image.pop();
        assert!(matches!(
            RarityScores::compute(&pairs, 10),
            Err(RarityError::ImageSize { index: 3, .. })
        ));
    }

    #[test]
    fn csv_has_the_header_and_one_row_per_image() {
        let pairs = grey_and_red_roads();
        let r = RarityScores::compute(&pairs, 10).unwrap();
        let names: Vec<String> = (0..NUM_CLASSES).map(|p| format!("c{p}")).collect();
        let csv = r.to_csv(&names);
        let lines: Vec<&str> = csv.lines().collect();
        assert_eq!(lines.len(), 1 + 52);
        assert_eq!(lines[0], format!("image,{}", names.join(",")));
        for (k, line) in lines[1..].iter().enumerate() {
            let cells: Vec<&str> = line.split(',').collect();
            assert_eq!(cells.len(), 1 + NUM_CLASSES);
            assert_eq!(cells[0], k.to_string());
            assert_eq!(cells[1].parse::<f64>().unwrap(), r.scores[k][0]);
        }
        let quoted = r.to_csv(&["road, paved"]);
        assert!(quoted.starts_with("image,\"road, paved\",class1,"));
    }

    #[test]
    fn json_round_trips_and_the_cache_key_detects_changes() {
        let mut pairs = grey_and_red_roads();
        let r = RarityScores::compute(&pairs, 10).unwrap();
        let back = RarityScores::from_json(&r.to_json().unwrap()).unwrap();
        assert_eq!(back.cache_key, r.cache_key);
        assert_eq!(back.min_images, r.min_images);
        assert_eq!(back.classes, r.classes);
        assert_eq!(back.len(), r.len());
        for (a, b) in back.scores.iter().flatten().zip(r.scores.iter().flatten()) {
            // serde_json parses floats to within an ulp unless its `float_roundtrip` is on.
            assert!(close(*a, *b, 1e-15), "{a} vs {b}");
        }
        let key = cache_key(&pairs, 10);
        assert!(r.is_fresh(&key));
        assert_ne!(cache_key(&pairs, 11), key);
        assert_ne!(cache_key(&pairs[..51], 10), key);
        pairs[7].image[5] ^= 1;
        assert_ne!(cache_key(&pairs, 10), key);
        pairs[7].image[5] ^= 1;
        pairs[7].layout.set(0, 0, 5);
        assert_ne!(cache_key(&pairs, 10), key);
    }

    #[test]
    fn largest_classes_by_total_area() {
        let a = layout(1, 6, vec![0, 0, 0, 2, 2, 10]);
        let b = layout(1, 6, vec![2, 2, 19, 19, 19, 1]);
        // road 3, building 4, sky 1, void 3, sidewalk 1.
        assert_eq!(largest_classes([&a, &b], 5), vec![2, 0, 19, 1, 10]);
        assert_eq!(largest_classes([&a, &b], 2), vec![2, 0]);
        assert_eq!(largest_classes([&a], 5), vec![0, 2, 10]);
    }

    /// Scores for 6 images: class 0 with weights 1, 2, 0, 3, 0, 4; class 2 with one positive
    /// image; class 10 with none.
    fn toy_scores() -> RarityScores {
        let mut scores = vec![[0.0; NUM_CLASSES]; 6];
        for (k, s) in [1.0, 2.0, 0.0, 3.0, 0.0, 4.0].into_iter().enumerate() {
            scores[k][0] = s * 1e6;
        }
        scores[4][2] = 0.5;
        RarityScores {
            cache_key: String::new(),
            min_images: 1,
            classes: [ClassKde {
                images: 6,
                status: KdeStatus::Fitted,
            }; NUM_CLASSES],
            scores,
        }
    }

    #[test]
    fn shares_of_the_batch_sum_to_its_size() {
        let r = toy_scores();
        let sampler = RebalancedSampler::new(&r, &[0, 2, 10, 19, 1]);
        assert_eq!(sampler.shares(23), vec![5, 5, 5, 4, 4]);
        assert_eq!(sampler.shares(3), vec![1, 1, 1, 0, 0]);
        for size in 0..60 {
            assert_eq!(sampler.shares(size).iter().sum::<usize>(), size);
        }
        // Slot i belongs to class i % 5: class 2's slots always hold image 4.
        let batch = sampler.sample_batch(&mut PortableRng::new(3), 23);
        assert_eq!(batch.len(), 23);
        for (i, &k) in batch.iter().enumerate() {
            match i % 5 {
                0 => assert!(r.scores[k][0] > 0.0),
                1 => assert_eq!(k, 4),
                _ => assert!(k < 6),
            }
        }
    }

    #[test]
    fn draws_follow_the_rarity_scores() {
        let r = toy_scores();
        let sampler = RebalancedSampler::new(&r, &[0, 10]);
        assert!(!sampler.is_uniform(0));
        assert!(sampler.is_uniform(1));
        let want0 = [0.1, 0.2, 0.0, 0.3, 0.0, 0.4];
        for (p, w) in sampler.probabilities(0).iter().zip(want0) {
            assert!((p - w).abs() < 1e-12);
        }
        let draws = 20_000;
        let batch = sampler.sample_batch(&mut PortableRng::new(42), 2 * draws);
        let mut counts = [[0usize; 6]; 2];
        for (i, &k) in batch.iter().enumerate() {
            counts[i % 2][k] += 1;
        }
        // Never drawn for road: the images whose road score is 0.
        assert_eq!(counts[0][2], 0);
        assert_eq!(counts[0][4], 0);
        for k in 0..6 {
            // Standard deviation of a frequency over 20,000 draws is at most 0.0036.
            let f0 = counts[0][k] as f64 / draws as f64;
            assert!((f0 - want0[k]).abs() < 0.015, "road image {k}: {f0}");
            let f1 = counts[1][k] as f64 / draws as f64;
            assert!((f1 - 1.0 / 6.0).abs() < 0.015, "uniform image {k}: {f1}");
        }
        // The same seed gives the same batch.
        assert_eq!(
            sampler.sample_batch(&mut PortableRng::new(42), 2 * draws),
            batch
        );
        // No classes: uniform; no images: nothing.
        let none = RebalancedSampler::new(&r, &[]);
        assert!(none.shares(7).is_empty());
        assert!(
            none.sample_batch(&mut PortableRng::new(1), 7)
                .iter()
                .all(|&k| k < 6)
        );
        let empty = RarityScores {
            scores: Vec::new(),
            ..r
        };
        let sampler = RebalancedSampler::new(&empty, &[0]);
        assert!(sampler.sample_batch(&mut PortableRng::new(1), 7).is_empty());
    }

    #[test]
    fn draw_proportional_handles_the_top_end() {
        // u rounded up to the total must still land on a positive-weight image.
        let cum = [1.0, 1.0, 3.0, 3.0];
        let mut rng = PortableRng::new(0);
        for _ in 0..1000 {
            let k = draw_proportional(&cum, &mut rng);
            assert!(k == 0 || k == 2);
        }
        assert_eq!(cum.partition_point(|&c| c < 3.0), 2);
    }

    #[test]
    fn mask_is_normalised_to_max_one_with_the_documented_floor() {
        // 2x3: road, road, car / building, void, sky.
        let l = layout(2, 3, vec![0, 0, 13, 2, 19, 10]);
        let mut s = [0.0; NUM_CLASSES];
        s[0] = 2.0;
        s[13] = 8.0;
        s[2] = 4.0;
        s[19] = 0.0; // void skipped
        s[10] = f64::NAN; // unusable
        s[5] = 100.0; // not in the layout: ignored for the maximum
        let m = rarity_mask(&l, &s);
        assert_eq!(m, vec![0.25, 0.25, 1.0, 0.5, 0.25, 0.25]);
        assert_eq!(m.iter().copied().fold(0.0, f32::max), 1.0);
        assert!(m.iter().all(|&v| v > 0.0 && v <= 1.0));
        // No usable score: all ones.
        assert_eq!(rarity_mask(&l, &[0.0; NUM_CLASSES]), vec![1.0; 6]);
        // From the scores of a dataset.
        let pairs = grey_and_red_roads();
        let r = RarityScores::compute(&pairs, 10).unwrap();
        for (k, p) in pairs.iter().enumerate() {
            let m = r.mask(k, &p.layout);
            assert_eq!(m.iter().copied().fold(0.0, f32::max), 1.0);
            assert!(m.iter().all(|&v| v > 0.0));
        }
    }

    #[test]
    fn mask_pyramid_matches_every_feature_size() {
        use crate::perceptual::{
            LayerWeights, PerceptualDistance, Vgg19Config, Vgg19Features, mask_pyramid,
        };
        let device = Device::flex();
        let (h, w) = (64, 128);
        // Road top half, car bottom-left, sky bottom-right.
        let ids: Vec<u8> = (0..h * w)
            .map(|i| match (i / w < h / 2, i % w < w / 2) {
                (true, _) => 0,
                (false, true) => 13,
                (false, false) => 10,
            })
            .collect();
        let l = layout(h, w, ids);
        let mut s = [0.0; NUM_CLASSES];
        s[0] = 1.0;
        s[13] = 5.0;
        s[10] = 2.0;
        let mask = rarity_mask(&l, &s);
        let t = rarity_mask_tensor(&mask, h, w, &device);
        assert_eq!(t.dims(), [1, 1, h, w]);
        let max = t.clone().max().into_data().try_to_vec::<f32>().unwrap()[0];
        assert_eq!(max, 1.0);

        let vgg =
            Vgg19Features::random(1, &Vgg19Config::new().with_width_div(16), &device).unwrap();
        let dist = PerceptualDistance::new(vgg, LayerWeights::paper());
        let images = Tensor::<4>::zeros([1, 3, h, w], &device);
        let features = dist.features(images);
        let pyramid = mask_pyramid(t);
        for (i, (m, f)) in pyramid.iter().zip(&features.maps).enumerate() {
            let ([_, c, mh, mw], [_, _, fh, fw]) = (m.dims(), f.dims());
            assert_eq!(c, 1);
            assert_eq!((mh, mw), (fh, fw), "layer {i}");
        }
        assert_eq!(pyramid[5].dims(), [1, 1, 4, 8]);
    }
}
