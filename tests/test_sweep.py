"""Tests of gptlab.sweep: spec checks, trial planning, resume bookkeeping, effects, real runs."""

from __future__ import annotations

import json
import math
from pathlib import Path

import pytest

from gptlab.cli import main
from gptlab.errors import ConfigError
from gptlab.sweep import (
    TrialRecord,
    load_spec,
    load_state,
    parameter_effects,
    plan_trials,
    rank_trials,
    run_results,
    run_sweep,
    summarize_sweep,
    trial_config,
    trial_dir,
)

REPO_ROOT = Path(__file__).resolve().parents[1]

TINY_BASE = """
[base]
"model.n_layer" = 1
"model.n_head" = 2
"model.n_embd" = 32
"model.context_length" = 32
"train.micro_batch_size" = 4
"train.max_steps" = 6
"train.eval_interval_steps" = 3
"train.eval_batches" = 2
"train.log_interval_steps" = 5
"train.device" = "cpu"
"train.sample_max_new_tokens" = 4
"optim.warmup_steps" = 2
"run.report" = false
"""


def write_spec(folder: Path, text: str, name: str = "spec.toml") -> Path:
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / name
    path.write_text(text, encoding="utf-8")
    return path


# ---------------------------------------------------------------------------------------------
# Spec parsing and planning (no training).


def test_grid_is_the_cartesian_product_in_spec_order(tmp_path: Path) -> None:
    spec = load_spec(
        write_spec(
            tmp_path,
            """
[sweep]
method = "grid"
[parameters]
"optim.lr" = [1e-3, 3e-3]
model = { n_embd = [32, 64], n_layer = [1, 2, 3] }
""",
        )
    )
    plans = plan_trials(spec)
    assert len(plans) == 2 * 2 * 3
    combos = {
        (p.params["optim.lr"], p.params["model.n_embd"], p.params["model.n_layer"]) for p in plans
    }
    assert len(combos) == 12
    assert [p.index for p in plans] == list(range(12))
    # The last parameter varies fastest.
    assert [p.params["model.n_layer"] for p in plans[:3]] == [1, 2, 3]
    assert plans[0].trial_id == "t00-lr=1e-3-n_embd=32-n_layer=1"
    assert len({p.trial_id for p in plans}) == 12


def test_random_sampling_is_seeded_and_respects_ranges(tmp_path: Path) -> None:
    text = """
[sweep]
method = "random"
trials = 40
seed = {seed}
[parameters]
"optim.lr" = {{ min = 1e-4, max = 1e-1, log = true }}
"model.n_layer" = {{ min = 1, max = 6 }}
"model.dropout" = {{ min = 0.0, max = 0.3 }}
"data.batch_mode" = ["random", "sliding"]
"""
    spec = load_spec(write_spec(tmp_path / "a", text.format(seed=7)))
    again = load_spec(write_spec(tmp_path / "b", text.format(seed=7)))
    other = load_spec(write_spec(tmp_path / "c", text.format(seed=8)))
    plans = plan_trials(spec)
    assert [p.params for p in plans] == [p.params for p in plan_trials(again)]
    assert [p.params for p in plans] != [p.params for p in plan_trials(other)]
    assert len(plans) == 40
    lrs = [p.params["optim.lr"] for p in plans]
    layers = [p.params["model.n_layer"] for p in plans]
    assert all(1e-4 <= lr <= 1e-1 for lr in lrs)
    # Log scale: about half the draws fall below the geometric middle (1e-2.5), far more than
    # the ~3% a uniform draw on [1e-4, 1e-1] would put there.
    below = sum(lr < 10**-2.5 for lr in lrs)
    assert 10 <= below <= 30
    assert all(isinstance(n, int) and 1 <= n <= 6 for n in layers)
    assert len(set(layers)) >= 4
    assert all(0.0 <= p.params["model.dropout"] <= 0.3 for p in plans)
    assert {p.params["data.batch_mode"] for p in plans} == {"random", "sliding"}
    # A longer sweep with the same seed starts with the same trials.
    longer = load_spec(write_spec(tmp_path / "d", text.format(seed=7).replace("40", "50")))
    assert [p.params for p in plan_trials(longer)[:40]] == [p.params for p in plans]


