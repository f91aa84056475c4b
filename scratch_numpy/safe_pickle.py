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
well under 0.1 s (the depth bookkeeping below included).

Nesting is bounded while the opcodes are read. Hashing a tuple (a dict key, a set member)
recurses in C with no depth check, so a 1 MB file holding a key nested 10**6 deep crashed
the interpreter. The unpickler counts the depth of every list, tuple, dict and set it
builds or fills (one more than its deepest member) and refuses one deeper than
:data:`MAX_NESTING` before building it; a real batch nests 2 deep. Depths stay exact
because a container may not change once it is inside another (only a cyclic pickle does
that, and a batch holds none). Dict keys and set members must be scalars (str, bytes,
int, float, bool, None), so nothing is hashed recursively at all: a 30-deep tuple that
shares its halves, ``t = (t, t)``, is 2**30 leaves to hash.

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

# How deep lists, tuples, dicts and sets may nest: a batch nests 2 deep (a dict of lists;
# the tuples NumPy's array pickles pass hold a tuple). Far below any recursion limit.
MAX_NESTING = 32
_CONTAINERS = frozenset({tuple, list, dict, set, frozenset})
# What a dict key or a set member may be: hashing these never recurses.
_SCALARS = frozenset({str, bytes, int, float, bool, type(None)})


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


def _refuse_nesting():
    raise UnsafePickleError(
        f"refused: lists, tuples, dicts or sets nested more than {MAX_NESTING} deep; "
        "a CIFAR-10 batch nests 2 deep")


def _check_scalars(members, what: str):
    for member in members:
        if type(member) not in _SCALARS:
            raise UnsafePickleError(
                f"refused a {what} of type {type(member).__name__}: in a CIFAR-10 batch it "
                "must be a string, bytes or number")


class _Unpickler(pickle._Unpickler):  # the pure-Python unpickler: see the module docstring
    """Bounds the nesting of what it builds (see the module docstring).

    ``_depths`` maps ``id(container)`` to its depth; ``_nested`` holds the ids of
    containers put inside another. Only the container opcodes below build a list,
    tuple, dict or set (the stand-ins return none), and each records the depth of what it
    builds, so an id of a freed container that is reused is overwritten.
    """

    dispatch = dict(pickle._Unpickler.dispatch)

    def load(self):
        self._depths: dict[int, int] = {}
        self._nested: set[int] = set()
        return super().load()

    def find_class(self, module: str, name: str):
        try:
            return _STAND_INS[(module, name)]
        except KeyError:
            raise UnsafePickleError(
                f"refused global {module}.{name}: a CIFAR-10 batch only contains "
                "NumPy arrays, lists, ints and strings") from None

    # -- depth bookkeeping ----------------------------------------------------------------

    def _depth_around(self, members, into=None) -> int:
        """The depth of a container holding ``members`` (1 + the deepest), refused past the
        bound; containers among them are marked as nested."""
        deepest = 0
        for member in members:
            if type(member) in _CONTAINERS:
                if member is into:
                    self._refuse_change()
                deepest = max(deepest, self._depths.get(id(member), 1))
                self._nested.add(id(member))
        if deepest >= MAX_NESTING:
            _refuse_nesting()
        return deepest + 1

    def _built(self, depth: int):
        """Record the depth of the container just pushed."""
        top = self.stack[-1]
        self._depths[id(top)] = depth
        self._nested.discard(id(top))

    def _grow(self, target, members):
        """``members`` go into ``target``, a container already built: check before they do."""
        if type(target) not in _CONTAINERS:
            return  # the unpickler's own code refuses it
        if id(target) in self._nested:
            self._refuse_change()
        depth = self._depth_around(members, into=target)
        self._depths[id(target)] = max(self._depths.get(id(target), 1), depth)

    @staticmethod
    def _refuse_change():
        raise UnsafePickleError(
            "refused: a list, dict or set is changed after it was put inside a container "
            "(a cyclic structure; a CIFAR-10 batch holds none)")

    def _marked_target(self):
        """The object below the topmost MARK: what APPENDS, SETITEMS and ADDITEMS fill."""
        return self.metastack[-1][-1] if self.metastack and self.metastack[-1] else None

    # -- the container opcodes: each checks before the unpickler's own code builds ------

    def _load_append(self):
        stack = self.stack
        if len(stack) >= 2:
            self._grow(stack[-2], stack[-1:])
        pickle._Unpickler.load_append(self)

    def _load_appends(self):
        self._grow(self._marked_target(), self.stack)
        pickle._Unpickler.load_appends(self)

    def _load_setitem(self):
        stack = self.stack
        if len(stack) >= 3:
            self._grow(stack[-3], stack[-2:])
            _check_scalars(stack[-2:-1], "dict key")
        pickle._Unpickler.load_setitem(self)

    def _load_setitems(self):
        self._grow(self._marked_target(), self.stack)
        _check_scalars(self.stack[0::2], "dict key")
        pickle._Unpickler.load_setitems(self)

    def _load_build(self):
        """BUILD gives an array or a dtype its state, nothing else: on a stand-in function or
        on the shared ndarray stand-in it would set attributes that outlive this load."""
        if not isinstance(self.stack[-2] if len(self.stack) >= 2 else None, (_Array, _PlainDtype)):
            raise UnsafePickleError("refused BUILD: a CIFAR-10 batch gives a state to arrays "
                                    "and dtypes only")
        pickle._Unpickler.load_build(self)

    def _load_additems(self):
        self._grow(self._marked_target(), self.stack)
        _check_scalars(self.stack, "set member")
        pickle._Unpickler.load_additems(self)


