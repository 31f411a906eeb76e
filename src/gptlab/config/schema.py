"""The configuration tree: frozen dataclasses for data, model, optimizer, training and run
settings, each field with a one-line docstring and its unit, validated in `__post_init__`.

A message from validation names the field, the value and the fix. Limits shared with the rest of
gptlab (largest seed, model size, sampling temperature) live here beside the fields they bound.
"""

from __future__ import annotations

import os
import typing
from dataclasses import dataclass, field

from gptlab.errors import ConfigError


def _fail(name: str, value: object, fix: str) -> typing.NoReturn:
    raise ConfigError(f"{name}={value!r} is invalid: {fix}")


def _positive(name: str, value: float) -> None:
    if value <= 0:
        _fail(name, value, "it must be greater than 0.")


def _non_negative(name: str, value: float) -> None:
    if value < 0:
        _fail(name, value, "it must be 0 or more.")


def _probability(name: str, value: float) -> None:
    if not 0.0 <= value < 1.0:
        _fail(name, value, "it must be in [0, 1).")


def _choice(name: str, value: str, choices: tuple[str, ...]) -> None:
    if value not in choices:
        _fail(name, value, f"choose one of {', '.join(choices)}.")


def _at_most(name: str, value: int, limit: int, fix: str) -> None:
    if value > limit:
        _fail(name, value, f"it must be at most {limit:,}; {fix}")


MAX_SEED = 2**63 - 1
"""Largest seed: torch.manual_seed takes 0 .. 2**63 - 1 (a 64-bit signed integer)."""
MAX_MODEL_DIMENSION = 2**24
"""Upper bound of n_layer, n_embd, ffn_dim and context_length (GPT-2 XL: 48, 1600, 6400, 1024)."""
MAX_VOCAB_SIZE = 2**32
"""Token ids are stored as at most 32-bit integers in the shards."""
MAX_VOCAB_MULTIPLE = 2**16
"""Padding the embedding table beyond this many rows buys no speed."""
MAX_PARAMETERS = 10**12
"""A model above a trillion parameters (4 TB of fp32 weights) is refused before anything runs."""
MAX_MICRO_BATCH_SIZE = 2**20
"""Samples per forward pass, at most; memory runs out long before on any device."""
MIN_TEMPERATURE = 1e-4
"""Smallest sampling temperature above 0: below it the scaled logits overflow float32 (use 0)."""
GPU_VOCAB_MULTIPLE = 64
"""model.vocab_multiple=0 (auto) pads to this on CUDA, where it speeds the LM head matmul; a CPU
step of the 14M shape ran at 0.83x nanoGPT's padded and 1.04x unpadded, so CPUs do not pad."""
MAX_NEW_TOKENS = 1_000_000
"""Most tokens one sample may ask for (a long book); more is a typo, not a request."""


BATCH_MODES = ("random", "sliding", "document")
PRECISIONS = ("auto", "fp32", "bf16", "fp16")
OPTIMIZERS = ("adamw", "muon")
SCHEDULES = ("cosine", "linear", "constant")
PARALLEL = ("ddp", "fsdp")


@dataclass(frozen=True)
class DataConfig:
    """Where the training tokens come from and how samples are cut from them."""

    path: str = "data/builtin"
    """Prepared dataset folder (from `gptlab prepare`): train_*.bin, val_*.bin, meta.json."""
    batch_mode: str = "random"
    """How samples are cut: random windows, sliding windows, or one document per sample."""
    stride: int = 0
    """Sliding mode: tokens between consecutive window starts; 0 means the context length."""
    drop_last: bool = True
    """Sliding and document modes: drop the last incomplete batch of an epoch."""

    def __post_init__(self) -> None:
        _choice("data.batch_mode", self.batch_mode, BATCH_MODES)
        _non_negative("data.stride", self.stride)
        if self.path:
            # "runs/a/" and "runs/a" name one folder: keep one spelling so configs compare equal.
            object.__setattr__(self, "path", os.path.normpath(self.path))


