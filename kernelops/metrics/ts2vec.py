"""TS2Vec: the self-supervised time-series encoder behind Context-FID (Yue et al., AAAI 2022).

Written here from the paper and the published defaults; the architecture and training scheme
follow the reference implementation (yuezhihan/ts2vec, vendored in Diffusion-TS
``Models/ts2vec``) so that Context-FID values are comparable with published tables:

- a linear input projection to ``hidden_dims`` channels;
- timestamp masking while training: each step's projected vector is zeroed with probability
  1/2 (binomial mask), independently per window and per view;
- ``depth`` residual blocks of two dilated convolutions (kernel 3, dilation 2^i for block i,
  GELU before each convolution) and a final block to ``output_dims`` with dilation 2^depth and a
  1x1 projection on its residual path. Like the reference code (and unlike "causal" in the
  brief), the convolutions are *same-padded*, i.e. non-causal: step t sees t ± dilation;
- dropout p = 0.1 on the output while training;
- two overlapping random crops of each window, the hierarchical contrastive loss on their
  overlap (:mod:`kernelops.metrics.contrastive`), AdamW, and a running (SWA-style, uniform)
  average of the weights over all iterates, which is the network used to encode;
- instance representations by max-pooling the per-step outputs over the whole window
  (``encoding_window="full_series"``).

All randomness (initial weights, epoch shuffles, crops, masks, dropout) comes from generators
seeded by ``seed``; the global RNG is left alone.
"""

from __future__ import annotations

import math

import torch
import torch.nn.functional as F
from torch import nn
from torch.optim.swa_utils import AveragedModel

from kernelops.errors import ShapeError
from kernelops.metrics._common import (
    STREAM_INDEX,
    STREAM_NOISE,
    as_windows,
    build_module,
    check_count,
    make_generator,
)
from kernelops.metrics.contrastive import hierarchical_contrastive_loss

MASK_P = 0.5  # probability that a step is kept by the binomial timestamp mask
DROPOUT_P = 0.1  # dropout on the encoder output while training


class _DilatedConv(nn.Conv1d):
    """Same-padded dilated convolution with kernel 3 (output length = input length).

    When the dilation reaches the sequence length, the two outer taps only ever meet padding
    zeros, so the convolution is evaluated as the 1x1 convolution with the centre tap: the same
    numbers, without convolving over ~2·dilation padded steps (the last blocks of a depth-10
    encoder have dilations up to 1024 for 24-step windows).
    """

    def __init__(self, cin: int, cout: int, dilation: int):
        super().__init__(cin, cout, kernel_size=3, padding=dilation, dilation=dilation)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if self.dilation[0] >= x.shape[-1]:
            # (a matmul: torch's 1x1 conv with a sliced weight takes a slow path on the CPU)
            return torch.matmul(self.weight[:, :, 1], x) + self.bias.unsqueeze(-1)  # type: ignore[union-attr]  # bias=True
        return super().forward(x)


class _ConvBlock(nn.Module):
    """GELU → conv → GELU → conv, plus a residual (1x1-projected when needed or final)."""

    def __init__(self, cin: int, cout: int, dilation: int, final: bool):
        super().__init__()
        self.conv1 = _DilatedConv(cin, cout, dilation)
        self.conv2 = _DilatedConv(cout, cout, dilation)
        self.projector = nn.Conv1d(cin, cout, 1) if cin != cout or final else None

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        residual = x if self.projector is None else self.projector(x)
        return self.conv2(F.gelu(self.conv1(F.gelu(x)))) + residual


