//! The layout editor behind the drawing canvas: brush, rectangle, flood fill, eraser (a brush
//! of `void`), clear, undo and redo, all on a map of class ids. The page forwards pointer
//! events in layout pixels and paints [`Editor::rgba`] with the model's palette.

use wasm_bindgen::prelude::*;

/// Undo steps kept (each is one snapshot of the ids: 128 KiB at 256x512).
const UNDO_DEPTH: usize = 64;

/// An editable layout with history.
#[wasm_bindgen]
pub struct Editor {
    height: usize,
    width: usize,
    ids: Vec<u8>,
    undo: Vec<Vec<u8>>,
    redo: Vec<Vec<u8>>,
}

#[wasm_bindgen]
impl Editor {
    /// A `height x width` layout filled with `class`.
    #[wasm_bindgen(constructor)]
    pub fn new(height: usize, width: usize, class: u8) -> Editor {
        Editor {
            height,
            width,
            ids: vec![class; height * width],
            undo: Vec::new(),
            redo: Vec::new(),
        }
    }

    /// Layout height.
    pub fn height(&self) -> usize {
        self.height
    }

    /// Layout width.
    pub fn width(&self) -> usize {
        self.width
    }

    /// Row-major class ids.
    pub fn ids(&self) -> Vec<u8> {
        self.ids.clone()
    }

    /// The class under a pixel (`None` outside).
    #[wasm_bindgen(js_name = classAt)]
    pub fn class_at(&self, x: i32, y: i32) -> Option<u8> {
        self.index(x, y).map(|i| self.ids[i])
    }

    /// Replaces the whole layout (an upload, an example, a link) as one undoable step.
    #[wasm_bindgen(js_name = setIds)]
    pub fn set_ids(&mut self, ids: &[u8]) -> Result<(), JsValue> {
        self.replace(ids).map_err(|e| JsValue::from_str(&e))
    }

    /// Records the current layout for undo: call once when a stroke or shape begins.
    pub fn checkpoint(&mut self) {
        self.undo.push(self.ids.clone());
        if self.undo.len() > UNDO_DEPTH {
            self.undo.remove(0);
        }
        self.redo.clear();
    }

    /// Paints a stroke segment: discs of `radius` along the line from `(x0, y0)` to `(x1, y1)`.
    pub fn brush(&mut self, x0: f32, y0: f32, x1: f32, y1: f32, radius: f32, class: u8) {
        let steps = ((x1 - x0).hypot(y1 - y0) / (radius.max(0.5) * 0.5))
            .ceil()
            .max(1.0) as usize;
        for s in 0..=steps {
            let t = s as f32 / steps as f32;
            self.disc(x0 + (x1 - x0) * t, y0 + (y1 - y0) * t, radius, class);
        }
    }

    /// Fills the rectangle with corners `(x0, y0)` and `(x1, y1)` (inclusive, any order).
    pub fn rect(&mut self, x0: i32, y0: i32, x1: i32, y1: i32, class: u8) {
        let (w, h) = (self.width as i32, self.height as i32);
        let (xa, xb) = (x0.min(x1).max(0), x0.max(x1).min(w - 1));
        let (ya, yb) = (y0.min(y1).max(0), y0.max(y1).min(h - 1));
        for y in ya..=yb {
            for x in xa..=xb {
                self.ids[(y * w + x) as usize] = class;
            }
        }
    }

    /// Flood-fills the 4-connected region of the class under `(x, y)` with `class`; returns
    /// the number of pixels changed.
    pub fn fill(&mut self, x: i32, y: i32, class: u8) -> usize {
        let Some(start) = self.index(x, y) else {
            return 0;
        };
        let target = self.ids[start];
        if target == class {
            return 0;
        }
        let (w, h) = (self.width, self.height);
        let mut stack = vec![start];
        let mut changed = 0;
        while let Some(i) = stack.pop() {
            if self.ids[i] != target {
                continue;
            }
            self.ids[i] = class;
            changed += 1;
            let (px, py) = (i % w, i / w);
            if px > 0 {
                stack.push(i - 1);
            }
            if px + 1 < w {
                stack.push(i + 1);
            }
            if py > 0 {
                stack.push(i - w);
            }
            if py + 1 < h {
                stack.push(i + w);
            }
        }
        changed
    }

    /// Sets every pixel to `class` (undoable).
    pub fn clear(&mut self, class: u8) {
        self.checkpoint();
        self.ids.fill(class);
    }

    /// Steps back; `false` when there is nothing to undo.
    pub fn undo(&mut self) -> bool {
        match self.undo.pop() {
            Some(prev) => {
                self.redo.push(std::mem::replace(&mut self.ids, prev));
                true
            }
            None => false,
        }
    }

    /// Steps forward again; `false` when there is nothing to redo.
    pub fn redo(&mut self) -> bool {
        match self.redo.pop() {
            Some(next) => {
                self.undo.push(std::mem::replace(&mut self.ids, next));
                true
            }
            None => false,
        }
    }

    /// Whether [`Editor::undo`] would do something.
    #[wasm_bindgen(js_name = canUndo)]
    pub fn can_undo(&self) -> bool {
        !self.undo.is_empty()
    }

