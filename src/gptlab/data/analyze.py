"""Dataset statistics: documents, sentences, words, vocabulary, top words, token lengths, fit.

`analyze()` reads a prepared dataset folder (documents are the shard stream cut at EOS, decoded
with the dataset's own tokenizer, so token lengths are exactly what training sees) or any source
that `gptlab prepare` accepts (tokenized here with the chosen tokenizer), and writes
analysis.json, analysis.md and three PNG plots.

Trade-off: one streaming pass that keeps only counters: a word Counter per split (pruned of its
rarest words when it grows past `max_word_entries`, which makes word counts approximate and is
said so in every output) and one uint32 per document for token lengths, so percentiles are exact
at 4 bytes per document while the text itself is never held.
"""

from __future__ import annotations

import heapq
import io
import re
import time
from array import array
from collections import Counter
from collections.abc import Callable, Iterator
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
from rich.console import Console
from rich.progress import (
    BarColumn,
    MofNCompleteColumn,
    Progress,
    SpinnerColumn,
    TextColumn,
    TimeElapsedColumn,
    TimeRemainingColumn,
)

from gptlab.errors import ConfigError, DataError, GptlabError
from gptlab.fileio import atomic_directory, atomic_write_json, atomic_write_text
from gptlab.mplstyle import plain_text

ANALYSIS_FORMAT = "gptlab-analysis"
ANALYSIS_FORMAT_VERSION = 1
DEFAULT_CONTEXTS = (256, 512, 1024)
"""Context lengths in tokens checked for documents that do not fit, unless others are given."""
MAX_WORD_ENTRIES = 2_000_000
"""Distinct words a split's counter may hold before its rarest words are pruned."""
HISTOGRAM_BINS = 50
"""Bins of the token-length histogram (integer-wide bins when the longest document is shorter)."""
ENCODE_BATCH_DOCUMENTS = 256
"""Documents tokenized per encode_batch call when analysing a raw source."""
SPLITS = ("train", "val")

_STOP_WORDS_TEXT = """
    a about above after again against all am an and any are aren't as at be because been before
    being below between both but by can can't cannot could couldn't did didn't do does doesn't
    doing don't down during each few for from further had hadn't has hasn't have haven't having
    he he'd he'll he's her here here's hers herself him himself his how how's i i'd i'll i'm i've
    if in into is isn't it it's its itself just let's me more most mustn't my myself no nor not
    now of off on once only or other ought our ours ourselves out over own same shan't she she'd
    she'll she's should shouldn't so some such than that that's the their theirs them themselves
    then there there's these they they'd they'll they're they've this those through to too under
    until up very was wasn't we we'd we'll we're we've were weren't what what's when when's where
    where's which while who who's whom why why's will with won't would wouldn't you you'd you'll
    you're you've your yours yourself yourselves also said says s t
"""
STOP_WORDS = frozenset(_STOP_WORDS_TEXT.split())
"""Common English function words, lowercased with a straight apostrophe; excluded from 'content'
word lists and plots."""

# A word: letters/digits with inner apostrophes ("don't") or, between digits, "." and "," ("3.14");
# underscores and hyphens split words.
_WORD = re.compile(r"[^\W_]+(?:'[^\W_]+|(?<=\d)[.,](?=\d)[^\W_]+)*")
# A sentence ends at . ! ? (repeated, e.g. "?!" or "..."), optionally followed by closing quotes or
# brackets, then whitespace or the end of the text; titles such as "Mr." do not end one. The leading
# lookahead lets the scan skip ordinary characters before trying the lookbehinds (5x faster).
_SENTENCE_END = re.compile(
    r"(?=[.!?])(?<!\bMr)(?<!\bMrs)(?<!\bMs)(?<!\bDr)(?<!\bSt)(?<!\bProf)"
    r"[.!?]+[\"'”’»)\]]*(?=\s|$)"
)
_HAS_WORD = re.compile(r"[^\W_]")


