"""The restricted unpickler of ``scratch_numpy/safe_pickle.py``: what NumPy writes loads;
crafted pickles that would build unsafe arrays are refused while the array is rebuilt.

The crafted pickles are written here with ``__reduce__``: pickle then names NumPy's own
``_reconstruct``, ``ndarray`` and ``dtype`` exactly as a hostile file would.
"""

from __future__ import annotations

import pickle

import numpy as np
import pytest

from scratch_numpy.data import CIFAR10Error, load_batch
from scratch_numpy.safe_pickle import UnsafePickleError, restricted_loads

try:
    from numpy._core.multiarray import _reconstruct
except ImportError:  # NumPy 1.x
    from numpy.core.multiarray import _reconstruct


class _Crafted:
    """Pickles as ``callable(*args)``, then BUILD ``state`` when given."""

    def __init__(self, callable_, args, state=None):
        self.reduced = (callable_, args) if state is None else (callable_, args, state)

    def __reduce__(self):
        return self.reduced


def _dtype_with_state(spec: str, state: tuple) -> _Crafted:
    return _Crafted(np.dtype, (spec, False, True), state)


def _array(shape, dtype, raw: bytes, is_fortran: bool = False) -> _Crafted:
    """An array as NumPy pickles it, with every part chosen by the test."""
    return _Crafted(_reconstruct, (np.ndarray, (0,), b"b"), (1, shape, dtype, is_fortran, raw))


PLAIN_U1_STATE = (3, "|", None, None, None, -1, -1, 0)


# ---- what NumPy and Python write loads --------------------------------------------------

@pytest.mark.parametrize("array", [
    np.arange(12, dtype=np.uint8).reshape(3, 4),
    np.arange(6, dtype=np.int64),
    np.asfortranarray(np.arange(6, dtype=np.int32).reshape(2, 3)),
    np.arange(4, dtype=">u2"),
    np.zeros((0, 5), dtype=np.uint8),
], ids=["uint8 2-D", "int64", "fortran int32", "big-endian uint16", "empty"])
def test_arrays_numpy_pickles_load_unchanged(array):
    loaded = restricted_loads(pickle.dumps({"a": array, b"k": [1, "s", b"b"]}, protocol=2))
    np.testing.assert_array_equal(loaded["a"], array)
    assert loaded["a"].dtype == array.dtype and loaded[b"k"] == [1, "s", b"b"]
    assert not loaded["a"].flags.writeable  # a view of the file's bytes, never other memory


def test_protocol_0_text_pickle_loads():
    array = np.arange(5, dtype=np.uint8)
    np.testing.assert_array_equal(restricted_loads(pickle.dumps(array, protocol=0)), array)


# ---- crafted pickles are refused at reconstruction time ---------------------------------

# A void dtype whose state declares an object field but not the has-object flag: NumPy
# then copies the raw bytes into the "object" slots, and reading the field dereferences
# pointers taken from the file.
OBJECT_FIELD_STATE = (3, "|", None, ("a",), {"a": (np.dtype("O"), 0)}, 8, 1, 0)


@pytest.mark.parametrize("payload, message", [
    (_array((1,), _dtype_with_state("V8", OBJECT_FIELD_STATE), b"A" * 8), "refused dtype 'V8'"),
    (_array((1,), _dtype_with_state("u1", (3, "|", None, ("a",), {"a": ("O", 0)}, 8, 1, 0)),
            b"A" * 8), "refused dtype state .* not a plain integer dtype"),
    (_array((2,), _dtype_with_state("O", (3, "|", None, None, None, -1, -1, 63)), [1, 2]),
     "refused dtype 'O'"),
    (_array((2,), _dtype_with_state("f8", (3, "<", None, None, None, -1, -1, 0)), b"\0" * 16),
     "refused dtype 'f8'"),
    (_array((2,), _dtype_with_state("u1", (3, "|", (np.dtype("u1"), (4,)), None, None, -1, -1, 0)),
            b"\0" * 8), "refused dtype state"),
    # Uninitialised memory: a large shape and no BUILD, or ndarray(shape, dtype) called.
    (_Crafted(_reconstruct, (np.ndarray, (10_000, 3072), b"B")),
     r"refused _reconstruct\(numpy.ndarray \(stand-in\), \(10000, 3072\)"),
    (_Crafted(np.ndarray, ((10_000, 3072), np.dtype("u1"))), "refused a call of numpy.ndarray"),
    # Contents that do not match the shape: too short (reading past the buffer) or too long.
    (_array((10,), _dtype_with_state("u1", PLAIN_U1_STATE), b"\0" * 9), "needs 10 bytes, the pickle holds 9"),
    (_array((2, 2), _dtype_with_state("u1", PLAIN_U1_STATE), b"\0" * 5), "needs 4 bytes, the pickle holds 5"),
    (_array((-1,), _dtype_with_state("u1", PLAIN_U1_STATE), b""), r"refused array shape \(-1,\)"),
    (_array((True,), _dtype_with_state("u1", PLAIN_U1_STATE), b"\0"), r"refused array shape \(True,\)"),
    (_array((1,), "u1", b"\0"), "dtype or memory order is not plain"),
    (_array((1,), _dtype_with_state("u1", PLAIN_U1_STATE), 12345), "refused array contents of type int"),
    (_Crafted(_reconstruct, (np.ndarray, (0,), b"O")),
     r"refused _reconstruct\(numpy.ndarray \(stand-in\), \(0,\), b'O'\)"),
    (_Crafted(bytes, (10**12,)), "refused a call of bytes with arguments"),
])
def test_crafted_array_is_refused(payload, message):
    raw = pickle.dumps({"data": payload}, protocol=2)
    with pytest.raises(UnsafePickleError, match=message):
        restricted_loads(raw)


