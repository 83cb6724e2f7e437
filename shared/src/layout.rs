//! Semantic layouts: an H×W map of class ids (see [`crate::classes`]).
//!
//! [`Layout`] checks its invariants on construction (both sides at least 1, every id a class), so
//! every method can rely on them. Reading and writing layouts as label PNGs lives in
//! [`crate::label_png`].

use crate::classes::{CLASSES, NUM_CLASSES};

/// Largest width or height accepted (the PNG limit, `2^31 - 1`).
pub(crate) const MAX_SIDE: usize = i32::MAX as usize;

/// Why a layout could not be built.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum LayoutError {
    /// A zero or too large width/height.
    #[error(
        "invalid layout size {width}x{height} (width x height): both sides must be between 1 and {MAX_SIDE}"
    )]
    BadSize {
        /// Requested height.
        height: usize,
        /// Requested width.
        width: usize,
    },
    /// The id buffer does not hold `height * width` ids.
    #[error("a {width}x{height} layout needs {expected} class ids, got {actual}")]
    WrongLength {
        /// Layout height.
        height: usize,
        /// Layout width.
        width: usize,
        /// `height * width`.
        expected: usize,
        /// Length of the buffer given.
        actual: usize,
    },
    /// A class id outside `0..NUM_CLASSES`.
    #[error(
        "class id {id} at index {index} is out of range: ids are 0..={max} (19 is void)",
        max = NUM_CLASSES - 1
    )]
    InvalidClass {
        /// The offending id.
        id: u8,
        /// Its index in the id buffer (`y * width + x`).
        index: usize,
    },
}

/// Checks a layout size and returns the number of pixels.
fn pixel_count(height: usize, width: usize) -> Result<usize, LayoutError> {
    let bad = || LayoutError::BadSize { height, width };
    if height == 0 || width == 0 || height > MAX_SIDE || width > MAX_SIDE {
        return Err(bad());
    }
    height.checked_mul(width).ok_or_else(bad)
}

/// An H×W map of class ids, each `< NUM_CLASSES`, stored row-major.
///
/// Both sides are at least 1; the invariants are checked on construction so every method can rely
/// on them.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct Layout {
    height: usize,
    width: usize,
    ids: Vec<u8>,
}

impl Layout {
    /// A layout from row-major class ids; checks the size, the length and every id.
    pub fn new(height: usize, width: usize, ids: Vec<u8>) -> Result<Self, LayoutError> {
        let expected = pixel_count(height, width)?;
        if ids.len() != expected {
            return Err(LayoutError::WrongLength {
                height,
                width,
                expected,
                actual: ids.len(),
            });
        }
        if let Some((index, &id)) = ids
            .iter()
            .enumerate()
            .find(|&(_, &id)| usize::from(id) >= NUM_CLASSES)
        {
            return Err(LayoutError::InvalidClass { id, index });
        }
        Ok(Self { height, width, ids })
    }

    /// A layout where every pixel has class `id`.
    ///
    /// # Panics
    /// If a side is zero or above `2^31 - 1`, or `id >= NUM_CLASSES` (programming errors).
    pub fn filled(height: usize, width: usize, id: u8) -> Self {
        assert!(
            usize::from(id) < NUM_CLASSES,
            "Layout::filled: class id {id} out of range"
        );
        match pixel_count(height, width) {
            Ok(n) => Self {
                height,
                width,
                ids: vec![id; n],
            },
            Err(e) => panic!("Layout::filled: {e}"),
        }
    }

    /// Number of rows.
    pub fn height(&self) -> usize {
        self.height
    }

    /// Number of columns.
    pub fn width(&self) -> usize {
        self.width
    }

    /// The class ids, row-major (`ids()[y * width + x]`).
    pub fn ids(&self) -> &[u8] {
        &self.ids
    }

    /// The class ids, row-major, by value.
    pub fn into_ids(self) -> Vec<u8> {
        self.ids
    }

    /// Class id at row `y`, column `x`.
    ///
    /// # Panics
    /// If `(y, x)` is outside the layout.
    pub fn get(&self, y: usize, x: usize) -> u8 {
        assert!(
            y < self.height && x < self.width,
            "Layout::get({y}, {x}) outside a {}x{} layout",
            self.width,
            self.height
        );
        self.ids[y * self.width + x]
    }

