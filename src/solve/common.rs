//! The trust-region machinery shared by TRF and LM, after scipy's `optimize/_lsq/common.py`:
//! the exact subproblem by SVD, quadratic models, step-to-bound geometry, Coleman–Li
//! scaling and the termination tests.

use faer::Mat;

/// The SVD pieces a trust-region subproblem needs: J = U·diag(s)·Vᵀ and uf = Uᵀf.
pub struct SvdParts {
    pub s: Vec<f64>,
    /// V, n × k, column-major: `v[c * n + row]`.
    pub v: Vec<f64>,
    pub uf: Vec<f64>,
    pub n: usize,
}

/// SVD of `a` (dense, column-major via faer) and Uᵀf. `None` if the SVD did not converge.
pub fn svd_parts(a: &Mat<f64>, f: &[f64]) -> Option<SvdParts> {
    let (m, n) = (a.nrows(), a.ncols());
    let svd = a.thin_svd().ok()?;
    let k = m.min(n);
    let s: Vec<f64> = (0..k).map(|i| svd.S().column_vector()[i]).collect();
    let u = svd.U();
    let uf: Vec<f64> = (0..k).map(|c| (0..m).map(|r| u[(r, c)] * f[r]).sum()).collect();
    let vm = svd.V();
    let mut v = vec![0.0; n * k];
    for c in 0..k {
        for r in 0..n {
            v[c * n + r] = vm[(r, c)];
        }
    }
    Some(SvdParts { s, v, uf, n })
}

impl SvdParts {
    /// V·w for w of length k.
    pub(crate) fn v_times(&self, w: &[f64]) -> Vec<f64> {
        let mut out = Vec::new();
        self.v_combination_into(&mut out, w.len(), |c| w[c]);
        out
    }

    /// V·w into `out` (resized to n), w_c = `weight(c)` for c < `k`: no vector w.
    pub(crate) fn v_combination_into(&self, out: &mut Vec<f64>, k: usize, weight: impl Fn(usize) -> f64) {
        out.clear();
        out.resize(self.n, 0.0);
        for c in 0..k {
            let wc = weight(c);
            for (o, v) in out.iter_mut().zip(&self.v[c * self.n..(c + 1) * self.n]) {
                *o += v * wc;
            }
        }
    }
}

