"""Nothing gptlab loads from a user's path may run code, and config paths stay where they belong.

The source check parses every module of the package (an AST, so comments, strings and methods
named `eval` do not count) and fails on pickle-family imports, torch.load without
weights_only=True, eval/exec/compile, unsafe yaml, shell=True, os.system and subprocess outside
the reviewed modules. Then: pickle files beside real weights are never unpickled (a pickle that
would create a marker file proves it), config paths resolve relative to the config file, and a
sweep spec cannot place a trial folder outside <out>/trials.
"""

from __future__ import annotations

import ast
import os
import shutil
from pathlib import Path

import pytest
import torch

import gptlab
from gptlab.config import Config, apply_overrides, load_config, preset_config, save_config
from gptlab.errors import CheckpointError, ConfigError, GptlabError

PACKAGE = Path(gptlab.__file__).resolve().parent

SUBPROCESS_ALLOWED = {
    "cli/train.py": "re-launches `gptlab train` under torch.distributed.run (argument list)",
    "train/runtime.py": "asks git for the commit recorded in env.json (argument list)",
}
"""Modules reviewed to start processes, never through a shell."""

PICKLE_MODULES = {"pickle", "cPickle", "_pickle", "dill", "shelve", "marshal", "joblib"}
UNSAFE_CALLS = {"eval", "exec", "compile", "__import__"}


def _dotted(node: ast.AST) -> str:
    """'torch.load' for the expression torch.load, '' for anything not a plain dotted name."""
    if isinstance(node, ast.Name):
        return node.id
    if isinstance(node, ast.Attribute):
        base = _dotted(node.value)
        return f"{base}.{node.attr}" if base else ""
    return ""


def _keyword_is_true(call: ast.Call, name: str) -> bool:
    return any(
        k.arg == name and isinstance(k.value, ast.Constant) and k.value.value is True
        for k in call.keywords
    )


def violations(source: str, relative: str) -> list[str]:
    """Every unsafe construct in one module's source, as 'file:line: what'."""
    found: list[str] = []
    for node in ast.walk(ast.parse(source)):
        where = f"{relative}:{getattr(node, 'lineno', 0)}"
        if isinstance(node, ast.Import | ast.ImportFrom):
            names = [a.name for a in node.names]
            if isinstance(node, ast.ImportFrom) and node.module:
                names.append(node.module)
            for name in names:
                root = name.split(".")[0]
                if root in PICKLE_MODULES:
                    found.append(f"{where}: imports {name} (unpickling runs code)")
                if root == "subprocess" and relative not in SUBPROCESS_ALLOWED:
                    found.append(f"{where}: imports subprocess outside the reviewed modules")
        if not isinstance(node, ast.Call):
            continue
        func = _dotted(node.func)
        if func == "torch.load" and not _keyword_is_true(node, "weights_only"):
            found.append(f"{where}: torch.load without weights_only=True")
        if isinstance(node.func, ast.Name) and func in UNSAFE_CALLS:
            found.append(f"{where}: calls {func}()")
        if func in ("yaml.load", "yaml.unsafe_load", "yaml.full_load"):
            found.append(f"{where}: {func} (use yaml.safe_load)")
        if func in ("os.system", "os.popen") or func.startswith("os.exec"):
            found.append(f"{where}: {func} runs a shell or replaces the process")
        if _keyword_is_true(node, "shell"):
            found.append(f"{where}: shell=True")
        if func in ("np.load", "numpy.load") and _keyword_is_true(node, "allow_pickle"):
            found.append(f"{where}: np.load with allow_pickle=True")
    return found


def test_package_source_has_no_code_execution_from_files() -> None:
    modules = sorted(PACKAGE.rglob("*.py"))
    assert len(modules) > 20, f"found only {len(modules)} modules under {PACKAGE}"
    problems: list[str] = []
    for path in modules:
        relative = path.relative_to(PACKAGE).as_posix()
        problems += violations(path.read_text(encoding="utf-8"), relative)
    assert problems == [], "unsafe code in the package:\n" + "\n".join(problems)


