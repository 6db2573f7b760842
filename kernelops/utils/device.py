"""Resolving a device name: "auto", "cpu", "cuda" or a torch.device."""

from __future__ import annotations

import torch


def resolve_device(device: str | torch.device | None) -> torch.device:
    """"auto" → cuda if available else cpu; None → cpu; anything else as torch.device.

    Raises:
        ValueError: an unknown name, or "cuda" without a CUDA device.
    """
    if device is None:
        return torch.device("cpu")
    if isinstance(device, str) and device == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    try:
        dev = torch.device(device)
    except (RuntimeError, TypeError) as exc:
        raise ValueError(f"device: expected 'cpu', 'cuda', 'auto' or a torch.device, got {device!r}") from exc
    if dev.type == "cuda" and not torch.cuda.is_available():
        raise ValueError("device: 'cuda' requested but no CUDA device is available (use --device cpu or auto)")
    return dev


__all__ = ["resolve_device"]
