//! Checkpoints: resuming reaches the uninterrupted answer (in process, and after the process
//! died mid-fit); a checkpoint of another fit, a corrupt one or a newer format is refused.

use crate::support::TempDir;
use jitfit::solve::JacobianMode;
use jitfit::{Data, compile};
use std::process::Command;

fn data() -> Data {
    let x: Vec<f64> = (0..2000).map(|i| i as f64 * 0.005).collect();
    let y: Vec<f64> = x
        .iter()
        .enumerate()
        .map(|(i, x)| 3.0 * (-0.7 * x).exp() + 0.5 + 0.01 * (((i * 37) % 11) as f64 - 5.0))
        .collect();
    Data::new().var("x", x).y(y)
}

#[test]
fn resuming_from_a_mid_fit_checkpoint_gives_the_uninterrupted_result() {
    let dir = TempDir::new("checkpoint-resume");
    let (live, snapshot) = (dir.path().join("fit.json"), dir.path().join("iteration3.json"));
    let model = compile("a*exp(-b*x) + c").unwrap();
    let data = data();
    let full = model
        .fit(&data)
        .p0(&[1.0, 3.0, 0.0])
        .checkpoint(&live, 1)
        .after_checkpoint(|iteration| {
            if iteration == 3 {
                std::fs::copy(&live, &snapshot).unwrap();
            }
        })
        .run()
        .unwrap();
    assert!(full.iterations > 4, "the fit should take several iterations ({})", full.iterations);
    let resumed = model.fit(&data).p0(&[1.0, 3.0, 0.0]).resume(&snapshot).run().unwrap();
    assert_eq!(resumed.values, full.values);
    assert_eq!(resumed.covariance, full.covariance);
    assert_eq!((resumed.nfev, resumed.njev, resumed.iterations), (full.nfev, full.njev, full.iterations));
    assert_eq!(resumed.status, full.status);
}

/// Resuming from any checkpoint, the last one included, ends bit for bit where the
/// uninterrupted fit ended, with its counts and status (a 6-parameter fit drifted by 1 ulp:
/// JSON numbers were parsed to the nearest float only approximately; resuming a finished fit
/// ran one more iteration).
#[test]
fn resuming_from_every_checkpoint_is_bit_identical() {
    let dir = TempDir::new("checkpoint-every");
    let live = dir.path().join("fit.json");
    let model = compile("a1*exp(-b1*x) + a2*exp(-b2*x) + c + d*x").unwrap();
    let x: Vec<f64> = (0..400).map(|i| i as f64 * 0.02).collect();
    let y: Vec<f64> = x
        .iter()
        .enumerate()
        .map(|(i, x)| {
            2.0 * (-1.3 * x).exp() + 1.1 * (-0.21 * x).exp() + 0.3 - 0.01 * x + 1e-3 * ((i * 7 % 13) as f64 - 6.0)
        })
        .collect();
    let data = Data::new().var("x", x).y(y);
    let p0 = [1.0, 2.0, 1.0, 0.1, 0.0, 0.0];
    // Both ways of evaluating: J stored, and JᵀJ streamed.
    for mode in [JacobianMode::Dense, JacobianMode::NormalEquations] {
        let mut saved = Vec::new();
        let full = model
            .fit(&data)
            .p0(&p0)
            .jacobian_mode(mode)
            .checkpoint(&live, 1)
            .after_checkpoint(|_| saved.push(std::fs::read(&live).unwrap()))
            .run()
            .unwrap();
        assert!(saved.len() >= 8, "{} iterations", saved.len());
        for (k, bytes) in saved.iter().enumerate() {
            let path = dir.path().join(format!("at{k}.json"));
            std::fs::write(&path, bytes).unwrap();
            let resumed = model.fit(&data).p0(&p0).jacobian_mode(mode).resume(&path).run().unwrap();
            let bits = |v: &[f64]| v.iter().map(|x| x.to_bits()).collect::<Vec<_>>();
            let at = format!("{mode:?}, from checkpoint {}", k + 1);
            assert_eq!(bits(&resumed.values), bits(&full.values), "{at}");
            assert_eq!(bits(&resumed.covariance), bits(&full.covariance), "{at}");
            assert_eq!(
                (resumed.nfev, resumed.njev, resumed.iterations, resumed.status),
                (full.nfev, full.njev, full.iterations, full.status),
                "{at}"
            );
        }
    }
}

