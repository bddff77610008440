"""Open a checkpoint someone else may have crafted: sizes, shapes and meta before any array data.

A checkpoint is an ``.npz``: a zip of ``.npy`` members. ``numpy.load`` would
inflate a member and allocate the array its header declares before anything
is checked, so a 2 MB zip of zeros can ask for gigabytes, and a 400-byte
member can declare 2^40 elements. :func:`open_checkpoint` reads only

* the zip's central directory: every member is an ``.npy`` stored
  uncompressed (as ``numpy.savez``, hence hpa, writes them), so the sizes it
  declares are bytes present in the file and nothing is inflated;
* each member's ``.npy`` header (``numpy.lib.format``): a plain numeric or
  bool dtype, and a shape whose bytes plus the header make exactly the
  member's size;
* ``meta.json``: at most :data:`META_LIMIT` bytes of JSON nested at most
  :data:`MAX_DEPTH` deep, a dict with the expected format.

Array data is read only by :meth:`CheckpointFile.read`, at most the file's
size, after :meth:`CheckpointFile.check_fits` has compared the declared
shapes with the model's. Every problem is a one-line :class:`HpaError`.
"""
import json
import math
import os
import zipfile

import numpy as np
from numpy.lib import format as npy

from hpa.runtime.errors import HpaError, quote

FORMAT = "hpa-checkpoint-1"
META_LIMIT = 16 * 2 ** 20   # bytes of meta.json (the biggest real one is a few kB plus the run's config)
MAX_DEPTH = 32              # nesting of meta.json (a real one nests 6 deep)
MAX_MEMBERS = 100_000       # a ResNet-101 checkpoint with Adam state has about 1,000
_HEADER_LIMIT = 10_000      # bytes of one .npy header (numpy's own default)
_KINDS = "biuf"             # bool, signed, unsigned, float: what weights and state arrays are


class CheckpointFile:
    """A checked checkpoint whose arrays are not read yet.

    path       the file
    document   the parsed meta.json: {"format", "meta": dict, "state": dict}
    shapes     {array name: (shape, dtype)} as the .npy headers declare them
    """

    def __init__(self, path, archive, document, shapes, members):
        # The archive stays open on the checked file: a file swapped in at the same path meanwhile is never read.
        self.path, self._archive, self.document, self.shapes, self._members = path, archive, document, shapes, members

    def close(self):
        self._archive.close()

    @property
    def meta(self):
        return self.document["meta"]

    def model_bytes(self):
        """Bytes of the weights the file holds (``model/*`` arrays)."""
        return sum(math.prod(shape) * dtype.itemsize for name, (shape, dtype) in self.shapes.items()
                   if name.startswith("model/"))

    def check_fits(self, model, where):
        """Raise HpaError (starting with ``where``) unless the weights' names and shapes are ``model``'s."""
        declared = {k[len("model/"):]: shape for k, (shape, _) in self.shapes.items() if k.startswith("model/")}
        expected = {k: tuple(v.shape) for k, v in model.state_dict().items()}
        missing = sorted(set(expected) - set(declared))
        unexpected = sorted(set(declared) - set(expected))
        wrong = [k for k in expected if k in declared and declared[k] != expected[k]]
        if missing or unexpected or wrong:
            if wrong:
                detail = f"{wrong[0]} has shape {declared[wrong[0]]} in the file, {expected[wrong[0]]} in the model"
            else:
                detail = (f"{len(missing)} weights missing (e.g. {quote(missing[0])})" if missing else
                          f"{len(unexpected)} weights the model lacks (e.g. {quote(unexpected[0])})")
            raise HpaError(f"{where}: does not fit model {quote(self.meta.get('model'))}: {detail}")

    def read(self):
        """``(model_state, meta, state)``: the arrays (at most the file's size) put back into the state."""
        arrays = {}
        try:
            with self._archive as archive:
                for name, info in self._members.items():
                    with archive.open(info) as f:
                        arrays[name] = npy.read_array(f, allow_pickle=False)
        except (OSError, ValueError, zipfile.BadZipFile, EOFError) as error:
            raise HpaError(f"checkpoint {self.path}: an array is unreadable ({type(error).__name__}: "
                           f"{quote(error, 80)})") from None
        model_state = {k[len("model/"):]: v for k, v in arrays.items() if k.startswith("model/")}
        state = _unpack(self.document["state"], arrays, self.path)
        return model_state, self.meta, state


def open_checkpoint(path):
    """Check ``path`` as described in the module doc; returns a :class:`CheckpointFile`."""
    path = os.fspath(path)
    if not os.path.isfile(path):
        raise HpaError(f"checkpoint {path} does not exist")
    archive = None
    try:
        archive = zipfile.ZipFile(path)  # holds the file open until read() or close
        members = _members(archive, path, os.fstat(archive.fp.fileno()).st_size)
        shapes = {name: _header(archive, info, path) for name, info in members.items()}
        if "meta.json" not in shapes:
            raise HpaError(f"checkpoint {path} is unreadable or not an hpa checkpoint (no meta.json)")
        with archive.open(members.pop("meta.json")) as f:
            text = npy.read_array(f, allow_pickle=False)
        del shapes["meta.json"]
        return CheckpointFile(path, archive, _document(text, path), shapes, members)
    except (OSError, ValueError, zipfile.BadZipFile, EOFError) as error:
        if archive is not None:
            archive.close()
        raise HpaError(f"checkpoint {path} is unreadable or not an hpa checkpoint "
                       f"({type(error).__name__})") from None
    except HpaError:
        if archive is not None:
            archive.close()
        raise


