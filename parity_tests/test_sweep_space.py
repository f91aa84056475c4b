"""Sweep search spaces from the command line and from TOML / YAML files: every kind,
every value checked against the model's parameter, bad input refused naming it.
No Ray needed: a space is plain data until a sweep hands it to Ray Tune."""

from __future__ import annotations

import re

import pytest

from scripts.sweep.models import MODELS
from scripts.sweep.space import (Dimension, describe, from_json, number_of_trials, parse_option,
                                 read_file)

NET = MODELS["two_layer_net"].params
LINEAR = MODELS["svm"].params


# ---- the command line's dimensions -------------------------------------------------------

def test_each_kind_parses_to_its_dimension():
    assert parse_option("reg=grid:1e2, 1e3,1e4", LINEAR) == (
        "reg", Dimension("grid", (100.0, 1e3, 1e4)))
    assert parse_option("learning_rate=loguniform:1e-7,1e-5", LINEAR) == (
        "learning_rate", Dimension("loguniform", (1e-7, 1e-5)))
    assert parse_option("hidden_size=choice:500,1000", NET) == (
        "hidden_size", Dimension("choice", (500, 1000)))
    assert parse_option("epochs=10", NET) == ("epochs", Dimension("fixed", (10.0,)))
    assert parse_option("augment_flip=false", NET) == ("augment_flip", Dimension("fixed", (False,)))
    assert parse_option("activation=choice:relu,tanh", NET) == (
        "activation", Dimension("choice", ("relu", "tanh")))
    assert parse_option("batch_size=grid:100,200", LINEAR)[1].values == (100, 200)


@pytest.mark.parametrize("text, message", [
    ("lr=grid:1,2", "unknown hyperparameter 'lr'; this model tunes"),
    ("reg", "expected name=kind:values or name=value"),
    ("reg=", "expected name=kind:values or name=value"),
    ("reg=grid:", "reg: grid needs at least one value"),
    ("reg=grid:1e2,abc", "reg: 'abc' is not a number"),
    ("reg=grid:-1", "reg must be a finite number >= 0, got -1.0"),
    ("reg=nan", "reg must be a finite number >= 0"),
    ("learning_rate=loguniform:1e-5,1e-7", "loguniform needs two bounds 0 < low < high"),
    ("learning_rate=loguniform:0,1e-5", "learning_rate must be a finite number > 0"),
    ("learning_rate=loguniform:1e-7", "loguniform needs two bounds"),
    ("num_iters=loguniform:10,100", "loguniform needs a real-valued parameter"),
    ("num_iters=grid:1.5", "num_iters: '1.5' is not an integer"),
    ("lr_decay=1.5", "lr_decay must be a finite number in [0, 1]"),
])
def test_bad_dimensions_are_refused_naming_the_problem(text, message):
    with pytest.raises(ValueError, match=message.replace("(", r"\(").replace("[", r"\[")):
        parse_option(text, LINEAR)


@pytest.mark.parametrize("text, message", [
    ("augment_flip=yes", "augment_flip: 'yes' is not true or false"),
    ("activation=softplus", "activation must be one of relu, sigmoid, tanh"),
    ("momentum=1", "momentum must be a finite number in"),
    ("hidden_size=0", r"hidden_size must be an integer in 1\.\.4096, got 0"),
])
def test_bad_network_values_are_refused(text, message):
    with pytest.raises(ValueError, match=message):
        parse_option(text, NET)


@pytest.mark.parametrize("model, text, message", [
    ("two_layer_net", "epochs=1e300",
     r"epochs must be a finite number in \(0, 1000\], got 1e\+300"),
    ("two_layer_net", "epochs=loguniform:1,1e300", r"in \(0, 1000\], got 1e\+300"),
    ("two_layer_net", "hidden_size=100000", r"hidden_size must be an integer in 1\.\.4096"),
    ("two_layer_net", "batch_size=1000000000", r"batch_size must be an integer in 1\.\.49000"),
    ("fc_net", "num_hidden_layers=1000", r"num_hidden_layers must be an integer in 0\.\.10"),
    ("fc_net", "hidden_size=choice:500,5000", r"hidden_size must be an integer in 1\.\.4096"),
    ("fc_net", "epochs=1001", r"epochs must be a finite number in \(0, 1000\]"),
    ("svm", "num_iters=1000000000000", r"num_iters must be an integer in 1\.\.1000000"),
    ("svm", "decay_every=grid:10,10000000", r"decay_every must be an integer in 1\.\.1000000"),
    ("softmax", "batch_size=49001", r"batch_size must be an integer in 1\.\.49000"),
])
def test_every_value_is_bounded_to_what_a_trial_can_run(model, text, message):
    """epochs=1e300 would grow a trial's memory until it ran out: each limit is named."""
    with pytest.raises(ValueError, match=message):
        parse_option(text, MODELS[model].params)


