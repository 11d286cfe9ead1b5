//! Parameter covariance with `curve_fit`'s semantics: the pseudo-inverse of JᵀJ from the
//! SVD of J, singular values below ε·max(m, n)·s₀ dropped, scaled by the reduced χ² unless
//! σ is absolute; infinite when it cannot be estimated.
//!
//! Unlike the bare pseudo-inverse (which gives a parameter the data do not determine a
//! variance of 0, printed as `± 0`), a parameter with a share in a dropped direction is
//! reported as not determined: variance ∞, its covariances NaN.

use faer::Mat;

/// The covariance matrix and what went into it.
#[derive(Clone, Debug, PartialEq)]
pub struct Covariance {
    /// n × n, row-major. All `inf` when it cannot be estimated.
    pub matrix: Vec<f64>,
    pub n: usize,
    /// Why the covariance is unreliable or infinite, if it is.
    pub warning: Option<String>,
}

impl Covariance {
    pub fn get(&self, i: usize, j: usize) -> f64 {
        self.matrix[i * self.n + j]
    }

    /// Standard errors: √ of the diagonal.
    pub fn std_errors(&self) -> Vec<f64> {
        (0..self.n).map(|i| self.get(i, i).sqrt()).collect()
    }

    /// The correlation matrix (row-major).
    pub fn correlation(&self) -> Vec<f64> {
        let se = self.std_errors();
        let mut c = vec![0.0; self.n * self.n];
        for i in 0..self.n {
            for j in 0..self.n {
                c[i * self.n + j] = if i == j { 1.0 } else { self.get(i, j) / (se[i] * se[j]) };
            }
        }
        c
    }
}

/// Up to this many parameters, the covariance's SVD is of J's R factor rather than of J.
const QR_FIRST_MAX_N: usize = 64;

/// Covariance from the Jacobian at the solution (row-major m × n) and the residual sum of
/// squares. `absolute_sigma`: the weights are true 1/σ, so no rescaling by χ²/dof.
pub fn covariance(jacobian: &[f64], m: usize, n: usize, chi2: f64, absolute_sigma: bool) -> Covariance {
    let infinite = |why: String| Covariance { matrix: vec![f64::INFINITY; n * n], n, warning: Some(why) };
    if n == 0 {
        return Covariance { matrix: vec![], n, warning: None };
    }
    if jacobian.iter().any(|v| !v.is_finite()) {
        return infinite("the Jacobian is not finite at the solution".into());
    }
    let k = m.min(n);
    let Some((s, v)) = singular_values_and_vectors(jacobian, m, n) else {
        return infinite("the singular value decomposition of the Jacobian did not converge".into());
    };
    let v = |i: usize, c: usize| v[c * n + i];
    let threshold = f64::EPSILON * m.max(n) as f64 * s.first().copied().unwrap_or(0.0);
    let kept: Vec<usize> = (0..k).filter(|i| s[*i] > threshold).collect();
    let mut matrix = vec![0.0; n * n];
    for i in 0..n {
        for j in 0..n {
            matrix[i * n + j] = kept.iter().map(|c| v(i, *c) * v(j, *c) / (s[*c] * s[*c])).sum();
        }
    }
    // The null space: the right singular vectors of the dropped values, and with fewer rows
    // than columns, the directions the thin SVD does not return at all (then every parameter
    // is at stake: the rank is below n whatever the values).
    let undetermined: Vec<bool> = if m < n {
        vec![true; n]
    } else {
        (0..n).map(|i| (0..k).any(|c| !kept.contains(&c) && v(i, c).abs() > NULL_SHARE)).collect()
    };
    finish(matrix, kept.len(), &undetermined, "the Jacobian", m, n, chi2, absolute_sigma)
}

