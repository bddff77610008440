"""Crafted checkpoints through the real commands: one ``error:`` line naming the file, exit 2, bounded memory.

Each command runs in its own process under an address-space limit
(``RLIMIT_AS``, :data:`LIMIT_GB`), so a file that makes it allocate gigabytes
fails the test (MemoryError traceback, exit 1) instead of exhausting the
machine. The genuine checkpoint passes the same commands under the same limit.
"""
import copy
import os
import resource
import subprocess
import sys

import numpy as np
import pytest
from crafted_checkpoints import document_of, genuine_members, lying_array, npy_bytes, stored, write_zip, zip_bomb
from tiny_runs import TINY_LENET, train_one_epoch

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
LIMIT_GB = 1.5
COMMANDS = ("evaluate", "predict", "resume", "init")
# Both inference commands read checkpoints through hpa.evaluation.inference.load_models: cases about
# what inference reads run through one of them, the first few through both.
EVALUATE, PREDICT, BOTH = ("evaluate",), ("predict",), ("evaluate", "predict")


@pytest.fixture(scope="module")
def run(tiny_synthetic, tmp_path_factory):
    return train_one_epoch(tiny_synthetic, tmp_path_factory.mktemp("crafted"))


def command(name, checkpoint, data, root):
    cache = ["--cache-dir", str(root / "cache")]
    if name in ("evaluate", "predict"):
        data = data / "train" if name == "predict" else data  # predict reads a folder of unlabelled images
        return [f"hpa.{name}", "--checkpoint", checkpoint, "--data", data, *cache,
                *(["--out", str(root / "submission.csv")] if name == "predict" else []),
                "--overwrite"]  # outputs of earlier cases are no concern here
    option = "--resume" if name == "resume" else "--init"
    return ["hpa.train", *TINY_LENET, "--data", data, "--epochs", "2", option, checkpoint, *cache,
            "--out", str(root / f"out-{os.path.basename(checkpoint)}-{name}")]


def run_limited(args, cwd):
    def limit():
        size = int(LIMIT_GB * 2 ** 30)
        resource.setrlimit(resource.RLIMIT_AS, (size, size))
    env = {**os.environ, "PYTHONPATH": ROOT}
    return subprocess.run([sys.executable, "-m", *map(str, args)], capture_output=True, text=True, env=env,
                          cwd=cwd, timeout=300, preexec_fn=limit)


def _meta(change):
    def craft(doc):
        change(doc["meta"])
        return doc
    return craft


def _state(change):
    def craft(doc):
        change(doc["state"])
        return doc
    return craft


def _deep(doc):
    return "[" * 100_000 + "]" * 100_000