def test_random_stops_when_every_combination_is_taken(tmp_path: Path) -> None:
    spec = load_spec(
        write_spec(
            tmp_path,
            '[sweep]\nmethod = "random"\ntrials = 10\n[parameters]\n"model.n_layer" = [1, 2]\n',
        )
    )
    assert sorted(p.params["model.n_layer"] for p in plan_trials(spec)) == [1, 2]


def test_base_accepts_tables_and_dotted_keys_and_resolves_data_path(tmp_path: Path) -> None:
    spec = load_spec(
        write_spec(
            tmp_path / "specs",
            """
[sweep]
out = "../out/s"
[base]
"train.max_steps" = 7
data.path = "../data/d"
[base.model]
n_layer = 1
[parameters]
"optim.lr" = [0.002]
""",
        )
    )
    assert spec.out_dir == (tmp_path / "out" / "s").resolve()
    plan = plan_trials(spec)[0]
    cfg = trial_config(spec, plan.params, trial_dir(spec, plan.trial_id))
    assert cfg.train.max_steps == 7
    assert cfg.model.n_layer == 1
    assert cfg.optim.lr == 0.002
    assert cfg.data.path == str((tmp_path / "data" / "d").resolve())
    assert Path(cfg.run.out_dir) == spec.out_dir / "trials" / plan.trial_id
    # Preset values not overridden stay (tiny: n_embd 64).
    assert cfg.model.n_embd == 64


@pytest.mark.parametrize(
    ("text", "needle"),
    [
        ('[sweep]\nmethod = "grid"\n', "no [parameters]"),
        ('[parameters]\n"optim.lr" = []\n', "has no values"),
        ('[parameters]\n"optim.lrr" = [1]\n', "Valid fields of [optim]"),
        ('[parameters]\n"optimizer.lr" = [1]\n', "not a config field"),
        ('[sweep]\nmethod = "bayes"\n[parameters]\n"optim.lr" = [1e-3]\n', "choose one of"),
        ('[sweep]\nname = "../up"\n[parameters]\n"optim.lr" = [1e-3]\n', "plain name"),
        ('[sweep]\nmetrc = "x"\n[parameters]\n"optim.lr" = [1e-3]\n', "Valid keys"),
        ('[parameters]\n"optim.lr" = { min = 1e-4, max = 1e-2 }\n', "needs a list"),
        ('[parameters]\n"run.out_dir" = ["a"]\n', "run.out_dir cannot be set"),
        ('[sweep]\nout = "."\n[parameters]\n"optim.lr" = [1e-3]\n', "holds the spec file"),
        (
            '[sweep]\nmethod = "random"\n[parameters]\n'
            '"optim.lr" = { min = 0, max = 1, log = true }\n',
            "log range needs min > 0",
        ),
        ("[parameters\n", "not valid TOML"),
    ],
)
def test_bad_specs_are_config_errors(tmp_path: Path, text: str, needle: str) -> None:
    with pytest.raises(ConfigError, match=None) as info:
        load_spec(write_spec(tmp_path, text))
    assert needle in str(info.value)


def test_missing_spec_file_is_a_config_error(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="does not exist"):
        load_spec(tmp_path / "nope.toml")


def test_trial_folders_cannot_escape_the_output_folder(tmp_path: Path) -> None:
    spec = load_spec(
        write_spec(
            tmp_path,
            '[parameters]\n"run.wandb_project" = ["../../../escape", "/etc/passwd", ".."]\n',
        )
    )
    trials_root = spec.trials_dir.resolve()
    for plan in plan_trials(spec):
        assert ".." not in plan.trial_id and "/" not in plan.trial_id
        assert trial_dir(spec, plan.trial_id).parent == trials_root
    with pytest.raises(ConfigError, match="outside"):
        trial_dir(spec, "../evil")
    with pytest.raises(ConfigError, match="outside"):
        trial_dir(spec, "a/b")


