"""Tests for gptlab.data.sources: every kind of source, every split mode, every user error."""

from __future__ import annotations

import importlib.util
import json
import logging
from pathlib import Path

import pytest

from gptlab.data import sources
from gptlab.data.sources import (
    EOT_MARKER,
    HUB_ALIASES,
    SPLIT_MODES,
    Source,
    group_wikitext,
    open_source,
    text_documents,
)
from gptlab.errors import ConfigError, DataError

SHARED_DATA = Path(__file__).resolve().parents[2] / ".." / "shared" / "data"
TINYSTORIES_SAMPLE = SHARED_DATA / "tinystories" / "TinyStoriesV2-GPT4-train.first10000lines.txt"
WIKI_VALID = SHARED_DATA / "wikitext-2-raw" / "wiki.valid.raw"


def write(path: Path, text: str) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(text, encoding="utf-8")
    return path


def docs(source: Source, split: str = "train") -> list[str]:
    return list(source.documents(split))


# ---------------------------------------------------------------- split modes


def test_eot_mode_splits_strips_and_drops_empty(tmp_path: Path) -> None:
    path = write(
        tmp_path / "a.txt", f"  one\n{EOT_MARKER}\n\n{EOT_MARKER}two\n\nmore{EOT_MARKER}\n"
    )
    assert docs(open_source(str(path), split_mode="eot")) == ["one", "two\n\nmore"]