/// The Jacobian as the solver holds it: dense (row-major m × n), or only its Gram matrix JᵀJ
/// (n × n, full) for problems whose J is never stored.
#[derive(Clone, Copy)]
pub enum Jac<'a> {
    Dense { j: &'a [f64], m: usize, n: usize },
    Gram { jtj: &'a [f64], m: usize, n: usize },
}

impl Jac<'_> {
    pub fn n(&self) -> usize {
        match self {
            Jac::Dense { n, .. } | Jac::Gram { n, .. } => *n,
        }
    }

    pub fn m(&self) -> usize {
        match self {
            Jac::Dense { m, .. } | Jac::Gram { m, .. } => *m,
        }
    }

    /// (J·diag(d)·u) · (J·diag(d)·v).
    pub fn quad(&self, d: &[f64], u: &[f64], v: &[f64]) -> f64 {
        match *self {
            Jac::Dense { j, m, n } => {
                // dot(J·diag(d)·u, J·diag(d)·v) row by row, without the two m-vectors (and one
                // product per row when u is v, as in every quadratic model's value).
                let same = std::ptr::eq(u, v);
                let row_times = |row: &[f64], s: &[f64]| (0..n).map(|k| row[k] * d[k] * s[k]).sum::<f64>();
                j[..m * n]
                    .chunks_exact(n)
                    .map(|row| {
                        let a = row_times(row, u);
                        a * if same { a } else { row_times(row, v) }
                    })
                    .sum()
            }
            Jac::Gram { jtj, n, .. } => {
                let mut total = 0.0;
                for a in 0..n {
                    let mut row = 0.0;
                    for b in 0..n {
                        row += jtj[a * n + b] * d[b] * v[b];
                    }
                    total += d[a] * u[a] * row;
                }
                total
            }
        }
    }

    /// ‖J e_k‖ for every column k.
    pub fn column_norms(&self) -> Vec<f64> {
        let mut norms = Vec::new();
        self.column_norms_into(&mut norms);
        norms
    }

    /// [`Jac::column_norms`] into `out` (a buffer the caller reuses).
    pub fn column_norms_into(&self, out: &mut Vec<f64>) {
        match *self {
            Jac::Dense { j, m, n } => {
                column_sums(j, m, n, |v, _| v * v, out);
                for v in out.iter_mut() {
                    *v = v.sqrt();
                }
            }
            Jac::Gram { jtj, n, .. } => {
                out.clear();
                out.extend((0..n).map(|k| jtj[k * n + k].max(0.0).sqrt()));
            }
        }
    }

    /// The SVD pieces of A = [J·diag(col); diag(√extra)] against [f; 0], where `jtf` = Jᵀf
    /// (used on the Gram path: Uᵀ[f; 0] = S⁻¹·Vᵀ·(col ∘ Jᵀf)).
    pub fn svd_parts(&self, col: &[f64], extra: Option<&[f64]>, f: &[f64], jtf: &[f64]) -> Option<SvdParts> {
        self.svd_parts_in(col, extra, f, jtf, &mut SvdScratch::default())
    }

    /// [`Jac::svd_parts`] with the copies of A and f in `scratch`: a solver passes the same one
    /// every iteration, so that the m-long buffers are allocated once per fit.
    pub fn svd_parts_in(
        &self,
        col: &[f64],
        extra: Option<&[f64]>,
        f: &[f64],
        jtf: &[f64],
        scratch: &mut SvdScratch,
    ) -> Option<SvdParts> {
        let n = self.n();
        match *self {
            Jac::Dense { j, m, .. } if n <= SMALL_SVD_MAX_N && m >= n => {
                // Column-major copy of [J·diag(col); diag(√extra)].
                let rows = if extra.is_some() { m + n } else { m };
                let SvdScratch { a, f: f_aug, work } = scratch;
                a.clear();
                a.resize(rows * n, 0.0);
                for (k, column) in a.chunks_exact_mut(rows).enumerate() {
                    let scale = col[k];
                    // The k-th entry of every row.
                    for (t, row) in column[..m].iter_mut().zip(j.chunks_exact(n)) {
                        *t = row[k] * scale;
                    }
                    if let Some(e) = extra {
                        column[m + k] = e[k].sqrt();
                    }
                }
                f_aug.clear();
                f_aug.extend_from_slice(f);
                f_aug.resize(rows, 0.0);
                small_svd_parts(a, rows, n, f_aug, work)
            }
            Jac::Dense { j, m, .. } => {
                let rows = if extra.is_some() { m + n } else { m };
                let a = Mat::from_fn(rows, n, |i, k| {
                    if i < m {
                        j[i * n + k] * col[k]
                    } else if i - m == k {
                        extra.map_or(0.0, |e| e[k].sqrt())
                    } else {
                        0.0
                    }
                });
                let mut f_aug = f.to_vec();
                f_aug.resize(rows, 0.0);
                svd_parts(&a, &f_aug)
            }
            Jac::Gram { jtj, .. } => {
                let g = Mat::from_fn(n, n, |a, b| {
                    col[a] * jtj[a * n + b] * col[b] + if a == b { extra.map_or(0.0, |e| e[a]) } else { 0.0 }
                });
                let eigen = g.self_adjoint_eigen(faer::Side::Lower).ok()?;
                let (values, vectors) = (eigen.S().column_vector(), eigen.U());
                // Descending order, as from an SVD.
                let order: Vec<usize> = (0..n).rev().collect();
                let s: Vec<f64> = order.iter().map(|k| values[*k].max(0.0).sqrt()).collect();
                let scaled_g: Vec<f64> = (0..n).map(|k| col[k] * jtf[k]).collect();
                let mut v = vec![0.0; n * n];
                let mut uf = vec![0.0; n];
                for (c, k) in order.iter().enumerate() {
                    let mut proj = 0.0;
                    for r in 0..n {
                        v[c * n + r] = vectors[(r, *k)];
                        proj += vectors[(r, *k)] * scaled_g[r];
                    }
                    uf[c] = if s[c] > 0.0 { proj / s[c] } else { 0.0 };
                }
                Some(SvdParts { s, v, uf, n })
            }
        }
    }
}

/// The buffers of [`Jac::svd_parts_in`]: the column-major copy of the scaled J and of f, and
/// the small SVD's own.
#[derive(Default)]
pub struct SvdScratch {
    a: Vec<f64>,
    f: Vec<f64>,
    work: SvdWork,
}

impl SvdScratch {
    /// Hands back the last iteration's SVD, for the next one to fill.
    pub fn recycle(&mut self, parts: SvdParts) {
        self.work.spare = Some(parts);
    }
}

/// The small SVD's buffers: R (then W), V, the singular values and their order, and an
/// `SvdParts` done with.
#[derive(Default)]
struct SvdWork {
    r: Vec<f64>,
    v: Vec<f64>,
    sigma: Vec<f64>,
    order: Vec<usize>,
    spare: Option<SvdParts>,
}

/// Up to this many columns, the SVD is a Householder QR followed by a one-sided Jacobi SVD of
/// the small R: several times faster than a general SVD for the tall, narrow Jacobians of
/// curve fitting (measured in `benches/fit.rs`), and as accurate.
pub(crate) const SMALL_SVD_MAX_N: usize = 12;

