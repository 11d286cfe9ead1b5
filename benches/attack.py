#!/usr/bin/env python3
"""A small attack on the jitfit binary (issue 14's figures table): random and mutated models,
data files, cache entries and checkpoints, each run with a time limit. Prints, per kind, the
inputs tried, how many were answered (exit 0, 1 or 2), panics (exit 101), other crashes
(killed by a signal), hangs (over the limit) and poisonings (a tampered cache entry or
checkpoint that changed a reported value with exit 0: exits 1 and 2 say something is wrong).

    python3 benches/attack.py [target/release/jitfit] [--seed N] [--scale K]

Not a test (it takes a minute or two); the hostile cases found are tests in tests/hostile.rs,
tests/cache.rs and tests/checkpoint.rs. Standard library only.
"""
import json
import os
import random
import shutil
import subprocess
import sys
import tempfile

LIMIT = 10.0  # seconds per run


def run(binary, args, cache, stdin=None):
    env = dict(os.environ, JITFIT_CACHE_DIR=cache)
    try:
        p = subprocess.run([binary] + args, input=stdin, capture_output=True, timeout=LIMIT, env=env)
    except subprocess.TimeoutExpired:
        return "hang", b""
    if p.returncode == 0:
        return "answered", p.stdout
    if p.returncode in (1, 2):
        return "answered", b""  # refused, or reported as not converged: not a silent answer
    if p.returncode == 101 or b"panicked" in p.stderr:
        return "panic", p.stderr
    return "crash", p.stderr


def mutate(rng, text, alphabet):
    chars = list(text)
    for _ in range(rng.randint(1, 4)):
        op = rng.randrange(3)
        at = rng.randrange(len(chars) + 1)
        if op == 0 or not chars:
            chars.insert(at, rng.choice(alphabet))
        elif op == 1:
            del chars[min(at, len(chars) - 1)]
        else:
            chars[min(at, len(chars) - 1)] = rng.choice(alphabet)
    return "".join(chars)


MODELS = [
    "a*exp(-b*x) + c",
    "y = b1*(1-exp[-b2*x])",
    "A*exp(-((x-x0)^2)/(2*s^2)) + B",
    "g = exp(-(x-mu)^2/(2*s^2)); A*g + B",
    "log[y] = b1 - b2*x*exp[-b3*x]",
    "a*sin(w*x + p) + c*x^2",
    "atan2(a, x) + max(b, x) * sign(x - c)",
]
TOKENS = list("+-*/^()[],;=.e0123456789 \n#xyabc") + ["exp", "log", "sqrt", "pi", "**", "x", "sin", "erf", "atan2"]


def attack_models(binary, rng, cache, n):
    counts = {}
    for k in range(n):
        if k % 3 == 0:
            model = "".join(rng.choice(TOKENS) for _ in range(rng.randint(1, 40)))
        else:
            model = mutate(rng, rng.choice(MODELS), TOKENS[:30])
        outcome, _ = run(binary, ["explain", model], cache)
        counts[outcome] = counts.get(outcome, 0) + 1
    return counts


def attack_data(binary, rng, cache, folder, n):
    counts = {}
    base = "x,y\n" + "".join(f"{i},{2 * i + 1}\n" for i in range(20))
    for k in range(n):
        path = os.path.join(folder, f"d{k}.csv" if k % 2 else f"d{k}.txt")
        if k % 4 == 0:
            data = bytes(rng.randrange(256) for _ in range(rng.randint(0, 200)))
        else:
            data = mutate(rng, base, list(",;\t \n\r\"#.-eNA0123456789xy")).encode()
        with open(path, "wb") as f:
            f.write(data)
        outcome, _ = run(binary, ["fit", "a*x + b", path, "--json"], cache)
        counts[outcome] = counts.get(outcome, 0) + 1
    return counts


def reported(stdout):
    try:
        doc = json.loads(stdout)
        return [p["value"] for p in doc["parameters"]]
    except (ValueError, KeyError, TypeError):
        return None


MODEL = "a*exp(-b*x) + c"


