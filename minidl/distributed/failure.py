"""End the whole job when one rank fails, instead of leaving the others waiting.

A Python exception ends only the process that raised it. Its peers are, at
that moment, inside (or about to enter) a collective call that now never
completes; and the failing process itself, on its way out, calls
``MPI_Finalize``, which waits for them. Without help the job hangs.

    with abort_on_failure(group):
        main()

prints the traceback and ``error: rank R of K: ...``, then aborts the MPI job,
so ``mpiexec`` ends every rank and exits non-zero. A rank killed outright
(``kill -9``, out of memory) is noticed by ``mpiexec`` itself, which ends the
others and names the dead process; a rank that stops without exiting is caught
by the collective timeout (:mod:`minidl.distributed.watchdog`).
"""
import contextlib
import traceback


@contextlib.contextmanager
def abort_on_failure(group):
    """Abort ``group``'s job if the block raises or exits with a non-zero status."""
    try:
        yield
    except SystemExit as exit:
        if exit.code in (None, 0):
            raise
        code = exit.code if isinstance(exit.code, int) else 1
        group.abort(f"exited with status {exit.code}", code=code)
    except BaseException as error:  # KeyboardInterrupt too: a peer would still wait
        traceback.print_exc()
        group.abort(f"{type(error).__name__}: {error}")
