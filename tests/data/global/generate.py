"""Reference for global fits (tests/global.rs), computed by lmfit's documented recipe (one
Parameters object, a residual over every set concatenated; lmfit's
examples/example_fit_multi_datasets.py).

Run from the repository root (numpy, scipy, lmfit):
    python3 tests/data/global/generate.py
It rewrites tests/data/global/reference.json (data included, fixed seed).

Six sets of y = A_k·exp(−t/tau) + B_k (25 points each) sharing tau, the third set with
σ = 0.05 per point and the others with σ = 0.03 (weights 1/σ); lmfit's leastsq with
tolerances 1e-15 and the analytic Jacobian (lmfit's finite differences would cost the
standard errors their sixth digit), its standard errors (scaled by χ²/dof, lmfit's default), χ² and the
per-set values.
"""
import json

import lmfit
import numpy as np

rng = np.random.default_rng(20261203)
t = np.linspace(0, 10, 25)
sets = 6
truth = [(rng.uniform(1, 4), rng.uniform(0, 1)) for _ in range(sets)]
sigma = [0.05 if k == 2 else 0.03 for k in range(sets)]
ys = [a * np.exp(-t / 2.5) + b + rng.normal(0, s, t.size) for (a, b), s in zip(truth, sigma)]

params = lmfit.Parameters()
params.add("tau", value=1.0)
for k in range(sets):
    params.add(f"A_{k + 1}", value=1.0)
    params.add(f"B_{k + 1}", value=1.0)


def residual(p):
    out = []
    for k, y in enumerate(ys):
        f = p[f"A_{k + 1}"] * np.exp(-t / p["tau"]) + p[f"B_{k + 1}"]
        out.append((f - y) / sigma[k])
    return np.concatenate(out)


def jacobian(p):
    # Rows: every set's residuals in turn; columns: tau, A_1, B_1, A_2, B_2, … (lmfit's order).
    jac = np.zeros((sets * t.size, 1 + 2 * sets))
    for k in range(sets):
        rows = slice(k * t.size, (k + 1) * t.size)
        e = np.exp(-t / p["tau"])
        jac[rows, 0] = p[f"A_{k + 1}"] * e * t / p["tau"] ** 2 / sigma[k]
        jac[rows, 1 + 2 * k] = e / sigma[k]
        jac[rows, 2 + 2 * k] = 1 / sigma[k]
    return jac


result = lmfit.minimize(
    residual, params, method="leastsq", Dfun=jacobian, ftol=1e-15, xtol=1e-15, gtol=1e-15, max_nfev=100000
)
values = {name: p.value for name, p in result.params.items()}
errors = {name: p.stderr for name, p in result.params.items()}
with open("tests/data/global/reference.json", "w") as out:
    json.dump(
        {
            "t": t.tolist(),
            "ys": [y.tolist() for y in ys],
            "sigma": sigma,
            "values": values,
            "std_errors": errors,
            "chi2": result.chisqr,
            "redchi": result.redchi,
            "aic": result.aic,
            "bic": result.bic,
            "nfree": result.nvarys,
        },
        out,
        indent=1,
    )
    out.write("\n")
print(result.chisqr, values["tau"], errors["tau"])