/// Householder QR of a tall `rows × n` matrix `a` (column-major) in place: R in its upper
/// triangle (zeros below), and Qᵀf in `f` when given.
pub(crate) fn householder_qr(a: &mut [f64], rows: usize, n: usize, mut f: Option<&mut [f64]>) {
    for k in 0..n {
        let column = k * rows;
        let x_norm = column_norm(&a[column + k..column + rows]);
        if x_norm == 0.0 {
            continue;
        }
        let alpha = if a[column + k] > 0.0 { -x_norm } else { x_norm };
        // v = x − α e₁, stored in place of x; H = I − 2vvᵀ/vᵀv.
        a[column + k] -= alpha;
        // The later columns lie after this one: borrow v and them apart.
        let (head, later) = a.split_at_mut(column + rows);
        let v = &head[column + k..];
        let v_norm2 = sum_squares(v);
        if v_norm2 == 0.0 {
            a[column + k] += alpha;
            continue;
        }
        for c in k + 1..n {
            let start = (c - k - 1) * rows + k;
            let target = &mut later[start..start + rows - k];
            let scale = 2.0 * dot(v, target) / v_norm2;
            for (t, vi) in target.iter_mut().zip(v) {
                *t -= scale * vi;
            }
        }
        if let Some(f) = f.as_deref_mut() {
            let scale = 2.0 * dot(v, &f[k..]) / v_norm2;
            for (t, vi) in f[k..].iter_mut().zip(v) {
                *t -= scale * vi;
            }
        }
        a[column + k] = alpha;
        for t in &mut a[column + k + 1..column + rows] {
            *t = 0.0;
        }
    }
}

/// R (n × n, column-major, zeros below the diagonal) from `householder_qr`'s result.
pub(crate) fn r_factor(a: &[f64], rows: usize, n: usize) -> Vec<f64> {
    let mut r = Vec::new();
    r_factor_into(a, rows, n, &mut r);
    r
}

/// [`r_factor`] into `r` (resized to n × n).
fn r_factor_into(a: &[f64], rows: usize, n: usize, r: &mut Vec<f64>) {
    r.clear();
    r.resize(n * n, 0.0);
    for c in 0..n {
        r[c * n..c * n + c + 1].copy_from_slice(&a[c * rows..c * rows + c + 1]);
    }
}

/// The singular values of a one-sided Jacobi result (its columns' norms) and the columns'
/// order by decreasing value.
pub(crate) fn singular_values(w: &[f64], n: usize) -> (Vec<f64>, Vec<usize>) {
    let (mut sigma, mut order) = (Vec::new(), Vec::new());
    singular_values_into(w, n, &mut sigma, &mut order);
    (sigma, order)
}

/// [`singular_values`] into `sigma` and `order`.
fn singular_values_into(w: &[f64], n: usize, sigma: &mut Vec<f64>, order: &mut Vec<usize>) {
    sigma.clear();
    sigma.extend((0..n).map(|c| norm(&w[c * n..(c + 1) * n])));
    order.clear();
    order.extend(0..n);
    order.sort_by(|a, b| sigma[*b].total_cmp(&sigma[*a]));
}

/// One-sided Jacobi on a small square `r` (n × n, column-major): rotates column pairs until
/// they are orthogonal, returning (W, V) with R·V = W (the columns of W are U·S, unsorted);
/// `None` if it did not converge.
pub(crate) fn jacobi(mut r: Vec<f64>, n: usize) -> Option<(Vec<f64>, Vec<f64>)> {
    let mut v = Vec::new();
    jacobi_in(&mut r, &mut v, n).then_some((r, v))
}

/// [`jacobi`] in place: R becomes W, `v` (resized) V; false if it did not converge.
fn jacobi_in(w: &mut [f64], v: &mut Vec<f64>, n: usize) -> bool {
    v.clear();
    v.resize(n * n, 0.0);
    for k in 0..n {
        v[k * n + k] = 1.0;
    }
    // A column at rounding level next to the largest (a rank-deficient J: x all equal, a
    // parameter that drops out) is zero for every purpose here; rotating two such columns
    // against each other only shuffles noise and may never meet the relative test below.
    let negligible = (f64::EPSILON * f64::EPSILON) * w.iter().map(|t| t * t).sum::<f64>();
    // Columns p < q of an n × n column-major matrix, borrowed apart.
    fn pair(m: &mut [f64], n: usize, p: usize, q: usize) -> (&mut [f64], &mut [f64]) {
        let (head, tail) = m.split_at_mut(q * n);
        (&mut head[p * n..(p + 1) * n], &mut tail[..n])
    }
    for _sweep in 0..60 {
        let mut rotated = false;
        for p in 0..n {
            for q in p + 1..n {
                let (wp, wq) = pair(w, n, p, q);
                let (mut alpha, mut beta, mut gamma) = (0.0, 0.0, 0.0);
                for (a, b) in wp.iter().zip(wq.iter()) {
                    alpha += a * a;
                    beta += b * b;
                    gamma += a * b;
                }
                // (Not γ² ≤ ε²·αβ, which saves the root: γ² underflows to 0 for columns below
                // ~1e-81, and such a pair passed unrotated.)
                if gamma == 0.0 || gamma.abs() <= f64::EPSILON * (alpha * beta).sqrt() || alpha.min(beta) <= negligible
                {
                    continue;
                }
                rotated = true;
                let zeta = (beta - alpha) / (2.0 * gamma);
                let t = zeta.signum() / (zeta.abs() + (1.0 + zeta * zeta).sqrt());
                let c = 1.0 / (1.0 + t * t).sqrt();
                let s = c * t;
                for (a, b) in wp.iter_mut().zip(wq.iter_mut()) {
                    let (x, y) = (*a, *b);
                    *a = c * x - s * y;
                    *b = s * x + c * y;
                }
                let (vp, vq) = pair(v, n, p, q);
                for (a, b) in vp.iter_mut().zip(vq.iter_mut()) {
                    let (x, y) = (*a, *b);
                    *a = c * x - s * y;
                    *b = s * x + c * y;
                }
            }
        }
        if !rotated {
            return true;
        }
    }
    false
}