def _builds_empty(load):
    """EMPTY_TUPLE, EMPTY_LIST, ...: a container of depth 1."""
    def handler(self):
        load(self)
        self._built(1)
    return handler


def _builds_from(load, members, scalars: str | None = None):
    """TUPLE, LIST, DICT, FROZENSET (members: the items since the MARK) and TUPLE1..3 (the
    top items): depth and, for keys and set members, their types are checked first."""
    def handler(self):
        items = members(self)
        depth = self._depth_around(items)
        if scalars == "dict key":
            _check_scalars(items[0::2], scalars)
        elif scalars:
            _check_scalars(items, scalars)
        load(self)
        self._built(depth)
    return handler


def _since_mark(self):
    return self.stack


def _top(count: int):
    return lambda self: self.stack[-count:]


_U = pickle._Unpickler
_Unpickler.dispatch.update({opcode[0]: handler for opcode, handler in {
    pickle.EMPTY_TUPLE: _builds_empty(_U.load_empty_tuple),
    pickle.EMPTY_LIST: _builds_empty(_U.load_empty_list),
    pickle.EMPTY_DICT: _builds_empty(_U.load_empty_dictionary),
    pickle.EMPTY_SET: _builds_empty(_U.load_empty_set),
    pickle.TUPLE: _builds_from(_U.load_tuple, _since_mark),
    pickle.LIST: _builds_from(_U.load_list, _since_mark),
    pickle.DICT: _builds_from(_U.load_dict, _since_mark, "dict key"),
    pickle.FROZENSET: _builds_from(_U.load_frozenset, _since_mark, "set member"),
    pickle.TUPLE1: _builds_from(_U.load_tuple1, _top(1)),
    pickle.TUPLE2: _builds_from(_U.load_tuple2, _top(2)),
    pickle.TUPLE3: _builds_from(_U.load_tuple3, _top(3)),
    pickle.APPEND: _Unpickler._load_append,
    pickle.APPENDS: _Unpickler._load_appends,
    pickle.SETITEM: _Unpickler._load_setitem,
    pickle.SETITEMS: _Unpickler._load_setitems,
    pickle.ADDITEMS: _Unpickler._load_additems,
    pickle.BUILD: _Unpickler._load_build,
}.items()})
del _U


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
