"""The GPT-2 model: causal self-attention, MLP, pre-LayerNorm block, and the GPT that stacks them.

Module names match Hugging Face's GPT2LMHeadModel (transformer.wte, transformer.h.0.attn.c_attn,
lm_head, ...) so export and import are a transpose, not a rename. The model is single-device and
precision-agnostic: autocast, compile and DDP wrap it from outside.

Trade-off: the embedding table and LM head are padded to `cfg.padded_vocab_size` rows for matmul
speed, and `forward` slices the logits back to the true `vocab_size`, so pad ids can never be
sampled or enter the loss (this slice costs a copy of the logits; correctness comes first).
"""

from __future__ import annotations

import dataclasses
import math
from typing import NamedTuple

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from gptlab.config import PRESETS, ModelConfig, preset_config
from gptlab.errors import ConfigError

ATTENTION_BACKENDS = ("sdpa", "explicit")
GPT2_VOCAB_SIZE = 50257
"""Vocabulary of the GPT-2 BPE; parameter counts of the presets are reported with it."""


class LayerKVCache:
    """Keys and values of one attention layer for every cached position."""

    def __init__(self, keys: Tensor, values: Tensor) -> None:
        self.keys = keys  # (B, n_head, context_length, head_dim)
        self.values = values  # (B, n_head, context_length, head_dim)


class KVCache:
    """Preallocated keys and values of every layer, plus how many positions are filled.

    `GPT.forward(idx, kv_cache=cache)` writes the new positions and advances `length`;
    `reset()` empties it so the same memory serves the next prompt.
    """

    def __init__(self, layers: list[LayerKVCache], context_length: int) -> None:
        self.layers = layers
        self.context_length = context_length
        self.length = 0
        """Positions already cached (the position id of the next token)."""

    @property
    def batch_size(self) -> int:
        return self.layers[0].keys.shape[0]

    def reset(self) -> None:
        self.length = 0


class CausalSelfAttention(nn.Module):
    """Multi-head causal self-attention with a fused (SDPA) or explicit (inspectable) backend."""

    def __init__(self, cfg: ModelConfig) -> None:
        super().__init__()
        self.n_head = cfg.n_head
        self.head_dim = cfg.n_embd // cfg.n_head
        self.c_attn = nn.Linear(cfg.n_embd, 3 * cfg.n_embd, bias=cfg.bias)
        self.c_proj = nn.Linear(cfg.n_embd, cfg.n_embd, bias=cfg.bias)
        self.attn_dropout_p = cfg.attn_dropout
        self.resid_dropout = nn.Dropout(cfg.dropout)
        self.backend = "sdpa"
        self.store_attention = False
        self.last_attention: Tensor | None = None
        """Explicit backend with store_attention: the last weights, (B, n_head, T, T_keys)."""

    def forward(self, x: Tensor, cache: LayerKVCache | None = None, start: int = 0) -> Tensor:
        B, T, C = x.shape
        q, k, v = self.c_attn(x).split(C, dim=2)
        q = q.view(B, T, self.n_head, self.head_dim).transpose(1, 2)  # (B, n_head, T, head_dim)
        k = k.view(B, T, self.n_head, self.head_dim).transpose(1, 2)  # (B, n_head, T, head_dim)
        v = v.view(B, T, self.n_head, self.head_dim).transpose(1, 2)  # (B, n_head, T, head_dim)
        if cache is not None:
            cache.keys[:, :, start : start + T] = k
            cache.values[:, :, start : start + T] = v
            k = cache.keys[:, :, : start + T]  # (B, n_head, start + T, head_dim)
            v = cache.values[:, :, : start + T]  # (B, n_head, start + T, head_dim)
        T_keys = k.shape[2]
        dropout_p = self.attn_dropout_p if self.training else 0.0
        if self.backend == "sdpa":
            # Without earlier keys, or with one query that may see them all, is_causal is exact.
            if T_keys == T or T == 1:
                y = F.scaled_dot_product_attention(
                    q, k, v, dropout_p=dropout_p, is_causal=T_keys == T and T > 1
                )
            else:
                mask = _causal_mask(T, T_keys, x.device)
                y = F.scaled_dot_product_attention(q, k, v, attn_mask=mask, dropout_p=dropout_p)
        else:
            scores = (q @ k.transpose(-2, -1)) / math.sqrt(self.head_dim)  # (B, n_head, T, T_keys)
            scores = scores.masked_fill(~_causal_mask(T, T_keys, x.device), float("-inf"))
            weights = F.softmax(scores, dim=-1)
            if self.store_attention:
                self.last_attention = weights.detach()
            weights = F.dropout(weights, p=dropout_p, training=self.training)
            y = weights @ v  # (B, n_head, T, head_dim)
        y = y.transpose(1, 2).contiguous().view(B, T, C)  # (B, T, n_embd)
        return self.resid_dropout(self.c_proj(y))


