//! Pictures a person looks at: sample grids and loss curves, written atomically as PNG.

use std::io;
use std::path::Path;

/// An RGB8 image, row-major.
#[derive(Debug, Clone, PartialEq)]
pub struct RgbImage {
    pub width: usize,
    pub height: usize,
    pub data: Vec<u8>,
}

impl RgbImage {
    /// A `width x height` image filled with `color`.
    pub fn filled(width: usize, height: usize, color: [u8; 3]) -> Self {
        Self {
            width,
            height,
            data: color.repeat(width * height),
        }
    }

    /// Wraps RGB8 bytes; `None` if the length is not `width * height * 3`.
    pub fn from_rgb(width: usize, height: usize, data: Vec<u8>) -> Option<Self> {
        (data.len() == width * height * 3).then_some(Self {
            width,
            height,
            data,
        })
    }

    /// Sets one pixel; out-of-bounds writes are ignored.
    pub fn put(&mut self, x: usize, y: usize, color: [u8; 3]) {
        if x < self.width && y < self.height {
            let i = (y * self.width + x) * 3;
            self.data[i..i + 3].copy_from_slice(&color);
        }
    }

    /// Copies `src` with its top-left corner at `(x, y)`, clipping at the borders.
    pub fn blit(&mut self, src: &RgbImage, x: usize, y: usize) {
        for sy in 0..src.height.min(self.height.saturating_sub(y)) {
            let w = src.width.min(self.width.saturating_sub(x));
            let d = ((y + sy) * self.width + x) * 3;
            let s = sy * src.width * 3;
            self.data[d..d + w * 3].copy_from_slice(&src.data[s..s + w * 3]);
        }
    }

    /// PNG bytes.
    pub fn encode_png(&self) -> Vec<u8> {
        let mut out = Vec::new();
        {
            let mut enc = png::Encoder::new(&mut out, self.width as u32, self.height as u32);
            enc.set_color(png::ColorType::Rgb);
            enc.set_depth(png::BitDepth::Eight);
            // Writing into a Vec cannot fail for a well-formed image.
            if let Ok(mut w) = enc.write_header() {
                let _ = w.write_image_data(&self.data);
            }
        }
        out
    }
}

/// Writes `bytes` to `path` atomically: a temporary file beside it, then a rename, so a reader
/// (or a kill) never sees half a file.
pub fn write_atomic(path: &Path, bytes: &[u8]) -> io::Result<()> {
    let dir = path.parent().filter(|p| !p.as_os_str().is_empty());
    if let Some(dir) = dir {
        std::fs::create_dir_all(dir)?;
    }
    let name = path
        .file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_default();
    let tmp = path.with_file_name(format!(".{name}.{}.tmp", std::process::id()));
    {
        use std::io::Write;
        let mut f = std::fs::File::create(&tmp)?;
        f.write_all(bytes)?;
        f.sync_all()?;
    }
    std::fs::rename(&tmp, path).inspect_err(|_| {
        let _ = std::fs::remove_file(&tmp);
    })
}

/// Lays out cells (all of one size) in rows of `columns`, with a `gap`-pixel border.
pub fn grid(cells: &[RgbImage], columns: usize, gap: usize, background: [u8; 3]) -> RgbImage {
    let columns = columns.max(1);
    let (cw, ch) = cells.first().map_or((1, 1), |c| (c.width, c.height));
    let rows = cells.len().div_ceil(columns).max(1);
    let mut out = RgbImage::filled(
        columns * (cw + gap) + gap,
        rows * (ch + gap) + gap,
        background,
    );
    for (i, cell) in cells.iter().enumerate() {
        let (r, c) = (i / columns, i % columns);
        out.blit(cell, gap + c * (cw + gap), gap + r * (ch + gap));
    }
    out
}

