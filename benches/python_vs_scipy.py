"""jitfit's Python package against scipy.optimize.curve_fit (and lmfit and NLSQ when installed),
same process, same data: import time, first fit (compilation included), a warm 100-point fit,
a 10^6-point fit, and 10 000 small fits in a loop and through fit_many.

Run:  pip install maturin numpy scipy && (cd python && maturin build --release -o ../dist)
      pip install dist/jitfit-*.whl && python3 benches/python_vs_scipy.py
NLSQ (JAX) needs Python >= 3.12: pip install nlsq lmfit in such a venv to include both.
"""
import subprocess
import sys
import time


def import_ms(module):
    code = f"import time; t = time.perf_counter(); import {module}; print((time.perf_counter() - t) * 1e3)"
    runs = [float(subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout)
            for _ in range(5)]
    return min(runs)


def best(f, repeat=5, number=1):
    times = []
    for _ in range(repeat):
        t = time.perf_counter()
        for _ in range(number):
            f()
        times.append((time.perf_counter() - t) / number)
    return min(times)


print(f"import jitfit          {import_ms('jitfit'):8.1f} ms")
print(f"import scipy.optimize  {import_ms('scipy.optimize'):8.1f} ms")
for module in ("lmfit", "nlsq"):
    try:
        print(f"import {module:<16}{import_ms(module):8.1f} ms")
    except subprocess.CalledProcessError:
        print(f"import {module:<16}(not installed)")
try:
    import logging

    import jax.numpy as jnp
    import nlsq

    logging.disable(logging.CRITICAL)  # NLSQ logs every iteration

    def f_jax(x, a, b, c):
        return a * jnp.exp(-b * x) + c

    nlsq_fit = nlsq.CurveFit()  # one instance: its compiled functions are reused across fits
    import jax

    nlsq_on = f"NLSQ (JAX, {jax.default_backend().upper()})"  # CPU, or GPU where JAX finds one
except ImportError:
    nlsq = None

import numpy as np  # noqa: E402
from scipy.optimize import curve_fit  # noqa: E402

import jitfit  # noqa: E402

model = "a*exp(-b*x) + c"


def f(x, a, b, c):
    return a * np.exp(-b * x) + c


rng = np.random.default_rng(1)
x = np.linspace(0, 10, 100)
y = 3 * np.exp(-0.7 * x) + 0.5 + 0.01 * rng.standard_normal(100)

t = time.perf_counter()
jitfit.curve_fit("a*exp(-b*x) + c + 0*x", x, y, p0=[1, 1, 0])  # a model not compiled before
print(f"first fit, jitfit      {(time.perf_counter() - t) * 1e3:8.2f} ms (compilation included)")

warm_j = best(lambda: jitfit.curve_fit(model, x, y, p0=[1, 1, 0]), number=2000)
warm_s = best(lambda: curve_fit(f, x, y, p0=[1, 1, 0]), number=500)
print(f"warm 100-point fit     jitfit {warm_j * 1e6:7.1f} µs   scipy (lm) {warm_s * 1e6:7.1f} µs   {warm_s / warm_j:5.1f}×")
if nlsq is not None:
    t = time.perf_counter()
    nlsq_fit.curve_fit(f_jax, x, y, p0=[1, 1, 0])
    first_n = time.perf_counter() - t
    warm_n = best(lambda: nlsq_fit.curve_fit(f_jax, x, y, p0=[1, 1, 0]), number=20)
    print(f"  {nlsq_on:<20} first fit {first_n * 1e3:7.1f} ms (tracing and XLA compilation), "
          f"warm {warm_n * 1e6:7.1f} µs   {warm_n / warm_j:5.1f}× jitfit's")
# The whole fit as a result (statistics, covariance, report on demand), against lmfit's Model.fit.
compiled = jitfit.compile(model)
warm_r = best(lambda: jitfit.fit(model, x, y, p0=[1, 1, 0]), number=2000)
warm_c = best(lambda: compiled.fit(x, y, p0=[1, 1, 0]), number=2000)
try:
    import lmfit

    lm_model = lmfit.Model(f)
    lm_params = lm_model.make_params(a=1, b=1, c=0)
    warm_l = best(lambda: lm_model.fit(y, lm_params, x=x), number=100)
    lm_text = f"lmfit Model.fit {warm_l * 1e6:7.1f} µs   {warm_l / warm_r:5.1f}× and {warm_l / warm_c:5.1f}×"
except ImportError:
    lm_text = "lmfit not installed"
print(f"warm fit, FitResult    jitfit.fit {warm_r * 1e6:7.1f} µs   compile(…).fit {warm_c * 1e6:7.1f} µs   {lm_text}")