def decay_csv(path, points, step, noise):
    """3·exp(-0.7x) + 0.5 at x = 0, step, ...; `noise` scales a fixed ±2 pattern."""
    rows = (f"{i * step},{3 * 2.718281828 ** (-0.7 * i * step) + 0.5 + noise * ((i * 7) % 5 - 2)}\n" for i in range(points))
    with open(path, "w") as f:
        f.write("x,y\n" + "".join(rows))
    return path


def attack_cache(binary, rng, folder, n):
    counts = {}
    data = decay_csv(os.path.join(folder, "cache-data.csv"), 50, 0.1, 0.0)
    model = MODEL
    clean_cache = os.path.join(folder, "clean-cache")
    _, out = run(binary, ["fit", model, data, "--json", "--p0", "a=1,b=1,c=0"], clean_cache)
    truth = reported(out)
    entries = [os.path.join(r, f) for r, _, fs in os.walk(clean_cache) for f in fs if f.endswith(".json")]
    original = open(entries[0]).read()
    for k in range(n):
        cache = os.path.join(folder, f"cache{k}")
        shutil.copytree(clean_cache, cache)
        entry = entries[0].replace(clean_cache, cache)
        with open(entry, "w") as f:
            f.write(mutate(rng, original, list('0123456789.-e"{}[],:') + ["exp", "sin", "Add", "Mul"]))
        outcome, out = run(binary, ["fit", model, data, "--json", "--p0", "a=1,b=1,c=0"], cache)
        if outcome == "answered" and reported(out) is not None and reported(out) != truth:
            outcome = "poisoned"
        counts[outcome] = counts.get(outcome, 0) + 1
        shutil.rmtree(cache)
    return counts


def attack_checkpoints(binary, rng, folder, cache, n):
    counts = {}
    data = decay_csv(os.path.join(folder, "cp-data.csv"), 400, 0.01, 0.01)
    model = MODEL
    state = os.path.join(folder, "state.json")
    args = ["fit", model, data, "--json", "--p0", "a=1,b=3,c=0"]
    _, out = run(binary, args, cache)
    truth = reported(out)
    run(binary, args + ["--checkpoint", state], cache)
    original = open(state).read()
    for k in range(n):
        tampered = os.path.join(folder, f"state{k}.json")
        with open(tampered, "w") as f:
            f.write(mutate(rng, original, list('0123456789.-e"{}[],:')))
        outcome, out = run(binary, args + ["--resume", tampered], cache)
        # A resumed fit that is accepted must still reach the same minimum (to 1e-6).
        values = reported(out) if outcome == "answered" else None
        if values is not None and any(abs(v - t) > 1e-6 * max(1, abs(t)) for v, t in zip(values, truth)):
            outcome = "poisoned"
        counts[outcome] = counts.get(outcome, 0) + 1
    return counts


def main():
    args = [a for a in sys.argv[1:] if not a.startswith("--")]
    binary = args[0] if args else "target/release/jitfit"
    seed = int(sys.argv[sys.argv.index("--seed") + 1]) if "--seed" in sys.argv else 1
    scale = int(sys.argv[sys.argv.index("--scale") + 1]) if "--scale" in sys.argv else 1
    rng = random.Random(seed)
    folder = tempfile.mkdtemp(prefix="jitfit-attack-")
    cache = os.path.join(folder, "cache")
    try:
        rows = [
            ("models (explain)", attack_models(binary, rng, cache, 1000 * scale)),
            ("data files (fit)", attack_data(binary, rng, cache, folder, 400 * scale)),
            ("cache entries", attack_cache(binary, rng, folder, 100 * scale)),
            ("checkpoints (resume)", attack_checkpoints(binary, rng, folder, cache, 100 * scale)),
        ]
    finally:
        shutil.rmtree(folder, ignore_errors=True)
    kinds = ["answered", "panic", "crash", "hang", "poisoned"]
    print(f"{'inputs':<22} {'tried':>6} " + " ".join(f"{k:>9}" for k in kinds))
    for name, counts in rows:
        print(f"{name:<22} {sum(counts.values()):>6} " + " ".join(f"{counts.get(k, 0):>9}" for k in kinds))


if __name__ == "__main__":
    main()
