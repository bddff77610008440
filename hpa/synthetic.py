"""``python -m hpa.synthetic``: write the synthetic HPA-like data set in the Kaggle layout.

    python -m hpa.synthetic --out data/synthetic --n 2000 --size 256
"""
import sys

from hpa.runtime.cli import ArgumentParser, positive_int, run
from hpa.runtime.interrupts import phase


def main(argv=None):
    parser = ArgumentParser(
        prog="python -m hpa.synthetic",
        description="Write the synthetic HPA-like data set in the Kaggle layout "
                    "(DIR/train.csv and DIR/train/<Id>_<colour>.png).",
    )
    parser.add_argument("--out", required=True, help="folder to write")
    parser.add_argument("--n", type=positive_int, default=2000, help="number of samples")
    parser.add_argument("--size", type=positive_int, default=256, help="image side in pixels")
    parser.add_argument("--seed", type=int, default=0, help="random seed")
    parser.add_argument("--workers", type=positive_int, default=None,
                        help="processes drawing images (default: one per core)")
    parser.add_argument("--quiet", action="store_true", help="no progress bar")
    args = parser.parse_args(argv)
    # Imported here, under hpa.runtime.cli.run: a Ctrl-C while NumPy loads is a stop like any other.
    from hpa.synthesis.generate import generate
    # A stop (Ctrl-C, SIGTERM) ends in hpa.runtime.cli.run's one line and exit code 130 or 143.
    with phase("generating the synthetic data", "run the same command again to finish; drawn images are kept"):
        out = generate(args.out, n=args.n, size=args.size, seed=args.seed,
                       workers=args.workers, progress=not args.quiet)
    print(f"{args.n} samples of {args.size}x{args.size} px in {out}")
    return 0


if __name__ == "__main__":
    sys.exit(run(main))
