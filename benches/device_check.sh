#!/usr/bin/env bash
# The GPU checks on a lent device machine (an H100/H200 with the NVIDIA Vulkan driver), in one
# run: `jitfit gpu`, the GPU tests (CI=1: a missing adapter fails), examples/gpu at 10^6..10^8
# points, examples/batch_gauss at 10^5 and 10^6 fits, and `jitfit batch` of 200 000 spots on
# the CPU (compact and exact) and the GPU (compact).
#
# Prepare here (the debug-info binaries are over the 64 MiB a call may carry; gzip brings the
# four stripped ones to ~24 MB):
#   cargo build --release --bin jitfit --example gpu --example batch_gauss
#   cargo test --release --test tests --no-run        # prints target/release/deps/tests-HASH
#   mkdir -p .dev && for f in target/release/jitfit target/release/examples/{gpu,batch_gauss}; do
#     strip -o .dev/$(basename $f) $f; done && strip -o .dev/tests target/release/deps/tests-HASH
#   (cd .dev && tar czf bins.tgz jitfit gpu batch_gauss tests && rm jitfit gpu batch_gauss tests)
#   Vulkan loader packages into .gl/ as /work/.library/device/README.md says; .dev and .gl in
#   .git/info/exclude.
# Then: device `run` with carry [".gl", ".dev"], command `bash benches/device_check.sh`,
# timeout ~420 s. (Prepared on 2026-12-04; that session's task was drawn a machine but no new
# machine was lent at the time, so this script has not run on one yet.)
for f in .gl/*.deb; do dpkg -x "$f" /; done
ldconfig
if ! ls /usr/share/vulkan/icd.d/*.json /etc/vulkan/icd.d/*.json >/dev/null 2>&1; then
    export VK_DRIVER_FILES=/usr/local/nvidia/share/vulkan/icd.d/nvidia_icd.json
    export __EGL_VENDOR_LIBRARY_FILENAMES=/usr/local/nvidia/share/glvnd/egl_vendor.d/10_nvidia.json
fi
nvidia-smi --query-gpu=name,driver_version,memory.total,clocks.sm --format=csv
mkdir -p bin && tar xzf .dev/bins.tgz -C bin
# The test binary runs the CLI at the path it was built for (/work/main/target/release/jitfit).
mkdir -p /work
[ -e /work/main ] || ln -s "$PWD" /work/main
mkdir -p target/release && cp bin/jitfit target/release/jitfit
export XDG_RUNTIME_DIR=/tmp CI=1 JITFIT_SLOW_TESTS=1 PROPTEST_RNG_SEED=20261124 JITFIT_CACHE_DIR=/tmp/jfcache
echo "== jitfit gpu"; timeout 30 bin/jitfit gpu
echo "== GPU tests"; (cd /work/main && timeout 150 "$PWD/bin/tests" gpu:: 2>&1) | tee "${OUT:-/tmp}/tests.log" | tail -45
for n in 1000000 10000000 100000000; do echo "== examples/gpu $n"; timeout 60 bin/gpu $n; done
for n in 100000 1000000; do echo "== examples/batch_gauss $n"; timeout 60 bin/batch_gauss $n; done
echo "== jitfit batch, 200000 spots"
python3 benches/spots_csv.py 200000 /tmp/spots.csv
M='z = A*exp(-((x-x0)^2 + (y-y0)^2)/(2*s^2)) + B'
TIMEFORMAT="%R s wall"
for b in cpu gpu; do
    for s in compact exact; do
        [ $b = gpu ] && [ $s = exact ] && continue
        echo "-- --backend $b --solver $s"
        time timeout 60 bin/jitfit batch "$M" /tmp/spots.csv --by id --vars x,y \
            --p0 A=9,x0=2.1,y0=1.9,s=1.2,B=0.5 --solver $s --backend $b --out /tmp/fits_${b}_${s}.csv 2>&1 | tail -2
    done
done
