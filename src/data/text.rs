//! Text tables, streamed: rows are parsed as they are read, straight into f64 column vectors,
//! so memory is about the columns themselves (a 10^7-row, two-column CSV used 2.4 GB when
//! every field was first held as a `String`).
//!
//! What the file does not say is either given ([`ReadOptions`]) or detected and said in
//! [`Table::notes`]: a `;` in the first line means `;`-separated fields, and decimal commas
//! (`1,5`) are read where commas do not separate fields.

use super::{Column, DataError, Table};
use std::collections::HashMap;
use std::io::{BufRead, BufReader, Read};
use std::ops::Range;
use std::path::{Path, PathBuf};

/// The longest line read: longer is not a text table (`/dev/zero` or a binary file on standard
/// input would otherwise grow one line until memory runs out). A CSV line of 3·10^5 columns is
/// a few MB.
pub const MAX_LINE_BYTES: usize = 64 << 20;

/// How fields are separated.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Delimiter {
    Comma,
    /// European spreadsheets' CSV: `;` between fields, often with decimal commas.
    Semicolon,
    Tab,
    /// Runs of spaces or tabs; `#` starts a comment.
    Whitespace,
    /// Another single ASCII character (`|`), given.
    Other(u8),
}

impl Delimiter {
    /// The names `--delimiter` takes: `,` `;` `tab` (or `\t`) `space`/`whitespace`, or another
    /// single ASCII punctuation character (`|`); not `"` or `#`, which quote and comment.
    pub fn from_name(name: &str) -> Option<Delimiter> {
        match name {
            "," | "comma" => Some(Delimiter::Comma),
            ";" | "semicolon" => Some(Delimiter::Semicolon),
            "tab" | "\\t" | "\t" => Some(Delimiter::Tab),
            "space" | "whitespace" | " " => Some(Delimiter::Whitespace),
            _ => match name.as_bytes() {
                [b] if b.is_ascii_punctuation() && !b"\"#.-+".contains(b) => Some(Delimiter::Other(*b)),
                _ => None,
            },
        }
    }

    /// The separating byte; `None` for runs of whitespace.
    fn byte(self) -> Option<u8> {
        match self {
            Delimiter::Comma => Some(b','),
            Delimiter::Semicolon => Some(b';'),
            Delimiter::Tab => Some(b'\t'),
            Delimiter::Other(b) => Some(b),
            Delimiter::Whitespace => None,
        }
    }
}

/// What a text table does not say about itself. The default detects (and notes) what it can.
#[derive(Clone, Debug, Default)]
pub struct ReadOptions {
    /// The field separator; `None` detects it from the extension and the first line.
    pub delimiter: Option<Delimiter>,
    /// Commas are decimal points (`1,5` is 1.5); a `.` in a number is then an error (a
    /// thousands separator would be read 1000× too small). Refused with `,` as the separator.
    pub decimal_comma: bool,
    /// Columns whose values are labels, not numbers (a batch's sample or well names): their
    /// values are indices into [`Table::labels`].
    pub text_columns: Vec<String>,
}

/// Reads a text table from `reader`; `path` names it in messages and its extension helps
/// choose the separator.
pub fn read_text(reader: impl Read, path: &Path, options: &ReadOptions) -> Result<Table, DataError> {
    let (layout, mut rows, mut part) = read_head(reader, path, options)?;
    layout.parse_rows(&mut rows, 0, &mut part)?;
    layout.finish(vec![part])
}

/// Files larger than this are parsed in parallel (a memory map cut at line ends).
pub const PARALLEL_BYTES: u64 = 32 << 20;

