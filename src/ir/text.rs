//! The stable text form of a kernel, for golden tests and `jitfit explain`:
//!
//! ```text
//! kernel v1 (x) -> (a, b)
//!   %0 = var x
//!   %1 = param a
//!   %2 = mul %1 %0
//!   f = %2
//!   df/da = %0
//! ```

use super::kernel::{Inst, Kernel};
use std::fmt;

impl fmt::Display for Kernel {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        writeln!(f, "kernel v{} ({}) -> ({})", self.version, self.var_names.join(", "), self.param_names.join(", "))?;
        let name = |names: &[String], i: usize| names.get(i).cloned().unwrap_or_else(|| format!("#{i}"));
        for (i, inst) in self.insts.iter().enumerate() {
            let rhs = match inst {
                Inst::Const(c) => format!("const {c:?}"),
                Inst::Var(v) => format!("var {}", name(&self.var_names, v.index())),
                Inst::Param(p) => format!("param {}", name(&self.param_names, p.index())),
                Inst::Response => "response".to_owned(),
                Inst::Unary(op, a) => format!("{} {a}", op.name()),
                Inst::Binary(op, a, b) => format!("{} {a} {b}", op.name()),
            };
            writeln!(f, "  %{i} = {rhs}")?;
        }
        for (name, value) in self.named_outputs() {
            writeln!(f, "  {name} = {value}")?;
        }
        Ok(())
    }
}
