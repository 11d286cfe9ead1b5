//! A model compiled to native kernels: [`Model::compile`] from the symbolic side, or
//! [`CompiledModel::from_verified`] from IR loaded elsewhere (a disk cache hit). Fitting,
//! batches and multi-start hang off it; the cache only memoizes it.
//!
//! This module knows nothing of the cache: its [`CacheKey`] is the model's identity, computed
//! here, which the cache uses to look models up.

mod key;

pub use key::{CacheKey, KERNEL_SET, cache_key, key_of, model_fingerprint};

use crate::backend::Kernels;
use crate::backend::cranelift::CraneliftKernels;
use crate::ir::VerifiedKernel;
use crate::{Model, ModelError};
use std::time::{Duration, Instant};

#[cfg(feature = "gpu")]
use crate::backend::gpu::{GpuBatchKernel, GpuError, GpuKernels};
#[cfg(feature = "gpu")]
use std::sync::{Arc, OnceLock};

/// A model compiled to native kernels, with what it needs to be fitted and reported.
pub struct CompiledModel {
    key: CacheKey,
    source: String,
    response_name: Option<String>,
    kernels: CraneliftKernels,
    build_time: Duration,
    /// The GPU pipelines, compiled from the same IR on first use (per process: the driver's
    /// code is never persisted, like Cranelift's).
    #[cfg(feature = "gpu")]
    gpu: OnceLock<Result<Arc<GpuKernels>, GpuError>>,
    /// The batch fit pipeline, likewise.
    #[cfg(feature = "gpu")]
    gpu_batch: OnceLock<Result<Arc<GpuBatchKernel>, GpuError>>,
}

impl std::fmt::Debug for CompiledModel {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("CompiledModel").field("key", &self.key).field("source", &self.source).finish_non_exhaustive()
    }
}

impl Model {
    /// Compiles the model's kernels with Cranelift (about a millisecond). No cache is
    /// involved: [`crate::compile`] and [`crate::KernelCache`] memoize this.
    pub fn compile(&self) -> Result<CompiledModel, ModelError> {
        let started = Instant::now();
        let key = key_of(self.canonical_text(), self.options());
        let response_name = self.response_name().map(str::to_owned);
        let mut model = CompiledModel::from_verified(key, self.source(), response_name, self.kernel())?;
        model.build_time = self.times().total() + started.elapsed();
        Ok(model)
    }
}

impl CompiledModel {
    /// Compiles a verified kernel that was built elsewhere (read from a disk cache, say) under
    /// `key`, which the caller vouches for: it must be the key of `source` with the kernel's
    /// names and the options it was built with.
    pub fn from_verified(
        key: CacheKey,
        source: &str,
        response_name: Option<String>,
        kernel: &VerifiedKernel,
    ) -> Result<CompiledModel, ModelError> {
        let started = Instant::now();
        let kernels = CraneliftKernels::compile(kernel)?;
        Ok(CompiledModel {
            key,
            source: source.to_owned(),
            response_name,
            kernels,
            build_time: started.elapsed(),
            #[cfg(feature = "gpu")]
            gpu: OnceLock::new(),
            #[cfg(feature = "gpu")]
            gpu_batch: OnceLock::new(),
        })
    }

    pub fn key(&self) -> CacheKey {
        self.key
    }
    /// The model text as the user wrote it (the first time it was compiled).
    pub fn source(&self) -> &str {
        &self.source
    }
    pub fn kernel(&self) -> &VerifiedKernel {
        self.kernels.kernel()
    }
    /// The model's GPU pipelines on the process's device, compiled on the first call.
    #[cfg(feature = "gpu")]
    pub fn gpu_kernels(&self) -> Result<Arc<GpuKernels>, GpuError> {
        self.gpu
            .get_or_init(|| {
                let device = crate::backend::gpu::device()?;
                GpuKernels::new(device, self.kernels.kernel()).map(Arc::new)
            })
            .clone()
    }
    /// The model's batch fit pipeline on the process's device, compiled on the first call.
    #[cfg(feature = "gpu")]
    pub fn gpu_batch_kernel(&self) -> Result<Arc<GpuBatchKernel>, GpuError> {
        self.gpu_batch
            .get_or_init(|| {
                let device = crate::backend::gpu::device()?;
                GpuBatchKernel::new(device, self.kernels.kernel()).map(Arc::new)
            })
            .clone()
    }
    pub fn kernels(&self) -> &CraneliftKernels {
        &self.kernels
    }
    pub fn vars(&self) -> &[String] {
        &self.kernel().var_names
    }
    pub fn params(&self) -> &[String] {
        &self.kernel().param_names
    }
    pub fn n_params(&self) -> usize {
        self.kernel().n_params()
    }
    pub fn response_name(&self) -> Option<&str> {
        self.response_name.as_deref()
    }
    pub fn transforms_response(&self) -> bool {
        self.kernel().outputs.response.is_some()
    }
    /// Time to build this model the first time (front end or disk load, plus code generation).
    pub fn build_time(&self) -> Duration {
        self.build_time
    }
    /// Sets the build time when more than code generation went into it (the cache's whole
    /// compile: the front end or the disk load, then code generation).
    pub(crate) fn set_build_time(&mut self, total: Duration) {
        self.build_time = total;
    }
}
