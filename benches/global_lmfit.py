"""Global fits of S exponential decays sharing τ (25 points each): jitfit's `--sets` (the
structured solver, the default; and `--global-solver dense`, the sets written as one model,
up to 200 sets) beside lmfit's documented global-fit recipe (one Parameters object, a residual over all sets
concatenated; lmfit's examples/example_fit_multi_datasets.py) and beside independent fits
(`jitfit batch`), measured in one run.

    python3 benches/global_lmfit.py [path/to/jitfit]

jitfit: the wall time of the whole command (process start, CSV read, compile, fit), best of 3.
lmfit: the wall time of `minimize` (leastsq), best of 3, the data already in memory; not run
beyond 200 sets (its finite-difference Jacobian costs one residual call per parameter).
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


def best(run, n=3):
    times, out = [], None
    for _ in range(n):
        t0 = time.perf_counter()
        out = run()
        times.append(time.perf_counter() - t0)
    return min(times), out


for sets in [10, 50, 100, 200, 1000]:
    rng = np.random.default_rng(sets)
    t = np.linspace(0, 10, 25)
    truth = [(rng.uniform(1, 4), rng.uniform(0, 1)) for _ in range(sets)]
    ys = [a * np.exp(-t / 2.5) + b + rng.normal(0, 0.03, t.size) for a, b in truth]
    path = os.path.join(tempfile.mkdtemp(), "sets.csv")
    with open(path, "w") as out:
        out.write("id,t,y\n")
        for k, y in enumerate(ys):
            for ti, yi in zip(t, y):
                out.write(f"{k},{float(ti)!r},{float(yi)!r}\n")

    cmd = [jitfit, "fit", "A*exp(-t/tau) + B", path, "--sets", "id", "--shared", "tau", "--p0", "tau=1", "--json"]
    j_time, j_out = best(lambda: subprocess.run(cmd, capture_output=True, text=True, check=True).stdout)
    j_tau = next(p["value"] for p in json.loads(j_out)["parameters"] if p["name"] == "tau")
    d_text = "(over 200 sets)"
    if sets <= 200:
        dense = cmd + ["--global-solver", "dense"]
        d_time, d_out = best(lambda: subprocess.run(dense, capture_output=True, text=True, check=True).stdout, 1)
        d_text = f"{d_time * 1e3:8.1f} ms"
    batch = [jitfit, "batch", "A*exp(-t/tau) + B", path, "--by", "id", "--p0", "tau=1"]
    b_time, _ = best(lambda: subprocess.run(batch, capture_output=True, text=True, check=True))

    params = lmfit.Parameters()
    params.add("tau", value=1.0)
    for k in range(sets):
        params.add(f"A_{k}", value=1.0)
        params.add(f"B_{k}", value=1.0)

    def residual(p):
        tau = p["tau"].value
        return np.concatenate([p[f"A_{k}"].value * np.exp(-t / tau) + p[f"B_{k}"].value - ys[k] for k in range(sets)])

    l_text = "not run"
    if sets <= 200:
        l_time, result = best(lambda: lmfit.minimize(residual, params, method="leastsq"), 1 if sets > 100 else 3)
        l_text = f"{l_time * 1e3:8.1f} ms (τ = {result.params['tau'].value:.8f}, {l_time / j_time:6.1f}× jitfit)"
    print(
        f"{sets:4d} sets: jitfit --sets {j_time * 1e3:7.1f} ms (τ = {j_tau:.8f})   dense rewrite {d_text}   "
        f"lmfit {l_text}   independent fits (jitfit batch) {b_time * 1e3:6.1f} ms"
    )
