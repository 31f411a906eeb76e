#!/usr/bin/env bash
# The from-scratch tutorial: one short text, a sliding-window loader, a GPT trained for a few
# epochs with a sample after each, loss against tokens seen, then greedy, temperature and top-k,
# and how often each next token is drawn at three temperatures.
#
# The write-up: a ~10,000-word text (18,000 GPT-2 tokens), the first 80% for training and the
# last 20% for validation (one contiguous cut); the loader shown with batch 2, context 4, stride 1;
# training at context 128, batch 2, stride = context, AdamW lr 4e-4, weight decay 0.1, 10 epochs,
# train and val loss on 5 batches every 10 steps, a 20-token greedy sample from "at the start of"
# after each epoch. The untrained loss is about 10.99 (ln 50,257 = 10.82); train loss falls to
# about 0.5 while val stays near 7.5: the model memorises a text this small.
#
# Scales:
#   default  CPU, a few minutes: the first 10,000 words of Tiny Shakespeare from $SHARED_DATA, GPT-2
#            tokens, the gpt2-124m preset shrunk to 2 layers, 128 wide, 3 epochs.
#   --full   (or FULL=1) the write-up's model (GPT-2 124M: 12 layers, 768 wide) and 10 epochs on
#            the same text; minutes on a GPU (the write-up gives no time).
#   RECIPE_SMOKE=1  the first 1,000 words, one epoch of a tiny model: checks that every command runs.
#
# Needs $SHARED_DATA/tinyshakespeare/input.txt and $SHARED_DATA/gpt2_tokenizer; the recipe stops
# with a message when they are missing.
# Environment: GPTLAB (the CLI, default `gptlab`), SHARED_DATA (default ../shared/data from the
# repository root), OUT (default recipe_runs/from_scratch_tutorial).
set -euo pipefail

FULL=${FULL:-0}
for arg in "$@"; do
    case "$arg" in
        --full) FULL=1 ;;
        *) echo "usage: $0 [--full]" >&2; exit 2 ;;
    esac
done
SMOKE=${RECIPE_SMOKE:-0}
GPTLAB=${GPTLAB:-gptlab}
REPO=$(cd "$(dirname "$0")/../.." && pwd)
SHARED_DATA=${SHARED_DATA:-$REPO/../shared/data}
OUT=${OUT:-recipe_runs/from_scratch_tutorial}
SOURCE=$SHARED_DATA/tinyshakespeare/input.txt

if [ ! -f "$SOURCE" ] || [ ! -f "$SHARED_DATA/gpt2_tokenizer/r50k_base.tiktoken" ]; then
    echo "skipped: this recipe needs $SOURCE and GPT-2's tokenizer files in" \
        "$SHARED_DATA/gpt2_tokenizer; set SHARED_DATA to the folder that holds them."
    exit 0
fi
export GPTLAB_TOKENIZER_DIR=$SHARED_DATA/gpt2_tokenizer
mkdir -p "$OUT"

# --- scale -------------------------------------------------------------------------------------
WORDS=10000
EPOCHS=3
DEVICE=cpu
MODEL=(--set model.n_layer=2 --set model.n_head=4 --set model.n_embd=128)
if [ "$FULL" = 1 ]; then
    EPOCHS=10
    DEVICE=auto
    MODEL=()                      # the preset's GPT-2 124M
fi
if [ "$SMOKE" = 1 ]; then
    WORDS=1000
    EPOCHS=1
    MODEL=(--set model.n_layer=1 --set model.n_head=2 --set model.n_embd=32)
fi

# --- 1. the text: its first WORDS words, as one document --------------------------------------------
# Whole lines up to the word count; the end-of-text marker makes the file one document, so the
# 80/20 cut below is a cut of one running text, as in the write-up.
awk -v max="$WORDS" '{ n += NF; print } n >= max { exit }' "$SOURCE" > "$OUT/text.txt"
printf '<|endoftext|>' >> "$OUT/text.txt"
echo "text: $(wc -w < "$OUT/text.txt") words, $(wc -c < "$OUT/text.txt") bytes"

# --- 2. tokenize with GPT-2's BPE; the last 20% of the tokens are val ---------------------------
"$GPTLAB" prepare "$OUT/text.txt" --tokenizer gpt2 --split-mode eot --split contiguous \
    --val-fraction 0.2 --out "$OUT/data" --overwrite

# --- 3. the loader, the tutorial's first step: inputs and their targets (shifted by one) ---------
"$GPTLAB" batches "$OUT/data" --mode sliding --context 4 --stride 1 --batch 2 --no-shuffle \
    --count 2

# --- 4. train: sliding windows of 128 tokens with stride 128, batch 2, constant lr 4e-4 ----------
# eval_at_start scores the untrained model (step 0, loss near ln 50,257); every 10 steps train
# and val loss on 5 batches; a greedy 20-token sample from "at the start of" after each epoch.
"$GPTLAB" train --preset gpt2-124m --data "$OUT/data" --out "$OUT/run" --device "$DEVICE" \
    "${MODEL[@]}" \
    --set model.context_length=128 --set data.batch_mode=sliding --set data.stride=128 \
    --set train.max_steps=0 --set "train.epochs=$EPOCHS" \
    --set train.tokens_per_step=0 --set train.batch_size=2 --set train.micro_batch_size=2 \
    --set optim.lr=4e-4 --set optim.weight_decay=0.1 --set optim.schedule=constant \
    --set optim.warmup_steps=0 --set model.dropout=0.1 \
    --set train.eval_interval_steps=10 --set train.eval_batches=5 --set train.eval_at_start=true \
    --set 'train.sample_prompts=["at the start of"]' --set train.sample_max_new_tokens=20 \
    --set train.sample_temperature=0 --set train.sample_every_epoch=true
# report.html (written by training) plots train and val loss against steps and tokens seen.

# --- 5. decoding: greedy, temperature, top-k, then next-token draws -------------------------------
"$GPTLAB" generate "$OUT/run" --prompt "at the start of" --greedy --max-new-tokens 25
# Low temperature sharpens the distribution (close to greedy), high flattens it (odder words).
"$GPTLAB" generate "$OUT/run" --prompt "at the start of" --temperature 0.1 --top-k 0 \
    --max-new-tokens 25 --seed 123
"$GPTLAB" generate "$OUT/run" --prompt "at the start of" --temperature 5.0 --top-k 0 \
    --max-new-tokens 25 --seed 123
# Top-k keeps only the k likeliest tokens, so a high temperature stays readable.
"$GPTLAB" generate "$OUT/run" --prompt "at the start of" --temperature 1.4 --top-k 25 \
    --max-new-tokens 25 --seed 123
# What the sampler draws from: the next token after the prompt drawn 1,000 times, at temperature
# 1 (the model's own probabilities), 0.1 (nearly always the likeliest) and 5 (spread over many).
for TEMPERATURE in 1 0.1 5; do
    "$GPTLAB" generate "$OUT/run" --prompt "at the start of" --temperature "$TEMPERATURE" \
        --top-k 0 --next-token-draws 1000 --seed 123
done

echo "report (loss vs steps and tokens seen, samples per epoch): $OUT/run/report.html"
