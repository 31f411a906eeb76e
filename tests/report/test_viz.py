"""Tests of gptlab.report.viz: the pictures, viz.json and index.html a viz folder holds."""

from __future__ import annotations

import base64
import dataclasses
import json
from pathlib import Path

import numpy as np
import pytest
import torch

from gptlab.cli import main
from gptlab.config import ModelConfig, apply_overrides, preset_config, save_config
from gptlab.data.tokenizers import make_tokenizer
from gptlab.errors import ConfigError
from gptlab.model.gpt import GPT
from gptlab.report import viz_figures
from gptlab.report.inspect import capture, head_scores
from gptlab.report.viz import LONG_PROMPT_TOKENS, VIZ_JSON, draw_viz, figure_info
from gptlab.train.checkpoint import save_checkpoint

PROMPT = "Tom had a red ball."
PNG = b"\x89PNG\r\n\x1a\n"


@pytest.fixture(scope="module")
def model() -> GPT:
    torch.manual_seed(0)
    cfg = ModelConfig(n_layer=2, n_head=2, n_embd=32, context_length=64, vocab_size=257)
    return GPT(cfg).eval()


@pytest.fixture(scope="module")
def tokenizer():
    return make_tokenizer("byte")


def test_draw_viz_writes_pictures_record_and_page(model: GPT, tokenizer, tmp_path: Path) -> None:
    cap = capture(model, tokenizer, PROMPT)
    out = tmp_path / "run" / "viz"
    paths = draw_viz(
        cap, out, run_name="my-run", step=42, report_path=tmp_path / "run" / "report.html"
    )
    assert [p.name for p in paths] == [
        "token_losses.png",
        "head_summary.png",
        "attention_layer0.png",
        "attention_layer1.png",
        "residual_norms.png",
        "attention_outputs.png",
        "mlp_activations.png",
        "top_neurons.png",
    ]
    for path in paths:
        assert path.read_bytes()[:8] == PNG and path.stat().st_size > 10_000, path
    assert not [p for p in out.iterdir() if p.name.startswith(".")]

    record = json.loads((out / VIZ_JSON).read_text())
    assert record["run"] == "my-run" and record["step"] == 42 and record["prompt"] == PROMPT
    assert [f["file"] for f in record["figures"]] == [p.name for p in paths]
    assert all(f["title"] and f["caption"] for f in record["figures"])
    scores = head_scores(cap.attention)
    np.testing.assert_allclose(record["heads"]["previous"], scores["previous"], atol=1e-4)
    assert record["mean_loss_nats"] == pytest.approx(cap.mean_loss)

    page = (out / "index.html").read_text()
    assert "http://" not in page and "https://" not in page
    assert page.count("data:image/png;base64,") == len(paths)
    embedded = page.split("data:image/png;base64,")[1].split('"')[0]
    assert base64.b64decode(embedded) == paths[0].read_bytes()
    assert PROMPT in page and "my-run" in page and ">42<" in page
    assert 'href="../report.html"' in page
    # One token-table row per token and one head-table row per head.
    tokens_table = page.split('id="tokens"')[1].split("</table>")[0]
    assert tokens_table.count("<tr>") == 1 + len(cap.tokens)
    heads_table = page.split('id="heads"')[1].split("</table>")[0]
    assert heads_table.count("<tr>") == 1 + cap.n_layer * cap.n_head
    assert f"{scores['entropy'][1, 1]:.3f}" in heads_table


def test_long_prompts_get_one_figure_per_head(model: GPT, tokenizer, tmp_path: Path) -> None:
    text = "The dog ran to the park and saw a big red ball. " * 2
    cap = capture(model, tokenizer, text[: LONG_PROMPT_TOKENS + 8])
    paths = draw_viz(cap, tmp_path / "viz")
    names = {p.name for p in paths}
    assert {"attention_L0_H0.png", "attention_L0_H1.png", "attention_L1_H1.png"} <= names
    assert not [name for name in names if name.startswith("attention_layer")]
    assert (
        "each attention head has its own picture" in (tmp_path / "viz" / "index.html").read_text()
    )


def test_one_token_prompt_has_no_loss_or_head_pictures(
    model: GPT, tokenizer, tmp_path: Path
) -> None:
    cap = capture(model, tokenizer, "a")
    paths = draw_viz(cap, tmp_path / "viz")
    assert "token_losses.png" not in {p.name for p in paths}
    assert json.loads((tmp_path / "viz" / VIZ_JSON).read_text())["heads"] is None
    assert 'id="tokens"' not in (tmp_path / "viz" / "index.html").read_text()


