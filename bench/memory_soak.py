"""Long-run memory: does `gptlab train` keep a flat RSS over thousands of steps?

Prepares the built-in corpus, starts `gptlab train` in a subprocess (evaluations, samples and
checkpoints on, as in a real run) and reads the process's resident set size from
/proc/PID/status every --interval seconds, together with the last step logged. The verdict
compares the RSS after warm-up (the first --warmup-share of the steps) with the highest RSS seen
after it.

    python bench/memory_soak.py --steps 3000            # about 5 minutes on 2 cores

Linux only (/proc). Prints a table and writes results.json into --out.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time
from dataclasses import asdict, dataclass
from pathlib import Path

from gptlab.data.prepare import prepare

MODEL = [
    "--set", "model.n_layer=2", "--set", "model.n_head=2", "--set", "model.n_embd=64",
    "--set", "model.context_length=64", "--set", "train.micro_batch_size=8",
]  # fmt: skip
"""A small model, so that thousands of steps (and their evals and saves) fit in minutes."""


@dataclass
class Soak:
    steps: int
    samples: int
    warm_step: int
    rss_warm_mb: float
    rss_max_after_warm_mb: float
    rss_end_mb: float
    growth_mb: float
    growth_share: float
    wall_s: float


def rss_mb(pid: int) -> float | None:
    """Resident set size of a live process in MiB; None when it has gone."""
    try:
        text = Path(f"/proc/{pid}/status").read_text()
    except OSError:
        return None
    for line in text.splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024
    return None


def last_step(metrics: Path) -> int:
    """Step of the last train record in metrics.jsonl (0 before the first)."""
    try:
        with metrics.open("rb") as f:
            f.seek(max(0, metrics.stat().st_size - 4096))
            lines = f.read().decode("utf-8", "replace").splitlines()
    except OSError:
        return 0
    for line in reversed(lines):
        try:
            record = json.loads(line)
        except ValueError:
            continue
        if record.get("kind") == "train":
            return int(record["step"])
    return 0


def soak(out: Path, steps: int, interval_s: float, warmup_share: float) -> Soak:
    """Train `steps` steps into out/run while sampling RSS; the summary of what was seen."""
    data = out / "data"
    if not (data / "meta.json").is_file():
        prepare("builtin", data, tokenizer="bpe", vocab_size=2048, num_workers=1, progress=False)
    run = out / "run"
    command = [
        str(Path(sys.executable).with_name("gptlab")), "train", "--data", str(data),
        "--out", str(run), "--max-steps", str(steps), "--device", "cpu", "--no-progress",
        *MODEL, "--set", f"train.eval_interval_steps={max(1, steps // 12)}",
        "--set", f"train.checkpoint_interval_steps={max(1, steps // 6)}",
    ]  # fmt: skip
    env = {**os.environ, "OMP_NUM_THREADS": "1"}
    start = time.monotonic()
    proc = subprocess.Popen(command, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, env=env)
    seen: list[tuple[int, float]] = []
    while proc.poll() is None:
        mb = rss_mb(proc.pid)
        if mb is not None:
            seen.append((last_step(run / "metrics.jsonl"), mb))
        time.sleep(interval_s)
    _, err = proc.communicate()
    if proc.returncode != 0:
        raise SystemExit(f"gptlab train failed ({proc.returncode}):\n{err.decode()}")
    warm_step = int(steps * warmup_share)
    after = [mb for step, mb in seen if step >= warm_step]
    if len(after) < 2:
        raise SystemExit(
            "Too few RSS samples after warm-up: use more --steps or a shorter --interval."
        )
    warm, top = after[0], max(after)
    return Soak(
        steps=steps,
        samples=len(seen),
        warm_step=warm_step,
        rss_warm_mb=round(warm, 1),
        rss_max_after_warm_mb=round(top, 1),
        rss_end_mb=round(after[-1], 1),
        growth_mb=round(top - warm, 1),
        growth_share=round((top - warm) / warm, 4),
        wall_s=round(time.monotonic() - start, 1),
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--steps", type=int, default=3000, help="training steps (3000)")
    parser.add_argument("--interval", type=float, default=0.5, help="seconds between samples")
    parser.add_argument(
        "--warmup-share", type=float, default=0.1, help="share of steps counted as warm-up (0.1)"
    )
    parser.add_argument("--out", type=Path, default=None, help="keep data and run here (temp)")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        out = args.out or Path(tmp)
        out.mkdir(parents=True, exist_ok=True)
        result = soak(out, args.steps, args.interval, args.warmup_share)
        (out / "results.json").write_text(json.dumps(asdict(result), indent=2) + "\n")
    for key, value in asdict(result).items():
        print(f"{key:>24}  {value}")


if __name__ == "__main__":
    main()
