"""Text generation with a KV cache: greedy, temperature, top-k, top-p, repetition penalty, stops.

Each prompt is decoded as one batch of `num_samples` rows sharing the prompt, so rows never need
padding and learned position ids stay exact; prompts run one after another (correctness before
throughput for ragged prompt batches).

Trade-off at the context limit: when prompt + generated tokens fill the context, the cache is
rebuilt from the last 3/4 of the context ("re-prefill") and generation goes on. One re-prefill
every context/4 tokens keeps the cache useful; the price is that the model then sees between 3/4
of a context and a full context of history, not always a full one.
"""

from __future__ import annotations

import math
import warnings
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import NamedTuple, Protocol

import torch
from torch import Tensor

from gptlab.config import MAX_NEW_TOKENS, MAX_SEED, MIN_TEMPERATURE, require_utf8
from gptlab.errors import CheckpointError, ConfigError
from gptlab.model.gpt import GPT

MAX_SAMPLES = 1024
"""Most samples per prompt: they run as one batch, each with its own KV cache."""

STOP_REASONS = ("eos", "stop", "length")
"""eos: the model emitted the end-of-text token; stop: a stop string appeared; length: the
max_new_tokens budget was used up."""


class TextCodec(Protocol):
    """What generation needs from a tokenizer (gptlab.data.tokenizers.Tokenizer provides it)."""

    @property
    def eos_id(self) -> int: ...

    def encode(self, text: str) -> list[int]: ...

    def decode(self, ids: list[int]) -> str: ...


@dataclass(frozen=True)
class SamplingConfig:
    """How tokens are chosen. Checked on creation; a bad value is a ConfigError with the fix."""

    max_new_tokens: int = 100
    """Tokens to generate per sample, at most."""
    temperature: float = 0.7
    """Divide the logits by this; lower is more conservative; 0 means greedy."""
    top_k: int = 20
    """Sample only among the k most likely tokens; 0 disables the cut."""
    top_p: float = 1.0
    """Nucleus sampling: the smallest set of tokens whose probability reaches top_p; 1 disables."""
    repetition_penalty: float = 1.0
    """Penalise tokens already in the prompt or output (CTRL style: >1 discourages); 1 disables."""
    greedy: bool = False
    """Always take the most likely token (ignores temperature, top_k, top_p)."""
    stop_at_eos: bool = True
    """Stop a sample when the model emits the end-of-text token."""
    stop: tuple[str, ...] = ()
    """Stop a sample when any of these strings appears; the text is cut before it."""
    seed: int | None = None
    """Seed of the sampling random generator; None draws a fresh one."""
    num_samples: int = 1
    """Samples per prompt."""

    def __post_init__(self) -> None:
        if self.max_new_tokens < 1:
            raise ConfigError(
                f"max_new_tokens={self.max_new_tokens} is invalid: generate at least 1 token."
            )
        if self.max_new_tokens > MAX_NEW_TOKENS:
            raise ConfigError(
                f"max_new_tokens={self.max_new_tokens} is invalid: generate at most "
                f"{MAX_NEW_TOKENS:,} tokens per sample."
            )
        if not math.isfinite(self.temperature) or self.temperature < 0:
            raise ConfigError(
                f"temperature={self.temperature} is invalid: use 0 or more (0 = greedy, "
                "0.7 is a good default, above 1 is more random)."
            )
        if 0 < self.temperature < MIN_TEMPERATURE:
            raise ConfigError(
                f"temperature={self.temperature} is too small to sample with (the scaled "
                f"logits overflow): use 0 for greedy decoding, or at least {MIN_TEMPERATURE}."
            )
        if self.seed is not None and not 0 <= self.seed <= MAX_SEED:
            raise ConfigError(
                f"seed={self.seed} is invalid: use a whole number from 0 to {MAX_SEED} (2**63 - 1)."
            )
        if self.top_k < 0:
            raise ConfigError(f"top_k={self.top_k} is invalid: use 0 (off) or a positive count.")
        if not 0.0 < self.top_p <= 1.0:
            raise ConfigError(
                f"top_p={self.top_p} is invalid: it must be in (0, 1]; 1 turns nucleus "
                "sampling off, 0.9 is a common choice."
            )
        if not math.isfinite(self.repetition_penalty) or self.repetition_penalty <= 0:
            raise ConfigError(
                f"repetition_penalty={self.repetition_penalty} is invalid: it must be greater "
                "than 0; 1 turns it off, 1.1-1.3 discourages repeats."
            )
        if self.num_samples < 1:
            raise ConfigError(f"num_samples={self.num_samples} is invalid: use 1 or more.")
        if self.num_samples > MAX_SAMPLES:
            raise ConfigError(
                f"num_samples={self.num_samples} is invalid: use at most {MAX_SAMPLES} per "
                "prompt (they run as one batch); repeat the prompt or run again for more."
            )
        if any(not s for s in self.stop):
            raise ConfigError("An empty stop string would stop at once: remove it.")
        for text in self.stop:
            require_utf8("stop", text)

    @property
    def is_greedy(self) -> bool:
        return self.greedy or self.temperature == 0.0


