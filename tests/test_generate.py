"""Tests of sampling: determinism, greedy equivalences, stops, penalties, streaming, cropping,
and the next-token distribution with draws from it (gptlab.next_token)."""

from __future__ import annotations

import warnings
from collections.abc import Iterator

import pytest
import torch

from gptlab.config import ModelConfig
from gptlab.data.tokenizers import CharTokenizer, Tokenizer, make_tokenizer
from gptlab.errors import CheckpointError, ConfigError
from gptlab.generate import Generation, SamplingConfig, generate
from gptlab.model import GPT
from gptlab.next_token import MAX_DRAWS, TOP_TOKENS, NextTokenDraws, next_token_draws

SENTENCE = "Big fox-jumps!"
"""Every character occurs once, so a tiny model learns the next one from the current one."""
CONTEXT_LENGTH = 32


@pytest.fixture(scope="module", autouse=True)
def one_thread() -> Iterator[None]:
    """Tiny matrices: one thread is as fast and spares a CPU shared with other work."""
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(threads)


@pytest.fixture(scope="module")
def tokenizer() -> Tokenizer:
    return make_tokenizer("byte")


@pytest.fixture(scope="module")
def model(tokenizer: Tokenizer) -> GPT:
    """A tiny GPT trained for a second or two to repeat SENTENCE followed by EOS."""
    torch.manual_seed(0)
    cfg = ModelConfig(
        n_layer=2,
        n_head=2,
        n_embd=32,
        context_length=CONTEXT_LENGTH,
        vocab_size=tokenizer.vocab_size,
    )
    gpt = GPT(cfg)
    stream = torch.tensor([*tokenizer.encode(SENTENCE), tokenizer.eos_id] * 10)
    optimizer = torch.optim.AdamW(gpt.parameters(), lr=1e-2)
    generator = torch.Generator().manual_seed(0)
    for _ in range(80):
        starts = torch.randint(0, len(stream) - CONTEXT_LENGTH - 1, (8,), generator=generator)
        x = torch.stack([stream[s : s + CONTEXT_LENGTH] for s in starts])
        y = torch.stack([stream[s + 1 : s + CONTEXT_LENGTH + 1] for s in starts])
        _, loss = gpt(x, targets=y)
        assert loss is not None
        optimizer.zero_grad()
        loss.backward()
        optimizer.step()
    return gpt.eval()


@pytest.fixture(scope="module")
def untrained() -> GPT:
    """A random tiny GPT over bytes: near-uniform logits, so penalties and sampling show."""
    torch.manual_seed(0)
    cfg = ModelConfig(n_layer=1, n_head=1, n_embd=16, context_length=16, vocab_size=257)
    return GPT(cfg).eval()


def run(model: GPT, tokenizer: Tokenizer, prompt: str = "Bi", **options: object) -> Generation:
    sampling = SamplingConfig(**{"max_new_tokens": 20, **options})
    return generate(model, tokenizer, [prompt], sampling)[0]


def test_trained_model_completes_the_sentence_and_stops_at_eos(
    model: GPT, tokenizer: Tokenizer
) -> None:
    result = run(model, tokenizer, greedy=True)
    assert result.text == "g fox-jumps!"
    assert result.stop_reason == "eos"
    assert result.tokens == tokenizer.encode(result.text)


def test_without_stop_at_eos_the_budget_is_used(model: GPT, tokenizer: Tokenizer) -> None:
    result = run(model, tokenizer, greedy=True, stop_at_eos=False, max_new_tokens=25)
    assert result.stop_reason == "length"
    assert len(result.tokens) == 25
    assert tokenizer.eos_id in result.tokens


def test_same_seed_same_text_other_seed_other_text(model: GPT, tokenizer: Tokenizer) -> None:
    options = {"temperature": 2.0, "top_k": 0, "seed": 7, "stop_at_eos": False}
    first = run(model, tokenizer, **options)
    again = run(model, tokenizer, **options)
    other = run(model, tokenizer, **{**options, "seed": 8})
    assert first == again
    assert first.tokens != other.tokens


