"""Speedrun: wall time for a character-level GPT to reach a validation loss on Tiny Shakespeare.

The data follow nanoGPT's shakespeare_char: the first 90% of the file's characters are train,
the last 10% val, one character per token. Each recipe is an ordinary `gptlab.train.train` run
that evaluates every --eval-interval steps and is stopped at the first evaluation whose val loss
is at or below the target; time to target is that evaluation's elapsed_s (training plus the
evaluations and checkpoints before it, the same overhead for every recipe).

    python bench/speedrun_shakespeare.py --data ../shared/data/tinyshakespeare/input.txt \\
        --variant cpu --threads 2                       # 4/4/128, ctx 64, batch 12, target 1.9
    python bench/speedrun_shakespeare.py --data input.txt --variant gpu   # 6/6/384, target 1.47

Recipes: "classic" is nanoGPT's baby GPT (AdamW, lr 1e-3 -> 1e-4, warmup 100, betas 0.9/0.99,
dropout 0.2 on the GPU); "best" is ours (Muon for the hidden matrices, a higher AdamW lr for the
embeddings, a shorter schedule, no dropout; bf16 and torch.compile on the GPU).

Trade-off: the run is stopped from outside (a watcher thread reads metrics.jsonl and sends this
process SIGTERM, which the training loop answers by finishing the step and saving), so the
product's own loop is what is timed, at the cost of up to one extra step after the target.
"""

from __future__ import annotations

import argparse
import json
import os
import signal
import tempfile
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import torch

from gptlab.config import Config, config_from_dict
from gptlab.data.prepare import prepare
from gptlab.train import train
from gptlab.train.loop import TrainingInterrupted

TRAIN_FRACTION = 0.9
"""nanoGPT's split: the first 90% of the characters train, the rest validate."""

VARIANTS: dict[str, dict[str, Any]] = {
    "cpu": {"target": 1.9, "device": "cpu", "precision": "fp32", "compile": False},
    "gpu": {"target": 1.47, "device": "cuda", "precision": "bf16", "compile": True},
}


def recipe(name: str, variant: str) -> dict[str, dict[str, Any]]:
    """Config sections (model, optim, train) of a recipe for a variant."""
    if variant == "gpu":
        model = {"n_layer": 6, "n_head": 6, "n_embd": 384, "context_length": 256}
        batch, iters, best_iters = 64, 5000, 3000
    else:
        model = {"n_layer": 4, "n_head": 4, "n_embd": 128, "context_length": 64}
        # 700: the cosine decay ends near where the CPU model reaches 1.9 (measured: 550
        # steps, against 700 with a 1,200-step schedule).
        batch, iters, best_iters = 12, 2000, 700
    model |= {"bias": False, "tie_weights": True}
    if name == "classic":
        return {
            "model": model | {"dropout": 0.2 if variant == "gpu" else 0.0},
            "optim": {
                "name": "adamw",
                "lr": 1e-3,
                "min_lr": 1e-4,
                "warmup_steps": 100,
                "beta1": 0.9,
                "beta2": 0.99,
                "weight_decay": 0.1,
                "grad_clip": 1.0,
            },
            "train": {"micro_batch_size": batch, "max_steps": iters},
        }
    if name == "best":
        return {
            "model": model | {"dropout": 0.0},
            "optim": {
                "name": "muon",
                "muon_lr": 0.03,
                "muon_momentum": 0.95,
                "lr": 4e-3,
                "min_lr": 4e-4,
                "warmup_steps": 50,
                "beta1": 0.9,
                "beta2": 0.99,
                "weight_decay": 0.0,
                "grad_clip": 1.0,
            },
            "train": {"micro_batch_size": batch, "max_steps": best_iters},
        }
    raise ValueError(f"unknown recipe {name!r}: use classic or best")


@dataclass
class TextSplits:
    """A document source for gptlab.data.prepare: the text cut at a fraction of its characters."""

    text: str
    name: str = "tinyshakespeare"

    def splits(self) -> list[str]:
        return ["train", "val"]

    def documents(self, split: str) -> Iterator[str]:
        cut = int(len(self.text) * TRAIN_FRACTION)
        yield self.text[:cut] if split == "train" else self.text[cut:]


def prepare_data(text_file: Path, out: Path, max_chars: int) -> Path:
    """Character-level dataset of the text (its first max_chars characters when > 0)."""
    text = text_file.read_text(encoding="utf-8")
    if max_chars > 0:
        text = text[:max_chars]
    prepare(TextSplits(text), out, tokenizer="char", num_workers=1, progress=False)
    return out


class TargetWatcher(threading.Thread):
    """Reads metrics.jsonl; at the first eval with val_loss <= target, sends SIGTERM to us."""

    def __init__(self, metrics_file: Path, target: float, poll_s: float = 0.2) -> None:
        super().__init__(daemon=True)
        self.metrics_file = metrics_file
        self.target = target
        self.poll_s = poll_s
        self.hit: dict[str, Any] | None = None
        self.done = threading.Event()

    def run(self) -> None:
        offset = 0
        while not self.done.is_set():
            if self.metrics_file.exists():
                with self.metrics_file.open(encoding="utf-8") as handle:
                    handle.seek(offset)
                    for line in iter(handle.readline, ""):
                        if not line.endswith("\n"):
                            break  # a line still being written: read it next time
                        offset += len(line.encode("utf-8"))
                        record = json.loads(line)
                        if record.get("kind") == "eval" and record["val_loss"] <= self.target:
                            self.hit = record
                            os.kill(os.getpid(), signal.SIGTERM)
                            return
            time.sleep(self.poll_s)


