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

import torch
from torch import nn


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
    w_ih, w_hh = gru.weight_ih_l0, gru.weight_hh_l0
    gates = torch.empty(2 * h, n_in + h)
    _glorot_(gates, n_in + h, 2 * h, g)
    cand = torch.empty(h, n_in + h)
    _glorot_(cand, n_in + h, h, g)
    w_ih[: 2 * h].copy_(gates[:, :n_in])
    w_hh[: 2 * h].copy_(gates[:, n_in:])
    w_ih[2 * h :].copy_(cand[:, :n_in])
    w_hh[2 * h :].copy_(cand[:, n_in:])
    # Gate biases 1 (TensorFlow's default keeps the gates open at the start), candidate bias 0.
    gru.bias_ih_l0.zero_()
    gru.bias_ih_l0[: 2 * h].fill_(1.0)
    gru.bias_hh_l0.zero_()
    _glorot_(head.out.weight, h, 1, g)
    head.out.bias.zero_()
