"""Train GapNet: ``python -m hpa.train_gapnet [--data DIR] [--model-option variant=pl]``.

GapNet works on full-resolution images (512 px, as in its paper, unless
``--image-size`` says otherwise) and pools features from three depths. This is
``python -m hpa.train --model gapnet``; ``--help`` lists every option.
"""
import sys

from hpa.runtime import cli
from hpa.train import main as train_main


def main(argv=None):
    return train_main(argv, model="gapnet", description=__doc__)


if __name__ == "__main__":
    sys.exit(cli.run(main))
