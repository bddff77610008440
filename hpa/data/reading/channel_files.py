"""Channel image files: ``<Id>_<colour>.<ext>`` names, listing a folder, and their extensions.

A folder may mix spellings of one extension (``x_red.png`` beside
``y_red.PNG``, as copies from other systems do): the most common spelling
becomes the data set's extension and every other spelling is looked up per
file, so no existing file is ever reported missing.
"""
import os
import re
from collections import Counter

from hpa.data.reading.labels import CHANNELS
from hpa.runtime.errors import HpaError

IMAGE_EXTENSIONS = (".png", ".jpg", ".jpeg", ".tif", ".tiff")
CHANNEL_FILE = re.compile(
    r"^(?P<id>.+)_(?P<channel>%s)(?P<ext>%s)\Z"
    % ("|".join(CHANNELS), "|".join(re.escape(e) for e in IMAGE_EXTENSIONS)),
    # DOTALL: a name with a newline is matched, so its Id is refused (hpa.data.reading.sample_ids), not skipped.
    re.IGNORECASE | re.DOTALL,
)


def list_channel_files(folder):
    """Names in ``folder`` that look like ``<Id>_<colour>.<image ext>``."""
    try:
        return [n for n in os.listdir(folder) if CHANNEL_FILE.match(n)]
    except OSError as err:
        raise HpaError(f"{folder}: cannot list folder ({err.strerror})") from None


def common_extension(names):
    """The most frequent extension among channel file names, as spelt on disk."""
    return Counter(os.path.splitext(n)[1] for n in names).most_common(1)[0][0]


def other_spellings(names, ext):
    """{name with extension ``ext``: name on disk} for files whose extension differs only in case."""
    spelling = {}
    for name in names:
        stem, own = os.path.splitext(name)
        if own != ext and own.lower() == ext.lower():
            spelling[stem + ext] = name
    return spelling
