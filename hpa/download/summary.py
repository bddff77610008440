"""What a download leaves beside the images: the labels of the complete samples, the failures, one summary.

    DIR/train.csv      Id,Target of every complete sample (all four stains
                       decode), in the labels file's order: ``--data DIR``
                       trains on it as it is
    DIR/failures.csv   Id,colour,kind,url,reason of every sample left out:
                       kind "missing" (the server has no such image, 404) or
                       "failed" (every retry failed; a new run tries again)

Both are written atomically, also when a download is interrupted, so the
folder is usable at any moment. A ``train.csv`` that lists Ids the labels
file lacks belongs to something else (a Kaggle folder): it is never
overwritten.
"""
import csv
import io
import os
from dataclasses import dataclass, field

import pandas as pd

from hpa.data.reading.labels import multihot_to_target
from hpa.runtime.errors import HpaError
from minidl.atomic import atomic_write_text

LABELS_FILE = "train.csv"
FAILURES_FILE = "failures.csv"


@dataclass
class Outcome:
    """One sample's result: kind "complete", "missing" or "failed"; for the last two, which file and why."""
    index: int
    kind: str
    colour: str = ""
    url: str = ""
    reason: str = ""
    fetched: int = 0      # bytes downloaded for this sample in this run
    reused: int = 0       # files already complete on disk


@dataclass
class Results:
    """Outcomes by sample index, filled in as the downloads finish."""
    outcomes: dict = field(default_factory=dict)

    def add(self, outcome):
        self.outcomes[outcome.index] = outcome

    def of_kind(self, kind):
        return [o for o in self.outcomes.values() if o.kind == kind]

    def counts(self):
        """(complete, missing, failed, bytes fetched, files reused)."""
        values = self.outcomes.values()
        return (len(self.of_kind("complete")), len(self.of_kind("missing")), len(self.of_kind("failed")),
                sum(o.fetched for o in values), sum(o.reused for o in values))


def check_out_folder(out, known_ids):
    """Refuse an ``out`` whose ``train.csv`` lists Ids that are not in the labels file (another data set)."""
    path = os.path.join(out, LABELS_FILE)
    if not os.path.isfile(path):
        return
    try:
        ids = pd.read_csv(path, usecols=["Id"], dtype=str)["Id"]
    except (ValueError, pd.errors.ParserError, pd.errors.EmptyDataError, UnicodeDecodeError):
        raise HpaError(f"{path}: not a labels CSV written by this command; choose another --out") from None
    strangers = [i for i in ids if i not in known_ids]
    if strangers:
        raise HpaError(f"{path} lists {len(strangers):,} Ids that are not in the HPAv18 labels (e.g. "
                       f"{strangers[0]}): another data set is there; choose another --out")


def write_outputs(plan, results):
    """Write ``train.csv`` and ``failures.csv`` into ``plan.out`` (atomically)."""
    done = sorted(o.index for o in results.of_kind("complete"))
    table = pd.DataFrame({"Id": [plan.ids[i] for i in done],
                          "Target": [multihot_to_target(plan.labels[i]) for i in done]})
    atomic_write_text(os.path.join(plan.out, LABELS_FILE), table.to_csv(index=False))
    text = io.StringIO()
    writer = csv.writer(text, lineterminator="\n")
    writer.writerow(["Id", "colour", "kind", "url", "reason"])
    for o in sorted(results.of_kind("missing") + results.of_kind("failed"), key=lambda o: o.index):
        writer.writerow([plan.ids[o.index], o.colour, o.kind, o.url, o.reason])
    atomic_write_text(os.path.join(plan.out, FAILURES_FILE), text.getvalue())


def summary(plan, results):
    """The closing lines: samples complete and failed, bytes fetched, where the lists are."""
    complete, missing, failed, fetched, reused = results.counts()
    lines = [f"{complete:,} of {len(plan.ids):,} samples complete ({reused:,} files were already there, "
             f"{fetched / 1e6:,.1f} MB fetched); labels in {os.path.join(plan.out, LABELS_FILE)}"]
    if missing or failed:
        lines.append(f"{missing:,} samples missing on the server (404), {failed:,} failed after every retry: "
                     f"listed in {os.path.join(plan.out, FAILURES_FILE)}"
                     + ("; run the same command again to retry the failed ones" if failed else ""))
    return lines
