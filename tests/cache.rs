//! The compilation cache: stable keys, memory and disk hits, refusal of bad files, LRU
//! eviction, and concurrent writers (threads and processes).

use crate::support::TempDir;
use expect_test::expect;
use jitfit::cache::{CacheOptions, KernelCache, Origin, model_fingerprint};
use jitfit::{ModelOptions, Names};
use std::num::NonZeroUsize;

fn cache_in(dir: &TempDir, capacity: usize) -> KernelCache {
    KernelCache::new(CacheOptions { capacity: NonZeroUsize::new(capacity).unwrap(), disk_dir: Some(dir.path()) })
}

const MODEL: &str = "a*exp(-b*x) + c";

/// The key of a fixed model. If this changes, every user's disk cache is invalidated:
/// make it deliberate (and bump the crate version or the formats when the meaning changes).
#[test]
fn model_fingerprint_is_stable() {
    let ast = jitfit::syntax::parse(MODEL).unwrap();
    let fingerprint = model_fingerprint(&ast.canonical_text(), &ModelOptions::default());
    expect!["a5bb6f6e81f2d8590bafd65313801ceb"].assert_eq(&format!("{fingerprint:032x}"));
    // Whitespace, comments and redundant brackets do not change it.
    let ast = jitfit::syntax::parse("(a) * exp[ -b*x ]  # decay\n + c").unwrap();
    assert_eq!(model_fingerprint(&ast.canonical_text(), &ModelOptions::default()), fingerprint);
    // Variables do.
    let options =
        ModelOptions { names: Names { vars: vec!["x".into(), "t".into()], params: None }, ..Default::default() };
    assert_ne!(model_fingerprint(&ast.canonical_text(), &options), fingerprint);
}

#[test]
fn second_compile_is_a_memory_hit_and_a_new_process_a_disk_hit() {
    let dir = TempDir::new("cache-hits");
    let cache = cache_in(&dir, 8);
    let first = cache.compile_default(MODEL).unwrap();
    assert_eq!(first.origin, Origin::Miss);
    assert!(first.warnings.is_empty(), "{:?}", first.warnings);
    let second = cache.compile_default(MODEL).unwrap();
    assert_eq!(second.origin, Origin::MemoryHit);
    assert!(std::sync::Arc::ptr_eq(&first.model, &second.model));
    // The same model written differently is still a memory hit (same canonical form).
    assert_eq!(cache.compile_default("a*exp(-b*x)+c  ").unwrap().origin, Origin::MemoryHit);

    // A fresh cache over the same folder stands for a new process.
    let other = cache_in(&dir, 8);
    let third = other.compile_default(MODEL).unwrap();
    assert_eq!(third.origin, Origin::DiskHit);
    assert_eq!(third.model.kernel(), first.model.kernel());
    let stats = other.stats();
    assert_eq!((stats.disk_hits, stats.misses, stats.memory_hits), (1, 0, 0));
    assert_eq!(cache.stats().memory_hits, 2);
}

