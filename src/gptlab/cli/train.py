"""`gptlab train`: flags -> Config -> gptlab.train.train, and the exit code of how it ended.

Settings resolve in one order: preset defaults < --config file < flags < --set. With --resume the
run's own config.toml is the base and only horizon, interval, sampling, optimizer and runtime
settings may change, so the continued run is the same model on the same data.

Trade-off: --nproc-per-node re-launches this command under torch.distributed.run, so the flags
are rebuilt from their parsed values rather than passed through byte for byte.
"""

from __future__ import annotations

import contextlib
import os
import signal
import subprocess
import sys
from pathlib import Path
from typing import Any

import typer

from gptlab.cli.app import app, console, err_console
from gptlab.cli.options import ConfigFile, Overrides
from gptlab.config import (
    Config,
    apply_overrides,
    config_from_dict,
    load_config,
    preset_config,
    read_toml,
)
from gptlab.errors import ConfigError
from gptlab.report import summarize_run
from gptlab.report.terminal import print_run_summary

RESUMABLE_PREFIXES = (
    "train.max_steps",
    "train.epochs",
    "train.max_tokens",
    "train.micro_batch_size",
    "train.log_interval_steps",
    "train.eval_interval_steps",
    "train.eval_batches",
    "train.eval_at_start",
    "train.hellaswag_",
    "train.lambada_",
    "train.samples_per_prompt",
    "train.checkpoint_interval_steps",
    "train.keep_last_checkpoints",
    "train.device",
    "train.precision",
    "train.compile",
    "train.parallel",
    "train.sample_",
    "optim.",
    "run.",
)
"""--set keys allowed with --resume: they change neither the model nor the data order."""
HORIZONS = ("max_steps", "epochs", "max_tokens")


def _check_resumable(overrides: list[str]) -> None:
    for item in overrides:
        key = item.partition("=")[0].strip()
        if key == "run.out_dir" or not key.startswith(RESUMABLE_PREFIXES):
            raise ConfigError(
                f"--set {item} cannot change a resumed run: it would change the model, the data "
                "or the data order. With --resume only horizon (train.max_steps, epochs, "
                "max_tokens), micro batch, intervals, sampling, optim.* and runtime (device, "
                "precision, compile) settings may change; start a new run with --out for anything "
                "else."
            )


def build_config(
    *,
    preset: str | None,
    data: Path | None,
    out: Path | None,
    config_file: Path | None,
    overrides: list[str],
    resume: Path | None,
    max_steps: int | None,
    device: str | None,
    precision: str | None,
    compile_model: bool | None,
    parallel: str | None = None,
    optimizer: str | None = None,
) -> Config:
    """The resolved Config: preset < config file < flags < --set (resume: the run's config)."""
    if resume is not None:
        if preset or data or out or config_file:
            raise ConfigError(
                "--resume continues a run with its own config.toml, so --preset, --data, --out "
                "and --config cannot be combined with it. Use --set for the allowed changes."
            )
        _check_resumable(overrides)
        config_path = resume / "config.toml"
        if not config_path.is_file():
            raise ConfigError(
                f"Cannot resume {resume}: {config_path} does not exist. Give the --out folder of "
                "an earlier `gptlab train` run, or start a new run with --out."
            )
        cfg = config_from_dict(read_toml(config_path))
        flags: dict[str, dict[str, Any]] = {"run": {"out_dir": str(resume)}}
    else:
        cfg = preset_config(preset) if preset else Config()
        if config_file is not None:
            cfg = load_config(config_file, cfg)
        flags = {"data": {}, "run": {}}
        if data is not None:
            flags["data"]["path"] = str(data)
        if out is not None:
            flags["run"]["out_dir"] = str(out)
    chosen: dict[str, Any] = {
        "device": device,
        "precision": precision,
        "compile": compile_model,
        "parallel": parallel,
    }
    run_flags = {k: v for k, v in chosen.items() if v is not None}
    if optimizer is not None:
        flags["optim"] = {"name": optimizer}
    if max_steps is not None:
        # A flag horizon replaces whichever horizon the preset or file set.
        run_flags.update({"max_steps": max_steps, "epochs": 0.0, "max_tokens": 0})
    flags["train"] = run_flags
    cfg = config_from_dict(flags, cfg)
    if any(o.partition("=")[0].strip() in _horizon_keys() for o in overrides):
        cfg = config_from_dict({"train": {"max_steps": 0, "epochs": 0.0, "max_tokens": 0}}, cfg)
    return apply_overrides(cfg, overrides)


