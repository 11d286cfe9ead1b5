//! Reading a text table into columns, timed: MB/s of the file, best of a few rounds.
//!
//! Run: `python3 benches/spots_csv.py 200000 spots.csv && cargo run --release --example ingest -- spots.csv`

fn main() {
    let path = std::env::args().nth(1).expect("usage: ingest FILE [ROUNDS]");
    let rounds: usize = std::env::args().nth(2).map_or(5, |s| s.parse().unwrap());
    let bytes = std::fs::metadata(&path).unwrap().len() as f64;
    let mut best = f64::INFINITY;
    for _ in 0..rounds {
        let t = std::time::Instant::now();
        let table = jitfit::data::read_table(std::path::Path::new(&path)).unwrap();
        best = best.min(t.elapsed().as_secs_f64());
        std::hint::black_box(table);
    }
    println!(
        "{path}: {:.1} MB in {:.1} ms (best of {rounds}): {:.0} MB/s on {} threads",
        bytes / 1e6,
        best * 1e3,
        bytes / 1e6 / best,
        rayon::current_num_threads()
    );
}
