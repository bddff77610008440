"""The device's augmentation (uint8 batches, image_augment.cu through the fake device and the
CPU shim) against the host's for the same seed: per transform, composed, and in any order."""
import numpy as np
import pytest

import minidl as md
from hpa.data.augmentation.augment import Brightness, Compose, Contrast, Dihedral
from hpa.data.augmentation.device_augment import device_plan, with_philox_noise
from hpa.data.augmentation.names import AUGMENTATIONS, OneOf, parse_augment
from hpa.data.augmentation.noise_blur import GaussianNoise
from hpa.data.batches.device_batches import DeviceAugmentMixin, device_batches, on_device
from hpa.data.batches.loader import BatchLoader

N, SIZE = 23, 6
MEAN, STD = [20.0, 15.0, 10.0, 25.0], [30.0, 20.0, 25.0, 35.0]


def images(n=N, size=SIZE, seed=0):
    return np.random.default_rng(seed).integers(0, 256, (n, 4, size, size), dtype=np.uint8)


def host_and_device(augment, data=None, epoch=1, **kwargs):
    """Every batch of one epoch from the host loader and from the device path, as NumPy arrays."""
    data = images() if data is None else data
    common = dict(batch_size=5, seed=3, mean=MEAN, std=STD, workers=2, **kwargs)
    host = BatchLoader(data, None, augment=augment, **common)
    device = on_device(BatchLoader(data, None, augment=augment, **common))
    assert isinstance(device, DeviceAugmentMixin)
    for loader in (host, device):
        loader.set_epoch(epoch)
    host_x = np.concatenate([x for x, _ in host])
    batches = list(device_batches(device, "gpu"))
    assert all(md.backend.is_device_array(x) and x.dtype == np.float32 for x, _ in batches)
    return host_x, np.concatenate([md.to_numpy(x) for x, _ in batches])


def close(host, device):
    assert host.shape == device.shape
    np.testing.assert_allclose(device, host, rtol=1e-5, atol=2e-5)


@pytest.mark.parametrize("names", ["", "dihedral", "brightness", "contrast", "noise",
                                   "dihedral,brightness,contrast", "dihedral,brightness,contrast,noise"])
def test_device_equals_host_per_transform_and_composed(fake_device, names):
    augment = parse_augment(names)
    reference = None if augment is None else with_philox_noise(augment)
    host, device = host_and_device(reference if "noise" in names else augment)
    close(host, device)
    if names:  # the augmentation did something: not the plain normalisation
        assert not np.allclose(host, host_and_device(None)[0])


def test_steps_in_any_order_and_number_compose(fake_device):
    augment = Compose([Contrast(0.7, (0.5, 1.5)), Dihedral(0.6), Brightness(0.8, per_channel=True),
                       OneOf([Dihedral(1.0), Contrast(1.0)], weights=[2, 1], p=0.5), Dihedral(0.9)])
    close(*host_and_device(augment))


def test_union_sources_use_their_own_statistics(fake_device):
    groups = np.arange(N) % 2
    mean, std = np.array([MEAN, [5, 6, 7, 8]]), np.array([STD, [9, 10, 11, 12]])
    augment = parse_augment("dihedral,brightness")
    common = dict(batch_size=4, seed=1, mean=mean, std=std, groups=groups)
    host = np.concatenate([x for x, _ in BatchLoader(images(), None, augment=augment, **common)])
    loader = on_device(BatchLoader(images(), None, augment=augment, **common))
    close(host, np.concatenate([md.to_numpy(x) for x, _ in device_batches(loader, "gpu")]))


def test_philox_noise_twin_has_the_host_noises_statistics():
    # The device's noise is another generator than NumPy's, with the same distribution.
    flat = np.full((64, 4, 16, 16), 100, np.uint8)
    streams = np.random.default_rng(0)
    twin = with_philox_noise(GaussianNoise(1.0, sigma=(4.0, 4.0)))(flat, streams) - 100
    assert abs(twin.mean()) < 0.05 and abs(twin.std() - 4.0) < 0.05


def test_uint8_travels_and_the_device_path_is_used_only_where_it_applies(fake_device):
    host = BatchLoader(images(), None, augment=parse_augment("dihedral"), batch_size=4)
    loader = on_device(host)
    assert type(host) is BatchLoader and host.make_batch(np.arange(4), 0, np.arange(4))[0].dtype == np.float32
    x = loader.make_batch(np.arange(4), 0, np.arange(4))[0]
    assert x.dtype == np.uint8 and x.shape == (4, 4, SIZE, SIZE)
    for names in ("affine", "blur", "crop", "rotate45", "noise,dihedral", "noise,noise"):
        assert device_plan(parse_augment(names)) is None, names
    copies = BatchLoader(images(), None, np.r_[np.arange(N), 0, 1], augment=parse_augment("dihedral"),
                         copy_augment=OneOf([AUGMENTATIONS["dihedral"][1]()]), copies_from=N)
    floats = BatchLoader(images().astype(np.float32), None)
    for loader in (copies, floats):
        assert on_device(loader) is loader


def test_the_host_cpu_path_keeps_numpys_noise():
    # CPU training is unchanged: its noise is NumPy's, not the device's Philox.
    augment = parse_augment("noise")
    x, streams = images(), lambda: np.random.default_rng(7)
    assert not np.allclose(augment(x, streams()), with_philox_noise(augment)(x, streams()))


def test_a_data_parallel_ranks_share_is_augmented_as_on_the_host(fake_device):
    from hpa.data.batches.sharded_loader import ShardedBatchLoader
    augment = parse_augment("dihedral,brightness,contrast")
    common = dict(batch_size=6, seed=2, mean=MEAN, std=STD, augment=augment, rank=1, world_size=2)
    host = np.concatenate([x for x, _ in ShardedBatchLoader(images(), None, **common)])
    loader = on_device(ShardedBatchLoader(images(), None, **common))
    assert isinstance(loader, DeviceAugmentMixin) and isinstance(loader, ShardedBatchLoader)
    close(host, np.concatenate([md.to_numpy(x) for x, _ in device_batches(loader, "gpu")]))
