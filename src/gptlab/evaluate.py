"""Evaluation of a trained model: loss, perplexity, bits per byte and accuracy; HellaSwag; LAMBADA.

Token streams (a prepared split or a raw text) are scored with strided sliding windows, so that
every token is scored exactly once and, after the first window, with at least
`context_length - stride` tokens of context. This is the standard way to make a perplexity
comparable with published numbers. The trade-off: a smaller stride gives each token more context
(lower, fairer perplexity) but costs `context_length / stride` times more forward passes.

Conventions, stated once:
- Target positions are 1 .. N-1 of an N-token stream: the very first token has no context, so it
  is never scored. "tokens" in an EvalResult counts scored targets (N - 1).
- Windows start at 0, stride, 2*stride, ... and one final window ends exactly on the last token,
  so every window (but a stream shorter than one window) is full length; each window scores only
  the targets that the windows before it did not.
- Probabilities are a softmax over the tokenizer's real vocabulary (the padded rows of the
  embedding table are never a valid token and are left out).
- bits_per_byte = total nats / ln 2 / UTF-8 bytes of the evaluated token stream: all bytes of the
  text (of a prepared split: its "bytes" in meta.json). With max_tokens, the exact bytes of the
  first max_tokens tokens (each token's bytes from its tokenizer; EOS stands for none).
- HellaSwag acc_norm divides an ending's summed log-prob by its length: in characters of the
  ending as given, without the space put before it ("chars", what lm-evaluation-harness computes:
  `len(choice)` over its choices), or in UTF-8 bytes of " " + ending ("bytes").
"""

from __future__ import annotations

import json
import math
from collections.abc import Callable, Iterator
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn

from gptlab.data.token_bytes import tokens_bytes
from gptlab.errors import ConfigError, DataError
from gptlab.eval_history import append_eval_history
from gptlab.fileio import atomic_write_json
from gptlab.jsonio import is_whole_number, parse_json
from gptlab.train.runtime import resolve_device

HELLASWAG_KEYS = ("ctx", "endings", "label")
"""Keys every HellaSwag jsonl row must have (the original dataset's schema)."""
HELLASWAG_ENDINGS = 4
"""Candidate endings per HellaSwag row."""
ACC_NORM_CONVENTIONS = ("chars", "bytes")
"""What HellaSwag acc_norm divides by: "chars" (lm-evaluation-harness) or "bytes"."""


@dataclass(frozen=True)
class EvalResult:
    """Scores of one token stream."""

    loss: float
    """Mean cross-entropy in nats per scored token."""
    ppl: float
    """Perplexity: exp(loss)."""
    bits_per_byte: float
    """Total bits over the UTF-8 bytes of the text (tokenizer-independent); nan when bytes == 0."""
    acc: float
    """Share of scored tokens whose most likely prediction is the target."""
    acc_top5: float
    """Share of scored tokens whose target is among the 5 most likely predictions."""
    tokens: int
    """Tokens scored (targets), each exactly once."""
    bytes: int
    """UTF-8 bytes the tokens stand for (the denominator of bits_per_byte)."""
    source: str
    """What was scored, e.g. 'split:val of data/x' or 'text:wiki.valid.raw'."""

    def to_dict(self) -> dict[str, Any]:
        """Plain JSON-able dict (nan/inf become None)."""
        return {k: _finite_or_none(v) for k, v in asdict(self).items()}


def _finite_or_none(value: Any) -> Any:
    if isinstance(value, float) and not math.isfinite(value):
        return None
    return value


# ---------------------------------------------------------------------------------------------
# Model facts read from the module names every GPT here shares (Hugging Face GPT-2 layout).


def model_context_length(model: nn.Module) -> int:
    """Longest sequence the model accepts: the rows of its position embedding."""
    wpe = model.get_submodule("transformer.wpe")
    assert isinstance(wpe, nn.Embedding)
    return int(wpe.num_embeddings)


def _vocab_size(model: nn.Module, tokenizer_vocab_size: int | None) -> int:
    """Real vocabulary to take the softmax over: the tokenizer's, else the model's config."""
    if tokenizer_vocab_size:
        return tokenizer_vocab_size
    cfg = getattr(model, "cfg", None) or getattr(model, "config", None)
    vocab = int(getattr(cfg, "vocab_size", 0) or 0)
    if vocab <= 0:
        wte = model.get_submodule("transformer.wte")
        assert isinstance(wte, nn.Embedding)
        vocab = int(wte.num_embeddings)
    return vocab