# name -> (how the file is made, commands that read it, words the error must hold)
CASES = {
    "zip-bomb": ("bomb", COMMANDS, "compressed"),
    "array-of-2^40-elements": ("lying", COMMANDS, "do not hold"),
    "deeply-nested-json": (_deep, COMMANDS, "not valid JSON"),
    "json-nested-40-deep": (lambda doc: {**doc, "extra": [[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[0]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]},
                            ("evaluate", "resume", "init"), "nests deeper"),
    "huge-network": (_meta(lambda m: m["model_options"].update(branch_features=200_000)), BOTH,
                     "far larger than"),
    "huge-image-size": (_meta(lambda m: m.update(image_size=10 ** 9)), BOTH, "image_size"),
    "large-image-size": (_meta(lambda m: m.update(image_size=4096)), PREDICT, "far larger than"),
    "options-not-an-object": (_meta(lambda m: m.update(model_options=[1, 2])), EVALUATE, "model_options"),
    "option-of-nested-lists": (_meta(lambda m: m["model_options"].update(hidden=[[16], [16]])), PREDICT,
                               "model option 'hidden'"),
    "option-of-the-wrong-kind": (_meta(lambda m: m["model_options"].update(hidden="wide")), EVALUATE,
                                 "parallel_lenet"),
    "unknown-model": (_meta(lambda m: m.update(model={"a": 1})), PREDICT, "meta names model"),
    "missing-mean": (_meta(lambda m: m.pop("mean")), BOTH, "'mean'"),
    "zero-std": (_meta(lambda m: m.update(std=[0, 1, 1, 1])), EVALUATE, "'std'"),
    "text-thresholds": (_meta(lambda m: m.update(thresholds=["high"] * 28)), BOTH, "thresholds"),
    "meta-not-an-object": (lambda doc: {**doc, "meta": [1]}, ("predict", "resume", "init"),
                           "'meta' is not a JSON object"),
    "bad-early-stopping": (_state(lambda s: s.update(early_stopping={"patience": "x"})), ("resume",),
                           "early-stopping state"),
    "bad-early-stopping-kind": (_state(lambda s: s["early_stopping"].update(best="high")), ("resume",),
                                "early-stopping state's best"),
    "bad-rng": (_state(lambda s: s.update(rng={"host": {"bit_generator": "PCG64", "state": 5}})), ("resume",),
                "random state"),
    "rng-not-an-object": (_state(lambda s: s.update(rng=7)), ("resume",), "random state"),
    "config-not-an-object": (_meta(lambda m: m.update(config=[1])), ("resume",), "config is not a JSON object"),
    "huge-config-value": (_meta(lambda m: m["config"].update(model_options={"hidden": "w" * 10 ** 6})),
                          ("resume",), "(1000007 characters)"),
    "text-epoch": (_state(lambda s: s.update(epoch="one")), ("resume",), "epoch 'one'"),
    "missing-array": (_state(lambda s: s["optimizer"]["state"]["0"].update(exp_avg={"__array__": "state/9999"})),
                      ("resume",), "refers to array 'state/9999'"),
}
PARAMS = [pytest.param(case, name, id=f"{case}-{name}") for case, (_, names, _) in CASES.items() for name in names]


def craft(run, case):
    path = run / f"{case}.npz"
    if path.exists():
        return path
    how = CASES[case][0]
    genuine = run / "run" / "last.npz"
    if how == "bomb":
        write_zip(path, genuine_members(genuine) + [zip_bomb("state/999.npy", 2.5)])
    elif how == "lying":
        members = [m for m in genuine_members(genuine) if m[0] != "model/head.8.bias.npy"]
        write_zip(path, members + [lying_array("model/head.8.bias.npy", (2 ** 40,))])
    else:
        document = how(copy.deepcopy(document_of(genuine)))
        if isinstance(document, str):  # raw meta.json text, not a JSON dump
            members = [m for m in genuine_members(genuine) if m[0] != "meta.json.npy"]
            text = np.frombuffer(document.encode(), np.uint8)
            write_zip(path, members + [stored("meta.json.npy", npy_bytes(text))])
        else:
            write_zip(path, genuine_members(genuine, document))
    return path


@pytest.mark.parametrize("case, name", PARAMS)
def test_crafted_checkpoint_is_a_one_line_error(run, tiny_synthetic, case, name):
    path = craft(run, case)
    result = run_limited(command(name, path, tiny_synthetic, run), run)
    lines = result.stderr.replace("\r", "\n").strip().splitlines()
    assert result.returncode == 2, result.stderr[-3000:]
    assert "Traceback" not in result.stderr and lines and lines[-1].startswith("error: "), result.stderr[-3000:]
    assert str(path) in lines[-1] and CASES[case][2] in lines[-1], lines[-1]
    assert len(lines[-1]) < 600


@pytest.mark.parametrize("name", COMMANDS)
def test_the_genuine_checkpoint_passes_the_same_commands_under_the_same_limit(run, tiny_synthetic, name):
    genuine = run / "genuine.npz"
    if not genuine.exists():
        write_zip(genuine, genuine_members(run / "run" / "last.npz"))  # rewritten by the same writer
    result = run_limited(command(name, genuine, tiny_synthetic, run), run)
    assert result.returncode == 0, result.stderr[-3000:]


@pytest.mark.skipif(not os.path.exists("/proc/self/statm"), reason="the budget needs Linux's /proc")
def test_the_build_budget_refuses_a_big_allocation_and_restores_the_limit():
    from hpa.models.memory_budget import address_space_budget
    before = resource.getrlimit(resource.RLIMIT_AS)
    with pytest.raises(MemoryError):
        with address_space_budget(64 * 2 ** 20):
            np.ones(2 ** 28)  # 2 GiB
    assert resource.getrlimit(resource.RLIMIT_AS) == before
    with address_space_budget(64 * 2 ** 20):
        assert np.ones(2 ** 20).sum() == 2 ** 20  # 8 MiB fits


def test_a_network_from_a_checkpoint_is_built_on_the_host(run, fake_device):
    from hpa.evaluation.inference import load_model
    from minidl import backend
    model, _ = load_model(run / "run" / "best.npz")
    assert backend.device() == "gpu"  # the caller's choice is restored
    assert all(type(p.data).__module__.startswith("numpy") for p in model.parameters())
