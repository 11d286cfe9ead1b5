//! Global fits on the structured solver (`CompiledModel::fit_global`): against lmfit's
//! global-fit recipe (`tests/data/global/generate.py`), against the same fit written as one
//! model with indicator columns (the dense rewrite, solved by TRF on the dense Jacobian), and
//! its refusals.

use jitfit::{Data, FitError, compile_with_vars};
use serde::Deserialize;
use std::collections::BTreeMap;

#[derive(Deserialize)]
struct Reference {
    t: Vec<f64>,
    ys: Vec<Vec<f64>>,
    sigma: Vec<f64>,
    values: BTreeMap<String, f64>,
    std_errors: BTreeMap<String, f64>,
    chi2: f64,
    redchi: f64,
    aic: f64,
    bic: f64,
    nfree: usize,
}

fn reference() -> Reference {
    let path = concat!(env!("CARGO_MANIFEST_DIR"), "/tests/data/global/reference.json");
    serde_json::from_str(&std::fs::read_to_string(path).unwrap()).unwrap()
}

fn close(found: f64, expected: f64, tolerance: f64, what: &str) {
    assert!(
        (found - expected).abs() <= tolerance * expected.abs(),
        "{what}: {found} vs {expected} (relative {:e})",
        (found - expected).abs() / expected.abs()
    );
}

fn reference_sets(r: &Reference) -> Vec<Data> {
    r.ys.iter()
        .zip(&r.sigma)
        .map(|(y, s)| Data::new().var("t", r.t.clone()).y(y.clone()).sigma(vec![*s; y.len()]))
        .collect()
}

#[test]
fn a_shared_lifetime_matches_lmfit() {
    let r = reference();
    let model = compile_with_vars("A*exp(-t/tau) + B", &["t"]).unwrap();
    let sets = reference_sets(&r);
    let fit = model.fit_global(&sets, &["tau"], |fit| fit.initial("tau", 1.0)).unwrap();
    assert!(fit.status.converged(), "{fit:?}");
    assert_eq!(fit.n_free, r.nfree);
    assert_eq!(fit.n_points, 6 * 25);
    close(fit.chi2, r.chi2, 1e-10, "chi2");
    close(fit.reduced_chi2, r.redchi, 1e-10, "reduced chi2");
    close(fit.aic, r.aic, 1e-10, "aic");
    close(fit.bic, r.bic, 1e-10, "bic");
    for k in 0..fit.sets.len() {
        // The shared value is one value, in every set.
        assert_eq!(fit.value(k, "tau"), fit.value(0, "tau"));
        for name in ["A", "B", "tau"] {
            let key = if name == "tau" { name.to_owned() } else { format!("{name}_{}", k + 1) };
            // Values to 1e-5 of their standard error (lmfit stops within ~1e-9 relative of its own
            // minimum: two runs of its leastsq differ there), errors to 1e-6 relative.
            let (value, expected) = (fit.value(k, name).unwrap(), r.values[&key]);
            assert!((value - expected).abs() <= 1e-5 * r.std_errors[&key], "{key}: {value} vs {expected}");
            close(fit.std_error(k, name).unwrap(), r.std_errors[&key], 1e-6, &format!("σ {key}"));
        }
    }
    let per_set: f64 = fit.sets.iter().map(|s| s.chi2).sum();
    close(per_set, fit.chi2, 1e-12, "Σ per-set chi2");
}

/// The same fit written as one model: each set's copy multiplied by its indicator column.
fn dense(r: &Reference, shared: &[&str], text: &str) -> jitfit::Fit {
    let sets = r.ys.len();
    let vars: Vec<String> =
        ["t".to_owned()].into_iter().chain((1..=sets).map(jitfit::syntax::GlobalModel::indicator)).collect();
    let shared: Vec<String> = shared.iter().map(|s| s.to_string()).collect();
    let global = jitfit::syntax::global_model(text, &vars[..1], sets, &shared).unwrap();
    let model = compile_with_vars(&global.text, &vars).unwrap();
    let n = r.t.len();
    let stack = |f: &dyn Fn(usize, usize) -> f64| -> Vec<f64> {
        (0..sets).flat_map(|k| (0..n).map(move |i| (k, i))).map(|(k, i)| f(k, i)).collect()
    };
    let mut data =
        Data::new().var("t", stack(&|_, i| r.t[i])).y(stack(&|k, i| r.ys[k][i])).sigma(stack(&|k, _| r.sigma[k]));
    for k in 0..sets {
        data = data.var(&vars[k + 1], stack(&|j, _| if j == k { 1.0 } else { 0.0 }));
    }
    model.fit(&data).run().unwrap()
}

