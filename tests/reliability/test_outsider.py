"""An outsider's attacks on "your run is safe": links, --overwrite, killed rewrites, races.

Each case is one that broke before: a symbolic link in a run folder made gptlab write through it,
a kill while a resume rewrote metrics.jsonl emptied it, --overwrite replaced inputs, runs and
datasets, killed writes left debris no rerun cleaned, two sweeps of one spec deleted each other's
trials, a second trainer mixed two runs in one folder, and a failed command changed the folder.
"""

from __future__ import annotations

import hashlib
import os
import shutil
import signal
import subprocess
import sys
from pathlib import Path

import pytest
from reliability_helpers import ENV, TINY

from gptlab.cli import main
from gptlab.errors import ConfigError, GptlabError
from gptlab.fileio import atomic_directory, open_no_follow, recover_interrupted_replace

VICTIM_TEXT = "a file outside every gptlab folder\n"


def _digest(folder: Path) -> str:
    """Hash of every path and file under folder (links by their target, never followed)."""
    digest = hashlib.sha256()
    for path in sorted(folder.rglob("*")):
        digest.update(str(path.relative_to(folder)).encode())
        if path.is_symlink():
            digest.update(os.readlink(path).encode())
        elif path.is_file():
            digest.update(path.read_bytes())
    return digest.hexdigest()


def _train(dataset: Path, run: Path, steps: int, *extra: str) -> int:
    return main(
        [
            "train",
            "--data",
            str(dataset),
            "--out",
            str(run),
            "--max-steps",
            str(steps),
            *TINY,
            *extra,
        ]
    )