/// 3x5 bitmap glyphs for the characters plots need.
fn glyph(c: char) -> [u8; 5] {
    match c {
        '0' => [0b111, 0b101, 0b101, 0b101, 0b111],
        '1' => [0b010, 0b110, 0b010, 0b010, 0b111],
        '2' => [0b111, 0b001, 0b111, 0b100, 0b111],
        '3' => [0b111, 0b001, 0b111, 0b001, 0b111],
        '4' => [0b101, 0b101, 0b111, 0b001, 0b001],
        '5' => [0b111, 0b100, 0b111, 0b001, 0b111],
        '6' => [0b111, 0b100, 0b111, 0b101, 0b111],
        '7' => [0b111, 0b001, 0b010, 0b010, 0b010],
        '8' => [0b111, 0b101, 0b111, 0b101, 0b111],
        '9' => [0b111, 0b101, 0b111, 0b001, 0b111],
        '.' => [0, 0, 0, 0, 0b010],
        '-' => [0, 0, 0b111, 0, 0],
        'e' => [0, 0b111, 0b111, 0b100, 0b111],
        _ => [0; 5],
    }
}

/// Draws `text` with its top-left at `(x, y)`, each glyph pixel a `scale x scale` block.
pub fn draw_text(img: &mut RgbImage, text: &str, x: usize, y: usize, scale: usize, color: [u8; 3]) {
    for (i, ch) in text.chars().enumerate() {
        let rows = glyph(ch);
        for (r, bits) in rows.iter().enumerate() {
            for b in 0..3 {
                if bits & (0b100 >> b) != 0 {
                    for dy in 0..scale {
                        for dx in 0..scale {
                            img.put(x + (i * 4 + b) * scale + dx, y + r * scale + dy, color);
                        }
                    }
                }
            }
        }
    }
}

fn draw_line(img: &mut RgbImage, (x0, y0): (f64, f64), (x1, y1): (f64, f64), color: [u8; 3]) {
    let steps = ((x1 - x0).abs().max((y1 - y0).abs()).ceil() as usize).max(1);
    for s in 0..=steps {
        let t = s as f64 / steps as f64;
        let (x, y) = (x0 + (x1 - x0) * t, y0 + (y1 - y0) * t);
        if x >= 0.0 && y >= 0.0 {
            img.put(x.round() as usize, y.round() as usize, color);
            img.put(x.round() as usize, y.round() as usize + 1, color);
        }
    }
}

fn format_tick(v: f64) -> String {
    if v != 0.0 && (v.abs() >= 1e4 || v.abs() < 1e-2) {
        format!("{v:.1e}")
    } else if v.abs() >= 10.0 {
        format!("{v:.0}")
    } else {
        format!("{v:.2}")
    }
}

