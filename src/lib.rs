//! # jitfit
//!
//! Fit string-defined models to data, fast. A model is text — `a*exp(-b*x) + c` — that
//! jitfit parses ([`syntax`]), differentiates symbolically and simplifies with egg
//! ([`symbolic`]), and lowers to a small kernel IR ([`ir`]) that computes the model and its
//! exact Jacobian with shared subexpressions. The IR is what backends compile and run.
//!
//! ```
//! use jitfit::Model;
//!
//! let model = Model::parse("a*exp(-b*x) + c").unwrap();
//! assert_eq!(model.params(), ["a", "b", "c"]);
//!
//! // The reference interpreter evaluates f and ∂f/∂p at a point.
//! let mut interp = jitfit::ir::Interpreter::new(model.kernel());
//! let batch = interp.eval_batch(&[&[0.0, 1.0]], None, &[2.0, 1.0, 0.5]);
//! assert_eq!(batch.value[0], 2.5);
//! assert_eq!(batch.jacobian[0..3], [1.0, -0.0, 1.0]);
//!
//! // Errors point at the fault.
//! let err = Model::parse("a*exq(-b*x) + c").unwrap_err();
//! assert_eq!(err.to_string(), "\
//! error: unknown function `exq` (did you mean `exp`?)
//!   |
//! 1 | a*exq(-b*x) + c
//!   |   ^^^");
//! ```
//!
//! Each stage has its own error; `?` joins them into [`Error`]:
//!
//! ```
//! fn decay_rate(x: Vec<f64>, y: Vec<f64>) -> Result<f64, jitfit::Error> {
//!     let model = jitfit::Model::parse("a*exp(-b*x)")?.compile()?; // no cache involved
//!     let fit = std::sync::Arc::new(model).fit(&jitfit::Data::new().var("x", x).y(y)).run()?;
//!     Ok(fit.values[1])
//! }
//! let x: Vec<f64> = (0..20).map(|i| i as f64 / 4.0).collect();
//! let y = x.iter().map(|x| 2.0 * (-0.5 * x).exp()).collect();
//! assert!((decay_rate(x, y).unwrap() - 0.5).abs() < 1e-9);
//! ```

pub mod backend;
pub mod batch;
pub mod cache;
pub mod compiled;
pub mod data;
mod error;
mod fit;
pub mod fsutil;
pub mod guess;
pub mod ir;
pub mod loss;
mod model;
#[cfg(feature = "mpi")]
pub mod mpi;
pub mod multistart;
pub mod ops;
pub mod problem;
pub mod report;
pub mod solve;
pub mod symbolic;
pub mod syntax;

pub use batch::{Batch, BatchData, BatchOptions, BatchResults, BatchStatus};
pub use cache::KernelCache;
pub use compiled::CompiledModel;
pub use error::Error;
pub use fit::{
    Bands, Bootstrap, BootstrapParameter, Contour, Data, Derived, Estimator, FITTED, Fit, FitBuilder, FitError,
    FitOptions, GlobalFit, GlobalSet, Interval, Level, Limit, ParameterProfile, Profile, ProfileTest, Resampling,
    Reweighting, Scale, SetFit, compile, compile_with_vars, default_start, fit_global_sets, fit_options,
};
pub use model::{Model, ModelError, ModelOptions, StageTimes, evaluate_columns};
pub use syntax::Names;
