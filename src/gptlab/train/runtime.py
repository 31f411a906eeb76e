"""Where and how a run trains: device, precision, seeding, compile, DDP/FSDP, environment record.

This is the only training module that reads environment variables (torchrun's RANK, WORLD_SIZE,
LOCAL_RANK); the model stays single-device and precision-agnostic and is wrapped here. What the
run will do with its data and steps is planned in train/plan.py.

Trade-off: precision "auto" picks bf16 only on CUDA GPUs that support it; CPUs and MPS train in
fp32: bf16 autocast on a CPU ran 6x slower than fp32 on ours, so asking for it there warns.
"""

from __future__ import annotations

import contextlib
import os
import platform
import random
import socket
import subprocess
import sys
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

import numpy as np
import torch
from torch import nn

from gptlab import __version__
from gptlab.config import Config, TrainConfig
from gptlab.errors import CheckpointError, ConfigError

PEAK_FLOPS_BF16: dict[str, float] = {"H200": 989e12, "H100": 989e12, "A100": 312e12}
"""Dense bf16/fp16 tensor-core peak FLOP/s by GPU name fragment (first match wins)."""
PEAK_FLOPS_TF32: dict[str, float] = {"H200": 494e12, "H100": 494e12, "A100": 156e12}
"""Dense TF32 peak FLOP/s (fp32 training with TF32 matmuls on)."""


@dataclass
class Runtime:
    """Device, precision and process-group facts for one training process."""

    device: torch.device
    dtype: torch.dtype
    """Autocast dtype: torch.float32 means no autocast."""
    precision: str
    """Resolved precision name: fp32, bf16 or fp16."""
    rank: int = 0
    world_size: int = 1
    local_rank: int = 0
    scaler: torch.amp.GradScaler | None = None
    """Loss scaler, only for fp16."""
    distributed: bool = False
    parallel: str = "ddp"
    """How several processes share the model: ddp (replicas) or fsdp (sharded, FSDP2)."""
    device_name: str = "cpu"
    peak_flops: float | None = None
    """Peak FLOP/s of the device at this precision; None when unknown (MFU is then null)."""
    notes: list[str] = field(default_factory=list)
    """Warnings about the chosen settings, for the user (e.g. bf16 on a CPU)."""
    _owns_process_group: bool = field(default=False, repr=False)

    @property
    def is_main(self) -> bool:
        """Rank 0: the only process that writes files and logs."""
        return self.rank == 0

    @property
    def sharded(self) -> bool:
        """FSDP across several processes: every rank must join saves, samples and loads."""
        return self.distributed and self.parallel == "fsdp"

    def mean_over_ranks(self, value: torch.Tensor) -> torch.Tensor:
        """The mean of a tensor over all processes (the tensor itself when there is one)."""
        if not self.distributed:
            return value
        total = value.detach().clone()
        # gloo has no AVG reduction, so sum and divide.
        torch.distributed.all_reduce(total)
        return total / self.world_size

    def any_rank(self, flag: bool) -> bool:
        """True on every process when `flag` is true on at least one (e.g. a stop signal)."""
        if not self.distributed:
            return flag
        packed = torch.tensor([1.0 if flag else 0.0], device=self.device)
        torch.distributed.all_reduce(packed)
        return bool(packed.item() > 0)

    def broadcast_int(self, value: int) -> int:
        """Rank 0's `value` on every process."""
        if not self.distributed:
            return value
        packed = torch.tensor([value], dtype=torch.int64, device=self.device)
        torch.distributed.broadcast(packed, src=0)
        return int(packed.item())

    def barrier(self) -> None:
        """Wait until every process gets here."""
        if self.distributed:
            torch.distributed.barrier()

    def autocast(self) -> contextlib.AbstractContextManager[Any]:
        """Context for forward passes: autocast to bf16/fp16, or nothing in fp32."""
        if self.dtype == torch.float32:
            return contextlib.nullcontext()
        return torch.autocast(device_type=self.device.type, dtype=self.dtype)

    def synchronize(self) -> None:
        """Wait for queued device work (for honest timings)."""
        if self.device.type == "cuda":
            torch.cuda.synchronize(self.device)

    def memory_mb(self) -> float:
        """Peak device memory (CUDA) or peak resident memory of this process (CPU), in MB."""
        if self.device.type == "cuda":
            return torch.cuda.max_memory_allocated(self.device) / 2**20
        try:
            import resource
        except ImportError:  # not on Windows
            return 0.0
        peak_kb = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
        # Linux reports kilobytes, macOS bytes.
        return peak_kb / (2**20 if sys.platform == "darwin" else 2**10)

    def close(self) -> None:
        """Tear down the process group this runtime created."""
        if self._owns_process_group and torch.distributed.is_initialized():
            torch.distributed.destroy_process_group()
            self._owns_process_group = False