X = np.linspace(0, 10, 1_000_000)
Y = 3 * np.exp(-0.7 * X) + 0.5 + 0.01 * rng.standard_normal(X.size)
big_j = best(lambda: jitfit.curve_fit(model, X, Y, p0=[1, 1, 0]), repeat=3)
big_s = best(lambda: curve_fit(f, X, Y, p0=[1, 1, 0]), repeat=3)
print(f"10^6-point fit         jitfit {big_j * 1e3:7.1f} ms   scipy (lm) {big_s * 1e3:7.1f} ms   {big_s / big_j:5.1f}×")
if nlsq is not None:
    nlsq_fit.curve_fit(f_jax, X, Y, p0=[1, 1, 0])  # compiled for this size first
    big_n = best(lambda: nlsq_fit.curve_fit(f_jax, X, Y, p0=[1, 1, 0]), repeat=3)
    print(f"  {nlsq_on:<20} warm {big_n * 1e3:7.1f} ms   {big_n / big_j:5.1f}× jitfit's")

xs = np.linspace(0, 4, 25)
sets = [(2 + k % 5) * np.exp(-(0.3 + (k % 7) * 0.1) * xs) + 0.5 + 0.01 * rng.standard_normal(25) for k in range(10_000)]
t = time.perf_counter()
for ys in sets:
    jitfit.curve_fit(model, xs, ys, p0=[1, 1, 0])
many_j = time.perf_counter() - t
t = time.perf_counter()
for ys in sets:
    curve_fit(f, xs, ys, p0=[1, 1, 0])
many_s = time.perf_counter() - t
print(f"10 000 25-point fits   jitfit {many_j:7.2f} s    scipy (lm) {many_s:7.2f} s    {many_s / many_j:5.1f}×")
if nlsq is not None:
    t = time.perf_counter()
    for ys in sets[:500]:
        nlsq_fit.curve_fit(f_jax, xs, ys, p0=[1, 1, 0])
    per_n = (time.perf_counter() - t) / 500
    print(f"  {nlsq_on:<20} the first 500 of them {per_n * 500:5.2f} s, {per_n * 1e3:.2f} ms per fit "
          f"({per_n * len(sets) / many_j:5.0f}× jitfit's per-fit time)")
Ys = np.array(sets)
t = time.perf_counter()
jitfit.fit_many(model, xs, Ys, p0=[1, 1, 0])
batch_exact = time.perf_counter() - t
t = time.perf_counter()
jitfit.fit_many(model, xs, Ys, p0=[1, 1, 0], solver="compact")
batch_compact = time.perf_counter() - t
print(f"the same, fit_many     exact {batch_exact:7.3f} s    compact {batch_compact:7.3f} s    "
      f"{many_s / batch_exact:5.1f}× and {many_s / batch_compact:5.1f}× scipy's loop")

# 10^7 points from .npy files, each way in a fresh process (peak RSS is a high-water mark; the
# mapped files' pages count in it): the paths (memory-mapped, as `jitfit fit --x FILE.npy`)
# against the arrays np.load returns (read into memory, then copied once into the fit).
import os  # noqa: E402
import tempfile  # noqa: E402

NPY_RUN = """
import sys, time
import numpy as np, jitfit

def peak_mb():  # VmHWM: this process's own peak (ru_maxrss carries the parent's over fork)
    return next(int(l.split()[1]) for l in open("/proc/self/status") if l.startswith("VmHWM")) / 1024

base = peak_mb()
x, y = sys.argv[2], sys.argv[3]
t = time.perf_counter()
if sys.argv[1] == "arrays":
    x, y = np.load(x), np.load(y)
jitfit.fit("a*exp(-b*x) + c", x, y, p0=[1, 1, 0])
print(time.perf_counter() - t, peak_mb() - base)
"""
with tempfile.TemporaryDirectory() as tmp:
    X7 = np.linspace(0, 10, 10_000_000)
    paths = [os.path.join(tmp, "x.npy"), os.path.join(tmp, "y.npy")]
    np.save(paths[0], X7)
    np.save(paths[1], 3 * np.exp(-0.7 * X7) + 0.5 + 0.01 * rng.standard_normal(X7.size))
    del X7
    line = "10^7 points from .npy "
    for way in ("paths", "arrays"):
        out = subprocess.run([sys.executable, "-c", NPY_RUN, way, *paths], capture_output=True, text=True, check=True)
        seconds, mb = map(float, out.stdout.split())
        line += f"  {way} {seconds:5.2f} s, peak RSS +{mb:4.0f} MB"
    print(line)
    if nlsq is not None:
        NLSQ_RUN = """
import logging, sys, time
import numpy as np, jax.numpy as jnp, nlsq
logging.disable(logging.CRITICAL)
x, y = np.load(sys.argv[1]), np.load(sys.argv[2])
t = time.perf_counter()
nlsq.CurveFit().curve_fit(lambda x, a, b, c: a * jnp.exp(-b * x) + c, x, y, p0=[1, 1, 0])
print(time.perf_counter() - t)
"""
        out = subprocess.run([sys.executable, "-c", NLSQ_RUN, *paths], capture_output=True, text=True, check=True)
        print(f"  {nlsq_on:<20} arrays in memory, compilation included: {float(out.stdout):5.2f} s")
