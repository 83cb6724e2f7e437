//! Styles: latent codes as recipes the page can share in a link (docs/METHOD.md "Latent codes").
//!
//! A sample's look is its latent code z. The page never stores z itself (256x512x10 floats);
//! it stores how to make it: a seed, an interpolation between two styles, or a style whose
//! pixels inside a region were given a second seed's noise (region resampling). A recipe is
//! exact: realising it on any machine gives the same z, bit for bit (the codes come from
//! `LatentCode::from_seed`, which is portable), so a copied link restores the very image.
//!
//! A region style's image is its base's image with the pixels inside the region taken from a
//! render of the mixed code (base noise outside, new noise inside). Mixing codes alone would
//! also move pixels outside the region a little, since every refinement module sees the whole
//! image; compositing keeps "only this region changes" exact. See [`Style::layers`].

use cimle::latent::{Interpolation, LatentCode};
use serde::{Deserialize, Serialize};
use wasm_bindgen::prelude::*;

use crate::base64url::{base64url_decode, base64url_encode};
use crate::limits::{MAX_DEPTH, MAX_STEPS, check_size};

/// How a latent code is made.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "k")]
pub enum Recipe {
    /// `LatentCode::from_seed(s)`.
    #[serde(rename = "s")]
    Seed {
        /// The seed.
        s: u32,
    },
    /// Spherical interpolation from `a` (t = 0) to `b` (t = 1).
    #[serde(rename = "i")]
    Interpolate {
        /// Start.
        a: Box<Recipe>,
        /// End.
        b: Box<Recipe>,
        /// Position in `[0, 1]`.
        t: f32,
    },
    /// `base` with the noise of `seed` inside a region (docs/METHOD.md: region resampling).
    #[serde(rename = "r")]
    Region {
        /// The code outside the region.
        base: Box<Recipe>,
        /// Seed of the new noise inside the region.
        seed: u32,
        /// Region mask height.
        h: usize,
        /// Region mask width.
        w: usize,
        /// The mask as run lengths, alternating outside/inside, starting outside.
        runs: Vec<u32>,
    },
}

impl Recipe {
    fn depth(&self) -> usize {
        match self {
            Recipe::Seed { .. } => 1,
            Recipe::Interpolate { a, b, .. } => 1 + a.depth().max(b.depth()),
            Recipe::Region { base, .. } => 1 + base.depth(),
        }
    }

    fn steps(&self) -> usize {
        match self {
            Recipe::Seed { .. } => 1,
            Recipe::Interpolate { a, b, .. } => 1 + a.steps() + b.steps(),
            Recipe::Region { base, .. } => 1 + base.steps(),
        }
    }

    /// Checks a recipe read from outside against [`crate::limits`] before anything is realised:
    /// its nesting, its number of steps, every region's size and every interpolation position.
    fn check(&self) -> Result<(), String> {
        if self.depth() > MAX_DEPTH {
            return Err(format!(
                "the style in the link nests deeper than {MAX_DEPTH} steps"
            ));
        }
        if self.steps() > MAX_STEPS {
            return Err(format!(
                "the style in the link has {} steps; the page accepts at most {MAX_STEPS}",
                self.steps()
            ));
        }
        self.check_parts()
    }

    fn check_parts(&self) -> Result<(), String> {
        match self {
            Recipe::Seed { .. } => Ok(()),
            Recipe::Interpolate { a, b, t } => {
                if !(0.0..=1.0).contains(t) {
                    return Err(format!(
                        "the style in the link interpolates at {t}, outside 0 to 1"
                    ));
                }
                a.check_parts()?;
                b.check_parts()
            }
            Recipe::Region { base, h, w, .. } => {
                check_size("a region of the style in the link", *h, *w)?;
                base.check_parts()
            }
        }
    }

    /// The code this recipe stands for, at `channels x height x width`. Region masks of
    /// another size are resized by nearest neighbour.
    pub fn realize(&self, channels: usize, height: usize, width: usize) -> LatentCode {
        match self {
            Recipe::Seed { s } => LatentCode::from_seed(u64::from(*s), channels, height, width),
            Recipe::Interpolate { a, b, t } => {
                let (a, b) = (
                    a.realize(channels, height, width),
                    b.realize(channels, height, width),
                );
                // Same shape by construction, so this cannot fail.
                a.interpolate(&b, *t, Interpolation::Slerp).unwrap_or(a)
            }
            Recipe::Region {
                base,
                seed,
                h,
                w,
                runs,
            } => {
                let base = base.realize(channels, height, width);
                let fresh = LatentCode::from_seed(u64::from(*seed), channels, height, width);
                let mask = resize_mask(&runs_to_mask(runs, h * w), *h, *w, height, width);
                base.mix(&fresh, &mask).unwrap_or(base)
            }
        }
    }

