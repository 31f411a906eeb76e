"""Document sources: where raw text comes from, seen as a stream of documents per split.

A source is the built-in story corpus, a local .txt/.jsonl/.parquet file, a folder or glob of them,
a folder written by `datasets.save_to_disk`, or a Hugging Face dataset by name. Every kind gives the
same thing: `Source.documents(split)`, a fresh iterator of stripped, non-empty document strings.

Trade-off: everything streams (text files in fixed-size chunks, tables batch by batch), so a corpus
far larger than memory works, but nothing is cached: each pass re-reads and re-splits the input.
"""

from __future__ import annotations

import codecs
import difflib
import glob
import logging
import re
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any, NamedTuple

from gptlab.errors import ConfigError, DataError
from gptlab.jsonio import parse_json

logger = logging.getLogger(__name__)

EOT_MARKER = "<|endoftext|>"
"""The GPT-2 end-of-text marker: in a .txt file it ends the document before it."""

SPLIT_MODES = ("auto", "eot", "blank", "line", "wikitext")
"""How a text file is cut into documents (see `text_documents`)."""

TEXT_SUFFIXES = (".txt", ".raw", ".tokens")
JSONL_SUFFIXES = (".jsonl",)
PARQUET_SUFFIXES = (".parquet",)
SUPPORTED_SUFFIXES = TEXT_SUFFIXES + JSONL_SUFFIXES + PARQUET_SUFFIXES

DEFAULT_CHUNK_BYTES = 1 << 20
"""Bytes read from a text file at a time: memory stays bounded by this plus one document."""

_TABLE_BATCH_ROWS = 1024
_HUB_INSTALL_HINT = 'pip install "gptlab[hub]"'
_VAL_NAMES = ("validation", "valid", "val")
_TRAIN_NAME_TOKENS = frozenset({"train", "training"})
_VAL_NAME_TOKENS = frozenset(_VAL_NAMES)
# A WikiText article title is " = Title = "; sections are " = = Section = = " and deeper.
_WIKI_TITLE = re.compile(r"^= [^=](?:.*[^=])? =$")
_WIKI_FILE_NAME = re.compile(r"^wiki\..+\.(?:raw|tokens)$", re.IGNORECASE)
# One or more blank (empty or whitespace-only) lines between two documents.
_BLANK_LINES = re.compile(r"\n[ \t\r\f\v]*\n")


class HubAlias(NamedTuple):
    """A short name for a Hugging Face dataset."""

    path: str
    """Dataset repository on the hub."""
    config: str | None
    """Dataset configuration (subset) name, or None for the default one."""
    streaming: bool
    """Stream rows instead of downloading the whole dataset first (the big corpora)."""
    text_field: str
    """Column that holds each document's text."""


HUB_ALIASES: dict[str, HubAlias] = {
    "tinystories": HubAlias("roneneldan/TinyStories", None, False, "text"),
    "wikitext-2": HubAlias("Salesforce/wikitext", "wikitext-2-raw-v1", False, "text"),
    "wikitext-103": HubAlias("Salesforce/wikitext", "wikitext-103-raw-v1", False, "text"),
    "openwebtext": HubAlias("Skylion007/openwebtext", None, True, "text"),
    "fineweb-edu": HubAlias("HuggingFaceFW/fineweb-edu", "sample-10BT", True, "text"),
    "fineweb-edu-100bt": HubAlias("HuggingFaceFW/fineweb-edu", "sample-100BT", True, "text"),
    "fineweb-edu-350bt": HubAlias("HuggingFaceFW/fineweb-edu", "sample-350BT", True, "text"),
}


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
class _ReadOptions:
    text_field: str
    split_mode: str
    encoding: str
    errors: str
    keep_unterminated: bool
    chunk_bytes: int


