//! Dataset rebalancing (docs/METHOD.md "Dataset rebalancing"): the batch S shared among the
//! largest classes, each drawing images in proportion to their rarity.

use cimle::classes::NUM_CLASSES;
use cimle::latent::PortableRng;
use cimle::layout::Layout;

#[cfg(doc)]
use super::REBALANCED_CLASSES;
use super::scores::{RarityScores, usable};

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
pub(super) fn draw_proportional(cum: &[f64], rng: &mut PortableRng) -> usize {
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
