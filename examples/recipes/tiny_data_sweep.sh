#!/usr/bin/env bash
# A hyperparameter sweep on tiny data: one Chinese sentence, then a few short poems.
#
# The write-up: a character-level GPT trained on one sentence, then on a small poetry collection,
# grid over batch size {8, 16, 32, 64}, block size (64 included, longer than the sentence),
# embedding {32, 64, 128, 256}, hidden {64, 128, 256}, layers {2 ... 12}, lr {1e-4, 5e-4, 1e-3}
# and dropout {0, 0.1, 0.2, 0.3}; every trial ranked by its final train loss (there is no val
# text), the mean final loss per value of each parameter; the best model (2 layers, embed 64,
# hidden 128) reproduces the sentence with greedy or temperature-0.1 sampling.
#
# Scales (the texts are ours, in examples/recipes/data/: a 31-character sentence and six
# four-line poems, 150 characters):
#   default  8 trials per text (layers x lr x dropout), 300 steps each, batch 8; a few minutes on
#            a 2-core CPU.
#   --full   (or FULL=1) the write-up's value lists, 48 random trials per text (the full grid has
#            over 10,000 combinations), 2,000 steps each (the write-up gives no step count or
#            time; this is our choice). Still CPU-sized: about an hour on a laptop.
#   RECIPE_SMOKE=1  2 trials of 3 steps: only checks that every command runs (tests use it).
#
# Environment: GPTLAB (the CLI, default `gptlab`), OUT (output folder).
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
HERE=$(cd "$(dirname "$0")" && pwd)
OUT=${OUT:-recipe_runs/tiny_data_sweep}
mkdir -p "$OUT"
OUT=$(cd "$OUT" && pwd)   # sweep specs resolve relative paths from their own folder

# --- scale -------------------------------------------------------------------------------------
METHOD=grid
TRIALS_LINE=""              # random search: how many trials
STEPS=300
SENTENCE_CONTEXT=16         # the sentence is 32 tokens with its end-of-text mark
POEMS_CONTEXT=32
# Values as TOML lists: the CPU default varies three settings, the rest stay at [base].
LAYERS="[2, 4]"
LRS="[5e-4, 1e-3]"
DROPOUTS="[0.0, 0.3]"
EXTRA_PARAMETERS=""
if [ "$FULL" = 1 ]; then
    METHOD=random
    TRIALS_LINE="trials = 48"
    STEPS=2000
    LAYERS="[2, 4, 6, 8, 10, 12]"
    LRS="[1e-4, 5e-4, 1e-3]"
    DROPOUTS="[0.0, 0.1, 0.2, 0.3]"
    EXTRA_PARAMETERS='"train.batch_size" = [8, 16, 32, 64]
"model.n_embd" = [32, 64, 128, 256]
"model.ffn_dim" = [64, 128, 256]'
fi
if [ "$SMOKE" = 1 ]; then
    STEPS=3
    LAYERS="[2]"
    LRS="[1e-3]"
fi

# write_spec NAME DATA CONTEXT PROMPT: a sweep spec ranked by train loss (the data has no val split).
write_spec() {
    local name=$1 data=$2 context=$3 prompt=$4
    cat > "$OUT/$name.toml" <<EOF
[sweep]
name = "$name"
out = "$name"
method = "$METHOD"
$TRIALS_LINE
preset = "tiny"
metric = "train_loss"

[base]
data.path = "$data"
"model.n_head" = 2
"model.n_embd" = 64
"model.ffn_dim" = 128
"model.context_length" = $context
"train.batch_size" = 8
"train.max_steps" = $STEPS
"optim.min_lr" = 1e-5
"optim.weight_decay" = 0.0
"train.sample_prompts" = ["$prompt"]
"train.sample_temperature" = 0.1

[parameters]
"model.n_layer" = $LAYERS
"optim.lr" = $LRS
"model.dropout" = $DROPOUTS
$EXTRA_PARAMETERS
EOF
}

# best_trial SWEEP: the folder of the trial ranked first (summary.csv is sorted best first).
best_trial() {
    local id
    id=$(awk -F, 'NR == 2 { print $2 }' "$1/summary.csv")
    echo "$1/trials/$id"
}

# --- 1. one sentence ----------------------------------------------------------------------------
# Characters as tokens; --val-fraction 0 because the write-up trains on the whole sentence and
# ranks by train loss (a val split of one sentence would be a few characters).
"$GPTLAB" prepare "$HERE/data/sentence_zh.txt" --tokenizer char --val-fraction 0 \
    --out "$OUT/data/sentence" --overwrite

# Character statistics (Chinese has no spaces, so analyze counts characters, not words).
"$GPTLAB" analyze "$OUT/data/sentence" --context "$SENTENCE_CONTEXT"

write_spec sentence "$OUT/data/sentence" "$SENTENCE_CONTEXT" "小猫"
# Check every trial before training any: context against the data, batch arithmetic, sizes.
"$GPTLAB" sweep "$OUT/sentence.toml" --dry-run --no-timing
# Train the trials; the summary ranks them by final train loss and gives each parameter's
# mean and best loss per value (summary.md, summary.html with each trial's last samples).
"$GPTLAB" sweep "$OUT/sentence.toml" --quiet

BEST=$(best_trial "$OUT/sentence")
echo "best trial on the sentence: $BEST"
# Greedy decoding from the first two characters: a model that has memorised the sentence
# continues it character for character.
"$GPTLAB" generate "$BEST" --prompt "小猫" --greedy --max-new-tokens 40
# Temperature 0.1 is nearly greedy: the write-up's other way to get the sentence back.
"$GPTLAB" generate "$BEST" --prompt "小猫" --temperature 0.1 --top-k 0 --max-new-tokens 40 --seed 0

# --- 2. a small text: six short poems ------------------------------------------------------------
"$GPTLAB" prepare "$HERE/data/poems_zh.txt" --tokenizer char --split contiguous \
    --val-fraction 0 --out "$OUT/data/poems" --overwrite
write_spec poems "$OUT/data/poems" "$POEMS_CONTEXT" "山前"
"$GPTLAB" sweep "$OUT/poems.toml" --quiet

BEST=$(best_trial "$OUT/poems")
echo "best trial on the poems: $BEST"
# Greedy from a poem's first characters, then a warmer sample that mixes lines of the poems.
"$GPTLAB" generate "$BEST" --prompt "山前" --greedy --max-new-tokens 60
"$GPTLAB" generate "$BEST" --prompt "月亮" --temperature 0.8 --top-k 10 --max-new-tokens 60 --seed 1

echo "summaries: $OUT/sentence/summary.html  $OUT/poems/summary.html"