#[test]
fn the_structured_solver_agrees_with_the_dense_rewrite() {
    let r = reference();
    let text = "A*exp(-t/tau) + B";
    let sets = reference_sets(&r);
    // Two parameters shared; σ absolute.
    let dense_fit = dense(&r, &["tau", "B"], text);
    let model = compile_with_vars(text, &["t"]).unwrap();
    let fit = model.fit_global(&sets, &["tau", "B"], |fit| fit).unwrap();
    close(fit.chi2, dense_fit.chi2, 1e-10, "chi2");
    close(fit.r_squared, dense_fit.r_squared, 1e-12, "R²");
    assert_eq!(fit.dof, dense_fit.dof);
    for name in ["tau", "B"] {
        close(fit.value(3, name).unwrap(), dense_fit.value(name).unwrap(), 1e-8, name);
        close(fit.std_error(3, name).unwrap(), dense_fit.std_error(name).unwrap(), 1e-6, name);
    }
    for k in 0..sets.len() {
        let a = format!("A_{}", k + 1);
        close(fit.value(k, "A").unwrap(), dense_fit.value(&a).unwrap(), 1e-8, &a);
        close(fit.std_error(k, "A").unwrap(), dense_fit.std_error(&a).unwrap(), 1e-6, &a);
        // A set's own block of the covariance, and its cross term with the shared tau.
        let set = &fit.sets[k];
        let (ia, it) = (set.index("A").unwrap(), set.index("tau").unwrap());
        let q = set.param_names.len();
        let (da, dt) = (dense_fit.index(&a).unwrap(), dense_fit.index("tau").unwrap());
        let nd = dense_fit.param_names.len();
        close(set.covariance[ia * q + it], dense_fit.covariance[da * nd + dt], 1e-6, "cov(A, tau)");
        close(set.covariance[it * q + ia], dense_fit.covariance[dt * nd + da], 1e-6, "cov(tau, A)");
    }
    // The joint covariance, every pair of the dense fit's parameters — between two sets'
    // own amplitudes too — in the dense fit's order.
    let params: Vec<(usize, usize)> = dense_fit
        .param_names
        .iter()
        .map(|name| match name.rsplit_once('_') {
            Some((base, k)) => {
                let k: usize = k.parse::<usize>().unwrap() - 1;
                (k, fit.sets[k].index(base).unwrap())
            }
            None => (0, fit.sets[0].index(name).unwrap()),
        })
        .collect();
    let joint = fit.joint_covariance(&params).unwrap();
    let nd = params.len();
    let mut between_sets = 0;
    for a in 0..nd {
        for b in 0..nd {
            let expected = dense_fit.covariance[a * nd + b];
            let what = format!("cov({}, {})", dense_fit.param_names[a], dense_fit.param_names[b]);
            assert!(
                (joint[a * nd + b] - expected).abs() <= 1e-6 * expected.abs(),
                "{what}: {} vs {expected}",
                joint[a * nd + b]
            );
            between_sets += usize::from(params[a].0 != params[b].0 && !fit.sets[0].shared[params[a].1]);
        }
    }
    assert!(between_sets > 0);
    assert_eq!(fit.covariance_between(2, 2).unwrap(), fit.sets[2].covariance);
    assert_eq!(fit.covariance_between(0, sets.len()), None);
}

