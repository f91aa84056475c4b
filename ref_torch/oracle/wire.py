"""The bytes between the judge and a student's process: arrays and plain values, no pickle.

A message is a tree of ``None``, booleans, integers, floats, strings, lists, tuples,
string-keyed dicts, NumPy arrays and NumPy scalars of real numeric or boolean dtype. It
travels as an 8-byte big-endian length, a JSON header (the tree, with each array replaced
by its index) and each array's raw bytes::

    [len][{"body": {"__dict__": [["loss", {"__scalar__": 0}], ...]},
           "arrays": [{"dtype": "<f8", "shape": [], "nbytes": 8}]}][8 bytes]

:func:`decode` never runs code from the message (unlike ``pickle``, which the judge must
never apply to what a student's process sends): it refuses object and structured dtypes,
a shape that does not match the bytes, deep nesting, and a message larger than
``max_bytes``. Anything it refuses is a :class:`WireError`.
"""

from __future__ import annotations

import json
import struct

import numpy as np

HEADER = struct.Struct(">Q")
MAX_HEADER = 1 << 20  # 1 MiB of JSON: inputs and results are a few dozen values
MAX_BYTES = 1 << 30  # 1 GiB of arrays: far above any case (a 500-image batch is 12 MB)
MAX_DEPTH = 16
MAX_DIM = 1 << 31  # a dimension larger than NumPy indexes is not an array
ALLOWED_KINDS = "biuf"  # bool, int, uint, float: what a loss, a gradient or an input is


class WireError(ValueError):
    """A message that does not decode: the peer sent something other than values."""


def encode(tree) -> bytes:
    """The bytes of ``tree`` (raises ``WireError`` on a value that has no wire form)."""
    arrays: list[np.ndarray] = []

    def walk(value, depth):
        if depth > MAX_DEPTH:
            raise WireError("nested too deeply")
        if value is None or isinstance(value, (bool, str)):
            return value
        if isinstance(value, (int, float)) and not isinstance(value, np.generic):
            return value
        if isinstance(value, np.ndarray) or isinstance(value, np.generic):
            array = np.asarray(value)  # tobytes() writes C order whatever the strides
            if array.dtype.kind not in ALLOWED_KINDS:
                raise WireError(f"an array of dtype {array.dtype} has no wire form")
            arrays.append(array)
            return {"__scalar__" if isinstance(value, np.generic) else "__array__":
                    len(arrays) - 1}
        if isinstance(value, (list, tuple)):
            key = "__tuple__" if isinstance(value, tuple) else "__list__"
            return {key: [walk(v, depth + 1) for v in value]}
        if isinstance(value, dict):
            if not all(isinstance(k, str) for k in value):
                raise WireError("a dict with keys other than strings has no wire form")
            return {"__dict__": [[k, walk(v, depth + 1)] for k, v in value.items()]}
        raise WireError(f"a {type(value).__name__} has no wire form")

    body = walk(tree, 0)
    header = json.dumps({"body": body, "arrays": [
        {"dtype": a.dtype.str, "shape": list(a.shape), "nbytes": a.nbytes} for a in arrays]},
        allow_nan=True).encode()
    return b"".join([HEADER.pack(len(header)), header, *(a.tobytes() for a in arrays)])


def header_length(prefix: bytes) -> int:
    """The JSON header's length from the first 8 bytes, checked against :data:`MAX_HEADER`."""
    (length,) = HEADER.unpack(prefix)
    if length > MAX_HEADER:
        raise WireError(f"a header of {length} bytes (at most {MAX_HEADER})")
    return length


def array_specs(header: bytes, max_bytes: int = MAX_BYTES) -> tuple[object, list]:
    """``(body, [(dtype, shape, nbytes)])`` of a JSON header, every array checked."""
    try:
        parsed = json.loads(header)
    except (ValueError, RecursionError) as exc:
        raise WireError(f"the header is not JSON: {exc}") from None
    if not isinstance(parsed, dict) or not isinstance(parsed.get("arrays"), list):
        raise WireError("the header has no array list")
    specs, total = [], 0
    for spec in parsed["arrays"]:
        try:
            dtype = np.dtype(spec["dtype"])
            shape = tuple(int(n) for n in spec["shape"])
            nbytes = int(spec["nbytes"])
        except (KeyError, TypeError, ValueError, OverflowError) as exc:
            raise WireError(f"a malformed array entry: {exc}") from None
        if dtype.kind not in ALLOWED_KINDS or dtype.fields is not None or dtype.subdtype:
            raise WireError(f"an array of dtype {dtype} is refused")
        if any(n < 0 or n > MAX_DIM for n in shape) or len(shape) > 32 or \
                int(np.prod(shape, dtype=object)) * dtype.itemsize != nbytes:
            raise WireError(f"an array of shape {shape} and dtype {dtype} cannot hold {nbytes} "
                            "bytes")
        total += nbytes
        if total > max_bytes:
            raise WireError(f"more than {max_bytes} bytes of arrays")
        specs.append((dtype, shape, nbytes))
    return parsed.get("body"), specs


def build(body, arrays: list[np.ndarray]):
    """The tree of a decoded header's ``body`` with its ``arrays`` put back."""
    def walk(node, depth):
        if depth > MAX_DEPTH:
            raise WireError("nested too deeply")
        if node is None or isinstance(node, (bool, int, float, str)):
            return node
        if isinstance(node, dict) and len(node) == 1:
            (key, value), = node.items()
            if key in ("__array__", "__scalar__") and type(value) is int \
                    and 0 <= value < len(arrays):
                array = arrays[value]
                return array[()] if key == "__scalar__" and array.shape == () else array
            if key in ("__list__", "__tuple__") and isinstance(value, list):
                items = [walk(v, depth + 1) for v in value]
                return tuple(items) if key == "__tuple__" else items
            if key == "__dict__" and isinstance(value, list) and all(
                    isinstance(p, list) and len(p) == 2 and isinstance(p[0], str) for p in value):
                return {k: walk(v, depth + 1) for k, v in value}
        raise WireError("an unknown node in the message")
    return walk(body, 0)


def read_message(read, max_bytes: int = MAX_BYTES):
    """The tree of the next message, ``read(n)`` giving exactly ``n`` bytes of the stream: its
    header is checked before the arrays' bytes are read, so a message over ``max_bytes`` is
    refused without reading them."""
    prefix = read(HEADER.size)
    header = read(header_length(prefix))
    _, specs = array_specs(header, max_bytes)
    rest = read(sum(nbytes for _, _, nbytes in specs))
    return decode(prefix + header + rest, max_bytes)


def decode(data: bytes, max_bytes: int = MAX_BYTES):
    """The tree of :func:`encode`'s bytes (a whole message, length prefix included)."""
    if len(data) < HEADER.size:
        raise WireError("a message shorter than its length prefix")
    length = header_length(data[:HEADER.size])
    body, specs = array_specs(data[HEADER.size:HEADER.size + length], max_bytes)
    offset, arrays = HEADER.size + length, []
    for dtype, shape, nbytes in specs:
        if offset + nbytes > len(data):
            raise WireError("the message ends inside an array")
        try:
            arrays.append(np.frombuffer(data, dtype, offset=offset,
                                        count=nbytes // dtype.itemsize).reshape(shape).copy())
        except (ValueError, OverflowError) as exc:
            raise WireError(f"an array of shape {shape} does not build: {exc}") from None
        offset += nbytes
    if offset != len(data):
        raise WireError("bytes after the last array")
    return build(body, arrays)
