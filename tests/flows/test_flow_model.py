"""SpectralMeanFlow: the facade over field, objective, trainer and sampler."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from field_checks import tiny_data, tiny_model

import kernelops as ko
from kernelops.data import make_sines
from kernelops.errors import ShapeError, UnknownPluginError
from kernelops.features.kernels import rbf_kernel
from kernelops.flows import SpectralMeanFlow
from kernelops.flows.gaussian import WindowGaussian
from kernelops.flows.sample.ode import source_noise


def _with_holes(num: int, fraction: float, seed: int = 0) -> tuple[torch.Tensor, torch.Tensor]:
    """Sines windows in model coordinates with a ``fraction`` of NaN entries, and the complete ones."""
    full = torch.from_numpy(make_sines(num, seq_len=6, features=2, seed=seed)).double() * 2 - 1
    holes = torch.from_numpy(np.random.default_rng(seed).random(full.shape) < fraction)
    return full.masked_fill(holes, float("nan")), full

_tiny, _data = tiny_model, tiny_data


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


def test_first_fit_fits_the_skip_and_leaves_the_chain_at_zero():
    model = _tiny("ot")
    data = _data()
    model.fit(data, steps=0, progress=False)
    x = model.to_model(data)
    assert float(model.field.sigma_data) == pytest.approx(float(x.std()), rel=1e-12)
    torch.testing.assert_close(model.field.skip.mean, x.reshape(64, -1).mean(0))
    # the EMA copy carries the fitted buffers too
    torch.testing.assert_close(model.ema.module.skip.eigvals, model.field.skip.eigvals)
    # the chain's end heads start at zero: the field is its skip's Gaussian field
    assert model.prepared
    g = torch.Generator().manual_seed(0)
    t = model.path.sample_t(64, generator=g, dtype=torch.float64)
    x0 = model.path.sample_source((64, 3, 2), generator=g, dtype=torch.float64)
    with torch.no_grad():
        learned = model.field.learned(t, model.path.sample(x0, x, t).x_t)
    assert torch.equal(learned, torch.zeros_like(learned))


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
    with pytest.raises(ValueError, match="skip='stationary', 'channel'"):
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


def test_rank_and_bad_arguments():
    model = SpectralMeanFlow(path="ot", potential="chain", depth=2, width=8, rank=6, in_dim=3, seq_len=4)
    heads = model.field.potential_net.heads_s
    assert heads.block_rank == 3 and heads.eigvals().is_complex()
    with pytest.raises(UnknownPluginError, match="known paths"):
        SpectralMeanFlow(path="nope")
    with pytest.raises(UnknownPluginError, match="known solvers"):
        SpectralMeanFlow(solver="nope")
    with pytest.raises(ValueError, match="rank"):
        SpectralMeanFlow(depth=2, rank=3)
    with pytest.raises(TypeError, match=r"unknown setting\(s\) \['mode'\]"):
        SpectralMeanFlow(mode="evd")
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


@pytest.mark.parametrize("skip", ["window", "channel", "stationary", "none"])
def test_training_with_70_percent_missing_keeps_everything_finite(skip):
    x, full = _with_holes(256, 0.7)
    data = (x + 1) / 2  # [0, 1] with NaN
    model = SpectralMeanFlow(depth=1, width=8, skip=skip, seed=0)
    model.fit(data, steps=4, batch_size=16, warmup=0, progress=False)
    assert all(np.isfinite(loss) for _, loss, _ in model.history)
    model.zero_grad()
    loss = model.loss(data[:64])
    loss.backward()
    grads = [p.grad for p in model.field.parameters() if p.grad is not None]
    assert torch.isfinite(loss) and grads and all(torch.isfinite(g).all() for g in grads)
    assert all(torch.isfinite(p).all() for p in model.field.parameters())
    assert torch.isfinite(model.sample(4, seed=0)).all()
    if skip == "window":  # the skip fit to 30 % of the entries is close to the one fit to all of them
        complete = WindowGaussian(6, 2, torch.float64).fit(full)
        assert torch.allclose(model.field.skip.mean.double(), complete.mean, atol=0.1)


def test_kernelops_fit_trains_on_a_csv_with_empty_cells(tmp_path, capsys):
    from kernelops.cli.main import main

    rng = np.random.default_rng(0)
    t = np.arange(120)
    values = np.stack([np.sin(t / 5), np.cos(t / 7) * 3 + 10], axis=1)
    lines = ["a,b"] + [",".join("" if rng.random() < 0.3 else f"{v:.4f}" for v in row) for row in values]
    (tmp_path / "gaps.csv").write_text("\n".join(lines) + "\n")
    status = main(["fit", "--data", str(tmp_path / "gaps.csv"), "--window", "8", "--steps", "3", "--depth", "1",
                   "--width", "8", "--batch-size", "8", "--sample-steps", "2", "--no-progress", "--device", "cpu",
                   "--out", str(tmp_path / "run")])
    assert status == 0, capsys.readouterr().err
    model = SpectralMeanFlow.load(tmp_path / "run" / "checkpoint.pt")
    assert model.step == 3 and torch.isfinite(model.sample(4, seed=0)).all()
    assert all(np.isfinite(float(row.split(",")[1])) for row in (tmp_path / "run" / "loss.csv").read_text().split()[1:])


def test_the_ema_is_a_submodule_so_to_moves_it():
    # the window potential: real parameters only (a dtype cast of the chain would drop its complex heads' imaginary parts)
    model = SpectralMeanFlow(depth=1, width=4, dtype=torch.float64, in_dim=2, seq_len=3)
    assert dict(model.named_children())["ema"] is model.trainer.ema  # the one the trainer updates
    model.to(torch.float32)
    for module in (model.field, model.ema.module):
        assert {p.dtype for p in module.parameters()} == {torch.float32}
        assert module.sigma_data.dtype == torch.float32


def test_loss_on_a_fresh_model_refuses_instead_of_fitting_the_skip_to_one_batch():
    model = _tiny()
    with pytest.raises(ValueError, match=r"call prepare\(data\) or fit\(data\) first"):
        model.loss(_data(8))
    data = _data()
    x, mask = model.prepare(data)
    assert mask is None and torch.equal(x, model.to_model(data))
    fitted = WindowGaussian(3, 2, torch.float64).fit(x)
    loss = model.loss(_data(8, seed=1))
    assert torch.isfinite(loss)
    # the skip stays the training set's, not the batch's
    torch.testing.assert_close(model.field.skip.mean, fitted.mean)
    torch.testing.assert_close(model.ema.module.skip.mean, fitted.mean)


def test_fit_names_unknown_settings():
    with pytest.raises(TypeError, match=r"unknown setting\(s\) \['stepz'\]"):
        _tiny().fit(_data(), stepz=3, progress=False)
