"""One exception type for every problem with the user's input.

Commands catch :class:`HpaError` and print its message on one line, so a
missing file or a malformed CSV row never ends in a traceback.
"""


class HpaError(Exception):
    """A problem with input data, a path, a checkpoint or an option.

    The message is a single line that names the file, row or argument and
    says what is wrong with it.
    """


# Longest stretch of a value from a file that a message shows (a 200 MB Id must not make a 200 MB message).
QUOTE_LIMIT = 60


def quote(value, limit=QUOTE_LIMIT):
    """``repr`` of ``value`` from a file, for a one-line message: control characters escaped, long values cut.

    A newline shows as ``\\n``; a value over ``limit`` characters shows its
    first ``limit`` and its length, e.g. ``'xxxx...' (1000 characters)``.
    """
    text = str(value)
    if len(text) <= limit:
        return repr(text)
    return f"{text[:limit]!r}"[:-1] + f"...{repr(text)[0]} ({len(text)} characters)"