def adjustable_fields(
    *, config_file: Path | None, overrides: list[str], resume: Path | None
) -> frozenset[str]:
    """Recipe fields the user did not set (in --config or --set): they may follow the horizon,
    the step batch and the device. A resumed run keeps its own config as it is."""
    from gptlab.train.plan import ADJUSTABLE_FIELDS

    if resume is not None:
        return frozenset()
    explicit = {o.partition("=")[0].strip() for o in overrides}
    if config_file is not None:
        for section, values in read_toml(config_file).items():
            if isinstance(values, dict):
                explicit.update(f"{section}.{name}" for name in values)
    return ADJUSTABLE_FIELDS - explicit


def _horizon_keys() -> tuple[str, ...]:
    return tuple(f"train.{h}" for h in HORIZONS)


def _relaunch_args(
    preset: str | None,
    data: Path | None,
    out: Path | None,
    config_file: Path | None,
    overrides: list[str],
    resume: Path | None,
    max_steps: int | None,
    device: str | None,
    precision: str | None,
    compile_model: bool | None,
    progress: bool,
    parallel: str | None = None,
    optimizer: str | None = None,
) -> list[str]:
    """The train command's flags (without --nproc-per-node), rebuilt from parsed values."""
    args: list[str] = []
    for flag, value in (
        ("--preset", preset),
        ("--data", data),
        ("--out", out),
        ("--config", config_file),
        ("--resume", resume),
        ("--max-steps", max_steps),
        ("--device", device),
        ("--precision", precision),
        ("--parallel", parallel),
        ("--optimizer", optimizer),
    ):
        if value is not None:
            args += [flag, str(value)]
    if compile_model is not None:
        args.append("--compile" if compile_model else "--no-compile")
    if not progress:
        args.append("--no-progress")
    for item in overrides:
        args += ["--set", item]
    return args


