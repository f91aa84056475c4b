"""The sweep's model registry: every entry valid, each ``fit`` trains with the project's
solvers and reports through ``on_epoch``, divergence raised, trial data without the test
split. No Ray needed: ``fit`` is what a trial runs inside a Ray worker."""

from __future__ import annotations

from dataclasses import replace

import numpy as np
import pytest

from scripts.sweep.models import MODELS, full_config, max_epochs, sweep_rows
from scripts.sweep.space import Dimension, from_json


def test_every_default_space_is_valid_and_every_base_value_passes_its_check():
    for name, model in MODELS.items():
        assert set(model.base) == set(model.params), name
        for key, value in model.base.items():
            model.params[key].check(value, key)
        assert from_json({k: d.to_json() for k, d in model.default_space.items()},
                         model.params) == model.default_space
    space = {"epochs": Dimension("grid", (3.0, 7.5))}
    assert max_epochs(MODELS["two_layer_net"], space, 1000) == 8
    assert max_epochs(MODELS["two_layer_net"], {}, 1000) == MODELS["two_layer_net"].base["epochs"]
    # 2.0 epochs of 1190 rows in batches of 200: 12 steps of 5 per epoch, reports at 1, 2, 2.4.
    space = {"epochs": Dimension("fixed", (2.0,))}
    assert max_epochs(MODELS["two_layer_net"], space, 1190) == 3


@pytest.mark.parametrize("name", ["two_layer_net", "fc_net"])
@pytest.mark.parametrize("epochs, trained", [(1.04, 1.0), (1.26, 1.3)])
def test_the_epochs_of_a_full_run_are_what_its_last_report_says(splits, name, epochs, trained):
    """epochs is rounded to whole steps: 1.04 epochs of 10 steps train 10 steps, 1.0 epoch.
    A trial's status compares its last report with this (a full run is done, not stopped)."""
    model = MODELS[name]
    data, _ = sweep_rows(model, splits, num_train=1000, num_val=100)
    config = full_config(model, {"hidden_size": 20, "num_hidden_layers": 1, "epochs": epochs,
                                 "batch_size": 100} if name == "fc_net"
                         else {"hidden_size": 20, "epochs": epochs, "batch_size": 100})
    reports = []
    model.fit(data, config, "numpy", "cpu", 0, lambda h: reports.append(h["epochs"][-1]))
    assert reports[-1] == pytest.approx(trained)
    assert model.epochs(config, 1000) == pytest.approx(reports[-1], abs=1e-12)


@pytest.mark.parametrize("name, backend", [("svm", "numpy"), ("softmax", "torch"),
                                           ("two_layer_net", "numpy"), ("two_layer_net", "torch"),
                                           ("fc_net", "numpy"), ("fc_net", "torch")])
def test_fit_reports_through_on_epoch_and_returns_a_predicting_model(splits, name, backend):
    """Each entry trains with the project's solver on small rows: the networks report every
    epoch, the linear classifiers once at the end; the reported accuracy is the model's."""
    model = MODELS[name]
    data, (_, y_test) = sweep_rows(model, splits, num_train=1000, num_val=200)
    assert len(data.y_test) == 0 and len(y_test) == 10_000  # trials never see the test split
    config = full_config(model, {"num_iters": 20, "batch_size": 100} if not model.per_epoch
                         else {"hidden_size": 20, "epochs": 2, "batch_size": 100})
    reports = []
    fitted = model.fit(data, config, backend, "cpu", 0, lambda h: reports.append(
        (h["epochs"][-1], h["val_acc_history"][-1], h["best_val_acc"])))
    assert [epochs for epochs, _, _ in reports] == ([1.0, 2.0] if model.per_epoch else [2.0])
    assert model.epochs(config, len(data.y_train)) == 2.0
    val = float(np.mean(fitted.predict(data.X_val) == data.y_val))
    assert reports[-1][2] == pytest.approx(val) and val > 0.15


@pytest.mark.parametrize("name", ["two_layer_net", "fc_net"])
def test_a_diverging_configuration_raises_out_of_fit(splits, name):
    from scratch_numpy.training import TrainingDivergedError

    model = MODELS[name]
    data, _ = sweep_rows(model, splits, num_train=600, num_val=100)
    config = full_config(model, {"hidden_size": 20, "epochs": 2, "learning_rate": 1e3})
    with np.errstate(all="ignore"), pytest.raises(TrainingDivergedError):
        model.fit(data, config, "numpy", "cpu", 0, lambda h: False)


def test_sweep_rows_keep_the_first_rows_and_fit_statistics_on_them(splits):
    from scratch_numpy.preprocessing import linear_rows

    data, (X_test, y_test) = sweep_rows(MODELS["svm"], splits, num_train=300, num_val=50)
    assert data.X_train.shape == (300, 3073) and data.X_val.shape == (50, 3073)
    expected = linear_rows(replace(splits, X_train=splits.X_train[:300],
                                   y_train=splits.y_train[:300]))
    np.testing.assert_array_equal(data.X_train, expected.X_train)
    np.testing.assert_array_equal(data.X_val, expected.X_val[:50])
    np.testing.assert_array_equal(X_test, expected.X_test)
    assert data.preprocessor is None and len(data.y_dev) == 0 and len(data.y_test) == 0


def test_fc_net_sweep_values_are_the_chosen_net_and_build_its_shape():
    from scripts.configs import FC_CHOSEN
    from scripts.sweep.models import fc_config

    model = MODELS["fc_net"]
    assert fc_config(model.base) == FC_CHOSEN
    config = fc_config(full_config(model, {"hidden_size": 64, "num_hidden_layers": 0}))
    assert config.hidden_dims == () and config.learning_rate == FC_CHOSEN.learning_rate


@pytest.mark.cuda
def test_a_network_trial_trains_on_cuda(splits):
    """What a trial with --gpus-per-trial runs: the torch backend on cuda."""
    model = MODELS["two_layer_net"]
    data, _ = sweep_rows(model, splits, num_train=1000, num_val=200)
    config = full_config(model, {"hidden_size": 20, "epochs": 2, "batch_size": 100})
    reports = []
    fitted = model.fit(data, config, "torch", "cuda", 0,
                       lambda h: reports.append(h["best_val_acc"]))
    assert len(reports) == 2
    assert reports[-1] == pytest.approx(float(np.mean(fitted.predict(data.X_val) == data.y_val)))