class TSEncoder(nn.Module):
    """The TS2Vec network: input projection, optional timestamp mask, dilated conv stack.

    Args:
        input_dims: channels of the input series.
        output_dims: channels of the per-step representation.
        hidden_dims: channels inside the stack.
        depth: number of hidden residual blocks (a final block to ``output_dims`` follows).
    """

    def __init__(self, input_dims: int, output_dims: int = 320, hidden_dims: int = 64, depth: int = 10):
        super().__init__()
        self.input_fc = nn.Linear(input_dims, hidden_dims)
        widths = [hidden_dims] * depth + [output_dims]
        self.blocks = nn.Sequential(
            *(
                _ConvBlock(hidden_dims if i == 0 else widths[i - 1], w, 2**i, final=i == depth)
                for i, w in enumerate(widths)
            )
        )

    def forward(
        self, x: torch.Tensor, keep: torch.Tensor | None = None, dropout_keep: torch.Tensor | None = None
    ) -> torch.Tensor:
        """Per-step representations.

        Args:
            x: input windows.
            keep: timestamp mask (True = keep), applied to the projected input; None keeps all.
            dropout_keep: dropout mask on the output (True = keep); None applies no dropout.

        Shape:
            x: (B, T, input_dims). keep: (B, T). dropout_keep: (B, output_dims, T).
            returns: (B, T, output_dims).
        """
        h = self.input_fc(x)
        if keep is not None:
            h = h * keep.unsqueeze(-1).to(h.dtype)
        h = self.blocks(h.transpose(1, 2))
        if dropout_keep is not None:
            h = h * dropout_keep.to(h.dtype) / (1.0 - DROPOUT_P)
        return h.transpose(1, 2)


def _init_like_torch(module: nn.Module, g: torch.Generator) -> None:
    """PyTorch's default init for Linear/Conv1d (U(±1/sqrt(fan_in)) for weights and biases),
    drawn from ``g``; the reference uses those defaults."""
    for m in module.modules():
        if isinstance(m, (nn.Linear, nn.Conv1d)):
            fan_in = m.weight[0].numel()
            bound = 1.0 / math.sqrt(fan_in)
            m.weight.uniform_(-bound, bound, generator=g)
            if m.bias is not None:
                m.bias.uniform_(-bound, bound, generator=g)


def _randint(low: int, high: int, g: torch.Generator) -> int:
    """An integer uniform on [low, high)."""
    return int(torch.randint(low, high, (1,), generator=g))


def _take_per_row(x: torch.Tensor, starts: torch.Tensor, length: int) -> torch.Tensor:
    """x[b, starts[b] : starts[b] + length] for every row b.

    Shape:
        x: (B, T, d), starts: (B,). returns: (B, length, d).
    """
    idx = starts.to(x.device).unsqueeze(1) + torch.arange(length, device=x.device)
    return x[torch.arange(x.shape[0], device=x.device).unsqueeze(1), idx]


def default_iterations(shape: tuple[int, ...]) -> int:
    """The reference's default training length: 200 iterations if n·T·d ≤ 100 000, else 600."""
    return 200 if math.prod(shape) <= 100_000 else 600


