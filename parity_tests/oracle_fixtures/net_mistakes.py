import numpy as np


class TwoLayerNet(object):
    """A ReLU two-layer net (neural_net.py layout) whose b2 gradient averages the
    already averaged dscores: db2 is divided by N twice."""

    def __init__(self, input_size, hidden_size, output_size, std=1e-4):
        self.params = {
            'W1': std * np.random.randn(input_size, hidden_size), 'b1': np.zeros(hidden_size),
            'W2': std * np.random.randn(hidden_size, output_size), 'b2': np.zeros(output_size),
        }

    def loss(self, X, y=None, reg=0.0):
        W1, b1, W2, b2 = (self.params[k] for k in ('W1', 'b1', 'W2', 'b2'))
        N = X.shape[0]
        hidden = np.maximum(0, X.dot(W1) + b1)
        scores = hidden.dot(W2) + b2
        if y is None:
            return scores
        scores = scores - scores.max(axis=1, keepdims=True)
        log_probs = scores - np.log(np.exp(scores).sum(axis=1, keepdims=True))
        loss = -log_probs[np.arange(N), y].mean() + reg * (np.sum(W1 ** 2) + np.sum(W2 ** 2))
        dscores = np.exp(log_probs)
        dscores[np.arange(N), y] -= 1
        dscores /= N
        dhidden = dscores.dot(W2.T) * (hidden > 0)
        grads = {'W2': hidden.T.dot(dscores) + 2 * reg * W2, 'b2': dscores.mean(axis=0),
                 'W1': X.T.dot(dhidden) + 2 * reg * W1, 'b1': dhidden.sum(axis=0)}
        return loss, grads
