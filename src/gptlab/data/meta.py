"""The checked, typed form of a prepared dataset's meta.json (written by gptlab.data.prepare).

`load_meta` parses every meta.json through `DatasetMeta.parse`, so a hand-edited or damaged file
(a shard named 7, no sha256, vocab_size "lots", splits as a list) is one DataError that names the
file and the field, at the boundary, rather than a TypeError deep inside training or analysis.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any, NoReturn

from gptlab.data.shards import read_header
from gptlab.errors import DataError
from gptlab.fileio import sha256_file
from gptlab.jsonio import read_json_file

DATASET_FORMAT = "gptlab-dataset"
DATASET_FORMAT_VERSION = 1

SPLIT_COUNTS = ("documents", "dropped_short", "dropped_long", "tokens", "bytes")
"""Counts a split record may hold; each, when present, is a whole number of 0 or more."""


@dataclass(frozen=True)
class ShardEntry:
    """One shard file of a split."""

    file: str
    """File name inside the dataset folder (no folder part)."""
    tokens: int
    sha256: str


@dataclass(frozen=True)
class SplitEntry:
    """One split (train or val): its counts and shards, in reading order."""

    tokens: int
    documents: int
    bytes: int
    shards: tuple[ShardEntry, ...]


@dataclass(frozen=True)
class DatasetMeta:
    """What gptlab reads from meta.json, each field checked for type and range."""

    vocab_size: int
    eos_id: int
    splits: dict[str, SplitEntry]

    @classmethod
    def parse(cls, raw: dict[str, Any], path: Path) -> DatasetMeta:
        """The record of a parsed meta.json; DataError naming `path` and the bad field."""
        vocab_size = _count(path, raw, "vocab_size", "vocab_size")
        if vocab_size < 1:
            _damaged(path, "vocab_size", vocab_size, "a positive number of token ids")
        eos_id = _count(path, raw, "eos_id", "eos_id")
        if eos_id >= vocab_size:
            _damaged(path, "eos_id", eos_id, f"a token id below vocab_size={vocab_size}")
        for key in ("tokenizer", "filter", "source_options"):
            if raw.get(key) is not None and not isinstance(raw[key], dict):
                _damaged(path, key, raw[key], "a table of fields")
        splits = raw.get("splits")
        if not isinstance(splits, dict):
            _damaged(path, "splits", splits, "a table of splits (train, val)")
        parsed = {str(name): _split(path, f"splits.{name}", info) for name, info in splits.items()}
        return cls(vocab_size, eos_id, parsed)


def _damaged(path: Path, field: str, value: object, expected: str) -> NoReturn:
    found = "missing" if value is None else f"{value!r:.60}"
    raise DataError(
        f"{path} is damaged: {field} should be {expected} but is {found}. Prepare the dataset "
        f"again with `gptlab prepare SOURCE --out {path.parent}`."
    )


def _count(path: Path, record: dict[str, Any], key: str, field: str) -> int:
    """record[key] as a whole number of 0 or more (a bool is not one)."""
    value = record.get(key)
    if isinstance(value, bool) or not isinstance(value, int) or value < 0:
        _damaged(path, field, value, "a whole number of 0 or more")
    return value


def _split(path: Path, field: str, info: object) -> SplitEntry:
    if not isinstance(info, dict):
        _damaged(path, field, info, "a table with tokens and shards")
    for key in SPLIT_COUNTS:
        if key in info or key == "tokens":
            _count(path, info, key, f"{field}.{key}")
    shards = info.get("shards")
    if not isinstance(shards, list):
        _damaged(path, f"{field}.shards", shards, "a list of shard records")
    entries = tuple(_shard(path, f"{field}.shards[{i}]", s) for i, s in enumerate(shards))
    return SplitEntry(info["tokens"], info.get("documents", 0), info.get("bytes", 0), entries)


def _shard(path: Path, field: str, shard: object) -> ShardEntry:
    if not isinstance(shard, dict):
        _damaged(path, field, shard, "a record with file, tokens and sha256")
    name = shard.get("file")
    if not isinstance(name, str) or not name or Path(name).name != name or name in (".", ".."):
        _damaged(path, f"{field}.file", name, "the name of a file in the dataset folder")
    sha256 = shard.get("sha256")
    if not isinstance(sha256, str):  # a wrong digest is caught when the shard is checked
        _damaged(path, f"{field}.sha256", sha256, "the shard's sha256 digest")
    return ShardEntry(name, _count(path, shard, "tokens", f"{field}.tokens"), sha256)


def load_meta(dataset_dir: str | Path) -> dict[str, Any]:
    """meta.json of a prepared dataset folder; DataError when it is missing or not ours."""
    directory = Path(dataset_dir)
    if directory.exists() and not directory.is_dir():
        raise DataError(
            f"{directory} is a file, but a prepared dataset is a folder (with meta.json and "
            "the shards). Give the folder made by `gptlab prepare`."
        )
    if not directory.is_dir():
        raise DataError(
            f"Dataset folder {directory} does not exist. Make one with "
            f"`gptlab prepare SOURCE --out {directory}`."
        )
    meta_path = directory / "meta.json"
    if not meta_path.is_file():
        raise DataError(
            f"{directory} is not a prepared dataset (no meta.json). Make one with "
            f"`gptlab prepare SOURCE --out {directory}`."
        )
    meta = read_json_file(meta_path, fix="Prepare the dataset again with `gptlab prepare`.")
    if not isinstance(meta, dict) or meta.get("format") != DATASET_FORMAT:
        raise DataError(
            f"{meta_path} is not a gptlab dataset description. Prepare the dataset again with "
            "`gptlab prepare`."
        )
    if meta.get("format_version") != DATASET_FORMAT_VERSION:
        raise DataError(
            f"{meta_path} has dataset format version {meta.get('format_version')}; this gptlab "
            f"reads version {DATASET_FORMAT_VERSION}. Prepare the dataset again with "
            "`gptlab prepare`."
        )
    DatasetMeta.parse(meta, meta_path)  # every field its readers use, checked once here
    return meta


def verify_dataset(dataset_dir: str | Path) -> None:
    """Check every shard's header, size and sha256 against meta.json; DataError naming the file."""
    directory = Path(dataset_dir)
    meta = load_meta(directory)
    for split, info in meta.get("splits", {}).items():
        for shard in info.get("shards", []):
            path = directory / shard["file"]
            if not path.is_file():
                raise DataError(
                    f"Shard {path} listed in meta.json ({split} split) is missing. "
                    "Prepare the dataset again with `gptlab prepare`."
                )
            header = read_header(path)
            if header.num_tokens != shard["tokens"]:
                raise DataError(
                    f"Shard {path} holds {header.num_tokens} tokens but meta.json says "
                    f"{shard['tokens']}. Prepare the dataset again with `gptlab prepare`."
                )
            if sha256_file(path) != shard["sha256"]:
                raise DataError(
                    f"Shard {path} is corrupt: its sha256 does not match meta.json. "
                    "Prepare the dataset again with `gptlab prepare`."
                )
