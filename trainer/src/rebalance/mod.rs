//! Rarity scores and the two rebalancings of docs/METHOD.md "Dataset rebalancing" and "Loss
//! rebalancing" (the paper's supplementary, appendix A).
//!
//! 1. For image k and class p present in it, the average colour `c_k(p)` ([`average_colors`]).
//! 2. Per class p, a Gaussian kernel density estimate `D_p` fitted to `{c_k(p)}` over the images
//!    that contain p ([`GaussianKde`], scipy's `gaussian_kde` with its defaults).
//! 3. The rarity score `R_p(k) = 1 / D_p(c_k(p))` if p appears in image k, else 0
//!    ([`RarityScores`]; cached beside a dataset as JSON ([`cached_scores`]), exported by `cimle
//!    rarity` as CSV).
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

mod cache;
mod kde;
mod mask;
mod sampler;
mod scores;
#[cfg(test)]
mod tests;

pub use cache::cached_scores;
pub use kde::{COVARIANCE_RIDGE, GaussianKde, SINGULAR_TOLERANCE};
pub use mask::{AREA_FLOOR, area_mask, combine_masks, rarity_mask, rarity_mask_tensor};
pub use sampler::{RebalancedSampler, largest_classes};
pub use scores::{ClassKde, KdeStatus, RarityScores, average_colors, cache_key};

/// Classes present in fewer images than this get no KDE (the released code skips classes present
/// in 67 images or fewer).
pub const DEFAULT_MIN_IMAGES: usize = 68;

/// Number of classes that share the batch S (docs/METHOD.md "Dataset rebalancing": the five classes of
/// largest total area).
pub const REBALANCED_CLASSES: usize = 5;

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