/// SVD pieces of a tall `rows × n` matrix `a` (column-major) against `f`: QR by Householder
/// reflections (applied to f as well), then one-sided Jacobi on R. `None` if Jacobi did not
/// converge.
fn small_svd_parts(a: &mut [f64], rows: usize, n: usize, f: &mut [f64], work: &mut SvdWork) -> Option<SvdParts> {
    householder_qr(a, rows, n, Some(f));
    let SvdWork { r, v, sigma, order, spare } = work;
    r_factor_into(a, rows, n, r);
    if !jacobi_in(r, v, n) {
        // Nearly parallel columns whose rotations rounding keeps from meeting the test (seen
        // in a multi-start finalist with two peaks on top of each other): the SVD of R by
        // faer instead — R has A's singular values and V, and U_Rᵀ(Qᵀf)[..n] is Uᵀf.
        let r = r_factor(a, rows, n);
        let r = Mat::from_fn(n, n, |i, k| r[k * n + i]);
        return svd_parts(&r, &f[..n]);
    }
    let w = r;
    // Singular values in descending order; uf = U_Rᵀ (Qᵀf)[..n] with U_R = W·S⁻¹.
    singular_values_into(w, n, sigma, order);
    let mut parts = spare.take().unwrap_or(SvdParts { s: Vec::new(), v: Vec::new(), uf: Vec::new(), n });
    parts.n = n;
    parts.s.clear();
    parts.uf.clear();
    parts.v.clear();
    parts.v.resize(n * n, 0.0);
    for (slot, &c) in order.iter().enumerate() {
        parts.s.push(sigma[c]);
        parts.v[slot * n..(slot + 1) * n].copy_from_slice(&v[c * n..(c + 1) * n]);
        let projection: f64 = (0..n).map(|r| w[c * n + r] * f[r]).sum();
        parts.uf.push(if sigma[c] > 0.0 { projection / sigma[c] } else { 0.0 });
    }
    Some(parts)
}

pub fn norm(x: &[f64]) -> f64 {
    norm_by(x.len(), |k| x[k])
}

/// The norm of the vector whose k-th component (k < `len`) is `component(k)`, computed twice
/// rather than stored. Scaled, so that huge or tiny components neither overflow nor underflow.
fn norm_by(len: usize, component: impl Fn(usize) -> f64) -> f64 {
    let scale = (0..len).fold(0.0f64, |m, k| m.max(component(k).abs()));
    if scale == 0.0 || !scale.is_finite() {
        return scale;
    }
    scale * (0..len).map(|k| (component(k) / scale) * (component(k) / scale)).sum::<f64>().sqrt()
}

/// ‖x‖ for the QR's long columns: Σx² directly where it can neither overflow nor lose
/// anything that matters to underflow (with Σx² ≥ 1e-290, a component whose square underflows
/// is below ~1e-9 of the norm, its square below 1e-18 of the sum), else [`norm`]'s scaled
/// sum — one pass without divisions.
fn column_norm(x: &[f64]) -> f64 {
    let sum = sum_squares(x);
    if sum.is_finite() && sum >= 1e-290 { sum.sqrt() } else { norm(x) }
}

/// Σ aᵢbᵢ in four interleaved partial sums (a single running sum waits on each addition's
/// latency; four keep the adder busy — the reductions of a small fit's QR and gradient are
/// most of its linear algebra).
pub fn dot(a: &[f64], b: &[f64]) -> f64 {
    let len = a.len().min(b.len());
    let (a, b) = (&a[..len], &b[..len]);
    let mut acc = [0.0f64; 4];
    let (ca, cb) = (a.chunks_exact(4), b.chunks_exact(4));
    let (ta, tb) = (ca.remainder(), cb.remainder());
    for (x, y) in ca.zip(cb) {
        for k in 0..4 {
            acc[k] += x[k] * y[k];
        }
    }
    let tail: f64 = ta.iter().zip(tb).map(|(x, y)| x * y).sum();
    (acc[0] + acc[1]) + (acc[2] + acc[3]) + tail
}

/// Σ xᵢ², as [`dot`] sums.
pub fn sum_squares(x: &[f64]) -> f64 {
    dot(x, x)
}

pub fn inf_norm(x: &[f64]) -> f64 {
    x.iter().fold(0.0f64, |m, v| if v.is_nan() { f64::NAN } else { m.max(v.abs()) })
}

