//! The Gaussian kernel density estimate `D_p` of one class's average colours (scipy's
//! `gaussian_kde` with its defaults: Scott's rule), on 3x3 matrices written out.

use super::RarityError;

/// Added to the diagonal of a class's colour covariance (in squared 0..255 levels, i.e. a spread
/// of one grey level) when that covariance is singular, e.g. when a class has exactly the same
/// average colour in every image or only two or three distinct colours.
pub const COVARIANCE_RIDGE: f64 = 1.0;

/// A Cholesky pivot at or below this fraction of the largest variance means "singular". LAPACK,
/// under scipy, only rejects pivots `<= 0`, which lets rank-deficient sets through with rounding
/// noise as their thinnest variance and meaningless densities.
pub const SINGULAR_TOLERANCE: f64 = 1e-10;

/// Dimension of the colour space.
const D: usize = 3;

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
