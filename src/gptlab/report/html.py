"""report.html for one run and the compare page for several: one self-contained file each.

Everything a page shows is inside it: PNGs as base64 data URIs, inline CSS, no JavaScript and no
external URL, so a report opens offline and can be mailed as one attachment. Every string that
came from a user (prompts, samples, config values, paths) goes through html.escape.
Trade-off: embedding the pictures makes a report a few hundred KB to a few MB, and the page is
regenerated whole (no incremental updates) so that the same inputs give the same bytes.
"""

from __future__ import annotations

import base64
import csv
import dataclasses
import datetime as dt
import html
import io
import json
import math
import statistics
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from gptlab.config import PRESETS, Config, config_to_dict, load_config
from gptlab.errors import CheckpointError, GptlabError
from gptlab.fileio import atomic_directory, atomic_write_text
from gptlab.jsonio import JSON_ERRORS, is_whole_number
from gptlab.outputs import COMPARISON, check_output
from gptlab.report.figures import Plot, format_count
from gptlab.report.overlays import OverlayRun, plot_overlays
from gptlab.report.plots import DEFAULT_SMOOTHING, render_run_plots
from gptlab.report.records import (
    RunMetrics,
    final_value,
    generalisation_gap,
    load_metrics,
    series,
)

MAX_SAMPLE_STEPS = 24
"""Evaluations whose samples are shown (evenly spaced, first and last kept); the rest stay in
samples.jsonl."""
MAX_VIZ_IMAGES = 64
"""Pictures from run/viz/ embedded in the report; the rest stay in the folder."""


# ---------------------------------------------------------------------------------------------
# Reading a run folder


def _read_json(path: Path) -> dict[str, Any] | None:
    """A JSON object from an optional file, or None when it is absent or unreadable."""
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError, RecursionError):
        return None
    return data if isinstance(data, dict) else None


def _read_jsonl(path: Path) -> list[dict[str, Any]]:
    """The JSON-object lines of an optional file; broken lines are skipped."""
    try:
        lines = path.read_text(encoding="utf-8", errors="replace").splitlines()
    except (OSError, UnicodeDecodeError):
        return []
    records = []
    for line in lines:
        try:
            record = json.loads(line)
        except JSON_ERRORS:
            continue
        if isinstance(record, dict):
            records.append(record)
    return records


def require_run(run_dir: str | Path) -> Path:
    """The run folder as a Path, or a CheckpointError that says to train first."""
    run = Path(run_dir)
    if run.is_file():
        raise CheckpointError(
            f"{run} is a file, not a run folder: give the folder `gptlab train --out` created."
        )
    if not run.is_dir():
        raise CheckpointError(
            f"Run folder {run} does not exist: train first (gptlab train --out {run} ...) "
            "or check the path."
        )
    if not (run / "metrics.jsonl").is_file():
        raise CheckpointError(
            f"Run folder {run} has no metrics.jsonl, so there is nothing to report: train first "
            f"(gptlab train --out {run} ...), or point at the folder that `gptlab train` wrote."
        )
    return run


@dataclass(frozen=True)
class ParamSummary:
    """Parameter counts of the run's model (same convention as gptlab.model.gpt.ParamCount)."""

    total: int
    embedding: int
    non_embedding: int


def count_parameters(cfg: Config, vocab_size: int | None) -> ParamSummary | None:
    """Count the model's parameters on the meta device (no memory, no init cost)."""
    import torch

    from gptlab.model.gpt import GPT

    model_cfg = cfg.model
    if model_cfg.vocab_size <= 0:
        if not vocab_size:
            return None
        model_cfg = dataclasses.replace(model_cfg, vocab_size=vocab_size)
    with torch.device("meta"):
        count = GPT(model_cfg).num_params()
    return ParamSummary(count.total, count.embedding, count.non_embedding)


def preset_of(cfg: Config) -> str | None:
    """The preset whose model shape the config has, or None."""
    shape = ("n_layer", "n_head", "n_embd", "context_length")
    for preset in PRESETS.values():
        model = preset.settings.get("model", {})
        if all(k in model for k in shape) and all(model[k] == getattr(cfg.model, k) for k in shape):
            return preset.name
    return None


def _first(mapping: dict[str, Any] | None, *paths: str) -> Any:
    """The first present value among dotted key paths (for files whose keys may vary)."""
    for path in paths:
        node: Any = mapping
        for key in path.split("."):
            node = node.get(key) if isinstance(node, dict) else None
        if node not in (None, "", []):
            return node
    return None