def test_optuna_missing_is_a_config_error_with_install_hint(tmp_path: Path) -> None:
    pytest.importorskip("tomli_w")
    try:
        import optuna  # noqa: F401

        pytest.skip("optuna is installed here")
    except ImportError:
        pass
    spec_path = write_spec(
        tmp_path,
        '[sweep]\nmethod = "optuna"\ntrials = 2\n[parameters]\n"optim.lr" = [1e-3, 2e-3]\n',
    )
    with pytest.raises(ConfigError, match=r'pip install "gptlab\[sweep\]"'):
        run_sweep(spec_path, log=lambda _: None)


# ---------------------------------------------------------------------------------------------
# Pure summary functions on hand-made results.


def test_parameter_effects_numbers_and_ranking() -> None:
    points = {
        "optim.lr": [(1e-3, 3.0), (1e-3, 2.0), (3e-3, 1.0), (3e-3, 1.5)],
        "model.n_embd": [(32, 3.0), (64, 2.0), (32, 1.0), (64, 1.5)],
        "data.batch_mode": [("random", 2.0), ("random", 2.0)],
    }
    effects = parameter_effects(points)
    assert [e.name for e in effects] == ["optim.lr", "model.n_embd", "data.batch_mode"]
    lr = effects[0]
    assert [v.label for v in lr.values] == ["0.001", "0.003"]
    assert [v.mean for v in lr.values] == [2.5, 1.25]
    assert [v.best for v in lr.values] == [2.0, 1.0]
    assert [v.trials for v in lr.values] == [2, 2]
    assert lr.spread == pytest.approx(1.25)
    assert lr.log_axis  # an lr is drawn on a log axis
    width = effects[1]
    assert [v.mean for v in width.values] == [2.0, 1.75]
    assert width.spread == pytest.approx(0.25)
    assert not width.log_axis
    assert effects[2].spread == 0.0
    assert effects[2].values[0].position is None


def test_parameter_effects_bins_many_distinct_values() -> None:
    points = {"model.dropout": [(i / 100, float(i)) for i in range(12)]}
    (effect,) = parameter_effects(points)
    assert len(effect.values) == 4
    assert [v.trials for v in effect.values] == [3, 3, 3, 3]
    assert effect.values[0].mean == pytest.approx(1.0)
    assert effect.values[-1].best == 9.0
    assert effect.spread == pytest.approx(9.0)


def test_rank_trials_puts_failed_last() -> None:
    def rec(tid: str, status: str, loss: float | None) -> TrialRecord:
        results = {"val_loss": loss} if loss is not None else {}
        return TrialRecord(tid, 0, {}, "fp", status=status, results=results)

    ranked = rank_trials(
        [
            rec("a", "failed", None),
            rec("b", "done", 2.0),
            rec("c", "pending", None),
            rec("d", "done", 1.0),
        ],
        "val_loss",
    )
    assert [t.trial_id for t in ranked] == ["d", "b", "c", "a"]


def test_run_results_are_the_run_summary_headline(tmp_path: Path) -> None:
    records = [
        {"kind": "train", "step": 5, "tokens": 50, "loss": 4.0},
        {"kind": "eval", "step": 5, "tokens": 50, "val_loss": 3.0, "val_ppl": math.exp(3.0),
         "val_acc": 0.1, "train_loss": 2.9},
        {"kind": "train", "step": 10, "tokens": 100, "loss": 2.0},
        {"kind": "eval", "step": 10, "tokens": 100, "val_loss": 3.5, "val_ppl": math.exp(3.5),
         "val_acc": 0.2, "train_loss": 1.0},
        {"kind": "end", "step": 10, "tokens": 100, "elapsed_s": 2.5, "reason": "max_steps"},
    ]  # fmt: skip
    text = "\n".join(json.dumps(r) for r in records) + '\n{"kind": "tr'  # torn last line
    (tmp_path / "metrics.jsonl").write_text(text, encoding="utf-8")
    from gptlab.report.summary import summarize_run

    results = run_results(tmp_path)
    assert results["val_loss"] == 3.5
    # The same numbers report and compare show: train loss is the last log window's mean.
    headline = summarize_run(tmp_path).headline()
    for key in ("val_loss", "train_loss", "gap", "best_val_loss", "steps", "wall_s"):
        assert results[key] == headline[key], key
    assert results["train_loss"] == 2.0 and results["gap"] == pytest.approx(2.5)
    assert results["best_val_loss"] == 3.0 and results["wall_s"] == 2.5
    assert "step 10" in results["sources"]["val_loss"]
    assert run_results(tmp_path / "missing") == {}


