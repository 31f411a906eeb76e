"""Tests of gptlab.data.meta: meta.json read into a checked record, damage named by field."""

from __future__ import annotations

import copy
import json
import re
from pathlib import Path
from typing import Any

import pytest

from gptlab.data.meta import DatasetMeta
from gptlab.data.prepare import prepare
from gptlab.errors import DataError


@pytest.fixture(scope="module")
def meta(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Any]:
    out = tmp_path_factory.mktemp("meta") / "data"
    prepare("builtin", out, tokenizer="byte", builtin_stories=30, num_workers=1, progress=False)
    loaded: dict[str, Any] = json.loads((out / "meta.json").read_text(encoding="utf-8"))
    return loaded


def test_a_prepared_meta_parses_into_its_record(meta: dict[str, Any]) -> None:
    record = DatasetMeta.parse(meta, Path("meta.json"))
    assert (record.vocab_size, record.eos_id) == (257, 256)
    train = record.splits["train"]
    assert train.tokens == meta["splits"]["train"]["tokens"] > 0
    assert [s.file for s in train.shards] == ["train_000000.bin"]
    assert train.shards[0].sha256 == meta["splits"]["train"]["shards"][0]["sha256"]


@pytest.mark.parametrize(
    ("path", "value", "field"),
    [
        (("vocab_size",), "lots", "vocab_size"),
        (("vocab_size",), True, "vocab_size"),
        (("eos_id",), 257, "eos_id"),
        (("splits",), [], "splits"),
        (("splits", "train"), 7, "splits.train"),
        (("splits", "train", "tokens"), -1, "splits.train.tokens"),
        (("splits", "train", "shards"), 7, "splits.train.shards"),
        (("splits", "train", "shards", 0, "file"), 7, "splits.train.shards[0].file"),
        (("splits", "train", "shards", 0, "file"), "../x.bin", "splits.train.shards[0].file"),
        (("splits", "train", "shards", 0, "sha256"), None, "splits.train.shards[0].sha256"),
        (("tokenizer",), "gpt2", "tokenizer"),
    ],
)
def test_damage_names_the_file_and_the_field(
    meta: dict[str, Any], path: tuple[Any, ...], value: object, field: str
) -> None:
    damaged = copy.deepcopy(meta)
    node = damaged
    for key in path[:-1]:
        node = node[key]
    node[path[-1]] = value
    with pytest.raises(DataError, match=rf"data/meta\.json is damaged: {re.escape(field)} should"):
        DatasetMeta.parse(damaged, Path("data/meta.json"))