@dataclass
class RunSummary:
    """Everything the report and compare pages show about one run."""

    path: Path
    name: str
    metrics: RunMetrics
    config: Config | None
    config_problem: str | None
    env: dict[str, Any] | None
    dataset_meta: dict[str, Any] | None
    eval_results: dict[str, Any] | None
    samples: list[dict[str, Any]]
    params: ParamSummary | None
    extras: dict[str, Any] = field(default_factory=dict)

    @property
    def final_eval(self) -> dict[str, Any]:
        return self.metrics.eval[-1] if self.metrics.eval else {}

    def final(self, key: str) -> float | None:
        """Last finite value of an eval-record field."""
        return final_value(self.metrics.eval, key)

    @property
    def train_loss(self) -> float | None:
        """Train loss of the last evaluation (eval mode), else of the last log step."""
        value = self.final("train_loss")
        return value if value is not None else final_value(self.metrics.train, "loss")

    @property
    def gap(self) -> float | None:
        _, gaps = generalisation_gap(self.metrics.eval[-1:])
        return float(gaps[0]) if gaps.size and math.isfinite(gaps[0]) else None

    @property
    def tokens_seen(self) -> float | None:
        records = [*self.metrics.train, *self.metrics.eval]
        if self.metrics.end:
            records.append(self.metrics.end)
        values = series(records, "tokens")
        return float(max(values[values == values])) if (values == values).any() else None

    @property
    def wall_s(self) -> float | None:
        end = self.metrics.end or {}
        if isinstance(end.get("elapsed_s"), int | float):
            return float(end["elapsed_s"])
        values = series([*self.metrics.train, *self.metrics.eval], "elapsed_s")
        finite = values[values == values]
        return float(finite.max()) if finite.size else None

    @property
    def tokens_per_s(self) -> float | None:
        """Median training throughput over the log steps (robust to eval and checkpoint dips)."""
        values = [v for v in series(self.metrics.train, "tokens_per_s") if v == v]
        return float(statistics.median(values)) if values else None

    @property
    def tokenizer_spec(self) -> dict[str, Any] | None:
        spec = _first(self.dataset_meta, "tokenizer")
        return spec if isinstance(spec, dict) else None

    @property
    def vocab_size(self) -> int | None:
        value = _first(self.dataset_meta, "vocab_size", "tokenizer.vocab_size")
        if isinstance(value, int):
            return value
        return (
            self.config.model.vocab_size if self.config and self.config.model.vocab_size else None
        )

    @property
    def tokenizer_label(self) -> str:
        spec = self.tokenizer_spec or {}
        kind = _first(spec, "kind", "name", "type")
        vocab = self.vocab_size
        label = str(kind) if kind else "unknown"
        return f"{label} ({vocab:,} ids)" if vocab else label

    @property
    def val_bytes_per_token(self) -> float | None:
        """UTF-8 bytes per token of the val split, from dataset_meta.json."""
        tokens = _first(self.dataset_meta, "splits.val.tokens")
        nbytes = _first(self.dataset_meta, "splits.val.bytes")
        if isinstance(tokens, int | float) and isinstance(nbytes, int | float) and tokens > 0:
            return float(nbytes) / float(tokens) if nbytes > 0 else None
        return None

    @property
    def bits_per_byte(self) -> float | None:
        """Final val loss in bits per byte of text: loss / ln 2 * tokens / bytes."""
        loss, bytes_per_token = self.final("val_loss"), self.val_bytes_per_token
        if loss is None or bytes_per_token is None:
            return None
        return loss / math.log(2) / bytes_per_token

    @property
    def shape(self) -> str:
        if self.config is None:
            return "unknown"
        m = self.config.model
        return f"{m.n_layer}L/{m.n_head}H/{m.n_embd}W/ctx{m.context_length}"


def summarize_run(run_dir: str | Path, name: str | None = None) -> RunSummary:
    """Read every file of a run folder that the pages use; optional files may be absent."""
    run = require_run(run_dir)
    config: Config | None = None
    problem: str | None = None
    try:
        config = load_config(run / "config.toml")
    except GptlabError as exc:
        problem = str(exc)
    dataset_meta = _read_json(run / "dataset_meta.json")
    summary = RunSummary(
        path=run,
        name=name or run.resolve().name,
        metrics=load_metrics(run / "metrics.jsonl"),
        config=config,
        config_problem=problem,
        env=_read_json(run / "env.json"),
        dataset_meta=dataset_meta,
        eval_results=_read_json(run / "eval.json"),
        samples=_read_jsonl(run / "samples.jsonl"),
        params=None,
    )
    if config is not None:
        try:
            summary.params = count_parameters(config, summary.vocab_size)
        except GptlabError as exc:
            summary.extras["params_problem"] = str(exc)
    return summary


# ---------------------------------------------------------------------------------------------
# Formatting helpers


def esc(value: object) -> str:
    """HTML-escape any value's text (quotes included, safe in attributes)."""
    return html.escape(str(value), quote=True)


def fmt_float(value: float | None, digits: int = 4) -> str:
    if value is None or not math.isfinite(value):
        return "-"
    return (
        f"{value:.{digits}g}" if abs(value) >= 1e4 or abs(value) < 1e-3 else f"{value:.{digits}f}"
    )


def fmt_percent(value: float | None) -> str:
    return "-" if value is None or not math.isfinite(value) else f"{100.0 * value:.1f}%"


def fmt_duration(seconds: float | None) -> str:
    if seconds is None or not math.isfinite(seconds):
        return "-"
    if seconds < 60:
        return f"{seconds:.1f} s"
    minutes, secs = divmod(round(seconds), 60)
    if minutes < 60:
        return f"{minutes}m {secs:02d}s"
    hours, minutes = divmod(minutes, 60)
    return f"{hours}h {minutes:02d}m"


def fmt_count(value: float | None) -> str:
    return "-" if value is None else format_count(value)


def _data_uri(png: bytes) -> str:
    return "data:image/png;base64," + base64.b64encode(png).decode("ascii")


def _figure(png: bytes, title: str, caption: str, wide: bool = False) -> str:
    return (
        f'<figure class="plot{" wide" if wide else ""}">'
        f'<img src="{_data_uri(png)}" alt="{esc(title)}">'
        f"<figcaption><strong>{esc(title)}.</strong> {esc(caption)}</figcaption></figure>"
    )


