"""Download the HPAv18 external images: ``python -m hpa.download_hpav18 --out DIR``.

The 71,437 fields of the HPAv18 labels file (``Id,Target``; by default the
one in ``shared/hpa-real`` beside the checkout, else ``--labels CSV``) are
fetched stain by stain from ``<base-url>/<antibody>/<plate>_<well>_<field>_<colour>.jpg``
and kept as served, ``DIR/<Id>_<colour>.jpg`` (RGB JPEGs coloured like their
stain; hpa's reader takes each stain's own plane). ``DIR/train.csv`` lists
the complete samples, so ``python -m hpa.train --data DIR`` works at once;
``DIR/failures.csv`` lists the samples left out and why.

Errors and 5xx answers are retried with growing waits, a missing image
(404) is recorded and its sample skipped, a run that is stopped (Ctrl-C)
leaves only complete files, and the same command resumes, skipping the
files that decode. ``--limit N`` takes a subset that still has every class;
``--dry-run`` shows the counts and the estimated size and fetches nothing.
Exit code 0 when every sample is complete or missing on the server, 1 when
some failed after every retry (run again), 2 for an error in the input.
"""
import os
import shutil
import sys

from hpa.data.cache.disk_space import _human
from hpa.download.fetch import FetchOptions
from hpa.download.plan import BYTES_PER_SAMPLE, DEFAULT_BASE_URL, LABELS_NAME, default_labels, describe, make_plan
from hpa.download.run import download, missing_samples, remove_stale_temps
from hpa.download.summary import Results, check_out_folder, summary, write_outputs
from hpa.runtime import cli
from hpa.runtime.errors import HpaError
from hpa.runtime.interrupts import phase


def build_parser():
    p = cli.ArgumentParser(prog="python -m hpa.download_hpav18", description=__doc__)
    p.add_argument("--out", required=True, help="folder for the images, train.csv and failures.csv")
    p.add_argument("--labels", help=f"HPAv18 labels CSV (Id,Target) (default: {LABELS_NAME} in "
                                    f"shared/hpa-real beside the checkout)")
    p.add_argument("--base-url", default=DEFAULT_BASE_URL, help="where the Atlas serves the images")
    p.add_argument("--workers", type=cli.positive_int, default=8, help="parallel connections")
    p.add_argument("--limit", type=cli.positive_int, help="download only this many samples, "
                                                         "stratified so that every class is present")
    p.add_argument("--seed", type=int, default=0, help="seeds the choice of --limit's samples")
    p.add_argument("--dry-run", action="store_true", help="print the counts and estimated size; fetch nothing")
    p.add_argument("--timeout", type=cli.positive_float, default=30.0,
                   help="seconds a connection or read may wait for the server")
    p.add_argument("--retries", type=int, default=4, help="further tries after a failed request")
    p.add_argument("--backoff", type=float, default=1.0,
                   help="seconds before the first retry, doubled for each next one")
    p.add_argument("--max-bytes", type=cli.positive_int, default=32 << 20,
                   help="largest image accepted, in bytes (a longer body is refused as it arrives)")
    p.add_argument("--deadline", type=cli.positive_float, default=300.0,
                   help="seconds one image may take in all (a server trickling bytes never trips --timeout)")
    p.add_argument("--no-progress", action="store_true", help="no progress bar")
    return p


def main(argv=None):
    args = build_parser().parse_args(argv)
    if args.retries < 0 or not args.backoff >= 0 or args.seed < 0:
        raise HpaError("--retries, --backoff and --seed must not be negative")
    if not args.base_url.startswith(("http://", "https://")):
        raise HpaError(f"--base-url {args.base_url!r}: expected an http:// or https:// address")
    labels = args.labels or default_labels()
    if labels is None:
        raise HpaError(f"no HPAv18 labels file found; pass --labels {LABELS_NAME}")
    if os.path.exists(args.out) and not os.path.isdir(args.out):
        raise HpaError(f"--out {args.out} is a file, not a folder")
    plan = make_plan(labels, args.out, args.base_url, args.limit, args.seed)
    if args.dry_run:
        print("\n".join(describe(plan)))
        return 0
    check_out_folder(args.out, plan.all_ids)
    os.makedirs(args.out, exist_ok=True)
    _check_space(plan)
    remove_stale_temps(args.out)
    options = FetchOptions(args.timeout, args.retries, args.backoff, args.max_bytes, args.deadline)
    print(f"downloading {len(plan.ids):,} samples ({len(plan.ids) * 4:,} files) from {args.base_url} "
          f"into {args.out} with {args.workers} connections", flush=True)
    results = Results()
    try:
        with phase("downloading the HPAv18 images", f"only complete files are kept, and {args.out}/train.csv "
                   "lists the complete samples; the same command resumes"):
            download(plan, options, args.workers, results, progress=not args.no_progress)
    finally:
        write_outputs(plan, results)
    print("\n".join(summary(plan, results)))
    return 1 if results.of_kind("failed") else 0


def _check_space(plan):
    """Refuse to start when the samples still to fetch (estimated) do not fit on the disk."""
    needed = missing_samples(plan) * BYTES_PER_SAMPLE
    free = shutil.disk_usage(plan.out).free
    if free < needed:
        raise HpaError(f"not enough free space in {plan.out}: the samples still to fetch need about "
                       f"{needed:,} bytes ({_human(needed)}, estimated), {free:,} bytes are free; "
                       f"free some space, choose another --out or download a part with --limit")


if __name__ == "__main__":
    sys.exit(cli.run(main))
