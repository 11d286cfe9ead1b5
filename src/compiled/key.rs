//! A compiled model's identity (the compilation cache's key): xxh3-128 over a canonical, deterministic, length-prefixed encoding of what
//! determines a kernel. Never `std::hash`, whose output may change between Rust releases.

use crate::ModelOptions;
use crate::ir::IR_VERSION;
use std::fmt;
use xxhash_rust::xxh3::{Xxh3Default, xxh3_128};

/// The kernels a cache entry holds (part of the key, so adding a kernel changes it).
pub const KERNEL_SET: &str = "predict,residual_jacobian,normal_equations,sum_of_squares";

/// A 128-bit cache key.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct CacheKey(pub u128);

impl fmt::Display for CacheKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{:032x}", self.0)
    }
}

struct Encoder(Vec<u8>);

impl Encoder {
    fn field(&mut self, bytes: &[u8]) {
        self.0.extend_from_slice(&(bytes.len() as u64).to_le_bytes());
        self.0.extend_from_slice(bytes);
    }
    fn list<S: AsRef<str>>(&mut self, items: &[S]) {
        self.0.extend_from_slice(&(items.len() as u64).to_le_bytes());
        for item in items {
            self.field(item.as_ref().as_bytes());
        }
    }
}

/// The target-independent part of the key: the model, its names, the simplification limits,
/// the IR and language versions, the model library's text, the kernel set and the crate
/// version. Stable across machines.
pub fn model_fingerprint(canonical: &str, options: &ModelOptions) -> u128 {
    // The versions, the library's text and the kernel set are the same for every model: their
    // hash state is computed once (streamed xxh3 is the one-shot hash of the same bytes, and
    // the library alone is kilobytes — it was most of the cost of a warm `compile`).
    static PREFIX: std::sync::OnceLock<Xxh3Default> = std::sync::OnceLock::new();
    let mut state = PREFIX
        .get_or_init(|| {
            let mut state = Xxh3Default::new();
            state.update(&fingerprint_prefix().0);
            state
        })
        .clone();
    state.update(&fingerprint_rest(canonical, options).0);
    state.digest128()
}

/// The bytes every fingerprint starts with.
fn fingerprint_prefix() -> Encoder {
    let mut e = Encoder(Vec::new());
    e.field(b"jitfit model fingerprint");
    e.field(env!("CARGO_PKG_VERSION").as_bytes());
    e.field(&IR_VERSION.to_le_bytes());
    e.field(&crate::syntax::LANGUAGE_VERSION.to_le_bytes());
    // The library's text: a change to a library function is a change of meaning.
    for function in crate::syntax::library::LIBRARY {
        e.field(function.name.as_bytes());
        e.list(function.args);
        e.field(function.body.as_bytes());
    }
    e.field(KERNEL_SET.as_bytes());
    e
}

/// The bytes of one model and its options, after the prefix.
fn fingerprint_rest(canonical: &str, options: &ModelOptions) -> Encoder {
    let mut e = Encoder(Vec::with_capacity(canonical.len() + 128));
    e.field(canonical.as_bytes());
    e.list(&options.names.vars);
    match &options.names.params {
        Some(params) => {
            e.field(b"listed");
            e.list(params);
        }
        None => e.field(b"free"),
    }
    let limits = &options.simplify;
    e.field(&(limits.iterations as u64).to_le_bytes());
    e.field(&(limits.nodes as u64).to_le_bytes());
    e.field(&(limits.time.as_nanos() as u64).to_le_bytes());
    e
}

/// The key of a model with this canonical text ([`Ast::canonical_text`]) and options on this
/// machine's code-generation target: the one way a key is made.
pub fn key_of(canonical: &str, options: &ModelOptions) -> CacheKey {
    cache_key(model_fingerprint(canonical, options), crate::backend::cranelift::target_description())
}

/// The full key: the fingerprint plus the code-generation target (ISA and its features).
pub fn cache_key(fingerprint: u128, target: &str) -> CacheKey {
    let mut e = Encoder(Vec::new());
    e.field(b"jitfit cache key");
    e.field(&fingerprint.to_le_bytes());
    e.field(target.as_bytes());
    CacheKey(xxh3_128(&e.0))
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The prefix's hash state, cloned and continued, gives the one-shot hash of all the bytes:
    /// keys (and the disk cache's entries) are what they were before the state was kept.
    #[test]
    fn streamed_fingerprints_are_the_one_shot_hash() {
        let long = "a*exp(-b*x) + ".repeat(40) + "c";
        for (model, params) in [("a*x + b", None), (long.as_str(), Some(vec!["c".to_owned(), "a".to_owned()]))] {
            let mut options = ModelOptions::default();
            options.names.params = params;
            let mut bytes = fingerprint_prefix().0;
            bytes.extend(fingerprint_rest(model, &options).0);
            assert_eq!(model_fingerprint(model, &options), xxh3_128(&bytes));
        }
    }
}