def _table(headers: Sequence[str], rows: Sequence[Sequence[str]], cls: str = "") -> str:
    """A table whose cells are already-escaped HTML."""
    head = "".join(f"<th>{h}</th>" for h in headers)
    body = "".join("<tr>" + "".join(f"<td>{c}</td>" for c in row) + "</tr>" for row in rows)
    return f'<table class="{cls}"><thead><tr>{head}</tr></thead><tbody>{body}</tbody></table>'


def _kv_table(rows: Sequence[tuple[str, str]]) -> str:
    body = "".join(f"<tr><th>{k}</th><td>{v}</td></tr>" for k, v in rows)
    return f'<table class="kv"><tbody>{body}</tbody></table>'


CSS = """
:root{--ink:#111827;--muted:#6b7280;--line:#e5e7eb;--bg:#f5f6f8;--card:#fff;--accent:#2563eb;
--val:#dc2626;--gap:#b45309;--mono:ui-monospace,SFMono-Regular,Menlo,Consolas,monospace}
*{box-sizing:border-box}
html{-webkit-text-size-adjust:100%}
body{margin:0;background:var(--bg);color:var(--ink);
font:15px/1.55 system-ui,-apple-system,"Segoe UI",Roboto,"Helvetica Neue",Arial,sans-serif}
.hero{background:linear-gradient(120deg,#0f172a,#1e3a8a 70%,#2563eb);color:#fff}
.hero .inner,main,footer{max-width:1180px;margin:0 auto;padding-left:28px;padding-right:28px}
.hero .inner{padding-top:30px;padding-bottom:26px}
.eyebrow{text-transform:uppercase;letter-spacing:.12em;font-size:12px;opacity:.75;margin:0}
.hero h1{margin:4px 0 14px;font-size:30px;font-weight:650;letter-spacing:-.01em;
overflow-wrap:anywhere}
.meta{display:grid;grid-template-columns:repeat(auto-fit,minmax(220px,1fr));gap:6px 24px;
margin:0;font-size:13.5px}
.meta div{min-width:0}.meta dt{opacity:.7;font-size:12px}
.meta dd{margin:0;overflow-wrap:anywhere}
.meta code{font-family:var(--mono);font-size:12.5px;background:rgba(255,255,255,.12);
padding:1px 5px;border-radius:4px}
nav.toc{display:flex;flex-wrap:wrap;gap:6px 18px;margin-top:18px;font-size:13.5px}
nav.toc a{color:#dbeafe;text-decoration:none;border-bottom:1px solid rgba(219,234,254,.35)}
main{padding-top:26px;padding-bottom:20px}
section{margin:0 0 34px}
h2{font-size:20px;margin:0 0 4px;letter-spacing:-.01em}
.lede{color:var(--muted);margin:0 0 16px;font-size:14px}
.cards{display:grid;grid-template-columns:repeat(auto-fit,minmax(148px,1fr));gap:12px}
.card{background:var(--card);border:1px solid var(--line);border-radius:12px;padding:14px 16px;
box-shadow:0 1px 2px rgba(16,24,40,.04)}
.card .label{color:var(--muted);font-size:12.5px;text-transform:uppercase;letter-spacing:.06em}
.card .value{font-size:24px;font-weight:650;margin-top:2px;font-variant-numeric:tabular-nums}
.card .sub{color:var(--muted);font-size:12.5px}
.plots{display:grid;grid-template-columns:repeat(2,minmax(0,1fr));gap:18px}
figure.plot{margin:0;background:var(--card);border:1px solid var(--line);border-radius:12px;
padding:10px 12px 12px;box-shadow:0 1px 2px rgba(16,24,40,.04)}
figure.plot.wide{grid-column:1/-1}
figure.plot img{width:100%;height:auto;display:block}
figure.plot.wide img{max-width:900px;margin:0 auto}
figcaption{font-size:13px;color:#374151;margin-top:6px}
table{border-collapse:collapse;width:100%;background:var(--card);font-size:13.5px;
font-variant-numeric:tabular-nums}
.tablewrap{overflow-x:auto;border:1px solid var(--line);border-radius:12px;background:var(--card)}
th,td{text-align:left;padding:7px 12px;border-bottom:1px solid var(--line);vertical-align:top}
thead th{background:#f9fafb;color:#374151;font-weight:600;font-size:12.5px;white-space:nowrap}
tbody tr:last-child td,tbody tr:last-child th{border-bottom:0}
table.num td:not(:first-child){text-align:right}
table.num th:not(:first-child){text-align:right}
table.compare td,table.compare th{white-space:nowrap;padding:7px 8px}
table.compare td:nth-child(-n+5),table.compare th:nth-child(-n+5){text-align:left}
table.kv th{width:42%;font-weight:500;color:#374151;background:transparent}
table.kv td{font-family:var(--mono);font-size:12.5px;overflow-wrap:anywhere}
.grid2{display:grid;grid-template-columns:repeat(auto-fit,minmax(320px,1fr));gap:18px}
.panel{background:var(--card);border:1px solid var(--line);border-radius:12px;overflow:hidden}
.panel h3{margin:0;padding:10px 14px;font-size:14.5px;border-bottom:1px solid var(--line);
background:#f9fafb}
.panel table{border:0}
.changed{color:var(--accent);font-weight:600}
.tag{display:inline-block;font-size:11px;font-family:system-ui,sans-serif;color:var(--accent);
border:1px solid #bfdbfe;background:#eff6ff;border-radius:999px;padding:0 7px;margin-left:6px}
.note{background:#fffbeb;border:1px solid #fde68a;color:#78350f;border-radius:10px;
padding:10px 14px;font-size:14px;margin:0 0 14px}
.samples{display:grid;gap:12px}
.sample{background:var(--card);border:1px solid var(--line);border-radius:12px;padding:12px 16px}
.sample .when{font-size:12.5px;color:var(--muted);margin-bottom:6px}
.sample .when b{color:var(--ink)}
.sample p{margin:6px 0 0;white-space:pre-wrap;overflow-wrap:anywhere;
font-family:Georgia,"Iowan Old Style","Times New Roman",serif;font-size:15.5px;line-height:1.6}
.sample .prompt{background:#dbeafe;border-radius:3px;padding:0 2px}
.viz{display:grid;grid-template-columns:repeat(auto-fill,minmax(340px,1fr));gap:14px}
.viz figure{margin:0;background:var(--card);border:1px solid var(--line);border-radius:12px;
padding:8px}
.viz img{width:100%;height:auto;display:block}
.viz figcaption{font-family:var(--mono);font-size:12px}
.good{color:#047857}.bad{color:var(--val)}
footer{color:var(--muted);font-size:12.5px;padding-top:10px;padding-bottom:30px;
border-top:1px solid var(--line)}
code{font-family:var(--mono);font-size:.92em}
@media (max-width:760px){.plots{grid-template-columns:1fr}.hero h1{font-size:24px}}
@media print{.hero{background:#1e3a8a;-webkit-print-color-adjust:exact;print-color-adjust:exact}
figure,.sample,.panel{break-inside:avoid}}
"""


