"""The papers' ImageNet fine-tuning recipes, registered with :mod:`hpa.training.recipes` (``--recipe NAME``).

Each recipe is :class:`~hpa.training.config.TrainConfig` field values; ``init`` names the file ``hpa.import_weights``
writes (``imagenet:<arch>-hpa.npz``), so the weights must be imported first:

    python -m hpa.import_weights --arch densenet161 --from densenet161.pth --out densenet161-hpa.npz

Per-class thresholds need no option: every run searches them on its
validation predictions (``thresholds.json``).

* ``densenet161-*`` (Patil & Bandhu): DenseNet-161 pretrained on ImageNet,
  two stages (the new head alone, then everything at a tenth of the rate),
  ImageNet statistics for the R, G, B stains, and one of the three
  weighted-loss schemes of the paper for the class imbalance: class weights
  1/log(N_i) (``inv-log``), positive weights (N - N_i)/N_i (``ratio``) or
  their square root (``sqrt-ratio``).
* ``resnet50-four-stains`` (Mylavarapu): ResNet-50 with its first convolution
  widened to the four stains stacked (yellow initialised from red and
  green), fine-tuned end to end at 512 px with plain BCE.
"""

from hpa.training.recipes import Recipe, register

_DENSENET161 = dict(init="imagenet:densenet161-hpa.npz", image_size=224, batch_size=16,
                    epochs=12, head_epochs=2, optimizer="adam", lr=1e-3, unfrozen_lr=1e-4, backbone_lr=5e-5,
                    schedule="plateau", normalize="imagenet", loss="weighted-bce")
_DENSENET161_DOC = ("Patil & Bandhu fine-tune DenseNet-161 with weighted losses and per-class thresholds. Chosen "
                    "here: 224 px, batch 16, 2 head-only epochs at 1e-3, then 10 epochs of the whole network at "
                    "1e-4 with the backbone at 5e-5, plateau schedule.")

for _name, _summary, _weights in (
        ("densenet161-inv-log", "BCE with class weights 1/log(N_i)", dict(class_weight="inv-log", pos_weight="none")),
        ("densenet161-ratio", "BCE with positive weights (N - N_i)/N_i", dict(class_weight="none", pos_weight="ratio")),
        ("densenet161-sqrt-ratio", "BCE with positive weights sqrt((N - N_i)/N_i)",
         dict(class_weight="none", pos_weight="sqrt-ratio"))):
    register(Recipe(_name, "densenet161", f"Patil & Bandhu: DenseNet-161 from ImageNet, two stages, {_summary}",
                    dict(_DENSENET161, **_weights), _DENSENET161_DOC))

register(Recipe(
    "resnet50-four-stains", "resnet50",
    "Mylavarapu: ResNet-50 from ImageNet on the four stains stacked (4-channel first conv), 512 px, BCE",
    dict(init="imagenet:resnet50-hpa.npz", image_size=512, batch_size=8, epochs=10, head_epochs=1,
         optimizer="adam", lr=1e-3, unfrozen_lr=1e-4, schedule="plateau", normalize="imagenet", loss="bce"),
    "Mylavarapu stacks the four stains into ResNet-50's input. Chosen here: yellow filter from red and green "
    "(hpa.import_weights' default), 1 head-only epoch at 1e-3, then 9 at 1e-4, batch 8, plateau schedule."))
