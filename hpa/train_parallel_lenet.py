"""The main job: train the three-branch parallel LeNet.

    python -m hpa.train_parallel_lenet               # built-in synthetic data
    python -m hpa.train_parallel_lenet --data DIR    # Kaggle or HPA external layout

Images are area-resized to 128 px in the cache (the same as mean-pooling the
512 px originals 4x4); each branch sees one reference channel with the green
one. Weighted sigmoid cross-entropy (positive weight sqrt((N - N_i) / N_i)),
Adam, learning rate halved when validation macro F1 stalls. This is
``python -m hpa.train --model parallel_lenet``; ``--help`` lists every option.
"""
import sys

from hpa.runtime import cli
from hpa.train import main as train_main


def main(argv=None):
    return train_main(argv, model="parallel_lenet", description=__doc__)


if __name__ == "__main__":
    sys.exit(cli.run(main))
