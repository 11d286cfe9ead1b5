"""Reference values of the model library (src/syntax/library.rs) for tests/library.rs.

Run from the repository root (numpy, scipy, lmfit):
    python3 tests/data/library/generate.py
Each function is evaluated by lmfit.lineshapes where lmfit has it (same name and parameter
order as jitfit's), else by the numpy formula written here, at fixed arguments.
"""
import json

import lmfit
import numpy as np
from lmfit import lineshapes as ls
from scipy.special import digamma, erfcx, voigt_profile
from scipy.stats import exponnorm

x = np.array([-2.5, -0.7, 0.0, 0.3, 1.1, 2.0, 4.5])
xp = np.array([0.05, 0.3, 1.0, 2.2, 7.5])  # positive x, for power laws and the Hill curve

cases = []


def add(name, args, xs, values, source, y=None):
    case = {"name": name, "args": args, "x": xs.tolist(), "values": np.asarray(values, float).tolist(), "source": source}
    if y is not None:
        case["y"] = y.tolist()
    cases.append(case)


add("gaussian", [2.0, 0.3, 0.8], x, ls.gaussian(x, 2.0, 0.3, 0.8), "lmfit")
add("lorentzian", [2.0, 0.3, 0.8], x, ls.lorentzian(x, 2.0, 0.3, 0.8), "lmfit")
add("pseudo_voigt", [2.0, 0.3, 0.8, 0.35], x, ls.pvoigt(x, 2.0, 0.3, 0.8, 0.35), "lmfit pvoigt")
y = np.array([0.4, -1.0, 0.2, 2.0, -0.3, 0.0, 1.5])
add("gaussian2d", [3.0, 0.2, -0.1, 0.9, 1.4], x, ls.gaussian2d(x, y, 3.0, 0.2, -0.1, 0.9, 1.4), "lmfit", y=y)
add("damped_oscillator", [1.5, 1.2, 0.1], x, ls.damped_oscillator(x, 1.5, 1.2, 0.1), "lmfit")
add("exponential", [3.0, 1.7], x, ls.exponential(x, 3.0, 1.7), "lmfit")
add("stretched_exponential", [3.0, 1.7, 0.6], xp, 3.0 * np.exp(-(xp / 1.7) ** 0.6), "numpy")
add("powerlaw", [2.0, -1.3], xp, ls.powerlaw(xp, 2.0, -1.3), "lmfit")
add("linear", [0.7, -0.2], x, ls.linear(x, 0.7, -0.2), "lmfit")
add("quadratic", [0.5, -0.3, 1.1], x, ls.parabolic(x, 0.5, -0.3, 1.1), "lmfit parabolic")
add("step_erf", [2.0, 0.3, 0.8], x, ls.step(x, 2.0, 0.3, 0.8, form="erf"), "lmfit")
add("step_logistic", [2.0, 0.3, 0.8], x, ls.step(x, 2.0, 0.3, 0.8, form="logistic"), "lmfit")
add("step_atan", [2.0, 0.3, 0.8], x, ls.step(x, 2.0, 0.3, 0.8, form="atan"), "lmfit")
add("hill", [0.1, 2.0, 1.3, 1.8], xp, 0.1 + (2.0 - 0.1) / (1 + (1.3 / xp) ** 1.8), "numpy")
add("michaelis_menten", [200.0, 0.06], xp, 200.0 * xp / (0.06 + xp), "numpy")
add("sine", [1.5, 2.2, 0.4], x, ls.sine(x, 1.5, 2.2, 0.4), "lmfit")
for degree in range(2, 8):
    c = [1.5, -0.7, 0.3, 0.11, -0.5, 0.2, -0.4, 1.0][: degree + 1]  # (not tiny: the test's central differences)
    add(f"polynomial{degree}", c, x, np.polynomial.polynomial.polyval(x, c), "numpy polyval (lmfit PolynomialModel)")
add("voigt", [2.0, 0.3, 0.8, 0.35], x, ls.voigt(x, 2.0, 0.3, 0.8, 0.35), "lmfit")
add("pearson7", [2.0, 0.3, 0.8, 1.7], x, ls.pearson7(x, 2.0, 0.3, 0.8, 1.7), "lmfit")
add("pearson7", [2.0, 0.3, 0.8, 0.62], x, ls.pearson7(x, 2.0, 0.3, 0.8, 0.62), "lmfit")
add("pearson7", [2.0, 0.3, 0.8, 40.0], x, ls.pearson7(x, 2.0, 0.3, 0.8, 40.0), "lmfit")
xv = np.array([-400.0, -30.0, -2.5, 0.3, 1.1, 60.0, 1e4])  # tails: a Voigt's are Lorentzian
add("voigt", [2.0, 0.3, 0.8, 0.35], xv, 2.0 * voigt_profile(xv - 0.3, 0.8, 0.35), "scipy voigt_profile")
xe = np.array([-20.0, -3.0, -0.5, 0.0, 0.7, 5.0, 26.0, 1e3])
add("erfcx", [1.0], xe, erfcx(xe), "scipy erfcx (a function of x alone: tested as p0·erfcx(x), p0 = 1)")
xd = np.array([-7.3, -2.5, -0.7, 0.3, 1.0, 2.0, 4.5, 40.0])  # (not its zero 1.4616: relative)
add("digamma", [1.0], xd, digamma(xd), "scipy digamma (tested as p0·digamma(x), p0 = 1)")
add("expgaussian", [2.0, 0.3, 0.8, 1.6], x, ls.expgaussian(x, 2.0, 0.3, 0.8, 1.6), "lmfit")
# Far into both tails (lmfit's own form overflows to nan there): scipy's exponnorm, K = 1/(σγ).
xt = np.array([-60.0, -12.0, 0.3, 9.0, 45.0, 300.0])
add("expgaussian", [2.0, 0.3, 0.8, 1.6], xt, 2.0 * exponnorm.pdf(xt, 1 / (0.8 * 1.6), loc=0.3, scale=0.8), "scipy exponnorm")
yr = np.array([0.4, -1.0, 0.2, 2.0, -0.3, 0.0, 1.5])
xr, yr2 = x - 0.2, yr + 0.1
th = 0.6
up = (xr) * np.cos(th) + (yr2) * np.sin(th)
vp = (yr2) * np.cos(th) - (xr) * np.sin(th)
add("gaussian2d_rotated", [3.0, 0.2, -0.1, 0.9, 1.4, 0.6], x,
    3.0 / (2 * np.pi * 0.9 * 1.4) * np.exp(-up**2 / (2 * 0.9**2) - vp**2 / (2 * 1.4**2)), "numpy", y=yr)

with open("tests/data/library/reference.json", "w") as out:
    json.dump({"lmfit": lmfit.__version__, "numpy": np.__version__, "cases": cases}, out, indent=1)
    out.write("\n")
