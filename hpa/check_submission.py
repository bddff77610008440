"""Check a Kaggle submission before uploading it: ``python -m hpa.check_submission submission.csv --sample sample_submission.csv``.

Kaggle scores a file whose header is ``Id,Predicted``, which has one row per
test Id of ``sample_submission.csv`` (11,702 for this competition) and no
other, and whose ``Predicted`` is a space-separated list of distinct class
numbers 0..27 (empty for none). The first problem found is reported on one
line with its file and line number (the header is line 1) and exit code 2;
a good file gets a one-line summary and exit code 0.
"""
import sys

import numpy as np
import pandas as pd

from hpa.data.reading.labels import NUM_CLASSES
from hpa.runtime import cli
from hpa.runtime.errors import HpaError


def build_parser():
    p = cli.ArgumentParser(prog="python -m hpa.check_submission", description=__doc__)
    p.add_argument("submission", help="the submission CSV (Id,Predicted)")
    p.add_argument("--sample", required=True, help="the competition's sample_submission.csv (the test Ids)")
    return p


def _read(path, columns):
    try:
        table = pd.read_csv(path, dtype=str, keep_default_na=False)
    except FileNotFoundError:
        raise HpaError(f"{path}: file not found") from None
    except (pd.errors.ParserError, pd.errors.EmptyDataError, UnicodeDecodeError) as err:
        raise HpaError(f"{path}: not a readable CSV ({' '.join(str(err).split())})") from None
    if list(table.columns)[: len(columns)] != list(columns) or (columns == ("Id", "Predicted")
                                                                 and len(table.columns) != 2):
        raise HpaError(f"{path}: header is {','.join(map(str, table.columns))}, expected {','.join(columns)}")
    table.index = table.index + 2  # line numbers
    return table


def check(submission, sample):
    """Problems raise :class:`HpaError`; returns (rows, mean labels per row, classes predicted)."""
    expected = _read(sample, ("Id",))["Id"]
    table = _read(submission, ("Id", "Predicted"))
    seen = {}
    counts = np.zeros(NUM_CLASSES, dtype=np.int64)
    labels = 0
    wanted = set(expected)
    for line, sample_id, predicted in zip(table.index, table["Id"], table["Predicted"]):
        if sample_id not in wanted:
            raise HpaError(f"{submission} line {line}: Id {sample_id!r} is not a test Id of {sample}")
        if sample_id in seen:
            raise HpaError(f"{submission} line {line}: Id {sample_id!r} again (first on line {seen[sample_id]})")
        seen[sample_id] = line
        classes = predicted.split()
        for token in classes:
            if not token.isdigit() or int(token) >= NUM_CLASSES:
                raise HpaError(f"{submission} line {line}: {token!r} is not a class number 0..{NUM_CLASSES - 1}")
        if len(set(classes)) != len(classes):
            raise HpaError(f"{submission} line {line}: a class is listed twice ({predicted!r})")
        counts[[int(c) for c in classes]] += 1
        labels += len(classes)
    if len(seen) < len(wanted):
        absent = next(i for i in expected if i not in seen)
        raise HpaError(f"{submission}: {len(wanted) - len(seen):,} test Ids of {sample} are missing "
                       f"(e.g. {absent})")
    return len(seen), labels / max(len(seen), 1), int((counts > 0).sum())


def main(argv=None):
    args = build_parser().parse_args(argv)
    rows, per_row, classes = check(args.submission, args.sample)
    print(f"{args.submission} is a valid submission: {rows:,} test Ids, {per_row:.2f} labels per sample "
          f"on average, {classes} of {NUM_CLASSES} classes predicted somewhere")
    return 0


if __name__ == "__main__":
    sys.exit(cli.run(main))
