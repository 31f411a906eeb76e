"""Atomic file and folder writes: a reader sees the old complete thing or the new complete thing.

Everything is written beside its destination (same filesystem) and moved into place with
`os.replace`, so a crash or Ctrl-C never leaves a half-written file where a good one was.
"""

from __future__ import annotations

import contextlib
import errno
import hashlib
import json
import os
import re
import shutil
import tempfile
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from gptlab.errors import UnsafeFolderError

_NOFOLLOW = getattr(os, "O_NOFOLLOW", 0)


def fsync_dir(path: Path) -> None:
    """Flush a directory entry so a rename inside it survives a power cut."""
    try:
        fd = os.open(path, os.O_RDONLY)
    except OSError:
        return
    try:
        os.fsync(fd)
    except OSError:
        pass
    finally:
        os.close(fd)


def _umask() -> int:
    """The process umask (reading it means setting it; it is put back at once)."""
    mask = os.umask(0o022)
    os.umask(mask)
    return mask


def default_file_mode() -> int:
    """The mode a plain open() gives a new file: 0o666 less the umask."""
    return 0o666 & ~_umask()


def fsync_file(path: str | os.PathLike[str]) -> None:
    """Flush a file written by another library to the disk."""
    fd = os.open(path, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def link_refused(path: Path) -> UnsafeFolderError:
    """The error for a symbolic link where gptlab was about to create or change a file."""
    return UnsafeFolderError(
        f"{path} is a symbolic link. gptlab never writes through links in a run or dataset "
        "folder, so that nothing outside it can be changed. Delete the link (or replace it "
        "with a real file) and run the command again."
    )


def open_no_follow(path: Path, flags: int, mode: int = 0o666) -> int:
    """os.open that refuses a symbolic link as the last part of the path (UnsafeFolderError)."""
    try:
        return os.open(path, flags | _NOFOLLOW, mode)
    except OSError as exc:
        if exc.errno == errno.ELOOP or (exc.errno == errno.EEXIST and path.is_symlink()):
            raise link_refused(path) from None
        raise


def refuse_links(folder: Path) -> None:
    """UnsafeFolderError when anything inside `folder` (at any depth) is a symbolic link.

    The folder itself may be a link the user made; what lies inside is gptlab's, and a link
    there would make a later write change a file elsewhere.
    """
    if not folder.is_dir():
        return
    for root, dirs, files in os.walk(folder):
        for name in (*dirs, *files):
            path = Path(root) / name
            if path.is_symlink():
                raise link_refused(path)


def atomic_write_bytes(path: str | os.PathLike[str], data: bytes) -> None:
    """Write `data` to `path` through a temporary sibling file and an atomic rename."""
    target = Path(path)
    target.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp_name = tempfile.mkstemp(prefix=f".{target.name}.", suffix=".tmp", dir=target.parent)
    try:
        # mkstemp creates 0600; give the file the mode a plain open() would (umask applied).
        os.fchmod(fd, 0o666 & ~_umask())
        with os.fdopen(fd, "wb") as handle:
            handle.write(data)
            handle.flush()
            os.fsync(handle.fileno())
        os.replace(tmp_name, target)
    except BaseException:
        with contextlib.suppress(OSError):
            os.unlink(tmp_name)
        raise
    fsync_dir(target.parent)


def atomic_write_text(path: str | os.PathLike[str], text: str) -> None:
    """Write UTF-8 text atomically."""
    atomic_write_bytes(path, text.encode("utf-8"))


def atomic_write_json(path: str | os.PathLike[str], obj: Any) -> None:
    """Write an object as indented JSON atomically."""
    atomic_write_text(path, json.dumps(obj, indent=2, sort_keys=False) + "\n")


def pid_alive(pid: int) -> bool:
    """True while a process with this PID exists on this machine."""
    if pid <= 0:
        return False
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


def recover_interrupted_replace(target: Path) -> list[str]:
    """Undo what a killed `atomic_directory` left beside `target`; the names handled.

    A kill between its two renames leaves the old folder as `.<name>.old-PID` and nothing
    under the name: the old folder is put back. Temporary `.<name>.tmp-PID-*` folders and old
    folders of processes that are gone are deleted. Folders of live processes are left alone.
    """
    parent = target.parent
    if not parent.is_dir():
        return []
    pattern = re.compile(rf"^\.{re.escape(target.name)}\.(tmp|old)-(\d+)(-|$)")
    handled = []
    for entry in sorted(parent.iterdir()):
        match = pattern.match(entry.name)
        if match is None or pid_alive(int(match[2])) or entry.is_symlink():
            continue
        if match[1] == "old" and not os.path.lexists(target):
            os.replace(entry, target)
            fsync_dir(parent)
        elif entry.is_dir():
            shutil.rmtree(entry, ignore_errors=True)
        else:
            entry.unlink(missing_ok=True)
        handled.append(entry.name)
    return handled


@contextlib.contextmanager
def atomic_directory(path: str | os.PathLike[str], overwrite: bool = False) -> Iterator[Path]:
    """Yield a temporary folder; on success it replaces `path`, on any error it is deleted.

    The temporary folder is a hidden sibling named `.<name>.tmp-PID-*`, so a folder that looks
    complete under the final name only ever appears after every file inside it was written.
    What a killed earlier call left beside `path` is recovered or removed first.
    """
    target = Path(path)
    target.parent.mkdir(parents=True, exist_ok=True)
    recover_interrupted_replace(target)
    tmp = Path(tempfile.mkdtemp(prefix=f".{target.name}.tmp-{os.getpid()}-", dir=target.parent))
    os.chmod(tmp, 0o777 & ~_umask())  # mkdtemp creates 0700, as mkdir() would not
    try:
        yield tmp
        if os.path.lexists(target):
            if not overwrite:
                raise FileExistsError(target)
            if not target.is_dir() or target.is_symlink():
                raise UnsafeFolderError(
                    f"{target} is a file or a link, not a folder: choose another output path."
                )
            trash = target.with_name(f".{target.name}.old-{os.getpid()}")
            os.replace(target, trash)
            os.replace(tmp, target)
            shutil.rmtree(trash, ignore_errors=True)
        else:
            os.replace(tmp, target)
        fsync_dir(target.parent)
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise


def sha256_file(path: str | os.PathLike[str], chunk_bytes: int = 1 << 20) -> str:
    """Hex sha256 of a file, read in chunks."""
    digest = hashlib.sha256()
    with open(path, "rb") as handle:
        while chunk := handle.read(chunk_bytes):
            digest.update(chunk)
    return digest.hexdigest()


_FULL = {errno.ENOSPC: "no space left on the device", errno.EFBIG: "a file size limit was hit"}
if hasattr(errno, "EDQUOT"):
    _FULL[errno.EDQUOT] = "the disk quota is used up"


def write_error_text(exc: OSError) -> str:
    """A short, plain description of a failed write: what happened, and to which file."""
    what = _FULL.get(exc.errno or 0) or exc.strerror or str(exc)
    where = f" (writing {exc.filename})" if exc.filename else ""
    return f"{what}{where}"


def is_disk_full(exc: OSError) -> bool:
    """True for the errors that more free space (or a higher limit) cures."""
    return exc.errno in _FULL