def words_of(text: str) -> list[str]:
    """The lowercased words of `text` (curly apostrophes made straight)."""
    return _WORD.findall(text.lower().replace("’", "'"))


def count_sentences(text: str) -> int:
    """Sentences in `text`: pieces with at least one word between sentence ends.

    Text after the last . ! ? counts as a sentence when it has a word, so a document without
    final punctuation still has one sentence. A quoted "Stop!" followed by more text ends a
    sentence: the rule is purely typographic.
    """
    return sum(1 for piece in _SENTENCE_END.split(text) if _HAS_WORD.search(piece))


# ------------------------------------------------------------------------------------ results


@dataclass(frozen=True)
class LengthSummary:
    """Token lengths of documents (EOS not counted)."""

    min: int
    mean: float
    median: float
    p90: float
    p99: float
    max: int
    total_tokens: int
    """Sum of all document lengths, EOS not counted."""


@dataclass(frozen=True)
class Histogram:
    """Token-length histogram: counts[i] documents have bin_edges[i] <= length < bin_edges[i+1]
    (the last bin also includes its right edge)."""

    bin_edges: list[float]
    counts: list[int]


@dataclass(frozen=True)
class ContextFit:
    """How many documents do not fit in one context window."""

    context_length: int
    """Window length in tokens."""
    documents_longer: int
    """Documents with more than context_length tokens (EOS not counted)."""
    percent_longer: float
    """documents_longer as a percentage of the split's documents."""


@dataclass(frozen=True)
class SplitAnalysis:
    """Statistics of one split (or of all splits together)."""

    documents: int
    sentences: int
    words: int
    avg_sentences_per_document: float
    avg_words_per_sentence: float
    vocabulary_size: int
    """Distinct lowercased words (a lower bound when approximate)."""
    type_token_ratio: float
    """vocabulary_size / words."""
    top_words: list[tuple[str, int]]
    """The most frequent words with their counts, stop words included."""
    top_content_words: list[tuple[str, int]]
    """The most frequent words that are not in STOP_WORDS."""
    token_lengths: LengthSummary | None
    """None when the split has no documents."""
    histogram: Histogram | None
    longer_than_context: list[ContextFit]
    approximate: bool
    """True when rare words were pruned from the counter: word-level figures are then estimates."""


@dataclass(frozen=True)
class TopWordsOverlap:
    """How similar the train and val top-K lists are."""

    k: int
    """Length of the longer of the two lists (top_k unless a split has fewer distinct words)."""
    shared: list[str]
    train_only: list[str]
    val_only: list[str]
    overlap: float
    """|train ∩ val| / k."""
    jaccard: float
    """|train ∩ val| / |train ∪ val|."""


@dataclass(frozen=True)
class Consistency:
    """Train/val agreement of the top-K word lists, with and without stop words."""

    all_words: TopWordsOverlap
    content_words: TopWordsOverlap
    per_1k_words: dict[str, tuple[float, float]]
    """For every word of either content top list: (train, val) occurrences per 1,000 words."""


