"""Comparing runs: one ranked table (CSV, Markdown, HTML, terminal) and overlaid curves.

Every number is the run's headline number from report/summary.py, so compare shows what the run's
report and the end of `gptlab train` show. A run made by `gptlab import-hf` has eval.json and no
metrics.jsonl: it gets its eval.json numbers and no curves.
Trade-off: only config fields that differ between the runs become columns, so a table of two
LR settings leads with optim.lr, and fields all runs share are left out.
"""

from __future__ import annotations

import csv
import dataclasses
import io
import json
import os
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from gptlab.config import config_to_dict
from gptlab.errors import GptlabError
from gptlab.fileio import atomic_directory, atomic_write_text
from gptlab.outputs import COMPARISON, check_output
from gptlab.report.figures import PALETTE, Plot
from gptlab.report.formatting import fmt_count, fmt_duration, fmt_float, fmt_percent
from gptlab.report.overlays import OverlayRun, plot_overlays
from gptlab.report.pages import render_page
from gptlab.report.records import DEFAULT_SMOOTHING, check_smoothing
from gptlab.report.summary import RunSummary, summarize_run

SECTION_ORDER = ("optim", "model", "train", "data", "run")
"""Differing config fields are listed in this order: the LR first."""
IGNORED_FIELDS = {"run.out_dir"}
"""Fields that differ between any two runs by construction."""
MAX_CONFIG_COLUMNS = 8


@dataclass(frozen=True)
class CompareRow:
    """One run in a comparison; None where the run did not record the value."""

    rank: int
    name: str
    path: str
    color: str
    """The run's colour on every overlay picture."""
    report: str | None
    """report.html relative to the comparison folder, when the run has one."""
    shape: str
    preset: str | None
    parameters: int | None
    non_embedding_parameters: int | None
    tokenizer: str
    steps: float | None
    tokens: float | None
    train_loss: float | None
    train_acc: float | None
    val_loss: float | None
    val_source: str
    val_ppl: float | None
    val_acc: float | None
    gap: float | None
    bits_per_byte: float | None
    hellaswag: float | None
    lambada: float | None
    wall_s: float | None
    tokens_per_s: float | None
    config: dict[str, str] = field(default_factory=dict)
    """The config fields that differ between the runs, as text."""
    texts: dict[str, float | None] = field(default_factory=dict)
    """Bits per byte of each `gptlab eval --text FILE` result, by file name."""


@dataclass(frozen=True)
class Comparison:
    """The ranked rows of a comparison and the files written for it."""

    rows: list[CompareRow]
    ranked_by: str
    """val_loss, bits_per_byte, text:<file> or train_loss: the first all runs can be ranked by."""
    note: str
    paths: list[Path]
    config_fields: list[str] = field(default_factory=list)
    text_keys: list[str] = field(default_factory=list)

    def table(self) -> tuple[list[str], list[list[str]]]:
        """Column headers and plain-text cells, shared by the Markdown, HTML and terminal tables.

        Columns empty for every run are left out.
        """
        columns: list[tuple[str, Any]] = [("#", lambda r: str(r.rank)), ("run", lambda r: r.name)]
        columns += [(name, lambda r, n=name: r.config.get(n, "-")) for name in self.config_fields]
        columns += [
            ("shape", lambda r: f"{r.shape} ({r.preset})" if r.preset else r.shape),
            ("params", lambda r: fmt_count(r.parameters)),
            ("tokenizer", lambda r: r.tokenizer),
            ("steps", lambda r: fmt_count(r.steps)),
            ("tokens", lambda r: fmt_count(r.tokens)),
            ("train loss", lambda r: fmt_float(r.train_loss)),
            ("train acc", lambda r: fmt_percent(r.train_acc)),
            ("val loss", lambda r: fmt_float(r.val_loss)),
            ("val ppl", lambda r: fmt_float(r.val_ppl, 3)),
            ("val acc", lambda r: fmt_percent(r.val_acc)),
            ("gap", lambda r: fmt_float(r.gap, 3)),
            ("bits/byte", lambda r: fmt_float(r.bits_per_byte, 3)),
            ("val from", lambda r: r.val_source),
        ]
        columns += [
            (f"{key} bits/byte", lambda r, k=key: fmt_float(r.texts.get(k), 3))
            for key in self.text_keys
        ]
        columns += [
            ("HellaSwag", lambda r: fmt_percent(r.hellaswag)),
            ("LAMBADA", lambda r: fmt_percent(r.lambada)),
            ("time", lambda r: fmt_duration(r.wall_s)),
            ("tokens/s", lambda r: fmt_count(r.tokens_per_s)),
        ]
        cells = [[cell(r) for _, cell in columns] for r in self.rows]
        keep = [
            i
            for i, (name, _) in enumerate(columns)
            if name in ("#", "run") or any(row[i] not in ("-", "not measured") for row in cells)
        ]
        return [columns[i][0] for i in keep], [[row[i] for i in keep] for row in cells]

    def markdown(self) -> str:
        headers, cells = self.table()

        def line(items: Sequence[str]) -> str:
            return "| " + " | ".join(c.replace("|", "\\|") for c in items) + " |"

        lines = [line(headers), "|" + "|".join("---" for _ in headers) + "|"]
        lines += [line(row) for row in cells]
        return "\n".join(lines) + f"\n\n{self.note}\n\n{COLUMNS_NOTE}\n"


