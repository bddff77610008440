"""Fixtures shared by the hpa tests."""
import pytest

from hpa.synthetic.generate import generate


@pytest.fixture(scope="module")
def tiny_synthetic(tmp_path_factory):
    """96 synthetic samples of 64 px in the Kaggle layout, made once per test module."""
    folder = tmp_path_factory.mktemp("synthetic")
    generate(folder, n=96, size=64, seed=3, progress=False)
    return folder
