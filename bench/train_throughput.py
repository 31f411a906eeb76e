"""Training-step throughput of the presets on this machine, printed as a Markdown table.

Each row is gptlab.bench.measure_throughput: the training loop's step (forward under autocast,
backward, clip, scheduled optimizer step) on random tokens, warm-up steps untimed, the device
synchronised before the clock is read. Same figures as `gptlab bench --preset NAME`.

    python bench/train_throughput.py      # the whole table on the default device
    python bench/train_throughput.py --device cuda --precision bf16 --compile --micro-batch 16
    python bench/train_throughput.py --preset tiny seed-14m --device cpu --micro-batch 8 --steps 5
    python bench/train_throughput.py --preset seed-14m --device cpu --vocab-multiple 1 64

--vocab-multiple gives one row per embedding-table padding, side by side in one process: training
pads to 64 on CUDA and not at all on a CPU (model.vocab_multiple=0, auto), this shows why.

Trade-off: random tokens and a fixed vocabulary (GPT-2's 50,257 unless --vocab-size) measure the
arithmetic, not the data loader; the loader's cost is small next to a step on these sizes.
"""

from __future__ import annotations

import argparse
import dataclasses

import torch

from gptlab.bench import (
    BENCH_PRESETS,
    MARKDOWN_HEADER,
    bench_config,
    markdown_row,
    measure_throughput,
)
from gptlab.errors import GptlabError
from gptlab.model.gpt import GPT2_VOCAB_SIZE


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument(
        "--preset", nargs="+", default=list(BENCH_PRESETS), help="presets (the table's six)"
    )
    parser.add_argument(
        "--micro-batch", type=int, default=None, help="samples per step (each preset's own)"
    )
    parser.add_argument("--context", type=int, default=None, help="tokens per sample (preset's)")
    parser.add_argument("--steps", type=int, default=10, help="timed steps (10)")
    parser.add_argument("--warmup", type=int, default=3, help="untimed warm-up steps (3)")
    parser.add_argument("--device", default="auto", help="auto, cpu, cuda, cuda:N or mps (auto)")
    parser.add_argument("--precision", default="auto", help="fp32, bf16, fp16 or auto (auto)")
    parser.add_argument("--compile", action="store_true", help="torch.compile the model")
    parser.add_argument(
        "--vocab-size", type=int, default=GPT2_VOCAB_SIZE, help=f"vocabulary ({GPT2_VOCAB_SIZE})"
    )
    parser.add_argument("--threads", type=int, default=0, help="torch CPU threads (0 = torch's)")
    parser.add_argument(
        "--vocab-multiple",
        type=int,
        nargs="+",
        default=[0],
        help="pad the vocabulary to these multiples, a row each (0 = the config's auto: 64)",
    )
    args = parser.parse_args()
    if args.threads:
        torch.set_num_threads(args.threads)
    print(MARKDOWN_HEADER, flush=True)
    for name in args.preset:
        try:
            cfg = bench_config(
                name,
                micro_batch_size=args.micro_batch,
                context_length=args.context,
                device=args.device,
                precision=args.precision,
                compile_model=args.compile,
                vocab_size=args.vocab_size,
            )
        except GptlabError as exc:
            parser.exit(2, f"error: {exc}\n")
        for multiple in args.vocab_multiple:
            model = dataclasses.replace(cfg.model, vocab_multiple=multiple)
            label = name
            if len(args.vocab_multiple) > 1:
                label = f"{name}, vocab {args.vocab_size:,} -> {model.padded_vocab_size:,} rows"
            try:
                result = measure_throughput(
                    dataclasses.replace(cfg, model=model), steps=args.steps, warmup=args.warmup
                )
            except GptlabError as exc:
                parser.exit(2, f"error: {exc}\n")
            except torch.OutOfMemoryError:
                print(f"| {label} | out of memory: try a smaller --micro-batch |")
                continue
            print(markdown_row(label, result), flush=True)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
