"""Evaluation of a trained model: loss, perplexity, bits per byte and accuracy; HellaSwag; LAMBADA.

scoring.py scores token streams (a prepared split, a raw text) with strided sliding windows;
benchmarks.py runs HellaSwag and LAMBADA from their jsonl files; run.py evaluates a run's
checkpoint as `gptlab eval` does and merges the results into RUN/eval.json; progress.py is their
progress bar. Each module states its conventions and its trade-off. The names below are the
package's interface.
"""

from gptlab.evaluate.benchmarks import (
    ACC_NORM_CONVENTIONS,
    HELLASWAG_ENDINGS,
    HELLASWAG_KEYS,
    evaluate_hellaswag,
    evaluate_lambada,
    normalised_choice,
)
from gptlab.evaluate.run import EVAL_FILE, evaluate_run, merge_eval_file, read_text_file
from gptlab.evaluate.scoring import (
    EvalResult,
    Window,
    evaluate_split,
    evaluate_text,
    evaluate_tokens,
    model_context_length,
    plan_windows,
)

__all__ = [
    "ACC_NORM_CONVENTIONS",
    "EVAL_FILE",
    "HELLASWAG_ENDINGS",
    "HELLASWAG_KEYS",
    "EvalResult",
    "Window",
    "evaluate_hellaswag",
    "evaluate_lambada",
    "evaluate_run",
    "evaluate_split",
    "evaluate_text",
    "evaluate_tokens",
    "merge_eval_file",
    "model_context_length",
    "normalised_choice",
    "plan_windows",
    "read_text_file",
]
