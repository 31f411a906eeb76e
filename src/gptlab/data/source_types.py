"""The Source every kind of input becomes, and the read options all kinds share.

A Source is a name, a description and, per split, a function that starts a fresh pass over that
split's documents; the modules that open files (file_sources.py) and datasets (hub_sources.py)
build one each. Trade-off: a reader is a function, not a list, so nothing is held in memory, and
an input that holds no documents is only found out when a pass reads it to the end.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterator
from dataclasses import dataclass

from gptlab.errors import DataError

TABLE_BATCH_ROWS = 1024
"""Rows read from a Parquet file or a dataset at a time."""
VAL_NAMES = ("validation", "valid", "val")
"""Names that mark a held-out split: of a dataset's splits, of a file beside NAME.train.EXT."""


@dataclass
class Source:
    """A named collection of documents, split into "train" and, when the source has one, "val"."""

    name: str
    """Short name usable in folder names, e.g. "builtin", "tinystories", "input"."""
    description: str
    """One line saying where the documents come from (recorded in meta.json)."""
    readers: dict[str, Callable[[], Iterator[str]]]
    """Per split, a function that starts a fresh pass over that split's documents."""
    num_bytes_hint: int | None = None
    """Size of the input in bytes over all splits, when cheap to know (for progress bars)."""
    num_documents_hint: int | None = None
    """Documents over all splits, when known before reading (for progress bars)."""

    def splits(self) -> list[str]:
        """The split names this source has: ["train"] or ["train", "val"]."""
        return list(self.readers)

    def documents(self, split: str) -> Iterator[str]:
        """A new pass over the documents of `split`: stripped, non-empty strings, streamed."""
        if split not in self.readers:
            raise DataError(
                f"Source {self.name!r} has no {split!r} split; it has {self.splits()}. "
                "Use one of those (prepare makes a seeded val split when the source has none)."
            )
        return self._checked(split)

    def _checked(self, split: str) -> Iterator[str]:
        count = 0
        for document in self.readers[split]():
            count += 1
            yield document
        if count == 0:
            raise DataError(
                f"The {split!r} split of {self.description} has no documents (only whitespace or "
                "empty rows). Check the input, the --split-mode or the --text-field."
            )


@dataclass(frozen=True)
class ReadOptions:
    """How an input is read and cut into documents (the options of sources.open_source)."""

    text_field: str
    split_mode: str
    encoding: str
    errors: str
    keep_unterminated: bool
    chunk_bytes: int


def safe_name(raw: str) -> str:
    """A folder-friendly short name."""
    name = re.sub(r"[^A-Za-z0-9._-]+", "-", raw).strip("-.")
    return name.lower() or "source"