    fn layers(&self, channels: usize, height: usize, width: usize) -> Vec<Layer> {
        match self {
            Recipe::Region {
                base, h, w, runs, ..
            } => {
                let mut layers = base.layers(channels, height, width);
                layers.push(Layer {
                    code: self.realize(channels, height, width),
                    mask: Some(resize_mask(
                        &runs_to_mask(runs, h * w),
                        *h,
                        *w,
                        height,
                        width,
                    )),
                });
                layers
            }
            _ => vec![Layer {
                code: self.realize(channels, height, width),
                mask: None,
            }],
        }
    }

    fn label(&self) -> String {
        match self {
            Recipe::Seed { s } => format!("seed {s}"),
            Recipe::Interpolate { a, b, t } => {
                format!("{} → {} at {:.2}", a.label(), b.label(), t)
            }
            Recipe::Region { base, seed, .. } => format!("{} + region (seed {seed})", base.label()),
        }
    }
}

/// One render of a style's image: a latent code, and the pixels it provides (all when `mask` is
/// `None`).
#[derive(Debug, Clone)]
pub struct Layer {
    /// The code to render.
    pub code: LatentCode,
    /// Pixels (`height x width`, row-major) this layer paints over the ones below.
    pub mask: Option<Vec<bool>>,
}

/// Run lengths (alternating false/true, starting with false) of a mask.
pub fn mask_to_runs(mask: &[bool]) -> Vec<u32> {
    let mut runs = Vec::new();
    let mut current = false;
    let mut n = 0u32;
    for &m in mask {
        if m != current {
            runs.push(n);
            current = m;
            n = 0;
        }
        n += 1;
    }
    runs.push(n);
    runs
}

/// The mask of `len` pixels that `runs` describe; missing pixels are outside, extra are dropped.
pub fn runs_to_mask(runs: &[u32], len: usize) -> Vec<bool> {
    let mut mask = Vec::with_capacity(len);
    for (i, &n) in runs.iter().enumerate() {
        let inside = i % 2 == 1;
        let take = (n as usize).min(len - mask.len());
        mask.extend(std::iter::repeat_n(inside, take));
    }
    mask.resize(len, false);
    mask
}

/// Nearest-neighbour resize of a row-major mask (pixel centres, as `Layout::resize_nearest`).
pub fn resize_mask(mask: &[bool], h: usize, w: usize, to_h: usize, to_w: usize) -> Vec<bool> {
    if (h, w) == (to_h, to_w) || h == 0 || w == 0 {
        let mut m = mask.to_vec();
        m.resize(to_h * to_w, false);
        return m;
    }
    let mut out = Vec::with_capacity(to_h * to_w);
    for y in 0..to_h {
        let sy = ((2 * y + 1) * h / (2 * to_h)).min(h - 1);
        for x in 0..to_w {
            let sx = ((2 * x + 1) * w / (2 * to_w)).min(w - 1);
            out.push(mask[sy * w + sx]);
        }
    }
    out
}

/// A sample's look, shareable in a link: see the module docs.
#[wasm_bindgen]
#[derive(Debug, Clone, PartialEq)]
pub struct Style {
    pub(crate) recipe: Recipe,
}

#[wasm_bindgen]
impl Style {
    /// The style of one seed.
    #[wasm_bindgen(js_name = fromSeed)]
    pub fn from_seed(seed: u32) -> Style {
        Style {
            recipe: Recipe::Seed { s: seed },
        }
    }

    /// Spherical interpolation between two styles, `t` in `[0, 1]` (clamped).
    pub fn interpolate(a: &Style, b: &Style, t: f32) -> Style {
        let t = if t.is_finite() {
            t.clamp(0.0, 1.0)
        } else {
            0.0
        };
        if t == 0.0 {
            return a.clone();
        }
        if t == 1.0 {
            return b.clone();
        }
        Style {
            recipe: Recipe::Interpolate {
                a: Box::new(a.recipe.clone()),
                b: Box::new(b.recipe.clone()),
                t,
            },
        }
    }

    /// This style with new noise (from `seed`) where `mask` (`height x width`, non-zero =
    /// inside) is set: only that region changes its look. An error when the mask does not
    /// have `height x width` values, or when the style would nest too deep for a link.
    #[wasm_bindgen(js_name = withRegion)]
    pub fn with_region(
        &self,
        mask: &[u8],
        height: usize,
        width: usize,
        seed: u32,
    ) -> Result<Style, JsValue> {
        self.region(mask, height, width, seed)
            .map_err(|e| JsValue::from_str(&e))
    }

    /// A short human description ("seed 12", "seed 3 → seed 9 at 0.40").
    pub fn label(&self) -> String {
        self.recipe.label()
    }

