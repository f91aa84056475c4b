"""The CIFAR-10 data layer: safe loading, validation, splits, preprocessing."""

from __future__ import annotations

import dataclasses
import os
import pickle

import numpy as np
import pytest

from scratch_numpy import data as cifar
from scratch_numpy.data import (
    CIFAR10Error, CIFAR10NotFoundError, find_cifar10_dir, load_batch, load_cifar10, split_cifar10,
)
from scratch_numpy.preprocessing import Preprocessor, preprocess_splits


def write_batch(path, **overrides):
    """A well-formed batch pickle (zeros, labels cycling) with fields overridden."""
    batch = {
        b"batch_label": b"training batch 1 of 5",
        b"labels": [i % 10 for i in range(10_000)],
        b"data": np.zeros((10_000, 3072), dtype=np.uint8),
        b"filenames": [b"x.png"] * 10_000,
    }
    batch.update({k.encode(): v for k, v in overrides.items()})
    path.write_bytes(pickle.dumps(batch, protocol=2))
    return path


# --- real data -------------------------------------------------------------

def test_real_cifar10_shapes_and_known_labels(cifar10):
    assert cifar10.X_train.shape == (50_000, 32, 32, 3) and cifar10.X_train.dtype == np.uint8
    assert cifar10.X_test.shape == (10_000, 32, 32, 3) and cifar10.X_test.dtype == np.uint8
    assert cifar10.y_train.dtype == np.int64 and cifar10.y_test.dtype == np.int64
    assert list(cifar10.y_train[:10]) == [6, 9, 9, 4, 1, 1, 2, 7, 8, 3]
    assert list(cifar10.y_test[:10]) == [3, 8, 8, 0, 6, 6, 1, 6, 3, 1]
    assert np.bincount(cifar10.y_train).tolist() == [5000] * 10
    assert cifar10.class_names[0] == "airplane" and cifar10.class_names[9] == "truck"


def test_channel_statistics_match_published_values(cifar10):
    # Catches a wrong (N, 3072) -> (N, 32, 32, 3) reshape: channels would mix.
    pixels = cifar10.X_train.reshape(-1, 3) / 255.0
    np.testing.assert_allclose(pixels.mean(axis=0), [0.49139968, 0.48215841, 0.44653091], atol=1e-7)
    np.testing.assert_allclose(pixels.std(axis=0), [0.24703223, 0.24348513, 0.26158784], atol=1e-7)


def test_row_layout_is_channel_planes(cifar10):
    folder = find_cifar10_dir()
    with open(folder / "data_batch_1", "rb") as f:
        raw = pickle.load(f, encoding="bytes")[b"data"]  # trusted shared copy, for comparison only
    first = raw[0]
    image = cifar10.X_train[0]
    assert image[0, 1, 0] == first[1]            # red plane, row 0, column 1
    assert image[1, 0, 1] == first[1024 + 32]    # green plane, row 1, column 0
    assert image[0, 0, 2] == first[2048]         # blue plane first pixel


# --- locating the data -----------------------------------------------------

def test_not_found_error_names_every_path_and_the_download_command(tmp_path, monkeypatch):
    monkeypatch.delenv("CIFAR10_DIR", raising=False)
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "cache"))
    with pytest.raises(CIFAR10NotFoundError) as err:
        find_cifar10_dir()
    message = str(err.value)
    for part in ("cache", "(default cache: no such folder)", "python -m scripts.download_cifar10"):
        assert part in message


def test_wrong_cifar10_dir_is_an_error_naming_it_not_a_fall_back(tmp_path, monkeypatch):
    # A valid copy in the cache must not stand in for an explicit location that is wrong.
    cache_copy = tmp_path / "cache" / "cs231n-cifar10" / "cifar-10-batches-py"
    cache_copy.mkdir(parents=True)
    write_batch(cache_copy / "data_batch_1")
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "cache"))
    monkeypatch.setenv("CIFAR10_DIR", str(tmp_path / "typo"))
    with pytest.raises(CIFAR10NotFoundError) as err:
        find_cifar10_dir()
    message = str(err.value)
    assert f"{tmp_path / 'typo'}  (CIFAR10_DIR: no such folder)" in message
    assert "default cache" not in message
    (tmp_path / "empty").mkdir()
    monkeypatch.setenv("CIFAR10_DIR", str(tmp_path / "empty"))
    with pytest.raises(CIFAR10NotFoundError, match=r"empty  \(CIFAR10_DIR: no data_batch_1 there\)"):
        find_cifar10_dir()
    monkeypatch.delenv("CIFAR10_DIR")
    assert find_cifar10_dir() == cache_copy


