"""`python -m gptlab` runs the command-line interface (torchrun uses this form)."""

from gptlab.cli import run

if __name__ == "__main__":
    run()