class Generation(NamedTuple):
    """One sample: its prompt, the generated text (prompt excluded) and how it ended."""

    prompt: str
    text: str
    """Generated text, cut before a stop string; the EOS token is not included."""
    tokens: list[int]
    """Generated token ids (EOS excluded; may run past a stop string's cut by part of a token)."""
    stop_reason: str
    """One of STOP_REASONS."""
    cropped_prompt_tokens: int = 0
    """Tokens dropped from the left of a prompt longer than the context."""


TokenCallback = Callable[[int, str], None]
"""on_token(generation_index, new_text): streamed text of the generation at that index of the
returned list (prompt-major: prompt i, sample j is index i * num_samples + j)."""


def generate(
    model: GPT,
    tokenizer: TextCodec,
    prompts: Sequence[str],
    sampling: SamplingConfig,
    *,
    device: torch.device | str = "cpu",
    on_token: TokenCallback | None = None,
) -> list[Generation]:
    """Continue every prompt `sampling.num_samples` times; results are prompt-major.

    The model must already be on `device`; it is put in eval mode for the call and its mode is
    restored afterwards. An empty prompt starts from the EOS token (a document boundary).
    """
    for prompt in prompts:
        require_utf8("prompt", prompt)
    generator = seeded_generator(device, sampling.seed)
    was_training = model.training
    model.eval()
    try:
        results: list[Generation] = []
        for prompt in prompts:
            first_index = len(results)
            results.extend(
                _generate_one(
                    model, tokenizer, prompt, sampling, device, generator, on_token, first_index
                )
            )
        return results
    finally:
        model.train(was_training)


class _Row:
    """Progress of one sample: its tokens, whether it has ended, and the text already streamed."""

    def __init__(self) -> None:
        self.tokens: list[int] = []
        self.stop_reason: str | None = None
        self.text: str = ""
        self.streamed: str = ""


