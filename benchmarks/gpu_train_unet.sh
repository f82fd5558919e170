#!/usr/bin/env bash
# The full U-Net recipe on the device machine: 20 epochs on the 45,000-image full split, then its scores on the
# paper's 1,000 test images and on all 10,000. The run folder comes back under $OUT (ship it with
# `minimlp-colorize ship $OUT/unet-gpu unet-45k`).
# The data does not travel by itself: copy it into the git-ignored gpu-data/ first and name that folder in carry:
#   mkdir -p gpu-data && cp ../shared/data/cifar10-jpeg.tar.gz gpu-data/
#   run: OUT=/tmp/out bash benchmarks/gpu_train_unet.sh        (carry: ["gpu-data"])
# A run cut short by the timeout continues on the next machine with the same command plus
# `--resume` once its folder is copied back into runs/ and carried.
set -uo pipefail
OUT=${OUT:-gpu-results}
DATA=gpu-data/cifar10-jpeg.tar.gz
EPOCHS=${EPOCHS:-20}
mkdir -p "$OUT"
export PYTHONUNBUFFERED=1
if [ ! -f "$DATA" ]; then
    echo "missing $DATA: copy ../shared/data/cifar10-jpeg.tar.gz there and carry gpu-data" >&2
    exit 2
fi
python -m pip install -q --no-deps -e . 2>&1 | tail -2
timeout "${TRAIN_TIMEOUT:-480}" python -m minimlp.colorize train --model unet --data "$DATA" --epochs "$EPOCHS" \
    --device gpu --quiet --out "$OUT/unet-gpu" 2>&1 | tee "$OUT/train_unet_gpu.txt" | tail -5
python -m minimlp.colorize evaluate --checkpoint "$OUT/unet-gpu" --device gpu --json \
    > "$OUT/eval_paper_test.json" 2> "$OUT/eval_paper_test.err"
python -m minimlp.colorize evaluate --checkpoint "$OUT/unet-gpu" --data "$DATA" --data-split full --device gpu --json \
    > "$OUT/eval_full_test.json" 2> "$OUT/eval_full_test.err"
cat "$OUT/eval_paper_test.json" "$OUT/eval_full_test.json"
