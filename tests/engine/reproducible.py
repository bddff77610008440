"""The compiled kernels' reproducibility check, shared by their test files."""
from minidl.compiled import jit


def assert_same_bits_twice_and_on_one_thread(every_result):
    """``every_result()`` (a list of arrays) gives the same bytes twice and on one thread:
    fixed summation orders, independent of the number of threads (resume stays bit-exact)."""
    first, second = every_result(), every_result()
    threads = jit.threads()
    jit.set_threads(1)
    try:
        single = every_result()
    finally:
        jit.set_threads(threads)
    for a, b, c in zip(first, second, single, strict=True):
        assert a.tobytes() == b.tobytes() == c.tobytes()
