"""`gptlab export` and `gptlab import-hf` from the command line: success paths and user mistakes."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import torch

from gptlab.cli import main
from gptlab.config import Config, DataConfig, ModelConfig, RunConfig, save_config
from gptlab.data.tokenizers import ByteTokenizer
from gptlab.model.gpt import GPT
from gptlab.train.checkpoint import load_run, save_checkpoint
from gptlab.train.optim import build_optimizer

transformers = pytest.importorskip("transformers")

MODEL = ModelConfig(n_layer=1, n_head=2, n_embd=16, context_length=8, vocab_size=257)


@pytest.fixture
def run(tmp_path: Path) -> Path:
    """A one-checkpoint run folder with a byte tokenizer."""
    folder = tmp_path / "run"
    (tmp_path / "data").mkdir()  # stands for the dataset the run was trained on
    config = Config(
        data=DataConfig(path=str(tmp_path / "data")),
        model=MODEL,
        run=RunConfig(out_dir=str(folder)),
    )
    torch.manual_seed(0)
    model = GPT(MODEL)
    optimizer = build_optimizer(model, config.optim, "cpu")
    save_checkpoint(folder, 3, model, optimizer, {}, config=config)
    save_config(config, folder / "config.toml")
    ByteTokenizer().save(folder / "tokenizer")
    return folder


def test_export_then_import_from_the_command_line(
    run: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    out = tmp_path / "hf"
    assert main(["export", str(run), "--format", "hf", "--out", str(out)]) == 0
    captured = capsys.readouterr()
    assert "from_pretrained" in captured.out
    assert "byte tokenizer" in captured.err  # the note that no HF tokenizer was written
    assert json.loads((out / "config.json").read_text())["n_embd"] == 16
    assert transformers.GPT2LMHeadModel.from_pretrained(out).config.vocab_size == 257

    back = tmp_path / "back"
    assert main(["import-hf", str(out), "--out", str(back)]) == 0
    assert "gptlab generate" in capsys.readouterr().out
    loaded = load_run(back)
    assert loaded.config.model.n_embd == 16 and loaded.tokenizer.kind == "byte"
    # the round trip remembers the training data, so `gptlab eval back` scores its val split
    assert loaded.config.data.path == str((tmp_path / "data").resolve())


def test_export_picks_a_named_checkpoint(run: Path, tmp_path: Path) -> None:
    out = tmp_path / "hf"
    assert main(["export", str(run), "--out", str(out), "--checkpoint", "3"]) == 0
    assert json.loads((out / "gptlab_export.json").read_text())["step"] == 3


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["export", "{tmp}/missing", "--out", "{tmp}/hf"], "does not exist"),
        (["export", "{run}", "--format", "onnx", "--out", "{tmp}/hf"], "Valid formats: hf"),
        (["export", "{run}", "--out", "{tmp}/hf", "--checkpoint", "step_000099"], "not found"),
        (["export", "{run}", "--out", "{run}"], "writing it would destroy what the command reads"),
        (["import-hf", "{tmp}/missing", "--out", "{tmp}/back"], "not a local folder"),
        (["import-hf", "{run}", "--out", "{tmp}/back"], "no config.json"),
        (["import-hf", "{tmp}", "--out", "{run}"], "already exists"),
    ],
)
def test_user_mistakes_exit_2_with_one_message(
    run: Path,
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
    args: list[str],
    message: str,
) -> None:
    argv = [a.format(tmp=tmp_path, run=run) for a in args]
    assert main(argv) == 2
    err = capsys.readouterr().err
    assert message in " ".join(err.split())
    assert "Traceback" not in err
    assert not (tmp_path / "hf").exists() and not (tmp_path / "back").exists()


def test_pickle_only_folder_is_refused_on_the_command_line(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    folder = tmp_path / "pickled"
    folder.mkdir()
    (folder / "config.json").write_text(json.dumps({"model_type": "gpt2", "n_layer": 1}))
    (folder / "pytorch_model.bin").write_bytes(b"never unpickled")
    assert main(["import-hf", str(folder), "--out", str(tmp_path / "back")]) == 2
    err = " ".join(capsys.readouterr().err.split())
    assert "pickle" in err and "safe_serialization=True" in err
