//! The reference interpreter: evaluates a kernel in f64, one point at a time, with the
//! semantics of [`crate::ops`]. It defines what the IR means; every backend is tested
//! against it.

use super::kernel::{Inst, VerifiedKernel};

/// Evaluates one kernel at many points, reusing its scratch space.
pub struct Interpreter<'k> {
    kernel: &'k VerifiedKernel,
    values: Vec<f64>,
}

/// Everything a kernel computes over a batch of points.
#[derive(Clone, Debug, PartialEq)]
pub struct BatchValues {
    /// f at each point.
    pub value: Vec<f64>,
    /// The Jacobian ∂f/∂p, row-major: `jacobian[i * n_params + k]`.
    pub jacobian: Vec<f64>,
    /// t(y) at each point, when the kernel transforms the response.
    pub response: Option<Vec<f64>>,
}

impl<'k> Interpreter<'k> {
    /// An interpreter for `kernel`.
    pub fn new(kernel: &'k VerifiedKernel) -> Self {
        Interpreter { kernel, values: vec![0.0; kernel.insts.len()] }
    }

    /// Evaluates every instruction at one point; returns all SSA values.
    pub fn eval_point(&mut self, vars: &[f64], response: f64, params: &[f64]) -> &[f64] {
        assert_eq!(vars.len(), self.kernel.n_vars(), "one value per variable");
        assert_eq!(params.len(), self.kernel.n_params(), "one value per parameter");
        let v = &mut self.values;
        for (i, inst) in self.kernel.insts.iter().enumerate() {
            v[i] = match *inst {
                Inst::Const(c) => c,
                Inst::Var(x) => vars[x.index()],
                Inst::Param(p) => params[p.index()],
                Inst::Response => response,
                Inst::Unary(op, a) => op.eval(v[a.index()]),
                Inst::Binary(op, a, b) => op.eval(v[a.index()], v[b.index()]),
            };
        }
        &self.values
    }

    /// f at one point.
    pub fn value(&mut self, vars: &[f64], params: &[f64]) -> f64 {
        let out = self.kernel.outputs.value.index();
        self.eval_point(vars, f64::NAN, params)[out]
    }

    /// Evaluates over columns of variables (`columns[var][point]`) and, if the kernel
    /// transforms it, the response column.
    pub fn eval_batch(&mut self, columns: &[&[f64]], response: Option<&[f64]>, params: &[f64]) -> BatchValues {
        let n_points = columns.first().map_or(0, |c| c.len());
        assert!(columns.iter().all(|c| c.len() == n_points), "columns of equal length");
        let kernel = self.kernel;
        let p = kernel.n_params();
        let mut out = BatchValues {
            value: Vec::with_capacity(n_points),
            jacobian: Vec::with_capacity(n_points * p),
            response: kernel.outputs.response.map(|_| Vec::with_capacity(n_points)),
        };
        let mut point = vec![0.0; columns.len()];
        for i in 0..n_points {
            for (slot, column) in point.iter_mut().zip(columns) {
                *slot = column[i];
            }
            let y = response.map_or(f64::NAN, |r| r[i]);
            let values = self.eval_point(&point, y, params);
            out.value.push(values[kernel.outputs.value.index()]);
            out.jacobian.extend(kernel.outputs.derivatives.iter().map(|d| values[d.index()]));
            if let (Some(t), Some(r)) = (kernel.outputs.response, out.response.as_mut()) {
                r.push(values[t.index()]);
            }
        }
        out
    }
}
