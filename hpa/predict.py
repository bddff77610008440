"""Write a Kaggle submission: ``python -m hpa.predict --checkpoint best.npz --data DIR --out submission.csv``.

``--data`` is a test folder (``test/`` + ``sample_submission.csv``, or just
the image files). Several ``--checkpoint`` files (e.g. the K folds' models)
are averaged; ``--tta`` also averages over the 8 flips and 90-degree
rotations. Each class is predicted where the mean probability reaches the
threshold tuned on validation during training (or ``--threshold``).

An existing ``--out`` file is refused unless ``--overwrite`` is given.
``--skip-bad`` predicts the samples it can read; those with missing or
unreadable images close the submission with no classes, so it still lists
every Id, and their number is printed.
"""
import sys

import pandas as pd

from hpa.data.cache.source import cached_images
from hpa.evaluation.inference import add_arguments, load_models, mean_thresholds, predict_probs, skipped_samples
from hpa.evaluation.thresholds import predict
from hpa.runtime import cli
from hpa.runtime.device import use_device
from hpa.training.run_folder import check_output_file
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
    check_output_file(args.out, args.overwrite)  # before the long work
    use_device(args.device)
    loaded = load_models(args.checkpoint, args.device)
    size = loaded[0][1]["image_size"]
    cache = cached_images(args.data, size, split="test", root=args.cache_dir, skip_bad=args.skip_bad,
                          intensity=loaded[0][1].get("config", {}).get("intensity", "fixed"))
    probs = predict_probs(loaded, cache.images, args.batch_size, args.tta, args.device)
    y_pred = predict(probs, mean_thresholds(loaded, args.threshold, args.checkpoint), at_least_one=args.at_least_one)
    skipped = [sample_id for sample_id, _ in skipped_samples(args.data, cache, "test", args.skip_bad)]
    frame = submission_frame(cache.ids, y_pred)
    if skipped:
        frame = pd.concat([frame, pd.DataFrame({"Id": skipped, "Predicted": ""})], ignore_index=True)
    with atomic_path(args.out) as tmp:
        frame.to_csv(tmp, index=False)
    print(f"wrote {args.out}: {len(cache.ids)} samples, {y_pred.sum(axis=1).mean():.2f} labels per sample"
          f" on average, from {len(loaded)} model(s){' with 8-fold TTA' if args.tta else ''}")
    if skipped:
        print(f"warning: {len(skipped)} samples with missing or unreadable images close the submission "
              f"with no classes", file=sys.stderr)
    return 0


if __name__ == "__main__":
    sys.exit(cli.run(main))
