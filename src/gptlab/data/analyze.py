"""Dataset statistics: documents, sentences, words or characters, vocabulary, top words, token
lengths, and how the train and val splits agree.

`analyze()` reads a prepared dataset folder (documents are the shard stream cut at EOS, decoded
with the dataset's own tokenizer, so token lengths are exactly what training sees) or any source
that `gptlab prepare` accepts (tokenized here with the chosen tokenizer), counts it with
text_stats.SplitCounter and writes analysis.json, analysis.md, analysis.html and PNG plots
(analysis_report.py, analysis_plots.py).

Trade-off: one streaming pass that keeps only counters: a word Counter per split (pruned of its
rarest words when it grows past `max_word_entries`, which makes word counts approximate and is
said so in every output) and one uint32 per document for token lengths, so percentiles are exact
at 4 bytes per document while the text itself is never held.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import numpy as np

from gptlab.data.analysis_plots import render_plots
from gptlab.data.analysis_report import (
    PageRenderer,
    check_out,
    consistency_rows,
    overview_rows,
    render_markdown,
    write_analysis,
)
from gptlab.data.analysis_results import (
    Analysis,
    Consistency,
    ContextFit,
    Histogram,
    LengthSummary,
    SplitAnalysis,
    TopWordsOverlap,
)
from gptlab.data.progress import CorpusProgress
from gptlab.data.text_stats import (
    MAX_WORD_ENTRIES,
    STOP_WORDS,
    SplitCounter,
    _ratio,
    count_sentences,
    top_words_overlap,
    words_of,
)
from gptlab.errors import ConfigError, DataError, GptlabError

DEFAULT_CONTEXTS = (256, 512, 1024)
"""Context lengths in tokens checked for documents that do not fit, unless others are given."""
ENCODE_BATCH_DOCUMENTS = 256
"""Documents tokenized per encode_batch call when analysing a raw source."""
SPLITS = ("train", "val")


class _DocumentStream:
    """Where documents come from: per split, an iterator of (text, token count)."""

    def __init__(
        self,
        kind: str,
        name: str,
        tokenizer_kind: str,
        splits: list[str],
        read: Callable[[str], Iterator[tuple[str, int]]],
        expected: dict[str, int | None],
        total_bytes: int | None = None,
    ) -> None:
        self.kind = kind
        self.name = name
        self.tokenizer_kind = tokenizer_kind
        self.splits = splits
        self.read = read
        """read(split): a fresh pass over (document text, token count without EOS)."""
        self.expected = expected
        """Documents per split when known in advance (for the progress bar)."""
        self.total_bytes = total_bytes
        """UTF-8 bytes of all splits' text when known in advance (for the progress bar)."""


def _is_dataset(path: Path) -> bool:
    return path.is_dir() and (path / "meta.json").is_file()


def _dataset_stream(directory: Path, notes: list[str], tokenizer: str | None) -> _DocumentStream:
    from gptlab.data.prepare import load_meta
    from gptlab.data.shards import open_shard
    from gptlab.data.tokenizers import load_tokenizer

    meta = load_meta(directory)
    tok = load_tokenizer(directory)
    eos_id = int(meta["eos_id"])
    if tokenizer is not None:
        notes.append(
            f"--tokenizer {tokenizer} was ignored: a prepared dataset is read with its own "
            f"tokenizer ({tok.kind})."
        )
    split_infos = meta.get("splits", {})
    splits = [s for s in SPLITS if split_infos.get(s, {}).get("documents", 0) > 0]
    if not splits:
        raise DataError(
            f"The dataset {directory} has no documents in any split. Prepare it again with "
            "`gptlab prepare` and looser --min-tokens / --max-tokens."
        )

    def read(split: str) -> Iterator[tuple[str, int]]:
        carry = np.zeros(0, dtype=np.int64)
        for shard in split_infos[split]["shards"]:
            path = directory / shard["file"]
            if not path.is_file():
                raise DataError(
                    f"Shard {path} listed in {directory / 'meta.json'} is missing. Prepare the "
                    "dataset again with `gptlab prepare`."
                )
            tokens = np.asarray(open_shard(path))
            ends = np.flatnonzero(tokens == eos_id)
            start = 0
            for end in ends:
                ids = tokens[start:end]
                if carry.size:
                    ids = np.concatenate([carry, ids])
                    carry = np.zeros(0, dtype=np.int64)
                yield tok.decode(ids.tolist()), int(ids.size)
                start = int(end) + 1
            if start < tokens.size:
                # A document continues in the next shard (prepare never does this; be safe).
                carry = np.concatenate([carry, tokens[start:].astype(np.int64)])
        if carry.size and meta.get("split") == "contiguous":
            notes.append(
                f"The {split} split ends inside a document (the contiguous val split cut it "
                f"there); its last {carry.size:,} tokens were counted as one document."
            )
        elif carry.size:
            notes.append(
                f"The {split} split ends with {carry.size} tokens and no EOS; they were counted "
                "as one last document."
            )
            yield tok.decode(carry.tolist()), int(carry.size)

    expected: dict[str, int | None] = {s: int(split_infos[s]["documents"]) for s in splits}
    total_bytes = sum(int(split_infos[s].get("bytes", 0) or 0) for s in splits)
    name = directory.resolve().name
    return _DocumentStream("dataset", name, tok.kind, splits, read, expected, total_bytes)