#[test]
fn a_fit_killed_mid_way_resumes_to_the_same_answer() {
    let dir = TempDir::new("checkpoint-kill");
    let cache = TempDir::new("checkpoint-kill-cache");
    let csv = dir.path().join("decay.csv");
    let data = data();
    let mut text = String::from("x,y\n");
    for (x, y) in data.column("x").unwrap().iter().zip(data.response()) {
        text += &format!("{x:?},{y:?}\n");
    }
    std::fs::write(&csv, text).unwrap();
    let checkpoint = dir.path().join("state.json");
    let fit = ["fit", "a*exp(-b*x) + c", csv.to_str().unwrap(), "--p0", "a=1,b=3,c=0"];
    let (uninterrupted, resumed) = killed_and_resumed(&fit, &[], &checkpoint, &cache);
    assert_eq!(resumed, uninterrupted);
}

/// `jitfit fit ARGS --json` run uninterrupted (with `plain` added), then with `--checkpoint`
/// killed after its third checkpoint, then with `--resume`: the first and last runs'
/// parameters, function evaluations and covariance.
fn killed_and_resumed(
    args: &[&str],
    plain: &[&str],
    checkpoint: &std::path::Path,
    cache: &TempDir,
) -> (serde_json::Value, serde_json::Value) {
    let run = |extra: &[&str], abort_after: Option<&str>| {
        let mut command = Command::new(env!("CARGO_BIN_EXE_jitfit"));
        command.args(args).arg("--json").args(extra).env("JITFIT_CACHE_DIR", cache.path());
        if let Some(n) = abort_after {
            command.env("JITFIT_ABORT_AFTER_CHECKPOINT", n);
        }
        command.output().unwrap()
    };
    let uninterrupted = run(plain, None);
    assert!(uninterrupted.status.success(), "{}", String::from_utf8_lossy(&uninterrupted.stderr));
    let killed = run(&["--checkpoint", checkpoint.to_str().unwrap()], Some("3"));
    assert!(!killed.status.success(), "the process should have died");
    assert!(killed.stdout.is_empty(), "it died before reporting");
    let resumed = run(&["--resume", checkpoint.to_str().unwrap()], None);
    assert!(resumed.status.success(), "{}", String::from_utf8_lossy(&resumed.stderr));
    let values = |out: &std::process::Output| {
        let v: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
        serde_json::json!([v["parameters"], v["statistics"]["nfev"], v["covariance"]])
    };
    (values(&uninterrupted), values(&resumed))
}

