#!/usr/bin/env bash
# Every GPU measurement of bench/README.md in one prepared run, sized for a 15-minute lease of
# one H100/H200 (13 minutes at the very most: the steps' limits added up). Run it from the
# repository root on the GPU machine:
#
#   mkdir -p .gpu-data && cp ../shared/data/tinyshakespeare/input.txt .gpu-data/   # here
#   bash bench/gpu_session.sh "$OUT"           # there, with .gpu-data carried (it is git-ignored)
#
# It needs only PyTorch with CUDA and gptlab's runtime dependencies (no install: PYTHONPATH=src).
# Each step has its own time limit and its own log in the output folder, so one failure does not
# cost the others; the Markdown tables go to throughput*.md and the speedrun's to speedrun.md.
set -u -o pipefail

OUT=${1:-gpu-results}
DATA=${GPU_DATA:-.gpu-data}
PY=${PYTHON:-python3}
export PYTHONPATH=src PYTHONUNBUFFERED=1
mkdir -p "$OUT"

step() {  # step NAME SECONDS COMMAND...: run with a limit, keep its output, never stop the script
    local name=$1 limit=$2
    shift 2
    echo "== $name (limit ${limit}s): $*"
    timeout "$limit" "$@" >"$OUT/$name.log" 2>&1
    echo "   exit $? ($(tail -n 1 "$OUT/$name.log"))"
}

step env 30 bash -c "nvidia-smi; $PY -c 'import torch; print(torch.__version__, torch.cuda.get_device_name())'"

# 1. The throughput table: nanoGPT's micro batches, bf16, compiled (and gpt2-124m at 32, its row).
step throughput 200 $PY bench/train_throughput.py --device cuda --precision bf16 --compile \
    --steps 20 --warmup 5 --preset seed-14m seed-29m seed-49m nanogpt-30m
step throughput_124m 100 $PY bench/train_throughput.py --device cuda --precision bf16 --compile \
    --steps 20 --warmup 5 --preset gpt2-124m --micro-batch 32
step vocab_padding 100 $PY bench/train_throughput.py --device cuda --precision bf16 --compile \
    --steps 20 --warmup 5 --preset seed-14m --vocab-multiple 1 64 1 64
grep '^|' "$OUT/throughput.log" >"$OUT/throughput.md"
grep '^| gpt2' "$OUT/throughput_124m.log" >>"$OUT/throughput.md"

# 2. The whole path on CUDA: prepare, train with bf16 + compile, eval, generate.
step cuda_path 120 bash -c "
    $PY -m gptlab prepare builtin --tokenizer byte --stories 2000 --out $OUT/run/data --workers 4 &&
    $PY -m gptlab train --data $OUT/run/data --out $OUT/run/train --max-steps 200 --device cuda \
        --precision bf16 --compile --no-progress --set model.n_layer=4 --set model.n_embd=256 \
        --set model.n_head=4 --set model.context_length=256 --set train.micro_batch_size=64 &&
    $PY -m gptlab eval $OUT/run/train --device cuda &&
    $PY -m gptlab generate $OUT/run/train --device cuda -p 'Once upon a time' -n 60"

# 3. The speedrun: Tiny Shakespeare characters, 6/6/384, ctx 256, batch 64, target val 1.47.
if [ -f "$DATA/input.txt" ]; then
    step speedrun 330 $PY bench/speedrun_shakespeare.py --data "$DATA/input.txt" --variant gpu \
        --out "$OUT/speedrun"
    grep '^|' "$OUT/speedrun.log" >"$OUT/speedrun.md"
else
    echo "== speedrun skipped: no $DATA/input.txt (copy Tiny Shakespeare there first)"
fi
rm -rf "$OUT/run" "$OUT/speedrun"  # only logs and tables travel back