def resolve_device(name: str, local_rank: int | None = None) -> torch.device:
    """auto (cuda > mps > cpu), cpu, cuda, cuda:N or mps; ConfigError when it is not available.

    Plain "cuda" is the rank's own GPU under torchrun (local_rank), else the current one.
    """
    if name == "auto":
        if torch.cuda.is_available():
            name = "cuda"
        elif torch.backends.mps.is_available():
            name = "mps"
        else:
            name = "cpu"
    if not (name in ("cpu", "cuda", "mps") or name.startswith("cuda:")):
        raise ConfigError(f"Device {name!r} is unknown: use auto, cpu, cuda, cuda:N or mps.")
    if name.startswith("cuda"):
        if not torch.cuda.is_available():
            raise ConfigError(
                f"Device {name!r} asked for, but this PyTorch sees no CUDA GPU: use --device cpu "
                "(or auto), or install a CUDA build of PyTorch on a machine with a GPU."
            )
        if name == "cuda":
            index = torch.cuda.current_device() if local_rank is None else local_rank
            return torch.device("cuda", index)
    if name == "mps" and not torch.backends.mps.is_available():
        raise ConfigError("Device 'mps' asked for, but MPS is not available: use --device cpu.")
    return torch.device(name)


def _resolve_precision(name: str, device: torch.device) -> str:
    if name == "auto":
        if device.type == "cuda" and torch.cuda.is_bf16_supported():
            return "bf16"
        return "fp32"
    if name == "fp16" and device.type == "cpu":
        raise ConfigError(
            "train.precision='fp16' is not supported on the CPU: use fp32 or bf16 there."
        )
    if name == "bf16" and device.type == "cuda" and not torch.cuda.is_bf16_supported():
        raise ConfigError(
            "train.precision='bf16' but this GPU does not support bf16: use fp16 or fp32."
        )
    return name


def _peak_flops(device: torch.device, precision: str) -> tuple[str, float | None]:
    if device.type != "cuda":
        return (platform.processor() or device.type), None
    name = torch.cuda.get_device_name(device)
    table = PEAK_FLOPS_TF32 if precision == "fp32" else PEAK_FLOPS_BF16
    for fragment, flops in table.items():
        if fragment in name:
            return name, flops
    return name, None


def setup_runtime(cfg: TrainConfig) -> Runtime:
    """Resolve device and precision, join the torchrun process group if any, turn TF32 on."""
    world_size = int(os.environ.get("WORLD_SIZE", "1"))
    rank = int(os.environ.get("RANK", "0"))
    local_rank = int(os.environ.get("LOCAL_RANK", "0"))
    distributed = world_size > 1
    device = resolve_device(cfg.device, local_rank if distributed else None)
    precision = _resolve_precision(cfg.precision, device)
    dtype = {"fp32": torch.float32, "bf16": torch.bfloat16, "fp16": torch.float16}[precision]
    if device.type == "cuda":
        torch.cuda.set_device(device)
        torch.backends.cuda.matmul.allow_tf32 = True
        torch.backends.cudnn.allow_tf32 = True
    owns_group = False
    if distributed and not torch.distributed.is_initialized():
        backend = "nccl" if device.type == "cuda" else "gloo"
        torch.distributed.init_process_group(backend=backend)
        owns_group = True
    scaler = torch.amp.GradScaler(device.type) if precision == "fp16" else None
    device_name, peak = _peak_flops(device, precision)
    notes = []
    if precision == "bf16" and device.type == "cpu":
        notes.append(
            "warning: bf16 on a CPU is emulated and ran ~6x slower than fp32 on ours; "
            "--precision fp32 (or auto) is faster there"
        )
    return Runtime(
        device=device,
        dtype=dtype,
        precision=precision,
        rank=rank,
        world_size=world_size,
        local_rank=local_rank,
        scaler=scaler,
        distributed=distributed,
        parallel=cfg.parallel,
        device_name=device_name,
        peak_flops=peak * world_size if peak is not None else None,
        notes=notes,
        _owns_process_group=owns_group,
    )


def seed_everything(seed: int) -> None:
    """Seed python, numpy and torch (all devices) from one number."""
    random.seed(seed)
    np.random.seed(seed % 2**32)
    torch.manual_seed(seed)


