"""Documents from text: a plain-text file, or table rows, cut into stripped, non-empty documents.

Split modes: "eot" (a <|endoftext|> marker ends each document), "blank" (blank lines between
documents), "line" (one per line), "wikitext" (one per WikiText article) and "auto" (chosen from the
file's name and content). Trade-off: a text file streams in fixed-size chunks, so memory stays
bounded by one chunk plus one document, but "auto" has to read a file without the marker to its
end once to know that it has none (the answer is then kept by file, size, modification time
and encoding).
"""

from __future__ import annotations

import codecs
import logging
import re
from collections.abc import Callable, Iterable, Iterator
from pathlib import Path

from gptlab.errors import DataError

logger = logging.getLogger(__name__)

EOT_MARKER = "<|endoftext|>"
"""The GPT-2 end-of-text marker: in a .txt file it ends the document before it."""

SPLIT_MODES = ("auto", "eot", "blank", "line", "wikitext")
"""How a text file is cut into documents (see `text_documents`)."""

DEFAULT_CHUNK_BYTES = 1 << 20
"""Bytes read from a text file at a time: memory stays bounded by this plus one document."""

# A WikiText article title is " = Title = "; sections are " = = Section = = " and deeper.
_WIKI_TITLE = re.compile(r"^= [^=](?:.*[^=])? =$")
_WIKI_FILE_NAME = re.compile(r"^wiki\..+\.(?:raw|tokens)$", re.IGNORECASE)
# One or more blank (empty or whitespace-only) lines between two documents.
_BLANK_LINES = re.compile(r"\n[ \t\r\f\v]*\n")


def text_documents(
    path: str | Path,
    *,
    split_mode: str = "auto",
    encoding: str = "utf-8",
    errors: str = "strict",
    chunk_bytes: int = DEFAULT_CHUNK_BYTES,
    keep_unterminated: bool = False,
) -> Iterator[str]:
    """Stream the documents of a plain-text file, reading `chunk_bytes` at a time.

    Modes: "eot": each document ends with <|endoftext|>; "blank": documents are separated by one or
    more blank lines; "line": one document per non-empty line; "wikitext": one document per
    WikiText article (a " = Title = " line starts one); "auto": wikitext for wiki.*.raw and
    wiki.*.tokens files, else eot when the file contains the marker, else blank.

    In eot mode the marker *ends* a document (as in GPT-2's and TinyStories' files), so text
    after the last marker is an unterminated, usually cut-off document: it is dropped with a
    warning unless `keep_unterminated`. A file with no marker at all is one document.
    """
    path = Path(path)
    mode = split_mode
    if mode == "auto":
        mode = _detect_text_mode(path, encoding, errors, chunk_bytes)
    chunks = _decoded_chunks(path, encoding, errors, chunk_bytes)
    if mode == "eot":
        yield from _eot_documents(chunks, path, keep_unterminated)
    elif mode == "blank":
        yield from _stripped(_split_stream(chunks, _BLANK_LINES.split))
    elif mode == "line":
        yield from _stripped(_split_stream(chunks, lambda text: text.split("\n")))
    else:
        yield from group_wikitext(_split_stream(chunks, lambda text: text.split("\n")))


# Detected modes by (file, size, mtime): a file without the marker is scanned once, not every pass.
_detected_modes: dict[tuple[str, int, int, str, str], str] = {}


def _detect_text_mode(path: Path, encoding: str, errors: str, chunk_bytes: int) -> str:
    if _WIKI_FILE_NAME.match(path.name):
        return "wikitext"
    try:
        stat = path.stat()
    except OSError as exc:
        raise DataError(
            f"Cannot read {path}: {exc.strerror}. Check the path and permissions."
        ) from None
    key = (str(path.resolve()), stat.st_size, stat.st_mtime_ns, encoding, errors)
    if key not in _detected_modes:
        mode = "blank"
        tail = ""
        for chunk in _decoded_chunks(path, encoding, errors, chunk_bytes):
            window = tail + chunk
            if EOT_MARKER in window:
                mode = "eot"
                break
            tail = window[-(len(EOT_MARKER) - 1) :]
        _detected_modes[key] = mode
    return _detected_modes[key]


