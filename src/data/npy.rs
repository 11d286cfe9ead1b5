//! NumPy `.npy` files: reading 1-D or 2-D little-endian f64 arrays by memory-mapping them
//! (1-D arrays and the columns of Fortran-ordered 2-D arrays are used in place), and writing
//! 1-D arrays. A truncated, garbage or unsupported file is an error, never a crash.

use super::DataError;
use super::column::Column;
use std::path::Path;
use std::sync::Arc;

const MAGIC: &[u8] = b"\x93NUMPY";

fn format_error(path: &Path, message: impl Into<String>) -> DataError {
    DataError::Format { path: path.to_owned(), message: message.into() }
}

/// The parsed header: where the data start, and the array's shape and order.
struct Header {
    data_offset: usize,
    shape: Vec<usize>,
    fortran_order: bool,
}

fn parse_header(bytes: &[u8], path: &Path) -> Result<Header, DataError> {
    if bytes.len() < 10 || &bytes[..6] != MAGIC {
        return Err(format_error(path, "not a .npy file (no NUMPY magic)"));
    }
    let major = bytes[6];
    let (header_len, start): (usize, usize) = match major {
        1 => (u16::from_le_bytes([bytes[8], bytes[9]]) as usize, 10),
        2 | 3 if bytes.len() >= 12 => (u32::from_le_bytes([bytes[8], bytes[9], bytes[10], bytes[11]]) as usize, 12),
        _ => return Err(format_error(path, format!(".npy format version {major} is not supported"))),
    };
    let end = start
        .checked_add(header_len)
        .filter(|e| *e <= bytes.len())
        .ok_or_else(|| format_error(path, "the header is truncated"))?;
    let header = std::str::from_utf8(&bytes[start..end]).map_err(|_| format_error(path, "the header is not text"))?;
    let field = |key: &str| -> Option<&str> {
        let at = header.find(&format!("'{key}'"))? + key.len() + 2;
        let rest = header[at..].trim_start().strip_prefix(':')?.trim_start();
        Some(rest)
    };
    let descr = field("descr").and_then(|r| r.strip_prefix('\'')).and_then(|r| r.split('\'').next());
    match descr {
        Some("<f8") => {}
        Some(other) => {
            return Err(format_error(
                path,
                format!(
                    "holds `{other}` values; jitfit reads little-endian f64 (`<f8`): convert with numpy's `a.astype('<f8')`"
                ),
            ));
        }
        None => return Err(format_error(path, "the header has no `descr`")),
    }
    if !cfg!(target_endian = "little") {
        return Err(format_error(path, "memory-mapped .npy needs a little-endian machine"));
    }
    let fortran_order = match field("fortran_order") {
        Some(r) if r.starts_with("True") => true,
        Some(r) if r.starts_with("False") => false,
        _ => return Err(format_error(path, "the header has no `fortran_order`")),
    };
    let shape_text = field("shape")
        .and_then(|r| r.strip_prefix('('))
        .and_then(|r| r.split(')').next())
        .ok_or_else(|| format_error(path, "the header has no `shape`"))?;
    let shape: Result<Vec<usize>, _> =
        shape_text.split(',').map(str::trim).filter(|s| !s.is_empty()).map(str::parse::<usize>).collect();
    let shape = shape.map_err(|_| format_error(path, format!("bad shape `({shape_text})`")))?;
    if shape.is_empty() || shape.len() > 2 {
        return Err(format_error(
            path,
            format!("a {}-dimensional array; jitfit reads 1-D columns or 2-D tables", shape.len()),
        ));
    }
    Ok(Header { data_offset: end, shape, fortran_order })
}

/// Memory-maps a `.npy` file: one column for a 1-D array, one per column of a 2-D array
/// (named `c1`, `c2`, ...; or `x, y` / `x, y, sigma` for two or three columns).
pub fn read_npy(path: &Path) -> Result<(Vec<String>, Vec<Column>), DataError> {
    let file =
        std::fs::File::open(path).map_err(|e| DataError::Io { path: path.to_owned(), message: e.to_string() })?;
    // SAFETY: the map is read-only; jitfit does not write the file while it is mapped. (If
    // another process truncates it, reads may fault: the usual caveat of memory maps.)
    let map = unsafe { memmap2::Mmap::map(&file) }
        .map_err(|e| DataError::Io { path: path.to_owned(), message: e.to_string() })?;
    let header = parse_header(&map, path)?;
    let map = Arc::new(map);
    let (rows, cols) = match header.shape[..] {
        [n] => (n, 1),
        [n, k] => (n, k),
        _ => unreachable!("checked above"),
    };
    let needed = rows
        .checked_mul(cols)
        .and_then(|c| c.checked_mul(8))
        .and_then(|b| b.checked_add(header.data_offset))
        .ok_or_else(|| format_error(path, "the shape is too large"))?;
    if map.len() < needed {
        return Err(format_error(
            path,
            format!("truncated: the header promises {rows}×{cols} values, the file holds {} bytes", map.len()),
        ));
    }
    let names: Vec<String> = match cols {
        1 => vec![path.file_stem().map_or("c1".into(), |s| s.to_string_lossy().into_owned())],
        2 => vec!["x".into(), "y".into()],
        3 => vec!["x".into(), "y".into(), "sigma".into()],
        _ => (1..=cols).map(|k| format!("c{k}")).collect(),
    };
    let columns = (0..cols)
        .map(|c| {
            if cols == 1 || header.fortran_order {
                let offset = header.data_offset + c * rows * 8;
                // In place where the values are aligned (numpy aligns its headers to 64 bytes);
                // copied otherwise.
                if let Ok(column) = Column::mapped(map.clone(), offset, rows) {
                    return column;
                }
                let bytes = &map[offset..offset + rows * 8];
                return Column::from(
                    bytes.chunks_exact(8).map(|b| f64::from_le_bytes(b.try_into().unwrap())).collect::<Vec<f64>>(),
                );
            }
            // C order: a column is strided, so it is gathered into memory.
            Column::from(
                (0..rows)
                    .map(|r| {
                        let at = header.data_offset + (r * cols + c) * 8;
                        f64::from_le_bytes(map[at..at + 8].try_into().unwrap())
                    })
                    .collect::<Vec<f64>>(),
            )
        })
        .collect();
    Ok((names, columns))
}