def test_unreadable_folder_is_a_not_found_error_saying_why(tmp_path, monkeypatch):
    # Permission is denied by a stand-in for os.stat: the tests may run as root, where
    # chmod denies nothing.
    locked = tmp_path / "locked"
    locked.mkdir()
    real_stat = os.stat

    def stat(path, *args, **kwargs):
        if str(path).startswith(str(locked)):
            raise PermissionError(13, "Permission denied", str(path))
        return real_stat(path, *args, **kwargs)

    monkeypatch.setattr(os, "stat", stat)
    monkeypatch.setenv("CIFAR10_DIR", str(locked))
    with pytest.raises(CIFAR10NotFoundError, match=r"locked  \(CIFAR10_DIR: cannot be read: Permission denied\)"):
        find_cifar10_dir()


def test_explicit_folder_is_the_only_place_looked_at(cifar10, tmp_path):
    # CIFAR10_DIR points at a valid copy here; an explicit empty folder must not fall back to it.
    with pytest.raises(CIFAR10NotFoundError) as err:
        find_cifar10_dir(tmp_path / "arg")
    assert "(argument: no such folder)" in str(err.value) and "CIFAR10_DIR:" not in str(err.value)


def test_cifar10_dir_may_be_the_parent_folder(tmp_path, monkeypatch):
    inner = tmp_path / "cifar-10-batches-py"
    inner.mkdir()
    write_batch(inner / "data_batch_1")
    monkeypatch.setenv("CIFAR10_DIR", str(tmp_path))
    assert find_cifar10_dir() == inner


def test_incomplete_folder_names_the_missing_files(tmp_path):
    write_batch(tmp_path / "data_batch_1")
    with pytest.raises(CIFAR10Error, match="missing data_batch_2"):
        load_cifar10(tmp_path)


# --- safe loading ----------------------------------------------------------

class _CreatesFile:
    def __init__(self, path):
        self.path = path

    def __reduce__(self):
        return (open, (self.path, "w"))


class _RunsShell:
    def __init__(self, command):
        self.command = command

    def __reduce__(self):
        return (os.system, (self.command,))


@pytest.mark.parametrize("make_payload", [_CreatesFile, lambda p: _RunsShell(f"touch {p}")],
                         ids=["open", "os.system"])
def test_malicious_pickle_is_refused_and_runs_nothing(tmp_path, make_payload):
    victim = tmp_path / "pwned"
    evil = tmp_path / "data_batch_1"
    evil.write_bytes(pickle.dumps({b"data": make_payload(str(victim))}, protocol=2))
    with pytest.raises(CIFAR10Error, match="refused global"):
        load_batch(evil)
    assert not victim.exists()


def test_truncated_file_gives_clear_error_naming_it(cifar10, tmp_path):
    real = find_cifar10_dir() / "data_batch_1"
    cut = tmp_path / "data_batch_1"
    cut.write_bytes(real.read_bytes()[: 1_000_000])
    with pytest.raises(CIFAR10Error, match="data_batch_1.*(corrupt|truncated)"):
        load_batch(cut)


def test_garbage_bytes_give_clear_error(tmp_path):
    junk = tmp_path / "test_batch"
    junk.write_bytes(b"\x00\x01not a pickle at all" * 100)
    with pytest.raises(CIFAR10Error, match="test_batch"):
        load_batch(junk)


