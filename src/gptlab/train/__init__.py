"""Training: runtime (device, precision, DDP), optimizers, checkpoints, metrics and the loop.

`train(cfg)` is the one entry point; `checkpoint.load_run(run_dir)` gives a trained model back.
Submodules import torch lazily from here, so `import gptlab.train` stays cheap for the CLI.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from gptlab.train.loop import TrainResult, train

__all__ = ["TrainResult", "train"]


def __getattr__(name: str) -> Any:
    if name in __all__:
        from gptlab.train import loop

        return getattr(loop, name)
    raise AttributeError(f"module 'gptlab.train' has no attribute {name!r}")