#[test]
fn fixed_and_bounded_parameters_hold_in_every_set() {
    let r = reference();
    let model = compile_with_vars("A*exp(-t/tau) + B", &["t"]).unwrap();
    let sets = reference_sets(&r);
    // B fixed at 0.5 in every set; A bounded above so that set 1 (A ≈ 3.1) ends at its bound.
    let fit = model.fit_global(&sets, &["tau"], |fit| fit.fix("B", 0.5).bound("A", 0.0, 3.0)).unwrap();
    assert!(fit.status.converged(), "{:?}", fit.status);
    let (ia, ib) = (fit.sets[0].index("A").unwrap(), fit.sets[0].index("B").unwrap());
    for set in &fit.sets {
        assert_eq!(set.values[ib], 0.5);
        assert_eq!(set.std_errors[ib], 0.0);
        assert!(set.values[ia] <= 3.0);
    }
    assert_eq!(fit.n_free, 1 + 6);
    let at_bound: Vec<usize> = (0..6).filter(|k| fit.sets[*k].active_mask[ia] == 1).collect();
    assert!(!at_bound.is_empty(), "{:?}", fit.sets.iter().map(|s| s.values[ia]).collect::<Vec<_>>());
    // The dense rewrite reaches the same bounded minimum.
    let dense_model = "A*exp(-t/tau) + 0.5";
    let shared = ["tau".to_owned()];
    let vars: Vec<String> =
        ["t".to_owned()].into_iter().chain((1..=6).map(jitfit::syntax::GlobalModel::indicator)).collect();
    let global = jitfit::syntax::global_model(dense_model, &vars[..1], 6, &shared).unwrap();
    let model2 = compile_with_vars(&global.text, &vars).unwrap();
    let n = r.t.len();
    let mut data = Data::new()
        .var("t", (0..6).flat_map(|_| r.t.clone()).collect::<Vec<_>>())
        .y(r.ys.concat())
        .sigma((0..6).flat_map(|k| vec![r.sigma[k]; n]).collect::<Vec<_>>());
    for k in 0..6 {
        data = data.var(&vars[k + 1], (0..6 * n).map(|i| if i / n == k { 1.0 } else { 0.0 }).collect::<Vec<_>>());
    }
    let mut builder = model2.fit(&data);
    for k in 1..=6 {
        builder = builder.bound(&format!("A_{k}"), 0.0, 3.0);
    }
    let dense_fit = builder.run().unwrap();
    close(fit.chi2, dense_fit.chi2, 1e-9, "chi2");
    close(fit.value(0, "tau").unwrap(), dense_fit.value("tau").unwrap(), 1e-7, "tau");
}

#[test]
fn many_sets_fit_and_every_set_keeps_its_own_values() {
    // 400 sets of a three-parameter decay with one shared constant: 801 free parameters,
    // beyond what the dense rewrite takes; each set generated without noise from its own truth.
    let t: Vec<f64> = (0..20).map(|i| i as f64 * 0.5).collect();
    let truth = |k: usize| (1.0 + (k % 7) as f64 * 0.5, 0.1 + (k % 5) as f64 * 0.05);
    let sets: Vec<Data> = (0..400)
        .map(|k| {
            let (a, b) = truth(k);
            Data::new().var("t", t.clone()).y(t.iter().map(|t| a * (-t / 2.0).exp() + b).collect::<Vec<_>>())
        })
        .collect();
    let model = compile_with_vars("A*exp(-t/tau) + B", &["t"]).unwrap();
    let fit = model.fit_global(&sets, &["tau"], |fit| fit.initial("tau", 1.0)).unwrap();
    assert!(fit.status.converged(), "{:?} after {} iterations", fit.status, fit.iterations);
    assert_eq!(fit.n_free, 801);
    for (k, set) in fit.sets.iter().enumerate() {
        let (a, b) = truth(k);
        assert!((set.values[0] - a).abs() < 1e-9 && (set.values[2] - b).abs() < 1e-9, "{k}: {:?}", set.values);
        assert!((set.values[1] - 2.0).abs() < 1e-9);
    }
}

