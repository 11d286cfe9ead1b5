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
    assert!(batch.fits[3].as_ref().unwrap_err().to_string().contains("y holds a non-finite value (NaN) at row 7"));
    assert!(batch.fits[4].as_ref().unwrap().status.converged());
}

#[test]
fn batch_command_writes_one_row_per_fit() {
    let dir = TempDir::new("batch-cli");
    let cache = TempDir::new("batch-cli-cache");
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
    let out = std::process::Command::new(env!("CARGO_BIN_EXE_jitfit"))
        .args([
            "batch",
            "A*exp(-x/tau) + B",
            "--x",
            xp.to_str().unwrap(),
            "--y",
            yp.to_str().unwrap(),
            "--p0",
            "A=1,tau=1,B=0",
        ])
        .env("JITFIT_CACHE_DIR", cache.path())
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(0), "{}", String::from_utf8_lossy(&out.stderr));
    let text = String::from_utf8(out.stdout).unwrap();
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
