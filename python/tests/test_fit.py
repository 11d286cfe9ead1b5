"""jitfit.fit / jitfit.compile: the whole fit as a FitResult, against lmfit computed here in the
same process (lmfit's names and conventions: chisqr, redchi, aic, bic, rsquared, stderr) and
against scipy's curve_fit, and its report and JSON by exact text.
"""
import json
import os
import pathlib

import numpy as np
import pytest

import jitfit

DECAY = pathlib.Path(__file__).resolve().parents[2] / "examples" / "data" / "decay.csv"


def decay():
    d = np.genfromtxt(DECAY, delimiter=",", names=True, skip_header=1)
    return d["time"], d["signal"], d["err"]


def test_values_errors_and_statistics_match_lmfit():
    lmfit = pytest.importorskip("lmfit")  # CI installs it; the other tests do not need it
    t, y, err = decay()
    ours = jitfit.fit("a*exp(-b*t) + c", {"t": t}, y, p0=[1, 1, 0], sigma=err)
    model = lmfit.Model(lambda t, a, b, c: a * np.exp(-b * t) + c)
    theirs = model.fit(y, model.make_params(a=1, b=1, c=0), t=t, weights=1 / err,
                       max_nfev=2000, fit_kws=dict(ftol=1e-14, xtol=1e-14, gtol=0.0))
    assert theirs.success and ours.success
    names = ["a", "b", "c"]
    assert ours.names == names
    np.testing.assert_allclose(ours.values, [theirs.params[n].value for n in names], rtol=1e-8)
    # lmfit's covariance comes from MINPACK's finite-difference Jacobian: 1.5e-5 from jitfit's
    # exact one here (curve_fit's, from scipy's, agrees to 1e-6: test_curve_fit.py).
    np.testing.assert_allclose(ours.stderr, [theirs.params[n].stderr for n in names], rtol=1e-5)
    np.testing.assert_allclose(ours.covariance, theirs.covar, rtol=5e-5)
    for ours_value, theirs_value in [(ours.chisqr, theirs.chisqr), (ours.redchi, theirs.redchi),
                                     (ours.aic, theirs.aic), (ours.bic, theirs.bic)]:
        np.testing.assert_allclose(ours_value, theirs_value, rtol=1e-9)
    # R² weighted like χ² (about the σ⁻²-weighted mean); lmfit's ignores the weights.
    w2 = err**-2
    mean = (w2 * y).sum() / w2.sum()
    np.testing.assert_allclose(ours.rsquared, 1 - ours.chisqr / (w2 * (y - mean) ** 2).sum(), rtol=1e-12)
    unweighted = 1 - ((y - theirs.best_fit) ** 2).sum() / ((y - y.mean()) ** 2).sum()
    np.testing.assert_allclose(theirs.rsquared, unweighted, rtol=1e-12)
    assert (ours.ndata, ours.nvarys, ours.nfree) == (theirs.ndata, theirs.nvarys, theirs.nfree)
    assert ours.params == pytest.approx({n: theirs.params[n].value for n in names}, rel=1e-8)


def test_fit_agrees_with_curve_fit_and_compile_reuses_the_model():
    t, y, err = decay()
    popt, pcov = jitfit.curve_fit("a*exp(-b*t) + c", {"t": t}, y, p0=[1, 1, 0], sigma=err)
    result = jitfit.fit("a*exp(-b*t) + c", {"t": t}, y, p0=[1, 1, 0], sigma=err)
    np.testing.assert_array_equal(result.values, popt)
    np.testing.assert_array_equal(result.covariance, pcov)
    np.testing.assert_array_equal(result.stderr, np.sqrt(np.diag(pcov)))
    model = jitfit.compile("a*exp(-b*t) + c", variables=["t"])
    assert (model.parameters, model.variables) == (["a", "b", "c"], ["t"])
    assert repr(model) == 'jitfit.compile("a*exp(-b*t) + c", variables=["t"])'
    # A 1-D array is the model's one variable; a dict names it.
    for xdata in (t, {"t": t}):
        again = model.fit(xdata, y, p0=[1, 1, 0], sigma=err)
        np.testing.assert_array_equal(again.values, popt)
    with pytest.raises(ValueError) as e:
        model.fit({"x": t}, y)
    assert str(e.value) == "xdata: the model's variables are [t], xdata gives [x]"


