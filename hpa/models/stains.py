"""Which stains a network sees: all four, or a chosen few (``--stains red,green,blue``).

Images always reach a network as (N, 4, S, S), stains in red, green, blue,
yellow order (the cache, the normalisation statistics and the plots keep all
four). A network built for ``stains=("red", "green", "blue")`` has 3 input
channels, and its ``features`` first pick those channels:

    x (N, 4, S, S) --ChannelSelect(0, 1, 2)--> (N, 3, S, S) --the network's own features--> ...

so an ImageNet network reads the red, green and blue stains as its R, G and B
channels, as papers that leave out yellow do. The selection has no
parameters, so state-dict names are the network's own; its backward puts the
gradient back into the chosen channels (zeros for the others).
"""
from hpa.runtime.errors import HpaError
from minidl.layers import ChannelSelect, Sequential

STAIN_NAMES = ("red", "green", "blue", "yellow")


def parse_stains(value, option="--stains"):
    """Stain names (a tuple, in the order given) of ``"red,green,blue"`` or a list; None: all four."""
    if value is None:
        return STAIN_NAMES
    names = tuple(str(s).strip() for s in (value.split(",") if isinstance(value, str) else value))
    unknown = [s for s in names if s not in STAIN_NAMES]
    if not names or unknown or len(set(names)) != len(names):
        raise HpaError(f"{option} {value!r}: give distinct stains from {', '.join(STAIN_NAMES)}, comma-separated")
    return names


def stain_indices(names):
    """Channel index of each stain name in the (red, green, blue, yellow) images."""
    return tuple(STAIN_NAMES.index(s) for s in names)


def select_stains(model, names):
    """Make ``model`` (built with len(names) input channels) read only ``names`` of 4-stain images.

    ``model.features`` becomes Sequential(ChannelSelect, the old features), an
    unregistered attribute over the same layers (see ``Classifier.share_parts``):
    parameters, state dict and ``freeze_features`` are unchanged.
    """
    model.stains = tuple(names)
    if model.stains != STAIN_NAMES:
        object.__setattr__(model, "features", Sequential(ChannelSelect(stain_indices(names)), model.features))
    return model