def _page(title: str, hero: str, body: str, footer: str) -> str:
    return (
        "<!DOCTYPE html>\n"
        '<html lang="en"><head><meta charset="utf-8">'
        '<meta name="viewport" content="width=device-width,initial-scale=1">'
        f"<title>{esc(title)}</title><style>{CSS}</style></head><body>"
        f'<header class="hero"><div class="inner">{hero}</div></header>'
        f"<main>{body}</main><footer>{footer}</footer></body></html>\n"
    )


# ---------------------------------------------------------------------------------------------
# The run report


def _run_date(summary: RunSummary) -> str:
    value = _first(summary.env, "created", "started", "start_time", "time", "date", "timestamp")
    if isinstance(value, str):
        return value
    if isinstance(value, int | float):
        return dt.datetime.fromtimestamp(value, dt.timezone.utc).strftime("%Y-%m-%d %H:%M UTC")
    # The metrics file's mtime is an input, so a regenerated report still has the same bytes.
    mtime = (summary.path / "metrics.jsonl").stat().st_mtime
    return dt.datetime.fromtimestamp(mtime, dt.timezone.utc).strftime("%Y-%m-%d %H:%M UTC")


def _command_line(summary: RunSummary) -> str | None:
    value = _first(summary.env, "command_line", "argv", "command", "cmd")
    if isinstance(value, list):
        return " ".join(str(v) for v in value)
    return str(value) if value is not None else None


def _device(summary: RunSummary) -> str:
    value = _first(summary.env, "device_name", "device.name", "gpu", "device", "runtime.device")
    if isinstance(value, dict):
        value = ", ".join(f"{k}={v}" for k, v in value.items())
    if value is None and summary.config is not None:
        value = summary.config.train.device
    world = _first(summary.env, "world_size", "runtime.world_size")
    text = str(value) if value is not None else "unknown"
    return f"{text} x {world}" if isinstance(world, int) and world > 1 else text


def _hero(summary: RunSummary, sections: Sequence[tuple[str, str]]) -> str:
    commit = _first(summary.env, "git_commit", "git.commit", "commit", "git_sha")
    dirty = _first(summary.env, "git_dirty", "git.dirty")
    commit_text = f"<code>{esc(str(commit)[:12])}</code>" if commit else "not recorded"
    if commit and dirty is True:
        commit_text += " (uncommitted changes)"
    command = _command_line(summary)
    end = summary.metrics.end or {}
    items = [
        ("Date", esc(_run_date(summary))),
        ("Device", esc(_device(summary))),
        ("Git commit", commit_text),
        (
            "Stopped",
            esc(end.get("reason", "still running or killed"))
            if summary.metrics.end
            else "no end record (still running, or stopped early)",
        ),
    ]
    meta = "".join(f"<div><dt>{k}</dt><dd>{v}</dd></div>" for k, v in items)
    if command:
        meta += (
            '<div style="grid-column:1/-1"><dt>Command line</dt>'
            f"<dd><code>{esc(command)}</code></dd></div>"
        )
    toc = "".join(f'<a href="#{anchor}">{esc(label)}</a>' for anchor, label in sections)
    return (
        '<p class="eyebrow">gptlab run report</p>'
        f'<h1>{esc(summary.name)}</h1><dl class="meta">{meta}</dl>'
        f'<nav class="toc">{toc}</nav>'
    )


def _card(label: str, value: str, sub: str = "") -> str:
    sub_html = f'<div class="sub">{sub}</div>' if sub else ""
    return (
        f'<div class="card"><div class="label">{esc(label)}</div>'
        f'<div class="value">{value}</div>{sub_html}</div>'
    )