/// [`read_text`] over a whole file in memory, cut into `pieces` at line ends and parsed in
/// parallel; the same table and the same first error as reading it in one piece. A file with
/// a `"` is read in one piece by the row reader (a quoted field may hold a line end); any
/// other is parsed in place ([`Layout::parse_piece`]), without the row reader's copies.
pub fn read_text_parallel(bytes: &[u8], path: &Path, options: &ReadOptions, pieces: usize) -> Result<Table, DataError> {
    use rayon::prelude::*;
    if memchr::memchr(b'"', bytes).is_some() {
        return read_text(bytes, path, options);
    }
    // The first row (the header or first data row) decides the layout; the rows after it are
    // cut into pieces.
    let (layout, _, head) = read_head(bytes, path, options)?;
    let head_end = {
        // After the first row's line end (a `\r\n` counts once, at its `\n`).
        let mut lines = 0;
        bytes
            .iter()
            .enumerate()
            .position(|(i, b)| {
                lines += usize::from(*b == b'\n' || (*b == b'\r' && bytes.get(i + 1) != Some(&b'\n')));
                lines == layout.first_row_line
            })
            .map_or(bytes.len(), |i| i + 1)
    };
    let body = &bytes[head_end..];
    let mut cuts = vec![0];
    for k in 1..pieces.max(1) {
        let at = body.len() * k / pieces;
        let cut = memchr::memchr(b'\n', &body[at..]).map_or(body.len(), |i| at + i + 1);
        if cut > *cuts.last().unwrap_or(&0) && cut < body.len() {
            cuts.push(cut);
        }
    }
    cuts.push(body.len());
    // Each piece's lines count from the line ends before it.
    let pieces: Vec<&[u8]> = cuts.windows(2).map(|w| &body[w[0]..w[1]]).collect();
    let newlines: Vec<usize> = pieces.par_iter().map(|b| line_ends(b)).collect();
    let mut before = line_ends(&bytes[..head_end]);
    let offsets: Vec<usize> = newlines
        .iter()
        .map(|n| {
            let at = before;
            before += n;
            at
        })
        .collect();
    let parts: Vec<Result<Part, DataError>> = pieces
        .par_iter()
        .zip(offsets.into_par_iter().zip(newlines))
        .map(|(piece, (offset, lines))| {
            // A row per line, at most (and a row has a byte per field at least): the columns
            // never grow by copying.
            let mut part = layout.empty_part();
            let rows = (lines + 1).min(piece.len() / layout.names.len().max(1) + 1);
            for column in &mut part.columns {
                column.reserve_exact(rows);
            }
            layout.parse_piece(piece, offset, &mut part)?;
            Ok(part)
        })
        .collect();
    let mut all = vec![head];
    for part in parts {
        all.push(part?);
    }
    layout.finish(all)
}

/// What the first lines of a table decided: its separator, names, label columns.
struct Layout {
    separator: Delimiter,
    numbers: Numbers,
    names: Vec<String>,
    text: Vec<bool>,
    notes: Vec<String>,
    path: PathBuf,
    /// The line of the first row (the header, or the first data row).
    first_row_line: usize,
}

/// The columns of some rows of a table (all of them, or one piece of a parallel read).
struct Part {
    columns: Vec<Vec<f64>>,
    labels: Vec<Option<Labels>>,
    decimal_commas: bool,
}

/// What the row reader of [`read_head`] reads: the lines read ahead, then the rest.
type HeadReader<R> = std::io::Chain<std::io::Cursor<Vec<u8>>, BufReader<LineLimit<R>>>;

/// One row: its 1-based line, its bytes, and each field's range in them.
type Row<'a> = (usize, &'a [u8], &'a [Range<usize>]);

