"""``--device cpu|gpu``: the compute device of a command, chosen once when it starts.

``hpa.train``, ``hpa.evaluate`` and ``hpa.predict`` call :func:`use_device`
with their ``--device`` before they build or load a network; everything after
that (models, loaders' batches, losses) follows minidl's current device.
"""
import minidl as md
from hpa.runtime.errors import HpaError


def use_device(device):
    """Select ``"cpu"`` or ``"gpu"`` for minidl; a missing GPU is a one-line error."""
    try:
        md.use(device)
    except md.backend.DeviceError as error:
        raise HpaError(f"--device {device}: {error}") from None
