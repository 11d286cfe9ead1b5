//! How numbers and durations are printed: the library's forms (`jitfit::report`).

pub use jitfit::report::{duration, num};