COLUMNS_NOTE = (
    "Train loss is the mean over each run's last log window (train mode: dropout on); train "
    "accuracy and the gap (val loss - train loss) come from the last evaluation during training, "
    "both measured in eval mode on the same number of batches, so the gap is not the difference "
    "of the two loss columns; tokens/s is the median over log windows."
)
"""What the table's loss, accuracy and gap columns measure: said under every form of it."""


def _unique_names(paths: Sequence[Path]) -> list[str]:
    """Run names: folder names, with the parent added where two runs share a folder name."""
    names = [p.resolve().name for p in paths]
    return [
        f"{p.resolve().parent.name}/{n}" if names.count(n) > 1 else n
        for p, n in zip(paths, names, strict=True)
    ]


def _tokenizer_key(s: RunSummary) -> str:
    spec = s.tokenizer_spec
    return json.dumps(spec, sort_keys=True) if spec else f"unknown:{s.vocab_size}"


def _flat_config(s: RunSummary) -> dict[str, str]:
    if s.config is None:
        return {}
    flat = {}
    for section, fields in config_to_dict(s.config).items():
        for key, value in fields.items():
            flat[f"{section}.{key}"] = json.dumps(value) if isinstance(value, list) else str(value)
    return flat


def _differing_fields(configs: Sequence[dict[str, str]]) -> list[str]:
    keys = {k for c in configs for k in c} - IGNORED_FIELDS
    differing = [k for k in keys if len({c.get(k, "-") for c in configs}) > 1]

    def order(key: str) -> tuple[int, str]:
        section = key.split(".")[0]
        rank = SECTION_ORDER.index(section) if section in SECTION_ORDER else len(SECTION_ORDER)
        return rank, key

    return sorted(differing, key=order)


def _text_bpb(s: RunSummary) -> dict[str, float | None]:
    out: dict[str, float | None] = {}
    for key, result in (s.eval_results or {}).items():
        if key.startswith("text:") and isinstance(result, dict):
            value = result.get("bits_per_byte")
            out[key[5:]] = float(value) if isinstance(value, int | float) else None
    return out