/// A line chart of `series` (x, y) points: light raw curve, dark moving average, axes with
/// numeric ticks on both axes. Returns a `width x height` picture.
pub fn line_chart(points: &[(f64, f64)], width: usize, height: usize) -> RgbImage {
    let mut img = RgbImage::filled(width, height, [255, 255, 255]);
    let (left, right, top, bottom) = (60.0, 12.0, 12.0, 28.0);
    let pw = width as f64 - left - right;
    let ph = height as f64 - top - bottom;
    let finite: Vec<(f64, f64)> = points
        .iter()
        .copied()
        .filter(|(x, y)| x.is_finite() && y.is_finite())
        .collect();
    let axis = [60, 60, 60];
    draw_line(&mut img, (left, top), (left, top + ph), axis);
    draw_line(&mut img, (left, top + ph), (left + pw, top + ph), axis);
    if finite.is_empty() {
        return img;
    }
    let (mut x0, mut x1) = (f64::MAX, f64::MIN);
    let (mut y0, mut y1) = (f64::MAX, f64::MIN);
    for &(x, y) in &finite {
        x0 = x0.min(x);
        x1 = x1.max(x);
        y0 = y0.min(y);
        y1 = y1.max(y);
    }
    if x1 <= x0 {
        x1 = x0 + 1.0;
    }
    if y1 <= y0 {
        y1 = y0 + 1.0;
    }
    let to_px = |(x, y): (f64, f64)| {
        (
            left + (x - x0) / (x1 - x0) * pw,
            top + (1.0 - (y - y0) / (y1 - y0)) * ph,
        )
    };
    for i in 0..=4 {
        let t = i as f64 / 4.0;
        let yv = y0 + (y1 - y0) * t;
        let (_, py) = to_px((x0, yv));
        draw_line(&mut img, (left - 4.0, py), (left, py), axis);
        draw_text(
            &mut img,
            &format_tick(yv),
            2,
            (py - 5.0).max(0.0) as usize,
            2,
            axis,
        );
        let xv = x0 + (x1 - x0) * t;
        let (px, _) = to_px((xv, y0));
        draw_line(&mut img, (px, top + ph), (px, top + ph + 4.0), axis);
        let label = format!("{}", xv.round() as i64);
        // Centred under the tick, kept inside the picture (glyphs are 8 px apart at scale 2).
        let lx = (px - label.len() as f64 * 4.0)
            .min((width - label.len() * 8) as f64)
            .max(0.0) as usize;
        draw_text(&mut img, &label, lx, (top + ph + 8.0) as usize, 2, axis);
    }
    let raw = [170, 200, 240];
    for w in finite.windows(2) {
        draw_line(&mut img, to_px(w[0]), to_px(w[1]), raw);
    }
    let window = (finite.len() / 25).max(1);
    let smooth: Vec<(f64, f64)> = (0..finite.len())
        .map(|i| {
            let lo = i.saturating_sub(window);
            let hi = (i + window + 1).min(finite.len());
            let mean = finite[lo..hi].iter().map(|p| p.1).sum::<f64>() / (hi - lo) as f64;
            (finite[i].0, mean)
        })
        .collect();
    for w in smooth.windows(2) {
        draw_line(&mut img, to_px(w[0]), to_px(w[1]), [20, 60, 160]);
    }
    img
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn grid_places_cells_with_gaps() {
        let a = RgbImage::filled(2, 2, [255, 0, 0]);
        let b = RgbImage::filled(2, 2, [0, 255, 0]);
        let g = grid(&[a, b.clone(), b], 2, 1, [0, 0, 0]);
        assert_eq!((g.width, g.height), (7, 7));
        let px = |x: usize, y: usize| &g.data[(y * g.width + x) * 3..(y * g.width + x) * 3 + 3];
        assert_eq!(px(1, 1), [255, 0, 0]);
        assert_eq!(px(4, 1), [0, 255, 0]);
        assert_eq!(px(1, 4), [0, 255, 0]);
        assert_eq!(px(0, 0), [0, 0, 0]);
        assert_eq!(px(4, 4), [0, 0, 0]); // empty fourth cell
    }

    #[test]
    fn png_encoding_round_trips() {
        let img = RgbImage::from_rgb(3, 1, vec![1, 2, 3, 4, 5, 6, 7, 8, 9]).unwrap();
        let bytes = img.encode_png();
        let dec = png::Decoder::new(std::io::Cursor::new(bytes));
        let mut reader = dec.read_info().unwrap();
        let mut buf = vec![0; reader.output_buffer_size()];
        reader.next_frame(&mut buf).unwrap();
        assert_eq!(&buf[..9], &img.data[..]);
    }

    #[test]
    fn atomic_write_leaves_no_temp_file() {
        let dir = std::env::temp_dir().join(format!("cimle-pic-{}", std::process::id()));
        let path = dir.join("a.bin");
        write_atomic(&path, b"hello").unwrap();
        write_atomic(&path, b"world").unwrap();
        assert_eq!(std::fs::read(&path).unwrap(), b"world");
        let names: Vec<_> = std::fs::read_dir(&dir).unwrap().collect();
        assert_eq!(names.len(), 1);
        std::fs::remove_dir_all(dir).unwrap();
    }

    #[test]
    fn chart_draws_the_curve_inside_the_axes() {
        let pts: Vec<(f64, f64)> = (0..100)
            .map(|i| (i as f64, 100.0 / (i as f64 + 1.0)))
            .collect();
        let img = line_chart(&pts, 320, 200);
        let blue = img.data.chunks(3).filter(|p| p == &[20, 60, 160]).count();
        assert!(blue > 100, "{blue}");
    }
}
