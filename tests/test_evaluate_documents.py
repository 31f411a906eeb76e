"""Scoring a prepared split by documents: the meaning a document-mode run's val loss has."""

from __future__ import annotations

import math
from pathlib import Path

import numpy as np
import pytest
import torch
import torch.nn.functional as F

from gptlab.config import ModelConfig
from gptlab.data.loader import SplitTokens, TokenLoader, document_spans, load_split_tokens
from gptlab.data.prepare import load_meta, prepare
from gptlab.evaluate import evaluate_split
from gptlab.model.gpt import GPT
from gptlab.train.evaluation import evaluate_split as estimate_split

EOS = 256  # the byte tokenizer's EOS id


@pytest.fixture(scope="module")
def data(tmp_path_factory: pytest.TempPathFactory) -> Path:
    folder = tmp_path_factory.mktemp("docs") / "data"
    prepare(
        "builtin",
        folder,
        tokenizer="byte",
        builtin_stories=30,
        val_fraction=0.3,
        num_workers=1,
        progress=False,
    )
    return folder


def model(context_length: int) -> GPT:
    torch.manual_seed(0)
    cfg = ModelConfig(n_layer=2, n_head=2, n_embd=32, context_length=context_length, vocab_size=257)
    return GPT(cfg).eval()


def brute_force(net: GPT, tokens: np.ndarray, context: int) -> tuple[float, int]:
    """Nats and targets of every document scored alone; a long one in context-sized windows
    that score only new targets, the last ending on the document's last token."""
    nats, count = 0.0, 0
    starts, lengths = document_spans(SplitTokens([tokens]), EOS)
    for start, length in zip(starts.tolist(), lengths.tolist(), strict=True):
        doc = torch.from_numpy(tokens[start : start + length].astype(np.int64))
        done = 0  # targets 1..done scored
        while done < length - 1:
            first = max(0, min(done, length - 1 - context))
            window = doc[first : first + context + 1]
            with torch.no_grad():
                logits, _ = net(window[None, :-1])
            losses = F.cross_entropy(logits[0, :, :257], window[1:], reduction="none")
            new = first + len(window) - 1 - done  # targets not scored before
            nats += float(losses[-new:].double().sum())
            count += new
            done = first + len(window) - 1
    return nats, count


def test_documents_score_each_document_alone(data: Path) -> None:
    tokens = np.asarray(load_split_tokens(data, "val")[:])
    for context in (16, 2048):  # documents split into several windows / each in one window
        net = model(context)
        result = evaluate_split(
            net,
            data,
            "val",
            context_length=context,
            stride=context,
            documents=True,
            progress=False,
        )
        nats, count = brute_force(net, tokens, context)
        assert result.tokens == count
        assert result.loss == pytest.approx(nats / count, rel=1e-5)
        starts, _ = document_spans(SplitTokens([tokens]), EOS)
        assert count == len(tokens) - len(starts)  # every target but each document's first


def test_documents_bits_per_byte_leave_out_the_unscored_first_tokens(data: Path) -> None:
    tokens = np.asarray(load_split_tokens(data, "val")[:])
    starts, _ = document_spans(SplitTokens([tokens]), EOS)
    result = evaluate_split(
        model(64), data, "val", context_length=64, documents=True, progress=False
    )
    split_bytes = load_meta(data)["splits"]["val"]["bytes"]
    assert result.bytes == split_bytes - len(starts)  # a byte token is one byte
    assert result.bits_per_byte == pytest.approx(
        result.loss * result.tokens / result.bytes / math.log(2), rel=1e-9
    )
    stream = evaluate_split(model(64), data, "val", context_length=64, progress=False)
    assert stream.tokens == len(tokens) - 1 and stream.bytes == split_bytes


def test_full_split_by_documents_equals_the_training_estimate_when_documents_fit(
    data: Path,
) -> None:
    """The training-time estimate of a document-mode run and `gptlab eval` mean one thing."""
    tokens = np.asarray(load_split_tokens(data, "val")[:])
    starts, lengths = document_spans(SplitTokens([tokens]), EOS)
    context = int(lengths.max())  # every document fits
    net = model(context)
    full = evaluate_split(net, data, "val", context_length=context, documents=True, progress=False)
    loader = TokenLoader(
        data, "val", batch_size=4, context_length=context, mode="document", drop_last=False
    )
    batches = math.ceil(len(starts) / 4)
    estimate = estimate_split(net, loader.next_batch, batches)
    assert estimate.tokens == full.tokens
    assert estimate.loss == pytest.approx(full.loss, rel=1e-5)
    assert estimate.acc == pytest.approx(full.acc, abs=1e-9)


def test_a_document_mode_run_is_evaluated_and_labelled_by_documents(
    data: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    import json

    from gptlab.cli import main
    from gptlab.report import summarize_run

    run = tmp_path / "run"
    train = ["train", "--data", str(data), "--preset", "tiny", "--max-steps", "3"]
    settings = ["--set", "data.batch_mode=document", "--set", "model.context_length=32"]
    assert main([*train, *settings, "--out", str(run), "--device", "cpu", "--no-progress"]) == 0
    estimate = summarize_run(run).val_loss
    assert "documents' first 32 tokens" in estimate.source

    capsys.readouterr()
    assert main(["eval", str(run)]) == 0
    assert "scored by documents" in capsys.readouterr().out
    record = json.loads((run / "eval.json").read_text("utf-8"))["split:val"]
    assert record["windows"] == "documents"
    full = summarize_run(run).val_loss
    assert full.value == pytest.approx(record["loss"])
    assert "full val split by documents" in full.source

    assert main(["eval", str(run), "--stream"]) == 0
    record = json.loads((run / "eval.json").read_text("utf-8"))["split:val"]
    assert record["windows"] == "stream"
    assert "by documents" not in summarize_run(run).val_loss.source