def _ranking(
    summaries: Sequence[RunSummary], texts: dict[str, dict[str, float | None]]
) -> tuple[str, str, list[RunSummary]]:
    """(ranked_by, note, order): the first measure every run has, in order of preference."""

    def by(value: Any) -> list[RunSummary]:
        return sorted(summaries, key=lambda s: value(s))

    same_tokenizer = len({_tokenizer_key(s) for s in summaries}) == 1
    if same_tokenizer and all(s.val_loss.value is not None for s in summaries):
        note = (
            "Ranked by val loss (all runs use the same tokenizer). Bits per byte = val loss / "
            "ln 2 x val tokens / val bytes. 'val from' says whether each run's val numbers are "
            "the full split (gptlab eval) or the estimate made during training."
        )
        if len({s.val_loss.source.startswith("gptlab eval") for s in summaries}) > 1:
            note += (
                " Careful: some runs' val loss is the full split and others' a training-time "
                "estimate, which can differ by more than the runs do; run `gptlab eval` on "
                "every run to compare like with like."
            )
        return "val_loss", note, by(lambda s: s.val_loss.value)
    labels = ", ".join(sorted({s.tokenizer_label for s in summaries}))
    if all(s.bits_per_byte.value is not None for s in summaries):
        note = (
            f"These runs use different tokenizers ({labels}), so loss and perplexity are per "
            "token of different vocabularies and not comparable; the runs are ranked by bits per "
            "byte of val text (val loss / ln 2 x val tokens / val bytes), which is."
            if not same_tokenizer
            else "Ranked by val bits per byte."
        )
        return "bits_per_byte", note, by(lambda s: s.bits_per_byte.value)
    shared = [k for k in next(iter(texts.values()), {}) if all(t.get(k) for t in texts.values())]
    if shared:
        key = shared[0]
        note = (
            f"Not every run has a val result, so the runs are ranked by bits per byte on {key} "
            "(gptlab eval --text), which is comparable across tokenizers."
        )
        return f"text:{key}", note, by(lambda s: texts[str(s.path)][key])
    note = "Not every run has a val result, so the runs are ranked by train loss (last log window)."
    return (
        "train_loss",
        note,
        by(lambda s: (s.train_loss.value is None, s.train_loss.value or 0.0)),
    )


def _report_link(s: RunSummary, out: Path) -> str | None:
    report = s.path / "report.html"
    if not report.is_file():
        return None
    return Path(os.path.relpath(report.resolve(), out.resolve())).as_posix()


