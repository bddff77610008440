"""Checkpoint files as an attacker would craft them, for tests/hpa/test_crafted_checkpoints.py.

Each writer takes a genuine checkpoint and writes a variant. :func:`write_zip`
writes a zip by hand, so a member can declare sizes and a compression that
``zipfile`` would never produce.
"""
import io
import json
import struct
import zlib

import numpy as np
from numpy.lib import format as npy


def npy_bytes(array):
    out = io.BytesIO()
    npy.write_array(out, np.asarray(array), allow_pickle=False)
    return out.getvalue()


def npy_header(shape, descr="<f4"):
    out = io.BytesIO()
    npy.write_array_header_1_0(out, {"descr": descr, "fortran_order": False, "shape": shape})
    return out.getvalue()


def write_zip(path, members):
    """members: (name, raw bytes as stored, method (0 stored, 8 deflated), declared size, crc32)."""
    with open(path, "wb") as f:
        directory = []
        for name, raw, method, size, crc in members:
            offset, encoded = f.tell(), name.encode()
            f.write(struct.pack("<IHHHHHIIIHH", 0x04034B50, 20, 0, method, 0, 0x21, crc, len(raw), size,
                                len(encoded), 0) + encoded + raw)
            directory.append(struct.pack("<IHHHHHHIIIHHHHHII", 0x02014B50, 20, 20, 0, method, 0, 0x21, crc,
                                         len(raw), size, len(encoded), 0, 0, 0, 0, 0, offset) + encoded)
        start = f.tell()
        f.write(b"".join(directory))
        f.write(struct.pack("<IHHHHIIH", 0x06054B50, 0, 0, len(members), len(members), f.tell() - start,
                            start, 0))


def stored(name, data):
    return (name, data, 0, len(data), zlib.crc32(data))


def genuine_members(path, document=None):
    """The stored members of checkpoint ``path``, with meta.json replaced by ``document`` if given."""
    with np.load(path) as data:
        arrays = {name: data[name] for name in data.files}
    if document is not None:
        arrays["meta.json"] = np.frombuffer(json.dumps(document).encode(), np.uint8)
    return [stored(f"{name}.npy", npy_bytes(a)) for name, a in arrays.items()]


def document_of(path):
    with np.load(path) as data:
        return json.loads(bytes(data["meta.json"]).decode())


def zip_bomb(name, gigabytes):
    """A deflated .npy member of float32 zeros declaring about ``gigabytes`` GB, a few MB on disk.

    After a full flush the deflate stream of a 16 MiB block of zeros is the same
    bytes every time, so the stream is that block's code repeated.
    """
    chunk, blocks = 1 << 24, int(gigabytes * 2 ** 30) >> 24
    header = npy_header((blocks * chunk // 4,))
    zeros = bytes(chunk)
    packer = zlib.compressobj(9, zlib.DEFLATED, -15)
    first = packer.compress(header) + packer.compress(zeros) + packer.flush(zlib.Z_FULL_FLUSH)
    again = packer.compress(zeros) + packer.flush(zlib.Z_FULL_FLUSH)
    raw = first + again * (blocks - 1) + packer.flush()
    crc = zlib.crc32(header)
    for _ in range(blocks):
        crc = zlib.crc32(zeros, crc)
    return (name, raw, 8, len(header) + blocks * chunk, crc)


def lying_array(name, shape):
    """A stored .npy member whose header declares ``shape`` float32 but that holds 16 bytes of data."""
    data = npy_header(shape) + bytes(16)
    return stored(name, data)