def _summary_cards(s: RunSummary) -> str:
    val_loss = s.final("val_loss")
    best = min((v for v in series(s.metrics.eval, "val_loss") if v == v), default=None)
    gap = s.gap
    gap_text = f"gap {gap:+.3f}" if gap is not None else "no train loss at eval"
    bpb = s.bits_per_byte
    cards = [
        _card(
            "Val loss",
            esc(fmt_float(val_loss)),
            esc(f"best {fmt_float(best)} · {gap_text}" if best is not None else gap_text),
        ),
        _card(
            "Val perplexity",
            esc(fmt_float(s.final("val_ppl"), 3)),
            esc(f"{fmt_float(bpb, 3)} bits per byte" if bpb is not None else "bits/byte unknown"),
        ),
        _card(
            "Val accuracy",
            esc(fmt_percent(s.final("val_acc"))),
            esc(f"top-5 {fmt_percent(s.final('val_acc_top5'))}"),
        ),
        _card(
            "Tokens seen",
            esc(fmt_count(s.tokens_seen)),
            esc(f"{len(s.metrics.train)} log steps · {len(s.metrics.eval)} evals"),
        ),
        _card("Wall time", esc(fmt_duration(s.wall_s)), esc(f"final step {_last_step(s)}")),
        _card("Tokens / s", esc(fmt_count(s.tokens_per_s)), "median over log windows"),
    ]
    if s.params is not None:
        cards.append(
            _card(
                "Parameters",
                esc(format_count(s.params.total)),
                esc(f"{format_count(s.params.non_embedding)} non-embedding · {s.shape}"),
            )
        )
    else:
        cards.append(_card("Parameters", "-", esc(s.shape)))
    return f'<div class="cards">{"".join(cards)}</div>'


def _last_step(s: RunSummary) -> str:
    steps = series(
        [*s.metrics.train, *s.metrics.eval, *([s.metrics.end] if s.metrics.end else [])], "step"
    )
    finite = steps[steps == steps]
    return f"{int(finite.max()):,}" if finite.size else "-"


def _curves_section(s: RunSummary, plots: Sequence[Plot]) -> str:
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
    wide = {"loss_steps.png"}
    figures = "".join(
        _figure(p.path.read_bytes(), p.title, p.caption, wide=p.path.name in wide) for p in plots
    )
    notes_html = "".join(f'<p class="note">{esc(n)}</p>' for n in notes)
    return (
        '<section id="curves"><h2>Training curves</h2>'
        '<p class="lede">Loss is cross-entropy in nats per token; eval-time train and val losses '
        "are measured the same way, in eval mode, on the same number of batches.</p>"
        f'{notes_html}<div class="plots">{figures}</div>{_eval_table(s)}</section>'
    )


def _eval_table(s: RunSummary) -> str:
    if not s.metrics.eval:
        return ""
    rows = []
    for record in s.metrics.eval:
        val, train = record.get("val_loss"), record.get("train_loss")
        gap = (
            val - train if isinstance(val, int | float) and isinstance(train, int | float) else None
        )
        gap_cls = "bad" if gap is not None and gap > 0.05 else ""
        rows.append(
            [
                esc(f"{int(record.get('step', 0)):,}"),
                esc(fmt_count(record.get("tokens"))),
                esc(fmt_float(train)),
                esc(fmt_float(val)),
                f'<span class="{gap_cls}">{esc(fmt_float(gap, 3))}</span>',
                esc(fmt_float(record.get("val_ppl"), 3)),
                esc(fmt_percent(record.get("val_acc"))),
                esc(fmt_percent(record.get("val_acc_top5"))),
                esc(fmt_duration(record.get("elapsed_s"))),
            ]
        )
    headers = [
        "step",
        "tokens",
        "train loss",
        "val loss",
        "gap",
        "val ppl",
        "val acc",
        "val top-5",
        "elapsed",
    ]
    return (
        '<h3 style="margin:22px 0 8px;font-size:15px">Every evaluation</h3>'
        f'<div class="tablewrap">{_table(headers, rows, "num")}</div>'
    )


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


def _eval_value(key: str, value: Any) -> str:
    if isinstance(value, bool) or not isinstance(value, int | float):
        return esc(value if not isinstance(value, list | dict) else json.dumps(value))
    if key.startswith("acc"):
        return esc(fmt_percent(float(value)))
    if isinstance(value, int):
        return esc(f"{value:,}")
    return esc(fmt_float(float(value)))


def _evaluation_section(s: RunSummary) -> str:
    results = s.eval_results
    if not results:
        body = (
            '<p class="note">No eval.json in this run yet. Run <code>gptlab eval '
            f"{esc(s.path)}</code> for loss, perplexity and bits per byte on a split or any text "
            "file, and HellaSwag / LAMBADA, then regenerate this report.</p>"
        )
    else:
        flat = [(k, v) for k, v in results.items() if not isinstance(v, dict)]
        panels = (
            [
                '<div class="panel"><h3>Language modelling</h3>'
                + _kv_table([(esc(EVAL_LABELS.get(k, k)), _eval_value(k, v)) for k, v in flat])
                + "</div>"
            ]
            if flat
            else []
        )
        for name, sub in results.items():
            if isinstance(sub, dict):
                panels.append(
                    f'<div class="panel"><h3>{esc(name)}</h3>'
                    + _kv_table(
                        [(esc(EVAL_LABELS.get(k, k)), _eval_value(k, v)) for k, v in sub.items()]
                    )
                    + "</div>"
                )
        body = f'<div class="grid2">{"".join(panels)}</div>'
    return (
        '<section id="evaluation"><h2>Evaluation</h2>'
        '<p class="lede">Results written by <code>gptlab eval</code> (eval.json).</p>'
        f"{body}</section>"
    )


