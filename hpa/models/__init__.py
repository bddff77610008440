"""The networks, by name: ``build_model("gapnet", image_size=256)``.

Every model is a minidl Module mapping (N, in_channels, S, S) images (stains
in red, green, blue, yellow order) to (N, num_classes) logits, with

* the :class:`~hpa.models.classifier.Classifier` interface: ``features``, the
  convolutional part, and ``head``, the dense part, so that
  ``model(x) == model.head(model.features(x))``, and ``freeze_features()``
  for a fine-tuning stage;
* ``expected_input``: (channels, size) the model was built for;
* for networks ending in global average pooling and one Linear layer
  (the DenseNets and ResNets), ``cam_parts()``: (a module mapping the images
  to the last (N, C, h, w) feature map, that Linear), for class activation
  maps: CAM_c = sum_k linear.weight[c, k] * F_k, whose spatial mean plus
  linear.bias[c] is logit c.

Each registry entry records the training defaults of the network's paper
(input size, batch size, epochs, optimizer, learning rate: ``hpa.train`` uses
them unless told otherwise), which sizes the network accepts, and what it is.
Networks with a flattening dense layer are built for one size; globally pooled
ones run on any size.

``TORCHVISION_MODELS`` are torchvision's ImageNet architectures with its
parameter names: ``hpa.import_weights`` turns a torchvision weight file into
their 4-stain, 28-class weights, and ``hpa.train --init imagenet:FILE``
fine-tunes from it. Their defaults are fine-tuning ones (224 px as in
ImageNet, Adam at 1e-4). ``TIMM_MODELS`` are the same for timm's ImageNet
networks (Inception-ResNet-V2, 299 px); ``IMPORTABLE_NAMES`` lists both kinds.
"""
import dataclasses
import functools
import inspect

from hpa.models.deepyeast import DeepYeast
from hpa.models.densenet import DenseNet, torchvision_densenet
from hpa.models.gapnet import GapNet
from hpa.models.inception_resnet_v2 import MIN_SIZE as _IRV2_MIN
from hpa.models.inception_resnet_v2 import InceptionResnetV2
from hpa.models.mcnn import MCNN
from hpa.models.parallel_lenet import ParallelLeNet
from hpa.models.resnet import ResNet
from hpa.models.stains import parse_stains, select_stains
from hpa.models.vgg import VGG
from hpa.runtime.errors import HpaError


@dataclasses.dataclass(frozen=True)
class ModelEntry:
    build: object         # callable(num_classes=, in_channels=, image_size=, **options) -> Classifier
    image_size: int       # default input side, px
    sizes: str            # which input sides the network accepts
    description: str
    batch_size: int = 32
    epochs: int = 8
    optimizer: str = "adam"
    lr: float = 1e-3

    @property
    def defaults(self):
        """Training defaults, by ``TrainConfig`` field."""
        return {"image_size": self.image_size, "batch_size": self.batch_size, "epochs": self.epochs,
                "optimizer": self.optimizer, "lr": self.lr}


MODELS = {
    "parallel_lenet": ModelEntry(
        ParallelLeNet, 128, "exactly image_size, a multiple of 4 * input_pool (512 with input_pool=4)",
        "Three LeNet branches (red, blue, yellow, each with green) merged by dense layers; the main model",
        # 8 epochs keep the default run on the synthetic set under 10 minutes on 2 cores.
        batch_size=32, epochs=8),
    "gapnet": ModelEntry(
        GapNet, 512, "any size >= 16 (global average pooling); 64 or more recommended",
        "GapNet: BN-conv-ReLU blocks, global average taps at three depths, two dense layers",
        batch_size=16, epochs=6),
    "gapnet_pl": ModelEntry(
        functools.partial(GapNet, variant="pl"), 512, "any size >= 16; 64 or more recommended",
        "GapNet-PL (Rumetshofer et al. 2019): the SELU / alpha-dropout original of gapnet",
        batch_size=16, epochs=6),
    "deepyeast": ModelEntry(
        DeepYeast, 64, "exactly image_size, a multiple of 8 (the original used 64 px cell crops)",
        "DeepYeast (Parnamaa & Parts 2017): VGG-style 3x3 conv blocks 64-128-256, two dense layers of 512",
        batch_size=128, optimizer="sgd", lr=0.01),
    "mcnn": ModelEntry(
        MCNN, 128, "exactly image_size, a multiple of max(scales) (16 by default)",
        "M-CNN (Godinez et al. 2017): one three-conv path per image scale, merged by a 1x1 conv",
        batch_size=22, optimizer="sgd", lr=0.01),
    "densenet": ModelEntry(
        DenseNet, 128, "any size >= 16 (global average pooling)",
        "Small DenseNet-BC: dense blocks of 6, 12, 16 layers, growth rate 12; has cam_parts()"),
    "resnet18": ModelEntry(
        functools.partial(ResNet, depth=18), 512, "any size (global average pooling); 32 or more recommended",
        "ResNet-18 with a 4-stain first conv, torchvision parameter names; has cam_parts()",
        batch_size=16),
}

