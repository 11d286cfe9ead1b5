//! Batches: results equal fitting each data set alone, bit for bit; degenerate data sets
//! report their statuses and do not stop the others.

use crate::support::TempDir;
use jitfit::{Data, compile};

fn decay(k: usize) -> Data {
    let x: Vec<f64> = (0..30).map(|i| i as f64 * 0.1).collect();
    let y: Vec<f64> = x
        .iter()
        .enumerate()
        .map(|(i, x)| {
            (1.0 + k as f64) * (-x / (0.5 + 0.01 * k as f64)).exp() + 0.1 + 0.001 * (((i * 37 + k) % 11) as f64 - 5.0)
        })
        .collect();
    Data::new().var("x", x).y(y)
}

#[test]
fn batch_equals_fitting_each_data_set_alone() {
    let model = compile("A*exp(-x/tau) + B").unwrap();
    let datasets: Vec<Data> = (0..64).map(decay).collect();
    let batch = model.fit_batch(&datasets, |_, fit| fit.p0(&[1.0, 1.0, 0.0]));
    assert_eq!(batch.fits.len(), 64);
    assert_eq!(batch.converged(), 64);
    for (k, data) in datasets.iter().enumerate() {
        let alone = model.fit(data).p0(&[1.0, 1.0, 0.0]).run().unwrap();
        let in_batch = batch.fits[k].as_ref().unwrap();
        assert_eq!(in_batch.values, alone.values, "data set {k}");
        assert_eq!(in_batch.std_errors, alone.std_errors, "data set {k}");
        assert_eq!(in_batch.nfev, alone.nfev);
    }
    // And whatever the number of threads.
    let one = rayon::ThreadPoolBuilder::new().num_threads(1).build().unwrap();
    let single = one.install(|| model.fit_batch(&datasets, |_, fit| fit.p0(&[1.0, 1.0, 0.0])));
    for (a, b) in single.fits.iter().zip(&batch.fits) {
        assert_eq!(a.as_ref().unwrap().values, b.as_ref().unwrap().values);
    }
}

#[test]
fn degenerate_data_sets_report_their_status_and_the_others_are_fitted() {
    let model = compile("A*exp(-x/tau) + B").unwrap();
    let x: Vec<f64> = (0..30).map(|i| i as f64 * 0.1).collect();
    let datasets = vec![
        decay(1),
        Data::new().var("x", x.clone()).y(vec![0.0; 30]),
        Data::new().var("x", vec![0.0, 0.1]).y(vec![1.0, 0.5]),
        Data::new().var("x", x.clone()).y((0..30).map(|i| if i == 7 { f64::NAN } else { 1.0 }).collect::<Vec<_>>()),
        decay(2),
    ];
    let batch = model.fit_batch(&datasets, |_, fit| fit.p0(&[1.0, 1.0, 0.0]));
    assert!(batch.fits[0].as_ref().unwrap().status.converged());
    assert!(batch.fits[1].is_ok(), "all zeros is a (degenerate) fit, not an error");
    assert!(batch.fits[2].as_ref().unwrap_err().to_string().contains("2 data points for 3 free parameters"));
    assert!(batch.fits[3].as_ref().unwrap_err().to_string().contains("y holds a non-finite value (NaN) at data row 8"));
    assert!(batch.fits[4].as_ref().unwrap().status.converged());
}

/// A long-format table: pixels 100…119 (20 decays of 30 points), then pixel 999 with two
/// points (too few for three parameters).
fn write_pixel_table(dir: &TempDir) -> std::path::PathBuf {
    let mut csv = String::from("pixel,t,signal\n");
    for k in 0..20 {
        let data = decay(k);
        for (t, s) in data.column("x").unwrap().iter().zip(data.response()) {
            csv += &format!("{},{t:?},{s:?}\n", 100 + k);
        }
    }
    csv += "999,0.0,1\n999,0.1,1\n";
    let input = dir.path().join("long.csv");
    std::fs::write(&input, csv).unwrap();
    input
}

