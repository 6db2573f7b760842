"""The state of a training run: EMA of weights, warm-up + cosine learning rate, random streams.

Everything here has a ``state_dict()`` made of tensors and primitives, so that a checkpoint
loaded with ``torch.load(weights_only=True)`` restores the run exactly.
"""

from __future__ import annotations

import copy
import math
from typing import Any

import torch
from torch import nn

from kernelops.flows.config import TrainConfig

_TRAIN = TrainConfig()


class EMA(nn.Module):
    """Exponential moving average of a module's parameters (buffers are copied).

    The decay warms up as min(decay, (1 + updates)/(warmup + updates)): with a fixed 0.999 a short
    run would sample from weights still dominated by the initialisation. An ``nn.Module``
    holding a frozen deep copy, so ``.to(device)`` moves it and its ``state_dict()`` (with
    ``decay`` and ``updates`` as extra state) goes into checkpoints.

    Args:
        module: the trained module.
        decay: the asymptotic decay in [0, 1) (``TrainConfig.ema_decay``).
        warmup: the warm-up constant (``TrainConfig.ema_warmup``).
    """

    def __init__(self, module: nn.Module, decay: float = _TRAIN.ema_decay, warmup: float = _TRAIN.ema_warmup):
        super().__init__()
        if not 0.0 <= decay < 1.0:
            raise ValueError(f"ema_decay: expected a number in [0, 1), got {decay!r}")
        self.decay, self.warmup = float(decay), float(warmup)
        self.updates = 0
        self.module = copy.deepcopy(module).eval()
        for p in self.module.parameters():
            p.requires_grad_(False)

    def current_decay(self) -> float:
        """The decay of the next update, min(decay, (1 + updates)/(warmup + updates))."""
        return min(self.decay, (1.0 + self.updates) / (self.warmup + self.updates))

    @torch.no_grad()
    def update(self, module: nn.Module) -> None:
        """Move the average towards ``module``'s current parameters."""
        d = self.current_decay()
        for avg, p in zip(self.module.parameters(), module.parameters()):
            avg.lerp_(p.detach(), 1.0 - d)
        for avg_b, b in zip(self.module.buffers(), module.buffers()):
            avg_b.copy_(b)
        self.updates += 1

    @torch.no_grad()
    def copy_from(self, module: nn.Module) -> None:
        """Reset the average to ``module``'s weights."""
        self.module.load_state_dict(module.state_dict())

    def get_extra_state(self) -> dict[str, Any]:
        return {"decay": self.decay, "updates": self.updates}

    def set_extra_state(self, state: dict[str, Any]) -> None:
        self.decay = float(state["decay"])
        self.updates = int(state["updates"])

    def forward(self, *args: Any, **kwargs: Any) -> Any:
        return self.module(*args, **kwargs)


class WarmupCosine:
    """Learning rate: linear warm-up from 0 to ``lr`` over ``warmup`` steps, then cosine decay
    to ``lr·final_ratio`` at ``total`` steps (constant after).

    Stateless apart from its settings: the rate is a function of the step, so a resumed run
    gets exactly the same rates. Extending ``total`` on resume re-stretches the cosine.
    """

    def __init__(self, lr: float, total: int, warmup: int = 0, final_ratio: float = _TRAIN.final_lr_ratio):
        if not lr > 0:
            raise ValueError(f"lr: expected a positive number, got {lr!r}")
        if warmup < 0:
            raise ValueError(f"warmup: expected a non-negative integer, got {warmup!r}")
        if not 0.0 <= final_ratio <= 1.0:
            raise ValueError(f"final_ratio: expected a number in [0, 1], got {final_ratio!r}")
        self.lr, self.total, self.warmup, self.final_ratio = float(lr), int(total), int(warmup), float(final_ratio)

    def __call__(self, step: int) -> float:
        """The rate for optimisation step ``step`` (0-based)."""
        if step < self.warmup:
            return self.lr * (step + 1) / self.warmup
        span = max(self.total - self.warmup, 1)
        progress = min(max(step - self.warmup, 0) / span, 1.0)
        floor = self.lr * self.final_ratio
        return floor + 0.5 * (self.lr - floor) * (1.0 + math.cos(math.pi * progress))

    def state_dict(self) -> dict[str, Any]:
        return {"lr": self.lr, "total": self.total, "warmup": self.warmup, "final_ratio": self.final_ratio}

    @classmethod
    def from_state_dict(cls, state: dict[str, Any]) -> WarmupCosine:
        return cls(state["lr"], state["total"], state["warmup"], state["final_ratio"])


class TrainGenerators:
    """The three CPU generators of a training run: batch indices, flow times, source noise.

    Draws happen on the CPU (then move to the model's device) so that the random stream, hence
    the loss sequence, is the same on any device and restores exactly from a checkpoint.
    """

    NAMES = ("batch", "time", "noise")

    def __init__(self, seed: int):
        self.batch = torch.Generator().manual_seed(int(seed) * 3 + 1)
        self.time = torch.Generator().manual_seed(int(seed) * 3 + 2)
        self.noise = torch.Generator().manual_seed(int(seed) * 3 + 3)

    def state_dict(self) -> dict[str, torch.Tensor]:
        return {name: getattr(self, name).get_state() for name in self.NAMES}

    def load_state_dict(self, state: dict[str, torch.Tensor]) -> None:
        for name in self.NAMES:
            getattr(self, name).set_state(state[name])


def param_groups(module: nn.Module, weight_decay: float) -> list[dict[str, Any]]:
    """AdamW groups: weight decay on matrices (linear weights, heads), none on biases, norm
    gains, embeddings of q and the spectral parameters ν, θ (decay would pull |λ| to e^{-1} and
    every frequency to 0)."""
    decay, no_decay = [], []
    for name, p in module.named_parameters():
        if not p.requires_grad:
            continue
        leaf = name.rsplit(".", 1)[-1]
        if p.dim() >= 2 and leaf not in ("nu", "theta", "q_embed"):
            decay.append(p)
        else:
            no_decay.append(p)
    groups = [{"params": decay, "weight_decay": weight_decay}]
    if no_decay:
        groups.append({"params": no_decay, "weight_decay": 0.0})
    return groups


__all__ = ["EMA", "TrainGenerators", "WarmupCosine", "param_groups"]
