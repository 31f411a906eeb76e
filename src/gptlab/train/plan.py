"""The run plan: a config resolved against its dataset, device and horizon before any weight exists.

Batch arithmetic, the horizon in steps, the evaluation size, recipe settings that follow a shrunk
horizon, and the run folder's first records. Settings the user gave (`adjustable` leaves them out)
are never changed; preset and default values that cannot fit the run are, with a note saying so.

Trade-off: a preset's warmup and intervals are sized for its full horizon; keeping them on a run
of a few steps would train at almost no learning rate, so they shrink unless set explicitly.
"""

from __future__ import annotations

import dataclasses
import math
import os
import shutil
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import torch

from gptlab.config import GPU_VOCAB_MULTIPLE, Config, save_config
from gptlab.data.loader import TokenLoader
from gptlab.errors import CheckpointError, ConfigError
from gptlab.fileio import atomic_directory, atomic_write_bytes, atomic_write_json
from gptlab.train.runtime import Runtime, environment_record


@dataclass
class Plan:
    """What a run will do, resolved from its config and dataset before any weight exists."""

    cfg: Config
    """The config with model.vocab_size filled in from the dataset."""
    runtime: Runtime
    batch_size: int
    """Samples per optimizer step over all processes."""
    accum_steps: int
    """Micro batches per optimizer step on each process."""
    tokens_per_step: int
    total_steps: int
    flops_per_token: float
    split_tokens: dict[str, int]
    train_loader: TokenLoader
    """The training loader (seed train.seed), built while planning: data too short for one
    window fails before anything is written, and the split is read once."""
    eval_batches: int = 1
    """Micro batches scored per evaluation and split, over all processes together."""
    notes: list[str] = field(default_factory=list)
    """What planning changed or wants the user to know, one line each."""

    def make_loader(
        self, split: str, *, seed: int, drop_last: bool | None = None, ranked: bool = True
    ) -> TokenLoader:
        """A loader over `split` in the run's batch mode: this process's share of the data, or
        with ranked=False the whole stream (every process then reads the same batches)."""
        return _make_loader(
            self.cfg, self.runtime, split, seed=seed, drop_last=drop_last, ranked=ranked
        )


def _make_loader(
    cfg: Config,
    rt: Runtime,
    split: str,
    *,
    seed: int,
    drop_last: bool | None = None,
    ranked: bool = True,
) -> TokenLoader:
    return TokenLoader(
        cfg.data.path,
        split,
        batch_size=cfg.train.micro_batch_size,
        context_length=cfg.model.context_length,
        mode=cfg.data.batch_mode,
        stride=cfg.data.stride,
        drop_last=cfg.data.drop_last if drop_last is None else drop_last,
        seed=seed,
        rank=rt.rank if ranked else 0,
        world_size=rt.world_size if ranked else 1,
        device=rt.device,
    )


TRAINING_BYTES_PER_PARAMETER = 16
"""fp32 weights, gradients and AdamW's two moments: the least memory a training step needs."""


