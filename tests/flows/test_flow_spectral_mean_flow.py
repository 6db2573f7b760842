"""SpectralMeanFlow: the facade over field, objective, trainer and sampler."""

from __future__ import annotations

import numpy as np
import pytest
import torch

import kernelops as ko
from kernelops.errors import ShapeError, UnknownPluginError
from kernelops.features.kernels import rbf_kernel
from kernelops.flows import FlowMatchingObjective, SpectralMeanFlow
from kernelops.flows.sampler import source_noise
from kernelops.flows.training import TrainGenerators


def _tiny(path="ot", **kw):
    args = dict(path=path, potential="chain", depth=1, width=4, time_features=2, dtype=torch.float64, seed=0)
    args.update(kw)
    return SpectralMeanFlow(**args)


def _data(n=64, N=3, d=2, seed=0):
    g = torch.Generator().manual_seed(seed)
    return 0.5 + 0.2 * torch.rand(n, N, d, generator=g, dtype=torch.float64)


@pytest.mark.parametrize("path", ["ot", "vp", "ve"])
def test_jacobian_of_trained_field_is_symmetric(path):
    """v_t = −∇Φ_t: after a little training, ∂v/∂x is symmetric (curl-free) on every path."""
    model = _tiny(path).fit(_data(), steps=3, batch_size=8, lr=1e-2, warmup=0, progress=False)
    assert model.step == 3
    x = torch.randn(1, 3, 2, dtype=torch.float64)
    for t in (0.2, 0.8):
        jac = torch.autograd.functional.jacobian(lambda z: model.velocity(z, t), x).reshape(6, 6)
        assert jac.abs().max() > 1e-8
        torch.testing.assert_close(jac, jac.T, atol=1e-10 * (1 + jac.abs().max().item()), rtol=1e-8)
        # and it is −(Hessian of the potential) computed independently
        hess = torch.autograd.functional.hessian(lambda z: model.potential(z, t).sum(), x).reshape(6, 6)
        torch.testing.assert_close(jac, -hess, atol=1e-10 * (1 + jac.abs().max().item()), rtol=1e-8)


@pytest.mark.parametrize("target", ["conditional", "posterior"])
def test_loss_is_the_weighted_denoising_form_of_flow_matching(target):
    """loss = mean λ(t)‖D(x_t) − x̂₁‖² with t, x0 drawn in that order; as a velocity loss it is
    ‖v − u‖² weighted by λ(t)/b_t² (v − u = b_t(D − x₁) on an affine path)."""
    model = _tiny("vp").fit(_data(), steps=0, target=target, progress=False)
    x1 = model.to_model(_data(5))
    g = torch.Generator().manual_seed(3)
    gens = TrainGenerators(0)
    gens.time = gens.noise = g
    loss = FlowMatchingObjective(model.path, target)(model.field, x1, gens)
    g = torch.Generator().manual_seed(3)
    t = model.path.sample_t(5, generator=g, dtype=torch.float64)
    x0 = model.path.sample_source((5, 3, 2), generator=g, dtype=torch.float64)
    ps = model.path.sample(x0, x1, t)
    u = ps.u_t if target == "conditional" else model.path.posterior_velocity(ps.x_t, t, x1)
    b = model.field.coefficients(t)[3]
    with torch.no_grad():
        v = model.velocity(ps.x_t, t)
    weight = model.field.loss_weight(t) / b.square()
    torch.testing.assert_close(loss.detach(), (weight[:, None, None] * (v - u).square()).mean())
    loss.backward()  # differentiable in the parameters through the input gradient
    assert model.field.potential_net.heads_s.L.grad.abs().max() > 0


def test_first_fit_fits_the_skip_and_sets_the_learned_scale():
    model = _tiny("ot")
    data = _data()
    model.fit(data, steps=0, progress=False)
    x = model.to_model(data)
    assert float(model.field.sigma_data) == pytest.approx(float(x.std()), rel=1e-12)
    torch.testing.assert_close(model.field.skip.mean, x.reshape(64, -1).mean(0))
    # the EMA copy carries the fitted buffers too
    torch.testing.assert_close(model.ema.module.skip.eigvals, model.field.skip.eigvals)
    g = torch.Generator().manual_seed(model.seed + 104729)
    idx = torch.randint(64, (64,), generator=g)
    t = model.path.sample_t(64, generator=g, dtype=torch.float64)
    x0 = model.path.sample_source((64, 3, 2), generator=g, dtype=torch.float64)
    with torch.no_grad():
        learned = model.field.learned(t, model.path.sample(x0, x[idx], t).x_t)
    assert float(learned.square().mean().sqrt()) == pytest.approx(0.3, rel=1e-9)


