"""Shared fixtures: real CIFAR-10 batches, dtypes, devices; markers; the hypothesis profile.

CIFAR-10 is found through ``CIFAR10_DIR`` (or the default cache). Tests that
need it skip with the reason when it is absent, unless ``--require-cifar`` is
given or ``CI=true``: then its absence is a failure.

Property tests (hypothesis) run under the profile "ci" unless ``HYPOTHESIS_PROFILE``
names another: derandomized, so every run tries the same examples and a CI failure
reproduces anywhere, and without a deadline, since timings on shared machines vary.
"""

from __future__ import annotations

import os

import numpy as np
import pytest
import torch
from hypothesis import settings

from scratch_numpy.data import CIFAR10NotFoundError, load_cifar10, split_cifar10
from scratch_numpy.preprocessing import dev_batch as dev_batch_rows

settings.register_profile("ci", derandomize=True, deadline=None, database=None, print_blob=True)
settings.load_profile(os.environ.get("HYPOTHESIS_PROFILE", "ci"))


def pytest_addoption(parser):
    parser.addoption("--require-cifar", action="store_true",
                     help="fail, rather than skip, tests that need CIFAR-10 when it is absent")


def pytest_collection_modifyitems(config, items):
    if torch.cuda.is_available():
        return
    skip_cuda = pytest.mark.skip(reason="needs CUDA: torch.cuda.is_available() is False")
    for item in items:
        if "cuda" in item.keywords:
            item.add_marker(skip_cuda)


def _cifar_required(config) -> bool:
    return config.getoption("--require-cifar") or os.environ.get("CI", "").lower() == "true"


@pytest.fixture(scope="session")
def cifar10(request):
    """The whole data set (uint8 images, int64 labels)."""
    try:
        return load_cifar10()
    except CIFAR10NotFoundError as exc:
        if _cifar_required(request.config):
            pytest.fail(f"CIFAR-10 is required here (CI=true or --require-cifar): {exc}")
        pytest.skip(f"CIFAR-10 not available: {exc}")


@pytest.fixture(scope="session")
def splits(cifar10):
    """The assignment's splits: 49,000 train, 1,000 val, 10,000 test, 500 dev."""
    return split_cifar10(cifar10)


@pytest.fixture(scope="session")
def dev_batch(splits):
    """Dev batch rows (500, 3072) float64, training-split mean image subtracted, and labels."""
    return dev_batch_rows(splits)


@pytest.fixture(scope="session")
def dev_batch_bias(dev_batch):
    """The dev batch with the bias trick: rows (500, 3073) float64 ending in a 1, and labels."""
    X, y = dev_batch
    return np.hstack([X, np.ones((X.shape[0], 1))]), y


@pytest.fixture(scope="session")
def linear_parity_cases(dev_batch):
    """The SVM/softmax parity cases (W scales x reg values) built from the dev batch."""
    from ref_torch.oracle.cases import linear_cases

    X, y = dev_batch
    return linear_cases(X, y)


@pytest.fixture(params=[np.float64, np.float32], ids=["float64", "float32"])
def dtype(request):
    return np.dtype(request.param)


@pytest.fixture
def dev_batch_typed(dev_batch, dtype):
    """The dev batch in each dtype (float64 and float32)."""
    X, y = dev_batch
    return X.astype(dtype), y


@pytest.fixture(params=["cpu", pytest.param("cuda", marks=pytest.mark.cuda)])
def device(request):
    return request.param
