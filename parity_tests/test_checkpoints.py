"""Checkpoints (``scratch_numpy/checkpoints.py``) and the two-layer net's save/load on them:
atomic writes, no pickles, and a damaged file is a ValueError naming it."""

from __future__ import annotations

import errno
import os

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from scratch_numpy import checkpoints
from scratch_numpy.checkpoints import checkpoint_path, load_arrays, save_arrays
from scratch_numpy.two_layer_net import TwoLayerNet


@pytest.fixture
def net():
    return TwoLayerNet(6, 5, 3, std=0.1, activation="tanh", seed=0)


def test_round_trip_returns_the_path_written(tmp_path):
    arrays = {"W": np.arange(6.0).reshape(2, 3), "name": np.array("relu")}
    written = save_arrays(tmp_path / "model", arrays)
    assert written == tmp_path / "model.npz" and written.is_file()
    assert checkpoint_path(tmp_path / "m.npz") == tmp_path / "m.npz"
    loaded = load_arrays(written)
    assert sorted(loaded) == ["W", "name"]
    np.testing.assert_array_equal(loaded["W"], arrays["W"])
    assert str(loaded["name"]) == "relu"
    assert os.listdir(tmp_path) == ["model.npz"]  # no temporary file left behind


def test_failed_write_keeps_the_old_file_and_leaves_no_temporary(tmp_path, monkeypatch):
    target = save_arrays(tmp_path / "model.npz", {"W": np.ones(3)})
    before = target.read_bytes()

    def disk_full(f, **arrays):
        f.write(b"PK\x03\x04 half a zip")
        raise OSError(errno.ENOSPC, "No space left on device")

    monkeypatch.setattr(checkpoints.np, "savez", disk_full)
    with pytest.raises(OSError, match=f"cannot write {target}: No space left on device"):
        save_arrays(target, {"W": np.zeros(3)})
    assert target.read_bytes() == before
    assert os.listdir(tmp_path) == ["model.npz"]


def test_missing_folder_is_an_os_error_naming_the_target(tmp_path):
    with pytest.raises(FileNotFoundError, match=f"cannot write {tmp_path / 'no' / 'm.npz'}"):
        save_arrays(tmp_path / "no" / "m.npz", {"W": np.ones(1)})


@pytest.mark.parametrize("value, message", [
    (np.array([1.0, np.nan]), "W holds NaN or infinite values"),
    (np.array([np.inf], dtype=np.float32), "W holds NaN or infinite values"),
    (np.array([{"a": 1}], dtype=object), "W is an object array"),
])
def test_non_finite_or_object_arrays_are_not_saved(tmp_path, value, message):
    with pytest.raises(ValueError, match=message):
        save_arrays(tmp_path / "m.npz", {"b": np.zeros(2), "W": value})
    assert os.listdir(tmp_path) == []


def test_object_array_in_the_file_is_refused_not_unpickled(tmp_path):
    path = tmp_path / "evil.npz"
    np.savez(path, W=np.array([{"a": 1}], dtype=object))  # np.savez pickles object arrays
    with pytest.raises(ValueError, match="evil.npz: not a readable .npz checkpoint.*allow_pickle"):
        load_arrays(path)


