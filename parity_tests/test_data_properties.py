"""Property tests of the batch loader: whatever the bytes of a file, ``load_batch`` and
``load_class_names`` return valid data or raise ``CIFAR10Error`` naming the file; never
any other exception.

Three sources of bytes: random bytes; pickles of random structures (ints up to 2**70,
strings, lists, dicts, NumPy arrays of several dtypes, at every pickle protocol); and a
valid batch truncated or with bytes overwritten. A batch here holds 4 rows instead of
10,000 (``ROWS_PER_BATCH`` patched), so that valid shapes are within reach.
"""

from __future__ import annotations

import pickle
import re
from unittest import mock

import numpy as np
import pytest
from hypothesis import event, given
from hypothesis import strategies as st
from hypothesis.extra import numpy as hnp

from scratch_numpy import data as cifar
from scratch_numpy.data import CIFAR10Error, load_batch, load_class_names

ROWS = 4


@pytest.fixture(scope="module")
def folder(tmp_path_factory):
    return tmp_path_factory.mktemp("property_batches")


def loads_or_names_the_file(path):
    """Load ``path`` as a batch and as a meta file: valid results, or CIFAR10Error naming it."""
    with mock.patch.object(cifar, "ROWS_PER_BATCH", ROWS):
        try:
            X, y = load_batch(path)
        except CIFAR10Error as exc:
            assert str(exc).startswith(f"{path}: ")
            event("batch refused")
        else:
            event("batch loaded")
            assert X.shape == (ROWS, 32, 32, 3) and X.dtype == np.uint8 and X.flags.writeable
            assert y.shape == (ROWS,) and y.dtype == np.int64 and 0 <= y.min() <= y.max() <= 9
    try:
        names = load_class_names(path)
    except CIFAR10Error as exc:
        assert str(exc).startswith(f"{path}: ")
    else:
        event("class names loaded")
        assert len(names) == 10 and all(isinstance(n, str) for n in names)


def _write(folder, raw: bytes):
    path = folder / "data_batch_1"
    path.write_bytes(raw)
    return path


@given(raw=st.binary(max_size=2_000))
def test_random_bytes(folder, raw):
    loads_or_names_the_file(_write(folder, raw))


@given(raw=st.binary(min_size=1, max_size=200))
def test_random_bytes_after_a_pickle_header(folder, raw):
    # Past the protocol byte, so the opcodes themselves are random.
    loads_or_names_the_file(_write(folder, b"\x80\x02" + raw))


numbers = st.one_of(st.integers(-(2**70), 2**70), st.integers(0, 12), st.booleans(),
                    st.floats(allow_nan=True), st.none())
small_arrays = hnp.arrays(
    st.sampled_from([np.uint8, np.int8, np.int64, np.uint64, np.float32, np.bool_]),
    hnp.array_shapes(min_dims=0, max_dims=2, max_side=5))
leaves = st.one_of(numbers, st.text(max_size=5), st.binary(max_size=5), small_arrays)
values = st.recursive(leaves, lambda inner: st.one_of(
    st.lists(inner, max_size=ROWS + 1), st.tuples(inner, inner),
    st.dictionaries(st.one_of(st.text(max_size=3), st.integers(0, 3)), inner, max_size=3)),
    max_leaves=12)

# What a valid 4-row batch holds, field by field: drawn alongside random values so that
# every check of the loader is reached.
valid_fields = {
    "data": hnp.arrays(np.uint8, (ROWS, 3072)),
    "labels": st.lists(st.integers(0, 9), min_size=ROWS, max_size=ROWS),
    "filenames": st.lists(st.binary(max_size=8), min_size=ROWS, max_size=ROWS),
    "label_names": st.lists(st.text(max_size=6), min_size=10, max_size=10),
}


@st.composite
def batch_like(draw):
    batch = {}
    for key, valid in valid_fields.items():
        choice = draw(st.sampled_from(["valid", "random", "absent"]))
        if choice != "absent":
            batch[draw(st.sampled_from([key, key.encode()]))] = draw(valid if choice == "valid" else values)
    return draw(st.one_of(st.just(batch), values)) if draw(st.booleans()) else batch


@given(obj=batch_like(), protocol=st.integers(0, pickle.HIGHEST_PROTOCOL))
def test_pickled_random_structures(folder, obj, protocol):
    loads_or_names_the_file(_write(folder, pickle.dumps(obj, protocol=protocol)))