def _logits(model: nn.Module, idx: torch.Tensor, vocab_size: int) -> torch.Tensor:
    """(B, T, vocab_size) float32 next-token logits at every position."""
    logits, _ = model(idx)
    return logits[..., :vocab_size].float()


def _model_device(model: nn.Module, device: str | torch.device | None) -> torch.device:
    if device is not None:
        return torch.device(device)
    return next(model.parameters()).device


# ---------------------------------------------------------------------------------------------
# Sliding-window scoring of a token stream.


@dataclass
class _Totals:
    nats: float = 0.0
    correct: int = 0
    correct_top5: int = 0
    tokens: int = 0


@dataclass(frozen=True)
class Window:
    """One forward pass: inputs [start, start + length), scoring its last `scored` targets."""

    start: int
    """Stream position of the window's first input token."""
    length: int
    """Input tokens in the window (targets are the next `length` tokens)."""
    scored: int
    """How many of the window's last targets are scored (the earlier ones were scored before)."""


def plan_windows(num_tokens: int, context_length: int, stride: int) -> list[Window]:
    """The sliding windows over an N-token stream that score targets 1..N-1 exactly once each.

    Starts are 0, stride, 2*stride, ... and a final window ends exactly on the last token, so all
    windows have min(context_length, N - 1) inputs.
    """
    if context_length <= 0:
        raise ConfigError(f"context_length={context_length} is invalid: it must be at least 1.")
    if not 0 < stride <= context_length:
        raise ConfigError(
            f"stride={stride} is invalid: it must be between 1 and the context length "
            f"({context_length} tokens). A stride of context/2 is the usual choice."
        )
    num_targets = num_tokens - 1
    if num_targets <= 0:
        return []
    length = min(context_length, num_targets)
    last_start = num_targets - length
    starts = list(range(0, last_start + 1, stride))
    if starts[-1] != last_start:
        starts.append(last_start)
    windows = []
    scored_until = 0  # targets at stream positions 1..scored_until are done
    for start in starts:
        end = start + length  # last target position of this window
        windows.append(Window(start, length, end - scored_until))
        scored_until = end
    return windows


def _score_windows(
    model: nn.Module,
    read: Callable[[int, int], np.ndarray[Any, Any]],
    windows: list[Window],
    *,
    vocab_size: int,
    batch_size: int,
    device: torch.device,
    progress: bool,
    description: str,
) -> _Totals:
    """Run the windows in batches and add up nats and hits of their scored targets."""
    totals = _Totals()
    if not windows:
        return totals
    if batch_size <= 0:
        raise ConfigError(f"batch_size={batch_size} is invalid: it must be at least 1.")
    length = windows[0].length
    was_training = model.training
    model.eval()
    try:
        with torch.inference_mode(), _Progress(progress, description, len(windows)) as advance:
            for first in range(0, len(windows), batch_size):
                group = windows[first : first + batch_size]
                rows = np.stack([read(w.start, w.start + length + 1) for w in group])
                seq = torch.from_numpy(rows.astype(np.int64)).to(device)
                x, y = seq[:, :-1], seq[:, 1:]  # (B, T)
                logits = _logits(model, x, vocab_size)  # (B, T, V)
                # Score mask: each window's last `scored` targets.
                positions = torch.arange(length, device=device)
                needed = torch.tensor([length - w.scored for w in group], device=device)
                mask = positions[None, :] >= needed[:, None]  # (B, T)
                # log p(target) = logit - logsumexp: no second (B, T, V) tensor of log-probs.
                target_lp = logits.gather(-1, y.unsqueeze(-1)).squeeze(-1) - logits.logsumexp(-1)
                top5 = logits.topk(min(5, vocab_size), dim=-1).indices  # (B, T, 5)
                hit5 = (top5 == y.unsqueeze(-1)).any(-1)
                hit1 = top5[..., 0] == y
                totals.nats += float(-(target_lp * mask).sum().double())
                totals.correct += int((hit1 & mask).sum())
                totals.correct_top5 += int((hit5 & mask).sum())
                totals.tokens += int(mask.sum())
                advance(len(group))
    finally:
        model.train(was_training)
    return totals


def _result(totals: _Totals, num_bytes: int, source: str) -> EvalResult:
    if totals.tokens == 0:
        raise DataError(
            f"Nothing to score in {source}: it holds fewer than 2 tokens. Give a longer text."
        )
    loss = totals.nats / totals.tokens
    return EvalResult(
        loss=loss,
        ppl=math.exp(loss) if loss < 700 else math.inf,
        bits_per_byte=totals.nats / math.log(2) / num_bytes if num_bytes > 0 else math.nan,
        acc=totals.correct / totals.tokens,
        acc_top5=totals.correct_top5 / totals.tokens,
        tokens=totals.tokens,
        bytes=num_bytes,
        source=source,
    )