def _causal_mask(T: int, T_keys: int, device: torch.device) -> Tensor:
    """True where query i (absolute position T_keys - T + i) may attend key j: j <= its position."""
    query_positions = torch.arange(T_keys - T, T_keys, device=device).unsqueeze(1)
    key_positions = torch.arange(T_keys, device=device).unsqueeze(0)
    return key_positions <= query_positions  # (T, T_keys)


class MLP(nn.Module):
    """Position-wise feed-forward: Linear -> GELU (tanh) -> Linear."""

    def __init__(self, cfg: ModelConfig) -> None:
        super().__init__()
        self.c_fc = nn.Linear(cfg.n_embd, cfg.hidden_dim, bias=cfg.bias)
        self.gelu = nn.GELU(approximate="tanh")
        self.c_proj = nn.Linear(cfg.hidden_dim, cfg.n_embd, bias=cfg.bias)
        self.dropout = nn.Dropout(cfg.dropout)

    def forward(self, x: Tensor) -> Tensor:
        h = self.gelu(self.c_fc(x))  # (B, T, hidden_dim)
        return self.dropout(self.c_proj(h))  # (B, T, n_embd)


class Block(nn.Module):
    """Pre-LayerNorm transformer block: x + attn(ln_1(x)), then x + mlp(ln_2(x))."""

    def __init__(self, cfg: ModelConfig) -> None:
        super().__init__()
        self.ln_1 = nn.LayerNorm(cfg.n_embd, bias=cfg.bias)
        self.attn = CausalSelfAttention(cfg)
        self.ln_2 = nn.LayerNorm(cfg.n_embd, bias=cfg.bias)
        self.mlp = MLP(cfg)

    def forward(self, x: Tensor, cache: LayerKVCache | None = None, start: int = 0) -> Tensor:
        x = x + self.attn(self.ln_1(x), cache, start)
        return x + self.mlp(self.ln_2(x))


class Transformer(nn.Module):
    """The body of the GPT: embeddings, blocks and final LayerNorm (named as in HF GPT-2)."""

    def __init__(self, cfg: ModelConfig) -> None:
        super().__init__()
        self.wte = nn.Embedding(cfg.padded_vocab_size, cfg.n_embd)
        self.wpe = nn.Embedding(cfg.context_length, cfg.n_embd)
        self.drop = nn.Dropout(cfg.dropout)
        self.h = nn.ModuleList(Block(cfg) for _ in range(cfg.n_layer))
        self.ln_f = nn.LayerNorm(cfg.n_embd, bias=cfg.bias)

    @property
    def blocks(self) -> list[Block]:
        """transformer.h as a typed list."""
        return [block for block in self.h if isinstance(block, Block)]


class ParamCount(NamedTuple):
    """Parameter counts, on the true vocabulary (pad rows of the tables are not counted).

    embedding = wte + wpe; non_embedding = total - embedding (the Kaplan/nanoGPT convention), so
    an untied lm_head is part of total and of non_embedding, and a tied one is counted once.
    """

    total: int
    embedding: int
    non_embedding: int