/// J's min(m, n) singular values in decreasing order and its right singular vectors
/// (column-major, n × min(m, n)). A tall J is reduced to its Householder R first (n × n, the
/// same singular values and right vectors), whose SVD is one-sided Jacobi's for a few
/// parameters — the solver's own small SVD — and faer's otherwise.
fn singular_values_and_vectors(jacobian: &[f64], m: usize, n: usize) -> Option<(Vec<f64>, Vec<f64>)> {
    use super::common::{SMALL_SVD_MAX_N, householder_qr, jacobi, r_factor, singular_values};
    let faer_svd = |a: Mat<f64>| {
        let svd = a.thin_svd().ok()?;
        let k = a.nrows().min(a.ncols());
        let s: Vec<f64> = (0..k).map(|i| svd.S().column_vector()[i]).collect();
        let vectors = svd.V();
        let v: Vec<f64> = (0..k).flat_map(|c| (0..n).map(move |i| vectors[(i, c)])).collect();
        Some((s, v))
    };
    if !(m > n && n <= QR_FIRST_MAX_N) {
        return faer_svd(Mat::from_fn(m, n, |i, k| jacobian[i * n + k]));
    }
    let mut columns: Vec<f64> = (0..n).flat_map(|k| (0..m).map(move |i| jacobian[i * n + k])).collect();
    householder_qr(&mut columns, m, n, None);
    if n <= SMALL_SVD_MAX_N
        && let Some((w, v)) = jacobi(r_factor(&columns, m, n), n)
    {
        let (sigma, order) = singular_values(&w, n);
        let s = order.iter().map(|c| sigma[*c]).collect();
        let v = order.iter().flat_map(|c| v[c * n..(c + 1) * n].iter().copied()).collect();
        return Some((s, v));
    }
    // (Jacobi rotated its copy of R: the fallback takes R afresh.)
    let r = r_factor(&columns, m, n);
    faer_svd(Mat::from_fn(n, n, |i, k| r[k * n + i]))
}

/// The same covariance from JᵀJ (n × n, full) when J was not stored: the pseudo-inverse from
/// its eigendecomposition, with the SVD's cut applied to √λ.
pub fn covariance_from_gram(jtj: &[f64], m: usize, n: usize, chi2: f64, absolute_sigma: bool) -> Covariance {
    let infinite = |why: String| Covariance { matrix: vec![f64::INFINITY; n * n], n, warning: Some(why) };
    if jtj.iter().any(|v| !v.is_finite()) {
        return infinite("JᵀJ is not finite at the solution".into());
    }
    let g = Mat::from_fn(n, n, |a, b| jtj[a * n + b]);
    let Ok(eigen) = g.self_adjoint_eigen(faer::Side::Lower) else {
        return infinite("the eigendecomposition of JᵀJ did not converge".into());
    };
    let (values, vectors) = (eigen.S().column_vector(), eigen.U());
    let s: Vec<f64> = (0..n).map(|k| values[k].max(0.0).sqrt()).collect();
    let s_max = s.iter().copied().fold(0.0, f64::max);
    let threshold = f64::EPSILON * m.max(n) as f64 * s_max;
    let kept: Vec<usize> = (0..n).filter(|k| s[*k] > threshold).collect();
    let mut matrix = vec![0.0; n * n];
    for i in 0..n {
        for j in 0..n {
            matrix[i * n + j] = kept.iter().map(|c| vectors[(i, *c)] * vectors[(j, *c)] / values[*c]).sum();
        }
    }
    let undetermined: Vec<bool> =
        (0..n).map(|i| (0..n).any(|c| !kept.contains(&c) && vectors[(i, c)].abs() > NULL_SHARE)).collect();
    finish(matrix, kept.len(), &undetermined, "JᵀJ", m, n, chi2, absolute_sigma)
}

/// A parameter whose component in a dropped (null-space) direction exceeds this is not
/// determined by the data. Components of a unit vector at rounding level (~1e-16) are noise.
const NULL_SHARE: f64 = 1e-8;

