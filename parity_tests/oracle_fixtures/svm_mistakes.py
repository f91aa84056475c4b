"""SVM losses, each with one planted mistake (the correct one is svm_loss_vectorized):

* not_divided_by_n: the data gradient is not divided by the number of examples;
* reg_gradient_half: the loss adds reg * sum(W**2), the gradient reg * W;
* reg_gradient_missing: the gradient has no reg term;
* sign_flipped: the gradient has the wrong sign everywhere;
* column_flipped: the gradient of class 3 has the wrong sign;
* transposed: dW is returned as (C, D);
* counts_correct_class: the loss counts the correct class's own margin.
"""
import numpy as np


def svm_loss_vectorized(W, X, y, reg, divide=True, reg_grad=2.0, count_correct=False):
    num_train = X.shape[0]
    rows = np.arange(num_train)
    scores = X.dot(W)
    margins = np.maximum(0, scores - scores[rows, y][:, None] + 1)
    if not count_correct:
        margins[rows, y] = 0
    loss = np.sum(margins) / num_train + reg * np.sum(W * W)
    counts = (margins > 0).astype(X.dtype)
    counts[rows, y] = 0
    counts[rows, y] = -np.sum(counts, axis=1)
    dW = X.T.dot(counts)
    if divide:
        dW /= num_train
    return loss, dW + reg_grad * reg * W


def not_divided_by_n(W, X, y, reg):
    return svm_loss_vectorized(W, X, y, reg, divide=False)


def reg_gradient_half(W, X, y, reg):
    return svm_loss_vectorized(W, X, y, reg, reg_grad=1.0)


def reg_gradient_missing(W, X, y, reg):
    return svm_loss_vectorized(W, X, y, reg, reg_grad=0.0)


def sign_flipped(W, X, y, reg):
    loss, dW = svm_loss_vectorized(W, X, y, reg)
    return loss, -dW


def column_flipped(W, X, y, reg):
    loss, dW = svm_loss_vectorized(W, X, y, reg)
    dW[:, 3] *= -1
    return loss, dW


def transposed(W, X, y, reg):
    loss, dW = svm_loss_vectorized(W, X, y, reg)
    return loss, dW.T


def counts_correct_class(W, X, y, reg):
    return svm_loss_vectorized(W, X, y, reg, count_correct=True)
