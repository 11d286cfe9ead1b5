//! The kernel IR: the one representation every backend sees, the cache persists and the
//! reference interpreter defines.

mod interp;
mod kernel;
mod lower;
mod text;

pub use interp::{BatchValues, Interpreter};
pub use kernel::{
    IR_VERSION, Inst, Kernel, LoadError, MAX_INSTRUCTIONS, Outputs, ValueId, VerifiedKernel, VerifyError,
};
pub use lower::lower;