def test_report_is_the_cli_report_and_json_its_schema():
    t, y, err = decay()
    result = jitfit.fit("a*exp(-b*time) + c", {"time": t}, y, sigma=err)
    # No p0: each start said to be the default one.
    assert result.report() == """\
[[Model]]
    a*exp(-b*time) + c
[[Data]]
    100 points; variables time; sigma given
[[Fit Statistics]]
    fitting method       = trf (loss linear)
    backend              = cpu
    function evals       = 9 (Jacobian evals 8)
    data points          = 100
    variables            = 3 free of 3
    chi-square           = 94.4774
    reduced chi-square   = 0.973994
    Akaike info crit     = 0.319051
    Bayesian info crit   = 8.13456
    R-squared            = 0.998728
    optimality           = 3.89804e-10
[[Variables]]
    a =       3.0016 ± 0.0122719 (0.41%)  (init = 1, by default)
    b =     0.699173 ± 0.00548887 (0.79%)  (init = 1, by default)
    c =     0.497727 ± 0.00394666 (0.79%)  (init = 1, by default)
[[Correlations]] (unreported correlations are < 0.1)
    C(b, c)  = +0.6217
    C(a, b)  = +0.4632
[[Status]]
    converged: `ftol` termination condition is satisfied. (status 2)
"""
    assert result.report(min_correl=0.5).endswith("""\
[[Correlations]] (unreported correlations are < 0.5)
    C(b, c)  = +0.6217
[[Status]]
    converged: `ftol` termination condition is satisfied. (status 2)
""")
    report = json.loads(result.to_json())
    assert report["schema"] == "jitfit.fit/1"
    assert report["data"] == {"path": None, "points": 100, "variables": [{"name": "time", "column": "time"}],
                              "response": "ydata", "sigma": "sigma", "weights": None, "sigma_expression": None,
                              "reweighting": None, "sigma_x": [], "notes": []}
    assert [p["name"] for p in report["parameters"]] == ["a", "b", "c"]
    assert [p["value"] for p in report["parameters"]] == list(result.values)
    assert report["statistics"]["chi_square"] == result.chisqr
    assert report["status"] == {"code": 2, "converged": True, "message": result.message}
    assert np.array(report["covariance"]).tolist() == result.covariance.tolist()


def test_nothing_silent_in_the_report():
    t, y, _ = decay()
    # `e` is Euler's number, and the report says so.
    report = jitfit.fit("a*e^(-b*x)", t, y).report()
    assert report.splitlines()[3:5] == [
        "    100 points; variables x; no sigma (unit weights)",
        "    `e` is Euler's number 2.718281828…, not a parameter (name a parameter otherwise)",
    ]
    # Undetermined parameters: their errors are inf (as scipy's pcov) and "not determined",
    # never ± 0, and the status says why.
    result = jitfit.fit("a*x + b*x + c", t, y)
    assert np.isinf(result.stderr[:2]).all() and np.isfinite(result.stderr[2])
    assert result.report().split("[[Variables]]\n")[1] == """\
    a =   -0.0950122 ± not determined  (init = 1, by default)
    b =   -0.0950122 ± not determined  (init = 1, by default)
    c =      1.88248 ± 0.0885582 (4.70%)  (init = 1, by default)
[[Correlations]] (unreported correlations are < 0.1)
    none
[[Status]]
    converged: `xtol` termination condition is satisfied. (status 3)
    warning: the Jacobian has rank 2 < 3 at the solution: some parameters are not determined by the data
"""


def test_a_fit_that_does_not_converge_is_returned_and_says_so():
    t, y, err = decay()
    result = jitfit.fit("a*exp(-b*t) + c", {"t": t}, y, sigma=err, max_nfev=2)
    assert not result.success and result.status == 0
    assert repr(result) == (f"<FitResult NOT converged: a={result.report().split('a = ')[1].split()[0]}, "
                            f"b={result.report().split('b = ')[1].split()[0]}, "
                            f"c={result.report().split('c = ')[1].split()[0]}; "
                            f"chisqr={result.report().split('chi-square           = ')[1].split()[0]}>")
    assert result.report().split("[[Status]]\n")[1] == \
        "    did NOT converge: The maximum number of function evaluations is exceeded. (status 0)\n"
    with pytest.raises(RuntimeError):
        jitfit.curve_fit("a*exp(-b*t) + c", {"t": t}, y, sigma=err, max_nfev=2)


