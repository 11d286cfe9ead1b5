//! Fits shared by several processes (MPI ranks): each evaluates its own whole chunks of the
//! data, and the partial sums meet so that the total is bit for bit the one-process total.
//!
//! One process sums its chunks' partials (each a vector of f64: JᵀJ, Jᵀr, Σr², …) in a fixed
//! pairwise tree: level by level, items 2i and 2i+1 added, an odd last item carried up. Every
//! node of that tree at level L covers the aligned chunks [i·2^L, (i+1)·2^L), so the tree over
//! the partials of aligned blocks of 2^L chunks — each block summed by the same tree — is the
//! same tree. A [`Share`] gives each rank a contiguous run of such blocks; the ranks exchange
//! their blocks' sums (a few hundred bytes for a few parameters) and every rank adds them in
//! the one tree. Every rank gets the same total, so every rank's solver takes the same steps.

use crate::solve::SolveError;
use std::ops::Range;

/// A group of processes that share a fit's data: MPI ranks (`jitfit::mpi` with the `mpi`
/// feature), or anything else that can gather vectors from all of them.
pub trait Collective: Send + Sync + std::fmt::Debug {
    /// This process's index, `0..size()`.
    fn rank(&self) -> usize;
    /// How many processes there are.
    fn size(&self) -> usize;
    /// Every rank's `local` concatenated in rank order, on every rank. Every rank calls it
    /// with a vector of the same length, the same number of times.
    fn all_gather(&self, local: &[f64]) -> Result<Vec<f64>, String>;

    /// Whether every rank's step succeeded: the first rank whose `ok` was false, if any (a step
    /// that may fail on some ranks only — reading a file — then fails on all, never a hang in
    /// the next exchange).
    fn first_failed(&self, ok: bool) -> Result<Option<usize>, String> {
        Ok(self.all_gather(&[if ok { 0.0 } else { 1.0 }])?.iter().position(|v| *v != 0.0))
    }

    /// Every rank's bytes (of any length), in rank order, on every rank: the lengths first,
    /// then the bytes eight to an f64 (bit patterns, not numbers), padded to the longest.
    fn all_gather_bytes(&self, local: &[u8]) -> Result<Vec<Vec<u8>>, String> {
        let lengths = self.all_gather(&[local.len() as f64])?;
        let words = lengths.iter().fold(0.0f64, |m, l| m.max(*l)) as usize;
        let words = words.div_ceil(8);
        let mut send = vec![0.0; words];
        for (w, bytes) in send.iter_mut().zip(local.chunks(8)) {
            let mut word = [0u8; 8];
            word[..bytes.len()].copy_from_slice(bytes);
            *w = f64::from_bits(u64::from_le_bytes(word));
        }
        let all = self.all_gather(&send)?;
        Ok(lengths
            .iter()
            .enumerate()
            .map(|(r, len)| {
                let mut bytes: Vec<u8> =
                    all[r * words..(r + 1) * words].iter().flat_map(|w| w.to_bits().to_le_bytes()).collect();
                bytes.truncate(*len as usize);
                bytes
            })
            .collect())
    }
}

/// The chunks one rank evaluates: whole blocks of 2^k chunks (about four blocks per rank, so
/// that the ranks' loads differ by at most a block), contiguous.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Share {
    /// Chunks per block (a power of two).
    pub block: usize,
    /// This rank's blocks.
    pub blocks: Range<usize>,
    pub n_blocks: usize,
    pub n_chunks: usize,
    /// The most blocks any rank has.
    pub max_blocks: usize,
}

impl Share {
    pub fn new(n_chunks: usize, rank: usize, size: usize) -> Share {
        let size = size.max(1);
        let target = (n_chunks / (4 * size)).max(1);
        let block = 1usize << target.ilog2();
        let n_blocks = n_chunks.div_ceil(block);
        let first = |r: usize| r * n_blocks / size;
        let max_blocks = (0..size).map(|r| first(r + 1) - first(r)).max().unwrap_or(0);
        Share { block, blocks: first(rank)..first(rank + 1), n_blocks, n_chunks, max_blocks }
    }

    /// This rank's chunks.
    pub fn chunks(&self) -> Range<usize> {
        (self.blocks.start * self.block).min(self.n_chunks)..(self.blocks.end * self.block).min(self.n_chunks)
    }
}