# ---------------------------------------------------------------------------------------------
# CLI without training.


def test_cli_dry_run_lists_trials_and_marks_invalid(tmp_path: Path, capsys) -> None:
    spec_path = write_spec(
        tmp_path,
        '[sweep]\nname = "dry"\n[parameters]\n"model.n_head" = [2, 3]\n"model.n_embd" = [32]\n',
    )
    rc = main(["sweep", str(spec_path), "--dry-run"])
    out = capsys.readouterr().out
    assert rc == 0
    assert "t00-n_head=2-n_embd=32" in out
    assert "invalid" in out and "not divisible" in out
    assert not (tmp_path / "sweeps").exists()  # a dry run writes nothing


@pytest.mark.parametrize(
    "text",
    ["[parameters\n", '[sweep]\nmethod = "x"\n[parameters]\n"optim.lr" = [1]\n', "[sweep]\n"],
)
def test_cli_bad_spec_exits_2_with_a_message(tmp_path: Path, capsys, text: str) -> None:
    rc = main(["sweep", str(write_spec(tmp_path, text))])
    assert rc == 2
    assert "error" in capsys.readouterr().err


def test_cli_missing_spec_exits_2(tmp_path: Path, capsys) -> None:
    assert main(["sweep", str(tmp_path / "missing.toml")]) == 2
    assert "does not exist" in capsys.readouterr().err


def test_summary_only_without_state_exits_2(tmp_path: Path, capsys) -> None:
    spec_path = write_spec(tmp_path, '[parameters]\n"optim.lr" = [1e-3]\n')
    assert main(["sweep", str(spec_path), "--summary-only"]) == 2
    assert "has not run yet" in capsys.readouterr().err


def test_invalid_combination_is_recorded_failed_and_the_sweep_goes_on(tmp_path: Path) -> None:
    # Every combination is invalid, so no training runs: the bookkeeping alone is under test.
    spec_path = write_spec(
        tmp_path, '[parameters]\n"model.n_head" = [3, 5]\n"model.n_embd" = [32, 64]\n'
    )
    lines: list[str] = []
    result = run_sweep(spec_path, log=lines.append)
    assert [t.status for t in result.trials] == ["failed"] * 4
    assert all("not divisible" in (t.error or "") for t in result.trials)
    state = load_state(result.out_dir)
    assert [t.status for t in state.trials] == ["failed"] * 4
    assert any("[4/4]" in line and "FAILED" in line for line in lines)
    summary_md = (result.out_dir / "summary.md").read_text(encoding="utf-8")
    assert "not divisible" in summary_md
    assert (result.out_dir / "summary.csv").is_file()
    assert (result.out_dir / "summary.html").is_file()
    # A second call keeps failed trials failed (no retry) and reports the same.
    again = run_sweep(spec_path, log=lines.append)
    assert again.ran == 0
    retried = run_sweep(spec_path, retry_failed=True, log=lines.append)
    assert retried.ran == 4
    assert summarize_sweep(spec_path, log=lines.append).ranked[0].status == "failed"


# ---------------------------------------------------------------------------------------------
# Real (tiny) training runs.


