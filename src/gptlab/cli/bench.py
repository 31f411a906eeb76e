"""`gptlab bench`: training throughput (tokens/s, ms/step, MFU, peak memory) of a preset.

Trade-off: it times random tokens, so it needs no dataset but says nothing about the loader.
"""

from __future__ import annotations

import typer
from rich.table import Table

from gptlab.cli.app import app, console
from gptlab.cli.options import Device
from gptlab.model.gpt import GPT2_VOCAB_SIZE


@app.command()
def bench(
    preset: str = typer.Option(
        "tiny",
        "--preset",
        help="Model preset to time (tiny, seed-14m, gpt2-124m, ...; see `gptlab presets`). "
        "Default: tiny.",
        show_default=False,
    ),
    micro_batch: int | None = typer.Option(
        None,
        "--micro-batch",
        help="Samples per step on each device. Default: the preset's train.micro_batch_size.",
        show_default=False,
    ),
    context: int | None = typer.Option(
        None,
        "--context",
        help="Tokens per sample. Default: the preset's model.context_length.",
        show_default=False,
    ),
    steps: int = typer.Option(
        10, "--steps", help="Timed training steps. Default: 10.", show_default=False
    ),
    warmup: int = typer.Option(
        3,
        "--warmup",
        help="Untimed steps before timing (allocation, compile). Default: 3.",
        show_default=False,
    ),
    device: Device = "auto",
    precision: str = typer.Option(
        "auto",
        "--precision",
        help="fp32, bf16, fp16 or auto (bf16 on GPUs that support it). Default: auto.",
        show_default=False,
    ),
    compile_model: bool = typer.Option(
        False,
        "--compile",
        help="Compile the model with torch.compile. Default: off.",
        show_default=False,
    ),
    vocab_size: int = typer.Option(
        GPT2_VOCAB_SIZE,
        "--vocab-size",
        help=f"Vocabulary size in tokens. Default: {GPT2_VOCAB_SIZE} (GPT-2 BPE).",
        show_default=False,
    ),
) -> None:
    """Time training steps of a preset on random tokens: tokens/s, ms/step, MFU, peak memory."""
    from gptlab.bench import bench_config, measure_throughput

    cfg = bench_config(
        preset,
        micro_batch_size=micro_batch,
        context_length=context,
        device=device,
        precision=precision,
        compile_model=compile_model,
        vocab_size=vocab_size,
    )
    result = measure_throughput(cfg, steps=steps, warmup=warmup)
    table = Table(title=f"bench {preset}", show_header=False)
    mfu = "- (peak FLOP/s of this device unknown)" if result.mfu is None else f"{result.mfu:.1%}"
    for name, value in (
        ("device", f"{result.device} ({result.precision}, x{result.world_size})"),
        ("parameters", f"{result.params:,}"),
        ("batch", f"{result.micro_batch_size} x {result.context_length} tokens"),
        ("compiled", "yes" if result.compiled else "no"),
        ("ms / step", f"{result.ms_per_step:,.1f}"),
        ("tokens / s", f"{result.tokens_per_s:,.0f}"),
        ("MFU", mfu),
        ("peak memory", f"{result.peak_memory_mb:,.0f} MB"),
    ):
        table.add_row(name, value)
    console.print(table)