def open_source(
    spec: str,
    *,
    text_field: str = "text",
    split_mode: str = "auto",
    encoding: str = "utf-8",
    errors: str = "strict",
    builtin_stories: int = 20000,
    seed: int = 0,
    streaming: bool | None = None,
    hub_config: str | None = None,
    keep_unterminated: bool = False,
    chunk_bytes: int = DEFAULT_CHUNK_BYTES,
) -> Source:
    """Open `spec` as a document source.

    `spec` is "builtin", a path (file, folder or glob pattern), a name from HUB_ALIASES, or a hub
    dataset "owner/name". `text_field` names the text column of .jsonl/.parquet/datasets rows;
    `split_mode` is one of SPLIT_MODES; `encoding`/`errors` decode text files (as in `open`);
    `builtin_stories`/`seed` size the built-in corpus; `streaming` and `hub_config` apply to the hub
    (None: the alias's default, else no streaming); `keep_unterminated` keeps text after the last
    end-of-text marker of a file; `chunk_bytes` is the text-file read size.
    """
    options = _check_options(
        text_field, split_mode, encoding, errors, keep_unterminated, chunk_bytes
    )
    # Reserved names win over a same-named folder in the working directory; "./name" reaches it.
    if spec == "builtin":
        return _builtin_source(builtin_stories, seed)
    alias = HUB_ALIASES.get(spec.lower())
    if alias is not None:
        return _hub_source(
            spec.lower(),
            alias.path,
            hub_config if hub_config is not None else alias.config,
            alias.streaming if streaming is None else streaming,
            text_field if text_field != "text" else alias.text_field,
            options,
        )
    path = Path(spec).expanduser()
    if not path.exists() and any(char in spec for char in "*?["):
        return _glob_source(spec, options)
    if path.is_file():
        return _file_source(path, options)
    if path.is_dir():
        return _folder_source(path, options)
    if _looks_like_path(spec):
        raise DataError(
            f"No file or folder at {spec!r} ({path.resolve()}). Check the path; local sources "
            f"must exist. Supported files: {', '.join(SUPPORTED_SUFFIXES)}, folders of them, or "
            "a glob pattern in quotes."
        )
    if spec.count("/") == 1:
        name = spec.split("/")[1]
        return _hub_source(
            _safe_name(name),
            spec,
            hub_config,
            bool(streaming),
            text_field,
            options,
            also_not_local=f" (there is no local file or folder {spec!r} either)",
        )
    close = difflib.get_close_matches(spec.lower(), list(HUB_ALIASES), n=1)
    suggestion = f"Did you mean {close[0]!r}? " if close else ""
    raise DataError(
        f"Unknown dataset {spec!r}: it is not a local file or folder, not 'builtin' and not one of "
        f"the dataset names {', '.join(HUB_ALIASES)}. {suggestion}Local paths must exist; any "
        "other Hugging Face dataset is given as 'owner/name'."
    )


def _check_options(
    text_field: str,
    split_mode: str,
    encoding: str,
    errors: str,
    keep_unterminated: bool,
    chunk_bytes: int,
) -> _ReadOptions:
    if split_mode not in SPLIT_MODES:
        raise ConfigError(
            f"split_mode={split_mode!r} is not one of {', '.join(SPLIT_MODES)}. Use 'eot' for "
            f"{EOT_MARKER}-separated text, 'blank' for blank-line-separated documents, 'line' for "
            "one document per line, 'wikitext' for WikiText articles, or 'auto'."
        )
    try:
        codecs.lookup(encoding)
    except LookupError:
        raise ConfigError(
            f"Unknown text encoding {encoding!r}. Use a Python codec name such as utf-8 or latin-1."
        ) from None
    try:
        codecs.lookup_error(errors)
    except LookupError:
        raise ConfigError(
            f"Unknown decoding error handler {errors!r}. Use strict, replace or ignore."
        ) from None
    if not text_field:
        raise ConfigError("text_field is empty. Give the name of the column that holds the text.")
    if chunk_bytes < 1:
        raise ConfigError(f"chunk_bytes={chunk_bytes} must be at least 1.")
    return _ReadOptions(text_field, split_mode, encoding, errors, keep_unterminated, chunk_bytes)


