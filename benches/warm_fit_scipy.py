"""The warm 100-point fit side by side with scipy in one run: scipy.optimize.curve_fit (lm, and
trf with the analytic Jacobian) on the data of examples/warm_fit.rs, then that example.

Run from the repository root (needs numpy and scipy):
    cargo build --release --example warm_fit && python3 benches/warm_fit_scipy.py
"""
import subprocess
import time

import numpy as np
from scipy.optimize import curve_fit

x = np.arange(100) * 0.1
y = 3.0 * np.exp(-0.7 * x) + 0.5 + 0.01 * (np.array([(i * 37 % 11) for i in range(100)]) - 5.0)


def f(x, a, b, c):
    return a * np.exp(-b * x) + c


def jac(x, a, b, c):
    e = np.exp(-b * x)
    return np.stack([e, -a * x * e, np.ones_like(x)], axis=1)


def best(run, n=2000, rounds=5):
    times = []
    for _ in range(rounds):
        t = time.perf_counter()
        for _ in range(n):
            run()
        times.append((time.perf_counter() - t) / n)
    return min(times)


lm = best(lambda: curve_fit(f, x, y, p0=[1.0, 1.0, 0.0]))
trf = best(lambda: curve_fit(f, x, y, p0=[1.0, 1.0, 0.0], method="trf", jac=jac), n=500)
out = subprocess.run(["target/release/examples/warm_fit", "20000"], capture_output=True, text=True, check=True).stdout
print(out.strip())
jitfit = float(out.strip().split("\n")[-1].split("µs")[0]) * 1e-6
print(f"scipy curve_fit lm:             {lm * 1e6:8.1f} µs per fit ({lm / jitfit:.1f}× jitfit)")
print(f"scipy curve_fit trf (analytic): {trf * 1e6:8.1f} µs per fit ({trf / jitfit:.1f}× jitfit)")
