//! A column of f64 values: owned (shared, so clones are cheap), memory-mapped from a `.npy`
//! file (never copied, so data larger than memory can be fitted), or held by another owner
//! (a Python array, read in place).
//!
//! The mapped form is opaque: only [`Column::mapped`], which checks the range, the alignment
//! and the byte order, can build one, so reading it as `&[f64]` is always sound.

use std::sync::Arc;

/// A column of f64 values.
#[derive(Clone, Debug)]
pub struct Column(Repr);

#[derive(Clone)]
enum Repr {
    /// Shared: a clone (a table's column handed to a fit) does not copy the values.
    Owned(Arc<Vec<f64>>),
    /// `len` values at byte `offset` of a mapped file; checked by [`Column::mapped`].
    Mapped { map: Arc<memmap2::Mmap>, offset: usize, len: usize },
    /// Values another owner keeps (see [`Column::shared`]).
    Shared(Arc<dyn AsRef<[f64]> + Send + Sync>),
}

impl std::fmt::Debug for Repr {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Repr::Owned(v) => f.debug_tuple("Owned").field(v).finish(),
            Repr::Mapped { offset, len, .. } => {
                f.debug_struct("Mapped").field("offset", offset).field("len", len).finish_non_exhaustive()
            }
            Repr::Shared(o) => f.debug_struct("Shared").field("len", &(**o).as_ref().len()).finish_non_exhaustive(),
        }
    }
}

/// Why a mapped range cannot be a column.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum MappedColumnError {
    /// The range does not fit inside the map (or its size overflows).
    OutOfRange,
    /// The first value is not at an 8-byte aligned address.
    Misaligned,
    /// This machine is not little-endian (`.npy` columns are read as `<f8`).
    BigEndian,
}

impl Column {
    /// `len` little-endian f64 values at byte `offset` of `map`, read in place.
    pub(crate) fn mapped(map: Arc<memmap2::Mmap>, offset: usize, len: usize) -> Result<Column, MappedColumnError> {
        if !cfg!(target_endian = "little") {
            return Err(MappedColumnError::BigEndian);
        }
        let end = len.checked_mul(8).and_then(|bytes| bytes.checked_add(offset));
        if end.is_none_or(|end| end > map.len()) {
            return Err(MappedColumnError::OutOfRange);
        }
        if !(map.as_ptr() as usize).wrapping_add(offset).is_multiple_of(8) {
            return Err(MappedColumnError::Misaligned);
        }
        Ok(Column(Repr::Mapped { map, offset, len }))
    }

    /// The values `owner` holds, read in place for as long as the column (or a clone) lives:
    /// how the Python module fits a numpy array without copying it. The owner answers
    /// `as_ref` with the same values every time (a fit reads a column many times).
    pub fn shared(owner: Arc<dyn AsRef<[f64]> + Send + Sync>) -> Column {
        Column(Repr::Shared(owner))
    }

    /// True when the values are read in place from a mapped file.
    pub fn is_mapped(&self) -> bool {
        matches!(self.0, Repr::Mapped { .. })
    }

    pub fn as_slice(&self) -> &[f64] {
        match &self.0 {
            Repr::Owned(v) => v,
            Repr::Mapped { map, offset, len } => {
                let bytes = &map[*offset..*offset + len * 8];
                // SAFETY: `Column::mapped`, the only constructor of this variant, checked that
                // the range is inside the map, that the address is 8-byte aligned and that the
                // machine is little-endian (the values are `<f8`); every bit pattern is a
                // valid f64, and the fields are private, so nothing changed them since.
                unsafe { std::slice::from_raw_parts(bytes.as_ptr().cast::<f64>(), *len) }
            }
            Repr::Shared(owner) => (**owner).as_ref(),
        }
    }
}

impl Default for Column {
    fn default() -> Self {
        Column(Repr::Owned(Arc::default()))
    }
}

impl std::ops::Deref for Column {
    type Target = [f64];
    fn deref(&self) -> &[f64] {
        self.as_slice()
    }
}

impl From<Vec<f64>> for Column {
    fn from(v: Vec<f64>) -> Self {
        Column(Repr::Owned(Arc::new(v)))
    }
}

impl From<&[f64]> for Column {
    fn from(v: &[f64]) -> Self {
        Column(Repr::Owned(Arc::new(v.to_vec())))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A map of `bytes` bytes from a temp file.
    fn map_of(bytes: usize) -> Arc<memmap2::Mmap> {
        let path = std::env::temp_dir().join(format!("jitfit-column-{}-{bytes}", std::process::id()));
        std::fs::write(&path, vec![0u8; bytes]).unwrap();
        let file = std::fs::File::open(&path).unwrap();
        // SAFETY: a private temp file nobody else writes.
        let map = unsafe { memmap2::Mmap::map(&file) }.unwrap();
        let _ = std::fs::remove_file(&path);
        Arc::new(map)
    }

    #[test]
    fn mapped_columns_are_checked() {
        let map = map_of(80);
        assert_eq!(Column::mapped(map.clone(), 0, 10).unwrap().len(), 10);
        assert_eq!(Column::mapped(map.clone(), 8, 9).unwrap().as_slice(), [0.0; 9]);
        assert_eq!(Column::mapped(map.clone(), 8, 10).unwrap_err(), MappedColumnError::OutOfRange);
        assert_eq!(Column::mapped(map.clone(), 0, usize::MAX / 4).unwrap_err(), MappedColumnError::OutOfRange);
        assert_eq!(Column::mapped(map.clone(), usize::MAX - 3, 1).unwrap_err(), MappedColumnError::OutOfRange);
        assert_eq!(Column::mapped(map, 4, 2).unwrap_err(), MappedColumnError::Misaligned);
    }

    #[test]
    fn a_shared_column_reads_its_owners_values() {
        let owner: Arc<Vec<f64>> = Arc::new(vec![1.0, 2.0, 3.0]);
        let column = Column::shared(owner.clone());
        assert_eq!(column.as_slice().as_ptr(), owner.as_ptr(), "read in place, not copied");
        assert_eq!(&*column.clone(), [1.0, 2.0, 3.0]);
        assert_eq!(format!("{column:?}"), "Column(Shared { len: 3, .. })");
    }
}
