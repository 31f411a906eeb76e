"""Understanding a run: plots, the self-contained report.html, and comparisons of runs.

Everything here reads the files a run folder already has (config.toml, metrics.jsonl, ...) and
never the live training process, so a report can be redrawn at any time, even mid-run.
"""

from gptlab.report.compare import CompareRow, Comparison, compare_runs
from gptlab.report.html import write_report
from gptlab.report.plots import plot_run
from gptlab.report.summary import Measure, RunSummary, summarize_run

__all__ = [
    "CompareRow",
    "Comparison",
    "Measure",
    "RunSummary",
    "compare_runs",
    "plot_run",
    "summarize_run",
    "write_report",
]
