"""Benchmark `gptlab prepare` with GPT-2 BPE against a single-process tiktoken loop.

    python bench/prepare.py [--workers 2] [--copies 10]

Builds a corpus from the shared real texts (TinyStories sample, Tiny Shakespeare, WikiText-2
valid), one document per story / paragraph block / article, written as <|endoftext|>-terminated
text to a temporary .txt, plus a copy repeated --copies times. For each size it runs, each in its
own subprocess so memory figures belong to one run:

- baseline: the documents read into a list first (not timed), then `encode_ordinary` on each, in
  one process (tiktoken's own GPT-2 encoding, from a private copy of the offline cache);
- prepare: `gptlab.data.prepare.prepare` with --workers processes, timed end to end (reading,
  encoding, val draw, shard writing, sha256, meta.json).

Peak RSS is reported twice: the run's main process (VmHWM, read by the child itself) and the
whole process tree (main + forkserver + workers, summed, sampled every 20 ms from /proc). Prints
a Markdown table on stdout. Needs ../shared/data beside the checkout; no network.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

REPO_ROOT = Path(__file__).resolve().parents[1]
SHARED_DATA = (REPO_ROOT / ".." / "shared" / "data").resolve()
EOT = "<|endoftext|>"
PAGE_BYTES = os.sysconf("SC_PAGE_SIZE")


def build_corpus(directory: Path, copies: int) -> tuple[Path, Path]:
    """Write corpus_1x.txt and corpus_<copies>x.txt; every document ends with the EOT marker."""
    from gptlab.data.sources import text_documents

    parts = [
        (SHARED_DATA / "tinystories" / "TinyStoriesV2-GPT4-train.first10000lines.txt", "eot"),
        (SHARED_DATA / "tinyshakespeare" / "input.txt", "blank"),
        (SHARED_DATA / "wikitext-2-raw" / "wiki.valid.raw", "wikitext"),
    ]
    chunks = []
    for path, mode in parts:
        for document in text_documents(path, split_mode=mode):
            chunks.append(f"{document}\n{EOT}\n")
    text = "".join(chunks)
    small = directory / "corpus_1x.txt"
    small.write_text(text, encoding="utf-8")
    large = directory / f"corpus_{copies}x.txt"
    with large.open("w", encoding="utf-8") as handle:
        for _ in range(copies):
            handle.write(text)
    return small, large


def vm_hwm_kb() -> int:
    """Peak resident memory of this process in KiB, from /proc/self/status."""
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith("VmHWM:"):
            return int(line.split()[1])
    return -1


def child_baseline(corpus: Path, cache_dir: str) -> dict[str, float]:
    os.environ["TIKTOKEN_CACHE_DIR"] = cache_dir
    import tiktoken

    from gptlab.data.sources import text_documents

    encoding = tiktoken.get_encoding("gpt2")
    documents = list(text_documents(corpus, split_mode="eot"))
    start = time.perf_counter()
    tokens = 0
    for document in documents:
        tokens += len(encoding.encode_ordinary(document))
    seconds = time.perf_counter() - start
    return {"documents": len(documents), "tokens": tokens, "seconds": seconds}


def child_prepare(corpus: Path, out: Path, workers: int) -> dict[str, float]:
    from gptlab.data.prepare import prepare

    start = time.perf_counter()
    result = prepare(
        str(corpus),
        out,
        tokenizer="gpt2",
        tokenizer_dir=SHARED_DATA / "gpt2_tokenizer",
        split_mode="eot",
        num_workers=workers,
        progress=False,
    )
    seconds = time.perf_counter() - start
    documents = sum(c.documents for c in result.splits.values())
    with_eos = sum(c.tokens for c in result.splits.values())
    return {"documents": documents, "tokens": with_eos - documents, "seconds": seconds}


def _tree_rss_bytes(root: int) -> int:
    """Summed RSS of `root` and all its descendants."""
    parents: dict[int, int] = {}
    for entry in os.listdir("/proc"):
        if entry.isdigit():
            try:
                stat = Path(f"/proc/{entry}/stat").read_text()
            except OSError:
                continue
            parents[int(entry)] = int(stat.rsplit(")", 1)[1].split()[1])
    tree, frontier = {root}, [root]
    while frontier:
        pid = frontier.pop()
        for child, parent in parents.items():
            if parent == pid and child not in tree:
                tree.add(child)
                frontier.append(child)
    total = 0
    for pid in tree:
        try:
            total += int(Path(f"/proc/{pid}/statm").read_text().split()[1]) * PAGE_BYTES
        except OSError:
            continue
    return total


def run_child(args: list[str]) -> dict[str, float]:
    """Run this script as a child; returns its JSON result plus the process tree's peak RSS."""
    process = subprocess.Popen(
        [sys.executable, __file__, "--child", *args], stdout=subprocess.PIPE, text=True
    )
    peak = 0
    done = threading.Event()

    def sample() -> None:
        nonlocal peak
        while not done.is_set():
            peak = max(peak, _tree_rss_bytes(process.pid))
            time.sleep(0.02)

    sampler = threading.Thread(target=sample, daemon=True)
    sampler.start()
    stdout, _ = process.communicate()
    done.set()
    sampler.join()
    if process.returncode != 0:
        raise SystemExit(f"child {args} failed with exit code {process.returncode}")
    result: dict[str, float] = json.loads(stdout.strip().splitlines()[-1])
    result["tree_peak_mb"] = peak / 2**20
    return result


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--workers", type=int, default=2, help="prepare's worker processes")
    parser.add_argument(
        "--copies", type=int, default=10, help="size of the large corpus, in copies"
    )
    parser.add_argument("--child", nargs="+", help=argparse.SUPPRESS)
    args = parser.parse_args()

    if args.child:
        kind, *rest = args.child
        if kind == "baseline":
            result = child_baseline(Path(rest[0]), rest[1])
        else:
            result = child_prepare(Path(rest[0]), Path(rest[1]), int(rest[2]))
        result["main_peak_mb"] = vm_hwm_kb() / 1024
        print(json.dumps(result))
        return

    if not (SHARED_DATA / "gpt2_tokenizer" / "tiktoken_cache").is_dir():
        raise SystemExit(f"shared data not found at {SHARED_DATA}; this benchmark needs it")
    with tempfile.TemporaryDirectory(prefix="gptlab-bench-prepare-") as tmp:
        work = Path(tmp)
        cache = work / "tiktoken_cache"  # tiktoken may delete cache files: use a private copy
        shutil.copytree(SHARED_DATA / "gpt2_tokenizer" / "tiktoken_cache", cache)
        corpora = build_corpus(work, args.copies)
        rows = []
        for corpus in corpora:
            base = run_child(["baseline", str(corpus), str(cache)])
            prep = run_child(
                ["prepare", str(corpus), str(work / f"out_{corpus.stem}"), str(args.workers)]
            )
            if base["tokens"] != prep["tokens"]:
                print(
                    f"warning: token counts differ ({base['tokens']} vs {prep['tokens']})",
                    file=sys.stderr,
                )
            rows.append((corpus, corpus.stat().st_size / 1e6, base, prep))

    print(f"cpus: {os.cpu_count()}, load average before the last run: {os.getloadavg()[0]:.2f}\n")
    print(
        "| corpus | MB | documents | tokens | method | seconds | tokens/s | vs loop "
        "| main peak RSS MB | tree peak RSS MB |"
    )
    print("|---|---:|---:|---:|---|---:|---:|---:|---:|---:|")
    for corpus, size_mb, base, prep in rows:
        for label, r in (
            ("tiktoken loop, 1 process", base),
            (f"prepare, {args.workers} workers", prep),
        ):
            cells = [
                corpus.stem.split("_")[1],
                f"{size_mb:.1f}",
                f"{r['documents']:,.0f}",
                f"{r['tokens']:,.0f}",
                label,
                f"{r['seconds']:.2f}",
                f"{r['tokens'] / r['seconds']:,.0f}",
                f"{base['seconds'] / r['seconds']:.2f}x",
                f"{r['main_peak_mb']:.0f}",
                f"{r['tree_peak_mb']:.0f}",
            ]
            print("| " + " | ".join(cells) + " |")
    small_peak, large_peak = rows[0][3]["tree_peak_mb"], rows[-1][3]["tree_peak_mb"]
    print(f"\nprepare tree peak RSS, {args.copies}x / 1x: {large_peak / small_peak:.2f}")


if __name__ == "__main__":
    main()
