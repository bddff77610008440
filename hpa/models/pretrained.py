"""ImageNet weights from a torchvision or timm weight file, adapted to the 4 HPA stains and 28 classes.

A torchvision (or timm) network sees RGB images and predicts 1000 ImageNet classes. Two
tensors therefore change; every other one loads by name, unchanged:

* the first convolution W (O, 3, k, k) gains a filter for the fourth stain.
  Our stains are red, green, blue, yellow, and the first three play the part
  of R, G, B. Yellow in the HPA images is the mix of red and green light
  (the external data ships it as an RGB image with R = G), so its filter
  starts as the mean of the red and green filters (``"red-green"``). Then
  the response to a yellow pixel of value v is
  W_r v/2 + W_g v/2, what the ImageNet network gave a pixel of half that much
  red and green. Alternatives: ``"red"`` (copy the red filter: yellow read
  as red, the stain it is usually compared with), ``"mean"`` (the mean of
  the three RGB filters: yellow read as grey) and ``"zero"`` (yellow ignored
  at first; the fine-tuning learns its filter from nothing).
* the classifier (``fc``, ``classifier``, ``classifier.6`` or timm's ``classif``) is replaced by a
  fresh 28-way Linear layer, initialised like any new minidl Linear.

Files: ``.pth``/``.pt`` (``torch.save`` of a ``state_dict``; read with
``torch.load(weights_only=True)``, so PyTorch must be installed), or
``.safetensors`` (read with the ``safetensors`` package into NumPy, no
PyTorch needed; ``pip install minidl-hpa[pretrained]``). Older torchvision
DenseNet files name layers ``norm.1`` instead of ``norm1``; those keys are
renamed as torchvision itself does when loading them.
"""
import os
import re

import numpy as np

from hpa.models import IMPORTABLE_NAMES, build_model
from hpa.runtime.errors import HpaError
from minidl.layers import Conv2d, Linear

FOURTH_CHANNEL = ("red-green", "red", "mean", "zero")
_LEGACY_DENSENET = re.compile(r"^(.*denselayer\d+\.(?:norm|relu|conv))\."
                              r"((?:1|2)\.(?:weight|bias|running_mean|running_var|num_batches_tracked))$")


def read_weights(path):
    """``name -> NumPy array`` of a ``.pth``/``.pt`` or ``.safetensors`` state dict."""
    path = os.fspath(path)
    if not os.path.isfile(path):
        raise HpaError(f"--from {path}: no such file")
    suffix = os.path.splitext(path)[1].lower()
    if suffix == ".safetensors":
        try:
            from safetensors.numpy import load_file
        except ImportError:
            raise HpaError(f"--from {path}: reading .safetensors needs the safetensors package "
                           "(pip install 'minidl-hpa[pretrained]')") from None
        try:
            state = load_file(path)
        except Exception as error:  # the library's own error types vary between versions
            raise HpaError(f"--from {path}: not a readable safetensors file ({error})") from None
    elif suffix in (".pth", ".pt"):
        state = _read_torch(path)
    else:
        raise HpaError(f"--from {path}: expected a .pth, .pt or .safetensors file")
    return {_LEGACY_DENSENET.sub(r"\1\2", k): np.asarray(v) for k, v in state.items()}


def _read_torch(path):
    try:
        import torch
    except ImportError:
        raise HpaError(f"--from {path}: reading .pth/.pt needs PyTorch; on a machine with it, save the "
                       "weights as .safetensors instead (see the README)") from None
    try:
        state = torch.load(path, map_location="cpu", weights_only=True)
    except Exception as error:  # pickle, zip and torch errors alike: the file is not a state dict
        raise HpaError(f"--from {path}: not a readable PyTorch file ({type(error).__name__})") from None
    if isinstance(state, dict) and isinstance(state.get("state_dict"), dict):
        state = state["state_dict"]  # a training checkpoint around the weights
    if not isinstance(state, dict) or not all(hasattr(v, "numpy") for v in state.values()):
        raise HpaError(f"--from {path}: holds no state dict of tensors")
    return {k: v.detach().cpu().numpy() for k, v in state.items()}


def first_conv_and_classifier(model):
    """The names of the first Conv2d of ``model.features`` and of the last Linear of ``model.head``."""
    names = {id(m): name for name, m in model.named_modules()}
    conv = next(m for m in model.features.modules() if isinstance(m, Conv2d))
    linear = [m for m in model.head.modules() if isinstance(m, Linear)][-1]
    return names[id(conv)], names[id(linear)]


def four_stain_filters(weight, fourth_channel="red-green"):
    """(O, 3, k, k) RGB filters -> (O, 4, k, k) for red, green, blue, yellow; see the module docstring."""
    if fourth_channel not in FOURTH_CHANNEL:
        raise HpaError(f"--fourth-channel {fourth_channel!r}: choose one of {', '.join(FOURTH_CHANNEL)}")
    if weight.ndim != 4 or weight.shape[1] != 3:
        raise HpaError(f"the first convolution has shape {weight.shape}, not (O, 3, k, k) RGB filters")
    yellow = {"red-green": (weight[:, 0] + weight[:, 1]) / 2, "red": weight[:, 0],
              "mean": weight.mean(axis=1), "zero": np.zeros_like(weight[:, 0])}[fourth_channel]
    return np.concatenate([weight, yellow[:, None]], axis=1)


def _names(keys, limit=6):
    keys = sorted(keys)
    return ", ".join(keys[:limit]) + (f" and {len(keys) - limit} more" if len(keys) > limit else "")


def adapt_state(state, model, source="the file", fourth_channel="red-green"):
    """The model's state dict filled from an ImageNet ``state``: first conv adapted, classifier kept fresh.

    Raises ``HpaError`` naming unknown or missing keys and mismatched shapes.
    ``num_batches_tracked`` counters (absent from old files) may be missing.
    """
    own = model.state_dict()
    conv, linear = first_conv_and_classifier(model)
    unknown = set(state) - set(own)
    missing = {k for k in set(own) - set(state) if not k.endswith("num_batches_tracked")}
    if unknown or missing:
        parts = ([f"unknown keys {_names(unknown)}"] if unknown else []) + \
                ([f"missing keys {_names(missing)}"] if missing else [])
        raise HpaError(f"{source} does not fit {type(model).__name__}: {'; '.join(parts)} "
                       "(is it a torchvision or timm state dict of this --arch?)")
    adapted = dict(own)
    for key, value in state.items():
        if key.startswith(linear + "."):
            continue  # the fresh 28-way classifier stays
        if key == conv + ".weight" and value.shape[1] == 3 and own[key].shape[1] == 4:
            value = four_stain_filters(value, fourth_channel)
        if value.shape != own[key].shape:
            raise HpaError(f"{source}: {key} has shape {value.shape}, the model expects {own[key].shape}")
        adapted[key] = value.astype(own[key].dtype)
    return adapted


def import_imagenet(arch, path, fourth_channel="red-green", num_classes=28, **options):
    """The ``arch`` network for 4 stains and ``num_classes``, with the ImageNet weights of ``path``."""
    if arch not in IMPORTABLE_NAMES:
        raise HpaError(f"--arch {arch!r}: choose one of {', '.join(IMPORTABLE_NAMES)}")
    state = read_weights(path)
    model = build_model(arch, num_classes=num_classes, **options)
    model.load_state_dict(adapt_state(state, model, source=f"--from {path}", fourth_channel=fourth_channel))
    return model
