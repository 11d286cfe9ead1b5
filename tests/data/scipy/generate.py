"""Reference results of scipy.optimize.least_squares(method="trf") for tests/scipy.rs.

Run from the repository root:  python3 tests/data/scipy/generate.py
It rewrites tests/data/scipy/reference.json. The tests read the stored numbers; no Python is
needed at test time. Data are generated deterministically (fixed seed) and stored too.
"""
import json

import numpy as np
import scipy
from scipy.optimize import least_squares

rng = np.random.default_rng(20261124)


def problem(name, model, x, y, p0, f, jac, lower=None, upper=None, loss="linear", f_scale=1.0):
    n = len(p0)
    lower = [-np.inf] * n if lower is None else lower
    upper = [np.inf] * n if upper is None else upper
    res = least_squares(
        lambda p: f(p, x) - y,
        p0,
        jac=lambda p: jac(p, x),
        bounds=(lower, upper),
        method="trf",
        loss=loss,
        f_scale=f_scale,
        x_scale="jac",
        ftol=1e-15,
        xtol=1e-15,
        gtol=1e-15,
        max_nfev=100000,
    )
    finite = lambda v: [float(t) if np.isfinite(t) else (1e308 if t > 0 else -1e308) for t in v]
    return {
        "name": name,
        "model": model,
        "x": list(map(float, x)),
        "y": list(map(float, y)),
        "p0": list(map(float, p0)),
        "lower": finite(lower),
        "upper": finite(upper),
        "loss": loss,
        "f_scale": f_scale,
        "solution": list(map(float, res.x)),
        "cost": float(res.cost),
        "status": int(res.status),
        "active_mask": list(map(int, res.active_mask)),
    }


def exp_f(p, x):
    return p[0] * np.exp(-p[1] * x) + p[2]


def exp_j(p, x):
    e = np.exp(-p[1] * x)
    return np.column_stack([e, -p[0] * x * e, np.ones_like(x)])


def line_f(p, x):
    return p[0] * x + p[1]


def line_j(p, x):
    return np.column_stack([x, np.ones_like(x)])


def gauss_f(p, x):
    return p[0] * np.exp(-((x - p[1]) ** 2) / (2 * p[2] ** 2))


def gauss_j(p, x):
    g = np.exp(-((x - p[1]) ** 2) / (2 * p[2] ** 2))
    return np.column_stack([g, p[0] * g * (x - p[1]) / p[2] ** 2, p[0] * g * (x - p[1]) ** 2 / p[2] ** 3])


def sine_f(p, x):
    return p[0] * np.sin(p[1] * x) + p[2]


def sine_j(p, x):
    return np.column_stack([np.sin(p[1] * x), p[0] * x * np.cos(p[1] * x), np.ones_like(x)])


x = np.linspace(0, 10, 60)
y_exp = exp_f([3.0, 0.7, 0.5], x) + 0.02 * rng.standard_normal(x.size)
y_line = line_f([2.0, 1.0], x) + 0.05 * rng.standard_normal(x.size)
y_line[[5, 17, 33, 41, 50]] += np.array([30.0, -25.0, 40.0, 20.0, -35.0])
y_exp_out = y_exp.copy()
y_exp_out[[3, 20, 45]] += np.array([2.0, -1.5, 1.0])
y_gauss = gauss_f([5.0, 4.0, 1.3], x) + 0.05 * rng.standard_normal(x.size)
y_gauss[[10, 30, 52]] += np.array([3.0, -4.0, 2.5])
y_sine = sine_f([1.5, 1.2, 0.3], x) + 0.05 * rng.standard_normal(x.size)
y_sine[[7, 29]] += np.array([2.0, -2.0])

problems = [
    problem("exp_bound_active", "a*exp(-b*x) + c", x, y_exp, [1.0, 1.0, 0.0], exp_f, exp_j,
            lower=[-np.inf, 0.0, -1.0], upper=[np.inf, 5.0, 0.3]),
    problem("exp_bounded_inactive", "a*exp(-b*x) + c", x, y_exp, [1.0, 1.0, 0.0], exp_f, exp_j,
            lower=[0.0, 0.0, -1.0], upper=[10.0, 5.0, 1.0]),
    problem("line_soft_l1", "a*x + b", x, y_line, [1.0, 0.0], line_f, line_j, loss="soft_l1", f_scale=0.1),
    problem("exp_huber", "a*exp(-b*x) + c", x, y_exp_out, [1.0, 1.0, 0.0], exp_f, exp_j, loss="huber", f_scale=0.05),
    problem("gauss_cauchy_bounded", "A*exp(-(x-mu)^2/(2*s^2))", x, y_gauss, [3.0, 5.0, 2.0], gauss_f, gauss_j,
            lower=[0.0, 0.0, 0.1], upper=[20.0, 10.0, 10.0], loss="cauchy", f_scale=0.2),
    problem("sine_arctan", "a*sin(b*x) + c", x, y_sine, [1.0, 1.15, 0.0], sine_f, sine_j, loss="arctan", f_scale=0.3),
    problem("line_huber_bounded", "a*x + b", x, y_line, [1.0, 2.0], line_f, line_j,
            lower=[0.0, 1.5], upper=[3.0, 5.0], loss="huber", f_scale=0.2),
]

with open("tests/data/scipy/reference.json", "w") as out:
    json.dump({"scipy_version": scipy.__version__, "numpy_version": np.__version__, "problems": problems}, out, indent=1)
print(f"wrote {len(problems)} problems (scipy {scipy.__version__})")