/// Sums vectors pairwise, level by level, in a fixed order (elementwise).
pub(crate) fn tree_sum(mut items: Vec<Vec<f64>>) -> Option<Vec<f64>> {
    while items.len() > 1 {
        let mut next = Vec::with_capacity(items.len().div_ceil(2));
        let mut it = items.into_iter();
        while let Some(mut a) = it.next() {
            if let Some(b) = it.next() {
                for (x, y) in a.iter_mut().zip(&b) {
                    *x += y;
                }
            }
            next.push(a);
        }
        items = next;
    }
    items.pop()
}

/// The total over `n_chunks` chunks of partials `width` long, summed in the one-process tree:
/// `partials(range)` evaluates the given chunks (in order). Alone, all of them; with a
/// collective, this rank's share, then the ranks' block sums gathered and summed. A rank whose
/// evaluation failed still takes part in the exchange, so that every rank returns the error.
pub(crate) fn sum_over_chunks(
    collective: Option<&dyn Collective>,
    n_chunks: usize,
    width: usize,
    partials: impl FnOnce(Range<usize>) -> Result<Vec<Vec<f64>>, SolveError>,
) -> Result<Option<Vec<f64>>, SolveError> {
    let Some(collective) = collective else {
        return Ok(tree_sum(partials(0..n_chunks)?));
    };
    let share = Share::new(n_chunks, collective.rank(), collective.size());
    // [status, width, then per block slot: present, sum…]; status 0 = ok, 1 = failed. The
    // width tags the exchange: ranks that drifted into different exchanges fail, never mix.
    let slot = 1 + width;
    let mut send = vec![0.0; 2 + share.max_blocks * slot];
    send[1] = width as f64;
    let error = match partials(share.chunks()) {
        Ok(parts) => {
            let mut parts = parts.into_iter();
            for b in 0..share.blocks.len() {
                let first = (share.blocks.start + b) * share.block;
                let count = share.block.min(n_chunks - first);
                let sum = tree_sum(parts.by_ref().take(count).collect()).unwrap_or_else(|| vec![0.0; width]);
                let at = 2 + b * slot;
                send[at] = 1.0;
                send[at + 1..at + slot].copy_from_slice(&sum[..width]);
            }
            None
        }
        Err(e) => {
            send[0] = 1.0;
            Some(e)
        }
    };
    let all =
        collective.all_gather(&send).map_err(|e| SolveError::Evaluation(format!("exchanging partial sums: {e}")))?;
    let per_rank = send.len();
    if all.len() != per_rank * collective.size() {
        return Err(SolveError::Evaluation(format!(
            "exchanging partial sums: {} values from {} ranks, expected {} each",
            all.len(),
            collective.size(),
            per_rank
        )));
    }
    if let Some(e) = error {
        return Err(e);
    }
    if let Some(other) = (0..collective.size()).find(|r| all[r * per_rank + 1] != width as f64) {
        return Err(SolveError::Evaluation(format!(
            "rank {other} is in another exchange of partial sums ({} values against {width}): the ranks drifted apart",
            all[other * per_rank + 1]
        )));
    }
    if let Some(failed) = (0..collective.size()).find(|r| all[r * per_rank] != 0.0) {
        return Err(SolveError::Evaluation(format!(
            "rank {failed} could not evaluate its share of the data (its own message is on its standard error)"
        )));
    }
    let mut blocks = Vec::with_capacity(share.n_blocks);
    for r in 0..collective.size() {
        let values = &all[r * per_rank + 2..(r + 1) * per_rank];
        for s in values.chunks_exact(slot).filter(|s| s[0] == 1.0) {
            blocks.push(s[1..].to_vec());
        }
    }
    Ok(tree_sum(blocks))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn shares_cover_the_chunks_once_in_aligned_blocks() {
        for n_chunks in 1..300 {
            for size in 1..9 {
                let mut next = 0;
                for rank in 0..size {
                    let share = Share::new(n_chunks, rank, size);
                    assert!(share.block.is_power_of_two());
                    assert_eq!(share.chunks().start, next, "{n_chunks} {size} {rank}");
                    assert_eq!(share.chunks().start % share.block, 0);
                    assert!(share.blocks.len() <= share.max_blocks);
                    next = share.chunks().end;
                }
                assert_eq!(next, n_chunks);
            }
        }
    }
}