@pytest.mark.parametrize("overrides, message", [
    ({"data": np.zeros((10_000, 3072), dtype=np.int8)}, "uint8"),
    ({"data": np.zeros((9_999, 3072), dtype=np.uint8)}, r"\(10000, 3072\)"),
    ({"data": [1, 2, 3]}, "uint8"),
    ({"labels": [0] * 9_999}, "10000 entries"),
    ({"labels": [10] + [0] * 9_999}, r"0\.\.9"),
    ({"labels": [-1] + [0] * 9_999}, r"0\.\.9"),
    ({"labels": ["cat"] * 10_000}, "integers"),
    ({"filenames": [b"x"] * 3}, "filenames"),
    # Each of these used to escape as an OverflowError or a TypeError.
    ({"labels": [2**70] + [0] * 9_999}, r"0\.\.9, found 0\.\.1180591620717411303424"),
    ({"labels": np.full(10_000, 2**63 + 3, dtype=np.uint64)}, r"0\.\.9, found 9223372036854775811"),
    ({"labels": np.array(3)}, r"'labels' must be integers, found a int64 array of shape \(\)"),
    ({"labels": {0: 1}}, "'labels' must be a list, found dict"),
    ({"filenames": 7}, "'filenames' must be a list of 10000 names"),
])
def test_invalid_fields_are_rejected(tmp_path, overrides, message):
    path = write_batch(tmp_path / "data_batch_1", **overrides)
    with pytest.raises(CIFAR10Error, match=message) as err:
        load_batch(path)
    assert str(err.value).startswith(f"{path}: ")


def test_non_string_key_is_rejected_naming_the_file(tmp_path):
    path = tmp_path / "data_batch_1"
    path.write_bytes(pickle.dumps({7: 1, b"data": np.zeros((10_000, 3072), np.uint8)}, protocol=2))
    with pytest.raises(CIFAR10Error, match="data_batch_1: every key .* must be a string, "
                                           "found a key of type int"):
        load_batch(path)


def test_file_larger_than_a_batch_is_refused_before_reading(tmp_path):
    # Sparse: no disk space used. A 3 GB file used to be read whole before any check.
    path = tmp_path / "data_batch_1"
    with open(path, "wb") as f:
        f.truncate(3 * 2**30)
    with pytest.raises(CIFAR10Error, match=r"data_batch_1: 3,221,225,472 bytes, more than a "
                                           r"CIFAR-10 batch can be \(at most 61,440,000\)"):
        load_batch(path)


@pytest.mark.skipif(not os.path.exists("/dev/zero"), reason="needs /dev/zero")
def test_endless_stream_is_refused_after_a_batch_worth_of_bytes():
    # A device reports size 0: the read itself stops one byte past the limit.
    with pytest.raises(CIFAR10Error, match="/dev/zero: more than 61,440,000 bytes"):
        load_batch("/dev/zero")


def test_unreadable_or_missing_batch_file_is_a_cifar10_error(tmp_path, monkeypatch):
    with pytest.raises(CIFAR10Error, match="data_batch_1: cannot read .No such file"):
        load_batch(tmp_path / "data_batch_1")
    with pytest.raises(CIFAR10Error, match=f"{tmp_path}: cannot read .Is a directory"):
        load_batch(tmp_path)

    def denied(path, *args, **kwargs):  # tests may run as root, where chmod denies nothing
        raise PermissionError(13, "Permission denied", str(path))

    monkeypatch.setattr(cifar, "open", denied, raising=False)
    with pytest.raises(CIFAR10Error, match="data_batch_1: cannot read .Permission denied"):
        load_batch(write_batch(tmp_path / "data_batch_1"))


def test_missing_field_is_named(tmp_path):
    path = tmp_path / "data_batch_1"
    path.write_bytes(pickle.dumps({b"data": np.zeros((10_000, 3072), np.uint8)}, protocol=2))
    with pytest.raises(CIFAR10Error, match="'labels' missing"):
        load_batch(path)


def test_non_dict_pickle_is_rejected(tmp_path):
    path = tmp_path / "data_batch_1"
    path.write_bytes(pickle.dumps([1, 2, 3], protocol=2))
    with pytest.raises(CIFAR10Error, match="expected a dict"):
        load_batch(path)


