//! The front of the pipeline, stage by stage, for four models of growing size:
//! parse → resolve → differentiate → simplify (egg) → lower to IR.
//!
//! Run: `cargo bench --bench pipeline`. Sizes of the results are printed once at start.

use divan::{Bencher, black_box};
use jitfit::symbolic::{self, Roots, SimplifyLimits};
use jitfit::syntax::{self, Names};
use jitfit::{Model, ModelOptions};

fn main() {
    for (name, vars, source) in MODELS {
        let model = Model::parse_with_vars(source, vars).unwrap();
        let r = model.simplify_report();
        let (insts, calls, _) = model.kernel().op_counts();
        eprintln!(
            "{name}: {} params, DAG {} -> {} nodes, IR {insts} instructions ({calls} calls), egg {} iterations ({})",
            model.n_params(),
            r.nodes_before,
            r.nodes_after,
            r.iterations,
            r.stop_reason
        );
    }
    divan::main();
}

const ROTATED_GAUSSIAN: &str = "
    ct = cos(theta); st = sin(theta)
    u = ((x - x0)*ct + (y - y0)*st)/sx
    v = ((y - y0)*ct - (x - x0)*st)/sy
    A*exp(-(u^2 + v^2)/2) + B";

const THREE_GAUSSIANS: &str = "
    A1*exp(-((x-x1)^2/(2*sx1^2) + (y-y1)^2/(2*sy1^2)))
  + A2*exp(-((x-x2)^2/(2*sx2^2) + (y-y2)^2/(2*sy2^2)))
  + A3*exp(-((x-x3)^2/(2*sx3^2) + (y-y3)^2/(2*sy3^2))) + B";

const MODELS: [(&str, &[&str], &str); 4] = [
    ("exp_decay", &["x"], "a*exp(-b*x) + c"),
    ("rat43", &["x"], "b1 / ((1+exp[b2-b3*x])**(1/b4))"),
    ("gauss2d_rotated", &["x", "y"], ROTATED_GAUSSIAN),
    ("three_gauss2d", &["x", "y"], THREE_GAUSSIANS),
];

fn names(vars: &[&str]) -> Names {
    Names { vars: vars.iter().map(|v| v.to_string()).collect(), params: None }
}

const NAMES: [&str; 4] = ["exp_decay", "rat43", "gauss2d_rotated", "three_gauss2d"];

fn model(name: &str) -> (&'static [&'static str], &'static str) {
    let (_, vars, source) = MODELS.iter().find(|m| m.0 == name).unwrap();
    (vars, source)
}

#[divan::bench(args = NAMES)]
fn parse(bencher: Bencher, name: &str) {
    let (_, source) = model(name);
    bencher.bench(|| syntax::parse(black_box(source)).unwrap());
}

#[divan::bench(args = NAMES)]
fn resolve(bencher: Bencher, name: &str) {
    let (vars, source) = model(name);
    let ast = syntax::parse(source).unwrap();
    let names = names(vars);
    bencher.bench(|| syntax::resolve(black_box(&ast), source, &names).unwrap());
}

#[divan::bench(args = NAMES)]
fn differentiate(bencher: Bencher, name: &str) {
    let (vars, source) = model(name);
    let resolved = syntax::resolve(&syntax::parse(source).unwrap(), source, &names(vars)).unwrap();
    bencher.bench(|| {
        let mut graph = resolved.graph.clone();
        symbolic::differentiate(&mut graph, resolved.value, resolved.params.len()).unwrap()
    });
}

#[divan::bench(args = NAMES)]
fn simplify(bencher: Bencher, name: &str) {
    let (vars, source) = model(name);
    let resolved = syntax::resolve(&syntax::parse(source).unwrap(), source, &names(vars)).unwrap();
    let mut graph = resolved.graph.clone();
    let derivatives = symbolic::differentiate(&mut graph, resolved.value, resolved.params.len()).unwrap();
    let roots = Roots { value: resolved.value, derivatives, response: None };
    let limits = SimplifyLimits::default();
    bencher.bench(|| symbolic::simplify(black_box(&graph), &roots, &limits));
}

#[divan::bench(args = NAMES)]
fn lower(bencher: Bencher, name: &str) {
    let (vars, source) = model(name);
    let resolved = syntax::resolve(&syntax::parse(source).unwrap(), source, &names(vars)).unwrap();
    let mut graph = resolved.graph.clone();
    let derivatives = symbolic::differentiate(&mut graph, resolved.value, resolved.params.len()).unwrap();
    let roots = Roots { value: resolved.value, derivatives, response: None };
    let (graph, roots, _) = symbolic::simplify(&graph, &roots, &SimplifyLimits::default());
    bencher.bench(|| jitfit::ir::lower(black_box(&graph), &roots, &resolved.vars, &resolved.params));
}

/// The whole front end, text to verified IR.
#[divan::bench(args = NAMES)]
fn whole_pipeline(bencher: Bencher, name: &str) {
    let (vars, source) = model(name);
    let options = ModelOptions { names: names(vars), ..Default::default() };
    bencher.bench(|| Model::parse_with(black_box(source), &options).unwrap());
}