    /// Sets the class id at row `y`, column `x`.
    ///
    /// # Panics
    /// If `(y, x)` is outside the layout or `id >= NUM_CLASSES`.
    pub fn set(&mut self, y: usize, x: usize, id: u8) {
        assert!(
            y < self.height && x < self.width,
            "Layout::set({y}, {x}) outside a {}x{} layout",
            self.width,
            self.height
        );
        assert!(
            usize::from(id) < NUM_CLASSES,
            "Layout::set: class id {id} out of range"
        );
        self.ids[y * self.width + x] = id;
    }

    /// The layout resampled to `height`×`width` by nearest neighbour at pixel centres: output
    /// pixel `(i, j)` takes the source pixel containing `((i + 0.5) H / height, (j + 0.5) W / width)`.
    ///
    /// # Panics
    /// If a side is zero or above `2^31 - 1`.
    pub fn resize_nearest(&self, height: usize, width: usize) -> Layout {
        if let Err(e) = pixel_count(height, width) {
            panic!("Layout::resize_nearest: {e}");
        }
        let src_index = |o: usize, n_out: usize, n_in: usize| -> usize {
            // floor((o + 0.5) * n_in / n_out) in exact integer arithmetic.
            let v = ((2 * o as u128 + 1) * n_in as u128) / (2 * n_out as u128);
            (v as usize).min(n_in - 1)
        };
        let cols: Vec<usize> = (0..width)
            .map(|j| src_index(j, width, self.width))
            .collect();
        let mut ids = Vec::with_capacity(height * width);
        for i in 0..height {
            let row = &self.ids[src_index(i, height, self.height) * self.width..][..self.width];
            ids.extend(cols.iter().map(|&c| row[c]));
        }
        Layout { height, width, ids }
    }

    /// Number of pixels of each class, indexed by class id.
    pub fn class_areas(&self) -> [usize; NUM_CLASSES] {
        let mut areas = [0usize; NUM_CLASSES];
        for &id in &self.ids {
            areas[usize::from(id)] += 1;
        }
        areas
    }

    /// The layout in palette colours: `height * width * 3` bytes, RGB, row-major.
    pub fn to_color_rgb(&self) -> Vec<u8> {
        self.ids
            .iter()
            .flat_map(|&id| CLASSES[usize::from(id)].color)
            .collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::classes::id;

    #[test]
    fn new_checks_length_and_ids() {
        assert!(Layout::new(2, 2, vec![0, 1, 2, 19]).is_ok());
        assert_eq!(
            Layout::new(2, 2, vec![0; 3]),
            Err(LayoutError::WrongLength {
                height: 2,
                width: 2,
                expected: 4,
                actual: 3
            })
        );
        assert_eq!(
            Layout::new(1, 2, vec![0, 20]),
            Err(LayoutError::InvalidClass { id: 20, index: 1 })
        );
        assert!(matches!(
            Layout::new(0, 3, vec![]),
            Err(LayoutError::BadSize { .. })
        ));
    }

    #[test]
    fn get_set_and_areas() {
        let mut l = Layout::filled(2, 3, id::SKY);
        l.set(1, 2, id::CAR);
        assert_eq!(l.get(1, 2), id::CAR);
        assert_eq!(l.get(0, 0), id::SKY);
        let areas = l.class_areas();
        assert_eq!(areas[usize::from(id::SKY)], 5);
        assert_eq!(areas[usize::from(id::CAR)], 1);
        assert_eq!(areas.iter().sum::<usize>(), 6);
        assert_eq!(
            &l.to_color_rgb()[15..18],
            &CLASSES[usize::from(id::CAR)].color
        );
    }

    #[test]
    fn resize_nearest_known_pattern() {
        // 2x2 checker -> 4x4: every source pixel becomes a 2x2 block.
        let l = Layout::new(2, 2, vec![0, 1, 2, 3]).unwrap();
        let up = l.resize_nearest(4, 4);
        assert_eq!(up.ids(), &[0, 0, 1, 1, 0, 0, 1, 1, 2, 2, 3, 3, 2, 2, 3, 3]);
        // 4x4 -> 2x2 samples at centres 1 and 3 (pixel-centre sampling, not the corners).
        let ids: Vec<u8> = (0..16).map(|i| i % 20).collect();
        let l = Layout::new(4, 4, ids).unwrap();
        assert_eq!(l.resize_nearest(2, 2).ids(), &[5, 7, 13, 15]);
        // 3 -> 2 columns: centres 0.75 and 2.25.
        let l = Layout::new(1, 3, vec![4, 5, 6]).unwrap();
        assert_eq!(l.resize_nearest(1, 2).ids(), &[4, 6]);
        // Same size is the identity.
        assert_eq!(l.resize_nearest(1, 3), l);
    }
}
