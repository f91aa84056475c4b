"""Linear classifiers: NumPy SGD vs torch.optim.SGD trajectories, the
learning-rate schedule, seeding, the non-finite-loss stop, bad input.

Training parity: both sides start from the same W and replay the same
minibatch indices (``scratch_numpy.linear_classifier.minibatches``); after 100
steps the weights and every minibatch loss agree to near machine precision in
float64.
"""

from __future__ import annotations

import numpy as np
import pytest
import torch

from ref_torch.linear_classifier import TorchLinearSVM, TorchSoftmax
from ref_torch.tolerances import TRAJECTORY_RTOL_SVM_FLOAT32, parity_rtol
from scratch_numpy.linear_classifier import LinearSVM, Softmax
from scratch_numpy.training import TrainingDivergedError, minibatches
from scratch_numpy.linear_svm import svm_loss_vectorized

PAIRS = [(LinearSVM, TorchLinearSVM), (Softmax, TorchSoftmax)]


@pytest.fixture(autouse=True, scope="module")
def one_torch_thread():
    """Each torch SGD step here is a tiny matmul; on a loaded 2-core machine torch's
    spinning OpenMP workers made 100 steps ~15x slower (6.5 s vs 0.4 s) than one thread."""
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(threads)


def with_bias(X):
    return np.hstack([X, np.ones((X.shape[0], 1), dtype=X.dtype)])


@pytest.fixture(scope="module")
def train_batch(dev_batch):
    X, y = dev_batch
    return with_bias(X), y


def normwise(a, b):
    return float(np.abs(np.asarray(a, np.float64) - b).max() / np.abs(b).max())


def trajectory_rtol(numpy_cls, dtype):
    """float32 SVM runs may part at a hinge kink (see ref_torch/tolerances.py)."""
    if numpy_cls is LinearSVM and np.dtype(dtype) == np.float32:
        return TRAJECTORY_RTOL_SVM_FLOAT32
    return parity_rtol(dtype)


def replay(numpy_cls, torch_cls, X, y, W0, device="cpu", torch_learning_rate=None, **options):
    """Train both sides from W0 on the same minibatches (seed 5); return both final W and losses.

    torch_learning_rate: give the torch side another step size (to prove the check bites).
    """
    numpy_clf = numpy_cls()
    numpy_clf.W = W0.copy()
    numpy_losses = numpy_clf.train(X, y, seed=5, **options)
    torch_clf = torch_cls(device=device, dtype=X.dtype)
    torch_clf.set_weights(W0)
    if torch_learning_rate is not None:
        options["learning_rate"] = torch_learning_rate
    batches = minibatches(np.random.default_rng(5), len(y), options["batch_size"],
                          options["num_iters"])
    torch_losses = torch_clf.train(X, y, batch_indices=batches, **options)
    return numpy_clf.W, np.array(numpy_losses), torch_clf.weights(), np.array(torch_losses)


TRAJECTORY = dict(learning_rate=1e-6, reg=1e3, num_iters=100, batch_size=50)



@pytest.mark.parametrize("numpy_cls, torch_cls", PAIRS, ids=["svm", "softmax"])
@pytest.mark.parametrize("schedule", [dict(lr_decay=1.0), dict(lr_decay=0.8, decay_every=20)],
                         ids=["constant", "step-decay"])
def test_sgd_trajectories_match(train_batch, numpy_cls, torch_cls, schedule, dtype, device):
    X, y = train_batch
    X = X.astype(dtype)
    W0 = (1e-3 * np.random.default_rng(7).standard_normal((X.shape[1], 10))).astype(dtype)
    W_np, losses_np, W_torch, losses_torch = replay(numpy_cls, torch_cls, X, y, W0, device,
                                                    **TRAJECTORY, **schedule)
    tol = trajectory_rtol(numpy_cls, dtype)
    print(f"final W error {normwise(W_np, W_torch):.1e}, "
          f"losses {normwise(losses_np, losses_torch):.1e}")
    assert normwise(W_np, W_torch) <= tol
    assert normwise(losses_np, losses_torch) <= tol
    assert losses_np[-1] < 0.8 * losses_np[0]  # it learned something
    assert normwise(W_np, W0) > 10 * tol  # the check is not vacuous


@pytest.mark.parametrize("numpy_cls, torch_cls", PAIRS, ids=["svm", "softmax"])
def test_trajectory_check_fails_a_wrong_update(train_batch, numpy_cls, torch_cls, dtype):
    """A 1% error in the step size fails float64 parity by orders of magnitude; a 50%
    error (as from dropping the 2 of the reg gradient) fails the float32 bounds."""
    X, y = train_batch
    X = X.astype(dtype)
    W0 = (1e-3 * np.random.default_rng(7).standard_normal((X.shape[1], 10))).astype(dtype)
    wrong_rate = 1.01e-6 if dtype == np.float64 else 0.5e-6
    W_np, _, W_torch, _ = replay(numpy_cls, torch_cls, X, y, W0,
                                 torch_learning_rate=wrong_rate, **TRAJECTORY)
    assert normwise(W_np, W_torch) > 3 * trajectory_rtol(numpy_cls, dtype)


@pytest.mark.parametrize("cls", [LinearSVM, Softmax])
def test_training_learns_and_predicts(train_batch, cls):
    X, y = train_batch
    clf = cls()
    losses = clf.train(X, y, learning_rate=1e-7, reg=2.5e4, num_iters=300, batch_size=200, seed=0)
    assert len(losses) == 300 and all(np.isfinite(losses))
    assert np.mean(losses[-20:]) < 0.7 * np.mean(losses[:20])
    pred = clf.predict(X)
    assert pred.shape == y.shape and pred.dtype.kind == "i"
    assert (pred == y).mean() > 0.2  # chance is 0.1


