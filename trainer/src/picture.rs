//! Pictures a person looks at: sample grids, labelled rows, loss curves and bar charts, as PNG.

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

/// Lays out cells (all of one size) in rows of `columns`, with a `gap`-pixel border.
pub fn grid(cells: &[RgbImage], columns: usize, gap: usize, background: [u8; 3]) -> RgbImage {
    let (cw, ch) = cells.first().map_or((1, 1), |c| (c.width, c.height));
    let mut out = GridCanvas::new(
        GridShape {
            cells: cells.len(),
            columns,
            cell_width: cw,
            cell_height: ch,
            gap,
        },
        background,
    );
    for cell in cells {
        out.push(cell);
    }
    out.finish()
}

/// The geometry of a [`grid`]: `cells` cells of one size in rows of `columns`, `gap` pixels
/// apart and from the border.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct GridShape {
    pub cells: usize,
    pub columns: usize,
    pub cell_width: usize,
    pub cell_height: usize,
    pub gap: usize,
}

impl GridShape {
    /// `(width, height)` of the picture, or `None` if it does not fit a `usize`.
    pub fn size(&self) -> Option<(usize, usize)> {
        let columns = self.columns.max(1);
        let rows = self.cells.div_ceil(columns).max(1);
        let side = |n: usize, cell: usize| {
            cell.checked_add(self.gap)?
                .checked_mul(n)?
                .checked_add(self.gap)
        };
        Some((
            side(columns, self.cell_width)?,
            side(rows, self.cell_height)?,
        ))
    }
}

/// A [`grid`] filled one cell at a time, so the cells need not all be held at once.
#[derive(Debug, Clone)]
pub struct GridCanvas {
    shape: GridShape,
    image: RgbImage,
    next: usize,
}

impl GridCanvas {
    /// An empty grid of `shape` (whose size must fit memory: check [`GridShape::size`] first).
    pub fn new(shape: GridShape, background: [u8; 3]) -> Self {
        let shape = GridShape {
            columns: shape.columns.max(1),
            ..shape
        };
        let (width, height) = shape.size().unwrap_or((0, 0));
        Self {
            shape,
            image: RgbImage::filled(width, height, background),
            next: 0,
        }
    }

    /// Places `cell` in the next free slot (cells past the last slot are clipped away).
    pub fn push(&mut self, cell: &RgbImage) {
        let GridShape {
            columns,
            cell_width: cw,
            cell_height: ch,
            gap,
            ..
        } = self.shape;
        let (r, c) = (self.next / columns, self.next % columns);
        self.image
            .blit(cell, gap + c * (cw + gap), gap + r * (ch + gap));
        self.next += 1;
    }

    /// The picture.
    pub fn finish(self) -> RgbImage {
        self.image
    }
}

/// 3x5 bitmap glyphs for the characters plots and labels need: digits, `.`, `-`, a small `e`
/// (for exponents), the letters (lower case drawn as capitals) and a little punctuation.
/// Anything else is blank.
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
        ':' => [0, 0b010, 0, 0b010, 0],
        ',' => [0, 0, 0, 0b010, 0b100],
        '/' => [0b001, 0b001, 0b010, 0b100, 0b100],
        '(' => [0b010, 0b100, 0b100, 0b100, 0b010],
        ')' => [0b010, 0b001, 0b001, 0b001, 0b010],
        '_' => [0, 0, 0, 0, 0b111],
        '+' => [0, 0b010, 0b111, 0b010, 0],
        '=' => [0, 0b111, 0, 0b111, 0],
        '%' => [0b101, 0b001, 0b010, 0b100, 0b101],
        'A' => [0b010, 0b101, 0b111, 0b101, 0b101],
        'B' => [0b110, 0b101, 0b110, 0b101, 0b110],
        'C' => [0b011, 0b100, 0b100, 0b100, 0b011],
        'D' => [0b110, 0b101, 0b101, 0b101, 0b110],
        'E' => [0b111, 0b100, 0b110, 0b100, 0b111],
        'F' => [0b111, 0b100, 0b110, 0b100, 0b100],
        'G' => [0b011, 0b100, 0b101, 0b101, 0b011],
        'H' => [0b101, 0b101, 0b111, 0b101, 0b101],
        'I' => [0b111, 0b010, 0b010, 0b010, 0b111],
        'J' => [0b001, 0b001, 0b001, 0b101, 0b010],
        'K' => [0b101, 0b101, 0b110, 0b101, 0b101],
        'L' => [0b100, 0b100, 0b100, 0b100, 0b111],
        'M' => [0b101, 0b111, 0b111, 0b101, 0b101],
        'N' => [0b110, 0b101, 0b101, 0b101, 0b101],
        'O' => [0b010, 0b101, 0b101, 0b101, 0b010],
        'P' => [0b110, 0b101, 0b110, 0b100, 0b100],
        'Q' => [0b010, 0b101, 0b101, 0b110, 0b011],
        'R' => [0b110, 0b101, 0b110, 0b101, 0b101],
        'S' => [0b011, 0b100, 0b010, 0b001, 0b110],
        'T' => [0b111, 0b010, 0b010, 0b010, 0b010],
        'U' => [0b101, 0b101, 0b101, 0b101, 0b111],
        'V' => [0b101, 0b101, 0b101, 0b101, 0b010],
        'W' => [0b101, 0b101, 0b111, 0b111, 0b101],
        'X' => [0b101, 0b101, 0b010, 0b101, 0b101],
        'Y' => [0b101, 0b101, 0b010, 0b010, 0b010],
        'Z' => [0b111, 0b001, 0b010, 0b100, 0b111],
        c if c.is_ascii_lowercase() => glyph(c.to_ascii_uppercase()),
        _ => [0; 5],
    }
}