@app.command()
def train(
    preset: str | None = typer.Option(
        None,
        "--preset",
        help="Start from a named preset (tiny, seed-14m, gpt2-124m, ...). Default: none "
        "(the built-in defaults).",
        show_default=False,
    ),
    data: Path | None = typer.Option(
        None,
        "--data",
        help="Prepared dataset folder (from `gptlab prepare`). Default: data.path of the "
        "config, data/builtin.",
        show_default=False,
    ),
    out: Path | None = typer.Option(
        None,
        "--out",
        "-o",
        help="Run folder to create. Default: run.out_dir of the config, runs/run.",
        show_default=False,
    ),
    config_file: ConfigFile = None,
    overrides: Overrides = None,
    resume: Path | None = typer.Option(
        None,
        "--resume",
        help="Continue this run folder from its latest complete checkpoint, exactly. "
        "Default: start a new run.",
        show_default=False,
    ),
    max_steps: int | None = typer.Option(
        None,
        "--max-steps",
        help="Train for this many optimizer steps (replaces epochs/max_tokens). Default: the "
        "config's horizon.",
        show_default=False,
    ),
    device: str | None = typer.Option(
        None,
        "--device",
        help="auto, cpu, cuda, cuda:N or mps. Default: the config's train.device (auto).",
        show_default=False,
    ),
    precision: str | None = typer.Option(
        None,
        "--precision",
        help="fp32, bf16, fp16 or auto. Default: the config's train.precision (auto).",
        show_default=False,
    ),
    compile_model: bool | None = typer.Option(
        None,
        "--compile/--no-compile",
        help="Compile the model with torch.compile. Default: the config's train.compile (off).",
        show_default=False,
    ),
    no_progress: bool = typer.Option(
        False,
        "--no-progress",
        help="Print plain log lines every log interval instead of a progress bar (what happens "
        "anyway when stderr is not a terminal, e.g. piped or in CI). Default: off.",
        show_default=False,
    ),
    parallel: str | None = typer.Option(
        None,
        "--parallel",
        help="ddp (a full model copy per process) or fsdp (FSDP2: parameters, gradients and "
        "optimizer state sharded over the processes, for models too big for one device). "
        "Default: the config's train.parallel (ddp).",
        show_default=False,
    ),
    optimizer: str | None = typer.Option(
        None,
        "--optimizer",
        help="adamw, or muon (Muon for the hidden matrices, AdamW for embeddings, head and "
        "vectors). Default: the config's optim.name (adamw).",
        show_default=False,
    ),
    nproc_per_node: int = typer.Option(
        1,
        "--nproc-per-node",
        help="Processes (GPUs) on this machine; above 1 re-launches under torch.distributed.run "
        "with DDP. Default: 1.",
        show_default=False,
    ),
) -> None:
    """Train a GPT model on a prepared dataset; writes a run folder with metrics and checkpoints.

    Settings apply in this order: preset < --config file < flags < --set. A preset's warmup,
    intervals and micro batch follow a shorter run or smaller batch unless you set them (a note
    says what changed). `gptlab config --list` shows every --set field with its default.

    [bold]Examples[/bold]

      gptlab train --data data/builtin --preset tiny --out runs/tiny
      gptlab train --data data/ts --preset seed-14m --max-steps 300 --out r/s
      gptlab train --data data/ts --preset tiny --set optim.lr=1e-3
      gptlab train --data data/ts --set train.batch_size=32 --device cpu
      gptlab train --data data/fw --preset gpt2-124m --out runs/g124
        --set train.eval_at_start=true
        --set train.hellaswag_path=hellaswag_val.jsonl
        --set train.hellaswag_limit=500
      gptlab train --resume runs/tiny --max-steps 400
    """
    overrides = overrides or []
    from gptlab.train.loop import TrainingInterrupted
    from gptlab.train.loop import train as run_training

    args = _relaunch_args(
        preset,
        data,
        out,
        config_file,
        overrides,
        resume,
        max_steps,
        device,
        precision,
        compile_model,
        not no_progress,
        parallel,
        optimizer,
    )
    if nproc_per_node < 1:
        raise ConfigError(f"--nproc-per-node={nproc_per_node} must be at least 1.")
    if nproc_per_node > 1 and "WORLD_SIZE" not in os.environ:
        command = [
            sys.executable,
            "-m",
            "torch.distributed.run",
            "--standalone",
            f"--nproc-per-node={nproc_per_node}",
            "-m",
            "gptlab",
            "train",
            *args,
        ]
        err_console.print("launching: " + " ".join(command), highlight=False)
        raise SystemExit(subprocess.call(command))
    cfg = build_config(
        preset=preset,
        data=data,
        out=out,
        config_file=config_file,
        overrides=overrides,
        resume=resume,
        max_steps=max_steps,
        device=device,
        precision=precision,
        compile_model=compile_model,
        parallel=parallel,
        optimizer=optimizer,
    )
    try:
        result = run_training(
            cfg,
            resume=resume is not None,
            command_line=["gptlab", "train", *args],
            progress=not no_progress,
            adjustable=adjustable_fields(
                config_file=config_file, overrides=overrides, resume=resume
            ),
        )
    except TrainingInterrupted as stop:
        _ignore_further_signals()
        err_console.print(str(stop), highlight=False)
        # SystemExit, because gptlab.cli.main() does not pass on a typer.Exit's code.
        raise SystemExit(stop.exit_code) from None
    except KeyboardInterrupt:
        # A second Ctrl-C stopped training at once; main() reports it with exit code 130.
        _ignore_further_signals()
        raise
    if int(os.environ.get("RANK", "0")) != 0:
        return
    # The same headline numbers, with their sources, as the report and compare show.
    print_run_summary(console, summarize_run(result.run_dir))


def _ignore_further_signals() -> None:
    """Training has stopped and saved; the process only exits now, within a second.

    A further Ctrl-C or SIGTERM while Python shuts down must neither print a traceback nor
    turn the exit code into "killed by signal" (Python resets its own handlers to the default
    during shutdown, but keeps an ignored signal ignored).
    """
    for signum in (signal.SIGINT, signal.SIGTERM):
        with contextlib.suppress(ValueError):  # not the main thread: leave signals alone
            signal.signal(signum, signal.SIG_IGN)
