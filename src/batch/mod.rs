//! Many fits at once, two ways:
//! - [`CompiledModel::fit_batch`]: every option of a single fit (losses, methods, Poisson…),
//!   each fit exactly as [`FitBuilder::run`] would do it alone, in parallel over the fits;
//! - [`CompiledModel::fit_many`] ([`compact`]): Gpufit's job — thousands to millions of small
//!   least-squares fits as arrays, a compact Levenberg–Marquardt per fit on the CPU, or the
//!   same loop in f32 on the GPU ([`gpu`]).
//!
//! Either way results are bit-identical to fitting each data set by itself (on the CPU),
//! whatever the thread count.

pub mod compact;
mod gpu;

pub use compact::{BatchData, BatchOptions, BatchResults, BatchStatus, BatchVar};
pub use gpu::MAX_POINTS_PER_FIT;

use crate::compiled::CompiledModel;
use crate::fit::{Data, Fit, FitBuilder, FitError};
use rayon::prelude::*;
use std::sync::Arc;
use std::time::{Duration, Instant};

/// The results of a batch, in the order of the data sets.
#[derive(Debug)]
pub struct Batch {
    /// One result per data set: a fit (converged or not), or why it could not be fitted.
    pub fits: Vec<Result<Fit, FitError>>,
    pub elapsed: Duration,
}

impl Batch {
    /// How many fits converged.
    pub fn converged(&self) -> usize {
        self.fits.iter().filter(|f| f.as_ref().is_ok_and(|f| f.status.converged())).count()
    }

    /// The median number of iterations over the fits that ran.
    pub fn median_iterations(&self) -> Option<usize> {
        let mut iterations: Vec<usize> =
            self.fits.iter().filter_map(|f| f.as_ref().ok().map(|f| f.iterations)).collect();
        iterations.sort_unstable();
        iterations.get(iterations.len() / 2).copied()
    }

    /// Fits per second of wall time.
    pub fn fits_per_second(&self) -> f64 {
        self.fits.len() as f64 / self.elapsed.as_secs_f64().max(1e-12)
    }
}

impl CompiledModel {
    /// Fits this model to every data set, in parallel. `configure` sets each fit's options
    /// (it receives the data set's index): `|_, fit| fit.p0(&[1.0, 0.5])`.
    pub fn fit_batch<F>(self: &Arc<Self>, datasets: &[Data], configure: F) -> Batch
    where
        F: for<'d> Fn(usize, FitBuilder<'d>) -> FitBuilder<'d> + Sync,
    {
        let (fits, elapsed) = self.fit_batch_map(datasets, configure, |_, fit| fit);
        Batch { fits, elapsed }
    }

    /// [`fit_batch`](Self::fit_batch), each result handed to `keep` (with its data set's
    /// index) as soon as it is made, in parallel: only what `keep` returns is held — a batch of
    /// many fits can keep a few numbers of each, not each whole `Fit` (statistics, covariance,
    /// residuals). Returns the kept values in the data sets' order and the time taken.
    pub fn fit_batch_map<F, K, T>(self: &Arc<Self>, datasets: &[Data], configure: F, keep: K) -> (Vec<T>, Duration)
    where
        F: for<'d> Fn(usize, FitBuilder<'d>) -> FitBuilder<'d> + Sync,
        K: Fn(usize, Result<Fit, FitError>) -> T + Sync,
        T: Send,
    {
        let started = Instant::now();
        let kept =
            datasets.par_iter().enumerate().map(|(k, data)| keep(k, configure(k, self.fit(data)).run())).collect();
        (kept, started.elapsed())
    }
}