#[test]
fn options_it_cannot_honour_are_refused() {
    let r = reference();
    let model = compile_with_vars("A*exp(-t/tau) + B", &["t"]).unwrap();
    let sets = reference_sets(&r);
    let refused = |e: FitError| e.to_string();
    let e = model.fit_global(&sets, &["tau"], |f| f.loss(jitfit::solve::Loss::SoftL1, 1.0)).unwrap_err();
    assert_eq!(refused(e), "a robust loss is not available in a global fit");
    let e = model.fit_global(&sets, &["tau"], |f| f.checkpoint("/tmp/x.ckpt", 1)).unwrap_err();
    assert_eq!(refused(e), "a checkpoint is not available in a global fit");
    let e = model.fit_global(&sets, &["tua"], |f| f).unwrap_err();
    assert_eq!(refused(e), "unknown parameter `tua` (parameters: A, tau, B)");
    let mut bad = sets.clone();
    bad[2] = Data::new().var("t", r.t.clone()).y(vec![f64::NAN; r.t.len()]);
    let e = model.fit_global(&bad, &["tau"], |f| f).unwrap_err();
    assert_eq!(refused(e), "data set 3: y holds a non-finite value (NaN) at data row 1");
    let e = model.fit_global(&[], &["tau"], |f| f).unwrap_err();
    assert_eq!(refused(e), "a global fit needs at least one data set");
}

#[test]
fn sets_with_different_models_share_parameters_by_name() {
    // Set 1: a decay on a level; set 2: the same decay beside a second, slower one.
    let t: Vec<f64> = (0..40).map(|i| i as f64 * 0.25).collect();
    let wiggle = |i: usize| 0.01 * (((i * 7) % 11) as f64 - 5.0) / 5.0;
    let y1: Vec<f64> = t.iter().enumerate().map(|(i, t)| 3.0 * (-t / 1.2).exp() + 0.4 + wiggle(i)).collect();
    let y2: Vec<f64> =
        t.iter().enumerate().map(|(i, t)| 2.0 * (-t / 1.2).exp() + 1.5 * (-t / 6.0).exp() + wiggle(i + 3)).collect();
    let (d1, d2) = (Data::new().var("t", t.clone()).y(y1.clone()), Data::new().var("t", t.clone()).y(y2.clone()));
    let m1 = compile_with_vars("A*exp(-t/tau) + B", &["t"]).unwrap();
    let m2 = compile_with_vars("A*exp(-t/tau) + C*exp(-t/slow)", &["t"]).unwrap();
    let options = |model: &std::sync::Arc<jitfit::CompiledModel>, data: &Data| {
        let mut fit = model.fit(data).initial("tau", 1.0);
        if model.params().iter().any(|p| p == "slow") {
            fit = fit.initial("slow", 4.0);
        }
        fit.into_options().unwrap()
    };
    let sets = [
        jitfit::GlobalSet { model: m1.clone(), data: &d1, options: options(&m1, &d1), start: None },
        jitfit::GlobalSet { model: m2.clone(), data: &d2, options: options(&m2, &d2), start: None },
    ];
    let fit = jitfit::fit_global_sets(&sets, &["tau"]).unwrap();
    assert!(fit.status.converged(), "{:?}", fit.status);
    assert_eq!(fit.n_free, 1 + 2 + 3);
    assert_eq!(fit.sets[1].param_names, ["A", "tau", "C", "slow"]);
    // The same fit written as one model with indicator columns.
    let by_hand =
        compile_with_vars("s1*(A_1*exp(-t/tau) + B_1) + s2*(A_2*exp(-t/tau) + C_2*exp(-t/slow_2))", &["t", "s1", "s2"])
            .unwrap();
    let n = t.len();
    let data = Data::new()
        .var("t", [t.clone(), t.clone()].concat())
        .var("s1", (0..2 * n).map(|i| if i < n { 1.0 } else { 0.0 }).collect::<Vec<_>>())
        .var("s2", (0..2 * n).map(|i| if i < n { 0.0 } else { 1.0 }).collect::<Vec<_>>())
        .y([y1, y2].concat());
    let dense = by_hand.fit(&data).initial("tau", 1.0).initial("slow_2", 4.0).run().unwrap();
    close(fit.chi2, dense.chi2, 1e-10, "chi2");
    for (set, name, dense_name) in
        [(0, "A", "A_1"), (0, "B", "B_1"), (0, "tau", "tau"), (1, "A", "A_2"), (1, "C", "C_2"), (1, "slow", "slow_2")]
    {
        let (v, dv) = (fit.value(set, name).unwrap(), dense.value(dense_name).unwrap());
        let se = dense.std_error(dense_name).unwrap();
        assert!((v - dv).abs() <= 1e-6 * se, "{dense_name}: {v} vs {dv}");
        close(fit.std_error(set, name).unwrap(), se, 1e-6, dense_name);
    }
    // A shared parameter whose bounds differ between the models is refused.
    let bounded = m2.fit(&d2).bound("tau", 0.0, 10.0).initial("tau", 1.0).initial("slow", 4.0).into_options().unwrap();
    let sets = [
        jitfit::GlobalSet { model: m1.clone(), data: &d1, options: options(&m1, &d1), start: None },
        jitfit::GlobalSet { model: m2.clone(), data: &d2, options: bounded, start: None },
    ];
    let e = jitfit::fit_global_sets(&sets, &["tau"]).unwrap_err();
    assert_eq!(e.to_string(), "`tau` is shared, but its bounds or fixed value differ between data sets 1 and 2");
}

