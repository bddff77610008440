"""What ranks send each other besides tensors: fixed-size records and JSON, never pickles.

A pickle runs code while it is read, so a process that unpickles what
arrives over the network trusts every machine that can reach it. The
collectives therefore move only raw buffers; what is not an array travels
in one of two plain forms, built from Python's own buffers (``array``,
``bytearray``) so that MPI sends them as they are:

* an array's layout (``allgather`` must learn each rank's shape and dtype)
  as a fixed-size record of RECORD_WORDS int64 words::

      [ndim, shape[0], ..., shape[ndim-1], 0, ..., dtype.str as 16 ASCII bytes]

* small metadata (a folder name, an id) as UTF-8 JSON, sent as its length,
  then its bytes; more than ``MAX_JSON_BYTES`` is refused on every rank.
"""
import array
import json
import string

MAX_DIMS = 64  # NumPy's own limit
DTYPE_BYTES = 16
RECORD_WORDS = 1 + MAX_DIMS + DTYPE_BYTES // 8
MAX_JSON_BYTES = 1 << 20
# What NumPy's dtype.str is made of: byte order, kind, item size, and a unit in brackets (e.g. '<M8[ns]').
_DTYPE_CHARS = set(string.ascii_letters + string.digits + "<>|=[]")


def words(n):
    """A zeroed int64 buffer of ``n`` words."""
    return array.array("q", bytes(8 * n))


def layout_record(shape, dtype):
    """int64 buffer (RECORD_WORDS,): ``shape`` and NumPy ``dtype`` of an array to be sent."""
    if dtype.hasobject:
        raise ValueError(f"arrays of Python objects cannot be sent, got dtype {dtype}")
    code = dtype.str.encode("ascii")
    if len(code) > DTYPE_BYTES or len(shape) > MAX_DIMS:
        raise ValueError(f"cannot describe an array of dtype {dtype} and {len(shape)} dimensions")
    record = words(RECORD_WORDS)
    record[0] = len(shape)
    record[1:1 + len(shape)] = array.array("q", shape)
    record[1 + MAX_DIMS:] = array.array("q", code.ljust(DTYPE_BYTES, b"\0"))
    return record


def read_layout(record):
    """(shape tuple, dtype string) of a :func:`layout_record`; ValueError for one no rank could send."""
    ndim = record[0]
    shape = tuple(record[1:1 + ndim]) if 0 <= ndim <= MAX_DIMS else ()
    code = record[1 + MAX_DIMS:].tobytes().rstrip(b"\0").decode("latin-1")
    if not 0 <= ndim <= MAX_DIMS or min(shape, default=0) < 0 or not code or not set(code) <= _DTYPE_CHARS:
        raise ValueError(f"malformed array layout: ndim {ndim}, dtype {code[:DTYPE_BYTES]!r}")
    return shape, code


def encode_json(value, what):
    """``value`` (lists, dicts, strings, numbers, booleans, None) as UTF-8 JSON bytes."""
    try:
        data = json.dumps(value, allow_nan=False, separators=(",", ":")).encode("utf-8")
    except (TypeError, ValueError) as error:
        raise TypeError(f"{what}: only JSON values can be sent ({error})") from None
    if len(data) > MAX_JSON_BYTES:
        raise ValueError(f"{what}: {len(data):,} bytes of JSON, more than the {MAX_JSON_BYTES:,} allowed")
    return bytearray(data)


def decode_json(buffer, what):
    """The value of the JSON bytes ``buffer`` received from another rank."""
    if len(buffer) > MAX_JSON_BYTES:
        raise ValueError(f"{what}: {len(buffer):,} bytes of JSON, more than the {MAX_JSON_BYTES:,} allowed")
    try:
        return json.loads(bytes(buffer).decode("utf-8"))
    except (UnicodeDecodeError, ValueError, RecursionError):
        raise ValueError(f"{what}: received bytes that are not JSON") from None
