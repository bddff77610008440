"""Turn torchvision or timm ImageNet weights into a 4-stain, 28-class starting point.

    python -m hpa.import_weights --arch resnet50 --from resnet50.pth --out resnet50-hpa.npz
    python -m hpa.train --model resnet50 --init imagenet:resnet50-hpa.npz

``--from`` is a ``torch.save``'d torchvision (or, for ``inception_resnet_v2``,
timm) ``state_dict`` (.pth/.pt, needs
PyTorch) or the same in a .safetensors file (needs only the ``safetensors``
package). The first convolution gains a filter for the yellow stain
(``--fourth-channel``, see :mod:`hpa.models.pretrained`) and the 1000-way
ImageNet classifier is replaced by a fresh 28-way one. The output is an hpa
checkpoint that ``hpa.train --init imagenet:FILE`` fine-tunes.
"""
import os
import sys

from hpa.models import IMPORTABLE_NAMES, MODELS
from hpa.models.checkpoint import save_checkpoint
from hpa.models.pretrained import FOURTH_CHANNEL, import_imagenet
from hpa.runtime import cli

IMPORT_FORMAT = "imagenet-import-1"


def build_parser():
    p = cli.ArgumentParser(prog="python -m hpa.import_weights", description=__doc__)
    p.add_argument("--arch", required=True, choices=IMPORTABLE_NAMES,
                   help="the torchvision (or timm: inception_resnet_v2) architecture")
    p.add_argument("--from", dest="source", required=True, metavar="FILE",
                   help="torchvision/timm state dict: .pth/.pt (with PyTorch) or .safetensors")
    p.add_argument("--out", required=True, metavar="NPZ", help="the imported weights, for --init imagenet:NPZ")
    p.add_argument("--fourth-channel", choices=FOURTH_CHANNEL, default="red-green",
                   help="first filter of the yellow stain: mean of the red and green filters (yellow is "
                        "their mix), a copy of red, the mean of R, G and B, or zeros")
    p.add_argument("--seed", type=int, default=0, help="seeds the fresh 28-way classifier")
    return p


def save_import(path, model, arch, source, fourth_channel, seed, model_options=None):
    """Write ``model`` as an hpa checkpoint marked as imported (``--init imagenet:`` checks the mark)."""
    meta = {"model": arch, "model_options": model_options or {}, "image_size": MODELS[arch].image_size,
            "imported": {"format": IMPORT_FORMAT, "from": os.path.basename(os.fspath(source)),
                         "fourth_channel": fourth_channel, "seed": seed}}
    save_checkpoint(path, model, meta)


def main(argv=None):
    import minidl as md
    args = build_parser().parse_args(argv)
    md.manual_seed(args.seed)
    model = import_imagenet(args.arch, args.source, args.fourth_channel)
    save_import(args.out, model, args.arch, args.source, args.fourth_channel, args.seed)
    n = sum(p.data.size for p in model.parameters())
    print(f"{args.arch}: {n:,} parameters from {args.source} (4 stains, yellow from {args.fourth_channel}; "
          f"fresh 28-way classifier) -> {args.out}")
    return 0


if __name__ == "__main__":
    sys.exit(cli.run(main))
