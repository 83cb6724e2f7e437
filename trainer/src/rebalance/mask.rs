//! Loss rebalancing (docs/METHOD.md "Loss rebalancing"): the normalised per-pixel rarity mask
//! of one image, and the tensor the distance takes.

use burn::tensor::{Device, Tensor, TensorData};
use cimle::classes::NUM_CLASSES;
use cimle::layout::Layout;

use super::scores::usable;

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
    per_pixel(layout, &per_class)
}

/// Smallest area, as a fraction of the image, that [`area_mask`] credits a class with: a class
/// of a few pixels weighs like one covering 1 % of the image, not like the road.
pub const AREA_FLOOR: f64 = 0.01;

/// Area balancing (`--area-balance α`): every pixel weighs `a_p^(−α)`, with `a_p` the share of
/// the image its class p covers (at least [`AREA_FLOOR`]), normalised by the largest weight so
/// that the mask lies in (0, 1] as [`rarity_mask`]'s does. At α = 1 every class of the image
/// weighs the same in total, whatever its area; at α = 0 the mask is all ones.
///
/// The paper's rarity mask weighs a class by how rare its *colour* is across the data, so a
/// common-coloured car (white, black) weighs like the road pixel beside it, and a car covers
/// about 3 % of a built-in scene: the nearest of m codes is then chosen for its sky and
/// buildings, and a code's car colour is pulled toward the mean of all paints. Weighing classes
/// by area lets the choice see the car.
pub fn area_mask(layout: &Layout, alpha: f64) -> Vec<f32> {
    let areas = layout.class_areas();
    let total = layout.ids().len().max(1) as f64;
    let weight = |area: usize| (area as f64 / total).max(AREA_FLOOR).powf(-alpha);
    let max = areas
        .iter()
        .filter(|&&a| a > 0)
        .map(|&a| weight(a))
        .fold(f64::NEG_INFINITY, f64::max);
    let per_class: [f32; NUM_CLASSES] = std::array::from_fn(|p| (weight(areas[p]) / max) as f32);
    per_pixel(layout, &per_class)
}

/// A mask that gives every pixel its class's weight.
fn per_pixel(layout: &Layout, per_class: &[f32; NUM_CLASSES]) -> Vec<f32> {
    layout
        .ids()
        .iter()
        .map(|&id| per_class[usize::from(id)])
        .collect()
}

/// The pixelwise product of two masks in (0, 1], normalised again by its maximum.
pub fn combine_masks(a: &[f32], b: &[f32]) -> Vec<f32> {
    let product: Vec<f32> = a.iter().zip(b).map(|(x, y)| x * y).collect();
    let max = product.iter().copied().fold(0.0f32, f32::max);
    if max > 0.0 {
        product.into_iter().map(|v| v / max).collect()
    } else {
        vec![1.0; product.len()]
    }
}

/// A distance mask ([`rarity_mask`], [`area_mask`] or their [`combine_masks`]) as the
/// `[1, 1, H, W]` tensor that
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