/// Reads up to the first row: the separator (given or detected), the header, the names; the
/// first row is in the returned part when it is data.
fn read_head<R: Read>(
    reader: R,
    path: &Path,
    options: &ReadOptions,
) -> Result<(Layout, Rows<HeadReader<R>>, Part), DataError> {
    let io = |e: std::io::Error| io_error(path, e);
    let format = |message: String| DataError::Format { path: path.to_owned(), message };
    let mut reader = BufReader::with_capacity(1 << 16, LineLimit { inner: reader, line: 0 });
    // The lines before the first data line (comments, blank lines) and that line, read ahead
    // to choose the separator, then read again by the row reader.
    let mut ahead = Vec::new();
    let first_line = loop {
        let start = ahead.len();
        if reader.read_until(b'\n', &mut ahead).map_err(io)? == 0 {
            break String::new();
        }
        let line = String::from_utf8_lossy(&ahead[start..]).trim().to_owned();
        if !line.is_empty() && !line.starts_with('#') {
            break line;
        }
        if ahead.len() > MAX_LINE_BYTES {
            return Err(format(format!(
                "no data in the first {} MiB (blank or comment lines only)",
                MAX_LINE_BYTES >> 20
            )));
        }
    };
    let extension = path.extension().and_then(|e| e.to_str()).unwrap_or("").to_ascii_lowercase();
    let mut notes = Vec::new();
    let separator = match options.delimiter {
        Some(d) => d,
        None if first_line.contains(';') => {
            notes.push("fields separated by `;` (the first line has one; --delimiter says otherwise)".to_owned());
            Delimiter::Semicolon
        }
        None => match extension.as_str() {
            "csv" => Delimiter::Comma,
            "tsv" | "tab" => Delimiter::Tab,
            _ if first_line.contains(',') => Delimiter::Comma,
            _ if first_line.contains('\t') => Delimiter::Tab,
            _ => Delimiter::Whitespace,
        },
    };
    if options.decimal_comma && separator == Delimiter::Comma {
        return Err(format(
            "commas cannot be both the separator and decimal points: give --delimiter ';' (or tab, space) with --decimal-comma".into(),
        ));
    }
    let mut rows = Rows::new(std::io::Cursor::new(ahead).chain(reader), separator);

    let Some((first_line_no, bytes, ranges)) = rows.next_row().map_err(|e| e.into_data_error(path))? else {
        return Err(DataError::Empty { path: path.to_owned() });
    };
    let first: Vec<String> =
        ranges.iter().map(|r| String::from_utf8_lossy(&bytes[r.clone()]).trim().to_owned()).collect();
    let numbers = Numbers { separator, decimal_comma: options.decimal_comma };
    // A header has a field that is not a number as written (a missing-value word such as
    // `NA` counts as text here: a first row of names is never read as missing data).
    let header = first.iter().any(|f| !numbers.is_number(f));
    let width = first.len();
    let names: Vec<String> = if header {
        first.clone()
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
    if let Some(name) = options.text_columns.iter().find(|n| !names.contains(n)) {
        return Err(DataError::NoSuchColumn { path: path.to_owned(), name: name.clone(), columns: names });
    }
    let text = names.iter().map(|n| options.text_columns.contains(n)).collect();
    let layout =
        Layout { separator, numbers, names, text, notes, path: path.to_owned(), first_row_line: first_line_no };
    let mut part = layout.empty_part();
    if !header {
        let joined = first.concat();
        let mut at = 0;
        let ranges: Vec<Range<usize>> = first
            .iter()
            .map(|f| {
                at += f.len();
                at - f.len()..at
            })
            .collect();
        layout.push_row(&mut part, first_line_no, joined.as_bytes(), &ranges)?;
    }
    Ok((layout, rows, part))
}

impl Layout {
    fn empty_part(&self) -> Part {
        Part {
            columns: vec![Vec::new(); self.names.len()],
            labels: self.text.iter().map(|t| t.then(Labels::default)).collect(),
            decimal_commas: false,
        }
    }

    /// Every remaining row of `rows` into `part`; line numbers count from `line_offset`.
    fn parse_rows<R: Read>(&self, rows: &mut Rows<R>, line_offset: usize, part: &mut Part) -> Result<(), DataError> {
        while let Some((line, bytes, fields)) = rows.next_row().map_err(|e| e.into_data_error(&self.path))? {
            self.push_row(part, line + line_offset, bytes, fields)?;
        }
        Ok(())
    }

    /// The rows of a piece of a quote-free table in memory into `part`, as [`Rows`] reads
    /// them: lines end at `\n`, `\r\n` or a lone `\r` and count from `line_offset`; blank and
    /// comment lines are skipped; fields are cut at the separator (or at runs of whitespace,
    /// where `#` starts a comment), and a row of blank fields is skipped. A piece with a line
    /// over [`MAX_LINE_BYTES`] goes to the row reader, which refuses it.
    fn parse_piece(&self, bytes: &[u8], line_offset: usize, part: &mut Part) -> Result<(), DataError> {
        if bytes.len() > MAX_LINE_BYTES && has_long_line(bytes) {
            let reader = LineLimit { inner: bytes, line: 0 };
            let mut rows = Rows::new(BufReader::with_capacity(1 << 16, reader), self.separator);
            return self.parse_rows(&mut rows, line_offset, part);
        }
        let separator = self.separator.byte();
        let mut fields: Vec<Range<usize>> = Vec::with_capacity(self.names.len());
        let (mut at, mut line) = (0, line_offset);
        while at < bytes.len() {
            // One scan of the line: its end, its fields, whether it has anything but
            // separators and spaces (a row of blank fields is skipped, as is a blank line).
            let rest = &bytes[at..];
            fields.clear();
            let (mut start, mut filled, mut comment) = (0, false, None);
            let mut end = rest.len();
            match separator {
                Some(d) => {
                    for (k, &b) in rest.iter().enumerate() {
                        if b == d {
                            fields.push(start..k);
                            start = k + 1;
                        } else if b == b'\n' || b == b'\r' {
                            end = k;
                            break;
                        } else if !b.is_ascii_whitespace() {
                            filled = true;
                        }
                    }
                }
                None => {
                    for (k, &b) in rest.iter().enumerate() {
                        if b == b'\n' || b == b'\r' {
                            end = k;
                            break;
                        } else if comment.is_some() {
                        } else if b == b'#' {
                            comment = Some(k);
                        } else if b.is_ascii_whitespace() {
                            if start < k {
                                fields.push(start..k);
                            }
                            start = k + 1;
                        } else {
                            filled = true;
                        }
                    }
                }
            }
            let content = &rest[..end];
            at += match rest.get(end) {
                Some(b'\r') if rest.get(end + 1) == Some(&b'\n') => end + 2,
                Some(_) => end + 1,
                None => end,
            };
            line += 1;
            let trimmed = content.trim_ascii_start();
            if !filled || trimmed.first() == Some(&b'#') {
                continue;
            }
            let stop = comment.unwrap_or(end);
            if separator.is_some() || start < stop {
                fields.push(start..stop);
            }
            self.push_row(part, line, content, &fields)?;
        }
        Ok(())
    }

    fn push_row(&self, part: &mut Part, line: usize, bytes: &[u8], fields: &[Range<usize>]) -> Result<(), DataError> {
        let path = &self.path;
        let width = self.names.len();
        if fields.len() != width {
            return Err(DataError::Ragged { path: path.to_owned(), line, expected: width, found: fields.len() });
        }
        for (k, range) in fields.iter().enumerate() {
            let field = bytes[range.clone()].trim_ascii();
            if let Some(labels) = &mut part.labels[k] {
                part.columns[k].push(labels.code(field) as f64);
                continue;
            }
            let value = match self.numbers.parse(field) {
                Parsed::Number(v) => v,
                Parsed::DecimalComma(v) => {
                    part.decimal_commas = true;
                    v
                }
                Parsed::DotWithDecimalComma => {
                    return Err(DataError::Format {
                        path: path.to_owned(),
                        message: format!(
                            "line {line}, column `{}`: `{}` has a `.`, but --decimal-comma says commas are the decimal points (a thousands separator?)",
                            self.names[k],
                            String::from_utf8_lossy(field)
                        ),
                    });
                }
                Parsed::Not => {
                    let field = String::from_utf8_lossy(field).into_owned();
                    // One column whose values hold several: another separator than the ones read.
                    if width == 1 && field.contains(['|', ':', '/']) {
                        return Err(DataError::Format {
                            path: path.to_owned(),
                            message: format!(
                                "line {line}: `{field}` is not a number, and the file reads as one column: fields must be separated by `,`, `;`, tabs or spaces, or another character given with --delimiter"
                            ),
                        });
                    }
                    return Err(DataError::NotANumber {
                        path: path.to_owned(),
                        line,
                        column: self.names[k].clone(),
                        text: field,
                    });
                }
            };
            part.columns[k].push(value);
        }
        Ok(())
    }

    /// The table from its parts, in order (labels renumbered in order of first appearance).
    fn finish(self, parts: Vec<Part>) -> Result<Table, DataError> {
        let path = self.path.as_path();
        let rows: usize = parts.iter().map(|p| p.columns.first().map_or(0, Vec::len)).sum();
        if rows == 0 {
            return Err(DataError::Empty { path: path.to_owned() });
        }
        let mut notes = self.notes;
        let decimal_commas = parts.iter().any(|p| p.decimal_commas);
        if decimal_commas && !self.numbers.decimal_comma {
            notes.push("decimal commas read as decimal points (`1,5` is 1.5; --decimal-comma says so)".to_owned());
        }
        let width = self.names.len();
        let mut parts = parts.into_iter();
        let Some(first) = parts.next() else { return Err(DataError::Empty { path: path.to_owned() }) };
        let (mut columns, mut labels) = (first.columns, first.labels);
        for column in &mut columns {
            column.reserve_exact(rows - column.len());
        }
        for part in parts {
            for k in 0..width {
                match (&mut labels[k], &part.labels[k]) {
                    (Some(global), Some(local)) => {
                        let codes: Vec<f64> = local.labels.iter().map(|l| global.code(l) as f64).collect();
                        columns[k].extend(part.columns[k].iter().map(|c| codes[*c as usize]));
                    }
                    _ => columns[k].extend_from_slice(&part.columns[k]),
                }
            }
        }
        let text = |l: Labels| l.labels.iter().map(|b| String::from_utf8_lossy(b).into_owned()).collect();
        let labels = self.names.iter().zip(labels).filter_map(|(n, l)| l.map(|l| (n.clone(), text(l)))).collect();
        Ok(Table { names: self.names, columns: columns.into_iter().map(Column::from).collect(), notes, labels })
    }
}

/// A text column's distinct values, in order of first appearance.
#[derive(Default)]
struct Labels {
    index: HashMap<Vec<u8>, u32>,
    /// As read (made text only at the end, so that pieces read apart merge exactly).
    labels: Vec<Vec<u8>>,
    /// The last row's code: rows of one group usually follow each other, and a comparison
    /// with the last label is cheaper than a hash.
    last: Option<u32>,
}

impl Labels {
    fn code(&mut self, field: &[u8]) -> u32 {
        let field = field.trim_ascii();
        if let Some(last) = self.last
            && self.labels[last as usize] == field
        {
            return last;
        }
        if let Some(&code) = self.index.get(field) {
            self.last = Some(code);
            return code;
        }
        let code = self.labels.len() as u32;
        self.last = Some(code);
        self.index.insert(field.to_vec(), code);
        self.labels.push(field.to_vec());
        code
    }
}

/// How numbers are written in this file.
struct Numbers {
    separator: Delimiter,
    decimal_comma: bool,
}

enum Parsed {
    Number(f64),
    /// Read with its comma as the decimal point, detected (said in the notes).
    DecimalComma(f64),
    /// A `.` in a file whose commas are decimal points.
    DotWithDecimalComma,
    Not,
}

impl Numbers {
    /// Whether a first-row field is a number (so the row is data, not a header); one written
    /// with a `.` under --decimal-comma counts, and is then refused as data.
    fn is_number(&self, field: &str) -> bool {
        match self.parse(field.as_bytes()) {
            Parsed::Number(v) | Parsed::DecimalComma(v) => !v.is_nan() || is_nan_word(field),
            Parsed::DotWithDecimalComma => true,
            Parsed::Not => false,
        }
    }

    fn parse(&self, field: &[u8]) -> Parsed {
        if let Some(v) = plain_number(field, !self.decimal_comma) {
            return Parsed::Number(v);
        }
        let text = if field.is_ascii() {
            // SAFETY: ASCII is UTF-8 (`from_utf8` costs more than the parse on short fields).
            unsafe { std::str::from_utf8_unchecked(field) }
        } else {
            let Ok(text) = std::str::from_utf8(field) else { return Parsed::Not };
            text
        };
        // The common case first: a number as it stands (fields come trimmed of ASCII spaces).
        if !self.decimal_comma
            && let Ok(v) = text.parse::<f64>()
        {
            return Parsed::Number(v);
        }
        let text = text.trim();
        if self.decimal_comma {
            if text.contains('.') {
                // A number written with a `.` (`1.5`, `1.234,5`) is refused; a name is text.
                let as_number = text.replace(',', "").parse::<f64>().is_ok();
                return if as_number { Parsed::DotWithDecimalComma } else { Parsed::Not };
            }
            return parse_number(&text.replacen(',', ".", 1)).map_or(Parsed::Not, Parsed::Number);
        }
        if let Some(v) = parse_number(text) {
            return Parsed::Number(v);
        }
        // A decimal comma (`1,5`) where commas do not separate fields.
        if self.separator != Delimiter::Comma && text.matches(',').count() == 1 && !text.contains('.') {
            return text.replacen(',', ".", 1).parse::<f64>().map_or(Parsed::Not, Parsed::DecimalComma);
        }
        Parsed::Not
    }
}

/// Powers of ten that are exact in f64.
const EXACT_POWERS_OF_TEN: [f64; 16] =
    [1e0, 1e1, 1e2, 1e3, 1e4, 1e5, 1e6, 1e7, 1e8, 1e9, 1e10, 1e11, 1e12, 1e13, 1e14, 1e15];

/// A plainly written number — an optional sign, at most 15 digits, and (when `point`) one `.`
/// with digits on both sides; no exponent — read to the same bits as `str::parse` reads it,
/// without its generality (most fields of most tables: indices, counts, measured values): the
/// digits and the power of ten are exact in f64, so their quotient is correctly rounded, as
/// `str::parse`'s result is. `None` for any other form, which `str::parse` then reads.
fn plain_number(field: &[u8], point: bool) -> Option<f64> {
    let (negative, digits) = match field.first()? {
        b'-' => (true, &field[1..]),
        b'+' => (false, &field[1..]),
        _ => (false, field),
    };
    if digits.is_empty() || digits.len() > 16 {
        return None;
    }
    let (mut mantissa, mut point_at) = (0u64, None);
    for (k, &b) in digits.iter().enumerate() {
        match b {
            b'0'..=b'9' => mantissa = mantissa * 10 + u64::from(b - b'0'),
            b'.' if point && point_at.is_none() && k > 0 && k + 1 < digits.len() => point_at = Some(k),
            _ => return None,
        }
    }
    let decimals = point_at.map_or(0, |k| digits.len() - k - 1);
    if digits.len() - usize::from(point_at.is_some()) > 15 {
        return None;
    }
    let value = mantissa as f64 / EXACT_POWERS_OF_TEN[decimals];
    Some(if negative { -value } else { value })
}

/// `nan`, `inf` spelled out are numbers in a first row; the missing-value words are not.
fn is_nan_word(field: &str) -> bool {
    field.trim().eq_ignore_ascii_case("nan")
}

/// A number as written in data files: Rust's f64 syntax, `nan`/`inf` included; an empty
/// field and the usual spellings of a missing value (`NA`, `N/A`, `null`, `None`, `-`) are NaN.
/// Both are refused later, with their row, unless the caller drops such rows.
fn parse_number(text: &str) -> Option<f64> {
    let text = text.trim();
    if let Ok(v) = text.parse::<f64>() {
        return Some(v);
    }
    if text.is_empty() || ["na", "n/a", "null", "none", "-"].iter().any(|w| text.eq_ignore_ascii_case(w)) {
        return Some(f64::NAN);
    }
    None
}

/// A read error: a line over the limit is the file's fault (a format error), not the disk's.
fn io_error(path: &Path, e: std::io::Error) -> DataError {
    let path = path.to_owned();
    match e.kind() {
        std::io::ErrorKind::InvalidData => DataError::Format { path, message: e.to_string() },
        _ => DataError::Io { path, message: e.to_string() },
    }
}

/// Rows of fields, one record at a time, reusing its buffers.
struct Rows<R: Read> {
    kind: RowKind<R>,
    fields: Vec<Range<usize>>,
}

enum RowKind<R: Read> {
    Csv(csv::Reader<Lines<R>>, csv::ByteRecord),
    Whitespace { reader: BufReader<Lines<R>>, buffer: Vec<u8>, line: usize },
}

/// Why a row could not be read.
enum RowError {
    Io(std::io::Error),
    Csv(csv::Error),
}

impl RowError {
    fn into_data_error(self, path: &Path) -> DataError {
        let path: PathBuf = path.to_owned();
        match self {
            RowError::Io(e) => io_error(&path, e),
            RowError::Csv(e) => {
                let message = e.to_string();
                match e.into_kind() {
                    csv::ErrorKind::Io(e) => io_error(&path, e),
                    _ => DataError::Format { path, message },
                }
            }
        }
    }
}

impl<R: Read> Rows<R> {
    fn new(reader: R, separator: Delimiter) -> Self {
        let delimiter = match separator.byte() {
            Some(b) => b,
            None => {
                let kind = RowKind::Whitespace {
                    reader: BufReader::new(Lines::new(reader, false)),
                    buffer: Vec::new(),
                    line: 0,
                };
                return Rows { kind, fields: Vec::new() };
            }
        };
        let csv = csv::ReaderBuilder::new()
            .delimiter(delimiter)
            .has_headers(false)
            .flexible(true)
            .comment(Some(b'#'))
            .from_reader(Lines::new(reader, true));
        Rows { kind: RowKind::Csv(csv, csv::ByteRecord::new()), fields: Vec::new() }
    }

    /// The next row that has a field, as its 1-based line, its bytes and each field's range
    /// in them (one buffer reused for every row); `None` at the end.
    fn next_row(&mut self) -> Result<Option<Row<'_>>, RowError> {
        self.fields.clear();
        match &mut self.kind {
            RowKind::Csv(reader, record) => {
                loop {
                    if !reader.read_byte_record(record).map_err(RowError::Csv)? {
                        return Ok(None);
                    }
                    if !record.iter().all(|f| f.trim_ascii().is_empty()) {
                        break;
                    }
                }
                let line = record.position().map_or(0, |p| p.line() as usize);
                self.fields.extend((0..record.len()).filter_map(|k| record.range(k)));
                Ok(Some((line, record.as_slice(), &self.fields)))
            }
            RowKind::Whitespace { reader, buffer, line } => {
                let end = loop {
                    buffer.clear();
                    if reader.read_until(b'\n', buffer).map_err(RowError::Io)? == 0 {
                        return Ok(None);
                    }
                    *line += 1;
                    let end = buffer.iter().position(|b| *b == b'#').unwrap_or(buffer.len());
                    if !buffer[..end].iter().all(u8::is_ascii_whitespace) {
                        break end;
                    }
                };
                let mut start = None;
                for (k, b) in buffer[..end].iter().enumerate() {
                    match (b.is_ascii_whitespace(), start) {
                        (false, None) => start = Some(k),
                        (true, Some(s)) => {
                            self.fields.push(s..k);
                            start = None;
                        }
                        _ => {}
                    }
                }
                if let Some(s) = start {
                    self.fields.push(s..end);
                }
                Ok(Some((*line, &buffer[..end], &self.fields)))
            }
        }
    }
}

