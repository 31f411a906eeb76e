"""Training-step throughput of a preset: tokens/s and ms/step, printed as a Markdown table.

Times the same step the training loop runs (forward under autocast, backward, clip, AdamW) on
random tokens, so no dataset is needed; warm-up steps (allocation, compilation) are not timed.

    python bench/train_throughput.py --preset tiny seed-14m --micro-batch 8 --steps 5

Trade-off: random tokens and a fixed vocabulary (the GPT-2 50,257 unless --vocab-size) measure
the arithmetic, not the data loader; the loader's cost is small next to a step on these sizes.
"""

from __future__ import annotations

import argparse
import dataclasses
import math
import time

import torch

from gptlab.config import preset_config
from gptlab.model.gpt import GPT, estimate_flops_per_token
from gptlab.train.optim import build_optimizer
from gptlab.train.runtime import setup_runtime, wrap_model


def bench_preset(
    name: str,
    micro_batch: int,
    steps: int,
    warmup_steps: int,
    device: str,
    precision: str,
    compile_model: bool,
    vocab_size: int,
) -> dict[str, object]:
    """One row: the preset's step time and token rate on this machine."""
    cfg = preset_config(name)
    cfg = dataclasses.replace(
        cfg,
        model=dataclasses.replace(cfg.model, vocab_size=vocab_size, dropout=0.0),
        train=dataclasses.replace(
            cfg.train, device=device, precision=precision, compile=compile_model
        ),
    )
    runtime = setup_runtime(cfg.train)
    torch.manual_seed(0)
    model = GPT(cfg.model).to(runtime.device)
    optimizer = build_optimizer(model, cfg.optim, runtime.device.type)
    step_model = wrap_model(model, runtime, compile_model)
    T = cfg.model.context_length
    x = torch.randint(0, vocab_size, (micro_batch, T), device=runtime.device)
    y = torch.randint(0, vocab_size, (micro_batch, T), device=runtime.device)

    def one_step() -> None:
        with runtime.autocast():
            _, loss = step_model(x, y)
        assert loss is not None
        loss.backward()
        torch.nn.utils.clip_grad_norm_(model.parameters(), 1.0)
        optimizer.step()
        optimizer.zero_grad(set_to_none=True)

    for _ in range(warmup_steps):
        one_step()
    runtime.synchronize()
    start = time.perf_counter()
    for _ in range(steps):
        one_step()
    runtime.synchronize()
    seconds = (time.perf_counter() - start) / steps
    tokens_per_s = micro_batch * T / seconds
    mfu = None
    if runtime.peak_flops:
        mfu = estimate_flops_per_token(cfg.model) * tokens_per_s / runtime.peak_flops
    return {
        "preset": name,
        "params_m": model.num_params().total / 1e6,
        "context": T,
        "micro_batch": micro_batch,
        "device": runtime.device_name,
        "precision": runtime.precision,
        "ms_per_step": seconds * 1000,
        "tokens_per_s": tokens_per_s,
        "mfu": mfu,
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--preset", nargs="+", default=["tiny", "seed-14m", "seed-29m"])
    parser.add_argument("--micro-batch", type=int, default=8, help="samples per step (8)")
    parser.add_argument("--steps", type=int, default=5, help="timed steps (5)")
    parser.add_argument("--warmup", type=int, default=2, help="untimed warm-up steps (2)")
    parser.add_argument("--device", default="cpu", help="cpu, cuda, mps or auto (cpu)")
    parser.add_argument("--precision", default="fp32", help="fp32, bf16, fp16, auto (fp32)")
    parser.add_argument("--compile", action="store_true", help="torch.compile the model")
    parser.add_argument("--vocab-size", type=int, default=50257, help="vocabulary (50257)")
    parser.add_argument("--threads", type=int, default=0, help="torch CPU threads (0 = torch's)")
    args = parser.parse_args()
    if args.threads:
        torch.set_num_threads(args.threads)
    columns = "preset | params (M) | ctx | micro batch | device | precision | ms/step | tok/s | MFU"
    print(f"| {columns} |")
    print("|---|---:|---:|---:|---|---|---:|---:|---:|")
    for name in args.preset:
        row = bench_preset(
            name,
            args.micro_batch,
            args.steps,
            args.warmup,
            args.device,
            args.precision,
            args.compile,
            args.vocab_size,
        )
        mfu = row["mfu"]
        mfu_text = "-" if mfu is None or not math.isfinite(float(str(mfu))) else f"{mfu:.1%}"
        print(
            f"| {row['preset']} | {row['params_m']:.1f} | {row['context']} | "
            f"{row['micro_batch']} | {row['device']} | {row['precision']} | "
            f"{row['ms_per_step']:.0f} | {row['tokens_per_s']:,.0f} | {mfu_text} |",
            flush=True,
        )


if __name__ == "__main__":
    main()