# ---- files ----------------------------------------------------------------------------------

TOML = """
learning_rate = {loguniform = [1e-4, 1e-3]}
reg = {grid = [0.01, 0.1]}
hidden_size = {choice = [50, 100]}
epochs = 3
"""

YAML = """
learning_rate: {loguniform: [1.0e-4, 1.0e-3]}
reg: {grid: [0.01, 0.1]}
hidden_size: {choice: [50, 100]}
epochs: 3
"""


@pytest.mark.parametrize("name, text", [("space.toml", TOML), ("space.yaml", YAML)])
def test_toml_and_yaml_files_give_the_same_space(tmp_path, name, text):
    path = tmp_path / name
    path.write_text(text)
    if name.endswith(".yaml"):
        pytest.importorskip("yaml", reason="PyYAML comes with the sweep extra")
    space = read_file(path, NET)
    assert space == {"learning_rate": Dimension("loguniform", (1e-4, 1e-3)),
                     "reg": Dimension("grid", (0.01, 0.1)),
                     "hidden_size": Dimension("choice", (50, 100)),
                     "epochs": Dimension("fixed", (3.0,))}
    assert number_of_trials(space, num_samples=3) == 6
    assert from_json({k: d.to_json() for k, d in space.items()}, NET) == space
    assert "learning_rate = loguniform: 0.0001, 0.001" in describe(space)


@pytest.mark.parametrize("name, text, message", [
    ("s.toml", "reg = {grid = [1, 2]", "not valid TOML"),
    ("s.toml", "reg = {grid = 1}", r"reg.grid must be a list"),
    ("s.toml", "reg = {grid = [1], choice = [2]}", "reg needs exactly one of"),
    ("s.toml", "reg = {uniform = [1, 2]}", "reg: unknown kind 'uniform'"),
    ("s.toml", "hidden_size = {grid = [50.0]}",
     r"hidden_size must be an integer in 1\.\.4096, got 50"),
    ("s.yaml", "epochs: 1e300", r"epochs must be a finite number in \(0, 1000\]"),
    ("s.json", "{}", "ends in .toml, .yaml or .yml"),
    ("missing.toml", None, "cannot read the space file"),
])
def test_bad_space_files_are_refused(tmp_path, name, text, message):
    path = tmp_path / name
    if text is not None:
        path.write_text(text)
    with pytest.raises(ValueError, match=message):
        read_file(path, NET)


def test_yaml_reads_exponent_numbers_as_toml_does(tmp_path):
    """PyYAML alone (YAML 1.1) reads 1e-7 as the string '1e-7'; a space file reads a number."""
    pytest.importorskip("yaml", reason="PyYAML comes with the sweep extra")
    yaml_path, toml_path = tmp_path / "space.yaml", tmp_path / "space.toml"
    yaml_path.write_text("learning_rate: {loguniform: [1e-7, 1.0e-5]}\n"
                         "reg: {grid: [1e2, .5E3, 2_000.0]}\nepochs: 3\nstd: -0e0\n")
    toml_path.write_text("learning_rate = {loguniform = [1e-7, 1.0e-5]}\n"
                         "reg = {grid = [1e2, 0.5E3, 2_000.0]}\nepochs = 3\nstd = -0e0\n")
    space = read_file(yaml_path, NET)
    assert space == read_file(toml_path, NET)
    assert space["learning_rate"] == Dimension("loguniform", (1e-7, 1e-5))
    assert space["reg"] == Dimension("grid", (100.0, 500.0, 2000.0))
    quoted = tmp_path / "quoted.yaml"  # a string stays a string, and is refused
    quoted.write_text("learning_rate: '1e-7'\n")
    with pytest.raises(ValueError, match="learning_rate must be a finite number > 0, got '1e-7'"):
        read_file(quoted, NET)


@pytest.mark.parametrize("name", ["space.toml", "space.yaml"])
def test_a_space_file_that_is_not_utf8_is_refused_naming_it(tmp_path, name):
    path = tmp_path / name
    path.write_bytes(b"reg = 1\n# caf\xe9\n")
    message = f"{path}: the space file is not UTF-8 text (byte 0xe9 at offset 13)"
    with pytest.raises(ValueError, match=re.escape(message)):
        read_file(path, LINEAR)
