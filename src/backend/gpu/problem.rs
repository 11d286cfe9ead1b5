//! The solver's view of data on the device: a [`Problem`] whose residuals, Jacobian, normal
//! equations and cost come from the f32 shaders. It serves the first phase of a mixed-precision
//! fit (see [`crate::fit`]); the reported results never come from it.

use super::data::GpuData;
use crate::backend::NormalEquations;
use crate::loss::LossSpec;
use crate::solve::{Problem, SolveError};

/// A least-squares problem evaluated on the GPU, in f32, under the linear loss.
pub struct GpuProblem<'a> {
    data: &'a GpuData,
    n_params: usize,
}

impl<'a> GpuProblem<'a> {
    pub fn new(data: &'a GpuData, n_params: usize) -> Self {
        GpuProblem { data, n_params }
    }
}

fn evaluation(e: super::GpuError) -> SolveError {
    SolveError::Evaluation(e.to_string())
}

fn linear_only(loss: LossSpec) -> Result<(), SolveError> {
    if loss.is_linear() {
        Ok(())
    } else {
        Err(SolveError::InvalidInput("the GPU backend supports the linear loss only".into()))
    }
}

impl Problem for GpuProblem<'_> {
    fn n_residuals(&self) -> usize {
        self.data.len()
    }

    fn n_params(&self) -> usize {
        self.n_params
    }

    fn residuals(&mut self, params: &[f64], out: &mut [f64]) -> Result<(), SolveError> {
        let (r, _) = self.data.residual_jacobian(params).map_err(evaluation)?;
        for (o, v) in out.iter_mut().zip(r) {
            *o = f64::from(v);
        }
        Ok(())
    }

    fn jacobian(&mut self, params: &[f64], _residuals: &[f64], out: &mut [f64]) -> Result<(), SolveError> {
        let (_, j) = self.data.residual_jacobian(params).map_err(evaluation)?;
        for (o, v) in out.iter_mut().zip(j) {
            *o = f64::from(v);
        }
        Ok(())
    }

    fn supports_normal_equations(&self) -> bool {
        true
    }

    fn normal_equations(
        &mut self,
        params: &[f64],
        loss: LossSpec,
        acc: &mut NormalEquations,
    ) -> Result<(), SolveError> {
        linear_only(loss)?;
        acc.add(&self.data.normal_equations(params).map_err(evaluation)?);
        Ok(())
    }

    fn sum_of_squares(&mut self, params: &[f64], loss: LossSpec) -> Result<Option<f64>, SolveError> {
        linear_only(loss)?;
        self.data.sum_of_squares(params).map(Some).map_err(evaluation)
    }
}
