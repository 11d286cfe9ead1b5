//! The solver's view of data on the device: a [`Problem`] whose residuals, Jacobian, normal
//! equations and cost come from the shaders, in f32 (the first phase of a mixed-precision fit)
//! or in f64 (its finish, on devices with `SHADER_F64`; see [`crate::fit`]).

use crate::backend::gpu::{GpuData, GpuError};
use crate::backend::wgsl::Precision;
use crate::loss::LossSpec;
use crate::solve::{NormalEquations, Problem, SolveError};

/// A least-squares problem evaluated on the GPU, in one precision, under the linear loss.
pub struct GpuProblem<'a> {
    data: &'a GpuData,
    n_params: usize,
    precision: Precision,
}

impl<'a> GpuProblem<'a> {
    pub fn new(data: &'a GpuData, n_params: usize, precision: Precision) -> Self {
        GpuProblem { data, n_params, precision }
    }
}

fn evaluation(e: GpuError) -> SolveError {
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
        let (r, _) = self.data.residual_jacobian(self.precision, params).map_err(evaluation)?;
        out.copy_from_slice(&r);
        Ok(())
    }

    fn jacobian(&mut self, params: &[f64], _residuals: &[f64], out: &mut [f64]) -> Result<(), SolveError> {
        let (_, j) = self.data.residual_jacobian(self.precision, params).map_err(evaluation)?;
        out.copy_from_slice(&j);
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
        acc.add(&self.data.normal_equations(self.precision, params).map_err(evaluation)?);
        Ok(())
    }

    fn sum_of_squares(&mut self, params: &[f64], loss: LossSpec) -> Result<Option<f64>, SolveError> {
        linear_only(loss)?;
        self.data.sum_of_squares(self.precision, params).map(Some).map_err(evaluation)
    }
}
