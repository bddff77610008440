"""minidl.distributed without MPI: the single-process group, sharding, buckets, SyncBatchNorm, watchdog.

None of these tests launches mpiexec or needs mpi4py.
"""
import ast
import pathlib
import subprocess
import sys
import threading

import numpy as np
import pytest

import minidl as md
import minidl.distributed as dist
from minidl import backend
from minidl.distributed.flatten import plan_buckets
from minidl.distributed.watchdog import Watchdog
from minidl.gradcheck import check_module

sys.path.insert(0, str(pathlib.Path(__file__).resolve().parents[1] / "engine"))
from strict_xp import StrictNamespace  # noqa: E402

ROOT = pathlib.Path(__file__).resolve().parents[2]


@pytest.fixture(params=["numpy", "cupy-names"])
def namespace(request):
    """Run on NumPy, and on a namespace with CuPy's names only (the GPU code path)."""
    if request.param == "numpy":
        yield
        return
    previous = backend.use_namespace(StrictNamespace())
    try:
        yield
    finally:
        backend.use_namespace(previous)


@pytest.mark.parametrize("n, size", [(8, 2), (5, 2), (7, 3), (2, 4), (0, 2)])
def test_shards_are_contiguous_balanced_and_cover_the_batch_in_order(n, size):
    rows = np.arange(100, 100 + n)
    parts = [dist.shard(rows, r, size) for r in range(size)]
    assert np.array_equal(np.concatenate(parts), rows)
    assert max(map(len, parts)) - min(map(len, parts)) <= 1
    with pytest.raises(ValueError, match="rank must be in"):
        dist.shard_bounds(n, size, size)


def test_loss_scale_makes_unequal_shards_average_to_the_global_mean():
    rng = np.random.default_rng(0)
    per_sample = rng.standard_normal((5, 3))  # one gradient per sample
    parts = [dist.shard(per_sample, r, 2) for r in range(2)]  # 2 and 3 samples
    averaged = np.mean([dist.loss_scale(len(p), 5, 2) * p.mean(axis=0) for p in parts], axis=0)
    np.testing.assert_allclose(averaged, per_sample.mean(axis=0), rtol=1e-14)


def test_buckets_group_by_dtype_respect_the_cap_and_round_trip():
    rng = np.random.default_rng(0)
    arrays = [rng.standard_normal(s).astype(d) for s, d in
              [((3, 4), "float32"), ((5,), "float64"), ((10,), "float32"), ((), "float64"), ((40,), "float32")]]
    buckets = plan_buckets(arrays, bucket_bytes=64)
    assert sorted(i for b in buckets for i in b.indices) == list(range(5))
    for b in buckets:
        assert len({str(arrays[i].dtype) for i in b.indices}) == 1
        assert b.flat.nbytes <= 64 or len(b.indices) == 1  # only an oversized array stands alone
    copies = [a.copy() for a in arrays]
    for b in buckets:
        b.pack(arrays)
    for a in arrays:
        a[...] = 0
    for b in buckets:
        b.unpack(arrays)
    for a, c in zip(arrays, copies):
        assert a.dtype == c.dtype and np.array_equal(a, c)
    with pytest.raises(ValueError, match="bucket_bytes must be positive"):
        plan_buckets(arrays, bucket_bytes=0)


def _conv_bn():
    return md.Sequential(md.Conv2d(2, 3, 3, padding=1), md.BatchNorm2d(3), md.ReLU(),
                         md.Concat(md.Sequential(md.BatchNorm2d(3)), md.ReLU()))


def test_convert_keeps_parameters_buffers_names_and_mode():
    md.manual_seed(0)
    model = _conv_bn()
    before = model.state_dict()
    params = model.parameters()
    model[1].running_mean[...] = 3.0
    model.eval()
    converted = dist.SyncBatchNorm.convert_sync_batchnorm(model)
    assert converted is model
    assert isinstance(model[1], dist.SyncBatchNorm) and isinstance(model[3].branches[0][0], dist.SyncBatchNorm)
    assert all(a is b for a, b in zip(model.parameters(), params))  # an optimizer keeps working
    assert list(model.state_dict()) == list(before)
    assert np.all(model[1].running_mean == 3.0) and not model[1].training


def test_sync_batchnorm_of_one_process_is_batchnorm(namespace):
    rng = np.random.default_rng(0)
    x, dy = rng.standard_normal((2, 5, 4, 3, 3))
    plain, sync = md.BatchNorm2d(4).astype(np.float64), dist.SyncBatchNorm(4).astype(np.float64)
    for mode in ("train", "eval"):
        for layer in (plain, sync):
            getattr(layer, mode)()
        np.testing.assert_allclose(sync(x), plain(x), rtol=1e-13, atol=1e-13)
        np.testing.assert_allclose(sync.backward(dy), plain.backward(dy), rtol=1e-12, atol=1e-13)
    for name, value in plain.state_dict().items():
        np.testing.assert_allclose(sync.state_dict()[name], value, rtol=1e-13)
    np.testing.assert_allclose(sync.weight.grad, plain.weight.grad, rtol=1e-12)


