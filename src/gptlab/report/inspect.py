"""Look inside a trained model on one prompt: attention weights and activations, as pictures.

`capture` runs one forward pass with the explicit attention backend (which keeps the softmax
weights) and forward hooks that copy the residual stream, the attention outputs and the MLP's
GELU outputs; the model file is not changed and its backend is restored afterwards. `draw_viz`
turns a Capture into PNGs and a self-contained viz/index.html.

Trade-off: the explicit backend materialises every (T x T) attention matrix and the hooks keep
every activation, so this is for short prompts (pictures stay readable up to ~48 tokens; prompts
are cropped to MAX_PROMPT_TOKENS), not for long texts or batches.
"""

from __future__ import annotations

import base64
import html
import io
import math
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import torch
from torch import nn

from gptlab.config import require_utf8
from gptlab.errors import ConfigError
from gptlab.fileio import atomic_directory, atomic_write_bytes, atomic_write_text
from gptlab.model.gpt import GPT, Block
from gptlab.mplstyle import plain_text
from gptlab.outputs import VIZ, check_output

MAX_PROMPT_TOKENS = 64
"""Prompts are cropped to their first this many tokens: bigger pictures stop being readable."""
TOP_NEURONS = 5
"""Most active MLP neurons kept per token and layer."""
NEAR_ZERO = 0.05
"""An MLP activation with |a| below this counts as near zero."""
_MASKED_COLOUR = "#d9d9d9"


@dataclass(frozen=True)
class Capture:
    """Everything recorded from one forward pass over a prompt (numpy, float32, on the CPU)."""

    prompt: str
    """The prompt as given."""
    token_ids: list[int]
    """The ids that were run (after cropping)."""
    tokens: list[str]
    """Readable label per token: spaces as '·', newlines as '\\n', tabs as '\\t'."""
    dropped_tokens: int
    """Tokens of the prompt cut off at the end (beyond MAX_PROMPT_TOKENS or the model's context)."""
    attention: np.ndarray[Any, Any]
    """(n_layer, n_head, T, T) softmax weights; row = query position, column = key position."""
    residual: np.ndarray[Any, Any]
    """(n_layer + 1, T, n_embd) residual stream: after the embeddings, then after each block."""
    attn_out: np.ndarray[Any, Any]
    """(n_layer, T, n_embd) what each attention layer adds to the residual stream."""
    mlp_hidden: np.ndarray[Any, Any]
    """(n_layer, T, hidden_dim) MLP hidden activations after the GELU."""

    @property
    def n_layer(self) -> int:
        return int(self.attention.shape[0])

    @property
    def n_head(self) -> int:
        return int(self.attention.shape[1])

    @property
    def residual_norms(self) -> np.ndarray[Any, Any]:
        """(n_layer + 1, T) L2 norm of the residual stream per layer and position."""
        return np.linalg.norm(self.residual, axis=-1)

    @property
    def attn_out_norms(self) -> np.ndarray[Any, Any]:
        """(n_layer, T) L2 norm of each attention layer's output per position."""
        return np.linalg.norm(self.attn_out, axis=-1)

    def top_neurons(
        self, k: int = TOP_NEURONS
    ) -> tuple[np.ndarray[Any, Any], np.ndarray[Any, Any]]:
        """(ids, values), each (n_layer, T, k): the k largest MLP activations per token."""
        k = min(k, self.mlp_hidden.shape[-1])
        ids = np.argsort(-self.mlp_hidden, axis=-1)[..., :k]
        return ids, np.take_along_axis(self.mlp_hidden, ids, axis=-1)


def token_label(text: str, max_chars: int = 12) -> str:
    """A token's text made visible: '·' for spaces, escaped newlines and tabs, long ones cut."""
    label = text.replace(" ", "·").replace("\n", "\\n").replace("\t", "\\t").replace("\r", "\\r")
    label = "".join(ch if ch.isprintable() else f"\\x{ord(ch):02x}" for ch in label)
    if len(label) > max_chars:
        label = label[: max_chars - 1] + "…"
    return label or "∅"