@pytest.fixture(scope="module")
def finished_run(dataset: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A 4-step tiny run with a checkpoint at step 2 and 4, metrics and samples."""
    run = tmp_path_factory.mktemp("outsider") / "run"
    assert _train(dataset, run, 4, "--set", "train.checkpoint_interval_steps=2") == 0
    return run


@pytest.fixture
def run_copy(finished_run: Path, tmp_path: Path) -> Path:
    run = tmp_path / "run"
    shutil.copytree(finished_run, run)
    return run


@pytest.fixture
def victim(tmp_path: Path) -> Path:
    path = tmp_path / "victim.txt"
    path.write_text(VICTIM_TEXT, encoding="utf-8")
    return path


def _dead_pid() -> int:
    """The PID of a process that has exited (and been reaped)."""
    child = subprocess.Popen([sys.executable, "-c", "pass"])
    child.wait()
    return child.pid


# ---- symbolic links ----------------------------------------------------------------------------


@pytest.mark.parametrize("name", [".lock", "metrics.jsonl", "samples.jsonl", "env_resume.json"])
def test_resume_never_writes_through_a_link(
    run_copy: Path, victim: Path, name: str, capsys: pytest.CaptureFixture[str]
) -> None:
    link = run_copy / name
    if link.exists():
        link.unlink()
    link.symlink_to(victim)
    before = _digest(run_copy)
    assert main(["train", "--resume", str(run_copy), "--max-steps", "6", "--no-progress"]) == 2
    assert "symbolic link" in capsys.readouterr().err
    assert victim.read_text(encoding="utf-8") == VICTIM_TEXT
    assert _digest(run_copy) == before


def test_linked_checkpoints_folder_is_refused(run_copy: Path, tmp_path: Path) -> None:
    elsewhere = tmp_path / "elsewhere"
    shutil.move(run_copy / "checkpoints", elsewhere)
    (run_copy / "checkpoints").symlink_to(elsewhere, target_is_directory=True)
    before = _digest(elsewhere)
    assert main(["train", "--resume", str(run_copy), "--max-steps", "6", "--no-progress"]) == 2
    assert _digest(elsewhere) == before


@pytest.mark.parametrize("name", [".lock", "config.toml", "metrics.jsonl", "samples.jsonl"])
def test_new_run_never_writes_through_a_link(
    dataset: Path, tmp_path: Path, victim: Path, name: str
) -> None:
    out = tmp_path / "new"
    out.mkdir()
    (out / name).symlink_to(victim)
    assert _train(dataset, out, 2) == 2
    assert victim.read_text(encoding="utf-8") == VICTIM_TEXT
    assert sorted(p.name for p in out.iterdir()) == [name]


def test_open_no_follow_refuses_a_link(tmp_path: Path, victim: Path) -> None:
    link = tmp_path / "log"
    link.symlink_to(victim)
    with pytest.raises(GptlabError, match="symbolic link"):
        open_no_follow(link, os.O_WRONLY | os.O_CREAT | os.O_TRUNC)
    assert victim.read_text(encoding="utf-8") == VICTIM_TEXT


# ---- a kill while a resume rewrites metrics.jsonl ----------------------------------------------

_REWRITER = """
import sys
from pathlib import Path
from gptlab.train.metrics import MetricsWriter
writer = MetricsWriter(Path(sys.argv[1]), resume=True)
print("ready", flush=True)
writer.truncate_after(int(sys.argv[2]))
print("done", flush=True)
"""


def _kill_at_the_rewrite(child: subprocess.Popen[str], log: Path, size: int, on_temp: bool) -> None:
    """SIGKILL the child the moment it changes the log: it shrinks, or (on_temp) a temporary
    sibling file appears; poll as fast as Python can."""
    while child.poll() is None:
        if on_temp and any(p.name.startswith(f".{log.name}.") for p in log.parent.iterdir()):
            break
        if log.stat().st_size < size:
            break
    child.send_signal(signal.SIGKILL)
    child.wait()


def test_kill_during_the_resume_rewrite_keeps_the_history(tmp_path: Path) -> None:
    """A resume rewriting a 7 MB history is killed as it writes: never a short file."""
    run = tmp_path / "run"
    run.mkdir()
    lines = [
        f'{{"kind": "train", "step": {s}, "loss": {1 + 1 / s:.6f}}}\n' for s in range(1, 150_001)
    ]
    history = "".join(lines)
    kept = "".join(lines[:120_000])
    (run / "samples.jsonl").write_text("", encoding="utf-8")
    log = run / "metrics.jsonl"
    for attempt in range(6):
        log.write_text(history, encoding="utf-8")
        child = subprocess.Popen(
            [sys.executable, "-c", _REWRITER, str(run), "120000"],
            stdout=subprocess.PIPE,
            text=True,
            env=ENV,
        )
        assert child.stdout is not None and child.stdout.readline().strip() == "ready"
        _kill_at_the_rewrite(child, log, len(history), on_temp=attempt % 2 == 0)
        text = log.read_text(encoding="utf-8")
        assert text in (history, kept), f"attempt {attempt}: {len(text)} characters left"
        for leftover in run.glob(".metrics.jsonl.*"):
            leftover.unlink()  # a temporary file of the killed writer (never read as the log)


# ---- --overwrite never destroys what it should not touch ----------------------------------------


@pytest.fixture
def corpus(tmp_path: Path) -> Path:
    folder = tmp_path / "corpus"
    folder.mkdir()
    for i in range(3):
        (folder / f"story{i}.txt").write_text(f"Story {i}. Once there was a cat.\n" * 40)
    return folder


def _export(run: Path, out: Path) -> list[str]:
    return ["export", str(run), "-o", str(out), "--overwrite"]


@pytest.mark.parametrize(
    "case",
    [
        "export into the run",
        "export inside the run",
        "export over a dataset",
        "prepare over its input",
        "prepare inside its input",
        "prepare over a file",
        "prepare over a run",
        "prepare over other files",
    ],
)
def test_overwrite_refuses_what_it_must_not_replace(
    case: str,
    run_copy: Path,
    dataset: Path,
    corpus: Path,
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
) -> None:
    notes = tmp_path / "notes.txt"
    notes.write_text("my notes\n", encoding="utf-8")
    papers = tmp_path / "papers"
    papers.mkdir()
    (papers / "draft.md").write_text("draft\n", encoding="utf-8")
    prepare = ["prepare", str(corpus), "--tokenizer", "byte", "--overwrite", "--out"]
    argv = {
        "export into the run": _export(run_copy, run_copy),
        "export inside the run": _export(run_copy, run_copy / "hf"),
        "export over a dataset": _export(run_copy, dataset),
        "prepare over its input": [*prepare, str(corpus)],
        "prepare inside its input": [*prepare, str(corpus / "data")],
        "prepare over a file": [*prepare, str(notes)],
        "prepare over a run": [*prepare, str(run_copy)],
        "prepare over other files": [*prepare, str(papers)],
    }[case]
    watched = [run_copy, dataset, corpus, papers]
    before = [_digest(p) for p in watched]
    assert main(argv) == 2
    err = capsys.readouterr().err
    assert "Traceback" not in err
    assert "nothing was changed" in err or "destroy" in err
    assert [_digest(p) for p in watched] == before
    assert notes.read_text(encoding="utf-8") == "my notes\n"


def test_overwrite_replaces_a_folder_of_the_same_kind(corpus: Path, tmp_path: Path) -> None:
    out = tmp_path / "data"
    prepare = ["prepare", str(corpus), "--tokenizer", "byte", "--out", str(out)]
    assert main(prepare) == 0
    assert main([*prepare, "--overwrite", "--tokenizer", "char"]) == 0
    assert '"char"' in (out / "meta.json").read_text(encoding="utf-8")


# ---- debris of killed writes is recovered or removed --------------------------------------------


def test_old_folder_taken_by_a_kill_is_put_back(corpus: Path, tmp_path: Path) -> None:
    out = tmp_path / "data"
    assert main(["prepare", str(corpus), "--tokenizer", "byte", "--out", str(out)]) == 0
    before = _digest(out)
    pid = _dead_pid()
    # A kill between the two renames of --overwrite: the old folder aside, the new one hidden.
    os.replace(out, tmp_path / f".data.old-{pid}")
    (tmp_path / f".data.tmp-{pid}-abc123").mkdir()
    assert main(["prepare", str(corpus), "--tokenizer", "byte", "--out", str(out)]) == 2
    assert _digest(out) == before
    assert sorted(p.name for p in tmp_path.iterdir() if p.name.startswith(".data")) == []


def test_killed_prepare_leaves_nothing_after_a_rerun(corpus: Path, tmp_path: Path) -> None:
    out = tmp_path / "data"
    stale = tmp_path / f".data.tmp-{_dead_pid()}-q1w2e3"
    stale.mkdir()
    (stale / "train_000000.bin").write_bytes(b"\0" * 64)
    assert main(["prepare", str(corpus), "--tokenizer", "byte", "--out", str(out)]) == 0
    assert not stale.exists()
    assert [p.name for p in tmp_path.iterdir() if p.name.startswith(".")] == []


def test_a_live_writers_temporary_folder_is_left_alone(tmp_path: Path) -> None:
    live = tmp_path / f".data.tmp-{os.getpid()}-zzz"
    live.mkdir()
    with atomic_directory(tmp_path / "data") as tmp:
        (tmp / "a").write_text("a")
    assert live.is_dir() and (tmp_path / "data" / "a").is_file()
    assert recover_interrupted_replace(tmp_path / "data") == []


# ---- concurrency -------------------------------------------------------------------------------

_HOLDER = """
import sys, time
from pathlib import Path
from gptlab.train.checkpoint import acquire_lock
acquire_lock(Path(sys.argv[1]), "Sweep folder")
print("held", flush=True)
time.sleep(60)
"""


def test_second_sweep_of_one_folder_is_refused(
    dataset: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    out = tmp_path / "sweep"
    spec = tmp_path / "spec.toml"
    spec.write_text(
        f'[sweep]\nname = "s"\nout = "{out}"\nmethod = "grid"\n'
        f'[base]\n"data.path" = "{dataset}"\n"train.max_steps" = 2\n'
        '[parameters]\n"optim.lr" = [1e-3]\n',
        encoding="utf-8",
    )
    holder = subprocess.Popen(
        [sys.executable, "-c", _HOLDER, str(out)], stdout=subprocess.PIPE, text=True, env=ENV
    )
    try:
        assert holder.stdout is not None and holder.stdout.readline().strip() == "held"
        assert main(["sweep", str(spec)]) == 2
        assert "in use by process" in capsys.readouterr().err
        assert not (out / "trials").exists()
    finally:
        holder.kill()
        holder.wait()


def test_run_folder_is_checked_again_under_the_lock(
    dataset: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A second trainer that starts during our dataset check must not be mixed with ours."""
    from gptlab.train import training_run

    out = tmp_path / "run"
    foreign = 'title = "another trainer\'s run"\n'
    planned = training_run.make_plan

    def plan_then_race(*args: object, **kwargs: object) -> object:
        plan = planned(*args, **kwargs)  # type: ignore[arg-type]
        out.mkdir()
        (out / "config.toml").write_text(foreign, encoding="utf-8")
        return plan

    monkeypatch.setattr(training_run, "make_plan", plan_then_race)
    assert _train(dataset, out, 2) == 2
    assert (out / "config.toml").read_text(encoding="utf-8") == foreign
    assert sorted(p.name for p in out.iterdir()) == ["config.toml"]


# ---- a failed command changes nothing ----------------------------------------------------------


@pytest.mark.parametrize(
    "flags",
    [
        ["--optimizer", "muon"],
        ["--set", "train.micro_batch_size=3"],
        ["--set", "model.n_layer=3"],
        ["--set", "train.max_steps=0"],
    ],
    ids=["other optimizer", "indivisible batch", "other model", "no horizon"],
)
def test_failed_resume_writes_nothing(run_copy: Path, flags: list[str]) -> None:
    before = _digest(run_copy)
    assert main(["train", "--resume", str(run_copy), "--no-progress", *flags]) == 2
    assert _digest(run_copy) == before
    assert main(["train", "--resume", str(run_copy), "--max-steps", "6", "--no-progress"]) == 0


def test_new_run_that_fails_to_start_leaves_nothing(
    dataset: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from gptlab.train import loop

    def broken_build(self: object, found: object) -> None:
        raise ConfigError("the model cannot be built here")

    monkeypatch.setattr(loop._Trainer, "_build", broken_build)
    assert _train(dataset, tmp_path / "fresh", 2) == 2
    assert not (tmp_path / "fresh").exists()
    empty = tmp_path / "empty"
    empty.mkdir()
    assert _train(dataset, empty, 2) == 2
    assert list(empty.iterdir()) == []


def test_reading_while_training_prunes_checkpoints(dataset: Path, tmp_path: Path) -> None:
    """load_run of the latest checkpoint while a trainer keeps only one: the pruned one is
    skipped for the next, never an error."""
    from reliability_helpers import train_command

    from gptlab.train.checkpoint import load_run

    run = tmp_path / "run"
    every_step = ["--set", "train.checkpoint_interval_steps=1"]
    command = train_command(
        dataset, run, 400, *every_step, "--set", "train.keep_last_checkpoints=1"
    )
    trainer = subprocess.Popen(command, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, env=ENV)
    loads = 0
    try:
        while trainer.poll() is None and loads < 60:
            if (run / "checkpoints").is_dir() and any((run / "checkpoints").glob("step_*")):
                loaded = load_run(run)
                assert loaded.step >= 1
                loads += 1
    finally:
        trainer.kill()
        trainer.wait()
    assert loads >= 10, f"only {loads} loads while training"


def test_checkpoint_of_another_run_is_refused(
    run_copy: Path, dataset: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    other = tmp_path / "other"
    assert _train(dataset, other, 2, "--set", "model.n_embd=16") == 0
    step = next((other / "checkpoints").glob("step_*"))
    assert main(["generate", str(run_copy), "-c", str(step), "-p", "Once", "-n", "4"]) == 2
    assert "belongs to another run" in capsys.readouterr().err
    own = next((run_copy / "checkpoints").glob("step_*"))
    assert main(["generate", str(run_copy), "-c", str(own), "-p", "Once", "-n", "4"]) == 0


def test_every_checkpoint_damaged_names_what_is_wrong(
    run_copy: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    for step in (run_copy / "checkpoints").glob("step_*"):
        (step / "state.json").write_text('{"step": "five"}')
    for argv in (["eval", str(run_copy)], ["generate", str(run_copy), "-p", "Once", "-n", "2"]):
        assert main(argv) == 2
        err = " ".join(capsys.readouterr().err.split())
        assert "Every checkpoint of" in err and "is damaged" in err and "state.json" in err
        assert "train the run first" not in err and "Traceback" not in err


def test_finished_run_whose_report_does_not_fit_is_not_called_stopped(
    dataset: Path,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    import errno

    import gptlab.report

    def disk_full(run_dir: Path) -> Path:
        raise OSError(errno.ENOSPC, "No space left on device", str(run_dir / "report.html"))

    monkeypatch.setattr(gptlab.report, "write_report", disk_full)
    run = tmp_path / "run"
    assert _train(dataset, run, 2, "--set", "run.report=true") == 0
    err = capsys.readouterr().err
    assert "training finished and step 2 is saved" in err and "gptlab report" in err
    assert "--resume" not in err
    assert '"reason": "done"' in (run / "metrics.jsonl").read_text(encoding="utf-8")


def test_failed_viz_and_compare_leave_nothing_half_written(
    run_copy: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    import errno

    from gptlab.report import compare, viz_figures

    def disk_full(*args: object, **kwargs: object) -> Path:
        raise OSError(errno.ENOSPC, "No space left on device")

    monkeypatch.setattr(viz_figures, "draw_top_neurons", disk_full)
    assert main(["viz", str(run_copy), "-p", "Once upon a time"]) == 2
    assert not (run_copy / "viz").exists()
    monkeypatch.setattr(compare, "compare_html", disk_full)
    out = tmp_path / "cmp"
    assert main(["compare", str(run_copy), "--out", str(out)]) == 2
    assert not out.exists()
    assert [p.name for p in tmp_path.iterdir() if p.name.startswith(".")] == []
