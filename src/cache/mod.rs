//! The compilation cache: compiled kernels in an in-memory LRU, and the optimized IR on disk
//! so that the next process skips parsing, differentiation and egg.
//!
//! - Key: xxh3-128 of the canonical model, its names, the simplification limits, the IR
//!   version, the kernel set, the crate version and the code-generation target ([`key`]).
//! - Memory: an LRU of `Arc<CompiledModel>`; an evicted model's machine code is freed when
//!   its last user drops it.
//! - Disk: one validated JSON file per key under the user cache folder (`JITFIT_CACHE_DIR`
//!   overrides it, `JITFIT_NO_DISK_CACHE=1` turns it off). Machine code is never written: a
//!   cache file can at worst cost a recompile, never run code.

mod disk;
mod key;

pub use disk::{DISK_FORMAT, DiskEntry, DiskStore};
pub use key::{CacheKey, KERNEL_SET, cache_key, canonical_text, model_fingerprint};

use crate::backend::Kernels;
use crate::backend::cranelift::{CraneliftKernels, target_description};
use crate::ir::Kernel;
use crate::{Error, Model, ModelOptions, syntax};
use lru::LruCache;
use std::num::NonZeroUsize;
use std::path::PathBuf;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, LazyLock, Mutex};
use std::time::{Duration, Instant};

/// How a model's kernels were obtained.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Origin {
    /// Compiled kernels found in memory.
    MemoryHit,
    /// The IR read from disk and compiled: no symbolic work.
    DiskHit,
    /// Built from scratch: parse, differentiate, simplify, lower, compile.
    Miss,
}

impl Origin {
    pub fn describe(self) -> &'static str {
        match self {
            Origin::MemoryHit => "memory hit",
            Origin::DiskHit => "disk hit",
            Origin::Miss => "miss (built from scratch)",
        }
    }
}

/// A model compiled to native kernels, with what it needs to be fitted and reported.
pub struct CompiledModel {
    key: CacheKey,
    source: String,
    response_name: Option<String>,
    kernels: CraneliftKernels,
    build_time: Duration,
    /// The GPU pipelines, compiled from the same IR on first use (per process: the driver's
    /// code is never persisted, like Cranelift's).
    #[cfg(feature = "gpu")]
    gpu: std::sync::OnceLock<Result<Arc<crate::backend::gpu::GpuKernels>, crate::backend::gpu::GpuError>>,
    /// The batch fit pipeline, likewise.
    #[cfg(feature = "gpu")]
    gpu_batch: std::sync::OnceLock<Result<Arc<crate::backend::gpu::GpuBatchKernel>, crate::backend::gpu::GpuError>>,
}

impl std::fmt::Debug for CompiledModel {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("CompiledModel").field("key", &self.key).field("source", &self.source).finish_non_exhaustive()
    }
}

impl CompiledModel {
    pub fn key(&self) -> CacheKey {
        self.key
    }
    /// The model text as the user wrote it (the first time it was compiled).
    pub fn source(&self) -> &str {
        &self.source
    }
    pub fn kernel(&self) -> &Kernel {
        self.kernels.kernel()
    }
    /// The model's GPU pipelines on the process's device, compiled on the first call.
    #[cfg(feature = "gpu")]
    pub fn gpu_kernels(&self) -> Result<Arc<crate::backend::gpu::GpuKernels>, crate::backend::gpu::GpuError> {
        self.gpu
            .get_or_init(|| {
                let device = crate::backend::gpu::device()?;
                crate::backend::gpu::GpuKernels::new(device, self.kernels.kernel()).map(Arc::new)
            })
            .clone()
    }
    /// The model's batch fit pipeline on the process's device, compiled on the first call.
    #[cfg(feature = "gpu")]
    pub fn gpu_batch_kernel(&self) -> Result<Arc<crate::backend::gpu::GpuBatchKernel>, crate::backend::gpu::GpuError> {
        self.gpu_batch
            .get_or_init(|| {
                let device = crate::backend::gpu::device()?;
                crate::backend::gpu::GpuBatchKernel::new(device, self.kernels.kernel()).map(Arc::new)
            })
            .clone()
    }
    pub fn kernels(&self) -> &CraneliftKernels {
        &self.kernels
    }
    pub fn vars(&self) -> &[String] {
        &self.kernel().var_names
    }
    pub fn params(&self) -> &[String] {
        &self.kernel().param_names
    }
    pub fn n_params(&self) -> usize {
        self.kernel().n_params()
    }
    pub fn response_name(&self) -> Option<&str> {
        self.response_name.as_deref()
    }
    pub fn transforms_response(&self) -> bool {
        self.kernel().outputs.response.is_some()
    }
    /// Time to build this model the first time (front end or disk load, plus code generation).
    pub fn build_time(&self) -> Duration {
        self.build_time
    }
}

/// The result of one [`KernelCache::compile`] call.
#[derive(Clone, Debug)]
pub struct Compiled {
    pub model: Arc<CompiledModel>,
    pub origin: Origin,
    /// Problems met on the way (an unreadable or invalid cache file, a failed write). They
    /// never fail the compile.
    pub warnings: Vec<String>,
    /// Time this call took.
    pub elapsed: Duration,
}

