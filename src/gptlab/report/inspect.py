"""Look inside a trained model on one prompt: attention weights, activations and predictions.

`capture` runs one forward pass with the explicit attention backend (which keeps the softmax
weights) and forward hooks that copy the residual stream, the attention outputs and the MLP's
GELU outputs; the model file is not changed and its backend is restored afterwards. The same pass
gives each token's loss and the model's top next-token predictions. `head_scores` reduces the
attention weights to three numbers per head. Pictures and pages are drawn in report/viz.py.

Trade-off: the explicit backend materialises every (T x T) attention matrix and the hooks keep
every activation, so this is for one short text (prompts are cropped to MAX_PROMPT_TOKENS), not
for long texts or batches.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from typing import Any

import numpy as np
import torch
from torch import nn

from gptlab.errors import ConfigError
from gptlab.model.gpt import GPT, Block

MAX_PROMPT_TOKENS = 128
"""Prompts are cropped to their first this many tokens (and to the model's context)."""
TOP_PREDICTIONS = 5
"""Next-token predictions kept per position."""
TOP_NEURONS = 5
"""Most active MLP neurons kept per token and layer."""
NEAR_ZERO = 0.05
"""An MLP activation with |a| below this counts as near zero."""
_REPLACEMENT = "\ufffd"


@dataclass(frozen=True)
class Capture:
    """Everything recorded from one forward pass over a prompt (numpy, float32, on the CPU)."""

    prompt: str
    """The prompt as given."""
    token_ids: list[int]
    """The ids that were run (after cropping)."""
    tokens: list[str]
    """Readable label per token (see token_label; a piece of a character is marked with '…')."""
    dropped_tokens: int
    """Tokens of the prompt cut off at the end (beyond MAX_PROMPT_TOKENS or the model's context)."""
    attention: np.ndarray[Any, Any]
    """(n_layer, n_head, T, T) softmax weights; row = query position, column = key position."""
    residual: np.ndarray[Any, Any]
    """(n_layer + 1, T, n_embd) residual stream: after the embeddings, then after each block."""
    attn_out: np.ndarray[Any, Any]
    """(n_layer, T, n_embd) what each attention layer adds to the residual stream."""
    mlp_hidden: np.ndarray[Any, Any]
    """(n_layer, T, hidden_dim) MLP hidden activations after the GELU."""
    token_loss: np.ndarray[Any, Any]
    """(T,) cross-entropy in nats of each token given the tokens before it; NaN at position 0."""
    top_ids: np.ndarray[Any, Any]
    """(T, k) the model's k most likely next tokens after each position, most likely first."""
    top_probs: np.ndarray[Any, Any]
    """(T, k) their probabilities."""
    top_tokens: list[list[str]]
    """(T, k) their readable labels."""
    vocab_size: int
    """Ids the model predicts over (ln of it is the loss of a uniform guess)."""

    @property
    def n_layer(self) -> int:
        return int(self.attention.shape[0])

    @property
    def n_head(self) -> int:
        return int(self.attention.shape[1])

    @property
    def residual_norms(self) -> np.ndarray[Any, Any]:
        """(n_layer + 1, T) L2 norm of the residual stream per layer and position."""
        return np.linalg.norm(self.residual, axis=-1)

    @property
    def attn_out_norms(self) -> np.ndarray[Any, Any]:
        """(n_layer, T) L2 norm of each attention layer's output per position."""
        return np.linalg.norm(self.attn_out, axis=-1)

    @property
    def mean_loss(self) -> float | None:
        """Mean of token_loss over positions 1..T-1 (None for a one-token prompt)."""
        return float(np.mean(self.token_loss[1:])) if len(self.token_ids) > 1 else None

    def top_neurons(
        self, k: int = TOP_NEURONS
    ) -> tuple[np.ndarray[Any, Any], np.ndarray[Any, Any]]:
        """(ids, values), each (n_layer, T, k): the k largest MLP activations per token."""
        k = min(k, self.mlp_hidden.shape[-1])
        ids = np.argsort(-self.mlp_hidden, axis=-1)[..., :k]
        return ids, np.take_along_axis(self.mlp_hidden, ids, axis=-1)

    def predicted_top1(self) -> np.ndarray[Any, Any]:
        """(T,) bool: token t was the model's most likely prediction after t-1 (False at 0)."""
        hit = np.zeros(len(self.token_ids), dtype=bool)
        hit[1:] = self.top_ids[:-1, 0] == np.asarray(self.token_ids[1:])
        return hit


def token_label(text: str, max_chars: int = 12) -> str:
    """A token's text made visible: '·' for spaces, escaped newlines and tabs, long ones cut."""
    label = text.replace(" ", "·").replace("\n", "\\n").replace("\t", "\\t").replace("\r", "\\r")
    label = "".join(ch if ch.isprintable() else f"\\x{ord(ch):02x}" for ch in label)
    if len(label) > max_chars:
        label = label[: max_chars - 1] + "…"
    return label or "∅"


def _common_prefix(a: str, b: str) -> int:
    n = min(len(a), len(b))
    i = 0
    while i < n and a[i] == b[i]:
        i += 1
    return i


def piece_text(
    before: str, before_done: int, after: str, after_done: int, unfinished: str = _REPLACEMENT
) -> str:
    """What one token adds to a decoded text, marking pieces of a multi-byte character with '…'.

    before/after: the decoded text without and with the token; *_done: how much of each is
    finished characters (the rest is an open character, which decoding shows as U+FFFD). A
    byte-level token can hold part of a character's UTF-8 bytes: one that finishes a character an
    earlier token opened starts with '…'; one that leaves a character open ends with that
    character (`unfinished`, when known) and '…'. So the bytes of 你 read 你…, …你…, …你.
    """
    head = "…" if before_done < len(before) else ""
    tail = unfinished[:1] + "…" if after_done < len(after) else ""
    return head + after[before_done:after_done] + tail


def prompt_labels(tokenizer: Any, ids: list[int]) -> list[str]:
    """token_label of each token of a text, pieces of a character marked (see piece_text)."""
    whole = tokenizer.decode(ids)
    labels: list[str] = []
    before, before_done = "", 0
    for t in range(len(ids)):
        after = tokenizer.decode(ids[: t + 1])
        # The finished part of a prefix is what it shares with the whole text's decoding.
        after_done = _common_prefix(after, whole) if t + 1 < len(ids) else len(after)
        unfinished = whole[after_done : after_done + 1] or _REPLACEMENT
        labels.append(token_label(piece_text(before, before_done, after, after_done, unfinished)))
        before, before_done = after, after_done
    return labels


def head_scores(attention: np.ndarray[Any, Any]) -> dict[str, np.ndarray[Any, Any]]:
    """Three numbers per head from (..., T, T) attention weights, each averaged over the query
    positions 1..T-1 (position 0 can only attend to itself, so it says nothing):

    - "entropy": mean entropy of a query's attention row in nats (0 = all on one key; a row
      spread evenly over its i+1 visible keys has ln(i+1));
    - "previous": mean weight on the key just before the query (1.0 = always the previous token);
    - "first": mean weight on key 0, the first token (the 'attention sink').
    Returns arrays of shape attention.shape[:-2]; NaN for a one-token prompt.
    """
    T = attention.shape[-1]
    if T < 2:
        nan = np.full(attention.shape[:-2], np.nan)
        return {"entropy": nan, "previous": nan.copy(), "first": nan.copy()}
    rows = attention[..., 1:, :].astype(np.float64)  # (..., T-1, T)
    with np.errstate(divide="ignore", invalid="ignore"):
        plogp = np.where(rows > 0, rows * np.log(rows), 0.0)
    query = np.arange(1, T)
    return {
        "entropy": -plogp.sum(axis=-1).mean(axis=-1),
        "previous": rows[..., np.arange(T - 1), query - 1].mean(axis=-1),
        "first": rows[..., 0].mean(axis=-1),
    }


def uniform_entropy(T: int) -> float:
    """The mean entropy head_scores gives a head that spreads every row evenly: mean ln(i+1)."""
    return float(np.mean(np.log(np.arange(2, T + 1)))) if T > 1 else 0.0


def capture(
    model: GPT,
    tokenizer: Any,
    prompt: str,
    *,
    device: str | torch.device | None = None,
) -> Capture:
    """One forward pass over the prompt, recording attention, activations and predictions."""
    if not prompt or not prompt.strip():
        raise ConfigError("The prompt is empty: give some text with --prompt, e.g. 'Once upon'.")
    ids = list(tokenizer.encode(prompt))
    if not ids:
        raise ConfigError(f"The prompt {prompt!r} encodes to no tokens: give some other text.")
    keep = min(MAX_PROMPT_TOKENS, model.cfg.context_length)
    dropped = max(0, len(ids) - keep)
    ids = ids[:keep]
    dev = torch.device(device) if device is not None else next(model.parameters()).device

    blocks = model.blocks
    residual: list[torch.Tensor] = []
    attn_out: list[torch.Tensor] = []
    mlp_hidden: list[torch.Tensor] = []

    def keeper(store: list[torch.Tensor]) -> Callable[..., None]:
        def hook(module: nn.Module, inputs: Any, output: torch.Tensor) -> None:
            store.append(output.detach()[0].float().cpu())

        return hook

    saved = [(b.attn.backend, b.attn.store_attention) for b in blocks]
    handles = [model.transformer.drop.register_forward_hook(keeper(residual))]
    for block in blocks:
        handles.append(block.register_forward_hook(keeper(residual)))
        handles.append(block.attn.register_forward_hook(keeper(attn_out)))
        handles.append(block.mlp.gelu.register_forward_hook(keeper(mlp_hidden)))
    was_training = model.training
    try:
        model.eval()
        model.set_attention_backend("explicit", store_attention=True)
        with torch.inference_mode():
            logits, _ = model(torch.tensor([ids], dtype=torch.long, device=dev))
        attention = [_stored_attention(b) for b in blocks]
    finally:
        for handle in handles:
            handle.remove()
        for block, (backend, store) in zip(blocks, saved, strict=True):
            block.attn.backend = backend
            block.attn.store_attention = store
            block.attn.last_attention = None
        model.train(was_training)

    log_probs = torch.log_softmax(logits[0].float().cpu(), dim=-1)  # (T, vocab_size)
    token_loss = torch.full((len(ids),), math.nan)
    token_loss[1:] = -log_probs[:-1].gather(1, torch.tensor(ids[1:]).unsqueeze(1)).squeeze(1)
    k = min(TOP_PREDICTIONS, log_probs.shape[-1])
    top = log_probs.topk(k, dim=-1)
    top_ids = top.indices.numpy()
    return Capture(
        prompt=prompt,
        token_ids=ids,
        tokens=prompt_labels(tokenizer, ids),
        dropped_tokens=dropped,
        attention=torch.stack(attention).numpy(),
        residual=torch.stack(residual).numpy(),
        attn_out=torch.stack(attn_out).numpy(),
        mlp_hidden=torch.stack(mlp_hidden).numpy(),
        token_loss=token_loss.numpy(),
        top_ids=top_ids,
        top_probs=top.values.exp().numpy(),
        top_tokens=_prediction_labels(tokenizer, ids, top_ids),
        vocab_size=int(log_probs.shape[-1]),
    )


def _prediction_labels(
    tokenizer: Any, ids: list[int], top_ids: np.ndarray[Any, Any]
) -> list[list[str]]:
    """Labels of each position's predicted next tokens, read in context (so a byte that would
    finish a character shows that character)."""
    return [
        [token_label(text, 10) for text in next_token_texts(tokenizer, ids[: t + 1], top_ids[t])]
        for t in range(len(ids))
    ]


def next_token_texts(tokenizer: Any, ids: list[int], candidates: Iterable[int]) -> list[str]:
    """What each candidate token adds after `ids`, read in context (see piece_text): a byte that
    finishes a character the context opened shows that character."""
    context = ids[-8:]  # a character is at most 4 bytes
    before = tokenizer.decode(context)
    before_done = len(before.rstrip(_REPLACEMENT))
    texts = []
    for candidate in candidates:
        after = tokenizer.decode([*context, int(candidate)])
        after_done = max(before_done, len(after.rstrip(_REPLACEMENT)))
        if before_done < len(before) and after[before_done:].startswith(_REPLACEMENT):
            # It does not continue the open character: show the token as it is.
            texts.append(tokenizer.decode([int(candidate)]))
        else:
            texts.append(piece_text(before, before_done, after, after_done))
    return texts


def _stored_attention(block: Block) -> torch.Tensor:
    weights = block.attn.last_attention
    if weights is None:
        raise RuntimeError("the explicit attention backend kept no weights for this block")
    return weights[0].float().cpu()  # (n_head, T, T)


def check_layer_head(cap: Capture, layer: int | None, head: int | None) -> None:
    """ConfigError naming the valid range when a layer or head index is out of range."""
    if layer is not None and not 0 <= layer < cap.n_layer:
        raise ConfigError(
            f"--layer {layer} is out of range: this model has layers 0 to {cap.n_layer - 1}."
        )
    if head is not None and not 0 <= head < cap.n_head:
        raise ConfigError(
            f"--head {head} is out of range: this model has heads 0 to {cap.n_head - 1}."
        )


@dataclass(frozen=True)
class TokenRow:
    """One prompt token with its loss and the model's guesses for the token after it."""

    position: int
    token: str
    loss: float | None
    """Nats; None for the first token (nothing comes before it)."""
    prob: float | None
    """exp(-loss): the probability the model gave this token."""
    top1: bool
    """The token was the model's most likely guess."""
    next_guesses: list[tuple[str, float, bool]]
    """(label, probability, is the actual next token) for the top guesses after this token."""


def token_rows(cap: Capture) -> list[TokenRow]:
    """The per-token view of a Capture, one row per prompt token."""
    hit = cap.predicted_top1()
    rows = []
    for t, token in enumerate(cap.tokens):
        loss = None if t == 0 else float(cap.token_loss[t])
        actual_next = cap.token_ids[t + 1] if t + 1 < len(cap.token_ids) else None
        guesses = [
            (label, float(prob), int(i) == actual_next)
            for label, prob, i in zip(
                cap.top_tokens[t], cap.top_probs[t], cap.top_ids[t], strict=True
            )
        ]
        rows.append(
            TokenRow(
                position=t,
                token=token,
                loss=loss,
                prob=None if loss is None else math.exp(-loss),
                top1=bool(hit[t]),
                next_guesses=guesses,
            )
        )
    return rows
