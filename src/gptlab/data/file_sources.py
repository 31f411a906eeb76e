"""Local sources: a .txt/.raw/.tokens, .jsonl or .parquet file, a folder of them, or a glob.

A file named NAME.train.EXT with NAME.val.EXT beside it, or a folder or glob holding both kinds
of names, gives a train and a val split as they are; otherwise every file is train. Trade-off:
splits are found by file names alone, so a file named for neither split is left out when the
others name both (with a warning), rather than guessed at.
"""

from __future__ import annotations

import glob
import logging
import re
from collections.abc import Callable, Iterator
from pathlib import Path

from gptlab.data.documents import split_rows, text_documents
from gptlab.data.hub_sources import saved_dataset_source
from gptlab.data.source_types import TABLE_BATCH_ROWS, VAL_NAMES, ReadOptions, Source, safe_name
from gptlab.errors import DataError
from gptlab.jsonio import parse_json

logger = logging.getLogger(__name__)

TEXT_SUFFIXES = (".txt", ".raw", ".tokens")
JSONL_SUFFIXES = (".jsonl",)
PARQUET_SUFFIXES = (".parquet",)
SUPPORTED_SUFFIXES = TEXT_SUFFIXES + JSONL_SUFFIXES + PARQUET_SUFFIXES

_TRAIN_NAME_TOKENS = frozenset({"train", "training"})
_VAL_NAME_TOKENS = frozenset(VAL_NAMES)


def file_source(path: Path, options: ReadOptions) -> Source:
    """One file; NAME.train.EXT with a NAME.val.EXT (or .valid, .validation) beside it gives both
    splits directly, so a text split by hand is used as it is."""
    sibling = _val_sibling(path)
    if sibling is None:
        return _files_source(safe_name(path.stem), str(path), {"train": [path]}, options)
    stem = re.sub(r"[._-]?(?:train|training)$", "", path.stem, flags=re.IGNORECASE)
    return _files_source(
        safe_name(stem or path.stem),
        f"{path} with its val split {sibling.name}",
        {"train": [path], "val": [sibling]},
        options,
    )


def _val_sibling(path: Path) -> Path | None:
    """NAME.val.EXT beside NAME.train.EXT (also _train/-train; val, valid or validation)."""
    match = re.fullmatch(r"(.*[._-])(train|training)", path.stem, flags=re.IGNORECASE)
    if match is None:
        return None
    for name in VAL_NAMES:
        candidate = path.with_name(f"{match.group(1)}{name}{path.suffix}")
        if candidate.is_file():
            return candidate
    return None


def glob_source(pattern: str, options: ReadOptions) -> Source:
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
    name = safe_name(Path(literal).name or Path(literal).parent.name or "files")
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


def folder_source(folder: Path, options: ReadOptions) -> Source:
    if (folder / "dataset_dict.json").is_file() or (
        (folder / "dataset_info.json").is_file() and (folder / "state.json").is_file()
    ):
        return saved_dataset_source(folder, options)
    files = _supported_files(folder)
    if not files:
        raise DataError(
            f"The folder {folder} has no supported files (searched recursively for "
            f"{', '.join(SUPPORTED_SUFFIXES)}; hidden files are skipped). Point at a folder of "
            "text, JSONL or Parquet files, or at one file."
        )
    splits = _splits_by_name(files, str(folder))
    return _files_source(safe_name(folder.resolve().name), str(folder), splits, options)


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
    name: str, where: str, splits: dict[str, list[Path]], options: ReadOptions
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


def _file_documents(path: Path, options: ReadOptions) -> Iterator[str]:
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


def _jsonl_rows(path: Path, options: ReadOptions) -> Iterator[str]:
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
    for batch in parquet.iter_batches(batch_size=TABLE_BATCH_ROWS, columns=[field]):
        for text in batch.column(0).to_pylist():
            if isinstance(text, str):
                yield text
            elif text is not None:
                raise DataError(
                    f"{path}: column {field!r} holds {type(text).__name__} values, not text. "
                    "Pass --text-field with the name of a string column."
                )
