//! End-to-end tests, in one binary (one link, one run).

mod support;

mod architecture;
mod backend;
pub mod batch;
mod cache;
mod checkpoint;
mod cli;
mod contract;
mod errors;
mod errors_in_x;
mod fit;
mod functions;
mod global;
#[cfg(feature = "gpu")]
mod gpu;
mod guess;
mod hostile;
mod ir;
mod library;
mod math;
mod multistart;
mod nist;
mod parse;
mod properties;
mod ranks;
mod reweighting;
mod scipy;
mod solve;
mod stream;
mod uncertainty;
mod wgsl;