def test_top_k_one_and_tiny_top_p_and_zero_temperature_equal_greedy(
    model: GPT, tokenizer: Tokenizer
) -> None:
    greedy = run(model, tokenizer, "fox", greedy=True, stop_at_eos=False)
    top_k = run(model, tokenizer, "fox", top_k=1, temperature=5.0, seed=1, stop_at_eos=False)
    top_p = run(
        model, tokenizer, "fox", top_p=1e-6, top_k=0, temperature=5.0, seed=2, stop_at_eos=False
    )
    cold = run(model, tokenizer, "fox", temperature=0.0, stop_at_eos=False)
    assert top_k.tokens == greedy.tokens
    assert top_p.tokens == greedy.tokens
    assert cold.tokens == greedy.tokens


def test_stop_string_cuts_text_before_it(model: GPT, tokenizer: Tokenizer) -> None:
    result = run(model, tokenizer, greedy=True, stop=("xyz", "-j", "ps"))
    assert result.text == "g fox"
    assert result.stop_reason == "stop"


def test_repetition_penalty_changes_the_output(untrained: GPT, tokenizer: Tokenizer) -> None:
    plain = run(untrained, tokenizer, greedy=True, stop_at_eos=False, max_new_tokens=12)
    penalised = run(
        untrained,
        tokenizer,
        greedy=True,
        stop_at_eos=False,
        max_new_tokens=12,
        repetition_penalty=1.5,
    )
    assert len(set(plain.tokens)) < len(plain.tokens)  # greedy repeats itself
    assert plain.tokens != penalised.tokens
    assert len(set(penalised.tokens)) > len(set(plain.tokens))


def test_generation_past_the_context_matches_recompute_until_the_cache_slides(
    model: GPT, tokenizer: Tokenizer
) -> None:
    prompt = "Big fox"
    steps = 2 * CONTEXT_LENGTH
    result = run(model, tokenizer, prompt, greedy=True, stop_at_eos=False, max_new_tokens=steps)
    assert len(result.tokens) == steps
    ids = tokenizer.encode(prompt)
    reference: list[int] = []
    with torch.no_grad():
        for _ in range(CONTEXT_LENGTH - len(ids) + 1):  # the cache is full after these tokens
            logits, _ = model(torch.tensor([ids + reference]))
            reference.append(int(logits[0, -1].argmax()))
    assert result.tokens[: len(reference)] == reference
    cycle = [*tokenizer.encode(SENTENCE), tokenizer.eos_id] * 8
    assert result.tokens == cycle[len(ids) : len(ids) + steps]  # still right after slides


def test_batch_of_prompts_and_samples_is_prompt_major(model: GPT, tokenizer: Tokenizer) -> None:
    prompts = ["Bi", "fox-j"]
    sampling = SamplingConfig(max_new_tokens=10, num_samples=3, seed=0)
    results = generate(model, tokenizer, prompts, sampling)
    assert [r.prompt for r in results] == ["Bi"] * 3 + ["fox-j"] * 3
    single = generate(model, tokenizer, ["fox-j"], SamplingConfig(max_new_tokens=10, greedy=True))
    batched = generate(
        model, tokenizer, prompts, SamplingConfig(max_new_tokens=10, greedy=True, num_samples=2)
    )
    assert batched[2].tokens == batched[3].tokens == single[0].tokens


def test_streamed_pieces_add_up_to_the_text(model: GPT, tokenizer: Tokenizer) -> None:
    pieces: dict[int, list[str]] = {}
    results = generate(
        model,
        tokenizer,
        ["Bi", "fox"],
        SamplingConfig(max_new_tokens=30, seed=3, stop=("ps!",)),
        on_token=lambda index, text: pieces.setdefault(index, []).append(text),
    )
    for index, result in enumerate(results):
        assert "".join(pieces.get(index, [])) == result.text
    assert len(pieces[0]) > 1  # streamed as it went, not in one piece at the end


def test_streaming_waits_for_complete_utf8_characters(untrained: GPT, tokenizer: Tokenizer) -> None:
    pieces: list[str] = []
    result = generate(
        untrained,
        tokenizer,
        ["é"],
        SamplingConfig(max_new_tokens=12, temperature=1.0, top_k=0, seed=0, stop_at_eos=False),
        on_token=lambda _, text: pieces.append(text),
    )[0]
    assert "".join(pieces) == result.text
    assert all(not piece.endswith("\ufffd") for piece in pieces[:-1])