def run_recipe(
    name: str, variant: str, data_dir: Path, run_dir: Path, args: argparse.Namespace
) -> dict[str, Any]:
    """Train one recipe until the target (or its last step); what the table shows."""
    facts = VARIANTS[variant]
    sections = recipe(name, variant)
    train_values = sections["train"] | {
        "log_interval_steps": max(1, min(10, args.eval_interval)),
        "eval_interval_steps": args.eval_interval,
        "eval_batches": args.eval_batches,
        "device": args.device or facts["device"],
        "precision": facts["precision"],
        "compile": facts["compile"] and not args.no_compile,
        "sample_prompts": [],
        "keep_last_checkpoints": 1,
        "seed": args.seed,
    }
    if args.max_steps:
        train_values["max_steps"] = args.max_steps
    cfg: Config = config_from_dict(
        {
            "data": {"path": str(data_dir)},
            "model": sections["model"],
            "optim": sections["optim"],
            "train": train_values,
            "run": {"out_dir": str(run_dir), "report": False},
        }
    )
    target = args.target if args.target is not None else facts["target"]
    watcher = TargetWatcher(run_dir / "metrics.jsonl", target)
    # The loop restores this handler when it ends, so a stop that arrives just after the last
    # step is swallowed here instead of killing the process.
    previous = signal.signal(signal.SIGTERM, lambda signum, frame: None)
    watcher.start()
    try:
        train(cfg, progress=False)
    except TrainingInterrupted:
        if watcher.hit is None:
            raise  # a real Ctrl-C, not our stop
    finally:
        watcher.done.set()
        watcher.join()
        signal.signal(signal.SIGTERM, previous)
    lines = (run_dir / "metrics.jsonl").read_text(encoding="utf-8").splitlines()
    records = [json.loads(line) for line in lines]
    evals = [r for r in records if r["kind"] == "eval"]
    # The median skips the first window (warm-up) and those that include an evaluation.
    rates = sorted(r["tokens_per_s"] for r in records if r["kind"] == "train")
    last = evals[-1] if evals else None
    # The watcher may stop before it reads the last evaluation (written as training ends).
    hit = watcher.hit or next((r for r in evals if r["val_loss"] <= target), None)
    return {
        "recipe": name,
        "variant": variant,
        "target": target,
        "reached": hit is not None,
        "steps_to_target": hit["step"] if hit else None,
        "seconds_to_target": hit["elapsed_s"] if hit else None,
        "val_loss": last["val_loss"] if last else None,
        "steps": last["step"] if last else 0,
        "tokens_per_s": rates[len(rates) // 2] if rates else None,
    }


def markdown(rows: list[dict[str, Any]]) -> str:
    """The results as a Markdown table."""

    def fmt(value: Any, spec: str) -> str:
        return "-" if value is None else format(value, spec)

    lines = [
        "| recipe | variant | target | steps to target | time to target (s) | last val loss | "
        "steps run | tok/s |",
        "|---|---|---:|---:|---:|---:|---:|---:|",
    ]
    for r in rows:
        lines.append(
            f"| {r['recipe']} | {r['variant']} | {r['target']:.2f} | "
            f"{fmt(r['steps_to_target'], 'd')} | {fmt(r['seconds_to_target'], '.1f')} | "
            f"{fmt(r['val_loss'], '.4f')} | {r['steps']} | {fmt(r['tokens_per_s'], ',.0f')} |"
        )
    return "\n".join(lines)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument(
        "--data", type=Path, required=True, help="Tiny Shakespeare input.txt (any UTF-8 text)"
    )
    parser.add_argument("--variant", choices=sorted(VARIANTS), default="cpu", help="(cpu)")
    parser.add_argument(
        "--recipes",
        nargs="+",
        choices=["classic", "best"],
        default=["classic", "best"],
        help="classic and/or best (both)",
    )
    parser.add_argument("--target", type=float, default=None, help="val loss (cpu 1.9, gpu 1.47)")
    parser.add_argument("--eval-interval", type=int, default=100, help="steps between evals (100)")
    parser.add_argument("--eval-batches", type=int, default=20, help="batches per eval (20)")
    parser.add_argument("--max-steps", type=int, default=0, help="cap every recipe (0 = its own)")
    parser.add_argument("--max-chars", type=int, default=0, help="use only the first N chars")
    parser.add_argument("--device", default=None, help="override the variant's device")
    parser.add_argument("--no-compile", action="store_true", help="no torch.compile on the GPU")
    parser.add_argument("--threads", type=int, default=0, help="torch CPU threads (0 = torch's)")
    parser.add_argument("--seed", type=int, default=1337, help="training seed (1337)")
    parser.add_argument(
        "--out", type=Path, default=None, help="keep data, runs and results.json here (temp dir)"
    )
    args = parser.parse_args()
    if not args.data.is_file():
        parser.error(f"--data {args.data} is not a file: give the path of input.txt")
    if args.threads:
        torch.set_num_threads(args.threads)
    with tempfile.TemporaryDirectory(prefix="speedrun-") as scratch:
        root = args.out or Path(scratch)
        root.mkdir(parents=True, exist_ok=True)
        stamp = time.strftime("%Y%m%d-%H%M%S")
        data_dir = prepare_data(args.data, root / f"data-{stamp}", args.max_chars)
        rows = []
        for name in args.recipes:
            row = run_recipe(name, args.variant, data_dir, root / f"{name}-{stamp}", args)
            rows.append(row)
            print(json.dumps(row), flush=True)
        table = markdown(rows)
        print(table)
        if args.out:
            (root / f"results-{stamp}.json").write_text(json.dumps(rows, indent=2) + "\n")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
