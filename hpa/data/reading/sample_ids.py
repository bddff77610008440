"""What a sample Id may be: a file-name stem, never a path.

An Id names the four files ``<Id>_<colour>.<ext>`` in the image folder, and
a line of a submission CSV. Kaggle's Ids are UUIDs (36 characters) and the
HPA external Ids are like ``10580_1610_C1_1``. An Id that holds a path
(``../secret``, ``a/b``) would name a file outside the folder, and one with
a newline or other control character would break the submission's lines, so
both are refused, as is an Id longer than :data:`MAX_ID_LENGTH`.
"""
import re

from hpa.runtime.errors import HpaError, quote

MAX_ID_LENGTH = 200  # file names are at most 255 bytes, and '_yellow.tiff' must fit too
_CONTROL = re.compile(r"[\x00-\x1f\x7f]")


def check_id(sample_id, where):
    """Raise a one-line :class:`HpaError` starting with ``where`` unless ``sample_id`` is a plain file-name stem."""
    if len(sample_id) > MAX_ID_LENGTH:
        raise HpaError(f"{where}: Id {quote(sample_id)} is longer than {MAX_ID_LENGTH} characters")
    if _CONTROL.search(sample_id):
        raise HpaError(f"{where}: Id {quote(sample_id)} holds a control character (newline, tab, NUL...)")
    if "/" in sample_id or "\\" in sample_id or ".." in sample_id:
        raise HpaError(f"{where}: Id {quote(sample_id)} cannot hold a path ('/', '\\' or '..'); "
                       f"an Id is the start of its image files' names")
    return sample_id
