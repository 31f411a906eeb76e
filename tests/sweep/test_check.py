"""Tests of gptlab.sweep.check (the dry run) and the short trial folder names."""

from __future__ import annotations

import dataclasses
import json
from pathlib import Path

import pytest

from gptlab.cli import main
from gptlab.model.gpt import GPT
from gptlab.sweep import check_trials, load_spec, plan_trials, trial_config, trial_dir, trial_id
from gptlab.sweep.spec import short_value


def test_trial_ids_are_short_and_readable() -> None:
    assert trial_id(3, {"optim.lr": 3e-3, "model.n_layer": 4}) == "t03-lr=3e-3-n_layer=4"
    # Two fields with the same last part keep their sections.
    assert trial_id(0, {"data.seed": 1, "train.seed": 2}) == "t00-data.seed=1-train.seed=2"
    assert [short_value(v) for v in (0.1, 0.25, 1e-3, 6e-4, 2.0, True)] == [
        "0.1", "0.25", "1e-3", "6e-4", "2", "true",
    ]  # fmt: skip


@pytest.fixture(scope="module")
def small_data(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A char dataset whose val split is short (a few hundred tokens)."""
    from gptlab.data.prepare import prepare

    out = tmp_path_factory.mktemp("dry") / "data"
    prepare("builtin", out, tokenizer="char", builtin_stories=60, progress=False)
    return out


def _spec(folder: Path, data: Path, parameters: str) -> Path:
    path = folder / "spec.toml"
    path.write_text(
        f'[sweep]\nout = "out"\npreset = "tiny"\n[base]\ndata.path = "{data}"\n'
        '"train.max_steps" = 10\n"train.micro_batch_size" = 4\n"train.eval_interval_steps" = 5\n'
        '"train.eval_batches" = 2\n"train.device" = "cpu"\n[parameters]\n' + parameters,
        encoding="utf-8",
    )
    return path


def test_dry_run_finds_what_training_would_refuse(tmp_path: Path, small_data: Path) -> None:
    val_tokens = json.loads((small_data / "meta.json").read_text())["splits"]["val"]["tokens"]
    too_long = val_tokens + 8  # longer than the val split, shorter than train
    spec = load_spec(
        _spec(
            tmp_path,
            small_data,
            f'"model.context_length" = [32, {too_long}]\n"optim.lr" = [1e-3, 1e-6]\n',
        )
    )
    checks = {c.plan.trial_id: c for c in check_trials(spec, plan_trials(spec), measure=False)}
    ok = checks["t00-context_length=32-lr=1e-3"]
    assert ok.error is None
    assert ok.steps == 10 and ok.train_tokens == 10 * 4 * 32
    # Two evaluations (steps 5 and 10) of 2 batches on each split.
    assert ok.eval_tokens == 2 * 2 * 2 * 4 * 32
    # The exact count of the model this trial builds (vocabulary from the dataset).
    model_cfg = trial_config(spec, ok.plan.params, trial_dir(spec, ok.plan.trial_id)).model
    vocab = json.loads((small_data / "meta.json").read_text())["vocab_size"]
    model_cfg = dataclasses.replace(model_cfg, vocab_size=vocab)
    assert ok.params == GPT(model_cfg).num_params().total
    assert ok.seconds is None  # not measured
    short_val = checks[f"t02-context_length={too_long}-lr=1e-3"]
    assert short_val.error is not None and "split 'val'" in short_val.error
    assert f"{too_long + 1} tokens" in short_val.error
    low_lr = checks["t01-context_length=32-lr=1e-6"]
    assert low_lr.error is not None and "min_lr" in low_lr.error
    assert not (tmp_path / "out").exists()  # a dry run writes nothing


def test_cli_dry_run_shows_parameters_and_a_measured_estimate(
    tmp_path: Path, small_data: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    spec = _spec(tmp_path, small_data, '"model.n_head" = [2, 3]\n')
    assert main(["sweep", str(spec), "--dry-run"]) == 0
    out = " ".join(capsys.readouterr().out.split())
    assert "t00-n_head=2" in out and "FAILS (1)" in out and "not divisible" in out
    assert "Estimated time of the 1 valid trial: about" in out
    assert "measured just now on cpu" in out
    assert not (tmp_path / "out").exists()


def test_sweep_help_keeps_its_table_names(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["sweep", "--help"]) == 0
    out = capsys.readouterr().out
    assert "[sweep]" in out and "[base]" in out and "[parameters]" in out