/// Counters and accumulated stage times of one cache.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct CacheStats {
    pub memory_hits: u64,
    pub disk_hits: u64,
    pub misses: u64,
    pub evictions: u64,
    pub disk_errors: u64,
    pub in_memory: usize,
    pub capacity: usize,
    pub parse: Duration,
    /// Name resolution, differentiation and egg.
    pub simplify: Duration,
    pub lower: Duration,
    /// Reading and validating disk entries.
    pub disk_load: Duration,
    /// Cranelift code generation.
    pub compile: Duration,
}

#[derive(Default)]
struct Counters {
    memory_hits: AtomicU64,
    disk_hits: AtomicU64,
    misses: AtomicU64,
    evictions: AtomicU64,
    disk_errors: AtomicU64,
    parse_ns: AtomicU64,
    simplify_ns: AtomicU64,
    lower_ns: AtomicU64,
    disk_load_ns: AtomicU64,
    compile_ns: AtomicU64,
}

fn add_time(counter: &AtomicU64, d: Duration) {
    counter.fetch_add(d.as_nanos() as u64, Ordering::Relaxed);
}

/// How a cache is set up.
#[derive(Clone, Debug)]
pub struct CacheOptions {
    /// How many compiled models stay in memory.
    pub capacity: NonZeroUsize,
    /// The disk folder, or `None` for no disk cache.
    pub disk_dir: Option<PathBuf>,
}

impl Default for CacheOptions {
    fn default() -> Self {
        CacheOptions { capacity: NonZeroUsize::new(64).expect("64 > 0"), disk_dir: None }
    }
}

impl CacheOptions {
    /// The options the environment asks for: the user cache folder (or `JITFIT_CACHE_DIR`),
    /// none if `JITFIT_NO_DISK_CACHE` is set to anything but `0` or empty.
    pub fn from_env() -> Self {
        let disabled = std::env::var("JITFIT_NO_DISK_CACHE").is_ok_and(|v| !v.is_empty() && v != "0");
        let disk_dir = if disabled {
            None
        } else {
            match std::env::var_os("JITFIT_CACHE_DIR") {
                Some(dir) if !dir.is_empty() => Some(PathBuf::from(dir)),
                _ => directories::ProjectDirs::from("", "", "jitfit").map(|d| d.cache_dir().to_path_buf()),
            }
        };
        CacheOptions { disk_dir, ..Default::default() }
    }
}

/// See the module docs.
pub struct KernelCache {
    memory: Mutex<LruCache<CacheKey, Arc<CompiledModel>>>,
    /// Raw text fingerprint → key, so that a memory hit on the exact same text skips parsing.
    by_text: Mutex<std::collections::HashMap<u128, CacheKey>>,
    disk: Option<DiskStore>,
    counters: Counters,
}

impl KernelCache {
    pub fn new(options: CacheOptions) -> Self {
        KernelCache {
            memory: Mutex::new(LruCache::new(options.capacity)),
            by_text: Mutex::new(std::collections::HashMap::new()),
            disk: options.disk_dir.map(DiskStore::new),
            counters: Counters::default(),
        }
    }

