"""Tests for gptlab.train.optim: schedule values, parameter groups, Muon, state round trip."""

from __future__ import annotations

import itertools
import math

import pytest
import torch
from safetensors.torch import load_file, save_file
from torch import nn

from gptlab.config import OptimConfig
from gptlab.train.optim import (
    Muon,
    build_optimizer,
    flatten_optimizer_state,
    lr_at,
    newton_schulz,
    param_groups,
    set_lr,
    unflatten_optimizer_state,
)


class TinyLM(nn.Module):
    """A GPT-shaped toy: embeddings, one hidden block of linears and norms, a tied head."""

    def __init__(self, vocab: int = 17, width: int = 8, ctx: int = 6) -> None:
        super().__init__()
        self.transformer = nn.ModuleDict(
            {
                "wte": nn.Embedding(vocab, width),
                "wpe": nn.Embedding(ctx, width),
                "ln_1": nn.LayerNorm(width),
                "c_fc": nn.Linear(width, 4 * width),
                "c_proj": nn.Linear(4 * width, width),
                "ln_f": nn.LayerNorm(width),
            }
        )
        self.lm_head = nn.Linear(width, vocab, bias=False)
        self.lm_head.weight = self.transformer["wte"].weight

    def forward(self, idx: torch.Tensor) -> torch.Tensor:
        t = self.transformer
        pos = torch.arange(idx.size(1))
        x = t["wte"](idx) + t["wpe"](pos)
        x = x + t["c_proj"](torch.nn.functional.gelu(t["c_fc"](t["ln_1"](x))))
        return self.lm_head(t["ln_f"](x))


def test_lr_schedule_warmup_peak_and_end() -> None:
    cfg = OptimConfig(lr=1e-3, min_lr=1e-4, warmup_steps=10, schedule="cosine")
    total = 110
    assert lr_at(0, cfg, total) == pytest.approx(1e-4)
    assert lr_at(4, cfg, total) == pytest.approx(5e-4)
    assert lr_at(9, cfg, total) == pytest.approx(1e-3)
    assert lr_at(10, cfg, total) == pytest.approx(1e-3)
    assert lr_at(total - 1, cfg, total) == pytest.approx(1e-4)
    assert lr_at(total + 50, cfg, total) == pytest.approx(1e-4)
    middle = 10 + (total - 10 - 1) / 2
    assert lr_at(int(middle), cfg, total) == pytest.approx(5.5e-4, rel=0.02)
    values = [lr_at(s, cfg, total) for s in range(10, total)]
    assert all(a >= b for a, b in itertools.pairwise(values))


def test_lr_schedule_linear_and_constant() -> None:
    linear = OptimConfig(lr=1.0, min_lr=0.0, warmup_steps=0, schedule="linear")
    assert lr_at(0, linear, 11) == pytest.approx(1.0)
    assert lr_at(5, linear, 11) == pytest.approx(0.5)
    assert lr_at(10, linear, 11) == pytest.approx(0.0)
    constant = OptimConfig(lr=0.3, min_lr=0.0, warmup_steps=2, schedule="constant")
    assert lr_at(0, constant, 100) == pytest.approx(0.15)
    assert lr_at(99, constant, 100) == pytest.approx(0.3)


def test_param_groups_decay_only_matrices_and_embeddings() -> None:
    model = TinyLM()
    groups = param_groups(model, 0.1)
    names = {id(p): n for n, p in model.named_parameters()}
    decay = {names[id(p)] for g in groups if g["weight_decay"] > 0 for p in g["params"]}
    no_decay = {names[id(p)] for g in groups if g["weight_decay"] == 0 for p in g["params"]}
    assert decay == {
        "transformer.wte.weight",
        "transformer.wpe.weight",
        "transformer.c_fc.weight",
        "transformer.c_proj.weight",
    }
    assert all("bias" in n or "ln_" in n for n in no_decay)
    assert "transformer.ln_1.weight" in no_decay and "transformer.c_fc.bias" in no_decay
    # Every parameter once: the tied head is not counted twice.
    count = sum(len(g["params"]) for g in groups)
    assert count == len(list(model.parameters()))