_GLOBAL = "any size >= 32 (global average pooling)"
_FINE_TUNE = dict(batch_size=16, epochs=10, lr=1e-4)
TORCHVISION_MODELS = {
    "resnet34": ModelEntry(functools.partial(ResNet, depth=34), 224, _GLOBAL,
                           "ResNet-34 (basic blocks 3-4-6-3), torchvision layout; has cam_parts()", **_FINE_TUNE),
    "resnet50": ModelEntry(functools.partial(ResNet, depth=50), 224, _GLOBAL,
                           "ResNet-50 (bottlenecks 3-4-6-3), torchvision layout; has cam_parts()", **_FINE_TUNE),
    "resnet101": ModelEntry(functools.partial(ResNet, depth=101), 224, _GLOBAL,
                            "ResNet-101 (bottlenecks 3-4-23-3), torchvision layout; has cam_parts()", **_FINE_TUNE),
    **{f"densenet{d}": ModelEntry(torchvision_densenet(d), 224, _GLOBAL,
                                  f"DenseNet-{d}, torchvision layout; has cam_parts()", **_FINE_TUNE)
       for d in (121, 161, 169)},
    **{f"vgg{d}{bn}": ModelEntry(functools.partial(VGG, depth=d, batch_norm=bool(bn)), 224,
                                 "any size >= 32 (adaptive pooling to 7x7)",
                                 f"VGG-{d}{' with batch norm' if bn else ''}, torchvision layout",
                                 batch_size=8, epochs=10, lr=1e-4)
       for d in (16, 19) for bn in ("", "_bn")},
}
# resnet18 keeps its entry above (trained from scratch at 512 px by default) but has torchvision's layout too.
MODELS.update(TORCHVISION_MODELS)
TORCHVISION_NAMES = ("resnet18", *TORCHVISION_MODELS)
TIMM_MODELS = {
    "inception_resnet_v2": ModelEntry(
        InceptionResnetV2, 299, f"any size >= {_IRV2_MIN} (valid 3x3 convolutions, then global average pooling)",
        "Inception-ResNet-V2, timm layout (conv2d_1a ... classif); has cam_parts()", **_FINE_TUNE),
}
MODELS.update(TIMM_MODELS)
IMPORTABLE_NAMES = (*TORCHVISION_NAMES, *TIMM_MODELS)


def model_names():
    return tuple(MODELS)


def _options_of(build):
    fixed = set(build.keywords) if isinstance(build, functools.partial) else set()
    target = build.func if isinstance(build, functools.partial) else build
    return [p for p in inspect.signature(target).parameters
            if p not in fixed | {"self", "num_classes", "in_channels", "image_size"}]


def build_model(name, num_classes=28, in_channels=None, image_size=None, stains=None, **options):
    """The network ``name`` for ``image_size`` px inputs (default: the entry's size).

    ``stains`` (e.g. ``("red", "green", "blue")``, default all four) are the
    stains it reads from 4-stain images (:mod:`hpa.models.stains`); it then has
    one input channel per stain. ``in_channels`` without ``stains`` builds a
    network for images of that many channels, read as they are.
    Unknown names, unknown options and invalid values raise ``HpaError``.
    """
    if name not in MODELS:
        raise HpaError(f"unknown model {name!r}: choose one of {', '.join(MODELS)}")
    entry = MODELS[name]
    known = _options_of(entry.build)
    unknown = sorted(set(options) - set(known))
    if unknown:
        raise HpaError(f"model {name!r} has no option {', '.join(map(repr, unknown))}; "
                       f"its options are {', '.join(known)}")
    size = entry.image_size if image_size is None else image_size
    names = parse_stains(stains)
    if in_channels is None:
        in_channels = len(names)
    elif stains is not None and in_channels != len(names):
        raise HpaError(f"model {name!r}: {in_channels} input channels for {len(names)} stains")
    try:
        model = entry.build(num_classes=num_classes, in_channels=in_channels, image_size=size, **options)
        return select_stains(model, names) if stains is not None else model
    except ValueError as error:
        raise HpaError(f"model {name!r}: {error} (accepted input: {entry.sizes})") from None
    except (TypeError, IndexError) as error:  # an option of the wrong kind, e.g. a number for a list
        raise HpaError(f"model {name!r}: an option has the wrong type or length "
                       f"({', '.join(f'{k}={v!r}' for k, v in options.items())}): {error}") from None
