//! Fits shared between processes (`FitBuilder::collective`), the processes played by threads:
//! every rank's fit is bit for bit the one-process fit, however many ranks share the data.

use jitfit::problem::Collective;
use jitfit::{Data, Fit, compile};
use std::sync::{Arc, Barrier, Mutex};

/// `size` ranks as threads: `all_gather` meets at a barrier.
#[derive(Debug)]
struct Threads {
    size: usize,
    slots: Mutex<Vec<Vec<f64>>>,
    barrier: Barrier,
}

#[derive(Debug)]
struct ThreadRank {
    rank: usize,
    shared: Arc<Threads>,
}

impl Collective for ThreadRank {
    fn rank(&self) -> usize {
        self.rank
    }

    fn size(&self) -> usize {
        self.shared.size
    }

    fn all_gather(&self, local: &[f64]) -> Result<Vec<f64>, String> {
        self.shared.slots.lock().unwrap()[self.rank] = local.to_vec();
        self.shared.barrier.wait();
        let all = self.shared.slots.lock().unwrap().concat();
        // Nobody writes the next exchange's slot before everyone has read this one.
        self.shared.barrier.wait();
        Ok(all)
    }
}

/// Runs `fit` on `size` rank threads and returns every rank's result.
fn on_ranks<T: Send>(size: usize, fit: impl Fn(Arc<dyn Collective>) -> T + Sync) -> Vec<T> {
    let shared = Arc::new(Threads { size, slots: Mutex::new(vec![Vec::new(); size]), barrier: Barrier::new(size) });
    std::thread::scope(|s| {
        let handles: Vec<_> = (0..size)
            .map(|rank| {
                let collective: Arc<dyn Collective> = Arc::new(ThreadRank { rank, shared: shared.clone() });
                let fit = &fit;
                s.spawn(move || fit(collective))
            })
            .collect();
        handles.into_iter().map(|h| h.join().unwrap()).collect()
    })
}

fn bits(fit: &Fit) -> Vec<u64> {
    let mut all = vec![fit.cost, fit.chi2, fit.r_squared, fit.optimality];
    all.extend(&fit.values);
    all.extend(&fit.std_errors);
    all.extend(&fit.covariance);
    let mut bits: Vec<u64> = all.iter().map(|v| v.to_bits()).collect();
    bits.extend([fit.nfev as u64, fit.njev as u64, fit.iterations as u64, fit.status.code() as u64]);
    bits
}

fn decay(m: usize) -> Data {
    let x: Vec<f64> = (0..m).map(|i| i as f64 * 10.0 / m as f64).collect();
    let y: Vec<f64> = x
        .iter()
        .enumerate()
        .map(|(i, x)| 3.0 * (-0.7 * x).exp() + 0.5 + 0.05 * (((i * 7919) % 1000) as f64 / 500.0 - 1.0))
        .collect();
    let sigma: Vec<f64> = (0..m).map(|i| 0.05 * (1.0 + (i % 3) as f64)).collect();
    Data::new().var("x", x).y(y).sigma(sigma)
}

#[test]
fn shared_fits_are_the_one_process_fit_bit_for_bit() {
    let model = compile("a*exp(-b*x) + c").unwrap();
    // 37 chunks of 8192 points (the last one short), and 3 chunks: more ranks than blocks.
    for m in [300_000, 20_000] {
        let data = decay(m);
        for robust in [false, true] {
            let builder = || {
                let b =
                    model.fit(&data).p0(&[1.0, 1.0, 0.0]).jacobian_mode(jitfit::solve::JacobianMode::NormalEquations);
                if robust { b.loss(jitfit::solve::Loss::SoftL1, 0.1) } else { b }
            };
            let alone = builder().run().unwrap();
            assert!(alone.status.converged(), "{:?}", alone.status);
            for size in [1, 2, 3, 5] {
                for (rank, fit) in on_ranks(size, |c| builder().collective(c).run().unwrap()).iter().enumerate() {
                    assert_eq!(bits(fit), bits(&alone), "{m} points, robust {robust}, rank {rank} of {size}");
                }
            }
        }
    }
}

#[test]
fn shared_fits_refuse_what_they_cannot_share() {
    let model = compile("a*exp(-b*x) + c").unwrap();
    let data = decay(1000);
    let err = |b: jitfit::FitBuilder<'_>| b.run().unwrap_err().to_string();
    let shared = || {
        let c: Arc<dyn Collective> = Arc::new(ThreadRank {
            rank: 0,
            shared: Arc::new(Threads { size: 1, slots: Mutex::new(vec![Vec::new()]), barrier: Barrier::new(1) }),
        });
        model.fit(&data).collective(c)
    };
    expect_test::expect![
        "a fit shared by several processes runs on the normal equations: a dense Jacobian cannot be asked for"
    ]
    .assert_eq(&err(shared().jacobian_mode(jitfit::solve::JacobianMode::Dense)));
    expect_test::expect![
        "a fit shared by several processes minimizes least squares: the Poisson estimator is not distributed"
    ]
    .assert_eq(&err(shared().poisson()));
    expect_test::expect![
        "a fit shared by several processes runs TRF on the normal equations: method `lm` cannot be asked for"
    ]
    .assert_eq(&err(shared().method(jitfit::solve::Method::Lm)));
}

/// Each rank checks only its share of the rows; a bad value in one share stops every rank: the
/// rank that holds it names the row, the others name the rank.
#[test]
fn a_bad_row_in_one_share_stops_every_rank() {
    let model = compile("a*exp(-b*x) + c").unwrap();
    let mut y = decay(100_000).response().to_vec();
    y[90_000] = f64::NAN; // chunk 10 of 13: the last rank's share of 3
    let data = decay(100_000).y(y);
    let errors = on_ranks(3, |ranks| model.fit(&data).collective(ranks).run().unwrap_err().to_string());
    expect_test::expect![[r#"
        [
            "rank 2 could not use its share of the data (its message is on its standard error)",
            "rank 2 could not use its share of the data (its message is on its standard error)",
            "y holds a non-finite value (NaN) at data row 90001",
        ]
    "#]]
    .assert_debug_eq(&errors);
}
