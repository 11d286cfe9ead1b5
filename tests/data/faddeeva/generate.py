"""The Faddeeva function w(z) = exp(−z²)·erfc(−iz): the coefficients of jitfit's
approximation and reference values for tests/math.rs, computed by numpy and scipy.

Run from the repository root (numpy, scipy):
    python3 tests/data/faddeeva/generate.py
It prints the coefficients for src/ops/faddeeva.rs and rewrites
tests/data/faddeeva/reference.json (z on a grid, scipy.special.wofz at each, as exact
decimal text).

The approximation is Weideman's (SIAM J. Numer. Anal. 31 (1994) 1497–1518), with N = 40:
w(z) = 2·p(Z)/(L − iz)² + π^(−1/2)/(L − iz), Z = (L + iz)/(L − iz), L = √(N/√2), p the
polynomial of degree N − 1 whose coefficients are a discrete Fourier transform of
exp(−t²)(L² + t²) at t = L·tan(θ/2) (his Matlab code, transcribed).
"""
import json

import numpy as np
from scipy.special import wofz

N = 40
M = 2 * N
M2 = 2 * M
k = np.arange(-M + 1, M)
L = np.sqrt(N / np.sqrt(2))
theta = k * np.pi / M
t = L * np.tan(theta / 2)
f = np.exp(-t**2) * (L**2 + t**2)
f = np.concatenate(([0], f))
a = np.real(np.fft.fft(np.fft.fftshift(f))) / M2
a = np.flipud(a[1 : N + 1])  # highest degree first

print(f"const L: f64 = {float(L)!r};")
print("const A: [f64; %d] = [" % N)
for c in a:
    print(f"    {float(c)!r},")
print("];")

# Reference values: both half-planes, tails, the real and imaginary axes.
xs = sorted(set([0.0] + [s * v for s in (1, -1) for v in np.logspace(-3, 4, 36)]))
ys = sorted(set([0.0, 1e-6, 1e-3] + list(np.logspace(-2, 4, 25)) + [-v for v in (1e-3, 0.1, 0.5, 1.0, 2.0, 5.0)]))
cases = []
for x in xs:
    for y in ys:
        w = wofz(complex(x, y))
        if np.isfinite(w.real) and np.isfinite(w.imag):
            cases.append([repr(float(x)), repr(float(y)), repr(float(w.real)), repr(float(w.imag))])
with open("tests/data/faddeeva/reference.json", "w") as out:
    out.write('{"source": "scipy.special.wofz: [x, y, Re w(x+iy), Im w(x+iy)]", "cases": [\n')
    out.write(",\n".join(json.dumps(c) for c in cases))
    out.write("\n]}\n")
print(len(cases), "reference values")