@dataclass(frozen=True)
class ModelConfig:
    """GPT-2 architecture hyperparameters."""

    n_layer: int = 4
    """Number of transformer blocks."""
    n_head: int = 4
    """Attention heads per block; must divide n_embd."""
    n_embd: int = 128
    """Width of the residual stream (embedding size), in channels."""
    ffn_dim: int = 0
    """Hidden width of the MLP, in channels; 0 means 4 x n_embd."""
    context_length: int = 256
    """Maximum sequence length in tokens (size of the position embedding)."""
    vocab_size: int = 0
    """Tokenizer vocabulary size; 0 means take it from the dataset's meta.json."""
    vocab_multiple: int = 0
    """Pad the embedding table to a multiple of this many rows (speed on GPUs); pad ids are never
    used. 0 = auto: training pads to 64 on CUDA and not at all elsewhere (padding slows a CPU)."""
    tie_weights: bool = True
    """Share the token embedding and the LM head weights (GPT-2 does)."""
    bias: bool = True
    """Use biases in linear layers and LayerNorms (GPT-2 does)."""
    dropout: float = 0.0
    """Dropout probability on embeddings, attention output and MLP output."""
    attn_dropout: float = 0.0
    """Dropout probability on the attention weights."""

    def __post_init__(self) -> None:
        for name in ("n_layer", "n_head", "n_embd", "context_length"):
            _positive(f"model.{name}", getattr(self, name))
        _non_negative("model.vocab_multiple", self.vocab_multiple)
        _non_negative("model.ffn_dim", self.ffn_dim)
        _non_negative("model.vocab_size", self.vocab_size)
        self._check_upper_bounds()
        _probability("model.dropout", self.dropout)
        _probability("model.attn_dropout", self.attn_dropout)
        if self.n_embd % self.n_head:
            raise ConfigError(
                f"model.n_embd={self.n_embd} is not divisible by model.n_head={self.n_head}: "
                "each head gets n_embd / n_head channels, so choose an n_embd that is a multiple "
                f"of n_head (for example {self.n_head * max(1, self.n_embd // self.n_head)}) "
                "or an n_head that divides n_embd."
            )
        if self.approx_num_params > MAX_PARAMETERS:
            raise ConfigError(
                f"This model shape has about {self.approx_num_params:.3g} parameters "
                f"(model.n_layer={self.n_layer}, n_embd={self.n_embd}, ffn_dim={self.hidden_dim}, "
                f"context_length={self.context_length}), more than the {MAX_PARAMETERS:.0e} "
                "gptlab accepts: choose smaller sizes (`gptlab presets` lists working shapes; "
                "GPT-2 XL has 1.6e9 parameters)."
            )

    def _check_upper_bounds(self) -> None:
        fix = "GPT-2 XL uses n_layer=48, n_embd=1600, ffn_dim=6400, context_length=1024."
        for name in ("n_layer", "n_head", "n_embd", "ffn_dim", "context_length"):
            _at_most(f"model.{name}", getattr(self, name), MAX_MODEL_DIMENSION, fix)
        _at_most(
            "model.vocab_size", self.vocab_size, MAX_VOCAB_SIZE, "use 0 (take it from the dataset)."
        )
        _at_most(
            "model.vocab_multiple",
            self.vocab_multiple,
            MAX_VOCAB_MULTIPLE,
            "64 or 128 is the usual choice.",
        )

    @property
    def hidden_dim(self) -> int:
        """MLP hidden width actually used."""
        return self.ffn_dim or 4 * self.n_embd

    @property
    def padded_vocab_size(self) -> int:
        """Rows of the embedding table: vocab_size rounded up to vocab_multiple (auto, 0, rounds
        to GPU_VOCAB_MULTIPLE: training resolves it by device before building the model)."""
        m = self.vocab_multiple or GPU_VOCAB_MULTIPLE
        return (self.vocab_size + m - 1) // m * m

    @property
    def approx_num_params(self) -> int:
        """Weights of the matrices and embeddings (padding included; biases and norms, under 1%,
        left out): the size of the model before it is built."""
        C = self.n_embd
        blocks = self.n_layer * (4 * C * C + 2 * C * self.hidden_dim)
        embeddings = (self.padded_vocab_size + self.context_length) * C
        head = 0 if self.tie_weights else self.padded_vocab_size * C
        return blocks + embeddings + head


