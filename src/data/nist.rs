//! NIST StRD nonlinear regression files (`.dat`): the model line as written, the two starts,
//! the certified values and standard deviations, the certified residual sum of squares and
//! the data.

use std::path::Path;

/// One NIST StRD problem.
#[derive(Clone, Debug)]
pub struct NistProblem {
    pub name: String,
    /// The model as the file writes it, without the trailing `+ e`.
    pub model: String,
    pub params: Vec<String>,
    pub start1: Vec<f64>,
    pub start2: Vec<f64>,
    pub certified: Vec<f64>,
    pub certified_sd: Vec<f64>,
    pub certified_rss: f64,
    /// The predictors' names (`x`, or `x1`, `x2`).
    pub vars: Vec<String>,
    /// Data rows: the response first, then the predictors.
    pub rows: Vec<Vec<f64>>,
}

impl NistProblem {
    pub fn y(&self) -> Vec<f64> {
        self.rows.iter().map(|r| r[0]).collect()
    }

    pub fn column(&self, k: usize) -> Vec<f64> {
        self.rows.iter().map(|r| r[k + 1]).collect()
    }
}

/// NIST's log relative error: −log₁₀(|estimate − certified| / |certified|), capped at 11.
pub fn lre(estimate: f64, certified: f64) -> f64 {
    let rel = ((estimate - certified) / certified).abs();
    if rel == 0.0 { 11.0 } else { (-rel.log10()).clamp(0.0, 11.0) }
}

/// Reads a NIST `.dat` file.
pub fn read_nist(path: &Path) -> Result<NistProblem, String> {
    let text = std::fs::read_to_string(path).map_err(|e| format!("cannot read {}: {e}", path.display()))?;
    let name = path.file_stem().map_or_else(String::new, |s| s.to_string_lossy().into_owned());
    parse_nist(&text, &name).map_err(|e| format!("{}: {e}", path.display()))
}

/// Parses the text of a NIST `.dat` file.
pub fn parse_nist(text: &str, name: &str) -> Result<NistProblem, String> {
    let lines: Vec<&str> = text.lines().collect();
    let model_at = lines.iter().position(|l| l.starts_with("Model:")).ok_or("no `Model:` section")?;
    let first = (model_at..lines.len()).find(|i| lines[*i].contains('=')).ok_or("no model line")?;
    let mut model = String::new();
    for line in &lines[first..] {
        if line.trim().is_empty() {
            break;
        }
        model.push_str(line.trim());
        model.push('\n');
    }
    let model = model.trim_end();
    let model = model
        .strip_suffix('e')
        .map(str::trim_end)
        .and_then(|m| m.strip_suffix('+'))
        .ok_or("the model line does not end in `+ e`")?
        .trim_end()
        .to_owned();

    let (mut params, mut start1, mut start2, mut certified, mut certified_sd) =
        (vec![], vec![], vec![], vec![], vec![]);
    for line in &lines {
        let t = line.trim_start();
        let Some((pname, rest)) = t.split_once('=') else { continue };
        let pname = pname.trim();
        if !(pname.starts_with('b')
            && pname.len() > 1
            && pname.len() <= 3
            && pname[1..].chars().all(|c| c.is_ascii_digit()))
        {
            continue;
        }
        let v: Vec<f64> = rest.split_whitespace().filter_map(|s| s.parse().ok()).collect();
        if v.len() != 4 {
            return Err(format!("the line for `{pname}` does not hold two starts, a value and a deviation"));
        }
        params.push(pname.to_owned());
        start1.push(v[0]);
        start2.push(v[1]);
        certified.push(v[2]);
        certified_sd.push(v[3]);
    }
    if params.is_empty() {
        return Err("no parameter lines (`b1 = ...`)".into());
    }
    let certified_rss = lines
        .iter()
        .find(|l| l.starts_with("Residual Sum of Squares:"))
        .and_then(|l| l.split_whitespace().last())
        .and_then(|v| v.parse().ok())
        .ok_or("no certified residual sum of squares")?;
    let data_at = lines.iter().rposition(|l| l.starts_with("Data:")).ok_or("no `Data:` block")?;
    let header: Vec<&str> = lines[data_at].split_whitespace().skip(1).collect();
    if header.len() < 2 {
        return Err("the data header names no predictor".into());
    }
    let vars = header[1..].iter().map(|s| s.to_string()).collect();
    let mut rows = Vec::new();
    for (i, line) in lines[data_at + 1..].iter().enumerate() {
        if line.trim().is_empty() {
            continue;
        }
        let row: Result<Vec<f64>, _> = line.split_whitespace().map(str::parse).collect();
        let row = row.map_err(|_| format!("line {}: not a row of numbers", data_at + 2 + i))?;
        if row.len() != header.len() {
            return Err(format!("line {}: {} values for {} columns", data_at + 2 + i, row.len(), header.len()));
        }
        rows.push(row);
    }
    Ok(NistProblem {
        name: name.to_owned(),
        model,
        params,
        start1,
        start2,
        certified,
        certified_sd,
        certified_rss,
        vars,
        rows,
    })
}
