#!/usr/bin/env bash
# The classic TinyStories study: three GPT-2 sizes (14M, 29M, 49M) on the same stories, with a
# dataset analysis, a seven-metric comparison, attention and activation pictures, and samples.
#
# Scales:
#   default  CPU, about 4 minutes: the first 1,727 TinyStories stories from $SHARED_DATA (or
#            3,000 stories of the built-in corpus when that folder is absent), a BPE of 2,048 ids
#            trained on them, stories over 256 tokens dropped as the study does (1,426 kept), so
#            each whole story fits the context of 256; each size at half the study's width
#            (64 / 128 / 192 for 128 / 256 / 384; layers, heads, dropout, weight decay and clip
#            as the study), 100 steps of 4 stories at lr 1e-3 -> 1e-4 (the study's 1e-4 needs
#            its 67,000 steps).
#   --full   (or FULL=1) the study itself: TinyStories from the Hugging Face hub (2,119,719
#            stories, about 1.7M kept after dropping those over 256 or under 2 GPT-2 tokens),
#            GPT-2's tokenizer (50,257 ids), the presets seed-14m / seed-29m / seed-49m unchanged:
#            context 256, 5 epochs = 66,910 steps of 128 stories (14M, 29M) and 89,215 steps of
#            96 (49M), lr 1e-4 -> 1e-6 cosine, about 2 h (14M) to 4 h (49M) on one GPU. The study's
#            final train losses: 2.12 / 1.74 / 1.51 (see ../shared/REFERENCE.md).
#   RECIPE_SMOKE=1  200 built-in stories, byte tokens, 3 steps, viz and generate of the 14M only:
#                   checks that every command runs.
#
# Environment: GPTLAB (the CLI, default `gptlab`), SHARED_DATA (default ../shared/data from the
# repository root), OUT (output folder, default recipe_runs/tinystories_three_sizes).
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
OUT=${OUT:-recipe_runs/tinystories_three_sizes}
PROMPT="Once upon a time, there was a little girl named Lily who loved to play in the garden."

# --- scale -------------------------------------------------------------------------------------
SIZES="14m 29m 49m"
STORIES_FILE=$SHARED_DATA/tinystories/TinyStoriesV2-GPT4-train.first10000lines.txt
DEVICE=cpu
SHRINK=1                      # 1: the CPU overrides below; 0: the presets exactly as the study
STEPS=100
BATCH=4
CONTEXT=256
WIDTH_14m=64 WIDTH_29m=128 WIDTH_49m=192
LR=1e-3 MIN_LR=1e-4
if [ "$FULL" = 1 ]; then
    DEVICE=auto
    SHRINK=0
fi
if [ "$SMOKE" = 1 ]; then
    STEPS=3 BATCH=4 CONTEXT=32
    WIDTH_14m=16 WIDTH_29m=32 WIDTH_49m=48
fi

# --- 1. prepare ----------------------------------------------------------------------------------
if [ "$FULL" = 1 ]; then
    # The study's data and filter: GPT-2 BPE, stories of 2 to 256 tokens, the hub's own val split.
    # GPT-2's tokenizer files load offline from $SHARED_DATA/gpt2_tokenizer when present.
    [ -d "$SHARED_DATA/gpt2_tokenizer" ] && export GPTLAB_TOKENIZER_DIR=$SHARED_DATA/gpt2_tokenizer
    "$GPTLAB" prepare tinystories --tokenizer gpt2 --min-tokens 2 --max-tokens 256 \
        --out "$OUT/data" --overwrite
elif [ "$SMOKE" = 1 ]; then
    "$GPTLAB" prepare builtin --stories 200 --tokenizer byte --val-fraction 0.1 \
        --out "$OUT/data" --overwrite
elif [ -f "$STORIES_FILE" ]; then
    # Real TinyStories, a small BPE (GPT-2's 50k-id head would dominate a CPU step), 5% of the
    # stories held out as val; the study's filter, so that document mode reads whole stories.
    "$GPTLAB" prepare "$STORIES_FILE" --tokenizer bpe --vocab-size 2048 --val-fraction 0.05 \
        --min-tokens 2 --max-tokens "$CONTEXT" --out "$OUT/data" --overwrite
else
    echo "note: $STORIES_FILE not found; using the built-in story corpus instead"
    "$GPTLAB" prepare builtin --stories 3000 --tokenizer bpe --vocab-size 2048 --val-fraction 0.05 \
        --min-tokens 2 --max-tokens "$CONTEXT" --out "$OUT/data" --overwrite
fi

# --- 2. analyze: the study's dataset table (stories, sentences, words, TTR, top words) ----------
"$GPTLAB" analyze "$OUT/data" --context 256

# --- 3. train the three sizes ---------------------------------------------------------------------
for size in $SIZES; do
    overrides=()
    if [ "$SHRINK" = 1 ]; then
        width_var=WIDTH_$size
        width=${!width_var}
        # Width shrunk, ffn kept at 4x; dropout, weight decay and clip stay the study's.
        overrides=(--max-steps "$STEPS"
            --set "model.n_embd=$width" --set "model.ffn_dim=$((4 * width))"
            --set "model.context_length=$CONTEXT" --set "train.batch_size=$BATCH"
            --set "optim.lr=$LR" --set "optim.min_lr=$MIN_LR")
    fi
    # One story per sample (the presets' data.batch_mode=document), untied embeddings.
    "$GPTLAB" train --preset "seed-$size" --data "$OUT/data" --out "$OUT/runs/seed-$size" \
        --device "$DEVICE" "${overrides[@]}"
done

# --- 4. evaluate each model on the whole val split (the table's val loss and accuracy) ---------
for size in $SIZES; do
    "$GPTLAB" eval "$OUT/runs/seed-$size" --device "$DEVICE"
done

# --- 5. compare: parameters, steps, train and val loss, accuracy, perplexity, gap, and curves
# of loss, accuracy, LR and grad norm overlaid (compare.md / compare.html) ------------------------
"$GPTLAB" compare "$OUT/runs/seed-14m" "$OUT/runs/seed-29m" "$OUT/runs/seed-49m" \
    --out "$OUT/compare"

# --- 6. look inside: attention per layer and head, activations after attention and in the MLP -
LOOK_SIZES=$SIZES
[ "$SMOKE" = 1 ] && LOOK_SIZES=14m   # the smoke test checks each command once
for size in $LOOK_SIZES; do
    "$GPTLAB" viz "$OUT/runs/seed-$size" --prompt "Lily saw a big red ball in the garden."
done

# --- 7. generate with the study's settings: temperature 0.7, top-k 20, 100 tokens ----------------
for size in $LOOK_SIZES; do
    echo "== seed-$size"
    "$GPTLAB" generate "$OUT/runs/seed-$size" --prompt "$PROMPT" --temperature 0.7 --top-k 20 \
        --max-new-tokens 100 --seed 0 --device "$DEVICE"
done

echo "compare table: $OUT/compare/compare.md; reports: $OUT/runs/seed-*/report.html"
