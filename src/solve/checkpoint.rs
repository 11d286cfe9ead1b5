//! Checkpoint files: a fit's solver state as versioned JSON, written atomically (temp file,
//! fsync, rename: the previous checkpoint stays whole until the new one is complete), with
//! what identifies the fit — the model text, a fingerprint of the data and the options — so
//! that a checkpoint of another fit is refused.

use super::TrfState;
use serde::{Deserialize, Serialize};
use std::path::Path;

/// The checkpoint file format version.
pub const CHECKPOINT_FORMAT: u32 = 1;

/// A saved fit.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Checkpoint {
    pub format: u32,
    pub jitfit_version: String,
    pub model: String,
    /// `len:xxh3` of the data (see the façade).
    pub data_fingerprint: String,
    /// The options that shape the solution (bounds, fixed values, loss, tolerances...).
    pub options: String,
    pub state: TrfState,
}

/// Why a checkpoint was refused.
#[derive(Clone, Debug, PartialEq, thiserror::Error)]
#[non_exhaustive]
pub enum CheckpointError {
    #[error("cannot read the checkpoint {path}: {message}")]
    Io { path: String, message: String },
    #[error("{path} is not a jitfit checkpoint: {message}")]
    Corrupt { path: String, message: String },
    #[error("{path} has checkpoint format {found}; this jitfit reads format {CHECKPOINT_FORMAT}")]
    Format { path: String, found: u32 },
    #[error("{path} is a checkpoint of another {what}")]
    Mismatch { path: String, what: &'static str },
}

impl Checkpoint {
    /// Writes atomically: temp file in the same folder, fsync, rename.
    pub fn write(&self, path: &Path) -> std::io::Result<()> {
        let text = serde_json::to_string_pretty(self).expect("checkpoints serialize");
        crate::fsutil::write_bytes_atomically(path, text.as_bytes())
    }

    /// Reads and checks a checkpoint against the fit about to resume.
    pub fn read(
        path: &Path,
        model: &str,
        data_fingerprint: &str,
        options: &str,
    ) -> Result<Checkpoint, CheckpointError> {
        let shown = path.display().to_string();
        // A checkpoint holds a few numbers per parameter: 64 MiB is far beyond any.
        let text = crate::fsutil::read_small(path, 64 << 20)
            .map_err(|e| CheckpointError::Io { path: shown.clone(), message: e.to_string() })?;
        // The format first, so that a newer file is reported as such, not as corrupt.
        let format = serde_json::from_str::<serde_json::Value>(&text)
            .ok()
            .and_then(|v| v.get("format").and_then(|f| f.as_u64()))
            .ok_or_else(|| CheckpointError::Corrupt { path: shown.clone(), message: "no format version".into() })?;
        if format != u64::from(CHECKPOINT_FORMAT) {
            return Err(CheckpointError::Format { path: shown, found: format as u32 });
        }
        let checkpoint: Checkpoint = serde_json::from_str(&text)
            .map_err(|e| CheckpointError::Corrupt { path: shown.clone(), message: e.to_string() })?;
        let state = &checkpoint.state;
        let finite = state.x.iter().chain(&state.scale_inv).chain([&state.delta, &state.alpha]).all(|v| v.is_finite());
        // Counts beyond any real run (2^40 evaluations) and non-positive scales are tampering.
        let sane_counts = [state.nfev, state.njev, state.iterations].iter().all(|c| *c < 1 << 40);
        if !finite
            || state.delta <= 0.0
            || state.alpha < 0.0
            || state.scale_inv.iter().any(|s| *s <= 0.0)
            || !sane_counts
            || state.x.len() != state.scale_inv.len()
        {
            return Err(CheckpointError::Corrupt { path: shown, message: "the saved state is not valid".into() });
        }
        if checkpoint.model != model {
            return Err(CheckpointError::Mismatch { path: shown, what: "model" });
        }
        if checkpoint.data_fingerprint != data_fingerprint {
            return Err(CheckpointError::Mismatch { path: shown, what: "data set" });
        }
        if checkpoint.options != options {
            return Err(CheckpointError::Mismatch {
                path: shown,
                what: "set of options (initial values, bounds, fixed parameters, loss, tolerances)",
            });
        }
        Ok(checkpoint)
    }
}
