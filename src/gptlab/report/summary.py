"""A run folder -> RunSummary: the one definition of every headline number gptlab shows.

The terminal summary of `gptlab train`, report.html, compare (page, CSV, terminal) and sweep all
read their numbers here, so one meaning has one value everywhere, with a label naming its source:
- train loss: the mean over the last log window ("mean of last 20 steps at step 500");
- val loss, perplexity, accuracy, bits per byte: the `gptlab eval` result on the val split
  (eval.json "split:val") when it is at least as new as the last training evaluation, else the
  training-time estimate on train.eval_batches batches ("20-batch estimate at step 500");
- train accuracy and the gap: the last training evaluation (eval mode, the same batch count).
Trade-off: optional files that are missing or damaged are treated as absent (the page says so)
rather than as errors, so a report can always be drawn, even mid-run.
"""

from __future__ import annotations

import dataclasses
import json
import math
import statistics
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from gptlab.config import PRESETS, Config, load_config
from gptlab.errors import CheckpointError, GptlabError
from gptlab.jsonio import JSON_ERRORS
from gptlab.report.records import RunMetrics, load_metrics, log_window_steps, series

HELLASWAG_CHANCE = 0.25
"""Four endings per row: guessing scores 25%."""


def read_json_object(path: Path) -> dict[str, Any] | None:
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


def require_run(run_dir: str | Path, *, allow_eval_only: bool = False) -> Path:
    """The run folder as a Path, or a CheckpointError that says to train first.

    allow_eval_only accepts a folder with eval.json and no metrics.jsonl (a run made by
    `gptlab import-hf` and scored by `gptlab eval`): it has numbers but no curves.
    """
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
    if (run / "metrics.jsonl").is_file():
        return run
    if allow_eval_only and (run / "eval.json").is_file() and (run / "config.toml").is_file():
        return run
    also = " or eval.json (gptlab eval RUN)" if allow_eval_only else ""
    raise CheckpointError(
        f"Run folder {run} has no metrics.jsonl{also}, so there is nothing to report: train "
        f"first (gptlab train --out {run} ...), or point at the folder that `gptlab train` wrote."
    )


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


def first_of(mapping: dict[str, Any] | None, *paths: str) -> Any:
    """The first present value among dotted key paths (for files whose keys may vary)."""
    for path in paths:
        node: Any = mapping
        for key in path.split("."):
            node = node.get(key) if isinstance(node, dict) else None
        if node not in (None, "", []):
            return node
    return None


def _number(value: Any) -> float | None:
    if isinstance(value, bool) or not isinstance(value, int | float):
        return None
    return float(value) if math.isfinite(value) else None


def standard_error(p: float, n: int) -> float:
    """Standard error of an accuracy p measured on n independent examples: sqrt(p(1-p)/n)."""
    return math.sqrt(p * (1.0 - p) / n) if n > 0 else math.nan


@dataclass(frozen=True)
class Measure:
    """One headline number and where it comes from."""

    value: float | None
    source: str
    """How it was measured, e.g. "mean of last 20 steps at step 500"; shown beside the value."""
    stderr: float | None = None
    """Standard error, where the number is an accuracy over independent examples."""
    chance: float | None = None
    """What guessing scores, where that is known (HellaSwag: 0.25)."""


_NONE = Measure(None, "not measured")


