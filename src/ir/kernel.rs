//! The kernel IR: one flat SSA program computing, for one data point, the model value, its
//! derivative with respect to every parameter and (optionally) the transformed response.
//!
//! Value `%i` is defined by instruction `i`; operands always name earlier values. Inputs are
//! the point's variables (`var`), the observed response (`response`), the uniform parameters
//! (`param`) and constants. It is serde-serializable and versioned, and [`Kernel::verify`]
//! checks every structural invariant: a kernel loaded from disk is never trusted unverified.

use crate::ops::{BinaryOp, ParamId, UnaryOp, VarId};
use serde::{Deserialize, Serialize};
use std::fmt;

/// The IR format version. Bump it whenever the meaning or the encoding changes.
pub const IR_VERSION: u32 = 1;

/// The most instructions a kernel may have (a bound on loaded files, far above real models).
pub const MAX_INSTRUCTIONS: usize = 1 << 20;

/// The id of an SSA value: the index of the instruction that defines it.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(transparent)]
pub struct ValueId(pub u32);

impl ValueId {
    pub fn index(self) -> usize {
        self.0 as usize
    }
}

impl fmt::Display for ValueId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "%{}", self.0)
    }
}

/// One instruction.
#[derive(Clone, Copy, Debug, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Inst {
    Const(#[serde(with = "f64_text")] f64),
    Var(VarId),
    Param(ParamId),
    Response,
    Unary(UnaryOp, ValueId),
    Binary(BinaryOp, ValueId, ValueId),
}

impl Inst {
    /// The values this instruction reads.
    pub fn operands(&self) -> impl Iterator<Item = ValueId> {
        let (a, b) = match *self {
            Inst::Unary(_, a) => (Some(a), None),
            Inst::Binary(_, a, b) => (Some(a), Some(b)),
            _ => (None, None),
        };
        a.into_iter().chain(b)
    }
}

/// Which values are the kernel's results.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Outputs {
    /// The model value f.
    pub value: ValueId,
    /// ∂f/∂p_k, one per parameter.
    pub derivatives: Vec<ValueId>,
    /// The transformed response t(y) (`log[y] = ...`); `None` means t(y) = y.
    pub response: Option<ValueId>,
}

/// A program for one model, as written or loaded: not yet trusted. [`VerifiedKernel::new`]
/// checks it; backends accept only a [`VerifiedKernel`]. See the module docs.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Kernel {
    pub version: u32,
    pub var_names: Vec<String>,
    pub param_names: Vec<String>,
    pub insts: Vec<Inst>,
    pub outputs: Outputs,
}

/// Why a kernel is ill-formed. Produced for a kernel built by jitfit itself, this is a bug.
#[derive(Clone, Debug, PartialEq, thiserror::Error)]
#[non_exhaustive]
pub enum VerifyError {
    #[error("IR version {found}, expected {expected}")]
    Version { found: u32, expected: u32 },
    #[error("{0} instructions, more than the limit of {MAX_INSTRUCTIONS}")]
    TooLarge(usize),
    #[error("instruction %{at} uses {operand}, which is not defined before it")]
    UseBeforeDef { at: usize, operand: ValueId },
    #[error("instruction %{at} reads variable {var}, but the kernel has {n_vars} variables")]
    BadVar { at: usize, var: u32, n_vars: usize },
    #[error("instruction %{at} reads parameter {param}, but the kernel has {n_params} parameters")]
    BadParam { at: usize, param: u32, n_params: usize },
    #[error("output {name} is {value}, but the kernel has {len} instructions")]
    BadOutput { name: String, value: ValueId, len: usize },
    #[error("{found} derivative outputs for {n_params} parameters")]
    DerivativeCount { found: usize, n_params: usize },
    #[error("the model value reads the response, which only the response transform may do")]
    ResponseInModel,
    #[error("a parameter or variable name is not an identifier, or is repeated")]
    BadNames,
}

impl Kernel {
    pub fn n_vars(&self) -> usize {
        self.var_names.len()
    }

