import numpy as np


def softmax_loss_vectorized(W, X, y, reg):
    """
    Softmax loss function, vectorized version, in the 2016 convention:
    the loss adds 0.5 * reg * sum(W**2) and the gradient reg * W.
    """
    num_train = X.shape[0]
    scores = X.dot(W)
    scores -= np.max(scores, axis=1, keepdims=True)
    log_norm = np.log(np.sum(np.exp(scores), axis=1, keepdims=True))
    log_probs = scores - log_norm
    loss = -np.sum(log_probs[np.arange(num_train), y]) / num_train
    loss += 0.5 * reg * np.sum(W * W)

    dscores = np.exp(log_probs)
    dscores[np.arange(num_train), y] -= 1
    dW = X.T.dot(dscores) / num_train + reg * W
    return loss, dW
