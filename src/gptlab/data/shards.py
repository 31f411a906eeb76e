"""The one reader and writer of `.bin` token shards.

Layout: a header of 256 little-endian int32 values, then the tokens (uint16 when the vocabulary
fits in 65,535 ids, else uint32). Header slots: 0 magic, 1 format version, 2 bytes per token,
3-4 token count (low 31 bits, high bits), 5 vocabulary size. Readers use a read-only memmap, so
a shard larger than memory costs nothing to open. Any mismatch is a DataError naming the file.
"""

from __future__ import annotations

import contextlib
import os
from dataclasses import dataclass
from pathlib import Path
from types import TracebackType
from typing import Any

import numpy as np

from gptlab.errors import DataError

MAGIC = 0x47505442  # "GPTB"
VERSION = 1
HEADER_INTS = 256
HEADER_BYTES = HEADER_INTS * 4
UINT16_MAX_VOCAB = 65535


def token_dtype(vocab_size: int) -> np.dtype[Any]:
    """Smallest unsigned dtype that holds every id of a vocabulary of this size."""
    return np.dtype(np.uint16) if vocab_size <= UINT16_MAX_VOCAB else np.dtype(np.uint32)


@dataclass(frozen=True)
class ShardHeader:
    """What a shard's header says about it."""

    version: int
    bytes_per_token: int
    num_tokens: int
    vocab_size: int

    @property
    def dtype(self) -> np.dtype[Any]:
        return np.dtype(np.uint16) if self.bytes_per_token == 2 else np.dtype(np.uint32)


def _encode_header(num_tokens: int, vocab_size: int, bytes_per_token: int) -> bytes:
    header = np.zeros(HEADER_INTS, dtype="<i4")
    header[0] = MAGIC
    header[1] = VERSION
    header[2] = bytes_per_token
    header[3] = num_tokens & 0x7FFFFFFF
    header[4] = num_tokens >> 31
    header[5] = vocab_size
    return header.tobytes()


def read_header(path: str | os.PathLike[str]) -> ShardHeader:
    """Read and check a shard's header against the file's size."""
    p = Path(path)
    try:
        size = p.stat().st_size
        with open(p, "rb") as handle:
            raw = handle.read(HEADER_BYTES)
    except OSError as exc:
        raise DataError(f"Cannot read shard {p}: {exc.strerror}. Check the path.") from exc
    if len(raw) < HEADER_BYTES:
        raise DataError(
            f"Shard {p} is truncated: {size} bytes, shorter than its {HEADER_BYTES}-byte "
            "header. Prepare the dataset again."
        )
    header = np.frombuffer(raw, dtype="<i4")
    if int(header[0]) != MAGIC:
        raise DataError(
            f"{p} is not a gptlab token shard (wrong magic number). "
            "Make shards with `gptlab prepare`."
        )
    if int(header[1]) != VERSION:
        raise DataError(
            f"Shard {p} has format version {int(header[1])}; this gptlab reads version "
            f"{VERSION}. Prepare the dataset again with this version."
        )
    bytes_per_token = int(header[2])
    if bytes_per_token not in (2, 4):
        raise DataError(
            f"Shard {p} has a corrupt header (token size {bytes_per_token}). "
            "Prepare the dataset again."
        )
    vocab_size = int(header[5])
    if vocab_size < 1 or token_dtype(vocab_size).itemsize != bytes_per_token:
        raise DataError(
            f"Shard {p} has a corrupt header (vocabulary size {vocab_size} with "
            f"{bytes_per_token}-byte tokens). Prepare the dataset again."
        )
    num_tokens = int(header[3]) + (int(header[4]) << 31)
    expected = HEADER_BYTES + num_tokens * bytes_per_token
    if size != expected:
        raise DataError(
            f"Shard {p} is {size} bytes but its header promises {num_tokens} tokens "
            f"({expected} bytes): the file is truncated or corrupt. Prepare the dataset again."
        )
    return ShardHeader(VERSION, bytes_per_token, num_tokens, vocab_size)


def open_shard(path: str | os.PathLike[str]) -> np.ndarray[Any, Any]:
    """Tokens of a shard as a read-only memmap (after checking the header)."""
    header = read_header(path)
    if header.num_tokens == 0:
        return np.zeros(0, dtype=header.dtype)
    return np.memmap(path, dtype=header.dtype, mode="r", offset=HEADER_BYTES)


class ShardWriter:
    """Stream tokens into a shard; the file appears under its name only when closed cleanly."""

    def __init__(self, path: str | os.PathLike[str], vocab_size: int) -> None:
        self.path = Path(path)
        self.vocab_size = vocab_size
        self.dtype = token_dtype(vocab_size)
        self.num_tokens = 0
        self._tmp = self.path.with_name(f".{self.path.name}.tmp-{os.getpid()}")
        self._handle = open(self._tmp, "wb")  # noqa: SIM115 - closed in close()/abort()
        self._handle.write(_encode_header(0, vocab_size, self.dtype.itemsize))

    def write(self, tokens: Any) -> None:
        """Append tokens (any integer array or sequence); ids must be below vocab_size."""
        arr = np.asarray(tokens)
        if arr.size == 0:
            return
        if int(arr.min()) < 0 or int(arr.max()) >= self.vocab_size:
            raise DataError(
                f"Token id out of range for vocabulary size {self.vocab_size} while writing "
                f"{self.path}: the tokenizer and the declared vocabulary disagree."
            )
        self._handle.write(arr.astype(self.dtype, copy=False).tobytes())
        self.num_tokens += int(arr.size)

    def close(self) -> None:
        """Write the final header, flush to disk and move the shard into place."""
        self._handle.seek(0)
        self._handle.write(_encode_header(self.num_tokens, self.vocab_size, self.dtype.itemsize))
        self._handle.flush()
        os.fsync(self._handle.fileno())
        self._handle.close()
        os.replace(self._tmp, self.path)

    def abort(self) -> None:
        """Discard everything written so far."""
        self._handle.close()
        with contextlib.suppress(OSError):
            os.unlink(self._tmp)

    def __enter__(self) -> ShardWriter:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        if exc_type is None:
            self.close()
        else:
            self.abort()


def write_shard(path: str | os.PathLike[str], tokens: Any, vocab_size: int) -> None:
    """Write a whole shard at once."""
    with ShardWriter(path, vocab_size) as writer:
        writer.write(tokens)
