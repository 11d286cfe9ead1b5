//! Helpers shared by the end-to-end tests.
#![allow(dead_code)]

pub mod models;
pub mod nist;

use std::path::PathBuf;
use std::sync::atomic::{AtomicU32, Ordering};

/// True when the slow cases should run at full size (`JITFIT_SLOW_TESTS=1`, set by CI). The
/// default sizes still exercise every path; the slow ones measure it at scale.
pub fn slow_tests() -> bool {
    std::env::var("JITFIT_SLOW_TESTS").is_ok_and(|v| !v.is_empty() && v != "0")
}

/// `full` under `JITFIT_SLOW_TESTS`, `quick` otherwise.
pub fn size(quick: usize, full: usize) -> usize {
    if slow_tests() { full } else { quick }
}

/// A fresh folder under the system temp folder, removed on drop.
pub struct TempDir(PathBuf);

impl TempDir {
    pub fn new(tag: &str) -> TempDir {
        static COUNTER: AtomicU32 = AtomicU32::new(0);
        let path = std::env::temp_dir().join(format!(
            "jitfit-test-{tag}-{}-{}",
            std::process::id(),
            COUNTER.fetch_add(1, Ordering::Relaxed)
        ));
        let _ = std::fs::remove_dir_all(&path);
        std::fs::create_dir_all(&path).unwrap();
        TempDir(path)
    }

    pub fn path(&self) -> PathBuf {
        self.0.clone()
    }

    /// Every file below the folder (recursively).
    pub fn files_under(&self) -> Vec<PathBuf> {
        let mut out = Vec::new();
        let mut stack = vec![self.0.clone()];
        while let Some(dir) = stack.pop() {
            for entry in std::fs::read_dir(&dir).unwrap() {
                let path = entry.unwrap().path();
                if path.is_dir() { stack.push(path) } else { out.push(path) }
            }
        }
        out
    }
}

impl Drop for TempDir {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

/// `jitfit repl` in the repository root, fed `script` on standard input, with its own cache.
pub fn run_repl(script: &[u8], cache: &TempDir) -> std::process::Output {
    use std::io::Write;
    use std::process::{Command, Stdio};
    let mut child = Command::new(env!("CARGO_BIN_EXE_jitfit"))
        .arg("repl")
        .current_dir(env!("CARGO_MANIFEST_DIR"))
        .env("JITFIT_CACHE_DIR", cache.path())
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    child.stdin.take().unwrap().write_all(script).unwrap();
    child.wait_with_output().unwrap()
}
