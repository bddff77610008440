"""Imported by the worker pool's forkserver process alone (its preload, :mod:`hpa.runtime.worker_pool`).

It holds back Ctrl-C and SIGTERM in that process for good, so that every
worker it forks starts with them held, as a worker forked within
:func:`hpa.runtime.interrupts.stop_signals_held` does, until
:func:`hpa.runtime.interrupts.die_with_parent` makes it ignore them. The server
ignores both (it ends when the process that started it does). It also
imports what every worker needs, once.
"""
import signal

import numpy  # noqa: F401 (imported once in the server, not in every worker)

import hpa.runtime.worker_pool  # noqa: F401
from hpa.runtime.interrupts import STOP_SIGNALS

signal.pthread_sigmask(signal.SIG_BLOCK, STOP_SIGNALS)
