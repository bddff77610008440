"""A command whose synthetic-data generation is held inside the phase until it is stopped.

    python held_generation.py MARKER synthetic ARGS...   # python -m hpa.synthetic ARGS
    python held_generation.py MARKER train ARGS...       # python -m hpa.train ARGS

Every sample's drawing appends a line to MARKER and then waits for good, so
a test signals once the marker shows the run inside the phase, and the run
cannot finish before the signal (a fixed sleep would race it).
"""
import importlib
import sys
import time

from hpa import train
from hpa.runtime import cli
from hpa.synthetic import main as synthetic_main


def held_render(classes, size, rng):
    with open(sys.argv[1], "a") as f:
        f.write("sample\n")
    while True:
        time.sleep(3600)


if __name__ == "__main__":
    # By name: the package hpa.synthetic exports the function generate, which hides the module.
    generate_module = importlib.import_module("hpa.synthesis.generate")
    generate_module.render_sample = held_render  # workers are forked, so they see it too
    command, argv = sys.argv[2], sys.argv[3:]
    sys.exit(cli.run(train.main if command == "train" else synthetic_main, argv))