def compare_runs(
    run_dirs: Sequence[str | Path],
    out_dir: str | Path | None = None,
    smoothing: float = DEFAULT_SMOOTHING,
) -> Comparison:
    """Compare runs: one ranked table and overlaid curves in out_dir (default ./compare).

    smoothing: EMA weight of the overlaid train-loss lines (0: raw only), as `gptlab report`.

    Writes compare.csv, compare.md, compare.html and the overlay PNGs. Runs are ranked by val
    loss, by bits per byte when their tokenizers differ (losses over different vocabularies are
    not comparable), else by a shared eval --text result, else by train loss.
    """
    if not run_dirs:
        raise GptlabError("Give at least one run folder to compare (gptlab compare RUN [RUN ...]).")
    check_smoothing(smoothing)
    paths = [Path(p) for p in run_dirs]
    summaries = [
        summarize_run(p, n, allow_eval_only=True)
        for p, n in zip(paths, _unique_names(paths), strict=True)
    ]
    texts = {str(s.path): _text_bpb(s) for s in summaries}
    ranked_by, note, order = _ranking(summaries, texts)
    configs = {str(s.path): _flat_config(s) for s in summaries}
    differing = _differing_fields(list(configs.values()))
    shown_fields = differing[:MAX_CONFIG_COLUMNS]
    if len(differing) > len(shown_fields):
        note += f" {len(differing) - len(shown_fields)} more config fields differ; see compare.csv."
    text_keys = sorted({k for t in texts.values() for k in t})
    out = Path(out_dir) if out_dir is not None else Path("compare")
    rows = []
    for i, s in enumerate(order):
        hellaswag, lambada = s.benchmark("hellaswag"), s.benchmark("lambada")
        val = s.val_loss
        rows.append(
            CompareRow(
                rank=i + 1,
                name=s.name,
                path=str(s.path),
                color=PALETTE[i % len(PALETTE)],
                report=_report_link(s, out),
                shape=s.shape,
                preset=s.preset_label,
                parameters=s.params.total if s.params else None,
                non_embedding_parameters=s.params.non_embedding if s.params else None,
                tokenizer=s.tokenizer_label,
                steps=s.steps,
                tokens=s.tokens_seen,
                train_loss=s.train_loss.value,
                train_acc=s.train_acc.value,
                val_loss=val.value,
                val_source=val.source,
                val_ppl=s.val_ppl.value,
                val_acc=s.val_acc.value,
                gap=s.gap.value,
                bits_per_byte=s.bits_per_byte.value,
                hellaswag=hellaswag.value,
                lambada=lambada.value,
                wall_s=s.wall_s,
                tokens_per_s=s.tokens_per_s,
                config={k: configs[str(s.path)].get(k, "-") for k in differing},
                texts=texts[str(s.path)],
            )
        )
    check_output(out, COMPARISON, overwrite=True, inputs=paths)
    comparison = Comparison(
        rows=rows,
        ranked_by=ranked_by,
        note=note,
        paths=[],
        config_fields=shown_fields,
        text_keys=text_keys,
    )
    names = ["compare.csv", "compare.md", "compare.html"]
    # Written into a hidden folder that replaces out whole: a full disk leaves the old one.
    with atomic_directory(out, overwrite=True) as tmp:
        overlay_runs = [
            OverlayRun(r.name, s.metrics, s.val_bytes_per_token, r.color)
            for r, s in zip(rows, order, strict=True)
        ]
        plots = plot_overlays(overlay_runs, tmp, smoothing)
        atomic_write_text(tmp / names[0], _compare_csv(rows, differing, text_keys))
        atomic_write_text(tmp / names[1], "# Run comparison\n\n" + comparison.markdown())
        atomic_write_text(tmp / names[2], compare_html(comparison, plots))
    written = [out / name for name in names] + [out / p.path.name for p in plots]
    return dataclasses.replace(comparison, paths=written)


def _compare_csv(rows: Sequence[CompareRow], fields: Sequence[str], texts: Sequence[str]) -> str:
    buffer = io.StringIO()
    plain = [f.name for f in dataclasses.fields(CompareRow) if f.name not in ("config", "texts")]
    names = plain + list(fields) + [f"text:{k}:bits_per_byte" for k in texts]
    writer = csv.DictWriter(buffer, fieldnames=names, lineterminator="\n")
    writer.writeheader()
    for row in rows:
        values: dict[str, Any] = {k: getattr(row, k) for k in plain}
        values.update(row.config)
        values.update({f"text:{k}:bits_per_byte": row.texts.get(k) for k in texts})
        writer.writerow({k: ("" if v is None else v) for k, v in values.items()})
    return buffer.getvalue()


def compare_html(c: Comparison, plots: Sequence[Plot]) -> str:
    """compare.html: the ranked table (each run linked to its report) and the overlays."""
    headers, cells = c.table()
    key = {"val_loss": "val loss", "bits_per_byte": "bits/byte", "train_loss": "train loss"}
    bold = headers.index(key[c.ranked_by]) if key.get(c.ranked_by) in headers else None
    return render_page(
        "compare.html",
        nav=[("#table", "Runs"), ("#curves", "Curves")],
        footer="Generated by gptlab. Regenerate with `gptlab compare`. This page is "
        "self-contained: pictures are embedded and nothing is loaded from the network.",
        count=len(c.rows),
        ranked_by=c.ranked_by.replace("_", " "),
        note=c.note,
        columns_note=COLUMNS_NOTE,
        warn=c.ranked_by != "val_loss",
        headers=headers,
        rows=[
            {"cells": row, "color": r.color, "report": r.report}
            for row, r in zip(cells, c.rows, strict=True)
        ],
        bold=bold,
        config_fields=c.config_fields,
        plots=[{"src": p.path.read_bytes(), "title": p.title, "caption": p.caption} for p in plots],
    )
