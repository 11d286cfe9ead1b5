//! The compilation cache: memoization of [`Model::compile`]. Compiled models in an
//! in-memory LRU, and the optimized IR on disk so that the next process skips parsing,
//! differentiation and egg.
//!
//! - Key: the model's [`CacheKey`] (xxh3-128 of the canonical model, its names, the
//!   simplification limits, the IR version, the kernel set, the crate version and the
//!   code-generation target; see [`crate::compiled`]).
//! - Memory: an LRU of `Arc<CompiledModel>`; an evicted model's machine code is freed when
//!   its last user drops it.
//! - Disk, when asked for ([`CacheOptions::disk_dir`]; the CLI asks, from the environment):
//!   one validated JSON file per key under the user cache folder (`JITFIT_CACHE_DIR`
//!   overrides it, `JITFIT_NO_DISK_CACHE=1` turns it off). Machine code is never written: a
//!   cache file can at worst cost a recompile, never run code. The library's process-wide
//!   cache ([`KernelCache::global`]) is memory-only unless the program configures it
//!   ([`KernelCache::configure_global`]): an embedding program writes nothing to `~/.cache`.

mod disk;

pub use crate::compiled::{CacheKey, KERNEL_SET, cache_key, key_of, model_fingerprint};
pub use disk::{DISK_FORMAT, DiskEntry, DiskStore, Loaded};

use crate::compiled::CompiledModel;
use crate::ir::VerifiedKernel;
use crate::{Model, ModelError, ModelOptions, syntax};
use lru::LruCache;
use std::num::NonZeroUsize;
use std::path::PathBuf;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, OnceLock};
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

