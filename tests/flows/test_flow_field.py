"""SpectralVelocityField: an exact gradient field, its closed-form skip, its preconditioning."""

from __future__ import annotations

import pytest
import torch
from field_checks import (
    assert_minus_gradient_of_potential,
    assert_velocity_loss_gradients_match_central_differences,
    randomize_chain_end,
)

import kernelops as ko
from kernelops.flows import FieldConfig, SpectralVelocityField

F64 = torch.float64


def _field(path="ot", skip="window", N=4, d=2, seed=0, data_seed=1):
    cfg = FieldConfig(potential="chain", depth=2, width=8, time_features=4, skip=skip)
    field = SpectralVelocityField(ko.path(path), d, N, cfg, seed=seed, dtype=F64)
    g = torch.Generator().manual_seed(data_seed)
    # correlated, non-centred windows so the skip's mean and covariance are far from trivial
    data = 0.3 * torch.randn(200, N * d, generator=g, dtype=F64) @ torch.randn(N * d, N * d, generator=g, dtype=F64) / 3
    field.fit_data((data + 0.2).reshape(200, N, d))
    return field, (data + 0.2).reshape(200, N, d)


def _explicit_chain(h, heads):
    """Σ_blocks β̃ᵀ Λ W̃(x²) Λ … Λ η̃ with every W̃ = I + g·Lᵀ diag(h) R materialised."""
    batch, n, nb, _ = h.shape
    lam, gain = heads.eigvals(), heads.gain()
    out = torch.zeros(batch, dtype=torch.complex128)
    for b in range(batch):
        for block in range(nb):
            g, eye = gain[block], torch.eye(heads.block_rank, dtype=torch.complex128)
            row = heads.start[block] + g * h[b, 0, block] @ heads.B[block]
            for i in range(1, n - 1):
                transfer = eye + g * heads.L[block].T @ torch.diag(h[b, i, block]) @ heads.R[block]
                row = row @ torch.diag(lam[block]) @ transfer
            out[b] += row @ torch.diag(lam[block]) @ (heads.end[block] + g * h[b, -1, block] @ heads.H[block])
    return out


def test_the_potential_is_the_difference_of_the_two_identity_plus_chains():
    field, _ = _field()
    net = field.potential_net
    y = torch.randn(3, 4, 2, dtype=F64)
    t = torch.tensor([0.1, 0.5, 0.9], dtype=F64)
    assert torch.equal(net(y, t), torch.zeros(3, dtype=F64))  # the end heads start at zero
    randomize_chain_end(net)
    g = torch.Generator().manual_seed(3)
    with torch.no_grad():  # gains other than the initial one, block by block
        for heads in (net.heads_s, net.heads_o):
            heads.log_gain.add_(torch.randn(heads.log_gain.shape, generator=g, dtype=F64))
    h = net.features(y, t[:, None]).reshape(3, 4, 2, 4)
    diff = _explicit_chain(h, net.heads_s) - _explicit_chain(h, net.heads_o)
    torch.testing.assert_close(net(y, t), diff.real)


@pytest.mark.parametrize("path", ["ot", "vp", "ve"])
@pytest.mark.parametrize("skip", ["window", "channel", "stationary", "none"])
def test_the_field_is_minus_the_gradient_of_its_potential_and_curl_free(path, skip):
    field, _ = _field(path, skip)
    x = torch.randn(2, 4, 2, dtype=F64)
    assert_minus_gradient_of_potential(field, x, (0.15, 0.6, 0.97))


@pytest.mark.parametrize("path", ["ot", "vp", "ve"])
def test_with_the_learned_part_off_the_window_skip_is_the_exact_gaussian_marginal_field(path):
    field, data = _field(path, "window")
    field.scale_learned(0.0)
    flat = data.reshape(200, -1)
    mean, cov = flat.mean(0), torch.cov(flat.T)
    x = torch.randn(5, 4, 2, dtype=F64)
    t = torch.tensor([0.05, 0.3, 0.5, 0.8, 0.95], dtype=F64)
    exact = field.path.marginal_velocity(x.reshape(5, -1), t, mean, cov).reshape(x.shape)
    torch.testing.assert_close(field(t, x), exact, rtol=1e-7, atol=1e-8)


def test_with_the_learned_part_off_the_channel_skip_is_the_marginal_field_of_independent_channels():
    field, data = _field("ot", "channel")
    field.scale_learned(0.0)
    per_channel = data.reshape(-1, 2)
    mean = per_channel.mean(0).repeat(4)
    cov = torch.diag(per_channel.var(0).repeat(4))
    x = torch.randn(3, 4, 2, dtype=F64)
    t = torch.tensor([0.2, 0.6, 0.9], dtype=F64)
    exact = field.path.marginal_velocity(x.reshape(3, -1), t, mean, cov).reshape(x.shape)
    torch.testing.assert_close(field(t, x), exact, rtol=1e-7, atol=1e-8)
    # and it samples any length: the channel skip has no window shape
    assert field(0.5, torch.randn(2, 9, 2, dtype=F64)).shape == (2, 9, 2)


def test_preconditioning_closed_forms_on_the_ot_path():
    field, data = _field("ot")
    sd = float(data.std())
    assert float(field.sigma_data) == pytest.approx(sd, rel=1e-12)
    t = torch.tensor([0.0, 0.25, 0.5, 0.999], dtype=F64)
    alpha, sigma, a, b, c_in, c_out = field.coefficients(t)
    s = 1 - (1 - 1e-4) * t  # the OT path's σ_t with σ_min = 1e-4
    torch.testing.assert_close(sigma, s)
    torch.testing.assert_close(c_in, 1 / torch.sqrt(t**2 * sd**2 + s**2))
    torch.testing.assert_close(c_out, s * sd / torch.sqrt(t**2 * sd**2 + s**2))
    torch.testing.assert_close(field.loss_weight(t), 1 / c_out**2)
    # v = a x + b D reproduces the conditional target when D is the clean window
    x1, x0 = torch.randn(4, 4, 2, dtype=F64), torch.randn(4, 4, 2, dtype=F64)
    ps = field.path.sample(x0, x1, t)
    torch.testing.assert_close(a[:, None, None] * ps.x_t + b[:, None, None] * x1, ps.u_t)


