//! Data files → named f64 columns: CSV and TSV with a header, whitespace-separated text (`#`
//! comments, header optional), and NIST StRD `.dat` files. Every error names the file, the
//! line and the column.

mod column;
pub mod nist;
pub mod npy;
mod text;

pub use column::{Column, MappedColumnError};
pub use text::{Delimiter, MAX_LINE_BYTES, PARALLEL_BYTES, ReadOptions, read_text, read_text_parallel};

use std::io::Read;
use std::path::{Path, PathBuf};

/// Named columns of equal length.
#[derive(Clone, Debug, Default)]
pub struct Table {
    pub names: Vec<String>,
    pub columns: Vec<Column>,
    /// What reading chose that the file did not say (a `;` separator, decimal commas), one
    /// sentence each, for the report.
    pub notes: Vec<String>,
    /// The labels of the columns read as text ([`ReadOptions::text_columns`]): such a column's
    /// values are indices into its labels, in order of first appearance.
    pub labels: Vec<(String, Vec<String>)>,
}

impl Table {
    pub fn column(&self, name: &str) -> Option<&[f64]> {
        self.names.iter().position(|n| n == name).map(|k| self.columns[k].as_slice())
    }

    /// The column as stored (mapped columns stay mapped when handed to a fit).
    pub fn column_data(&self, name: &str) -> Option<&Column> {
        self.names.iter().position(|n| n == name).map(|k| &self.columns[k])
    }

