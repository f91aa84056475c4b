"""Loss functions (svm signature) that fail in every way a function can fail."""
import sys

import numpy as np

from svm_mistakes import svm_loss_vectorized


def raises(W, X, y, reg):
    scores = X.dot(W)
    return scores[0, 10], W


def returns_none(W, X, y, reg):
    svm_loss_vectorized(W, X, y, reg)


def per_example_loss(W, X, y, reg):
    scores = X.dot(W)
    margins = np.maximum(0, scores - scores[np.arange(len(y)), y][:, None] + 1)
    loss, dW = svm_loss_vectorized(W, X, y, reg)
    return margins.sum(axis=1) - 1, dW


def swapped(W, X, y, reg):
    loss, dW = svm_loss_vectorized(W, X, y, reg)
    return dW, loss


def returns_list(W, X, y, reg):
    return list(svm_loss_vectorized(W, X, y, reg))


def list_gradient(W, X, y, reg):
    loss, dW = svm_loss_vectorized(W, X, y, reg)
    return loss, dW.tolist()


def nan_loss(W, X, y, reg):
    loss, dW = svm_loss_vectorized(W, X, y, reg)
    return np.nan, dW


def exits(W, X, y, reg):
    sys.exit(0)


def exits_with_error(W, X, y, reg):
    sys.exit("giving up")


def modifies_input(W, X, y, reg):
    X -= X.mean(axis=0)
    return svm_loss_vectorized(W, X, y, reg)


def recurses(W, X, y, reg):
    return recurses(W, X, y, reg)


class LinearSVM(object):
    """A CS231n LinearClassifier subclass in miniature: weights on self.W."""

    def __init__(self):
        self.W = None

    def loss(self, X_batch, y_batch, reg):
        return svm_loss_vectorized(self.W, X_batch, y_batch, reg)
