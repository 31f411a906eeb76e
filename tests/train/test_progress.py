"""Tests for gptlab.train.progress: the plain step and eval lines stay under 80 columns."""

from __future__ import annotations

import math

from gptlab.train.progress import benchmark_line, eval_line, step_line


def test_step_lines_fit_80_columns() -> None:
    line = step_line(120, 1200, 3.4567, 3e-3, 0.8123, 16_234.0, 45.2)
    assert line == "step 120/1200 loss 3.457 lr 3.00e-03 grad 0.812 16.2K tok/s 0:00:45"
    worst = step_line(1_000_000, 1_000_000, 10.8234, 1.2345e-10, 12_345.6, 987_654_321.0, 99 * 3600)
    assert len(worst) < 80, worst
    assert "grad 1.23e+04" in worst and "988M tok/s" in worst and "99:00:00" in worst


def test_eval_lines_show_train_loss_gap_and_best_within_80_columns() -> None:
    line = eval_line(1200, 3.4123, 30.33, 0.4121, 3.2971, best=True)
    assert line == "eval 1200: val 3.412 ppl 30.3 acc 0.412 train 3.297 gap +0.115 *best"
    worst = eval_line(1_000_000, 123.456, math.inf, 0.0001, 99.999, best=True)
    assert len(worst) < 80, worst
    assert "gap +23.457" in worst
    # Without a train split there is no gap; a val loss above the best has no mark.
    assert eval_line(5, 2.0, 7.39, 0.5, None, best=False) == "eval 5: val 2.000 ppl 7.4 acc 0.500"


def test_benchmark_line_names_the_chance_level() -> None:
    scores = {"hellaswag_acc": 0.3, "hellaswag_acc_norm": 0.31, "hellaswag_count": 100}
    line = benchmark_line(40, {**scores, "lambada_acc": 0.05, "lambada_count": 20})
    assert line == "bench 40: hellaswag 0.310 (n=100, chance 0.25) lambada 0.050 (n=20)"
    assert benchmark_line(40, {}) is None
