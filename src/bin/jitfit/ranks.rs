//! `mpirun -np N jitfit fit|batch …` (cargo feature `mpi`): the ranks share the streamed fit,
//! or split a batch's fits and gather the rows in input order. Rank 0
//! prints and writes; the others' outputs go to /dev/null except their own errors, which are
//! printed with their rank.

use jitfit::problem::Collective;
use std::sync::{Arc, OnceLock};

static RANKS: OnceLock<Arc<dyn Collective>> = OnceLock::new();

/// The ranks sharing this process's fit, when it runs under `mpirun` with more than one.
pub fn collective() -> Option<Arc<dyn Collective>> {
    RANKS.get().cloned()
}

/// This process's rank, 0 when alone.
pub fn rank() -> usize {
    RANKS.get().map_or(0, |c| c.rank())
}

/// Every rank's outcome of a step that may fail on one rank only (reading the data): all go
/// on, or all stop — the others naming the rank that failed — never a hang in the next
/// exchange.
pub fn agree<T>(outcome: anyhow::Result<T>) -> anyhow::Result<T> {
    let Some(ranks) = collective() else { return outcome };
    let failed = ranks.first_failed(outcome.is_ok()).map_err(anyhow::Error::msg)?;
    let value = outcome?;
    match failed {
        Some(rank) => anyhow::bail!("rank {rank} of {} failed (its message is on its standard error)", ranks.size()),
        None => Ok(value),
    }
}

/// Whether this looks like a process that `mpirun`/`srun` started.
#[cfg_attr(not(feature = "mpi"), allow(dead_code))]
fn launched_by_mpi() -> bool {
    ["OMPI_COMM_WORLD_SIZE", "PMI_SIZE", "PMIX_RANK", "MPI_LOCALNRANKS"].iter().any(|v| std::env::var_os(v).is_some())
}

/// How many processes the launcher says it started, where it says so.
#[cfg_attr(feature = "mpi", allow(dead_code))]
fn launched_size() -> Option<usize> {
    ["OMPI_COMM_WORLD_SIZE", "PMI_SIZE"].iter().find_map(|v| std::env::var(v).ok()?.parse().ok())
}

/// MPI, kept alive for the whole command (finalized when dropped).
#[cfg(feature = "mpi")]
pub struct Session(#[allow(dead_code)] Option<mpi::environment::Universe>);

#[cfg(not(feature = "mpi"))]
pub struct Session;

/// Starts MPI when launched by `mpirun` with more than one rank; on ranks other than 0 the
/// standard output and error go to /dev/null (errors are written to the saved error stream).
#[cfg(feature = "mpi")]
pub fn start() -> anyhow::Result<Session> {
    if !launched_by_mpi() {
        return Ok(Session(None));
    }
    let (universe, _) = mpi::initialize_with_threading(mpi::Threading::Serialized)
        .ok_or_else(|| anyhow::anyhow!("MPI could not be initialized"))?;
    let world = universe.world();
    use mpi::topology::Communicator as _;
    if world.size() > 1 {
        let ranks = Arc::new(jitfit::mpi::MpiCollective::new(&world));
        if ranks.rank() != 0 {
            quiet_this_rank();
        }
        let _ = RANKS.set(ranks);
    }
    Ok(Session(Some(universe)))
}

/// Without MPI support, several processes under `mpirun` would each fit all of the data and
/// each print the same report: refused, not done N times.
#[cfg(not(feature = "mpi"))]
pub fn start() -> anyhow::Result<Session> {
    if let Some(size) = launched_size().filter(|n| *n > 1) {
        anyhow::bail!(
            "{size} processes were started by mpirun/srun, but this build of jitfit has no MPI support: each would fit all of the data alone; build with `cargo build --release --features mpi`, or run one process"
        );
    }
    Ok(Session)
}

/// No MPI: for the commands that are not shared.
pub fn start_none() -> Session {
    #[cfg(feature = "mpi")]
    return Session(None);
    #[cfg(not(feature = "mpi"))]
    Session
}

/// The error stream of a rank other than 0, saved before its outputs went to /dev/null.
#[cfg(feature = "mpi")]
static SAVED_STDERR: OnceLock<std::fs::File> = OnceLock::new();

#[cfg(feature = "mpi")]
fn quiet_this_rank() {
    use std::os::fd::FromRawFd as _;
    // SAFETY: plain descriptor calls on this process's own standard descriptors; the saved
    // descriptor is new (close-on-exec) and owned by the File from here on.
    unsafe {
        let saved = libc::fcntl(2, libc::F_DUPFD_CLOEXEC, 3);
        let null = libc::open(c"/dev/null".as_ptr(), libc::O_WRONLY | libc::O_CLOEXEC);
        if saved >= 0 && null >= 0 {
            libc::dup2(null, 1);
            libc::dup2(null, 2);
            libc::close(null);
            let _ = SAVED_STDERR.set(std::fs::File::from_raw_fd(saved));
        }
    }
}

/// Prints an error: on a quiet rank, to its saved error stream, with its rank.
pub fn print_error(text: &str) {
    #[cfg(feature = "mpi")]
    if let Some(mut file) = SAVED_STDERR.get() {
        use std::io::Write as _;
        let _ = writeln!(file, "rank {}: {text}", rank());
        return;
    }
    eprintln!("{text}");
}
