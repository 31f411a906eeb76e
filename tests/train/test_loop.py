"""Tests for gptlab.train.loop: learning, exact resume, NaN handling, accumulation, checks."""

from __future__ import annotations

import json
import math
import shutil
from pathlib import Path
from typing import Any

import pytest
import torch
from safetensors.torch import load_file

from gptlab.config import Config, config_from_dict
from gptlab.data.prepare import prepare
from gptlab.errors import CheckpointError, ConfigError, GptlabError
from gptlab.model import gpt as gpt_module
from gptlab.report.plots import render_run_plots
from gptlab.report.records import load_metrics, lr_per_step
from gptlab.train import train
from gptlab.train.checkpoint import acquire_lock, load_run, release_lock
from gptlab.train.loop import DeviceOutOfMemory, TrainingDiverged
from gptlab.train.optim import lr_at


@pytest.fixture(scope="module")
def dataset(tmp_path_factory: pytest.TempPathFactory) -> Path:
    out = tmp_path_factory.mktemp("data") / "builtin"
    prepare(
        "builtin",
        out,
        tokenizer="byte",
        builtin_stories=80,
        val_fraction=0.1,
        num_workers=1,
        progress=False,
    )
    return out


@pytest.fixture(autouse=True)
def _one_thread() -> None:
    torch.set_num_threads(1)


def tiny_config(data_dir: Path, run: Path, **sections: dict[str, Any]) -> Config:
    base: dict[str, dict[str, Any]] = {
        "data": {"path": str(data_dir)},
        "model": {"n_layer": 2, "n_head": 2, "n_embd": 32, "context_length": 32},
        "optim": {"lr": 3e-3, "min_lr": 3e-4, "warmup_steps": 5},
        "train": {
            "micro_batch_size": 8,
            "max_steps": 20,
            "log_interval_steps": 5,
            "eval_interval_steps": 0,
            "eval_batches": 2,
            "sample_max_new_tokens": 8,
            "keep_last_checkpoints": 5,
        },
        "run": {"out_dir": str(run), "report": False},
    }
    for section, values in sections.items():
        base.setdefault(section, {}).update(values)
    return config_from_dict(base)


def records(run: Path) -> list[dict[str, Any]]:
    lines = (run / "metrics.jsonl").read_text().splitlines()
    return [json.loads(line) for line in lines]


def test_loss_decreases_and_run_folder_is_complete(dataset: Path, tmp_path: Path) -> None:
    run = tmp_path / "run"
    cfg = tiny_config(dataset, run, train={"max_steps": 60, "eval_interval_steps": 30})
    result = train(cfg, progress=False, command_line=["gptlab", "train"])
    assert result.steps == 60 and result.stop_reason == "done"
    assert result.tokens == 60 * 8 * 32
    for name in ("config.toml", "env.json", "dataset_meta.json", "samples.jsonl"):
        assert (run / name).is_file(), name
    assert (run / "tokenizer").is_dir()
    recs = records(run)
    train_recs = [r for r in recs if r["kind"] == "train"]
    evals = [r for r in recs if r["kind"] == "eval"]
    assert recs[-1] == {**recs[-1], "kind": "end", "reason": "done", "step": 60}
    assert [r["step"] for r in evals] == [30, 60]
    assert train_recs[-1]["loss"] < train_recs[0]["loss"] - 1.0
    assert evals[-1]["val_loss"] < train_recs[0]["loss"] - 1.0
    assert 0 < evals[-1]["val_acc"] <= evals[-1]["val_acc_top5"] <= 1
    assert set(evals[-1]) >= {"train_loss", "train_ppl", "train_acc", "train_acc_top5"}
    assert train_recs[0]["mfu"] is None and train_recs[0]["tokens_per_s"] > 0
    samples = [json.loads(s) for s in (run / "samples.jsonl").read_text().splitlines()]
    assert [s["step"] for s in samples] == [30, 60]
    env = json.loads((run / "env.json").read_text())
    assert env["command_line"] == ["gptlab", "train"] and env["torch"] == torch.__version__
    loaded = load_run(run)
    assert loaded.step == 60 and not loaded.model.training
    assert (
        loaded.config.model.vocab_size
        == json.loads((dataset / "meta.json").read_text())["vocab_size"]
    )
    assert loaded.tokenizer.decode(loaded.tokenizer.encode("Tom")) == "Tom"
    assert load_run(run, "best").step in (30, 60)


def _tensors_equal(a: Path, b: Path) -> None:
    ta, tb = load_file(str(a)), load_file(str(b))
    assert ta.keys() == tb.keys()
    for key in ta:
        assert torch.equal(ta[key], tb[key]), f"{a.name}: {key} differs"


