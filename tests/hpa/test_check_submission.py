"""hpa.check_submission: what hpa.predict writes passes; each way a file can be wrong is named with its line."""
import numpy as np
import pandas as pd
import pytest
from real_files import REAL_DIR

from hpa import check_submission
from hpa.predict import submission_frame
from hpa.runtime import cli

IDS = [f"id{k}" for k in range(6)]


@pytest.fixture
def sample(tmp_path):
    path = tmp_path / "sample_submission.csv"
    pd.DataFrame({"Id": IDS, "Predicted": "0"}).to_csv(path, index=False)
    return path


def test_what_predict_writes_is_valid(sample, tmp_path, capsys):
    y = np.zeros((len(IDS), 28), dtype=bool)
    y[0, [0, 27]] = y[2, 5] = True  # the others predict nothing: an empty Predicted
    path = tmp_path / "submission.csv"
    submission_frame(IDS[::-1], y).to_csv(path, index=False)  # any row order
    assert cli.run(check_submission.main, [str(path), "--sample", str(sample)]) == 0
    assert "valid submission: 6 test Ids, 0.50 labels per sample on average, 3 of 28 classes" in capsys.readouterr().out


@pytest.mark.parametrize("text, message", [
    ("Id,Target\nid0,1\n", "header is Id,Target, expected Id,Predicted"),
    ("Id,Predicted\nid0,1\nid9,2\n", "line 3: Id 'id9' is not a test Id"),
    ("Id,Predicted\nid0,1\nid0,2\n", "line 3: Id 'id0' again (first on line 2)"),
    ("Id,Predicted\nid0,28\n", "line 2: '28' is not a class number 0..27"),
    ("Id,Predicted\nid0,1 x\n", "line 2: 'x' is not a class number"),
    ("Id,Predicted\nid0,3 3\n", "line 2: a class is listed twice"),
    ("Id,Predicted\nid0,1\n", "5 test Ids of"),
    ("", "not a readable CSV"),
])
def test_a_wrong_file_is_named_with_its_line(text, message, sample, tmp_path, capsys):
    path = tmp_path / "submission.csv"
    path.write_text(text)
    assert cli.run(check_submission.main, [str(path), "--sample", str(sample)]) == cli.EXIT_USAGE
    err = capsys.readouterr().err
    assert err.startswith(f"error: {path}") and message in err and err.count("\n") == 1


def test_the_real_sample_submission_is_itself_valid(capsys):
    sample = REAL_DIR / "sample_submission.csv"
    if not sample.is_file():
        pytest.skip(f"{sample} is absent")
    assert cli.run(check_submission.main, [str(sample), "--sample", str(sample)]) == 0
    assert "11,702 test Ids, 1.00 labels per sample" in capsys.readouterr().out