    /// The recipe as URL-safe text (base64url of JSON).
    pub fn encode(&self) -> String {
        // Serialising plain data to JSON cannot fail.
        base64url_encode(&serde_json::to_vec(&self.recipe).unwrap_or_default())
    }

    /// Reads [`Style::encode`]'s text.
    pub fn decode(text: &str) -> Result<Style, JsValue> {
        Style::decode_text(text).map_err(|e| JsValue::from_str(&e))
    }
}

impl Style {
    /// [`Style::with_region`] with a text error.
    pub fn region(
        &self,
        mask: &[u8],
        height: usize,
        width: usize,
        seed: u32,
    ) -> Result<Style, String> {
        let pixels = check_size("the region", height, width)?;
        if mask.len() != pixels {
            return Err(format!(
                "a {height}x{width} region needs {pixels} mask values, got {}",
                mask.len()
            ));
        }
        if self.recipe.depth() >= MAX_DEPTH {
            return Err(format!(
                "this style already has {MAX_DEPTH} steps, the most a link can carry: \
                 generate or pick a sample to start from a simpler style"
            ));
        }
        let bools: Vec<bool> = mask.iter().map(|&m| m != 0).collect();
        Ok(Style {
            recipe: Recipe::Region {
                base: Box::new(self.recipe.clone()),
                seed,
                h: height,
                w: width,
                runs: mask_to_runs(&bools),
            },
        })
    }

    /// [`Style::decode`] with a text error. Every size in the text is checked against
    /// [`crate::limits`] here, before a mask or a code is made from it.
    pub fn decode_text(text: &str) -> Result<Style, String> {
        let bytes = base64url_decode(text).ok_or("the style in the link is not base64url")?;
        let recipe: Recipe = serde_json::from_slice(&bytes)
            .map_err(|e| format!("the style in the link is not a cimle style: {e}"))?;
        recipe.check()?;
        Ok(Style { recipe })
    }

    /// The latent code of this style for a model's code shape.
    pub fn code(&self, channels: usize, height: usize, width: usize) -> LatentCode {
        self.recipe.realize(channels, height, width)
    }