#[test]
fn bad_files_are_refused_and_rebuilt() {
    let dir = TempDir::new("cache-corrupt");
    let good_cache = cache_in(&dir, 8);
    let key = good_cache.compile_default(MODEL).unwrap().model.key();
    let path = good_cache.disk().unwrap().path(key);
    let good = std::fs::read_to_string(&path).unwrap();
    let other_model = {
        let c = cache_in(&TempDir::new("cache-other"), 8);
        let k = c.compile_default("a*x + b").unwrap().model.key();
        std::fs::read_to_string(c.disk().unwrap().path(k)).unwrap()
    };
    let bad_files: Vec<(&str, String)> = vec![
        ("empty", String::new()),
        ("truncated", good[..good.len() / 2].to_owned()),
        ("garbage", "\u{0}\u{1}garbage{[".to_owned()),
        ("wrong format version", good.replace("\"format\":1", "\"format\":99")),
        ("wrong IR version", good.replace("\"version\":1", "\"version\":2")),
        ("another model's file", other_model),
        ("hostile IR", good.replace("\"outputs\":{\"value\":", "\"outputs\":{\"value\":9999,\"x\":")),
        ("hostile operand", good.replacen("[\"mul\",", "[\"mul\",4000000000,", 1)),
        // Valid kernels that compute something else (found by an attack on the cache: each was
        // reported with exit 0): names swapped, a function changed, a constant made NaN, a
        // name that would inject a line into the report.
        ("parameter names swapped", good.replace("\"param_names\":[\"a\",\"b\"", "\"param_names\":[\"b\",\"a\"")),
        ("exp made sin", good.replace("\"exp\"", "\"sin\"")),
        ("a NaN constant", good.replace("{\"const\":\"1.0\"}", "{\"const\":\"NaN\"}")),
        ("a name with a newline", good.replace("\"param_names\":[\"a\"", "\"param_names\":[\"a\\n[[Injected]]\"")),
    ];
    for (what, content) in bad_files {
        assert_ne!(content, good, "{what}: the test's edit did not apply");
        std::fs::write(&path, &content).unwrap();
        let cache = cache_in(&dir, 8);
        let compiled = cache.compile_default(MODEL).unwrap();
        assert_eq!(compiled.origin, Origin::Miss, "{what}");
        assert_eq!(compiled.warnings.len(), 1, "{what}: {:?}", compiled.warnings);
        assert!(compiled.warnings[0].contains("ignoring a cache file"), "{what}: {}", compiled.warnings[0]);
        let semantic = ["does not compute the model", "does not match the model", "not an identifier"];
        if what.contains("swapped") || what.contains("sin") || what.contains("NaN") || what.contains("newline") {
            assert!(semantic.iter().any(|s| compiled.warnings[0].contains(s)), "{what}: {}", compiled.warnings[0]);
        }
        // The file was rebuilt: the next process gets a disk hit.
        assert_eq!(cache_in(&dir, 8).compile_default(MODEL).unwrap().origin, Origin::DiskHit, "{what}");
    }
}

#[test]
fn lru_evicts_at_capacity() {
    let cache = KernelCache::new(CacheOptions { capacity: NonZeroUsize::new(2).unwrap(), disk_dir: None });
    for model in ["a*x", "a*x + b", "a*x^2"] {
        assert_eq!(cache.compile_default(model).unwrap().origin, Origin::Miss);
    }
    let stats = cache.stats();
    assert_eq!((stats.in_memory, stats.evictions), (2, 1));
    // The oldest was evicted; the newest two are still there.
    assert_eq!(cache.compile_default("a*x + b").unwrap().origin, Origin::MemoryHit);
    assert_eq!(cache.compile_default("a*x").unwrap().origin, Origin::Miss);
}

#[test]
fn many_threads_compiling_one_model_leave_one_valid_file() {
    let dir = TempDir::new("cache-threads");
    let cache = cache_in(&dir, 8);
    std::thread::scope(|s| {
        for _ in 0..8 {
            s.spawn(|| {
                let compiled = cache.compile_default(MODEL).unwrap();
                assert!(compiled.warnings.is_empty(), "{:?}", compiled.warnings);
            });
        }
    });
    let files = dir.files_under();
    assert_eq!(files.len(), 1, "{files:?}");
    assert_eq!(cache_in(&dir, 8).compile_default(MODEL).unwrap().origin, Origin::DiskHit);
}

#[test]
fn several_processes_compiling_one_model_leave_one_valid_file() {
    let dir = TempDir::new("cache-processes");
    let children: Vec<_> = (0..4)
        .map(|_| {
            std::process::Command::new(env!("CARGO_BIN_EXE_jitfit"))
                .args(["cache", "compile", MODEL, "--repeat", "3"])
                .env("JITFIT_CACHE_DIR", dir.path())
                .env_remove("JITFIT_NO_DISK_CACHE")
                .output()
                .unwrap()
        })
        .collect();
    for out in children {
        assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
        assert!(out.stderr.is_empty(), "{}", String::from_utf8_lossy(&out.stderr));
    }
    let files = dir.files_under();
    assert_eq!(files.len(), 1, "{files:?}");
    assert_eq!(cache_in(&dir, 8).compile_default(MODEL).unwrap().origin, Origin::DiskHit);
}