@pytest.mark.parametrize("data", [
    _array((10_000, 384), _dtype_with_state("V8", OBJECT_FIELD_STATE), b"A" * 30_720_000),
    _Crafted(_reconstruct, (np.ndarray, (10_000, 3072), b"B")),
    _Crafted(np.ndarray, ((10_000, 3072), np.dtype("u1"))),
], ids=["object field", "_reconstruct without contents", "ndarray(shape)"])
def test_crafted_array_in_a_batch_file_is_a_cifar10_error_naming_it(tmp_path, data):
    path = tmp_path / "data_batch_1"
    path.write_bytes(pickle.dumps({"data": data, "labels": [0] * 10_000}, protocol=2))
    with pytest.raises(CIFAR10Error, match="data_batch_1: not a valid CIFAR-10 batch .*refused"):
        load_batch(path)


def test_codecs_encode_is_latin1_only():
    import codecs

    with pytest.raises(UnsafePickleError, match="refused _codecs.encode"):
        restricted_loads(pickle.dumps(_Crafted(codecs.encode, ("x" * 10, "zlib")), protocol=2))


def test_huge_memo_index_costs_no_memory():
    # NONE, LONG_BINPUT 2**31 - 1, STOP: the C unpickler would allocate and clear 16 GiB.
    assert restricted_loads(b"\x80\x02Nr\xff\xff\xff\x7f.") is None


def test_unknown_globals_are_refused():
    with pytest.raises(UnsafePickleError, match="refused global posix.system"):
        restricted_loads(b"cposix\nsystem\n(S'true'\ntR.")


# ---- nesting: nothing the C code walks recursively may be deep --------------------------
#
# Hashing a tuple, as a dict key or a set member, recurses in C without a depth check: a
# 1 MB file holding a dict key nested 10**6 deep crashed the interpreter (SIGSEGV). Every
# list, tuple, dict and set is refused deeper than MAX_NESTING while the opcodes are read,
# before anything deeper is built or hashed; keys and set members must be scalars.

from scratch_numpy.safe_pickle import MAX_NESTING  # noqa: E402

DEPTH_MESSAGE = f"nested more than {MAX_NESTING} deep"
DEEP = 10**6


def deep_pickle(kind: str, depth: int) -> bytes:
    """A protocol-4 pickle of containers nested ``depth`` deep in all, written opcode by opcode
    (building the object to pickle it would need the recursion this guards against)."""
    inner = depth - 1
    if kind == "tuple key":        # {((...((),)...),): None}: TUPLE1 wraps the top item
        return b"\x80\x04}" + b")" + b"\x85" * (inner - 1) + b"Ns."
    if kind == "list value":       # {"a": [[...[]...]]}: EMPTY_LIST ... APPEND
        return b"\x80\x04}X\x01\x00\x00\x00a" + b"]" * inner + b"a" * (inner - 1) + b"s."
    if kind == "dict value":       # {0: {0: ...{}...}}: EMPTY_DICT, key ... SETITEM
        return b"\x80\x04" + b"}K\x00" * inner + b"}" + b"s" * inner + b"."
    if kind == "marked tuple":     # ((...(),...),): MARK ... TUPLE, as protocol 0 writes tuples
        return b"\x80\x04" + b"(" * inner + b")" + b"t" * inner + b"."
    if kind == "frozenset member":  # frozenset({((...),)}): a deep tuple hashed into a set
        return b"\x80\x04(" + b")" + b"\x85" * (inner - 1) + b"\x91."
    raise ValueError(kind)


KINDS = ["tuple key", "list value", "dict value", "marked tuple", "frozenset member"]