static GLOBAL: OnceLock<KernelCache> = OnceLock::new();

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

    /// The process-wide cache that [`crate::compile`] uses: memory only, unless the program
    /// called [`KernelCache::configure_global`] before its first use.
    pub fn global() -> &'static KernelCache {
        GLOBAL.get_or_init(|| KernelCache::new(CacheOptions::default()))
    }

    /// Sets up the process-wide cache (the CLI: `CacheOptions::from_env()`, which adds the
    /// disk). Returns `false`, changing nothing, when it is already in use.
    pub fn configure_global(options: CacheOptions) -> bool {
        GLOBAL.set(KernelCache::new(options)).is_ok()
    }

    /// The disk store, if there is one.
    pub fn disk(&self) -> Option<&DiskStore> {
        self.disk.as_ref()
    }

    /// Compiles a model with one variable `x`.
    pub fn compile_default(&self, source: &str) -> Result<Compiled, ModelError> {
        self.compile(source, &ModelOptions::default())
    }

    /// Returns the compiled kernels of a model: from memory, from the IR on disk, or built.
    pub fn compile(&self, source: &str, options: &ModelOptions) -> Result<Compiled, ModelError> {
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
        let canonical = ast.canonical_text();
        let key = key_of(&canonical, options);
        let parse_time = t.elapsed();
        add_time(&self.counters.parse_ns, parse_time);
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
                // A valid file must also compute this model: a tampered one (exp made sin,
                // parameter names swapped, a derivative changed) costs a rebuild, never a
                // wrong answer.
                Ok(Some(entry)) if let Err(why) = agrees_with_source(&entry, &ast) => {
                    self.counters.disk_errors.fetch_add(1, Ordering::Relaxed);
                    let path = store.path(key);
                    warnings
                        .push(format!("ignoring a cache file and rebuilding: {} was refused: {why}", path.display()));
                }
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
        // One parse: the model is built from the tree the key was computed from.
        let symbolic = Model::from_ast(source, &ast, options)?;
        if symbolic.simplify_report().skipped {
            warnings.push(format!(
                "the model is too large to simplify ({}): compiled as written, which may run slower",
                symbolic.simplify_report().stop_reason
            ));
        }
        let times = symbolic.times();
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
                kernel: (**symbolic.kernel()).clone(),
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
        kernel: &VerifiedKernel,
        started: Instant,
    ) -> Result<CompiledModel, ModelError> {
        let mut model = CompiledModel::from_verified(key, source, response_name, kernel)?;
        add_time(&self.counters.compile_ns, model.kernels().compile_time());
        model.set_build_time(started.elapsed());
        Ok(model)
    }

    /// Inserts a model, or returns the one another thread inserted first.
    fn insert(&self, model: CompiledModel) -> Arc<CompiledModel> {
        let mut memory = self.lock();
        if let Some(existing) = memory.get(&model.key()) {
            return existing.clone();
        }
        let model = Arc::new(model);
        if let Some((evicted, _)) = memory.push(model.key(), model.clone())
            && evicted != model.key()
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

/// Checks that a loaded kernel computes the model its source text describes: the same
/// response name, and at a few fixed points the same value as the syntax tree evaluated
/// directly ([`syntax::eval_ast`], independent of egg and lowering) and derivatives that
/// agree with central differences of it. Tolerances are loose: a false alarm only costs a
/// rebuild.
fn agrees_with_source(entry: &disk::Loaded, ast: &syntax::Ast) -> Result<(), String> {
    let kernel = &entry.kernel;
    let response_name = ast.response_name();
    if entry.response_name != response_name {
        return Err("its response name differs from the model's".into());
    }
    let mut interpreter = crate::ir::Interpreter::new(kernel);
    let (n_vars, n_params) = (kernel.n_vars(), kernel.n_params());
    let same = |a: f64, b: f64, tolerance: f64| {
        a == b || (a.is_nan() && b.is_nan()) || (a - b).abs() <= tolerance * a.abs().max(b.abs())
    };
    type Values = std::collections::HashMap<String, f64>;
    let direct = |values: &Values| syntax::eval_ast(ast, values).unwrap_or(f64::NAN);
    for point in 0..3 {
        let vars: Vec<f64> = (0..n_vars).map(|k| 0.31 + 0.17 * k as f64 + 0.23 * point as f64).collect();
        let params: Vec<f64> = (0..n_params).map(|j| 0.71 + 0.13 * j as f64 + 0.07 * point as f64).collect();
        let y = 1.37 + 0.11 * point as f64;
        let mut values: Values = kernel.var_names.iter().cloned().zip(vars.clone()).collect();
        values.extend(kernel.param_names.iter().cloned().zip(params.clone()));
        let outputs = interpreter.eval_point(&vars, y, &params).to_vec();
        let f = outputs[kernel.outputs.value.index()];
        if !same(f, direct(&values), 1e-9) {
            return Err(format!(
                "its kernel does not compute the model (f = {f:e}, the model gives {:e})",
                direct(&values)
            ));
        }
        // The left side's transform t(y) (`log[y] = ...`) is part of the answer too.
        let mut with_response = values.clone();
        if let Some(name) = &response_name {
            with_response.insert(name.clone(), y);
        }
        let transform = syntax::eval_response_transform(ast, &with_response);
        match (kernel.outputs.response.map(|t| outputs[t.index()]), transform) {
            (None, None) => {}
            (Some(t), Some(expected)) if same(t, expected, 1e-9) => {}
            _ => return Err("its response transform does not match the model's left side".into()),
        }
        for (j, name) in kernel.param_names.iter().enumerate() {
            let d = outputs[kernel.outputs.derivatives[j].index()];
            let h = 1e-6 * params[j].abs().max(1.0);
            let at = |p: f64| {
                let mut shifted = values.clone();
                shifted.insert(name.clone(), p);
                direct(&shifted)
            };
            let difference = (at(params[j] + h) - at(params[j] - h)) / (2.0 * h);
            let noise = 1e-6 * f.abs().max(1.0);
            let differs = if d.is_finite() && difference.is_finite() {
                (d - difference).abs() > 1e-4 * d.abs().max(difference.abs()) + noise
            } else {
                d.is_finite() != difference.is_finite()
            };
            if differs {
                return Err(format!("its derivative for `{name}` does not match the model ({d:e} vs {difference:e})"));
            }
        }
    }
    Ok(())
}
