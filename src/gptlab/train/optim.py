"""Optimizers, parameter groups and the learning-rate schedule, as small pure functions.

AdamW decays only matrices and embeddings (tensors with two or more dimensions); biases and norm
gains are left alone. Muon orthogonalises the momentum of the 2-D hidden matrices with a
Newton-Schulz iteration and uses AdamW for embeddings, the LM head and vectors, all inside one
optimizer object so that checkpoints and the schedule see a single thing.

Trade-off: the schedule is applied by scaling every group's own peak learning rate by the same
factor `lr_at(step) / optim.lr`, so Muon's much larger muon_lr follows the same warmup and decay
shape as AdamW's lr instead of having a schedule of its own.
"""

from __future__ import annotations

import json
import math
from collections.abc import Iterable
from typing import Any

import torch
from torch import nn

from gptlab.config import OptimConfig
from gptlab.errors import CheckpointError

NEWTON_SCHULZ_STEPS = 5
"""Iterations of the quintic Newton-Schulz map; five take singular values close enough to 1."""
NEWTON_SCHULZ_COEFFS = (3.4445, -4.7750, 2.0315)
"""(a, b, c) of X <- aX + b(XX^T)X + c(XX^T)^2 X, tuned to push singular values towards 1 fast."""
STATE_METADATA_KEY = "gptlab_optimizer"
"""Key of the JSON metadata inside optimizer.safetensors."""
STATE_FORMAT_VERSION = 1


def lr_at(step: int, cfg: OptimConfig, total_steps: int) -> float:
    """Learning rate of optimizer step `step` (0-based) of `total_steps`.

    Linear warmup reaches cfg.lr at step warmup_steps - 1; then cosine, linear or constant decay
    reaches cfg.min_lr exactly at the last step (total_steps - 1) and stays there.
    """
    if step < cfg.warmup_steps:
        return cfg.lr * (step + 1) / cfg.warmup_steps
    if cfg.schedule == "constant":
        return cfg.lr
    decay_steps = max(1, total_steps - cfg.warmup_steps - 1)
    progress = min(1.0, (step - cfg.warmup_steps) / decay_steps)
    if cfg.schedule == "linear":
        return cfg.lr - progress * (cfg.lr - cfg.min_lr)
    return cfg.min_lr + 0.5 * (1.0 + math.cos(math.pi * progress)) * (cfg.lr - cfg.min_lr)


def set_lr(optimizer: torch.optim.Optimizer, lr: float, cfg: OptimConfig) -> None:
    """Scale every group's peak learning rate by lr / cfg.lr (see the module's trade-off)."""
    factor = lr / cfg.lr
    for group in optimizer.param_groups:
        group["lr"] = group["peak_lr"] * factor


def _is_embedding_or_head(name: str) -> bool:
    return "wte" in name or "wpe" in name or "lm_head" in name


def param_groups(
    model: nn.Module, weight_decay: float, *, muon: bool = False
) -> list[dict[str, Any]]:
    """Parameter groups: decay on tensors with >= 2 dims, none on biases and norm gains.

    With muon=True the 2-D hidden matrices (not embeddings, not the head) form a third group
    tagged kind="muon"; the others are tagged kind="adamw". Empty groups are left out.
    Tied weights appear once, because named_parameters() yields a shared tensor once.
    """
    hidden: list[nn.Parameter] = []
    decay: list[nn.Parameter] = []
    no_decay: list[nn.Parameter] = []
    for name, param in model.named_parameters():
        if not param.requires_grad:
            continue
        if param.dim() < 2:
            no_decay.append(param)
        elif muon and param.dim() == 2 and not _is_embedding_or_head(name):
            hidden.append(param)
        else:
            decay.append(param)
    groups = [
        {"params": hidden, "weight_decay": weight_decay, "kind": "muon"},
        {"params": decay, "weight_decay": weight_decay, "kind": "adamw"},
        {"params": no_decay, "weight_decay": 0.0, "kind": "adamw"},
    ]
    return [g for g in groups if g["params"]]