    pub fn n_params(&self) -> usize {
        self.param_names.len()
    }

    /// Checks every structural invariant (see [`VerifiedKernel`], which holds the result).
    pub fn verify(&self) -> Result<(), VerifyError> {
        if self.version != IR_VERSION {
            return Err(VerifyError::Version { found: self.version, expected: IR_VERSION });
        }
        let len = self.insts.len();
        if len > MAX_INSTRUCTIONS {
            return Err(VerifyError::TooLarge(len));
        }
        let mut names: Vec<&str> = self.var_names.iter().chain(&self.param_names).map(String::as_str).collect();
        names.sort_unstable();
        // Identifiers as the grammar writes them: a loaded name is printed in reports, so a
        // newline or an escape sequence in one must never get there.
        let identifier = |n: &str| {
            n.chars().next().is_some_and(|c| c.is_ascii_alphabetic() || c == '_')
                && n.chars().all(|c| c.is_ascii_alphanumeric() || c == '_')
        };
        if names.iter().any(|n| !identifier(n)) || names.windows(2).any(|w| w[0] == w[1]) {
            return Err(VerifyError::BadNames);
        }
        for (at, inst) in self.insts.iter().enumerate() {
            for operand in inst.operands() {
                if operand.index() >= at {
                    return Err(VerifyError::UseBeforeDef { at, operand });
                }
            }
            match *inst {
                Inst::Var(v) if v.index() >= self.n_vars() => {
                    return Err(VerifyError::BadVar { at, var: v.0, n_vars: self.n_vars() });
                }
                Inst::Param(p) if p.index() >= self.n_params() => {
                    return Err(VerifyError::BadParam { at, param: p.0, n_params: self.n_params() });
                }
                _ => {}
            }
        }
        if self.outputs.derivatives.len() != self.n_params() {
            return Err(VerifyError::DerivativeCount {
                found: self.outputs.derivatives.len(),
                n_params: self.n_params(),
            });
        }
        for (name, value) in self.named_outputs() {
            if value.index() >= len {
                return Err(VerifyError::BadOutput { name, value, len });
            }
        }
        // f and ∂f must not depend on y; only t(y) may.
        let mut reads_response = vec![false; len];
        for (i, inst) in self.insts.iter().enumerate() {
            reads_response[i] = matches!(inst, Inst::Response) || inst.operands().any(|o| reads_response[o.index()]);
        }
        let model_outputs = std::iter::once(self.outputs.value).chain(self.outputs.derivatives.iter().copied());
        if model_outputs.into_iter().any(|v| reads_response[v.index()]) {
            return Err(VerifyError::ResponseInModel);
        }
        Ok(())
    }

    /// Which instructions a kernel needs to compute the model value and, if asked, the
    /// derivatives and the transformed response (a backward sweep from those outputs).
    pub fn live(&self, derivatives: bool, response: bool) -> Vec<bool> {
        let mut live = vec![false; self.insts.len()];
        live[self.outputs.value.index()] = true;
        if derivatives {
            for d in &self.outputs.derivatives {
                live[d.index()] = true;
            }
        }
        if let (true, Some(t)) = (response, self.outputs.response) {
            live[t.index()] = true;
        }
        for i in (0..self.insts.len()).rev() {
            if live[i] {
                for o in self.insts[i].operands() {
                    live[o.index()] = true;
                }
            }
        }
        live
    }

    /// Every output with its display name: `f`, `df/d<param>`, `t(y)`.
    pub fn named_outputs(&self) -> Vec<(String, ValueId)> {
        let mut out = vec![("f".to_owned(), self.outputs.value)];
        for (k, d) in self.outputs.derivatives.iter().enumerate() {
            let name = self.param_names.get(k).map_or("?", String::as_str);
            out.push((format!("df/d{name}"), *d));
        }
        if let Some(r) = self.outputs.response {
            out.push(("t(y)".to_owned(), r));
        }
        out
    }