#[test]
fn bad_checkpoints_are_refused_with_a_clear_message() {
    let dir = TempDir::new("checkpoint-bad");
    let path = dir.path().join("cp.json");
    let model = compile("a*exp(-b*x) + c").unwrap();
    let data = data();
    model.fit(&data).p0(&[1.0, 3.0, 0.0]).checkpoint(&path, 1).run().unwrap();
    let good = std::fs::read_to_string(&path).unwrap();
    let refuse = |content: &str, expected: &str| {
        std::fs::write(&path, content).unwrap();
        let err = model.fit(&data).p0(&[1.0, 3.0, 0.0]).resume(&path).run().unwrap_err().to_string();
        assert!(err.contains(expected), "{err}\nexpected: {expected}");
    };
    refuse("{ not json", "is not a jitfit checkpoint");
    refuse(&good[..good.len() / 2], "is not a jitfit checkpoint");
    refuse(&good.replace("\"format\": 1", "\"format\": 2"), "has checkpoint format 2; this jitfit reads format 1");
    refuse(&good.replace("\"delta\": ", "\"delta\": -"), "the saved state is not valid");
    // Tampered numbers (they were accepted): a negative scale, an impossible count.
    let tampered = |edit: &dyn Fn(&mut serde_json::Value)| {
        let mut v: serde_json::Value = serde_json::from_str(&good).unwrap();
        edit(&mut v);
        serde_json::to_string_pretty(&v).unwrap()
    };
    refuse(&tampered(&|v| v["state"]["scale_inv"][0] = serde_json::json!(-1.0)), "the saved state is not valid");
    refuse(&tampered(&|v| v["state"]["nfev"] = serde_json::json!(u64::MAX)), "the saved state is not valid");
    // This is the checkpoint of the iteration that ended the fit: resuming it does not iterate,
    // so an edited parameter would be the answer. The cost at x must be the saved cost.
    assert!(good.contains("\"status\": "), "{good}");
    let a = serde_json::from_str::<serde_json::Value>(&good).unwrap()["state"]["x"][0].as_f64().unwrap();
    refuse(&tampered(&|v| v["state"]["x"][0] = serde_json::json!(a * 1.001)), "the saved state does not match");
    std::fs::write(&path, &good).unwrap();
    // Another model, other data, other options.
    let other = compile("a*exp(-b*x) + c + 0*x").unwrap();
    let err = other.fit(&data).resume(&path).run().unwrap_err().to_string();
    assert!(err.contains("is a checkpoint of another model"), "{err}");
    let shifted = Data::new().var("x", data.column("x").unwrap().to_vec()).y(data
        .response()
        .iter()
        .map(|y| y + 1.0)
        .collect::<Vec<_>>());
    let err = model.fit(&shifted).resume(&path).run().unwrap_err().to_string();
    assert!(err.contains("is a checkpoint of another data set"), "{err}");
    let err = model.fit(&data).bound("c", 0.0, 1.0).resume(&path).run().unwrap_err().to_string();
    assert!(err.contains("is a checkpoint of another set of options"), "{err}");
    // Another p0 could not apply to a resumed fit: refused, not ignored.
    let err = model.fit(&data).p0(&[2.0, 3.0, 0.0]).resume(&path).run().unwrap_err().to_string();
    assert!(err.contains("is a checkpoint of another set of options (initial values"), "{err}");
    let err = model.fit(&data).resume(dir.path().join("missing.json")).run().unwrap_err().to_string();
    assert!(err.contains("cannot read the checkpoint"), "{err}");
}

/// Cancelling (what Ctrl-C does in the CLI) stops after the current iteration with status
/// `Interrupted` and saves the checkpoint whatever its schedule; resuming finishes the fit.
#[test]
fn cancelling_saves_a_checkpoint_and_resuming_finishes_the_fit() {
    use std::sync::atomic::{AtomicBool, Ordering};
    let dir = TempDir::new("checkpoint-cancel");
    let path = dir.path().join("cp.json");
    let model = compile("a*exp(-b*x) + c").unwrap();
    let data = data();
    let full = model.fit(&data).p0(&[1.0, 3.0, 0.0]).run().unwrap();
    let cancel = AtomicBool::new(false);
    let interrupted = model
        .fit(&data)
        .p0(&[1.0, 3.0, 0.0])
        .checkpoint(&path, 1000)
        .cancel_flag(&cancel)
        .progress(|state| {
            if state.iterations == 2 {
                cancel.store(true, Ordering::Relaxed);
            }
        })
        .run()
        .unwrap();
    assert_eq!(interrupted.status, jitfit::solve::Status::Interrupted);
    assert!(!interrupted.status.converged());
    // The flag set during iteration 2 is seen at the end of the next one.
    assert_eq!(interrupted.iterations, 3);
    assert!(path.exists(), "the checkpoint is written on interruption despite `every 1000`");
    let resumed = model.fit(&data).p0(&[1.0, 3.0, 0.0]).resume(&path).run().unwrap();
    assert_eq!(resumed.values, full.values);
    assert_eq!(resumed.status, full.status);
}

/// A checkpoint that cannot be written is an error before the fit, not after it (the whole
/// fit was thrown away).
#[test]
fn an_unwritable_checkpoint_is_refused_before_the_fit() {
    let model = compile("a*exp(-b*x) + c").unwrap();
    let data = data();
    let err = model.fit(&data).checkpoint("/no/such/folder/state.json", 1).run().unwrap_err().to_string();
    assert!(err.starts_with("cannot write the checkpoint /no/such/folder/state.json"), "{err}");
}