def capture(
    model: GPT,
    tokenizer: Any,
    prompt: str,
    *,
    device: str | torch.device | None = None,
) -> Capture:
    """One forward pass over the prompt, recording attention weights and activations."""
    if not prompt or not prompt.strip():
        raise ConfigError("The prompt is empty: give some text with --prompt, e.g. 'Once upon'.")
    ids = list(tokenizer.encode(prompt))
    if not ids:
        raise ConfigError(f"The prompt {prompt!r} encodes to no tokens: give some other text.")
    keep = min(MAX_PROMPT_TOKENS, model.cfg.context_length)
    dropped = max(0, len(ids) - keep)
    ids = ids[:keep]
    dev = torch.device(device) if device is not None else next(model.parameters()).device

    blocks = model.blocks
    residual: list[torch.Tensor] = []
    attn_out: list[torch.Tensor] = []
    mlp_hidden: list[torch.Tensor] = []

    def keeper(store: list[torch.Tensor]) -> Callable[..., None]:
        def hook(module: nn.Module, inputs: Any, output: torch.Tensor) -> None:
            store.append(output.detach()[0].float().cpu())

        return hook

    saved = [(b.attn.backend, b.attn.store_attention) for b in blocks]
    handles = [model.transformer.drop.register_forward_hook(keeper(residual))]
    for block in blocks:
        handles.append(block.register_forward_hook(keeper(residual)))
        handles.append(block.attn.register_forward_hook(keeper(attn_out)))
        handles.append(block.mlp.gelu.register_forward_hook(keeper(mlp_hidden)))
    was_training = model.training
    try:
        model.eval()
        model.set_attention_backend("explicit", store_attention=True)
        with torch.inference_mode():
            model(torch.tensor([ids], dtype=torch.long, device=dev))
        attention = [_stored_attention(b) for b in blocks]
    finally:
        for handle in handles:
            handle.remove()
        for block, (backend, store) in zip(blocks, saved, strict=True):
            block.attn.backend = backend
            block.attn.store_attention = store
            block.attn.last_attention = None
        model.train(was_training)

    return Capture(
        prompt=prompt,
        token_ids=ids,
        tokens=[token_label(tokenizer.decode([i])) for i in ids],
        dropped_tokens=dropped,
        attention=torch.stack(attention).numpy(),
        residual=torch.stack(residual).numpy(),
        attn_out=torch.stack(attn_out).numpy(),
        mlp_hidden=torch.stack(mlp_hidden).numpy(),
    )


def _stored_attention(block: Block) -> torch.Tensor:
    weights = block.attn.last_attention
    if weights is None:
        raise RuntimeError("the explicit attention backend kept no weights for this block")
    return weights[0].float().cpu()  # (n_head, T, T)


# ---------------------------------------------------------------------------------------------
# Pictures


def check_layer_head(cap: Capture, layer: int | None, head: int | None) -> None:
    """ConfigError naming the valid range when a layer or head index is out of range."""
    if layer is not None and not 0 <= layer < cap.n_layer:
        raise ConfigError(
            f"--layer {layer} is out of range: this model has layers 0 to {cap.n_layer - 1}."
        )
    if head is not None and not 0 <= head < cap.n_head:
        raise ConfigError(
            f"--head {head} is out of range: this model has heads 0 to {cap.n_head - 1}."
        )


def _label_fontsize(num_tokens: int, axis_inches: float = 8.0) -> float:
    """Token-label size in points that fits one label per cell along an axis of that length."""
    points_per_cell = axis_inches * 72.0 / max(1, num_tokens)
    return float(max(5.0, min(11.0, 0.62 * points_per_cell)))


def _save(fig: Any, path: Path) -> Path:
    import matplotlib.pyplot as plt

    buffer = io.BytesIO()
    fig.savefig(buffer, format="png", dpi=110, bbox_inches="tight", facecolor="white")
    plt.close(fig)
    atomic_write_bytes(path, buffer.getvalue())
    return path