def _pick_evenly(items: Sequence[Any], limit: int) -> list[Any]:
    if len(items) <= limit:
        return list(items)
    picks = sorted({round(i * (len(items) - 1) / (limit - 1)) for i in range(limit)})
    return [items[i] for i in picks]


def _samples_section(s: RunSummary) -> str:
    by_step: dict[int, list[dict[str, Any]]] = {}
    for record in s.samples:
        step = record.get("step")
        if is_whole_number(step):
            by_step.setdefault(int(step), []).append(record)
    if not by_step:
        body = '<p class="note">No samples were logged (samples.jsonl is absent or empty).</p>'
    else:
        steps = _pick_evenly(sorted(by_step), MAX_SAMPLE_STEPS)
        cards = []
        for step in reversed(steps):
            texts = []
            for record in by_step[step]:
                prompt, text = str(record.get("prompt", "")), str(record.get("text", ""))
                # text is the continuation; tolerate writers that repeat the prompt in it.
                if prompt and text.startswith(prompt):
                    texts.append(
                        f'<p><span class="prompt">{esc(prompt)}</span>'
                        f"{esc(text[len(prompt) :])}</p>"
                    )
                else:
                    texts.append(f'<p><span class="prompt">{esc(prompt)}</span>{esc(text)}</p>')
            tokens = by_step[step][0].get("tokens")
            cards.append(
                f'<div class="sample"><div class="when"><b>step {step:,}</b> · '
                f"{esc(fmt_count(tokens))} tokens seen</div>{''.join(texts)}</div>"
            )
        shown = (
            f" Showing {len(steps)} of {len(by_step)} evaluations (evenly spaced); all are in "
            "samples.jsonl."
            if len(steps) < len(by_step)
            else ""
        )
        body = (
            f'<p class="lede">Newest first; the prompt is highlighted.{esc(shown)}</p>'
            f'<div class="samples">{"".join(cards)}</div>'
        )
    return f'<section id="samples"><h2>Samples during training</h2>{body}</section>'


def _viz_section(s: RunSummary) -> str:
    viz = s.path / "viz"
    images = sorted(viz.glob("*.png")) if viz.is_dir() else []
    if not images:
        return ""
    shown = images[:MAX_VIZ_IMAGES]
    figures = "".join(
        f'<figure><img src="{_data_uri(p.read_bytes())}" alt="{esc(p.stem)}">'
        f"<figcaption>{esc(p.name)}</figcaption></figure>"
        for p in shown
    )
    more = (
        f" Showing {len(shown)} of {len(images)} pictures; the rest are in viz/."
        if len(shown) < len(images)
        else ""
    )
    return (
        '<section id="viz"><h2>Attention and activations</h2>'
        '<p class="lede">Pictures written by <code>gptlab viz</code>: attention heatmaps per layer '
        f"and head, residual-stream norms and MLP activations.{esc(more)}</p>"
        f'<div class="viz">{figures}</div></section>'
    )


def _shorten(text: str, limit_chars: int = 400) -> str:
    return text if len(text) <= limit_chars else text[: limit_chars - 1] + "…"


def _as_dict(value: Any) -> dict[str, Any]:
    return value if isinstance(value, dict) else {}


def _shard_count(split: dict[str, Any]) -> int | str:
    shards = split.get("shards")
    return len(shards) if isinstance(shards, list) else "-"


def _dataset_section(s: RunSummary) -> str:
    meta = s.dataset_meta
    if not meta:
        return (
            '<section id="dataset"><h2>Dataset</h2><p class="note">This run has no '
            "dataset_meta.json, so the dataset cannot be described here.</p></section>"
        )
    spec = s.tokenizer_spec or {}
    filt = _as_dict(meta.get("filter"))
    info = [
        ("source", esc(meta.get("source", "-"))),
        ("created", esc(meta.get("created", "-"))),
        ("tokenizer", esc(s.tokenizer_label)),
        ("tokenizer spec", esc(_shorten(json.dumps(spec, sort_keys=True))) if spec else "-"),
        ("EOS id", esc(meta.get("eos_id", "-"))),
        ("token dtype", esc(meta.get("token_dtype", "-"))),
        (
            "length filter (tokens)",
            esc(f"min {filt.get('min_tokens', '-')}, max {filt.get('max_tokens', '-')} (0 = none)"),
        ),
        ("val fraction · seed", esc(f"{meta.get('val_fraction', '-')} · {meta.get('seed', '-')}")),
    ]
    if s.config is not None:
        info.insert(0, ("folder (data.path)", esc(s.config.data.path)))
    rows = []
    splits = _as_dict(meta.get("splits"))
    for name, split in splits.items():
        if not isinstance(split, dict):
            continue
        tokens, nbytes = split.get("tokens"), split.get("bytes")
        ratio = (
            f"{nbytes / tokens:.2f}"
            if isinstance(tokens, int | float) and isinstance(nbytes, int | float) and tokens
            else "-"
        )
        rows.append(
            [esc(name)]
            + [
                esc(f"{split[k]:,}" if isinstance(split.get(k), int) else "-")
                for k in ("documents", "dropped_short", "dropped_long", "tokens", "bytes")
            ]
            + [esc(ratio), esc(_shard_count(split))]
        )
    headers = [
        "split",
        "documents",
        "dropped short",
        "dropped long",
        "tokens",
        "bytes",
        "bytes / token",
        "shards",
    ]
    return (
        '<section id="dataset"><h2>Dataset</h2>'
        '<p class="lede">From the copy of the dataset\'s meta.json kept in the run '
        "(dataset_meta.json). Word statistics and plots: <code>gptlab analyze "
        f"{esc(s.config.data.path if s.config else '<dataset>')}</code>.</p>"
        f'<div class="tablewrap">{_table(headers, rows, "num")}</div>'
        f'<div class="panel" style="margin-top:18px"><h3>Source and tokenizer</h3>'
        f"{_kv_table(info)}</div></section>"
    )


