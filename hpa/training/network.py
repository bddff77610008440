"""The network of each split of a run: built once, its ``--init`` weights loaded once.

    networks = SplitNetworks(config)   # the first network built: bad --model-option values fail now
    networks.get_ready(group)          # on the device, --init loaded: unusable weights fail now,
                                       # before any data is generated or cached
    for each split:
        model = networks.take(group)   # the first split gets that network; a later one (another
                                       # fold) a fresh one, built and loaded the same way

Every network starts from ``manual_seed(config.seed)``, so each fold starts
from the same weights, and :meth:`SplitNetworks.take` leaves minidl's random
state exactly as a build just before training would (dropout and the
trainer draw from it next): a network built early trains the same as one
built late.
"""
import minidl as md
from hpa.models import build_model
from hpa.models.checkpoint import load_checkpoint
from hpa.models.pretrained import first_conv_and_classifier
from hpa.models.stains import STAIN_NAMES, stain_indices
from hpa.runtime.errors import HpaError
from hpa.training.fine_tuning import init_path
from minidl import StateDictError
from minidl.distributed import SyncBatchNorm


def load_init(model, init, model_name):
    """Load ``--init`` weights of the same network into ``model``.

    ``init`` is a training checkpoint, or ``imagenet:FILE`` for the output of
    ``hpa.import_weights`` (ImageNet weights with a fresh 28-way head).
    """
    path, imported = init_path(init)
    state, meta, _ = load_checkpoint(path)
    if imported != ("imported" in meta):
        raise HpaError(f"--init {init}: " + ("not an hpa.import_weights file; give a training checkpoint "
                                              "without the imagenet: prefix" if imported else
                                              "an hpa.import_weights file: write --init imagenet:" + path))
    if meta.get("model") != model_name:
        raise HpaError(f"--init {init}: checkpoint is for model {meta.get('model')!r}, not {model_name!r}")
    if imported:  # the import has 4 stains: keep the first convolution's filters of the stains the model reads
        conv = first_conv_and_classifier(model)[0] + ".weight"
        if conv in state and state[conv].ndim == 4 and state[conv].shape[1] == 4:
            state[conv] = state[conv][:, list(stain_indices(getattr(model, "stains", STAIN_NAMES)))]
    try:
        model.load_state_dict(state)
    except StateDictError as error:
        raise HpaError(f"--init {path}: {error}") from None


class SplitNetworks:
    """Builds the network of each split of ``config`` (see the module docstring)."""

    def __init__(self, config):
        self.config = config
        self._first, self._ready = self._build(), False

    def _build(self):
        """(model, minidl's random state right after building it)."""
        config = self.config
        md.manual_seed(config.seed)
        model = build_model(config.model, image_size=config.image_size, stains=config.stains, **config.model_options)
        return model, md.rng.get_state()

    def _place(self, model, group):
        """Synchronised batch norm, the device, TF32, ``--init``: what the network trains with."""
        config = self.config
        if config.distributed and config.sync_batchnorm:
            model = SyncBatchNorm.convert_sync_batchnorm(model, group)
        model.to(config.device)
        if config.device == "gpu":
            md.backend.allow_tf32(config.tf32)
        if config.init:
            load_init(model, config.init, config.model)
        return model

    def get_ready(self, group):
        """Put the first network on its device and load ``--init`` into it (the checks before the data)."""
        if self._first and not self._ready:
            model, state = self._first
            self._first, self._ready = (self._place(model, group), state), True

    def take(self, group):
        """The next split's network, ready to train; minidl's random state as right after its build."""
        if self._first is None:
            model, state = self._build()
            model = self._place(model, group)
        else:
            self.get_ready(group)
            (model, state), self._first = self._first, None
        md.rng.set_state(state)
        return model
