"""gptlab: train GPT-2-style language models from scratch and see what was trained."""

__version__ = "0.1.0"