def wrap_model(model: nn.Module, runtime: Runtime, compile_model: bool) -> nn.Module:
    """Compile and/or wrap in DDP (or shard with FSDP2); use the result for training steps only.

    FSDP2 shards `model` in place (each block, then the root), replacing its parameters with
    sharded ones: build the optimizer after this call. Its forward works on every rank at once.
    """
    if runtime.sharded:
        from torch.distributed.fsdp import fully_shard

        blocks = getattr(model, "blocks", None)
        if not isinstance(blocks, list):
            raise ConfigError(
                "train.parallel='fsdp' needs a model with a `blocks` list to shard one block at a "
                "time; this model has none. Use --set train.parallel=ddp."
            )
        # One all-gather per block bounds memory to about one block's full weights at a time.
        for block in blocks:
            fully_shard(block)
        fully_shard(model)
        if compile_model:
            compiled_fsdp: Callable[..., Any] = torch.compile(model)
            assert isinstance(compiled_fsdp, nn.Module)
            return compiled_fsdp
        return model
    wrapped = model
    if compile_model:
        compiled: Callable[..., Any] = torch.compile(model)
        assert isinstance(compiled, nn.Module)
        wrapped = compiled
    if runtime.distributed:
        from torch.nn.parallel import DistributedDataParallel

        device_ids = [runtime.device.index] if runtime.device.type == "cuda" else None
        wrapped = DistributedDataParallel(wrapped, device_ids=device_ids)
    return wrapped


def no_sync(model: nn.Module, skip: bool) -> contextlib.AbstractContextManager[Any]:
    """No gradient sync on accumulation micro-steps (skip=True), so gradients sync once a step.

    DDP: its no_sync(); FSDP2: set_requires_gradient_sync(False) for the micro-step.
    """
    if not skip:
        return contextlib.nullcontext()
    sync_off = getattr(model, "no_sync", None)
    if sync_off is not None:
        context: contextlib.AbstractContextManager[Any] = sync_off()
        return context
    if hasattr(model, "set_requires_gradient_sync"):
        return _fsdp_no_sync(model)
    return contextlib.nullcontext()


@contextlib.contextmanager
def _fsdp_no_sync(model: Any) -> Any:
    model.set_requires_gradient_sync(False)
    try:
        yield
    finally:
        model.set_requires_gradient_sync(True)


def clip_gradients(model: nn.Module, max_norm: float) -> float:
    """Clip the global gradient norm to max_norm (inf: no clipping); return the pre-clip norm.

    Under FSDP the norm is a sharded DTensor; full_tensor() sums the shards' parts over ranks.
    """
    params = [p for p in model.parameters() if p.grad is not None]
    grads = [p.grad for p in params if p.grad is not None]
    total = torch.nn.utils.get_total_norm(grads, 2.0)
    full_tensor = getattr(total, "full_tensor", None)
    if full_tensor is not None:
        total = full_tensor()
    torch.nn.utils.clip_grads_with_norm_(params, max_norm, total)
    return float(total)


def _git_commit() -> str | None:
    source = Path(__file__).resolve().parent
    try:
        done = subprocess.run(
            ["git", "-C", str(source), "rev-parse", "HEAD"],
            capture_output=True,
            text=True,
            timeout=5,
            check=False,
        )
    except (OSError, subprocess.SubprocessError):
        return None
    return done.stdout.strip() or None if done.returncode == 0 else None


def environment_record(runtime: Runtime, command_line: list[str] | None) -> dict[str, Any]:
    """What env.json holds: versions, device, git commit, command line, host, start time."""
    return {
        "python": platform.python_version(),
        "torch": torch.__version__,
        "gptlab": __version__,
        "numpy": np.__version__,
        "platform": platform.platform(),
        "device": str(runtime.device),
        "device_name": runtime.device_name,
        "precision": runtime.precision,
        "world_size": runtime.world_size,
        "cuda": torch.version.cuda,
        "git_commit": _git_commit(),
        "command_line": command_line,
        "hostname": socket.gethostname(),
        "started": datetime.now(timezone.utc).isoformat(timespec="seconds"),
    }


# ---- FSDP: the same safetensors checkpoints as a single process -------------------------------