def _safe_name(raw: str) -> str:
    """A folder-friendly short name."""
    name = re.sub(r"[^A-Za-z0-9._-]+", "-", raw).strip("-.")
    return name.lower() or "source"


def _looks_like_path(spec: str) -> bool:
    if spec.startswith((".", "/", "~", "\\")) or "\\" in spec:
        return True
    if spec.count("/") > 1:
        return True
    return Path(spec).suffix.lower() in (*SUPPORTED_SUFFIXES, ".json", ".csv", ".gz")


# ---------------------------------------------------------------- built-in corpus


def _builtin_source(num_stories: int, seed: int) -> Source:
    if num_stories < 1:
        raise ConfigError(f"builtin_stories={num_stories} must be at least 1.")

    def read() -> Iterator[str]:
        from gptlab.data.corpus import generate_stories

        for story in generate_stories(num_stories, seed=seed):
            text = story.strip()
            if text:
                yield text

    return Source(
        name="builtin",
        description=f"built-in procedural stories ({num_stories} stories, seed {seed})",
        readers={"train": read},
        num_documents_hint=num_stories,
    )


# ---------------------------------------------------------------- local files


def _file_source(path: Path, options: _ReadOptions) -> Source:
    """One file; NAME.train.EXT with a NAME.val.EXT (or .valid, .validation) beside it gives both
    splits directly, so a text split by hand is used as it is."""
    sibling = _val_sibling(path)
    if sibling is None:
        return _files_source(_safe_name(path.stem), str(path), {"train": [path]}, options)
    stem = re.sub(r"[._-]?(?:train|training)$", "", path.stem, flags=re.IGNORECASE)
    return _files_source(
        _safe_name(stem or path.stem),
        f"{path} with its val split {sibling.name}",
        {"train": [path], "val": [sibling]},
        options,
    )


def _val_sibling(path: Path) -> Path | None:
    """NAME.val.EXT beside NAME.train.EXT (also _train/-train; val, valid or validation)."""
    match = re.fullmatch(r"(.*[._-])(train|training)", path.stem, flags=re.IGNORECASE)
    if match is None:
        return None
    for name in _VAL_NAMES:
        candidate = path.with_name(f"{match.group(1)}{name}{path.suffix}")
        if candidate.is_file():
            return candidate
    return None


def _glob_source(pattern: str, options: _ReadOptions) -> Source:
    matches = sorted(Path(p) for p in glob.glob(str(Path(pattern).expanduser()), recursive=True))
    files: list[Path] = []
    for match in matches:
        if match.is_dir():
            files.extend(_supported_files(match))
        elif match.suffix.lower() in SUPPORTED_SUFFIXES:
            files.append(match)
    if not files:
        raise DataError(
            f"The pattern {pattern!r} matches no supported files ({len(matches)} paths matched). "
            f"Supported: {', '.join(SUPPORTED_SUFFIXES)}. Quote the pattern so the shell does "
            "not expand it, and check the folder."
        )
    literal = re.split(r"[*?\[]", pattern, maxsplit=1)[0]
    name = _safe_name(Path(literal).name or Path(literal).parent.name or "files")
    where = f"files matching {pattern}"
    return _files_source(name, where, _splits_by_name(files, where), options)


def _supported_files(folder: Path) -> list[Path]:
    """Supported files under `folder`, recursively, sorted; hidden files and folders skipped."""
    found = []
    for path in folder.rglob("*"):
        relative = path.relative_to(folder)
        if any(part.startswith(".") for part in relative.parts):
            continue
        if path.is_file() and path.suffix.lower() in SUPPORTED_SUFFIXES:
            found.append(path)
    return sorted(found, key=lambda p: p.relative_to(folder).as_posix())


