"""Named recipes: resolution, overrides, and every recipe end to end at a tiny size."""
import json

import pytest

from hpa import train
from hpa.runtime import cli
from hpa.synthesis.generate import generate
from hpa.training import recipes
from hpa.training.config import TrainConfig

# Small enough for CI on 2 cores; each override beats the recipe's value.
TINY = ["--image-size", "32", "--epochs", "1"]


def tiny(name):
    """TINY, and shorter oversampling and fine-tuning where the recipe has them."""
    settings = recipes.RECIPES[name].settings
    return TINY + (["--oversample", "10"] if settings.get("oversample") else []) + \
        (["--finetune-epochs", "1"] if settings.get("finetune_epochs") else [])


@pytest.fixture(scope="module")
def data(tmp_path_factory):
    folder = tmp_path_factory.mktemp("synthetic")
    generate(folder, n=40, size=64, seed=3, progress=False)
    return folder


def test_recipe_list_has_one_line_per_recipe(capsys):
    assert cli.run(train.main, ["--recipe", "list"]) == 0
    lines = capsys.readouterr().out.strip().splitlines()
    assert [line.split()[0] for line in lines] == list(recipes.all_recipes())
    assert len(lines) >= 6


@pytest.mark.parametrize("name", list(recipes.RECIPES))
def test_every_recipe_resolves_to_a_valid_config(name):
    config = recipes.resolve(name).check()
    recipe = recipes.RECIPES[name]
    assert config.recipe == name and config.model == recipe.model
    for field, value in recipe.settings.items():
        assert getattr(config, field) == value, field
    assert recipe.doc and "Chosen here" in recipe.doc


def test_the_papers_values():
    gapnet = recipes.resolve("gapnet")
    assert (gapnet.folds, gapnet.threshold_step, gapnet.oversample, gapnet.lr, gapnet.loss) == \
        (3, 0.001, 500, 1e-3, "bce")
    assert gapnet.finetune_epochs > 0 and gapnet.oversample_augment
    yeast = recipes.resolve("deepyeast")
    assert (yeast.image_size, yeast.optimizer, yeast.lr, yeast.momentum, yeast.weight_decay, yeast.batch_size,
            yeast.schedule, yeast.gamma, yeast.plateau_patience) == (192, "sgd", 0.01, 0.9, 0.005, 128,
                                                                      "plateau", 0.5, 3)
    dense = recipes.resolve("densenet121")
    assert dense.model_options["block_layers"] == [6, 12, 24, 16] and dense.model_options["growth_rate"] == 32
    assert recipes.resolve("parallel-lenet").model_options == {"input_pool": 4}
    assert recipes.resolve("gapnet-pl").model == "gapnet_pl"


def test_explicit_options_override_the_recipe_and_nothing_else():
    config = train.parse_config(["--recipe", "deepyeast", "--lr", "0.5", "--model-option", "hidden=64"])
    assert config.lr == 0.5
    assert config.momentum == 0.9 and config.weight_decay == 0.005  # still the recipe's
    assert config.model_options == {"dropout": 0.5, "hidden": 64}
    assert train.parse_config(["--recipe", "gapnet", "--no-augment"]).augment == ""
    assert train.parse_config(["--recipe", "gapnet", "--folds", "0"]).folds == 0
    # Without a recipe nothing changes: the network's own defaults.
    assert train.parse_config(["--model", "deepyeast"]).lr == TrainConfig.for_model("deepyeast").lr


@pytest.mark.parametrize("args, message", [
    (["--recipe", "nope"], "--recipe 'nope'"),
    (["--recipe", "gapnet", "--model", "mcnn"], "trains 'gapnet', not 'mcnn'"),
    (["--recipe", "gapnet", "--augment", "dihedral,wobble"], "wobble"),
    (["--recipe", "gapnet", "--threshold-step", "0.3"], "--threshold-step"),
])
def test_bad_recipe_options_are_one_line_errors(args, message, capsys):
    assert cli.run(train.main, args) == 2
    err = capsys.readouterr().err.strip()
    assert err.startswith("error:") and message in err and "\n" not in err


@pytest.mark.slow
@pytest.mark.parametrize("name", list(recipes.RECIPES))
def test_every_recipe_runs_end_to_end(name, data, tmp_path, capsys):
    out = tmp_path / name
    code = cli.run(train.main, ["--recipe", name, "--data", str(data), "--out", str(out),
                                "--cache-dir", str(tmp_path / "cache"), *tiny(name)])
    assert code == 0
    printed = capsys.readouterr().out
    assert "validation macro F1" in printed and f"(recipe {name})" in printed
    config = json.loads((out / "config.json").read_text())
    assert config["recipe"] == name and config["image_size"] == 32 and config["epochs"] == 1
    assert (out / "report.txt").read_text().startswith(f"recipe: {name}\n")
    if config["folds"]:
        assert (out / "oof_thresholds.json").is_file()
    if config["finetune_epochs"]:
        first = (out / "fold0") if config["folds"] else out
        assert (first / "finetune" / "best.npz").is_file()