def test_allowlisted_modules_exist_and_use_argument_lists() -> None:
    for relative in SUBPROCESS_ALLOWED:
        tree = ast.parse((PACKAGE / relative).read_text(encoding="utf-8"))
        calls = [
            n
            for n in ast.walk(tree)
            if isinstance(n, ast.Call) and _dotted(n.func).startswith("subprocess.")
        ]
        assert calls, f"{relative} is allowlisted but starts no process: drop it from the list"
        for call in calls:
            first = call.args[0] if call.args else None
            assert not isinstance(first, ast.Constant | ast.JoinedStr), (
                f"{relative}:{call.lineno}: a command string (shell-style), not an argument list"
            )


@pytest.mark.parametrize(
    ("snippet", "needle"),
    [
        ("import pickle", "imports pickle"),
        ("from dill import loads", "imports dill"),
        ("import torch\ntorch.load('x.pt')", "weights_only"),
        ("import torch\ntorch.load('x.pt', weights_only=False)", "weights_only"),
        ("eval('1 + 1')", "calls eval()"),
        ("exec('x = 1')", "calls exec()"),
        ("import yaml\nyaml.load(open('f'))", "yaml.safe_load"),
        ("import os\nos.system('ls')", "os.system"),
        ("import subprocess\nsubprocess.run('ls', shell=True)", "shell=True"),
        ("import numpy as np\nnp.load('a.npy', allow_pickle=True)", "allow_pickle"),
    ],
)
def test_the_checker_catches_each_violation(snippet: str, needle: str) -> None:
    found = violations(snippet, "data/example.py")
    assert any(needle in f for f in found), found


def test_the_checker_allows_safe_forms() -> None:
    safe = (
        "import torch\nimport yaml\n"
        "torch.load('x.pt', weights_only=True)\n"
        "model.eval()\nyaml.safe_load('a: 1')\ntorch.compile(model)\n"
        "class M:\n    def eval(self): ...\n"
    )
    assert violations(safe, "data/example.py") == []


# ---- pickle files beside real weights are never unpickled ---------------------------------------


def _booby_trapped_pickle(marker: Path) -> bytes:
    """Protocol-0 pickle bytes that create `marker` when unpickled (written by hand)."""
    return b"cbuiltins\nopen\n(V" + str(marker).encode() + b"\nVw\ntR."


