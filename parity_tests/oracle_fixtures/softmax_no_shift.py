import numpy as np


def softmax_loss_vectorized(W, X, y, reg):
    """Softmax that forgets to subtract the row max before exp."""
    num_train = X.shape[0]
    scores = X.dot(W)
    probs = np.exp(scores)
    probs /= np.sum(probs, axis=1, keepdims=True)
    loss = -np.sum(np.log(probs[np.arange(num_train), y])) / num_train
    loss += reg * np.sum(W * W)

    probs[np.arange(num_train), y] -= 1
    dW = X.T.dot(probs) / num_train + 2 * reg * W
    return loss, dW
