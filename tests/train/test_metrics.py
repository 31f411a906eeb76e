"""Tests for gptlab.train.metrics: log windows, the automatic log interval and step lines."""

from __future__ import annotations

import math

import pytest

from gptlab.train.metrics import TRAIN_KEYS, LogWindow, resolve_log_interval
from gptlab.train.progress import step_line


def test_log_window_summary_is_mean_max_and_every_lr() -> None:
    window = LogWindow()
    for loss, norm, lr in ((3.0, 1.0, 1e-4), (2.0, 4.0, 2e-4), (1.0, 1.0, 3e-4)):
        window.add(loss, norm, lr)
    summary = window.summary()
    assert len(window) == 3 and set(summary) <= set(TRAIN_KEYS)
    assert summary["loss"] == pytest.approx(2.0)
    assert summary["grad_norm"] == pytest.approx(2.0) and summary["grad_norm_max"] == 4.0
    assert summary["lr"] == 3e-4 and summary["lr_by_step"] == [1e-4, 2e-4, 3e-4]
    window.reset(0.0)
    assert len(window) == 0 and window.start_time == 0.0


def test_skipped_fp16_steps_carry_no_grad_norm() -> None:
    window = LogWindow()
    window.add(3.0, math.inf, 1e-4)
    window.add(2.0, 2.0, 1e-4)
    assert window.summary()["grad_norm"] == 2.0 and window.summary()["grad_norm_max"] == 2.0
    only_inf = LogWindow()
    only_inf.add(3.0, math.inf, 1e-4)
    assert math.isnan(only_inf.summary()["grad_norm"])


@pytest.mark.parametrize(
    ("setting", "total", "interval"),
    [(0, 1, 1), (0, 199, 1), (0, 250, 2), (0, 19_073, 190), (7, 250, 7), (500, 10, 500)],
)
def test_log_interval_auto_gives_about_a_hundred_points(
    setting: int, total: int, interval: int
) -> None:
    assert resolve_log_interval(setting, total) == interval
    if setting == 0:
        assert total // interval >= min(total, 100)


def test_step_lines_fit_80_columns() -> None:
    line = step_line(120, 1200, 3.4567, 3e-3, 0.8123, 16_234.0, 45.2)
    assert line == "step 120/1200 loss 3.457 lr 3.00e-03 grad 0.812 16.2K tok/s 0:00:45"
    worst = step_line(1_000_000, 1_000_000, 10.8234, 1.2345e-10, 12_345.6, 987_654_321.0, 99 * 3600)
    assert len(worst) < 80, worst
    assert "grad 1.23e+04" in worst and "988M tok/s" in worst and "99:00:00" in worst