def test_the_learned_part_scales_linearly_and_is_kept_in_the_graph_only_in_grad_mode():
    field, _ = _field()
    x = torch.randn(2, 4, 2, dtype=F64)
    learned = field.learned(0.4, x)
    assert learned.requires_grad  # grad mode on: differentiable in the parameters
    with torch.no_grad():
        quiet = field.learned(0.4, x)
    assert not quiet.requires_grad
    torch.testing.assert_close(quiet, learned.detach())
    field.scale_learned(3.0)
    with torch.no_grad():
        torch.testing.assert_close(field.learned(0.4, x), 3 * quiet)
    with torch.inference_mode():
        xi = x.clone()
    with torch.no_grad():
        torch.testing.assert_close(field.learned(0.4, xi), 3 * quiet)


def test_double_backward_gives_the_parameter_gradient_of_a_velocity_loss():
    """d/dθ of ‖v(x) − u‖² by autograd through the input gradient equals a central difference."""
    field, _ = _field()
    net = field.potential_net
    randomize_chain_end(net)
    assert_velocity_loss_gradients_match_central_differences(
        field, (net.heads_s.nu, net.heads_o.theta, net.heads_s.log_gain, net.features.blocks_[0].fc1.weight),
        torch.tensor([0.2, 0.7], dtype=F64))


def test_bad_arguments_are_named():
    with pytest.raises(ValueError, match="skip"):
        FieldConfig(skip="laplace").validate()
    with pytest.raises(ValueError, match="rank"):
        FieldConfig(depth=3, rank=4).validate()
    with pytest.raises(ValueError, match="width"):
        FieldConfig(width=7).validate()
    with pytest.raises(ValueError, match="affine path"):
        SpectralVelocityField(object(), 2, 4)
    field, _ = _field()
    with pytest.raises(ValueError, match="sample that length"):
        field(0.5, torch.randn(1, 5, 2, dtype=F64))
    with pytest.raises(Exception, match="t: expected"):
        field(torch.ones(3, dtype=F64), torch.randn(2, 4, 2, dtype=F64))


def test_without_a_skip_the_field_is_the_learned_gradient_and_the_loss_is_plain_flow_matching():
    field, _ = _field("vp", "none")
    assert field.skip is None
    x = torch.randn(3, 4, 2, dtype=F64)
    t = torch.tensor([0.2, 0.5, 0.9], dtype=F64)
    with torch.no_grad():
        v, learned, d = field(t, x), field.learned(t, x), field.denoise(t, x)
    torch.testing.assert_close(v, learned)  # no input scaling, no skip
    _, _, a, b, _, _ = field.coefficients(t)
    torch.testing.assert_close(a[:, None, None] * x + b[:, None, None] * d, v)
    x1 = torch.randn(3, 4, 2, dtype=F64)
    u = a[:, None, None] * x + b[:, None, None] * x1  # the conditional target at x_t = x
    weighted = field.loss_weight(t)[:, None, None] * (d - x1).square()
    torch.testing.assert_close(weighted, (v - u).square())


def test_a_one_step_chain_field_is_the_start_lambda_end_witness_and_an_exact_gradient():
    """N = 1 (points, e.g. the 2-D checkerboard): f = Re[β̃_s Λ_s η̃_s − β̃_o Λ_o η̃_o], v = −∇Φ, and
    the double backward still gives the parameter gradient."""
    field, _ = _field(N=1)
    net = field.potential_net
    randomize_chain_end(net)
    y = torch.randn(3, 1, 2, dtype=F64)
    t = torch.tensor([0.1, 0.5, 0.9], dtype=F64)
    h = net.features(y, t[:, None]).reshape(3, 2, 4)  # (batch, blocks, k)

    def ends(q, sign):  # β̃ = b₀ + g·hB and ±η̃ = ±(e₀ + g·hH) per block: (batch, blocks, r)
        g = q.gain()[None, :, None]
        return q.start + g * torch.einsum("bik,ikr->bir", h, q.B), sign * (q.end + g * torch.einsum("bik,ikr->bir", h, q.H))

    (beta_s, end_s), (beta_o, end_o) = ends(net.heads_s, 1), ends(net.heads_o, -1)
    beta, end = torch.cat([beta_s, beta_o], dim=1), torch.cat([end_s, end_o], dim=1)
    lam = torch.cat([net.heads_s.eigvals(), net.heads_o.eigvals()])
    want = (beta * lam * end).sum(dim=(1, 2))
    torch.testing.assert_close(net(y, t), want.real)
    assert_minus_gradient_of_potential(field, torch.randn(2, 1, 2, dtype=F64), (0.15, 0.6, 0.97))
    assert_velocity_loss_gradients_match_central_differences(
        field, (net.heads_s.nu, net.heads_o.theta, net.features.input.weight), torch.tensor([0.2, 0.7], dtype=F64))
    # no transfer step at N = 1: the transfer heads L, R take no part
    field.zero_grad()
    field(0.5, y).square().sum().backward()
    assert net.heads_s.L.grad is None and net.heads_o.R.grad is None and net.heads_s.B.grad.abs().sum() > 0