class GPT(nn.Module):
    """GPT-2 language model: embeddings, `n_layer` blocks, final LayerNorm, LM head."""

    def __init__(self, cfg: ModelConfig) -> None:
        super().__init__()
        if cfg.vocab_size <= 0:
            raise ConfigError(
                f"model.vocab_size={cfg.vocab_size}: the model needs the tokenizer's vocabulary "
                "size; set model.vocab_size, or let training read it from the dataset's meta.json."
            )
        self.cfg = cfg
        self.transformer = Transformer(cfg)
        self.lm_head = nn.Linear(cfg.n_embd, cfg.padded_vocab_size, bias=False)
        if cfg.tie_weights:
            self.lm_head.weight = self.transformer.wte.weight
        self.apply(self._init_weights)
        # GPT-2: scale the projections that write into the residual stream by 1/sqrt(2 n_layer).
        residual_std = 0.02 / math.sqrt(2 * cfg.n_layer)
        for block in self.blocks:
            nn.init.normal_(block.attn.c_proj.weight, mean=0.0, std=residual_std)
            nn.init.normal_(block.mlp.c_proj.weight, mean=0.0, std=residual_std)

    @staticmethod
    def _init_weights(module: nn.Module) -> None:
        if isinstance(module, nn.Linear):
            nn.init.normal_(module.weight, mean=0.0, std=0.02)
            if module.bias is not None:
                nn.init.zeros_(module.bias)
        elif isinstance(module, nn.Embedding):
            nn.init.normal_(module.weight, mean=0.0, std=0.02)

    @property
    def blocks(self) -> list[Block]:
        """The transformer blocks, typed (transformer.h)."""
        return self.transformer.blocks

    def forward(
        self,
        idx: Tensor,
        targets: Tensor | None = None,
        loss_mask: Tensor | None = None,
        kv_cache: KVCache | None = None,
    ) -> tuple[Tensor, Tensor | None]:
        """Logits (B, T, vocab_size) for token ids `idx` (B, T), and the loss when given targets.

        The loss is the mean cross-entropy over positions whose target is not -1 and whose
        `loss_mask` (B, T) is true. With `kv_cache`, `idx` continues the cached positions: its
        keys and values are appended and its position ids start at `kv_cache.length`.
        """
        B, T = idx.shape
        start = kv_cache.length if kv_cache is not None else 0
        if start + T > self.cfg.context_length:
            raise ValueError(
                f"sequence of {start + T} tokens is longer than the model's context_length="
                f"{self.cfg.context_length}: crop the input to its last "
                f"{self.cfg.context_length} tokens."
            )
        positions = torch.arange(start, start + T, device=idx.device)  # (T,)
        x = self.transformer.wte(idx) + self.transformer.wpe(positions)  # (B, T, n_embd)
        x = self.transformer.drop(x)
        for i, block in enumerate(self.blocks):
            x = block(x, kv_cache.layers[i] if kv_cache is not None else None, start)
        x = self.transformer.ln_f(x)
        logits = self.lm_head(x)[..., : self.cfg.vocab_size]  # (B, T, vocab_size)
        if kv_cache is not None:
            kv_cache.length = start + T
        if targets is None:
            return logits, None
        if loss_mask is not None:
            targets = targets.masked_fill(~loss_mask.bool(), -1)
        loss = F.cross_entropy(
            logits.reshape(B * T, -1).float(), targets.reshape(B * T), ignore_index=-1
        )
        return logits, loss

    def new_kv_cache(
        self,
        batch_size: int,
        device: torch.device | str | None = None,
        dtype: torch.dtype | None = None,
    ) -> KVCache:
        """An empty KV cache for `batch_size` sequences; device and dtype default to the model's."""
        weight = self.lm_head.weight
        device = weight.device if device is None else torch.device(device)
        dtype = weight.dtype if dtype is None else dtype
        shape = (
            batch_size,
            self.cfg.n_head,
            self.cfg.context_length,
            self.cfg.n_embd // self.cfg.n_head,
        )
        layers = [
            LayerKVCache(
                torch.zeros(shape, device=device, dtype=dtype),
                torch.zeros(shape, device=device, dtype=dtype),
            )
            for _ in range(self.cfg.n_layer)
        ]
        return KVCache(layers, self.cfg.context_length)

    def set_attention_backend(self, backend: str, store_attention: bool = False) -> None:
        """Use "sdpa" (fused, fast) or "explicit" attention in every block.

        Only the explicit backend can keep weights: with `store_attention`, each block's
        `attn.last_attention` holds the last softmax weights (B, n_head, T, T_keys), detached.
        """
        if backend not in ATTENTION_BACKENDS:
            raise ConfigError(
                f"attention backend {backend!r} is unknown: choose one of "
                f"{', '.join(ATTENTION_BACKENDS)}."
            )
        if store_attention and backend != "explicit":
            raise ConfigError(
                "store_attention needs the explicit attention backend (fused SDPA never "
                'materialises the weights): call set_attention_backend("explicit", True).'
            )
        for block in self.blocks:
            block.attn.backend = backend
            block.attn.store_attention = store_attention
            block.attn.last_attention = None

    def num_params(self) -> ParamCount:
        """Parameter counts on the true vocabulary; see ParamCount for the convention."""
        pad_rows = self.cfg.padded_vocab_size - self.cfg.vocab_size
        pad_params = pad_rows * self.cfg.n_embd * (1 if self.cfg.tie_weights else 2)
        total = sum(p.numel() for p in self.parameters()) - pad_params
        embedding = self.cfg.vocab_size * self.cfg.n_embd + self.transformer.wpe.weight.numel()
        return ParamCount(total=total, embedding=embedding, non_embedding=total - embedding)


