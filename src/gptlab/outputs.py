"""Which kind of gptlab folder a path holds, and whether a command may write its output there.

`--overwrite` replaces a whole folder, so before any work starts we make sure the output is not
one of the command's inputs (nor inside one, nor holding one), not a file, and not a folder of
another kind: an export never replaces a run, a prepare never replaces the user's text files.
Only an empty folder or a folder of the same kind is ever replaced.
"""

from __future__ import annotations

import os
from collections.abc import Iterable
from pathlib import Path

from gptlab.errors import UnsafeFolderError
from gptlab.fileio import recover_interrupted_replace

RUN = "run folder"
DATASET = "prepared dataset"
HF_EXPORT = "Hugging Face export"
SWEEP = "sweep folder"
VIZ = "viz folder"
COMPARISON = "comparison folder"

_MARKERS = (
    (RUN, ("config.toml",)),
    (DATASET, ("meta.json",)),
    (SWEEP, ("sweep.json",)),
    (HF_EXPORT, ("gptlab_export.json",)),
    (HF_EXPORT, ("config.json", "model.safetensors")),
    (VIZ, ("index.html", "residual_norms.png")),
    (COMPARISON, ("compare.csv", "compare.html")),
)
"""Files that mark each kind of folder, checked in order (a run holds no meta.json of its own)."""


def folder_kind(path: Path) -> str | None:
    """The kind of gptlab folder at `path`, or None (not a folder, or not one of ours)."""
    if not path.is_dir():
        return None
    for kind, files in _MARKERS:
        if all((path / name).is_file() for name in files):
            return kind
    return None


def _is_within(inner: Path, outer: Path) -> bool:
    return inner == outer or outer in inner.parents


def check_output(
    out: Path, kind: str, *, overwrite: bool, inputs: Iterable[Path | None] = ()
) -> None:
    """Refuse (UnsafeFolderError) an output path that writing `kind` there could harm.

    It must not be, contain or lie inside an input; if it exists it must be a folder, and with
    overwrite it may be replaced only when it is empty or already a folder of the same kind.
    (Without overwrite the caller refuses an existing output with its own message.) What a
    killed earlier write left beside the output is recovered first: an old folder a kill took
    from its name is put back, dead temporary folders are deleted.
    """
    recover_interrupted_replace(out)
    target = out.resolve()
    for given in inputs:
        if given is None or not os.path.lexists(given):
            continue
        source = given.resolve()
        if _is_within(target, source) or _is_within(source, target):
            where = (
                "is"
                if target == source
                else ("lies inside" if _is_within(target, source) else "contains")
            )
            raise UnsafeFolderError(
                f"The output {out} {where} the input {given}: writing it would destroy what the "
                "command reads. Choose an --out folder outside the input."
            )
    if not os.path.lexists(out):
        return
    if out.is_symlink() or not out.is_dir():
        raise UnsafeFolderError(
            f"The output {out} is a file or a link, not a folder; nothing was changed. Choose "
            "a folder name that does not exist yet."
        )
    if not overwrite:
        return
    found = folder_kind(out)
    if found == kind or not any(out.iterdir()):
        return
    what = f"a {found}" if found else "a folder of other files"
    raise UnsafeFolderError(
        f"--overwrite replaces only a {kind} (or an empty folder), but {out} is {what}; "
        "nothing was changed. Choose another --out, or delete that folder yourself."
    )