def _config_section(s: RunSummary) -> str:
    if s.config is None:
        return (
            '<section id="config"><h2>Configuration</h2><p class="note">'
            f"config.toml could not be read: {esc(s.config_problem)}</p></section>"
        )
    values, defaults = config_to_dict(s.config), config_to_dict(Config())
    panels = []
    for section, fields in values.items():
        rows = []
        for key, value in fields.items():
            changed = defaults[section].get(key) != value
            shown = json.dumps(value) if isinstance(value, list | bool) else str(value)
            cell = f'<span class="changed">{esc(shown)}</span>' if changed else esc(shown)
            rows.append((esc(key), cell))
        panels.append(f'<div class="panel"><h3>[{esc(section)}]</h3>{_kv_table(rows)}</div>')
    preset = preset_of(s.config)
    preset_text = (
        f" The model shape matches the <code>{esc(preset)}</code> preset." if preset else ""
    )
    return (
        '<section id="config"><h2>Configuration</h2>'
        '<p class="lede">The resolved config.toml of the run; values that differ from the '
        f'built-in defaults are <span class="changed">highlighted</span>.{preset_text}</p>'
        f'<div class="grid2">{"".join(panels)}</div></section>'
    )


def _footer(note: str) -> str:
    return (
        f"<p>Generated by gptlab. {esc(note)} This page is self-contained: pictures are embedded "
        "and nothing is loaded from the network.</p>"
    )


def render_report(s: RunSummary, plots: Sequence[Plot]) -> str:
    """The report page of a run as one HTML string."""
    sections = [
        ("curves", "Training curves"),
        ("evaluation", "Evaluation"),
        ("samples", "Samples"),
    ]
    viz = _viz_section(s)
    if viz:
        sections.append(("viz", "Attention and activations"))
    sections += [("dataset", "Dataset"), ("config", "Configuration")]
    body = (
        f'<section id="summary">{_summary_cards(s)}</section>'
        + _curves_section(s, plots)
        + _evaluation_section(s)
        + _samples_section(s)
        + viz
        + _dataset_section(s)
        + _config_section(s)
    )
    footer = _footer(f"Run folder: {s.path}. Regenerate with `gptlab report {s.path}`.")
    return _page(f"{s.name} · gptlab report", _hero(s, sections), body, footer)


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


# ---------------------------------------------------------------------------------------------
# Comparing runs


@dataclass(frozen=True)
class CompareRow:
    """One run in a comparison; None where the run did not record the value."""

    rank: int
    name: str
    path: str
    shape: str
    preset: str | None
    parameters: int | None
    non_embedding_parameters: int | None
    tokenizer: str
    train_loss: float | None
    val_loss: float | None
    val_ppl: float | None
    val_acc: float | None
    gap: float | None
    bits_per_byte: float | None
    tokens: float | None
    wall_s: float | None
    tokens_per_s: float | None


@dataclass(frozen=True)
class Comparison:
    """The ranked rows of a comparison and the files written for it."""

    rows: list[CompareRow]
    ranked_by: str
    """val_loss when every run shares one tokenizer, else bits_per_byte."""
    note: str
    paths: list[Path]

    def table(self) -> tuple[list[str], list[list[str]]]:
        """Column headers and plain-text cells, shared by the Markdown, HTML and terminal tables."""
        headers = [
            "#",
            "run",
            "shape",
            "params",
            "tokenizer",
            "train loss",
            "val loss",
            "val ppl",
            "val acc",
            "gap",
            "bits/byte",
            "tokens",
            "time",
            "tokens/s",
        ]
        cells = []
        for r in self.rows:
            shape = f"{r.shape} ({r.preset})" if r.preset else r.shape
            cells.append(
                [
                    str(r.rank),
                    r.name,
                    shape,
                    fmt_count(r.parameters),
                    r.tokenizer,
                    fmt_float(r.train_loss),
                    fmt_float(r.val_loss),
                    fmt_float(r.val_ppl, 3),
                    fmt_percent(r.val_acc),
                    fmt_float(r.gap, 3),
                    fmt_float(r.bits_per_byte, 3),
                    fmt_count(r.tokens),
                    fmt_duration(r.wall_s),
                    fmt_count(r.tokens_per_s),
                ]
            )
        return headers, cells

    def markdown(self) -> str:
        headers, cells = self.table()

        def line(items: Sequence[str]) -> str:
            return "| " + " | ".join(c.replace("|", "\\|") for c in items) + " |"

        lines = [line(headers), "|" + "|".join("---" for _ in headers) + "|"]
        lines += [line(row) for row in cells]
        return "\n".join(lines) + f"\n\n{self.note}\n"


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


def _rank_key(value: float | None) -> tuple[bool, float]:
    return (value is None, value if value is not None else 0.0)