@pytest.mark.parametrize("kind", KINDS)
def test_nesting_up_to_the_bound_loads(kind):
    if kind in ("tuple key", "frozenset member"):
        # Keys and set members must be scalars: refused, for that reason, at any depth.
        with pytest.raises(UnsafePickleError, match="must be a string, bytes or number"):
            restricted_loads(deep_pickle(kind, 2))
        return
    obj = restricted_loads(deep_pickle(kind, MAX_NESTING))
    depth = 0
    while isinstance(obj, (list, tuple, dict)) and depth <= MAX_NESTING:
        depth += 1
        obj = next(iter(obj.values()), None) if isinstance(obj, dict) else (obj[0] if obj else None)
    assert depth == MAX_NESTING


@pytest.mark.parametrize("depth", [MAX_NESTING + 1, DEEP])
@pytest.mark.parametrize("kind", KINDS)
def test_nesting_beyond_the_bound_is_refused_before_it_is_built(kind, depth):
    with pytest.raises(UnsafePickleError, match=DEPTH_MESSAGE):
        restricted_loads(deep_pickle(kind, depth))


def test_a_real_batch_is_far_from_the_bound():
    batch = {b"data": np.zeros((3, 4), np.uint8), b"labels": [1, 2, 3], b"filenames": [b"a"] * 3}
    for protocol in range(5):  # protocol 5 writes arrays another way, refused as before
        loaded = restricted_loads(pickle.dumps(batch, protocol=protocol))
        assert loaded[b"labels"] == [1, 2, 3]


@pytest.mark.parametrize("build", [
    # a = []; b = [a]; a.append(b): a changes after it was put inside b.
    lambda: (lambda a: (a.append([a]), a)[1])([]),
    lambda: (lambda a: (a.append(a), a)[1])([]),  # a list inside itself
    lambda: (lambda d: (d.__setitem__("k", {"d": d}), d)[1])({}),
], ids=["two-list cycle", "list in itself", "dict cycle"])
def test_a_container_changed_after_it_was_nested_is_refused(build):
    # Depth is counted as containers are built; a container changed once it is inside
    # another would make the count of the outer one stale. A batch holds no cycles.
    with pytest.raises(UnsafePickleError, match="changed after it was put inside"):
        restricted_loads(pickle.dumps(build(), protocol=2))


def test_a_shared_deep_tuple_is_not_hashed_exponentially():
    # t = (t, t) thirty times is 32 deep but 2**30 leaves: hashing it as a key would take
    # minutes. Keys are scalars, so it is refused at once.
    raw = b"\x80\x04}K\x00" + b"2\x86" * 30 + b"Ns."
    with pytest.raises(UnsafePickleError, match="must be a string, bytes or number"):
        restricted_loads(raw)


def test_a_deeply_nested_batch_file_is_a_clean_error_in_a_command(tmp_path):
    """The reported crash: ``cs231n-knn`` on a 1 MB file died of SIGSEGV. In a fresh process
    (a crash must not take the test run down): exit status 2 and the message, naming the file."""
    import subprocess
    import sys

    folder = tmp_path / "cifar-10-batches-py"
    folder.mkdir()
    for name in ("data_batch_2", "data_batch_3", "data_batch_4", "data_batch_5", "test_batch",
                 "batches.meta"):
        (folder / name).write_bytes(b"")  # never read: data_batch_1 is refused first
    (folder / "data_batch_1").write_bytes(deep_pickle("tuple key", DEEP))
    result = subprocess.run(
        [sys.executable, "-m", "scripts.knn", "--cifar10-dir", str(folder), "--out", str(tmp_path)],
        capture_output=True, text=True, timeout=300,
        cwd=__import__("pathlib").Path(__file__).resolve().parents[1])
    assert result.returncode == 2, (result.returncode, result.stderr[-2000:])
    assert "Traceback" not in result.stderr
    assert result.stderr.startswith(f"error: {folder / 'data_batch_1'}: not a valid CIFAR-10 batch")
    assert DEPTH_MESSAGE in result.stderr


def test_build_on_a_stand_in_other_than_an_array_or_dtype_is_refused():
    """BUILD setting attributes on a shared stand-in (a function's ``__defaults__``) would
    outlive the load and change what later loads accept."""
    from scratch_numpy import safe_pickle

    # GLOBAL _codecs.encode, then BUILD (None, {"__defaults__": ("latin1",)}): setattr on it
    crafted = (b"\x80\x02c_codecs\nencode\nNX\x0c\x00\x00\x00__defaults__X\x06\x00\x00\x00"
               b"latin1\x85\x86b.")
    with pytest.raises(UnsafePickleError, match="refused BUILD"):
        restricted_loads(crafted)
    assert safe_pickle._encode.__defaults__ == ("utf-8",)