@pytest.mark.parametrize("shape", [(1, 3, 2, 2), (3, 2, 3, 3), (4, 3)])
def test_gradcheck_sync_batchnorm_in_one_process(namespace, shape):
    rng = np.random.default_rng(1)
    layer = dist.SyncBatchNorm(shape[1])
    layer.weight.data[...] = rng.uniform(0.5, 1.5, shape[1])
    layer.bias.data[...] = rng.standard_normal(shape[1])
    check_module(layer, rng.standard_normal(shape) * 2 + 1)


def test_sync_batchnorm_errors_name_the_problem():
    with pytest.raises(ValueError, match=r"x must have shape \(N, 4, \.\.\.\)"):
        dist.SyncBatchNorm(4)(np.zeros((2, 3, 2, 2)))
    with pytest.raises(ValueError, match="more than one value per channel"):
        dist.SyncBatchNorm(4)(np.zeros((1, 4)))


def test_data_parallel_of_one_process_trains_like_the_plain_model():
    md.manual_seed(0)
    plain = _conv_bn().astype(np.float64)
    md.manual_seed(0)
    wrapped = dist.DistributedDataParallel(_conv_bn().astype(np.float64))
    assert list(wrapped.state_dict()) == ["module." + k for k in plain.state_dict()]  # PyTorch's names
    x = np.random.default_rng(0).standard_normal((4, 2, 5, 5))
    for model in (plain, wrapped):
        model.zero_grad()
        model.backward(np.ones_like(model(x)))
    for p, q in zip(plain.parameters(), wrapped.parameters()):
        assert np.array_equal(p.grad, q.grad)


def test_watchdog_calls_expire_with_the_name_of_the_overdue_call():
    expired = threading.Event()
    messages = []

    def expire(message):
        messages.append(message)
        expired.set()

    watchdog = Watchdog(timeout=300, expire=expire)
    with watchdog.guard("quick call"):
        pass
    with watchdog.guard("all-reduce of bucket 2/3", timeout=0.01):
        assert expired.wait(60), "the watchdog never fired"
    assert messages[0].startswith("all-reduce of bucket 2/3 did not complete within 0.01 s")


def test_single_process_group_is_the_identity_and_aborts_with_a_message(capsys):
    group = dist.get_process_group()
    assert isinstance(group, dist.SingleProcessGroup) and group.is_root
    a = np.arange(3.0)
    assert group.allreduce(a) is a and group.broadcast(a) is a
    assert np.array_equal(group.allgather(a), a)
    with pytest.raises(SystemExit) as exit:
        group.abort("something broke", code=3)
    assert exit.value.code == 3 and "error: something broke" in capsys.readouterr().err


def test_imports_without_mpi4py_and_says_how_to_install_it():
    code = ("import sys; sys.modules['mpi4py'] = None\n"
            "import minidl.distributed as dist\n"
            "print(dist.get_process_group().size)\n"
            "from minidl.distributed.mpi_group import MPIProcessGroup\n"
            "try:\n    MPIProcessGroup()\nexcept ImportError as e:\n    print(e)\n")
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, cwd=ROOT, timeout=60)
    assert done.returncode == 0, done.stderr
    assert done.stdout.splitlines()[0] == "1"
    assert "pip install -e '.[distributed]'" in done.stdout


def test_distributed_code_reaches_arrays_only_through_the_backend():
    # nccl_group.py is the one exception: it binds CuPy's NCCL module itself.
    offenders = []
    for path in sorted((ROOT / "minidl" / "distributed").glob("*.py")):
        if path.name == "nccl_group.py":
            continue
        for node in ast.walk(ast.parse(path.read_text())):
            names = [a.name for a in node.names] if isinstance(node, ast.Import) else \
                [node.module] if isinstance(node, ast.ImportFrom) and node.module else []
            offenders += [f"{path.name} imports {n}" for n in names if n.split(".")[0] in ("numpy", "cupy")]
    assert not offenders, offenders


def test_wire_formats_round_trip_and_refuse_what_no_rank_sends():
    from minidl.distributed import wire
    record = wire.layout_record((3, 0, 5), np.dtype("<M8[ns]"))
    assert len(record) == wire.RECORD_WORDS and wire.read_layout(record) == ((3, 0, 5), "<M8[ns]")
    for bad_ndim in (-1, wire.MAX_DIMS + 1):
        broken = wire.layout_record((1,), np.dtype(np.float32))
        broken[0] = bad_ndim
        with pytest.raises(ValueError, match="malformed array layout"):
            wire.read_layout(broken)
    broken = wire.layout_record((1,), np.dtype(np.float32))
    broken[1 + wire.MAX_DIMS] = int.from_bytes(b"O('os')\0", "little")
    with pytest.raises(ValueError, match="malformed array layout"):
        wire.read_layout(broken)
    with pytest.raises(ValueError, match="Python objects"):
        wire.layout_record((1,), np.dtype(object))
    with pytest.raises(ValueError, match="not JSON"):
        wire.decode_json(bytearray(b"[" * 100000), "test")
    with pytest.raises(TypeError, match="only JSON values"):
        dist.SingleProcessGroup().broadcast_json(b"bytes")
    assert dist.SingleProcessGroup().broadcast_json(("a", 1)) == ["a", 1]  # as another rank would receive it
    assert dist.SingleProcessGroup().allgather_json({"k": None}) == [{"k": None}]
