"""Training-step throughput of a model config: tokens/s, ms per step, MFU and peak memory.

A timed step is what the training loop does for one optimizer step of one micro batch: forward
under autocast, backward (through DDP/FSDP when launched by torchrun), gradient clipping, the
scheduled learning rate and the optimizer step, built from the same runtime and optim functions
as gptlab.train.loop. Warm-up steps (allocation, compilation, autotuning) are not timed; the
device is synchronised before the clock is read.

Trade-off: batches are random token ids already on the device, so the figure is the model's
arithmetic and not the data loader's, and the loss values are meaningless; on these sizes the
loader costs little next to a step, and random tokens need no dataset on the machine.
"""

from __future__ import annotations

import dataclasses
import math
import time
from dataclasses import dataclass

import torch

from gptlab.config import Config, preset_config
from gptlab.errors import ConfigError
from gptlab.model.gpt import GPT, GPT2_VOCAB_SIZE, estimate_flops_per_token
from gptlab.train.loop import DeviceOutOfMemory, is_out_of_memory
from gptlab.train.optim import build_optimizer, lr_at, set_lr
from gptlab.train.plan import resolve_vocab_multiple
from gptlab.train.runtime import Runtime, clip_gradients, setup_runtime, wrap_model

BENCH_PRESETS = ("tiny", "seed-14m", "seed-29m", "seed-49m", "nanogpt-30m", "gpt2-124m")
"""The presets of the throughput table in bench/train_throughput.py."""


@dataclass(frozen=True)
class BenchResult:
    """Throughput of one config on one device."""

    tokens_per_s: float
    """Training tokens per second over all processes."""
    ms_per_step: float
    """Wall-clock milliseconds per optimizer step (one micro batch per process)."""
    mfu: float | None
    """Model FLOPs utilisation (0-1) against the device's peak; None when the peak is unknown."""
    peak_memory_mb: float
    """Peak CUDA memory allocated (GPU) or peak resident memory of the process (CPU), in MB."""
    params: int
    """Parameters of the model (tied weights counted once)."""
    device: str
    """Device name, e.g. 'NVIDIA H100 80GB HBM3' or the CPU's."""
    precision: str = "fp32"
    micro_batch_size: int = 0
    """Samples per forward/backward pass on each process."""
    context_length: int = 0
    """Tokens per sample."""
    world_size: int = 1
    compiled: bool = False


def bench_config(
    preset: str,
    *,
    micro_batch_size: int | None = None,
    context_length: int | None = None,
    device: str = "auto",
    precision: str = "auto",
    compile_model: bool = False,
    vocab_size: int = GPT2_VOCAB_SIZE,
) -> Config:
    """A preset's config with the bench's overrides; dropout off, vocabulary set."""
    cfg = preset_config(preset)
    if micro_batch_size is not None and micro_batch_size < 1:
        raise ConfigError(
            f"--micro-batch {micro_batch_size} is invalid: give a positive number of samples."
        )
    if context_length is not None and context_length < 1:
        raise ConfigError(f"--context {context_length} is invalid: give a positive token count.")
    if vocab_size < 1:
        raise ConfigError(f"--vocab-size {vocab_size} is invalid: give a positive token count.")
    model = dataclasses.replace(
        cfg.model,
        vocab_size=vocab_size,
        context_length=context_length or cfg.model.context_length,
        dropout=0.0,
        attn_dropout=0.0,
    )
    train = dataclasses.replace(
        cfg.train,
        micro_batch_size=micro_batch_size or cfg.train.micro_batch_size,
        device=device,
        precision=precision,
        compile=compile_model,
    )
    return dataclasses.replace(cfg, model=model, train=train)