/// Singular values at or below this are rounding (ε·max(m, n)·s₀): their directions are noise.
pub fn rounding_cut(svd: &SvdParts, m: usize, n: usize) -> f64 {
    svd.s.first().map_or(0.0, |s0| f64::EPSILON * m.max(n) as f64 * s0)
}

/// Solves min ‖J p + f‖ subject to ‖p‖ ≤ Δ from the SVD of J (Moré's secular equation on
/// α, the Levenberg–Marquardt parameter): p into `p` (a buffer the caller reuses across
/// trials); returns (α, iterations).
pub fn solve_lsq_trust_region(
    n: usize,
    m: usize,
    svd: &SvdParts,
    delta: f64,
    initial_alpha: Option<f64>,
    p: &mut Vec<f64>,
) -> (f64, usize) {
    // Singular values at rounding level carry no information: their directions are noise
    // (Uᵀf there is rounding, divided by a ~1e-17 singular value). Treat them as exactly zero.
    let cut = rounding_cut(svd, m, n);
    let s = &svd.s;
    let k = svd.uf.len().min(s.len());
    // uf and s·uf side by side, on the stack for the small problems that run this most.
    let mut stack = [0.0; 32];
    let mut heap = Vec::new();
    let terms = if 2 * k <= stack.len() {
        &mut stack[..2 * k]
    } else {
        heap.resize(2 * k, 0.0);
        &mut heap[..]
    };
    let (uf, suf) = terms.split_at_mut(k);
    for c in 0..k {
        uf[c] = if s[c] > cut { svd.uf[c] } else { 0.0 };
        suf[c] = s[c] * uf[c];
    }
    let (uf, suf) = (&*uf, &*suf);
    // φ(α) = ‖q(α)‖ − Δ and φ'(α), q_k = (s_k·uf_k)/(s_k² + α): q is never stored (the
    // secular equation takes up to ten of these per step).
    let phi_and_derivative = |alpha: f64| {
        let q = |k: usize| if suf[k] == 0.0 { 0.0 } else { suf[k] / (s[k] * s[k] + alpha) };
        let p_norm = norm_by(k, q);
        let phi = p_norm - delta;
        let phi_prime = -(0..k)
            .map(|c| {
                let (a, d) = (suf[c], s[c] * s[c] + alpha);
                if a == 0.0 { 0.0 } else { a * a / (d * d * d) }
            })
            .sum::<f64>()
            / p_norm;
        (phi, phi_prime)
    };

    let full_rank = m >= n && s.len() == n && s.iter().all(|v| *v > cut);
    // The Gauss–Newton step (the minimum-norm one when J is rank-deficient), if it fits.
    svd.v_combination_into(p, k, |c| if uf[c] == 0.0 { 0.0 } else { -uf[c] / s[c] });
    if norm(p) <= delta {
        return (0.0, 0);
    }

    let mut alpha_upper = norm(suf) / delta;
    let mut alpha_lower = if full_rank {
        let (phi, phi_prime) = phi_and_derivative(0.0);
        -phi / phi_prime
    } else {
        0.0
    };
    let reset = |lower: f64, upper: f64| (0.001 * upper).max((lower * upper).sqrt());
    let mut alpha = match initial_alpha {
        None => reset(alpha_lower, alpha_upper),
        Some(a) if !full_rank && a == 0.0 => reset(alpha_lower, alpha_upper),
        Some(a) => a,
    };
    let mut iterations = 0;
    let mut evaluated = alpha;
    for it in 0..10 {
        iterations = it + 1;
        if !(alpha >= alpha_lower && alpha <= alpha_upper) {
            alpha = reset(alpha_lower, alpha_upper);
        }
        evaluated = alpha;
        let (phi, phi_prime) = phi_and_derivative(alpha);
        if phi < 0.0 {
            alpha_upper = alpha;
        }
        let ratio = phi / phi_prime;
        alpha_lower = alpha_lower.max(alpha - ratio);
        alpha -= (phi + delta) * ratio / delta;
        if phi.abs() < 0.01 * delta {
            break;
        }
    }
    // The last Newton update can leave the bracket (even go below 0): then keep the α last
    // evaluated, which was inside it. (With a rank-deficient J, α = 0 would divide by a
    // singular value of ~1e-17 and throw the step into J's null space.)
    if !(alpha >= alpha_lower && alpha <= alpha_upper && alpha.is_finite()) || (alpha <= 0.0 && !full_rank) {
        alpha = evaluated;
    }
    svd.v_combination_into(p, k, |c| if suf[c] == 0.0 { 0.0 } else { -suf[c] / (s[c] * s[c] + alpha) });
    let p_norm = norm(p);
    if p_norm > 0.0 {
        for x in p.iter_mut() {
            *x *= delta / p_norm;
        }
    }
    (alpha, iterations)
}

