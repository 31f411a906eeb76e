"""A run's evaluations, as `gptlab eval` runs them, merged into RUN/eval.json.

evaluate_run loads one checkpoint of a run, scores what it is given (a prepared split, a text,
HellaSwag, LAMBADA) and records each result with the checkpoint's step. The trade-off: eval.json
keeps only the latest result under each key (what the report shows); every result is also
appended to RUN/eval_history.jsonl, which keeps them all.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from gptlab.errors import ConfigError, DataError
from gptlab.eval_history import append_eval_history
from gptlab.evaluate.benchmarks import ACC_NORM_CONVENTIONS, evaluate_hellaswag, evaluate_lambada
from gptlab.evaluate.scoring import evaluate_split, evaluate_text, finite_or_none, resolve_stride
from gptlab.fileio import atomic_write_json
from gptlab.train.runtime import resolve_device

EVAL_FILE = "eval.json"
"""RUN/eval.json: {key: result}; keys "split:val", "text:<file name>", "hellaswag", "lambada"."""


def read_text_file(path: str | Path) -> str:
    """A raw UTF-8 text file to evaluate on; DataError when missing, empty or not UTF-8."""
    p = Path(path)
    if not p.is_file():
        raise DataError(f"Text file {p} does not exist (or is not a file): check the path.")
    try:
        text = p.read_text(encoding="utf-8")
    except UnicodeDecodeError as exc:
        raise DataError(
            f"Text file {p} is not UTF-8 ({exc.reason} at byte {exc.start}): convert it, e.g. "
            f"`iconv -t UTF-8 {p} > {p.stem}.utf8.txt`."
        ) from exc
    if not text.strip():
        raise DataError(f"Text file {p} is empty: give a file with some text in it.")
    return text


def merge_eval_file(run_dir: str | Path, results: dict[str, dict[str, Any]]) -> Path:
    """Add results to RUN/eval.json (atomically), replacing earlier results under the same keys,
    and append them, with their step, to RUN/eval_history.jsonl."""
    path = Path(run_dir) / EVAL_FILE
    merged: dict[str, Any] = {}
    if path.is_file():
        try:
            old = json.loads(path.read_text(encoding="utf-8"))
            merged = old if isinstance(old, dict) else {}
        except (OSError, ValueError, RecursionError):
            merged = {}  # an unreadable old file is replaced rather than blocking new results
    merged.update(results)
    atomic_write_json(path, merged)
    append_eval_history(run_dir, results)  # eval.json keeps the latest; the history keeps all
    return path


def evaluate_run(
    run_dir: str | Path,
    *,
    checkpoint: str | None = None,
    data: str | Path | None = None,
    split: str = "val",
    text: str | Path | None = None,
    stride: int | None = None,
    documents: bool | None = None,
    batch_size: int = 8,
    max_tokens: int | None = None,
    hellaswag: str | Path | None = None,
    lambada: str | Path | None = None,
    limit: int | None = None,
    device: str = "auto",
    progress: bool = True,
    acc_norm: str = "chars",
) -> dict[str, dict[str, Any]]:
    """Evaluate a run's checkpoint and merge the results into RUN/eval.json; returns them by key.

    The split of `data` (default: the run's training data, config data.path) is scored when
    `data` is given or when no text, HellaSwag or LAMBADA file is. Each result also records the
    checkpoint step. checkpoint: None or "latest", "best", a step number or a folder.
    documents: score the split document by document (see evaluate_split); None: as the run was
    trained, i.e. by documents when its data.batch_mode is "document".
    acc_norm: HellaSwag's length normalisation, "chars" (lm-evaluation-harness) or "bytes".
    """
    from gptlab.train.checkpoint import load_run

    if acc_norm not in ACC_NORM_CONVENTIONS:
        raise ConfigError(
            f"--acc-norm {acc_norm} is not one of {', '.join(ACC_NORM_CONVENTIONS)}: 'chars' "
            "divides by the ending's characters (as lm-evaluation-harness), 'bytes' by the UTF-8 "
            "bytes of ' ' + ending."
        )

    if stride is not None and stride <= 0:
        raise ConfigError(f"--stride {stride} is invalid: it must be at least 1.")
    if limit is not None and limit < 1:
        raise ConfigError(
            f"--limit {limit} is invalid: give the number of rows to score (1 or more), or leave "
            "it out to score every row."
        )
    text_value = read_text_file(text) if text is not None else None
    for path, what in ((hellaswag, "HellaSwag"), (lambada, "LAMBADA")):
        if path is not None and not Path(path).is_file():
            raise DataError(f"{what} file {path} does not exist (or is not a file).")
    run = load_run(
        run_dir,
        None if checkpoint in (None, "latest") else checkpoint,
        device=str(resolve_device(device)),
    )
    context_length = run.config.model.context_length
    if stride is not None and stride > context_length:
        raise ConfigError(
            f"--stride {stride} is invalid: it must be between 1 and the model's context length "
            f"({context_length} tokens)."
        )
    common = {"step": run.step, "checkpoint": run.checkpoint_dir.name}
    results: dict[str, dict[str, Any]] = {}
    if data is not None or (text is None and hellaswag is None and lambada is None):
        dataset = Path(data) if data is not None else Path(run.config.data.path)
        _check_dataset_fits(dataset, run.tokenizer, from_config=data is None)
        by_documents = run.config.data.batch_mode == "document" if documents is None else documents
        result = evaluate_split(
            run.model,
            dataset,
            split,
            context_length=context_length,
            batch_size=batch_size,
            stride=stride,
            max_tokens=max_tokens,
            progress=progress,
            documents=by_documents,
        )
        results[f"split:{split}"] = {
            **result.to_dict(),
            "stride": resolve_stride(stride, context_length),
            "windows": "documents" if by_documents else "stream",
            "max_tokens": max_tokens,
            **common,
        }
    if text is not None and text_value is not None:
        name = Path(text).name
        result = evaluate_text(
            run.model,
            run.tokenizer,
            text_value,
            context_length=context_length,
            stride=stride,
            batch_size=batch_size,
            progress=progress,
            source=f"text:{name}",
            max_tokens=max_tokens,
        )
        results[f"text:{name}"] = {
            **result.to_dict(),
            "stride": resolve_stride(stride, context_length),
            **common,
        }
    if hellaswag is not None:
        scores = evaluate_hellaswag(
            run.model, run.tokenizer, hellaswag, limit=limit, progress=progress, acc_norm=acc_norm
        )
        results["hellaswag"] = {**scores, "source": str(hellaswag), **common}
    if lambada is not None:
        scores = evaluate_lambada(run.model, run.tokenizer, lambada, limit=limit, progress=progress)
        results["lambada"] = {**_finite(scores), "source": str(lambada), **common}
    merge_eval_file(run_dir, results)
    return results


def _check_dataset_fits(dataset: Path, tokenizer: Any, *, from_config: bool) -> None:
    """DataError when the dataset is missing or was tokenized differently from the run."""
    from gptlab.data.prepare import load_meta

    if from_config and not dataset.is_dir():
        raise DataError(
            f"The run's training data {dataset} (data.path in its config.toml) is not found from "
            "this folder: give the prepared dataset with --data DIR, or run from the folder "
            "the run was trained in."
        )
    meta = load_meta(dataset)
    theirs = meta.get("tokenizer", {}).get("kind"), meta.get("vocab_size")
    ours = tokenizer.spec().get("kind"), tokenizer.vocab_size
    if theirs != ours:
        raise DataError(
            f"Dataset {dataset} was tokenized with {theirs[0]} ({theirs[1]} ids) but the run "
            f"uses {ours[0]} ({ours[1]} ids): its token ids mean other things to this model. "
            "Evaluate on a dataset prepared with the run's tokenizer, or use --text FILE."
        )


def _finite(values: dict[str, Any]) -> dict[str, Any]:
    return {k: finite_or_none(v) for k, v in values.items()}
