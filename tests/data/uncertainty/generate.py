"""Reference intervals, bands and quantiles for tests/uncertainty.rs, computed by the peers.

Run from the repository root (numpy, scipy, lmfit, iminuit):
    python3 tests/data/uncertainty/generate.py
It rewrites tests/data/uncertainty/reference.json; the tests read the stored numbers, no Python
runs at test time. Data are generated with a fixed seed and stored in the JSON.

For each case:
- `lmfit`: lmfit's conf_interval (profile likelihood, F-test) where lmfit applies (σ estimated
  from the residuals); lmfit finds each end with brentq(rtol=5e-5), so it is compared loosely.
- `profile`: the same intervals from scipy alone, tightly: least_squares (tolerances 1e-15)
  refits with the parameter held, brentq (xtol 1e-14) on the threshold — Δχ² = z² where σ is
  known, χ²_min·(1 + t²/dof) where it is estimated, Δdeviance = z² for Poisson counts.
- `minos`: iminuit's MINOS where σ is known (absolute σ, Poisson): Minuit minimizes the same
  χ² (or deviance) with errordef 1 and MINOS finds each end where it has risen by the level's
  Δχ²; MINOS stops at its own tolerance (~1e-4 of the half-width), so it is compared to 1e-3.
- `mncontour`: iminuit's 2-parameter regions of p0, p1 (200 points) at 1σ and 95 %, likewise.
- `bands`: the delta-method confidence and prediction half-widths with curve_fit's covariance
  and the analytic Jacobian, at the 1σ level (Student t quantile with dof, or normal).
"""
import json

import iminuit
import lmfit
import numpy as np
import scipy
from scipy import stats
from scipy.optimize import brentq, curve_fit, least_squares

rng = np.random.default_rng(20261202)
LEVELS = [1.0, 2.0, 0.95]


def probability(level):
    return level if level < 1 else float(scipy.special.erf(level / np.sqrt(2)))


def tight_fit(resid, p0, lower, upper, jac="2-point"):
    res = least_squares(resid, p0, jac=jac, bounds=(lower, upper), x_scale="jac",
                        ftol=1e-15, xtol=1e-15, gtol=1e-15, max_nfev=100000)
    return res.x, float(np.sum(res.fun ** 2))


def profile(resid, best, chi2_min, se, k, threshold, lower, upper, direction):
    """The end of the interval of parameter k on one side: where the refitted χ² (or deviance)
    reaches chi2_min + threshold."""
    others = [j for j in range(len(best)) if j != k]

    def refit(t):
        def r(q):
            p = np.array(best, dtype=float)
            p[k] = t
            p[others] = q
            return resid(p)
        if not others:
            return float(np.sum(r(np.array([])) ** 2))
        lo = [lower[j] for j in others]
        hi = [upper[j] for j in others]
        return tight_fit(r, best[others], lo, hi)[1]

    g = lambda t: refit(t) - chi2_min - threshold
    step = se
    a = best[k]
    b = best[k] + direction * step
    while g(b) < 0:
        a, b = b, b + direction * step
        step *= 1.5
    return float(brentq(g, a, b, xtol=1e-14, rtol=1e-14))


def case(name, model, f, jac, x, y, p0, sigma=None, absolute=False, poisson=False, lmfit_ok=True):
    n = len(p0)
    lower, upper = [-np.inf] * n, [np.inf] * n
    w = np.ones_like(y) if sigma is None else 1.0 / sigma
    if poisson:
        def resid(p):
            fv = f(x, *p)
            with np.errstate(divide="ignore", invalid="ignore"):
                term = np.where(y > 0, y * np.log(y / fv), 0.0)
            return np.sign(fv - y) * np.sqrt(np.maximum(2 * (fv - y + term), 0.0))
    else:
        resid = lambda p: (f(x, *p) - y) * w
    best, chi2_min = tight_fit(resid, np.array(p0, float), lower, upper)
    m = len(y)
    dof = m - n
    J = jac(x, *best)
    if poisson:
        cov = np.linalg.inv((J / f(x, *best)[:, None]).T @ J)
    else:
        Jw = J * w[:, None]
        cov = np.linalg.inv(Jw.T @ Jw)
        if not absolute:
            cov *= chi2_min / dof
    se = np.sqrt(np.diag(cov))
    known = absolute or poisson
    intervals = {}
    for k in range(n):
        rows = []
        for level in LEVELS:
            p = probability(level)
            if known:
                threshold = stats.chi2.ppf(p, 1)
            else:
                t = stats.t.ppf((1 + p) / 2, dof)
                threshold = chi2_min * t * t / dof
            lo = profile(resid, best, chi2_min, se[k], k, threshold, lower, upper, -1)
            hi = profile(resid, best, chi2_min, se[k], k, threshold, lower, upper, +1)
            rows.append([lo, hi])
        intervals[f"p{k}"] = rows
    out = {
        "name": name, "model": model, "x": x.tolist(), "y": y.tolist(),
        "sigma": None if sigma is None else sigma.tolist(),
        "absolute_sigma": absolute, "poisson": poisson,
        "values": best.tolist(), "stderr": se.tolist(), "chi2": chi2_min,
        "levels": LEVELS, "profile": intervals,
    }
    if known:
        objective = lambda p: float(np.sum(resid(np.asarray(p)) ** 2))
        m_ = iminuit.Minuit(objective, best, name=[f"p{k}" for k in range(n)])
        m_.errordef = iminuit.Minuit.LEAST_SQUARES
        m_.strategy = 2
        m_.tol = 1e-6
        m_.migrad()
        minos = {f"p{k}": [] for k in range(n)}
        for level in LEVELS:
            m_.minos(cl=level)
            for k in range(n):
                e = m_.merrors[f"p{k}"]
                minos[f"p{k}"].append([float(m_.values[k] + e.lower), float(m_.values[k] + e.upper)])
        out["minos"] = minos
        # mncontour of the first two parameters: the 2-parameter region (χ² quantile with 2 dof).
        out["mncontour"] = []
        for level in [1.0, 0.95]:
            pts = m_.mncontour("p0", "p1", cl=level, size=200)
            out["mncontour"].append({"level": level, "points": np.asarray(pts).tolist()})
    # Bands at the data points, 1σ.
    q = stats.norm.ppf(0.5 + probability(1.0) / 2) if known else stats.t.ppf(0.5 + probability(1.0) / 2, dof)
    conf = np.sqrt(np.einsum("ij,jk,ik->i", J, cov, J))
    if poisson:
        noise = f(x, *best)
    elif sigma is None:
        noise = np.full(m, 1.0 if absolute else chi2_min / dof)
    else:
        noise = (1.0 if absolute else chi2_min / dof) * sigma ** 2
    out["bands"] = {"quantile": float(q), "confidence": (q * conf).tolist(),
                    "prediction": (q * np.sqrt(conf ** 2 + noise)).tolist()}
    if lmfit_ok:
        names = [f"p{k}" for k in range(n)]
        params = lmfit.Parameters()
        for nm, v in zip(names, p0):
            params.add(nm, value=v)
        fcn = lambda pars: resid(np.array([pars[nm].value for nm in names]))
        mini = lmfit.Minimizer(fcn, params, ftol=1e-12, xtol=1e-12)
        result = mini.minimize(method="leastsq")
        # One level per call: lmfit brackets each level from the previous one's end, which
        # fails for levels as close as 0.95 and 2σ (0.9545).
        lm = {nm: [] for nm in names}
        for level in LEVELS:
            p = probability(level)
            ci = lmfit.conf_interval(mini, result, sigmas=[level])
            for nm in names:
                ends = [v for (pp, v) in ci[nm] if abs(pp - p) < 1e-12]
                lm[nm].append([float(min(ends)), float(max(ends))])
        out["lmfit"] = lm
        # lmfit's bands (finite-difference Jacobian, stderr/3 steps): compared loosely.
        out["lmfit_band"] = None
    return out


