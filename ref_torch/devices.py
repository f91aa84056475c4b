"""Device and dtype plumbing for the torch side."""

from __future__ import annotations

import numpy as np
import torch


def available_devices() -> list[str]:
    """``["cpu"]``, plus ``"cuda"`` when a CUDA device is present."""
    return ["cpu", "cuda"] if torch.cuda.is_available() else ["cpu"]


def resolve_device(device: str | torch.device | None = None) -> torch.device:
    """``None``/"auto" -> cuda when present else cpu; refuse cuda when absent."""
    if device is None or device == "auto":
        return torch.device(available_devices()[-1])
    device = torch.device(device)
    if device.type == "cuda" and not torch.cuda.is_available():
        raise ValueError("device 'cuda' requested but torch.cuda.is_available() is False")
    return device


def torch_dtype(dtype) -> torch.dtype:
    """The torch twin of a NumPy float dtype (a torch float dtype is taken as it is)."""
    if dtype in (torch.float32, torch.float64):
        return dtype
    mapping = {np.dtype(np.float32): torch.float32, np.dtype(np.float64): torch.float64}
    try:
        return mapping[np.dtype(dtype)]
    except (KeyError, TypeError):
        raise ValueError(f"dtype must be float32 or float64, got {dtype!r}") from None


def to_tensor(array, device="cpu", dtype=None) -> torch.Tensor:
    """NumPy array -> tensor on ``device``; floats cast to ``dtype`` when given."""
    tensor = torch.from_numpy(np.ascontiguousarray(array))
    if dtype is not None and tensor.is_floating_point():
        tensor = tensor.to(torch_dtype(dtype))
    return tensor.to(resolve_device(device))
