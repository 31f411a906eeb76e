"""Long-run memory: RSS of `gptlab train` stays flat after warm-up (bench/memory_soak.py, short).

The full figure (5,000 steps) is in bench/RELIABILITY.md; this runs 1,500 steps of the same
small model on the built-in corpus, with evaluations, samples and checkpoints, and fails when the
resident set grows by more than 15% after the first fifth of the run.
"""

from __future__ import annotations

import importlib.util
import sys
from pathlib import Path

import pytest

SOAK = Path(__file__).resolve().parents[2] / "bench" / "memory_soak.py"


@pytest.mark.slow
@pytest.mark.skipif(not Path("/proc/self/status").is_file(), reason="reads RSS from /proc")
def test_rss_is_flat_over_a_long_run(tmp_path: Path) -> None:
    spec = importlib.util.spec_from_file_location("memory_soak", SOAK)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules["memory_soak"] = module  # dataclasses look their module up by name
    spec.loader.exec_module(module)
    result = module.soak(tmp_path, steps=1500, interval_s=0.25, warmup_share=0.2)
    print(f"RSS after warm-up {result.rss_warm_mb} MiB, max {result.rss_max_after_warm_mb} MiB")
    assert result.samples >= 10
    assert result.growth_share < 0.15, result