def _source_stream(
    spec: str,
    notes: list[str],
    tokenizer: str | None,
    tokenizer_dir: str | Path | None,
    vocab_size: int | None,
    source_options: dict[str, Any],
) -> _DocumentStream:
    from gptlab.data.sources import open_source

    source = open_source(spec, **source_options)
    splits = [s for s in SPLITS if s in source.splits()]
    if "train" not in splits:
        raise DataError(
            f"The source {spec!r} has no train split (it has {source.splits()}). Point analyze "
            "at a source with a train split."
        )
    tok = _make_tokenizer(spec, source, splits, notes, tokenizer, tokenizer_dir, vocab_size)

    def read(split: str) -> Iterator[tuple[str, int]]:
        batch: list[str] = []
        for text in source.documents(split):
            batch.append(text)
            if len(batch) == ENCODE_BATCH_DOCUMENTS:
                yield from zip(batch, (len(ids) for ids in tok.encode_batch(batch)), strict=True)
                batch = []
        if batch:
            yield from zip(batch, (len(ids) for ids in tok.encode_batch(batch)), strict=True)

    return _DocumentStream(
        "source",
        source.name,
        tok.kind,
        splits,
        read,
        dict.fromkeys(splits, None),
        source.num_bytes_hint,
    )


def _make_tokenizer(
    spec: str,
    source: Any,
    splits: list[str],
    notes: list[str],
    tokenizer: str | None,
    tokenizer_dir: str | Path | None,
    vocab_size: int | None,
) -> Any:
    """The tokenizer that counts a raw source's token lengths; gpt2 unless told otherwise."""
    from gptlab.data.tokenizers import TOKENIZER_NAMES, make_tokenizer

    name = tokenizer or "gpt2"
    if name not in TOKENIZER_NAMES:
        raise ConfigError(
            f"Unknown tokenizer {name!r}. Choose one of: {', '.join(TOKENIZER_NAMES)}."
        )
    if name == "bpe" and not vocab_size:
        raise ConfigError(
            "A trained BPE tokenizer needs a vocabulary size: pass --vocab-size (e.g. 4096)."
        )
    if name == "char":
        return make_tokenizer(
            "char", texts=lambda: (t for s in splits for t in source.documents(s))
        )
    if name == "bpe":
        return make_tokenizer("bpe", texts=lambda: source.documents("train"), vocab_size=vocab_size)
    if name != "gpt2":
        return make_tokenizer(name)
    try:
        return make_tokenizer("gpt2", tokenizer_dir=tokenizer_dir)
    except GptlabError as exc:
        if tokenizer is not None:
            raise
        if spec != "builtin":
            raise DataError(
                f"Token lengths are counted with the GPT-2 tokenizer by default, but it cannot be "
                f"loaded: {exc} Or pass --tokenizer byte or --tokenizer char to count lengths in "
                "bytes or characters."
            ) from None
        reason = str(exc)
    notes.append(
        f"Token lengths are counted with the byte tokenizer (one token per UTF-8 byte, longer "
        f"than GPT-2 lengths) because the GPT-2 tokenizer is not available: {reason}"
    )
    return make_tokenizer("byte")


