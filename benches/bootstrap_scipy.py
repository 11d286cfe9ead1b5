"""1 000 residual-bootstrap refits of the shipped decay example: jitfit beside a scipy loop.

    python3 benches/bootstrap_scipy.py [path/to/jitfit]

scipy: curve_fit in a Python loop (what a scipy user writes; residuals scaled by √(m/(m−n)) as
jitfit does), wall time. jitfit: the [[Bootstrap]] time its report prints (the refits on every
core; best of 3 processes).
"""
import json
import subprocess
import sys
import time

import numpy as np
from scipy.optimize import curve_fit

jitfit = sys.argv[1] if len(sys.argv) > 1 else "target/release/jitfit"
d = np.genfromtxt("examples/data/decay.csv", delimiter=",", names=True, skip_header=1)
x, y, s = d["time"], d["signal"], d["err"]
f = lambda x, a, b, c: a * np.exp(-b * x) + c
p, _ = curve_fit(f, x, y, p0=[1, 1, 1], sigma=s)
fit = f(x, *p)
e = (y - fit) / s * np.sqrt(len(x) / (len(x) - 3))
rng = np.random.default_rng(0)
t0 = time.perf_counter()
out = [curve_fit(f, x, fit + s * rng.choice(e, len(e)), p0=p, sigma=s)[0] for _ in range(1000)]
scipy_s = time.perf_counter() - t0

times = []
for _ in range(3):
    run = subprocess.run([jitfit, "fit", "a*exp(-b*time) + c", "examples/data/decay.csv", "--y", "signal", "--sigma",
                          "err", "--bootstrap", "1000", "--json"], capture_output=True, text=True, check=True)
    report = json.loads(run.stdout)
    times.append(report["bootstrap"]["seconds"])
jit_s = min(times)
stds = [q["std"] for q in report["bootstrap"]["parameters"]]
print(f"scipy curve_fit loop: {scipy_s * 1e3:.0f} ms, std {np.std(out, axis=0, ddof=1)}")
print(f"jitfit --bootstrap:   {jit_s * 1e3:.1f} ms, std {stds}  ({scipy_s / jit_s:.0f}× faster)")
