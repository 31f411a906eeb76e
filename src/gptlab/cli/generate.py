"""`gptlab generate`: continue prompts with a trained run's model.

A thin wrapper over gptlab.generate.generate_from_run. Sampling values are checked before the
checkpoint is loaded, so a bad flag fails at once. One prompt with one sample streams to the
terminal token by token; several are printed when all are done (their tokens interleave).
"""

from __future__ import annotations

import json
import warnings
from pathlib import Path

import typer

from gptlab.cli.app import app, console, err_console
from gptlab.cli.options import Checkpoint, Device, RunDir
from gptlab.errors import ConfigError
from gptlab.generate import Generation, SamplingConfig, generate_from_run


def _unescape(text: str) -> str:
    """Read \\n and \\t typed on a command line as newline and tab."""
    return text.replace("\\n", "\n").replace("\\t", "\t")


def _read_prompt_file(path: Path) -> list[str]:
    if not path.is_file():
        raise ConfigError(f"Prompt file {path} does not exist (or is not a file): check the path.")
    try:
        lines = path.read_text(encoding="utf-8").splitlines()
    except UnicodeDecodeError as exc:
        raise ConfigError(f"Prompt file {path} is not UTF-8 text ({exc.reason}).") from exc
    prompts = [_unescape(line) for line in lines if line.strip()]
    if not prompts:
        raise ConfigError(f"Prompt file {path} has no prompts: write one prompt per line.")
    return prompts


@app.command()
def generate(
    run: RunDir,
    checkpoint: Checkpoint = "latest",
    prompt: list[str] = typer.Option(
        [],
        "--prompt",
        "-p",
        help="Text to continue; repeat for a batch; \\n is a newline. Default: one empty prompt "
        "(start a new document).",
        show_default=False,
    ),
    prompt_file: Path | None = typer.Option(
        None,
        "--prompt-file",
        help="UTF-8 file with one prompt per line (blank lines skipped), added after --prompt. "
        "No default.",
        show_default=False,
    ),
    max_new_tokens: int = typer.Option(
        100,
        "--max-new-tokens",
        "-n",
        help="Tokens to generate per sample, at most (1 to 1,000,000). Default: 100.",
        show_default=False,
    ),
    temperature: float = typer.Option(
        0.7,
        "--temperature",
        "-t",
        help="Sampling temperature: 0 = greedy, else at least 1e-4; higher = more random. "
        "Default: 0.7.",
        show_default=False,
    ),
    top_k: int = typer.Option(
        20,
        "--top-k",
        help="Sample among the k most likely tokens; 0 = no cut. Default: 20.",
        show_default=False,
    ),
    top_p: float = typer.Option(
        1.0,
        "--top-p",
        help="Nucleus sampling: smallest token set with this total probability, in (0, 1]; "
        "1 = off. Default: 1.0.",
        show_default=False,
    ),
    repetition_penalty: float = typer.Option(
        1.0,
        "--repetition-penalty",
        help="Penalty (> 0) on tokens already in the prompt or output; 1 = off, 1.1-1.3 "
        "discourages repeats. Default: 1.0.",
        show_default=False,
    ),
    greedy: bool = typer.Option(
        False, "--greedy", help="Always take the most likely token. Default: sample."
    ),
    stop: list[str] = typer.Option(
        [],
        "--stop",
        help="Stop a sample when this string appears (repeatable; \\n is a newline); the text "
        "is cut before it. Default: stop only at end-of-text.",
        show_default=False,
    ),
    no_stop_at_eos: bool = typer.Option(
        False,
        "--no-stop-at-eos",
        help="Keep generating past the end-of-text token. Default: stop there.",
    ),
    seed: int | None = typer.Option(
        None,
        "--seed",
        help="Random seed (0 to 2**63 - 1), for output that repeats exactly. Default: a fresh "
        "seed each run.",
        show_default=False,
    ),
    num_samples: int = typer.Option(
        1,
        "--num-samples",
        help="Samples per prompt (1 to 1024, drawn as one batch). Default: 1.",
        show_default=False,
    ),
    as_json: bool = typer.Option(
        False,
        "--json",
        help="Print a JSON list of {prompt, sample, text, tokens, stop_reason}. Default: text.",
    ),
    device: Device = "auto",
) -> None:
    """Continue prompts with a trained model: greedy, temperature, top-k, top-p, repetition
    penalty, stop strings, a seed and several samples, with a KV cache."""
    sampling = SamplingConfig(
        max_new_tokens=max_new_tokens,
        temperature=temperature,
        top_k=top_k,
        top_p=top_p,
        repetition_penalty=repetition_penalty,
        greedy=greedy,
        stop_at_eos=not no_stop_at_eos,
        stop=tuple(_unescape(s) for s in stop),
        seed=seed,
        num_samples=num_samples,
    )
    prompts = [_unescape(p) for p in prompt]
    if prompt_file is not None:
        prompts += _read_prompt_file(prompt_file)
    if not prompts:
        prompts = [""]
    stream = len(prompts) == 1 and num_samples == 1 and not as_json
    prompt_shown = False

    def on_token(_: int, text: str) -> None:
        nonlocal prompt_shown
        if not prompt_shown:  # shown once the model is loaded, so an error prints alone
            console.print(prompts[0], style="bold", end="", markup=False, highlight=False)
            prompt_shown = True
        console.print(text, end="", markup=False, highlight=False, soft_wrap=True)

    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        generations = generate_from_run(
            run,
            prompts,
            sampling,
            checkpoint=checkpoint,
            device=device,
            on_token=on_token if stream else None,
        )
    for warning in caught:
        err_console.print(f"[yellow]warning:[/] {warning.message}", highlight=False)
    if as_json:
        typer.echo(json.dumps([_as_dict(g, i % num_samples) for i, g in enumerate(generations)]))
    elif stream:
        if not prompt_shown:
            console.print(prompts[0], style="bold", end="", markup=False, highlight=False)
        console.print()
        err_console.print(f"[dim]({_ending(generations[0])})[/]")
    else:
        for i, g in enumerate(generations):
            label = f"prompt {i // num_samples + 1}" + (
                f", sample {i % num_samples + 1}" if num_samples > 1 else ""
            )
            console.rule(f"{label} ({_ending(g)})")
            console.print(g.prompt, style="bold", end="", markup=False, highlight=False)
            console.print(g.text, markup=False, highlight=False, soft_wrap=True)


def _ending(g: Generation) -> str:
    reasons = {"eos": "end of text", "stop": "stop string", "length": "token limit"}
    return f"{len(g.tokens)} tokens, stopped at {reasons.get(g.stop_reason, g.stop_reason)}"


def _as_dict(g: Generation, sample: int) -> dict[str, object]:
    return {
        "prompt": g.prompt,
        "sample": sample,
        "text": g.text,
        "tokens": g.tokens,
        "stop_reason": g.stop_reason,
        "cropped_prompt_tokens": g.cropped_prompt_tokens,
    }