@dataclass
class RunSummary:
    """Everything the pages and the terminal show about one run."""

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
    def preset_label(self) -> str | None:
        """Where the model shape came from: "seed-29m" when the run was started from that preset
        with its shape, "seed-29m, reshaped" when --set changed it, "shape of NAME" for a run
        without a recorded preset (e.g. imported) whose shape matches one; else None."""
        logged = (self.env or {}).get("command_line")
        argv: list[Any] = logged if isinstance(logged, list) else []
        started = None
        for i, arg in enumerate(argv):
            if arg == "--preset" and i + 1 < len(argv):
                started = str(argv[i + 1])
            elif isinstance(arg, str) and arg.startswith("--preset="):
                started = arg.removeprefix("--preset=")
        matched = preset_of(self.config) if self.config else None
        if started:
            return started if matched == started else f"{started}, reshaped"
        return f"shape of {matched}" if matched else None

    # -- where the numbers come from ------------------------------------------------------------

    @property
    def last_eval(self) -> dict[str, Any]:
        return self.metrics.eval[-1] if self.metrics.eval else {}

    def final(self, key: str) -> float | None:
        """The last evaluation record's value of a field (the training-time estimate)."""
        return _number(self.last_eval.get(key))

    @property
    def eval_batches(self) -> int | None:
        """Batches per training-time evaluation: from the eval record, else a fixed config."""
        logged = self.last_eval.get("eval_batches")
        if isinstance(logged, int) and logged > 0:
            return logged
        configured = self.config.train.eval_batches if self.config else 0
        return configured if configured > 0 else None

    def _estimate_source(self, what: str = "") -> str:
        batches = (
            f"{self.eval_batches}-batch estimate" if self.eval_batches else "training-time estimate"
        )
        label = batches + what
        if self.config is not None and self.config.data.batch_mode == "document":
            # Document mode scores each sampled document from its start, cut at the context.
            label += f", documents' first {self.config.model.context_length:,} tokens"
        step = self.last_eval.get("step")
        return f"{label} at step {step:,}" if isinstance(step, int) else label

    @property
    def full_val(self) -> dict[str, Any] | None:
        """eval.json's "split:val" result when it is at least as new as the last training eval."""
        result = (self.eval_results or {}).get("split:val")
        if not isinstance(result, dict) or _number(result.get("loss")) is None:
            return None
        last_step = self.last_eval.get("step")
        step = result.get("step")
        if isinstance(last_step, int) and (not isinstance(step, int) or step < last_step):
            return None
        return result

    def _full_val_source(self, result: dict[str, Any]) -> str:
        tokens = result.get("tokens")
        split_tokens = first_of(self.dataset_meta, "splits.val.tokens")
        cap = result.get("max_tokens")
        by_documents = result.get("windows") == "documents"
        if by_documents:
            # Each document's first token is never scored, so tokens < split tokens - 1 here.
            cut = isinstance(cap, int) and isinstance(split_tokens, int) and cap < split_tokens
            scored = f", {tokens:,} tokens scored" if isinstance(tokens, int) else ""
            scope = (
                f"first {cap:,} val tokens by documents{scored}"
                if cut
                else f"full val split by documents{scored}"
            )
        elif (
            isinstance(tokens, int) and isinstance(split_tokens, int) and tokens < split_tokens - 1
        ):
            scope = f"first {tokens:,} val tokens"
        else:
            scope = f"full val split, {tokens:,} tokens" if isinstance(tokens, int) else "val split"
        step = result.get("step")
        at = f" at step {step:,}" if isinstance(step, int) else ""
        return f"gptlab eval, {scope}{at}"

    def _val(self, full_key: str, estimate_key: str) -> Measure:
        full = self.full_val
        if full is not None:
            return Measure(_number(full.get(full_key)), self._full_val_source(full))
        value = self.final(estimate_key)
        return Measure(value, self._estimate_source()) if value is not None else _NONE

    # -- the headline numbers ---------------------------------------------------------------------

    @property
    def train_loss(self) -> Measure:
        """Mean train loss over the last log window."""
        for record in reversed(self.metrics.train):
            loss = _number(record.get("loss"))
            if loss is None:
                continue
            window = record.get("lr_by_step")
            steps = len(window) if isinstance(window, list) and window else None
            steps = steps or log_window_steps(self.metrics.train)
            step = int(record["step"])
            if steps == 1:
                return Measure(loss, f"one step's batch at step {step:,}")
            span = f"last {steps} steps" if steps else "last log window"
            return Measure(loss, f"mean of {span} at step {step:,}")
        return _NONE

    @property
    def val_loss(self) -> Measure:
        return self._val("loss", "val_loss")

    @property
    def val_ppl(self) -> Measure:
        return self._val("ppl", "val_ppl")

    @property
    def val_acc(self) -> Measure:
        return self._val("acc", "val_acc")

    @property
    def val_acc_top5(self) -> Measure:
        return self._val("acc_top5", "val_acc_top5")

    @property
    def bits_per_byte(self) -> Measure:
        """Val loss in bits per byte of text: loss / ln 2 x tokens / bytes."""
        full = self.full_val
        if full is not None:
            return Measure(_number(full.get("bits_per_byte")), self._full_val_source(full))
        loss, bytes_per_token = self.final("val_loss"), self.val_bytes_per_token
        if loss is None or bytes_per_token is None:
            return _NONE
        return Measure(loss / math.log(2) / bytes_per_token, self._estimate_source())

    @property
    def train_acc(self) -> Measure:
        """Top-1 accuracy on train batches at the last evaluation (eval mode)."""
        value = self.final("train_acc")
        return Measure(value, self._estimate_source(", eval mode")) if value is not None else _NONE

    @property
    def gap(self) -> Measure:
        """Val minus train loss at the last evaluation, both measured the same way."""
        val, train = self.final("val_loss"), self.final("train_loss")
        if val is None or train is None:
            return _NONE
        return Measure(val - train, "val - train, " + self._estimate_source("s, eval mode"))

    @property
    def best_val_loss(self) -> Measure:
        values = series(self.metrics.eval, "val_loss")
        steps = series(self.metrics.eval, "step")
        finite = [(v, s) for v, s in zip(values, steps, strict=True) if v == v]
        if not finite:
            return _NONE
        value, step = min(finite)
        batches = f"{self.eval_batches}-batch" if self.eval_batches else "training-time"
        return Measure(float(value), f"best {batches} estimate, at step {step:,.0f}")

    def benchmark(self, key: str) -> Measure:
        """HellaSwag (acc_norm) or LAMBADA (acc) from eval.json, with its standard error."""
        metric = "acc_norm" if key == "hellaswag" else "acc"
        result = (self.eval_results or {}).get(key)
        if not isinstance(result, dict):  # else the last score logged during training
            logged = self.last_eval
            result = {
                metric: logged.get(f"{key}_{metric}"),
                "count": logged.get(f"{key}_count"),
                "step": logged.get("step"),
            }
        value, count = _number(result.get(metric)), result.get("count")
        if value is None or not isinstance(count, int) or count <= 0:
            return _NONE
        step = result.get("step")
        at = f" at step {step:,}" if isinstance(step, int) else ""
        norm = ", length-normalised" if metric == "acc_norm" else ""
        return Measure(
            value,
            f"{'gptlab eval' if key in (self.eval_results or {}) else 'during training'}, "
            f"{count:,} examples{norm}{at}",
            stderr=standard_error(value, count),
            chance=HELLASWAG_CHANCE if key == "hellaswag" else None,
        )

    @property
    def uniform_loss(self) -> float | None:
        """ln V: the loss of a model that spreads its guess evenly over the vocabulary."""
        return math.log(self.vocab_size) if self.vocab_size else None

    def worse_than_uniform(self, loss: float | None) -> bool:
        uniform = self.uniform_loss
        return loss is not None and uniform is not None and loss > uniform

    def headline(self) -> dict[str, float | None]:
        """The headline numbers as plain values, for CSV, JSON and sweep tables."""
        return {
            "steps": self.steps,
            "tokens": self.tokens_seen,
            "train_loss": self.train_loss.value,
            "train_acc": self.train_acc.value,
            "val_loss": self.val_loss.value,
            "val_ppl": self.val_ppl.value,
            "val_acc": self.val_acc.value,
            "gap": self.gap.value,
            "bits_per_byte": self.bits_per_byte.value,
            "best_val_loss": self.best_val_loss.value,
            "wall_s": self.wall_s,
            "tokens_per_s": self.tokens_per_s,
        }

    # -- run facts ----------------------------------------------------------------------------

    @property
    def steps(self) -> float | None:
        """The last optimizer step the run recorded."""
        records = [*self.metrics.train, *self.metrics.eval]
        if self.metrics.end:
            records.append(self.metrics.end)
        values = series(records, "step")
        return float(max(values[values == values])) if (values == values).any() else None

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
        spec = first_of(self.dataset_meta, "tokenizer")
        if spec is None:  # a run without dataset_meta.json (import-hf) keeps its tokenizer file
            spec = first_of(read_json_object(self.path / "tokenizer" / "tokenizer.json"), "spec")
        return spec if isinstance(spec, dict) else None

    @property
    def vocab_size(self) -> int | None:
        value = first_of(self.dataset_meta, "vocab_size", "tokenizer.vocab_size")
        if value is None:
            value = first_of(self.tokenizer_spec, "vocab_size")
        if isinstance(value, int):
            return value
        return (
            self.config.model.vocab_size if self.config and self.config.model.vocab_size else None
        )

    @property
    def tokenizer_label(self) -> str:
        spec = self.tokenizer_spec or {}
        kind = first_of(spec, "kind", "name", "type")
        vocab = self.vocab_size
        label = str(kind) if kind else "unknown"
        return f"{label} ({vocab:,} ids)" if vocab else label

    @property
    def val_bytes_per_token(self) -> float | None:
        """UTF-8 bytes per token of the val split, from dataset_meta.json."""
        tokens = first_of(self.dataset_meta, "splits.val.tokens")
        nbytes = first_of(self.dataset_meta, "splits.val.bytes")
        if isinstance(tokens, int | float) and isinstance(nbytes, int | float) and tokens > 0:
            return float(nbytes) / float(tokens) if nbytes > 0 else None
        return None

    @property
    def shape(self) -> str:
        if self.config is None:
            return "unknown"
        m = self.config.model
        return f"{m.n_layer}L/{m.n_head}H/{m.n_embd}W/ctx{m.context_length}"


def summarize_run(
    run_dir: str | Path, name: str | None = None, *, allow_eval_only: bool = False
) -> RunSummary:
    """Read every file of a run folder that the pages use; optional files may be absent."""
    run = require_run(run_dir, allow_eval_only=allow_eval_only)
    config: Config | None = None
    problem: str | None = None
    try:
        config = load_config(run / "config.toml")
    except GptlabError as exc:
        problem = str(exc)
    metrics_path = run / "metrics.jsonl"
    summary = RunSummary(
        path=run,
        name=name or run.resolve().name,
        metrics=load_metrics(metrics_path) if metrics_path.is_file() else RunMetrics([], [], None),
        config=config,
        config_problem=problem,
        env=read_json_object(run / "env.json"),
        dataset_meta=read_json_object(run / "dataset_meta.json"),
        eval_results=read_json_object(run / "eval.json"),
        samples=_read_jsonl(run / "samples.jsonl"),
        params=None,
    )
    if config is not None:
        try:
            summary.params = count_parameters(config, summary.vocab_size)
        except GptlabError as exc:
            summary.extras["params_problem"] = str(exc)
    return summary