def analyze(
    source_or_dataset: str | Path,
    *,
    out: Path | None = None,
    contexts: tuple[int, ...] | list[int] = DEFAULT_CONTEXTS,
    top_k: int = 20,
    tokenizer: str | None = None,
    tokenizer_dir: str | Path | None = None,
    vocab_size: int | None = None,
    max_documents: int | None = None,
    max_word_entries: int = MAX_WORD_ENTRIES,
    write: bool = True,
    progress: bool = True,
    page: PageRenderer | None = None,
    **source_options: Any,
) -> Analysis:
    """Measure a prepared dataset folder or a raw source and write the analysis files.

    source_or_dataset: a folder with meta.json (read from its shards with its own tokenizer), or
        any spec `gptlab prepare` accepts ("builtin", a .txt/.jsonl/.parquet file, a folder, a
        glob, a hub dataset name).
    out: folder for analysis.json, analysis.md and the PNGs; default <dataset>/analysis for a
        dataset, ./analysis-<source name> for a source. An existing folder is replaced only when
        it is empty or holds an earlier analysis.json.
    contexts: context lengths in tokens; for each, the documents longer than it are counted.
    top_k: length of the top-word lists and of the lists compared between train and val.
    tokenizer / tokenizer_dir / vocab_size: for a raw source, the tokenizer that counts token
        lengths (gpt2, char, byte or bpe with vocab_size); default gpt2; the built-in corpus
        falls back to byte, with a note, when the GPT-2 files are missing.
    max_documents: read at most this many documents of each split (None: all).
    max_word_entries: distinct words a split's counter may hold before rare words are pruned.
    write: False measures without writing anything.
    page: renders analysis.html beside the other files (gptlab.report.analysis_page's
        render_analysis_page; the commands pass it in); None writes no page.
    source_options: passed to open_source (text_field, split_mode, encoding, errors,
        builtin_stories, seed, hub_config, streaming).
    """
    contexts_list = _check_arguments(contexts, top_k, max_documents)
    started_s = time.perf_counter()
    notes: list[str] = []
    path = Path(source_or_dataset).expanduser()
    if _is_dataset(path):
        if source_options:
            raise ConfigError(
                f"{', '.join(sorted(source_options))} apply only to a raw source, but "
                f"{path} is a prepared dataset. Drop those options."
            )
        if vocab_size is not None:
            notes.append("--vocab-size was ignored: a prepared dataset has its own tokenizer.")
        stream = _dataset_stream(path, notes, tokenizer)
        default_out = path / "analysis"
    else:
        stream = _source_stream(
            str(source_or_dataset), notes, tokenizer, tokenizer_dir, vocab_size, source_options
        )
        default_out = Path(f"analysis-{stream.name}")
    out_dir = Path(out) if out is not None else default_out
    if write:
        check_out(out_dir)

    counters = {split: SplitCounter(max_word_entries) for split in stream.splits}
    # One bar over every split: by bytes of text when the size is known, else by documents.
    expected = [stream.expected[s] for s in stream.splits]
    known = None not in expected and max_documents is None
    bar = CorpusProgress(
        progress,
        "analyze",
        total_bytes=stream.total_bytes if max_documents is None else None,
        total_documents=sum(e or 0 for e in expected) if known else None,
    )
    with bar:
        bar.phase(" + ".join(stream.splits))
        for split in stream.splits:
            counter = counters[split]
            for text, num_tokens in stream.read(split):
                counter.add(text, num_tokens)
                bar.advance(1, len(text.encode("utf-8", "surrogatepass")), num_tokens)
                if max_documents is not None and counter.documents >= max_documents:
                    break
    _check_counted(counters, str(source_or_dataset))

    contexts_sorted = sorted(set(contexts_list))
    # One histogram range for every split, so their bins line up (and stack in the plot).
    longest = max(c.longest for c in counters.values())
    summaries = {s: c.summary(top_k, contexts_sorted, longest) for s, c in counters.items()}
    total_counter = counters["train"]
    if "val" in counters:
        total_counter = counters["train"].merged(counters["val"])
    counting = "characters" if total_counter.mostly_unspaced else "words"
    if "val" in counters:
        total = total_counter.summary(top_k, contexts_sorted, longest)
        consistency: Consistency | None = _consistency(
            summaries["train"], summaries["val"], counters["train"], counters["val"], counting
        )
    else:
        total = summaries["train"]
        consistency = None
        notes.append(
            "There is no val split, so train/val consistency was not measured "
            "(prepare the source to get a val split, then analyze the dataset)."
        )
    notes.extend(_counting_notes(total, counting))
    if total.approximate and counting == "words":
        notes.append(
            f"Word counts are approximate: a split had more than {max_word_entries:,} distinct "
            "words, so its rarest words were pruned (vocabulary size is a lower bound)."
        )
    if max_documents is not None:
        notes.append(f"Only the first {max_documents:,} documents of each split were read.")

    elapsed_s = time.perf_counter() - started_s
    analysis = Analysis(
        source=str(source_or_dataset),
        kind=stream.kind,
        name=stream.name,
        tokenizer=stream.tokenizer_kind,
        counting=counting,
        contexts=contexts_sorted,
        top_k=top_k,
        splits=summaries,
        total=total,
        consistency=consistency,
        notes=notes,
        max_documents=max_documents,
        elapsed_s=elapsed_s,
        documents_per_s=total.documents / elapsed_s if elapsed_s > 0 else 0.0,
    )
    if write:
        write_analysis(analysis, out_dir, page)
    return analysis


