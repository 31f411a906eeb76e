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
from collections.abc import Iterator
from pathlib import Path

from gptlab.data.documents import (
    DEFAULT_CHUNK_BYTES,
    EOT_MARKER,
    SPLIT_MODES,
    group_wikitext,
    split_rows,
    text_documents,
)
from gptlab.data.file_sources import SUPPORTED_SUFFIXES, file_source, folder_source, glob_source
from gptlab.data.hub_sources import HUB_ALIASES, HubAlias, hub_source
from gptlab.data.source_types import ReadOptions, Source, safe_name
from gptlab.errors import ConfigError, DataError

__all__ = [
    "DEFAULT_CHUNK_BYTES",
    "EOT_MARKER",
    "HUB_ALIASES",
    "SPLIT_MODES",
    "SUPPORTED_SUFFIXES",
    "HubAlias",
    "Source",
    "group_wikitext",
    "open_source",
    "split_rows",
    "text_documents",
]


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
        return hub_source(
            spec.lower(),
            alias.path,
            hub_config if hub_config is not None else alias.config,
            alias.streaming if streaming is None else streaming,
            text_field if text_field != "text" else alias.text_field,
            options,
        )
    path = Path(spec).expanduser()
    if not path.exists() and any(char in spec for char in "*?["):
        return glob_source(spec, options)
    if path.is_file():
        return file_source(path, options)
    if path.is_dir():
        return folder_source(path, options)
    if _looks_like_path(spec):
        raise DataError(
            f"No file or folder at {spec!r} ({path.resolve()}). Check the path; local sources "
            f"must exist. Supported files: {', '.join(SUPPORTED_SUFFIXES)}, folders of them, or "
            "a glob pattern in quotes."
        )
    if spec.count("/") == 1:
        name = spec.split("/")[1]
        return hub_source(
            safe_name(name),
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
) -> ReadOptions:
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
    return ReadOptions(text_field, split_mode, encoding, errors, keep_unterminated, chunk_bytes)


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
