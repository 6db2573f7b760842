"""The mask-conditioned field (FieldConfig(conditional=True)) and its training masks.

With its read-out at zero (as built) the field's clean-window prediction is the skip Gaussian's
exact posterior mean given x_t and the observed entries, checked against a dense conditioning of
the joint Gaussian of (x₁, x_t, x₁ᵒ); sampling with method="field" then draws the exact
conditional law.
"""

from __future__ import annotations

import pytest
import torch
from field_checks import DIM, MASK, SEQ, gaussian_masked_field

import kernelops as ko
from kernelops.flows import FieldConfig, SpectralMeanFlow, SpectralVelocityField
from kernelops.flows.gaussian import WindowGaussian, condition_on_observed
from kernelops.flows.masked_field import MaskedVelocityField, build_field
from kernelops.flows.sample.conditional import sample_conditional

Y = torch.tensor([[0.5, 0.0], [0.0, -0.3], [0.2, 0.0]], dtype=torch.float64)


def _field(path_name: str = "ot", width: int = 8) -> MaskedVelocityField:
    return gaussian_masked_field(path_name, width)


def _dense_posterior_mean(field, t: float, x: torch.Tensor, y: torch.Tensor, m: torch.Tensor) -> torch.Tensor:
    """E[x₁ | x_t = x, x₁ᵒ = y] for x₁ ~ N(μ, Σ) the skip's Gaussian, by conditioning the joint Gaussian."""
    skip = field.skip
    mu, sigma_ = skip.mean, (skip.eigvecs * skip.eigvals) @ skip.eigvecs.T
    c = field.path.schedule.evaluate(torch.tensor(t, dtype=torch.float64))
    a, s = float(c.alpha), float(c.sigma)
    o = m.reshape(-1).nonzero()[:, 0]
    cross = torch.cat([a * sigma_, sigma_[:, o]], dim=1)  # Cov(x₁, z), z = (x_t, x₁ᵒ)
    top = torch.cat([a * a * sigma_ + s * s * torch.eye(len(mu), dtype=torch.float64), a * sigma_[:, o]], dim=1)
    bottom = torch.cat([a * sigma_[o], sigma_[o][:, o]], dim=1)
    z = torch.cat([x.reshape(-1) - a * mu, y.reshape(-1)[o] - mu[o]])
    return (mu + cross @ torch.linalg.solve(torch.cat([top, bottom]), z)).reshape(SEQ, DIM)


@pytest.mark.parametrize("path_name", ["ot", "vp"])
def test_prediction_is_the_exact_gaussian_posterior_mean_given_x_t_and_the_observations(path_name):
    field = _field(path_name)
    gen = torch.Generator().manual_seed(1)
    x = torch.randn(3, SEQ, DIM, generator=gen, dtype=torch.float64)
    masks = torch.stack([MASK, ~MASK, MASK])
    y = torch.where(masks, Y, torch.zeros(()))
    times = [0.2, 0.55, 0.9]
    # one time per row (training) and one shared time (sampling) take different branches
    per_row = field.denoise(torch.tensor(times, dtype=torch.float64), x, observed=y, mask=masks)
    for i, t in enumerate(times):
        expected = _dense_posterior_mean(field, t, x[i], y[i], masks[i])
        assert torch.allclose(per_row[i], expected, atol=1e-8), (t, per_row[i], expected)
        shared = field.denoise(t, x, observed=y, mask=masks)
        assert torch.allclose(shared[i], expected, atol=1e-8)
    assert torch.equal(per_row[masks], y[masks])  # observed entries are returned exactly


def test_the_field_method_draws_the_exact_conditional_law():
    field = _field()
    skip = field.skip
    cov = (skip.eigvecs * skip.eigvals) @ skip.eigvecs.T
    o, u = MASK.reshape(-1), ~MASK.reshape(-1)
    gain = cov[u][:, o] @ torch.linalg.inv(cov[o][:, o])
    mean = skip.mean[u] + gain @ (Y.reshape(-1)[o] - skip.mean[o])
    law = cov[u][:, u] - gain @ cov[o][:, u]
    draws, _ = sample_conditional(field, field.path, ko.solver("midpoint"), Y[None], MASK[None], samples=2000,
                                  steps=16, generator=torch.Generator().manual_seed(1), method="field",
                                  dtype=torch.float64)
    free = draws[0].reshape(2000, -1)[:, u]
    se = law.diagonal().sqrt() / 2000 ** 0.5
    assert ((free.mean(0) - mean).abs() < 4 * se).all(), (free.mean(0), mean)
    assert torch.allclose(torch.cov(free.T), law, atol=0.1 * float(law.diagonal().max()))
    assert torch.equal(draws[0][:, MASK], Y[MASK].expand(2000, -1))


