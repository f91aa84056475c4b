"""Restricted unpickling for CIFAR-10 batch files: dicts, lists, ints, strings and plain
integer arrays, nothing else.

``pickle.load`` on untrusted bytes runs arbitrary code, so :func:`restricted_loads`
resolves no global the pickle names except the five a real batch references, and none
of those to the real NumPy object. A batch stores its ``data`` array as NumPy writes it:

    _reconstruct(ndarray, (0,), b"b")                   an empty array ...
      BUILD (1, shape, dtype, is_fortran, raw bytes)    ... given its contents
    dtype("u1", False, True)                            the dtype ...
      BUILD (3, "|", None, None, None, -1, -1, 0)       ... and its byte order

NumPy's own ``_reconstruct``, ``ndarray`` and ``dtype`` would accept far more: an
``ndarray(shape, dtype)`` call, or a ``_reconstruct`` with a large shape and no BUILD,
is an array over uninitialised memory; a dtype state can declare fields of type object
without the flag that says so, which gives a structured array whose "objects" are
pointers read from the file (reading it crashes the interpreter). So the unpickler hands
out stand-ins that accept exactly the form above, and check it when the array is rebuilt:

* the dtype is a plain integer type (:data:`PLAIN_DTYPES`: no fields, no sub-arrays,
  no objects, every byte pattern a valid value) and its state is the plain one;
* the shape is a tuple of non-negative ints and the raw bytes are exactly
  ``prod(shape) * itemsize`` long; the array is a read-only view of those bytes, so
  every element comes from the file.

``_codecs.encode`` (Python 3 writes ``bytes`` as ``encode(str, "latin1")`` at protocol
2) is allowed for latin1 only, and ``bytes`` (how it writes ``b""``) without arguments.

The pure-Python unpickler is used rather than the C one: the C unpickler grows its memo
to the largest index a PUT names, so ten bytes asking for index 2**31 make it allocate
and clear gigabytes; the Python one keeps the memo in a dict. It reads a 31 MB batch in
about 70 ms.

NumPy and the standard library only.
"""

from __future__ import annotations

import io
import math
import pickle
import reprlib

import numpy as np

# Integer types an array in a batch may have: ``data`` is uint8; labels, when stored as
# an array rather than a list, are some integer type.
PLAIN_DTYPES = frozenset({"u1", "i1", "u2", "i2", "u4", "i4", "u8", "i8"})
_BYTE_ORDERS = ("<", ">", "|")


class UnsafePickleError(pickle.UnpicklingError):
    """The pickle asks for something a CIFAR-10 batch never holds."""


def _text(value) -> str | None:
    """A pickled string as str (Python 2 strings arrive as latin1 str, Python 3 bytes as bytes)."""
    if isinstance(value, bytes):
        return value.decode("latin1")
    return value if isinstance(value, str) else None


class _PlainDtype:
    """What the pickle's ``numpy.dtype(spec, align, copy)`` builds: a plain integer dtype."""

    def __init__(self, spec, align=False, copy=True):
        name = _text(spec)
        if name not in PLAIN_DTYPES:
            raise UnsafePickleError(f"refused dtype {reprlib.repr(spec)}: a CIFAR-10 batch only "
                                    "holds plain integer arrays")
        self.dtype = np.dtype(name)

    def __setstate__(self, state):
        # NumPy's state of a plain dtype: (version 3, byte order, no sub-array, no field
        # names, no fields, no element size or alignment override, no flags).
        plain = (isinstance(state, tuple) and len(state) == 8 and state[0] == 3
                 and state[2:5] == (None, None, None) and state[5:] == (-1, -1, 0))
        order = _text(state[1]) if plain else None
        if order not in _BYTE_ORDERS:
            raise UnsafePickleError(
                f"refused dtype state {reprlib.repr(state)}: not a plain integer dtype")
        self.dtype = self.dtype.newbyteorder(order)


def _dtype(*args):
    """Stand-in for the global ``numpy.dtype`` (a function, so it cannot be NEWOBJ'd)."""
    return _PlainDtype(*args)


class _NdarrayClass:
    """Stand-in for the global ``numpy.ndarray``: only ever an argument of ``_reconstruct``."""

    def __call__(self, *args, **kwargs):
        raise UnsafePickleError("refused a call of numpy.ndarray: NumPy pickles only pass it "
                                "to _reconstruct")

    def __repr__(self) -> str:
        return "numpy.ndarray (stand-in)"


