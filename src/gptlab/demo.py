"""The whole path on the built-in corpus, in a few minutes on a CPU: `gptlab demo`.

prepare -> analyze -> train -> evaluate -> viz -> generate -> report, each step calling the same
library function as its own command, so the demo is also a worked example of the Python API. The one
trade-off: the model is small (4 layers, 128 wide, a 2,048-token BPE) so that it learns the
stories' patterns on two CPU cores in minutes; its samples are story-shaped, not fluent.
"""

from __future__ import annotations

import shutil
import time
from dataclasses import dataclass
from pathlib import Path

from rich.console import Console

from gptlab.config import Config, apply_overrides, preset_config
from gptlab.errors import DataError

DEMO_VOCAB_SIZE = 2048
"""BPE ids trained on the corpus: small, because on a CPU the LM head dominates the step time."""
DEMO_PROMPTS = ("Once upon a time", "One day, a little", "The dog")
"""The three prompts the demo's stories start from."""


@dataclass(frozen=True)
class DemoResult:
    """Where the demo wrote its outputs and what the model reached."""

    data_dir: Path
    run_dir: Path
    report_path: Path
    viz_index: Path
    val_loss: float
    val_ppl: float
    val_acc: float
    stories: list[str]


def demo_config(data_dir: Path, run_dir: Path, max_steps: int) -> Config:
    """The demo's training configuration: the `tiny` preset, widened to 4 x 128, context 128."""
    cfg = preset_config("tiny")
    return apply_overrides(
        cfg,
        [
            f"data.path={data_dir}",
            f"run.out_dir={run_dir}",
            "model.n_layer=4",
            "model.n_head=4",
            "model.n_embd=128",
            "model.context_length=128",
            "train.micro_batch_size=16",
            f"train.max_steps={max_steps}",
            f"train.eval_interval_steps={max(max_steps // 6, 1)}",
            "train.eval_batches=10",
            "optim.lr=3e-3",
            "optim.min_lr=3e-4",
            "optim.warmup_steps=50",
            "optim.weight_decay=0.1",
        ],
    )


