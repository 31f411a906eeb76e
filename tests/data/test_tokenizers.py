"""Tests for the tokenizers: exact round trips on real text, GPT-2 ids, save/load, offline use."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest
import tiktoken

from gptlab.data.corpus import generate_stories
from gptlab.data.tokenizers import (
    EOS_TEXT,
    TOKENIZER_ENV,
    TOKENIZER_NAMES,
    BPETokenizer,
    Tokenizer,
    gpt2_tokenizer,
    load_tokenizer,
    make_tokenizer,
    tokenizer_from_spec,
)
from gptlab.errors import ConfigError, DataError

SLICE_CHARS = 200_000
UNICODE_TEXT = (
    "Hello, world! Ünïcödé façade — naïve café. 日本語のテキスト, emoji 😀🚀, "
    "Ελληνικά, русский, العربية.\n\n\tTabs,   spaces  and\r\nnewlines. Ⅻ ½ ∑ ≠ ∞"
)
SHARED_TEXTS = (
    "tinyshakespeare/input.txt",
    "tinystories/TinyStoriesV2-GPT4-train.first10000lines.txt",
    "tinystories/TinyStories-validation.hf-export-prefix.txt",
    "wikitext-2-raw/wiki.valid.raw",
)


@pytest.fixture(autouse=True)
def _no_tokenizer_env(monkeypatch: pytest.MonkeyPatch) -> None:
    """Tests decide themselves whether $GPTLAB_TOKENIZER_DIR is set."""
    monkeypatch.delenv(TOKENIZER_ENV, raising=False)


@pytest.fixture
def offline(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    """No tiktoken cache and no network: tiktoken.get_encoding fails the way it does offline."""
    empty_cache = tmp_path / "empty-tiktoken-cache"
    empty_cache.mkdir()
    monkeypatch.setenv("TIKTOKEN_CACHE_DIR", str(empty_cache))

    def unreachable(name: str) -> tiktoken.Encoding:
        raise ConnectionError(f"offline: cannot download the {name} encoding")

    monkeypatch.setattr(tiktoken, "get_encoding", unreachable)


def build(kind: str, corpus: list[str], gpt2_dir: Path | None) -> Tokenizer:
    """A tokenizer of `kind`; char and bpe learn from `corpus`."""
    if kind == "gpt2":
        if gpt2_dir is None:
            pytest.skip("the GPT-2 test needs the shared tokenizer files")
        return make_tokenizer("gpt2", tokenizer_dir=gpt2_dir)
    return make_tokenizer(
        kind, texts=lambda: iter(corpus), vocab_size=512 if kind == "bpe" else None
    )


@pytest.fixture
def maybe_gpt2_dir(request: pytest.FixtureRequest) -> Path | None:
    """The GPT-2 files folder, or None when shared data is absent (only gpt2 cases skip)."""
    try:
        path: Path = request.getfixturevalue("gpt2_dir")
    except pytest.skip.Exception:
        return None
    return path


# ------------------------------------------------------------------------------ round trips


@pytest.mark.parametrize("kind", TOKENIZER_NAMES)
def test_round_trip_unicode(kind: str, maybe_gpt2_dir: Path | None) -> None:
    corpus = [UNICODE_TEXT, *generate_stories(50)]
    tok = build(kind, corpus, maybe_gpt2_dir)
    for text in (UNICODE_TEXT, corpus[1], "", " ", "a"):
        ids = tok.encode(text)
        assert all(0 <= i < tok.vocab_size for i in ids)
        assert tok.decode(ids) == text
    assert tok.eos_id < tok.vocab_size
    assert tok.spec()["kind"] == kind == tok.kind


@pytest.mark.parametrize("relative", SHARED_TEXTS)
@pytest.mark.parametrize("kind", TOKENIZER_NAMES)
def test_round_trip_shared_files(
    kind: str, relative: str, shared_data: Path, maybe_gpt2_dir: Path | None
) -> None:
    path = shared_data / relative
    if not path.is_file():
        pytest.skip(f"{relative} not found in shared data")
    text = path.read_text(encoding="utf-8")[:SLICE_CHARS]
    tok = build(kind, [text[: SLICE_CHARS // 4]] if kind == "bpe" else [text], maybe_gpt2_dir)
    ids = tok.encode(text)
    assert tok.decode(ids) == text
    if kind in ("gpt2", "bpe"):
        assert len(ids) < 0.6 * len(text)  # a BPE needs well under one id per character


def test_encode_batch_equals_encode(maybe_gpt2_dir: Path | None) -> None:
    texts = [*generate_stories(20, seed=4), UNICODE_TEXT, ""]
    for kind in TOKENIZER_NAMES:
        if kind == "gpt2" and maybe_gpt2_dir is None:
            continue
        tok = build(kind, texts, maybe_gpt2_dir)
        assert tok.encode_batch(texts) == [tok.encode(t) for t in texts]


def test_literal_endoftext_is_ordinary_text(maybe_gpt2_dir: Path | None) -> None:
    text = f"The end.{EOS_TEXT}Next story"
    for kind in TOKENIZER_NAMES:
        if kind == "gpt2" and maybe_gpt2_dir is None:
            continue
        tok = build(kind, [text, *generate_stories(20)], maybe_gpt2_dir)
        ids = tok.encode(text)
        assert tok.eos_id not in ids, kind
        assert tok.decode(ids) == text
        assert tok.encode_batch([text]) == [ids]
        # The id itself reads as the marker, so a decoded stream shows document boundaries.
        assert tok.decode([*tok.encode("a"), tok.eos_id]) == "a" + EOS_TEXT


# ------------------------------------------------------------------------------ per kind


def test_gpt2_known_ids(gpt2_dir: Path) -> None:
    tok = gpt2_tokenizer(gpt2_dir)
    assert tok.encode("Hello world") == [15496, 995]
    assert tok.vocab_size == 50257 and tok.eos_id == 50256
    # The ranks file itself may be named instead of its folder.
    assert gpt2_tokenizer(gpt2_dir / "r50k_base.tiktoken").encode(" the") == [262]
    assert len(tok.mergeable_ranks) == 50256


def test_gpt2_from_env(gpt2_dir: Path, monkeypatch: pytest.MonkeyPatch, offline: None) -> None:
    monkeypatch.setenv(TOKENIZER_ENV, str(gpt2_dir))
    assert make_tokenizer("gpt2").encode("Hello world") == [15496, 995]


def test_gpt2_from_tiktoken_cache(
    gpt2_dir: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    # tiktoken deletes cache files it distrusts, so it gets a writable copy, never the shared one.
    cache = tmp_path / "cache"
    shutil.copytree(gpt2_dir / "tiktoken_cache", cache)
    monkeypatch.setenv("TIKTOKEN_CACHE_DIR", str(cache))
    monkeypatch.setattr(tiktoken.registry, "ENCODINGS", {})
    tok = make_tokenizer("gpt2")
    assert tok.encode("Hello world") == [15496, 995]
    assert tok.encode(UNICODE_TEXT) == gpt2_tokenizer(gpt2_dir).encode(UNICODE_TEXT)


def test_gpt2_missing_files_error_names_both_fixes(offline: None) -> None:
    with pytest.raises(DataError) as info:
        make_tokenizer("gpt2")
    message = str(info.value)
    assert TOKENIZER_ENV in message and "--tokenizer-dir" in message
    assert "internet" in message and "r50k_base.tiktoken" in message
    assert "Traceback" not in message and info.value.__cause__ is None


def test_gpt2_named_folder_without_file_is_an_error(tmp_path: Path, offline: None) -> None:
    with pytest.raises(DataError, match=r"has no r50k_base\.tiktoken"):
        make_tokenizer("gpt2", tokenizer_dir=tmp_path)


def test_gpt2_wrong_ranks_file_is_an_error(tmp_path: Path) -> None:
    (tmp_path / "r50k_base.tiktoken").write_text("aGVsbG8= 0\n")
    with pytest.raises(DataError, match="sha256"):
        gpt2_tokenizer(tmp_path)


def test_gpt2_saved_tokenizer_remembers_its_folder(
    gpt2_dir: Path, tmp_path: Path, offline: None
) -> None:
    gpt2_tokenizer(gpt2_dir).save(tmp_path / "ds")
    spec = json.loads((tmp_path / "ds" / "tokenizer.json").read_text())["spec"]
    # The spec holds no path (it is compared across machines); the hint sits beside it.
    assert str(gpt2_dir) not in json.dumps(spec)
    assert not (tmp_path / "ds" / "r50k_base.tiktoken").exists()
    assert load_tokenizer(tmp_path / "ds").encode("Hello world") == [15496, 995]
    assert tokenizer_from_spec(spec, tmp_path / "ds").encode("Hello world") == [15496, 995]


def test_gpt2_decode_of_padded_ids(gpt2_dir: Path) -> None:
    tok = gpt2_tokenizer(gpt2_dir)
    assert tok.decode([15496, 50300, 995]) == "Hello\ufffd world"


def test_char_vocabulary_of_tiny_shakespeare(shared_data: Path) -> None:
    path = shared_data / "tinyshakespeare" / "input.txt"
    if not path.is_file():
        pytest.skip("tinyshakespeare/input.txt not found in shared data")
    text = path.read_text(encoding="utf-8")
    tok = make_tokenizer("char", texts=lambda: [text])
    assert tok.vocab_size == 66 and tok.eos_id == 65
    assert len(tok.spec()["characters"]) == 65
    assert tok.decode(tok.encode(text)) == text


def test_char_unknown_character_is_a_clear_error() -> None:
    tok = make_tokenizer("char", texts=lambda: ["abc"])
    assert tok.encode("cab") == [2, 0, 1]
    with pytest.raises(DataError, match=r"'z'.*saw when the dataset was prepared"):
        tok.encode("abz")


def test_char_learns_from_every_text_and_refuses_empty() -> None:
    tok = make_tokenizer("char", texts=lambda: ["ab", "", "cd"])
    assert tok.vocab_size == 5
    with pytest.raises(DataError, match="empty"):
        make_tokenizer("char", texts=lambda: [])


def test_byte_ids_and_invalid_bytes() -> None:
    tok = make_tokenizer("byte")
    assert (tok.vocab_size, tok.eos_id) == (257, 256)
    assert tok.encode("Aé") == [65, 0xC3, 0xA9]
    assert tok.decode([65, 0xC3]) == "A\ufffd"


def test_bpe_vocab_size_and_determinism() -> None:
    def texts() -> list[str]:
        return list(generate_stories(300, seed=1))

    a = make_tokenizer("bpe", texts=texts, vocab_size=700)
    b = make_tokenizer("bpe", texts=texts, vocab_size=700)
    assert a.vocab_size == 700 and a.spec() == b.spec()
    story = texts()[0]
    # Trained on these stories, the BPE needs far fewer ids than bytes.
    assert len(a.encode(story)) < len(story.encode()) / 2.5


def test_bpe_refuses_tiny_vocab_and_missing_arguments() -> None:
    with pytest.raises(ConfigError, match="at least 257"):
        make_tokenizer("bpe", texts=lambda: ["abc"], vocab_size=100)
    with pytest.raises(ConfigError, match="--vocab-size"):
        make_tokenizer("bpe", texts=lambda: ["abc"])
    with pytest.raises(ConfigError, match="needs texts"):
        make_tokenizer("char")
    with pytest.raises(ConfigError, match="Choose one of: gpt2, char, byte, bpe"):
        make_tokenizer("wordpiece")


# ------------------------------------------------------------------------------ save and load


@pytest.mark.parametrize("kind", TOKENIZER_NAMES)
def test_save_load_and_from_spec_give_identical_encodings(
    kind: str, tmp_path: Path, maybe_gpt2_dir: Path | None
) -> None:
    corpus = [UNICODE_TEXT, *generate_stories(100, seed=2)]
    tok = build(kind, corpus, maybe_gpt2_dir)
    tok.save(tmp_path)
    loaded = load_tokenizer(tmp_path)
    rebuilt = tokenizer_from_spec(tok.spec(), tmp_path)
    for other in (loaded, rebuilt):
        assert type(other) is type(tok)
        assert other.spec() == tok.spec()
        assert (other.vocab_size, other.eos_id) == (tok.vocab_size, tok.eos_id)
        assert other.encode_batch(corpus) == tok.encode_batch(corpus)
    record = json.loads((tmp_path / "tokenizer.json").read_text())
    assert record["spec"] == tok.spec() and record["format"] == "gptlab-tokenizer"


def test_load_missing_or_corrupt_names_the_file(tmp_path: Path) -> None:
    with pytest.raises(DataError, match=r"No tokenizer file at .*tokenizer\.json"):
        load_tokenizer(tmp_path)
    (tmp_path / "tokenizer.json").write_text("{not json")
    with pytest.raises(DataError, match=r"tokenizer\.json cannot be read"):
        load_tokenizer(tmp_path)
    (tmp_path / "tokenizer.json").write_text(json.dumps({"model": {"type": "BPE"}}))
    with pytest.raises(DataError, match="not a gptlab tokenizer file"):
        load_tokenizer(tmp_path)
    with pytest.raises(DataError, match="unknown kind 'sentencepiece'"):
        tokenizer_from_spec({"kind": "sentencepiece"}, tmp_path)


def test_bpe_model_file_tampered_or_missing(tmp_path: Path) -> None:
    tok = make_tokenizer("bpe", texts=lambda: generate_stories(50), vocab_size=300)
    assert isinstance(tok, BPETokenizer)
    tok.save(tmp_path)
    model = tmp_path / "bpe.json"
    model.write_text(model.read_text().replace('"<|endoftext|>"', '"<|eot|>"', 1))
    with pytest.raises(DataError, match="sha256 differs"):
        load_tokenizer(tmp_path)
    model.unlink()
    with pytest.raises(DataError, match=r"Cannot read the BPE model file .*bpe\.json"):
        load_tokenizer(tmp_path)


def test_spec_mismatch_is_detected(tmp_path: Path) -> None:
    tok = make_tokenizer("char", texts=lambda: ["abc"])
    spec = {**tok.spec(), "vocab_size": 99}
    with pytest.raises(DataError, match="vocab_size=99"):
        tokenizer_from_spec(spec, tmp_path)
