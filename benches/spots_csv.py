"""Writes Gpufit's benchmark as a CSV for `jitfit batch`: N spots of 5x5 pixels of a 2-D
Gaussian (A~10, centre 2+-0.15, s~1, background 1, uniform noise +-0.05), rows `id,x,y,z`.

Run:  python3 benches/spots_csv.py 20000 spots.csv
then  jitfit batch 'z = A*exp(-((x-x0)^2 + (y-y0)^2)/(2*s^2)) + B' spots.csv --by id \\
          --vars x,y --p0 A=9,x0=2.1,y0=1.9,s=1.2,B=0.5 --out fits.csv [--solver compact]
"""
import math
import random
import sys

n, path = int(sys.argv[1]), sys.argv[2]
rng = random.Random(5)
with open(path, "w") as out:
    out.write("id,x,y,z\n")
    for spot in range(n):
        a = 10 + rng.random() - 0.5
        x0, y0 = 2 + 0.3 * (rng.random() - 0.5), 2 + 0.3 * (rng.random() - 0.5)
        s = 1 + 0.1 * (rng.random() - 0.5)
        for k in range(25):
            x, y = k % 5, k // 5
            z = a * math.exp(-((x - x0) ** 2 + (y - y0) ** 2) / (2 * s * s)) + 1 + 0.1 * (rng.random() - 0.5)
            out.write(f"{spot},{x},{y},{z!r}\n")