/// ½‖J s‖² + ½ sᵀdiag s + gᵀs (J columns scaled by `d`).
pub fn evaluate_quadratic(j: &Jac<'_>, d: &[f64], g: &[f64], s: &[f64], diag: Option<&[f64]>) -> f64 {
    let mut q = j.quad(d, s, s);
    if let Some(diag) = diag {
        q += s.iter().zip(diag).map(|(s, d)| s * d * s).sum::<f64>();
    }
    0.5 * q + dot(s, g)
}

/// The coefficients (a, b, c) of the quadratic along s from s0: q(t) = a t² + b t + c.
pub fn build_quadratic_1d(
    j: &Jac<'_>,
    d: &[f64],
    g: &[f64],
    s: &[f64],
    diag: Option<&[f64]>,
    s0: Option<&[f64]>,
) -> (f64, f64, f64) {
    let mut a = j.quad(d, s, s);
    if let Some(diag) = diag {
        a += s.iter().zip(diag).map(|(s, d)| s * d * s).sum::<f64>();
    }
    a *= 0.5;
    let mut b = dot(g, s);
    let mut c = 0.0;
    if let Some(s0) = s0 {
        b += j.quad(d, s0, s);
        c = 0.5 * j.quad(d, s0, s0) + dot(g, s0);
        if let Some(diag) = diag {
            b += s0.iter().zip(diag).zip(s).map(|((a, d), b)| a * d * b).sum::<f64>();
            c += 0.5 * s0.iter().zip(diag).map(|(a, d)| a * d * a).sum::<f64>();
        }
    }
    (a, b, c)
}

/// Minimizes a t² + b t + c over [lb, ub]: (t, value).
pub fn minimize_quadratic_1d(a: f64, b: f64, lb: f64, ub: f64, c: f64) -> (f64, f64) {
    let mut candidates = vec![lb, ub];
    if a != 0.0 {
        let extremum = -0.5 * b / a;
        if lb < extremum && extremum < ub {
            candidates.push(extremum);
        }
    }
    candidates
        .into_iter()
        .map(|t| (t, t * (a * t + b) + c))
        .fold((lb, f64::INFINITY), |best, cur| if cur.1 < best.1 { cur } else { best })
}

/// Where the line x + t·s meets the sphere ‖·‖ = Δ: (t_neg, t_pos). x must be inside.
pub fn intersect_trust_region(x: &[f64], s: &[f64], delta: f64) -> (f64, f64) {
    let a = dot(s, s);
    if a == 0.0 {
        return (0.0, 0.0);
    }
    let b = dot(x, s);
    let c = dot(x, x) - delta * delta;
    let d = (b * b - a * c).max(0.0).sqrt();
    let q = -(b + d.copysign(b));
    if q == 0.0 {
        return (0.0, 0.0);
    }
    let (t1, t2) = (q / a, c / q);
    if t1 < t2 { (t1, t2) } else { (t2, t1) }
}

/// The largest t with lb ≤ x + t·s ≤ ub, and which bounds are hit (−1 lower, +1 upper).
pub fn step_size_to_bound(x: &[f64], s: &[f64], lb: &[f64], ub: &[f64]) -> (f64, Vec<i8>) {
    let steps: Vec<f64> = (0..x.len())
        .map(|i| if s[i] == 0.0 { f64::INFINITY } else { ((lb[i] - x[i]) / s[i]).max((ub[i] - x[i]) / s[i]) })
        .collect();
    let min_step = steps.iter().copied().fold(f64::INFINITY, f64::min);
    let hits = steps.iter().zip(s).map(|(t, s)| if *t == min_step { s.signum() as i8 } else { 0 }).collect();
    (min_step, hits)
}

pub fn in_bounds(x: &[f64], lb: &[f64], ub: &[f64]) -> bool {
    x.iter().zip(lb).zip(ub).all(|((x, l), u)| l <= x && x <= u)
}

/// Which bounds are active at x: −1 lower, +1 upper, 0 none (relative tolerance `rtol`).
pub fn find_active_constraints(x: &[f64], lb: &[f64], ub: &[f64], rtol: f64) -> Vec<i8> {
    (0..x.len())
        .map(|i| {
            if rtol == 0.0 {
                return if x[i] <= lb[i] {
                    -1
                } else if x[i] >= ub[i] {
                    1
                } else {
                    0
                };
            }
            let lower_dist = x[i] - lb[i];
            let upper_dist = ub[i] - x[i];
            let lower_threshold = rtol * lb[i].abs().max(1.0);
            let upper_threshold = rtol * ub[i].abs().max(1.0);
            if lb[i].is_finite() && lower_dist <= upper_dist.min(lower_threshold) {
                -1
            } else if ub[i].is_finite() && upper_dist <= lower_dist.min(upper_threshold) {
                1
            } else {
                0
            }
        })
        .collect()
}

