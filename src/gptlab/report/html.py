"""report.html and compare.html: summaries and plots turned into the templates' values.

The numbers come from report/summary.py and the layout from templates/; this module only picks
and formats what the pages show. Trade-off: pictures are embedded as data: URIs, so the
page is one file that opens offline, at the price of a larger file (a few hundred KB).
"""

from __future__ import annotations

import datetime as dt
import json
import math
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from gptlab.config import Config, config_to_dict
from gptlab.eval_history import read_eval_history
from gptlab.fileio import atomic_write_text
from gptlab.jsonio import is_whole_number
from gptlab.report.figures import Plot
from gptlab.report.formatting import fmt_count, fmt_duration, fmt_float, fmt_percent
from gptlab.report.pages import render_page
from gptlab.report.plots import DEFAULT_SMOOTHING, render_run_plots
from gptlab.report.summary import (
    Measure,
    RunSummary,
    first_of,
    preset_of,
    read_json_object,
    summarize_run,
)

MAX_SAMPLE_STEPS = 24
"""Evaluations whose samples are shown (evenly spaced, first and last kept); the rest stay in
samples.jsonl."""
MAX_VIZ_IMAGES = 64
"""Pictures from run/viz/ embedded in the report; the rest stay in the folder."""
ANALYSIS_PLOTS = {
    "token_lengths.png": "Document lengths in tokens",
    "top_words.png": "Most frequent words",
    "train_val_top_words.png": "Top words, train vs val",
}
"""Plots `gptlab analyze` writes into <dataset>/analysis, with their titles."""


def _when(m: Measure, digits: int = 4, percent: bool = False) -> dict[str, str]:
    """A measure as the card macro wants it: value text and its source."""
    if m.value is None:
        return {"value": "-", "sub": "not measured"}
    text = fmt_percent(m.value) if percent else fmt_float(m.value, digits)
    if m.stderr is not None and math.isfinite(m.stderr):
        text += f" ± {100 * m.stderr:.1f}" if percent else f" ± {fmt_float(m.stderr, 3)}"
    sub = m.source + (f" · chance {fmt_percent(m.chance, 0)}" if m.chance is not None else "")
    return {"value": text, "sub": sub}


def _cards(s: RunSummary) -> list[dict[str, str]]:
    cards = []
    uniform = s.uniform_loss
    for label, measure in (("Val loss", s.val_loss), ("Train loss", s.train_loss)):
        card = {"label": label, **_when(measure)}
        card["flag"] = (
            f"worse than uniform guessing (ln {s.vocab_size:,} = {uniform:.3f})"
            if uniform is not None and s.worse_than_uniform(measure.value)
            else ""
        )
        cards.append(card)
    gap = s.gap
    cards.append({"label": "Generalisation gap", **_when(gap, 3), "flag": ""})
    bpb = s.bits_per_byte
    ppl = {"label": "Val perplexity", **_when(s.val_ppl, 3), "flag": ""}
    if bpb.value is not None:
        ppl["sub"] = f"{fmt_float(bpb.value, 3)} bits per byte · {ppl['sub']}"
    cards.append(ppl)
    acc = {"label": "Val accuracy", **_when(s.val_acc, percent=True), "flag": ""}
    if s.val_acc_top5.value is not None:
        acc["sub"] = f"top-5 {fmt_percent(s.val_acc_top5.value)} · {acc['sub']}"
    cards.append(acc)
    for key, label in (("hellaswag", "HellaSwag"), ("lambada", "LAMBADA")):
        measure = s.benchmark(key)
        if measure.value is not None:
            cards.append({"label": label, **_when(measure, percent=True), "flag": ""})
    end = s.metrics.end or {}
    steps = s.steps
    cards += [
        {
            "label": "Tokens seen",
            "value": fmt_count(s.tokens_seen),
            "sub": f"{fmt_count(steps)} steps · {len(s.metrics.eval)} evaluations",
            "flag": "",
        },
        {
            "label": "Wall time",
            "value": fmt_duration(s.wall_s),
            "sub": f"stopped: {end.get('reason', 'no end record')}",
            "flag": "",
        },
        {
            "label": "Tokens / s",
            "value": fmt_count(s.tokens_per_s),
            "sub": "median over log windows",
            "flag": "",
        },
    ]
    if s.params is not None:
        non_embedding = fmt_count(s.params.non_embedding)
        cards.append(
            {
                "label": "Parameters",
                "value": fmt_count(s.params.total),
                "sub": f"{non_embedding} non-embedding · {s.shape}",
                "flag": "",
            }
        )
    return cards


