"""Named training recipes: each paper's setup as data, ``python -m hpa.train --recipe NAME``.

A recipe is a :class:`Recipe`: a network and the :class:`~hpa.training.config.TrainConfig`
values its paper describes (input size, optimizer, learning rate and schedule,
batch size, epochs, loss and weighting, oversampling, augmentations, folds,
threshold grid, fine-tuning stage). Resolving one is

    TrainConfig.for_model(recipe.model)      the network's registry defaults
      <- recipe.settings                     what the paper says
      <- the options given on the command line

so an explicit option always wins. No code path depends on a recipe's name:
everything a recipe changes is an ordinary option, and the run folder's
``config.json`` shows the resolved values.

Where a paper leaves a value out, the recipe's ``doc`` names the value chosen
here. Other modules add recipes with :func:`register` (e.g. pretrained
networks); :func:`all_recipes` imports them through :data:`EXTENSIONS`.
"""
import copy
import dataclasses
import importlib

from hpa.runtime.errors import HpaError

# Augmentation lists of hpa.data.augmentation.names.
PAPER_AUGMENTATIONS = "dihedral,blur,crop,contrast,noise,brightness,affine"


@dataclasses.dataclass(frozen=True)
class Recipe:
    name: str
    model: str
    summary: str     # one line for --recipe list
    settings: dict   # TrainConfig field -> value
    doc: str         # the source, and the values chosen here that the paper leaves out


RECIPES = {}
# Modules that register further recipes when imported (their own files).
EXTENSIONS = ("hpa.training.recipes_pretrained",)


def register(recipe):
    """Add ``recipe`` to the registry; a second recipe of the same name is an error."""
    if recipe.name in RECIPES:
        raise HpaError(f"recipe {recipe.name!r} is registered twice")
    RECIPES[recipe.name] = recipe
    return recipe


def all_recipes():
    """Every registered recipe by name, the extension modules' included."""
    for module in EXTENSIONS:
        importlib.import_module(module)
    return RECIPES


def get_recipe(name):
    recipes = all_recipes()
    if name not in recipes:
        raise HpaError(f"--recipe {name!r}: choose one of {', '.join(recipes)} (or 'list')")
    return recipes[name]


def recipe_list():
    """One line per recipe: name, network, summary."""
    recipes = all_recipes()
    width = max(map(len, recipes))
    return "\n".join(f"{r.name:<{width}}  {r.summary}" for r in recipes.values())


register(Recipe(
    "parallel-lenet", "parallel_lenet",
    "Sinha & Balabolu: parallel LeNet, 512 px mean-pooled 4x4 to 128, weighted sigmoid BCE, batch norm",
    {"image_size": 512, "model_options": {"input_pool": 4}, "loss": "weighted-bce",
     "class_weight": "inv-log", "pos_weight": "sqrt-ratio", "optimizer": "adam", "lr": 1e-3,
     "batch_size": 32, "epochs": 10, "augment": "dihedral", "schedule": "plateau"},
    "The network reads the raw 512 px image and mean-pools it 4x4 to 128 px inside its features "
    "(input_pool=4), with batch norm after each convolution. Chosen here (the paper does not fix "
    "them): the weighting of the sigmoid cross-entropy is 1/log(N_i) per class with a square-root "
    "positive weight; Adam at 1e-3, batch 32, 10 epochs, flips/rotations only, plateau halving."))

register(Recipe(
    "gapnet", "gapnet",
    "Madeira & Parreira: GapNet 512 px, BCE, Adam 1e-3, oversample to 500 with paper augmentations, "
    "3-fold CV, thresholds step 0.001, then head-only fine-tuning",
    {"image_size": 512, "loss": "bce", "optimizer": "adam", "lr": 1e-3, "batch_size": 16, "epochs": 20,
     "model_options": {"variant": "bn", "dropout": 0.4},
     "oversample": 500, "oversample_augment": PAPER_AUGMENTATIONS, "augment": "",
     "folds": 3, "threshold_step": 0.001, "finetune_epochs": 5, "finetune_lr": 1e-4,
     "schedule": "none"},
    "BatchNorm-Conv-ReLU blocks, dropout 0.4, binary cross-entropy, Adam 1e-3. Every sample with a "
    "label rarer than 500 is copied until each label has 500, and each copy gets one of the paper's "
    "augmentations (mirroring, blur sigma 0-0.5, side crops, contrast x0.5-1.5, per-pixel or "
    "per-pixel-and-channel noise, brightness x0.8-1.2 per channel with probability 0.2, affine); "
    "original samples are not augmented. 3-fold CV, thresholds on a 0.001 grid. Chosen here: batch "
    "16, 20 epochs, no schedule, and a fine-tuning stage of 5 epochs at 1e-4 on the dense head."))