@torch.no_grad()
def _generate_one(
    model: GPT,
    tokenizer: TextCodec,
    prompt: str,
    sampling: SamplingConfig,
    device: torch.device | str,
    generator: torch.Generator,
    on_token: TokenCallback | None,
    first_index: int,
) -> list[Generation]:
    context_length = model.cfg.context_length
    prompt_ids, cropped = encode_prompt(tokenizer, prompt, context_length)
    B = sampling.num_samples
    sequence = torch.tensor([prompt_ids] * B, dtype=torch.long, device=device)  # (B, T)
    seen = torch.zeros(B, model.cfg.vocab_size, dtype=torch.bool, device=device)
    seen.scatter_(1, sequence, True)
    cache = model.new_kv_cache(B, device=device)
    logits = model(sequence, kv_cache=cache)[0][:, -1]  # (B, vocab_size)
    rows = [_Row() for _ in range(B)]
    track_text = bool(sampling.stop) or on_token is not None
    for step in range(sampling.max_new_tokens):
        next_ids = _choose(logits, seen, sampling, generator)  # (B,)
        for b, row in enumerate(rows):
            if row.stop_reason is not None:
                continue
            token = int(next_ids[b])
            if sampling.stop_at_eos and token == tokenizer.eos_id:
                row.stop_reason = "eos"
                continue
            row.tokens.append(token)
            if track_text:
                _update_text(row, tokenizer, sampling.stop)
                if on_token is not None:
                    _stream(row, sampling.stop, first_index + b, on_token)
        if all(row.stop_reason is not None for row in rows) or step + 1 == sampling.max_new_tokens:
            break
        sequence = torch.cat([sequence, next_ids.unsqueeze(1)], dim=1)
        seen.scatter_(1, next_ids.unsqueeze(1), True)
        if cache.length == context_length:
            # Re-prefill from the recent past so that positions stay within the context.
            cache.reset()
            kept = max(1, 3 * context_length // 4)
            logits = model(sequence[:, -kept:], kv_cache=cache)[0][:, -1]
        else:
            logits = model(next_ids.unsqueeze(1), kv_cache=cache)[0][:, -1]
    generations = []
    for b, row in enumerate(rows):
        if row.stop_reason != "stop":
            row.text = tokenizer.decode(row.tokens)
        row.stop_reason = row.stop_reason or "length"
        if on_token is not None:
            _stream(row, sampling.stop, first_index + b, on_token)
        generations.append(
            Generation(
                prompt=prompt,
                text=row.text,
                tokens=row.tokens,
                stop_reason=row.stop_reason,
                cropped_prompt_tokens=cropped,
            )
        )
    return generations


def seeded_generator(device: torch.device | str, seed: int | None) -> torch.Generator:
    """A random generator on `device`, seeded with `seed` (None: a fresh random seed)."""
    generator = torch.Generator(device=device)
    if seed is None:
        generator.seed()
    else:
        generator.manual_seed(seed)
    return generator


def encode_prompt(tokenizer: TextCodec, prompt: str, context_length: int) -> tuple[list[int], int]:
    """The prompt's token ids as generation feeds them, and how many were cropped from the left.

    An empty prompt is the EOS token (a document boundary); a prompt longer than the context
    keeps its last context_length - 1 tokens (room for one new token), with a warning.
    """
    prompt_ids = tokenizer.encode(prompt) or [tokenizer.eos_id]
    kept_prompt_tokens = max(1, context_length - 1)
    cropped = max(0, len(prompt_ids) - kept_prompt_tokens)
    if cropped:
        warnings.warn(
            f"The prompt {prompt[:40]!r}... is {len(prompt_ids)} tokens, longer than the model's "
            f"context of {context_length}: only its last {kept_prompt_tokens} tokens are used.",
            stacklevel=4,  # the caller of generate or next_token_draws
        )
    return prompt_ids[cropped:], cropped


def next_token_probs(logits: Tensor, seen: Tensor, sampling: SamplingConfig) -> Tensor:
    """The distribution the sampler draws from (B, vocab_size), from last-position logits.

    Repetition penalty on the `seen` tokens (B, vocab_size) bool, then temperature, top-k and
    top-p; greedy puts probability 1 on the most likely token. Tokens cut are exactly 0.
    """
    logits = logits.float()
    if not bool(torch.isfinite(logits).all()):
        raise CheckpointError(
            "The model's outputs are not finite numbers (NaN or inf): its weights have "
            "diverged, so it cannot generate text. Use an earlier checkpoint (-c STEP) or "
            "retrain with a lower learning rate."
        )
    if sampling.repetition_penalty != 1.0:
        penalised = torch.where(
            logits > 0, logits / sampling.repetition_penalty, logits * sampling.repetition_penalty
        )
        logits = torch.where(seen, penalised, logits)
    if sampling.is_greedy:
        best = logits.argmax(dim=-1, keepdim=True)  # (B, 1)
        return torch.zeros_like(logits).scatter_(1, best, 1.0)
    logits = logits / sampling.temperature
    if 0 < sampling.top_k < logits.shape[-1]:
        kth_best = torch.topk(logits, sampling.top_k, dim=-1).values[:, -1:]  # (B, 1)
        logits = logits.masked_fill(logits < kth_best, float("-inf"))
    if sampling.top_p < 1.0:
        sorted_logits, order = torch.sort(logits, dim=-1, descending=True)
        sorted_probs = torch.softmax(sorted_logits, dim=-1)
        # Drop a token when the more likely ones already reach top_p (the best is always kept).
        drop = (sorted_probs.cumsum(dim=-1) - sorted_probs) >= sampling.top_p
        logits = logits.masked_fill(drop.scatter(1, order, drop), float("-inf"))
    return torch.softmax(logits, dim=-1)


def _choose(
    logits: Tensor, seen: Tensor, sampling: SamplingConfig, generator: torch.Generator
) -> Tensor:
    """Next token id per row (B,) from last-position logits (B, vocab_size)."""
    probs = next_token_probs(logits, seen, sampling)
    if sampling.is_greedy:
        return probs.argmax(dim=-1)  # no draw, so the random generator is left as it was
    return torch.multinomial(probs, 1, generator=generator).squeeze(1)


def _update_text(row: _Row, tokenizer: TextCodec, stop: tuple[str, ...]) -> None:
    """Decode the row's tokens; end it at the first stop string, cutting the text before it."""
    row.text = tokenizer.decode(row.tokens)
    cuts = [i for i in (row.text.find(s) for s in stop) if i >= 0]
    if cuts:
        row.text = row.text[: min(cuts)]
        row.stop_reason = "stop"


def _stream(row: _Row, stop: tuple[str, ...], index: int, on_token: TokenCallback) -> None:
    """Send the row's new text, holding back what may still change or turn into a stop string."""
    text = row.text
    if row.stop_reason is None:
        # A trailing replacement character may be an unfinished multi-byte character.
        text = text.rstrip("\ufffd")
        held = max((n for s in stop for n in range(1, len(s)) if text.endswith(s[:n])), default=0)
        text = text[: len(text) - held]
    if len(text) > len(row.streamed) and text.startswith(row.streamed):
        on_token(index, text[len(row.streamed) :])
        row.streamed = text


def generate_from_run(
    run_dir: str | Path,
    prompts: Sequence[str],
    sampling: SamplingConfig,
    *,
    checkpoint: str | None = None,
    device: str = "auto",
    on_token: TokenCallback | None = None,
) -> list[Generation]:
    """Load a trained run's model and tokenizer and continue the prompts.

    checkpoint: None or "latest", "best", a step number, step_N or a folder; device: auto
    (cuda > mps > cpu), cpu, cuda, cuda:N or mps. Errors are GptlabErrors that say what to fix.
    """
    model, tokenizer, torch_device = load_for_generation(run_dir, checkpoint, device)
    return generate(model, tokenizer, prompts, sampling, device=torch_device, on_token=on_token)


def load_for_generation(
    run_dir: str | Path, checkpoint: str | None, device: str
) -> tuple[GPT, TextCodec, torch.device]:
    """A run's model (on the resolved device) and tokenizer; arguments as generate_from_run's."""
    from gptlab.train.checkpoint import load_run
    from gptlab.train.runtime import resolve_device

    torch_device = resolve_device(device)
    loaded = load_run(
        run_dir,
        checkpoint=None if checkpoint in (None, "latest") else checkpoint,
        device=str(torch_device),
    )
    return loaded.model, loaded.tokenizer, torch_device
