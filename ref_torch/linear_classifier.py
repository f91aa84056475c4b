"""Linear classifiers trained with ``torch.optim.SGD`` on cpu or cuda.

Twin of ``scratch_numpy/linear_classifier.py``: the same loss per minibatch
(``ref_torch.linear_svm.svm_loss`` / ``ref_torch.softmax.softmax_loss``), the
same update ``W <- W - lr_t * dL/dW`` (plain SGD, no momentum) and the same
step schedule ``lr_t = learning_rate * lr_decay ** (t // decay_every)``
(``torch.optim.lr_scheduler.StepLR``). Given the same initial ``W`` and the
same minibatch indices (``batch_indices``), both follow the same trajectory.
"""

from __future__ import annotations

from typing import Iterable

import numpy as np
import torch

from ref_torch.devices import resolve_device, to_tensor, torch_dtype
from ref_torch.linear_svm import svm_loss
from ref_torch.softmax import softmax_loss

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
        """Start from the NumPy array ``W`` (D, C) (copied)."""
        self.W = to_tensor(np.array(W, copy=True), self.device).to(self.dtype)

    def weights(self) -> np.ndarray:
        """``W`` as a NumPy array on the host."""
        return self.W.detach().cpu().numpy()

    def train(self, X, y, learning_rate=1e-3, reg=1e-5, num_iters=100, batch_size=200,
              verbose=False, seed=None, lr_decay=1.0, decay_every=100, replace=True,
              batch_indices: Iterable | None = None):
        """Minibatch SGD; returns the minibatch losses (floats), one per step.

        X (N, D) and y (N,) NumPy arrays (moved to the device once). Batches
        come from ``batch_indices`` (an iterable of index arrays, e.g. to
        replay the NumPy classifier's) or else from a torch generator seeded
        with ``seed``. Raises ValueError when a loss stops being finite,
        keeping the last finite W.
        """
        if reg < 0 or learning_rate <= 0:
            raise ValueError(f"need reg >= 0 and learning_rate > 0, got {reg}, {learning_rate}")
        X_dev = to_tensor(X, self.device).to(self.dtype)
        y_dev = to_tensor(np.asarray(y, dtype=np.int64), self.device)
        num_train, dim = X_dev.shape
        if not replace and batch_size > num_train:
            raise ValueError(f"batch_size = {batch_size} exceeds the {num_train} training rows")
        generator = torch.Generator().manual_seed(0 if seed is None else seed)
        if self.W is None:
            num_classes = max(int(y_dev.max()) + 1, 2)
            W = INIT_SCALE * torch.randn(dim, num_classes, generator=generator, dtype=torch.float64)
            self.W = W.to(self.device, self.dtype)
        W = self.W.detach().clone().requires_grad_(True)
        optimizer = torch.optim.SGD([W], lr=learning_rate)
        schedule = torch.optim.lr_scheduler.StepLR(optimizer, step_size=decay_every, gamma=lr_decay)
        if batch_indices is None:
            batch_indices = (self._sample(generator, num_train, batch_size, replace)
                             for _ in range(num_iters))

        loss_history = []
        for it, idx in enumerate(batch_indices):
            idx = torch.as_tensor(idx, device=self.device)
            optimizer.zero_grad(set_to_none=True)
            loss = self.loss_fn(W, X_dev[idx], y_dev[idx], reg)
            loss.backward()
            loss_value = float(loss.detach())
            if not (np.isfinite(loss_value) and bool(torch.isfinite(W.grad).all())):
                raise ValueError(f"training stopped at iteration {it}: non-finite loss "
                                 f"{loss_value}; W keeps the last finite weights")
            optimizer.step()
            schedule.step()
            if not bool(torch.isfinite(W).all()):
                raise ValueError(f"training stopped at iteration {it}: the updated weights are "
                                 "not finite; W keeps the last finite weights")
            self.W = W.detach().clone()
            loss_history.append(loss_value)
            if verbose and it % 100 == 0:
                print(f"iteration {it}: loss {loss_value:f}")
        return loss_history

    @staticmethod
    def _sample(generator, num_train, batch_size, replace):
        if replace:
            return torch.randint(num_train, (batch_size,), generator=generator)
        return torch.randperm(num_train, generator=generator)[:batch_size]

    @torch.no_grad()
    def predict(self, X) -> np.ndarray:
        """Predicted labels (N,) for NumPy rows X (N, D)."""
        if self.W is None:
            raise ValueError("predict called before train: W is None")
        scores = to_tensor(X, self.device).to(self.dtype) @ self.W
        return scores.argmax(dim=1).cpu().numpy()


class TorchLinearSVM(TorchLinearClassifier):
    loss_fn = staticmethod(svm_loss)


class TorchSoftmax(TorchLinearClassifier):
    loss_fn = staticmethod(softmax_loss)