@pytest.mark.slow
def test_flow_matching_moves_samples_onto_a_gaussian_target():
    """N = 2 steps × d = 1: a correlated 2-D Gaussian. MMD to the target falls far below the source's."""
    g = torch.Generator().manual_seed(0)
    n = 2000
    mean = torch.tensor([0.7, 0.3], dtype=torch.float64)
    chol = torch.tensor([[0.08, 0.0], [0.06, 0.03]], dtype=torch.float64)
    data = (mean + torch.randn(n, 2, generator=g, dtype=torch.float64) @ chol.T).reshape(n, 2, 1)
    model = SpectralMeanFlow(path="ot", depth=1, width=8, dtype=torch.float64, seed=0)
    model.fit(data, steps=250, batch_size=128, lr=2e-2, warmup=20, progress=False)
    fake = model.sample(500, steps=16, seed=1).reshape(500, 2)
    source = model.from_model(model.path.sample_source((500, 2), generator=torch.Generator().manual_seed(2),
                                                       dtype=torch.float64))
    target = data[:500].reshape(500, 2)

    def mmd(a, b):
        return float((rbf_kernel(a, a, 0.1).mean() + rbf_kernel(b, b, 0.1).mean()
                      - 2 * rbf_kernel(a, b, 0.1).mean()).clamp_min(0).sqrt())

    before, after = mmd(source, target), mmd(fake, target)
    assert after < before / 5, (before, after)
    # the sample mean and correlation are those of the target
    assert (fake.mean(0) - mean).abs().max() < 0.05
    assert np.corrcoef(fake.T.numpy())[0, 1] > 0.5


def test_sample_shapes_lengths_nfe_and_determinism():
    model = _tiny("ot", in_dim=2, seq_len=3)
    out, nfe = model.sample(5, steps=3, solver="midpoint", batch_size=2, return_nfe=True, seed=4)
    assert out.shape == (5, 3, 2) and nfe == 6
    torch.testing.assert_close(model.sample(5, steps=3, solver="midpoint", batch_size=5, seed=4), out)
    with pytest.raises(ValueError, match="skip='channel'"):
        model.sample(2, steps=2, seq_len=7)
    channel = _tiny("ot", skip="channel").fit(_data(), steps=1, batch_size=8, progress=False)
    assert channel.sample(2, steps=2, seq_len=7, seed=0).shape == (2, 7, 2)  # any length
    _, nfe_e = model.sample(2, steps=4, solver="euler", return_nfe=True, seed=0)
    assert nfe_e == 4
    # sampling is the solver's integral of the velocity: Euler by hand gives the same result
    x = source_noise(model.path, 9, 0, 2, (3, 2), dtype=torch.float64)  # windows 0 and 1 of seed 9's draw
    for i in range(4):
        x = x + 0.25 * model.velocity(x, torch.tensor(i * 0.25, dtype=torch.float64), ema=True)
    torch.testing.assert_close(model.sample(2, steps=4, solver="euler", seed=9), model.from_model(x))


def test_sample_with_adaptive_solver_refuses_steps():
    model = _tiny("ot", in_dim=2, seq_len=3)
    out, nfe = model.sample(2, solver="dopri5", seed=0, return_nfe=True, solver_kwargs={"rtol": 1e-3, "atol": 1e-3})
    assert out.shape == (2, 3, 2) and nfe > 0
    with pytest.raises(ValueError, match="adaptive"):
        model.sample(2, steps=4, solver="dopri5")


def test_ema_weights_are_used_for_sampling():
    model = _tiny("ot").fit(_data(), steps=4, batch_size=8, lr=5e-2, warmup=0, progress=False)
    assert model.ema.updates == 4
    raw = model.sample(3, steps=2, seed=1, ema=False)
    ema = model.sample(3, steps=2, seed=1)
    assert (raw - ema).abs().max() > 0
    with torch.no_grad():
        for p_ema, p in zip(model.ema.module.parameters(), model.field.parameters()):
            p_ema.copy_(p)
    torch.testing.assert_close(model.sample(3, steps=2, seed=1), raw)