def test_bounds_without_p0_start_inside_them():
    t, y, err = decay()
    result = jitfit.fit("a*exp(-b*t) + c", {"t": t}, y, sigma=err, bounds=([2, 0, 0], [5, 0.5, 1]))
    assert result.success
    # a and b start inside their bounds, not at 1 (curve_fit starts at 1); b's binds (the free
    # fit has b = 0.699).
    assert result.report().split("[[Variables]]\n")[1].split("[[Correlations]]")[0] == """\
    a =      2.77524 ± 0.0460329 (1.66%)  (init = 3.5, by default)
    b =          0.5 ± 0.0185107 (3.70%)  (init = 0.25, by default, at its upper bound)
    c =      0.37865 ± 0.0216713 (5.72%)  (init = 1, by default)
"""


def test_npy_paths_are_mapped_columns(tmp_path):
    t, y, err = decay()
    for name, values in [("t", t), ("y", y), ("err", err)]:
        np.save(tmp_path / f"{name}.npy", values)
    from_arrays = jitfit.fit("a*exp(-b*t) + c", {"t": t}, y, p0=[1, 1, 0], sigma=err)
    # str or path-like, for any column; the same fit bit for bit.
    for xdata, ydata, sigma in [({"t": str(tmp_path / "t.npy")}, str(tmp_path / "y.npy"), str(tmp_path / "err.npy")),
                                ({"t": tmp_path / "t.npy"}, tmp_path / "y.npy", err)]:
        from_files = jitfit.fit("a*exp(-b*t) + c", xdata, ydata, p0=[1, 1, 0], sigma=sigma)
        np.testing.assert_array_equal(from_files.values, from_arrays.values)
        np.testing.assert_array_equal(from_files.covariance, from_arrays.covariance)
    popt, _ = jitfit.curve_fit("a*exp(-b*x) + c", tmp_path / "t.npy", tmp_path / "y.npy", p0=[1, 1, 0])
    np.testing.assert_array_equal(popt, jitfit.curve_fit("a*exp(-b*x) + c", t, y, p0=[1, 1, 0])[0])
    np.save(tmp_path / "table.npy", np.stack([t, y], axis=1))
    with pytest.raises(ValueError) as e:
        jitfit.fit("a*exp(-b*x) + c", tmp_path / "table.npy", y)
    assert str(e.value) == f"xdata: `{tmp_path / 'table.npy'}` holds a 2-D array (2 columns); a column is a 1-D array"
    with pytest.raises(ValueError) as e:
        jitfit.fit("a*exp(-b*x) + c", t, str(DECAY))
    assert str(e.value) == f"ydata: `{DECAY}` is not a .npy file (pass an array or a .npy path)"
    with pytest.raises(ValueError) as e:
        jitfit.fit("a*exp(-b*x) + c", t, str(tmp_path / "missing.npy"))
    assert str(e.value) == f"cannot read {tmp_path / 'missing.npy'}: No such file or directory (os error 2)"


ARRAYS_IN_PLACE = """
import sys
import numpy as np
import jitfit
def peak():  # VmHWM, the resident set's peak since the last reset, in bytes
    status = open("/proc/self/status").read()
    return int(status.split("VmHWM:")[1].split()[0]) * 1024
x = np.load(sys.argv[1]); y = np.load(sys.argv[2]); stored = x.copy()
with open("/proc/self/clear_refs", "w") as f:
    f.write("5")  # resets VmHWM to the current resident set
before = peak()
fit = jitfit.fit("a*exp(-b*x) + c", x, y, p0=[1, 1, 0])
assert np.array_equal(x, stored) and fit.success
print(peak() - before, x.nbytes + y.nbytes, *fit.values)
"""


@pytest.mark.skipif(not os.access("/proc/self/clear_refs", os.W_OK), reason="resets and reads Linux's VmHWM")
def test_float64_arrays_are_read_in_place(tmp_path):
    # The resident set's peak during a fit of 4·10^6 points (the streamed path, which keeps no
    # residuals) in a fresh process: far less than a copy of x and y (64 MB), by which it grew
    # when columns were copied (measured: 74 MB then, 6–10 MB now). The values are those of the
    # fit from .npy paths.
    import subprocess
    import sys
    x = np.linspace(0, 10, 4_000_000)
    y = 3 * np.exp(-0.7 * x) + 0.5 + 0.01 * np.random.default_rng(2).standard_normal(x.size)
    np.save(tmp_path / "x.npy", x)
    np.save(tmp_path / "y.npy", y)
    out = subprocess.run([sys.executable, "-c", ARRAYS_IN_PLACE, tmp_path / "x.npy", tmp_path / "y.npy"],
                         capture_output=True, text=True, check=True).stdout.split()
    grown, copy = int(out[0]), int(out[1])
    assert grown < copy / 4, (grown, copy)
    mapped = jitfit.fit("a*exp(-b*x) + c", tmp_path / "x.npy", tmp_path / "y.npy", p0=[1, 1, 0])
    np.testing.assert_array_equal([float(v) for v in out[2:]], mapped.values)


