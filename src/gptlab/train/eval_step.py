"""A run's evaluation step: split metrics, benchmarks, norms and samples, recorded and shown.

Everything here runs inside torch.random.fork_rng and from fixed loader states, so evaluation
settings never change what the model trains on, and a resumed run stays exact.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from typing import Any

import torch

from gptlab.config import Config
from gptlab.data.loader import TokenLoader
from gptlab.errors import GptlabError
from gptlab.model.gpt import GPT
from gptlab.train.evaluation import (
    SplitMetrics,
    benchmark_scores,
    evaluate_split,
    parameter_norm,
)
from gptlab.train.metrics import MetricsWriter
from gptlab.train.plan import Plan
from gptlab.train.progress import ProgressDisplay, benchmark_line, eval_line
from gptlab.train.runtime import Runtime


class EvalStep:
    """Evaluates the model at a step and writes the eval record, samples and terminal lines.

    `tokenizer` and `metrics` are set by the trainer once the run folder is open (metrics stays
    None on ranks other than 0); `best_val` is the lowest val loss shown so far.
    """

    def __init__(self, plan: Plan, model: GPT, best_val: float, say: Callable[[str], None]) -> None:
        self.plan = plan
        self.cfg: Config = plan.cfg
        self.rt: Runtime = plan.runtime
        self.model = model
        self.say = say
        self.best_val = best_val
        self.tokenizer: Any = None
        self.metrics: MetricsWriter | None = None
        self.display: ProgressDisplay | None = None
        self.last: dict[str, SplitMetrics] = {}
        self.loaders: dict[str, TokenLoader] = {}
        for split in ("val", "train"):
            if plan.split_tokens[split] > 0:
                # Unranked: every process reads the same batches and scores its share of them.
                self.loaders[split] = plan.make_loader(
                    split, seed=self.cfg.train.seed + 1, drop_last=False, ranked=False
                )
        self.starts = {k: v.state_dict() for k, v in self.loaders.items()}

    @property
    def scores_benchmarks(self) -> bool:
        """Rank 0 scores benchmarks; under FSDP every rank joins the sharded forward passes."""
        t = self.cfg.train
        return bool(t.hellaswag_path or t.lambada_path) and (self.rt.is_main or self.rt.sharded)

    def check_benchmarks(self) -> None:
        """Score one row of each benchmark file before training, so a bad file fails now."""
        if not self.scores_benchmarks:
            return
        self._benchmarks(limit=1)

    def _benchmarks(self, limit: int | None = None) -> dict[str, float]:
        t = self.cfg.train
        if self.tokenizer is None:
            from gptlab.data.tokenizers import load_tokenizer

            self.tokenizer = load_tokenizer(self.cfg.data.path)
        with self.rt.autocast():
            return benchmark_scores(
                self.model,
                self.tokenizer,
                self.rt.device,
                hellaswag=t.hellaswag_path,
                hellaswag_limit=limit or t.hellaswag_limit,
                lambada=t.lambada_path,
                lambada_limit=limit or t.lambada_limit,
            )

    def run(self, position: dict[str, Any], step_stats: dict[str, Any]) -> None:
        """Evaluate now. position: step, tokens, epoch and elapsed_s of the record; step_stats:
        the per-group gradient norms and update ratios of the step just taken (may be empty)."""
        rt = self.rt
        results: dict[str, SplitMetrics] = {}
        scores: dict[str, float] = {}
        devices = [rt.device] if rt.device.type == "cuda" else []
        with torch.random.fork_rng(devices=devices):
            for split, loader in self.loaders.items():
                loader.load_state_dict(self.starts[split])
                results[split] = evaluate_split(
                    self.model, loader.next_batch, self.plan.eval_batches, rt.autocast, rt
                )
            self.last = results
            if self.scores_benchmarks:
                scores = self._benchmarks()
            if rt.sharded:
                # A sharded forward needs every rank, so all sample; only rank 0 writes.
                self._samples(position)
            if self.metrics is not None:
                record: dict[str, Any] = {
                    **position,
                    "eval_batches": self.plan.eval_batches,
                    **scores,
                }
                if not rt.sharded:
                    record["param_norm"] = parameter_norm(self.model)
                    record.update(step_stats)
                for split, m in results.items():
                    record.update(
                        {
                            f"{split}_loss": m.loss,
                            f"{split}_ppl": m.ppl,
                            f"{split}_acc": m.acc,
                            f"{split}_acc_top5": m.acc_top5,
                        }
                    )
                self.metrics.eval(**record)
                if not rt.sharded:
                    self._samples(position)
        self._show(int(position["step"]), results, scores)

    def _show(self, step: int, results: dict[str, SplitMetrics], scores: dict[str, float]) -> None:
        """The eval line (and benchmark line) on the terminal; the last val loss on the bar."""
        val, train = results.get("val"), results.get("train")
        if val is not None:
            best = math.isfinite(val.loss) and val.loss < self.best_val
            if best:
                self.best_val = val.loss
            train_loss = train.loss if train is not None else None
            self.say(eval_line(step, val.loss, val.ppl, val.acc, train_loss, best))
            if self.display is not None:
                self.display.show_val(val.loss)
        bench = benchmark_line(step, scores)
        if bench:
            self.say(bench)

    def epoch_samples(self, position: dict[str, Any]) -> None:
        """Samples when an epoch ends (train.sample_every_epoch), outside the training RNG."""
        if not (self.rt.is_main or self.rt.sharded):
            return
        devices = [self.rt.device] if self.rt.device.type == "cuda" else []
        with torch.random.fork_rng(devices=devices):
            self._samples(position)

    def _samples(self, position: dict[str, Any]) -> None:
        t = self.cfg.train
        if not t.sample_prompts or (self.metrics is None and not self.rt.sharded):
            return
        from gptlab.generate import SamplingConfig, generate

        sampling = SamplingConfig(
            max_new_tokens=t.sample_max_new_tokens,
            temperature=t.sample_temperature,
            top_k=t.sample_top_k,
            seed=t.seed,
            num_samples=t.samples_per_prompt,
        )
        step = int(position["step"])
        try:
            with self.rt.autocast():
                outputs = generate(
                    self.model,
                    self.tokenizer,
                    list(t.sample_prompts),
                    sampling,
                    device=self.rt.device,
                )
        except GptlabError as exc:
            # Samples are a view of the run, not part of it: a model that cannot sample
            # (diverged weights) still gets its checkpoint and metrics.
            self.say(f"note: no samples at step {step}: {exc}")
            return
        for out in outputs:
            if self.metrics is not None:
                self.metrics.sample(step, int(position["tokens"]), out.prompt, out.text)
