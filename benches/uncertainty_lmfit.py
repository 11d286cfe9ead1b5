"""Profile intervals and bands: jitfit beside lmfit on the same data, in one run.

    python3 benches/uncertainty_lmfit.py [path/to/jitfit]

A Gaussian peak on a linear background (5 parameters), 1 000 points. jitfit's times are the
ones its JSON reports (solve_seconds, confidence_intervals.seconds) — the process start and
reading the file are not in them; lmfit's are wall time around fit, conf_interval and
eval_uncertainty. The 1σ interval of every parameter, bands on 10 000 grid points.
"""
import json
import os
import subprocess
import sys
import tempfile
import time

import lmfit
import numpy as np

jitfit = sys.argv[1] if len(sys.argv) > 1 else "target/release/jitfit"
rng = np.random.default_rng(7)
x = np.linspace(-5, 5, 1000)
y = 2.0 * np.exp(-((x - 0.3) ** 2) / (2 * 0.8**2)) + 0.5 + 0.05 * x + rng.normal(0, 0.1, x.size)
model_text = "a*exp(-(x-m)^2/(2*s^2)) + c + d*x"
p0 = dict(a=1.5, m=0.0, s=1.0, c=0.0, d=0.0)

with tempfile.TemporaryDirectory() as tmp:
    path = os.path.join(tmp, "peak.csv")
    np.savetxt(path, np.column_stack([x, y]), delimiter=",", header="x,y", comments="")
    p0_arg = ",".join(f"{k}={v}" for k, v in p0.items())
    runs = []
    for _ in range(5):
        out = subprocess.run([jitfit, "fit", model_text, path, "--p0", p0_arg, "--ci", "1", "--band", "1",
                              "--band-grid", "10000", "--json"], capture_output=True, text=True, check=True)
        runs.append(json.loads(out.stdout))
    t0 = time.perf_counter()
    subprocess.run([jitfit, "fit", model_text, path, "--p0", p0_arg, "--json"], capture_output=True, check=True)
    plain_process = time.perf_counter() - t0
    t0 = time.perf_counter()
    subprocess.run([jitfit, "fit", model_text, path, "--p0", p0_arg, "--ci", "1", "--band", "1",
                    "--band-grid", "10000", "--json"], capture_output=True, check=True)
    full_process = time.perf_counter() - t0

fit_s = min(r["timing"]["solve_seconds"] for r in runs)
ci_s = min(r["confidence_intervals"]["seconds"] for r in runs)
refits = runs[0]["confidence_intervals"]["refits"]

m = lmfit.Model(lambda x, a, m, s, c, d: a * np.exp(-((x - m) ** 2) / (2 * s * s)) + c + d * x)
params = m.make_params(**p0)
best = {}
for _ in range(3):
    t0 = time.perf_counter()
    result = m.fit(y, params, x=x)
    t1 = time.perf_counter()
    ci = lmfit.conf_interval(result, result, sigmas=[1])
    t2 = time.perf_counter()
    grid = np.linspace(x.min(), x.max(), 10000)
    result.eval_uncertainty(x=grid, sigma=1)
    t3 = time.perf_counter()
    for key, value in (("fit", t1 - t0), ("ci", t2 - t1), ("band", t3 - t2)):
        best[key] = min(best.get(key, value), value)

print(f"jitfit: fit {fit_s * 1e3:.3f} ms, profile 1σ of 5 parameters {ci_s * 1e3:.2f} ms ({refits} refits, "
      f"{ci_s / fit_s:.1f}× the fit); whole process with --ci --band-grid 10000: {full_process * 1e3:.1f} ms "
      f"(plain fit {plain_process * 1e3:.1f} ms)")
print(f"lmfit:  fit {best['fit'] * 1e3:.2f} ms, conf_interval {best['ci'] * 1e3:.1f} ms, "
      f"eval_uncertainty on 10 000 points {best['band'] * 1e3:.2f} ms")
print(f"ratio:  profile {best['ci'] / ci_s:.0f}× faster than lmfit's conf_interval")
