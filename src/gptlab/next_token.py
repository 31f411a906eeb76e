"""The next-token distribution the sampler draws from after a prompt, and many draws from it.

The classic tutorial's look at what temperature, top-k and top-p do: one forward pass per prompt,
the probabilities exactly as `generate` makes them (gptlab.generate.next_token_probs), the
model's own softmax beside them, and N draws with the seed, counted per token.

Trade-off: the N draws are one call of torch.multinomial with replacement on one distribution, so
they follow the distribution `generate` samples its first token from, but they are not the first
tokens N seeded `generate` runs would give.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch
from torch import Tensor

from gptlab.errors import ConfigError
from gptlab.generate import (
    SamplingConfig,
    TextCodec,
    encode_prompt,
    load_for_generation,
    next_token_probs,
    seeded_generator,
)
from gptlab.model.gpt import GPT

MAX_DRAWS = 1_000_000
"""Most draws per prompt (one multinomial call; a million take well under a second)."""
TOP_TOKENS = 10
"""Tokens listed by probability, before the drawn tokens outside them."""


def check_draws(draws: int) -> None:
    """A ConfigError that names the fix unless 1 <= draws <= MAX_DRAWS."""
    if not 1 <= draws <= MAX_DRAWS:
        raise ConfigError(
            f"next-token draws={draws} is invalid: draw from 1 to {MAX_DRAWS:,} tokens per "
            "prompt (1,000 shows the shape of the distribution)."
        )


@dataclass(frozen=True)
class TokenShare:
    """One token of the distribution: its probabilities and how often it was drawn."""

    token_id: int
    text: str
    """What the token adds after the prompt; part of a character's bytes reads as those bytes
    escaped (\\xe4) where the tokenizer gives them, else U+FFFD and '…'."""
    probability: float
    """After repetition penalty, temperature, top-k and top-p (0 = cut); greedy: 1 or 0."""
    raw_probability: float
    """The model's softmax: temperature 1, nothing cut, no penalty."""
    count: int
    """Times drawn."""


@dataclass(frozen=True)
class NextTokenDraws:
    """The next-token distribution after one prompt and the draws from it."""

    prompt: str
    draws: int
    """How many tokens were drawn."""
    probabilities: Tensor
    """(vocab_size,) float32 on the CPU: the distribution the sampler draws from."""
    raw_probabilities: Tensor
    """(vocab_size,) float32 on the CPU: the model's softmax."""
    counts: Tensor
    """(vocab_size,) int64 on the CPU: draws per token id; they sum to `draws`."""
    tokens: list[TokenShare]
    """The TOP_TOKENS most likely (raw probability breaks ties, so tokens a cut removed follow
    those kept), then every drawn token outside them, most likely first."""
    cropped_prompt_tokens: int = 0
    """Tokens dropped from the left of a prompt longer than the context."""

    @property
    def entropy(self) -> float:
        """Entropy of the distribution sampled from, in nats (0 for greedy)."""
        return _entropy(self.probabilities)

    @property
    def raw_entropy(self) -> float:
        """Entropy of the model's softmax, in nats."""
        return _entropy(self.raw_probabilities)

    @property
    def distinct_drawn(self) -> int:
        """How many different tokens were drawn."""
        return int((self.counts > 0).sum())


def _entropy(probs: Tensor) -> float:
    p = probs.double()
    return max(0.0, float(-(p * torch.log(p.clamp_min(1e-300))).sum()))


def next_token_draws(
    model: GPT,
    tokenizer: TextCodec,
    prompts: Sequence[str],
    sampling: SamplingConfig,
    draws: int,
    *,
    device: torch.device | str = "cpu",
) -> list[NextTokenDraws]:
    """For each prompt, the sampler's next-token distribution and `draws` draws from it.

    The prompt is encoded and cropped as `generate` does; `sampling`'s temperature, top-k,
    top-p, repetition penalty, greedy and seed apply, its other fields do not. The model must
    already be on `device`; its training mode is restored afterwards.
    """
    check_draws(draws)
    generator = seeded_generator(device, sampling.seed)
    was_training = model.training
    model.eval()
    try:
        return [
            _draw_one(model, tokenizer, prompt, sampling, draws, device, generator)
            for prompt in prompts
        ]
    finally:
        model.train(was_training)


