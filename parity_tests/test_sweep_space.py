"""Sweep search spaces from the command line and from TOML / YAML files: every kind,
every value checked against the model's parameter, bad input refused naming it.
No Ray needed: a space is plain data until a sweep hands it to Ray Tune."""

from __future__ import annotations

import pytest

from scripts.sweep_models import MODELS
from scripts.sweep_space import (Dimension, describe, from_json, number_of_trials, parse_option,
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
    ("hidden_size=0", "hidden_size must be a positive integer"),
])
def test_bad_network_values_are_refused(text, message):
    with pytest.raises(ValueError, match=message):
        parse_option(text, NET)


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
    ("s.toml", "hidden_size = {grid = [50.0]}", "hidden_size must be a positive integer, got 50.0"),
    ("s.json", "{}", "ends in .toml, .yaml or .yml"),
    ("missing.toml", None, "cannot read the space file"),
])
def test_bad_space_files_are_refused(tmp_path, name, text, message):
    path = tmp_path / name
    if text is not None:
        path.write_text(text)
    with pytest.raises(ValueError, match=message):
        read_file(path, NET)