#[test]
fn batch_command_writes_one_row_per_fit() {
    let dir = TempDir::new("batch-cli");
    let cache = TempDir::new("batch-cli-cache");
    let input = write_pixel_table(&dir);
    let out = dir.path().join("fits.csv");
    let output = std::process::Command::new(env!("CARGO_BIN_EXE_jitfit"))
        .args(["batch", "A*exp(-t/tau) + B", input.to_str().unwrap(), "--by", "pixel", "--y", "signal"])
        .args(["--p0", "A=1,tau=1,B=0", "--out", out.to_str().unwrap()])
        .env("JITFIT_CACHE_DIR", cache.path())
        .output()
        .unwrap();
    assert_eq!(output.status.code(), Some(2), "one group cannot be fitted");
    let summary = String::from_utf8_lossy(&output.stderr);
    assert!(summary.contains("21 fits: 20 converged, 1 failed to start"), "{summary}");
    let text = std::fs::read_to_string(out).unwrap();
    let lines: Vec<&str> = text.lines().collect();
    assert_eq!(
        lines[0],
        "id,status,converged,nfev,iterations,chi2,reduced_chi2,A,A_stderr,tau,tau_stderr,B,B_stderr,error"
    );
    assert_eq!(lines.len(), 22);
    assert!(lines[1].starts_with("100,") && lines[1].contains(",true,"));
    assert!(lines[21].starts_with("999,") && lines[21].contains("2 data points for 3 free parameters"));
    // The batch's numbers are the single fit's.
    let alone = compile("A*exp(-x/tau) + B").unwrap().fit(&decay(0)).p0(&[1.0, 1.0, 0.0]).run().unwrap();
    let fields: Vec<&str> = lines[1].split(',').collect();
    assert_eq!(fields[7].parse::<f64>().unwrap(), alone.values[0]);
}

/// `--solver compact`: the same table through `fit_many`; the rows carry the compact
/// statuses and agree with the exact solver's values.
#[test]
fn batch_command_with_the_compact_solver() {
    let dir = TempDir::new("batch-compact");
    let cache = TempDir::new("batch-compact-cache");
    let input = write_pixel_table(&dir);
    let run = |solver: &str| {
        std::process::Command::new(env!("CARGO_BIN_EXE_jitfit"))
            .args(["batch", "A*exp(-t/tau) + B", input.to_str().unwrap(), "--by", "pixel", "--y", "signal"])
            .args(["--p0", "A=1,tau=1,B=0", "--solver", solver, "--backend", "cpu"])
            .env("JITFIT_CACHE_DIR", cache.path())
            .output()
            .unwrap()
    };
    let output = run("compact");
    assert_eq!(output.status.code(), Some(2), "one group cannot be fitted");
    let summary = String::from_utf8_lossy(&output.stderr);
    assert!(summary.contains("21 fits: 20 converged") && summary.contains("compact LM on the CPU"), "{summary}");
    let text = String::from_utf8(output.stdout).unwrap();
    let lines: Vec<&str> = text.lines().collect();
    assert_eq!(lines.len(), 22);
    assert!(lines[21].starts_with("999,too_few_points,false,"), "{}", lines[21]);
    let model = compile("A*exp(-x/tau) + B").unwrap();
    for (k, line) in lines[1..21].iter().enumerate() {
        let fields: Vec<&str> = line.split(',').collect();
        assert_eq!(fields[1], "converged");
        let alone = model.fit(&decay(k)).p0(&[1.0, 1.0, 0.0]).run().unwrap();
        for j in 0..3 {
            let v: f64 = fields[7 + 2 * j].parse().unwrap();
            assert!((v - alone.values[j]).abs() <= 1e-5 * alone.std_errors[j], "fit {k} parameter {j}");
        }
    }
    assert!(String::from_utf8_lossy(&run("fastest").stderr).contains("not one of auto, exact, compact"));
    // --json: the same results as one document.
    let output = std::process::Command::new(env!("CARGO_BIN_EXE_jitfit"))
        .args(["batch", "A*exp(-t/tau) + B", input.to_str().unwrap(), "--by", "pixel", "--y", "signal"])
        .args(["--p0", "A=1,tau=1,B=0", "--solver", "compact", "--json"])
        .env("JITFIT_CACHE_DIR", cache.path())
        .output()
        .unwrap();
    let doc: serde_json::Value = serde_json::from_slice(&output.stdout).unwrap();
    assert_eq!(doc["schema"], "jitfit.batch/1");
    assert_eq!(doc["solver"], "compact");
    assert_eq!(doc["summary"]["converged"], 20);
    assert_eq!(doc["fits"].as_array().unwrap().len(), 21);
    assert_eq!(doc["fits"][20]["status"], "too_few_points");
    assert_eq!(doc["fits"][20]["parameters"]["A"]["value"], serde_json::Value::Null);
    let tau: f64 = lines[1].split(',').nth(9).unwrap().parse().unwrap();
    assert_eq!(doc["fits"][0]["parameters"]["tau"]["value"].as_f64().unwrap(), tau);
}