def _name_tokens(path: Path) -> set[str]:
    return set(re.split(r"[^a-z0-9]+", path.name.lower()))


def _folder_source(folder: Path, options: _ReadOptions) -> Source:
    if (folder / "dataset_dict.json").is_file() or (
        (folder / "dataset_info.json").is_file() and (folder / "state.json").is_file()
    ):
        return _saved_dataset_source(folder, options)
    files = _supported_files(folder)
    if not files:
        raise DataError(
            f"The folder {folder} has no supported files (searched recursively for "
            f"{', '.join(SUPPORTED_SUFFIXES)}; hidden files are skipped). Point at a folder of "
            "text, JSONL or Parquet files, or at one file."
        )
    splits = _splits_by_name(files, str(folder))
    return _files_source(_safe_name(folder.resolve().name), str(folder), splits, options)


def _splits_by_name(files: list[Path], where: str) -> dict[str, list[Path]]:
    """Files named for train (train, training) and val (val, valid, validation) give the two
    splits when both kinds are there (x.train.txt + x.val.txt); otherwise every file is train."""
    train = [f for f in files if _name_tokens(f) & _TRAIN_NAME_TOKENS]
    val = [f for f in files if _name_tokens(f) & _VAL_NAME_TOKENS and f not in train]
    if not (train and val):
        return {"train": files}
    ignored = len(files) - len(train) - len(val)
    if ignored:
        logger.warning(
            "%s: using %d train and %d val files by name; %d other files are ignored.",
            where,
            len(train),
            len(val),
            ignored,
        )
    return {"train": train, "val": val}


def _files_source(
    name: str, where: str, splits: dict[str, list[Path]], options: _ReadOptions
) -> Source:
    for paths in splits.values():
        for path in paths:
            if path.suffix.lower() not in SUPPORTED_SUFFIXES:
                raise DataError(
                    f"Unsupported file type {path.suffix or '(no extension)'!r} for {path}. "
                    f"Supported: {', '.join(SUPPORTED_SUFFIXES)} (.txt/.raw/.tokens are read as "
                    "plain text). Rename a plain-text file to .txt or convert the data."
                )
    if len(splits) == 1 and len(splits["train"]) == 1 and splits["train"][0].stat().st_size == 0:
        raise DataError(f"The file {splits['train'][0]} is empty. Give a file with text in it.")

    def reader(paths: list[Path]) -> Callable[[], Iterator[str]]:
        def read() -> Iterator[str]:
            for path in paths:
                yield from _file_documents(path, options)

        return read

    total_bytes = sum(p.stat().st_size for paths in splits.values() for p in paths)
    file_count = sum(len(paths) for paths in splits.values())
    files_word = "file" if file_count == 1 else "files"
    return Source(
        name=name,
        description=f"{where} ({file_count} {files_word})",
        readers={split: reader(paths) for split, paths in splits.items()},
        num_bytes_hint=total_bytes,
    )


def _file_documents(path: Path, options: _ReadOptions) -> Iterator[str]:
    """The documents of one local file, chosen by its extension."""
    suffix = path.suffix.lower()
    if suffix in JSONL_SUFFIXES:
        rows = _jsonl_rows(path, options)
    elif suffix in PARQUET_SUFFIXES:
        rows = _parquet_rows(path, options.text_field)
    else:
        return text_documents(
            path,
            split_mode=options.split_mode,
            encoding=options.encoding,
            errors=options.errors,
            chunk_bytes=options.chunk_bytes,
            keep_unterminated=options.keep_unterminated,
        )
    return split_rows(rows, options.split_mode)


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


