"""Reference values of ln|Γ| and the polygamma functions (src/ops/gamma.rs) for tests/math.rs.

Run from the repository root (numpy, scipy):
    python3 tests/data/gamma/generate.py
"""
import json

import numpy as np
import scipy
from scipy.special import gammaln, polygamma

rng = np.random.default_rng(20261203)
x = np.concatenate([
    [0.5, 1.0, 1.5, 2.0, 2.5, 3.7, 9.99, 10.0, 25.0, 171.5, 1e3, 1e6, 1e15, 1e100, 1e-3, 1e-8, 1e-300],
    rng.uniform(0.0, 12.0, 200),
    np.exp(rng.uniform(np.log(12.0), np.log(1e30), 100)),
    [-0.5, -1.5, -2.25, -7.9, -0.001, -33.3],
    -rng.uniform(0.0, 40.0, 100),
])


def finite(values):
    """JSON has no inf or nan: those are null (the test skips them)."""
    return [float(v) if np.isfinite(v) else None for v in values]


cases = {"lgamma": {"x": x.tolist(), "values": finite(gammaln(x))}}
for n in range(0, 5):
    cases[f"polygamma{n}"] = {"x": x.tolist(), "values": finite(polygamma(n, x))}
xn = np.array([0.3, 1.0, 2.5, 7.0, 40.0])
cases["polygamma12"] = {"x": xn.tolist(), "values": finite(polygamma(12, xn))}

with open("tests/data/gamma/reference.json", "w") as out:
    json.dump({"scipy": scipy.__version__, "numpy": np.__version__, "cases": cases}, out, indent=1)
    out.write("\n")
