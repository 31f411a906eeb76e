"""Tests for gptlab.train.metrics: log windows, the automatic log interval and step lines."""

from __future__ import annotations

import math

import pytest

from gptlab.train.metrics import TRAIN_KEYS, LogWindow, resolve_log_interval


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
