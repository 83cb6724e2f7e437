//! Padded channels-last feature maps (see the [module docs](super)).
//!
//! ```text
//! one map of h x w pixels, c channels, in a (h + 2) x (w + 2) grid of pixels:
//!
//!   0 0 0 0 0 0        pixel (y, x) of sample s is at flat index
//!   0 a b c d 0          s · plane + (y + 1) · pw + (x + 1),   pw = w + 2, plane = (h + 2) · pw
//!   0 e f g h 0        and its c channels are the numbers [index · c, index · c + c)
//!   0 0 0 0 0 0
//! ```

/// The geometry of a batch of `n` maps of `h x w` pixels, each with a one-pixel zero border.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Grid {
    /// Samples.
    pub n: usize,
    /// Rows of each map (without the border).
    pub h: usize,
    /// Columns of each map (without the border).
    pub w: usize,
}

impl Grid {
    /// `n` maps of `h x w`.
    pub fn new(n: usize, h: usize, w: usize) -> Self {
        Self { n, h, w }
    }

    /// Pixels in a padded row: `w + 2`.
    pub fn pw(&self) -> usize {
        self.w + 2
    }

    /// Pixels in one padded map: `(h + 2) (w + 2)`.
    pub fn plane(&self) -> usize {
        (self.h + 2) * (self.w + 2)
    }

    /// Pixels of the whole buffer, borders included.
    pub fn pixels(&self) -> usize {
        self.n * self.plane()
    }

    /// Interior pixels of one map: `h w`.
    pub fn area(&self) -> usize {
        self.h * self.w
    }

    /// Flat pixel index of interior pixel `(y, x)` of sample `s`.
    pub fn at(&self, s: usize, y: usize, x: usize) -> usize {
        s * self.plane() + (y + 1) * self.pw() + x + 1
    }

    /// The smallest run of consecutive pixels that holds every interior pixel of every sample:
    /// `(first, count)`. Convolutions compute exactly this run; the border pixels inside it get
    /// values that the next pass overwrites with zeros.
    pub fn span(&self) -> (usize, usize) {
        if self.n == 0 || self.h == 0 || self.w == 0 {
            return (0, 0);
        }
        let first = self.at(0, 0, 0);
        let last = self.at(self.n - 1, self.h - 1, self.w - 1);
        (first, last - first + 1)
    }

    /// The same samples at half the size (2x2 pooling).
    pub fn half(&self) -> Grid {
        Grid::new(self.n, self.h / 2, self.w / 2)
    }

    /// The same size with another sample count.
    pub fn with_n(&self, n: usize) -> Grid {
        Grid::new(n, self.h, self.w)
    }
}

/// A batch of feature maps: a [`Grid`] of pixels, `c` contiguous channels each.
#[derive(Debug, Clone, PartialEq)]
pub struct Map {
    /// The pixel geometry.
    pub grid: Grid,
    /// Channels per pixel.
    pub c: usize,
    /// `grid.pixels() * c` numbers; zero on the border.
    pub data: Vec<f32>,
}

impl Map {
    /// All zeros.
    pub fn zeros(grid: Grid, c: usize) -> Self {
        Self {
            grid,
            c,
            data: vec![0.0; grid.pixels() * c],
        }
    }

    /// From `[n, c, h, w]` channel-major numbers (burn's layout).
    pub fn from_nchw(values: &[f32], [n, c, h, w]: [usize; 4]) -> Self {
        let mut map = Map::zeros(Grid::new(n, h, w), c);
        map.write_nchw(values, 0, c);
        map
    }

    /// Writes `[n, k, h, w]` channel-major numbers into channels `offset..offset + k`.
    pub fn write_nchw(&mut self, values: &[f32], offset: usize, k: usize) {
        let g = self.grid;
        let (c, plane) = (self.c, g.area());
        assert!(offset + k <= c && values.len() == g.n * k * plane);
        for s in 0..g.n {
            for ch in 0..k {
                let src = &values[(s * k + ch) * plane..][..plane];
                for y in 0..g.h {
                    let row = g.at(s, y, 0);
                    for x in 0..g.w {
                        self.data[(row + x) * c + offset + ch] = src[y * g.w + x];
                    }
                }
            }
        }
    }

    /// `[n, c, h, w]` channel-major numbers (burn's layout).
    pub fn to_nchw(&self) -> Vec<f32> {
        let g = self.grid;
        let (c, plane) = (self.c, g.area());
        let mut out = vec![0.0; g.n * c * plane];
        for s in 0..g.n {
            for y in 0..g.h {
                let row = g.at(s, y, 0);
                for x in 0..g.w {
                    let px = &self.data[(row + x) * c..][..c];
                    for (ch, &v) in px.iter().enumerate() {
                        out[(s * c + ch) * plane + y * g.w + x] = v;
                    }
                }
            }
        }
        out
    }