@pytest.fixture(scope="module")
def char_dataset(tmp_path_factory: pytest.TempPathFactory) -> Path:
    from gptlab.data.prepare import prepare

    out = tmp_path_factory.mktemp("sweep_data") / "builtin_char"
    prepare("builtin", out, tokenizer="char", builtin_stories=200, progress=False)
    return out


def tiny_spec(folder: Path, dataset: Path, parameters: str) -> Path:
    text = f'[sweep]\nname = "tiny"\nout = "out"\n{TINY_BASE}data.path = "{dataset}"\n'
    return write_spec(folder, text + "[parameters]\n" + parameters)


def end_records(run_dir: Path) -> int:
    lines = (run_dir / "metrics.jsonl").read_text(encoding="utf-8").splitlines()
    return sum(json.loads(line).get("kind") == "end" for line in lines if line.strip())


@pytest.mark.slow
def test_sweep_runs_resumes_and_adapts_to_a_changed_spec(
    tmp_path: Path, char_dataset: Path
) -> None:
    torch = pytest.importorskip("torch")
    torch.set_num_threads(1)
    lines: list[str] = []
    spec_path = tiny_spec(
        tmp_path, char_dataset, '"optim.lr" = [1e-3, 3e-3]\n"model.n_head" = [2, 3]\n'
    )
    result = run_sweep(spec_path, log=lines.append)
    by_id = {t.trial_id: t for t in result.trials}
    assert [t.status for t in result.trials] == ["done", "failed", "done", "failed"]
    assert result.ran == 4
    done = [t for t in result.trials if t.status == "done"]
    for t in done:
        run_dir = result.out_dir / "trials" / t.trial_id
        assert end_records(run_dir) == 1
        assert t.results["steps"] == 6
        assert t.results["val_loss"] == pytest.approx(t.metric("val_loss"))
        assert math.isfinite(t.results["gap"])
    assert "not divisible" in (by_id["t01-lr=1e-3-n_head=3"].error or "")
    assert any(line.startswith("[3/4]") and "best so far" in line for line in lines)
    summary = result.summary
    assert summary is not None
    assert summary.ranked[0].metric("val_loss") == min(t.metric("val_loss") for t in done)
    assert summary.effects[0].name == "optim.lr"  # n_head has one valid value
    for name in ("summary.md", "summary.csv", "summary.html", "effect_optim.lr.png", "curves.png"):
        assert (result.out_dir / name).is_file(), name
    html_text = (result.out_dir / "summary.html").read_text(encoding="utf-8")
    assert "data:image/png;base64," in html_text and "<script src" not in html_text
    csv_lines = (result.out_dir / "summary.csv").read_text(encoding="utf-8").splitlines()
    assert len(csv_lines) == 5 and csv_lines[-1].count("failed") == 1

    # Same spec again: nothing is trained (each done run still has exactly one end record).
    again = run_sweep(spec_path, log=lines.append, summarize=False)
    assert again.ran == 0
    assert all(end_records(result.out_dir / "trials" / t.trial_id) == 1 for t in done)

    # An interrupted trial: its newest checkpoint is gone and sweep.json says running.
    first = done[0]
    run_dir = result.out_dir / "trials" / first.trial_id
    checkpoints = sorted((run_dir / "checkpoints").glob("step_*"))
    assert [p.name for p in checkpoints] == ["step_000003", "step_000006"]
    import shutil

    shutil.rmtree(checkpoints[-1])
    kept_mtime = (checkpoints[0] / "state.json").stat().st_mtime_ns
    original_val_loss = first.results["val_loss"]
    state_file = result.out_dir / "sweep.json"
    state = json.loads(state_file.read_text(encoding="utf-8"))
    state["trials"][0]["status"] = "running"
    state_file.write_text(json.dumps(state), encoding="utf-8")
    resumed = run_sweep(spec_path, log=lines.append, summarize=False)
    assert resumed.ran == 1
    assert any("resuming from step_000003" in line for line in lines)
    record = resumed.trials[0]
    assert record.status == "done" and record.attempts == 2 and record.results["steps"] == 6
    # Resumed, not restarted: the step-3 checkpoint was never rewritten, and the exact resume
    # reaches the same final loss as the uninterrupted run.
    assert (checkpoints[0] / "state.json").stat().st_mtime_ns == kept_mtime
    assert record.results["val_loss"] == pytest.approx(original_val_loss, rel=1e-5)

    # A changed spec: the four recorded trials still match, two are new (one valid, one not).
    tiny_spec(tmp_path, char_dataset, '"optim.lr" = [1e-3, 3e-3, 1e-2]\n"model.n_head" = [2, 3]\n')
    changed = run_sweep(spec_path, log=lines.append, summarize=False)
    assert changed.reconciliation.kept == 4 and changed.reconciliation.new == 2
    assert changed.ran == 2
    assert any("spec changed" in line for line in lines)
    assert [t.status for t in changed.trials] == ["done", "failed"] * 3
    assert (checkpoints[0] / "state.json").stat().st_mtime_ns == kept_mtime
    assert len(load_state(result.out_dir).trials) == 6