def test_training_is_seeded(train_batch):
    X, y = train_batch
    runs = []
    for seed in (1, 1, 2):
        clf = Softmax()
        runs.append((clf.train(X, y, 1e-7, 1e3, num_iters=20, seed=seed), clf.W))
    assert runs[0][0] == runs[1][0] and np.array_equal(runs[0][1], runs[1][1])
    assert not np.array_equal(runs[0][1], runs[2][1])


def test_schedule_is_the_documented_step_rule(train_batch):
    """W_{t+1} = W_t - learning_rate * lr_decay ** (t // decay_every) * dW_t, bit for bit."""
    X, y = train_batch
    W = 1e-3 * np.random.default_rng(0).standard_normal((X.shape[1], 10))
    clf = LinearSVM()
    clf.W = W.copy()
    clf.train(X, y, 1e-7, 1e2, num_iters=40, batch_size=50, seed=3, lr_decay=0.5, decay_every=10)
    for t, idx in enumerate(minibatches(np.random.default_rng(3), len(y), 50, 40)):
        W = W - 1e-7 * 0.5 ** (t // 10) * svm_loss_vectorized(W, X[idx], y[idx], 1e2)[1]
    np.testing.assert_array_equal(clf.W, W)


@pytest.mark.parametrize("cls", [LinearSVM, Softmax])
def test_non_finite_loss_stops_with_last_finite_weights(train_batch, cls):
    X, y = train_batch
    clf = cls()
    with pytest.raises(TrainingDivergedError, match="not finite|is nan|is inf") as info:
        clf.train(X, y, learning_rate=1e150, reg=1e150, num_iters=50, seed=0)
    assert np.isfinite(clf.W).all()
    assert info.value.iteration == len(info.value.loss_history) < 50
    assert "learning_rate" in str(info.value)


def test_torch_non_finite_loss_stops(train_batch):
    X, y = train_batch
    clf = TorchSoftmax(dtype=np.float64)
    with pytest.raises(ValueError, match="not finite|non-finite"):
        clf.train(X, y, learning_rate=1e150, reg=1e150, num_iters=50, seed=0)
    assert np.isfinite(clf.weights()).all()


@pytest.mark.parametrize("options, message", [
    (dict(batch_size=600, replace=False), "batch_size"),
    (dict(reg=-1.0), "reg"),
    (dict(learning_rate=0.0), "learning_rate"),
    (dict(learning_rate=float("nan")), "learning_rate"),
    (dict(num_iters=-1), "num_iters"),
    (dict(num_iters=2.5), "num_iters"),
    (dict(batch_size=0), "batch_size"),
    (dict(lr_decay=1.5), "lr_decay"),
    (dict(learning_rate="1e-7"), "learning_rate"),
])
def test_bad_training_options_raise(train_batch, options, message):
    X, y = train_batch
    clf = LinearSVM()
    with pytest.raises(ValueError, match=message):
        clf.train(X, y, **options)
    assert clf.W is None  # a refused call leaves the classifier untouched


def test_batch_without_replacement_has_distinct_rows():
    for idx in minibatches(np.random.default_rng(0), 50, 50, 3, replace=False):
        assert len(set(idx.tolist())) == 50
    with pytest.raises(ValueError, match="batch_size"):
        minibatches(np.random.default_rng(0), 50, 51, 3, replace=False)


def test_bad_data_raises(train_batch):
    X, y = train_batch
    with pytest.raises(ValueError, match="labels"):
        LinearSVM().train(X, y[:-1])
    with pytest.raises(ValueError, match="NaN"):
        LinearSVM().train(np.full_like(X, np.nan), y)
    clf = Softmax()
    clf.train(X, y, num_iters=1)
    with pytest.raises(ValueError, match="features"):
        clf.predict(X[:, :-1])
    with pytest.raises(ValueError, match="0..9"):
        clf.train(X, np.full_like(y, 10), num_iters=1)
    with pytest.raises(ValueError, match="before train"):
        Softmax().predict(X)


@pytest.mark.slow
@pytest.mark.parametrize("cls", [LinearSVM, Softmax])
def test_full_training_reaches_assignment_accuracy(splits, cls):
    """The assignment's bar on the 1,000 validation images, chosen hyperparameters."""
    from scratch_numpy.preprocessing import linear_rows
    from scripts.configs import LINEAR_CHOSEN, fit_linear

    data = linear_rows(splits)
    name = "svm" if cls is LinearSVM else "softmax"
    clf, _ = fit_linear(name, data, LINEAR_CHOSEN[name])
    assert (clf.predict(data.X_val) == data.y_val).mean() >= 0.39


def test_overflowing_scores_and_inputs_are_refused_not_predicted():
    """Finite X and W whose scores overflow give an error, never argmax's silent class 0; a
    finite float64 X beyond float32's range is refused by a float32 model (it would be inf)."""
    W = np.array([[1e200, -1e200], [1e200, 1e200]])
    X = np.array([[1e200, 1.0], [1.0, 2.0]])
    for model in (LinearSVM(), Softmax()):
        model.W = W
        with pytest.raises(FloatingPointError, match="the scores are not finite"):
            model.predict(X)
    torch_model = TorchLinearSVM(dtype=np.float32)
    torch_model.W = torch.ones((2, 3), dtype=torch.float32)
    with pytest.raises(ValueError, match=r"X holds values up to 1e\+39, beyond what float32 holds"):
        torch_model.predict(np.array([[1e39, 1.0]]))
    torch_model.W = torch.full((2, 3), 3e38, dtype=torch.float32)
    with pytest.raises(FloatingPointError, match="the scores are not finite"):
        torch_model.predict(np.array([[2.0, 1.0]], dtype=np.float32))