def _attention_panel(
    ax: Any, weights: np.ndarray[Any, Any], tokens: list[str], title: str, axis_inches: float
) -> Any:
    """One (T x T) heatmap; the masked future (upper triangle) is grey and hatched, not 0."""
    import matplotlib as mpl
    from matplotlib.colors import PowerNorm
    from matplotlib.patches import Rectangle

    T = len(tokens)
    future = np.triu(np.ones((T, T), dtype=bool), k=1)
    # Masked cells are transparent, so the hatched background below shows through.
    cmap = mpl.colormaps["viridis"].with_extremes(bad=(0.0, 0.0, 0.0, 0.0))
    ax.add_patch(
        Rectangle(
            (-0.5, -0.5),
            T,
            T,
            facecolor=_MASKED_COLOUR,
            edgecolor="#9a9a9a",
            hatch="///",
            linewidth=0,
            zorder=0,
        )
    )
    image = ax.imshow(
        np.ma.masked_array(weights, mask=future),
        cmap=cmap,
        norm=PowerNorm(gamma=0.5, vmin=0.0, vmax=1.0),
        interpolation="nearest",
        zorder=1,
    )
    size = _label_fontsize(T, axis_inches)
    ax.set_xticks(range(T))
    ax.set_yticks(range(T))
    ax.set_xticklabels(tokens, rotation=90, fontsize=size, fontfamily="monospace")
    ax.set_yticklabels(tokens, fontsize=size, fontfamily="monospace")
    ax.set_xlabel("key (attended to)", fontsize=9)
    ax.set_ylabel("query (attending)", fontsize=9)
    ax.set_title(title, fontsize=11)
    ax.tick_params(length=0)
    return image