#[test]
fn degenerate_global_fits_say_so() {
    let t: Vec<f64> = (0..10).map(|i| i as f64 * 0.5).collect();
    let exact =
        |a: f64| Data::new().var("t", t.clone()).y(t.iter().map(|t| a * (-t / 2.0).exp() + 0.3).collect::<Vec<_>>());
    let model = compile_with_vars("A*exp(-t/tau) + B", &["t"]).unwrap();
    // Residuals all zero: no scatter to scale the covariance by — NaN errors and a warning,
    // never ± 0.
    let line = compile_with_vars("A + B*t", &["t"]).unwrap();
    let integers: Vec<f64> = (0..10).map(f64::from).collect();
    let on_line =
        |a: f64| Data::new().var("t", integers.clone()).y(integers.iter().map(|t| a + 2.0 * t).collect::<Vec<_>>());
    let sets = [on_line(1.0), on_line(3.0)];
    let options = line.fit(&sets[0]).into_options().unwrap();
    let starts = [vec![Some(1.0), Some(2.0)], vec![Some(3.0), Some(2.0)]];
    let fit = line.fit_global_with(&sets, &["B"], &options, Some(&starts)).unwrap();
    assert_eq!(fit.chi2, 0.0);
    assert!(fit.sets[0].std_errors.iter().all(|e| e.is_nan()), "{:?}", fit.sets[0].std_errors);
    assert_eq!(
        fit.covariance_warning.as_deref(),
        Some(
            "the residuals are all zero, so χ²/dof says nothing about the uncertainties (with known σ, use absolute sigma)"
        )
    );
    // With absolute σ the errors are the data's.
    let sigma = |d: Data| d.sigma(vec![0.1; 10]);
    let fit = model
        .fit_global(&[sigma(exact(1.0)), sigma(exact(2.0))], &["tau", "B"], |f| {
            f.initial("tau", 1.0).absolute_sigma(true)
        })
        .unwrap();
    assert!(fit.sets[1].std_errors.iter().all(|e| e.is_finite() && *e > 0.0));
    // A model not finite at the start is an error naming the way out.
    let root = compile_with_vars("A*sqrt(t - t0)", &["t"]).unwrap();
    let e = root.fit_global(&[exact(1.0), exact(2.0)], &["t0"], |f| f.initial("t0", 3.0)).unwrap_err();
    assert_eq!(
        e.to_string(),
        "the model or its derivatives are not finite at the starting values (in some data set): give other starts"
    );
    // A parameter the data do not determine: not determined, said.
    let flat = compile_with_vars("A*exp(-t/tau) + B + 0*C", &["t"]).unwrap();
    let noisy = |a: f64| {
        Data::new().var("t", t.clone()).y(t
            .iter()
            .enumerate()
            .map(|(i, t)| a * (-t / 2.0).exp() + 0.01 * (i % 3) as f64)
            .collect::<Vec<_>>())
    };
    let fit = flat.fit_global(&[noisy(1.0), noisy(2.0)], &["tau"], |f| f.initial("tau", 1.0)).unwrap();
    assert!(fit.sets[0].std_errors.iter().any(|e| e.is_infinite()), "{:?}", fit.sets[0].std_errors);
    assert_eq!(
        fit.covariance_warning.as_deref(),
        Some(
            "the covariance cannot be estimated: set 1's own parameters are not determined by its data (JᵀJ singular)"
        )
    );
}