register(Recipe(
    "deepyeast", "deepyeast",
    "Madeira & Parreira's DeepYeast: 192 px, SGD 0.01 momentum 0.9, wd 0.005, batch 128, "
    "dropout 0.5, halve lr after 3 flat epochs",
    {"image_size": 192, "optimizer": "sgd", "lr": 0.01, "momentum": 0.9, "weight_decay": 0.005,
     "batch_size": 128, "model_options": {"dropout": 0.5}, "schedule": "plateau", "gamma": 0.5,
     "plateau_patience": 3, "loss": "bce", "epochs": 30, "early_stopping": 8, "augment": "dihedral"},
    "As the paper gives it: 192 px, SGD lr 0.01 with momentum 0.9 and weight decay 0.005, batch "
    "128, dropout 0.5, learning rate halved after 3 epochs without improvement of the validation "
    "macro F1. Chosen here: plain BCE, 30 epochs with early stopping after 8, flips/rotations."))

register(Recipe(
    "mcnn", "mcnn",
    "Madeira & Parreira's M-CNN: 512 px, batch 22, lr 0.01",
    {"image_size": 512, "batch_size": 22, "lr": 0.01, "optimizer": "sgd", "momentum": 0.9,
     "loss": "bce", "epochs": 20, "schedule": "plateau", "augment": "dihedral"},
    "As the paper gives it: 512 px, batch 22, learning rate 0.01. Chosen here: SGD with Nesterov "
    "momentum 0.9 (the optimizer is not named), BCE, 20 epochs, plateau halving, flips/rotations."))

register(Recipe(
    "densenet121", "densenet",
    "Madeira & Parreira's DenseNet-121 from scratch: growth 32, blocks 6/12/24/16, batch 32, lr 1e-3",
    {"model_options": {"block_layers": [6, 12, 24, 16], "growth_rate": 32, "init_features": 64},
     "image_size": 512, "batch_size": 32, "lr": 1e-3, "optimizer": "adam", "loss": "bce", "epochs": 20,
     "schedule": "plateau", "augment": "dihedral"},
    "As the paper gives it: DenseNet-121 (growth 32, blocks 6/12/24/16, 64 stem channels) trained "
    "from scratch, batch 32, lr 1e-3. Chosen here: Adam, 512 px input, BCE, 20 epochs, plateau "
    "halving, flips/rotations."))

register(Recipe(
    "gapnet-pl", "gapnet_pl",
    "Rumetshofer et al.: GapNet-PL, SELU and alpha dropout, as in its paper",
    {"image_size": 512, "model_options": {"dropout": 0.3}, "optimizer": "sgd", "lr": 0.01,
     "momentum": 0.9, "batch_size": 16, "loss": "bce", "epochs": 20, "schedule": "none",
     "augment": "dihedral"},
    "The original GapNet-PL: SELU activations without batch norm, alpha dropout in the dense layers. "
    "Chosen here: alpha dropout 0.3, SGD lr 0.01 with momentum 0.9, batch 16, 20 epochs, BCE, "
    "no schedule, flips/rotations."))


def resolve(name, model=None):
    """The ``TrainConfig`` of recipe ``name`` (network defaults, then the recipe's values).

    ``model``, when given (``--model`` or a command fixed to one network),
    must be the recipe's network.
    """
    from hpa.training.config import TrainConfig  # config imports the model registry; recipes stay data

    recipe = get_recipe(name)
    if model and model != recipe.model:
        raise HpaError(f"--recipe {name} trains {recipe.model!r}, not {model!r}")
    return TrainConfig.for_model(recipe.model, recipe=name, **copy.deepcopy(recipe.settings))
