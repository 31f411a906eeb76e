"""Write a viz folder: the pictures of one Capture, viz.json and a self-contained index.html.

`draw_viz` chooses the pictures (a grid per layer for short prompts, one figure per head for
long ones, so token labels stay readable), draws them with report/viz_figures.py into a hidden
folder and swaps it in whole: a failed viz leaves the previous pictures. `visualize_run` loads a
run's checkpoint first. File names are stable (VIZ_FIGURES) so the run report can embed them.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from gptlab.config import require_utf8
from gptlab.errors import ConfigError
from gptlab.fileio import atomic_directory, atomic_write_json, atomic_write_text
from gptlab.mplstyle import plain_text
from gptlab.outputs import VIZ, check_output
from gptlab.report import viz_figures as figures
from gptlab.report.inspect import (
    Capture,
    capture,
    check_layer_head,
    head_scores,
    token_rows,
    uniform_entropy,
)

VIZ_JSON = "viz.json"
"""Beside the pictures: the run, step, prompt and every figure's file, title and caption."""
VIZ_FORMAT = "gptlab-viz"
VIZ_FORMAT_VERSION = 1
LONG_PROMPT_TOKENS = 40
"""Above this many tokens each attention head gets its own figure instead of a layer grid."""

_ATTENTION_HOW = (
    "Row i shows how much the token at position i (the query) reads from each earlier token "
    "(the keys); every row sums to 1. The grey hatched upper triangle is the future, which a "
    "causal model cannot see. A bright diagonal means 'look at myself', a bright line just "
    "below it 'look at the previous token'; a bright first column is the common 'attend to the "
    "first token' resting place. Colour: " + figures.ATTENTION_SCALE + "."
)
VIZ_FIGURES: dict[str, tuple[str, str]] = {
    "token_losses.png": (
        "Loss of each prompt token",
        "Bar t is the cross-entropy in nats of token t given tokens 0 to t-1 (the first token "
        "has none). Green: the token was the model's most likely guess. The dashed line is the "
        "loss of a uniform guess over the vocabulary.",
    ),
    "head_summary.png": (
        "Attention heads at a glance",
        "One cell per layer (row) and head (column), averaged over query positions 1 to T-1: "
        "entropy in nats (low = the head looks at few tokens), previous-token score (mean "
        "weight on the token just before; 1 = always) and first-token score (mean weight on "
        "position 0, a common resting place or 'sink').",
    ),
    "attention_layer{L}.png": (
        "Attention, layer {L}",
        "Each square is one head. " + _ATTENTION_HOW,
    ),
    "attention_L{L}_H{H}.png": ("Attention, layer {L} head {H}", _ATTENTION_HOW),
    "residual_norms.png": (
        "Residual stream norm",
        "Size (L2 norm) of the residual stream after the embeddings and after each block. "
        "Blocks add to it, so norms usually grow with depth; unusual tokens often stand out.",
    ),
    "attention_outputs.png": (
        "What attention writes",
        "How much each attention layer writes into the residual stream at each position (L2 "
        "norm), and the distribution of the values it writes.",
    ),
    "mlp_activations.png": (
        "MLP activations",
        "Histogram of the MLP's hidden activations after GELU. GELU maps negative inputs to "
        "about 0 (minimum -0.17): the share below 0 is how many neurons are off for a token, "
        "and a large share means sparse, selective neurons.",
    ),
    "top_neurons.png": (
        "Most active MLP neurons",
        "For every token and layer, the single most active MLP neuron (#id) and its activation. "
        "The same id lighting up on related tokens hints at what that neuron detects.",
    ),
}
"""File name pattern -> (title, caption) of every picture a viz folder can hold."""


def figure_info(file_name: str) -> tuple[str, str]:
    """(title, caption) of a viz picture by its file name, e.g. attention_L1_H3.png."""
    stem = file_name.removesuffix(".png")
    if stem.startswith("attention_layer") and stem[15:].isdigit():
        title, caption = VIZ_FIGURES["attention_layer{L}.png"]
        return title.format(L=stem[15:]), caption
    if stem.startswith("attention_L") and "_H" in stem:
        layer, _, head = stem[11:].partition("_H")
        title, caption = VIZ_FIGURES["attention_L{L}_H{H}.png"]
        return title.format(L=layer, H=head), caption
    return VIZ_FIGURES.get(file_name, (stem, ""))


@dataclass(frozen=True)
class VizResult:
    """What `gptlab viz` wrote and what it measured."""

    out_dir: Path
    pictures: list[Path]
    index: Path
    capture: Capture
    step: int | None