def student_quantile(level, dof):
    from scipy.special import erf
    from scipy.stats import t as student
    probability = erf(level / np.sqrt(2)) if level >= 1 else level
    return student.ppf((1 + probability) / 2, dof)


def test_eval_and_bands_match_lmfit():
    lmfit = pytest.importorskip("lmfit")
    t, y, err = decay()
    ours = jitfit.fit("a*exp(-b*t) + c", {"t": t}, y, p0=[1, 1, 0])
    model = lmfit.Model(lambda t, a, b, c: a * np.exp(-b * t) + c)
    theirs = model.fit(y, model.make_params(a=1, b=1, c=0), t=t, max_nfev=2000,
                       fit_kws=dict(ftol=1e-14, xtol=1e-14, gtol=0.0))
    grid = np.linspace(0, 12, 25)
    # (lmfit's MINPACK stops 2e-8 from the minimum here, with ftol and xtol at 1e-14.)
    np.testing.assert_allclose(ours.eval(grid), theirs.eval(t=grid), rtol=1e-7)
    np.testing.assert_array_equal(ours.eval(grid), ours.eval({"t": grid}))
    # lmfit's eval_uncertainty: √(J C Jᵀ) times Student's t (σ estimated), from MINPACK's
    # finite-difference covariance and its own finite-difference J of the curve.
    for level in (1, 2, 0.95):
        np.testing.assert_allclose(ours.eval_uncertainty(grid, sigma=level),
                                   theirs.eval_uncertainty(t=grid, sigma=level), rtol=1e-4)
    value, confidence, prediction = ours.bands(grid, level=2)
    np.testing.assert_array_equal(value, ours.eval(grid))
    np.testing.assert_array_equal(confidence, ours.eval_uncertainty(grid, sigma=2))
    # Unweighted: a new observation's variance is the residuals' (χ²/dof).
    q = student_quantile(2, ours.nfree)
    np.testing.assert_allclose(prediction, np.sqrt(confidence**2 + q**2 * ours.redchi), rtol=1e-9)


def test_bands_of_a_weighted_fit_need_sigma_for_the_prediction():
    t, y, err = decay()
    result = jitfit.fit("a*exp(-b*t) + c", {"t": t}, y, sigma=err)
    with pytest.warns(UserWarning) as caught:
        value, confidence, prediction = result.bands(t)
    assert prediction is None
    assert str(caught[0].message) == \
        "no prediction band: the fit was weighted by σ: give σ at these points for a prediction band"
    # σ given there: a new observation's variance is σ² scaled by χ²/dof (absolute_sigma False).
    _, confidence, prediction = result.bands(t, sigma=err)
    q = student_quantile(1, result.nfree)
    np.testing.assert_allclose(prediction, np.sqrt(confidence**2 + q**2 * result.redchi * err**2), rtol=1e-9)
    with pytest.raises(ValueError) as e:
        result.eval({"x": t})
    assert str(e.value) == "xdata: the model's variables are [t], xdata gives [x]"


def test_starts_bounds_and_fixed_values_by_name():
    t, y, err = decay()
    model = "a*exp(-b*t) + c"
    by_position = jitfit.fit(model, {"t": t}, y, p0=[2, 0.5, 1], sigma=err, bounds=([-np.inf, 0, -np.inf], [np.inf, 0.6, np.inf]))
    by_name = jitfit.fit(model, {"t": t}, y, p0={"b": 0.5, "a": 2, "c": 1}, sigma=err, bounds={"b": (0, 0.6)})
    np.testing.assert_array_equal(by_name.values, by_position.values)
    np.testing.assert_array_equal(by_name.covariance, by_position.covariance)
    # Named starts leave the others to the default (said), fixed ones are held and said.
    held = jitfit.fit(model, {"t": t}, y, p0={"b": 0.5}, sigma=err, fix={"c": 0.5})
    assert held.values[2] == 0.5 and held.nvarys == 2
    assert held.report().split("[[Variables]]\n")[1].split("[[Correlations]]")[0] == """\
    a =      3.00102 ± 0.012202 (0.41%)  (init = 1, by default)
    b =      0.70114 ± 0.00430277 (0.61%)  (init = 0.5)
    c =          0.5 (fixed)
"""
    for kwargs, message in [
        (dict(p0={"q": 1}), "unknown parameter `q` (parameters: a, b, c)"),
        (dict(fix={"c": "zero"}), "fix[\"c\"]: must be real number, not str"),
        (dict(fix=[0]), "fix: expected a dict of parameter names and values"),
        (dict(bounds={"b": 0}), "bounds[\"b\"]: expected a pair (lower, upper)"),
        (dict(p0={"c": 1}, fix={"c": 0}), "p0[\"c\"]: `c` is fixed (fix) and does not start anywhere"),
    ]:
        with pytest.raises(ValueError) as e:
            jitfit.fit(model, {"t": t}, y, **kwargs)
        assert str(e.value) == message, kwargs


