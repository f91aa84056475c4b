"""Linear classifiers trained by the torch solver on cpu or cuda.

Twin of ``scratch_numpy/linear_classifier.py``: the same loss per minibatch
(``ref_torch.linear_svm.svm_loss`` / ``ref_torch.softmax.softmax_loss``), the
same update ``W <- W - lr_t * dL/dW`` (plain SGD, no momentum) and the same
step schedule ``lr_t = learning_rate * lr_decay ** (t // decay_every)``
(``ref_torch/solver.py``, parameters checked after every step). Given the same
initial ``W`` and the same minibatch indices (``batch_indices``), both follow
the same trajectory. Inputs are checked once per call, as the NumPy twin checks
them and with its messages; each step runs the unchecked ``*_loss_core``.
"""

from __future__ import annotations

from typing import Iterable

import numpy as np
import torch

from ref_torch.devices import resolve_device, to_tensor, torch_dtype
from ref_torch.layers import predict_labels
from ref_torch.linear_svm import svm_loss_core
from ref_torch.softmax import softmax_loss_core
from ref_torch.solver import Solver
from ref_torch.validation import as_dtype, check_label_tensor, check_tensor
from scratch_numpy.validation import check_array, check_reg, check_width

INIT_SCALE = 1e-3


class TorchLinearClassifier:
    """Holds ``W`` (D, C) as a tensor on ``device``; subclasses pick the loss.

    device: "cpu", "cuda" or "auto"; dtype: np.float32 or np.float64.
    """

    loss_fn = None

    def __init__(self, device="cpu", dtype=np.float32):
        self.device = resolve_device(device)
        self.dtype = torch_dtype(dtype)
        self.W: torch.Tensor | None = None

    def set_weights(self, W) -> None:
        """Start from the NumPy array ``W`` (D, C) (copied; finite, real-valued)."""
        W = check_array(W, "W", 2)
        self.W = to_tensor(np.array(W, copy=True), self.device).to(self.dtype)

    def weights(self) -> np.ndarray:
        """``W`` as a NumPy array on the host."""
        return self.W.detach().cpu().numpy()

    def train(self, X, y, learning_rate=1e-3, reg=1e-5, num_iters=100, batch_size=200,
              verbose=False, seed=None, lr_decay=1.0, decay_every=100, replace=True,
              batch_indices: Iterable | None = None, progress=False, compile=False):
        """Minibatch SGD; returns the minibatch losses (floats), one per step.
        ``compile``: the loss (and its gradient) through ``torch.compile``; the update
        stays eager, as it checks every step.

        X (N, D) and y (N,) NumPy arrays (moved to the device once). Batches
        come from ``batch_indices`` (an iterable of index arrays, e.g. to
        replay the NumPy classifier's) or else from a torch generator seeded
        with ``seed``. Raises ``scratch_numpy.training.TrainingDivergedError``
        (a ValueError) when the loss or W stops being finite, keeping the last
        finite W.
        """
        X_dev = check_tensor(X, "X", 2, self.device).to(self.dtype)
        num_train, dim = X_dev.shape
        num_classes = self.W.shape[1] if self.W is not None else None
        y_dev = check_label_tensor(y, num_train, num_classes, device=self.device)
        reg = check_reg(reg)
        if self.W is not None:
            check_width(dim, self.W.shape[0], "X", f"W of shape {tuple(self.W.shape)}")
        generator = torch.Generator().manual_seed(0 if seed is None else seed)
        params = {}
        # Built first so that a refused option leaves the classifier untouched.
        solver = Solver(params, lambda p, X_batch, y_batch: self.loss_fn(p["W"], X_batch, y_batch, reg),
                        X_dev, y_dev, learning_rate=learning_rate, lr_decay=lr_decay,
                        decay_every=decay_every, batch_size=batch_size, num_iters=num_iters,
                        batches=(batch_indices if batch_indices is not None
                                 else "replace" if replace else "distinct"),
                        generator=generator, check_every_step=True, verbose=verbose,
                        print_every=100, progress=progress, label=f"torch {type(self).__name__}",
                        compile=compile)
        if self.W is None:
            num_classes = max(int(y_dev.max()) + 1, 2)
            W = INIT_SCALE * torch.randn(dim, num_classes, generator=generator, dtype=torch.float64)
            self.W = W.to(self.device, self.dtype)
        params["W"] = self.W.detach().clone()
        try:
            return solver.train()["loss_history"]
        finally:
            self.W = params["W"].detach()

    @torch.no_grad()
    def predict(self, X, batch_size: int = 5000) -> np.ndarray:
        """Predicted labels (N,) for NumPy rows X (N, D); refused (as NumPy's) when X does
        not fit the dtype or the scores overflow."""
        if self.W is None:
            raise ValueError("predict called before train: W is None")
        X = check_tensor(X, "X", 2, self.device)
        check_width(X.shape[1], self.W.shape[0], "X", f"W of shape {tuple(self.W.shape)}")
        return predict_labels(lambda rows: rows @ self.W, as_dtype(X, self.dtype),
                              batch_size).cpu().numpy()


class TorchLinearSVM(TorchLinearClassifier):
    loss_fn = staticmethod(svm_loss_core)


class TorchSoftmax(TorchLinearClassifier):
    loss_fn = staticmethod(softmax_loss_core)
