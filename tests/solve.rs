//! The solvers on the 27 NIST StRD problems, from both starts, with default options: the log
//! relative error (LRE) of every parameter against the certified values.

use crate::support::nist::{NistProblem, all_problems};
use jitfit::backend::cranelift::CraneliftKernels;
use jitfit::data::nist::lre;
use jitfit::problem::DataProblem;
use jitfit::solve::{Method, SolveOptions, solve};
use jitfit::{Model, ModelOptions, Names};

/// Fits one NIST problem; returns the minimum LRE over its parameters.
pub fn fit_nist(p: &NistProblem, start: &[f64], options: &SolveOptions) -> (f64, String) {
    let names = Names { vars: p.vars.clone(), params: Some(p.params.clone()) };
    let model = Model::parse_with(&p.model, &ModelOptions { names, ..Default::default() }).unwrap();
    let kernels = CraneliftKernels::compile(model.kernel()).unwrap();
    let y: Vec<f64> = p.rows.iter().map(|r| r[0]).collect();
    let columns: Vec<Vec<f64>> = (0..p.vars.len()).map(|k| p.rows.iter().map(|r| r[k + 1]).collect()).collect();
    let vars: Vec<&[f64]> = columns.iter().map(Vec::as_slice).collect();
    let mut problem = DataProblem::new(&kernels, vars, &y, None);
    match solve(&mut problem, start, options) {
        Ok(s) => {
            let min_lre = s.x.iter().zip(&p.certified).map(|(e, c)| lre(*e, *c)).fold(11.0f64, f64::min);
            (min_lre, format!("{:?} nfev {}", s.status, s.nfev))
        }
        Err(e) => (0.0, format!("error: {e}")),
    }
}

/// Default options (auto = TRF), both starts: every parameter of all 54 fits to at least 6
/// digits. LM reaches 6 digits on 52: from start 1 it stops on the plateaus of BoxBOD and MGH17,
/// where a column of J vanishes. (scipy's defaults reach 6 digits on 15 of the 27 problems.)
#[test]
fn nist_reaches_six_digits_with_default_options() {
    let mut table = String::new();
    let mut misses: Vec<String> = Vec::new();
    for method in [Method::Auto, Method::Lm] {
        let options = SolveOptions { method, ..Default::default() };
        let mut total = 0.0;
        for p in all_problems() {
            for (k, start) in [&p.start1, &p.start2].into_iter().enumerate() {
                let (l, status) = fit_nist(&p, start, &options);
                total += l;
                if l < 6.0 {
                    misses.push(format!("{method:?} {} {}", p.name, k + 1));
                }
                table += &format!("{method:?} {:10} start {} LRE {l:5.2}  {status}\n", p.name, k + 1);
            }
        }
        table += &format!("{method:?}: mean LRE {:.2}\n", total / 54.0);
    }
    assert_eq!(misses, ["Lm BoxBOD 1", "Lm MGH17 1"], "{table}");
}

/// The normal-equations path (J never stored) on the NIST suite. It squares the condition
/// number, yet reaches 6 digits on all but three hard starts.
#[test]
fn nist_on_the_normal_equations() {
    use jitfit::solve::JacobianMode;
    let mut table = String::new();
    let mut below_six = 0;
    for method in [Method::Auto, Method::Trf] {
        let options = SolveOptions { method, jacobian: JacobianMode::NormalEquations, ..Default::default() };
        for p in all_problems() {
            for (k, start) in [&p.start1, &p.start2].into_iter().enumerate() {
                let (l, status) = fit_nist(&p, start, &options);
                below_six += usize::from(l < 6.0);
                table += &format!("{method:?} {:10} start {} LRE {l:5.2}  {status}\n", p.name, k + 1);
            }
        }
    }
    // Measured on 2026-11-24: 105 of 108 fits reach 6 digits; the other three (BoxBOD start 1
    // with LM, MGH17 start 1 with both) stop on a plateau where a parameter's column of J
    // vanishes, a start the dense path survives. Any new miss is a regression.
    assert!(below_six <= 3, "{table}");
}
