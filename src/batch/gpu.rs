//! Batches on the GPU: a [`BatchData`] laid out for the batch fit shader (f32), the fit loop
//! run on the device, the results read back into [`BatchResults`].

use super::compact::{BatchData, BatchOptions, BatchResults};
use crate::compiled::CompiledModel;
use crate::fit::FitError;
use std::sync::Arc;
use std::time::Instant;

/// The most points one fit of a GPU batch may have: one thread runs a whole fit, and a
/// dispatch that runs too long is killed by the driver's watchdog (the device is then lost).
#[cfg_attr(not(feature = "gpu"), allow(dead_code))]
pub const MAX_POINTS_PER_FIT: usize = 4096;

#[cfg(not(feature = "gpu"))]
pub(super) fn fit_many(
    _model: &Arc<CompiledModel>,
    _data: &BatchData<'_>,
    _options: &BatchOptions,
    _started: Instant,
) -> Result<BatchResults, FitError> {
    Err(FitError::Gpu("this build of jitfit has no GPU support (cargo feature `gpu`)".into()))
}

#[cfg(feature = "gpu")]
pub(super) fn fit_many(
    model: &Arc<CompiledModel>,
    data: &BatchData<'_>,
    options: &BatchOptions,
    started: Instant,
) -> Result<BatchResults, FitError> {
    use super::compact::{BatchStatus, BatchVar};
    use crate::backend::gpu::{BatchInput, device};
    use crate::backend::wgsl::batch_outputs;
    let gpu = |e: crate::backend::gpu::GpuError| FitError::Gpu(e.to_string());
    let (n, fits) = (model.n_params(), data.n_fits());
    let largest_fit = data.offsets.windows(2).map(|w| w[1] - w[0]).max().unwrap_or(0);
    if largest_fit > MAX_POINTS_PER_FIT {
        return Err(FitError::Invalid(format!(
            "a GPU batch runs each fit in one thread: fits of at most {MAX_POINTS_PER_FIT} points (the largest has {largest_fit}); use --backend cpu"
        )));
    }
    let elements = data.y.len().max(fits * crate::backend::wgsl::batch_outputs(n)).max(data.vars.len() * data.y.len());
    if elements >= u32::MAX as usize {
        return Err(FitError::Invalid("a GPU batch holds fewer than 2^32 values per buffer; split it".into()));
    }
    // Input the GPU cannot take is refused before the device is opened, with or without one.
    let device = device().map_err(gpu)?;
    let kernel = model.gpu_batch_kernel().map_err(gpu)?;
    let (mut vars, mut meta) = (Vec::new(), Vec::new());
    let mut start = 0;
    for column in data.model_vars(model) {
        let (values, shared) = match column {
            BatchVar::Shared(v) => (v, 1),
            BatchVar::PerPoint(v) => (v, 0),
        };
        meta.push(start as u32);
        meta.push(shared);
        start += values.len();
        vars.push(values);
    }
    meta.extend(data.offsets.iter().map(|o| *o as u32));
    let mut params = vec![0.0; fits * n];
    {
        use rayon::prelude::*;
        params.par_chunks_mut(n.max(1)).enumerate().for_each(|(k, row)| row.copy_from_slice(options.initial(k, n)));
    }
    let bounds: Option<Vec<f32>> = (!options.lower.is_empty()).then(|| {
        let finite = |v: f64| (v as f32).clamp(-f32::MAX, f32::MAX);
        options.lower.iter().chain(&options.upper).map(|v| finite(*v)).collect()
    });
    let input = BatchInput {
        vars: &vars,
        meta: &meta,
        y: data.y,
        weights: data.weights,
        params: &params,
        bounds: bounds.as_deref(),
        fits,
        max_iterations: options.max_iterations.min(u32::MAX as usize) as u32,
        // In f32, r = f − y loses digits to cancellation (f ≈ 10, r ≈ 0.03 on the spots: ~1e-4
        // relative noise in χ²): a tighter tolerance than Gpufit's 1e-4 only adds iterations
        // that chase the noise (measured: median 12 at 1e-6, 5 at 1e-4, as on the CPU).
        tolerance: options.tolerance.max(1e-4) as f32,
        absolute_sigma: options.absolute_sigma,
    };
    let output = kernel.run(device, &input).map_err(gpu)?;
    let per = batch_outputs(n);
    let mut std_errors = Vec::with_capacity(fits * n);
    let (mut chi2, mut iterations, mut status) = (Vec::new(), Vec::new(), Vec::new());
    for row in output.out.chunks_exact(per) {
        std_errors.extend(row[..n].iter().map(|v| f64::from(*v)));
        chi2.push(f64::from(row[n]));
        iterations.push(row[n + 1] as u32);
        status.push(BatchStatus::from_code(row[n + 2] as u32));
    }
    Ok(BatchResults {
        n_params: n,
        values: output.params.iter().map(|v| f64::from(*v)).collect(),
        std_errors,
        chi2,
        iterations,
        status,
        elapsed: started.elapsed(),
        backend: crate::backend::Backend::Gpu,
        adapter: Some(device.describe()),
    }
    .settle())
}