    /// Whether [`Editor::redo`] would do something.
    #[wasm_bindgen(js_name = canRedo)]
    pub fn can_redo(&self) -> bool {
        !self.redo.is_empty()
    }

    /// RGBA pixels of the layout in a palette (`classes x 3` bytes, RGB per class id); ids
    /// without a colour are drawn black.
    pub fn rgba(&self, palette: &[u8]) -> Vec<u8> {
        let mut out = Vec::with_capacity(self.ids.len() * 4);
        for &id in &self.ids {
            let c = palette.get(usize::from(id) * 3..usize::from(id) * 3 + 3);
            let [r, g, b] = c.map_or([0, 0, 0], |c| [c[0], c[1], c[2]]);
            out.extend_from_slice(&[r, g, b, 255]);
        }
        out
    }

    /// A 0/1 mask of the pixels of `class`.
    #[wasm_bindgen(js_name = classMask)]
    pub fn class_mask(&self, class: u8) -> Vec<u8> {
        self.ids.iter().map(|&id| u8::from(id == class)).collect()
    }
}

impl Editor {
    /// [`Editor::set_ids`] with a text error.
    pub fn replace(&mut self, ids: &[u8]) -> Result<(), String> {
        if ids.len() != self.ids.len() {
            return Err(format!(
                "a {}x{} layout needs {} ids, got {}",
                self.height,
                self.width,
                self.ids.len(),
                ids.len()
            ));
        }
        self.checkpoint();
        self.ids.copy_from_slice(ids);
        Ok(())
    }

    fn index(&self, x: i32, y: i32) -> Option<usize> {
        (x >= 0 && y >= 0 && (x as usize) < self.width && (y as usize) < self.height)
            .then(|| y as usize * self.width + x as usize)
    }

    fn disc(&mut self, cx: f32, cy: f32, radius: f32, class: u8) {
        let r = radius.max(0.5);
        let (w, h) = (self.width as i32, self.height as i32);
        let (xa, xb) = (
            ((cx - r).floor() as i32).max(0),
            ((cx + r).ceil() as i32).min(w - 1),
        );
        let (ya, yb) = (
            ((cy - r).floor() as i32).max(0),
            ((cy + r).ceil() as i32).min(h - 1),
        );
        for y in ya..=yb {
            for x in xa..=xb {
                let (dx, dy) = (x as f32 + 0.5 - cx, y as f32 + 0.5 - cy);
                if dx * dx + dy * dy <= r * r {
                    self.ids[(y * w + x) as usize] = class;
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn count(e: &Editor, class: u8) -> usize {
        e.ids().iter().filter(|&&c| c == class).count()
    }

    #[test]
    fn brush_paints_a_disc_and_undo_redo_restore() {
        let mut e = Editor::new(20, 30, 0);
        e.checkpoint();
        e.brush(10.0, 10.0, 10.0, 10.0, 3.0, 13);
        let disc = count(&e, 13);
        // A radius-3 disc covers about pi * 9 = 28 pixels.
        assert!((24..=32).contains(&disc), "{disc}");
        assert_eq!(e.class_at(10, 10), Some(13));
        assert_eq!(e.class_at(0, 0), Some(0));
        assert!(e.undo());
        assert_eq!(count(&e, 13), 0);
        assert!(!e.undo());
        assert!(e.redo());
        assert_eq!(count(&e, 13), disc);
        assert!(!e.can_redo());
    }

    #[test]
    fn a_stroke_leaves_no_gaps_and_clips_at_the_border() {
        let mut e = Editor::new(10, 100, 0);
        e.brush(-5.0, 5.0, 120.0, 5.0, 1.0, 2);
        assert!((0..100).all(|x| e.class_at(x, 5) == Some(2)));
        assert_eq!(e.class_at(100, 5), None);
    }

    #[test]
    fn rect_and_fill() {
        let mut e = Editor::new(10, 10, 0);
        e.rect(7, 7, 2, 2, 5);
        assert_eq!(count(&e, 5), 36);
        // Filling outside the square stops at its border.
        assert_eq!(e.fill(0, 0, 1), 64);
        assert_eq!(count(&e, 5), 36);
        assert_eq!(e.fill(0, 0, 1), 0);
        assert_eq!(e.fill(50, 0, 1), 0);
    }

    #[test]
    fn set_ids_checks_size_and_undoes() {
        let mut e = Editor::new(2, 2, 0);
        assert!(e.replace(&[1, 2, 3]).unwrap_err().contains("needs 4 ids"));
        e.replace(&[1, 2, 3, 4]).unwrap();
        assert_eq!(
            e.rgba(&[9, 9, 9, 1, 2, 3])[..8],
            [1, 2, 3, 255, 0, 0, 0, 255]
        );
        assert_eq!(e.class_mask(2), vec![0, 1, 0, 0]);
        e.clear(7);
        assert_eq!(count(&e, 7), 4);
        assert!(e.undo() && e.undo());
        assert_eq!(e.ids(), vec![0; 4]);
    }
}