def _jsonl_rows(path: Path, options: _ReadOptions) -> Iterator[str]:
    field = options.text_field
    offset_bytes = 0
    with path.open("rb") as handle:
        for line_number, raw in enumerate(handle, start=1):
            try:
                line = raw.decode(options.encoding, options.errors)
            except UnicodeDecodeError as exc:
                raise DataError(
                    f"{path} line {line_number} is not valid {options.encoding}: undecodable "
                    f"byte at byte offset {offset_bytes + exc.start}. Pass --encoding latin-1 if "
                    "the file uses it, or --errors replace to replace bad bytes."
                ) from None
            offset_bytes += len(raw)
            if not line.strip():
                continue
            row = parse_json(
                line,
                f"{path} line {line_number}",
                fix="A .jsonl file must hold one JSON object per line.",
            )
            if not isinstance(row, dict) or field not in row:
                keys = sorted(row) if isinstance(row, dict) else type(row).__name__
                raise DataError(
                    f"{path} line {line_number} has no {field!r} field (it has {keys}). Pass "
                    "--text-field with the name of the field that holds the text."
                )
            text = row[field]
            if text is None:
                continue
            if not isinstance(text, str):
                raise DataError(
                    f"{path} line {line_number}: field {field!r} is a {type(text).__name__}, not "
                    "a string. Pass --text-field with the name of the text field."
                )
            yield text


def _parquet_rows(path: Path, field: str) -> Iterator[str]:
    import pyarrow as pa
    import pyarrow.parquet as pq

    try:
        parquet = pq.ParquetFile(path)
    except (pa.ArrowException, OSError) as exc:
        raise DataError(f"{path} is not a readable Parquet file ({exc}). Check the file.") from None
    names = parquet.schema_arrow.names
    if field not in names:
        raise DataError(
            f"{path} has no {field!r} column (it has {names}). Pass --text-field with the name "
            "of the column that holds the text."
        )
    for batch in parquet.iter_batches(batch_size=_TABLE_BATCH_ROWS, columns=[field]):
        for text in batch.column(0).to_pylist():
            if isinstance(text, str):
                yield text
            elif text is not None:
                raise DataError(
                    f"{path}: column {field!r} holds {type(text).__name__} values, not text. "
                    "Pass --text-field with the name of a string column."
                )


# ---------------------------------------------------------------- Hugging Face datasets


def _import_datasets() -> Any:
    try:
        import datasets
    except ImportError:
        raise DataError(
            "Reading Hugging Face datasets needs the optional `datasets` package. Install it with "
            f"{_HUB_INSTALL_HINT}, or use a local .txt/.jsonl/.parquet file."
        ) from None
    return datasets


def _hub_errors() -> tuple[type[BaseException], ...]:
    """Exceptions that mean the hub could not be reached (or offline mode had no cached copy)."""
    errors: list[type[BaseException]] = [ConnectionError, TimeoutError]
    try:
        from huggingface_hub import errors as hub_errors

        errors += [hub_errors.HfHubHTTPError, hub_errors.LocalEntryNotFoundError]
        # Newer huggingface_hub re-exports its HTTP client's base error (connect/read failures).
        for optional in ("OfflineModeIsEnabled", "HTTPError"):
            if hasattr(hub_errors, optional):
                errors.append(getattr(hub_errors, optional))
    except ImportError:
        pass
    try:
        import requests

        errors.append(requests.exceptions.RequestException)
    except ImportError:
        pass
    return tuple(errors)


def _hub_unreachable(name: str, exc: BaseException, also_not_local: str = "") -> DataError:
    return DataError(
        f"Could not reach the Hugging Face hub to load {name!r}{also_not_local} "
        f"({type(exc).__name__}: {exc}). "
        "Check the network, or use a local file (.txt/.jsonl/.parquet) or a folder saved with "
        "datasets' save_to_disk; with a copy already in the cache, set HF_DATASETS_OFFLINE=1."
    )


