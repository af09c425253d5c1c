#!/usr/bin/env bash
# Every GPU measurement jetae wants, in one run of under 8 minutes (issue #21.5).
#
#   bench/gpu.sh                      # from the repository root, on a machine with a CUDA GPU
#   PYTHON=python3 DATA_DIR=/data OUT_DIR=/tmp/out bench/gpu.sh
#
# One run of bench/bench_training.py --device cuda measures, on the GPU:
#   * engine vs plain PyTorch loop: training jets/s of dense_ae (constituents) and conv_ae (40x40
#     images) through Detector.fit and through a hand-written loop, batch sizes 256 / 1024 / 4096;
#   * bf16 autocast vs fp32, channels-last vs NCHW, torch.compile, batch sizes (the "settings");
#   * inference: anomaly_score and a plain forward pass, bf16 and fp32, both models;
#   * the AUC check: conv_ae at its default precision (bf16 on the GPU) vs fp32, 3 seeds;
# and writes OUT_DIR/training_cuda.json (section by section, so a run cut short keeps what it
# finished). Samples: DATA_DIR/{qcd_train,qcd_test,top_test}.h5 (bench/make_samples.sh); missing
# ones are generated with Pythia on all CPU cores (about a minute on 16 cores) into bench/work/.
#
# Without a GPU it stops at once (exit 2) with one line saying so, having measured nothing.
# Environment: PYTHON (default .venv/bin/python, else python3), DATA_DIR (default data),
# OUT_DIR (default bench/results), TIME_LIMIT (seconds, default 450: the whole run's limit).
set -euo pipefail

cd "$(dirname "${BASH_SOURCE[0]}")/.."
if [[ -z "${PYTHON:-}" ]]; then
    if [[ -x .venv/bin/python ]]; then PYTHON=.venv/bin/python; else PYTHON=python3; fi
fi
DATA_DIR=${DATA_DIR:-data}
OUT_DIR=${OUT_DIR:-bench/results}
TIME_LIMIT=${TIME_LIMIT:-450}

# Fail fast: a CUDA GPU visible to torch, else exit 2 before anything heavy is imported or generated.
if ! "$PYTHON" bench/bench_training.py --device cuda --check-device; then
    echo "bench/gpu.sh: no CUDA GPU: nothing measured (run it on a machine with one)" >&2
    exit 2
fi
nvidia-smi --query-gpu=name,memory.total,driver_version --format=csv,noheader 2>/dev/null || true
mkdir -p "$OUT_DIR"

start=$SECONDS
# One thread per process is irrelevant on the GPU; the CPU only makes images and batches indices.
timeout --signal=INT --kill-after=20 "$TIME_LIMIT" "$PYTHON" bench/bench_training.py \
    --device cuda \
    --qcd-train "$DATA_DIR/qcd_train.h5" --qcd-test "$DATA_DIR/qcd_test.h5" --top-test "$DATA_DIR/top_test.h5" \
    --n-train 50000 --n-train-conv 20000 --n-settings 50000 --n-test 10000 \
    --epochs 3 --repeats 3 --batch-sizes 256,1024,4096 --settings-batch-sizes 128,256,1024,4096 \
    --auc-train 20000 --auc-epochs 5 --auc-seeds 3 \
    --sections overhead,models,settings,auc \
    --out "$OUT_DIR/training_cuda.json"
echo "bench/gpu.sh: done in $((SECONDS - start)) s; results in $OUT_DIR/training_cuda.json"