/// Writes a 1-D little-endian f64 `.npy` file (format 1.0), atomically.
pub fn write_npy(path: &Path, values: &[f64]) -> std::io::Result<()> {
    write_array(path, &format!("({},)", values.len()), values)
}

/// Writes a 2-D array (`rows` × `values.len() / rows`, C order: row after row), atomically.
pub fn write_npy_2d(path: &Path, rows: usize, values: &[f64]) -> std::io::Result<()> {
    let cols = values.len().checked_div(rows).unwrap_or(0);
    if rows * cols != values.len() {
        return Err(std::io::Error::new(std::io::ErrorKind::InvalidInput, "values do not fill whole rows"));
    }
    write_array(path, &format!("({rows}, {cols})"), values)
}

fn write_array(path: &Path, shape: &str, values: &[f64]) -> std::io::Result<()> {
    let mut header = format!("{{'descr': '<f8', 'fortran_order': False, 'shape': {shape}, }}");
    // Pad so that magic + version + length + header is a multiple of 64, ending in '\n'.
    while (10 + header.len() + 1) % 64 != 0 {
        header.push(' ');
    }
    header.push('\n');
    crate::fsutil::write_atomically(path, |out| {
        out.write_all(MAGIC)?;
        out.write_all(&[1, 0])?;
        out.write_all(&(header.len() as u16).to_le_bytes())?;
        out.write_all(header.as_bytes())?;
        for v in values {
            out.write_all(&v.to_le_bytes())?;
        }
        Ok(())
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn temp(name: &str) -> std::path::PathBuf {
        std::env::temp_dir().join(format!("jitfit-npy-{}-{name}", std::process::id()))
    }

    #[test]
    fn round_trip_and_in_place_columns() {
        let path = temp("x.npy");
        let values: Vec<f64> = (0..1000).map(|i| i as f64 * 0.5).collect();
        write_npy(&path, &values).unwrap();
        let (names, columns) = read_npy(&path).unwrap();
        assert_eq!(names, [path.file_stem().unwrap().to_string_lossy().into_owned()]);
        assert!(columns[0].is_mapped());
        assert_eq!(columns[0].as_slice(), values.as_slice());
        std::fs::remove_file(path).unwrap();
    }

    /// Replaces the first occurrence of `from` (bytes: the magic is not UTF-8).
    fn replace(haystack: &[u8], from: &[u8], to: &[u8]) -> Vec<u8> {
        let at = haystack.windows(from.len()).position(|w| w == from).expect("present");
        [&haystack[..at], to, &haystack[at + from.len()..]].concat()
    }

    #[test]
    fn truncated_garbage_and_unsupported_files_are_errors() {
        let path = temp("bad.npy");
        write_npy(&path, &[1.0, 2.0, 3.0]).unwrap();
        let good = std::fs::read(&path).unwrap();
        let cases: Vec<(Vec<u8>, &str)> = vec![
            (good[..good.len() - 4].to_vec(), "truncated"),
            (good[..20].to_vec(), "the header is truncated"),
            (b"garbage, not numpy at all".to_vec(), "not a .npy file"),
            (Vec::new(), "not a .npy file"),
            (replace(&good, b"<f8", b"<i4"), "holds `<i4` values"),
            (replace(&good, b"(3,)", b"(3,2,1)"), "3-dimensional"),
            (replace(&good, b"(3,)", b"(x,)"), "bad shape"),
            (replace(&good, b"False", b"Maybe"), "no `fortran_order`"),
        ];
        for (bytes, expected) in cases {
            std::fs::write(&path, &bytes).unwrap();
            let err = read_npy(&path).unwrap_err().to_string();
            assert!(err.contains(expected), "{err}\nexpected: {expected}");
        }
        std::fs::remove_file(path).unwrap();
    }
}