def test_an_empty_condition_is_the_unconditional_field():
    field = _field()
    field.scale_learned(0.0)
    with torch.no_grad():
        field.potential_net.readout.weight.normal_(generator=torch.Generator().manual_seed(2))
    x = torch.randn(4, SEQ, DIM, generator=torch.Generator().manual_seed(3), dtype=torch.float64)
    nothing = torch.zeros(4, SEQ, DIM, dtype=torch.bool)
    assert torch.allclose(field(0.4, x), field(0.4, x, observed=torch.randn_like(x), mask=nothing), atol=1e-12)
    # with observations the learned part reads them: the free entries change
    given = field(0.4, x, observed=torch.ones_like(x), mask=MASK.expand(4, SEQ, DIM))
    assert not torch.allclose(given[:, ~MASK], field(0.4, x)[:, ~MASK])


def test_the_learned_part_does_not_read_the_noisy_observed_state():
    field = _field()
    with torch.no_grad():
        field.potential_net.readout.weight.normal_(generator=torch.Generator().manual_seed(2))
    gen = torch.Generator().manual_seed(4)
    x = torch.randn(2, SEQ, DIM, generator=gen, dtype=torch.float64)
    moved = torch.where(MASK, x + 5.0, x)  # only the observed coordinates of the state differ
    y, m = Y.expand(2, SEQ, DIM), MASK.expand(2, SEQ, DIM)
    # the skip's conditional mean still reads x_t's free coordinates only through Σ: compare D
    assert torch.allclose(field.denoise(0.5, x, observed=y, mask=m), field.denoise(0.5, moved, observed=y, mask=m),
                          atol=1e-10)