/// `jitfit batch 'A*exp(-x/tau) + B' --x X --y Y --p0 A=1,tau=1,B=0 EXTRA…`: its standard
/// output (the exit code must be 0).
fn batch_of_npy(x: &std::path::Path, y: &std::path::Path, extra: &[&str], cache: &std::path::Path) -> String {
    let out = std::process::Command::new(env!("CARGO_BIN_EXE_jitfit"))
        .args(["batch", "A*exp(-x/tau) + B", "--x", x.to_str().unwrap(), "--y", y.to_str().unwrap()])
        .args(["--p0", "A=1,tau=1,B=0"])
        .args(extra)
        .env("JITFIT_CACHE_DIR", cache)
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(0), "{}", String::from_utf8_lossy(&out.stderr));
    String::from_utf8(out.stdout).unwrap()
}

/// Fits × points from a 2-D `.npy`, the points' x shared from a 1-D `.npy`.
#[test]
fn batch_from_a_fits_by_points_npy_matrix() {
    let dir = TempDir::new("batch-npy");
    let cache = TempDir::new("batch-npy-cache");
    let datasets: Vec<Data> = (0..12).map(decay).collect();
    let x = datasets[0].column("x").unwrap().to_vec();
    let mut matrix = Vec::new();
    for d in &datasets {
        matrix.extend_from_slice(d.response());
    }
    let (xp, yp) = (dir.path().join("x.npy"), dir.path().join("y.npy"));
    jitfit::data::npy::write_npy(&xp, &x).unwrap();
    jitfit::data::npy::write_npy_2d(&yp, 12, &matrix).unwrap();
    let text = batch_of_npy(&xp, &yp, &[], &cache.path());
    let lines: Vec<&str> = text.lines().collect();
    assert_eq!(lines.len(), 13);
    let model = compile("A*exp(-x/tau) + B").unwrap();
    for (k, line) in lines[1..].iter().enumerate() {
        let alone = model.fit(&datasets[k]).p0(&[1.0, 1.0, 0.0]).run().unwrap();
        let fields: Vec<&str> = line.split(',').collect();
        assert_eq!(fields[0], k.to_string());
        assert_eq!(fields[9].parse::<f64>().unwrap(), alone.values[1], "fit {k}");
    }
}

/// Fits × points from 2-D `.npy` files for y and x alike (each fit its own x), through both
/// solvers: fit k is the fit of row k alone.
#[test]
fn batch_from_fits_by_points_matrices_of_x_and_y() {
    let dir = TempDir::new("batch-npy-x");
    let cache = TempDir::new("batch-npy-x-cache");
    let datasets: Vec<Data> = (0..7)
        .map(|k| {
            let d = decay(k);
            let x: Vec<f64> = d.column("x").unwrap().iter().map(|x| x * (1.0 + 0.1 * k as f64)).collect();
            Data::new().var("x", x).y(d.response().to_vec())
        })
        .collect();
    let (mut xs, mut ys) = (Vec::new(), Vec::new());
    for d in &datasets {
        xs.extend_from_slice(d.column("x").unwrap());
        ys.extend_from_slice(d.response());
    }
    let (xp, yp) = (dir.path().join("x.npy"), dir.path().join("y.npy"));
    jitfit::data::npy::write_npy_2d(&xp, 7, &xs).unwrap();
    jitfit::data::npy::write_npy_2d(&yp, 7, &ys).unwrap();
    let model = compile("A*exp(-x/tau) + B").unwrap();
    for solver in ["exact", "compact"] {
        let text = batch_of_npy(&xp, &yp, &["--solver", solver], &cache.path());
        let lines: Vec<&str> = text.lines().collect();
        assert_eq!(lines.len(), 8, "{text}");
        for (k, line) in lines[1..].iter().enumerate() {
            let alone = model.fit(&datasets[k]).p0(&[1.0, 1.0, 0.0]).run().unwrap();
            let fields: Vec<&str> = line.split(',').collect();
            let tau: f64 = fields[9].parse().unwrap();
            // The compact LM stops on its own (looser) test: agreement to its tolerance.
            let tolerance = if solver == "exact" { 0.0 } else { 1e-6 * alone.values[1] };
            assert!((tau - alone.values[1]).abs() <= tolerance, "{solver} fit {k}: {tau} vs {}", alone.values[1]);
        }
    }
}