@torch.no_grad()
def _draw_one(
    model: GPT,
    tokenizer: TextCodec,
    prompt: str,
    sampling: SamplingConfig,
    draws: int,
    device: torch.device | str,
    generator: torch.Generator,
) -> NextTokenDraws:
    prompt_ids, cropped = encode_prompt(tokenizer, prompt, model.cfg.context_length)
    sequence = torch.tensor([prompt_ids], dtype=torch.long, device=device)  # (1, T)
    seen = torch.zeros(1, model.cfg.vocab_size, dtype=torch.bool, device=device)
    seen.scatter_(1, sequence, True)
    cache = model.new_kv_cache(1, device=device)  # the prefill generate runs, to the last bit
    logits = model(sequence, kv_cache=cache)[0][:, -1]  # (1, vocab_size)
    probs = next_token_probs(logits, seen, sampling)  # (1, vocab_size)
    drawn = torch.multinomial(probs, draws, replacement=True, generator=generator)  # (1, draws)
    counts = torch.bincount(drawn[0], minlength=model.cfg.vocab_size).cpu()
    probabilities = probs[0].cpu()
    raw = torch.softmax(logits[0].float(), dim=-1).cpu()
    return NextTokenDraws(
        prompt=prompt,
        draws=draws,
        probabilities=probabilities,
        raw_probabilities=raw,
        counts=counts,
        tokens=_listed_tokens(tokenizer, prompt_ids, probabilities, raw, counts),
        cropped_prompt_tokens=cropped,
    )


def _listed_tokens(
    tokenizer: TextCodec, prompt_ids: list[int], probs: Tensor, raw: Tensor, counts: Tensor
) -> list[TokenShare]:
    from gptlab.report.inspect import next_token_texts

    # Most likely first; among equal probabilities (0 after a cut), the raw one decides.
    order = np.lexsort((-raw.double().numpy(), -probs.double().numpy()))
    top = [int(i) for i in order[:TOP_TOKENS]]
    listed = top + [int(i) for i in order[TOP_TOKENS:] if counts[i] > 0]
    texts = [
        _bytes_shown(tokenizer, i, text)
        for i, text in zip(listed, next_token_texts(tokenizer, prompt_ids, listed), strict=True)
    ]
    return [
        TokenShare(
            token_id=i,
            text=text,
            probability=float(probs[i]),
            raw_probability=float(raw[i]),
            count=int(counts[i]),
        )
        for i, text in zip(listed, texts, strict=True)
    ]


def _bytes_shown(tokenizer: TextCodec, token_id: int, text: str) -> str:
    """A token that is part of a character's bytes, as its bytes escaped (\\xe4\\xbd), where the
    tokenizer gives them: U+FFFD would hide which bytes they are."""
    from gptlab.data.token_bytes import token_bytes

    if "\ufffd" not in text:
        return text
    raw = token_bytes(tokenizer, token_id)
    return text if raw is None else raw.decode("utf-8", "backslashreplace")


def next_token_draws_from_run(
    run_dir: str | Path,
    prompts: Sequence[str],
    sampling: SamplingConfig,
    draws: int,
    *,
    checkpoint: str | None = None,
    device: str = "auto",
) -> list[NextTokenDraws]:
    """Load a trained run's model and tokenizer and draw next tokens after the prompts.

    Arguments as gptlab.generate.generate_from_run's; errors are GptlabErrors that say what to fix.
    """
    check_draws(draws)
    model, tokenizer, torch_device = load_for_generation(run_dir, checkpoint, device)
    return next_token_draws(model, tokenizer, prompts, sampling, draws, device=torch_device)


@dataclass(frozen=True)
class OtherTokens:
    """The tokens not among the first rows of a table, together, so that the table adds up."""

    tokens: int
    """How many token ids."""
    probability: float
    raw_probability: float
    count: int


def other_tokens(result: NextTokenDraws, shown: int) -> OtherTokens:
    """Every token but the first `shown` of result.tokens, together."""
    ids = torch.tensor([t.token_id for t in result.tokens[:shown]], dtype=torch.long)
    rest = torch.ones_like(result.counts, dtype=torch.bool)
    rest[ids] = False
    return OtherTokens(
        tokens=int(rest.sum()),
        probability=math.fsum(result.probabilities[rest].double().tolist()),
        raw_probability=math.fsum(result.raw_probabilities[rest].double().tolist()),
        count=int(result.counts[rest].sum()),
    )
