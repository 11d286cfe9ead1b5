"""NIST StRD accuracy with default options: for each of the 27 problems and both starts, the
smallest log relative error (correct digits) over the parameters, as `jitfit nist` prints them;
then how many fits reach 6 digits and the mean.

Run from the repository root:  cargo build --release && python3 benches/nist_lre.py [JITFIT]
(JITFIT: another build's binary to measure, e.g. an older commit's, for a side-by-side.)
"""
import glob
import os
import subprocess
import sys

binary = sys.argv[1] if len(sys.argv) > 1 else "target/release/jitfit"
env = dict(os.environ, XDG_RUNTIME_DIR=os.environ.get("XDG_RUNTIME_DIR", "/tmp"))
fits = {}
for path in sorted(glob.glob("tests/data/nist/*.dat")):
    out = subprocess.run([binary, "nist", path], capture_output=True, text=True, env=env, check=True).stdout
    current = None
    for line in out.splitlines():
        if "model:" in line:  # the model line may hold numbers (Roszman1's pi)
            continue
        if line.startswith("start "):
            current = fits.setdefault((os.path.basename(path), line[:7]), [])
            continue
        fields = line.split()
        if current is not None and len(fields) >= 4 and fields[0] not in ("fitted", "RSS"):
            try:
                current.append(float(fields[3]))
            except ValueError:
                pass
worst = {k: min(v) for k, v in fits.items() if v}
for (name, start), lre in sorted(worst.items()):
    print(f"{name:14} {start}  {lre:6.2f}")
values = list(worst.values())
print(f"{len(values)} fits: {sum(v >= 6 for v in values)} with >= 6 digits, "
      f"worst {min(values):.2f}, mean {sum(values) / len(values):.3f}")