def peak():
    x = np.arange(101.0)
    return x, 8.0 * np.exp(-((x - 55.0) ** 2) / 72.0) + 0.3


def test_guess_starts_the_parameters_without_p0_from_the_data():
    x, y = peak()
    model = "A*exp(-(x-m)^2/(2*w^2)) + B"
    # From 1 the fit misses the peak; guess=True searches m over x's range, w on its positive
    # side, and solves A and B, as `jitfit fit --guess`.
    missed = jitfit.fit(model, x, y)
    assert abs(missed.params["m"] - 55) > 1
    found = jitfit.fit(model, x, y, guess=True)
    assert found.success
    np.testing.assert_allclose(found.values, [8.0, 55.0, 6.0, 0.3], rtol=1e-8)
    lines = [line.strip() for line in found.report().splitlines()]
    assert [line for line in lines if line.startswith("pre-search")] == [
        "pre-search: Σr² at 256 Sobol' points over m in [0, 100] (x's range: a location in x), "
        "w in [0, 79.88] (the start's side of 0: the model is even in w); A, B by linear least "
        "squares at each point (the model is linear in them)"]
    assert all(line.endswith("guessed)") for line in lines if line[:2] in ("A ", "m ", "w ", "B "))
    assert json.loads(found.to_json())["data"]["notes"][-1].startswith(
        "starts guessed from the data (guess=True): A = ")
    # A library lineshape is guessed by its shape; a named p0 stands; a p0 for every
    # parameter leaves nothing to guess.
    shaped = jitfit.compile("gaussian(x, A, c, s) + B").fit(x, y, guess=True)
    np.testing.assert_allclose(shaped.values, [8.0 * 6.0 * np.sqrt(2 * np.pi), 55.0, 6.0, 0.3], rtol=1e-8)
    assert not any(line.strip().startswith("pre-search") for line in shaped.report().splitlines())
    named = jitfit.fit(model, x, y, p0={"m": 50.0}, guess=True)
    starts = {line.split()[0]: line.split("(init = ")[1] for line in named.report().splitlines()
              if "(init = " in line}
    assert starts["m"] == "50)" and all(starts[n].endswith(", guessed)") for n in ("A", "w", "B"))
    # The pre-search's points move with the seed, as `jitfit fit --seed`; a seed without
    # guess=True seeds nothing and is refused.
    seeded = jitfit.fit(model, x, y, guess=True, seed=7)
    np.testing.assert_allclose(seeded.values, [8.0, 55.0, 6.0, 0.3], rtol=1e-8)
    # The report says which design was searched (the default seed 0 is not mentioned).
    assert [line.strip() for line in seeded.report().splitlines() if line.strip().startswith("pre-search")] == [
        "pre-search: Σr² at 256 Sobol' (seed 7) points over m in [0, 100] (x's range: a location in x), "
        "w in [0, 79.88] (the start's side of 0: the model is even in w); A, B by linear least "
        "squares at each point (the model is linear in them)"]
    with pytest.raises(ValueError) as refused:
        jitfit.fit(model, x, y, seed=7)
    assert str(refused.value) == "seed: only guess=True's pre-search has a seed; pass guess=True too"
    with pytest.raises(ValueError) as negative:
        jitfit.fit(model, x, y, guess=True, seed=-1)
    assert str(negative.value) == "seed: expected an integer ≥ 0, got -1"
    given = jitfit.fit(model, x, y, p0=[8, 55, 6, 0.3], guess=True)
    assert "guessed)" not in given.report()
    assert json.loads(given.to_json())["data"]["notes"] == [
        "guess=True: every parameter has a start already (p0, fix); nothing guessed"]
