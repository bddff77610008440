"""Train GapNet: ``python -m hpa.train_gapnet [--data DIR] [--model-option variant=pl]``.

GapNet works on full-resolution images (512 px for the Kaggle data; the
synthetic set is 256 px) and pools features from three depths. All options of
``python -m hpa.train`` apply; ``--help`` lists them.
"""
import sys

from hpa import cli
from hpa.train import main as train_main

DEFAULTS = dict(image_size=256, epochs=6, batch_size=16, lr=1e-3, loss="weighted-bce",
                pos_weight="sqrt-ratio", schedule="plateau")


def main(argv=None):
    return train_main(argv, model="gapnet", description=__doc__, **DEFAULTS)


if __name__ == "__main__":
    sys.exit(cli.run(main))