# Protocol 4 stores the pixels as raw bytes (protocol 2 from Python 3 as UTF-8 text, where
# most overwritten bytes break the encoding), so a change inside them still loads.
VALID = pickle.dumps({b"data": np.arange(ROWS * 3072, dtype=np.uint8).reshape(ROWS, 3072) % 251,
                      b"labels": [3, 1, 4, 1], b"filenames": [b"a.png"] * ROWS,
                      b"label_names": [b"c%d" % i for i in range(10)]}, protocol=4)


PIXELS_AT = VALID.index(bytes(range(64)))


@given(cut=st.one_of(st.none(), st.integers(0, len(VALID) - 1)),
       position=st.one_of(st.integers(0, len(VALID) - 1),  # anywhere, or inside the pixels
                          st.integers(PIXELS_AT, PIXELS_AT + ROWS * 3072 - 8)),
       replacement=st.binary(min_size=1, max_size=8))
def test_damaged_valid_batch(folder, cut, position, replacement):
    damaged = VALID[:position] + replacement + VALID[position + len(replacement):]
    loads_or_names_the_file(_write(folder, damaged[:cut]))


def test_the_undamaged_batch_loads(folder):
    with mock.patch.object(cifar, "ROWS_PER_BATCH", ROWS):
        X, y = load_batch(_write(folder, VALID))
    assert y.tolist() == [3, 1, 4, 1] and X[0, 0, 1, 0] == 1
    assert load_class_names(folder / "data_batch_1")[9] == "c9"


# ---- nesting depth ---------------------------------------------------------------------
#
# Random chains of containers, each level one of: a list, a tuple, a dict holding the level
# below as a value or as a key, a set or a frozenset holding it. Below the bound
# (MAX_NESTING) a chain loads unchanged, unless a key or a set member is a container (keys
# and members must be scalars); above it, it is refused with the depth message, before the
# deeper level is built. Siblings at each level are scalars.

from scratch_numpy.safe_pickle import MAX_NESTING, UnsafePickleError, restricted_loads  # noqa: E402

DEPTH_MESSAGE = f"nested more than {MAX_NESTING} deep"
scalars = st.one_of(st.integers(-(2**70), 2**70), st.text(max_size=3), st.binary(max_size=3),
                    st.none(), st.booleans(), st.floats(allow_nan=False))
HASHED = ("dict key", "set", "frozenset")  # levels that hash what they hold
LEVELS = ("list", "tuple", "dict value", *HASHED)


def _wrap(level, inner, sibling):
    if level == "list":
        return [inner, sibling]
    if level == "tuple":
        return (sibling, inner)
    if level == "dict value":
        return {sibling: inner}
    if level == "dict key":
        return {inner: sibling}
    return {inner} if level == "set" else frozenset({inner})


@st.composite
def nestings(draw):
    """(object, expected, holds a set): expected is "loads", "scalar" (a key or a set member
    is a container) or "depth" (a level past the bound): the first, from the inside out, as
    the unpickler builds them."""
    depth = draw(st.one_of(st.integers(1, MAX_NESTING + 3),
                           st.integers(MAX_NESTING - 2, 3 * MAX_NESTING)))
    obj, expected, hashable, holds_a_set = draw(scalars), "loads", True, False
    for level_number in range(1, depth + 1):
        level = draw(st.sampled_from(LEVELS if hashable else LEVELS[:3]))
        if expected == "loads" and level_number > MAX_NESTING:
            expected = "depth"
        elif expected == "loads" and level in HASHED and level_number > 1:
            expected = "scalar"
        obj = _wrap(level, obj, draw(scalars))
        hashable = hashable and level in ("tuple", "frozenset")
        holds_a_set = holds_a_set or level in ("set", "frozenset")
    return obj, expected, holds_a_set


@given(case=nestings(), protocol=st.integers(0, pickle.HIGHEST_PROTOCOL))
def test_nesting_loads_below_the_bound_and_is_refused_above_it(folder, case, protocol):
    obj, expected, holds_a_set = case
    if holds_a_set:  # before protocol 4 a set is pickled through the global `set`, refused
        protocol = max(protocol, 4)
    raw = pickle.dumps(obj, protocol=protocol)
    event(expected)
    if expected == "loads":
        assert restricted_loads(raw) == obj
        return
    with pytest.raises(UnsafePickleError) as refused:
        restricted_loads(raw)
    message = DEPTH_MESSAGE if expected == "depth" else "must be a string, bytes or number"
    assert message in str(refused.value)
    if expected == "scalar":
        assert DEPTH_MESSAGE not in str(refused.value)
    # The loader says the same, naming the file.
    path = _write(folder, raw)
    with pytest.raises(CIFAR10Error, match=f"^{re.escape(str(path))}: .*{message}"):
        load_batch(path)
