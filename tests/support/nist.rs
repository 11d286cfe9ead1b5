//! The NIST StRD files shipped in `tests/data/nist`, read with the library's reader.

pub use jitfit::data::nist::NistProblem;
use std::path::{Path, PathBuf};

pub fn nist_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/data/nist")
}

pub fn all_problems() -> Vec<NistProblem> {
    let mut files: Vec<PathBuf> = std::fs::read_dir(nist_dir())
        .expect("tests/data/nist exists")
        .map(|e| e.unwrap().path())
        .filter(|p| p.extension().is_some_and(|e| e == "dat"))
        .collect();
    files.sort();
    files.iter().map(|p| jitfit::data::nist::read_nist(p).unwrap()).collect()
}
