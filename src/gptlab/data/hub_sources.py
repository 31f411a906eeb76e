"""Hugging Face datasets as sources: by name from the hub, or a folder written by save_to_disk.

Needs the optional `datasets` package (gptlab[hub]); without it, or without a network, the error
says what to install or use instead. A dataset's "train" split is train; its validation (or else
its test) split is val. Trade-off: the big corpora stream (HubAlias.streaming), so nothing is
downloaded up front, but their size is not known, so progress cannot show a share of the input.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any, NamedTuple

from gptlab.data.documents import split_rows
from gptlab.data.source_types import TABLE_BATCH_ROWS, VAL_NAMES, ReadOptions, Source, safe_name
from gptlab.errors import DataError

_HUB_INSTALL_HINT = 'pip install "gptlab[hub]"'


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


def hub_source(
    name: str,
    path: str,
    config: str | None,
    streaming: bool,
    text_field: str,
    options: ReadOptions,
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


def saved_dataset_source(folder: Path, options: ReadOptions) -> Source:
    datasets = _import_datasets()
    try:
        loaded = datasets.load_from_disk(str(folder))
    except (OSError, ValueError) as exc:
        raise DataError(
            f"{folder} looks like a folder saved with datasets' save_to_disk but cannot be loaded "
            f"({exc}). Save it again, or export the text to .jsonl."
        ) from None
    return _dataset_source(
        safe_name(folder.resolve().name),
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
        held_out = [key for key in VAL_NAMES if key in loaded]
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
        for batch in rows.iter(batch_size=TABLE_BATCH_ROWS):
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