    /// The interior pixels of row `y` of sample `s`: `w * c` numbers.
    pub fn row(&self, s: usize, y: usize) -> &[f32] {
        let start = self.grid.at(s, y, 0) * self.c;
        &self.data[start..start + self.grid.w * self.c]
    }

    /// Mutable [`Map::row`].
    pub fn row_mut(&mut self, s: usize, y: usize) -> &mut [f32] {
        let start = self.grid.at(s, y, 0) * self.c;
        let len = self.grid.w * self.c;
        &mut self.data[start..start + len]
    }

    /// Sample `s` alone, as a map of batch 1.
    pub fn sample(&self, s: usize) -> Map {
        let plane = self.grid.plane() * self.c;
        Map {
            grid: self.grid.with_n(1),
            c: self.c,
            data: self.data[s * plane..(s + 1) * plane].to_vec(),
        }
    }

    /// The maps of `samples` one after another.
    pub fn concat(samples: &[&Map]) -> Map {
        let first = samples.first().expect("at least one map");
        let mut data = Vec::with_capacity(samples.iter().map(|m| m.data.len()).sum());
        let mut n = 0;
        for m in samples {
            assert_eq!(
                (m.grid.h, m.grid.w, m.c),
                (first.grid.h, first.grid.w, first.c)
            );
            data.extend_from_slice(&m.data);
            n += m.grid.n;
        }
        Map {
            grid: first.grid.with_n(n),
            c: first.c,
            data,
        }
    }

    /// Writes zeros on every border pixel (all channels).
    pub fn zero_border(&mut self) {
        zero_border(&mut self.data, self.grid, self.c);
    }
}

/// Writes zeros on every border pixel of a `grid` buffer with `c` channels a pixel.
pub fn zero_border(data: &mut [f32], grid: Grid, c: usize) {
    let (pw, ph) = (grid.pw(), grid.h + 2);
    let plane = grid.plane();
    for s in 0..grid.n {
        let base = s * plane;
        // Top and bottom rows.
        data[base * c..(base + pw) * c].fill(0.0);
        data[(base + (ph - 1) * pw) * c..(base + ph * pw) * c].fill(0.0);
        // The right border of row y and the left border of row y + 1 are adjacent.
        for y in 0..=grid.h {
            let right = base + y * pw + pw - 1;
            let end = (right + 2).min(base + plane);
            data[right * c..end * c].fill(0.0);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn nchw_round_trips_and_the_border_is_zero() {
        let dims = [2, 3, 4, 5];
        let values: Vec<f32> = (0..2 * 3 * 4 * 5).map(|i| i as f32 + 1.0).collect();
        let map = Map::from_nchw(&values, dims);
        assert_eq!(map.to_nchw(), values);
        let g = map.grid;
        let mut interior = 0;
        for (p, px) in map.data.chunks(3).enumerate() {
            let (s, r) = (p / g.plane(), p % g.plane());
            let (y, x) = (r / g.pw(), r % g.pw());
            let inside = (1..=g.h).contains(&y) && (1..=g.w).contains(&x);
            assert_eq!(px.iter().all(|&v| v != 0.0), inside, "pixel {s} {y} {x}");
            interior += inside as usize;
        }
        assert_eq!(interior, 2 * 4 * 5);
    }

    #[test]
    fn zero_border_clears_exactly_the_border() {
        let g = Grid::new(2, 3, 4);
        let mut data = vec![1.0f32; g.pixels() * 2];
        zero_border(&mut data, g, 2);
        let zeros = data.iter().filter(|&&v| v == 0.0).count();
        assert_eq!(zeros, (g.pixels() - 2 * g.area()) * 2);
        for s in 0..2 {
            for y in 0..3 {
                for x in 0..4 {
                    assert_eq!(data[g.at(s, y, x) * 2], 1.0);
                }
            }
        }
    }

    #[test]
    fn the_span_covers_every_interior_pixel() {
        let g = Grid::new(3, 4, 6);
        let (first, count) = g.span();
        for s in 0..3 {
            for y in 0..4 {
                for x in 0..6 {
                    let p = g.at(s, y, x);
                    assert!(p >= first && p < first + count);
                }
            }
        }
        assert_eq!(first, g.at(0, 0, 0));
        assert_eq!(first + count - 1, g.at(2, 3, 5));
    }
}