    /// The labels of a column read as text (its values index them).
    pub fn labels(&self, name: &str) -> Option<&[String]> {
        self.labels.iter().find(|(n, _)| n == name).map(|(_, l)| l.as_slice())
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
    #[error("{path}: no column `{name}` (columns: {})", columns.join(", "))]
    NoSuchColumn { path: PathBuf, name: String, columns: Vec<String> },
}

/// Reads a data file, choosing the format by extension and content (`.npy` is mapped), with
/// what it does not say detected (see [`ReadOptions`]).
pub fn read_table(path: &Path) -> Result<Table, DataError> {
    read_table_with(path, &ReadOptions::default())
}

/// Reads a data file with what it does not say given in `options` (`.npy` files say it all:
/// options other than the default are for text).
pub fn read_table_with(path: &Path, options: &ReadOptions) -> Result<Table, DataError> {
    if is_npy(path) {
        let (names, columns) = npy::read_npy(path)?;
        return Ok(Table { names, columns, ..Table::default() });
    }
    // Only a regular file: a device (`/dev/zero` grows without end) or a FIFO (blocks) is
    // refused before it is opened.
    let io = |e: std::io::Error| DataError::Io { path: path.to_owned(), message: e.to_string() };
    let meta = std::fs::metadata(path).map_err(io)?;
    if !meta.is_file() {
        return Err(DataError::Format {
            path: path.to_owned(),
            message: "not a regular file (a folder, device or FIFO); give a data file, or `-` for standard input"
                .into(),
        });
    }
    let mut file = std::fs::File::open(path).map_err(io)?;
    let threads = rayon::current_num_threads();
    // Pieces of at least 1 MiB, a few per thread.
    let pieces = |len: usize| (len >> 20).clamp(1, 4 * threads);
    if meta.len() >= text::PARALLEL_BYTES {
        // SAFETY: read-only, and only while this function runs; jitfit does not write the
        // file meanwhile. (If another process truncates it, reads may fault: the usual
        // caveat of memory maps, as for `.npy` columns.)
        if let Ok(map) = unsafe { memmap2::Mmap::map(&file) } {
            return text::read_text_parallel(&map, path, options, pieces(map.len()));
        }
        return read_text(file, path, options);
    }
    // A smaller file is read whole (its size may be wrong, as for files in /proc, or grow:
    // past the limit the rest is streamed).
    let mut bytes = Vec::with_capacity(meta.len() as usize + 1);
    Read::by_ref(&mut file).take(text::PARALLEL_BYTES).read_to_end(&mut bytes).map_err(io)?;
    if bytes.len() as u64 == text::PARALLEL_BYTES {
        return read_text(std::io::Cursor::new(bytes).chain(file), path, options);
    }
    text::read_text_parallel(&bytes, path, options, pieces(bytes.len()))
}

/// True for a `.npy` file (binary columns, mapped; the text options do not apply).
pub fn is_npy(path: &Path) -> bool {
    path.extension().is_some_and(|e| e.eq_ignore_ascii_case("npy"))
}

/// Parses table text (see [`read_table`]); `path` is used in messages and for the extension.
pub fn parse_table(text: &str, path: &Path) -> Result<Table, DataError> {
    read_text(text.as_bytes(), path, &ReadOptions::default())
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::io::Read;

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

    /// What the file does not say, given: the separator, decimal commas, label columns.
    #[test]
    fn read_options_are_kept() {
        let read = |text: &str, name: &str, options: &ReadOptions| read_text(text.as_bytes(), Path::new(name), options);
        let semicolon = ReadOptions { delimiter: Some(Delimiter::Semicolon), ..Default::default() };
        let t = read("x;y\n1;2\n", "d.txt", &semicolon).unwrap();
        assert_eq!(t.column("y"), Some(&[2.0][..]));
        assert!(t.notes.is_empty(), "a given separator is not a note: {:?}", t.notes);
        let comma = ReadOptions { decimal_comma: true, ..semicolon.clone() };
        let t = read("x;y\n1,5;2\n", "d.txt", &comma).unwrap();
        assert_eq!(t.column("x"), Some(&[1.5][..]));
        assert!(t.notes.is_empty(), "{:?}", t.notes);
        let e = read("x;y\n1.234;2\n", "d.txt", &comma).unwrap_err();
        assert_eq!(
            e.to_string(),
            "d.txt: line 2, column `x`: `1.234` has a `.`, but --decimal-comma says commas are the decimal points (a thousands separator?)"
        );
        // A headerless first row written with dots is data, refused (it was taken as a header).
        let e = read("1.5;2\n2,5;3\n", "d.txt", &comma).unwrap_err();
        assert_eq!(
            e.to_string(),
            "d.txt: line 1, column `x`: `1.5` has a `.`, but --decimal-comma says commas are the decimal points (a thousands separator?)"
        );
        let t = read("t.s;y\n1,5;2\n", "d.txt", &comma).unwrap();
        assert_eq!(t.names, ["t.s", "y"]);
        let both = ReadOptions { delimiter: Some(Delimiter::Comma), decimal_comma: true, ..Default::default() };
        assert_eq!(
            read("x,y\n1,2\n", "d.csv", &both).unwrap_err().to_string(),
            "d.csv: commas cannot be both the separator and decimal points: give --delimiter ';' (or tab, space) with --decimal-comma"
        );
        // Tabs given for a file whose first line has a `;` in a name.
        let tab = ReadOptions { delimiter: Some(Delimiter::Tab), ..Default::default() };
        let t = read("t;s\ty\n1\t2\n", "d.txt", &tab).unwrap();
        assert_eq!(t.names, ["t;s", "y"]);
        // Labels: rows keep their label's index, labels in order of first appearance.
        let labels = ReadOptions { text_columns: vec!["well".into()], ..Default::default() };
        let t = read("well,x,y\nB2,1,2\n A1 ,2,3\nB2,3,4\n", "d.csv", &labels).unwrap();
        assert_eq!(t.column("well"), Some(&[0.0, 1.0, 0.0][..]));
        assert_eq!(t.labels("well"), Some(&["B2".to_owned(), "A1".to_owned()][..]));
        assert_eq!(t.labels("x"), None);
        // Without the option a label is not a number.
        let e = read("well,x,y\nB2,1,2\n", "d.csv", &ReadOptions::default()).unwrap_err();
        assert_eq!(e.to_string(), "d.csv, line 2, column `well`: `B2` is not a number");
    }

    /// Errors name the right line after blank and comment lines and in `\r\n` files (the csv
    /// reader alone named the first blank line, and counted one short after `\r\n`).
    #[test]
    fn line_numbers_count_every_line() {
        let e = parse("x,y\r\n1,2\r\n\r\n# c\r\n3\r\n", "d.csv").unwrap_err();
        assert_eq!(e.to_string(), "d.csv, line 5: 1 values, but the first row has 2");
        let e = parse("x;y\n\n\n1;a\n", "d.txt").unwrap_err();
        assert_eq!(e.to_string(), "d.txt, line 4, column `y`: `a` is not a number");
    }

    /// `\r`-only files, `\r\r\n`, a `#` line inside a quoted field, labels that are not UTF-8
    /// (read apart and together: one table).
    #[test]
    fn line_ends_quotes_and_raw_labels() {
        let t = parse("x,y\r1,2\r#c\r3,4\r", "d.csv").unwrap();
        assert_eq!(t.column("x"), Some(&[1.0, 3.0][..]));
        let t = parse("#c\rx y\r1 2\r", "d.txt").unwrap();
        assert_eq!(t.column("y"), Some(&[2.0][..]));
        let e = parse("x,y\r\r\n1,2\r\r\n3\n", "d.csv").unwrap_err();
        assert_eq!(e.to_string(), "d.csv, line 5: 1 values, but the first row has 2");
        let labels = ReadOptions { text_columns: vec!["x".into()], ..Default::default() };
        let t = read_text(&b"x,y\n\"A\n#1\",2\n3,4\n"[..], Path::new("q.csv"), &labels).unwrap();
        assert_eq!(t.labels("x"), Some(&["A\n#1".to_owned(), "3".to_owned()][..]));
        assert_eq!(t.column("y"), Some(&[2.0, 4.0][..]));
        let raw = b"x,y\n\xff,1\n\xfe,2\n\xff,3\n\xfe,4\n";
        let one = read_text(&raw[..], Path::new("r.csv"), &labels).unwrap();
        for pieces in 2..5 {
            let apart = read_text_parallel(raw, Path::new("r.csv"), &labels, pieces).unwrap();
            assert_eq!(apart.column("x"), one.column("x"), "{pieces} pieces");
            assert_eq!(apart.column("x"), Some(&[0.0, 1.0, 0.0, 1.0][..]));
        }
    }

    /// Rows are streamed: a line without end (binary data, `/dev/zero`) is refused at the
    /// limit instead of growing until memory runs out.
    #[test]
    fn a_line_without_end_is_refused() {
        let endless = std::io::repeat(b'0').take(MAX_LINE_BYTES as u64 + (1 << 20));
        let e = read_text(endless, Path::new("standard input"), &ReadOptions::default()).unwrap_err();
        assert_eq!(e.to_string(), "standard input: a line longer than 64 MiB: not a text table");
        let spaces = "x y\n".to_owned() + &"1 2\n".repeat(3);
        let t = read_text(
            std::io::Read::chain(spaces.as_bytes(), &b"# end\n4\t5"[..]),
            Path::new("d"),
            &ReadOptions::default(),
        )
        .unwrap();
        assert_eq!(t.column("y"), Some(&[2.0, 2.0, 2.0, 5.0][..]));
    }
}