@dataclass(frozen=True)
class OptimConfig:
    """Optimizer and learning-rate schedule."""

    name: str = "adamw"
    """adamw, or muon (Muon for 2-D hidden matrices, AdamW for embeddings, head and vectors)."""
    lr: float = 6e-4
    """Peak learning rate (after warmup)."""
    min_lr: float = 6e-5
    """Learning rate at the end of the decay."""
    schedule: str = "cosine"
    """Decay after warmup: cosine, linear, or constant."""
    warmup_steps: int = 100
    """Optimizer steps of linear warmup from 0 to lr; unless set explicitly, at most 10% of the
    run's steps."""
    weight_decay: float = 0.1
    """AdamW decoupled weight decay, applied to matrices and embeddings only."""
    beta1: float = 0.9
    """AdamW first-moment decay."""
    beta2: float = 0.95
    """AdamW second-moment decay."""
    eps: float = 1e-8
    """AdamW epsilon."""
    grad_clip: float = 1.0
    """Clip the global gradient norm to this value; 0 disables clipping."""
    muon_lr: float = 0.02
    """Muon only: learning rate of the hidden matrices."""
    muon_momentum: float = 0.95
    """Muon only: momentum."""

    def __post_init__(self) -> None:
        _choice("optim.name", self.name, OPTIMIZERS)
        _choice("optim.schedule", self.schedule, SCHEDULES)
        _positive("optim.lr", self.lr)
        _non_negative("optim.min_lr", self.min_lr)
        if self.min_lr > self.lr:
            _fail("optim.min_lr", self.min_lr, f"it must not exceed optim.lr={self.lr}.")
        _non_negative("optim.warmup_steps", self.warmup_steps)
        _non_negative("optim.weight_decay", self.weight_decay)
        _probability("optim.beta1", self.beta1)
        _probability("optim.beta2", self.beta2)
        _positive("optim.eps", self.eps)
        _non_negative("optim.grad_clip", self.grad_clip)
        _positive("optim.muon_lr", self.muon_lr)
        _probability("optim.muon_momentum", self.muon_momentum)


@dataclass(frozen=True)
class TrainConfig:
    """Batch, horizon, intervals and runtime of the training loop."""

    micro_batch_size: int = 16
    """Samples per forward/backward pass on one device; unless set explicitly, it shrinks to
    divide a smaller train.batch_size."""
    batch_size: int = 0
    """Samples per optimizer step over all devices (accumulation fills it); 0 = one micro batch."""
    tokens_per_step: int = 0
    """Alternative to batch_size: tokens per optimizer step; 0 = use batch_size."""
    max_steps: int = 0
    """Horizon in optimizer steps (set exactly one of max_steps, epochs, max_tokens)."""
    epochs: float = 0.0
    """Horizon in passes over the training tokens."""
    max_tokens: int = 0
    """Horizon in training tokens seen."""
    log_interval_steps: int = 0
    """Write train metrics every this many optimizer steps; 0 = auto, max(1, total steps // 100)."""
    eval_interval_steps: int = 200
    """Evaluate on the val split and draw samples every this many steps; 0 = only at the end.
    Unless set explicitly, an interval longer than the run becomes a fifth of it."""
    eval_batches: int = 0
    """Micro batches scored per evaluation and split, over all processes together; 0 = auto,
    sized by tokens and device so evaluation stays a small share of the run."""
    eval_at_start: bool = False
    """Also evaluate the untrained model (step 0): its val loss is about ln(vocab size)."""
    hellaswag_path: str = ""
    """HellaSwag jsonl (ctx, endings, label) scored at every evaluation; empty = none."""
    hellaswag_limit: int = 0
    """Rows of the HellaSwag file scored at each evaluation (the first ones); 0 = all."""
    lambada_path: str = ""
    """LAMBADA jsonl ({"text": ...}) scored at every evaluation (last-word acc); empty = none."""
    lambada_limit: int = 0
    """Rows of the LAMBADA file scored at each evaluation (the first ones); 0 = all."""
    checkpoint_interval_steps: int = 0
    """Save a checkpoint every this many steps; 0 = at every evaluation."""
    keep_last_checkpoints: int = 2
    """How many of the newest checkpoints to keep (the best by val loss is kept as well)."""
    seed: int = 1337
    """Seed for initialisation, data order and sampling: 0 to 2**63 - 1."""
    device: str = "auto"
    """auto (cuda > mps > cpu), cpu, cuda, cuda:N or mps."""
    precision: str = "auto"
    """fp32, bf16, fp16 (with a grad scaler), or auto (bf16 on GPUs that support it, else fp32:
    bf16 autocast on a CPU ran 6x slower than fp32)."""
    compile: bool = False
    """Compile the model with torch.compile."""
    parallel: str = "ddp"
    """With several processes: ddp (replicate) or fsdp (shard parameters, FSDP2)."""
    sample_prompts: tuple[str, ...] = ("Once upon a time",)
    """Prompts sampled from at every evaluation."""
    sample_max_new_tokens: int = 48
    """Tokens generated per sample during training."""
    sample_temperature: float = 0.7
    """Sampling temperature for the training-time samples; 0 = greedy (the most likely token)."""
    sample_top_k: int = 20
    """Top-k for the training-time samples; 0 disables it."""
    samples_per_prompt: int = 1
    """Samples drawn from each prompt at every evaluation."""
    sample_every_epoch: bool = False
    """Also draw samples each time an epoch of the training data ends."""

    def __post_init__(self) -> None:
        _positive("train.micro_batch_size", self.micro_batch_size)
        _at_most(
            "train.micro_batch_size",
            self.micro_batch_size,
            MAX_MICRO_BATCH_SIZE,
            "set train.batch_size for a larger step (the rest is accumulated).",
        )
        if not 0 <= self.seed <= MAX_SEED:
            _fail("train.seed", self.seed, f"use a whole number from 0 to {MAX_SEED} (2**63 - 1).")
        for name in (
            "batch_size",
            "tokens_per_step",
            "max_steps",
            "epochs",
            "max_tokens",
            "eval_interval_steps",
            "checkpoint_interval_steps",
            "sample_max_new_tokens",
            "sample_top_k",
            "eval_batches",
            "hellaswag_limit",
            "lambada_limit",
        ):
            _non_negative(f"train.{name}", getattr(self, name))
        _non_negative("train.log_interval_steps", self.log_interval_steps)
        _positive("train.keep_last_checkpoints", self.keep_last_checkpoints)
        _positive("train.samples_per_prompt", self.samples_per_prompt)
        _at_most("train.samples_per_prompt", self.samples_per_prompt, 64, "a few are enough.")
        _non_negative("train.sample_temperature", self.sample_temperature)
        if 0 < self.sample_temperature < MIN_TEMPERATURE:
            _fail(
                "train.sample_temperature",
                self.sample_temperature,
                f"use 0 (greedy) or at least {MIN_TEMPERATURE} (smaller ones overflow the "
                "scaled logits).",
            )
        for name in ("hellaswag_path", "lambada_path"):
            if getattr(self, name):
                object.__setattr__(self, name, os.path.normpath(getattr(self, name)))
        _at_most(
            "train.sample_max_new_tokens",
            self.sample_max_new_tokens,
            MAX_NEW_TOKENS,
            "samples during training are usually 50-200 tokens.",
        )
        _choice("train.precision", self.precision, PRECISIONS)
        _choice("train.parallel", self.parallel, PARALLEL)
        if self.batch_size and self.tokens_per_step:
            raise ConfigError(
                f"train.batch_size={self.batch_size} and train.tokens_per_step="
                f"{self.tokens_per_step} are both set: they say the same thing two ways, "
                "so set only one of them (the other to 0)."
            )
        horizons = [n for n in ("max_steps", "epochs", "max_tokens") if getattr(self, n)]
        if len(horizons) > 1:
            raise ConfigError(
                f"train.{horizons[0]} and train.{horizons[1]} are both set: the training "
                "horizon is one of max_steps, epochs or max_tokens, so set the others to 0."
            )
        device = self.device
        if not (device in ("auto", "cpu", "cuda", "mps") or device.startswith("cuda:")):
            _fail("train.device", device, "use auto, cpu, cuda, cuda:N or mps.")


