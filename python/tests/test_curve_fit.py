"""jitfit.curve_fit against scipy.optimize.curve_fit, computed here in the same process.

Run:  pip install maturin pytest numpy scipy && maturin build --release -o dist && pip install dist/*.whl
      pytest python/tests     (what .ci/run does)
"""
import json
import pathlib
import threading

import numpy as np
import pytest
from scipy.optimize import curve_fit as scipy_curve_fit

import jitfit

CORPUS = pathlib.Path(__file__).resolve().parents[2] / "tests" / "data" / "scipy" / "reference.json"

FUNCTIONS = {
    "a*exp(-b*x) + c": lambda x, a, b, c: a * np.exp(-b * x) + c,
    "a*x + b": lambda x, a, b: a * x + b,
    "A*exp(-(x-mu)^2/(2*s^2))": lambda x, A, mu, s: A * np.exp(-((x - mu) ** 2) / (2 * s**2)),
    "a*sin(b*x) + c": lambda x, a, b, c: a * np.sin(b * x) + c,
}
TIGHT = dict(ftol=1e-14, xtol=1e-14, gtol=1e-14, max_nfev=2000)


def scipy_fit(model, x, y, **kw):
    kw = dict(kw)
    if kw.get("method") is None and "bounds" not in kw and kw.get("loss", "linear") == "linear":
        kw["method"] = "lm"
        kw.update(ftol=1e-14, xtol=1e-14, gtol=0.0, maxfev=2000)
    else:
        kw["method"] = "trf"
        kw.update(TIGHT)
    return scipy_curve_fit(FUNCTIONS[model], x, y, **kw)


def agree(ours, theirs, rtol_popt=1e-8, rtol_pcov=1e-6):
    (p, c), (sp, sc) = ours, theirs
    np.testing.assert_allclose(p, sp, rtol=rtol_popt, atol=1e-12)
    np.testing.assert_allclose(c, sc, rtol=rtol_pcov, atol=1e-14 * np.abs(sc).max())


def corpus():
    return json.loads(CORPUS.read_text())["problems"]


@pytest.mark.parametrize("problem", corpus(), ids=lambda p: p["name"])
def test_the_scipy_corpus(problem):
    """The committed least_squares(method="trf", ftol=xtol=1e-15) solutions (bounds and robust
    losses; tests/data/scipy/generate.py), as the Rust tests compare them (tests/scipy.rs)."""
    x, y = np.array(problem["x"]), np.array(problem["y"])
    # The file writes ±inf as ±1e308 (JSON has no infinity).
    lower = [-np.inf if v <= -1e308 else v for v in problem["lower"]]
    upper = [np.inf if v >= 1e308 else v for v in problem["upper"]]
    kw = dict(p0=problem["p0"], bounds=(lower, upper), loss=problem["loss"], f_scale=problem["f_scale"])
    popt, pcov = jitfit.curve_fit(problem["model"], x, y, **kw)
    theirs = np.array(problem["solution"])
    assert np.all(np.abs(popt - theirs) / np.maximum(np.abs(theirs), 1e-3) < 1e-7), (popt, theirs)
    assert pcov.shape == (len(popt), len(popt))


@pytest.mark.parametrize("absolute_sigma", [False, True])
def test_sigma_semantics(absolute_sigma):
    rng = np.random.default_rng(3)
    x = np.linspace(0, 5, 80)
    sigma = 0.02 * (1 + (np.arange(80) % 3))
    y = 2.5 * np.exp(-1.3 * x) + 0.5 + sigma * rng.standard_normal(80)
    kw = dict(p0=[1, 1, 0], sigma=sigma, absolute_sigma=absolute_sigma)
    agree(jitfit.curve_fit("a*exp(-b*x) + c", x, y, **kw), scipy_fit("a*exp(-b*x) + c", x, y, **kw))


def test_two_variables_from_a_dict():
    rng = np.random.default_rng(5)
    u, v = rng.uniform(-2, 2, 200), rng.uniform(-2, 2, 200)
    z = 3 * np.exp(-((u - 0.3) ** 2 + (v + 0.2) ** 2) / 2) + 0.01 * rng.standard_normal(200)
    popt, pcov = jitfit.curve_fit("A*exp(-((u-u0)^2 + (v-v0)^2)/2)", {"u": u, "v": v}, z, p0=[1, 0, 0])

    def f(xy, A, u0, v0):
        return A * np.exp(-((xy[0] - u0) ** 2 + (xy[1] - v0) ** 2) / 2)

    sp, sc = scipy_curve_fit(f, np.vstack([u, v]), z, p0=[1, 0, 0], method="lm", ftol=1e-15, xtol=1e-15, gtol=0.0)
    agree((popt, pcov), (sp, sc))
    assert jitfit.parameters("A*exp(-((u-u0)^2 + (v-v0)^2)/2)", ["u", "v"]) == ["A", "u0", "v0"]


