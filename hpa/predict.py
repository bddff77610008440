"""Write a Kaggle submission: ``python -m hpa.predict --checkpoint best.npz --data DIR --out submission.csv``.

``--data`` is a test folder (``test/`` + ``sample_submission.csv``, or just
the image files). Several ``--checkpoint`` files (e.g. the K folds' models)
are averaged; ``--tta`` also averages over the 8 flips and 90-degree
rotations. Each class is predicted where the mean probability reaches the
threshold tuned on validation during training (or ``--threshold``).
"""
import sys

import pandas as pd

from hpa import cli
from hpa.data.source import cached_images
from hpa.evaluation.inference import add_arguments, load_models, mean_thresholds, predict_probs
from hpa.evaluation.thresholds import predict
from minidl.atomic import atomic_path


def build_parser():
    p = cli.ArgumentParser(prog="python -m hpa.predict", description=__doc__)
    add_arguments(p, "test folder (Kaggle or HPA external layout)")
    p.add_argument("--out", default="submission.csv", help="submission CSV to write")
    return p


def submission_frame(ids, y_pred):
    """Kaggle format: Id, Predicted = space-separated class numbers (empty if none)."""
    predicted = [" ".join(str(c) for c in row.nonzero()[0]) for row in y_pred]
    return pd.DataFrame({"Id": ids, "Predicted": predicted})


def main(argv=None):
    args = build_parser().parse_args(argv)
    loaded = load_models(args.checkpoint, args.device)
    size = loaded[0][1]["image_size"]
    cache = cached_images(args.data, size, split="test", root=args.cache_dir,
                          intensity=loaded[0][1].get("config", {}).get("intensity", "fixed"))
    probs = predict_probs(loaded, cache.images, args.batch_size, args.tta, args.device)
    y_pred = predict(probs, mean_thresholds(loaded, args.threshold, args.checkpoint), at_least_one=args.at_least_one)
    with atomic_path(args.out) as tmp:
        submission_frame(cache.ids, y_pred).to_csv(tmp, index=False)
    print(f"wrote {args.out}: {len(cache.ids)} samples, {y_pred.sum(axis=1).mean():.2f} labels per sample"
          f" on average, from {len(loaded)} model(s){' with 8-fold TTA' if args.tta else ''}")
    return 0


if __name__ == "__main__":
    sys.exit(cli.run(main))
