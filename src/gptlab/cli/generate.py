"""`gptlab generate`: continue prompts with a trained run's model.

A thin wrapper over gptlab.generate.generate_from_run. Sampling values are checked before the
checkpoint is loaded, so a bad flag fails at once. One prompt with one sample streams to the
terminal token by token; several are printed when all are done (their tokens interleave).
`--next-token-draws N` generates no text: it prints the next-token distribution after each
prompt and N draws from it (gptlab.next_token).
"""

from __future__ import annotations

import json
import warnings
from pathlib import Path

import typer
from rich import box
from rich.table import Table
from rich.text import Text

from gptlab.cli.app import app, console, err_console
from gptlab.cli.options import Checkpoint, Device, RunDir
from gptlab.errors import ConfigError
from gptlab.generate import Generation, SamplingConfig, generate_from_run
from gptlab.next_token import (
    MAX_DRAWS,
    TOP_TOKENS,
    NextTokenDraws,
    check_draws,
    next_token_draws_from_run,
    other_tokens,
)

EXTRA_DRAWN_ROWS = 10
"""Drawn tokens outside the top ones shown in the table; the rest share one row (JSON has all)."""


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
    next_token_draws: int | None = typer.Option(
        None,
        "--next-token-draws",
        help=f"Generate no text: draw the next token after each prompt this many times (1 to "
        f"{MAX_DRAWS:,}) with the sampling settings, and print the {TOP_TOKENS} likeliest "
        f"tokens and up to {EXTRA_DRAWN_ROWS} drawn ones outside them: probability after the "
        "settings, raw probability, count, share. Default: generate text.",
        show_default=False,
    ),
    as_json: bool = typer.Option(
        False,
        "--json",
        help="Print a JSON list of {prompt, sample, text, tokens, stop_reason} (with "
        "--next-token-draws: one {prompt, entropy, tokens, other, ...} per prompt). "
        "Default: text.",
    ),
    device: Device = "auto",
) -> None:
    """Continue prompts with a trained model: greedy, temperature, top-k, top-p, repetition
    penalty, stop strings, a seed and several samples, with a KV cache.

    Examples:

      gptlab generate runs/t --prompt "Once upon a time" --temperature 0.7 --top-k 20

      gptlab generate runs/t -p "Once upon a" -t 2 --top-k 0 --next-token-draws 1000 --seed 1
    """
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
    if next_token_draws is not None:
        check_draws(next_token_draws)
        if num_samples != 1:
            raise ConfigError(
                "--num-samples does not apply with --next-token-draws (no text is generated): "
                "drop it, and set the number of draws with --next-token-draws."
            )
        with warnings.catch_warnings(record=True) as caught:
            warnings.simplefilter("always")
            results = next_token_draws_from_run(
                run, prompts, sampling, next_token_draws, checkpoint=checkpoint, device=device
            )
        for warning in caught:
            err_console.print(f"[yellow]warning:[/] {warning.message}", highlight=False)
        if as_json:
            typer.echo(json.dumps([_draws_as_dict(r, sampling) for r in results]))
        else:
            for result in results:
                _print_draws(result, sampling)
        return
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


def _settings(sampling: SamplingConfig) -> str:
    if sampling.is_greedy:
        text = "greedy"
    else:
        text = f"temperature {sampling.temperature:g}, top-k {sampling.top_k or 'off'}"
        text += f", top-p {sampling.top_p:g}" if sampling.top_p < 1.0 else ""
    if sampling.repetition_penalty != 1.0:
        text += f", repetition penalty {sampling.repetition_penalty:g}"
    return text


def _percent(fraction: float) -> str:
    """12.34%, two significant digits below 0.1% (a 50k vocabulary's usual case), "0" for a cut
    token."""
    if fraction == 0.0:
        return "0"
    if fraction >= 1e-3:
        return f"{100 * fraction:.2f}%"
    return f"{100 * fraction:#.2g}%" if fraction >= 1e-6 else "<0.0001%"


def _print_draws(result: NextTokenDraws, sampling: SamplingConfig) -> None:
    """The likeliest tokens and the drawn ones as a table: boxed on a terminal, plain when piped."""
    from gptlab.report.inspect import token_label

    piped = not console.is_terminal
    seed = "a fresh seed" if sampling.seed is None else f"seed {sampling.seed}"
    title = (
        f"Next token after {result.prompt!r} ({_settings(sampling)}): "
        f"{result.draws:,} draws, {seed}"
    )
    console.print(title, markup=False, highlight=False, soft_wrap=True)
    table = Table(
        box=None if piped else box.SIMPLE_HEAD,
        header_style="" if piped else "bold",
        pad_edge=False,
    )
    table.add_column("token")
    table.add_column("id", justify="right")
    table.add_column("probability", justify="right")
    table.add_column("raw", justify="right")
    table.add_column("count", justify="right")
    table.add_column("share", justify="right")
    shown = min(len(result.tokens), TOP_TOKENS + EXTRA_DRAWN_ROWS)
    for index, token in enumerate(result.tokens[:shown]):
        if index == TOP_TOKENS:
            table.add_section()  # below: drawn tokens outside the likeliest
        table.add_row(
            Text(token_label(token.text, 16)),
            str(token.token_id),
            _percent(token.probability),
            _percent(token.raw_probability),
            f"{token.count:,}",
            _percent(token.count / result.draws),
        )
    rest = other_tokens(result, shown)
    if rest.tokens:
        table.add_row(
            f"({rest.tokens:,} others)",
            "",
            _percent(rest.probability),
            _percent(rest.raw_probability),
            f"{rest.count:,}",
            _percent(rest.count / result.draws),
        )
    console.print(table, highlight=False)
    console.print(
        f"entropy {result.entropy:.3f} nats (raw {result.raw_entropy:.3f}); "
        f"{result.distinct_drawn:,} different tokens drawn. probability: what the sampler draws "
        "from; raw: the model's softmax at temperature 1 with nothing cut; share: count / draws.",
        highlight=False,
        markup=False,
        soft_wrap=True,
    )
    if result.cropped_prompt_tokens:
        err_console.print(
            f"[dim](the prompt's first {result.cropped_prompt_tokens} tokens were cropped)[/]"
        )


def _draws_as_dict(result: NextTokenDraws, sampling: SamplingConfig) -> dict[str, object]:
    rest = other_tokens(result, len(result.tokens))
    return {
        "prompt": result.prompt,
        "draws": result.draws,
        "seed": sampling.seed,
        "greedy": sampling.is_greedy,
        "temperature": sampling.temperature,
        "top_k": sampling.top_k,
        "top_p": sampling.top_p,
        "repetition_penalty": sampling.repetition_penalty,
        "entropy": result.entropy,
        "raw_entropy": result.raw_entropy,
        "distinct_drawn": result.distinct_drawn,
        "cropped_prompt_tokens": result.cropped_prompt_tokens,
        "tokens": [
            {
                "id": t.token_id,
                "text": t.text,
                "probability": t.probability,
                "raw_probability": t.raw_probability,
                "count": t.count,
                "share": t.count / result.draws,
            }
            for t in result.tokens
        ],
        "other": {
            "tokens": rest.tokens,
            "probability": rest.probability,
            "raw_probability": rest.raw_probability,
            "count": rest.count,
        },
    }
