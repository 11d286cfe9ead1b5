"""jitfit.fit_many: every row's fit equals curve_fit's on that row (the exact solver) and
scipy's to its tolerance; the compact solver agrees; shapes, statuses and refusals."""
import numpy as np
import pytest
from scipy.optimize import curve_fit as scipy_curve_fit

import jitfit

MODEL = "a*exp(-b*x) + c"


def decays(fits=40, points=25, seed=3):
    rng = np.random.default_rng(seed)
    x = np.linspace(0, 6, points)
    truth = np.column_stack([rng.uniform(1, 5, fits), rng.uniform(0.3, 1.5, fits), rng.uniform(-0.5, 0.5, fits)])
    y = truth[:, :1] * np.exp(-truth[:, 1:2] * x) + truth[:, 2:] + 0.01 * rng.standard_normal((fits, points))
    return x, y, truth


def test_exact_rows_are_curve_fits_and_match_scipy():
    x, y, _ = decays()
    popt, perr, chi2, status = jitfit.fit_many(MODEL, x, y, p0=[2, 1, 0])
    assert popt.shape == (40, 3) and perr.shape == (40, 3) and chi2.shape == (40,) and len(status) == 40
    assert status == ["converged"] * 40
    for k in range(40):
        p, c = jitfit.curve_fit(MODEL, x, y[k], p0=[2, 1, 0])
        np.testing.assert_array_equal(popt[k], p)  # the same solver: the same bits
        np.testing.assert_array_equal(perr[k], np.sqrt(np.diag(c)))
        # scipy with the exact Jacobian too (its finite differences move pcov by ~2e-6 from one
        # scipy/numpy release to another).
        sp, sc = scipy_curve_fit(lambda x, a, b, c: a * np.exp(-b * x) + c, x, y[k], p0=[2, 1, 0],
                                 jac=lambda x, a, b, c: np.stack([np.exp(-b * x), -a * x * np.exp(-b * x),
                                                                  np.ones_like(x)], axis=1),
                                 method="lm", ftol=1e-14, xtol=1e-14, gtol=0.0, maxfev=2000)
        # To 1e-8, or 1e-6 of a standard error for a value near 0 (c).
        assert np.all(np.abs(popt[k] - sp) <= 1e-8 * np.abs(sp) + 1e-6 * perr[k]), (popt[k], sp)
        np.testing.assert_allclose(perr[k], np.sqrt(np.diag(sc)), rtol=1e-8)
        np.testing.assert_allclose(chi2[k], np.sum((sp[0] * np.exp(-sp[1] * x) + sp[2] - y[k]) ** 2), rtol=1e-9)


def test_compact_agrees_with_exact():
    x, y, _ = decays()
    exact = jitfit.fit_many(MODEL, x, y, p0=[2, 1, 0])
    compact = jitfit.fit_many(MODEL, x, y, p0=[2, 1, 0], solver="compact")
    assert compact[3] == ["converged"] * 40
    np.testing.assert_allclose(compact[0], exact[0], rtol=1e-6)
    np.testing.assert_allclose(compact[1], exact[1], rtol=1e-4)


def test_per_fit_x_sigma_starts_bounds_and_several_variables():
    x, y, truth = decays(fits=6)
    xs = np.tile(x, (6, 1))
    sigma = np.full_like(y, 0.01)
    p0 = truth * 1.1
    popt, perr, _, status = jitfit.fit_many(MODEL, xs, y, p0=p0, sigma=sigma, absolute_sigma=True,
                                            bounds=([0, 0, -1], [10, 5, 1]))
    assert status == ["converged"] * 6
    for k in range(6):
        p, c = jitfit.curve_fit(MODEL, x, y[k], p0=p0[k], sigma=sigma[k], absolute_sigma=True,
                                bounds=([0, 0, -1], [10, 5, 1]))
        np.testing.assert_array_equal(popt[k], p)
        np.testing.assert_array_equal(perr[k], np.sqrt(np.diag(c)))
    u, v = np.meshgrid(np.linspace(-2, 2, 5), np.linspace(-2, 2, 5))
    u, v = u.ravel(), v.ravel()
    z = np.array([3 * np.exp(-((u - m) ** 2 + v**2) / 2) for m in (-0.3, 0.0, 0.4)])
    for solver in ("exact", "compact"):
        popt, _, _, status = jitfit.fit_many("A*exp(-((u-m)^2 + v^2)/2)", {"u": u, "v": v}, z, p0=[1, 0],
                                             solver=solver)
        assert status == ["converged"] * 3
        np.testing.assert_allclose(popt[:, 1], [-0.3, 0.0, 0.4], atol=1e-8)


def test_statuses_say_why_a_fit_did_not_converge_or_run():
    x, y, _ = decays(fits=3)
    y[1, 4] = np.nan
    popt, _, _, status = jitfit.fit_many(MODEL, x, y, p0=[2, 1, 0])
    assert status[0] == status[2] == "converged"
    assert status[1].startswith("error: ") and np.isnan(popt[1]).all()
    _, _, _, status = jitfit.fit_many(MODEL, x, y, p0=[2, 1, 0], solver="compact")
    assert status == ["converged", "not_finite", "converged"]
    _, _, _, status = jitfit.fit_many(MODEL, x, y[[0]], p0=[2, 1, 0], max_nfev=2)
    assert status[0].startswith("not converged: ")


def test_refusals():
    x, y, _ = decays(fits=2)
    with pytest.raises(ValueError, match=r"ydata: expected a 2-D array"):
        jitfit.fit_many(MODEL, x, y[0])
    with pytest.raises(ValueError, match=r"xdata: expected shape \(25,\) or \(2, 25\)"):
        jitfit.fit_many(MODEL, x[:10], y)
    with pytest.raises(ValueError, match=r"p0: expected shape \(3,\) or \(2, 3\)"):
        jitfit.fit_many(MODEL, x, y, p0=[1, 1])
    with pytest.raises(ValueError, match="solver: `gpu` is not one of"):
        jitfit.fit_many(MODEL, x, y, solver="gpu")
    with pytest.raises(ValueError, match="max_iterations is the compact solver's"):
        jitfit.fit_many(MODEL, x, y, max_iterations=5)
    with pytest.raises(ValueError, match="max_nfev is the exact solver's"):
        jitfit.fit_many(MODEL, x, y, solver="compact", max_nfev=5)
    for solver in ("exact", "compact"):
        with pytest.raises(ValueError, match="sigma: every value must be positive and finite, found 0"):
            jitfit.fit_many(MODEL, x, y, sigma=np.where(x > 3, 0.0, 0.1), solver=solver)
    with pytest.raises(ValueError, match="xdata: the dict names no variable"):
        jitfit.fit_many(MODEL, {}, y)


def test_without_p0_every_fit_starts_as_a_single_fit_would():
    x, y, _ = decays(fits=4)
    bounds = ([0, 0, -1], [10, 5, 0.9])  # c's bounds exclude 1: c starts at their midpoint
    for solver in ("exact", "compact"):
        popt, _, _, status = jitfit.fit_many(MODEL, x, y, bounds=bounds, solver=solver)
        assert status == ["converged"] * 4, status
    popt, _, _, _ = jitfit.fit_many(MODEL, x, y, bounds=bounds)
    for k in range(4):
        p, _ = jitfit.curve_fit(MODEL, x, y[k], p0=[1, 1, 0.5 * -1 + 0.5 * 0.9], bounds=bounds)
        np.testing.assert_array_equal(popt[k], p)
