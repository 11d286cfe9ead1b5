//! Data files → named f64 columns: CSV and TSV with a header, whitespace-separated text (`#`
//! comments, header optional), and NIST StRD `.dat` files. Every error names the file, the
//! line and the column.

mod column;
pub mod nist;
pub mod npy;

pub use column::{Column, MappedColumnError};

use std::path::{Path, PathBuf};

/// Named columns of equal length.
#[derive(Clone, Debug, Default)]
pub struct Table {
    pub names: Vec<String>,
    pub columns: Vec<Column>,
    /// What reading chose that the file did not say (a `;` separator, decimal commas), one
    /// sentence each, for the report.
    pub notes: Vec<String>,
}

impl Table {
    pub fn column(&self, name: &str) -> Option<&[f64]> {
        self.names.iter().position(|n| n == name).map(|k| self.columns[k].as_slice())
    }

    /// The column as stored (mapped columns stay mapped when handed to a fit).
    pub fn column_data(&self, name: &str) -> Option<&Column> {
        self.names.iter().position(|n| n == name).map(|k| &self.columns[k])
    }

    pub fn n_rows(&self) -> usize {
        self.columns.first().map_or(0, |c| c.len())
    }
}

/// Why a data file could not be read.
#[derive(Clone, Debug, PartialEq, thiserror::Error)]
#[non_exhaustive]
pub enum DataError {
    #[error("cannot read {path}: {message}")]
    Io { path: PathBuf, message: String },
    #[error("{path}: no data rows")]
    Empty { path: PathBuf },
    #[error("{path}, line {line}: {found} values, but the first row has {expected}")]
    Ragged { path: PathBuf, line: usize, expected: usize, found: usize },
    #[error("{path}, line {line}, column `{column}`: `{text}` is not a number")]
    NotANumber { path: PathBuf, line: usize, column: String, text: String },
    #[error("{path}: the column name `{name}` appears twice")]
    DuplicateColumn { path: PathBuf, name: String },
    #[error("{path}: {message}")]
    Format { path: PathBuf, message: String },
}

#[derive(Clone, Copy, PartialEq)]
enum Separator {
    Comma,
    /// European spreadsheets' CSV: `;` between fields, often with decimal commas.
    Semicolon,
    Tab,
    Whitespace,
}

/// Reads a data file, choosing the format by extension and content (`.npy` is mapped).
pub fn read_table(path: &Path) -> Result<Table, DataError> {
    if path.extension().is_some_and(|e| e.eq_ignore_ascii_case("npy")) {
        let (names, columns) = npy::read_npy(path)?;
        return Ok(Table { names, columns, notes: Vec::new() });
    }
    // Only a regular file: a device (`/dev/zero` grows without end) or a FIFO (blocks) is
    // refused before it is opened.
    let meta = std::fs::metadata(path).map_err(|e| DataError::Io { path: path.to_owned(), message: e.to_string() })?;
    if !meta.is_file() {
        return Err(DataError::Format {
            path: path.to_owned(),
            message: "not a regular file (a folder, device or FIFO); give a data file, or `-` for standard input"
                .into(),
        });
    }
    let text =
        std::fs::read_to_string(path).map_err(|e| DataError::Io { path: path.to_owned(), message: e.to_string() })?;
    parse_table(&text, path)
}