@pytest.fixture(scope="module")
def tiny_run(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A 2-step byte-level run (the smallest real model and checkpoint)."""
    from gptlab.data.prepare import prepare
    from gptlab.train import train

    torch.set_num_threads(1)
    root = tmp_path_factory.mktemp("security")
    data = root / "data"
    prepare("builtin", data, tokenizer="byte", builtin_stories=30, num_workers=1, progress=False)
    cfg = apply_overrides(
        preset_config("tiny"),
        [
            "model.n_layer=1", "model.n_head=2", "model.n_embd=16", "model.context_length=16",
            "train.micro_batch_size=2", "train.eval_batches=1", "train.max_steps=2",
            "train.sample_max_new_tokens=2", 'train.device="cpu"', "run.report=false",
            f'data.path="{data}"', f'run.out_dir="{root / "run"}"',
        ],
    )  # fmt: skip
    train(cfg, progress=False)
    return root / "run"


def test_booby_trapped_pickle_is_a_code_running_pickle(tmp_path: Path) -> None:
    """It imports a callable and calls it (GLOBAL + REDUCE), read without unpickling it."""
    import pickletools

    marker = tmp_path / "ran"
    ops = [op.name for op, _, _ in pickletools.genops(_booby_trapped_pickle(marker))]
    assert ops[:2] == ["GLOBAL", "MARK"] and "REDUCE" in ops


def test_checkpoint_with_pickles_instead_of_safetensors_is_refused(
    tiny_run: Path, tmp_path: Path
) -> None:
    from gptlab.train.checkpoint import load_run

    run = tmp_path / "run"
    shutil.copytree(tiny_run, run)
    marker = tmp_path / "pickle-ran"
    for step in (run / "checkpoints").glob("step_*"):
        (step / "model.safetensors").unlink()
        for name in ("model.pt", "pytorch_model.bin", "model.ckpt"):
            (step / name).write_bytes(_booby_trapped_pickle(marker))
    with pytest.raises(CheckpointError):
        load_run(run)
    assert not marker.exists()


def test_checkpoint_with_extra_pickles_loads_only_safetensors(
    tiny_run: Path, tmp_path: Path
) -> None:
    from gptlab.train.checkpoint import load_run

    run = tmp_path / "run"
    shutil.copytree(tiny_run, run)
    marker = tmp_path / "pickle-ran"
    for step in (run / "checkpoints").glob("step_*"):
        (step / "pytorch_model.bin").write_bytes(_booby_trapped_pickle(marker))
        (step / "optimizer.pt").write_bytes(_booby_trapped_pickle(marker))
    loaded = load_run(run)
    assert loaded.step == 2
    assert not marker.exists()


def test_import_hf_refuses_a_pickle_only_folder(tmp_path: Path) -> None:
    from gptlab.interop import import_hf

    src = tmp_path / "hf"
    src.mkdir()
    (src / "config.json").write_text(
        '{"model_type": "gpt2", "n_layer": 1, "n_head": 2, "n_embd": 16, "n_positions": 16, '
        '"vocab_size": 257}',
        encoding="utf-8",
    )
    marker = tmp_path / "pickle-ran"
    (src / "pytorch_model.bin").write_bytes(_booby_trapped_pickle(marker))
    with pytest.raises(CheckpointError, match="pickle"):
        import_hf(src, tmp_path / "imported")
    assert not marker.exists()
    assert not (tmp_path / "imported").exists()


def test_import_hf_reads_safetensors_and_ignores_a_pickle_beside_them(
    tiny_run: Path, tmp_path: Path
) -> None:
    from gptlab.interop import export_hf, import_hf

    exported = tmp_path / "hf"
    export_hf(tiny_run, exported)
    marker = tmp_path / "pickle-ran"
    (exported / "pytorch_model.bin").write_bytes(_booby_trapped_pickle(marker))
    run = import_hf(exported, tmp_path / "imported")
    assert (Path(run) / "config.toml").is_file()
    assert not marker.exists()


# ---- paths in config files -----------------------------------------------------------------------


def test_config_paths_are_relative_to_the_config_file(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    project = tmp_path / "project"
    (project / "configs").mkdir(parents=True)
    config_file = project / "configs" / "small.toml"
    config_file.write_text(
        '[data]\npath = "../data/stories"\n[run]\nout_dir = "../runs/small"\n', encoding="utf-8"
    )
    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()
    monkeypatch.chdir(elsewhere)
    cfg = load_config(config_file)
    assert Path(cfg.data.path).resolve() == (project / "data" / "stories").resolve()
    assert Path(cfg.run.out_dir).resolve() == (project / "runs" / "small").resolve()

    # Inside the working directory they come back relative to it.
    monkeypatch.chdir(project)
    cfg = load_config(config_file)
    assert cfg.data.path == os.path.join("data", "stories")
    assert cfg.run.out_dir == os.path.join("runs", "small")


def test_absolute_and_unset_config_paths_are_kept(tmp_path: Path) -> None:
    config_file = tmp_path / "c.toml"
    config_file.write_text(f'[data]\npath = "{tmp_path / "d"}"\n', encoding="utf-8")
    base = apply_overrides(Config(), ['run.out_dir="runs/mine"'])
    cfg = load_config(config_file, base)
    assert cfg.data.path == str(tmp_path / "d")
    assert cfg.run.out_dir == "runs/mine"  # came from base, not from the file


def test_saved_config_loads_back_from_any_working_directory(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.chdir(tmp_path)
    cfg = apply_overrides(Config(), ['data.path="data/x"', 'run.out_dir="runs/y"'])
    saved = tmp_path / "runs" / "y" / "config.toml"
    save_config(cfg, saved)
    assert load_config(saved) == cfg
    monkeypatch.chdir(saved.parent)
    moved = load_config(saved)
    assert Path(moved.data.path).resolve() == (tmp_path / "data" / "x").resolve()


def test_train_cli_config_paths_follow_the_file(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from gptlab.cli.train import build_config

    config_file = tmp_path / "exp" / "c.toml"
    config_file.parent.mkdir()
    config_file.write_text('[data]\npath = "data"\n', encoding="utf-8")
    monkeypatch.chdir(tmp_path.parent)
    cfg = build_config(
        preset=None, data=None, out=None, config_file=config_file, overrides=[], resume=None,
        max_steps=None, device=None, precision=None, compile_model=None,
    )  # fmt: skip
    assert Path(cfg.data.path).resolve() == (tmp_path / "exp" / "data").resolve()


# ---- a sweep spec cannot write outside its output folder ----------------------------------------


def _spec(tmp_path: Path, body: str) -> Path:
    path = tmp_path / "specs" / "s.toml"
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text('[sweep]\npreset = "tiny"\n' + body, encoding="utf-8")
    return path


@pytest.mark.parametrize(
    "body",
    [
        '[base]\n"run.out_dir" = "/tmp/elsewhere"\n[parameters]\n"optim.lr" = [1e-3]\n',
        '[parameters]\n"run.out_dir" = ["../../x", "/tmp/y"]\n',
        '[base]\nrun = { out_dir = "../.." }\n[parameters]\n"optim.lr" = [1e-3]\n',
    ],
    ids=["base-dotted", "parameter", "base-table"],
)
def test_sweep_cannot_set_the_run_folder(tmp_path: Path, body: str) -> None:
    from gptlab.sweep import load_spec

    with pytest.raises(ConfigError, match=r"run\.out_dir"):
        load_spec(_spec(tmp_path, body))


@pytest.mark.parametrize("name", ["../evil", "a/b", "..", "/abs"])
def test_sweep_name_cannot_be_a_path(tmp_path: Path, name: str) -> None:
    from gptlab.sweep import load_spec

    with pytest.raises(GptlabError):
        load_spec(_spec(tmp_path, f'name = "{name}"\n[parameters]\n"optim.lr" = [1e-3]\n'))


def test_sweep_trial_folders_stay_inside_trials(tmp_path: Path) -> None:
    from gptlab.sweep import load_spec, plan_trials, trial_config, trial_dir

    evil = ["../../../outside", "/etc/passwd", "a/../../b", "..", ".", "~/x", "x\\..\\y"]
    spec = load_spec(
        _spec(
            tmp_path,
            'out = "out"\n[parameters]\n"data.path" = ' + str(evil).replace("'", '"') + "\n",
        )
    )
    root = spec.trials_dir.resolve()
    plans = plan_trials(spec)
    assert len(plans) == len(evil)
    for plan in plans:
        folder = trial_dir(spec, plan.trial_id)
        assert folder.parent == root, plan.trial_id
        assert Path(trial_config(spec, plan.params, folder).run.out_dir) == folder
    with pytest.raises(ConfigError, match="outside"):
        trial_dir(spec, "../escape")


def test_sweep_data_path_is_relative_to_the_spec(tmp_path: Path) -> None:
    from gptlab.sweep import load_spec, plan_trials, trial_config, trial_dir

    spec = load_spec(
        _spec(
            tmp_path, '[base]\n"data.path" = "../data/chars"\n[parameters]\n"optim.lr" = [1e-3]\n'
        )
    )
    plan = plan_trials(spec)[0]
    cfg = trial_config(spec, plan.params, trial_dir(spec, plan.trial_id))
    assert Path(cfg.data.path).resolve() == (tmp_path / "data" / "chars").resolve()
