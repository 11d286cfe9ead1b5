"""jitfit: fit string-defined models to data, fast.

    >>> import numpy as np, jitfit
    >>> x = np.linspace(0, 4, 50)
    >>> popt, pcov = jitfit.curve_fit("a*exp(-b*x) + c", x, 2.5 * np.exp(-1.3 * x) + 0.5, p0=[1, 1, 0])

`curve_fit` keeps scipy.optimize.curve_fit's semantics (sigma, absolute_sigma, bounds, method)
with the model as text instead of a Python function: the Jacobian is exact, the model is compiled.

`fit_many` fits one model to every row of a 2-D ydata in parallel (the exact solver per fit, or
the compact Levenberg–Marquardt of Gpufit), returning popt, perr, chi2 and a status per fit.
"""
from ._jitfit import curve_fit, fit_many, parameters

__all__ = ["curve_fit", "fit_many", "parameters"]