def _decoded_chunks(path: Path, encoding: str, errors: str, chunk_bytes: int) -> Iterator[str]:
    """Decoded text of `path`, `chunk_bytes` bytes at a time; bad bytes -> DataError with offset."""
    decoder = codecs.getincrementaldecoder(encoding)(errors)
    consumed_bytes = 0
    try:
        handle = path.open("rb")
    except OSError as exc:
        raise DataError(
            f"Cannot read {path}: {exc.strerror}. Check the path and permissions."
        ) from None
    with handle:
        while True:
            raw = handle.read(chunk_bytes)
            final = not raw
            pending_bytes = len(decoder.getstate()[0])
            try:
                text = decoder.decode(raw, final)
            except UnicodeDecodeError as exc:
                offset = consumed_bytes - pending_bytes + exc.start
                raise DataError(
                    f"{path} is not valid {encoding}: undecodable byte "
                    f"0x{exc.object[exc.start]:02x} at byte offset {offset}. If the file uses "
                    "another encoding, pass it (e.g. --encoding latin-1); to replace bad bytes, "
                    "pass --errors replace."
                ) from None
            consumed_bytes += len(raw)
            if text:
                yield text
            if final:
                return


def _split_stream(chunks: Iterable[str], split: Callable[[str], list[str]]) -> Iterator[str]:
    """Pieces of the concatenated chunks between separators; the last piece may be unterminated.

    The text after the last separator seen so far is carried into the next chunk, so a separator
    or a document that straddles a chunk boundary is handled.
    """
    pending = ""
    for chunk in chunks:
        pieces = split(pending + chunk)
        pending = pieces.pop()
        yield from pieces
    yield pending


def _stripped(pieces: Iterable[str]) -> Iterator[str]:
    for piece in pieces:
        text = piece.strip()
        if text:
            yield text


def _eot_documents(chunks: Iterable[str], path: Path, keep_unterminated: bool) -> Iterator[str]:
    pending = ""
    saw_marker = False
    for chunk in chunks:
        pieces = (pending + chunk).split(EOT_MARKER)
        pending = pieces.pop()
        saw_marker = saw_marker or bool(pieces)
        yield from _stripped(pieces)
    tail = pending.strip()
    if not tail:
        return
    if keep_unterminated or not saw_marker:
        yield tail
    else:
        logger.warning(
            "%s: dropped %d characters after the last %s: a document is complete only when the "
            "marker ends it, so this one looks cut off (pass keep_unterminated to keep it).",
            path,
            len(tail),
            EOT_MARKER,
        )


def group_wikitext(lines: Iterable[str]) -> Iterator[str]:
    """Group WikiText lines (or dataset rows) into one document per article.

    A line " = Title = " (one '=' each side) starts an article; " = = Section = = " does not.
    Text before the first title, if any, is its own document.
    """
    article: list[str] = []
    for line in lines:
        line = line.rstrip("\r\n")
        if _WIKI_TITLE.match(line.strip()):
            text = "\n".join(article).strip()
            if text:
                yield text
            article = []
        article.append(line)
    text = "\n".join(article).strip()
    if text:
        yield text


def split_rows(rows: Iterable[str], split_mode: str) -> Iterator[str]:
    """Documents from table rows: one per row ("auto"), rows grouped ("wikitext"), or each row's
    text split further by the eot/blank/line separator."""
    if split_mode == "auto":
        yield from _stripped(rows)
    elif split_mode == "wikitext":
        yield from group_wikitext(rows)
    elif split_mode == "eot":
        for row in rows:
            yield from _stripped(row.split(EOT_MARKER))
    elif split_mode == "blank":
        for row in rows:
            yield from _stripped(_BLANK_LINES.split(row))
    else:
        for row in rows:
            yield from _stripped(row.split("\n"))