def build_optimizer(model: nn.Module, cfg: OptimConfig, device_type: str) -> torch.optim.Optimizer:
    """AdamW (fused on CUDA, foreach elsewhere) or Muon+AdamW, with `peak_lr` set per group."""
    if cfg.name == "muon":
        groups = param_groups(model, cfg.weight_decay, muon=True)
        for group in groups:
            group["peak_lr"] = cfg.muon_lr if group["kind"] == "muon" else cfg.lr
            group["lr"] = group["peak_lr"]
        return Muon(
            groups,
            lr=cfg.lr,
            momentum=cfg.muon_momentum,
            betas=(cfg.beta1, cfg.beta2),
            eps=cfg.eps,
        )
    groups = param_groups(model, cfg.weight_decay)
    for group in groups:
        del group["kind"]
        group["peak_lr"] = cfg.lr
    fused = device_type == "cuda"
    return torch.optim.AdamW(
        groups,
        lr=cfg.lr,
        betas=(cfg.beta1, cfg.beta2),
        eps=cfg.eps,
        fused=fused,
        foreach=None if fused else True,
    )


def newton_schulz(grad: torch.Tensor, steps: int = NEWTON_SCHULZ_STEPS) -> torch.Tensor:
    """An approximately orthogonal matrix with the singular vectors of `grad` (its 'sign')."""
    a, b, c = NEWTON_SCHULZ_COEFFS
    # bf16 is accurate enough for the iteration and much faster on GPUs; CPUs stay in fp32.
    work_dtype = torch.bfloat16 if grad.is_cuda else torch.float32
    x = grad.to(work_dtype)
    transposed = x.size(0) > x.size(1)
    if transposed:
        x = x.T  # iterate on the wide side so X X^T is the smaller Gram matrix
    x = x / (x.norm() + 1e-7)  # spectral norm <= Frobenius norm <= 1, inside the map's basin
    for _ in range(steps):
        gram = x @ x.T
        x = a * x + (b * gram + c * gram @ gram) @ x
    if transposed:
        x = x.T
    return x.to(grad.dtype)


class Muon(torch.optim.Optimizer):
    """Muon for groups with kind="muon" (2-D matrices), AdamW for groups with kind="adamw".

    Muon step: m <- mu m + g; u <- g + mu m (Nesterov); o <- NewtonSchulz(u);
    p <- p (1 - lr wd) - lr sqrt(max(1, rows / cols)) o.
    """

    def __init__(
        self,
        params: Iterable[dict[str, Any]],
        lr: float,
        momentum: float = 0.95,
        betas: tuple[float, float] = (0.9, 0.95),
        eps: float = 1e-8,
    ) -> None:
        defaults = {
            "lr": lr,
            "momentum": momentum,
            "betas": betas,
            "eps": eps,
            "weight_decay": 0.0,
            "kind": "adamw",
        }
        super().__init__(params, defaults)

    @torch.no_grad()
    def step(self, closure: Any = None) -> Any:
        loss = None
        if closure is not None:
            with torch.enable_grad():
                loss = closure()
        for group in self.param_groups:
            if group["kind"] == "muon":
                self._muon_group(group)
            else:
                self._adamw_group(group)
        return loss

    def _muon_group(self, group: dict[str, Any]) -> None:
        lr, mu, wd = group["lr"], group["momentum"], group["weight_decay"]
        for p in group["params"]:
            if p.grad is None:
                continue
            state = self.state[p]
            if "momentum_buffer" not in state:
                state["momentum_buffer"] = torch.zeros_like(p)
            buf = state["momentum_buffer"]
            buf.mul_(mu).add_(p.grad)
            update = newton_schulz(p.grad.add(buf, alpha=mu))
            scale = math.sqrt(max(1.0, p.size(0) / p.size(1)))
            p.mul_(1.0 - lr * wd)
            p.add_(update, alpha=-lr * scale)

    def _adamw_group(self, group: dict[str, Any]) -> None:
        lr, wd, eps = group["lr"], group["weight_decay"], group["eps"]
        beta1, beta2 = group["betas"]
        for p in group["params"]:
            if p.grad is None:
                continue
            state = self.state[p]
            if "exp_avg" not in state:
                state["step"] = torch.zeros((), dtype=torch.float32)
                state["exp_avg"] = torch.zeros_like(p)
                state["exp_avg_sq"] = torch.zeros_like(p)
            state["step"] += 1
            step = float(state["step"])
            state["exp_avg"].lerp_(p.grad, 1.0 - beta1)
            state["exp_avg_sq"].mul_(beta2).addcmul_(p.grad, p.grad, value=1.0 - beta2)
            bias1 = 1.0 - beta1**step
            bias2 = 1.0 - beta2**step
            denom = (state["exp_avg_sq"] / bias2).sqrt_().add_(eps)
            p.mul_(1.0 - lr * wd)
            p.addcdiv_(state["exp_avg"], denom, value=-lr / bias1)


