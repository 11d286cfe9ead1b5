//! The façade's error: every stage's error, joined, for programs that call several stages and
//! want one type (`?` converts each). Each variant displays exactly its stage's error and has
//! no `source()` of its own, so an error-chain printer (anyhow's `{:#}`) shows it once.
//!
//! Nothing inside the crate returns it: each stage returns its own error ([`ModelError`],
//! [`DataError`], [`FitError`], ...), so no layer depends on the ones above it through here.

use crate::backend::BackendError;
use crate::data::DataError;
use crate::fit::FitError;
use crate::ir::VerifyError;
use crate::model::ModelError;
use crate::syntax::SyntaxError;

/// Every error the public API returns.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum Error {
    /// The model text is malformed or names things wrongly; renders with a caret.
    #[error(transparent)]
    Syntax(#[from] SyntaxError),
    /// A backend refused a call or failed to generate code.
    #[error(transparent)]
    Backend(#[from] BackendError),
    /// The lowered kernel failed verification: a bug in jitfit, or a model larger than
    /// [`crate::ir::MAX_INSTRUCTIONS`].
    #[error("the model's kernel IR is invalid: {0}")]
    Verify(VerifyError),
    /// The model is too large to compile (its derivatives outgrow any kernel).
    #[error(transparent)]
    TooLarge(#[from] crate::symbolic::TooLarge),
    /// A data file could not be read.
    #[error(transparent)]
    Data(#[from] DataError),
    /// Bad data or options for a fit, or a solver failure.
    #[error(transparent)]
    Fit(#[from] FitError),
}

impl From<ModelError> for Error {
    fn from(e: ModelError) -> Self {
        match e {
            ModelError::Syntax(e) => Error::Syntax(e),
            ModelError::Backend(e) => Error::Backend(e),
            ModelError::Verify(e) => Error::Verify(e),
            ModelError::TooLarge(e) => Error::TooLarge(e),
        }
    }
}
