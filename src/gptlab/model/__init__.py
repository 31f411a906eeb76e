"""The GPT-2 model (gpt.py) and, beside it, weight import/export."""

from gptlab.model.gpt import GPT, KVCache, ParamCount, set_attention_backend

__all__ = ["GPT", "KVCache", "ParamCount", "set_attention_backend"]