def decay(x, a, b, c):
    return a * np.exp(-b * x) + c


def decay_jac(x, a, b, c):
    e = np.exp(-b * x)
    return np.stack([e, -a * x * e, np.ones_like(x)], axis=1)


def peak(x, a, m, s, c, d):
    return a * np.exp(-((x - m) ** 2) / (2 * s * s)) + c + d * x


def peak_jac(x, a, m, s, c, d):
    g = np.exp(-((x - m) ** 2) / (2 * s * s))
    return np.stack([g, a * g * (x - m) / s ** 2, a * g * (x - m) ** 2 / s ** 3, np.ones_like(x), x], axis=1)


def mm(x, v, k):
    return v * x / (k + x)


def mm_jac(x, v, k):
    return np.stack([x / (k + x), -v * x / (k + x) ** 2], axis=1)


cases = []
x = np.linspace(0, 8, 60)
sigma = 0.04 + 0.02 * x / 8
y = decay(x, 3.0, 0.7, 0.5) + rng.normal(0, sigma)
cases.append(case("decay_weighted", "a*exp(-b*x) + c", decay, decay_jac, x, y, [1, 1, 0], sigma=sigma))
cases.append(case("decay_absolute", "a*exp(-b*x) + c", decay, decay_jac, x, y, [1, 1, 0], sigma=sigma,
                  absolute=True, lmfit_ok=False))
x = np.linspace(-5, 5, 1000)
y = peak(x, 2.0, 0.3, 0.8, 0.5, 0.05) + rng.normal(0, 0.1, x.size)
cases.append(case("peak", "a*exp(-(x-m)^2/(2*s^2)) + c + d*x", peak, peak_jac, x, y, [1.5, 0, 1, 0, 0]))
x = np.array([0.02, 0.02, 0.06, 0.06, 0.11, 0.11, 0.22, 0.22, 0.56, 0.56, 1.10, 1.10])
y = mm(x, 200.0, 0.06) + rng.normal(0, 8, x.size)
cases.append(case("michaelis_menten", "v*x/(k + x)", mm, mm_jac, x, y, [150, 0.1]))
x = np.linspace(0, 6, 40)
y = rng.poisson(decay(x, 40.0, 0.6, 10.0)).astype(float)
cases.append(case("decay_poisson", "a*exp(-b*x) + c", decay, decay_jac, x, y, [30, 0.5, 8], poisson=True,
                  lmfit_ok=False))

quantiles = []
for p in [0.5, 0.6826894921370859, 0.9, 0.95, 0.9544997361036416, 0.99, 0.9973002039367398, 0.999999]:
    for nu in [1, 2, 3, 5, 10, 30, 97, 999, 1001, 5000, 100000, 10000000]:
        quantiles.append([p, nu, float(stats.t.ppf((1 + p) / 2, nu))])
    quantiles.append([p, 0, float(stats.norm.ppf((1 + p) / 2))])

with open("tests/data/uncertainty/reference.json", "w") as out:
    json.dump({"versions": {"numpy": np.__version__, "scipy": scipy.__version__, "lmfit": lmfit.__version__,
                            "iminuit": iminuit.__version__},
               "cases": cases, "quantiles": quantiles}, out, indent=1)

# The first case's points as a file, for the command-line tests (unweighted there).
with open("tests/data/uncertainty/decay.csv", "w") as out:
    out.write("x,y\n")
    for xv, yv in zip(cases[0]["x"], cases[0]["y"]):
        out.write(f"{xv!r},{yv!r}\n")