def measure_throughput(cfg: Config, steps: int = 10, warmup: int = 3) -> BenchResult:
    """Time `steps` training steps of cfg's model on random tokens after `warmup` untimed ones.

    Uses cfg.train's device, precision, compile and micro_batch_size, and cfg.optim; under
    torchrun every process runs this and the result counts the tokens of all of them.
    """
    if steps < 1:
        raise ConfigError(f"steps={steps} is invalid: time at least one step (--steps 1).")
    if warmup < 0:
        raise ConfigError(f"warmup={warmup} is invalid: give 0 or more untimed steps.")
    if cfg.model.vocab_size < 1:
        raise ConfigError(
            "model.vocab_size is 0 (take it from a dataset), but the bench has no dataset: set "
            f"a vocabulary size, e.g. {GPT2_VOCAB_SIZE} for GPT-2's tokenizer."
        )
    runtime = setup_runtime(cfg.train)
    cfg = resolve_vocab_multiple(cfg, runtime.device)  # padded on CUDA only, as training does
    try:
        return _measure(cfg, runtime, steps, warmup)
    except RuntimeError as exc:  # torch's OutOfMemoryError is one
        if not is_out_of_memory(exc):
            raise
        half = max(1, cfg.train.micro_batch_size // 2)
        raise DeviceOutOfMemory(
            f"The device ran out of memory at micro batch {cfg.train.micro_batch_size} x "
            f"{cfg.model.context_length} tokens: try --micro-batch {half} (or --precision bf16 "
            "on a GPU)."
        ) from exc
    finally:
        runtime.close()


def _measure(cfg: Config, runtime: Runtime, steps: int, warmup: int) -> BenchResult:
    """The timed loop of measure_throughput, on a runtime it set up."""
    torch.manual_seed(cfg.train.seed)
    model = GPT(cfg.model).to(runtime.device)
    step_model = wrap_model(model, runtime, cfg.train.compile)
    optimizer = build_optimizer(model, cfg.optim, runtime.device.type)
    B, T = cfg.train.micro_batch_size, cfg.model.context_length
    x = torch.randint(0, cfg.model.vocab_size, (B, T), device=runtime.device)
    y = torch.randint(0, cfg.model.vocab_size, (B, T), device=runtime.device)
    max_norm = cfg.optim.grad_clip if cfg.optim.grad_clip > 0 else math.inf
    total_steps = warmup + steps

    def one_step(step: int) -> None:
        with runtime.autocast():
            _, loss = step_model(x, y)
        assert loss is not None
        scaler = runtime.scaler
        (scaler.scale(loss) if scaler is not None else loss).backward()
        if scaler is not None:
            scaler.unscale_(optimizer)
        clip_gradients(model, max_norm)
        set_lr(optimizer, lr_at(step, cfg.optim, total_steps), cfg.optim)
        if scaler is not None:
            scaler.step(optimizer)
            scaler.update()
        else:
            optimizer.step()
        optimizer.zero_grad(set_to_none=True)

    for step in range(warmup):
        one_step(step)
    runtime.synchronize()
    if runtime.device.type == "cuda":
        # Peak memory of the steady state, not of compilation or autotuning.
        torch.cuda.reset_peak_memory_stats(runtime.device)
    start = time.perf_counter()
    for step in range(warmup, total_steps):
        one_step(step)
    runtime.synchronize()
    seconds_per_step = (time.perf_counter() - start) / steps
    tokens_per_s = B * T * runtime.world_size / seconds_per_step
    mfu = None
    if runtime.peak_flops:
        mfu = estimate_flops_per_token(cfg.model) * tokens_per_s / runtime.peak_flops
    return BenchResult(
        tokens_per_s=tokens_per_s,
        ms_per_step=seconds_per_step * 1000.0,
        mfu=mfu,
        peak_memory_mb=runtime.memory_mb(),
        params=model.num_params().total,
        device=runtime.device_name,
        precision=runtime.precision,
        micro_batch_size=B,
        context_length=T,
        world_size=runtime.world_size,
        compiled=cfg.train.compile,
    )


MARKDOWN_HEADER = (
    "| preset | params (M) | ctx | micro batch | device | precision | compile | ms/step | "
    "tok/s | MFU | peak mem (MB) |\n"
    "|---|---:|---:|---:|---|---|---|---:|---:|---:|---:|"
)


def markdown_row(name: str, result: BenchResult) -> str:
    """One row of the Markdown throughput table (see MARKDOWN_HEADER)."""
    mfu = "-" if result.mfu is None else f"{result.mfu:.1%}"
    return (
        f"| {name} | {result.params / 1e6:.1f} | {result.context_length} | "
        f"{result.micro_batch_size} | {result.device} | {result.precision} | "
        f"{'yes' if result.compiled else 'no'} | {result.ms_per_step:,.1f} | "
        f"{result.tokens_per_s:,.0f} | {mfu} | {result.peak_memory_mb:,.0f} |"
    )