def test_dtypes_and_layouts_are_read_as_float64():
    x = np.linspace(0, 4, 101)
    y = 2.5 * np.exp(-1.3 * x) + 0.5
    reference = jitfit.curve_fit("a*exp(-b*x) + c", x, y, p0=[1, 1, 0])
    wide = np.linspace(0, 4, 201)[::2]  # a strided view of the same values
    for xs, ys in [(list(x), list(y)), (wide, y), (x, y.astype(np.longdouble))]:
        popt, pcov = jitfit.curve_fit("a*exp(-b*x) + c", xs, ys, p0=(1, 1, 0))
        np.testing.assert_array_equal(popt, reference[0])
        np.testing.assert_array_equal(pcov, reference[1])
    # float32 data are other numbers: converted once, then fitted like any.
    popt, _ = jitfit.curve_fit("a*exp(-b*x) + c", x.astype(np.float32), y.astype(np.float32), p0=[1, 1, 0])
    np.testing.assert_allclose(popt, [2.5, 1.3, 0.5], rtol=1e-5)
    # p0 as a list is read as numpy reads it, whatever its numbers (ints, bools, numpy
    # scalars); what numpy refuses is refused with numpy's reason (its words vary by version).
    for p0 in [[1.0, True, 0], (np.float32(1), np.int64(1), 0.0)]:
        np.testing.assert_array_equal(jitfit.curve_fit("a*exp(-b*x) + c", x, y, p0=p0)[0], reference[0])
    for p0, reason in [([1, 10**400, 0], "OverflowError"), ([np.array([1.0, 2.0]), 1, 0], "ValueError")]:
        with pytest.raises(ValueError) as refused:
            jitfit.curve_fit("a*exp(-b*x) + c", x, y, p0=p0)
        assert str(refused.value).startswith(f"p0: not an array of numbers ({reason}: "), str(refused.value)


def test_without_p0_the_start_is_scipys():
    # scipy starts a bounded parameter without p0 in the middle of its bounds (even when 1 is
    # inside them), one inside a lone bound, else at 1: jitfit.curve_fit does the same, so a
    # fit whose minimum depends on the start lands where scipy's does, and bounds that
    # exclude 1 are not refused.
    x = np.linspace(0, 1, 20)
    y = 3 * x + 2.5
    for bounds in [(2, 5), (0, 5), ([0, 3], [np.inf, 4]), ([-np.inf, 3], [np.inf, np.inf]), ([-np.inf, -np.inf], [5, 9])]:
        popt, _ = jitfit.curve_fit("a*x + b", x, y, bounds=bounds)
        sp, _ = scipy_fit("a*x + b", x, y, bounds=bounds)
        np.testing.assert_allclose(popt, sp, rtol=1e-9, atol=1e-12)
    x = np.linspace(0, 10, 200)
    y = 2 * np.sin(3.7 * x) + 0.01 * np.cos(17 * x)
    bounds = ([0, 0.5, -1], [5, 6, 1])  # scipy starts at (2.5, 3.25, 0), not (1, 1, 0)
    popt, _ = jitfit.curve_fit("a*sin(b*x) + c", x, y, bounds=bounds)
    sp, _ = scipy_fit("a*sin(b*x) + c", x, y, bounds=bounds)
    np.testing.assert_allclose(popt, sp, rtol=1e-6)
    np.testing.assert_allclose(popt[:2], [2, 3.7], rtol=1e-3)
    # Named bounds count too.
    popt, _ = jitfit.curve_fit("a*sin(b*x) + c", x, y, bounds={"b": (0.5, 6)})
    sp, _ = scipy_fit("a*sin(b*x) + c", x, y, bounds=([-np.inf, 0.5, -np.inf], [np.inf, 6, np.inf]))
    np.testing.assert_allclose(popt, sp, rtol=1e-6, atol=1e-6)  # the same local minimum, from (1, 3.25, 1)


def test_errors_raise_value_error_with_the_message():
    x = np.linspace(0, 1, 10)
    with pytest.raises(ValueError) as e:
        jitfit.curve_fit("a*exp(-b*x + c", x, x)
    assert str(e.value) == (
        "error: unexpected end of input, expected an operator or `)`\n"
        "  |\n"
        "1 | a*exp(-b*x + c\n"
        "  |               ^"
    )
    with pytest.raises(ValueError, match=r"p0: 2 values for 3 parameters \['a', 'b', 'c'\]"):
        jitfit.curve_fit("a*exp(-b*x) + c", x, x, p0=[1, 2])
    with pytest.raises(ValueError, match="loss: `l2` is not one of"):
        jitfit.curve_fit("a*x + b", x, x, loss="l2")
    with pytest.raises(ValueError, match=r"xdata: expected a 1-D array .* got shape \[2, 5\]"):
        jitfit.curve_fit("a*x + b", x.reshape(2, 5), x)
    with pytest.raises(ValueError, match="y holds a non-finite value"):
        jitfit.curve_fit("a*x + b", x, np.where(x > 0.5, np.nan, x))


def test_a_fit_that_does_not_converge_raises_as_scipy():
    x = np.linspace(0, 4, 50)
    y = 2.5 * np.exp(-1.3 * x) + 0.5
    with pytest.raises(RuntimeError, match=r"^Optimal parameters not found: The maximum number of function evaluations is exceeded\. \(status 0\)$"):
        jitfit.curve_fit("a*exp(-b*x) + c", x, y, p0=[1, 1, 0], max_nfev=2)


def test_threads_fit_at_once():
    x = np.linspace(0, 4, 2000)
    ys = [k * np.exp(-1.3 * x) + 0.5 for k in range(1, 9)]
    alone = [jitfit.curve_fit("a*exp(-b*x) + c", x, y, p0=[1, 1, 0])[0] for y in ys]
    results = [None] * len(ys)

    def work(k):
        results[k] = jitfit.curve_fit("a*exp(-b*x) + c", x, ys[k], p0=[1, 1, 0])[0]

    threads = [threading.Thread(target=work, args=(k,)) for k in range(len(ys))]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    for a, b in zip(alone, results):
        np.testing.assert_array_equal(a, b)
