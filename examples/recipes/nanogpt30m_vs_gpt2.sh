#!/usr/bin/env bash
# A 30M nanoGPT trained from scratch against the public GPT-2 124M, on the same validation text.
#
# The write-up: 6 layers, 6 heads, 384 wide, context 512, dropout 0.0, 20,000 iterations of 64
# sequences (gradient accumulation; about 32k tokens per iteration, 0.65B tokens in all) on
# OpenWebText; its val loss levels off at 4.0-5.0 (perplexity 80-120), while GPT-2 124M scores a
# perplexity of about 35-45 on the same text.
# Where our preset nanogpt-30m differs from the write-up, this recipe sets the write-up's value:
# dropout 0.1 -> 0.0 and 5,000 -> 20,000 iterations (and the 64-sequence batch is set as
# train.batch_size, so a smaller micro batch accumulates to it).
#
# Scales:
#   default  CPU, a few minutes: WikiText-2's validation text stands in for OpenWebText (GPT-2
#            tokens, 5% of the articles held out), nanogpt-30m shrunk to 2 layers, 128 wide,
#            context 256, 8 sequences per step, 100 steps.
#   --full   (or FULL=1) OpenWebText from the Hugging Face hub (about 9B GPT-2 tokens; 0.05% held
#            out as val, as nanoGPT does), the write-up's model and 20,000 iterations. The
#            write-up gives no GPU hours: 6 x 30M x 0.65B = 1.2e17 FLOPs, well under an hour on one
#            current GPU.
#   RECIPE_SMOKE=1  3 steps on the first 50,000 characters: checks that every command runs.
#
# The GPT-2 half needs a local Hugging Face GPT-2 folder (config.json + model.safetensors, e.g.
# openai-community/gpt2 downloaded by you): GPT2_DIR, default the first such folder under
# $SHARED_DATA. Without one, that half is skipped with a message.
# Environment: GPTLAB (the CLI, default `gptlab`), SHARED_DATA (default ../shared/data from the
# repository root), GPT2_DIR, OUT (default recipe_runs/nanogpt30m_vs_gpt2).
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
OUT=${OUT:-recipe_runs/nanogpt30m_vs_gpt2}
WIKI=$SHARED_DATA/wikitext-2-raw/wiki.valid.raw
if [ -z "${GPT2_DIR:-}" ] && [ -d "$SHARED_DATA" ]; then
    # The first folder under SHARED_DATA holding a GPT-2 config.json and safetensors weights.
    GPT2_DIR=$(find "$SHARED_DATA" -name model.safetensors -path '*gpt2*' -printf '%h\n' 2>/dev/null \
        | head -n 1)
fi
GPT2_DIR=${GPT2_DIR:-}

if [ ! -f "$SHARED_DATA/gpt2_tokenizer/r50k_base.tiktoken" ]; then
    echo "skipped: this recipe needs GPT-2's tokenizer files in $SHARED_DATA/gpt2_tokenizer;" \
        "set SHARED_DATA to the folder that holds them."
    exit 0
fi
# GPT-2's BPE from local files (no download): both models read the text with the same tokens.
export GPTLAB_TOKENIZER_DIR=$SHARED_DATA/gpt2_tokenizer
mkdir -p "$OUT"

# --- scale -------------------------------------------------------------------------------------
# The write-up's settings where the preset differs: no dropout, a 64-sequence batch.
TRAIN_ARGS=(--preset nanogpt-30m --set model.dropout=0.0)
if [ "$FULL" = 1 ]; then
    TRAIN_ARGS+=(--device auto --max-steps 20000 --set train.batch_size=64)
elif [ "$SMOKE" = 1 ]; then
    TRAIN_ARGS+=(--device cpu --max-steps 3 --set model.n_layer=1 --set model.n_head=2
        --set model.n_embd=32 --set model.context_length=64 --set train.batch_size=2)
else
    TRAIN_ARGS+=(--device cpu --max-steps 100 --set model.n_layer=2 --set model.n_head=4
        --set model.n_embd=128 --set model.context_length=256 --set train.batch_size=8)
fi

# --- 1. prepare ------------------------------------------------------------------------------------
if [ "$FULL" = 1 ]; then
    "$GPTLAB" prepare openwebtext --tokenizer gpt2 --val-fraction 0.0005 --out "$OUT/data" \
        --overwrite
elif [ ! -f "$WIKI" ]; then
    echo "skipped: $WIKI not found (the CPU stand-in for OpenWebText); set SHARED_DATA."
    exit 0
else
    TEXT=$WIKI
    if [ "$SMOKE" = 1 ]; then
        head -c 50000 "$WIKI" > "$OUT/wiki_head.raw"
        TEXT=$OUT/wiki_head.raw
    fi
    "$GPTLAB" prepare "$TEXT" --tokenizer gpt2 --split-mode wikitext --val-fraction 0.05 \
        --out "$OUT/data" --overwrite
fi

# --- 2. train the 30M model and score it on the whole val split ---------------------------------
"$GPTLAB" train --data "$OUT/data" --out "$OUT/nanogpt-30m" "${TRAIN_ARGS[@]}"
"$GPTLAB" eval "$OUT/nanogpt-30m"

# --- 3. GPT-2 124M on the same val split, then one table -----------------------------------------
if [ -z "$GPT2_DIR" ] || [ ! -f "$GPT2_DIR/config.json" ]; then
    echo "skipped the GPT-2 half: no local GPT-2 folder (config.json + model.safetensors) under" \
        "$SHARED_DATA; set GPT2_DIR to one (e.g. openai-community/gpt2 downloaded from the hub)."
    "$GPTLAB" compare "$OUT/nanogpt-30m" --out "$OUT/compare"
    exit 0
fi
# import-hf reads safetensors only (never a pickle) and makes a run folder gptlab can score.
"$GPTLAB" import-hf "$GPT2_DIR" --out "$OUT/gpt2-124m" --overwrite
# --data: the same val split the 30M model was scored on.
"$GPTLAB" eval "$OUT/gpt2-124m" --data "$OUT/data"
# One table: the trained run from its metrics and eval.json, GPT-2 from its eval.json.
"$GPTLAB" compare "$OUT/nanogpt-30m" "$OUT/gpt2-124m" --out "$OUT/compare"
echo "compare table: $OUT/compare/compare.md"
