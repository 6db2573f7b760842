"""chain_from_hmm reproduces HMM sequence probabilities (forward algorithm) exactly."""

from __future__ import annotations

import itertools
from types import SimpleNamespace

import pytest
import torch
import torch.nn.functional as F

from kernelops.chains import chain_from_hmm, transition_modes
from kernelops.errors import ShapeError

# P[a, b] = p(z' = b | z = a). The first has a real spectrum {1, 0.358, 0.042}, the second a
# complex pair (a noisy 3-cycle).
P_REAL = torch.tensor([[0.7, 0.2, 0.1], [0.3, 0.5, 0.2], [0.45, 0.35, 0.2]], dtype=torch.float64)
P_CYCLE = torch.tensor([[0.1, 0.8, 0.1], [0.1, 0.1, 0.8], [0.7, 0.2, 0.1]], dtype=torch.float64)
# O[x, s] = p(x | s): 4 observed symbols, 3 hidden states (columns sum to 1)
O = torch.tensor([[0.5, 0.1, 0.2], [0.2, 0.6, 0.1], [0.2, 0.2, 0.3], [0.1, 0.1, 0.4]], dtype=torch.float64)
P1 = torch.tensor([0.5, 0.3, 0.2], dtype=torch.float64)


def forward_probability(x: list[int], p1: torch.Tensor, P: torch.Tensor, O: torch.Tensor) -> float:  # noqa: N803
    """The forward algorithm: α₁ = p₁ ⊙ O[x₁], αₙ = (αₙ₋₁ P) ⊙ O[xₙ], p(x) = Σ α_N."""
    alpha = p1 * O[x[0]]
    for sym in x[1:]:
        alpha = (alpha @ P) * O[sym]
    return float(alpha.sum())


def _sequences(n: int, count: int, seed: int) -> torch.Tensor:
    return torch.randint(0, 4, (count, n), generator=torch.Generator().manual_seed(seed))


def _one_hot(xs: torch.Tensor, size: int = 4) -> torch.Tensor:
    return F.one_hot(xs, size).to(torch.float64)


def test_cycle_matrix_really_has_a_complex_spectrum():
    assert float(torch.linalg.eigvals(P_CYCLE).imag.abs().max()) > 0.1


@pytest.mark.parametrize("P", [P_REAL, P_CYCLE], ids=["real-spectrum", "complex-spectrum"])
@pytest.mark.parametrize("n", [2, 3, 4, 5, 6])
def test_inner_equals_forward_algorithm(P, n):  # noqa: N803
    chain = chain_from_hmm(P1, P, O)
    assert (chain.rank, chain.dim) == (3, 4)
    xs = _sequences(n, 24, seed=n)
    want = torch.tensor([forward_probability(x.tolist(), P1, P, O) for x in xs], dtype=torch.float64)
    for method in ("sequential", "scan", "logscale"):
        got = chain.inner(_one_hot(xs), method=method)
        assert torch.allclose(got.real.to(torch.float64), want, rtol=1e-10, atol=1e-14)
        if got.is_complex():
            assert float(got.imag.abs().max()) < 1e-12


def test_real_spectrum_gives_a_real_chain_and_complex_one_a_complex_chain():
    assert chain_from_hmm(P1, P_REAL, O).dtype == torch.float64
    assert chain_from_hmm(P1, P_CYCLE, O).dtype == torch.complex128


def test_probabilities_of_all_sequences_sum_to_one():
    chain = chain_from_hmm(P1, P_CYCLE, O)
    xs = torch.tensor(list(itertools.product(range(4), repeat=3)))
    probs = chain.inner(_one_hot(xs)).real
    assert bool((probs > 0).all())
    assert abs(float(probs.sum()) - 1.0) < 1e-12


def test_hidden_chain_without_observation_is_the_markov_law():
    chain = chain_from_hmm(P1, P_CYCLE)
    zs = _sequences(5, 10, seed=3) % 3
    want = [float(P1[z[0]] * torch.prod(P_CYCLE[z[:-1], z[1:]])) for z in zs]
    got = chain.inner(_one_hot(zs, 3)).real
    assert torch.allclose(got, torch.tensor(want, dtype=torch.float64), rtol=1e-10, atol=1e-15)


