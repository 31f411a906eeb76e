"""Wall time of the demo's training loop alone: to compare two commits on the same machine.

Trains the demo's model (`gptlab demo`'s configuration) for a number of steps on an existing demo
dataset with one evaluation at the end, and prints the wall time. Run it once per checkout, one
after the other, with PYTHONPATH pointing at each checkout's src/ (see bench/README.md).
"""

from __future__ import annotations

import argparse
import shutil
import time
from pathlib import Path

from gptlab.config import apply_overrides
from gptlab.demo import demo_config
from gptlab.train import train


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("run", type=Path, help="run folder to write (replaced if present)")
    parser.add_argument("steps", type=int, help="optimizer steps of 16 x 128 tokens")
    parser.add_argument(
        "--data",
        type=Path,
        default=Path("/tmp/demo_check/demo/data"),
        help="the demo's prepared dataset (gptlab demo -o /tmp/demo_check/demo writes it)",
    )
    args = parser.parse_args()
    shutil.rmtree(args.run, ignore_errors=True)
    cfg = demo_config(args.data, args.run, args.steps)
    cfg = apply_overrides(cfg, [f"train.eval_interval_steps={args.steps}"])
    start = time.perf_counter()
    train(cfg, progress=False)
    print(f"wall {time.perf_counter() - start:.1f} s for {args.steps} steps")


if __name__ == "__main__":
    main()
