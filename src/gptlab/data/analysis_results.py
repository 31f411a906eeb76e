"""What `gptlab analyze` measured: the result records, and analysis.json as their to_dict().

Plain frozen dataclasses, so the counting (text_stats.py), the reading (analyze.py) and the
rendering (analysis_report.py, analysis_plots.py) share one definition of every number.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

ANALYSIS_FORMAT = "gptlab-analysis"
ANALYSIS_FORMAT_VERSION = 2
"""2: "counting" and the character-level fields of each split."""


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
    unspaced_documents: int = 0
    """Documents mostly in a script written without spaces (Chinese, Japanese, Thai, ...)."""
    characters: int = 0
    """Letters of those documents (ideographs, kana, ...; no digits, spaces or punctuation)."""
    distinct_characters: int = 0
    top_characters: list[tuple[str, int]] = field(default_factory=list)
    """The most frequent letters of those documents, with their counts."""


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
    """For every word of either content top list: (train, val) occurrences per 1,000 words
    (per 1,000 characters, for every character of either list, when counting characters)."""
    unit: str = "words"
    """"words", or "characters" (then both lists are the top characters: no stop words)."""


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
    counting: str
    """"words", or "characters" when most documents are in a script without spaces."""
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
            "counting": self.counting,
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


def columns_of(analysis: Analysis) -> list[tuple[str, str]]:
    """(key into splits or "total", column label): train, val, total; or "all" for an unsplit
    raw source (its documents are not a train split)."""
    if len(analysis.splits) > 1:
        return [(name, name) for name in analysis.splits] + [("total", "total")]
    (name,) = analysis.splits
    unsplit = analysis.kind == "source" and name == "train"
    return [(name, "all" if unsplit else name)]
