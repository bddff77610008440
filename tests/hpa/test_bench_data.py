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


def test_scaling_table_gives_both_paths_at_each_thread_count(capsys):
    bench_data.main(TINY + ["--cache-n", "0", "--train", "--scaling-workers", "2", "1", "3"])
    out = capsys.readouterr().out
    assert "cores available to this process" in out
    rows = re.findall(r"^\s+32\s+(\d+)\s+(\d+)\s+(\d+)\s+([\d.]+)x$", out, re.M)
    assert [int(w) for w, *_ in rows] == [1, 2, 3]
    assert rows[0][3] == "1.00" and all(int(host) > 0 and int(uint8) > 0 for _, host, uint8, _ in rows)
    bench_data.main(TINY + ["--cache-n", "0", "--train", "--scaling-workers"])
    assert "against its threads" not in capsys.readouterr().out


def test_default_thread_counts_double_up_to_the_cores():
    from hpa.bench.loader_scaling import worker_counts
    assert worker_counts(1) == [1] and worker_counts(2) == [1, 2]
    assert worker_counts(6) == [1, 2, 4, 6] and worker_counts(16) == [1, 2, 4, 8, 16]


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
