//! MPI ranks as a [`Collective`] (cargo feature `mpi`): a fit shared by the ranks of a
//! communicator, bit for bit the one-process fit.
//!
//! ```no_run
//! # fn main() -> Result<(), Box<dyn std::error::Error>> {
//! let universe = mpi::initialize().ok_or("MPI is already initialized")?;
//! let ranks = std::sync::Arc::new(jitfit::mpi::MpiCollective::new(&universe.world()));
//! let model = jitfit::compile("a*exp(-b*x) + c")?;
//! # let (x, y) = (vec![0.0; 10], vec![0.0; 10]);
//! let data = jitfit::Data::new().var("x", x).y(y); // every rank: the same (mapped) columns
//! let fit = model.fit(&data).p0(&[1.0, 1.0, 0.0]).collective(ranks).run()?;
//! # Ok(()) }
//! ```

use crate::problem::Collective;
use ::mpi::topology::{Communicator, SimpleCommunicator};
use ::mpi::traits::*;
use std::sync::Mutex;

/// The ranks of a communicator. jitfit's exchanges run on a duplicate of it, so they never
/// mix with the program's own messages; they are made from the thread that runs the fit, one
/// at a time (MPI initialized with at least `MPI_THREAD_FUNNELED` when that is not the main
/// thread: `MPI_THREAD_SERIALIZED`). Drop it before the `Universe` (it frees its duplicate).
pub struct MpiCollective {
    comm: Mutex<Handle>,
    rank: usize,
    size: usize,
}

/// The communicator, moved between threads only behind the mutex.
struct Handle(SimpleCommunicator);

// SAFETY: an MPI communicator handle is an opaque value that any thread may pass to MPI; the
// mutex serializes the calls, which is what MPI_THREAD_SERIALIZED (or a single thread) needs.
unsafe impl Send for Handle {}

impl MpiCollective {
    /// jitfit's own duplicate of `comm` (collective: every rank calls it).
    pub fn new(comm: &impl Communicator) -> Self {
        let comm = comm.duplicate();
        let (rank, size) = (comm.rank() as usize, comm.size() as usize);
        MpiCollective { comm: Mutex::new(Handle(comm)), rank, size }
    }
}

impl std::fmt::Debug for MpiCollective {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "MpiCollective {{ rank: {}, size: {} }}", self.rank, self.size)
    }
}

impl Collective for MpiCollective {
    fn rank(&self) -> usize {
        self.rank
    }

    fn size(&self) -> usize {
        self.size
    }

    fn all_gather(&self, local: &[f64]) -> Result<Vec<f64>, String> {
        let comm = self.comm.lock().map_err(|_| "the communicator's lock is poisoned".to_owned())?;
        let mut all = vec![0.0; local.len() * self.size];
        comm.0.all_gather_into(local, &mut all[..]);
        Ok(all)
    }
}
