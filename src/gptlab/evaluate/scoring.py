"""Scores of a token stream: loss, perplexity, bits per byte and accuracy by sliding windows.

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
- A prepared split can instead be scored by documents (`documents=True`), as a run trained in
  document mode sees its data: each document (its tokens up to and including its EOS) is a stream
  of its own, with no context from the document before it. Its first token is then never scored,
  so bits per byte leave out that token's bytes too. For documents no longer than the context,
  this is exactly what the training-time estimate of such a run averages over.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

import numpy as np
import torch
from torch import nn

from gptlab.data.token_bytes import tokens_bytes
from gptlab.errors import ConfigError, DataError
from gptlab.evaluate.progress import EvalProgress


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
        return {k: finite_or_none(v) for k, v in asdict(self).items()}


def finite_or_none(value: Any) -> Any:
    """The value, or None when it is a float nan or inf (JSON has no such numbers)."""
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


def softmax_vocab_size(model: nn.Module, tokenizer_vocab_size: int | None) -> int:
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


def model_device(model: nn.Module, device: str | torch.device | None) -> torch.device:
    """The device to run on: the one given, else the one the model's parameters are on."""
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


def plan_windows(
    num_tokens: int, context_length: int, stride: int, offset: int = 0
) -> list[Window]:
    """The sliding windows over an N-token stream that score targets 1..N-1 exactly once each.

    Starts are 0, stride, 2*stride, ... and a final window ends exactly on the last token, so all
    windows have min(context_length, N - 1) inputs. `offset` shifts every start (a stream that
    begins at that position of a larger one, e.g. a document of a split).
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
        windows.append(Window(offset + start, length, end - scored_until))
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
    was_training = model.training
    model.eval()
    try:
        with torch.inference_mode(), EvalProgress(progress, description, len(windows)) as advance:
            for first in range(0, len(windows), batch_size):
                group = windows[first : first + batch_size]
                # Windows of different lengths (documents) are padded on the right: a causal
                # model's earlier positions never see the padding, and it is never scored.
                length = max(w.length for w in group)
                rows = np.zeros((len(group), length + 1), dtype=np.int64)
                for row, w in zip(rows, group, strict=True):
                    row[: w.length + 1] = read(w.start, w.start + w.length + 1)
                seq = torch.from_numpy(rows).to(device)
                x, y = seq[:, :-1], seq[:, 1:]  # (B, T)
                logits = _logits(model, x, vocab_size)  # (B, T, V)
                # Score mask: each window's last `scored` targets.
                positions = torch.arange(length, device=device)
                first_scored = torch.tensor([w.length - w.scored for w in group], device=device)
                ends = torch.tensor([w.length for w in group], device=device)
                mask = (positions[None, :] >= first_scored[:, None]) & (
                    positions[None, :] < ends[:, None]
                )  # (B, T)
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
    spans: Sequence[tuple[int, int]] | None = None,
) -> EvalResult:
    """Sliding-window scores of any token sequence (an array, or a SplitTokens view of shards).

    spans: (start, length) streams scored each on its own (documents); default the whole
    sequence as one stream.
    """
    _check_context(model, context_length)
    stride = resolve_stride(stride, context_length)
    windows = [
        w
        for start, length in (spans if spans is not None else [(0, len(tokens))])
        for w in plan_windows(length, context_length, stride, offset=start)
    ]

    def read(start: int, stop: int) -> np.ndarray[Any, Any]:
        return np.asarray(tokens[start:stop])

    totals = _score_windows(
        model,
        read,
        windows,
        vocab_size=softmax_vocab_size(model, vocab_size),
        batch_size=batch_size,
        device=model_device(model, device),
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
    documents: bool = False,
) -> EvalResult:
    """Sliding-window scores of a prepared split, read from its shards a window at a time.

    As one stream (default), EOS tokens between documents are scored like any other token (and
    stand for no bytes). With `documents`, every document is a stream of its own (see the module
    docstring). With max_tokens, only the split's first max_tokens tokens are used, and bits per
    byte divide by the exact bytes of those tokens (decoded with the dataset's tokenizer).
    """
    from gptlab.data.loader import SplitTokens, document_spans, load_split_tokens
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
    source = f"split:{split} of {dataset_dir}"
    spans = None
    if documents:
        eos_id = meta.get("eos_id")
        if not isinstance(eos_id, int):
            raise DataError(
                f"{Path(dataset_dir) / 'meta.json'} has no eos_id, so its documents cannot be "
                "told apart: score the split as one stream (leave out --documents)."
            )
        if used < total_tokens:
            tokens = SplitTokens([tokens])
        starts, lengths = document_spans(tokens, eos_id)
        spans = list(zip(starts.tolist(), lengths.tolist(), strict=True))
        # A document's first token is never predicted, so its bytes leave the denominator too.
        num_bytes -= tokens_bytes(load_tokenizer(dataset_dir), tokens.take(starts))
        source += " by documents"
    return evaluate_tokens(
        model,
        tokens,
        context_length=context_length,
        stride=stride,
        batch_size=batch_size,
        device=device,
        vocab_size=vocab,
        num_bytes=num_bytes,
        source=source,
        progress=progress,
        spans=spans,
    )


def resolve_stride(stride: int | None, context_length: int) -> int:
    """The stride to use: the one given, else half the context length (at least 1)."""
    return max(1, context_length // 2) if stride is None else stride
