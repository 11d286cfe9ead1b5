//! End-to-end tests, in one binary (one link, one run).

mod support;

mod architecture;
mod backend;
pub mod batch;
mod cache;
mod checkpoint;
mod contract;
mod cli;
mod errors;
mod fit;
mod hostile;
#[cfg(feature = "gpu")]
mod gpu;
mod ir;
mod multistart;
mod nist;
mod parse;
mod properties;
mod scipy;
mod solve;
mod stream;
mod wgsl;
