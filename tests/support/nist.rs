//! Reading NIST StRD `.dat` files (shipped in `tests/data/nist`): the model line, the
//! starting values, the certified values, and the data.

use std::path::{Path, PathBuf};

pub struct NistProblem {
    pub name: String,
    /// The model as written in the file, without the trailing `+ e`.
    pub model: String,
    pub params: Vec<String>,
    pub start1: Vec<f64>,
    pub start2: Vec<f64>,
    pub certified: Vec<f64>,
    pub certified_sd: Vec<f64>,
    pub certified_rss: f64,
    /// Predictor names: `x`, or `x1, x2` for Nelson.
    pub vars: Vec<String>,
    /// Rows of the data block: `y` first, then the predictors.
    pub rows: Vec<Vec<f64>>,
}

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
    files.iter().map(|p| read(p)).collect()
}

pub fn read(path: &Path) -> NistProblem {
    let text = std::fs::read_to_string(path).unwrap();
    let lines: Vec<&str> = text.lines().collect();
    let model_at = lines.iter().position(|l| l.starts_with("Model:")).expect("a Model: section");
    let first = (model_at..lines.len()).find(|i| lines[*i].contains('=')).unwrap();
    let mut model = String::new();
    for line in &lines[first..] {
        if line.trim().is_empty() {
            break;
        }
        model.push_str(line.trim());
        model.push('\n');
    }
    let model = model.trim_end();
    let model = model.strip_suffix('e').expect("the model ends in `+ e`").trim_end();
    let model = model.strip_suffix('+').expect("the model ends in `+ e`").trim_end().to_owned();

    let (mut params, mut start1, mut start2, mut certified, mut certified_sd) =
        (vec![], vec![], vec![], vec![], vec![]);
    for line in &lines {
        let t = line.trim_start();
        if t.starts_with('b') && t.contains('=') {
            let (name, rest) = t.split_once('=').unwrap();
            let name = name.trim();
            if name.len() > 3 || !name[1..].chars().all(|c| c.is_ascii_digit()) {
                continue;
            }
            let v: Vec<f64> = rest.split_whitespace().map(|s| s.parse().unwrap()).collect();
            params.push(name.to_owned());
            start1.push(v[0]);
            start2.push(v[1]);
            certified.push(v[2]);
            certified_sd.push(v[3]);
        }
    }
    let certified_rss = lines
        .iter()
        .find(|l| l.starts_with("Residual Sum of Squares:"))
        .and_then(|l| l.split_whitespace().last())
        .and_then(|v| v.parse().ok())
        .expect("a certified residual sum of squares");
    let data_at = lines.iter().rposition(|l| l.starts_with("Data:")).unwrap();
    let header: Vec<&str> = lines[data_at].split_whitespace().skip(1).collect();
    let vars = header[1..].iter().map(|s| s.to_string()).collect();
    let rows = lines[data_at + 1..]
        .iter()
        .filter(|l| !l.trim().is_empty())
        .map(|l| l.split_whitespace().map(|s| s.parse().unwrap()).collect())
        .collect();
    NistProblem {
        name: path.file_stem().unwrap().to_string_lossy().into_owned(),
        model,
        params,
        start1,
        start2,
        certified,
        certified_sd,
        certified_rss,
        vars,
        rows,
    }
}
