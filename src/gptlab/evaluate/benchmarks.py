"""HellaSwag (multiple choice) and LAMBADA (last word) on their jsonl files.

Both score continuations after a context in one padded forward pass per row; contexts too long
for the model are cropped from the left. HellaSwag acc_norm divides an ending's summed log-prob by
its length: in characters of the ending as given, without the space put before it ("chars", what
lm-evaluation-harness computes: `len(choice)` over its choices), or in UTF-8 bytes of
" " + ending ("bytes"). The trade-off: one forward pass per row keeps the code plain and the
memory small, but is slower than batching many rows together.
"""

from __future__ import annotations

import math
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn

from gptlab.errors import ConfigError, DataError
from gptlab.evaluate.progress import EvalProgress
from gptlab.evaluate.scoring import model_context_length, model_device, softmax_vocab_size
from gptlab.jsonio import is_whole_number, parse_json

HELLASWAG_KEYS = ("ctx", "endings", "label")
"""Keys every HellaSwag jsonl row must have (the original dataset's schema)."""
HELLASWAG_ENDINGS = 4
"""Candidate endings per HellaSwag row."""
ACC_NORM_CONVENTIONS = ("chars", "bytes")
"""What HellaSwag acc_norm divides by: "chars" (lm-evaluation-harness) or "bytes"."""


def _read_jsonl(path: str | Path, what: str) -> Iterator[tuple[int, dict[str, Any]]]:
    """(line number, object) for every non-blank line; DataError naming file and line otherwise."""
    p = Path(path)
    if not p.is_file():
        raise DataError(f"{what} file {p} does not exist (or is not a file): check the path.")
    try:
        lines = p.read_text(encoding="utf-8").splitlines()
    except UnicodeDecodeError as exc:
        raise DataError(f"{what} file {p} is not UTF-8 text ({exc.reason}).") from exc
    for number, line in enumerate(lines, start=1):
        if not line.strip():
            continue
        row = parse_json(
            line, f"{what} file {p}, line {number}", fix="Each line must be one JSON object."
        )
        if not isinstance(row, dict):
            raise DataError(
                f"{what} file {p}, line {number}: expected a JSON object, got {type(row).__name__}."
            )
        yield number, row


def _hellaswag_row(
    path: str | Path, number: int, row: dict[str, Any]
) -> tuple[str, list[str], int]:
    where = f"HellaSwag file {path}, line {number}"
    for key in HELLASWAG_KEYS:
        if key not in row:
            raise DataError(
                f"{where}: missing key {key!r}. Each row needs ctx (text), endings (4 texts) "
                "and label (0-3), as in the original hellaswag_val.jsonl."
            )
    ctx, endings, label = row["ctx"], row["endings"], row["label"]
    if not isinstance(ctx, str):
        raise DataError(f"{where}: 'ctx' must be a string, got {type(ctx).__name__}.")
    if (
        not isinstance(endings, list)
        or len(endings) != HELLASWAG_ENDINGS
        or not all(isinstance(e, str) and e for e in endings)
    ):
        raise DataError(f"{where}: 'endings' must be a list of 4 non-empty strings.")
    # The original file writes the label as a number, some copies as a string ("2"); 2.7 is neither.
    label_index = int(label) if isinstance(label, str) and label in ("0", "1", "2", "3") else label
    if not is_whole_number(label_index) or not 0 <= label_index < HELLASWAG_ENDINGS:
        raise DataError(f"{where}: 'label' must be 0, 1, 2 or 3, got {label!r}.")
    return ctx, endings, int(label_index)


def _continuation_scores(
    model: nn.Module,
    prefix: list[int],
    continuations: list[list[int]],
    *,
    vocab_size: int,
    device: torch.device,
) -> tuple[list[float], list[bool]]:
    """Summed log-probs of each continuation after the prefix, and whether greedy gets it exactly.

    One padded batch; each sequence keeps at most context_length + 1 tokens, cropped from the left.
    """
    ctx_len = model_context_length(model)
    seqs, n_scored = [], []
    for cont in continuations:
        seq = (prefix + cont)[-(ctx_len + 1) :]
        seqs.append(seq)
        n_scored.append(min(len(cont), len(seq) - 1))
    width = max(len(s) for s in seqs) - 1
    x = torch.zeros(len(seqs), width, dtype=torch.long)
    y = torch.zeros(len(seqs), width, dtype=torch.long)
    for i, seq in enumerate(seqs):
        x[i, : len(seq) - 1] = torch.tensor(seq[:-1])
        y[i, : len(seq) - 1] = torch.tensor(seq[1:])
    logits, _ = model(x.to(device))  # (B, T, V)
    sums, exact = [], []
    for i, seq in enumerate(seqs):
        end = len(seq) - 1
        span = slice(end - n_scored[i], end)
        # Softmax only at the scored positions: a 50k vocabulary makes the rest the main cost.
        log_probs = F.log_softmax(logits[i, span, :vocab_size].float(), dim=-1)  # (n, V)
        targets = y[i, span].to(log_probs.device)
        target_lp = log_probs.gather(-1, targets.unsqueeze(-1)).squeeze(-1)  # (n,)
        sums.append(float(target_lp.double().sum()))
        exact.append(bool((log_probs.argmax(-1) == targets).all()))
    return sums, exact


def _prefix_ids(tokenizer: Any, text: str) -> list[int]:
    """Context token ids; an empty context becomes [EOS] so the first token has something to see."""
    ids = list(tokenizer.encode(text)) if text else []
    return ids or [int(tokenizer.eos_id)]


