"""Reference for σ that follows the fitted values (tests/reweighting.rs), computed by scipy.

Run from the repository root (numpy, scipy):
    python3 tests/data/reweighting/generate.py
It rewrites tests/data/reweighting/reference.json (data included, fixed seed).

A proportional error, sigma = 0.05 * f: iteratively reweighted least squares with curve_fit —
each round fits with sigma held at 0.05 * f(x; p_previous) (least_squares tolerances 1e-15),
until the parameters stop moving; the values and curve_fit's standard errors (relative sigma)
of the last round.
"""
import json

import numpy as np
from scipy.optimize import curve_fit

rng = np.random.default_rng(20261204)
x = np.linspace(0, 6, 50)
f = lambda x, a, b, c: a * np.exp(-b * x) + c
y = f(x, 5.0, 0.8, 0.3) * (1 + 0.05 * rng.normal(size=x.size))

p = np.array([1.0, 1.0, 1.0])
p, _ = curve_fit(f, x, y, p0=p, ftol=1e-15, xtol=1e-15, gtol=1e-15, method="trf")
for rounds in range(2, 100):
    sigma = 0.05 * f(x, *p)
    q, cov = curve_fit(f, x, y, p0=p, sigma=sigma, ftol=1e-15, xtol=1e-15, gtol=1e-15, method="trf")
    moved = np.max(np.abs(q - p) / np.abs(q))
    p = q
    if moved < 1e-13:
        break

with open("tests/data/reweighting/reference.json", "w") as out:
    json.dump({"x": x.tolist(), "y": y.tolist(), "sigma": "0.05*fitted", "values": p.tolist(),
               "std_errors": np.sqrt(np.diag(cov)).tolist(), "rounds": rounds}, out, indent=1)
    out.write("\n")
print(p, np.sqrt(np.diag(cov)), rounds)