/// The data fingerprint covers every row: a resume on data with one value changed among
/// 10 000 rows is refused (it sampled 4096 rows).
#[test]
fn one_changed_row_is_another_data_set() {
    let dir = TempDir::new("checkpoint-rows");
    let path = dir.path().join("state.json");
    let x: Vec<f64> = (0..10_000).map(|i| i as f64 / 1000.0).collect();
    let y: Vec<f64> = x.iter().map(|x| 3.0 * (-0.7 * x).exp() + 0.5).collect();
    let model = compile("a*exp(-b*x) + c").unwrap();
    let data = Data::new().var("x", x.clone()).y(y.clone());
    model.fit(&data).p0(&[1.0, 1.0, 0.0]).checkpoint(&path, 1).run().unwrap();
    let mut changed = y;
    changed[1234] += 1e-9;
    let other = Data::new().var("x", x).y(changed);
    let err = model.fit(&other).p0(&[1.0, 1.0, 0.0]).resume(&path).run().unwrap_err().to_string();
    assert!(err.contains("is a checkpoint of another data set"), "{err}");
}

/// A global fit (`--sets`) checkpoints and resumes on the dense rewrite (the sets written as
/// one model): killed mid-way and resumed, it ends where the uninterrupted dense fit ends; a
/// checkpoint of other sharing is another model, refused; the structured solver refuses both
/// flags by name.
#[test]
fn a_global_fit_killed_mid_way_resumes_to_the_same_answer() {
    let dir = TempDir::new("checkpoint-global");
    let cache = TempDir::new("checkpoint-global-cache");
    let csv = dir.path().join("decays.csv");
    let mut text = String::from("set,x,y\n");
    for (k, a) in [2.0, 3.0, 4.5].iter().enumerate() {
        for i in 0..30 {
            let x = i as f64 * 0.2;
            let noise = 0.01 * (((i * 7 + k * 5) % 11) as f64 / 5.0 - 1.0);
            text += &format!("{},{x:?},{:?}\n", k + 1, a * (-1.3 * x).exp() + 0.2 * k as f64 + noise);
        }
    }
    std::fs::write(&csv, text).unwrap();
    let checkpoint = dir.path().join("state.json");
    let fit =
        ["fit", "a*exp(-b*x) + c", csv.to_str().unwrap(), "--sets", "set", "--shared", "b", "--p0", "a=1,b=3,c=0"];
    let (uninterrupted, resumed) = killed_and_resumed(&fit, &["--global-solver", "dense"], &checkpoint, &cache);
    assert_eq!(resumed, uninterrupted);
    // A checkpoint of other sharing, or of the single fit of the same file, is another model.
    let jitfit = |args: &[&str]| {
        Command::new(env!("CARGO_BIN_EXE_jitfit")).args(args).env("JITFIT_CACHE_DIR", cache.path()).output().unwrap()
    };
    let resume = ["--resume", checkpoint.to_str().unwrap()];
    let other_sharing = jitfit(&[&fit[..5], &["--shared", "b,c"], &resume[..]].concat());
    let single = dir.path().join("single.json");
    assert!(jitfit(&[&fit[..3], &["--checkpoint", single.to_str().unwrap()]].concat()).status.success());
    let single_resumed = jitfit(&[&fit[..], &["--resume", single.to_str().unwrap()]].concat());
    for out in [&other_sharing, &single_resumed] {
        assert_eq!(out.status.code(), Some(1));
    }
    expect_test::expect![[r#"
        error: STATE is a checkpoint of another model
        error: STATE is a checkpoint of another model
    "#]]
    .assert_eq(
        &[&other_sharing, &single_resumed]
            .map(|o| String::from_utf8_lossy(&o.stderr).into_owned())
            .concat()
            .replace(checkpoint.to_str().unwrap(), "STATE")
            .replace(single.to_str().unwrap(), "STATE"),
    );
    let structured =
        jitfit(&[&fit[..], &["--checkpoint", checkpoint.to_str().unwrap(), "--global-solver", "structured"]].concat());
    assert_eq!(structured.status.code(), Some(1));
    expect_test::expect![[r#"
        error: --checkpoint is not available with --global-solver structured: use --global-solver dense (at most 200 sets)
    "#]].assert_eq(&String::from_utf8_lossy(&structured.stderr));
}