#[test]
fn a_disk_cache_that_cannot_be_written_only_warns() {
    let dir = TempDir::new("cache-readonly");
    // A file where the cache folder should be: nothing can be created under it.
    let blocker = dir.path().join("blocked");
    std::fs::write(&blocker, "not a folder").unwrap();
    let cache = KernelCache::new(CacheOptions { capacity: NonZeroUsize::new(4).unwrap(), disk_dir: Some(blocker) });
    let compiled = cache.compile_default(MODEL).unwrap();
    assert_eq!(compiled.origin, Origin::Miss);
    // Reading fails too (the path is not a folder): both are reported, neither is fatal.
    let last = compiled.warnings.last().unwrap();
    assert!(last.contains("could not save"), "{last}");
}

#[test]
fn invalid_models_are_errors_not_cache_entries() {
    let dir = TempDir::new("cache-invalid");
    let cache = cache_in(&dir, 4);
    assert!(cache.compile_default("a*exq(x)").is_err());
    assert!(cache.compile_default("a*").is_err());
    assert!(dir.files_under().is_empty());
}

/// `Model::compile` needs no cache: the same key, kernel and fit as a cached compile.
#[test]
fn model_compile_equals_a_cached_compile() {
    let model = jitfit::Model::parse(MODEL).unwrap();
    let direct = std::sync::Arc::new(model.compile().unwrap());
    let dir = TempDir::new("cache-direct");
    let cached = cache_in(&dir, 4).compile_default(MODEL).unwrap().model;
    assert_eq!(direct.key(), cached.key());
    assert_eq!(**direct.kernel(), **cached.kernel());
    let x: Vec<f64> = (0..30).map(|i| i as f64 / 3.0).collect();
    let y: Vec<f64> = x.iter().map(|x| 2.0 * (-0.4 * x).exp() + 0.3).collect();
    let data = jitfit::Data::new().var("x", x).y(y);
    let fit = |m: &std::sync::Arc<jitfit::CompiledModel>| m.fit(&data).p0(&[1.0, 1.0, 0.0]).run().unwrap().values;
    assert_eq!(fit(&direct), fit(&cached));
}

/// The library's process-wide cache keeps models in memory only: a program that embeds
/// jitfit writes nothing to the user's cache folder unless it asks (the CLI asks; its tests
/// check the disk files).
#[test]
fn the_librarys_global_cache_is_memory_only() {
    jitfit::compile("q*exp(-r*x) + s").unwrap();
    assert!(KernelCache::global().disk().is_none());
    // Once in use, it cannot be reconfigured behind its users' backs.
    assert!(!KernelCache::configure_global(CacheOptions {
        disk_dir: Some(std::env::temp_dir()),
        ..Default::default()
    }));
    assert!(KernelCache::global().disk().is_none());
}

