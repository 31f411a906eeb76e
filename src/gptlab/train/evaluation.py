"""What a training run measures at its evaluation steps: split loss and accuracy, benchmarks,
parameter and gradient norms.

Split evaluation scores `batches` micro batches in total, whatever the number of processes:
every process reads the same batches in the same order and scores its share (batch i on process
i mod world_size); sums of losses, hits and token counts are all-reduced, so one process and two
give the same val loss on the same weights.

Trade-off: every process reads every evaluation batch (only its share is run through the model),
which costs a little host time to keep the batches, and so the estimate, independent of the
process count.
"""

from __future__ import annotations

import contextlib
import math
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import Any

import torch
from torch import nn

from gptlab.train.runtime import Runtime


@dataclass(frozen=True)
class SplitMetrics:
    """Loss and next-token accuracy over some batches of one split."""

    loss: float
    """Mean cross-entropy per target token, in nats."""
    ppl: float
    acc: float
    """Share of target tokens whose top-1 prediction is right."""
    acc_top5: float
    tokens: int


def perplexity(loss: float) -> float:
    """exp(loss), inf when it overflows."""
    try:
        return math.exp(loss)
    except OverflowError:
        return math.inf


@torch.no_grad()
def evaluate_split(
    model: nn.Module,
    next_batch: Callable[[], Any],
    batches: int,
    autocast: Callable[[], contextlib.AbstractContextManager[Any]] = contextlib.nullcontext,
    runtime: Runtime | None = None,
) -> SplitMetrics:
    """Token-weighted loss, perplexity and top-1/top-5 accuracy over `batches` batches in total.

    `next_batch()` returns a gptlab.data.loader.Batch (x, y, loss_mask) and must give every
    process the same sequence; with a distributed `runtime` each process scores its share and
    the sums are combined. The model runs in eval mode (its mode is restored afterwards).
    """
    rank, world = (runtime.rank, runtime.world_size) if runtime is not None else (0, 1)
    was_training = model.training
    model.eval()
    # loss sum, top-1 hits, top-5 hits, scored tokens
    sums = torch.zeros(4, dtype=torch.float64)
    try:
        for index in range(batches):
            x, y, mask = next_batch()
            if index % world != rank:
                continue
            with autocast():
                logits, _ = model(x)
            logits = logits.float()
            weight = torch.ones_like(y, dtype=torch.bool) if mask is None else mask.bool()
            losses = nn.functional.cross_entropy(
                logits.reshape(-1, logits.size(-1)), y.reshape(-1), reduction="none"
            )
            keep = weight.reshape(-1)
            k = min(5, logits.size(-1))
            hits = logits.topk(k, dim=-1).indices == y.unsqueeze(-1)  # (B, T, k)
            sums += torch.stack(
                [
                    losses[keep].double().sum(),
                    hits[..., 0][weight].double().sum(),
                    hits.any(dim=-1)[weight].double().sum(),
                    keep.double().sum(),
                ]
            ).cpu()
    finally:
        model.train(was_training)
    if runtime is not None and runtime.distributed:
        packed = sums.to(runtime.device)
        torch.distributed.all_reduce(packed)
        sums = packed.cpu()
    loss_sum, top1, top5, count = sums.tolist()
    if count == 0:
        return SplitMetrics(math.nan, math.nan, math.nan, math.nan, 0)
    loss = loss_sum / count
    return SplitMetrics(loss, perplexity(loss), top1 / count, top5 / count, int(count))


def benchmark_scores(
    model: nn.Module,
    tokenizer: Any,
    device: torch.device,
    *,
    hellaswag: str = "",
    hellaswag_limit: int = 0,
    lambada: str = "",
    lambada_limit: int = 0,
) -> dict[str, float]:
    """HellaSwag acc/acc_norm and LAMBADA acc/ppl as eval-record fields (those with a file)."""
    from gptlab.evaluate import evaluate_hellaswag, evaluate_lambada

    out: dict[str, float] = {}
    if hellaswag:
        scores = evaluate_hellaswag(
            model, tokenizer, hellaswag, device=device, limit=hellaswag_limit or None
        )
        out.update(
            {
                "hellaswag_acc": scores["acc"],
                "hellaswag_acc_norm": scores["acc_norm"],
                "hellaswag_count": scores["count"],
            }
        )
    if lambada:
        scores = evaluate_lambada(
            model, tokenizer, lambada, device=device, limit=lambada_limit or None
        )
        out.update(
            {
                "lambada_acc": scores["acc"],
                "lambada_ppl": scores["ppl"],
                "lambada_count": scores["count"],
            }
        )
    return out


# ---- norms by layer group --------------------------------------------------------------------


def layer_groups(model: nn.Module) -> dict[str, list[nn.Parameter]]:
    """Parameters by group: embeddings, block.0 .. block.N-1, head (final norm and LM head).

    A parameter shared by two groups counts in the first only: with tied weights the LM head is
    the token embedding, so it counts under embeddings and head holds the final norm.
    """
    groups: dict[str, list[nn.Parameter]] = {}
    seen: set[int] = set()
    for name, param in model.named_parameters():
        if id(param) in seen:
            continue
        seen.add(id(param))
        parts = name.removeprefix("transformer.").split(".")
        if parts[0] in ("blocks", "h") and len(parts) > 1 and parts[1].isdigit():
            group = f"block.{parts[1]}"
        elif parts[0] in ("wte", "wpe"):
            group = "embeddings"
        else:
            group = "head"
        groups.setdefault(group, []).append(param)
    return groups


def _norm(tensors: Iterator[torch.Tensor]) -> float:
    squares = [t.detach().float().pow(2).sum() for t in tensors]
    return math.sqrt(float(torch.stack(squares).sum())) if squares else 0.0


def parameter_norm(model: nn.Module) -> float:
    """L2 norm of every parameter together (each shared parameter once)."""
    return _norm(p for group in layer_groups(model).values() for p in group)


def grad_norms_by_group(model: nn.Module) -> dict[str, float]:
    """L2 norm of the gradients of each layer group (before clipping)."""
    return {
        group: _norm(p.grad for p in params if p.grad is not None)
        for group, params in layer_groups(model).items()
    }


class UpdateRatio:
    """||update|| / ||weights|| per layer group over one optimizer step (taken before/after)."""

    def __init__(self, model: nn.Module) -> None:
        self.groups = layer_groups(model)
        self.before = {
            group: [p.detach().clone() for p in params] for group, params in self.groups.items()
        }

    def ratios(self) -> dict[str, float]:
        """The ratio per group, after the optimizer step; nan for a group with zero weights."""
        out = {}
        for group, params in self.groups.items():
            old = self.before[group]
            update = _norm(p.detach() - q for p, q in zip(params, old, strict=True))
            weights = _norm(iter(old))
            out[group] = update / weights if weights > 0 else math.nan
        return out