/// Width in pixels of `text` drawn by [`draw_text`] at `scale` (4 pixels a character at scale 1,
/// the last one's spacing included).
pub fn text_width(text: &str, scale: usize) -> usize {
    text.chars().count() * 4 * scale
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

/// Rows of equally sized cells, each row with a text label on its left: `rows[i] = (label,
/// cells)`. Rows may hold different numbers of cells; cells keep their own sizes and a row is as
/// tall as its tallest cell. Labels are drawn in capitals at scale 2 in `ink`.
pub fn labelled_rows(
    rows: &[(String, Vec<RgbImage>)],
    gap: usize,
    background: [u8; 3],
    ink: [u8; 3],
) -> RgbImage {
    const SCALE: usize = 2;
    let label_w = rows
        .iter()
        .map(|(l, _)| text_width(l, SCALE))
        .max()
        .unwrap_or(0)
        + 2 * gap;
    let row_w = |cells: &[RgbImage]| cells.iter().map(|c| c.width + gap).sum::<usize>();
    let row_h = |cells: &[RgbImage]| {
        cells
            .iter()
            .map(|c| c.height)
            .max()
            .unwrap_or(0)
            .max(5 * SCALE)
    };
    let width = label_w + rows.iter().map(|(_, c)| row_w(c)).max().unwrap_or(0) + gap;
    let height = rows.iter().map(|(_, c)| row_h(c) + gap).sum::<usize>() + gap;
    let mut out = RgbImage::filled(width.max(1), height.max(1), background);
    let mut y = gap;
    for (label, cells) in rows {
        let h = row_h(cells);
        draw_text(
            &mut out,
            &label.to_uppercase(),
            gap,
            y + (h - 5 * SCALE) / 2,
            SCALE,
            ink,
        );
        let mut x = label_w;
        for cell in cells {
            out.blit(cell, x, y);
            x += cell.width + gap;
        }
        y += h + gap;
    }
    out
}

/// Colours of [`bar_chart`]'s bars, in order.
pub const BAR_COLORS: [[u8; 3]; 6] = [
    [31, 119, 180],
    [255, 127, 14],
    [44, 160, 44],
    [214, 39, 40],
    [148, 103, 189],
    [140, 86, 75],
];

/// A bar chart: `title` on top, one bar per `(label, value)` from a zero baseline (negative values
/// and `None` draw no bar; `None` is labelled `n/a`), each value written above its bar and each
/// label below it (title and labels in capitals), bars coloured by [`BAR_COLORS`] in turn. The bar
/// area is `plot_height` pixels tall; the width follows from the longest label.
pub fn bar_chart(title: &str, bars: &[(String, Option<f64>)], plot_height: usize) -> RgbImage {
    const SCALE: usize = 2;
    let (margin, gap) = (16usize, 12usize);
    let slot = bars
        .iter()
        .map(|(l, _)| text_width(l, SCALE))
        .max()
        .unwrap_or(0)
        .max(12 * 4 * SCALE)
        + gap;
    let text_h = 5 * SCALE;
    let top = margin + text_h + margin + text_h + 4; // title, then room for the top value
    let width = (2 * margin + bars.len() * slot).max(2 * margin + text_width(title, SCALE));
    let height = top + plot_height + 6 + text_h + margin;
    let mut img = RgbImage::filled(width, height, [255, 255, 255]);
    let ink = [40, 40, 40];
    draw_text(&mut img, &title.to_uppercase(), margin, margin, SCALE, ink);
    let base = top + plot_height;
    let max = bars
        .iter()
        .filter_map(|b| b.1)
        .filter(|v| v.is_finite())
        .fold(0.0f64, f64::max);
    let max = if max > 0.0 { max } else { 1.0 };
    for (i, (label, value)) in bars.iter().enumerate() {
        let x0 = margin + i * slot;
        let bar_w = slot - gap;
        let v = value.filter(|v| v.is_finite());
        let bar_h = v.map_or(0, |v| {
            ((v.max(0.0) / max) * plot_height as f64).round() as usize
        });
        let color = BAR_COLORS[i % BAR_COLORS.len()];
        for y in base - bar_h..base {
            for x in x0..x0 + bar_w {
                img.put(x, y, color);
            }
        }
        let text = v.map_or_else(|| "n/a".to_string(), |v| format!("{v:.3}"));
        let tx = x0 + bar_w.saturating_sub(text_width(&text, SCALE)) / 2;
        draw_text(&mut img, &text, tx, base - bar_h - text_h - 4, SCALE, ink);
        let lx = x0 + bar_w.saturating_sub(text_width(label, SCALE)) / 2;
        draw_text(&mut img, &label.to_uppercase(), lx, base + 6, SCALE, ink);
    }
    draw_line(
        &mut img,
        (margin as f64 - 4.0, base as f64),
        ((width - margin) as f64, base as f64),
        ink,
    );
    img
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

/// A tick label for `v` on an axis whose ticks are `step` apart: as many decimals as the step
/// needs, so that neighbouring ticks never read the same (16.25 and 16.5, not 16 and 16).
fn format_tick(v: f64, step: f64) -> String {
    if v != 0.0 && (v.abs() >= 1e4 || v.abs() < 1e-3) {
        return format!("{v:.1e}");
    }
    let decimals = if step > 0.0 && step.is_finite() {
        ((-step.log10()).ceil() + 1.0).clamp(0.0, 4.0) as usize
    } else {
        2
    };
    format!("{v:.decimals$}")
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
            &format_tick(yv, (y1 - y0) / 4.0),
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
    fn neighbouring_ticks_read_differently() {
        let (lo, hi) = (15.88, 17.50);
        let step = (hi - lo) / 4.0;
        let labels: Vec<String> = (0..=4)
            .map(|i| format_tick(lo + step * i as f64, step))
            .collect();
        for w in labels.windows(2) {
            assert_ne!(w[0], w[1], "{labels:?}");
        }
        assert_eq!(format_tick(0.75, 0.25), "0.75");
        assert_eq!(format_tick(1500.0, 250.0), "1500");
    }

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
    fn bar_heights_follow_the_values() {
        let bars = vec![
            ("a".to_string(), Some(1.0)),
            ("bb".to_string(), Some(0.5)),
            ("c".to_string(), None),
        ];
        let img = bar_chart("test", &bars, 100);
        let count = |color: [u8; 3]| img.data.chunks(3).filter(|p| *p == color).count();
        let (a, b, c) = (
            count(BAR_COLORS[0]),
            count(BAR_COLORS[1]),
            count(BAR_COLORS[2]),
        );
        assert!(a > 0 && c == 0, "{a} {c}");
        // Same bar width, half the height.
        assert_eq!(a, 2 * b);
    }

    #[test]
    fn letters_are_drawn_and_labelled_rows_hold_every_cell() {
        let mut img = RgbImage::filled(40, 7, [0, 0, 0]);
        draw_text(&mut img, "crn", 0, 0, 1, [255, 255, 255]);
        assert!(img.data.contains(&255));
        assert_eq!(text_width("crn", 2), 24);
        let cell = RgbImage::filled(4, 3, [9, 9, 9]);
        let rows = vec![
            ("a".to_string(), vec![cell.clone(), cell.clone()]),
            ("bcd".to_string(), vec![cell.clone()]),
        ];
        let out = labelled_rows(&rows, 2, [255, 255, 255], [0, 0, 0]);
        let cells = out.data.chunks(3).filter(|p| *p == [9, 9, 9]).count();
        assert_eq!(cells, 3 * 12);
        // Label column: "bcd" at scale 2 plus a gap each side, then two cells and gaps.
        assert_eq!(out.width, 24 + 4 + 2 * (4 + 2) + 2);
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