@pytest.mark.parametrize("mode", ["random", "sliding"])
def test_resume_is_bit_identical(dataset: Path, tmp_path: Path, mode: str) -> None:
    straight = tmp_path / "straight"
    extra = {"model": {"dropout": 0.1}, "data": {"batch_mode": mode}}
    cfg = tiny_config(
        dataset, straight, train={"checkpoint_interval_steps": 8, "max_steps": 16}, **extra
    )
    train(cfg, progress=False)
    # The resumed run starts from a copy holding only the mid-run checkpoint.
    resumed = tmp_path / "resumed"
    shutil.copytree(straight, resumed)
    shutil.rmtree(resumed / "checkpoints" / "step_000016")
    (resumed / "checkpoints" / "best.json").unlink(missing_ok=True)
    cfg2 = tiny_config(
        dataset, resumed, train={"checkpoint_interval_steps": 8, "max_steps": 16}, **extra
    )
    result = train(cfg2, resume=True, progress=False)
    assert result.steps == 16
    a, b = straight / "checkpoints" / "step_000016", resumed / "checkpoints" / "step_000016"
    _tensors_equal(a / "model.safetensors", b / "model.safetensors")
    _tensors_equal(a / "optimizer.safetensors", b / "optimizer.safetensors")
    state_a = json.loads((a / "state.json").read_text())
    state_b = json.loads((b / "state.json").read_text())
    assert state_a["loader"] == state_b["loader"] and state_a["rng"] == state_b["rng"]
    # The resumed metrics continue the old ones without the old end record in between.
    steps = [r["step"] for r in records(resumed) if r["kind"] == "train"]
    assert steps == sorted(steps) and len(steps) == len(set(steps))
    assert [r["kind"] for r in records(resumed)].count("end") == 1


def test_resume_with_other_model_names_the_fields(dataset: Path, tmp_path: Path) -> None:
    run = tmp_path / "run"
    train(tiny_config(dataset, run, train={"max_steps": 2}), progress=False)
    other = tiny_config(dataset, run, model={"n_embd": 64, "n_layer": 3}, train={"max_steps": 4})
    with pytest.raises(ConfigError, match=r"model\.n_embd.*model\.n_layer|model\.n_layer"):
        train(other, resume=True, progress=False)
    with pytest.raises(ConfigError, match="already holds a run"):
        train(tiny_config(dataset, run), progress=False)


def test_resume_without_run_folder(dataset: Path, tmp_path: Path) -> None:
    with pytest.raises(CheckpointError, match="not a run folder"):
        train(tiny_config(dataset, tmp_path / "nope"), resume=True, progress=False)