    /// The renders that make this style's image, bottom first (module docs): one for a seed or
    /// an interpolation, one more per region.
    pub fn layers(&self, channels: usize, height: usize, width: usize) -> Vec<Layer> {
        self.recipe.layers(channels, height, width)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn runs_round_trip() {
        let mask = [false, false, true, true, true, false, true];
        let runs = mask_to_runs(&mask);
        assert_eq!(runs, vec![2, 3, 1, 1]);
        assert_eq!(runs_to_mask(&runs, mask.len()), mask.to_vec());
        assert_eq!(mask_to_runs(&[true]), vec![0, 1]);
        // Corrupt runs never overflow the mask.
        assert_eq!(runs_to_mask(&[1, 100], 3), vec![false, true, true]);
    }

    #[test]
    fn region_changes_only_the_masked_pixels_of_the_code() {
        let (c, h, w) = (3, 4, 6);
        let base = Style::from_seed(5);
        let mut mask = vec![0u8; h * w];
        mask[7] = 1;
        mask[8] = 1;
        let region = base.region(&mask, h, w, 99).unwrap();
        let (z0, z1) = (base.code(c, h, w), region.code(c, h, w));
        for (i, (a, b)) in z0.data().iter().zip(z1.data()).enumerate() {
            let inside = mask[i % (h * w)] != 0;
            assert_eq!(a != b, inside, "pixel {i}");
        }
    }

    #[test]
    fn region_styles_render_in_layers() {
        let base = Style::from_seed(5);
        assert_eq!(base.layers(2, 2, 2).len(), 1);
        let two = base
            .region(&[1, 0, 0, 0], 2, 2, 9)
            .unwrap()
            .region(&[0, 0, 0, 1], 2, 2, 10)
            .unwrap();
        let layers = two.layers(2, 4, 4);
        assert_eq!(layers.len(), 3);
        assert!(layers[0].mask.is_none());
        let m1 = layers[1].mask.as_ref().unwrap();
        assert_eq!(m1.iter().filter(|&&b| b).count(), 4);
        assert!(m1[0] && m1[5] && !m1[15]);
        assert_eq!(layers[2].code.data(), two.code(2, 4, 4).data());
    }

    #[test]
    fn encoding_round_trips_and_rejects_junk() {
        let a = Style::from_seed(1);
        let b = Style::from_seed(2).region(&[0, 1, 1, 0], 2, 2, 3).unwrap();
        let s = Style::interpolate(&a, &b, 0.25);
        let back = Style::decode_text(&s.encode()).unwrap();
        assert_eq!(back, s);
        assert_eq!(back.code(2, 2, 2).data(), s.code(2, 2, 2).data());
        assert!(s.label().contains("seed 1 → seed 2"), "{}", s.label());
        assert!(Style::decode_text("!!").is_err());
        assert!(Style::decode_text(&base64url_encode(b"{\"k\":\"x\"}")).is_err());
    }

    /// A style as a link would carry it: base64url of the JSON of a recipe.
    fn crafted(recipe: serde_json::Value) -> String {
        base64url_encode(recipe.to_string().as_bytes())
    }

    #[test]
    fn crafted_region_sizes_are_refused_before_anything_is_allocated() {
        for (h, w) in [
            (100_000u64, 100_000u64),
            (65_536, 65_536),
            (8193, 1),
            (4097, 4097),
        ] {
            let text = crafted(serde_json::json!({
                "k": "r", "base": {"k": "s", "s": 1}, "seed": 2, "h": h, "w": w, "runs": [0, 5]
            }));
            let err = Style::decode_text(&text).unwrap_err();
            assert!(
                err.contains(&format!("is {h}x{w} (height x width)"))
                    && err.contains("at most 8192 pixels a side and 16777216 pixels in all"),
                "{err}"
            );
        }
        let empty = crafted(serde_json::json!({
            "k": "r", "base": {"k": "s", "s": 1}, "seed": 2, "h": 0, "w": 7, "runs": []
        }));
        assert!(
            Style::decode_text(&empty)
                .unwrap_err()
                .contains("empty size")
        );
        // A region nested under an interpolation is checked too.
        let nested = crafted(serde_json::json!({
            "k": "i", "t": 0.5, "a": {"k": "s", "s": 1},
            "b": {"k": "r", "base": {"k": "s", "s": 1}, "seed": 2, "h": 1, "w": 9000, "runs": [1]}
        }));
        assert!(Style::decode_text(&nested).unwrap_err().contains("1x9000"));
        // Within the limits, a region of another size than the model's is fine.
        let fine = crafted(serde_json::json!({
            "k": "r", "base": {"k": "s", "s": 1}, "seed": 2, "h": 3, "w": 2, "runs": [1, 2]
        }));
        let style = Style::decode_text(&fine).unwrap();
        assert_eq!(style.layers(1, 4, 4).len(), 2);
    }

    #[test]
    fn crafted_interpolations_are_refused() {
        let leaf = serde_json::json!({"k": "s", "s": 1});
        let outside = crafted(serde_json::json!({"k": "i", "t": 5.0, "a": leaf, "b": leaf}));
        assert!(
            Style::decode_text(&outside)
                .unwrap_err()
                .contains("interpolates at 5, outside 0 to 1")
        );
        // A full tree 16 deep is within the depth limit but has 65,535 steps: each would be a
        // whole latent code to realise.
        let mut tree = leaf;
        for _ in 1..16 {
            tree = serde_json::json!({"k": "i", "t": 0.5, "a": tree, "b": tree});
        }
        let err = Style::decode_text(&crafted(tree)).unwrap_err();
        assert!(
            err.contains("65535 steps; the page accepts at most 64"),
            "{err}"
        );
    }

    #[test]
    fn regions_check_their_mask_and_the_depth_a_link_can_carry() {
        let base = Style::from_seed(1);
        let err = base.region(&[1, 0, 0], 2, 2, 5).unwrap_err();
        assert!(err.contains("needs 4 mask values, got 3"), "{err}");
        assert!(base.region(&[], 0, 0, 5).unwrap_err().contains("empty"));
        let mut style = base;
        for i in 1..MAX_DEPTH {
            style = style.region(&[1, 0, 0, 0], 2, 2, i as u32).unwrap();
        }
        assert!(Style::decode_text(&style.encode()).is_ok());
        let err = style.region(&[1, 0, 0, 0], 2, 2, 99).unwrap_err();
        assert!(err.contains("already has 16 steps"), "{err}");
    }

    #[test]
    fn interpolation_ends_are_the_styles_themselves() {
        let (a, b) = (Style::from_seed(1), Style::from_seed(2));
        assert_eq!(Style::interpolate(&a, &b, 0.0), a);
        assert_eq!(Style::interpolate(&a, &b, 1.0), b);
        let mid = Style::interpolate(&a, &b, 0.5).code(1, 2, 2);
        assert_ne!(mid.data(), a.code(1, 2, 2).data());
    }

    #[test]
    fn masks_resize_by_nearest_neighbour() {
        let m = [true, false, false, true];
        let big = resize_mask(&m, 2, 2, 4, 4);
        assert_eq!(big.iter().filter(|&&b| b).count(), 8);
        assert!(big[0] && big[5] && !big[3] && big[15]);
    }
}