    /// Which values vary from point to point (depend on a variable or the response); the
    /// others depend on parameters and constants only and can be computed once per call.
    pub fn per_point(&self) -> Vec<bool> {
        let mut per_point = vec![false; self.insts.len()];
        for (i, inst) in self.insts.iter().enumerate() {
            per_point[i] =
                matches!(inst, Inst::Var(_) | Inst::Response) || inst.operands().any(|o| per_point[o.index()]);
        }
        per_point
    }

    /// Counts (instructions, calls to transcendental functions, such calls made per point):
    /// calls on parameters and constants alone are made once per chunk, not per point.
    pub fn op_counts(&self) -> (usize, usize, usize) {
        let per_point = self.per_point();
        let (mut calls, mut point_calls) = (0, 0);
        for (i, inst) in self.insts.iter().enumerate() {
            let is_call = match inst {
                Inst::Unary(op, _) => op.cost() > 1,
                Inst::Binary(op, _, _) => {
                    matches!(
                        op,
                        BinaryOp::Pow | BinaryOp::Atan2 | BinaryOp::XLogY | BinaryOp::FaddeevaRe | BinaryOp::FaddeevaIm
                    )
                }
                _ => false,
            };
            if is_call {
                calls += 1;
                point_calls += usize::from(per_point[i]);
            }
        }
        (self.insts.len(), calls, point_calls)
    }

    /// Serializes to JSON.
    pub fn to_json(&self) -> String {
        serde_json::to_string(self).expect("a kernel always serializes")
    }

    /// Parses JSON and verifies the result: a loaded kernel is never trusted.
    pub fn from_json(text: &str) -> Result<VerifiedKernel, LoadError> {
        let kernel: Kernel = serde_json::from_str(text).map_err(|e| LoadError::Json(e.to_string()))?;
        Ok(VerifiedKernel::new(kernel)?)
    }
}

/// A kernel that passed [`Kernel::verify`]: every operand defined before use, every variable,
/// parameter and output id in range, one derivative per parameter, f and ∂f independent of
/// the response. Only verification builds one ([`VerifiedKernel::new`], which lowering and
/// loading go through), and it is immutable, so code generators may rely on it: a compiled
/// kernel indexes parameter and value arrays with these ids without checks.
#[derive(Clone, Debug, PartialEq, Serialize)]
#[serde(transparent)]
pub struct VerifiedKernel(Kernel);

impl VerifiedKernel {
    /// Verifies `kernel`.
    pub fn new(kernel: Kernel) -> Result<VerifiedKernel, VerifyError> {
        kernel.verify()?;
        Ok(VerifiedKernel(kernel))
    }

    /// The kernel itself, to be changed (and verified again).
    pub fn into_inner(self) -> Kernel {
        self.0
    }
}

impl std::ops::Deref for VerifiedKernel {
    type Target = Kernel;
    fn deref(&self) -> &Kernel {
        &self.0
    }
}

impl PartialEq<Kernel> for VerifiedKernel {
    fn eq(&self, other: &Kernel) -> bool {
        self.0 == *other
    }
}

/// Why a serialized kernel was refused.
#[derive(Clone, Debug, PartialEq, thiserror::Error)]
#[non_exhaustive]
pub enum LoadError {
    #[error("not a kernel: {0}")]
    Json(String),
    #[error("ill-formed kernel: {0}")]
    Verify(VerifyError),
}

impl From<VerifyError> for LoadError {
    fn from(e: VerifyError) -> Self {
        LoadError::Verify(e)
    }
}

/// f64 constants as text (`"1.5"`, `"NaN"`, `"inf"`): JSON numbers cannot hold NaN or
/// infinities, and Rust's shortest round-trip formatting is exact.
mod f64_text {
    use serde::{Deserialize, Deserializer, Serializer, de::Error};

    pub fn serialize<S: Serializer>(v: &f64, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(&format!("{v:?}"))
    }

    pub fn deserialize<'de, D: Deserializer<'de>>(d: D) -> Result<f64, D::Error> {
        let text = String::deserialize(d)?;
        text.parse::<f64>().map_err(|_| D::Error::custom(format!("`{text}` is not a number")))
    }
}
