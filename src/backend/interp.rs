//! The reference backend: the IR interpreter behind the [`Kernels`] trait. Slow, obviously
//! right, and what every other backend is tested against.

use super::{
    BackendError, Chunk, Kernels, NormalEquations, check_chunk, check_normal_equations, check_residual_jacobian,
    check_residuals, check_shapes,
};
use crate::ir::{Interpreter, VerifiedKernel};
use crate::loss::LossSpec;
use crate::solve::{Partials, PointSums};

/// Runs kernels with [`Interpreter`].
#[derive(Clone, Debug)]
pub struct InterpreterKernels {
    kernel: VerifiedKernel,
}

impl InterpreterKernels {
    pub fn new(kernel: VerifiedKernel) -> Self {
        InterpreterKernels { kernel }
    }

    /// The weighted residual w_i·(f − t(y_i)) at point `i`; `row` gets w_i·∂f/∂p.
    fn weighted_point(
        &self,
        interp: &mut Interpreter<'_>,
        chunk: &Chunk<'_>,
        i: usize,
        params: &[f64],
        row: &mut [f64],
    ) -> f64 {
        let point: Vec<f64> = chunk.vars.iter().map(|c| c[i]).collect();
        let y = chunk.y[i];
        let values = interp.eval_point(&point, y, params);
        let outputs = &self.kernel.outputs;
        let w = chunk.weights.map_or(1.0, |w| w[i]);
        for (slot, d) in row.iter_mut().zip(&outputs.derivatives) {
            *slot = values[d.index()] * w;
        }
        let target = outputs.response.map_or(y, |t| values[t.index()]);
        w * (values[outputs.value.index()] - target)
    }
}

impl Kernels for InterpreterKernels {
    fn kernel(&self) -> &VerifiedKernel {
        &self.kernel
    }

    fn predict(&self, vars: &[&[f64]], params: &[f64], out: &mut [f64]) -> Result<(), BackendError> {
        check_shapes(&self.kernel, vars, out.len(), params)?;
        let mut interp = Interpreter::new(&self.kernel);
        let mut point = vec![0.0; vars.len()];
        for (i, slot) in out.iter_mut().enumerate() {
            for (p, column) in point.iter_mut().zip(vars) {
                *p = column[i];
            }
            *slot = interp.value(&point, params);
        }
        Ok(())
    }

    fn residual_jacobian(
        &self,
        chunk: &Chunk<'_>,
        params: &[f64],
        residuals: &mut [f64],
        jacobian: &mut [f64],
    ) -> Result<(), BackendError> {
        check_residual_jacobian(&self.kernel, chunk, params, residuals, jacobian)?;
        let (n, p) = (chunk.len(), self.kernel.n_params());
        let mut interp = Interpreter::new(&self.kernel);
        for i in 0..n {
            residuals[i] = self.weighted_point(&mut interp, chunk, i, params, &mut jacobian[i * p..(i + 1) * p]);
        }
        Ok(())
    }

    fn normal_equations(
        &self,
        chunk: &Chunk<'_>,
        params: &[f64],
        acc: &mut NormalEquations,
    ) -> Result<(), BackendError> {
        check_normal_equations(&self.kernel, chunk, params, acc)?;
        let p = self.kernel.n_params();
        let mut interp = Interpreter::new(&self.kernel);
        let mut row = vec![0.0; p];
        let mut sums = PointSums::new(p);
        for i in 0..chunk.len() {
            let r = self.weighted_point(&mut interp, chunk, i, params, &mut row);
            sums.add_point(r, &row);
        }
        sums.add_to(acc);
        Ok(())
    }

    fn residuals(&self, chunk: &Chunk<'_>, params: &[f64], out: &mut [f64]) -> Result<(), BackendError> {
        check_residuals(&self.kernel, chunk, params, out)?;
        let mut interp = Interpreter::new(&self.kernel);
        let mut row = vec![0.0; self.kernel.n_params()];
        for (i, slot) in out.iter_mut().enumerate() {
            *slot = self.weighted_point(&mut interp, chunk, i, params, &mut row);
        }
        Ok(())
    }

    fn sum_of_squares(&self, chunk: &Chunk<'_>, params: &[f64]) -> Result<f64, BackendError> {
        check_chunk(&self.kernel, chunk, params)?;
        let mut interp = Interpreter::new(&self.kernel);
        let mut row = vec![0.0; self.kernel.n_params()];
        let mut sum = Partials::default();
        for i in 0..chunk.len() {
            let r = self.weighted_point(&mut interp, chunk, i, params, &mut row);
            sum.add(i, r * r);
        }
        // The compiled kernel adds the total to a slot that starts at 0.0 (so −0.0 becomes +0.0).
        Ok(0.0 + sum.total())
    }

    fn robust_normal_equations(
        &self,
        chunk: &Chunk<'_>,
        params: &[f64],
        loss: LossSpec,
        acc: &mut NormalEquations,
    ) -> Result<(), BackendError> {
        check_normal_equations(&self.kernel, chunk, params, acc)?;
        let p = self.kernel.n_params();
        let c2 = loss.f_scale * loss.f_scale;
        let mut interp = Interpreter::new(&self.kernel);
        let mut row = vec![0.0; p];
        let mut sums = PointSums::new(p);
        for i in 0..chunk.len() {
            let r = self.weighted_point(&mut interp, chunk, i, params, &mut row);
            let (cost, scaled, j_scale) = loss.loss.point(r, c2);
            for d in row.iter_mut() {
                *d *= j_scale;
            }
            sums.add_point_with_cost(scaled, &row, cost);
        }
        sums.add_to(acc);
        Ok(())
    }

    fn robust_cost(&self, chunk: &Chunk<'_>, params: &[f64], loss: LossSpec) -> Result<f64, BackendError> {
        check_chunk(&self.kernel, chunk, params)?;
        let c2 = loss.f_scale * loss.f_scale;
        let mut interp = Interpreter::new(&self.kernel);
        let mut row = vec![0.0; self.kernel.n_params()];
        let mut sum = Partials::default();
        for i in 0..chunk.len() {
            let r = self.weighted_point(&mut interp, chunk, i, params, &mut row);
            sum.add(i, loss.loss.point(r, c2).0);
        }
        Ok(0.0 + sum.total())
    }
}
