#!/usr/bin/env bash
# The device-machine check in one script: the GPU kernels' and the colorizer's GPU tests (tests/test_fake_gpu.py,
# on the real GPU: kernels against their formulas, a step that must not synchronise, resume, photos), the
# device-aware suite, the GPU benchmarks and a short GPU training run, results under $OUT.
# The steps' time limits add up to 540 s, inside the device tool's 600 s per command. Run on a machine with
# CuPy and a CUDA torch, from the repository root:
#   OUT=/tmp/out bash benchmarks/gpu_check.sh
set -uo pipefail
OUT=${OUT:-gpu-results}
mkdir -p "$OUT"
export PYTHONUNBUFFERED=1
python -c "import cupy, torch; print('cupy', cupy.__version__, 'torch', torch.__version__, torch.cuda.is_available())" \
    2>&1 | tee "$OUT/versions.txt"
python -m pip install -q --no-deps -e . 2>&1 | tail -2
timeout 120 python -m pytest -q tests/test_fake_gpu.py -k cuda -p no:cacheprovider -rs --durations=10 2>&1 \
    | tee "$OUT/pytest_gpu_kernels.txt" | tail -30
timeout 150 python -m pytest -q tests -m device --device gpu -p no:cacheprovider 2>&1 | tee "$OUT/pytest_gpu.txt" | tail -30
timeout 100 python benchmarks/bench_train.py --device gpu --rounds 3 --json "$OUT/bench_train_gpu.json" \
    2>&1 | tee "$OUT/bench_train_gpu.txt" | tail -20
timeout 80 python benchmarks/bench_conv.py --device gpu --rounds 3 --batch-sizes 64 256 \
    --json "$OUT/bench_conv_gpu.json" 2>&1 | tee "$OUT/bench_conv_gpu.txt" | tail -8
timeout 40 python benchmarks/bench_conv.py --device gpu --tf32 --rounds 2 --batch-sizes 256 --models unet \
    --json "$OUT/bench_conv_gpu_tf32.json" 2>&1 | tee "$OUT/bench_conv_gpu_tf32.txt" | tail -4
timeout 50 python -m minimlp.colorize train --device gpu --epochs 5 --out "$OUT/run-gpu" \
    2>&1 | tee "$OUT/train_gpu.txt" | tail -8
