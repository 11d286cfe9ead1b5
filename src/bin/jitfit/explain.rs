//! `jitfit explain`: everything jitfit derives from a model, stage by stage.

use jitfit::backend::cranelift::CraneliftKernels;
use jitfit::cache;
use jitfit::{Model, ModelOptions, Names};
use std::time::Duration;

#[derive(clap::Args)]
pub struct ExplainArgs {
    /// The model, e.g. 'a*exp(-b*x) + c' or 'y = b1*(1-exp[-b2*x])' (may start with `-`).
    #[arg(allow_hyphen_values = true)]
    model: String,
    /// The independent variables, comma-separated, in data-column order.
    #[arg(long, value_delimiter = ',', default_value = "x")]
    vars: Vec<String>,
    /// The parameters in this order (default: every other name, in order of appearance).
    #[arg(long, value_delimiter = ',')]
    params: Option<Vec<String>>,
    /// Print the GPU shader of one kernel instead: predict, residual-jacobian,
    /// normal-equations, sum-of-squares, or batch (the whole LM loop, one thread per fit).
    #[arg(long, value_name = "KERNEL")]
    wgsl: Option<String>,
    /// With --wgsl: the f64 form (for devices with SHADER_F64).
    #[arg(long)]
    f64: bool,
}

impl ExplainArgs {
    pub fn new(model: String, vars: Vec<String>) -> Self {
        ExplainArgs { model, vars, params: None, wgsl: None, f64: false }
    }
}

pub fn run(args: &ExplainArgs) -> anyhow::Result<()> {
    let options =
        ModelOptions { names: Names { vars: args.vars.clone(), params: args.params.clone() }, ..Default::default() };
    let model = Model::parse_with(&args.model, &options)?;
    if let Some(which) = &args.wgsl {
        use jitfit::backend::wgsl::{Precision, WgslKernel, write_batch_shader, write_shader_in};
        let precision = if args.f64 { Precision::F64 } else { Precision::F32 };
        let kernel = match which.as_str() {
            "predict" => WgslKernel::Predict,
            "residual-jacobian" => WgslKernel::ResidualJacobian,
            "normal-equations" => WgslKernel::NormalEquations,
            "sum-of-squares" => WgslKernel::SumOfSquares,
            "batch" if args.f64 => anyhow::bail!("the batch shader is f32 only"),
            "batch" => {
                out!("{}", write_batch_shader(model.kernel()))?;
                return Ok(());
            }
            other => anyhow::bail!(
                "--wgsl: `{other}` is not one of predict, residual-jacobian, normal-equations, sum-of-squares, batch"
            ),
        };
        out!("{}", write_shader_in(model.kernel(), kernel, precision))?;
        return Ok(());
    }
    let compiled = CraneliftKernels::compile(model.kernel())?;
    let ast = jitfit::syntax::parse(&args.model)?;
    let canonical = ast.canonical_text();
    let (key, fingerprint) = (cache::key_of(&canonical, &options), cache::model_fingerprint(&canonical, &options));
    let kernel = model.kernel();
    let report = model.simplify_report();
    let times = model.times();

    outln!("model       {}", args.model.trim())?;
    outln!("variables   {}", model.vars().join(", "))?;
    outln!("parameters  {} ({})", model.params().join(", "), model.n_params())?;
    if !model.helpers().is_empty() {
        outln!("helpers     {}", model.helpers().join(", "))?;
    }
    match (model.response_name(), model.response_text()) {
        (Some(name), Some(t)) => outln!("response    {name}, fitted as {t}")?,
        (Some(name), None) => outln!("response    {name}")?,
        _ => {}
    }
    outln!()?;
    outln!("simplified")?;
    outln!("  f = {}", model.value_text())?;
    for (name, text) in model.params().iter().zip(model.derivative_texts()) {
        outln!("  df/d{name} = {text}")?;
    }
    outln!()?;
    let (n_insts, n_calls, point_calls) = kernel.op_counts();
    outln!("kernel IR ({n_insts} instructions; {n_calls} transcendental calls, {point_calls} of them per point)")?;
    for line in kernel.to_string().lines().skip(1) {
        outln!("{line}")?;
    }
    outln!()?;
    outln!(
        "sizes       DAG {} nodes before simplification, {} after; e-graph {} nodes in {} classes",
        report.nodes_before,
        report.nodes_after,
        report.egraph_nodes,
        report.egraph_classes
    )?;
    outln!("egg         {} iterations, stopped: {}", report.iterations, report.stop_reason)?;
    outln!(
        "timings     parse {}, resolve {}, differentiate {}, simplify {}, lower {}; total {}",
        us(times.parse),
        us(times.resolve),
        us(times.differentiate),
        us(times.simplify),
        us(times.lower),
        us(times.total())
    )?;
    outln!("compile     Cranelift, predict + residual_jacobian: {}", us(compiled.compile_time()))?;
    outln!("cache key   {key} (model fingerprint {fingerprint:032x})")?;
    Ok(())
}

fn us(d: Duration) -> String {
    if d < Duration::from_millis(1) {
        format!("{:.0} µs", d.as_secs_f64() * 1e6)
    } else {
        format!("{:.2} ms", d.as_secs_f64() * 1e3)
    }
}