/// Lines as the row readers need them: every line end (`\n`, `\r\n`, a lone `\r`) as `\n`,
/// and blank and comment lines (outside quotes) as a single space. The csv reader skips blank
/// lines silently at the start of a record and then reports the record's line as the first
/// skipped one, counts a line after `\r\n` one short, and would read a `\r`-only file's
/// comment to the end of the file; a line of one space is a row of its own (skipped by
/// [`Rows`]), so every line number is right. [`line_ends`] counts lines the same way.
struct Lines<R: Read> {
    inner: BufReader<R>,
    raw: Vec<u8>,
    line: Vec<u8>,
    at: usize,
    /// Whether `"` quotes (CSV): a line inside a quoted field is never blanked.
    quotes: bool,
    in_quotes: bool,
}

impl<R: Read> Lines<R> {
    fn new(reader: R, quotes: bool) -> Self {
        let inner = BufReader::with_capacity(1 << 16, reader);
        Lines { inner, raw: Vec::new(), line: Vec::new(), at: 0, quotes, in_quotes: false }
    }

    /// Whether a line (without its end) is blank or a comment outside quotes: written as one
    /// space. Tracks the quotes the line opens or closes.
    fn blanked(&mut self, content: &[u8]) -> bool {
        let trimmed = content.trim_ascii_start();
        let blank = !self.in_quotes && (trimmed.is_empty() || trimmed[0] == b'#');
        // A comment's quotes quote nothing.
        if !blank && self.quotes && content.contains(&b'"') && content.iter().filter(|b| **b == b'"').count() % 2 == 1 {
            self.in_quotes = !self.in_quotes;
        }
        blank
    }

