"""A file whose convolution comes from another module (as layer_utils.py takes layers.py's),
with its own torch forward: ``--torch torch_conv`` is looked up here, not in the module the
forward was defined in."""
import torch.nn.functional as F

from conv_and_batchnorm import conv_backward_naive, conv_forward_naive  # noqa: F401


def torch_conv(x, w, b, conv_param):
    return F.conv2d(x, w, b, stride=conv_param['stride'], padding=conv_param['pad'])