/// Gpufit's spots: 5×5 pixels of a 2-D Gaussian, `fits` of them back to back.
pub fn spots(fits: usize) -> (Vec<f64>, Vec<f64>, Vec<f64>) {
    let (xs, ys): (Vec<f64>, Vec<f64>) = (0..25).map(|k| ((k % 5) as f64, (k / 5) as f64)).unzip();
    let mut z = Vec::with_capacity(25 * fits);
    for f in 0..fits {
        let t = f as f64;
        let (a, x0, y0, s) = (10.0 + (t * 0.37).sin(), 2.0 + 0.3 * (t * 0.71).sin(), 2.0 + 0.3 * (t * 1.3).cos(), 1.0);
        for (i, (x, y)) in xs.iter().zip(&ys).enumerate() {
            let wiggle = 0.05 * (((f * 31 + i * 17) % 13) as f64 / 6.0 - 1.0);
            z.push(a * (-((x - x0).powi(2) + (y - y0).powi(2)) / (2.0 * s * s)).exp() + 1.0 + wiggle);
        }
    }
    (xs, ys, z)
}

pub const GAUSS: &str = "A*exp(-((x-x0)^2 + (y-y0)^2)/(2*s^2)) + B";
pub const GAUSS_P0: [f64; 5] = [9.0, 2.1, 1.9, 1.2, 0.5];

/// The compact batch LM: each fit equals that data set fitted alone (a batch of one), bit for
/// bit, whatever the thread count; and it finds the minimum the exact TRF solver finds.
#[test]
fn fit_many_equals_fitting_alone_and_the_exact_solver() {
    use jitfit::{BatchData, BatchOptions, backend::Backend};
    let model = jitfit::compile_with_vars(GAUSS, &["x", "y"]).unwrap();
    let (xs, ys, z) = spots(200);
    let data = BatchData::uniform(&z, 25).shared_var("x", &xs).shared_var("y", &ys);
    let options = BatchOptions::new(&GAUSS_P0).backend(Backend::Cpu);
    let batch = model.fit_many(&data, &options).unwrap();
    assert_eq!(batch.converged(), 200, "{:?}", batch.status);
    let one = rayon::ThreadPoolBuilder::new().num_threads(1).build().unwrap();
    let single = one.install(|| model.fit_many(&data, &options).unwrap());
    assert_eq!(single.values, batch.values);
    assert_eq!(single.std_errors, batch.std_errors);
    for k in [0, 17, 199] {
        let spot = &z[25 * k..25 * (k + 1)];
        let alone = model.fit_many(&BatchData::uniform(spot, 25).shared_var("x", &xs).shared_var("y", &ys), &options);
        let alone = alone.unwrap();
        assert_eq!(alone.values, batch.values_of(k));
        assert_eq!(alone.chi2[0].to_bits(), batch.chi2[k].to_bits());
        assert_eq!(alone.iterations[0], batch.iterations[k]);
        let exact = model
            .fit(&Data::new().var("x", xs.clone()).var("y", ys.clone()).y(spot.to_vec()))
            .p0(&GAUSS_P0)
            .run()
            .unwrap();
        for j in 0..5 {
            let (a, b, se) = (batch.values_of(k)[j], exact.values[j], exact.std_errors[j]);
            assert!((a - b).abs() <= 1e-4 * se, "fit {k} parameter {j}: {a} vs TRF {b} (stderr {se})");
            let rel = (batch.std_errors[k * 5 + j] - se).abs() / se;
            assert!(rel < 1e-6, "fit {k} stderr {j}: {} vs TRF {se}", batch.std_errors[k * 5 + j]);
        }
    }
}

