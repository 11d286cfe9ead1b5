//! The layers of ARCHITECTURE.md, checked: which top-level modules of `src/` may name which
//! (`crate::…` paths outside `#[cfg(test)]` code). A new dependency fails here until the
//! table — and ARCHITECTURE.md — say it is wanted; the table itself must stay acyclic.

use std::collections::{BTreeMap, BTreeSet};

/// Each module and the modules it may use. Read bottom-up: nothing below names anything above.
const LAYERS: &[(&str, &[&str])] = &[
    ("ops", &[]),
    // Atomic file writes, for the cache, checkpoints and the .npy writer.
    ("fsutil", &[]),
    ("loss", &["ops"]),
    ("symbolic", &["ops"]),
    // `resolve` builds the symbolic graph from the tree.
    ("syntax", &["ops", "symbolic"]),
    ("ir", &["ops", "symbolic"]),
    ("data", &["fsutil"]),
    // The solver knows only the `Problem` contract and its own vocabulary.
    ("solve", &["fsutil", "loss", "ops"]),
    // Backends see only the verified IR; they add into the solver's NormalEquations.
    ("backend", &["ir", "loss", "ops", "solve"]),
    ("problem", &["backend", "ir", "loss", "ops", "solve"]),
    ("model", &["backend", "ir", "ops", "symbolic", "syntax"]),
    ("compiled", &["backend", "ir", "model", "ops", "syntax"]),
    // The cache memoizes `Model::compile`; nothing below it knows it.
    ("cache", &["backend", "compiled", "fsutil", "ir", "model", "syntax"]),
    (
        "fit",
        &["backend", "cache", "compiled", "data", "fsutil", "ir", "loss", "model", "ops", "problem", "solve", "syntax"],
    ),
    ("batch", &["backend", "compiled", "fit", "ir", "loss", "ops", "problem", "solve"]),
    ("guess", &["ops", "solve", "syntax"]),
    ("multistart", &["backend", "compiled", "fit", "guess", "ir", "problem", "solve"]),
    // The report's sections and the fit's JSON, shared by the CLI and the Python module.
    ("report", &["backend", "fit", "solve"]),
    // MPI ranks as a `problem::Collective` (feature `mpi`): it knows nothing of fits.
    ("mpi", &["problem"]),
    ("error", &["backend", "data", "fit", "ir", "model", "symbolic", "syntax"]),
];

/// Names `lib.rs` re-exports at the crate root, and the module each comes from.
const ROOT_NAMES: &[(&str, &str)] = &[
    ("Model", "model"),
    ("ModelOptions", "model"),
    ("ModelError", "model"),
    ("StageTimes", "model"),
    ("Error", "error"),
    ("Names", "syntax"),
    ("Data", "fit"),
    ("Fit", "fit"),
    ("FitError", "fit"),
    ("FitBuilder", "fit"),
    ("FitOptions", "fit"),
    ("Estimator", "fit"),
    ("compile", "fit"),
    ("compile_with_vars", "fit"),
    ("CompiledModel", "compiled"),
    ("KernelCache", "cache"),
    ("Batch", "batch"),
    ("BatchData", "batch"),
    ("BatchOptions", "batch"),
    ("BatchResults", "batch"),
    ("BatchStatus", "batch"),
];

/// The `crate::` names a file uses outside comments and test modules.
fn crate_names(text: &str) -> BTreeSet<String> {
    let code: String = text
        .split("#[cfg(test)]")
        .next()
        .unwrap_or("")
        .lines()
        .map(|l| l.split("//").next().unwrap_or(""))
        .collect::<Vec<_>>()
        .join("\n");
    let mut names = BTreeSet::new();
    for (at, _) in code.match_indices("crate::") {
        let rest = &code[at + 7..];
        if let Some(group) = rest.strip_prefix('{') {
            let group = &group[..group.find('}').unwrap_or(group.len())];
            names.extend(group.split(',').filter_map(|n| n.split("::").next()).map(|n| n.trim().to_owned()));
        } else {
            names.insert(rest.chars().take_while(|c| c.is_alphanumeric() || *c == '_').collect());
        }
    }
    names
}

fn files_under(dir: &std::path::Path, out: &mut Vec<std::path::PathBuf>) {
    for entry in std::fs::read_dir(dir).unwrap() {
        let path = entry.unwrap().path();
        if path.is_dir() {
            files_under(&path, out);
        } else if path.extension().is_some_and(|e| e == "rs") {
            out.push(path);
        }
    }
}

#[test]
fn modules_use_only_the_layers_below_them() {
    let allowed: BTreeMap<&str, BTreeSet<&str>> =
        LAYERS.iter().map(|(m, deps)| (*m, deps.iter().copied().collect())).collect();
    let src = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("src");
    let mut files = Vec::new();
    files_under(&src, &mut files);
    let mut violations = Vec::new();
    for file in files {
        let relative = file.strip_prefix(&src).unwrap();
        let module = relative.iter().next().unwrap().to_string_lossy().trim_end_matches(".rs").to_owned();
        if module == "lib" || module == "bin" {
            continue;
        }
        let Some(may_use) = allowed.get(module.as_str()) else {
            violations.push(format!("{}: module `{module}` is not in LAYERS", relative.display()));
            continue;
        };
        for name in crate_names(&std::fs::read_to_string(&file).unwrap()) {
            let target = ROOT_NAMES.iter().find(|(n, _)| *n == name).map_or(name.as_str(), |(_, m)| m);
            if target != module && !may_use.contains(target) {
                violations.push(format!("{}: `{module}` uses `crate::{name}` (module `{target}`)", relative.display()));
            }
        }
    }
    assert!(violations.is_empty(), "dependencies outside the layers:\n{}", violations.join("\n"));
}

#[test]
fn the_layers_are_acyclic() {
    // Every module may use only modules listed before it.
    for (at, (module, deps)) in LAYERS.iter().enumerate() {
        for dep in *deps {
            let position = LAYERS.iter().position(|(m, _)| m == dep);
            assert!(position.is_some_and(|p| p < at), "`{module}` uses `{dep}`, which is not below it");
        }
    }
}