/// Parses table text (see [`read_table`]); `path` is used in messages and for the extension.
pub fn parse_table(text: &str, path: &Path) -> Result<Table, DataError> {
    let extension = path.extension().and_then(|e| e.to_str()).unwrap_or("").to_ascii_lowercase();
    let first_line = text.lines().map(str::trim).find(|l| !l.is_empty() && !l.starts_with('#')).unwrap_or("");
    let separator = match extension.as_str() {
        _ if first_line.contains(';') => Separator::Semicolon,
        "csv" => Separator::Comma,
        "tsv" | "tab" => Separator::Tab,
        _ if first_line.contains(',') => Separator::Comma,
        _ if first_line.contains('\t') => Separator::Tab,
        _ => Separator::Whitespace,
    };
    // Rows of fields with their line numbers (1-based).
    let mut rows: Vec<(usize, Vec<String>)> = Vec::new();
    if separator == Separator::Whitespace {
        for (i, line) in text.lines().enumerate() {
            let line = line.split('#').next().unwrap_or("").trim();
            if !line.is_empty() {
                rows.push((i + 1, line.split_whitespace().map(str::to_owned).collect()));
            }
        }
    } else {
        let mut reader = csv::ReaderBuilder::new()
            .delimiter(match separator {
                Separator::Comma => b',',
                Separator::Semicolon => b';',
                _ => b'\t',
            })
            .has_headers(false)
            .flexible(true)
            .comment(Some(b'#'))
            .trim(csv::Trim::All)
            .from_reader(text.as_bytes());
        for record in reader.records() {
            let record = record.map_err(|e| DataError::Format { path: path.to_owned(), message: e.to_string() })?;
            let line = record.position().map_or(0, |p| p.line() as usize);
            if record.iter().all(|f| f.is_empty()) {
                continue;
            }
            rows.push((line, record.iter().map(str::to_owned).collect()));
        }
    }
    if rows.is_empty() {
        return Err(DataError::Empty { path: path.to_owned() });
    }
    // A header has a field that is not a number as written (a missing-value word such as
    // `NA` counts as text here: a first row of names is never read as missing data).
    let is_number = |f: &str| {
        let f = f.trim();
        f.parse::<f64>().is_ok() || (separator != Separator::Comma && f.replacen(',', ".", 1).parse::<f64>().is_ok())
    };
    let header = rows[0].1.iter().any(|f| !is_number(f));
    let width = rows[0].1.len();
    let names: Vec<String> = if header {
        rows[0].1.clone()
    } else {
        match width {
            2 => vec!["x".into(), "y".into()],
            3 => vec!["x".into(), "y".into(), "sigma".into()],
            _ => (1..=width).map(|k| format!("c{k}")).collect(),
        }
    };
    let mut seen = std::collections::HashSet::with_capacity(names.len());
    for name in &names {
        // A set: linear in the number of columns (the issue measured the pairwise check at 76 s
        // for 3·10^5 columns; with the set, 0.25 s for the whole fit of such a file here).
        if !seen.insert(name.as_str()) {
            return Err(DataError::DuplicateColumn { path: path.to_owned(), name: name.clone() });
        }
    }
    let data_rows = if header { &rows[1..] } else { &rows[..] };
    if data_rows.is_empty() {
        return Err(DataError::Empty { path: path.to_owned() });
    }
    let mut notes = Vec::new();
    if separator == Separator::Semicolon {
        notes.push("fields separated by `;` (the first line has one)".to_owned());
    }
    let mut decimal_commas = false;
    let mut columns = vec![Vec::with_capacity(data_rows.len()); width];
    for (line, fields) in data_rows {
        if fields.len() != width {
            return Err(DataError::Ragged { path: path.to_owned(), line: *line, expected: width, found: fields.len() });
        }
        for (k, field) in fields.iter().enumerate() {
            // A decimal comma (`1,5`) where commas do not separate fields.
            let comma_number = || {
                let decimal = field.trim().replacen(',', ".", 1);
                (separator != Separator::Comma && field.matches(',').count() == 1 && !field.contains('.'))
                    .then(|| decimal.parse::<f64>().ok())
                    .flatten()
            };
            let value = parse_number(field).or_else(|| {
                let value = comma_number();
                decimal_commas |= value.is_some();
                value
            });
            let value = value.ok_or_else(|| {
                // One column whose values hold several: another separator than the ones read.
                if width == 1 && field.contains(['|', ':', '/']) {
                    return DataError::Format {
                        path: path.to_owned(),
                        message: format!(
                            "line {line}: `{field}` is not a number, and the file reads as one column: fields must be separated by `,`, `;`, tabs or spaces"
                        ),
                    };
                }
                DataError::NotANumber { path: path.to_owned(), line: *line, column: names[k].clone(), text: field.clone() }
            })?;
            columns[k].push(value);
        }
    }
    if decimal_commas {
        notes.push("decimal commas read as decimal points (`1,5` is 1.5)".to_owned());
    }
    Ok(Table { names, columns: columns.into_iter().map(Column::from).collect(), notes })
}