@pytest.mark.parametrize("n", [2, 4, 6])
def test_rank_truncation_is_worse_but_close_when_dropped_modes_are_small(n):
    lam = transition_modes(P_REAL)[0]
    small = float(lam.abs()[2])
    assert small < 0.05  # the dropped eigenvalue is small
    xs = _sequences(n, 40, seed=10 + n)
    want = torch.tensor([forward_probability(x.tolist(), P1, P_REAL, O) for x in xs], dtype=torch.float64)
    errs = {}
    for r in (3, 2, 1):
        got = chain_from_hmm(P1, P_REAL, O, rank=r).inner(_one_hot(xs)).real
        errs[r] = float(((got - want).abs() / want).max())
    assert errs[3] < 1e-12
    assert 1e-6 < errs[2] < 1.5 * (n - 1) * small  # first-order in the dropped eigenvalue
    assert errs[2] < errs[1]


def test_from_cme_operator_matches_from_matrix():
    from kernelops.operators import markov_operator_from_matrix

    xs = _sequences(5, 16, seed=5)
    for P in (P_REAL, P_CYCLE):
        via_op = chain_from_hmm(P1, markov_operator_from_matrix(P), O)
        via_matrix = chain_from_hmm(P1, P, O)
        assert torch.allclose(via_op.inner(_one_hot(xs)), via_matrix.inner(_one_hot(xs)).to(via_op.dtype), atol=1e-14)


def test_fitted_operator_on_sampled_chain_gives_close_probabilities():
    """CMEOperator with indicator features fitted on sampled trajectories ≈ the true HMM law."""
    from kernelops.operators import CMEOperator, IndicatorFeatures

    gen = torch.Generator().manual_seed(0)
    num, steps = 400, 100
    z = torch.empty(num, steps, dtype=torch.long)
    z[:, 0] = torch.multinomial(P1, num, replacement=True, generator=gen)
    for t in range(1, steps):
        z[:, t] = torch.multinomial(P_CYCLE[z[:, t - 1]], 1, generator=gen)[:, 0]
    op = CMEOperator(feature_map=IndicatorFeatures(3), reg=1e-9).fit_trajectories(z[..., None].double())
    fitted = chain_from_hmm(P1, op, O)
    exact = chain_from_hmm(P1, P_CYCLE, O)
    xs = _sequences(4, 30, seed=6)
    got, want = fitted.inner(_one_hot(xs)).real, exact.inner(_one_hot(xs)).real
    rel = float(((got - want).abs() / want).max())
    assert rel < 0.05  # ~40 000 transitions: entries of P are off by < 1 %, probabilities by ~1 %


def test_observation_operator_object_is_accepted():
    xs = _sequences(3, 8, seed=7)
    a = chain_from_hmm(P1, P_REAL, SimpleNamespace(operator_=O)).inner(_one_hot(xs))
    b = chain_from_hmm(P1, P_REAL, O).inner(_one_hot(xs))
    assert torch.allclose(a, b)


def test_transition_modes_are_biorthogonal_eigenvectors():
    lam, h, g = transition_modes(P_CYCLE)
    P = P_CYCLE.to(torch.complex128)
    assert torch.allclose(P @ h, h * lam, atol=1e-12)
    assert torch.allclose(g.T @ P, lam[:, None] * g.T, atol=1e-12)
    assert torch.allclose(g.T @ h, torch.eye(3, dtype=torch.complex128), atol=1e-12)
    assert bool((lam.abs()[:-1] >= lam.abs()[1:] - 1e-12).all())  # sorted by modulus


def test_hmm_bad_input():
    with pytest.raises(ShapeError, match=r"initial: expected shape \(S,\) = \(3,\), got \(4,\)"):
        chain_from_hmm(torch.ones(4, dtype=torch.float64) / 4, P_REAL, O)
    with pytest.raises(ShapeError, match=r"observation: expected shape \(Dx, S\) = \(\*, 3\), got \(3, 4\)"):
        chain_from_hmm(P1, P_REAL, O.T)
    with pytest.raises(ShapeError, match=r"transition: expected a square matrix"):
        chain_from_hmm(P1, P_REAL[:2], O)
    with pytest.raises(ValueError, match=r"rank: expected an int in \[1, 3\]"):
        chain_from_hmm(P1, P_REAL, O, rank=4)
    with pytest.raises(TypeError, match="transition: expected"):
        chain_from_hmm(P1, "P", O)
