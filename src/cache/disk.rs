//! The on-disk store: one JSON file per key holding the optimized IR and its metadata, in a
//! folder versioned by the file format and the IR version. Writes are atomic (temp file,
//! fsync, rename), so concurrent processes writing the same key leave one valid file. Reads
//! validate everything; a bad file is reported and ignored. Machine code is never stored.

use crate::compiled::CacheKey;
use crate::ir::{IR_VERSION, Kernel, VerifiedKernel};
use serde::{Deserialize, Serialize};
use std::path::{Path, PathBuf};

/// The version of the file format (not of the IR, which has its own).
pub const DISK_FORMAT: u32 = 1;

/// Files larger than this are not read.
const MAX_FILE_BYTES: u64 = 64 << 20;

/// What one cache file holds.
#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct DiskEntry {
    pub format: u32,
    pub key: String,
    pub jitfit_version: String,
    /// The canonical model text the key was computed from, compared on load.
    pub canonical: String,
    /// The model as the user wrote it (for display only).
    pub source: String,
    pub vars: Vec<String>,
    pub listed_params: Option<Vec<String>>,
    pub response_name: Option<String>,
    pub kernel: Kernel,
}

/// What a valid cache file gives: the model's response name and its kernel, verified.
#[derive(Clone, Debug)]
pub struct Loaded {
    pub response_name: Option<String>,
    pub kernel: VerifiedKernel,
}

/// A folder of cache files.
#[derive(Clone, Debug)]
pub struct DiskStore {
    root: PathBuf,
}

impl DiskStore {
    pub fn new(root: PathBuf) -> Self {
        DiskStore { root }
    }

    /// The folder this store uses, as configured.
    pub fn root(&self) -> &Path {
        &self.root
    }

    /// The versioned folder that holds the files.
    pub fn dir(&self) -> PathBuf {
        self.root.join(format!("v{DISK_FORMAT}-ir{IR_VERSION}"))
    }

    pub fn path(&self, key: CacheKey) -> PathBuf {
        self.dir().join(format!("{key}.json"))
    }

    /// Loads and validates the entry for `key`. `Ok(None)`: no file. `Err`: a file that is
    /// unreadable or invalid, with the reason (the caller warns and rebuilds).
    pub fn load(&self, key: CacheKey, expect: &Expected<'_>) -> Result<Option<Loaded>, String> {
        let path = self.path(key);
        // Only a regular file is read: a FIFO planted as an entry would block every fit of the
        // model, a device or a symlink has no business there.
        match std::fs::symlink_metadata(&path) {
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(None),
            Ok(meta) if !meta.file_type().is_file() => {
                return Err(format!("{} is not a regular file", path.display()));
            }
            _ => {}
        }
        let text = match crate::fsutil::read_small(&path, MAX_FILE_BYTES) {
            Ok(text) => text,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(None),
            Err(e) => return Err(format!("cannot read {}: {e}", path.display())),
        };
        let entry: DiskEntry =
            serde_json::from_str(&text).map_err(|e| format!("{} is not a cache entry: {e}", path.display()))?;
        let kernel =
            validate(entry.clone(), key, expect).map_err(|why| format!("{} was refused: {why}", path.display()))?;
        Ok(Some(Loaded { response_name: entry.response_name, kernel }))
    }

    /// Writes the entry atomically ([`crate::fsutil::write_atomically`]: an unpredictable
    /// temp name created exclusively, fsync, rename).
    pub fn store(&self, key: CacheKey, entry: &DiskEntry) -> Result<(), String> {
        let dir = self.dir();
        std::fs::create_dir_all(&dir).map_err(|e| format!("cannot create {}: {e}", dir.display()))?;
        let text = serde_json::to_string(entry).expect("entries serialize");
        crate::fsutil::write_bytes_atomically(&self.path(key), text.as_bytes())
            .map_err(|e| format!("cannot write {}: {e}", self.path(key).display()))
    }

    /// Removes the cache's own files (all versions) and nothing else: only regular files
    /// named like its entries (`<32 hex digits>.json`) or their temporary files, in folders
    /// named like its versions (`v<N>-ir<M>`), never following a symlink. Returns how many
    /// files were removed. (A folder given by mistake keeps every file of its own.)
    pub fn clear(&self) -> std::io::Result<usize> {
        let mut removed = 0;
        let Ok(versions) = std::fs::read_dir(&self.root) else {
            return Ok(0);
        };
        for version in versions {
            let version = version?;
            let is_dir = version.file_type().is_ok_and(|t| t.is_dir()); // a symlink is not
            if !is_dir || !is_version_folder(&version.file_name().to_string_lossy()) {
                continue;
            }
            for file in std::fs::read_dir(version.path())? {
                let file = file?;
                let regular = file.file_type().is_ok_and(|t| t.is_file());
                if regular && is_own_file(&file.file_name().to_string_lossy()) {
                    std::fs::remove_file(file.path())?;
                    removed += 1;
                }
            }
            // Only if it is empty now.
            let _ = std::fs::remove_dir(version.path());
        }
        Ok(removed)
    }

    /// (files, bytes) in the current versioned folder.
    pub fn usage(&self) -> (usize, u64) {
        let Ok(entries) = std::fs::read_dir(self.dir()) else {
            return (0, 0);
        };
        entries
            .filter_map(Result::ok)
            .filter(|e| e.path().extension().is_some_and(|x| x == "json"))
            .fold((0, 0), |(n, bytes), e| (n + 1, bytes + e.metadata().map_or(0, |m| m.len())))
    }
}

/// `v<digits>-ir<digits>`: a folder of [`DiskStore::dir`]'s form.
fn is_version_folder(name: &str) -> bool {
    let digits = |s: &str| !s.is_empty() && s.bytes().all(|b| b.is_ascii_digit());
    name.strip_prefix('v').and_then(|rest| rest.split_once("-ir")).is_some_and(|(a, b)| digits(a) && digits(b))
}

/// An entry (`<key>.json`) or one of its temporary files (`.<key>.json.<pid>.<hex>.tmp`).
fn is_own_file(name: &str) -> bool {
    let key = |s: &str| s.len() == 32 && s.bytes().all(|b| b.is_ascii_hexdigit() && !b.is_ascii_uppercase());
    if let Some(k) = name.strip_suffix(".json") {
        return key(k);
    }
    name.strip_prefix('.')
        .and_then(|rest| rest.strip_suffix(".tmp"))
        .and_then(|rest| rest.split_once(".json."))
        .is_some_and(|(k, _)| key(k))
}

/// What a loaded entry must match.
pub struct Expected<'a> {
    pub canonical: &'a str,
    pub vars: &'a [String],
    pub listed_params: Option<&'a [String]>,
}

fn validate(entry: DiskEntry, key: CacheKey, expect: &Expected<'_>) -> Result<VerifiedKernel, String> {
    if entry.format != DISK_FORMAT {
        return Err(format!("format {} (expected {DISK_FORMAT})", entry.format));
    }
    if entry.key != key.to_string() {
        return Err(format!("it holds key {}", entry.key));
    }
    if entry.canonical != expect.canonical {
        return Err("it holds another model".into());
    }
    let kernel = VerifiedKernel::new(entry.kernel).map_err(|e| format!("ill-formed kernel: {e}"))?;
    if entry.vars != expect.vars || kernel.var_names != expect.vars {
        return Err("its variables differ".into());
    }
    if entry.listed_params.as_deref() != expect.listed_params {
        return Err("its parameter list differs".into());
    }
    if let Some(listed) = expect.listed_params
        && kernel.param_names != listed
    {
        return Err("its parameters differ".into());
    }
    Ok(kernel)
}