    fn push_line(&mut self, content: &[u8], terminated: bool) {
        if self.blanked(content) {
            self.line.push(b' ');
        } else {
            self.line.extend_from_slice(content);
        }
        if terminated {
            self.line.push(b'\n');
        }
    }
}

impl<R: Read> Lines<R> {
    /// The next raw line into `self.line`, transformed; false at the end.
    fn refill(&mut self) -> std::io::Result<bool> {
        self.line.clear();
        self.at = 0;
        let mut raw = std::mem::take(&mut self.raw);
        raw.clear();
        if self.inner.read_until(b'\n', &mut raw)? == 0 {
            self.raw = raw;
            return Ok(false);
        }
        // The common line: one `\n` (or `\r\n`) at its end and no other `\r`; when it is not
        // blank or a comment it is used as read (no copy), with `\r\n` made `\n`.
        let body = raw.strip_suffix(b"\n").map_or(&raw[..], |b| b.strip_suffix(b"\r").unwrap_or(b));
        if !body.contains(&b'\r') {
            let terminated = body.len() < raw.len();
            if self.blanked(body) {
                self.line.push(b' ');
                if terminated {
                    self.line.push(b'\n');
                }
            } else {
                if raw.ends_with(b"\r\n") {
                    raw.truncate(raw.len() - 2);
                    raw.push(b'\n');
                }
                std::mem::swap(&mut self.line, &mut raw);
            }
            self.raw = raw;
            return Ok(true);
        }
        let (mut start, mut i) = (0, 0);
        while i < raw.len() {
            match raw[i] {
                b'\n' => {
                    self.push_line(&raw[start..i], true);
                    i += 1;
                    start = i;
                }
                b'\r' => {
                    self.push_line(&raw[start..i], true);
                    i += if raw.get(i + 1) == Some(&b'\n') { 2 } else { 1 };
                    start = i;
                }
                _ => i += 1,
            }
        }
        if start < raw.len() {
            self.push_line(&raw[start..], false);
        }
        self.raw = raw;
        Ok(true)
    }
}