@dataclass(frozen=True)
class RunConfig:
    """Where the run is written and which trackers see it."""

    out_dir: str = "runs/run"
    """Run folder: config, metrics, samples, checkpoints, plots, report."""
    tensorboard: bool = False
    """Also write TensorBoard event files to <out_dir>/tensorboard."""
    wandb: bool = False
    """Also log to Weights & Biases."""
    wandb_project: str = "gptlab"
    """Weights & Biases project name."""
    wandb_mode: str = "offline"
    """Weights & Biases mode: offline (no network) or online."""
    report: bool = True
    """Write plots and report.html when training ends."""

    def __post_init__(self) -> None:
        _choice("run.wandb_mode", self.wandb_mode, ("offline", "online"))
        if not self.out_dir:
            _fail("run.out_dir", self.out_dir, "give a folder for the run.")
        object.__setattr__(self, "out_dir", os.path.normpath(self.out_dir))


@dataclass(frozen=True)
class Config:
    """The whole configuration of a training run."""

    data: DataConfig = field(default_factory=DataConfig)
    model: ModelConfig = field(default_factory=ModelConfig)
    optim: OptimConfig = field(default_factory=OptimConfig)
    train: TrainConfig = field(default_factory=TrainConfig)
    run: RunConfig = field(default_factory=RunConfig)


SECTIONS: dict[str, type] = {
    "data": DataConfig,
    "model": ModelConfig,
    "optim": OptimConfig,
    "train": TrainConfig,
    "run": RunConfig,
}