/// Varying lengths (offsets, per-point variables), per-fit starts, bounds, and degenerate
/// data sets that get their own statuses while the others are fitted.
#[test]
fn fit_many_with_offsets_bounds_and_degenerate_fits() {
    use jitfit::{BatchData, BatchOptions, BatchStatus, backend::Backend};
    let model = compile("A*exp(-x/tau) + B").unwrap();
    let (mut x, mut y, mut offsets) = (Vec::new(), Vec::new(), vec![0]);
    for k in 0..6 {
        let d = decay(k);
        let len = 20 + 2 * k;
        x.extend_from_slice(&d.column("x").unwrap()[..len]);
        y.extend_from_slice(&d.response()[..len]);
        offsets.push(y.len());
    }
    y[offsets[2] + 3] = f64::NAN; // fit 2: NaN
    let short = offsets[5] + 2; // fit 5: two points for three parameters
    x.truncate(short);
    y.truncate(short);
    *offsets.last_mut().unwrap() = short;
    let data = BatchData::with_offsets(&y, offsets.clone()).var("x", &x);
    let p0: Vec<f64> = (0..6).flat_map(|k| [1.0 + k as f64, 0.5, 0.0]).collect();
    let mut options = BatchOptions::new(&p0).backend(Backend::Cpu);
    let batch = model.fit_many(&data, &options).unwrap();
    assert_eq!(batch.status[2], BatchStatus::NotFinite);
    assert_eq!(batch.status[5], BatchStatus::TooFewPoints);
    for k in [0, 1, 3, 4] {
        assert_eq!(batch.status[k], BatchStatus::Converged);
        let exact = model
            .fit(
                &Data::new().var("x", x[offsets[k]..offsets[k + 1]].to_vec()).y(y[offsets[k]..offsets[k + 1]].to_vec()),
            )
            .p0(&p0[3 * k..3 * k + 3])
            .run()
            .unwrap();
        for j in 0..3 {
            assert!((batch.values_of(k)[j] - exact.values[j]).abs() <= 1e-5 * exact.std_errors[j], "fit {k}");
        }
    }
    // A bound that binds: τ ≤ 0.45 (the data's τ are 0.50…0.54).
    options = options.bounds(&[f64::NEG_INFINITY, 0.0, f64::NEG_INFINITY], &[f64::INFINITY, 0.45, f64::INFINITY]);
    let bounded = model.fit_many(&data, &options).unwrap();
    for k in [0, 1, 3, 4] {
        assert_eq!(bounded.values_of(k)[1], 0.45, "fit {k}");
        assert!(bounded.chi2[k] > batch.chi2[k]);
        // Held on the bound, the others reach the bounded minimum (the exact solver's) and the
        // fit converges (projection alone zig-zagged until max_iterations).
        assert_eq!(bounded.status[k], BatchStatus::Converged, "fit {k}");
        let exact = model
            .fit(
                &Data::new().var("x", x[offsets[k]..offsets[k + 1]].to_vec()).y(y[offsets[k]..offsets[k + 1]].to_vec()),
            )
            .p0(&[p0[3 * k], 0.4, 0.0])
            .bound("tau", 0.0, 0.45)
            .run()
            .unwrap();
        for j in [0, 2] {
            let (a, b) = (bounded.values_of(k)[j], exact.values[j]);
            assert!((a - b).abs() <= 1e-6 * b.abs().max(1.0), "fit {k}, parameter {j}: {a} vs {b}");
        }
    }
}

/// Layout and option errors are refused up front, with what is wrong.
#[test]
fn fit_many_refuses_bad_layouts_and_options() {
    use jitfit::{BatchData, BatchOptions, FitError};
    let model = compile("A*exp(-x/tau) + B").unwrap();
    let y = vec![1.0; 30];
    let x = vec![0.5; 10];
    let options = BatchOptions::new(&[1.0, 1.0, 0.0]);
    let err = |data: &BatchData, options: &BatchOptions| model.fit_many(data, options).unwrap_err().to_string();
    assert!(err(&BatchData::uniform(&y, 7).shared_var("x", &x), &options).contains("layout"));
    assert!(err(&BatchData::uniform(&y, 0).shared_var("x", &x), &options).contains("layout"));
    assert!(err(&BatchData::with_offsets(&y, vec![0, 20, 10, 30]).var("x", &y), &options).contains("layout"));
    let missing = model.fit_many(&BatchData::uniform(&y, 10), &options).unwrap_err();
    assert!(matches!(missing, FitError::MissingColumn { .. }), "{missing}");
    assert!(err(&BatchData::uniform(&y, 15).shared_var("x", &x), &options).contains("x (shared"));
    assert!(err(&BatchData::uniform(&y, 10).var("x", &x), &options).contains("x"));
    let data = BatchData::uniform(&y, 10).shared_var("x", &x);
    assert!(err(&data, &BatchOptions::new(&[1.0, 1.0])).contains("p0 has 2 values"));
    assert!(err(&data, &BatchOptions::new(&[1.0, 1.0, 0.0]).bounds(&[0.0; 3], &[0.0; 3])).contains("lower bound"));
    assert!(
        err(&data, &BatchOptions::new(&[1.0, 1.0, 0.0]).bounds(&[0.0; 2], &[1.0; 2]))
            .contains("bounds for 2 and 2 parameters, expected 3")
    );
    assert!(err(&data, &BatchOptions::new(&[1.0, 1.0, 0.0]).tolerance(f64::NAN)).contains("tolerance"));
}