/// Moves x strictly inside the bounds (rstep = 0: by one ulp).
pub fn make_strictly_feasible(x: &[f64], lb: &[f64], ub: &[f64], rstep: f64) -> Vec<f64> {
    let active = find_active_constraints(x, lb, ub, rstep);
    (0..x.len())
        .map(|i| {
            let mut v = x[i];
            if active[i] == -1 {
                v = if rstep == 0.0 { next_toward(lb[i], ub[i]) } else { lb[i] + rstep * lb[i].abs().max(1.0) };
            } else if active[i] == 1 {
                v = if rstep == 0.0 { next_toward(ub[i], lb[i]) } else { ub[i] - rstep * ub[i].abs().max(1.0) };
            }
            if v < lb[i] || v > ub[i] { 0.5 * (lb[i] + ub[i]) } else { v }
        })
        .collect()
}

/// numpy's `nextafter(a, toward)`.
fn next_toward(a: f64, toward: f64) -> f64 {
    if a.is_nan() || toward.is_nan() || a == toward {
        return a;
    }
    if a == 0.0 {
        return f64::from_bits(1).copysign(toward - a);
    }
    let bits = a.to_bits();
    let up = (toward > a) == (a > 0.0);
    f64::from_bits(if up { bits + 1 } else { bits - 1 })
}

/// Coleman–Li scaling: (v, dv).
pub fn cl_scaling_vector(x: &[f64], g: &[f64], lb: &[f64], ub: &[f64]) -> (Vec<f64>, Vec<f64>) {
    let mut v = vec![1.0; x.len()];
    let mut dv = vec![0.0; x.len()];
    for i in 0..x.len() {
        if g[i] < 0.0 && ub[i].is_finite() {
            v[i] = ub[i] - x[i];
            dv[i] = -1.0;
        } else if g[i] > 0.0 && lb[i].is_finite() {
            v[i] = x[i] - lb[i];
            dv[i] = 1.0;
        }
    }
    (v, dv)
}

/// Jᵀf for row-major J, into `g` (a buffer the caller reuses).
pub fn gradient_into(j: &[f64], m: usize, n: usize, f: &[f64], g: &mut Vec<f64>) {
    column_sums(j, m, n, |v, i| v * f[i], g)
}

/// Σᵢ term(J[i][k], i) for every column k of the row-major m × n `j`: Jᵀf and the column
/// norms. Up to eight columns, a row's n terms are unrolled (n fixed at compile time) and two
/// rows go into two sets of partial sums, so the additions are independent.
fn column_sums(j: &[f64], m: usize, n: usize, term: impl Fn(f64, usize) -> f64, out: &mut Vec<f64>) {
    fn fixed<const N: usize>(j: &[f64], m: usize, term: impl Fn(f64, usize) -> f64, out: &mut Vec<f64>) {
        let (mut even, mut odd) = ([0.0f64; N], [0.0f64; N]);
        let pairs = j[..m * N].chunks_exact(2 * N);
        if let Some(last) = pairs.remainder().first_chunk::<N>() {
            for k in 0..N {
                even[k] += term(last[k], m - 1);
            }
        }
        for (i, rows) in pairs.enumerate() {
            let (a, b) = rows.split_at(N);
            for k in 0..N {
                even[k] += term(a[k], 2 * i);
                odd[k] += term(b[k], 2 * i + 1);
            }
        }
        out.clear();
        out.extend((0..N).map(|k| even[k] + odd[k]));
    }
    match n {
        1 => fixed::<1>(j, m, term, out),
        2 => fixed::<2>(j, m, term, out),
        3 => fixed::<3>(j, m, term, out),
        4 => fixed::<4>(j, m, term, out),
        5 => fixed::<5>(j, m, term, out),
        6 => fixed::<6>(j, m, term, out),
        7 => fixed::<7>(j, m, term, out),
        8 => fixed::<8>(j, m, term, out),
        _ => {
            out.clear();
            out.resize(n, 0.0);
            for (i, row) in j[..m * n].chunks_exact(n).enumerate() {
                for k in 0..n {
                    out[k] += term(row[k], i);
                }
            }
        }
    }
}

/// x_scale="jac" at the start: the inverse column norms (a zero norm taken as 1), as
/// (scale, scale_inv) (scipy's `compute_jac_scale`); [`jac_scale_update`] after each step.
pub fn jac_scale(column_norms: Vec<f64>) -> (Vec<f64>, Vec<f64>) {
    let mut inv = column_norms;
    for v in &mut inv {
        if *v == 0.0 {
            *v = 1.0;
        }
    }
    (inv.iter().map(|v| 1.0 / v).collect(), inv)
}

/// x_scale="jac" after a step, in place: `scale_inv` never decreases (max of the new column
/// norms and the old), `scale` = 1/`scale_inv`.
pub fn jac_scale_update(column_norms: &[f64], scale: &mut [f64], scale_inv: &mut [f64]) {
    for k in 0..scale_inv.len() {
        scale_inv[k] = column_norms[k].max(scale_inv[k]);
        scale[k] = 1.0 / scale_inv[k];
    }
}