def compare_runs(run_dirs: Sequence[str | Path], out_dir: str | Path | None = None) -> Comparison:
    """Compare runs: one ranked table and overlaid curves in out_dir (default ./compare).

    Writes compare.csv, compare.md, compare.html and the overlay PNGs. Runs are ranked by final
    val loss, or by bits per byte of val when their tokenizers differ (losses over different
    vocabularies are not comparable).
    """
    if not run_dirs:
        raise GptlabError("Give at least one run folder to compare (gptlab compare RUN [RUN ...]).")
    paths = [Path(p) for p in run_dirs]
    for path in paths:
        if not path.is_dir() or not (path / "metrics.jsonl").is_file():
            what = "does not exist" if not path.is_dir() else "has no metrics.jsonl"
            raise CheckpointError(
                f"Cannot compare: run folder {path} {what}. Train it first "
                f"(gptlab train --out {path} ...) or leave it out of the list."
            )
    summaries = [summarize_run(p, n) for p, n in zip(paths, _unique_names(paths), strict=True)]
    tokenizers = sorted({_tokenizer_key(s) for s in summaries})
    same_tokenizer = len(tokenizers) == 1
    ranked_by = "val_loss" if same_tokenizer else "bits_per_byte"
    if same_tokenizer:
        order = sorted(summaries, key=lambda s: _rank_key(s.final("val_loss")))
        note = (
            "Ranked by final val loss (all runs use the same tokenizer). Bits per byte = val "
            "loss / ln 2 x val tokens / val bytes, from each run's dataset_meta.json."
        )
    else:
        labels = ", ".join(sorted({s.tokenizer_label for s in summaries}))
        order = sorted(summaries, key=lambda s: _rank_key(s.bits_per_byte))
        note = (
            f"These runs use different tokenizers ({labels}), so loss and perplexity are per "
            "token of different vocabularies and not comparable; the runs are ranked by bits per "
            "byte of val text (val loss / ln 2 x val tokens / val bytes), which is."
        )
    rows = [
        CompareRow(
            rank=i + 1,
            name=s.name,
            path=str(s.path),
            shape=s.shape,
            preset=preset_of(s.config) if s.config else None,
            parameters=s.params.total if s.params else None,
            non_embedding_parameters=s.params.non_embedding if s.params else None,
            tokenizer=s.tokenizer_label,
            train_loss=s.train_loss,
            val_loss=s.final("val_loss"),
            val_ppl=s.final("val_ppl"),
            val_acc=s.final("val_acc"),
            gap=s.gap,
            bits_per_byte=s.bits_per_byte,
            tokens=s.tokens_seen,
            wall_s=s.wall_s,
            tokens_per_s=s.tokens_per_s,
        )
        for i, s in enumerate(order)
    ]
    out = Path(out_dir) if out_dir is not None else Path("compare")
    check_output(out, COMPARISON, overwrite=True, inputs=[Path(r) for r in run_dirs])
    comparison = Comparison(rows=rows, ranked_by=ranked_by, note=note, paths=[])
    names = ["compare.csv", "compare.md", "compare.html"]
    # Written into a hidden folder that replaces out whole: a full disk leaves the old one.
    with atomic_directory(out, overwrite=True) as tmp:
        plots = plot_overlays(
            [OverlayRun(s.name, s.metrics, s.val_bytes_per_token) for s in order], tmp
        )
        atomic_write_text(tmp / names[0], _compare_csv(rows))
        atomic_write_text(tmp / names[1], "# Run comparison\n\n" + comparison.markdown())
        atomic_write_text(tmp / names[2], _compare_html(comparison, plots))
    written = [out / name for name in names] + [out / p.path.name for p in plots]
    return dataclasses.replace(comparison, paths=written)


def _compare_csv(rows: Sequence[CompareRow]) -> str:
    buffer = io.StringIO()
    names = [f.name for f in dataclasses.fields(CompareRow)]
    writer = csv.DictWriter(buffer, fieldnames=names, lineterminator="\n")
    writer.writeheader()
    for row in rows:
        writer.writerow({k: ("" if v is None else v) for k, v in dataclasses.asdict(row).items()})
    return buffer.getvalue()


def _compare_html(c: Comparison, plots: Sequence[Plot]) -> str:
    headers, cells = c.table()
    rows = [[esc(cell) for cell in row] for row in cells]
    key_col = headers.index("val loss" if c.ranked_by == "val_loss" else "bits/byte")
    for row in rows:
        row[key_col] = f"<strong>{row[key_col]}</strong>"
    note_cls = "lede" if c.ranked_by == "val_loss" else "note"
    figures = "".join(_figure(p.path.read_bytes(), p.title, p.caption) for p in plots)
    hero = (
        '<p class="eyebrow">gptlab comparison</p>'
        f"<h1>{len(c.rows)} run{'s' if len(c.rows) != 1 else ''}</h1>"
        f'<dl class="meta"><div><dt>Runs</dt><dd>{esc(", ".join(r.name for r in c.rows))}</dd>'
        f"</div><div><dt>Ranked by</dt><dd>{esc(c.ranked_by.replace('_', ' '))}</dd></div></dl>"
    )
    body = (
        '<section id="table"><h2>Runs</h2>'
        f'<p class="{note_cls}">{esc(c.note)}</p>'
        f'<div class="tablewrap">{_table([esc(h) for h in headers], rows, "num compare")}</div>'
        '<p class="lede" style="margin-top:10px">Train loss is measured at the last evaluation '
        "(eval mode); gap = val loss - train loss there; tokens/s is the median over log steps."
        "</p></section>"
        f'<section id="curves"><h2>Curves</h2><div class="plots">{figures}</div></section>'
    )
    return _page("gptlab comparison", hero, body, _footer("Regenerate with `gptlab compare`."))