def _run_date(s: RunSummary) -> str:
    value = first_of(s.env, "created", "started", "start_time", "time", "date", "timestamp")
    if isinstance(value, str):
        return value
    if isinstance(value, int | float):
        return dt.datetime.fromtimestamp(value, dt.timezone.utc).strftime("%Y-%m-%d %H:%M UTC")
    # The metrics file's mtime is an input, so a regenerated report still has the same bytes.
    mtime = (s.path / "metrics.jsonl").stat().st_mtime
    return dt.datetime.fromtimestamp(mtime, dt.timezone.utc).strftime("%Y-%m-%d %H:%M UTC")


def _command_line(s: RunSummary) -> str | None:
    value = first_of(s.env, "command_line", "argv", "command", "cmd")
    if isinstance(value, list):
        return " ".join(str(v) for v in value)
    return str(value) if value is not None else None


def _device(s: RunSummary) -> str:
    value = first_of(s.env, "device_name", "device.name", "gpu", "device", "runtime.device")
    if isinstance(value, dict):
        value = ", ".join(f"{k}={v}" for k, v in value.items())
    if value is None and s.config is not None:
        value = s.config.train.device
    world = first_of(s.env, "world_size", "runtime.world_size")
    text = str(value) if value is not None else "unknown"
    return f"{text} x {world}" if isinstance(world, int) and world > 1 else text


def _header(s: RunSummary) -> list[tuple[str, str]]:
    commit = first_of(s.env, "git_commit", "git.commit", "commit", "git_sha")
    commit_text = str(commit)[:12] if commit else "not recorded"
    if commit and first_of(s.env, "git_dirty", "git.dirty") is True:
        commit_text += " (uncommitted changes)"
    return [("Date", _run_date(s)), ("Device", _device(s)), ("Git commit", commit_text)]


def _environment(s: RunSummary) -> list[tuple[str, str]]:
    env = s.env or {}
    rows = [
        ("python", env.get("python")),
        ("torch", env.get("torch")),
        ("gptlab", env.get("gptlab")),
        ("device", _device(s)),
        ("precision", env.get("precision") or (s.config.train.precision if s.config else None)),
        ("world size", env.get("world_size")),
        ("CUDA", env.get("cuda")),
        ("platform", env.get("platform")),
        ("host", env.get("hostname")),
    ]
    return [(k, str(v)) for k, v in rows if v not in (None, "")]


def _checkpoints(s: RunSummary) -> list[dict[str, Any]]:
    folder = s.path / "checkpoints"
    best = first_of(read_json_object(folder / "best.json"), "checkpoint")
    rows = []
    for path in sorted(folder.glob("step_*")) if folder.is_dir() else []:
        state = read_json_object(path / "state.json") or {}
        val = state.get("val_loss")
        rows.append(
            {
                "name": path.name,
                "step": state.get("step", "-"),
                "tokens": fmt_count(state.get("tokens")),
                "val_loss": fmt_float(val if isinstance(val, int | float) else None),
                "best": path.name == best,
            }
        )
    return rows


def _eval_rows(s: RunSummary) -> list[list[str]]:
    rows = []
    for record in s.metrics.eval:
        val, train = record.get("val_loss"), record.get("train_loss")
        gap = (
            val - train if isinstance(val, int | float) and isinstance(train, int | float) else None
        )
        rows.append(
            [
                f"{int(record.get('step', 0)):,}",
                fmt_count(record.get("tokens")),
                fmt_float(train),
                fmt_float(val),
                fmt_float(gap, 3),
                fmt_float(record.get("val_ppl"), 3),
                fmt_percent(record.get("val_acc")),
                fmt_percent(record.get("val_acc_top5")),
                fmt_duration(record.get("elapsed_s")),
            ]
        )
    return rows


EVAL_LABELS = {
    "loss": "loss (nats/token)",
    "ppl": "perplexity",
    "bits_per_byte": "bits per byte",
    "acc": "top-1 accuracy",
    "acc_top5": "top-5 accuracy",
    "acc_norm": "accuracy (length-normalised)",
    "tokens": "tokens",
    "bytes": "bytes",
    "count": "examples",
}


def _eval_value(key: str, value: Any, count: Any) -> str:
    if isinstance(value, bool) or not isinstance(value, int | float):
        return str(value) if not isinstance(value, list | dict) else json.dumps(value)
    if key.startswith("acc"):
        text = fmt_percent(float(value))
        if isinstance(count, int) and count > 0 and 0 <= value <= 1:
            text += f" ± {100 * math.sqrt(value * (1 - value) / count):.1f}"
        return text
    if isinstance(value, int):
        return f"{value:,}"
    return fmt_float(float(value))