    /// The process-wide cache, configured from the environment on first use.
    pub fn global() -> &'static KernelCache {
        static GLOBAL: LazyLock<KernelCache> = LazyLock::new(|| KernelCache::new(CacheOptions::from_env()));
        &GLOBAL
    }

    /// The disk store, if there is one.
    pub fn disk(&self) -> Option<&DiskStore> {
        self.disk.as_ref()
    }

    /// Compiles a model with one variable `x`.
    pub fn compile_default(&self, source: &str) -> Result<Compiled, Error> {
        self.compile(source, &ModelOptions::default())
    }

    /// Returns the compiled kernels of a model: from memory, from the IR on disk, or built.
    pub fn compile(&self, source: &str, options: &ModelOptions) -> Result<Compiled, Error> {
        let started = Instant::now();
        // Fast path: this exact text was compiled before and is still in memory.
        let text_fingerprint = model_fingerprint(source, options);
        let known = self.by_text.lock().unwrap_or_else(|e| e.into_inner()).get(&text_fingerprint).copied();
        if let Some(model) = known.and_then(|key| self.lock().get(&key).cloned()) {
            self.counters.memory_hits.fetch_add(1, Ordering::Relaxed);
            return Ok(Compiled { model, origin: Origin::MemoryHit, warnings: vec![], elapsed: started.elapsed() });
        }

        let t = Instant::now();
        let ast = syntax::parse(source)?;
        let canonical = canonical_text(&ast);
        let key = cache_key(model_fingerprint(&canonical, options), target_description());
        add_time(&self.counters.parse_ns, t.elapsed());
        {
            let mut by_text = self.by_text.lock().unwrap_or_else(|e| e.into_inner());
            if by_text.len() >= 16 * self.lock().cap().get() {
                by_text.clear();
            }
            by_text.insert(text_fingerprint, key);
        }

        if let Some(model) = self.lock().get(&key).cloned() {
            self.counters.memory_hits.fetch_add(1, Ordering::Relaxed);
            return Ok(Compiled { model, origin: Origin::MemoryHit, warnings: vec![], elapsed: started.elapsed() });
        }

        let mut warnings = Vec::new();
        let expected = disk::Expected {
            canonical: &canonical,
            vars: &options.names.vars,
            listed_params: options.names.params.as_deref(),
        };
        if let Some(store) = &self.disk {
            let t = Instant::now();
            let loaded = store.load(key, &expected);
            add_time(&self.counters.disk_load_ns, t.elapsed());
            match loaded {
                Ok(Some(entry)) => {
                    let model = self.build(key, source, entry.response_name, &entry.kernel, started)?;
                    self.counters.disk_hits.fetch_add(1, Ordering::Relaxed);
                    let model = self.insert(model);
                    return Ok(Compiled { model, origin: Origin::DiskHit, warnings, elapsed: started.elapsed() });
                }
                Ok(None) => {}
                Err(why) => {
                    self.counters.disk_errors.fetch_add(1, Ordering::Relaxed);
                    warnings.push(format!("ignoring a cache file and rebuilding: {why}"));
                }
            }
        }

        self.counters.misses.fetch_add(1, Ordering::Relaxed);
        let symbolic = Model::parse_with(source, options)?;
        let times = symbolic.times();
        add_time(&self.counters.parse_ns, times.parse);
        add_time(&self.counters.simplify_ns, times.resolve + times.differentiate + times.simplify);
        add_time(&self.counters.lower_ns, times.lower);
        let response_name = symbolic.response_name().map(str::to_owned);
        let model = self.build(key, source, response_name.clone(), symbolic.kernel(), started)?;
        if let Some(store) = &self.disk {
            let entry = DiskEntry {
                format: DISK_FORMAT,
                key: key.to_string(),
                jitfit_version: env!("CARGO_PKG_VERSION").to_owned(),
                canonical,
                source: source.to_owned(),
                vars: options.names.vars.clone(),
                listed_params: options.names.params.clone(),
                response_name,
                kernel: symbolic.kernel().clone(),
            };
            if let Err(why) = store.store(key, &entry) {
                self.counters.disk_errors.fetch_add(1, Ordering::Relaxed);
                warnings.push(format!("could not save to the cache: {why}"));
            }
        }
        let model = self.insert(model);
        Ok(Compiled { model, origin: Origin::Miss, warnings, elapsed: started.elapsed() })
    }

    fn build(
        &self,
        key: CacheKey,
        source: &str,
        response_name: Option<String>,
        kernel: &Kernel,
        started: Instant,
    ) -> Result<CompiledModel, Error> {
        let kernels = CraneliftKernels::compile(kernel)?;
        add_time(&self.counters.compile_ns, kernels.compile_time());
        Ok(CompiledModel {
            key,
            source: source.to_owned(),
            response_name,
            kernels,
            build_time: started.elapsed(),
            #[cfg(feature = "gpu")]
            gpu: std::sync::OnceLock::new(),
            #[cfg(feature = "gpu")]
            gpu_batch: std::sync::OnceLock::new(),
        })
    }

    /// Inserts a model, or returns the one another thread inserted first.
    fn insert(&self, model: CompiledModel) -> Arc<CompiledModel> {
        let mut memory = self.lock();
        if let Some(existing) = memory.get(&model.key) {
            return existing.clone();
        }
        let model = Arc::new(model);
        if let Some((evicted, _)) = memory.push(model.key, model.clone())
            && evicted != model.key
        {
            self.counters.evictions.fetch_add(1, Ordering::Relaxed);
        }
        model
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, LruCache<CacheKey, Arc<CompiledModel>>> {
        // A panic while holding the lock cannot leave the LRU inconsistent for our use.
        self.memory.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// Empties the in-memory LRU (the disk is left alone).
    pub fn clear_memory(&self) {
        self.lock().clear();
        self.by_text.lock().unwrap_or_else(|e| e.into_inner()).clear();
    }

    pub fn stats(&self) -> CacheStats {
        let c = &self.counters;
        let load = |a: &AtomicU64| a.load(Ordering::Relaxed);
        let time = |a: &AtomicU64| Duration::from_nanos(a.load(Ordering::Relaxed));
        let memory = self.lock();
        CacheStats {
            memory_hits: load(&c.memory_hits),
            disk_hits: load(&c.disk_hits),
            misses: load(&c.misses),
            evictions: load(&c.evictions),
            disk_errors: load(&c.disk_errors),
            in_memory: memory.len(),
            capacity: memory.cap().get(),
            parse: time(&c.parse_ns),
            simplify: time(&c.simplify_ns),
            lower: time(&c.lower_ns),
            disk_load: time(&c.disk_load_ns),
            compile: time(&c.compile_ns),
        }
    }
}
