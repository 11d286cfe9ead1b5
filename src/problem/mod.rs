//! Problems: what joins compiled kernels and data to the solver. Each implements
//! [`solve::Problem`](crate::solve::Problem) over something a layer below provides:
//!
//! - [`DataProblem`]: a model's CPU kernels over data columns, in fixed chunks on every core,
//!   partial sums combined in a fixed pairwise tree (results independent of the thread count);
//! - [`GpuProblem`]: the same on the GPU's resident data, in f32 or f64;
//! - [`FixedParams`]: another problem with some parameters held fixed;
//! - [`PoissonProblem`]: another problem's residuals f − y turned into Poisson deviance
//!   residuals (the maximum-likelihood estimator for counts).
//!
//! This layer sits between the backends and the solver: it knows both, and neither knows it.

mod data;
mod fixed;
#[cfg(feature = "gpu")]
mod gpu;
mod poisson;
mod ranks;

pub(crate) use data::evaluation;
pub use data::{DataProblem, STREAM_CHUNK};
pub use fixed::{FixedParams, FreeParams};
#[cfg(feature = "gpu")]
pub use gpu::GpuProblem;
pub use poisson::{PoissonProblem, deviance_residual};
pub(crate) use ranks::sum_over_chunks;
pub use ranks::{Collective, Share};