def _consistency(
    train: SplitAnalysis,
    val: SplitAnalysis,
    train_counter: SplitCounter,
    val_counter: SplitCounter,
    counting: str,
) -> Consistency:
    if counting == "characters":
        overlap = top_words_overlap(train.top_characters, val.top_characters)
        characters = [c for c, _ in train.top_characters] + overlap.val_only
        return Consistency(
            all_words=overlap,
            content_words=overlap,
            per_1k_words={
                character: (
                    1000.0 * _ratio(train_counter.character_counts[character], train.characters),
                    1000.0 * _ratio(val_counter.character_counts[character], val.characters),
                )
                for character in characters
            },
            unit="characters",
        )
    content = top_words_overlap(train.top_content_words, val.top_content_words)
    words = [w for w, _ in train.top_content_words] + content.val_only
    return Consistency(
        all_words=top_words_overlap(train.top_words, val.top_words),
        content_words=content,
        per_1k_words={
            word: (
                1000.0 * _ratio(train_counter.word_counts[word], train_counter.words),
                1000.0 * _ratio(val_counter.word_counts[word], val_counter.words),
            )
            for word in words
        },
    )


def _counting_notes(total: SplitAnalysis, counting: str) -> list[str]:
    """Say which counting was used when any document is in a script without spaces."""
    if total.unspaced_documents == 0:
        return []
    share = f"{total.unspaced_documents:,} of {total.documents:,} documents"
    if counting == "characters":
        return [
            f"Counted by characters: {share} are mostly in a script written without spaces "
            "(Chinese, Japanese, Thai, ...), where the runs of letters between punctuation are "
            "clauses, not words. Characters are letters and ideographs (no digits, spaces or "
            "punctuation) of those documents; sentences end at . ! ? and at 。！？."
        ]
    return [
        f"Counted by words; {share} are mostly in a script written without spaces, so the "
        "word figures undercount them."
    ]


def _check_arguments(
    contexts: tuple[int, ...] | list[int], top_k: int, max_documents: int | None
) -> list[int]:
    contexts_list = [int(c) for c in contexts]
    if not contexts_list or any(c < 1 for c in contexts_list):
        raise ConfigError(
            f"contexts={contexts_list} must be one or more positive lengths in tokens "
            "(e.g. --context 256 --context 1024)."
        )
    if top_k < 1:
        raise ConfigError(f"top_k={top_k} must be at least 1 (e.g. --top-k 20).")
    if max_documents is not None and max_documents < 1:
        raise ConfigError(
            f"max_documents={max_documents} must be at least 1; leave it out to read everything."
        )
    return contexts_list


def _check_counted(counters: dict[str, SplitCounter], label: str) -> None:
    if counters["train"].documents == 0:
        raise DataError(
            f"{label} has no train documents to analyse. Check the path, --text-field and "
            "--split-mode."
        )


__all__ = [
    "DEFAULT_CONTEXTS",
    "MAX_WORD_ENTRIES",
    "STOP_WORDS",
    "Analysis",
    "Consistency",
    "ContextFit",
    "Histogram",
    "LengthSummary",
    "SplitAnalysis",
    "SplitCounter",
    "TopWordsOverlap",
    "analyze",
    "consistency_rows",
    "count_sentences",
    "overview_rows",
    "render_markdown",
    "render_plots",
    "top_words_overlap",
    "words_of",
    "write_analysis",
]
