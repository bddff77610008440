"""One exception type for every problem with the user's input.

Commands catch :class:`HpaError` and print its message on one line, so a
missing file or a malformed CSV row never ends in a traceback.
"""


class HpaError(Exception):
    """A problem with input data, a path, a checkpoint or an option.

    The message is a single line that names the file, row or argument and
    says what is wrong with it.
    """