def _check_context(model: nn.Module, context_length: int) -> None:
    model_ctx = model_context_length(model)
    if not 0 < context_length <= model_ctx:
        raise ConfigError(
            f"context_length={context_length} is invalid: the model accepts 1 to {model_ctx} "
            "tokens per window."
        )


def evaluate_tokens(
    model: nn.Module,
    tokens: np.ndarray[Any, Any] | Any,
    *,
    context_length: int,
    stride: int | None = None,
    batch_size: int = 8,
    device: str | torch.device | None = None,
    vocab_size: int | None = None,
    num_bytes: int = 0,
    source: str = "tokens",
    progress: bool = False,
) -> EvalResult:
    """Sliding-window scores of any token sequence (an array, or a SplitTokens view of shards)."""
    _check_context(model, context_length)
    stride = _stride(stride, context_length)
    windows = plan_windows(len(tokens), context_length, stride)

    def read(start: int, stop: int) -> np.ndarray[Any, Any]:
        return np.asarray(tokens[start:stop])

    totals = _score_windows(
        model,
        read,
        windows,
        vocab_size=_vocab_size(model, vocab_size),
        batch_size=batch_size,
        device=_model_device(model, device),
        progress=progress,
        description=f"eval {source}",
    )
    return _result(totals, num_bytes, source)


def _tokens_to_score(max_tokens: int | None, total: int) -> int:
    """How many of `total` tokens to score: all, or the first max_tokens (at least 2)."""
    if max_tokens is None:
        return total
    if max_tokens < 2:
        raise ConfigError(f"max_tokens={max_tokens} is invalid: it must be at least 2.")
    return min(max_tokens, total)


def evaluate_text(
    model: nn.Module,
    tokenizer: Any,
    text: str,
    *,
    context_length: int,
    stride: int | None = None,
    batch_size: int = 8,
    device: str | torch.device | None = None,
    progress: bool = True,
    source: str = "text",
    max_tokens: int | None = None,
) -> EvalResult:
    """Strided sliding-window loss, perplexity, bits per byte and accuracy of a raw text.

    The text is encoded as one stream; stride defaults to context_length // 2. Every token but
    the first is scored exactly once; bits per byte divide by all UTF-8 bytes of the text
    (with max_tokens, only the first max_tokens tokens are scored and bits per byte divide by
    the exact bytes those tokens stand for).
    """
    if not text:
        raise DataError(f"The text to evaluate ({source}) is empty: give a non-empty text.")
    ids = np.asarray(tokenizer.encode(text), dtype=np.int64)
    num_bytes = len(text.encode("utf-8", "surrogatepass"))
    used = _tokens_to_score(max_tokens, len(ids))
    if used < len(ids):
        ids = ids[:used]
        num_bytes = tokens_bytes(tokenizer, ids)
    return evaluate_tokens(
        model,
        ids,
        context_length=context_length,
        stride=stride,
        batch_size=batch_size,
        device=device,
        vocab_size=tokenizer.vocab_size,
        num_bytes=num_bytes,
        source=source,
        progress=progress,
    )


def evaluate_split(
    model: nn.Module,
    dataset_dir: str | Path,
    split: str = "val",
    *,
    context_length: int,
    batch_size: int = 8,
    stride: int | None = None,
    device: str | torch.device | None = None,
    max_tokens: int | None = None,
    progress: bool = True,
) -> EvalResult:
    """Sliding-window scores of a prepared split, read from its shards a window at a time.

    EOS tokens between documents are scored like any other token (and stand for no bytes). With
    max_tokens, only the split's first max_tokens tokens are used, and bits per byte divide by
    the exact bytes of those tokens (decoded with the dataset's tokenizer).
    """
    from gptlab.data.loader import load_split_tokens
    from gptlab.data.prepare import load_meta
    from gptlab.data.tokenizers import load_tokenizer

    meta = load_meta(dataset_dir)
    tokens: Any = load_split_tokens(dataset_dir, split)
    total_tokens = len(tokens)
    num_bytes = int(meta["splits"][split].get("bytes", 0) or 0)
    used = _tokens_to_score(max_tokens, total_tokens)
    if used < total_tokens:
        tokens = np.asarray(tokens[0:used])
        num_bytes = tokens_bytes(load_tokenizer(dataset_dir), tokens)
    vocab = int(meta.get("vocab_size", 0) or 0) or None
    return evaluate_tokens(
        model,
        tokens,
        context_length=context_length,
        stride=stride,
        batch_size=batch_size,
        device=device,
        vocab_size=vocab,
        num_bytes=num_bytes,
        source=f"split:{split} of {dataset_dir}",
        progress=progress,
    )


