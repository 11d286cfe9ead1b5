"""jitfit: fit string-defined models to data, fast.

    >>> import numpy as np, jitfit
    >>> x = np.linspace(0, 4, 50)
    >>> popt, pcov = jitfit.curve_fit("a*exp(-b*x) + c", x, 2.5 * np.exp(-1.3 * x) + 0.5, p0=[1, 1, 0])

`curve_fit` keeps scipy.optimize.curve_fit's semantics (sigma, absolute_sigma, bounds, method)
with the model as text instead of a Python function: the Jacobian is exact, the model is compiled.

`fit` takes the same arguments and returns the whole fit as a `FitResult`: values, standard
errors (inf where undetermined, as scipy's pcov), covariance, lmfit's statistics (chisqr, redchi, aic, bic,
rsquared), success/status/message, `report()` (the report `jitfit fit` prints) and `to_json()`;
it returns a fit that did not converge too (`success` False) where `curve_fit` raises.
`fit(..., guess=True)` starts the parameters without p0 from the data, as `jitfit fit --guess`:
the library's lineshapes (`gaussian(x, A, c, s)`, `exponential`, steps, …) by their shapes, any
other parameter by a pre-search (no fits; a peak's centre over x's range, amplitudes and offsets
by linear least squares); the report marks them "guessed" and says how. `seed=` (default 0)
moves the pre-search's points, as `--seed`; without guess=True it is refused.
`result.eval(x)`, `result.eval_uncertainty(x, sigma=1)` (lmfit's) and `result.bands(x, level,
sigma)` give the curve and its confidence and prediction bands at any points.
`compile(model, variables=None)` compiles once for many fits: `compile("a*exp(-b*t) + c",
variables=["t"]).fit(t, y)`.

Any column may be the path of a 1-D float64 `.npy` file instead of an array: it is
memory-mapped, not read into Python (`jitfit.fit(model, "x.npy", "y.npy")`).

`fit_many` fits one model to every row of a 2-D ydata in parallel (the exact solver per fit, or
the compact Levenberg–Marquardt of Gpufit), returning popt, perr, chi2 and a status per fit.
"""
from ._jitfit import FitResult, Model, compile, curve_fit, fit, fit_many, parameters

__all__ = ["FitResult", "Model", "compile", "curve_fit", "fit", "fit_many", "parameters"]