def _eval_panels(s: RunSummary) -> list[dict[str, Any]]:
    panels = []
    for name, result in (s.eval_results or {}).items():
        if not isinstance(result, dict):
            continue
        count = result.get("count")
        rows = [
            (EVAL_LABELS.get(k, k), _eval_value(k, v, count))
            for k, v in result.items()
            if k not in ("checkpoint",)
        ]
        note = ""
        if name == "hellaswag":
            note = "± is one standard error, sqrt(p(1-p)/n); guessing scores 25%."
        elif name == "lambada":
            note = "± is one standard error, sqrt(p(1-p)/n)."
        panels.append({"title": name, "rows": rows, "note": note})
    return panels


_HISTORY_MEASURES = ("loss", "acc_norm", "acc")
"""The one number shown per result in the history table: loss for splits and texts, acc_norm
for HellaSwag, acc for LAMBADA (the first a result has)."""


def _eval_history_rows(s: RunSummary) -> list[list[str]]:
    """[key, step, measure, value] per `gptlab eval` result of RUN/eval_history.jsonl, shown only
    when some key was evaluated at more than one checkpoint step."""
    records = read_eval_history(s.path)
    steps_per_key: dict[str, set[Any]] = {}
    for record in records:
        steps_per_key.setdefault(record["key"], set()).add(record.get("step"))
    if all(len(steps) < 2 for steps in steps_per_key.values()):
        return []
    rows = []
    for record in sorted(records, key=lambda r: (r["key"], _step_key(r.get("step")))):
        for field in _HISTORY_MEASURES:
            value = record.get(field)
            if isinstance(value, int | float) and not isinstance(value, bool):
                step = record.get("step")
                rows.append(
                    [
                        record["key"],
                        f"{step:,}" if is_whole_number(step) else "-",
                        field,
                        _eval_value(field, value, record.get("count")),
                    ]
                )
                break
    return rows


def _step_key(step: Any) -> int:
    return int(step) if is_whole_number(step) else -1


def _pick_evenly(items: Sequence[Any], limit: int) -> list[Any]:
    if len(items) <= limit:
        return list(items)
    picks = sorted({round(i * (len(items) - 1) / (limit - 1)) for i in range(limit)})
    return [items[i] for i in picks]


def _samples(s: RunSummary) -> tuple[list[dict[str, Any]], int]:
    by_step: dict[int, list[dict[str, Any]]] = {}
    for record in s.samples:
        if is_whole_number(record.get("step")):
            by_step.setdefault(int(record["step"]), []).append(record)
    cards = []
    for step in reversed(_pick_evenly(sorted(by_step), MAX_SAMPLE_STEPS)):
        texts = []
        for record in by_step[step]:
            prompt, text = str(record.get("prompt", "")), str(record.get("text", ""))
            # text is the continuation; tolerate writers that repeat the prompt in it.
            if prompt and text.startswith(prompt):
                text = text[len(prompt) :]
            texts.append((prompt, text))
        tokens = fmt_count(by_step[step][0].get("tokens"))
        cards.append({"step": f"{step:,}", "tokens": tokens, "texts": texts})
    return cards, len(by_step)


def _viz(s: RunSummary) -> dict[str, Any]:
    viz = s.path / "viz"
    images = sorted(viz.glob("*.png")) if viz.is_dir() else []
    shown = images[:MAX_VIZ_IMAGES]
    return {
        "figures": [
            {"src": p.read_bytes(), "title": p.stem.replace("_", " "), "name": p.name}
            for p in shown
        ],
        "total": len(images),
        "index": (viz / "index.html").is_file(),
        "command": f'gptlab viz {s.path} --prompt "Once upon a time"',
    }


def _analysis(s: RunSummary) -> dict[str, Any] | None:
    if s.config is None:
        return None
    folder = Path(s.config.data.path) / "analysis"
    figures = [
        {"src": (folder / name).read_bytes(), "title": title}
        for name, title in ANALYSIS_PLOTS.items()
        if (folder / name).is_file()
    ]
    return {"folder": str(folder), "figures": figures} if figures else None


