//! The GPU backend's runtime (wgpu): one device per process, a model's WGSL pipelines, data
//! resident on the device, and a solver [`Problem`](crate::solve::Problem) over them.
//!
//! Precision: the shaders are f32 ([`crate::backend::wgsl`]). A fit on the GPU backend
//! iterates on the device while far from the solution and finishes in f64 on the CPU backend
//! (see [`crate::fit`]): reported parameters, covariance and statistics always come from f64
//! evaluations.

mod batch;
mod data;
mod device;
mod kernels;
mod upload;

pub use batch::{BatchInput, BatchOutput, GpuBatchKernel};
pub use data::GpuData;
pub use device::{GpuDevice, GpuError, device};
pub use kernels::GpuKernels;