def test_eot_mode_drops_unterminated_tail_unless_asked(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    path = write(tmp_path / "a.txt", f"one{EOT_MARKER}two{EOT_MARKER}  partial")
    with caplog.at_level(logging.WARNING, logger="gptlab.data.documents"):
        assert docs(open_source(str(path))) == ["one", "two"]
    assert "dropped 7 characters" in caplog.text and "a.txt" in caplog.text
    kept = open_source(str(path), keep_unterminated=True)
    assert docs(kept) == ["one", "two", "partial"]


def test_eot_mode_without_any_marker_is_one_document(tmp_path: Path) -> None:
    path = write(tmp_path / "a.txt", "just one\n\ndocument\n")
    assert docs(open_source(str(path), split_mode="eot")) == ["just one\n\ndocument"]


def test_blank_mode_splits_on_one_or_more_blank_lines(tmp_path: Path) -> None:
    text = "first para\nstill first\n\nsecond\n \t \n\n\nthird\r\n\r\nfourth\n"
    path = write(tmp_path / "a.txt", text)
    assert docs(open_source(str(path), split_mode="blank")) == [
        "first para\nstill first",
        "second",
        "third",
        "fourth",
    ]


def test_line_mode_one_document_per_non_empty_line(tmp_path: Path) -> None:
    path = write(tmp_path / "a.txt", "a b\n\n  c  \r\n\nd")
    assert docs(open_source(str(path), split_mode="line")) == ["a b", "c", "d"]


def test_auto_mode_picks_eot_when_marker_present_else_blank(tmp_path: Path) -> None:
    with_marker = write(tmp_path / "m.txt", f"a\n\nb{EOT_MARKER}c{EOT_MARKER}")
    without = write(tmp_path / "n.txt", "a\n\nb\nc\n")
    assert docs(open_source(str(with_marker))) == ["a\n\nb", "c"]
    assert docs(open_source(str(without))) == ["a", "b\nc"]


def test_auto_detects_marker_straddling_chunks(tmp_path: Path) -> None:
    path = write(tmp_path / "a.txt", "x" * 10 + EOT_MARKER + "y" + EOT_MARKER)
    # With 12-byte chunks the first marker is split between chunk 1 and chunk 2.
    assert list(text_documents(path, chunk_bytes=12)) == ["x" * 10, "y"]


@pytest.mark.parametrize("chunk_bytes", [1, 2, 3, 5, 7, 13, 64, 1 << 20])
@pytest.mark.parametrize("mode", ["eot", "blank", "line", "wikitext"])
def test_chunk_size_never_changes_the_documents(
    tmp_path: Path, chunk_bytes: int, mode: str
) -> None:
    text = (
        " = Alpha = \n \n Café ünïcode ☃ body .\n\n = = Sec = = \n more\n"
        f"{EOT_MARKER}\n\n\n = Beta = \nline one\nline two\n \n{EOT_MARKER}"
        "  tail ☃ \n\n\nlast line"
    )
    path = write(tmp_path / "a.txt", text)
    expected = list(text_documents(path, split_mode=mode, chunk_bytes=1 << 20))
    assert len(expected) >= 2
    got = list(text_documents(path, split_mode=mode, chunk_bytes=chunk_bytes))
    assert got == expected


def test_source_is_reiterable(tmp_path: Path) -> None:
    path = write(tmp_path / "a.txt", "a\n\nb\n\nc")
    source = open_source(str(path))
    first = source.documents("train")
    assert next(first) == "a"
    assert docs(source) == ["a", "b", "c"]  # a new pass starts over
    assert list(first) == ["b", "c"]


# ---------------------------------------------------------------- wikitext


WIKI_SAMPLE = (
    " \n = First Article = \n \n Intro text .\n \n = = History = = \n \n Old times .\n"
    " \n = = = Deep = = = \n Deeper .\n \n = Second = \n \n Body two .\n"
)


def test_wikitext_groups_lines_into_articles(tmp_path: Path) -> None:
    path = write(tmp_path / "wiki.valid.raw", WIKI_SAMPLE)
    articles = docs(open_source(str(path)))  # auto -> wikitext from the file name
    assert len(articles) == 2
    assert articles[0].startswith("= First Article =")
    assert "= = History = =" in articles[0] and "Deeper ." in articles[0]
    assert articles[1].startswith("= Second =") and articles[1].endswith("Body two .")


def test_wikitext_mode_is_explicit_for_other_names(tmp_path: Path) -> None:
    path = write(tmp_path / "articles.txt", WIKI_SAMPLE)
    assert len(docs(open_source(str(path)))) == 7  # blank-line mode for an ordinary name
    assert len(docs(open_source(str(path), split_mode="wikitext"))) == 2


def test_group_wikitext_keeps_preamble_and_handles_dataset_rows() -> None:
    rows = ["Preamble\n", "", " = T = \n", " body \n", " = = S = = \n", " x \n"]
    assert list(group_wikitext(rows)) == ["Preamble", "= T = \n body \n = = S = = \n x"]


def test_wikitext_valid_raw_has_about_sixty_articles() -> None:
    if not WIKI_VALID.is_file():
        pytest.skip(f"shared WikiText-2 file not found at {WIKI_VALID}")
    articles = docs(open_source(str(WIKI_VALID)))
    assert 50 <= len(articles) <= 70
    assert len(articles) == 60  # one per " = Title = " line in the file
    assert all(article.startswith("= ") and not article.startswith("= =") for article in articles)


# ---------------------------------------------------------------- TinyStories sample


def test_tinystories_sample_has_1727_complete_stories() -> None:
    if not TINYSTORIES_SAMPLE.is_file():
        pytest.skip(f"shared TinyStories sample not found at {TINYSTORIES_SAMPLE}")
    source = open_source(str(TINYSTORIES_SAMPLE))
    stories = docs(source)
    assert len(stories) == 1727  # the cut-off story after the last marker is dropped
    assert stories[0].startswith("Once upon a time there was a little boy named Ben.")
    assert all(EOT_MARKER not in story and story == story.strip() for story in stories)
    assert source.num_bytes_hint == TINYSTORIES_SAMPLE.stat().st_size
    with_tail = docs(open_source(str(TINYSTORIES_SAMPLE), keep_unterminated=True))
    assert len(with_tail) == 1728 and with_tail[:-1] == stories


# ---------------------------------------------------------------- jsonl, parquet, folders, globs


def test_jsonl_reads_text_field_and_custom_field(tmp_path: Path) -> None:
    rows = [{"text": " a ", "id": 1}, {"text": ""}, {"text": None}, {"text": "b\nc"}]
    path = write(tmp_path / "d.jsonl", "\n".join(json.dumps(r) for r in rows) + "\n\n")
    assert docs(open_source(str(path))) == ["a", "b\nc"]
    other = write(tmp_path / "e.jsonl", json.dumps({"story": "s1"}) + "\n")
    assert docs(open_source(str(other), text_field="story")) == ["s1"]


def test_jsonl_bad_line_names_file_and_line(tmp_path: Path) -> None:
    path = write(tmp_path / "d.jsonl", '{"text": "ok"}\n{"text": oops}\n')
    with pytest.raises(DataError, match=r"d\.jsonl line 2 is not valid JSON"):
        docs(open_source(str(path)))
    missing = write(tmp_path / "m.jsonl", '{"text": "ok"}\n\n{"body": "x"}\n')
    with pytest.raises(DataError, match=r"m\.jsonl line 3 has no 'text' field.*body"):
        docs(open_source(str(missing)))


def test_parquet_reads_text_column_in_batches(tmp_path: Path) -> None:
    pa = pytest.importorskip("pyarrow")
    pq = pytest.importorskip("pyarrow.parquet")
    texts = [f"doc {i}" for i in range(2500)] + [" ", None]
    path = tmp_path / "d.parquet"
    pq.write_table(
        pa.table({"text": texts, "n": list(range(len(texts)))}), path, row_group_size=700
    )
    assert docs(open_source(str(path))) == [f"doc {i}" for i in range(2500)]
    with pytest.raises(DataError, match=r"no 'body' column.*'text', 'n'"):
        docs(open_source(str(path), text_field="body"))


def test_folder_reads_all_supported_files_recursively_sorted(tmp_path: Path) -> None:
    pa = pytest.importorskip("pyarrow")
    pq = pytest.importorskip("pyarrow.parquet")
    folder = tmp_path / "corpus"
    write(folder / "b.txt", "b1\n\nb2")
    write(folder / "a" / "z.jsonl", json.dumps({"text": "a/z"}) + "\n")
    pq.write_table(pa.table({"text": ["c"]}), folder / "c.parquet")
    write(folder / "notes.md", "ignored")
    write(folder / ".hidden" / "x.txt", "ignored too")
    source = open_source(str(folder))
    assert source.name == "corpus" and source.splits() == ["train"]
    assert docs(source) == ["a/z", "b1", "b2", "c"]


def test_folder_with_train_and_val_files_has_two_splits(tmp_path: Path) -> None:
    folder = tmp_path / "ds"
    write(folder / "stories-train.txt", f"t1{EOT_MARKER}t2{EOT_MARKER}")
    write(folder / "stories-valid.txt", f"v1{EOT_MARKER}")
    write(folder / "interval_notes.txt", "not a val file: 'interval' is one word")
    source = open_source(str(folder))
    assert source.splits() == ["train", "val"]
    assert docs(source, "train") == ["t1", "t2"]
    assert docs(source, "val") == ["v1"]
    with pytest.raises(DataError, match="no 'test' split"):
        source.documents("test")


def test_folder_with_only_train_files_is_all_train(tmp_path: Path) -> None:
    folder = tmp_path / "ds"
    write(folder / "train.txt", "t")
    write(folder / "extra.txt", "e")
    source = open_source(str(folder))
    assert source.splits() == ["train"]
    assert docs(source) == ["e", "t"]


def test_glob_pattern_is_sorted(tmp_path: Path) -> None:
    write(tmp_path / "part2.txt", "two")
    write(tmp_path / "part1.txt", "one")
    write(tmp_path / "other.jsonl", json.dumps({"text": "no"}) + "\n")
    source = open_source(str(tmp_path / "part*.txt"))
    assert docs(source) == ["one", "two"]
    with pytest.raises(DataError, match="matches no supported files"):
        open_source(str(tmp_path / "nothing*.txt"))


# ---------------------------------------------------------------- datasets (no network)


@pytest.fixture
def offline_datasets(monkeypatch: pytest.MonkeyPatch):
    if importlib.util.find_spec("datasets") is None:
        pytest.skip("the optional `datasets` package is not installed")
    monkeypatch.setenv("HF_DATASETS_OFFLINE", "1")
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    import datasets

    return datasets


def test_saved_dataset_dict_maps_validation_to_val(tmp_path: Path, offline_datasets) -> None:
    datasets = offline_datasets
    saved = datasets.DatasetDict(
        {
            "train": datasets.Dataset.from_dict({"text": ["t1", " ", "t2"], "n": [1, 2, 3]}),
            "validation": datasets.Dataset.from_dict({"text": ["v1"], "n": [4]}),
            "test": datasets.Dataset.from_dict({"text": ["x"], "n": [5]}),
        }
    )
    saved.save_to_disk(str(tmp_path / "saved"))
    source = open_source(str(tmp_path / "saved"))
    assert source.name == "saved" and source.splits() == ["train", "val"]
    assert docs(source, "train") == ["t1", "t2"]
    assert docs(source, "val") == ["v1"]
    assert source.num_bytes_hint is not None and source.num_bytes_hint > 0


def test_saved_dataset_test_split_is_val_only_when_alone(tmp_path: Path, offline_datasets) -> None:
    datasets = offline_datasets
    saved = datasets.DatasetDict(
        {
            "train": datasets.Dataset.from_dict({"body": ["t"]}),
            "test": datasets.Dataset.from_dict({"body": ["x"]}),
        }
    )
    saved.save_to_disk(str(tmp_path / "saved"))
    source = open_source(str(tmp_path / "saved"), text_field="body")
    assert docs(source, "val") == ["x"]
    with pytest.raises(DataError, match=r"no 'text' column.*body"):
        open_source(str(tmp_path / "saved"))


def test_saved_single_dataset_is_train(tmp_path: Path, offline_datasets) -> None:
    datasets = offline_datasets
    datasets.Dataset.from_dict({"text": ["a", "b"]}).save_to_disk(str(tmp_path / "one"))
    source = open_source(str(tmp_path / "one"))
    assert source.splits() == ["train"] and docs(source) == ["a", "b"]


def test_hub_alias_and_wikitext_grouping_through_load_dataset(
    monkeypatch: pytest.MonkeyPatch, offline_datasets
) -> None:
    datasets = offline_datasets
    calls: list[tuple] = []
    rows = [" = A = \n", " a body \n", " = = Sec = = \n", "", " = B = \n", " b \n"]

    def fake_hub(path, config=None, streaming=False, **kwargs):
        calls.append((path, config, streaming))
        return datasets.DatasetDict(
            {
                "train": datasets.Dataset.from_dict({"text": rows}),
                "validation": datasets.Dataset.from_dict({"text": [" = V = \n", " v \n"]}),
            }
        )

    # The hub is replaced, not the code under test: open_source's mapping is what is checked.
    monkeypatch.setattr(datasets, "load_dataset", fake_hub)
    source = open_source("wikitext-2")
    assert calls == [("Salesforce/wikitext", "wikitext-2-raw-v1", False)]
    assert source.name == "wikitext-2" and source.splits() == ["train", "val"]
    assert docs(source) == ["= A = \n a body \n = = Sec = =", "= B = \n b"]
    assert docs(source, "val") == ["= V = \n v"]
    open_source("fineweb-edu-100bt")
    assert calls[-1] == ("HuggingFaceFW/fineweb-edu", "sample-100BT", True)
    open_source("someone/corpus", hub_config="en", streaming=True)
    assert calls[-1] == ("someone/corpus", "en", True)


def test_hub_unreachable_is_a_clear_error(
    monkeypatch: pytest.MonkeyPatch, offline_datasets
) -> None:
    def unreachable(*args, **kwargs):
        raise ConnectionError("Couldn't reach 'roneneldan/TinyStories' on the Hub")

    monkeypatch.setattr(offline_datasets, "load_dataset", unreachable)
    with pytest.raises(DataError, match="Could not reach the Hugging Face hub") as info:
        open_source("tinystories")
    assert "HF_DATASETS_OFFLINE" in str(info.value) and "local file" in str(info.value)


def test_hub_offline_without_cache_is_a_clear_error(tmp_path: Path, monkeypatch, offline_datasets):
    # The real load_dataset in offline mode with an empty cache: no network is opened.
    monkeypatch.setenv("HF_HOME", str(tmp_path / "hf"))
    monkeypatch.setattr(offline_datasets.config, "HF_HUB_OFFLINE", True, raising=False)
    with pytest.raises(DataError, match="Could not reach the Hugging Face hub") as info:
        open_source("nobody-here/no-such-dataset")
    assert "no local file or folder 'nobody-here/no-such-dataset' either" in str(info.value)


def test_missing_datasets_package_says_how_to_install(tmp_path: Path, monkeypatch) -> None:
    import builtins

    real_import = builtins.__import__

    def no_datasets(name, *args, **kwargs):
        if name == "datasets":
            raise ImportError("No module named 'datasets'")
        return real_import(name, *args, **kwargs)

    monkeypatch.setattr(builtins, "__import__", no_datasets)
    with pytest.raises(DataError, match=r'pip install "gptlab\[hub\]"'):
        open_source("someone/corpus")


# ---------------------------------------------------------------- builtin


def test_builtin_source_streams_generated_stories() -> None:
    if importlib.util.find_spec("gptlab.data.corpus") is None:
        pytest.skip("gptlab.data.corpus is not written yet")
    from gptlab.data.corpus import generate_stories

    source = open_source("builtin", builtin_stories=7, seed=3)
    assert source.name == "builtin" and source.splits() == ["train"]
    stories = docs(source)
    assert stories == [s.strip() for s in generate_stories(7, seed=3)]
    assert len(stories) == 7 and docs(source) == stories
    assert docs(open_source("builtin", builtin_stories=7, seed=4)) != stories


# ---------------------------------------------------------------- errors


def test_missing_path_error(tmp_path: Path) -> None:
    with pytest.raises(DataError, match="No file or folder at") as info:
        open_source(str(tmp_path / "nope.txt"))
    assert "must exist" in str(info.value)
    with pytest.raises(DataError, match="No file or folder"):
        open_source("data/nope.jsonl")


def test_unknown_name_lists_aliases_and_suggests(tmp_path: Path) -> None:
    with pytest.raises(DataError, match="Unknown dataset 'tinystory'") as info:
        open_source("tinystory")
    message = str(info.value)
    assert "Did you mean 'tinystories'?" in message
    assert all(alias in message for alias in HUB_ALIASES)
    assert "Local paths must exist" in message


def test_empty_file_and_whitespace_file_errors(tmp_path: Path) -> None:
    empty = write(tmp_path / "empty.txt", "")
    with pytest.raises(DataError, match=r"empty\.txt is empty"):
        open_source(str(empty))
    blank = write(tmp_path / "blank.txt", " \n\n \n")
    with pytest.raises(DataError, match="has no documents"):
        docs(open_source(str(blank)))


def test_folder_without_supported_files(tmp_path: Path) -> None:
    write(tmp_path / "f" / "notes.md", "x")
    with pytest.raises(DataError, match=r"no supported files.*\.txt.*\.jsonl.*\.parquet"):
        open_source(str(tmp_path / "f"))


def test_invalid_utf8_names_file_and_offset(tmp_path: Path) -> None:
    path = tmp_path / "bad.txt"
    path.write_bytes(b"hello world\n\n" + "caf\u00e9 ".encode() + b"\xff\xfe tail")
    for chunk_bytes in (1, 4, 1 << 20):  # the offset is exact whatever the chunking
        with pytest.raises(DataError, match=r"bad\.txt is not valid utf-8.*byte offset 19") as info:
            list(text_documents(path, chunk_bytes=chunk_bytes))
    assert "--encoding latin-1" in str(info.value) and "--errors replace" in str(info.value)
    assert docs(open_source(str(path), encoding="latin-1"))[-1].endswith("\u00ff\u00fe tail")
    assert docs(open_source(str(path), errors="replace"))[-1] == "café \ufffd\ufffd tail"


def test_unsupported_extension_lists_supported(tmp_path: Path) -> None:
    path = write(tmp_path / "data.csv", "a,b\n")
    with pytest.raises(DataError, match=r"type .\.csv.*\.txt.*\.jsonl.*\.parquet"):
        open_source(str(path))


def test_bad_options_are_config_errors(tmp_path: Path) -> None:
    path = write(tmp_path / "a.txt", "a")
    with pytest.raises(ConfigError, match="split_mode='paragraph'"):
        open_source(str(path), split_mode="paragraph")
    with pytest.raises(ConfigError, match="Unknown text encoding"):
        open_source(str(path), encoding="utf-9")
    with pytest.raises(ConfigError, match="builtin_stories=0"):
        open_source("builtin", builtin_stories=0)
    assert set(SPLIT_MODES) >= {"auto", "eot", "blank", "line"}


def test_module_keeps_its_public_constants() -> None:
    assert sources.HUB_ALIASES["tinystories"] == ("roneneldan/TinyStories", None, False, "text")
    assert sources.HUB_ALIASES["openwebtext"].streaming is True


def test_hub_stream_failing_mid_iteration_is_a_clear_error(
    monkeypatch: pytest.MonkeyPatch, offline_datasets
) -> None:
    datasets = offline_datasets

    def fail_after_first(row: dict) -> dict:
        if row["text"] != "first":
            raise ConnectionError("connection reset")
        return row

    def fake_hub(path, config=None, streaming=False, **kwargs):
        rows = datasets.Dataset.from_dict({"text": ["first", "second"]})
        stream = rows.to_iterable_dataset().map(fail_after_first)
        return datasets.IterableDatasetDict({"train": stream})

    monkeypatch.setattr(datasets, "load_dataset", fake_hub)
    source = open_source("openwebtext")
    assert "streaming" in source.description and source.num_bytes_hint is None
    documents = source.documents("train")
    with pytest.raises(DataError, match="Could not reach the Hugging Face hub"):
        list(documents)
