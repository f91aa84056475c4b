"""The inputs the layers of CS231n assignments 2 and 3 are checked on.

Each ``*_cases(X, y)`` takes the dev rows ``X (N, 3072)`` (float64, the training mean
image subtracted) and returns ``[(case name, inputs)]``: the forward's arguments by
CS231n's names (arrays, parameter dicts, ints) and the upstream gradient of each output
(``dout``, or ``dout1, dout2`` for the LSTM step's two). Images and feature rows are cut
from the real dev images and scaled to unit standard deviation (batch and layer norm
shifted to mean ~12 and std ~5, as the notebooks do, so that a missing mean or variance
shows); weights, hidden states and sequences are seeded normal draws. The notebooks'
sizes are kept small so a naive, loop-based layer runs in a fraction of a second, and
each kind gets the cases its mistakes hide in: stride 2 and pad 0, non-square images and
windows, overlapping pools, N = 1, repeated words, masks with zeros.
"""

from __future__ import annotations

import numpy as np

from ref_torch.oracle.cases import CASE_SEED, IMAGE_SHAPE


def _rng(offset: int = 0) -> np.random.Generator:
    return np.random.default_rng(CASE_SEED + offset)


def images(X: np.ndarray, shape: tuple[int, int, int, int], offset: int = 0) -> np.ndarray:
    """Crops ``(N, C, H, W)`` of the dev images at unit standard deviation (channels past
    the third come from the next image)."""
    n, c, h, w = shape
    per_example = -(-c // IMAGE_SHAPE[0])
    needed = n * per_example
    if X.shape[0] < needed + offset or X.shape[1] != np.prod(IMAGE_SHAPE):
        raise ValueError(f"the layer cases need at least {needed + offset} dev images "
                         f"of {np.prod(IMAGE_SHAPE)} pixels")
    pictures = X[offset:offset + needed].reshape(n, per_example * IMAGE_SHAPE[0], *IMAGE_SHAPE[1:])
    crop = pictures[:, :c, 3:3 + h, 5:5 + w]
    return crop / crop.std()


def rows(X: np.ndarray, n: int, d: int, mean: float = 0.0, std: float = 1.0,
         offset: int = 0) -> np.ndarray:
    """``(n, d)`` features of the dev rows, standardized then set to ``mean`` and ``std``."""
    part = X[offset:offset + n, 7:7 + d]
    return mean + std * (part - part.mean()) / part.std()


def _dout(shape, offset: int) -> np.ndarray:
    return _rng(1000 + offset).standard_normal(shape)


def conv_output_size(size: int, window: int, stride: int, pad: int = 0) -> int:
    return 1 + (size + 2 * pad - window) // stride


def conv_cases(X, y):
    """The notebook's 3x3 pad 1; stride 2 pad 0 on a non-square image and window; N = 1."""
    cases = []
    for k, (name, x_shape, w_shape, stride, pad) in enumerate((
            ("x (2, 3, 7, 7), w (4, 3, 3, 3), stride 1, pad 1", (2, 3, 7, 7), (4, 3, 3, 3), 1, 1),
            ("x (2, 3, 7, 9), w (3, 3, 3, 5), stride 2, pad 0", (2, 3, 7, 9), (3, 3, 3, 5), 2, 0),
            ("N = 1: x (1, 3, 6, 6), w (2, 3, 2, 2), stride 2, pad 1", (1, 3, 6, 6), (2, 3, 2, 2),
             2, 1))):
        rng = _rng(k)
        fan_in = np.prod(w_shape[1:])
        out_shape = (x_shape[0], w_shape[0], conv_output_size(x_shape[2], w_shape[2], stride, pad),
                     conv_output_size(x_shape[3], w_shape[3], stride, pad))
        cases.append((name, dict(x=images(X, x_shape, k), w=rng.standard_normal(w_shape) /
                                 np.sqrt(fan_in), b=rng.standard_normal(w_shape[0]),
                                 conv_param={"stride": stride, "pad": pad},
                                 dout=_dout(out_shape, k))))
    return cases


def max_pool_cases(X, y):
    """2x2 stride 2; overlapping 3x3 windows at stride 1; N = 1 with a 2x3 window."""
    cases = []
    for k, (name, x_shape, (ph, pw), stride) in enumerate((
            ("x (2, 3, 8, 8), 2x2, stride 2", (2, 3, 8, 8), (2, 2), 2),
            ("overlapping: x (2, 2, 5, 6), 3x3, stride 1", (2, 2, 5, 6), (3, 3), 1),
            ("N = 1: x (1, 3, 6, 9), 2x3 window, stride 2", (1, 3, 6, 9), (2, 3), 2))):
        out_shape = (*x_shape[:2], conv_output_size(x_shape[2], ph, stride),
                     conv_output_size(x_shape[3], pw, stride))
        cases.append((name, dict(x=images(X, x_shape, k),
                                 pool_param={"pool_height": ph, "pool_width": pw, "stride": stride},
                                 dout=_dout(out_shape, k))))
    return cases


def _norm_cases(X, shapes, param_name, param, affine_shape, mean=12.0, std=5.0, extra=None):
    """x of each shape (rows or images) with random gamma, beta of ``affine_shape(x shape)``."""
    cases = []
    for k, (name, shape) in enumerate(shapes):
        rng = _rng(20 + k)
        x = rows(X, *shape, mean=mean, std=std, offset=k) if len(shape) == 2 else \
            mean + std * images(X, shape, k)
        size = affine_shape(shape)
        inputs = dict(x=x, gamma=1 + 0.5 * rng.standard_normal(size),
                      beta=rng.standard_normal(size))
        inputs.update(extra(shape) if extra else {})
        inputs[param_name] = dict(param)
        inputs["dout"] = _dout(shape, 20 + k)
        cases.append((name, inputs))
    return cases


def batchnorm_cases(X, y):
    """Rows of mean ~12 and std ~5; N = 3 (with N = 2 every normalized value is +-1 and dx
    vanishes to rounding, and N = 1 has no variance)."""
    return _norm_cases(X, (("x (8, 5)", (8, 5)), ("x (16, 10)", (16, 10)), ("N = 3: x (3, 6)", (3, 6))),
                       "bn_param", {"mode": "train"}, lambda s: (s[1],))


def spatial_batchnorm_cases(X, y):
    return _norm_cases(X, (("x (2, 3, 4, 5)", (2, 3, 4, 5)), ("N = 1: x (1, 3, 4, 4)", (1, 3, 4, 4)),
                           ("x (3, 4, 3, 5)", (3, 4, 3, 5))),
                       "bn_param", {"mode": "train"}, lambda s: (s[1],))


def layernorm_cases(X, y):
    return _norm_cases(X, (("x (4, 5)", (4, 5)), ("N = 1: x (1, 8)", (1, 8)), ("x (6, 12)", (6, 12))),
                       "ln_param", {}, lambda s: (s[1],))


GROUPS = {(2, 6, 4, 5): 2, (1, 4, 3, 3): 2, (3, 6, 2, 3): 3}


def groupnorm_cases(X, y):
    """G groups of C / G channels; gamma and beta of shape (1, C, 1, 1), as the notebook."""
    return _norm_cases(X, (("x (2, 6, 4, 5), G = 2", (2, 6, 4, 5)),
                           ("N = 1: x (1, 4, 3, 3), G = 2", (1, 4, 3, 3)),
                           ("x (3, 6, 2, 3), G = 3", (3, 6, 2, 3))),
                       "gn_param", {}, lambda s: (1, s[1], 1, 1), extra=lambda s: {"G": GROUPS[s]})


def dropout_cases(X, y):
    """Train mode at keep probabilities 0.3 and 0.75 (each seeded, as the notebook), N = 1,
    and test mode; x = rows + 10 (no zeros, so the mask reads off the output)."""
    cases = []
    for k, (name, shape, param) in enumerate((
            ("train, p = 0.3, x (50, 60)", (50, 60), {"mode": "train", "p": 0.3, "seed": 123}),
            ("train, p = 0.75, x (40, 30)", (40, 30), {"mode": "train", "p": 0.75, "seed": 0}),
            ("train, p = 0.5, N = 1: x (1, 200)", (1, 200), {"mode": "train", "p": 0.5, "seed": 7}),
            ("test, p = 0.5, x (20, 10)", (20, 10), {"mode": "test", "p": 0.5, "seed": 1}))):
        cases.append((name, dict(x=rows(X, *shape, mean=10.0, offset=k), dropout_param=param,
                                 dout=_dout(shape, 40 + k))))
    return cases


def _recurrent(N, T, D, H, gates: int, scale: float, seed: int, sequence: bool, cell=False):
    rng = _rng(seed)
    x_shape = (N, T, D) if sequence else (N, D)
    inputs = dict(x=rng.standard_normal(x_shape))
    inputs["h0" if sequence else "prev_h"] = rng.standard_normal((N, H))
    if cell:
        inputs["prev_c"] = rng.standard_normal((N, H))
    inputs.update(Wx=scale * rng.standard_normal((D, gates * H)) / np.sqrt(D),
                  Wh=scale * rng.standard_normal((H, gates * H)) / np.sqrt(H),
                  b=0.5 * rng.standard_normal(gates * H))
    out = (N, T, H) if sequence else (N, H)
    if cell:  # the LSTM step's two outputs, next_h and next_c
        inputs.update(dout1=rng.standard_normal(out), dout2=rng.standard_normal(out))
    else:
        inputs["dout"] = rng.standard_normal(out)
    return inputs


_STEP_SIZES = (("N 3, D 10, H 4", (3, 1, 10, 4), 1.0), ("N = 1: D 5, H 6", (1, 1, 5, 6), 1.0),
               ("saturating: weights x 4", (4, 1, 6, 5), 4.0))
_SEQUENCE_SIZES = (("N 2, T 4, D 5, H 6", (2, 4, 5, 6), 1.0), ("N = 1: T 3, D 4, H 5", (1, 3, 4, 5), 1.0),
                   ("T = 1: N 3, D 4, H 3", (3, 1, 4, 3), 1.0))


def rnn_step_cases(X, y):
    return [(name, _recurrent(*size, 1, scale, k, False)) for k, (name, size, scale)
            in enumerate(_STEP_SIZES)]


def rnn_cases(X, y):
    return [(name, _recurrent(*size, 1, scale, 10 + k, True)) for k, (name, size, scale)
            in enumerate(_SEQUENCE_SIZES)]


def lstm_step_cases(X, y):
    return [(name, _recurrent(*size, 4, scale, 20 + k, False, cell=True)) for k, (name, size, scale)
            in enumerate(_STEP_SIZES)]


def lstm_cases(X, y):
    return [(name, _recurrent(*size, 4, scale, 30 + k, True)) for k, (name, size, scale)
            in enumerate(_SEQUENCE_SIZES)]


def temporal_affine_cases(X, y):
    cases = []
    for k, (name, (N, T, D, M)) in enumerate((("x (2, 4, 5), w (5, 3)", (2, 4, 5, 3)),
                                             ("N = 1, T = 1: x (1, 1, 6), w (6, 4)", (1, 1, 6, 4)),
                                             ("x (3, 5, 2), w (2, 6)", (3, 5, 2, 6)))):
        rng = _rng(50 + k)
        cases.append((name, dict(x=rng.standard_normal((N, T, D)), w=rng.standard_normal((D, M)),
                                 b=rng.standard_normal(M), dout=rng.standard_normal((N, T, M)))))
    return cases


def word_embedding_cases(X, y):
    """Integer words ``x (N, T)`` with repeats (their gradients must add up); dW only."""
    cases = []
    for k, (name, words, V, D) in enumerate((
            ("x (2, 4) of 5 words, repeated", [[0, 3, 1, 3], [2, 0, 3, 4]], 5, 3),
            ("N = 1: one word three times", [[2, 2, 2]], 4, 5),
            ("x (3, 2) of 10 words", [[9, 1], [4, 4], [0, 7]], 10, 2))):
        rng = _rng(60 + k)
        x = np.array(words, dtype=np.int64)
        cases.append((name, dict(x=x, W=rng.standard_normal((V, D)),
                                 dout=rng.standard_normal((*x.shape, D)))))
    return cases


def temporal_softmax_cases(X, y):
    """Scores ``x (N, T, V)``, words ``y``, masks all ones, with zeros, and N = 1."""
    cases = []
    for k, (name, (N, T, V), drop) in enumerate((("mask all ones: x (3, 4, 5)", (3, 4, 5), 0.0),
                                                 ("mask with zeros: x (4, 5, 6)", (4, 5, 6), 0.4),
                                                 ("N = 1, last steps masked: x (1, 6, 4)", (1, 6, 4),
                                                  None))):
        rng = _rng(70 + k)
        mask = rng.random((N, T)) >= drop if drop is not None else np.arange(T)[None, :] < T - 2
        cases.append((name, dict(x=2 * rng.standard_normal((N, T, V)),
                                 y=rng.integers(V, size=(N, T)), mask=mask)))
    return cases