def draw_attention_layer(cap: Capture, layer: int, out_dir: Path) -> Path:
    """attention_layer{L}.png: every head of one layer in a grid, with one shared colour bar."""
    import matplotlib.pyplot as plt

    T = len(cap.tokens)
    # Two columns for long prompts keep the labels legible when the page scales the image down.
    cols = min(2 if T > 24 else 4, cap.n_head)
    rows = math.ceil(cap.n_head / cols)
    panel = max(3.2, 0.15 * T + 1.2)
    fig, axes = plt.subplots(
        rows,
        cols,
        figsize=(panel * cols + 1.2, panel * rows + 0.8),
        squeeze=False,
        layout="constrained",
    )
    image: Any = None
    for h in range(rows * cols):
        ax = axes[h // cols][h % cols]
        if h >= cap.n_head:
            ax.axis("off")
            continue
        image = _attention_panel(ax, cap.attention[layer, h], cap.tokens, f"head {h}", panel - 1.2)
    fig.suptitle(
        f"Layer {layer} attention ({cap.n_head} heads): row = query token, column = key token; "
        "grey hatched = future (masked)",
        fontsize=12,
    )
    fig.colorbar(image, ax=axes, shrink=0.6, label="attention weight")
    return _save(fig, out_dir / f"attention_layer{layer}.png")


def draw_attention_head(cap: Capture, layer: int, head: int, out_dir: Path) -> Path:
    """attention_L{l}_H{h}.png: one head, large."""
    import matplotlib.pyplot as plt

    T = len(cap.tokens)
    side = max(6.0, 0.24 * T + 2.0)
    fig, ax = plt.subplots(figsize=(side + 1.2, side))
    image = _attention_panel(
        ax, cap.attention[layer, head], cap.tokens, f"Layer {layer}, head {head}", side - 1.5
    )
    fig.colorbar(image, ax=ax, shrink=0.7, label="attention weight")
    return _save(fig, out_dir / f"attention_L{layer}_H{head}.png")


def _layer_names(n_layer: int, with_embedding: bool) -> list[str]:
    names = [f"block {i}" for i in range(n_layer)]
    return ["embed", *names] if with_embedding else names


def _norm_heatmap(
    fig: Any,
    ax: Any,
    values: np.ndarray[Any, Any],
    rows: list[str],
    tokens: list[str],
    label: str,
    axis_inches: float,
) -> None:
    image = ax.imshow(values, aspect="auto", cmap="magma", interpolation="nearest")
    ax.set_xticks(range(len(tokens)))
    ax.set_xticklabels(
        tokens,
        rotation=90,
        fontsize=_label_fontsize(len(tokens), axis_inches),
        fontfamily="monospace",
    )
    ax.set_yticks(range(len(rows)))
    ax.set_yticklabels(rows, fontsize=9)
    ax.set_xlabel("token position")
    ax.tick_params(length=0)
    fig.colorbar(image, ax=ax, label=label, shrink=0.9)


def draw_residual_norms(cap: Capture, out_dir: Path) -> Path:
    """residual_norms.png: norm heatmap (layer x position) and mean norm by layer."""
    import matplotlib.pyplot as plt

    norms = cap.residual_norms
    T = len(cap.tokens)
    rows = _layer_names(cap.n_layer, with_embedding=True)
    fig, (ax_map, ax_line) = plt.subplots(
        1,
        2,
        figsize=(max(8.0, 0.2 * T + 3) + 4.5, 1.0 + 0.45 * len(rows) + 1.6),
        gridspec_kw={"width_ratios": [max(8.0, 0.2 * T + 3), 4.5]},
    )
    _norm_heatmap(fig, ax_map, norms, rows, cap.tokens, "L2 norm", max(8.0, 0.2 * T + 3) - 2)
    ax_map.set_title("Residual stream norm by layer and position")
    x = np.arange(len(rows))
    ax_line.plot(x, norms.mean(axis=1), marker="o", color="#1f77b4", label="mean over tokens")
    ax_line.fill_between(
        x, norms.min(axis=1), norms.max(axis=1), alpha=0.2, color="#1f77b4", label="min - max"
    )
    ax_line.set_xticks(x)
    ax_line.set_xticklabels(rows, rotation=45, ha="right", fontsize=9)
    ax_line.set_ylabel("L2 norm")
    ax_line.set_title("Residual norm by layer")
    ax_line.grid(alpha=0.3)
    ax_line.legend(fontsize=8)
    fig.tight_layout()
    return _save(fig, out_dir / "residual_norms.png")


def draw_mlp_activations(cap: Capture, out_dir: Path) -> Path:
    """mlp_activations.png: histogram of GELU outputs per layer, with the near-zero share."""
    import matplotlib.pyplot as plt

    cols = min(4, cap.n_layer)
    rows = math.ceil(cap.n_layer / cols)
    fig, axes = plt.subplots(rows, cols, figsize=(3.8 * cols, 3.0 * rows + 0.6), squeeze=False)
    for i in range(rows * cols):
        ax = axes[i // cols][i % cols]
        if i >= cap.n_layer:
            ax.axis("off")
            continue
        values = cap.mlp_hidden[i].ravel()
        near_zero = float(np.mean(np.abs(values) < NEAR_ZERO))
        negative = float(np.mean(values < 0))  # GELU input < 0: the neuron is (nearly) off
        ax.hist(values, bins=80, color="#2a9d8f", log=True)
        ax.axvline(0.0, color="black", linewidth=0.6)
        ax.set_title(f"block {i} MLP (after GELU)", fontsize=10)
        ax.text(
            0.97,
            0.95,
            f"|a| < {NEAR_ZERO}: {near_zero:.0%}\na < 0 (off): {negative:.0%}\n"
            f"max {values.max():.2f}",
            transform=ax.transAxes,
            ha="right",
            va="top",
            fontsize=8,
            bbox={"facecolor": "white", "alpha": 0.8, "edgecolor": "#cccccc"},
        )
        ax.set_xlabel("activation")
        ax.grid(alpha=0.3)
    axes[0][0].set_ylabel("count (log)")
    fig.suptitle(
        f"MLP hidden activations over {len(cap.tokens)} tokens x "
        f"{cap.mlp_hidden.shape[-1]} neurons per layer",
        fontsize=12,
    )
    fig.tight_layout()
    return _save(fig, out_dir / "mlp_activations.png")


def draw_top_neurons(cap: Capture, out_dir: Path) -> Path:
    """top_neurons.png: for each token and layer, the most active MLP neuron and its value."""
    import matplotlib.pyplot as plt

    ids, values = cap.top_neurons(1)
    best_ids, best_values = ids[..., 0].T, values[..., 0].T  # (T, n_layer)
    T = len(cap.tokens)
    fig, ax = plt.subplots(figsize=(2.0 + 1.6 * cap.n_layer + 1.5, 1.2 + 0.3 * T))
    image = ax.imshow(best_values, aspect="auto", cmap="YlOrRd", interpolation="nearest")
    text_size = max(5.0, min(9.0, 300.0 / max(T, 1)))
    for t in range(T):
        for layer in range(cap.n_layer):
            value = best_values[t, layer]
            dark = value > best_values.min() + 0.6 * (np.ptp(best_values) or 1.0)
            ax.text(
                layer,
                t,
                f"#{best_ids[t, layer]}  {value:.2f}",
                ha="center",
                va="center",
                fontsize=text_size,
                color="white" if dark else "black",
            )
    ax.set_xticks(range(cap.n_layer))
    ax.set_xticklabels(_layer_names(cap.n_layer, with_embedding=False))
    ax.xaxis.tick_top()
    ax.set_yticks(range(T))
    ax.set_yticklabels(cap.tokens, fontsize=_label_fontsize(T, 0.3 * T), fontfamily="monospace")
    ax.tick_params(length=0)
    ax.set_title("Most active MLP neuron per token (#id  activation)", pad=24)
    fig.colorbar(image, ax=ax, label="activation after GELU", shrink=0.8)
    fig.tight_layout()
    return _save(fig, out_dir / "top_neurons.png")


def draw_attention_outputs(cap: Capture, out_dir: Path) -> Path:
    """attention_outputs.png: attention output norm by layer and position, and value histograms."""
    import matplotlib.pyplot as plt

    T = len(cap.tokens)
    width = max(8.0, 0.2 * T + 3)
    fig, (ax_map, ax_hist) = plt.subplots(
        1,
        2,
        figsize=(width + 4.5, 1.0 + 0.45 * cap.n_layer + 1.8),
        gridspec_kw={"width_ratios": [width, 4.5]},
    )
    rows = _layer_names(cap.n_layer, with_embedding=False)
    _norm_heatmap(fig, ax_map, cap.attn_out_norms, rows, cap.tokens, "L2 norm", width - 2)
    ax_map.set_title("What attention adds to the residual stream (norm)")
    colours = plt.get_cmap("viridis")(np.linspace(0.0, 0.9, cap.n_layer))
    for layer in range(cap.n_layer):
        ax_hist.hist(
            cap.attn_out[layer].ravel(),
            bins=60,
            histtype="step",
            linewidth=1.4,
            color=colours[layer],
            label=rows[layer],
        )
    ax_hist.set_yscale("log")
    ax_hist.set_xlabel("output value (per channel)")
    ax_hist.set_ylabel("count (log)")
    ax_hist.set_title("Attention output values")
    ax_hist.grid(alpha=0.3)
    ax_hist.legend(fontsize=8)
    fig.tight_layout()
    return _save(fig, out_dir / "attention_outputs.png")


_CAPTIONS = {
    "attention": (
        "Each square is one head. Row i shows how much the token at position i (the query) reads "
        "from each earlier token (the keys); every row sums to 1. The grey hatched upper "
        "triangle is the future, which a causal model cannot see. A bright diagonal means "
        "'look at myself', a bright line just below it 'look at the previous token'; a bright "
        "first column is the common 'attend to the first token' resting place."
    ),
    "residual_norms": (
        "Size (L2 norm) of the residual stream after the embeddings and after each block. "
        "Blocks add to it, so norms usually grow with depth; unusual tokens often stand out."
    ),
    "attention_outputs": (
        "How much each attention layer writes into the residual stream at each position, and "
        "the distribution of the values it writes."
    ),
    "mlp_activations": (
        "Histogram of the MLP's hidden activations after GELU. GELU maps negative inputs to "
        "about 0 (minimum -0.17): the share below 0 is how many neurons are off for a token, "
        "and a large share means sparse, selective neurons."
    ),
    "top_neurons": (
        "For every token and layer, the single most active MLP neuron (#id) and its activation. "
        "The same id lighting up on related tokens hints at what that neuron detects."
    ),
}


def _caption(name: str) -> str:
    key = (
        "attention" if name.startswith("attention_L") or name.startswith("attention_layer") else ""
    )
    return _CAPTIONS.get(key or name, "")


def write_index(cap: Capture, pictures: list[Path], out_dir: Path) -> Path:
    """viz/index.html: the prompt, its tokens and every picture, embedded (opens offline)."""
    sections = []
    for path in pictures:
        data = base64.b64encode(path.read_bytes()).decode("ascii")
        sections.append(
            f"<section><h2>{html.escape(path.stem)}</h2>"
            f"<p class='how'>{html.escape(_caption(path.stem))}</p>"
            f"<img alt='{html.escape(path.stem)}' src='data:image/png;base64,{data}'></section>"
        )
    chips = "".join(f"<span class='tok'>{html.escape(t)}</span>" for t in cap.tokens)
    note = (
        f"<p class='note'>The prompt was cropped: its last {cap.dropped_tokens} tokens "
        "are not shown.</p>"
        if cap.dropped_tokens
        else ""
    )
    page = f"""<!DOCTYPE html>
<html lang="en"><head><meta charset="utf-8"><title>gptlab viz</title>
<style>
body {{ font-family: system-ui, sans-serif; margin: 2em auto; max-width: 1200px; color: #222;
       padding: 0 1em; }}
h1 {{ font-size: 1.5em; }} h2 {{ font-size: 1.1em; margin-top: 2em; }}
.prompt {{ background: #f4f4f4; padding: 0.8em; border-radius: 6px; white-space: pre-wrap; }}
.tok {{ display: inline-block; font-family: monospace; background: #e8eef7; margin: 2px;
        padding: 1px 5px; border-radius: 4px; }}
.how {{ color: #555; max-width: 60em; }} .note {{ color: #a33; }}
img {{ max-width: 100%; border: 1px solid #ddd; }}
</style></head><body>
<h1>Inside the model on one prompt</h1>
<div class="prompt">{html.escape(cap.prompt)}</div>
<p>{len(cap.tokens)} tokens, {cap.n_layer} layers, {cap.n_head} heads per layer
(· is a space):</p><div>{chips}</div>{note}
{"".join(sections)}
</body></html>
"""
    path = out_dir / "index.html"
    atomic_write_text(path, page)
    return path


def draw_viz(
    cap: Capture,
    out_dir: str | Path,
    *,
    layer: int | None = None,
    head: int | None = None,
) -> list[Path]:
    """Write every picture of a Capture and viz index.html into out_dir; returns the PNG paths.

    Attention: by default one grid per layer; with `layer` only that layer's grid; with `head`
    that head of each chosen layer as one large heatmap.
    """
    import matplotlib

    matplotlib.use("Agg")
    check_layer_head(cap, layer, head)
    out = Path(out_dir)
    check_output(out, VIZ, overwrite=True)
    # Drawn into a hidden folder that replaces out whole: a failure leaves the old pictures.
    with atomic_directory(out, overwrite=True) as tmp:
        layers = range(cap.n_layer) if layer is None else [layer]
        pictures: list[Path] = []
        with plain_text():  # token labels such as "$$" are text, not mathtext
            for lay in layers:
                if head is None:
                    pictures.append(draw_attention_layer(cap, lay, tmp))
                else:
                    pictures.append(draw_attention_head(cap, lay, head, tmp))
            pictures.append(draw_residual_norms(cap, tmp))
            pictures.append(draw_attention_outputs(cap, tmp))
            pictures.append(draw_mlp_activations(cap, tmp))
            pictures.append(draw_top_neurons(cap, tmp))
        write_index(cap, pictures, tmp)
    return [out / picture.name for picture in pictures]


def visualize_run(
    run_dir: str | Path,
    prompt: str,
    *,
    checkpoint: str | None = None,
    layer: int | None = None,
    head: int | None = None,
    out_dir: str | Path | None = None,
    device: str = "cpu",
) -> list[Path]:
    """Load a run's checkpoint, capture one prompt and draw it into RUN/viz (or out_dir).

    checkpoint: None or "latest", "best", a step number or a folder. Returns the PNG paths;
    index.html is written beside them.
    """
    from gptlab.train.checkpoint import load_run

    if not prompt or not prompt.strip():
        raise ConfigError("The prompt is empty: give some text with --prompt, e.g. 'Once upon'.")
    require_utf8("--prompt", prompt)
    run = load_run(run_dir, None if checkpoint in (None, "latest") else checkpoint, device=device)
    cap = capture(run.model, run.tokenizer, prompt, device=device)
    check_layer_head(cap, layer, head)
    return draw_viz(
        cap, Path(run_dir) / "viz" if out_dir is None else out_dir, layer=layer, head=head
    )