impl<R: Read> Read for Lines<R> {
    /// As many lines as fit (one line per call made the csv reader refill per line).
    fn read(&mut self, out: &mut [u8]) -> std::io::Result<usize> {
        let mut written = 0;
        while written < out.len() {
            if self.at == self.line.len() && !self.refill()? {
                break;
            }
            let n = (out.len() - written).min(self.line.len() - self.at);
            out[written..written + n].copy_from_slice(&self.line[self.at..self.at + n]);
            self.at += n;
            written += n;
        }
        Ok(written)
    }
}

/// The line ends in `bytes` as [`Lines`] counts them: `\n`, `\r\n` and a lone `\r`.
fn line_ends(bytes: &[u8]) -> usize {
    let newlines = bytes.iter().filter(|b| **b == b'\n').count();
    if !bytes.contains(&b'\r') {
        return newlines;
    }
    let lone = bytes.windows(2).filter(|w| w[0] == b'\r' && w[1] != b'\n').count();
    newlines + lone + usize::from(bytes.last() == Some(&b'\r'))
}

/// Whether `bytes` has more than [`MAX_LINE_BYTES`] between line feeds ([`LineLimit`]'s
/// measure).
fn has_long_line(bytes: &[u8]) -> bool {
    let mut last = 0;
    for k in memchr::memchr_iter(b'\n', bytes).chain([bytes.len()]) {
        if k - last > MAX_LINE_BYTES {
            return true;
        }
        last = k + 1;
    }
    false
}

