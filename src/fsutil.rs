//! Files written atomically: a temporary file beside the target with an unpredictable name,
//! created exclusively (`create_new`, i.e. `O_EXCL`: never an existing file, and never through
//! a symlink someone planted at that name), written, flushed to disk, then renamed over the
//! target. Readers see the old file or the new one, never half of one; a failure leaves the
//! target as it was and removes the temporary file. Renaming replaces a symlink at the target
//! itself, not the file it points to.

use std::hash::{BuildHasher, Hasher};
use std::io::{self, Write};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};

/// The temporary name for `path`: `.NAME.PID.RANDOM.tmp` in the same folder.
pub fn temp_path(path: &Path) -> PathBuf {
    static COUNTER: AtomicU64 = AtomicU64::new(0);
    let dir = path.parent().filter(|p| !p.as_os_str().is_empty()).unwrap_or(Path::new("."));
    let name = path.file_name().map_or_else(|| "file".into(), |n| n.to_string_lossy().into_owned());
    // `RandomState` is seeded from the OS's randomness once per process.
    let mut hasher = std::collections::hash_map::RandomState::new().build_hasher();
    hasher.write_u64(COUNTER.fetch_add(1, Ordering::Relaxed));
    hasher.write_u128(std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).map_or(0, |d| d.as_nanos()));
    dir.join(format!(".{name}.{}.{:016x}.tmp", std::process::id(), hasher.finish()))
}

/// Writes `path` atomically with `write` (see the module docs).
pub fn write_atomically(path: &Path, write: impl FnOnce(&mut dyn Write) -> io::Result<()>) -> io::Result<()> {
    let temp = temp_path(path);
    let result = (|| {
        let file = std::fs::OpenOptions::new().write(true).create_new(true).open(&temp)?;
        let mut out = io::BufWriter::new(file);
        write(&mut out)?;
        let file = out.into_inner().map_err(|e| e.into_error())?;
        file.sync_all()?;
        std::fs::rename(&temp, path)
    })();
    if result.is_err() {
        let _ = std::fs::remove_file(&temp);
    }
    result
}

/// Writes `bytes` to `path` atomically.
pub fn write_bytes_atomically(path: &Path, bytes: &[u8]) -> io::Result<()> {
    write_atomically(path, |out| out.write_all(bytes))
}

/// Checks, before a long computation, that `path` can be written (its folder exists and takes
/// a new file), so that a result is not thrown away at the end. Leaves nothing behind.
pub fn check_writable(path: &Path) -> io::Result<()> {
    let temp = temp_path(path);
    std::fs::OpenOptions::new().write(true).create_new(true).open(&temp)?;
    std::fs::remove_file(&temp)
}

/// Reads a small file jitfit wrote (a checkpoint, a `--json` report, a cache entry): only a
/// regular file (a FIFO would block, a device never ends), at most `max` bytes (a larger one
/// is an error, not a read into memory without end). `NotFound` is passed on as such.
pub fn read_small(path: &Path, max: u64) -> io::Result<String> {
    use std::io::Read;
    let meta = std::fs::metadata(path)?;
    if !meta.is_file() {
        return Err(io::Error::new(io::ErrorKind::InvalidInput, "not a regular file"));
    }
    if meta.len() > max {
        return Err(io::Error::new(io::ErrorKind::InvalidData, format!("larger than {max} bytes")));
    }
    let mut text = String::new();
    std::fs::File::open(path)?.take(max + 1).read_to_string(&mut text)?;
    if text.len() as u64 > max {
        return Err(io::Error::new(io::ErrorKind::InvalidData, format!("larger than {max} bytes")));
    }
    Ok(text)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_symlink_at_the_target_is_replaced_not_followed() {
        let dir = std::env::temp_dir().join(format!("jitfit-fsutil-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        std::fs::create_dir_all(&dir).unwrap();
        let victim = dir.join("victim.txt");
        std::fs::write(&victim, "precious").unwrap();
        let target = dir.join("out.json");
        #[cfg(unix)]
        std::os::unix::fs::symlink(&victim, &target).unwrap();
        write_bytes_atomically(&target, b"new").unwrap();
        assert_eq!(std::fs::read_to_string(&victim).unwrap(), "precious");
        assert_eq!(std::fs::read_to_string(&target).unwrap(), "new");
        // Temporary names are not predictable, and a failed write leaves nothing.
        assert_ne!(temp_path(&target), temp_path(&target));
        assert!(write_bytes_atomically(&dir.join("missing/out.json"), b"x").is_err());
        assert!(check_writable(&dir.join("missing/out.json")).is_err());
        check_writable(&target).unwrap();
        let left: Vec<_> = std::fs::read_dir(&dir).unwrap().map(|e| e.unwrap().file_name()).collect();
        assert_eq!(left.len(), 2, "{left:?}");
        let _ = std::fs::remove_dir_all(&dir);
    }
}