/// The pseudo-inverse's rank warning, curve_fit's rescaling by the reduced χ², and the
/// parameters the data do not determine marked as such (variance ∞, covariances NaN).
#[allow(clippy::too_many_arguments)]
fn finish(
    mut matrix: Vec<f64>,
    rank: usize,
    undetermined: &[bool],
    what: &str,
    m: usize,
    n: usize,
    chi2: f64,
    absolute_sigma: bool,
) -> Covariance {
    let mut warning = (rank < n).then(|| {
        format!("{what} has rank {rank} < {n} at the solution: some parameters are not determined by the data")
    });
    if !absolute_sigma {
        if m <= n {
            let why = format!("{m} points for {n} parameters leave no degrees of freedom to estimate the covariance");
            return Covariance { matrix: vec![f64::INFINITY; n * n], n, warning: Some(why) };
        }
        let s_sq = chi2 / (m - n) as f64;
        if s_sq == 0.0 {
            // No scatter to scale by: a zero would claim exact parameters.
            let why = "the residuals are all zero, so χ²/dof says nothing about the uncertainties (with known σ, use absolute sigma)";
            warning = Some(warning.map_or(why.to_owned(), |w| format!("{w}; {why}")));
            return Covariance { matrix: vec![f64::NAN; n * n], n, warning };
        }
        for c in &mut matrix {
            *c *= s_sq;
        }
    }
    for (i, _) in undetermined.iter().enumerate().filter(|(_, u)| **u) {
        for j in 0..n {
            matrix[i * n + j] = f64::NAN;
            matrix[j * n + i] = f64::NAN;
        }
        matrix[i * n + i] = f64::INFINITY;
    }
    Covariance { matrix, n, warning }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The covariance through R and Jacobi agrees with faer's SVD of the whole J — for full
    /// rank, nearly collinear and rank-deficient Jacobians — entries to 1e-9 relative (of the
    /// largest), the same parameters undetermined.
    #[test]
    fn the_r_factor_path_agrees_with_the_svd_of_j() {
        let m = 40;
        let x: Vec<f64> = (0..m).map(|i| i as f64 * 0.25).collect();
        let cases: Vec<(usize, Vec<f64>)> = vec![
            // exp decay: a, b, c
            (3, x.iter().flat_map(|x| [(-0.7 * x).exp(), -3.0 * x * (-0.7 * x).exp(), 1.0]).collect()),
            // nearly collinear columns
            (3, x.iter().flat_map(|x| [*x, x + 1e-6 * x * x, 1.0]).collect()),
            // a*b*x + c: columns b·x and a·x are parallel, rank 2
            (3, x.iter().flat_map(|x| [2.0 * x, 3.0 * x, 1.0]).collect()),
            // a polynomial of degree 5
            (6, x.iter().flat_map(|x| (0..6).map(move |p| (x / 5.0 - 1.0).powi(p))).collect()),
        ];
        let mut deficient = 0;
        for (n, jacobian) in cases {
            let ours = covariance(&jacobian, m, n, 1.0, true);
            let a = Mat::from_fn(m, n, |i, k| jacobian[i * n + k]);
            let svd = a.thin_svd().unwrap();
            let s: Vec<f64> = (0..n).map(|i| svd.S().column_vector()[i]).collect();
            let threshold = f64::EPSILON * m as f64 * s[0];
            let kept: Vec<usize> = (0..n).filter(|i| s[*i] > threshold).collect();
            let v = svd.V();
            let undetermined: Vec<bool> =
                (0..n).map(|i| (0..n).any(|c| !kept.contains(&c) && v[(i, c)].abs() > NULL_SHARE)).collect();
            for (i, undetermined) in undetermined.iter().enumerate() {
                assert_eq!(ours.get(i, i).is_infinite(), *undetermined, "n = {n}, parameter {i}");
            }
            if undetermined.iter().any(|u| *u) {
                deficient += 1;
                continue;
            }
            let reference: Vec<f64> = (0..n * n)
                .map(|e| kept.iter().map(|c| v[(e / n, *c)] * v[(e % n, *c)] / (s[*c] * s[*c])).sum())
                .collect();
            let scale = reference.iter().fold(0.0f64, |m, v| m.max(v.abs()));
            for (a, b) in ours.matrix.iter().zip(&reference) {
                assert!((a - b).abs() <= 1e-9 * scale, "n = {n}: {a} vs {b}");
            }
        }
        assert_eq!(deficient, 1, "the a*b*x + c Jacobian is rank-deficient");
    }
}
