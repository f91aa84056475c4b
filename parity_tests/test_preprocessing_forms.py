"""The forms of preprocessing of the experiments: what each learns on the training rows
and applies unchanged to any other rows; bad use refused."""

from __future__ import annotations

import numpy as np
import pytest

from scratch_numpy.preprocessing import PREPROCESSING_FORMS, FormPreprocessor


@pytest.fixture
def images():
    rng = np.random.default_rng(0)
    train = rng.integers(0, 256, (40, 32, 32, 3), dtype=np.uint8)
    train[..., 0] //= 2  # channel 0 darker than the others
    return train, rng.integers(0, 256, (7, 32, 32, 3), dtype=np.uint8)


def test_each_form_learns_its_statistics_on_the_training_rows(images):
    train, other = images
    rows = train.reshape(40, -1).astype(np.float64)
    out = {form: FormPreprocessor(form).fit(train) for form in PREPROCESSING_FORMS}
    assert out["none"].transform(train).tolist() == rows.astype(np.float32).tolist()
    assert out["global mean"].transform(train).mean() == pytest.approx(0, abs=1e-4)
    channel = out["channel mean"].transform(train).reshape(40, 1024, 3)
    np.testing.assert_allclose(channel.mean(axis=(0, 1)), 0, atol=1e-4)
    assert len(np.unique(out["channel mean"].shift)) == 3
    np.testing.assert_allclose(out["mean image"].transform(train).mean(axis=0), 0, atol=1e-4)
    standardized = out["mean image + std"].transform(train)
    np.testing.assert_allclose(standardized.std(axis=0), 1, rtol=1e-4)
    ranged = out["[-1, 1]"].transform(train)
    np.testing.assert_allclose(ranged.min(axis=0), -1, atol=1e-6)
    np.testing.assert_allclose(ranged.max(axis=0), 1, atol=1e-6)
    # Other rows get the training statistics, not their own.
    assert out["mean image"].transform(other).mean(axis=0).std() > 1
    for prep in out.values():
        assert prep.transform(other).dtype == np.float32


def test_bad_use_is_refused(images):
    train, _ = images
    with pytest.raises(ValueError, match="unknown form"):
        FormPreprocessor("whitening")
    with pytest.raises(ValueError, match="before fit"):
        FormPreprocessor("mean image").transform(train)
    with pytest.raises(ValueError, match="zero images"):
        FormPreprocessor("global mean").fit(train[:0])
    with pytest.raises(ValueError, match="3072"):
        FormPreprocessor("none").fit(np.zeros((3, 10)))
