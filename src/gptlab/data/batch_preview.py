"""The first batches a training run would draw, decoded: what the model reads and must predict.

`preview_batches()` builds the training loader (gptlab.data.loader.TokenLoader, the same class and
arguments `gptlab train` uses) and decodes each sample's input and target tokens one by one, so a
user sees exactly how windows are cut: the target is the input shifted one token to the left.

Trade-off: tokens are decoded one at a time, so a character split over several byte or BPE tokens
shows as U+FFFD pieces; that is what those tokens are, and it is the point of looking.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

from gptlab.data.loader import TokenLoader
from gptlab.data.tokenizers import load_tokenizer
from gptlab.errors import ConfigError

MAX_PREVIEW_TOKENS = 4096
"""Upper bound of batches x samples x context shown, so a typo cannot flood the terminal."""
_VISIBLE = {" ": "·", "\n": "⏎", "\t": "⇥"}


@dataclass(frozen=True)
class SamplePreview:
    """One sample of a batch: ids and their one-token texts."""

    input_ids: list[int]
    target_ids: list[int]
    input_pieces: list[str]
    target_pieces: list[str]
    target_counts: list[bool]
    """Per target, whether it counts in the loss (False only on document-mode padding)."""


@dataclass(frozen=True)
class BatchPreview:
    index: int
    samples: list[SamplePreview]


def visible(piece: str) -> str:
    """A token's text with space, newline and tab drawn as ·, ⏎ and ⇥."""
    return "".join(_VISIBLE.get(character, character) for character in piece)


def preview_batches(
    dataset: str | Path,
    *,
    split: str = "train",
    mode: str = "random",
    context_length: int = 8,
    stride: int = 0,
    batch_size: int = 2,
    count: int = 3,
    shuffle: bool = True,
    seed: int = 0,
) -> list[BatchPreview]:
    """The first `count` batches of `split`, as training with these settings would draw them."""
    if count < 1:
        raise ConfigError(f"--count {count} must be at least 1 (batches to show).")
    if count * batch_size * context_length > MAX_PREVIEW_TOKENS:
        raise ConfigError(
            f"--count {count} x --batch {batch_size} x --context {context_length} = "
            f"{count * batch_size * context_length:,} tokens is more than this preview shows "
            f"({MAX_PREVIEW_TOKENS:,}). Use fewer or smaller batches."
        )
    loader = TokenLoader(
        dataset,
        split,
        batch_size=batch_size,
        context_length=context_length,
        mode=mode,
        stride=stride,
        shuffle=shuffle,
        seed=seed,
    )
    tokenizer = load_tokenizer(dataset)
    previews = []
    for index in range(count):
        batch = loader.next_batch()
        samples = []
        for row in range(batch.x.shape[0]):
            x = [int(i) for i in batch.x[row].tolist()]
            y = [int(i) for i in batch.y[row].tolist()]
            mask = [True] * len(y) if batch.loss_mask is None else batch.loss_mask[row].tolist()
            samples.append(
                SamplePreview(
                    input_ids=x,
                    target_ids=y,
                    input_pieces=[_piece(tokenizer, i) for i in x],
                    target_pieces=[_piece(tokenizer, i) for i in y],
                    target_counts=[bool(m) for m in mask],
                )
            )
        previews.append(BatchPreview(index, samples))
    return previews


def _piece(tokenizer: Any, token_id: int) -> str:
    return visible(tokenizer.decode([token_id]))