class TS2Vec:
    """TS2Vec encoder with the reference's training loop.

    Args:
        input_dims: channels of the series.
        output_dims: representation size (reference: 320).
        hidden_dims: channels of the conv stack (reference: 64).
        depth: hidden residual blocks (reference: 10).
        device: where the network lives; ``None`` puts it on the device of the first data given
            to :meth:`fit` (the CPU for numpy arrays).
        seed: seeds the initial weights and every random choice of training.
        dtype: parameter dtype (the reference trains in float32).
        max_train_length: windows longer than this are cut to a random sub-window of this length
            in each training batch (reference: 3000 in Context-FID; irrelevant for short windows).
        temporal_unit: first pyramid level with a temporal contrastive term (reference: 0).

    Attributes:
        net: the trained network (last iterate).
        averaged: the running average of its weights, used by :meth:`encode`.
        n_iters: optimisation steps taken so far.
    """

    def __init__(
        self,
        input_dims: int,
        output_dims: int = 320,
        hidden_dims: int = 64,
        depth: int = 10,
        device: torch.device | str | None = None,
        seed: int = 0,
        *,
        dtype: torch.dtype = torch.float32,
        max_train_length: int | None = 3000,
        temporal_unit: int = 0,
    ):
        self.input_dims = check_count(input_dims, "input_dims")
        self.output_dims = check_count(output_dims, "output_dims")
        check_count(hidden_dims, "hidden_dims")
        if isinstance(depth, bool) or int(depth) != depth or depth < 0:
            raise ValueError(f"depth: expected a non-negative integer, got {depth!r}")
        if max_train_length is not None:
            check_count(max_train_length, "max_train_length")
        self.max_train_length = max_train_length
        self.temporal_unit = int(temporal_unit)
        self.dtype = dtype
        self._device_fixed = device is not None
        self.net = build_module(
            lambda: TSEncoder(input_dims, output_dims, hidden_dims, int(depth)),
            _init_like_torch,
            seed=seed,
            device=torch.device(device) if device is not None else torch.device("cpu"),
            dtype=dtype,
        )
        self.averaged = AveragedModel(self.net)  # a uniform running average (SWA without schedule)
        self.averaged.update_parameters(self.net)  # the average starts at the initial weights
        self._index_gen = make_generator(seed, STREAM_INDEX)
        self._noise_gen = make_generator(seed, STREAM_NOISE)
        self.n_iters = 0

    @property
    def device(self) -> torch.device:
        """The device of the network."""
        return self.net.input_fc.weight.device

    def _prepare(self, data: object, name: str, *, min_len: int) -> torch.Tensor:
        x = as_windows(data, name, min_len=min_len)
        if x.shape[2] != self.input_dims:
            raise ShapeError(
                f"{name}: expected shape (n, seq_len, {self.input_dims}) (the encoder's input_dims), "
                f"got {tuple(x.shape)}"
            )
        if not self._device_fixed:
            # device=None: follow the data the first time it is seen.
            self.net.to(x.device)
            self.averaged.to(x.device)
            self._device_fixed = True
        return x.to(device=self.device, dtype=self.dtype)

    def _noise(self, shape: tuple[int, ...], p_keep: float) -> torch.Tensor:
        # Drawn on the CPU so that a seed gives the same masks on every device.
        return (torch.rand(shape, generator=self._noise_gen) < p_keep).to(self.device)

    def fit(
        self,
        data: object,
        iterations: int | None = None,
        batch_size: int = 8,
        lr: float = 1e-3,
        *,
        progress: bool = False,
    ) -> list[float]:
        """Train on ``data`` with the reference's scheme; return the loss of every iteration.

        Epochs shuffle the windows and cut them into full batches (the last, partial batch is
        dropped, as the reference's DataLoader does); training stops after ``iterations`` steps
        in all. In each step a crop length l ∈ [2, T] and two overlapping crops sharing l steps
        are drawn (one start per window shift), both views are encoded with their own timestamp
        masks and dropout, and the hierarchical contrastive loss of the shared l steps is
        minimised by AdamW (weight decay 0.01, torch's default, as in the reference). After each
        step the weight average is updated.

        Args:
            data: training windows.
            iterations: optimisation steps (default: the reference's 200 if n·T·d ≤ 100 000,
                else 600).
            batch_size: windows per step (Context-FID reference: 8); capped at n.
            lr: AdamW learning rate (reference: 1e-3).
            progress: show a tqdm bar.

        Returns:
            The loss of each iteration (the reference logs per-epoch means instead).

        Raises:
            ShapeError: if ``data`` is not finite (n, T, input_dims) with T ≥ 2.

        Shape:
            data: (n, T, input_dims).
        """
        x_all = self._prepare(data, "data", min_len=2 ** (self.temporal_unit + 1))
        if iterations is None:
            n_iter = default_iterations(tuple(x_all.shape))
        else:
            n_iter = check_count(iterations, "iterations")
        batch = min(check_count(batch_size, "batch_size"), x_all.shape[0])
        if not lr > 0:
            raise ValueError(f"lr: expected a positive number, got {lr!r}")
        opt = torch.optim.AdamW(self.net.parameters(), lr=lr)
        g = self._index_gen
        losses: list[float] = []
        bar = None
        if progress:
            from tqdm.auto import tqdm

            bar = tqdm(total=n_iter, desc="TS2Vec", leave=False)
        self.net.train()
        while len(losses) < n_iter:
            perm = torch.randperm(x_all.shape[0], generator=g)
            for start in range(0, x_all.shape[0] - batch + 1, batch):
                if len(losses) >= n_iter:
                    break
                x = x_all[perm[start : start + batch].to(self.device)]
                losses.append(self._step(x, opt, g))
                if bar is not None:
                    bar.update(1)
        if bar is not None:
            bar.close()
        return losses

    def _step(self, x: torch.Tensor, opt: torch.optim.Optimizer, g: torch.Generator) -> float:
        if self.max_train_length is not None and x.shape[1] > self.max_train_length:
            off = _randint(0, x.shape[1] - self.max_train_length + 1, g)
            x = x[:, off : off + self.max_train_length]
        b, t = x.shape[0], x.shape[1]
        # Two crops [eleft, right) and [left, eright) that overlap on [left, right) of length l;
        # each window is shifted by its own offset so the batch does not share positions.
        crop_l = _randint(2 ** (self.temporal_unit + 1), t + 1, g)
        left = _randint(0, t - crop_l + 1, g)
        right = left + crop_l
        eleft = _randint(0, left + 1, g)
        eright = _randint(right, t + 1, g)
        offset = torch.randint(-eleft, t - eright + 1, (b,), generator=g)
        view1 = _take_per_row(x, offset + eleft, right - eleft)
        view2 = _take_per_row(x, offset + left, eright - left)
        out1 = self._forward_train(view1)[:, -crop_l:]
        out2 = self._forward_train(view2)[:, :crop_l]
        loss = hierarchical_contrastive_loss(out1, out2, temporal_unit=self.temporal_unit)
        opt.zero_grad(set_to_none=True)
        loss.backward()
        opt.step()
        self.averaged.update_parameters(self.net)
        self.n_iters += 1
        return float(loss.detach())

    def _forward_train(self, view: torch.Tensor) -> torch.Tensor:
        # Each view gets its own timestamp mask and dropout mask.
        b, t = view.shape[0], view.shape[1]
        keep = self._noise((b, t), MASK_P)
        dropout_keep = self._noise((b, self.output_dims, t), 1 - DROPOUT_P)
        return self.net(view, keep, dropout_keep)

    @torch.no_grad()
    def encode(
        self, data: object, encoding_window: str | None = "full_series", batch_size: int = 256
    ) -> torch.Tensor:
        """Representations from the weight-averaged network (no mask, no dropout).

        Args:
            data: windows to encode.
            encoding_window: ``"full_series"`` max-pools over all steps (one vector per window,
                as Context-FID uses); ``None`` returns the per-step representations.
            batch_size: windows per forward pass (affects speed only).

        Returns:
            A tensor on the encoder's device, in its dtype.

        Raises:
            ShapeError: bad ``data``. ValueError: unknown ``encoding_window``.

        Shape:
            data: (n, T, input_dims). returns: (n, output_dims), or (n, T, output_dims) for None.
        """
        if encoding_window not in ("full_series", None):
            raise ValueError(f"encoding_window: expected 'full_series' or None, got {encoding_window!r}")
        x = self._prepare(data, "data", min_len=1)
        net = self.averaged.module
        out = []
        for start in range(0, x.shape[0], check_count(batch_size, "batch_size")):
            h = net(x[start : start + batch_size])
            out.append(h.amax(dim=1) if encoding_window == "full_series" else h)
        return torch.cat(out, dim=0)