def checkpoint_view(
    runtime: Runtime, model: nn.Module, optimizer: torch.optim.Optimizer, cfg: Config
) -> tuple[nn.Module, torch.optim.Optimizer] | None:
    """The model and optimizer a checkpoint is written from, or None on ranks that write nothing.

    Unsharded: the objects themselves on rank 0. FSDP: a collective (call it on every rank) that
    gathers the full state to rank 0's CPU and loads it into a plain GPT and optimizer there, so
    the checkpoint is the one a single process writes, including stored-once tied weights.
    """
    if not runtime.sharded:
        return (model, optimizer) if runtime.is_main else None
    from torch.distributed.checkpoint.state_dict import (
        StateDictOptions,
        get_model_state_dict,
        get_optimizer_state_dict,
    )

    from gptlab.model.gpt import GPT
    from gptlab.train.optim import build_optimizer

    # With cpu_offload only rank 0 receives the gathered tensors; the others get empty dicts.
    options = StateDictOptions(full_state_dict=True, cpu_offload=True)
    model_state = get_model_state_dict(model, options=options)
    named_optim_state = get_optimizer_state_dict(model, optimizer, options=options)
    if not runtime.is_main:
        return None
    with torch.device("meta"):
        plain = GPT(cfg.model)
    _to_empty_keeping_ties(plain)
    plain.load_state_dict(model_state)
    plain_optimizer = build_optimizer(plain, cfg.optim, "cpu")
    plain_optimizer.load_state_dict(_ids_from_names(named_optim_state))
    return plain, plain_optimizer


def _to_empty_keeping_ties(model: nn.Module) -> None:
    """Allocate a meta-device model on the CPU without initialising it; shared parameters (the
    tied embedding and LM head) stay one parameter, as in the model that was sharded."""
    owners: dict[int, list[tuple[nn.Module, str]]] = {}
    for module in model.modules():
        for name, param in module.named_parameters(recurse=False):
            owners.setdefault(id(param), []).append((module, name))
    model.to_empty(device="cpu")
    for places in owners.values():
        first_module, first_name = places[0]
        shared = getattr(first_module, first_name)
        for module, name in places[1:]:
            setattr(module, name, shared)


def load_sharded_optimizer(
    model: nn.Module, optimizer: torch.optim.Optimizer, checkpoint_dir: Path
) -> None:
    """FSDP: load a checkpoint's optimizer.safetensors (full tensors) into the sharded optimizer."""
    from safetensors import SafetensorError, safe_open
    from safetensors.torch import load_file
    from torch.distributed.checkpoint.state_dict import (
        StateDictOptions,
        set_optimizer_state_dict,
    )

    from gptlab.train.checkpoint import OPTIMIZER_FILE
    from gptlab.train.optim import unflatten_optimizer_state

    path = checkpoint_dir / OPTIMIZER_FILE
    try:
        with safe_open(str(path), framework="pt") as handle:
            metadata = dict(handle.metadata() or {})
        tensors = load_file(str(path))
    except (SafetensorError, OSError, ValueError) as exc:
        raise CheckpointError(
            f"{path} is not a readable safetensors file ({exc}). Use another checkpoint."
        ) from exc
    by_id = unflatten_optimizer_state(tensors, metadata, str(path))
    names = _optimizer_param_names(model, optimizer)
    try:
        named: dict[str, Any] = {
            "state": {names[int(i)]: v for i, v in by_id["state"].items()},
            "param_groups": [
                {**group, "params": [names[int(i)] for i in group["params"]]}
                for group in by_id["param_groups"]
            ],
        }
        set_optimizer_state_dict(
            model, optimizer, named, options=StateDictOptions(full_state_dict=True)
        )
    except (IndexError, KeyError, ValueError, RuntimeError) as exc:
        raise CheckpointError(
            f"{path} does not fit this optimizer ({exc}): optim.name or the model changed "
            "since the checkpoint. Resume with the run's own config.toml."
        ) from exc


def _optimizer_param_names(model: nn.Module, optimizer: torch.optim.Optimizer) -> list[str]:
    """Parameter names in the optimizer's order: position i is id i of optimizer.state_dict()."""
    names = {id(param): name for name, param in model.named_parameters()}
    return [names[id(p)] for group in optimizer.param_groups for p in group["params"]]


def _ids_from_names(named: dict[str, Any]) -> dict[str, Any]:
    """A name-keyed optimizer state dict (torch.distributed.checkpoint) in optimizer.state_dict()
    form, whose parameter ids count through the groups in order."""
    order = [name for group in named["param_groups"] for name in group["params"]]
    index = {name: i for i, name in enumerate(order)}
    return {
        "state": {index[name]: value for name, value in named["state"].items()},
        "param_groups": [
            {**group, "params": [index[name] for name in group["params"]]}
            for group in named["param_groups"]
        ],
    }