def test_rank_mode_and_bad_arguments():
    model = SpectralMeanFlow(path="ot", potential="chain", depth=2, width=8, rank=6, mode="svd", in_dim=3, seq_len=4)
    heads = model.field.potential_net.heads_s
    assert heads.block_rank == 3 and not heads.eigvals().is_complex()
    with pytest.raises(UnknownPluginError, match="known paths"):
        SpectralMeanFlow(path="nope")
    with pytest.raises(UnknownPluginError, match="known solvers"):
        SpectralMeanFlow(solver="nope")
    with pytest.raises(ValueError, match="rank"):
        SpectralMeanFlow(depth=2, rank=3)
    with pytest.raises(ValueError, match="mode"):
        SpectralMeanFlow(mode="eig")
    with pytest.raises(ValueError, match="width"):
        SpectralMeanFlow(width=7)
    fitted = _tiny(in_dim=2, seq_len=3)
    with pytest.raises(ShapeError, match="data"):
        fitted.fit(torch.rand(4, 3, 5, dtype=torch.float64), steps=1, progress=False)
    with pytest.raises(ShapeError, match="data"):
        fitted.fit(torch.rand(4, 3), steps=1, progress=False)
    with pytest.raises(ShapeError, match="NaN"):
        fitted.fit(torch.full((4, 3, 2), float("nan"), dtype=torch.float64), steps=1, progress=False)
    with pytest.raises(ValueError, match="steps"):
        fitted.fit(_data(), steps=-1, progress=False)
    with pytest.raises(ValueError, match="lr: expected a finite"):
        fitted.fit(_data(), lr=float("inf"), progress=False)
    with pytest.raises(ValueError, match="seq_len"):
        fitted.sample(2, seq_len=1)


def test_registered_paths_and_solvers_by_name():
    for path in ko.list_plugins("paths")["paths"]:
        model = SpectralMeanFlow(path=path, depth=1, width=4, in_dim=1, seq_len=2, dtype=torch.float64)
        assert model.path_name == path and model.config()["path"] == path


def test_posterior_target_loss_is_the_conditional_loss_less_the_target_variance():
    """Same model, same t and noise: E λ‖D − x₁‖² = E λ‖D − x̂₁‖² + E λ‖x₁ − x̂₁‖² up to the cross
    term, which vanishes in expectation; on 4096 draws it is small next to both."""
    model = _tiny("ot").fit(_data(64), steps=0, progress=False)
    reference = model.to_model(_data(64))  # the training set the windows are drawn from
    x1 = reference[torch.randint(64, (4096,), generator=torch.Generator().manual_seed(6))]

    def loss(target):
        gens = TrainGenerators(0)
        gens.time, gens.noise = torch.Generator().manual_seed(7), torch.Generator().manual_seed(8)
        with torch.no_grad():
            return FlowMatchingObjective(model.path, target)(model.field, x1, gens, reference)

    cond, post = loss("conditional"), loss("posterior")
    t = model.path.sample_t(4096, generator=torch.Generator().manual_seed(7), dtype=torch.float64)
    x0 = model.path.sample_source(tuple(x1.shape), generator=torch.Generator().manual_seed(8), dtype=torch.float64)
    x_t = model.path.sample(x0, x1, t).x_t
    gap = model.field.loss_weight(t)[:, None, None] * (x1 - model.path.posterior_mean(x_t, t, reference)).square()
    assert post < cond
    torch.testing.assert_close(cond, post + gap.mean(), rtol=0.03, atol=0.0)


def test_fit_with_either_target_trains_resumes_and_is_checked(tmp_path):
    data = _data()
    full = _tiny("vp").fit(data, steps=4, batch_size=8, target="conditional", progress=False)
    assert full.train_config.target == "conditional" and np.isfinite(full.history[-1][1])
    half = _tiny("vp").fit(data, steps=2, batch_size=8, target="conditional", progress=False)
    resumed = SpectralMeanFlow.load(half.save(tmp_path / "m.pt")).fit(data, steps=4, progress=False)
    assert resumed.train_config.target == "conditional"  # the checkpoint's setting carries on
    torch.testing.assert_close(resumed.field.potential_net.heads_s.H, full.field.potential_net.heads_s.H)
    posterior = _tiny("vp").fit(data, steps=4, batch_size=8, progress=False)
    assert posterior.train_config.target == "posterior"  # the default
    assert not torch.allclose(posterior.field.potential_net.heads_s.H, full.field.potential_net.heads_s.H)
    with pytest.raises(ValueError, match="target: expected one of"):
        _tiny("ot").fit(data, steps=1, target="marginal", progress=False)


def test_a_large_data_set_uses_a_reference_subset_that_contains_the_batch():
    objective = FlowMatchingObjective(ko.path("ot"), "posterior", max_reference=10)
    x = torch.arange(40 * 6, dtype=torch.float64).reshape(40, 3, 2)
    idx = torch.tensor([3, 17, 39])
    ref = objective.reference(x, idx, torch.Generator().manual_seed(0))
    assert ref.shape == (13, 3, 2)
    torch.testing.assert_close(ref[-3:], x[idx])
    assert objective.reference(x[:10], idx[:1], torch.Generator()).shape == (10, 3, 2)