def _hub_source(
    name: str,
    path: str,
    config: str | None,
    streaming: bool,
    text_field: str,
    options: _ReadOptions,
    also_not_local: str = "",
) -> Source:
    datasets = _import_datasets()
    where = f"{path}" + (f" ({config})" if config else "")
    try:
        loaded = datasets.load_dataset(path, config, streaming=streaming)
    except datasets.exceptions.DatasetNotFoundError as exc:
        raise DataError(
            f"The Hugging Face dataset {where} was not found or needs access rights "
            f"({exc}){also_not_local}. "
            "Check the name and config (--hub-config), log in for gated datasets, or use a local "
            "file; local paths must exist."
        ) from None
    except _hub_errors() as exc:
        raise _hub_unreachable(where, exc, also_not_local) from None
    split_mode = options.split_mode
    if split_mode == "auto" and path.rsplit("/", 1)[-1].lower() == "wikitext":
        split_mode = "wikitext"
    return _dataset_source(
        name,
        f"Hugging Face dataset {where}" + (" (streaming)" if streaming else ""),
        loaded,
        text_field,
        split_mode,
        where,
    )


def _saved_dataset_source(folder: Path, options: _ReadOptions) -> Source:
    datasets = _import_datasets()
    try:
        loaded = datasets.load_from_disk(str(folder))
    except (OSError, ValueError) as exc:
        raise DataError(
            f"{folder} looks like a folder saved with datasets' save_to_disk but cannot be loaded "
            f"({exc}). Save it again, or export the text to .jsonl."
        ) from None
    return _dataset_source(
        _safe_name(folder.resolve().name),
        f"saved dataset {folder}",
        loaded,
        options.text_field,
        options.split_mode,
        str(folder),
    )


def _dataset_source(
    name: str, description: str, loaded: Any, text_field: str, split_mode: str, where: str
) -> Source:
    """A Source over a Dataset/IterableDataset or a dict of them (DatasetDict)."""
    if isinstance(loaded, dict):
        available = list(loaded)
        if "train" not in loaded:
            raise DataError(
                f"{where} has no 'train' split (it has {available}). Give a dataset with a train "
                "split, or save the split you want as its own dataset."
            )
        chosen = {"train": loaded["train"]}
        held_out = [key for key in _VAL_NAMES if key in loaded]
        if held_out:
            chosen["val"] = loaded[held_out[0]]
        elif "test" in loaded:
            chosen["val"] = loaded["test"]
    else:
        chosen = {"train": loaded}
    for dataset in chosen.values():
        columns = dataset.column_names
        if columns is not None and text_field not in columns:
            raise DataError(
                f"{where} has no {text_field!r} column (it has {columns}). Pass --text-field with "
                "the name of the column that holds the text."
            )

    def reader(dataset: Any) -> Callable[[], Iterator[str]]:
        def read() -> Iterator[str]:
            yield from split_rows(_dataset_rows(dataset, text_field, where), split_mode)

        return read

    size = sum(_dataset_bytes(dataset) or 0 for dataset in chosen.values())
    return Source(
        name=name,
        description=description,
        readers={split: reader(dataset) for split, dataset in chosen.items()},
        num_bytes_hint=size or None,
    )


def _dataset_rows(dataset: Any, text_field: str, where: str) -> Iterator[str]:
    rows = dataset.select_columns([text_field]) if dataset.column_names else dataset
    try:
        for batch in rows.iter(batch_size=_TABLE_BATCH_ROWS):
            if text_field not in batch:
                raise DataError(
                    f"{where} has no {text_field!r} column (it has {sorted(batch)}). Pass "
                    "--text-field with the name of the column that holds the text."
                )
            for text in batch[text_field]:
                if isinstance(text, str):
                    yield text
    except _hub_errors() as exc:
        raise _hub_unreachable(where, exc) from None


def _dataset_bytes(dataset: Any) -> int | None:
    """Bytes of an in-memory/on-disk Dataset's table; None for a stream (unknown without I/O)."""
    data = getattr(dataset, "data", None)
    nbytes = getattr(data, "nbytes", None)
    return int(nbytes) if isinstance(nbytes, int) else None