def _dense_update(cov: torch.Tensor, pred: torch.Tensor, y: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
    o = mask.reshape(-1)
    residual = (y - pred).reshape(-1)[o]
    return pred.reshape(-1) + cov[:, o] @ torch.linalg.solve(cov[o][:, o], residual)


@pytest.mark.parametrize("rank", [SEQ * DIM, 2])
def test_condition_on_observed_matches_the_dense_update(rank):
    # full rank: exact for any spectrum; rank 2: exact when the other directions share one variance
    gen = torch.Generator().manual_seed(5)
    q, _ = torch.linalg.qr(torch.randn(SEQ * DIM, SEQ * DIM, generator=gen, dtype=torch.float64))
    lam = torch.tensor([2.0, 0.9, 0.3, 0.3, 0.3, 0.3] if rank == 2 else [2.0, 0.9, 0.5, 0.1, 1e-3, 1e-6],
                       dtype=torch.float64)
    skip = WindowGaussian(SEQ, DIM, torch.float64)
    skip.eigvals.copy_(lam)
    skip.eigvecs.copy_(q)
    alpha, sigma = torch.tensor([0.3, 0.8, 0.95, 0.5, 0.3]), torch.tensor([0.7, 0.2, 0.05, 0.5, 0.7])
    pred = torch.randn(5, SEQ, DIM, generator=gen, dtype=torch.float64)
    y = torch.randn(5, SEQ, DIM, generator=gen, dtype=torch.float64)
    masks = torch.stack([MASK, ~MASK, MASK, torch.ones_like(MASK), MASK])
    per_row = condition_on_observed(skip.posterior_covariance(alpha, sigma, rank), pred, y, masks)
    for i in range(5):
        post = lam * sigma[i] ** 2 / (alpha[i] ** 2 * lam + sigma[i] ** 2)
        expected = _dense_update((q * post) @ q.T, pred[i], y[i], masks[i])
        assert torch.allclose(per_row[i].reshape(-1), expected, atol=1e-9), i
        shared = condition_on_observed(skip.posterior_covariance(alpha[i], sigma[i], rank), pred, y, masks)
        assert torch.allclose(shared[i], per_row[i], atol=1e-10)
    assert torch.allclose(per_row[masks], y[masks], atol=1e-10)
    # at σ = 0 the posterior is a point: nothing moves but the observed entries
    at_data = condition_on_observed(skip.posterior_covariance(torch.tensor(1.0), torch.tensor(0.0), rank), pred, y, masks)
    assert torch.allclose(at_data, torch.where(masks, y, pred), atol=1e-10)


def test_the_learned_part_is_scaled_by_the_conditional_spread_of_the_free_entries():
    # s = mean conditional variance of the free entries / mean variance of all, under C_t
    field = _field()
    with torch.no_grad():
        field.potential_net.readout.weight.normal_(generator=torch.Generator().manual_seed(2))
    x = torch.randn(3, SEQ, DIM, generator=torch.Generator().manual_seed(8), dtype=torch.float64)
    masks = torch.stack([MASK, torch.zeros_like(MASK), ~MASK])
    y = torch.where(masks, Y, torch.zeros(()))
    t = torch.tensor([0.3, 0.5, 0.8], dtype=torch.float64)
    prediction, weight = field.denoise_with_weight(t, x, observed=y, mask=masks)
    alpha, sigma, *_, c_out = field.coefficients(t)
    skip = field.skip
    for i in range(3):
        post = skip.eigvals * sigma[i] ** 2 / (alpha[i] ** 2 * skip.eigvals + sigma[i] ** 2)
        cov = (skip.eigvecs * post) @ skip.eigvecs.T
        o, u = masks[i].reshape(-1), ~masks[i].reshape(-1)
        free = cov[u][:, u] - cov[u][:, o] @ torch.linalg.solve(cov[o][:, o], cov[o][:, u]) if o.any() else cov
        shrink = free.diagonal().mean() / cov.diagonal().mean()
        assert torch.allclose(weight[i], 1 / (c_out[i] ** 2 * shrink), rtol=1e-8), i
        learned = field.learned(t[i:i + 1], x[i:i + 1]) if not o.any() else None
        if learned is not None:  # nothing observed: exactly the unconditional field
            assert torch.allclose(prediction[i], field.denoise(t[i:i + 1], x[i:i + 1])[0], atol=1e-12)


def test_a_short_conditional_fit_samples_and_round_trips(tmp_path):
    from kernelops.data import make_sines

    data = make_sines(256, seq_len=8, features=2, seed=0)
    model = SpectralMeanFlow(conditional=True, depth=1, width=32, seed=0)
    model.fit(data, steps=60, batch_size=32, warmup=0, progress=False)
    assert all(torch.isfinite(torch.tensor([loss for _, loss, _ in model.history])))
    assert float(model.field.potential_net.readout.weight.detach().abs().sum()) > 0  # it trained (the read-out starts at 0)
    observed = torch.from_numpy(make_sines(3, seq_len=8, features=2, seed=9)).float()
    observed[:, 4:] = float("nan")  # forecast the second half
    draws = model.sample(4, observed=observed, seed=0)
    assert draws.shape == (3, 4, 8, 2) and torch.equal(draws[:, :, :4], observed[:, None, :4].expand(-1, 4, -1, -1))
    model.save(tmp_path / "c.pt")
    again = SpectralMeanFlow.load(tmp_path / "c.pt")
    assert again.field_config.conditional and again.default_method == "field"
    assert torch.equal(again.sample(4, observed=observed, seed=0), draws)
    assert again.sample(5, seed=1).shape == (5, 8, 2)  # still samples unconditionally


def test_conditional_settings_are_checked():
    with pytest.raises(ValueError, match="potential='window' and skip='window'"):
        FieldConfig(potential="chain", conditional=True).validate()
    with pytest.raises(ValueError, match="potential='window' and skip='window'"):
        FieldConfig(skip="channel", conditional=True).validate()
    plain = SpectralVelocityField(ko.path("ot"), DIM, SEQ, FieldConfig(depth=1, width=4), dtype=torch.float64)
    x = torch.zeros(1, SEQ, DIM, dtype=torch.float64)
    with pytest.raises(TypeError, match="observed"):  # the unconditional field takes no observations
        plain(0.5, x, observed=x, mask=MASK[None])
    with pytest.raises(ValueError, match="MaskedVelocityField"):
        SpectralVelocityField(ko.path("ot"), DIM, SEQ, FieldConfig(depth=1, width=4, conditional=True))
    assert isinstance(build_field(ko.path("ot"), DIM, SEQ, FieldConfig(depth=1, width=4, conditional=True)),
                      MaskedVelocityField)
    assert type(build_field(ko.path("ot"), DIM, SEQ, FieldConfig(depth=1, width=4))) is SpectralVelocityField
    with pytest.raises(ValueError, match="method='field' needs a mask-conditioned field"):
        sample_conditional(plain, plain.path, ko.solver("euler"), Y[None], MASK[None], samples=1, steps=1,
                           generator=torch.Generator(), method="field", dtype=torch.float64)


def test_the_condition_rank_setting_reaches_the_gaussian_method():
    from kernelops.flows.sample.conditional import gaussian_update

    with pytest.raises(ValueError, match="condition_rank"):
        FieldConfig(condition_rank=0).validate()
    gen = torch.Generator().manual_seed(9)
    pred = torch.randn(2, SEQ, DIM, generator=gen, dtype=torch.float64)
    y = torch.randn(2, SEQ, DIM, generator=gen, dtype=torch.float64)
    masks = torch.stack([MASK, ~MASK])
    t = torch.tensor(0.4, dtype=torch.float64)
    updates = {}
    for rank in (SEQ * DIM, 2):
        field = SpectralVelocityField(ko.path("ot"), DIM, SEQ, FieldConfig(depth=1, width=4, condition_rank=rank),
                                      dtype=torch.float64)
        field.fit_data(torch.randn(500, SEQ, DIM, generator=torch.Generator().manual_seed(0), dtype=torch.float64)
                       @ torch.tensor([[1.0, 0.5], [0.0, 0.3]], dtype=torch.float64))
        updates[rank] = gaussian_update(field, t, pred, y, masks)
    skip = field.skip
    c = field.path.schedule.evaluate(t)
    post = skip.eigvals * c.sigma**2 / (c.alpha**2 * skip.eigvals + c.sigma**2)
    dense = (skip.eigvecs * post) @ skip.eigvecs.T
    for i in range(2):
        assert torch.allclose(updates[SEQ * DIM][i].reshape(-1), _dense_update(dense, pred[i], y[i], masks[i]), atol=1e-9)
    assert not torch.allclose(updates[2], updates[SEQ * DIM], atol=1e-6)  # rank 2 of 6 is an approximation
