"""Augmentations by name (--augment) and one augmentation per oversampled copy."""
import numpy as np
import pytest

from hpa import train
from hpa.data.augmentation.augment import Compose
from hpa.data.augmentation.names import AUGMENTATIONS, OneOf, augment_help, one_of_named, parse_augment
from hpa.data.batches.loader import BatchLoader
from hpa.runtime.errors import HpaError

NAMES = ["dihedral", "rotate45", "blur", "crop", "contrast", "brightness", "noise", "affine"]


def batch(seed=0, n=6, size=16):
    return np.random.default_rng(seed).integers(1, 255, (n, 4, size, size), dtype=np.uint8)


def test_every_augmentation_of_the_issue_has_a_name_and_help():
    assert set(NAMES) <= set(AUGMENTATIONS)
    text = augment_help()
    for name in NAMES:
        assert f"{name}: " in text
    parser_help = train.build_parser("gapnet").format_help()
    assert "rotate45" in parser_help and "--no-augment" in parser_help


def test_parse_augment_builds_them_in_order_and_each_runs():
    compose = parse_augment(",".join(NAMES))
    assert isinstance(compose, Compose) and len(compose.augmentations) == len(NAMES)
    x = batch()
    y = compose(x, np.random.default_rng(1))
    assert y.shape == x.shape and np.isfinite(y).all() and not np.array_equal(y, x)
    assert parse_augment("") is None and parse_augment(" , ") is None


def test_unknown_names_are_refused():
    with pytest.raises(HpaError, match="wobble"):
        parse_augment("dihedral,wobble")


def test_one_of_changes_exactly_the_chosen_images_with_one_member_each():
    x = batch(n=8).astype(np.float32)
    members = [parse_augment("brightness").augmentations[0], parse_augment("noise").augmentations[0]]
    one = OneOf(members)
    chosen = np.array([1, 0, 1, 0, 1, 0, 1, 1], bool)
    y = one.apply_to(x, chosen, np.random.default_rng(0))
    np.testing.assert_array_equal(y[~chosen], x[~chosen])
    assert all(not np.array_equal(y[i], x[i]) for i in np.flatnonzero(chosen))
    assert y is not x


def test_copies_get_a_copy_augmentation_and_originals_do_not():
    images = batch(n=4)
    indices = np.array([0, 1, 2, 3, 0, 1, 0, 1])   # rows 4.. are oversampled copies
    plain = BatchLoader(images, None, indices, batch_size=8, shuffle=False, workers=0)
    copied = BatchLoader(images, None, indices, batch_size=8, shuffle=False, workers=0,
                         copy_augment=one_of_named("contrast,noise"), copies_from=4)
    (a, _), = list(plain)
    (b, _), = list(copied)
    np.testing.assert_array_equal(a[:4], b[:4])
    assert all(not np.array_equal(a[i], b[i]) for i in range(4, 8))


def test_shuffled_order_is_unchanged_by_the_copy_bookkeeping():
    images = batch(n=5)
    loader = BatchLoader(images, None, [4, 0, 3, 3, 1], batch_size=2, seed=7, workers=0)
    expected = np.random.default_rng([7, 0, 0, 0]).permutation(np.array([4, 0, 3, 3, 1]))
    np.testing.assert_array_equal(loader.epoch_order(0), expected)
