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
}

/// How every backend adds up the points of one kernel call: point i of the call goes into the
/// partial sum i mod 4, and the four partials are combined as (s₀ + s₁) + (s₂ + s₃) and added
/// to the running total once, at the end of the call. Compiled code keeps the four partials
/// in the lanes of two `f64x2` registers (four independent additions per step instead of one
/// chain); the reference interpreter and the Rust paths follow the same order, so all agree
/// bit for bit.
#[derive(Clone, Copy, Debug, Default, PartialEq)]
pub struct Partials(pub [f64; 4]);

impl Partials {
    /// Adds point `i`'s term (i counted from the start of the call).
    #[inline]
    pub fn add(&mut self, i: usize, term: f64) {
        self.0[i & 3] += term;
    }

    /// (s₀ + s₁) + (s₂ + s₃).
    #[inline]
    pub fn total(&self) -> f64 {
        let [s0, s1, s2, s3] = self.0;
        (s0 + s1) + (s2 + s3)
    }
}

/// The points of one kernel call summed into [`NormalEquations`] in the order every backend
/// uses ([`Partials`] per slot): build, add every point, then [`PointSums::add_to`].
#[derive(Clone, Debug)]
pub struct PointSums {
    n_params: usize,
    /// Slot by slot: JᵀJ's row a (columns a..p), then Jᵀr's a, for each a; then Σr² (or the
    /// cost). The compiled kernels' slot order.
    slots: Vec<Partials>,
    points: usize,
}

impl PointSums {
    pub fn new(n_params: usize) -> Self {
        let p = n_params;
        PointSums { n_params, slots: vec![Partials::default(); p * (p + 1) / 2 + p + 1], points: 0 }
    }

    /// Adds one point's residual and Jacobian row.
    #[inline]
    pub fn add_point(&mut self, r: f64, row: &[f64]) {
        self.add_point_with_cost(r, row, r * r);
    }

    /// Adds one point's (loss-scaled) residual and row, and its cost term f_scale²·ρ in
    /// place of r².
    pub fn add_point_with_cost(&mut self, r: f64, row: &[f64], cost: f64) {
        let (p, i) = (self.n_params, self.points);
        let mut k = 0;
        for a in 0..p {
            for b in a..p {
                self.slots[k].add(i, row[a] * row[b]);
                k += 1;
            }
            self.slots[k].add(i, row[a] * r);
            k += 1;
        }
        self.slots[k].add(i, cost);
        self.points += 1;
    }

    /// Adds the call's totals to `acc`.
    pub fn add_to(&self, acc: &mut NormalEquations) {
        let p = self.n_params;
        let mut k = 0;
        for a in 0..p {
            for b in a..p {
                acc.jtj[a * p + b] += self.slots[k].total();
                k += 1;
            }
            acc.jtr[a] += self.slots[k].total();
            k += 1;
        }
        acc.rss += self.slots[k].total();
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
