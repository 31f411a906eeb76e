"""The pictures of `gptlab viz`: one function per PNG, each drawn from a Capture.

Every function takes a Capture and a folder and returns the path of the PNG it wrote. Sizes and
label fonts grow with the prompt so that one token label fits each cell; report/viz.py decides
which pictures a prompt gets (a grid per layer for short prompts, one figure per head for long
ones) and writes the folder.
"""

from __future__ import annotations

import io
import math
from pathlib import Path
from typing import Any

import numpy as np

from gptlab.fileio import atomic_write_bytes
from gptlab.mplstyle import fallback_fonts
from gptlab.report.inspect import NEAR_ZERO, Capture, head_scores, uniform_entropy

_MASKED_COLOUR = "#d9d9d9"
ATTENTION_SCALE = "square-root colour scale, 0 to 1"
"""How attention weights map to colour (said on every colour bar): small weights stay visible."""


def _mono() -> list[str]:
    """Token labels: monospace, then the CJK-capable fallbacks (a bare family would drop them)."""
    return ["monospace", *fallback_fonts()]


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
    ax.set_xticklabels(tokens, rotation=90, fontsize=size, fontfamily=_mono())
    ax.set_yticklabels(tokens, fontsize=size, fontfamily=_mono())
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
    fig.colorbar(image, ax=axes, shrink=0.6, label=f"attention weight ({ATTENTION_SCALE})")
    return _save(fig, out_dir / f"attention_layer{layer}.png")


def draw_attention_head(cap: Capture, layer: int, head: int, out_dir: Path) -> Path:
    """attention_L{l}_H{h}.png: one head, large."""
    import matplotlib.pyplot as plt

    T = len(cap.tokens)
    side = max(6.0, 0.16 * T + 2.5)
    fig, ax = plt.subplots(figsize=(side + 1.2, side), layout="constrained")
    image = _attention_panel(
        ax,
        cap.attention[layer, head],
        cap.tokens,
        f"Layer {layer}, head {head}: row = query token, column = key token; "
        "grey hatched = future (masked)",
        side - 1.5,
    )
    fig.colorbar(image, ax=ax, shrink=0.7, label=f"attention weight ({ATTENTION_SCALE})")
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
        fontfamily=_mono(),
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
    ax.set_yticklabels(cap.tokens, fontsize=_label_fontsize(T, 0.3 * T), fontfamily=_mono())
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


def draw_token_losses(cap: Capture, out_dir: Path) -> Path:
    """token_losses.png: each token's loss given the tokens before it, one bar per token."""
    import matplotlib.pyplot as plt

    T = len(cap.tokens)
    width = max(8.0, 0.17 * T + 2.5)
    fig, ax = plt.subplots(figsize=(width, 4.6), layout="constrained")
    x = np.arange(T)
    loss = np.nan_to_num(cap.token_loss, nan=0.0)
    hit = cap.predicted_top1()
    colours = np.where(hit, "#2a9d8f", "#4c72b0")
    ax.bar(x[1:], loss[1:], color=colours[1:], width=0.8)
    uniform = math.log(cap.vocab_size)
    ax.axhline(uniform, color="#b45309", linestyle="--", linewidth=1.0)
    ax.text(
        -0.5,
        uniform,
        f" uniform guess: ln {cap.vocab_size} = {uniform:.2f}",
        color="#b45309",
        ha="left",
        va="bottom",
        fontsize=8,
    )
    if T <= 48:  # values fit above the bars
        for t in range(1, T):
            ax.text(t, loss[t], f"{loss[t]:.1f}", ha="center", va="bottom", fontsize=7)
    ax.text(0, 0, "n/a", ha="center", va="bottom", fontsize=7, color="#6b7280")
    ax.set_xticks(x)
    ax.set_xticklabels(
        cap.tokens,
        rotation=90,
        fontsize=_label_fontsize(T, width - 1.5),
        fontfamily=_mono(),
    )
    ax.set_xlim(-0.6, T - 0.4)
    ax.set_ylim(0, max(uniform, float(loss.max())) * 1.12 + 0.1)
    ax.set_ylabel("loss (nats) = -ln p(token | tokens before)")
    mean = cap.mean_loss
    ax.set_title(
        "Loss of each token given the tokens before it"
        + (f" (mean {mean:.3f} nats over {T - 1} tokens)" if mean is not None else "")
        + "; green = the model's top-1 guess was right",
        fontsize=11,
    )
    ax.grid(axis="y", alpha=0.3)
    ax.tick_params(axis="x", length=0)
    return _save(fig, out_dir / "token_losses.png")


HEAD_SCORE_TITLES = {
    "entropy": "attention entropy (nats)",
    "previous": "previous-token score",
    "first": "first-token (sink) score",
}
"""Title of each head_scores number, as the grid and the tables name it."""
_VALUES_IN_CELLS = 12
"""Numbers are written in the grid's cells up to this many heads per layer."""


def draw_head_summary(cap: Capture, out_dir: Path) -> Path:
    """head_summary.png: three layer x head heatmaps (entropy, previous-token, first-token)."""
    import matplotlib.pyplot as plt

    scores = head_scores(cap.attention)
    T = len(cap.tokens)
    top = uniform_entropy(T)
    scales = {
        "entropy": (0.0, top, f"nats: 0 = one key, {top:.2f} = spread evenly"),
        "previous": (0.0, 1.0, "mean weight on key i-1 (0 to 1)"),
        "first": (0.0, 1.0, "mean weight on key 0 (0 to 1)"),
    }
    panel_w = max(2.6, 0.55 * cap.n_head + 1.2)
    panel_h = max(2.0, 0.42 * cap.n_layer + 1.0)
    rows = 1 if cap.n_head <= 8 else 3  # many heads: the three maps stacked, not side by side
    fig, axes = plt.subplots(
        rows,
        3 // rows,
        figsize=(3 // rows * panel_w + 1.5, rows * panel_h + 1.4),
        squeeze=False,
        layout="constrained",
    )
    write_values = cap.n_head <= _VALUES_IN_CELLS
    for ax, (name, title) in zip(axes.ravel(), HEAD_SCORE_TITLES.items(), strict=True):
        values = scores[name]
        low, high, bar_label = scales[name]
        image = ax.imshow(
            values,
            cmap="viridis",
            vmin=low,
            vmax=high if high > low else low + 1.0,
            aspect="auto",
            interpolation="nearest",
        )
        if write_values:
            for layer in range(cap.n_layer):
                for head in range(cap.n_head):
                    value = values[layer, head]
                    bright = (value - low) / ((high - low) or 1.0) > 0.6
                    ax.text(
                        head,
                        layer,
                        f"{value:.2f}",
                        ha="center",
                        va="center",
                        fontsize=8 if cap.n_head <= 8 else 6.5,
                        color="black" if bright else "white",
                    )
        ax.set_xticks(range(cap.n_head))
        ax.set_yticks(range(cap.n_layer))
        ax.set_yticklabels([f"layer {i}" for i in range(cap.n_layer)], fontsize=8)
        ax.tick_params(axis="x", labelsize=8, length=0)
        ax.tick_params(axis="y", length=0)
        ax.set_xlabel("head")
        ax.set_title(title, fontsize=10)
        fig.colorbar(image, ax=ax, label=bar_label, shrink=0.9)
    fig.suptitle(
        f"Attention per head, averaged over query positions 1 to {T - 1} of the prompt",
        fontsize=11,
    )
    return _save(fig, out_dir / "head_summary.png")