_NDARRAY = _NdarrayClass()


class _Array:
    """What the pickle's ``_reconstruct(ndarray, (0,), b"b")`` builds; its BUILD state
    gives the contents. ``array`` is empty until then, as NumPy's would be."""

    def __init__(self):
        self.array = np.zeros(0, dtype=np.int8)

    def __setstate__(self, state):
        if not (isinstance(state, tuple) and len(state) == 5 and state[0] == 1):
            raise UnsafePickleError("refused array state: not (1, shape, dtype, is_fortran, bytes)")
        _, shape, dtype, is_fortran, raw = state
        # type(n) is int: a bool is not a size.
        if not (isinstance(shape, tuple) and all(type(n) is int and n >= 0 for n in shape)):
            raise UnsafePickleError(f"refused array shape {reprlib.repr(shape)}")
        if not isinstance(dtype, _PlainDtype) or not isinstance(is_fortran, bool):
            raise UnsafePickleError("refused array state: dtype or memory order is not plain")
        if isinstance(raw, str):  # a Python 2 string read with encoding="latin1"
            raw = raw.encode("latin1")
        if not isinstance(raw, bytes):
            raise UnsafePickleError(f"refused array contents of type {type(raw).__name__}")
        count = math.prod(shape)
        if len(raw) != count * dtype.dtype.itemsize:
            raise UnsafePickleError(
                f"array of shape {shape} and dtype {dtype.dtype} needs "
                f"{count * dtype.dtype.itemsize} bytes, the pickle holds {len(raw)}")
        self.array = np.frombuffer(raw, dtype=dtype.dtype, count=count).reshape(
            shape, order="F" if is_fortran else "C")


def _reconstruct(cls, shape, typecode):
    """Stand-in for NumPy's ``_reconstruct``: only the empty array NumPy's pickles start from."""
    if cls is not _NDARRAY or shape != (0,) or _text(typecode) != "b":
        raise UnsafePickleError(
            f"refused _reconstruct({reprlib.repr(cls)}, {reprlib.repr(shape)}, "
            f"{reprlib.repr(typecode)}): NumPy pickles start "
            "from an empty array")
    return _Array()


def _empty_bytes(*args):
    """Stand-in for ``bytes``: Python 3 pickles ``b""`` at protocol 2 as ``bytes()``, no argument.
    (``bytes(n)`` would allocate n bytes.)"""
    if args:
        raise UnsafePickleError("refused a call of bytes with arguments")
    return b""


def _encode(text, encoding="utf-8"):
    """Stand-in for ``_codecs.encode``: Python 3's pickled bytes, latin1 only."""
    if not isinstance(text, str) or encoding != "latin1":
        raise UnsafePickleError(f"refused _codecs.encode(..., {reprlib.repr(encoding)})")
    return text.encode("latin1")


_STAND_INS = {
    ("_codecs", "encode"): _encode,
    ("__builtin__", "bytes"): _empty_bytes,  # the raw bytes of an empty array
    ("builtins", "bytes"): _empty_bytes,
    ("numpy.core.multiarray", "_reconstruct"): _reconstruct,
    ("numpy._core.multiarray", "_reconstruct"): _reconstruct,  # NumPy 2's module name
    ("numpy", "ndarray"): _NDARRAY,
    ("numpy", "dtype"): _dtype,
}


class _Unpickler(pickle._Unpickler):  # the pure-Python unpickler: see the module docstring
    def find_class(self, module: str, name: str):
        try:
            return _STAND_INS[(module, name)]
        except KeyError:
            raise UnsafePickleError(
                f"refused global {module}.{name}: a CIFAR-10 batch only contains "
                "NumPy arrays, lists, ints and strings") from None


def _resolved(value):
    return value.array if isinstance(value, _Array) else value


def restricted_loads(raw: bytes):
    """Unpickle ``raw`` with the restrictions above; arrays come back as read-only ndarrays.

    Strings are decoded as latin1 (the official files are Python 2 pickles). Arrays are
    resolved at the top level and in the values of a top-level dict, where a batch keeps
    them. Raises :class:`UnsafePickleError` for anything refused; damaged bytes raise
    whatever the unpickler meets (``pickle.UnpicklingError``, ``EOFError``, ...).
    """
    obj = _Unpickler(io.BytesIO(raw), encoding="latin1").load()
    if isinstance(obj, dict):
        return {key: _resolved(value) for key, value in obj.items()}
    return _resolved(obj)
