//! The solvers on the 27 NIST StRD problems, from both starts, with default options: the log
//! relative error (LRE) of every parameter against the certified values.

use crate::support::nist::{NistProblem, all_problems};
use jitfit::backend::cranelift::CraneliftKernels;
use jitfit::solve::{DataProblem, Method, SolveOptions, solve};
use jitfit::{Model, ModelOptions, Names};

/// −log10 of the relative error, capped at 11 (NIST's convention).
pub fn lre(estimate: f64, certified: f64) -> f64 {
    let rel = ((estimate - certified) / certified).abs();
    if rel == 0.0 { 11.0 } else { (-rel.log10()).clamp(0.0, 11.0) }
}

/// Fits one NIST problem; returns the minimum LRE over its parameters.
pub fn fit_nist(p: &NistProblem, start: &[f64], options: &SolveOptions) -> (f64, String) {
    let names = Names { vars: p.vars.clone(), params: Some(p.params.clone()) };
    let model = Model::parse_with(&p.model, &ModelOptions { names, ..Default::default() }).unwrap();
    let kernels = CraneliftKernels::compile(model.kernel()).unwrap();
    let y: Vec<f64> = p.rows.iter().map(|r| r[0]).collect();
    let columns: Vec<Vec<f64>> = (0..p.vars.len()).map(|k| p.rows.iter().map(|r| r[k + 1]).collect()).collect();
    let vars: Vec<&[f64]> = columns.iter().map(Vec::as_slice).collect();
    let mut problem = DataProblem::new(&kernels, vars, &y, None);
    let mut options = options.clone();
    options.max_nfev = options.max_nfev.map(|f| f * start.len());
    match solve(&mut problem, start, &options) {
        Ok(s) => {
            let min_lre = s.x.iter().zip(&p.certified).map(|(e, c)| lre(*e, *c)).fold(11.0f64, f64::min);
            (min_lre, format!("{:?} nfev {}", s.status, s.nfev))
        }
        Err(e) => (0.0, format!("error: {e}")),
    }
}

#[test]
fn nist_table() {
    let mut out = String::new();
    for method in [Method::Auto, Method::Trf] {
        let tol: f64 = std::env::var("JITFIT_TOL").ok().map_or(jitfit::solve::DEFAULT_FTOL, |v| v.parse().unwrap());
        let max_nfev = std::env::var("JITFIT_NFEV_FACTOR").ok().map(|v| v.parse::<usize>().unwrap());
        let options = SolveOptions { method, ftol: tol, xtol: tol, gtol: tol, max_nfev, ..Default::default() };
        let mut good = 0;
        let mut total = 0.0;
        for p in all_problems() {
            for (k, start) in [&p.start1, &p.start2].into_iter().enumerate() {
                let (l, status) = fit_nist(&p, start, &options);
                total += l;
                if l >= 6.0 {
                    good += 1;
                }
                out += &format!("{:?} {:10} start {} LRE {:5.2}  {}\n", method, p.name, k + 1, l, status);
            }
        }
        out += &format!("{method:?}: {good}/54 with LRE >= 6, mean LRE {:.2}\n", total / 54.0);
    }
    std::fs::write(std::env::temp_dir().join("jitfit-nist-table.txt"), &out).unwrap();
}