def test_nan_step_is_not_applied(
    dataset: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    constant = {"schedule": "constant", "warmup_steps": 0}
    reference = tmp_path / "reference"
    train(tiny_config(dataset, reference, optim=constant, train={"max_steps": 3}), progress=False)

    original = gpt_module.GPT.forward
    calls = {"n": 0}

    def poisoned(
        self: gpt_module.GPT,
        idx: torch.Tensor,
        targets: torch.Tensor | None = None,
        loss_mask: torch.Tensor | None = None,
        kv_cache: gpt_module.KVCache | None = None,
    ) -> tuple[torch.Tensor, torch.Tensor | None]:
        logits, loss = original(self, idx, targets, loss_mask, kv_cache)
        calls["n"] += 1
        if loss is not None and calls["n"] == 4:
            loss = loss * float("nan")
        return logits, loss

    monkeypatch.setattr(gpt_module.GPT, "forward", poisoned)
    run = tmp_path / "run"
    with pytest.raises(TrainingDiverged, match="step 4"):
        train(tiny_config(dataset, run, optim=constant, train={"max_steps": 10}), progress=False)
    assert records(run)[-1]["kind"] == "end" and records(run)[-1]["reason"] == "nan"
    saved = sorted(p.name for p in (run / "checkpoints").iterdir() if p.name.startswith("step"))
    assert saved == ["step_000003"]
    _tensors_equal(
        reference / "checkpoints" / "step_000003" / "model.safetensors",
        run / "checkpoints" / "step_000003" / "model.safetensors",
    )
    _tensors_equal(
        reference / "checkpoints" / "step_000003" / "optimizer.safetensors",
        run / "checkpoints" / "step_000003" / "optimizer.safetensors",
    )
    assert not (run / ".lock").exists()


def test_out_of_memory_says_to_lower_the_micro_batch(
    dataset: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    original = gpt_module.GPT.forward
    calls = {"n": 0}

    def too_big(self: gpt_module.GPT, *args: Any, **kwargs: Any) -> Any:
        calls["n"] += 1
        if calls["n"] == 3:
            raise torch.cuda.OutOfMemoryError("CUDA out of memory. Tried to allocate 2.00 GiB")
        return original(self, *args, **kwargs)

    monkeypatch.setattr(gpt_module.GPT, "forward", too_big)
    run = tmp_path / "run"
    cfg = tiny_config(dataset, run, train={"max_steps": 10, "checkpoint_interval_steps": 1})
    with pytest.raises(DeviceOutOfMemory, match="micro_batch_size=") as caught:
        train(cfg, progress=False)
    assert "--resume" in str(caught.value)
    assert records(run)[-1]["kind"] == "end" and records(run)[-1]["reason"] == "error"
    assert (run / "checkpoints" / "step_000002").is_dir()
    assert not (run / ".lock").exists()


def test_gradient_accumulation_matches_one_big_batch(dataset: Path, tmp_path: Path) -> None:
    # Adam's first update is about g / (|g| + eps): an eps above the float noise of summing micro
    # batches keeps elements with a near-zero gradient comparable (1e-8 amplifies that noise).
    common = {
        "data": {"batch_mode": "sliding"},
        "optim": {"warmup_steps": 0, "lr": 1e-3, "eps": 1e-5},
    }
    one = tiny_config(
        dataset,
        tmp_path / "one",
        train={"micro_batch_size": 8, "batch_size": 8, "max_steps": 1},
        **common,
    )
    four = tiny_config(
        dataset,
        tmp_path / "four",
        train={"micro_batch_size": 2, "batch_size": 8, "max_steps": 1},
        **common,
    )
    train(one, progress=False)
    train(four, progress=False)
    first = next(r for r in records(tmp_path / "one") if r["kind"] == "train")
    second = next(r for r in records(tmp_path / "four") if r["kind"] == "train")
    assert first["loss"] == pytest.approx(second["loss"], rel=1e-5)
    assert first["grad_norm"] == pytest.approx(second["grad_norm"], rel=1e-4)
    a = load_file(str(tmp_path / "one" / "checkpoints" / "step_000001" / "model.safetensors"))
    b = load_file(str(tmp_path / "four" / "checkpoints" / "step_000001" / "model.safetensors"))
    for key in a:
        torch.testing.assert_close(a[key], b[key], atol=2e-6, rtol=0)


def test_batch_and_vocab_checks(dataset: Path, tmp_path: Path) -> None:
    bad_accum = tiny_config(dataset, tmp_path / "a", train={"micro_batch_size": 3, "batch_size": 8})
    with pytest.raises(ConfigError, match=r"micro_batch_size=3.*world_size=1"):
        train(bad_accum, progress=False)
    small_vocab = tiny_config(dataset, tmp_path / "b", model={"vocab_size": 100})
    with pytest.raises(ConfigError, match=r"vocabulary of \d+ tokens.*vocab_size=100"):
        train(small_vocab, progress=False)
    no_horizon = tiny_config(dataset, tmp_path / "c", train={"max_steps": 0})
    with pytest.raises(ConfigError, match="horizon"):
        train(no_horizon, progress=False)


def test_epochs_and_tokens_horizons(dataset: Path, tmp_path: Path) -> None:
    tokens = tiny_config(dataset, tmp_path / "t", train={"max_steps": 0, "max_tokens": 1000})
    assert train(tokens, progress=False).steps == 4  # ceil(1000 / (8 x 32))
    meta = json.loads((dataset / "meta.json").read_text())
    epochs = tiny_config(
        dataset,
        tmp_path / "e",
        data={"batch_mode": "sliding"},
        train={"max_steps": 0, "epochs": 0.25, "eval_batches": 1},
    )
    windows = (meta["splits"]["train"]["tokens"] - 33) // 32 + 2
    expected = -(-(windows // 8 * 8) // 4 // 8)  # ceil(0.25 x samples per epoch / batch)
    assert train(epochs, progress=False).steps == expected


def test_lock_refuses_second_trainer(dataset: Path, tmp_path: Path) -> None:
    import subprocess
    import sys

    run = tmp_path / "run"
    sleeper = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(30)"])
    try:
        run.mkdir()
        (run / ".lock").write_text(f"{sleeper.pid}\n")
        with pytest.raises(ConfigError, match="in use by process"):
            train(tiny_config(dataset, run), progress=False)
    finally:
        sleeper.kill()
        sleeper.wait()
    lock = acquire_lock(run)
    release_lock(lock)


def _lr_schedule(cfg: Config, total_steps: int, steps: range) -> list[float]:
    """The LR the schedule gives optimizer step s (1-based, as records count) of a run."""
    return [lr_at(s - 1, cfg.optim, total_steps) for s in steps]


def test_lr_curve_drawn_equals_the_schedule_at_every_step(dataset: Path, tmp_path: Path) -> None:
    # Windows of 7 steps, cut short by evaluations every 15: no log step sits on the warmup's
    # end, so the LR of log steps alone would miss the peak.
    run = tmp_path / "run"
    cfg = tiny_config(
        dataset,
        run,
        optim={"warmup_steps": 10},
        train={"max_steps": 37, "log_interval_steps": 7, "eval_interval_steps": 15},
    )
    train(cfg, progress=False)
    metrics = load_metrics(run / "metrics.jsonl")
    assert [r["step"] for r in metrics.train] == [1, 7, 14, 15, 21, 28, 30, 35, 37]
    steps, lrs, exact = lr_per_step(metrics.train)
    expected = _lr_schedule(cfg, 37, range(1, 38))
    assert exact and steps.tolist() == list(range(1, 38))
    assert lrs.tolist() == expected  # exactly, every step
    plots = {p.path.name: p for p in render_run_plots(metrics, tmp_path / "plots")}
    assert plots["lr.png"].data["lr"].tolist() == expected
    assert max(expected) == cfg.optim.lr and "every optimizer step" in plots["lr.png"].caption


def test_lr_curve_after_a_resume_with_a_new_schedule(dataset: Path, tmp_path: Path) -> None:
    # Resume may change optim.* and the horizon; the curve shows each part as it was applied.
    run = tmp_path / "run"
    first = tiny_config(dataset, run, train={"max_steps": 20, "checkpoint_interval_steps": 8})
    train(first, progress=False)
    for name in ("step_000016", "step_000020"):
        shutil.rmtree(run / "checkpoints" / name)
    (run / "checkpoints" / "best.json").unlink(missing_ok=True)
    second = tiny_config(
        dataset,
        run,
        optim={"lr": 1e-3, "min_lr": 1e-4},
        train={"max_steps": 30, "checkpoint_interval_steps": 8},
    )
    train(second, resume=True, progress=False)
    steps, lrs, exact = lr_per_step(load_metrics(run / "metrics.jsonl").train)
    expected = _lr_schedule(first, 20, range(1, 9)) + _lr_schedule(second, 30, range(9, 31))
    assert exact and steps.tolist() == list(range(1, 31))
    assert lrs.tolist() == expected


def test_train_records_summarise_their_window(dataset: Path, tmp_path: Path) -> None:
    run = tmp_path / "run"
    train(
        tiny_config(dataset, run, train={"max_steps": 12, "log_interval_steps": 1}), progress=False
    )
    single = [r for r in records(run) if r["kind"] == "train"]
    assert [r["step"] for r in single] == list(range(1, 13))
    assert all(r["grad_norm"] == r["grad_norm_max"] for r in single)
    # The same run logged every 4 steps: loss and grad norm are the window's mean, max its max.
    other = tmp_path / "other"
    cfg = tiny_config(dataset, other, train={"max_steps": 12, "log_interval_steps": 4})
    train(cfg, progress=False)
    windows = [r for r in records(other) if r["kind"] == "train"]
    assert [r["step"] for r in windows] == [1, 4, 8, 12]
    assert [len(r["lr_by_step"]) for r in windows] == [1, 3, 4, 4]
    for record, previous in zip(windows[1:], windows, strict=False):
        inside = [r for r in single if previous["step"] < r["step"] <= record["step"]]
        norms = [r["grad_norm"] for r in inside]
        n = len(inside)
        assert record["loss"] == pytest.approx(sum(r["loss"] for r in inside) / n, rel=1e-6)
        assert record["grad_norm"] == pytest.approx(sum(norms) / n, rel=1e-6)
        assert record["grad_norm_max"] == pytest.approx(max(norms), rel=1e-6)
        assert record["lr_by_step"] == [r["lr"] for r in inside]
        assert record["memory_mb"] > 0 and record["mfu"] is None


def test_default_log_interval_gives_a_hundred_points(dataset: Path, tmp_path: Path) -> None:
    run = tmp_path / "run"
    assert Config().train.log_interval_steps == 0
    cfg = tiny_config(
        dataset,
        run,
        model={"n_layer": 1, "n_embd": 16, "context_length": 8},
        train={"max_steps": 250, "log_interval_steps": 0, "micro_batch_size": 2},
    )
    train(cfg, progress=False)
    steps = [r["step"] for r in records(run) if r["kind"] == "train"]
    assert steps == [1, *range(2, 251, 2)] and len(steps) >= 100


def test_benchmarks_norms_and_step_zero_during_training(dataset: Path, tmp_path: Path) -> None:
    swag = tmp_path / "hellaswag.jsonl"
    rows = [
        {"ctx": "Tom had a red", "endings": ["ball.", "sky.", "run.", "the."], "label": 0},
        {"ctx": "The cat sat on", "endings": ["blue", "the mat.", "ran", "if"], "label": "1"},
        {"ctx": "She said", "endings": ["hello.", "green.", "under.", "seven."], "label": 0},
    ]
    swag.write_text("".join(json.dumps(r) + "\n" for r in rows))
    lambada = tmp_path / "lambada.jsonl"
    lambada.write_text('{"text": "Once upon a time there was a girl"}\n')
    run = tmp_path / "run"
    cfg = tiny_config(
        dataset,
        run,
        train={
            "max_steps": 6,
            "eval_interval_steps": 3,
            "eval_at_start": True,
            "hellaswag_path": str(swag),
            "hellaswag_limit": 2,
            "lambada_path": str(lambada),
            "samples_per_prompt": 2,
            "sample_temperature": 0.0,
        },
    )
    train(cfg, progress=False)
    evals = [r for r in records(run) if r["kind"] == "eval"]
    assert [r["step"] for r in evals] == [0, 3, 6]
    vocab = 256 + 1  # byte tokenizer: 256 bytes and EOS (no padding on a CPU)
    # The untrained model is close to uniform over the vocabulary.
    assert abs(evals[0]["val_loss"] - math.log(vocab)) < 0.5
    for record in evals:
        assert record["hellaswag_count"] == 2 and 0 <= record["hellaswag_acc"] <= 1
        assert record["lambada_count"] == 1 and record["lambada_acc"] in (0.0, 1.0)
        assert record["param_norm"] > 0
    # Gradients exist only once a step was taken: none at step 0, every group after.
    assert evals[0]["grad_norm_by_group"] is None
    groups = ["embeddings", "block.0", "block.1", "head"]
    for record in evals[1:]:
        assert list(record["grad_norm_by_group"]) == groups
        assert all(v > 0 for v in record["grad_norm_by_group"].values())
        assert all(0 < v < 1 for v in record["update_ratio_by_group"].values())
    # Greedy: two samples per prompt per evaluation, identical.
    samples = [json.loads(line) for line in (run / "samples.jsonl").read_text().splitlines()]
    assert [s["step"] for s in samples] == [0, 0, 3, 3, 6, 6]
    assert samples[2]["text"] == samples[3]["text"]
    saved = load_run(run).config
    assert saved.model.vocab_multiple == 1 and saved.model.padded_vocab_size == vocab
    # The report draws the recorded values: benchmark accuracy, parameter norm, group norms.
    plots = {p.path.name: p for p in render_run_plots(load_metrics(run / "metrics.jsonl"), run)}
    for name in ("benchmarks.png", "param_norm.png", "grad_norm_groups.png", "update_ratio.png"):
        assert (run / name).stat().st_size > 0, name
    drawn = plots["benchmarks.png"].data["hellaswag_acc_norm"]
    assert list(drawn) == [r["hellaswag_acc_norm"] for r in evals]
    drawn_groups = plots["grad_norm_groups.png"].data
    assert drawn_groups["block.1"][-1] == evals[-1]["grad_norm_by_group"]["block.1"]


def test_bad_hellaswag_file_fails_before_training(dataset: Path, tmp_path: Path) -> None:
    swag = tmp_path / "bad.jsonl"
    swag.write_text('{"ctx": "a", "endings": ["b"], "label": 0}\n')
    run = tmp_path / "run"
    with pytest.raises(GptlabError, match="endings"):
        train(tiny_config(dataset, run, train={"hellaswag_path": str(swag)}), progress=False)
    assert not run.exists()


def test_samples_every_epoch(dataset: Path, tmp_path: Path) -> None:
    run = tmp_path / "run"
    cfg = tiny_config(
        dataset,
        run,
        data={"batch_mode": "sliding"},
        train={"max_steps": 0, "epochs": 2.0, "sample_every_epoch": True, "eval_batches": 1},
    )
    result = train(cfg, progress=False)
    steps = [json.loads(line)["step"] for line in (run / "samples.jsonl").read_text().splitlines()]
    # One sample when the first epoch ends, one at the final evaluation (which ends the second).
    assert len(steps) == 2 and steps[-1] == result.steps and 0 < steps[0] < result.steps