/// A number as written in data files: Rust's f64 syntax, `nan`/`inf` included; an empty
/// field and the usual spellings of a missing value (`NA`, `N/A`, `null`, `None`, `-`) are NaN.
/// Both are refused later, with their row, unless the caller drops such rows.
fn parse_number(text: &str) -> Option<f64> {
    let text = text.trim();
    if text.is_empty() || ["na", "n/a", "null", "none", "-"].contains(&text.to_ascii_lowercase().as_str()) {
        return Some(f64::NAN);
    }
    text.parse::<f64>().ok()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse(text: &str, name: &str) -> Result<Table, DataError> {
        parse_table(text, Path::new(name))
    }

    #[test]
    fn formats() {
        let csv = parse("# a comment\ntime, signal\n0, 1.5\n1, 2.5e0\n", "d.csv").unwrap();
        assert_eq!(csv.names, ["time", "signal"]);
        assert_eq!(csv.column("time"), Some(&[0.0, 1.0][..]));
        assert_eq!(csv.column("signal"), Some(&[1.5, 2.5][..]));
        let tsv = parse("t\ty\n1\t2\n", "d.tsv").unwrap();
        assert_eq!(tsv.column("y"), Some(&[2.0][..]));
        let ws = parse("# x y\n 1  2 # trailing\n\n3 4\n", "d.dat").unwrap();
        assert_eq!(ws.names, ["x", "y"]);
        assert_eq!(ws.column("x"), Some(&[1.0, 3.0][..]));
        assert_eq!(ws.column("y"), Some(&[2.0, 4.0][..]));
        let three = parse("1 2 0.1\n", "d.txt").unwrap();
        assert_eq!(three.names, ["x", "y", "sigma"]);
    }

    #[test]
    fn errors_name_the_line_and_column() {
        let e = parse("x,y\n1,2\n3\n", "d.csv").unwrap_err();
        assert_eq!(e.to_string(), "d.csv, line 3: 1 values, but the first row has 2");
        let e = parse("x,y\n1,2\n3,abc\n", "d.csv").unwrap_err();
        assert_eq!(e.to_string(), "d.csv, line 3, column `y`: `abc` is not a number");
        let e = parse("# nothing\n", "d.csv").unwrap_err();
        assert_eq!(e.to_string(), "d.csv: no data rows");
        let e = parse("x,x\n1,2\n", "d.csv").unwrap_err();
        assert_eq!(e.to_string(), "d.csv: the column name `x` appears twice");
        let e = parse("x y\n", "d.dat").unwrap_err();
        assert_eq!(e.to_string(), "d.dat: no data rows");
    }

    /// European spreadsheets: `;` between fields, decimal commas; both said in the notes.
    #[test]
    fn semicolons_and_decimal_commas() {
        let t = parse_table("x;y\n1,5;2,25\n2;3,5\n", Path::new("eu.csv")).unwrap();
        assert_eq!(t.names, ["x", "y"]);
        assert_eq!(t.column("x"), Some(&[1.5, 2.0][..]));
        assert_eq!(t.column("y"), Some(&[2.25, 3.5][..]));
        assert_eq!(t.notes.len(), 2, "{:?}", t.notes);
        let headerless = parse_table("1,5;2\n2,5;3\n", Path::new("eu.txt")).unwrap();
        assert_eq!(headerless.names, ["x", "y"]);
        assert_eq!(headerless.column("x"), Some(&[1.5, 2.5][..]));
        // Commas that separate fields are never decimal commas.
        let e = parse_table("x,y\n1,2,5\n", Path::new("d.csv")).unwrap_err();
        assert_eq!(e.to_string(), "d.csv, line 2: 3 values, but the first row has 2");
        // Missing values read as NaN (refused or dropped when fitting).
        let t = parse_table("x,y\n1,NA\n2,\n", Path::new("m.csv")).unwrap();
        assert!(t.column("y").unwrap().iter().all(|v| v.is_nan()));
    }
}