/// A reader that fails on a line longer than [`MAX_LINE_BYTES`].
struct LineLimit<R> {
    inner: R,
    /// Bytes since the last newline.
    line: usize,
}

impl<R: Read> Read for LineLimit<R> {
    fn read(&mut self, buf: &mut [u8]) -> std::io::Result<usize> {
        let n = self.inner.read(buf)?;
        let read = &buf[..n];
        self.line = match read.iter().rposition(|b| *b == b'\n') {
            Some(k) => n - k - 1,
            None => self.line + n,
        };
        if self.line > MAX_LINE_BYTES {
            return Err(std::io::Error::new(
                std::io::ErrorKind::InvalidData,
                format!("a line longer than {} MiB: not a text table", MAX_LINE_BYTES >> 20),
            ));
        }
        Ok(n)
    }
}

#[cfg(test)]
mod tests {
    use super::plain_number;
    use proptest::prelude::*;

    /// Whatever `plain_number` reads, `str::parse` reads to the same bits.
    fn agrees(text: &str) {
        if let Some(v) = plain_number(text.as_bytes(), true) {
            let std: f64 = text.parse().unwrap_or_else(|_| panic!("`{text}` read as {v}, refused by str::parse"));
            assert_eq!(v.to_bits(), std.to_bits(), "`{text}`");
        }
    }

