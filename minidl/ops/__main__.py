"""``python -m minidl.ops [--check] [--op NAME ...] [--device cpu|gpu]``.

Without ``--check``: the table of ops (``minidl.ops.table``). With it: every
reference gradient-checked and every implementation compared with its
reference (``minidl.ops.check``); exit status 1 if anything fails.
"""
import argparse
import sys

from minidl import backend
from minidl.ops import check, registry, table


def main(argv=None):
    parser = argparse.ArgumentParser(prog="python -m minidl.ops", description=__doc__.split("\n\n")[0])
    parser.add_argument("--check", action="store_true", help="gradient checks and fast-vs-reference comparisons")
    parser.add_argument("--op", action="append", metavar="NAME", help="only this op (repeatable)")
    parser.add_argument("--device", choices=("cpu", "gpu"), default=None,
                        help="arrays of the check on this device (default: the current device)")
    args = parser.parse_args(argv)
    if args.op:
        unknown = [n for n in args.op if n not in registry.ops()]
        if unknown:
            print(f"error: unknown op {unknown[0]!r}; known: {', '.join(registry.ops())}", file=sys.stderr)
            return 2
    if not args.check:
        print(table.render([r for r in table.rows() if not args.op or r["op"] in args.op]))
        return 0
    device = args.device or backend.device()
    if device == "gpu":
        try:
            backend.use("gpu")
        except backend.DeviceError as error:
            print(f"error: {error}", file=sys.stderr)
            return 2
    rows = check.run(args.op, device)
    print(check.render(rows))
    failed = [r for r in rows if not r.passed]
    print(f"\n{len(rows) - len(failed)} of {len(rows)} rows pass" + (f"; FAILED: {len(failed)}" if failed else ""))
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