/// Trust-radius update and reduction ratio (scipy's `update_tr_radius`).
pub fn update_tr_radius(delta: f64, actual: f64, predicted: f64, step_norm: f64, bound_hit: bool) -> (f64, f64) {
    let ratio = if predicted > 0.0 {
        actual / predicted
    } else if predicted == actual && actual == 0.0 {
        1.0
    } else {
        0.0
    };
    let delta = if ratio < 0.25 {
        0.25 * step_norm
    } else if ratio > 0.75 && bound_hit {
        delta * 2.0
    } else {
        delta
    };
    (delta, ratio)
}

/// scipy's `check_termination`: 2 ftol, 3 xtol, 4 both.
pub fn check_termination(df: f64, f: f64, dx_norm: f64, x_norm: f64, ratio: f64, ftol: f64, xtol: f64) -> Option<i32> {
    let ftol_ok = df < ftol * f && ratio > 0.25;
    let xtol_ok = dx_norm < xtol * (xtol + x_norm);
    match (ftol_ok, xtol_ok) {
        (true, true) => Some(4),
        (true, false) => Some(2),
        (false, true) => Some(3),
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn trust_region_step_is_gauss_newton_when_it_fits() {
        // J = I (2×2), f = (1, 2): the Gauss–Newton step is -f.
        let a = Mat::from_fn(2, 2, |i, j| if i == j { 1.0 } else { 0.0 });
        let svd = svd_parts(&a, &[1.0, 2.0]).unwrap();
        let mut p = Vec::new();
        let (alpha, _) = solve_lsq_trust_region(2, 2, &svd, 10.0, None, &mut p);
        assert!((p[0] + 1.0).abs() < 1e-15 && (p[1] + 2.0).abs() < 1e-15);
        assert_eq!(alpha, 0.0);
        // A small radius: the step is on the boundary.
        let (alpha, _) = solve_lsq_trust_region(2, 2, &svd, 0.5, None, &mut p);
        assert!((norm(&p) - 0.5).abs() < 1e-12);
        assert!(alpha > 0.0);
    }

    /// The QR + Jacobi SVD agrees with faer's on a random tall matrix.
    #[test]
    fn small_svd_matches_faer() {
        let (m, n) = (40, 5);
        let mut state = 7u64;
        let mut next = || {
            state ^= state << 13;
            state ^= state >> 7;
            state ^= state << 17;
            (state >> 11) as f64 / (1u64 << 53) as f64 - 0.5
        };
        let a: Vec<f64> = (0..m * n).map(|_| next()).collect(); // column-major
        let f: Vec<f64> = (0..m).map(|_| next()).collect();
        let mat = Mat::from_fn(m, n, |i, k| a[k * m + i]);
        let reference = svd_parts(&mat, &f).unwrap();
        let ours = small_svd_parts(&mut a.clone(), m, n, &mut f.clone(), &mut SvdWork::default()).unwrap();
        for k in 0..n {
            assert!((ours.s[k] - reference.s[k]).abs() < 1e-13 * reference.s[0], "s[{k}]");
            // Singular vectors are defined up to sign: compare V·diag(uf), which is not.
            for r in 0..n {
                let (a, b) = (ours.v[k * n + r] * ours.uf[k], reference.v[k * n + r] * reference.uf[k]);
                assert!((a - b).abs() < 1e-12, "V·uf [{r}, {k}]: {a} vs {b}");
            }
        }
    }

    /// A tiny J (columns near 1e-100) is decomposed, not taken for orthogonal: γ² would
    /// underflow to 0 where |γ| ≤ ε·√(αβ) does not pass.
    #[test]
    fn tiny_columns_are_rotated() {
        // J = 1e-100·[[1, 1], [0, 1]] (row-major): singular values 1e-100·(√5 ± 1)/2.
        let j = [1e-100, 1e-100, 0.0, 1e-100];
        let parts = Jac::Dense { j: &j, m: 2, n: 2 }.svd_parts(&[1.0, 1.0], None, &[0.0, 0.0], &[]).unwrap();
        let golden = (1.0 + 5f64.sqrt()) / 2.0;
        for (s, expected) in parts.s.iter().zip([golden * 1e-100, (golden - 1.0) * 1e-100]) {
            assert!((s - expected).abs() <= 1e-12 * expected, "{s:e} vs {expected:e}");
        }
    }

    #[test]
    fn geometry() {
        let (t, hits) = step_size_to_bound(&[0.0, 0.0], &[1.0, -2.0], &[-1.0, -1.0], &[2.0, 1.0]);
        assert_eq!(t, 0.5);
        assert_eq!(hits, vec![0, -1]);
        let (a, b) = intersect_trust_region(&[0.0, 0.0], &[1.0, 0.0], 2.0);
        assert_eq!((a, b), (-2.0, 2.0));
        assert_eq!(minimize_quadratic_1d(1.0, -2.0, 0.0, 5.0, 0.0), (1.0, -1.0));
        let x = make_strictly_feasible(&[0.0, 1.0], &[0.0, 0.0], &[1.0, 1.0], 0.0);
        assert!(x[0] > 0.0 && x[1] < 1.0);
    }
}