def _members(archive, path, file_size):
    """{array name: ZipInfo}, refusing compressed, encrypted, oversized or non-.npy members."""
    infos = archive.infolist()
    if len(infos) > MAX_MEMBERS:
        raise HpaError(f"checkpoint {path}: {len(infos)} members, more than the {MAX_MEMBERS} a checkpoint has")
    members, total = {}, 0
    for info in infos:
        if info.compress_type != zipfile.ZIP_STORED or info.flag_bits & 0x1:
            raise HpaError(f"checkpoint {path}: member {quote(info.filename)} is compressed or encrypted; "
                           f"hpa stores checkpoint arrays as they are and will not inflate one")
        if not info.filename.endswith(".npy"):
            raise HpaError(f"checkpoint {path}: member {quote(info.filename)} is not an .npy array")
        total += info.file_size
        if info.compress_size != info.file_size or total > file_size:
            raise HpaError(f"checkpoint {path}: its members declare more bytes than the file holds")
        members[info.filename[:-len(".npy")]] = info
    return members


def _header(archive, info, path):
    """(shape, dtype) of one member from its .npy header, checked against the member's size."""
    name = info.filename[:-len(".npy")]
    with archive.open(info) as f:
        version = npy.read_magic(f)
        if version not in ((1, 0), (2, 0)):
            raise HpaError(f"checkpoint {path}: array {quote(name)} has .npy version {version}")
        read = npy.read_array_header_1_0 if version == (1, 0) else npy.read_array_header_2_0
        shape, _, dtype = read(f, max_header_size=_HEADER_LIMIT)
        header = f.tell()
    if dtype.kind not in _KINDS or dtype.fields is not None or dtype.shape != () or dtype.hasobject:
        raise HpaError(f"checkpoint {path}: array {quote(name)} has dtype {quote(dtype.str)}, not a number type")
    if any(not isinstance(n, int) or n < 0 for n in shape):
        raise HpaError(f"checkpoint {path}: array {quote(name)} declares shape {quote(shape)}")
    if header + math.prod(shape) * dtype.itemsize != info.file_size:
        raise HpaError(f"checkpoint {path}: array {quote(name)} declares shape {quote(shape)} of "
                       f"{dtype.name}, which its {info.file_size} bytes do not hold")
    if name == "meta.json" and (dtype != np.uint8 or len(shape) != 1 or shape[0] > META_LIMIT):
        raise HpaError(f"checkpoint {path}: meta.json is not a text of at most {META_LIMIT} bytes")
    return tuple(shape), dtype


def _document(text, path):
    """The parsed meta.json, its nesting and top-level layout checked."""
    try:
        document = json.loads(bytes(text).decode("utf-8"))
    except (ValueError, RecursionError) as error:  # UnicodeDecodeError is a ValueError
        raise HpaError(f"checkpoint {path}: meta.json is not valid JSON ({type(error).__name__})") from None
    if _depth(document) > MAX_DEPTH:
        raise HpaError(f"checkpoint {path}: meta.json nests deeper than {MAX_DEPTH} levels")
    if not isinstance(document, dict) or document.get("format") != FORMAT:
        found = document.get("format") if isinstance(document, dict) else None
        raise HpaError(f"checkpoint {path} has format {quote(found)}, expected {FORMAT!r}")
    for key in ("meta", "state"):
        if not isinstance(document.get(key), dict):
            raise HpaError(f"checkpoint {path}: meta.json's {key!r} is not a JSON object")
    return document


def _depth(document):
    """Nesting depth of a parsed JSON value, without recursion."""
    deepest, stack = 0, [(document, 1)]
    while stack:
        value, depth = stack.pop()
        deepest = max(deepest, depth)
        if depth > MAX_DEPTH:
            break
        children = value.values() if isinstance(value, dict) else value if isinstance(value, list) else ()
        stack.extend((child, depth + 1) for child in children)
    return deepest


def _unpack(obj, arrays, path):
    """Put ``{"__array__": key}`` references back as the arrays they name (depth bounded by MAX_DEPTH)."""
    if isinstance(obj, dict):
        if set(obj) == {"__array__"}:
            key = obj["__array__"]
            if not isinstance(key, str) or not key.startswith("state/") or key not in arrays:
                raise HpaError(f"checkpoint {path}: meta.json refers to array {quote(key)}, which it lacks")
            return arrays[key]
        return {k: _unpack(v, arrays, path) for k, v in obj.items()}
    if isinstance(obj, list):
        return [_unpack(v, arrays, path) for v in obj]
    return obj
