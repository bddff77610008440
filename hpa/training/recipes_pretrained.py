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
* ``inception-resnet-v2-rgb``: Inception-ResNet-V2 from timm's ImageNet
  weights on the red, green and blue stains as R, G, B (yellow left out),
  299 px, a new 28-way sigmoid head, BCE, Adam 1e-3, batch 16, up to 150
  epochs with early stopping on the validation loss, an 80/20 split; the
  paper reports per-label accuracy, which every run's report and
  ``metrics.csv`` give next to macro F1. ``inception-resnet-v2-four-stains``
  is the same on all four stains (yellow's filter from red and green), for
  comparison. Both start from one import:
  ``hpa.import_weights --arch inception_resnet_v2`` writes 4 stains, and a
  3-stain run keeps the filters of its stains.
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

_INCEPTION = dict(init="imagenet:inception_resnet_v2-hpa.npz", image_size=299, batch_size=16, epochs=150,
                  early_stopping=10, early_stopping_on="val-loss", optimizer="adam", lr=1e-3, loss="bce",
                  schedule="none", val_fraction=0.2, normalize="inception", augment="dihedral", head_epochs=0)
_INCEPTION_DOC = ("The paper fine-tunes ImageNet-pretrained Inception-ResNet-V2 on the red, green and blue stains "
                  "resized to 299 px, with a new 28-way sigmoid output, binary cross-entropy, Adam at 1e-3, batch "
                  "16, up to 150 epochs with early stopping on the validation loss, a random 80/20 split, and "
                  "reports per-label accuracy (96.9% on validation). Chosen here: the 20% is stratified (every "
                  "label in both parts), patience 10 epochs, Inception input scaling (mean 0.5, std 0.5), "
                  "flips/rotations, no schedule, the whole network trained from the first epoch.")
register(Recipe("inception-resnet-v2-rgb", "inception_resnet_v2",
                "Inception-ResNet-V2 from timm's ImageNet weights on red, green, blue (no yellow), 299 px, BCE, "
                "Adam 1e-3, batch 16, <= 150 epochs, early stopping on validation loss",
                dict(_INCEPTION, stains="red,green,blue"), _INCEPTION_DOC))
register(Recipe("inception-resnet-v2-four-stains", "inception_resnet_v2",
                "inception-resnet-v2-rgb on all four stains (4-channel first conv, yellow from red and green)",
                dict(_INCEPTION), _INCEPTION_DOC + " This variant reads all four stains, for comparison."))
