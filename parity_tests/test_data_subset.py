"""Subset mode: only the first training batches loaded (a machine that holds a few files)."""

from __future__ import annotations

import shutil

import numpy as np
import pytest

from scratch_numpy.data import (
    CIFAR10Error, CIFAR10SettingError, find_cifar10_dir, load_cifar10, split_cifar10,
    train_batches_setting,
)


@pytest.fixture
def one_batch_folder(cifar10, tmp_path):
    """A folder holding only data_batch_1, test_batch and batches.meta (62 MB)."""
    source = find_cifar10_dir()
    folder = tmp_path / "cifar-10-batches-py"
    folder.mkdir()
    for name in ("data_batch_1", "test_batch", "batches.meta"):
        shutil.copy(source / name, folder / name)
    return folder


def test_one_batch_gives_a_smaller_split_of_the_same_images(cifar10, one_batch_folder, monkeypatch):
    with pytest.raises(CIFAR10Error, match="missing data_batch_2"):
        load_cifar10(one_batch_folder)
    subset = load_cifar10(one_batch_folder, train_batches=1)
    np.testing.assert_array_equal(subset.X_train, cifar10.X_train[:10_000])
    np.testing.assert_array_equal(subset.X_test, cifar10.X_test)
    splits = split_cifar10(subset)
    assert (len(splits.y_train), len(splits.y_val), len(splits.y_dev)) == (9_000, 1_000, 500)
    monkeypatch.setenv("CIFAR10_TRAIN_BATCHES", "1")
    assert len(load_cifar10(one_batch_folder).y_train) == 10_000


def test_the_full_set_keeps_the_assignment_split(cifar10):
    splits = split_cifar10(cifar10)
    assert (len(splits.y_train), len(splits.y_val), len(splits.y_test)) == (49_000, 1_000, 10_000)


BAD_COUNTS = ["0", "6", "7", "-1", "two", "abc", "", " ", "1.5", "2 3"]


@pytest.mark.parametrize("value", BAD_COUNTS)
def test_a_bad_batch_count_is_refused_naming_the_variable_value_and_range(monkeypatch, value):
    monkeypatch.setenv("CIFAR10_TRAIN_BATCHES", value)
    with pytest.raises(CIFAR10SettingError) as refused:
        load_cifar10()
    assert str(refused.value).startswith(f"CIFAR10_TRAIN_BATCHES={value!r} is not allowed: it "
                                         "must be an integer in 1..5")
    assert isinstance(refused.value, CIFAR10Error)  # what the commands catch and print


@pytest.mark.parametrize("value", ["1", "5", " 3 "])
def test_a_good_batch_count_is_read(monkeypatch, value):
    monkeypatch.setenv("CIFAR10_TRAIN_BATCHES", value)
    assert train_batches_setting() == int(value)
    monkeypatch.delenv("CIFAR10_TRAIN_BATCHES")
    assert train_batches_setting() == 5


@pytest.mark.parametrize("value", ["abc", "7", "0", "-1", ""])
def test_a_bad_batch_count_is_an_error_message_in_a_command(monkeypatch, tmp_path, capsys, value):
    """It was a ValueError traceback out of every command."""
    from scripts import knn

    monkeypatch.setenv("CIFAR10_TRAIN_BATCHES", value)
    assert knn.main(["--cifar10-dir", str(tmp_path), "--out", str(tmp_path)]) == 2
    err = capsys.readouterr().err
    assert err.startswith(f"error: CIFAR10_TRAIN_BATCHES={value!r} is not allowed") and "1..5" in err

