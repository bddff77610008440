"""What every hpa command shares: one-line errors and a non-zero exit code.

A wrong path, an unreadable checkpoint or an impossible option should tell the
user what to fix in one line, not show a traceback:

    $ python -m hpa.predict --checkpoint nope.npz --data test/
    error: checkpoint nope.npz does not exist
"""
import argparse
import errno
import signal
import sys

from hpa.runtime.errors import HpaError
from hpa.runtime.interrupts import Terminated, interrupted_message, stop_on_sigterm

EXIT_USAGE = 2


class _DefaultsFormatter(argparse.RawDescriptionHelpFormatter):
    """Show an option's default in --help when it says something.

    Defaults of None (explained in the help text) and of on/off flags
    (the flag's name says it) are left out.
    """

    def _get_help_string(self, action):
        text = action.help or ""
        if (action.default is not None and action.default is not argparse.SUPPRESS
                and action.nargs != 0 and "%(default)" not in text and action.option_strings):
            text += " (default: %(default)s)"
        return text


class ArgumentParser(argparse.ArgumentParser):
    """argparse with meaningful defaults shown in ``--help``."""

    def __init__(self, *args, **kwargs):
        kwargs.setdefault("formatter_class", _DefaultsFormatter)
        super().__init__(*args, **kwargs)


def positive_int(text):
    value = int(text)
    if value <= 0:
        raise argparse.ArgumentTypeError(f"{text} is not a positive integer")
    return value


def positive_float(text):
    value = float(text)
    if not value > 0:
        raise argparse.ArgumentTypeError(f"{text} is not a positive number")
    return value


def fraction(text):
    value = float(text)
    if not 0 < value < 1:
        raise argparse.ArgumentTypeError(f"{text} is not a fraction between 0 and 1")
    return value


def run(main, argv=None):
    """Call ``main(argv)``; turn user errors into ``error: ...`` and exit code 2.

    Ctrl-C and SIGTERM stop it cleanly with advice for the phase they
    interrupted (:mod:`hpa.runtime.interrupts`) and exit codes 130 and 143, as a
    shell reports a process those signals ended.
    """
    try:
        with stop_on_sigterm():
            code = main(argv)
    except HpaError as error:
        print(f"error: {error}", file=sys.stderr)
        return EXIT_USAGE
    except OSError as error:  # permissions, a full disk: the system's own words name the file
        print(f"error: {_describe(error)}", file=sys.stderr)
        return EXIT_USAGE
    except KeyboardInterrupt as stop:
        print(interrupted_message(stop), file=sys.stderr)
        return 128 + (signal.SIGTERM if isinstance(stop, Terminated) else signal.SIGINT)
    return code or 0


def _describe(error):
    """An OSError in one line that names its file; a full disk says so plainly."""
    where = " -> ".join(str(p) for p in (error.filename, error.filename2) if p is not None)
    if error.errno == errno.ENOSPC:
        return f"no space left on the device while writing {where or 'a file'}; free some space and run again"
    return str(error)