def test_a_failed_draw_leaves_the_previous_pictures(
    model: GPT, tokenizer, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    out = tmp_path / "viz"
    draw_viz(capture(model, tokenizer, "Hi there"), out)
    before = {p.name: p.read_bytes() for p in out.iterdir()}

    def broken(*args: object) -> Path:
        raise RuntimeError("drawing failed")

    monkeypatch.setattr(viz_figures, "draw_top_neurons", broken)
    with pytest.raises(RuntimeError, match="drawing failed"):
        draw_viz(capture(model, tokenizer, "Other words"), out)
    assert {p.name: p.read_bytes() for p in out.iterdir()} == before


def test_draw_viz_single_head_and_range_errors(model: GPT, tokenizer, tmp_path: Path) -> None:
    cap = capture(model, tokenizer, "Hi there")
    paths = draw_viz(cap, tmp_path, layer=1, head=1)
    assert next(p.name for p in paths if p.name.startswith("attention_")) == "attention_L1_H1.png"
    assert not (tmp_path / "attention_layer0.png").exists()
    with pytest.raises(ConfigError, match="layers 0 to 1"):
        draw_viz(cap, tmp_path, layer=2)
    with pytest.raises(ConfigError, match="heads 0 to 1"):
        draw_viz(cap, tmp_path, layer=0, head=-1)


def test_dollar_signs_and_chinese_tokens_are_drawn(model: GPT, tokenizer, tmp_path: Path) -> None:
    # GPT-2 has tokens such as "$$"; matplotlib would parse "$$" or "$x^$" as (broken) mathtext.
    cap = capture(model, tokenizer, "a $$ b $x^$ 小狗")
    labels = ["$$", "$x^$", *cap.tokens[2:]]
    paths = draw_viz(dataclasses.replace(cap, tokens=labels), tmp_path, layer=0)
    assert all(path.read_bytes()[:8] == PNG for path in paths)
    assert "小…" in (tmp_path / "index.html").read_text()


def test_figure_info_names_every_picture() -> None:
    assert figure_info("attention_layer3.png")[0] == "Attention, layer 3"
    assert figure_info("attention_L1_H12.png")[0] == "Attention, layer 1 head 12"
    assert figure_info("head_summary.png")[0] == "Attention heads at a glance"


def test_viz_command_prints_the_token_table(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    run = tmp_path / "run"
    cfg = apply_overrides(preset_config("tiny"), [f"run.out_dir={run}", "model.vocab_size=257"])
    torch.manual_seed(0)
    model = GPT(cfg.model)
    run.mkdir()
    save_config(cfg, run / "config.toml")
    make_tokenizer("byte").save(run / "tokenizer")
    optimizer = torch.optim.AdamW(model.parameters(), lr=1e-3)
    save_checkpoint(run, 5, model, optimizer, {"tokens": 0}, config=cfg)
    assert main(["viz", str(run), "--prompt", "Hi [b]Tom[/b]"]) == 0
    out = capsys.readouterr().out
    assert "Per-token loss" in out and "mean loss" in out
    assert str(run / "viz" / "index.html") in out
    lines = out.splitlines()
    tokens = [line.split()[1] for line in lines if line.split()[:1] in (["3"], ["5"], ["10"])]
    assert tokens == ["[", "]", "/"]  # tokens are shown as written, not read as rich markup
    assert not [line for line in lines if len(line) > 80 and str(run) not in line]
    assert json.loads((run / "viz" / VIZ_JSON).read_text())["step"] == 5


def test_head_summary_of_many_heads_is_drawn(tokenizer, tmp_path: Path) -> None:
    torch.manual_seed(0)
    cfg = ModelConfig(n_layer=2, n_head=10, n_embd=40, context_length=16, vocab_size=257)
    cap = capture(GPT(cfg).eval(), tokenizer, "A cat sat.")
    path = viz_figures.draw_head_summary(cap, tmp_path)
    assert path.name == "head_summary.png" and path.read_bytes()[:8] == PNG
    # A freshly initialised model attends almost evenly: the scores of uniform attention.
    scores = head_scores(cap.attention)
    np.testing.assert_allclose(scores["previous"], np.mean(1 / np.arange(2, 11)), atol=0.02)