# ---- optimizer state <-> (tensors, JSON) for safetensors ---------------------------------------


def _to_json(value: Any) -> Any:
    """JSON form of a state value; tuples are tagged so they come back as tuples."""
    if isinstance(value, tuple):
        return {"__tuple__": [_to_json(v) for v in value]}
    if isinstance(value, list):
        return [_to_json(v) for v in value]
    if isinstance(value, dict):
        return {str(k): _to_json(v) for k, v in value.items()}
    if isinstance(value, float) and not math.isfinite(value):
        return {"__float__": repr(value)}
    return value


def _from_json(value: Any) -> Any:
    if isinstance(value, list):
        return [_from_json(v) for v in value]
    if isinstance(value, dict):
        if set(value) == {"__tuple__"}:
            return tuple(_from_json(v) for v in value["__tuple__"])
        if set(value) == {"__float__"}:
            return float(value["__float__"])
        return {k: _from_json(v) for k, v in value.items()}
    return value


def flatten_optimizer_state(
    optimizer: torch.optim.Optimizer,
) -> tuple[dict[str, torch.Tensor], dict[str, str]]:
    """(tensors, metadata) for safetensors.save_file: state tensors by "state.<id>.<name>"."""
    state_dict = optimizer.state_dict()
    tensors: dict[str, torch.Tensor] = {}
    scalars: dict[str, Any] = {}
    for param_id, param_state in state_dict["state"].items():
        for name, value in param_state.items():
            key = f"state.{param_id}.{name}"
            if isinstance(value, torch.Tensor):
                tensors[key] = value.detach().cpu().contiguous()
            else:
                scalars[key] = _to_json(value)
    meta = {
        "format_version": STATE_FORMAT_VERSION,
        "class": type(optimizer).__name__,
        "param_groups": _to_json(state_dict["param_groups"]),
        "scalars": scalars,
    }
    return tensors, {STATE_METADATA_KEY: json.dumps(meta)}


def unflatten_optimizer_state(
    tensors: dict[str, torch.Tensor], metadata: dict[str, str] | None, source: str
) -> dict[str, Any]:
    """The optimizer state_dict() back from flatten_optimizer_state's output."""
    try:
        meta = json.loads((metadata or {})[STATE_METADATA_KEY])
        param_groups = _from_json(meta["param_groups"])
        scalars = meta["scalars"]
    except (KeyError, TypeError, ValueError) as exc:
        raise CheckpointError(
            f"{source} has no readable gptlab optimizer metadata ({exc}): it was not written by "
            "gptlab or is corrupt. Resume from another checkpoint or start a new run."
        ) from exc
    state: dict[int, dict[str, Any]] = {}
    entries = [*tensors.items(), *((k, _from_json(v)) for k, v in scalars.items())]
    for key, value in entries:
        _, param_id, name = key.split(".", 2)
        state.setdefault(int(param_id), {})[name] = value
    return {"state": state, "param_groups": param_groups}


def optimizer_class_name(metadata: dict[str, str] | None) -> str | None:
    """The optimizer class recorded in optimizer.safetensors metadata, if any."""
    try:
        return str(json.loads((metadata or {})[STATE_METADATA_KEY])["class"])
    except (KeyError, TypeError, ValueError):
        return None