def set_attention_backend(model: GPT, backend: str, store_attention: bool = False) -> None:
    """Module-level form of `GPT.set_attention_backend` (same arguments, same effect)."""
    model.set_attention_backend(backend, store_attention)


def estimate_flops_per_token(cfg: ModelConfig) -> float:
    """Training FLOPs per token (forward + backward), PaLM appendix B: 6N + 12 L H Q T.

    N counts the weights used in matmuls (blocks and the LM head on the true vocabulary; the
    embedding lookups cost no matmul); the second term is attention over a full context.
    """
    C, L = cfg.n_embd, cfg.n_layer
    per_block = C * 3 * C + C * C + 2 * C * cfg.hidden_dim  # c_attn, c_proj, c_fc, mlp.c_proj
    matmul_params = L * per_block + cfg.vocab_size * C
    head_dim = C // cfg.n_head
    return 6.0 * matmul_params + 12.0 * L * cfg.n_head * head_dim * cfg.context_length


class PresetSummary(NamedTuple):
    """One row of `gptlab presets`: shape, size with the GPT-2 vocabulary, and recipe defaults."""

    name: str
    description: str
    n_layer: int
    n_head: int
    n_embd: int
    ffn_dim: int
    context_length: int
    tie_weights: bool
    params: ParamCount
    lr: float
    batch: str
    """Batch per optimizer step, with its unit ("128 seq" or "524288 tok")."""


def preset_summaries(vocab_size: int = GPT2_VOCAB_SIZE) -> list[PresetSummary]:
    """Every preset with its parameter counts, built on the meta device (no memory, no init)."""
    rows = []
    for name, preset in PRESETS.items():
        cfg = preset_config(name)
        model_cfg = dataclasses.replace(cfg.model, vocab_size=vocab_size)
        with torch.device("meta"):
            params = GPT(model_cfg).num_params()
        train = cfg.train
        if train.tokens_per_step:
            batch = f"{train.tokens_per_step} tok"
        else:
            batch = f"{train.batch_size or train.micro_batch_size} seq"
        rows.append(
            PresetSummary(
                name=name,
                description=preset.description,
                n_layer=model_cfg.n_layer,
                n_head=model_cfg.n_head,
                n_embd=model_cfg.n_embd,
                ffn_dim=model_cfg.hidden_dim,
                context_length=model_cfg.context_length,
                tie_weights=model_cfg.tie_weights,
                params=params,
                lr=cfg.optim.lr,
                batch=batch,
            )
        )
    return rows
