"""``python -m minidl.kernels``: list the kernels, compile them, check them on the CPU.

    python -m minidl.kernels                 # every kernel, its source and parameters
    python -m minidl.kernels --compile       # nvcc -arch=sm_90, one line per kernel source and precision
    python -m minidl.kernels --run-on-cpu    # each kernel through the CPU shim against NumPy
    python -m minidl.kernels --compile --run-on-cpu   # both, in that order

Exits 1 when any compile or check fails, 2 on bad arguments or a missing tool.
"""
import argparse
import sys
import time

from minidl.kernels import catalog, cpu_shim, nvcc, twins


def list_kernels():
    for name, (source, params) in catalog.all_kernels().items():
        print(f"{name:22s} {source.name:14s} ({', '.join(map(repr, params))})")
    return 0


def compile_all():
    compiler = nvcc.find_nvcc()
    if compiler is None:
        print("error: nvcc not found (install the CUDA toolkit or set CUDA_HOME)", file=sys.stderr)
        return 2
    failures = 0
    for source in catalog.sources():
        for precision in catalog.PRECISIONS:
            start = time.perf_counter()
            ok, message = nvcc.compile_source(source, precision, compiler)
            kernels = ", ".join(catalog.kernels_in(source))
            status = "ok  " if ok else "FAIL"
            print(f"{status} {source.name:14s} {precision}  {kernels}  "
                  f"({time.perf_counter() - start:.1f} s) {message if ok else ''}")
            if not ok:
                print(message, file=sys.stderr)
                failures += 1
    return 1 if failures else 0


def run_on_cpu():
    failures = 0
    try:
        for family, kernels, case, dtype, error, ok in twins.run_all(twins.Target.host()):
            print(f"{'ok  ' if ok else 'FAIL'} {family:10s} {case:20s} {dtype}  max rel error {error:.2e}  "
                  f"({', '.join(kernels)})")
            failures += not ok
    except (cpu_shim.ShimError, cpu_shim.KernelCacheError) as error:
        print(f"error: {error}", file=sys.stderr)
        return 2
    return 1 if failures else 0


def main(argv=None):
    parser = argparse.ArgumentParser(prog="python -m minidl.kernels", description=__doc__.splitlines()[0])
    parser.add_argument("--compile", action="store_true", help="compile every source with nvcc for sm_90")
    parser.add_argument("--run-on-cpu", action="store_true", help="check every kernel against NumPy on the CPU")
    args = parser.parse_args(argv)
    if not (args.compile or args.run_on_cpu):
        return list_kernels()
    codes = [step() for step, chosen in ((compile_all, args.compile), (run_on_cpu, args.run_on_cpu)) if chosen]
    return max(codes)  # 2 (a missing tool) outranks 1 (a failed kernel)


if __name__ == "__main__":
    sys.exit(main())
