"""Finite-state chains: indicator features and transition matrices as CME operators (U = Pᵀ)."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from kernelops.errors import ShapeError
from kernelops.features.base import FeatureMap
from kernelops.operators import CMEOperator, IndicatorFeatures, markov_operator_from_matrix

F64 = torch.float64
P = torch.tensor([[0.80, 0.15, 0.05], [0.10, 0.70, 0.20], [0.30, 0.20, 0.50]], dtype=F64)


def _stationary(p: torch.Tensor) -> np.ndarray:
    """π with πᵀP = πᵀ, Σπ = 1, by a linear solve (independent of eig)."""
    s = p.shape[0]
    a = np.vstack([(p.numpy().T - np.eye(s)), np.ones((1, s))])
    b = np.zeros(s + 1)
    b[-1] = 1.0
    return np.linalg.lstsq(a, b, rcond=None)[0]


def test_indicator_features_are_one_hot():
    fm = IndicatorFeatures(4)
    assert isinstance(fm, FeatureMap) and fm.in_dim == 1 and fm.out_dim == 4 and not fm.is_complex
    z = torch.tensor([[[2.0], [0.0]], [[3.0], [3.0]]], dtype=F64)  # (2, 2, 1)
    phi = fm(z)
    assert phi.shape == (2, 2, 4) and phi.dtype == F64
    torch.testing.assert_close(phi, torch.eye(4, dtype=F64)[z[..., 0].long()])
    assert fm(torch.tensor([[1]])).dtype == torch.get_default_dtype()
    a, b = torch.tensor([[0.0], [1.0], [1.0]]), torch.tensor([[1.0], [2.0]])
    torch.testing.assert_close(fm.kernel(a, b), fm(a) @ fm(b).T)
    with pytest.raises(ValueError, match="z: expected integer-valued states"):
        fm(torch.tensor([[0.5]]))
    with pytest.raises(ValueError, match=r"z: expected states in \[0, 3\], got values in \[0, 4\]"):
        fm(torch.tensor([[0.0], [4.0]]))
    with pytest.raises(ValueError, match="expected last dimension 1"):
        fm(torch.zeros(3, 2))
    with pytest.raises(ValueError, match="num_states: expected an int >= 1"):
        IndicatorFeatures(0)


def test_markov_operator_is_the_transposed_transition_matrix():
    op = markov_operator_from_matrix(P)
    torch.testing.assert_close(op.operator_, P.T)
    p = torch.tensor([[0.2, 0.5, 0.3], [1.0, 0.0, 0.0]], dtype=F64)
    torch.testing.assert_close(op.apply(p), p @ P)  # one step of the chain, row-vector form
    torch.testing.assert_close(op.apply(op.apply(p)), p @ P @ P)
    # μ_{Z'|z} = U e_z is row z of P
    torch.testing.assert_close(op.predict(torch.tensor([[2.0], [0.0]], dtype=F64)), P[[2, 0]])


def test_markov_operator_spectrum_has_the_stationary_law():
    res = markov_operator_from_matrix(P).eig()
    assert abs(complex(res.eigvals[0]) - 1.0) < 1e-12  # Perron root, the largest modulus
    np.testing.assert_allclose(np.sort(np.abs(res.eigvals.numpy())),
                               np.sort(np.abs(np.linalg.eigvals(P.numpy()))), rtol=1e-12)
    h = res.right[:, 0]
    pi = h / h.sum()  # up to scale
    np.testing.assert_allclose(pi.real.numpy(), _stationary(P), atol=1e-12)
    np.testing.assert_allclose(pi.imag.numpy(), 0.0, atol=1e-12)
    g = res.left[:, 0]  # the left eigenvector for λ = 1 is constant (rows of P sum to 1)
    torch.testing.assert_close(g / g[0], torch.ones(3, dtype=torch.complex128))
    torch.testing.assert_close(res.left.mH @ res.right, torch.eye(3, dtype=torch.complex128))


def test_indicator_features_recover_P_from_a_sampled_chain():
    g = torch.Generator().manual_seed(0)
    num, steps = 50, 400
    z = torch.empty(num, steps, dtype=torch.long)
    z[:, 0] = torch.randint(0, 3, (num,), generator=g)
    for n in range(1, steps):
        z[:, n] = torch.multinomial(P[z[:, n - 1]], 1, generator=g)[:, 0]
    traj = z.to(F64)[..., None]  # (num, N, 1) float states
    op = CMEOperator(feature_map=IndicatorFeatures(3), reg=1e-9).fit_trajectories(traj)
    estimate = op.operator_.T
    counts = torch.bincount(z[:, :-1].reshape(-1), minlength=3).to(F64)
    tol = 4 * torch.sqrt(P * (1 - P) / counts[:, None]) + 1e-9  # 4 binomial standard errors
    assert ((estimate - P).abs() <= tol).all(), (estimate - P).abs().max()
    torch.testing.assert_close(estimate.sum(1), torch.ones(3, dtype=F64), atol=1e-6, rtol=0)
    # the fitted operator's stationary law matches P's
    h = op.eig().right[:, 0]
    np.testing.assert_allclose((h / h.sum()).real.numpy(), _stationary(P), atol=0.02)


def test_markov_operator_rejects_bad_matrices():
    with pytest.raises(ShapeError, match=r"P: expected a square shape \(S, S\)"):
        markov_operator_from_matrix(torch.ones(2, 3, dtype=F64) / 3)
    with pytest.raises(ValueError, match="P: expected rows summing to 1"):
        markov_operator_from_matrix(torch.ones(2, 2, dtype=F64))
    with pytest.raises(ValueError, match="P: expected non-negative"):
        markov_operator_from_matrix(torch.tensor([[1.5, -0.5], [0.5, 0.5]], dtype=F64))
    with pytest.raises(ShapeError, match="P: contains 1 NaN"):
        markov_operator_from_matrix(torch.tensor([[float("nan"), 1.0], [0.5, 0.5]], dtype=F64))
    # a non-stochastic matrix is accepted when asked (e.g. a sub-stochastic killed chain)
    op = markov_operator_from_matrix(0.5 * torch.eye(2, dtype=F64), check=False)
    torch.testing.assert_close(op.operator_, 0.5 * torch.eye(2, dtype=F64))