def evaluate_hellaswag(
    model: nn.Module,
    tokenizer: Any,
    path: str | Path,
    *,
    device: str | torch.device | None = None,
    limit: int | None = None,
    progress: bool = False,
    acc_norm: str = "chars",
) -> dict[str, Any]:
    """HellaSwag, completion style, on the original jsonl (keys ctx, endings, label).

    Each ending is encoded as " " + ending after the encoded ctx and scored by the sum of its
    tokens' log-probs. acc picks the highest sum; acc_norm the highest sum per unit of length:
    acc_norm="chars" divides by the characters of the ending as given, without the leading space
    (lm-evaluation-harness: len() of each choice), "bytes" by the UTF-8 bytes of " " + ending.
    The result names the convention ("acc_norm_convention"). Texts are used as given (no clean-up
    of WikiHow's "[header]" tags). Contexts too long for the model are cropped from the left.
    """
    if acc_norm not in ACC_NORM_CONVENTIONS:
        raise ConfigError(
            f"acc_norm={acc_norm!r} is not a HellaSwag length normalisation: use 'chars' (the "
            "ending's characters, as lm-evaluation-harness) or 'bytes' (UTF-8 bytes of ' ' + "
            "ending)."
        )
    rows = [_hellaswag_row(path, n, row) for n, row in _read_jsonl(path, "HellaSwag")]
    if limit is not None:
        rows = rows[: max(0, limit)]
    if not rows:
        raise DataError(f"HellaSwag file {path} has no rows to score (or --limit is 0).")
    dev = model_device(model, device)
    vocab = softmax_vocab_size(model, tokenizer.vocab_size)
    correct = correct_norm = 0
    was_training = model.training
    model.eval()
    try:
        with torch.inference_mode(), EvalProgress(progress, "hellaswag", len(rows)) as advance:
            for ctx, endings, label in rows:
                continuations = [list(tokenizer.encode(" " + e)) for e in endings]
                sums, _ = _continuation_scores(
                    model,
                    _prefix_ids(tokenizer, ctx),
                    continuations,
                    vocab_size=vocab,
                    device=dev,
                )
                correct += int(int(np.argmax(sums)) == label)
                correct_norm += int(normalised_choice(sums, endings, acc_norm) == label)
                advance(1)
    finally:
        model.train(was_training)
    return {
        "acc": correct / len(rows),
        "acc_norm": correct_norm / len(rows),
        "acc_norm_convention": acc_norm,
        "count": len(rows),
    }


def normalised_choice(sums: list[float], endings: list[str], convention: str) -> int:
    """The acc_norm pick: the ending with the highest log-prob per unit of length."""
    norms = [s / _ending_length(e, convention) for s, e in zip(sums, endings, strict=True)]
    return int(np.argmax(norms))


def _ending_length(ending: str, convention: str) -> int:
    """The length acc_norm divides by (see ACC_NORM_CONVENTIONS); at least 1."""
    if convention == "chars":
        return max(1, len(ending))
    return len((" " + ending).encode("utf-8", "surrogatepass"))


def evaluate_lambada(
    model: nn.Module,
    tokenizer: Any,
    path: str | Path,
    *,
    device: str | torch.device | None = None,
    limit: int | None = None,
    progress: bool = False,
) -> dict[str, Any]:
    """LAMBADA last-word accuracy and perplexity of the last word's tokens.

    Each jsonl line is {"text": ...}; the target is " " + the word after the last space. A row is
    correct when greedy decoding (argmax at every target token, given the true ones before it)
    reproduces the target tokens exactly. ppl = exp(mean nats per target token).
    """
    items: list[tuple[str, str]] = []
    for number, row in _read_jsonl(path, "LAMBADA"):
        text = row.get("text")
        if not isinstance(text, str):
            raise DataError(
                f"LAMBADA file {path}, line {number}: missing string key 'text'. Each line must "
                'be {"text": "... last word"}.'
            )
        text = text.strip()
        cut = text.rfind(" ")
        if cut <= 0 or cut == len(text) - 1:
            raise DataError(
                f"LAMBADA file {path}, line {number}: the text needs a context and a last word "
                "separated by a space."
            )
        items.append((text[:cut], text[cut:]))
    if limit is not None:
        items = items[: max(0, limit)]
    if not items:
        raise DataError(f"LAMBADA file {path} has no rows to score (or --limit is 0).")
    dev = model_device(model, device)
    vocab = softmax_vocab_size(model, tokenizer.vocab_size)
    correct = 0
    nats = 0.0
    target_tokens = 0
    was_training = model.training
    model.eval()
    try:
        with torch.inference_mode(), EvalProgress(progress, "lambada", len(items)) as advance:
            for context, target in items:
                target_ids = list(tokenizer.encode(target))
                sums, exact = _continuation_scores(
                    model,
                    _prefix_ids(tokenizer, context),
                    [target_ids],
                    vocab_size=vocab,
                    device=dev,
                )
                correct += int(exact[0])
                nats -= sums[0]
                target_tokens += min(len(target_ids), model_context_length(model))
                advance(1)
    finally:
        model.train(was_training)
    mean_nats = nats / max(1, target_tokens)
    return {
        "acc": correct / len(items),
        "ppl": math.exp(mean_nats) if mean_nats < 700 else math.inf,
        "count": len(items),
    }