def device_memory_bytes(device: torch.device) -> int | None:
    """Total memory of a CUDA device, or the machine's RAM for the CPU; None when unknown."""
    if device.type == "cuda":
        return int(torch.cuda.get_device_properties(device).total_memory)
    if device.type == "cpu" and hasattr(os, "sysconf"):
        try:
            return int(os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES"))
        except (ValueError, OSError):
            return None
    return None


def check_model_fits(cfg: Config, runtime: Runtime) -> None:
    """Refuse a model whose weights, gradients and optimizer state alone exceed the device."""
    shards = runtime.world_size if runtime.sharded else 1
    needed = cfg.model.approx_num_params * TRAINING_BYTES_PER_PARAMETER // shards
    available = device_memory_bytes(runtime.device)
    if available is None or needed <= available:
        return
    raise ConfigError(
        f"The model has about {cfg.model.approx_num_params:.3g} parameters: training needs at "
        f"least {needed / 2**30:,.1f} GiB for its weights, gradients and optimizer state "
        f"({TRAINING_BYTES_PER_PARAMETER} bytes per parameter) but {runtime.device} has "
        f"{available / 2**30:,.1f} GiB. Choose a smaller model (model.n_layer, n_embd, ffn_dim, "
        "vocab_size) or a device with more memory (FSDP over several GPUs shares it)."
    )


def _resolve_vocab(cfg: Config, meta: dict[str, Any]) -> Config:
    dataset_vocab = int(meta["vocab_size"])
    if cfg.model.vocab_size == 0:
        return dataclasses.replace(
            cfg, model=dataclasses.replace(cfg.model, vocab_size=dataset_vocab)
        )
    if dataset_vocab > cfg.model.vocab_size:
        raise ConfigError(
            f"The dataset {cfg.data.path} has a vocabulary of {dataset_vocab} tokens but "
            f"model.vocab_size={cfg.model.vocab_size}: every token id needs an embedding row. Set "
            f"model.vocab_size to 0 (take it from the dataset) or to at least {dataset_vocab}."
        )
    return cfg


def check_run_folder(run_dir: Path, resume: bool) -> None:
    """A resume needs a run folder; a new run needs a folder without one (ConfigError)."""
    if os.path.lexists(run_dir) and not run_dir.is_dir():
        raise ConfigError(f"{run_dir} is a file, not a folder: choose another --out.")
    if resume:
        if not (run_dir / "config.toml").is_file():
            raise CheckpointError(
                f"Cannot resume {run_dir}: it is not a run folder (no config.toml). Give the "
                "--out folder of an earlier `gptlab train`, or start a new run with --out."
            )
        return
    if (run_dir / "config.toml").exists() or (run_dir / "checkpoints").exists():
        raise ConfigError(
            f"The run folder {run_dir} already holds a run. Continue it with "
            f"`gptlab train --resume {run_dir}`, or choose another --out."
        )


def _step_batch(cfg: Config) -> int | None:
    """Samples per optimizer step as the config states it; None = one micro batch per process."""
    t, T = cfg.train, cfg.model.context_length
    if t.tokens_per_step:
        if t.tokens_per_step % T:
            raise ConfigError(
                f"train.tokens_per_step={t.tokens_per_step} is not a multiple of "
                f"model.context_length={T}: a step is a whole number of {T}-token samples. Use "
                f"{max(1, t.tokens_per_step // T) * T} or set train.batch_size instead."
            )
        return t.tokens_per_step // T
    return t.batch_size or None


def _fit_micro_batch(cfg: Config, world_size: int, notes: list[str]) -> Config:
    """A step batch the preset's micro batch cannot divide gets the largest micro batch that does
    (only called when train.micro_batch_size was not set explicitly)."""
    batch = _step_batch(cfg)
    micro = cfg.train.micro_batch_size
    if batch is None or batch % (micro * world_size) == 0 or batch % world_size:
        return cfg
    per_process = batch // world_size
    fitted = max(d for d in range(1, min(micro, per_process) + 1) if per_process % d == 0)
    notes.append(
        f"train.micro_batch_size {micro} -> {fitted} to divide the step's batch of {batch} "
        f"samples over {world_size} process(es)"
    )
    return dataclasses.replace(cfg, train=dataclasses.replace(cfg.train, micro_batch_size=fitted))


def _batch_size(cfg: Config, world_size: int) -> tuple[int, int]:
    t = cfg.train
    batch = _step_batch(cfg) or t.micro_batch_size * world_size
    per_pass = t.micro_batch_size * world_size
    if batch % per_pass:
        raise ConfigError(
            f"The batch of {batch} samples per step is not divisible by train.micro_batch_size="
            f"{t.micro_batch_size} x world_size={world_size} = {per_pass}, so gradient "
            "accumulation cannot fill it exactly. Choose train.batch_size (or tokens_per_step / "
            "context_length) as a multiple of micro_batch_size x processes."
        )
    return batch, batch // per_pass


WARMUP_SHARE = 0.1
"""A warmup that follows the horizon is at most this share of the run's steps."""
FITTED_EVALUATIONS = 5
"""An eval interval longer than the run becomes total_steps / this (a few points on the curve)."""
ADJUSTABLE_FIELDS = frozenset(
    {
        "optim.warmup_steps",
        "train.log_interval_steps",
        "train.eval_interval_steps",
        "train.checkpoint_interval_steps",
        "train.micro_batch_size",
    }
)
"""Recipe settings that follow the horizon and the step batch unless set explicitly: pass
those the user did not set to make_plan as `adjustable`."""


def fit_to_horizon(
    cfg: Config, total_steps: int, adjustable: frozenset[str], notes: list[str]
) -> Config:
    """Warmup and intervals a shrunk horizon cannot hold, fitted to it (see WARMUP_SHARE)."""
    o, t = cfg.optim, cfg.train
    warmup_limit = int(total_steps * WARMUP_SHARE)
    optim_changes: dict[str, Any] = {}
    train_changes: dict[str, Any] = {}
    if "optim.warmup_steps" in adjustable and o.warmup_steps > warmup_limit:
        optim_changes["warmup_steps"] = warmup_limit
        notes.append(
            f"optim.warmup_steps {o.warmup_steps} -> {warmup_limit} "
            f"(at most {WARMUP_SHARE:.0%} of {total_steps} steps)"
        )
    fitted = {
        "log_interval_steps": (0, "auto"),
        "eval_interval_steps": (max(1, total_steps // FITTED_EVALUATIONS), ""),
        "checkpoint_interval_steps": (0, "at each evaluation"),
    }
    for name, (value, meaning) in fitted.items():
        current = getattr(t, name)
        if f"train.{name}" in adjustable and current > total_steps:
            train_changes[name] = value
            notes.append(f"train.{name} {current} -> {value}{f' ({meaning})' if meaning else ''}")
    return dataclasses.replace(
        cfg,
        optim=dataclasses.replace(o, **optim_changes),
        train=dataclasses.replace(t, **train_changes),
    )


def resolve_vocab_multiple(cfg: Config, device: torch.device) -> Config:
    """model.vocab_multiple 0 (auto): pad on CUDA, where it pays, and not on a CPU or MPS."""
    if cfg.model.vocab_multiple:
        return cfg
    multiple = GPU_VOCAB_MULTIPLE if device.type == "cuda" else 1
    return dataclasses.replace(cfg, model=dataclasses.replace(cfg.model, vocab_multiple=multiple))


EVAL_SHARE = 0.1
"""Automatic evaluation scores about this share of the tokens trained between evaluations (a
forward pass costs about a third of a training step, so ~3% of the run's time)."""
EVAL_TOKEN_CAP = {"cpu": 2**16, "mps": 2**18, "cuda": 2**21}
"""Most tokens an automatic evaluation scores per process and split, by device type."""


def auto_eval_batches(cfg: Config, runtime: Runtime, tokens_per_step: int, total_steps: int) -> int:
    """train.eval_batches, or for 0 a count sized by the tokens between evaluations and device."""
    t = cfg.train
    world = runtime.world_size
    if t.eval_batches:
        batches = t.eval_batches
    else:
        interval = t.eval_interval_steps or total_steps
        wanted = EVAL_SHARE * tokens_per_step * min(interval, total_steps)
        cap = EVAL_TOKEN_CAP.get(runtime.device.type, EVAL_TOKEN_CAP["cpu"]) * world
        batch_tokens = t.micro_batch_size * cfg.model.context_length
        batches = max(1, math.ceil(min(wanted, cap) / batch_tokens))
    if runtime.sharded:
        # A sharded forward needs every rank: each scores the same number of batches.
        batches = math.ceil(batches / world) * world
    return batches


def make_plan(
    cfg: Config, runtime: Runtime, resume: bool, adjustable: frozenset[str] = frozenset()
) -> Plan:
    """Check the dataset, run folder, batch arithmetic and horizon; DataError/ConfigError if off.

    Fields named in `adjustable` (a subset of ADJUSTABLE_FIELDS) follow the horizon and the step
    batch; Plan.notes says what changed. model.vocab_multiple 0 (auto) is resolved by device.
    """
    from gptlab.data.prepare import load_meta
    from gptlab.model.gpt import estimate_flops_per_token

    notes: list[str] = []
    meta = load_meta(cfg.data.path)
    cfg = _resolve_vocab(cfg, meta)
    cfg = resolve_vocab_multiple(cfg, runtime.device)
    check_model_fits(cfg, runtime)
    check_run_folder(Path(cfg.run.out_dir), resume)
    if "train.micro_batch_size" in adjustable:
        cfg = _fit_micro_batch(cfg, runtime.world_size, notes)
    batch, accum = _batch_size(cfg, runtime.world_size)
    T = cfg.model.context_length
    tokens_per_step = batch * T
    splits = meta.get("splits", {})
    split_tokens = {s: int(splits.get(s, {}).get("tokens", 0)) for s in ("train", "val")}
    t = cfg.train
    train_loader = _make_loader(cfg, runtime, "train", seed=t.seed)
    if t.max_steps:
        total = t.max_steps
    elif t.max_tokens:
        total = math.ceil(t.max_tokens / tokens_per_step)
    elif t.epochs:
        total = max(1, math.ceil(t.epochs * train_loader.samples_per_epoch / batch))
    else:
        raise ConfigError(
            "No training horizon: set one of train.max_steps, train.epochs or train.max_tokens "
            "(for example --max-steps 1000 or --set train.epochs=1)."
        )
    cfg = fit_to_horizon(cfg, total, adjustable, notes)
    if notes:
        notes = [
            "note: the recipe was fitted to this run (set a field to keep its value):",
            *(f"  {line}" for line in notes),
        ]
    cut = train_loader.share_past_context
    if cut >= CUT_DOCUMENTS_NOTE:
        notes.append(
            f"note: {cut:.0%} of the train tokens lie past the first {T:,} tokens of their "
            "document, and document mode never trains on them. To use them: a longer context "
            "(--set model.context_length=...) or --set data.batch_mode=random; `gptlab prepare "
            "--max-tokens N` drops long documents instead."
        )
    return Plan(
        cfg=cfg,
        runtime=runtime,
        batch_size=batch,
        accum_steps=accum,
        tokens_per_step=tokens_per_step,
        total_steps=total,
        flops_per_token=estimate_flops_per_token(cfg.model),
        split_tokens=split_tokens,
        train_loader=train_loader,
        eval_batches=auto_eval_batches(cfg, runtime, tokens_per_step, total),
        notes=notes,
    )


CUT_DOCUMENTS_NOTE = 0.01
"""Document mode says so when at least this share of the train tokens lies past the context."""

DATASET_HASH_LIMIT_BYTES = 2 * 2**30
"""Datasets up to this size have every shard's sha256 checked at start; bigger ones only
their headers and sizes (hashing them would take minutes)."""


def check_shards(dataset_dir: str | Path) -> None:
    """Refuse a damaged dataset before training on it; DataError naming the bad shard."""
    from gptlab.data.prepare import load_meta, verify_dataset
    from gptlab.data.shards import read_header

    directory = Path(dataset_dir)
    shards = [
        directory / shard["file"]
        for info in load_meta(directory).get("splits", {}).values()
        for shard in info.get("shards", [])
    ]
    total_bytes = sum(p.stat().st_size for p in shards if p.is_file())
    if total_bytes <= DATASET_HASH_LIMIT_BYTES:
        verify_dataset(directory)
    else:
        for path in shards:
            read_header(path)  # header and file size agree, or DataError


RUN_RECORDS = (
    "config.toml",
    "env.json",
    "dataset_meta.json",
    "tokenizer",
    "metrics.jsonl",
    "samples.jsonl",
    "tensorboard",
)
"""What a new run writes into its folder before the first checkpoint."""


def remove_new_run(run_dir: Path, created: bool) -> None:
    """Undo a new run that failed to start: the folder if it made it, else its records.

    Called while holding the lock, so no other run writes here; a later good command then finds
    the folder as it was.
    """
    if created:
        shutil.rmtree(run_dir, ignore_errors=True)
        return
    for name in RUN_RECORDS:
        path = run_dir / name
        if path.is_dir() and not path.is_symlink():
            shutil.rmtree(path, ignore_errors=True)
        elif os.path.lexists(path):
            path.unlink()


def prepare_run_folder(plan: Plan, command_line: list[str] | None, resume: bool) -> Any:
    """Write config.toml, env.json, dataset_meta.json and tokenizer/; return the tokenizer."""
    from gptlab.data.tokenizers import load_tokenizer

    cfg = plan.cfg
    run_dir = Path(cfg.run.out_dir)
    data_dir = Path(cfg.data.path)
    tokenizer = load_tokenizer(data_dir)
    save_config(cfg, run_dir / "config.toml")
    env = environment_record(plan.runtime, command_line)
    atomic_write_json(run_dir / ("env.json" if not resume else "env_resume.json"), env)
    if not resume:
        atomic_write_bytes(run_dir / "dataset_meta.json", (data_dir / "meta.json").read_bytes())
        with atomic_directory(run_dir / "tokenizer", overwrite=True) as tmp:
            tokenizer.save(tmp)
    return tokenizer
