"""The papers' ImageNet fine-tuning recipes, as plain data for the recipe registry (``--recipe NAME``).

Each recipe is a dict of :class:`~hpa.training.config.TrainConfig` field
values plus a docstring; ``init`` names the file ``hpa.import_weights``
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

_DENSENET161 = dict(model="densenet161", init="imagenet:densenet161-hpa.npz", image_size=224, batch_size=16,
                    epochs=12, head_epochs=2, optimizer="adam", lr=1e-3, finetune_lr=1e-4, backbone_lr=5e-5,
                    schedule="plateau", normalize="imagenet", loss="weighted-bce", augment=True)

RECIPES = {
    "densenet161-inv-log": (
        "DenseNet-161, two-stage fine-tuning, BCE with class weights 1/log(N_i)",
        dict(_DENSENET161, class_weight="inv-log", pos_weight="none")),
    "densenet161-ratio": (
        "DenseNet-161, two-stage fine-tuning, BCE with positive weights (N - N_i)/N_i",
        dict(_DENSENET161, class_weight="none", pos_weight="ratio")),
    "densenet161-sqrt-ratio": (
        "DenseNet-161, two-stage fine-tuning, BCE with positive weights sqrt((N - N_i)/N_i)",
        dict(_DENSENET161, class_weight="none", pos_weight="sqrt-ratio")),
    "resnet50-four-stains": (
        "ResNet-50 on the four stains stacked (4-channel first conv), fine-tuned end to end at 512 px",
        dict(model="resnet50", init="imagenet:resnet50-hpa.npz", image_size=512, batch_size=8, epochs=10,
             head_epochs=1, optimizer="adam", lr=1e-3, finetune_lr=1e-4, schedule="plateau",
             normalize="imagenet", loss="bce")),
}