def test_well_formed_small_batch_loads(tmp_path):
    X, y = load_batch(write_batch(tmp_path / "data_batch_1"))
    assert X.shape == (10_000, 32, 32, 3) and y[:3].tolist() == [0, 1, 2]


# --- splits ----------------------------------------------------------------

def test_assignment_splits(cifar10, splits):
    assert len(splits.y_train) == 49_000 and len(splits.y_val) == 1_000
    assert len(splits.y_test) == 10_000 and len(splits.y_dev) == 500
    np.testing.assert_array_equal(splits.X_val[0], cifar10.X_train[49_000])
    np.testing.assert_array_equal(splits.X_train[-1], cifar10.X_train[48_999])
    # dev rows are training rows, seeded
    again = split_cifar10(cifar10)
    np.testing.assert_array_equal(again.y_dev, splits.y_dev)
    other = split_cifar10(cifar10, seed=1)
    assert not np.array_equal(other.y_dev, splits.y_dev)


@pytest.mark.parametrize("kwargs", [
    dict(num_training=49_500, num_validation=1_000),
    dict(num_test=10_001),
    dict(num_dev=600, num_training=500),
    dict(num_training=-1),
])
def test_impossible_split_sizes_are_rejected(cifar10, kwargs):
    with pytest.raises(ValueError):
        split_cifar10(cifar10, **kwargs)


# --- preprocessing ---------------------------------------------------------

def test_preprocessing_statistics_come_from_train_only(splits):
    prep = Preprocessor(normalize_std=True).fit(splits.X_train)
    mean, std = prep.mean_.copy(), prep.std_.copy()
    prep.transform(splits.X_val)
    prep.transform(splits.X_test)
    np.testing.assert_array_equal(prep.mean_, mean)
    np.testing.assert_array_equal(prep.std_, std)
    np.testing.assert_allclose(mean, splits.X_train.reshape(49_000, -1).mean(axis=0))


def test_preprocess_splits_fits_on_train(splits):
    small = dataclasses.replace(splits, X_train=splits.X_train[:2000], y_train=splits.y_train[:2000])
    rows = preprocess_splits(small, bias_trick=True, dtype=np.float32)
    train_mean = small.X_train.reshape(2000, -1).mean(axis=0)
    np.testing.assert_allclose(rows.preprocessor.mean_, train_mean)
    # Train rows are centred; val rows are shifted by the *train* mean, so not centred.
    assert np.abs(rows.X_train[:, :-1].mean(axis=0)).max() < 1e-3
    expected_val = small.X_val.reshape(1000, -1) - train_mean
    np.testing.assert_allclose(rows.X_val[:, :-1], expected_val, rtol=1e-5, atol=1e-3)
    assert rows.X_val.shape == (1000, 3073) and rows.X_val.dtype == np.float32
    assert np.all(rows.X_test[:, -1] == 1)


def test_preprocessor_options_and_errors():
    X = np.arange(4 * 3072, dtype=np.float64).reshape(4, 3072) % 7
    with pytest.raises(ValueError, match="before fit"):
        Preprocessor().transform(X)
    prep = Preprocessor(subtract_mean=False, normalize_std=True).fit(X)
    np.testing.assert_allclose(prep.transform(X), X / X.std(axis=0))
    with pytest.raises(ValueError, match=r"\(N, 3072\)"):
        prep.transform(np.zeros((4, 100)))
    with pytest.raises(ValueError, match="NaN"):
        prep.transform(np.full((1, 3072), np.nan))
    with pytest.raises(ValueError, match="float32 or float64"):
        Preprocessor(dtype=np.int32)
    with pytest.raises(ValueError, match="zero images"):
        Preprocessor().fit(np.zeros((0, 3072)))
    constant = Preprocessor(normalize_std=True).fit(np.ones((3, 3072)))
    assert np.isfinite(constant.transform(np.ones((2, 3072)))).all()


def test_data_layer_constants_are_consistent():
    assert cifar.NUM_FEATURES == int(np.prod(cifar.IMAGE_SHAPE))