    #[test]
    fn plain_numbers_read_as_str_parse_reads_them() {
        for text in [
            "0",
            "-0",
            "+0",
            "-0.0",
            "7",
            "007",
            "3.25",
            "-3.25",
            "0.1",
            "0.3",
            "999999999999999",
            "1000000000000000",
            "9007199254740993",
            "0.000000000000001",
            "1.",
            ".5",
            "-",
            "+",
            ".",
            "1.2.3",
            "1e5",
            "12a",
            "--1",
            "+-1",
            "123456789012345.6",
            "12345678901234.5",
        ] {
            agrees(text);
        }
        // The plain forms are read here (not left to str::parse), to the bits str::parse gives.
        for text in ["0", "-0", "+0", "-0.0", "007", "3.25", "-3.25", "0.3", "999999999999999", "12345678901234.5"] {
            let v = plain_number(text.as_bytes(), true).unwrap_or_else(|| panic!("`{text}` is plain"));
            assert_eq!(v.to_bits(), text.parse::<f64>().unwrap().to_bits(), "`{text}`");
        }
        // Other forms are not.
        for text in ["1.", ".5", "1e5", "1000000000000000", "123456789012345.6", "", "-", "1.2.3", " 1"] {
            assert_eq!(plain_number(text.as_bytes(), true), None, "`{text}`");
        }
        assert_eq!(plain_number(b"1.5", false), None, "a `.` under --decimal-comma is not plain");
        assert_eq!(plain_number(b"-12", false), Some(-12.0));
    }

    proptest! {
        #[test]
        fn random_plain_numbers(text in "[-+]?[0-9]{0,9}[.]?[0-9]{0,9}") {
            agrees(&text);
        }

        #[test]
        fn printed_values(v in proptest::num::f64::NORMAL, decimals in 0usize..12) {
            agrees(&format!("{v:.decimals$}"));
            agrees(&format!("{}", v as f32));
        }
    }
}