def test_long_prompt_is_cropped_from_the_left_with_a_warning(
    model: GPT, tokenizer: Tokenizer
) -> None:
    prompt = SENTENCE * 3
    with pytest.warns(UserWarning, match="longer than the model's context"):
        result = run(model, tokenizer, prompt, max_new_tokens=5, greedy=True)
    assert result.cropped_prompt_tokens == len(prompt) - (CONTEXT_LENGTH - 1)


def test_empty_prompt_starts_a_document(model: GPT, tokenizer: Tokenizer) -> None:
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        result = run(model, tokenizer, "", greedy=True)
    assert result.text == SENTENCE


def test_training_mode_is_restored(model: GPT, tokenizer: Tokenizer) -> None:
    model.train()
    try:
        run(model, tokenizer, max_new_tokens=2)
        assert model.training
    finally:
        model.eval()


@pytest.mark.parametrize(
    ("options", "message"),
    [
        ({"temperature": -1.0}, "temperature"),
        ({"top_p": 0.0}, "top_p"),
        ({"top_p": 1.5}, "top_p"),
        ({"top_k": -1}, "top_k"),
        ({"repetition_penalty": 0.0}, "repetition_penalty"),
        ({"num_samples": 0}, "num_samples"),
        ({"max_new_tokens": 0}, "max_new_tokens"),
        ({"stop": ("",)}, "stop string"),
    ],
)
def test_bad_sampling_values_are_config_errors(options: dict[str, object], message: str) -> None:
    with pytest.raises(ConfigError, match=message):
        SamplingConfig(**options)


def test_diverged_weights_are_a_clear_error(tokenizer: Tokenizer) -> None:
    broken = GPT(ModelConfig(n_layer=1, n_head=1, n_embd=8, context_length=16, vocab_size=257))
    with torch.no_grad():
        broken.lm_head.weight.fill_(float("nan"))
    with pytest.raises(CheckpointError, match="not finite"):
        run(broken, tokenizer)


def draw(
    model: GPT, tokenizer: Tokenizer, draws: int = 1000, prompt: str = "Bi", **options: object
) -> NextTokenDraws:
    sampling = SamplingConfig(**{"top_k": 0, "temperature": 1.0, "seed": 0, **options})
    return next_token_draws(model, tokenizer, [prompt], sampling, draws)[0]


def test_draws_add_up_and_probabilities_sum_to_one(untrained: GPT, tokenizer: Tokenizer) -> None:
    result = draw(untrained, tokenizer, 1234)
    assert int(result.counts.sum()) == 1234
    assert result.probabilities.shape == (tokenizer.vocab_size,)
    assert float(result.probabilities.sum()) == pytest.approx(1.0, abs=1e-5)
    assert float(result.raw_probabilities.sum()) == pytest.approx(1.0, abs=1e-5)
    # Listed: the top TOP_TOKENS, then every drawn token outside them, most likely first.
    listed = [t.token_id for t in result.tokens]
    assert len(set(listed)) == len(listed)
    drawn = set(torch.nonzero(result.counts).flatten().tolist())
    assert drawn <= set(listed)
    assert len(listed) == len(drawn | set(listed[:TOP_TOKENS]))
    probabilities = [t.probability for t in result.tokens]
    assert probabilities == sorted(probabilities, reverse=True)


def test_greedy_draws_the_argmax_every_time(model: GPT, tokenizer: Tokenizer) -> None:
    result = draw(model, tokenizer, 500, greedy=True)
    first = result.tokens[0]
    assert (first.text, first.probability, first.count) == ("g", 1.0, 500)
    assert result.distinct_drawn == 1
    assert result.entropy == 0.0
    assert first.token_id == run(model, tokenizer, greedy=True).tokens[0]
    # The tokens after it were not drawn and show the model's own probabilities, in order.
    assert all(t.probability == 0.0 and t.count == 0 for t in result.tokens[1:])
    raw = [t.raw_probability for t in result.tokens[1:]]
    assert len(raw) == TOP_TOKENS - 1 and raw == sorted(raw, reverse=True)


