"""Tests for gptlab.data.analyze: exact counts on a hand-written corpus, dataset vs source paths,
the built-in corpus, real TinyStories, pruning and the files written."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from gptlab.data.analyze import (
    STOP_WORDS,
    SplitCounter,
    analyze,
    count_sentences,
    top_words_overlap,
    words_of,
)
from gptlab.errors import ConfigError, DataError
from gptlab.report.analysis_page import render_analysis_page

TRAIN_DOCS = ["The cat sat. The dog ran!", "A cat and a dog? Yes."]
VAL_DOCS = ["The cat slept."]


def _corpus(tmp_path: Path) -> Path:
    """A folder source with train.txt and val.txt, documents separated by blank lines."""
    folder = tmp_path / "corpus"
    folder.mkdir()
    (folder / "train.txt").write_text("\n\n".join(TRAIN_DOCS) + "\n", encoding="utf-8")
    (folder / "val.txt").write_text("\n\n".join(VAL_DOCS) + "\n", encoding="utf-8")
    return folder


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("Hello world. How are you? Fine!", 3),
        ('"Stop!" said Tom. He ran...', 3),
        ("She said, “Yes.” Then she left.", 2),
        ("Mr. Brown came home. Dr. Lee waved", 2),
        ("Pi is 3.14 today.", 1),
        ("no punctuation at all", 1),
        ("...", 0),
        ("Wait?! Really?!", 2),
    ],
)
def test_count_sentences(text: str, expected: int) -> None:
    assert count_sentences(text) == expected


def test_words_are_lowercased_with_apostrophes_and_numbers() -> None:
    assert words_of("Don’t stop, Tom's 3.14 well-known DOGS_x") == [
        "don't",
        "stop",
        "tom's",
        "3.14",
        "well",
        "known",
        "dogs",
        "x",
    ]
    assert {"the", "and", "don't", "she"} <= STOP_WORDS
    assert 140 <= len(STOP_WORDS) <= 200


def test_exact_counts_on_a_tiny_corpus(tmp_path: Path) -> None:
    result = analyze(
        _corpus(tmp_path),
        out=tmp_path / "out",
        contexts=(24, 20),
        top_k=3,
        tokenizer="byte",
        progress=False,
        split_mode="blank",
    )
    train, val, total = result.splits["train"], result.splits["val"], result.total
    assert result.kind == "source"
    assert result.tokenizer == "byte"
    assert result.contexts == [20, 24]

    assert (train.documents, train.sentences, train.words) == (2, 4, 12)
    assert train.avg_sentences_per_document == 2.0
    assert train.avg_words_per_sentence == 3.0
    assert train.vocabulary_size == 8
    assert train.type_token_ratio == pytest.approx(8 / 12)
    assert train.top_words == [("a", 2), ("cat", 2), ("dog", 2)]
    assert train.top_content_words == [("cat", 2), ("dog", 2), ("ran", 1)]
    assert val.top_words == [("cat", 1), ("slept", 1), ("the", 1)]
    assert val.top_content_words == [("cat", 1), ("slept", 1)]
    assert (total.documents, total.sentences, total.words, total.vocabulary_size) == (3, 5, 15, 9)
    assert total.top_words == [("cat", 3), ("the", 3), ("a", 2)]

    # Byte tokenizer: one token per UTF-8 byte of the stripped document.
    lengths = total.token_lengths
    assert lengths is not None
    assert (lengths.min, lengths.max, lengths.median, lengths.total_tokens) == (14, 25, 21, 60)
    assert lengths.mean == pytest.approx(20.0)
    assert total.histogram is not None
    assert sum(total.histogram.counts) == 3
    fits = {
        f.context_length: (f.documents_longer, f.percent_longer) for f in train.longer_than_context
    }
    assert fits == {20: (2, 100.0), 24: (1, 50.0)}
    assert [f.documents_longer for f in val.longer_than_context] == [0, 0]

    consistency = result.consistency
    assert consistency is not None
    assert consistency.all_words.shared == ["cat"]
    assert consistency.all_words.overlap == pytest.approx(1 / 3)
    assert consistency.all_words.jaccard == pytest.approx(1 / 5)
    assert consistency.content_words.k == 3
    assert consistency.content_words.val_only == ["slept"]
    assert consistency.content_words.overlap == pytest.approx(1 / 3)
    assert consistency.content_words.jaccard == pytest.approx(1 / 4)
    assert consistency.per_1k_words["cat"] == pytest.approx((1000 * 2 / 12, 1000 * 1 / 3))
    assert consistency.per_1k_words["slept"] == pytest.approx((0.0, 1000 / 3))
    assert result.notes == []


def test_files_written_and_json_matches(tmp_path: Path) -> None:
    out = tmp_path / "out"
    result = analyze(
        _corpus(tmp_path),
        out=out,
        top_k=3,
        tokenizer="byte",
        progress=False,
        split_mode="blank",
        page=render_analysis_page,
    )
    assert result.out_dir == out
    names = sorted(p.name for p in out.iterdir())
    assert names == [
        "analysis.html",
        "analysis.json",
        "analysis.md",
        "token_lengths.png",
        "top_words.png",
        "train_val_top_words.png",
    ]
    for png in out.glob("*.png"):
        assert png.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    saved = json.loads((out / "analysis.json").read_text(encoding="utf-8"))
    assert saved == json.loads(json.dumps(result.to_dict()))
    assert saved["format"] == "gptlab-analysis"
    assert saved["splits"]["train"]["words"] == 12
    assert saved["consistency"]["content_words"]["jaccard"] == pytest.approx(0.25)
    markdown = (out / "analysis.md").read_text(encoding="utf-8")
    assert "| documents | 2 | 1 | 3 |" in markdown
    assert "![token lengths](token_lengths.png)" in markdown
    page = (out / "analysis.html").read_text(encoding="utf-8")
    assert page.count('src="data:image/png;base64,') == 3
    assert "<th>train</th><th>val</th><th>total</th>" in page
    assert "Dataset analysis: corpus" in page
    assert not [p for p in tmp_path.iterdir() if p.name.startswith(".out")]

    # A second run replaces the earlier analysis; an unrelated folder is never replaced.
    analyze(_corpus_again(tmp_path), out=out, tokenizer="byte", progress=False, write=True)
    assert json.loads((out / "analysis.json").read_text())["total"]["documents"] == 1
    foreign = tmp_path / "foreign"
    foreign.mkdir()
    (foreign / "keep.txt").write_text("mine")
    with pytest.raises(DataError, match="does not hold an earlier analysis"):
        analyze(_corpus_again(tmp_path), out=foreign, tokenizer="byte", progress=False)
    assert (foreign / "keep.txt").read_text() == "mine"


def _corpus_again(tmp_path: Path) -> Path:
    path = tmp_path / "one.txt"
    path.write_text("Just one story here.\n", encoding="utf-8")
    return path


def test_dataset_and_source_give_the_same_statistics(tmp_path: Path) -> None:
    from gptlab.data.prepare import prepare

    corpus = _corpus(tmp_path)
    dataset = tmp_path / "ds"
    prepare(
        str(corpus), dataset, tokenizer="byte", num_workers=1, progress=False, split_mode="blank"
    )
    from_dataset = analyze(dataset, top_k=3, contexts=(20, 24), progress=False)
    from_source = analyze(
        corpus, top_k=3, contexts=(20, 24), tokenizer="byte", write=False, progress=False,
        split_mode="blank",
    )  # fmt: skip
    assert from_dataset.kind == "dataset"
    assert from_dataset.out_dir == dataset / "analysis"
    assert (dataset / "analysis" / "analysis.json").is_file()
    assert from_source.out_dir is None
    dataset_numbers = from_dataset.to_dict()
    source_numbers = from_source.to_dict()
    assert dataset_numbers["splits"] == source_numbers["splits"]
    assert dataset_numbers["consistency"] == source_numbers["consistency"]

    with pytest.raises(ConfigError, match="apply only to a raw source"):
        analyze(dataset, progress=False, split_mode="line")


def test_builtin_source_without_val(tmp_path: Path) -> None:
    result = analyze(
        "builtin", builtin_stories=200, tokenizer="byte", progress=False, out=tmp_path / "a"
    )
    assert list(result.splits) == ["train"]
    assert result.total.documents == 200
    assert result.total.sentences > 200
    assert result.total.vocabulary_size > 50
    assert result.consistency is None
    assert any("no val split" in note for note in result.notes)
    assert not (tmp_path / "a" / "train_val_top_words.png").exists()
    assert (tmp_path / "a" / "token_lengths.png").is_file()
    assert "No val split" in (tmp_path / "a" / "analysis.md").read_text()


def test_builtin_defaults_to_gpt2_when_its_files_are_found(
    gpt2_dir: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("GPTLAB_TOKENIZER_DIR", str(gpt2_dir))
    result = analyze("builtin", builtin_stories=50, write=False, progress=False)
    assert result.tokenizer == "gpt2"
    assert not any("byte tokenizer" in note for note in result.notes)


def test_missing_gpt2_files_fall_back_for_builtin_only(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    # An explicit folder without the ranks file: the tokenizer module stops there (no download).
    empty = tmp_path / "no-gpt2"
    empty.mkdir()
    monkeypatch.setenv("GPTLAB_TOKENIZER_DIR", str(empty))
    result = analyze("builtin", builtin_stories=20, write=False, progress=False)
    assert result.tokenizer == "byte"
    assert any("byte tokenizer" in note and "r50k_base" in note for note in result.notes)
    with pytest.raises(DataError, match="--tokenizer byte"):
        analyze(_corpus(tmp_path), write=False, progress=False)
    with pytest.raises(DataError, match="GPT-2 tokenizer files could not be found"):
        analyze("builtin", builtin_stories=20, tokenizer="gpt2", write=False, progress=False)


def test_max_documents_caps_each_split(tmp_path: Path) -> None:
    result = analyze(
        "builtin", builtin_stories=100, tokenizer="byte", max_documents=30, write=False,
        progress=False,
    )  # fmt: skip
    assert result.total.documents == 30
    assert any("first 30 documents" in note for note in result.notes)


def test_pruning_marks_counts_approximate() -> None:
    counter = SplitCounter(max_word_entries=4)
    for index in range(10):
        counter.add(f"Common word number{index}.", 3)
    assert counter.pruned
    assert len(counter.word_counts) <= 4
    assert counter.word_counts["common"] == 10
    summary = counter.summary(top_k=2, contexts=[2])
    assert summary.approximate
    assert summary.top_words == [("common", 10), ("word", 10)]
    assert summary.words == 30  # totals stay exact; only the per-word counter is pruned


def test_top_words_overlap_handles_short_lists() -> None:
    overlap = top_words_overlap([("a", 3), ("b", 2)], [("b", 5)])
    assert (overlap.k, overlap.shared, overlap.overlap, overlap.jaccard) == (2, ["b"], 0.5, 0.5)


def test_bad_arguments(tmp_path: Path) -> None:
    corpus = _corpus(tmp_path)
    with pytest.raises(ConfigError, match="top_k"):
        analyze(corpus, top_k=0, progress=False)
    with pytest.raises(ConfigError, match="contexts"):
        analyze(corpus, contexts=(0,), progress=False)
    with pytest.raises(ConfigError, match="max_documents"):
        analyze(corpus, max_documents=0, progress=False)
    with pytest.raises(ConfigError, match="Unknown tokenizer"):
        analyze(corpus, tokenizer="words", progress=False, write=False)
    with pytest.raises(DataError, match="No file or folder"):
        analyze(tmp_path / "missing.txt", progress=False)
    (tmp_path / "empty.txt").write_text("")
    with pytest.raises(DataError, match="empty"):
        analyze(tmp_path / "empty.txt", tokenizer="byte", progress=False)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["corpus", "empty.txt"]


def test_real_tinystories_sample(shared_data: Path, gpt2_dir: Path, tmp_path: Path) -> None:
    path = shared_data / "tinystories" / "TinyStoriesV2-GPT4-train.first10000lines.txt"
    if not path.is_file():
        pytest.skip(f"TinyStories sample not found at {path}")
    result = analyze(
        path, tokenizer="gpt2", tokenizer_dir=gpt2_dir, out=tmp_path / "ts", progress=False
    )
    total = result.total
    assert total.documents == 1727
    assert 5 < total.avg_sentences_per_document < 30
    assert 5 < total.avg_words_per_sentence < 20
    assert total.top_words[0][0] in {"the", "and", "a", "to"}
    assert total.token_lengths is not None
    assert 50 < total.token_lengths.median < 400
    assert [f.context_length for f in total.longer_than_context] == [256, 512, 1024]
    assert 0 < total.longer_than_context[0].documents_longer < 1727


# Written for these tests: short Chinese documents, separated by blank lines.
CHINESE_DOCS = [
    "春天来了，公园里的花都开了。孩子们在草地上跑来跑去，笑得很开心！",
    "爷爷每天早上去河边钓鱼。他说：钓鱼要有耐心，不能着急。你明白吗？",
    "下雨的时候，小猫喜欢躲在窗户旁边，看雨点一滴一滴地落下来。",
]


def test_chinese_sentences_end_at_full_width_marks() -> None:
    assert count_sentences(CHINESE_DOCS[0]) == 2
    assert count_sentences(CHINESE_DOCS[1]) == 3
    assert count_sentences("他问：“你去吗？”我说：“去！”") == 2
    assert count_sentences("Mixed text. 中文句子。English again!") == 3


def test_chinese_text_is_counted_by_characters(tmp_path: Path) -> None:
    import re

    source = tmp_path / "chinese.txt"
    source.write_text("\n\n".join(CHINESE_DOCS) + "\n", encoding="utf-8")
    result = analyze(source, out=tmp_path / "out", top_k=5, tokenizer="char", progress=False)
    assert result.counting == "characters"
    stats = result.total
    letters = [c for doc in CHINESE_DOCS for c in re.findall(r"[^\W\d_]", doc)]
    assert (
        stats.characters
        == len(letters)
        == sum(len(re.sub(r"[，。！？：]", "", d)) for d in CHINESE_DOCS)
    )
    assert stats.distinct_characters == len(set(letters))
    assert stats.sentences == 2 + 3 + 1
    assert stats.top_characters[0] == ("来", 3)  # 来了, 跑来跑去, 落下来
    assert any("Counted by characters: 3 of 3 documents" in note for note in result.notes)
    markdown = (tmp_path / "out" / "analysis.md").read_text(encoding="utf-8")
    assert "| characters (letters, no punctuation) | 81 |" in markdown
    assert "| all character | count |" in markdown  # one unsplit source: not called "train"
    assert "words / sentence" not in markdown and "## Top words" not in markdown


def test_english_text_is_still_counted_by_words(tmp_path: Path) -> None:
    result = analyze(_corpus(tmp_path), tokenizer="byte", progress=False, write=False)
    assert result.counting == "words"
    assert result.total.unspaced_documents == 0


def test_long_tail_histogram_uses_a_log_axis(tmp_path: Path) -> None:
    from gptlab.data.analysis_plots import LONG_TAIL_RATIO, uses_log_scale

    source = tmp_path / "tail.txt"
    short, long = "Tom ran.", " ".join(["The long road went on."] * 40)
    source.write_text("\n".join([short] * 300 + [long]) + "\n", encoding="utf-8")
    tail = analyze(source, tokenizer="byte", split_mode="line", progress=False, write=False)
    assert uses_log_scale(tail)
    assert tail.total.token_lengths is not None
    assert tail.total.token_lengths.max >= LONG_TAIL_RATIO * tail.total.token_lengths.median
    even = analyze(_corpus(tmp_path), tokenizer="byte", progress=False, write=False)
    assert not uses_log_scale(even)