# ---------------------------------------------------------------------------------------------
# Multiple-choice and last-word benchmarks.


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
    dev = _model_device(model, device)
    vocab = _vocab_size(model, tokenizer.vocab_size)
    correct = correct_norm = 0
    was_training = model.training
    model.eval()
    try:
        with torch.inference_mode(), _Progress(progress, "hellaswag", len(rows)) as advance:
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
    dev = _model_device(model, device)
    vocab = _vocab_size(model, tokenizer.vocab_size)
    correct = 0
    nats = 0.0
    target_tokens = 0
    was_training = model.training
    model.eval()
    try:
        with torch.inference_mode(), _Progress(progress, "lambada", len(items)) as advance:
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


# ---------------------------------------------------------------------------------------------
# A run's evaluations, as `gptlab eval` runs them, and RUN/eval.json.

EVAL_FILE = "eval.json"
"""RUN/eval.json: {key: result}; keys "split:val", "text:<file name>", "hellaswag", "lambada"."""


def read_text_file(path: str | Path) -> str:
    """A raw UTF-8 text file to evaluate on; DataError when missing, empty or not UTF-8."""
    p = Path(path)
    if not p.is_file():
        raise DataError(f"Text file {p} does not exist (or is not a file): check the path.")
    try:
        text = p.read_text(encoding="utf-8")
    except UnicodeDecodeError as exc:
        raise DataError(
            f"Text file {p} is not UTF-8 ({exc.reason} at byte {exc.start}): convert it, e.g. "
            f"`iconv -t UTF-8 {p} > {p.stem}.utf8.txt`."
        ) from exc
    if not text.strip():
        raise DataError(f"Text file {p} is empty: give a file with some text in it.")
    return text


def merge_eval_file(run_dir: str | Path, results: dict[str, dict[str, Any]]) -> Path:
    """Add results to RUN/eval.json (atomically), replacing earlier results under the same keys,
    and append them, with their step, to RUN/eval_history.jsonl."""
    path = Path(run_dir) / EVAL_FILE
    merged: dict[str, Any] = {}
    if path.is_file():
        try:
            old = json.loads(path.read_text(encoding="utf-8"))
            merged = old if isinstance(old, dict) else {}
        except (OSError, ValueError, RecursionError):
            merged = {}  # an unreadable old file is replaced rather than blocking new results
    merged.update(results)
    atomic_write_json(path, merged)
    append_eval_history(run_dir, results)  # eval.json keeps the latest; the history keeps all
    return path


