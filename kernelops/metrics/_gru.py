"""The post-hoc GRU network of the TimeGAN discriminative and predictive metrics.

The reference (TimeGAN, re-used by Diffusion-TS) builds a TensorFlow-1 ``GRUCell`` with tanh
activation followed by a dense layer, trained with Adam at its defaults. We use
:class:`torch.nn.GRU` and copy TensorFlow's initialisation, which matters for so small a network:
Glorot-uniform kernels (the gate kernel is one (in + hidden) x 2·hidden matrix, the candidate
kernel one (in + hidden) x hidden matrix), gate biases 1, candidate bias 0; the dense layer is
Glorot-uniform with zero bias. One difference remains: torch's GRU applies the reset gate after
the recurrent matrix product (r ⊙ (W_hn h + b_hn)), TensorFlow's ``GRUCell`` before it
(W_hn (r ⊙ h)); both are standard GRU variants.
"""

from __future__ import annotations

import math
from collections.abc import Callable

import torch
from torch import nn

from kernelops.metrics._common import (
    STREAM_INDEX,
    build_module,
    check_count,
    check_pair,
    default_hidden,
    make_generator,
    match_sizes,
    resolve_device,
)


class GRUHead(nn.Module):
    """One-layer GRU (batch first) followed by a linear layer to one output per step.

    Args:
        input_size: channels read at each step.
        hidden: GRU width.
    """

    def __init__(self, input_size: int, hidden: int):
        super().__init__()
        self.gru = nn.GRU(input_size, hidden, num_layers=1, batch_first=True)
        self.out = nn.Linear(hidden, 1)

    def forward(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """Per-step logits and the logit of the last state.

        Shape:
            x: (batch, T, input_size). returns: (batch, T, 1) and (batch, 1).
        """
        outputs, last = self.gru(x)
        return self.out(outputs), self.out(last[-1])


def train_adam(net: nn.Module, step_loss: Callable[[], torch.Tensor], iterations: int, lr: float) -> None:
    """Adam at ``lr`` for ``iterations`` steps on ``step_loss()`` (which draws its own batch)."""
    opt = torch.optim.Adam(net.parameters(), lr=lr)
    for _ in range(iterations):
        loss = step_loss()
        opt.zero_grad(set_to_none=True)
        loss.backward()
        opt.step()


def _glorot_(w: torch.Tensor, fan_in: int, fan_out: int, g: torch.Generator) -> None:
    bound = math.sqrt(6.0 / (fan_in + fan_out))
    w.uniform_(-bound, bound, generator=g)


def init_like_tensorflow(head: GRUHead, g: torch.Generator) -> None:
    """Initialise ``head`` as TensorFlow 1 initialises ``GRUCell`` + ``layers.dense``."""
    gru = head.gru
    h, n_in = gru.hidden_size, gru.input_size
    # torch stacks the rows as (reset, update, candidate). TensorFlow draws the reset and update
    # kernels together as one Glorot matrix of shape (in + h, 2h) and the candidate as (in + h, h);
    # the input and recurrent parts are rows of those matrices, so they share the bounds.
    w_ih, w_hh = gru.get_parameter("weight_ih_l0"), gru.get_parameter("weight_hh_l0")
    gates = torch.empty(2 * h, n_in + h)
    _glorot_(gates, n_in + h, 2 * h, g)
    cand = torch.empty(h, n_in + h)
    _glorot_(cand, n_in + h, h, g)
    w_ih[: 2 * h].copy_(gates[:, :n_in])
    w_hh[: 2 * h].copy_(gates[:, n_in:])
    w_ih[2 * h :].copy_(cand[:, :n_in])
    w_hh[2 * h :].copy_(cand[:, n_in:])
    # Gate biases 1 (TensorFlow's default keeps the gates open at the start), candidate bias 0.
    b_ih, b_hh = gru.get_parameter("bias_ih_l0"), gru.get_parameter("bias_hh_l0")
    b_ih.zero_()
    b_ih[: 2 * h].fill_(1.0)
    b_hh.zero_()
    _glorot_(head.out.weight, h, 1, g)
    head.out.bias.zero_()


class GRUSetup:
    """What both GRU metrics do before training: validated float32 inputs, sizes, width, RNG.

    Attributes:
        real, fake: the validated windows, subsampled to a common size, float32 on ``device``.
        device: where the network computes.
        iterations, batch_size: the checked optimisation settings.
        hidden: the GRU width (``features // 2`` unless given).
        generator: the CPU generator for splits and batches (stream ``STREAM_INDEX`` of ``seed``).
        seed: the metric's seed (also seeds the initial weights).

    Shape:
        real, fake: (n, seq_len, features) with n = min(n_real, n_fake).
    """

    def __init__(self, real: object, fake: object, *, iterations: int, batch_size: int, hidden: int | None,
                 seed: int, device: torch.device | str | None, min_len: int = 1, min_count: int = 1):
        self.iterations = check_count(iterations, "iterations")
        self.batch_size = check_count(batch_size, "batch_size")
        r, f = check_pair(real, fake, min_len=min_len, min_count=min_count)
        self.device = resolve_device(device, r)
        r, f = match_sizes(r, f, seed)
        self.real = r.to(device=self.device, dtype=torch.float32)
        self.fake = f.to(device=self.device, dtype=torch.float32)
        self.hidden = default_hidden(r.shape[2], hidden)
        self.seed = seed
        self.generator = make_generator(seed, STREAM_INDEX)

    def network(self, input_size: int) -> GRUHead:
        """A fresh :class:`GRUHead` initialised as TensorFlow would, from ``seed``, on ``device``."""
        return build_module(lambda: GRUHead(input_size, self.hidden), init_like_tensorflow, seed=self.seed,
                            device=self.device)

    def train(self, net: GRUHead, step_loss: Callable[[], torch.Tensor]) -> None:
        """Minimise ``step_loss()`` (which draws its own batch) with Adam at lr 1e-3, as the protocol does."""
        train_adam(net, step_loss, self.iterations, 1e-3)