def run_demo(
    out_dir: str | Path = "demo",
    *,
    stories: int = 20_000,
    max_steps: int = 1_200,
    progress: bool = True,
    console: Console | None = None,
) -> DemoResult:
    """Prepare the built-in corpus, analyse it, train a small model, evaluate, look inside it on
    the first prompt (viz), generate, report.

    out_dir: everything goes here: data/ (the prepared corpus, kept and reused on a second run),
        run/ (the training run; a previous demo run there is replaced) and data/analysis/.
    stories: how many built-in stories to generate.
    max_steps: optimizer steps of training (16 x 128 tokens each); 1,200 take about 3 minutes
        on two CPU cores.
    """
    from gptlab.data.analyze import analyze
    from gptlab.data.prepare import load_meta, prepare
    from gptlab.evaluate import evaluate_run
    from gptlab.generate import SamplingConfig, generate
    from gptlab.report import write_report
    from gptlab.report.analysis_page import render_analysis_page
    from gptlab.report.viz import visualize_run
    from gptlab.train import train
    from gptlab.train.checkpoint import load_run

    say = console or Console(stderr=True)
    clock = _StageClock(say)
    out = Path(out_dir)
    data_dir, run_dir = out / "data", out / "run"

    clock.start("1. prepare: the built-in story corpus, BPE tokenizer trained on it")
    if _reusable_dataset(data_dir, stories):
        say.print(f"Reusing the prepared corpus in {data_dir}.")
    else:
        prepare(
            "builtin",
            data_dir,
            tokenizer="bpe",
            vocab_size=DEMO_VOCAB_SIZE,
            min_tokens=2,
            builtin_stories=stories,
            overwrite=True,
            progress=progress,
        )
    meta = load_meta(data_dir)
    say.print(
        f"{meta['splits']['train']['documents']:,} train and {meta['splits']['val']['documents']:,}"
        f" val stories, {meta['splits']['train']['tokens']:,} train tokens."
    )

    clock.start("2. analyze")
    analysis = analyze(
        data_dir, out=data_dir / "analysis", progress=progress, page=render_analysis_page
    )
    total = analysis.total
    say.print(
        f"{total.documents:,} stories, {total.sentences:,} sentences, {total.words:,} words, "
        f"{total.vocabulary_size:,} distinct words; files in {data_dir / 'analysis'}"
    )

    clock.start("3. train: 4 layers x 128 wide, context 128, on the CPU")
    if run_dir.exists():
        if not (run_dir / "config.toml").is_file():
            raise DataError(
                f"{run_dir} exists and is not a gptlab run. Move it away or pick another --out."
            )
        say.print(f"Replacing the previous demo run in {run_dir}.")
        shutil.rmtree(run_dir)
    cfg = demo_config(data_dir, run_dir, max_steps)
    train(cfg, command_line=["gptlab", "demo"], progress=progress)

    clock.start("4. evaluate on the validation stories")
    scores = evaluate_run(run_dir, progress=progress)["split:val"]
    say.print(
        f"val loss {scores['loss']:.3f}, perplexity {scores['ppl']:.2f}, "
        f"next-token accuracy {scores['acc']:.1%} (top-5 {scores['acc_top5']:.1%}), "
        f"{scores['bits_per_byte']:.3f} bits per byte, {scores['tokens']:,} tokens scored"
    )

    clock.start(f"5. viz: inside the model on {DEMO_PROMPTS[0]!r}")
    viz = visualize_run(run_dir, DEMO_PROMPTS[0])
    mean = viz.capture.mean_loss
    say.print(
        f"{len(viz.capture.tokens)} tokens"
        + (f", mean loss {mean:.3f} nats" if mean is not None else "")
        + f"; per-token guesses, attention and activations in {viz.index}",
        highlight=False,
        soft_wrap=True,
    )

    clock.start("6. generate three stories")
    loaded = load_run(run_dir)
    sampling = SamplingConfig(max_new_tokens=120, temperature=0.7, top_k=20, seed=0)
    generations = generate(loaded.model, loaded.tokenizer, list(DEMO_PROMPTS), sampling)
    for g in generations:
        say.print(f"[bold]{g.prompt}[/]{g.text}\n", highlight=False)

    clock.start("7. report")
    report_path = write_report(run_dir)
    clock.start("")
    return DemoResult(
        data_dir=data_dir,
        run_dir=run_dir,
        report_path=report_path,
        viz_index=viz.index,
        val_loss=float(scores["loss"]),
        val_ppl=float(scores["ppl"]),
        val_acc=float(scores["acc"]),
        stories=[g.text for g in generations],
    )


def _reusable_dataset(data_dir: Path, stories: int) -> bool:
    """A dataset from an earlier demo with the same corpus size and tokenizer can be reused."""
    from gptlab.data.prepare import load_meta, verify_dataset

    if not (data_dir / "meta.json").is_file():
        return False
    try:
        meta = load_meta(data_dir)
        verify_dataset(data_dir)
    except DataError:
        return False
    spec = meta.get("tokenizer", {})
    return bool(
        meta.get("source") == "builtin"
        and meta.get("source_options", {}).get("builtin_stories") == stories
        and spec.get("kind") == "bpe"
        and meta.get("vocab_size") == DEMO_VOCAB_SIZE
    )


class _StageClock:
    """Prints each stage's title and, when the next one starts, how long the last one took."""

    def __init__(self, say: Console) -> None:
        self.say = say
        self.started: float | None = None

    def start(self, title: str) -> None:
        now = time.perf_counter()
        if self.started is not None:
            self.say.print(f"[dim]({now - self.started:.1f} s)[/]")
        self.started = now
        if title:
            self.say.rule(title)
