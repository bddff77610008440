"""``python -m hpa.bench.data``: its three tables on a tiny run, and its argument errors."""
import re

import pytest

from hpa.bench import data as bench_data

TINY = ["--n", "8", "--cache-n", "2", "--sizes", "32", "--repeats", "1", "--seconds", "0.01", "--steps", "1"]


def test_prints_cache_loader_and_training_tables(capsys):
    bench_data.main(TINY + ["--train", "parallel_lenet:32", "gapnet:16"])
    out = capsys.readouterr().out
    assert re.search(r"^BLAS: (.*kernel|unknown)", out, re.M), out  # the OpenBLAS kernel it measured with
    assert re.search(r"^\s+32\s+\d+\s+\d+$", out, re.M), out  # cache build at 32 px
    # The loader runs at the training sizes too (16 px for gapnet), with and without augmentation.
    for size in (32, 16):
        for augmentation in ("default", "none"):
            assert re.search(rf"^\s+{size}\s+{augmentation}\s+\d+\s+\d+\s+\d+$", out, re.M), out
    rows = re.findall(r"^\s+(\d+)\s+(\w+)\s+(\d+)\s+([\d.]+)\s+(\d+)\s+([\d.]+)x\s+([\d.]+)%$", out, re.M)
    assert [(size, name, batch) for size, name, batch, *_ in rows] == [
        ("32", "parallel_lenet", "32"), ("16", "gapnet", "16")]
    for _, _, _, train, loader, ratio, _ in rows:
        assert float(train) > 0
        assert float(ratio) == pytest.approx(float(loader) / float(train), rel=0.01, abs=0.06)


def test_no_training_table_with_an_empty_train_list(capsys):
    bench_data.main(TINY + ["--cache-n", "0", "--train"])
    assert "loader against training" not in capsys.readouterr().out


@pytest.mark.parametrize("spec, message", [("resnet99", "unknown network 'resnet99'"),
                                           ("gapnet:big", "the size after ':' must be a positive number")])
def test_bad_train_specs_are_argument_errors(spec, message, capsys):
    with pytest.raises(SystemExit) as exit_info:
        bench_data.main(TINY + ["--train", spec])
    assert exit_info.value.code == 2
    assert message in capsys.readouterr().err
