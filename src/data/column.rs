//! A column of f64 values: owned, or memory-mapped from a `.npy` file (never copied, so data
//! larger than memory can be fitted).

use std::sync::Arc;

/// A column of f64 values.
#[derive(Clone, Debug)]
pub enum Column {
    Owned(Vec<f64>),
    /// `len` values at byte `offset` of a mapped file (offset aligned to 8 bytes).
    Mapped {
        map: Arc<memmap2::Mmap>,
        offset: usize,
        len: usize,
    },
}

impl Column {
    pub fn as_slice(&self) -> &[f64] {
        match self {
            Column::Owned(v) => v,
            Column::Mapped { map, offset, len } => {
                let bytes = &map[*offset..*offset + len * 8];
                // SAFETY: `npy::map_column` checked that the range is inside the map, that the
                // address is 8-byte aligned and that the file holds little-endian f64 on a
                // little-endian machine; every bit pattern is a valid f64.
                unsafe { std::slice::from_raw_parts(bytes.as_ptr().cast::<f64>(), *len) }
            }
        }
    }
}

impl Default for Column {
    fn default() -> Self {
        Column::Owned(Vec::new())
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
        Column::Owned(v)
    }
}

impl From<&[f64]> for Column {
    fn from(v: &[f64]) -> Self {
        Column::Owned(v.to_vec())
    }
}