@pytest.mark.slow
def test_optuna_sweep_uses_the_same_folders_and_resumes(tmp_path: Path, char_dataset: Path) -> None:
    pytest.importorskip("optuna")
    torch = pytest.importorskip("torch")
    torch.set_num_threads(1)
    text = f'[sweep]\nmethod = "optuna"\ntrials = 2\nseed = 3\nout = "out"\n{TINY_BASE}'
    text += f'data.path = "{char_dataset}"\n[parameters]\n'
    text += '"optim.lr" = { min = 1e-3, max = 1e-2, log = true }\n"model.n_layer" = [1, 2]\n'
    spec_path = write_spec(tmp_path, text)
    result = run_sweep(spec_path, log=lambda _: None, summarize=False)
    assert result.ran == 2
    assert [t.status for t in result.trials] == ["done", "done"]
    assert [t.trial_id[:4] for t in result.trials] == ["t00-", "t01-"]
    for t in result.trials:
        assert 1e-3 <= t.params["optim.lr"] <= 1e-2
        assert (result.out_dir / "trials" / t.trial_id / "metrics.jsonl").is_file()
    again = run_sweep(spec_path, log=lambda _: None, summarize=False)
    assert again.ran == 0 and len(again.trials) == 2


def test_sweep_ranked_by_train_loss_on_data_without_val(tmp_path: Path) -> None:
    """Tiny data has no val split: trials are done and ranked by train loss, none FAILED."""
    from gptlab.data.prepare import prepare

    text = tmp_path / "poem.txt"
    text.write_text("The moon is bright and the night is long.\n" * 30, encoding="utf-8")
    data = tmp_path / "data"
    prepare(str(text), data, tokenizer="byte", val_fraction=0.0, num_workers=1, progress=False)
    spec = write_spec(
        tmp_path,
        f'[sweep]\nmethod = "grid"\nmetric = "train_loss"\n{TINY_BASE}'
        f'"data.path" = "{data}"\n[parameters]\n"optim.lr" = [1e-3, 3e-3]\n',
    )
    lines: list[str] = []
    result = run_sweep(spec, log=lines.append)
    assert [t.status for t in result.trials] == ["done", "done"]
    assert all(t.metric("train_loss") is not None for t in result.trials)
    # After the first trial: an overall estimate for the one left.
    assert any(line.strip().startswith("1 trial left: about") for line in lines)
    trial = json.loads((result.out_dir / "trials" / "t00-lr=1e-3" / "trial.json").read_text())
    assert trial["params"] == {"optim.lr": 1e-3} and trial["trial_id"] == "t00-lr=1e-3"
    assert all(t.metric("val_loss") is None for t in result.trials)
    assert result.summary is not None
    page = (result.out_dir / "summary.html").read_text("utf-8")
    assert "no val split, so there is no gap to draw" in page and "val (solid)" not in page