def _truncated(path):
    raw = path.read_bytes()
    path.write_bytes(raw[: len(raw) // 2])


def _flipped_byte(path):
    raw = bytearray(path.read_bytes())
    raw[len(raw) // 3] ^= 0xFF  # inside W1's data: the zip's CRC check fails
    path.write_bytes(bytes(raw))


def _not_a_zip(path):
    path.write_bytes(b"PK\x03\x04" + b"\x00" * 100)


def _a_pickle(path):
    path.write_bytes(b"\x80\x04K\x01.")


@pytest.mark.parametrize("damage", [_truncated, _flipped_byte, _not_a_zip, _a_pickle],
                         ids=["truncated", "flipped byte", "not a zip", "a pickle"])
def test_damaged_checkpoint_is_a_value_error_naming_the_file(tmp_path, net, damage):
    # Each used to escape as BadZipFile (or pass a bad CRC unnoticed until the array was read).
    path = tmp_path / "net.npz"
    net.save(path)
    damage(path)
    with pytest.raises(ValueError, match=f"{path}: not a readable .npz checkpoint"):
        TwoLayerNet.load(path)


def test_two_layer_net_round_trip_and_invalid_contents(tmp_path, net):
    path = net.save(tmp_path / "net")
    assert path == tmp_path / "net.npz"
    again = TwoLayerNet.load(path)
    assert again.activation == "tanh"
    for name, value in net.params.items():
        np.testing.assert_array_equal(again.params[name], value)

    broken = dict(net.params, W2=np.full((5, 3), np.nan))
    np.savez(tmp_path / "nan.npz", activation=np.array("tanh"), **broken)  # not through save
    with pytest.raises(ValueError, match="nan.npz: not a valid TwoLayerNet: W2 contains NaN"):
        TwoLayerNet.load(tmp_path / "nan.npz")
    save_arrays(tmp_path / "partial.npz", {"W1": net.params["W1"]})
    with pytest.raises(ValueError, match="partial.npz: not a TwoLayerNet file, missing b1, W2"):
        TwoLayerNet.load(tmp_path / "partial.npz")
    net.params["W1"][0, 0] = np.inf
    with pytest.raises(ValueError, match="W1 holds NaN or infinite values"):
        net.save(tmp_path / "inf.npz")
    assert not (tmp_path / "inf.npz").exists()


def test_a_two_layer_checkpoint_holds_exactly_a_two_layer_net(tmp_path, net):
    """A checkpoint names its model; another model's file, or one with arrays a two-layer net
    does not have (a 3-layer net's W3, b3), is refused instead of loading as a wrong net."""
    three_layers = {"activation": np.array("relu"), "W1": np.ones((4, 5)), "b1": np.zeros(5),
                    "W2": np.ones((5, 6)), "b2": np.zeros(6), "W3": np.ones((6, 7)),
                    "b3": np.zeros(7)}
    save_arrays(tmp_path / "fc.npz", three_layers)
    with pytest.raises(ValueError, match="unexpected parameters W3, b3 for a two-layer net"):
        TwoLayerNet.load(tmp_path / "fc.npz")
    save_arrays(tmp_path / "other.npz", {"model": np.array("FullyConnectedNet"),
                                         **three_layers})
    with pytest.raises(ValueError, match="other.npz: a FullyConnectedNet checkpoint, not a "
                                         "TwoLayerNet"):
        TwoLayerNet.load(tmp_path / "other.npz")
    with pytest.raises(ValueError, match="unexpected parameters W3"):
        TwoLayerNet.from_params({k: v for k, v in three_layers.items() if k != "activation"})
    path = net.save(tmp_path / "mine")
    assert str(np.load(path)["model"]) == "TwoLayerNet"
    legacy = {k: v for k, v in np.load(path).items() if k != "model"}  # files of earlier versions
    save_arrays(tmp_path / "legacy.npz", legacy)
    assert TwoLayerNet.load(tmp_path / "legacy.npz").activation == net.activation


def test_save_without_overwrite_keeps_an_existing_file(tmp_path, net):
    target = tmp_path / "net.npz"
    target.write_text("theirs")
    with pytest.raises(FileExistsError, match="net.npz exists; it is kept"):
        net.save(target, overwrite=False)
    assert target.read_text() == "theirs" and os.listdir(tmp_path) == ["net.npz"]


# ---- property: any set of arrays in a file loads as a two-layer net only when it is one -------

_NAMES = ["W1", "b1", "W2", "b2", "W3", "b3", "activation", "model", "extra"]


@settings(max_examples=60)
@given(st.data())
def test_any_checkpoint_is_a_two_layer_net_exactly_or_refused_naming_the_file(tmp_path_factory,
                                                                                 data):
    """Random subsets of parameter names, random shapes, a model kind or none, an activation
    or none: ``TwoLayerNet.load`` returns a net holding exactly the file's four arrays, or a
    ValueError naming the file; never anything else, never a net of other arrays."""
    D, H, C = data.draw(st.integers(1, 4)), data.draw(st.integers(1, 4)), data.draw(st.integers(1, 4))
    shapes = {"W1": (D, H), "b1": (H,), "W2": (H, C), "b2": (C,), "W3": (C, 2), "b3": (2,)}
    names = data.draw(st.sets(st.sampled_from(_NAMES), min_size=1))
    arrays = {}
    for name in names:
        if name == "activation":
            arrays[name] = np.array(data.draw(st.sampled_from(["relu", "tanh", "softmax"])))
        elif name == "model":
            arrays[name] = np.array(data.draw(st.sampled_from(["TwoLayerNet", "FullyConnectedNet"])))
        elif name == "extra":
            arrays[name] = np.zeros(3)
        else:
            wrong = data.draw(st.booleans()) and data.draw(st.booleans())  # a quarter: bad shape
            shape = shapes[name] if not wrong else tuple(d + 1 for d in shapes[name])
            arrays[name] = np.ones(shape)
    path = tmp_path_factory.mktemp("ckpt") / "net.npz"
    save_arrays(path, arrays)
    try:
        net = TwoLayerNet.load(path)
    except ValueError as exc:
        assert str(path) in str(exc)
        return
    assert set(arrays) - {"activation", "model"} == {"W1", "b1", "W2", "b2"}
    assert str(arrays.get("model", "TwoLayerNet")) == "TwoLayerNet"
    for name in ("W1", "b1", "W2", "b2"):
        np.testing.assert_array_equal(net.params[name], arrays[name].astype(net.dtype))