def test_top_k_draws_at_most_k_tokens(untrained: GPT, tokenizer: Tokenizer) -> None:
    result = draw(untrained, tokenizer, 2000, top_k=3)
    assert result.distinct_drawn <= 3
    assert int((result.probabilities > 0).sum()) == 3
    kept = {t.token_id for t in result.tokens[:3]}
    assert set(torch.nonzero(result.counts).flatten().tolist()) <= kept
    assert all(t.probability > 0 for t in result.tokens[:3])
    assert all(t.probability == 0 and t.raw_probability > 0 for t in result.tokens[3:])


def test_lower_temperature_lowers_the_entropy(untrained: GPT, tokenizer: Tokenizer) -> None:
    results = [draw(untrained, tokenizer, 10, temperature=t) for t in (0.1, 0.5, 1.0, 2.0)]
    entropies = [r.entropy for r in results]
    assert entropies == sorted(entropies) and len(set(entropies)) == 4
    assert results[2].entropy == pytest.approx(results[2].raw_entropy, abs=1e-4)
    assert {round(r.raw_entropy, 6) for r in results} == {round(results[0].raw_entropy, 6)}


def test_shares_follow_the_probabilities(untrained: GPT, tokenizer: Tokenizer) -> None:
    result = draw(untrained, tokenizer, 200_000, top_k=5)
    for token in result.tokens[:5]:
        assert token.count / result.draws == pytest.approx(token.probability, abs=0.01)


def test_repetition_penalty_lowers_the_prompt_tokens(untrained: GPT, tokenizer: Tokenizer) -> None:
    plain = draw(untrained, tokenizer, 10)
    penalised = draw(untrained, tokenizer, 10, repetition_penalty=3.0)
    seen = tokenizer.encode("Bi")
    ratio = penalised.probabilities / plain.probabilities
    others = torch.ones(tokenizer.vocab_size, dtype=torch.bool)
    others[seen] = False
    assert float(ratio[seen].max()) < float(ratio[others].min())
    assert torch.equal(plain.raw_probabilities, penalised.raw_probabilities)


def test_same_seed_same_draws_other_seed_other_draws(untrained: GPT, tokenizer: Tokenizer) -> None:
    first = draw(untrained, tokenizer, 300, seed=5)
    again = draw(untrained, tokenizer, 300, seed=5)
    other = draw(untrained, tokenizer, 300, seed=6)
    assert torch.equal(first.counts, again.counts)
    assert first.tokens == again.tokens
    assert not torch.equal(first.counts, other.counts)


def test_tokens_show_chinese_characters_and_bytes(tokenizer: Tokenizer) -> None:
    chars = CharTokenizer("你好。")
    torch.manual_seed(0)
    cfg = ModelConfig(n_layer=1, n_head=1, n_embd=8, context_length=8, vocab_size=4)
    result = draw(GPT(cfg).eval(), chars, 100, prompt="你")
    assert {t.text for t in result.tokens} == {"你", "好", "。", "<|endoftext|>"}
    # A byte model made to open 你 (e4 bd a0) next: the lone byte shows as its escaped value.
    byte_model = GPT(ModelConfig(n_layer=1, n_head=1, n_embd=8, context_length=8, vocab_size=257))
    with torch.no_grad():
        byte_model.transformer.ln_f.weight.zero_()
        byte_model.transformer.ln_f.bias.fill_(1.0)  # every position's output is all ones
        byte_model.lm_head.weight.zero_()
        byte_model.lm_head.weight[0xE4].fill_(1.0)
    result = draw(byte_model.eval(), tokenizer, 10, prompt="a", greedy=True)
    assert (result.tokens[0].token_id, result.tokens[0].text) == (0xE4, "\\xe4")


@pytest.mark.parametrize("draws", [0, -1, MAX_DRAWS + 1])
def test_bad_number_of_draws_is_a_config_error(
    untrained: GPT, tokenizer: Tokenizer, draws: int
) -> None:
    with pytest.raises(ConfigError, match=f"draws={draws} is invalid"):
        draw(untrained, tokenizer, draws)
