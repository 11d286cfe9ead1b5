"""Correctly rounded exp, ln, sin and cos at deterministic arguments, for tests/math.rs.

Run from the repository root: python3 tests/data/ulp/reference.py  (needs mpmath).
Each line: the argument's and the correctly rounded result's IEEE-754 bits, in hex.
"""
import random
import struct

import mpmath

mpmath.mp.prec = 200


def bits(x):
    return struct.unpack("<Q", struct.pack("<d", x))[0]


def f64(x):
    """Rounds an mpf to the nearest double, ties to even, subnormals included (rounded once,
    on the grid of 2^-1074, rather than to 53 bits and again by ldexp)."""
    x = mpmath.mpf(x)
    if abs(x) < mpmath.mpf(2) ** -1022:
        return int(mpmath.nint(x * mpmath.mpf(2) ** 1074)) * 2.0**-1074
    return float(x)


def write(path, args, fn):
    with open(path, "w") as out:
        out.write("# argument bits, correctly rounded result bits (mpmath, 200-bit precision)\n")
        for x in args:
            out.write(f"{bits(x):016x} {bits(f64(fn(mpmath.mpf(x)))):016x}\n")


rng = random.Random(20261128)
exp_args = [rng.uniform(-745.13, 709.78) for _ in range(2500)]
exp_args += [rng.choice([-1, 1]) * 10 ** rng.uniform(-20, 0) for _ in range(1000)]
exp_args += [rng.uniform(-745.13, -708.0) for _ in range(300)]  # subnormal results
exp_args += [rng.uniform(700.0, 709.78) for _ in range(200)]  # near overflow
write("tests/data/ulp/exp.txt", exp_args, mpmath.exp)

ln_args = [rng.uniform(1.0, 2.0) * 2.0 ** rng.randint(-1022, 1023) for _ in range(2500)]
ln_args += [1.0 + rng.choice([-1, 1]) * 10 ** rng.uniform(-16, -1) for _ in range(1000)]
ln_args += [rng.randint(1, 2**52 - 1) * 2.0**-1074 for _ in range(300)]  # subnormal arguments
ln_args += [rng.uniform(0.7, 1.45) for _ in range(200)]
write("tests/data/ulp/ln.txt", ln_args, mpmath.log)

# sin and cos below jitfit's limit of its own reduction (1.6e6): anywhere, small, tiny, and the
# doubles nearest to multiples of π/2 (where the reduction cancels most).
trig_args = [rng.uniform(-10.0, 10.0) for _ in range(1500)]
trig_args += [rng.uniform(-1.6e6, 1.6e6) for _ in range(1000)]
trig_args += [rng.choice([-1, 1]) * 10 ** rng.uniform(-20, 0) for _ in range(500)]
trig_args += [rng.randint(1, 5) * 1e-310 for _ in range(20)]
trig_args += [float(k * mpmath.pi / 2) for k in [rng.randint(-1_000_000, 1_000_000) for _ in range(800)]]
trig_args += [float(k * mpmath.pi / 2) for k in range(-90, 91)]
write("tests/data/ulp/sin.txt", trig_args, mpmath.sin)
write("tests/data/ulp/cos.txt", trig_args, mpmath.cos)
