"""Hyperparameter sweeps: many training runs from one TOML spec, resumable, with a summary.

A spec file looks like this (every key of [sweep] except `preset` has a default)::

    [sweep]
    name = "lr_width"          # a plain name; the default output folder is sweeps/<name>
    out = "sweeps/lr_width"    # output folder, relative to this spec file's folder
    method = "grid"            # grid (every combination), random (seeded) or optuna (TPE, seeded)
    trials = 8                 # random / optuna only: how many trials
    seed = 0                   # seed of the random / optuna choice of trials
    preset = "tiny"            # the config every trial starts from
    metric = "val_loss"        # minimised: val_loss, val_ppl, best_val_loss, train_loss, ...

    [base]                     # overrides for every trial: tables or dotted keys
    "train.max_steps" = 200
    data.path = "../data/builtin_char"   # relative paths are relative to this spec file

    [parameters]               # dotted field -> list of values, or a range; wins over [base]
    "optim.lr" = [1e-3, 3e-3]
    "model.n_embd" = [32, 64]
    "model.dropout" = { min = 0.0, max = 0.3 }        # random / optuna only
    "optim.weight_decay" = { min = 1e-3, max = 0.3, log = true }

Each trial's config is preset -> [base] -> the trial's values, validated like any config; an
invalid combination (say n_embd not divisible by n_head) is recorded as a failed trial with its
message, and the sweep goes on. Trial `i` trains with gptlab.train.train in `<out>/trials/<id>`;
`<out>/sweep.json` (written atomically after every change) records each trial's values, status
(pending, running, done, failed), results and error. Running the same spec again resumes: done
and failed trials are kept (failed ones re-run with `retry_failed`), a trial left `running` by a
crash or Ctrl-C continues from its newest checkpoint. Trials are matched to the record by a
fingerprint of preset, base and values, so after an edit of the spec the trials that still match
are kept and the others are set aside (folders untouched). The summary (summary.md/.csv/.html and
plots in `<out>`) ranks the trials, shows each parameter's effect (mean and best metric per value)
and which parameter mattered most, and a compare page of all finished runs in `<out>/compare`.

Trade-off: trials run one after another in this process, the simplest thing that resumes exactly
and shares one device; a parallel sweep is several sweeps over disjoint specs.
"""

from gptlab.sweep.analysis import ParameterEffect, ValueEffect, parameter_effects, rank_trials
from gptlab.sweep.check import TrialCheck, check_trials
from gptlab.sweep.results import read_metrics, run_results
from gptlab.sweep.runner import SweepInterrupted, SweepResult, run_sweep, summarize_sweep
from gptlab.sweep.spec import (
    METHODS,
    METRICS,
    Parameter,
    SweepSpec,
    TrialPlan,
    format_value,
    load_spec,
    plan_trials,
    trial_config,
    trial_dir,
    trial_fingerprint,
    trial_id,
)
from gptlab.sweep.state import (
    STATE_FORMAT,
    STATE_VERSION,
    STATUSES,
    Reconciliation,
    SweepState,
    TrialRecord,
    load_state,
    reconcile,
)
from gptlab.sweep.summary import Summary, write_summary

__all__ = [
    "METHODS",
    "METRICS",
    "STATE_FORMAT",
    "STATE_VERSION",
    "STATUSES",
    "Parameter",
    "ParameterEffect",
    "Reconciliation",
    "Summary",
    "SweepInterrupted",
    "SweepResult",
    "SweepSpec",
    "SweepState",
    "TrialCheck",
    "TrialPlan",
    "TrialRecord",
    "ValueEffect",
    "check_trials",
    "format_value",
    "load_spec",
    "load_state",
    "parameter_effects",
    "plan_trials",
    "rank_trials",
    "read_metrics",
    "reconcile",
    "run_results",
    "run_sweep",
    "summarize_sweep",
    "trial_config",
    "trial_dir",
    "trial_fingerprint",
    "trial_id",
    "write_summary",
]