@dataclass
class Analysis:
    """Everything `analyze()` measured; `to_dict()` is what analysis.json holds."""

    source: str
    """The argument analysed: a dataset folder or a source spec."""
    kind: str
    """"dataset" (a prepared folder) or "source" (raw documents)."""
    name: str
    tokenizer: str
    """Tokenizer kind whose ids the token lengths count."""
    contexts: list[int]
    top_k: int
    splits: dict[str, SplitAnalysis]
    """Per split that was read ("train", and "val" when there is one)."""
    total: SplitAnalysis
    """All splits together."""
    consistency: Consistency | None
    """None when there is no val split (see notes)."""
    notes: list[str] = field(default_factory=list)
    """Things the reader should know: fallbacks, missing val split, approximate counts, limits."""
    max_documents: int | None = None
    """Per-split cap on documents read, or None for all."""
    elapsed_s: float = 0.0
    documents_per_s: float = 0.0
    out_dir: Path | None = None
    """Where the files were written (None when nothing was written)."""

    @property
    def approximate(self) -> bool:
        return self.total.approximate

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready dict of all numbers (word lists as [word, count] pairs)."""
        return {
            "format": ANALYSIS_FORMAT,
            "format_version": ANALYSIS_FORMAT_VERSION,
            "source": self.source,
            "kind": self.kind,
            "name": self.name,
            "tokenizer": self.tokenizer,
            "contexts": list(self.contexts),
            "top_k": self.top_k,
            "max_documents": self.max_documents,
            "approximate": self.approximate,
            "splits": {name: _plain(asdict(split)) for name, split in self.splits.items()},
            "total": _plain(asdict(self.total)),
            "consistency": None if self.consistency is None else _plain(asdict(self.consistency)),
            "notes": list(self.notes),
            "elapsed_s": round(self.elapsed_s, 3),
            "documents_per_s": round(self.documents_per_s, 1),
        }


def _plain(value: Any) -> Any:
    """Tuples to lists, recursively, so the dict is exactly what JSON round-trips to."""
    if isinstance(value, dict):
        return {key: _plain(item) for key, item in value.items()}
    if isinstance(value, (list, tuple)):
        return [_plain(item) for item in value]
    return value


# -------------------------------------------------------------------------------- accumulating


class SplitCounter:
    """Streaming counters for one split: add documents one by one, then `summary()`."""

    def __init__(self, max_word_entries: int = MAX_WORD_ENTRIES) -> None:
        if max_word_entries < 1:
            raise ConfigError(f"max_word_entries={max_word_entries} must be at least 1.")
        self.max_word_entries = max_word_entries
        self.documents = 0
        self.sentences = 0
        self.words = 0
        self.word_counts: Counter[str] = Counter()
        self.token_lengths = array("I")
        self.pruned = False

    def add(self, text: str, num_tokens: int) -> None:
        """Count one document of `num_tokens` tokens (EOS not counted)."""
        document_words = words_of(text)
        self.documents += 1
        self.sentences += count_sentences(text)
        self.words += len(document_words)
        self.word_counts.update(document_words)
        self.token_lengths.append(num_tokens)
        if len(self.word_counts) > self.max_word_entries:
            self._prune()

    def _prune(self) -> None:
        """Drop the rarest words until the counter is at most half full."""
        self.pruned = True
        target = self.max_word_entries // 2
        threshold = 1
        while len(self.word_counts) > target:
            self.word_counts = Counter(
                {word: count for word, count in self.word_counts.items() if count > threshold}
            )
            threshold *= 2

    def merged(self, other: SplitCounter) -> SplitCounter:
        """A new counter holding both splits (for the totals)."""
        total = SplitCounter(self.max_word_entries + other.max_word_entries)
        total.documents = self.documents + other.documents
        total.sentences = self.sentences + other.sentences
        total.words = self.words + other.words
        total.word_counts = self.word_counts + other.word_counts
        total.token_lengths = self.token_lengths + other.token_lengths
        total.pruned = self.pruned or other.pruned
        return total

    @property
    def longest(self) -> int:
        """Tokens of the longest document so far (0 when there is none)."""
        if not self.token_lengths:
            return 0
        return int(np.frombuffer(self.token_lengths, dtype=np.uint32).max())

    def summary(self, top_k: int, contexts: list[int], longest: int | None = None) -> SplitAnalysis:
        """Final figures; `longest` sets the histogram range, so splits can share bin edges."""
        vocabulary = len(self.word_counts)
        lengths = np.frombuffer(self.token_lengths, dtype=np.uint32).astype(np.int64)
        return SplitAnalysis(
            documents=self.documents,
            sentences=self.sentences,
            words=self.words,
            avg_sentences_per_document=_ratio(self.sentences, self.documents),
            avg_words_per_sentence=_ratio(self.words, self.sentences),
            vocabulary_size=vocabulary,
            type_token_ratio=_ratio(vocabulary, self.words),
            top_words=_top(self.word_counts.items(), top_k),
            top_content_words=_top(
                ((w, c) for w, c in self.word_counts.items() if w not in STOP_WORDS), top_k
            ),
            token_lengths=_length_summary(lengths),
            histogram=_histogram(lengths, self.longest if longest is None else longest),
            longer_than_context=[_context_fit(lengths, c) for c in contexts],
            approximate=self.pruned,
        )


def _ratio(numerator: int, denominator: int) -> float:
    return numerator / denominator if denominator else 0.0


def _top(items: Any, k: int) -> list[tuple[str, int]]:
    """The k most frequent (word, count) pairs; ties broken alphabetically so output is stable."""
    return heapq.nsmallest(k, items, key=lambda item: (-item[1], item[0]))


def _length_summary(lengths: np.ndarray[Any, Any]) -> LengthSummary | None:
    if lengths.size == 0:
        return None
    p50, p90, p99 = np.percentile(lengths, [50, 90, 99])
    return LengthSummary(
        min=int(lengths.min()),
        mean=float(lengths.mean()),
        median=float(p50),
        p90=float(p90),
        p99=float(p99),
        max=int(lengths.max()),
        total_tokens=int(lengths.sum()),
    )


def _histogram(lengths: np.ndarray[Any, Any], longest: int) -> Histogram | None:
    if lengths.size == 0:
        return None
    if longest < HISTOGRAM_BINS:
        edges = np.arange(0, longest + 2, dtype=np.float64)
    else:
        edges = np.linspace(0, longest, HISTOGRAM_BINS + 1)
    counts, edges = np.histogram(lengths, bins=edges)
    return Histogram([round(float(e), 3) for e in edges], [int(c) for c in counts])


def _context_fit(lengths: np.ndarray[Any, Any], context_length: int) -> ContextFit:
    longer = int(np.count_nonzero(lengths > context_length))
    return ContextFit(context_length, longer, 100.0 * _ratio(longer, int(lengths.size)))


def top_words_overlap(train: list[tuple[str, int]], val: list[tuple[str, int]]) -> TopWordsOverlap:
    """Overlap (|A∩B| / K) and Jaccard (|A∩B| / |A∪B|) of two top-word lists."""
    train_words = [w for w, _ in train]
    val_words = [w for w, _ in val]
    shared = set(train_words) & set(val_words)
    union = set(train_words) | set(val_words)
    k = max(len(train_words), len(val_words))
    return TopWordsOverlap(
        k=k,
        shared=[w for w in train_words if w in shared],
        train_only=[w for w in train_words if w not in shared],
        val_only=[w for w in val_words if w not in shared],
        overlap=_ratio(len(shared), k),
        jaccard=_ratio(len(shared), len(union)),
    )


# ------------------------------------------------------------------------------------ reading


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
    ) -> None:
        self.kind = kind
        self.name = name
        self.tokenizer_kind = tokenizer_kind
        self.splits = splits
        self.read = read
        """read(split): a fresh pass over (document text, token count without EOS)."""
        self.expected = expected
        """Documents per split when known in advance (for the progress bar)."""


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
        if carry.size:
            notes.append(
                f"The {split} split ends with {carry.size} tokens and no EOS; they were counted "
                "as one last document."
            )
            yield tok.decode(carry.tolist()), int(carry.size)

    expected: dict[str, int | None] = {s: int(split_infos[s]["documents"]) for s in splits}
    return _DocumentStream("dataset", directory.resolve().name, tok.kind, splits, read, expected)


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
        "source", source.name, tok.kind, splits, read, dict.fromkeys(splits, None)
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


# ------------------------------------------------------------------------------------ analyze


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
        _check_out(out_dir)

    counters = {split: SplitCounter(max_word_entries) for split in stream.splits}
    with _Progress(progress) as bar:
        for split in stream.splits:
            counter = counters[split]
            expected = stream.expected[split]
            if max_documents is not None:
                expected = min(expected, max_documents) if expected is not None else max_documents
            bar.start(split, expected)
            for text, num_tokens in stream.read(split):
                counter.add(text, num_tokens)
                bar.advance()
                if max_documents is not None and counter.documents >= max_documents:
                    break
    _check_counted(counters, str(source_or_dataset))

    contexts_sorted = sorted(set(contexts_list))
    # One histogram range for every split, so their bins line up (and stack in the plot).
    longest = max(c.longest for c in counters.values())
    summaries = {s: c.summary(top_k, contexts_sorted, longest) for s, c in counters.items()}
    if "val" in counters:
        total_counter = counters["train"].merged(counters["val"])
        total = total_counter.summary(top_k, contexts_sorted, longest)
        consistency: Consistency | None = _consistency(
            summaries["train"], summaries["val"], counters["train"], counters["val"]
        )
    else:
        total = summaries["train"]
        consistency = None
        notes.append(
            "There is no val split, so train/val consistency was not measured "
            "(prepare the source to get a seeded val split, then analyze the dataset)."
        )
    if total.approximate:
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
        write_analysis(analysis, out_dir)
    return analysis


def _consistency(
    train: SplitAnalysis, val: SplitAnalysis, train_counter: SplitCounter, val_counter: SplitCounter
) -> Consistency:
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


def _check_out(out_dir: Path) -> None:
    """Refuse to replace a folder that is not ours: only an empty one or an earlier analysis."""
    if out_dir.exists():
        if not out_dir.is_dir():
            raise DataError(
                f"The output path {out_dir} is a file. Choose another --out (a folder)."
            )
        if any(out_dir.iterdir()) and not (out_dir / "analysis.json").is_file():
            raise DataError(
                f"The output folder {out_dir} exists and does not hold an earlier analysis, so "
                "analyze will not replace it. Choose another --out."
            )


def _check_counted(counters: dict[str, SplitCounter], label: str) -> None:
    if counters["train"].documents == 0:
        raise DataError(
            f"{label} has no train documents to analyse. Check the path, --text-field and "
            "--split-mode."
        )


class _Progress:
    """A rich progress line on stderr: split, documents read, documents/s; silent when off."""

    def __init__(self, enabled: bool) -> None:
        self._progress: Progress | None = None
        if enabled:
            self._progress = Progress(
                SpinnerColumn(),
                TextColumn("analyze {task.description}"),
                BarColumn(),
                MofNCompleteColumn(),
                TextColumn("documents"),
                TimeElapsedColumn(),
                TimeRemainingColumn(),
                console=Console(stderr=True),
                transient=True,
            )
        self._task: Any = None

    def __enter__(self) -> _Progress:
        if self._progress is not None:
            self._progress.start()
        return self

    def __exit__(self, *exc: object) -> None:
        if self._progress is not None:
            self._progress.stop()

    def start(self, split: str, expected: int | None) -> None:
        if self._progress is not None:
            self._task = self._progress.add_task(split, total=expected)

    def advance(self) -> None:
        if self._progress is not None:
            self._progress.advance(self._task)


# ------------------------------------------------------------------------------------ writing


def write_analysis(analysis: Analysis, out_dir: Path) -> None:
    """Write analysis.json, analysis.md and the PNGs into `out_dir`, all or nothing."""
    _check_out(out_dir)
    with atomic_directory(out_dir, overwrite=True) as tmp:
        atomic_write_json(tmp / "analysis.json", analysis.to_dict())
        atomic_write_text(tmp / "analysis.md", render_markdown(analysis))
        for name, png in render_plots(analysis).items():
            (tmp / name).write_bytes(png)
    analysis.out_dir = out_dir


def _fmt_float(value: float, digits: int = 2) -> str:
    return f"{value:,.{digits}f}"


def render_markdown(analysis: Analysis) -> str:
    """The analysis as Markdown tables."""
    columns = [*analysis.splits, "total"] if len(analysis.splits) > 1 else list(analysis.splits)
    stats = {**analysis.splits, "total": analysis.total}
    lines = [
        f"# Dataset analysis: {analysis.name}",
        "",
        f"Source: `{analysis.source}` ({analysis.kind}); token lengths counted with the "
        f"{analysis.tokenizer} tokenizer, EOS not counted.",
        "",
    ]
    if analysis.notes:
        lines += [*(f"- {note}" for note in analysis.notes), ""]
    lines += [
        "## Text",
        "",
        _md_row(["statistic", *columns]),
        _md_row(["---"] * (len(columns) + 1)),
    ]
    for label, row in overview_rows(stats, columns):
        lines.append(_md_row([label, *row]))
    lines += [
        "",
        "## Documents longer than the context",
        "",
        _md_row(["context (tokens)", *columns]),
        _md_row(["---"] * (len(columns) + 1)),
    ]
    for index, context in enumerate(analysis.contexts):
        cells = []
        for column in columns:
            fit = stats[column].longer_than_context[index]
            cells.append(f"{fit.documents_longer:,} ({fit.percent_longer:.2f}%)")
        lines.append(_md_row([f"{context:,}", *cells]))
    for title, attribute in (
        ("Top words (stop words excluded)", "top_content_words"),
        ("Top words (all)", "top_words"),
    ):
        lines += ["", f"## {title}", ""]
        header = ["rank"]
        for column in columns:
            header += [f"{column} word", "count"]
        lines += [_md_row(header), _md_row(["---"] * len(header))]
        lists = [getattr(stats[c], attribute) for c in columns]
        for rank in range(max(len(words) for words in lists)):
            cells = [str(rank + 1)]
            for words in lists:
                word, count = words[rank] if rank < len(words) else ("", 0)
                cells += [word, f"{count:,}" if word else ""]
            lines.append(_md_row(cells))
    lines += ["", "## Train/val consistency", ""]
    if analysis.consistency is None:
        lines.append("No val split: consistency was not measured.")
    else:
        lines += [
            _md_row(["top-K list", "K", "overlap", "Jaccard", "train only", "val only"]),
            _md_row(["---"] * 6),
        ]
        for label, overlap in consistency_rows(analysis.consistency):
            lines.append(
                _md_row(
                    [
                        label,
                        str(overlap.k),
                        f"{overlap.overlap:.2f}",
                        f"{overlap.jaccard:.2f}",
                        ", ".join(overlap.train_only) or "-",
                        ", ".join(overlap.val_only) or "-",
                    ]
                )
            )
    lines += [
        "",
        "## Plots",
        "",
        "![token lengths](token_lengths.png)",
        "",
        "![top words](top_words.png)",
    ]
    if analysis.consistency is not None:
        lines += ["", "![train vs val top words](train_val_top_words.png)"]
    lines.append("")
    return "\n".join(lines)


def _md_row(cells: list[str]) -> str:
    return "| " + " | ".join(cell.replace("|", "\\|") for cell in cells) + " |"


def overview_rows(
    stats: dict[str, SplitAnalysis], columns: list[str]
) -> list[tuple[str, list[str]]]:
    """(label, one formatted cell per column) for the main statistics table."""

    def row(label: str, cell: Any) -> tuple[str, list[str]]:
        return label, [cell(stats[c]) for c in columns]

    def length(attribute: str, digits: int) -> Any:
        def cell(split: SplitAnalysis) -> str:
            if split.token_lengths is None:
                return "-"
            value = getattr(split.token_lengths, attribute)
            return f"{value:,}" if isinstance(value, int) else _fmt_float(value, digits)

        return cell

    return [
        row("documents", lambda s: f"{s.documents:,}"),
        row("sentences", lambda s: f"{s.sentences:,}"),
        row("words", lambda s: f"{s.words:,}"),
        row("sentences / document", lambda s: _fmt_float(s.avg_sentences_per_document)),
        row("words / sentence", lambda s: _fmt_float(s.avg_words_per_sentence)),
        row(
            "vocabulary (distinct words)",
            lambda s: f"{'>= ' if s.approximate else ''}{s.vocabulary_size:,}",
        ),
        row("type-token ratio", lambda s: _fmt_float(s.type_token_ratio, 4)),
        row("tokens (EOS not counted)", length("total_tokens", 0)),
        row("tokens / document: min", length("min", 0)),
        row("tokens / document: mean", length("mean", 1)),
        row("tokens / document: median", length("median", 1)),
        row("tokens / document: p90", length("p90", 1)),
        row("tokens / document: p99", length("p99", 1)),
        row("tokens / document: max", length("max", 0)),
    ]


def consistency_rows(consistency: Consistency) -> list[tuple[str, TopWordsOverlap]]:
    return [
        ("stop words excluded", consistency.content_words),
        ("all words", consistency.all_words),
    ]


# ------------------------------------------------------------------------------------ plots

_TRAIN_COLOR = "#3b6ea8"
_VAL_COLOR = "#e08a2c"
_CONTEXT_COLORS = ("#c0392b", "#8e44ad", "#16a085", "#7f8c8d", "#d35400")
_PLOT_DPI = 120
_THOUSANDS = "{x:,.0f}"
"""Tick label format: thousands separators, no decimals."""


def render_plots(analysis: Analysis) -> dict[str, bytes]:
    """PNG bytes by file name: token_lengths.png, top_words.png and, with val,
    train_val_top_words.png."""
    with plain_text():
        plots = {
            "token_lengths.png": _token_length_plot(analysis),
            "top_words.png": _top_words_plot(analysis),
        }
        if analysis.consistency is not None:
            plots["train_val_top_words.png"] = _train_val_plot(analysis)
    return plots


def _png(figure: Any) -> bytes:
    from matplotlib.backends.backend_agg import FigureCanvasAgg

    FigureCanvasAgg(figure)
    buffer = io.BytesIO()
    figure.savefig(buffer, format="png", dpi=_PLOT_DPI)
    return buffer.getvalue()


def _token_length_plot(analysis: Analysis) -> bytes:
    from matplotlib.figure import Figure
    from matplotlib.ticker import MaxNLocator

    figure = Figure(figsize=(9, 5), layout="constrained")
    axes = figure.add_subplot()
    lengths = analysis.total.token_lengths
    assert lengths is not None  # analyze() refuses an empty corpus
    # Splits share bin edges (see analyze), so their bars stack into the total.
    bottom: np.ndarray[Any, Any] | None = None
    edges = np.zeros(1)
    for split, color in zip(analysis.splits, (_TRAIN_COLOR, _VAL_COLOR), strict=False):
        histogram = analysis.splits[split].histogram
        if histogram is None:
            continue
        edges = np.asarray(histogram.bin_edges)
        counts = np.asarray(histogram.counts)
        axes.bar(
            edges[:-1],
            counts,
            width=np.diff(edges),
            bottom=bottom,
            align="edge",
            color=color,
            edgecolor="white",
            linewidth=0.5,
            label=f"{split} documents ({analysis.splits[split].documents:,})",
        )
        bottom = counts if bottom is None else bottom + counts
    axes.axvline(
        lengths.median,
        color="black",
        linestyle=":",
        linewidth=1.5,
        label=f"median length: {lengths.median:,.0f} tokens",
    )
    # A context far beyond the longest document would squeeze the bars into a sliver: such a
    # context stays in the legend but off the axis.
    longest = float(edges[-1])
    right_edge = longest * 1.05
    for fit in analysis.total.longer_than_context:
        if fit.context_length <= 2 * longest:
            right_edge = max(right_edge, fit.context_length * 1.03)
    for index, fit in enumerate(analysis.total.longer_than_context):
        color = _CONTEXT_COLORS[index % len(_CONTEXT_COLORS)]
        beyond = ", right of the axis" if fit.context_length > right_edge else ""
        label = (
            f"context {fit.context_length:,}: {fit.documents_longer:,} longer "
            f"({_percent(fit.percent_longer)}){beyond}"
        )
        axes.axvline(fit.context_length, color=color, linestyle="--", linewidth=1.5, label=label)
    axes.set_xlim(0, right_edge)
    axes.yaxis.set_major_locator(MaxNLocator(integer=True))
    axes.set_xlabel(f"document length (tokens, {analysis.tokenizer} tokenizer, EOS not counted)")
    axes.set_ylabel("documents per bin")
    axes.set_title(f"Token lengths of {analysis.name} ({_splits_label(analysis)})")
    axes.grid(axis="y", alpha=0.3)
    axes.yaxis.set_major_formatter(_THOUSANDS)
    axes.xaxis.set_major_formatter(_THOUSANDS)
    axes.legend(loc="best", fontsize=9, framealpha=0.9)
    return _png(figure)


def _percent(value: float) -> str:
    """A percentage that never rounds a few documents to 0% or all-but-a-few to 100%."""
    if 0 < value < 0.1:
        return "<0.1%"
    if 99.9 < value < 100:
        return ">99.9%"
    return f"{value:.1f}%"


def _splits_label(analysis: Analysis) -> str:
    return " + ".join(analysis.splits) if len(analysis.splits) > 1 else "train split, no val"


def _top_words_plot(analysis: Analysis) -> bytes:
    from matplotlib.figure import Figure

    words = analysis.total.top_content_words
    height_in = max(3.0, 0.32 * len(words) + 1.4)
    figure = Figure(figsize=(8, height_in), layout="constrained")
    axes = figure.add_subplot()
    labels = [w for w, _ in words][::-1]
    counts = [c for _, c in words][::-1]
    bars = axes.barh(labels, counts, color=_TRAIN_COLOR)
    axes.bar_label(bars, labels=[f"{c:,}" for c in counts], padding=3, fontsize=8)
    axes.set_xlim(0, max(counts, default=1) * 1.15)
    axes.xaxis.set_major_formatter(_THOUSANDS)
    axes.set_xlabel("occurrences (words)")
    axes.set_ylabel("word")
    approximate = ", approximate" if analysis.total.approximate else ""
    axes.set_title(
        f"Top {len(words)} words of {analysis.name}, stop words excluded "
        f"({_splits_label(analysis)}{approximate})"
    )
    axes.grid(axis="x", alpha=0.3)
    return _png(figure)


def _train_val_plot(analysis: Analysis) -> bytes:
    from matplotlib.figure import Figure

    train = analysis.splits["train"]
    val = analysis.splits["val"]
    assert analysis.consistency is not None
    overlap = analysis.consistency.content_words
    # Train's top list in order, then val-only words: every word of either top list is shown.
    words = list(analysis.consistency.per_1k_words)
    per_1k_train = [analysis.consistency.per_1k_words[w][0] for w in words]
    per_1k_val = [analysis.consistency.per_1k_words[w][1] for w in words]
    positions = np.arange(len(words))[::-1]
    bar_height = 0.4
    figure = Figure(figsize=(8.5, max(3.5, 0.36 * len(words) + 1.6)), layout="constrained")
    axes = figure.add_subplot()
    axes.barh(
        positions + bar_height / 2,
        per_1k_train,
        bar_height,
        color=_TRAIN_COLOR,
        label=f"train ({train.words:,} words)",
    )
    axes.barh(
        positions - bar_height / 2,
        per_1k_val,
        bar_height,
        color=_VAL_COLOR,
        label=f"val ({val.words:,} words)",
    )
    axes.set_yticks(positions)
    axes.set_yticklabels([w if w in overlap.shared else f"{w} *" for w in words])
    axes.set_xlabel("frequency (occurrences per 1,000 words of the split)")
    axes.set_ylabel("word (* = in only one top list)")
    axes.set_title(
        f"Train vs val top-{overlap.k} words, stop words excluded: overlap {overlap.overlap:.2f}, "
        f"Jaccard {overlap.jaccard:.2f}"
    )
    axes.grid(axis="x", alpha=0.3)
    figure.legend(loc="outside lower center", ncols=2, fontsize=9, frameon=False)
    return _png(figure)


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