def draw_viz(
    cap: Capture,
    out_dir: str | Path,
    *,
    layer: int | None = None,
    head: int | None = None,
    run_name: str | None = None,
    step: int | None = None,
    report_path: Path | None = None,
) -> list[Path]:
    """Write every picture of a Capture, viz.json and index.html into out_dir; returns the PNGs.

    Attention: by default one grid per layer (one figure per head when the prompt is longer than
    LONG_PROMPT_TOKENS); with `layer` only that layer; with `head` that head of each chosen layer.
    run_name, step and report_path (the run's report.html) are shown on the page when given.
    """
    import matplotlib

    matplotlib.use("Agg")
    check_layer_head(cap, layer, head)
    out = Path(out_dir)
    check_output(out, VIZ, overwrite=True)
    layers = range(cap.n_layer) if layer is None else [layer]
    per_head = head is not None or len(cap.tokens) > LONG_PROMPT_TOKENS
    heads = range(cap.n_head) if head is None else [head]
    # Drawn into a hidden folder that replaces out whole: a failure leaves the old pictures.
    with atomic_directory(out, overwrite=True) as tmp:
        pictures: list[Path] = []
        with plain_text():  # token labels such as "$$" are text, not mathtext
            if len(cap.tokens) > 1:
                pictures.append(figures.draw_token_losses(cap, tmp))
                pictures.append(figures.draw_head_summary(cap, tmp))
            for lay in layers:
                if per_head:
                    pictures.extend(figures.draw_attention_head(cap, lay, h, tmp) for h in heads)
                else:
                    pictures.append(figures.draw_attention_layer(cap, lay, tmp))
            pictures.append(figures.draw_residual_norms(cap, tmp))
            pictures.append(figures.draw_attention_outputs(cap, tmp))
            pictures.append(figures.draw_mlp_activations(cap, tmp))
            pictures.append(figures.draw_top_neurons(cap, tmp))
        record = _record(cap, pictures, run_name, step)
        atomic_write_json(tmp / VIZ_JSON, record)
        link = None if report_path is None else os.path.relpath(report_path, out.resolve())
        write_index(cap, pictures, tmp, record=record, report_link=link)
    return [out / picture.name for picture in pictures]


def _record(
    cap: Capture, pictures: list[Path], run_name: str | None, step: int | None
) -> dict[str, Any]:
    scores = head_scores(cap.attention)
    return {
        "format": VIZ_FORMAT,
        "format_version": VIZ_FORMAT_VERSION,
        "run": run_name,
        "step": step,
        "prompt": cap.prompt,
        "tokens": cap.tokens,
        "token_ids": cap.token_ids,
        "dropped_tokens": cap.dropped_tokens,
        "mean_loss_nats": cap.mean_loss,
        "figures": [
            dict(zip(("file", "title", "caption"), (p.name, *figure_info(p.name)), strict=True))
            for p in pictures
        ],
        "heads": (
            {name: values.round(4).tolist() for name, values in scores.items()}
            if len(cap.tokens) > 1
            else None
        ),
    }


def write_index(
    cap: Capture,
    pictures: list[Path],
    out_dir: Path,
    *,
    record: dict[str, Any],
    report_link: str | None = None,
) -> Path:
    """viz/index.html: run, step, prompt, the per-token and per-head tables and every picture."""
    from gptlab.report.pages import render_page

    scores = head_scores(cap.attention)
    heads = [
        (layer, h, *(float(scores[name][layer, h]) for name in figures.HEAD_SCORE_TITLES))
        for layer in range(cap.n_layer)
        for h in range(cap.n_head)
    ]
    nav = [] if report_link is None else [(report_link, "back to the run report")]
    nav.append(("#prompt", "prompt"))
    if len(cap.tokens) > 1:
        nav += [("#tokens", "tokens"), ("#heads", "heads")]
    nav.append(("#pictures", "pictures"))
    page = render_page(
        "viz.html",
        nav=nav,
        cap=cap,
        run_name=record["run"],
        step=record["step"],
        report_link=report_link,
        rows=token_rows(cap),
        heads=heads if len(cap.tokens) > 1 else [],
        uniform_entropy=uniform_entropy(len(cap.tokens)),
        figures=[(p.name, p.read_bytes(), *figure_info(p.name)) for p in pictures],
        long_prompt=len(cap.tokens) > LONG_PROMPT_TOKENS,
        long_prompt_tokens=LONG_PROMPT_TOKENS,
    )
    path = out_dir / "index.html"
    atomic_write_text(path, page)
    return path


def visualize_run(
    run_dir: str | Path,
    prompt: str,
    *,
    checkpoint: str | None = None,
    layer: int | None = None,
    head: int | None = None,
    out_dir: str | Path | None = None,
    device: str = "cpu",
) -> VizResult:
    """Load a run's checkpoint, capture one prompt and draw it into RUN/viz (or out_dir).

    checkpoint: None or "latest", "best", a step number or a folder.
    """
    from gptlab.train.checkpoint import load_run

    if not prompt or not prompt.strip():
        raise ConfigError("The prompt is empty: give some text with --prompt, e.g. 'Once upon'.")
    require_utf8("--prompt", prompt)
    run = load_run(run_dir, None if checkpoint in (None, "latest") else checkpoint, device=device)
    cap = capture(run.model, run.tokenizer, prompt, device=device)
    check_layer_head(cap, layer, head)
    out = Path(run_dir) / "viz" if out_dir is None else Path(out_dir)
    pictures = draw_viz(
        cap,
        out,
        layer=layer,
        head=head,
        run_name=Path(run_dir).resolve().name,
        step=run.step,
        report_path=Path(run_dir).resolve() / "report.html",
    )
    return VizResult(
        out_dir=out, pictures=pictures, index=out / "index.html", capture=cap, step=run.step
    )
