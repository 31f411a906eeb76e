"""Tests of `gptlab generate` on a run folder holding a tiny trained byte-level model."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path

import pytest
import torch

from gptlab.cli import main
from gptlab.config import Config, ModelConfig
from gptlab.data.tokenizers import make_tokenizer
from gptlab.model import GPT
from gptlab.train.checkpoint import save_checkpoint

SENTENCE = "Big fox-jumps!"
"""Every character occurs once, so a tiny model learns the next one from the current one."""


@pytest.fixture(scope="module", autouse=True)
def one_thread() -> Iterator[None]:
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(threads)


@pytest.fixture(scope="module")
def run_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A run folder with one checkpoint of a GPT trained to repeat SENTENCE, and its tokenizer."""
    tokenizer = make_tokenizer("byte")
    model_cfg = ModelConfig(
        n_layer=2, n_head=2, n_embd=32, context_length=32, vocab_size=tokenizer.vocab_size
    )
    torch.manual_seed(0)
    model = GPT(model_cfg)
    stream = torch.tensor([*tokenizer.encode(SENTENCE), tokenizer.eos_id] * 10)
    optimizer = torch.optim.AdamW(model.parameters(), lr=1e-2)
    generator = torch.Generator().manual_seed(0)
    for _ in range(80):
        starts = torch.randint(0, len(stream) - 33, (8,), generator=generator)
        x = torch.stack([stream[s : s + 32] for s in starts])
        y = torch.stack([stream[s + 1 : s + 33] for s in starts])
        _, loss = model(x, targets=y)
        assert loss is not None
        optimizer.zero_grad()
        loss.backward()
        optimizer.step()
    run = tmp_path_factory.mktemp("run")
    save_checkpoint(run, 80, model, optimizer, {"tokens": 0}, config=Config(model=model_cfg))
    tokenizer.save(run / "tokenizer")
    return run


def test_single_prompt_streams_prompt_and_completion(
    run_dir: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    rc = main(["generate", str(run_dir), "--prompt", "Bi", "--greedy", "--device", "cpu"])
    captured = capsys.readouterr()
    assert rc == 0, captured.err
    assert captured.out.strip() == "Big fox-jumps!"
    assert "end of text" in captured.err


def test_json_batch_with_samples_and_stop(
    run_dir: Path, capsys: pytest.CaptureFixture[str], tmp_path: Path
) -> None:
    prompt_file = tmp_path / "prompts.txt"
    prompt_file.write_text("fox\n\n", encoding="utf-8")
    args = ["generate", str(run_dir), "-p", "Bi", "--prompt-file", str(prompt_file)]
    args += ["--num-samples", "2", "--seed", "1", "--stop", "ps", "--json", "-t", "0.1"]
    assert main(args) == 0
    rows = json.loads(capsys.readouterr().out)
    assert [(r["prompt"], r["sample"]) for r in rows] == [
        ("Bi", 0),
        ("Bi", 1),
        ("fox", 0),
        ("fox", 1),
    ]
    assert {r["text"] for r in rows[:2]} == {"g fox-jum"}
    assert {r["text"] for r in rows[2:]} == {"-jum"}
    assert all(r["stop_reason"] == "stop" for r in rows)


def test_several_prompts_are_printed_with_labels(
    run_dir: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    args = ["generate", str(run_dir), "-p", "Bi", "-p", "fox", "--greedy", "-c", "80"]
    assert main(args) == 0
    out = capsys.readouterr().out
    assert "prompt 1" in out and "prompt 2" in out
    assert "Big fox-jumps!" in out and "fox-jumps!" in out


def test_bad_temperature_fails_before_loading(capsys: pytest.CaptureFixture[str]) -> None:
    rc = main(["generate", "no/such/run", "--temperature", "-1"])
    captured = capsys.readouterr()
    assert rc == 2
    assert "temperature=-1.0 is invalid" in captured.err
    assert "Traceback" not in captured.err


@pytest.mark.parametrize(
    ("flag", "value", "message"),
    [("--top-p", "0", "top_p"), ("--top-k", "-3", "top_k"), ("--num-samples", "0", "num_samples")],
)
def test_other_bad_values_exit_2(
    flag: str, value: str, message: str, capsys: pytest.CaptureFixture[str]
) -> None:
    assert main(["generate", "no/such/run", flag, value]) == 2
    assert message in capsys.readouterr().err


def test_missing_run_and_missing_prompt_file_are_clear(
    tmp_path: Path, run_dir: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    assert main(["generate", str(tmp_path / "nope"), "-p", "x"]) == 2
    assert "does not exist" in capsys.readouterr().err
    assert main(["generate", str(run_dir), "--prompt-file", str(tmp_path / "none.txt")]) == 2
    assert "Prompt file" in capsys.readouterr().err


def test_long_prompt_warning_reaches_stderr(
    run_dir: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    args = ["generate", str(run_dir), "-p", SENTENCE * 4, "-n", "3", "--device", "cpu"]
    assert main(args) == 0
    assert "longer than the model's context" in capsys.readouterr().err


def test_next_token_draws_print_a_plain_table_when_piped(
    run_dir: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    args = ["generate", str(run_dir), "-p", "Bi", "--greedy", "--next-token-draws", "1000"]
    assert main([*args, "--device", "cpu"]) == 0
    lines = capsys.readouterr().out.splitlines()
    assert lines[0].startswith("Next token after 'Bi' (greedy): 1,000 draws")
    assert lines[1].split() == ["token", "id", "probability", "raw", "count", "share"]
    assert lines[2].split()[0:3] == ["g", str(ord("g")), "100.00%"]
    assert lines[2].split()[-2:] == ["1,000", "100.00%"]
    assert not any(c in "".join(lines) for c in "┃━│─")  # no box drawing when piped
    assert "(247 others)" in "".join(lines)
    assert lines[-1].startswith("entropy 0.000 nats")


def test_next_token_draws_as_json_add_up(run_dir: Path, capsys: pytest.CaptureFixture[str]) -> None:
    args = ["generate", str(run_dir), "-p", "Bi", "-p", "fox", "-t", "3", "--top-k", "0"]
    args += ["--next-token-draws", "500", "--seed", "3", "--json", "--device", "cpu"]
    assert main(args) == 0
    results = json.loads(capsys.readouterr().out)
    assert [r["prompt"] for r in results] == ["Bi", "fox"]
    for result in results:
        tokens, other = result["tokens"], result["other"]
        assert sum(t["count"] for t in tokens) + other["count"] == 500
        assert other["count"] == 0  # every drawn token is listed
        total = sum(t["probability"] for t in tokens) + other["probability"]
        assert total == pytest.approx(1.0, abs=1e-5)
        assert len(tokens) + other["tokens"] == 257
        assert result["entropy"] > result["raw_entropy"]  # temperature 3 flattens
    assert main(args) == 0
    assert json.loads(capsys.readouterr().out) == results  # the seed repeats it


@pytest.mark.parametrize(
    ("extra", "message"),
    [
        (["--next-token-draws", "0"], "draws=0 is invalid"),
        (["--next-token-draws", "1000001"], "draws=1000001 is invalid"),
        (["--next-token-draws", "10", "--num-samples", "2"], "--num-samples does not apply"),
    ],
)
def test_bad_next_token_draws_exit_2_before_loading(
    extra: list[str], message: str, capsys: pytest.CaptureFixture[str]
) -> None:
    assert main(["generate", "no/such/run", *extra]) == 2
    err = capsys.readouterr().err
    assert message in err
    assert "Traceback" not in err