/// `cache clear` removes the cache's own files only: a folder given by mistake as
/// `JITFIT_CACHE_DIR` keeps its `vendor/package.json`, and symlinks are never followed.
#[test]
fn clear_removes_only_its_own_files() {
    let dir = TempDir::new("cache-clear");
    let root = dir.path();
    let own_key = "0123456789abcdef0123456789abcdef";
    let write = |p: &str| {
        let path = root.join(p);
        std::fs::create_dir_all(path.parent().unwrap()).unwrap();
        std::fs::write(path, "{}").unwrap();
    };
    for p in ["vendor/package.json", "v1/foo.json", "v3-ir1/notes.json", "v3-ir1/notes.tmp"] {
        write(p);
    }
    write(&format!("v3-ir1/{own_key}.json"));
    write(&format!("v3-ir1/.{own_key}.json.42.00ff00ff00ff00ff.tmp"));
    let elsewhere = TempDir::new("cache-clear-elsewhere");
    std::fs::write(elsewhere.path().join(format!("{own_key}.json")), "{}").unwrap();
    #[cfg(unix)]
    std::os::unix::fs::symlink(elsewhere.path(), root.join("v4-ir1")).unwrap();
    let store = jitfit::cache::DiskStore::new(root.clone());
    assert_eq!(store.clear().unwrap(), 2);
    let mut left: Vec<String> =
        dir.files_under().iter().map(|p| p.strip_prefix(&root).unwrap().display().to_string()).collect();
    left.retain(|p| !p.starts_with("v4-ir1")); // the symlink's target, checked below
    left.sort();
    assert_eq!(left, ["v1/foo.json", "v3-ir1/notes.json", "v3-ir1/notes.tmp", "vendor/package.json"]);
    assert!(elsewhere.path().join(format!("{own_key}.json")).exists());
}

/// The check of a loaded kernel against its source never refuses a good file: every NIST
/// model is a clean disk hit in a new process.
#[test]
fn good_files_pass_the_check_against_the_source() {
    let dir = TempDir::new("cache-nist");
    for p in crate::support::nist::all_problems() {
        let names = Names { vars: p.vars.clone(), params: Some(p.params.clone()) };
        let options = ModelOptions { names, ..Default::default() };
        // (A first miss, or a hit when another data set has the same model: Chwirut1 and 2.)
        assert!(cache_in(&dir, 64).compile(&p.model, &options).unwrap().warnings.is_empty(), "{}", p.name);
        let again = cache_in(&dir, 64).compile(&p.model, &options).unwrap();
        assert_eq!((again.origin, again.warnings.len()), (Origin::DiskHit, 0), "{}: {:?}", p.name, again.warnings);
    }
}

/// A FIFO planted as a cache entry blocked every fit of that model; it is refused unread.
#[cfg(unix)]
#[test]
fn a_fifo_in_place_of_an_entry_is_refused_unread() {
    let dir = TempDir::new("cache-fifo");
    let key = cache_in(&dir, 8).compile_default(MODEL).unwrap().model.key();
    let path = cache_in(&dir, 8).disk().unwrap().path(key);
    std::fs::remove_file(&path).unwrap();
    let made = std::process::Command::new("mkfifo").arg(&path).status();
    if !made.is_ok_and(|s| s.success()) {
        eprintln!("skipping: no mkfifo");
        return;
    }
    let compiled = cache_in(&dir, 8).compile_default(MODEL).unwrap();
    assert_eq!(compiled.origin, Origin::Miss);
    assert!(compiled.warnings[0].contains("is not a regular file"), "{:?}", compiled.warnings);
}

/// The left side's transform is part of the answer: a file whose `log[y]` was made `exp[y]`
/// (f and ∂f untouched) is refused and rebuilt.
#[test]
fn a_tampered_response_transform_is_refused() {
    let dir = TempDir::new("cache-transform");
    let model = "log[y] = a - b*x";
    let key = cache_in(&dir, 8).compile_default(model).unwrap().model.key();
    let path = cache_in(&dir, 8).disk().unwrap().path(key);
    let good = std::fs::read_to_string(&path).unwrap();
    let tampered = good.replace("\"ln\"", "\"exp\"");
    assert_ne!(tampered, good);
    std::fs::write(&path, tampered).unwrap();
    let compiled = cache_in(&dir, 8).compile_default(model).unwrap();
    assert_eq!(compiled.origin, Origin::Miss);
    assert!(
        compiled.warnings[0].ends_with("was refused: its response transform does not match the model's left side"),
        "{:?}",
        compiled.warnings
    );
    // The untampered file is a clean hit.
    assert_eq!(cache_in(&dir, 8).compile_default(model).unwrap().warnings, Vec::<String>::new());
}
