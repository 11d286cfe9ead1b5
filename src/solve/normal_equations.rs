//! JᵀJ, Jᵀr and Σr² of a least-squares problem: what the streamed path accumulates instead of
//! storing J. The solver's vocabulary; backends and problems add into it.

/// Accumulated normal equations of a least-squares problem with p parameters.
#[derive(Clone, Debug, PartialEq)]
pub struct NormalEquations {
    pub n_params: usize,
    /// JᵀJ, p×p row-major; only the upper triangle (row ≤ column) is accumulated.
    pub jtj: Vec<f64>,
    /// Jᵀr.
    pub jtr: Vec<f64>,
    /// Σ r².
    pub rss: f64,
}

impl NormalEquations {
    pub fn zeros(n_params: usize) -> Self {
        NormalEquations { n_params, jtj: vec![0.0; n_params * n_params], jtr: vec![0.0; n_params], rss: 0.0 }
    }

    /// Adds another accumulation (e.g. another chunk's) to this one.
    pub fn add(&mut self, other: &NormalEquations) {
        for (a, b) in self.jtj.iter_mut().zip(&other.jtj) {
            *a += b;
        }
        for (a, b) in self.jtr.iter_mut().zip(&other.jtr) {
            *a += b;
        }
        self.rss += other.rss;
    }

    /// Adds one point's (loss-scaled) residual and row, and its cost term f_scale²·ρ to `rss`.
    pub fn add_point_with_cost(&mut self, r: f64, row: &[f64], cost: f64) {
        let p = self.n_params;
        for a in 0..p {
            for b in a..p {
                self.jtj[a * p + b] += row[a] * row[b];
            }
            self.jtr[a] += row[a] * r;
        }
        self.rss += cost;
    }

    /// Adds one point's residual and Jacobian row, in the order every backend uses.
    pub fn add_point(&mut self, r: f64, row: &[f64]) {
        let p = self.n_params;
        for a in 0..p {
            for b in a..p {
                self.jtj[a * p + b] += row[a] * row[b];
            }
            self.jtr[a] += row[a] * r;
        }
        self.rss += r * r;
    }
}

/// Cholesky factorization in place of a symmetric positive definite n × n matrix (lower
/// triangle used and overwritten). False when not positive definite.
pub fn cholesky(a: &mut [f64], n: usize) -> bool {
    cholesky_with_floor(a, n, 0.0)
}

/// [`cholesky`], failing also where a pivot is at most `floor` times its own diagonal element
/// (the share of that variable's information the ones before it do not explain: a
/// scale-free test of rank).
pub fn cholesky_with_floor(a: &mut [f64], n: usize, floor: f64) -> bool {
    for j in 0..n {
        let diagonal = a[j * n + j];
        let mut d = diagonal;
        for k in 0..j {
            d -= a[j * n + k] * a[j * n + k];
        }
        if d.is_nan() || d <= floor * diagonal || d <= 0.0 || !d.is_finite() {
            return false;
        }
        let d = d.sqrt();
        a[j * n + j] = d;
        for i in j + 1..n {
            let mut s = a[i * n + j];
            for k in 0..j {
                s -= a[i * n + k] * a[j * n + k];
            }
            a[i * n + j] = s / d;
        }
    }
    true
}

/// The inverse (n × n, row-major) of the matrix whose factor [`cholesky`] left in `l`.
pub fn cholesky_inverse(l: &[f64], n: usize) -> Vec<f64> {
    let mut inverse = vec![0.0; n * n];
    let mut column = vec![0.0; n];
    for c in 0..n {
        column.fill(0.0);
        column[c] = 1.0;
        cholesky_solve(l, n, &mut column);
        for r in 0..n {
            inverse[r * n + c] = column[r];
        }
    }
    inverse
}

/// Solves L Lᵀ x = b in place, L from [`cholesky`].
pub fn cholesky_solve(l: &[f64], n: usize, b: &mut [f64]) {
    for i in 0..n {
        let mut s = b[i];
        for k in 0..i {
            s -= l[i * n + k] * b[k];
        }
        b[i] = s / l[i * n + i];
    }
    for i in (0..n).rev() {
        let mut s = b[i];
        for k in i + 1..n {
            s -= l[k * n + i] * b[k];
        }
        b[i] = s / l[i * n + i];
    }
}