def _dataset(s: RunSummary) -> dict[str, Any] | None:
    meta = s.dataset_meta
    if not meta:
        return None
    spec = s.tokenizer_spec or {}
    filt = meta["filter"] if isinstance(meta.get("filter"), dict) else {}
    info = [
        ("source", str(meta.get("source", "-"))),
        ("created", str(meta.get("created", "-"))),
        ("tokenizer", s.tokenizer_label),
        ("tokenizer spec", json.dumps(spec, sort_keys=True)[:400] if spec else "-"),
        ("EOS id", str(meta.get("eos_id", "-"))),
        ("token dtype", str(meta.get("token_dtype", "-"))),
        (
            "length filter (tokens)",
            f"min {filt.get('min_tokens', '-')}, max {filt.get('max_tokens', '-')} (0 = none)",
        ),
        ("val fraction · seed", f"{meta.get('val_fraction', '-')} · {meta.get('seed', '-')}"),
    ]
    if s.config is not None:
        info.insert(0, ("folder (data.path)", s.config.data.path))
    splits = []
    for name, split in (meta.get("splits") or {}).items():
        if not isinstance(split, dict):
            continue
        tokens, nbytes = split.get("tokens"), split.get("bytes")
        numbers = isinstance(tokens, int | float) and isinstance(nbytes, int | float)
        shards = split.get("shards")
        splits.append(
            [name]
            + [
                f"{split[k]:,}" if isinstance(split.get(k), int) else "-"
                for k in ("documents", "dropped_short", "dropped_long", "tokens", "bytes")
            ]
            + [
                f"{nbytes / tokens:.2f}" if numbers and tokens else "-",
                str(len(shards)) if isinstance(shards, list) else "-",
            ]
        )
    return {"info": info, "splits": splits}


def _config(cfg: Config) -> list[dict[str, Any]]:
    values, defaults = config_to_dict(cfg), config_to_dict(Config())
    panels = []
    for section, fields in values.items():
        rows = []
        for key, value in fields.items():
            shown = json.dumps(value) if isinstance(value, list | bool) else str(value)
            rows.append((key, shown, defaults[section].get(key) != value))
        panels.append({"section": section, "rows": rows})
    return panels


def _notes(s: RunSummary) -> list[str]:
    notes = []
    if not s.metrics.train and not s.metrics.eval:
        notes.append("metrics.jsonl has no train or eval records yet, so there is nothing to plot.")
    elif not s.metrics.eval:
        notes.append(
            "No evaluation has run yet: perplexity, accuracy and the generalisation gap appear "
            "after the first one (train.eval_interval_steps)."
        )
    elif len(s.metrics.eval) == 1:
        notes.append("Only one evaluation so far: eval curves are single points.")
    if s.metrics.skipped_lines:
        notes.append(
            f"{s.metrics.skipped_lines} line(s) of metrics.jsonl were not valid JSON "
            "(a run stopped mid-write) and were skipped."
        )
    return notes


def render_report(s: RunSummary, plots: Sequence[Plot]) -> str:
    """The report page of a run as one HTML string."""
    viz = _viz(s)
    preset = preset_of(s.config) if s.config else None
    nav = [
        ("#curves", "Training curves"),
        ("#evaluation", "Evaluation"),
        ("#samples", "Samples"),
        ("#viz", "Attention and activations"),
        ("#dataset", "Dataset"),
        ("#environment", "Environment"),
        ("#config", "Configuration"),
    ]
    samples, sample_steps = _samples(s)
    return render_page(
        "report.html",
        nav=nav,
        footer=(
            f"Generated by gptlab. Run folder: {s.path}. Regenerate with `gptlab report "
            f"{s.path}`. This page is self-contained: pictures are embedded and nothing is "
            "loaded from the network."
        ),
        name=s.name,
        header=_header(s),
        command=_command_line(s),
        cards=_cards(s),
        notes=_notes(s),
        plots=[
            {
                "src": p.path.read_bytes(),
                "title": p.title,
                "caption": p.caption,
                "wide": p.path.name == "loss_steps.png",
            }
            for p in plots
        ],
        eval_rows=_eval_rows(s),
        eval_panels=_eval_panels(s),
        eval_history=_eval_history_rows(s),
        samples=samples,
        sample_steps=sample_steps,
        viz=viz,
        dataset=_dataset(s),
        analysis=_analysis(s),
        data_path=s.config.data.path if s.config else "<dataset>",
        environment=_environment(s),
        checkpoints=_checkpoints(s),
        config=_config(s.config) if s.config else None,
        config_problem=s.config_problem,
        preset=preset,
        run_path=str(s.path),
    )


def write_report(run_dir: str | Path, smoothing: float = DEFAULT_SMOOTHING) -> Path:
    """Write run/plots/*.png and run/report.html from the run's files; returns the HTML path.

    smoothing is the EMA weight of the smoothed train-loss line (0 draws the raw line only).
    Idempotent: the same run files give byte-identical plots and page.
    """
    summary = summarize_run(run_dir)
    grad_clip = summary.config.optim.grad_clip if summary.config else None
    plots = render_run_plots(summary.metrics, summary.path / "plots", grad_clip, smoothing)
    out = summary.path / "report.html"
    atomic_write_text(out, render_report(summary, plots))
    return out