def evaluate_run(
    run_dir: str | Path,
    *,
    checkpoint: str | None = None,
    data: str | Path | None = None,
    split: str = "val",
    text: str | Path | None = None,
    stride: int | None = None,
    batch_size: int = 8,
    max_tokens: int | None = None,
    hellaswag: str | Path | None = None,
    lambada: str | Path | None = None,
    limit: int | None = None,
    device: str = "auto",
    progress: bool = True,
    acc_norm: str = "chars",
) -> dict[str, dict[str, Any]]:
    """Evaluate a run's checkpoint and merge the results into RUN/eval.json; returns them by key.

    The split of `data` (default: the run's training data, config data.path) is scored when
    `data` is given or when no text, HellaSwag or LAMBADA file is. Each result also records the
    checkpoint step. checkpoint: None or "latest", "best", a step number or a folder.
    acc_norm: HellaSwag's length normalisation, "chars" (lm-evaluation-harness) or "bytes".
    """
    from gptlab.train.checkpoint import load_run

    if acc_norm not in ACC_NORM_CONVENTIONS:
        raise ConfigError(
            f"--acc-norm {acc_norm} is not one of {', '.join(ACC_NORM_CONVENTIONS)}: 'chars' "
            "divides by the ending's characters (as lm-evaluation-harness), 'bytes' by the UTF-8 "
            "bytes of ' ' + ending."
        )

    if stride is not None and stride <= 0:
        raise ConfigError(f"--stride {stride} is invalid: it must be at least 1.")
    if limit is not None and limit < 1:
        raise ConfigError(
            f"--limit {limit} is invalid: give the number of rows to score (1 or more), or leave "
            "it out to score every row."
        )
    text_value = read_text_file(text) if text is not None else None
    for path, what in ((hellaswag, "HellaSwag"), (lambada, "LAMBADA")):
        if path is not None and not Path(path).is_file():
            raise DataError(f"{what} file {path} does not exist (or is not a file).")
    run = load_run(
        run_dir,
        None if checkpoint in (None, "latest") else checkpoint,
        device=str(resolve_device(device)),
    )
    context_length = run.config.model.context_length
    if stride is not None and stride > context_length:
        raise ConfigError(
            f"--stride {stride} is invalid: it must be between 1 and the model's context length "
            f"({context_length} tokens)."
        )
    common = {"step": run.step, "checkpoint": run.checkpoint_dir.name}
    results: dict[str, dict[str, Any]] = {}
    if data is not None or (text is None and hellaswag is None and lambada is None):
        dataset = Path(data) if data is not None else Path(run.config.data.path)
        _check_dataset_fits(dataset, run.tokenizer, from_config=data is None)
        result = evaluate_split(
            run.model,
            dataset,
            split,
            context_length=context_length,
            batch_size=batch_size,
            stride=stride,
            max_tokens=max_tokens,
            progress=progress,
        )
        results[f"split:{split}"] = {
            **result.to_dict(),
            "stride": _stride(stride, context_length),
            **common,
        }
    if text is not None and text_value is not None:
        name = Path(text).name
        result = evaluate_text(
            run.model,
            run.tokenizer,
            text_value,
            context_length=context_length,
            stride=stride,
            batch_size=batch_size,
            progress=progress,
            source=f"text:{name}",
            max_tokens=max_tokens,
        )
        results[f"text:{name}"] = {
            **result.to_dict(),
            "stride": _stride(stride, context_length),
            **common,
        }
    if hellaswag is not None:
        scores = evaluate_hellaswag(
            run.model, run.tokenizer, hellaswag, limit=limit, progress=progress, acc_norm=acc_norm
        )
        results["hellaswag"] = {**scores, "source": str(hellaswag), **common}
    if lambada is not None:
        scores = evaluate_lambada(run.model, run.tokenizer, lambada, limit=limit, progress=progress)
        results["lambada"] = {**_finite(scores), "source": str(lambada), **common}
    merge_eval_file(run_dir, results)
    return results


def _check_dataset_fits(dataset: Path, tokenizer: Any, *, from_config: bool) -> None:
    """DataError when the dataset is missing or was tokenized differently from the run."""
    from gptlab.data.prepare import load_meta

    if from_config and not dataset.is_dir():
        raise DataError(
            f"The run's training data {dataset} (data.path in its config.toml) is not found from "
            "this folder: give the prepared dataset with --data DIR, or run from the folder "
            "the run was trained in."
        )
    meta = load_meta(dataset)
    theirs = meta.get("tokenizer", {}).get("kind"), meta.get("vocab_size")
    ours = tokenizer.spec().get("kind"), tokenizer.vocab_size
    if theirs != ours:
        raise DataError(
            f"Dataset {dataset} was tokenized with {theirs[0]} ({theirs[1]} ids) but the run "
            f"uses {ours[0]} ({ours[1]} ids): its token ids mean other things to this model. "
            "Evaluate on a dataset prepared with the run's tokenizer, or use --text FILE."
        )


def _stride(stride: int | None, context_length: int) -> int:
    return max(1, context_length // 2) if stride is None else stride


def _finite(values: dict[str, Any]) -> dict[str, Any]:
    return {k: _finite_or_none(v) for k, v in values.items()}


# ---------------------------------------------------------------------------------------------


class _Progress:
    """A rich progress bar on stderr when enabled; yields advance(n)."""

    def __init__(self, enabled: bool, description: str, total: int) -> None:
        self.enabled = enabled
        self.description = description
        self.total = total
        self._bar: Any = None

    def __enter__(self) -> Callable[[int], None]:
        if not self.enabled:
            return lambda n: None
        from rich.console import Console
        from rich.progress import (
            BarColumn,
            MofNCompleteColumn,
            Progress,
            TextColumn,
            TimeRemainingColumn,
        )

        self._bar = Progress(
            TextColumn("{task.description}"),
            BarColumn(),
            MofNCompleteColumn(),
            TimeRemainingColumn(),
            console=Console(stderr=True),
            transient=True,
        )
        self._bar.__enter__()
        task = self._bar.add_task(self.description, total=self.total)
        return lambda n: self._bar.advance(task, n)

    def __exit__(self, *exc: object) -> None:
        if self._bar is not None:
            self._bar.__exit__(None, None, None)