def test_muon_groups_leave_embeddings_and_head_to_adamw() -> None:
    model = TinyLM()
    groups = param_groups(model, 0.1, muon=True)
    names = {id(p): n for n, p in model.named_parameters()}
    muon = {names[id(p)] for g in groups if g["kind"] == "muon" for p in g["params"]}
    assert muon == {"transformer.c_fc.weight", "transformer.c_proj.weight"}


def test_newton_schulz_is_nearly_orthogonal() -> None:
    g = torch.Generator().manual_seed(0)
    for shape in [(8, 32), (32, 8)]:
        grad = torch.randn(*shape, generator=g)
        o = newton_schulz(grad)
        singular = torch.linalg.svdvals(o)
        assert singular.min() > 0.5 and singular.max() < 1.3
        # Same singular vectors: o is aligned with grad.
        assert torch.sum(o * grad) > 0


def _train(model: nn.Module, optimizer: torch.optim.Optimizer, steps: int) -> list[float]:
    g = torch.Generator().manual_seed(1)
    data = torch.randint(0, 17, (64, 7), generator=g)
    losses = []
    for step in range(steps):
        batch = data[(step * 8) % 64 : (step * 8) % 64 + 8]
        logits = model(batch[:, :-1])
        loss = nn.functional.cross_entropy(logits.reshape(-1, 17), batch[:, 1:].reshape(-1))
        optimizer.zero_grad(set_to_none=True)
        loss.backward()
        optimizer.step()
        losses.append(loss.item())
    return losses


@pytest.mark.parametrize("name", ["adamw", "muon"])
def test_optimizers_train(name: str) -> None:
    torch.manual_seed(0)
    model = TinyLM()
    cfg = OptimConfig(name=name, lr=1e-2, muon_lr=0.02, weight_decay=0.0)
    optimizer = build_optimizer(model, cfg, "cpu")
    assert isinstance(optimizer, Muon) == (name == "muon")
    losses = _train(model, optimizer, 60)
    assert sum(losses[-8:]) / 8 < sum(losses[:8]) / 8 - 0.3
    assert all(math.isfinite(v) for v in losses)


def test_set_lr_scales_each_group_from_its_peak() -> None:
    model = TinyLM()
    cfg = OptimConfig(name="muon", lr=1e-3, muon_lr=0.02)
    optimizer = build_optimizer(model, cfg, "cpu")
    set_lr(optimizer, 5e-4, cfg)
    lrs = sorted(g["lr"] for g in optimizer.param_groups)
    assert lrs[0] == pytest.approx(5e-4) and lrs[-1] == pytest.approx(0.01)


def _assert_state_equal(a: dict, b: dict) -> None:
    assert a["param_groups"] == b["param_groups"]
    assert a["state"].keys() == b["state"].keys()
    for pid in a["state"]:
        sa, sb = a["state"][pid], b["state"][pid]
        assert sa.keys() == sb.keys()
        for key in sa:
            if isinstance(sa[key], torch.Tensor):
                assert torch.equal(sa[key], sb[key]), (pid, key)
                assert sa[key].dtype == sb[key].dtype
            else:
                assert sa[key] == sb[key]


@pytest.mark.parametrize("name", ["adamw", "muon"])
def test_flatten_round_trip_is_exact(name: str, tmp_path) -> None:
    torch.manual_seed(0)
    model = TinyLM()
    cfg = OptimConfig(name=name)
    optimizer = build_optimizer(model, cfg, "cpu")
    _train(model, optimizer, 3)
    tensors, metadata = flatten_optimizer_state(optimizer)
    path = tmp_path / "optimizer.safetensors"
    save_file(tensors, str(path), metadata=metadata)
    from safetensors import safe_open

    with safe_open(str(path), framework="pt") as handle:
        loaded_meta = handle.metadata()
    restored = unflatten_optimizer_state(load_file(str(path)), loaded_meta, str(path))
    _assert_state_equal(optimizer.state_dict(), restored)

    # Loading it into a fresh optimizer continues identically.
    torch.manual_seed(0)
    twin = TinyLM()
    twin.load_state_dict(model.state_dict())
    twin_opt = build_optimizer(twin, cfg, "cpu")
    twin_opt.load_state_dict(restored)
    _train(model, optimizer, 2)
    _train(twin, twin_opt, 2)
    for p, q in zip(model.parameters(), twin.parameters(), strict=True):
        assert torch.equal(p, q)
