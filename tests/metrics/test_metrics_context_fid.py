"""context_fid: ordering held-out < perturbed < noise, encoder reuse, seeding, size matching."""

from __future__ import annotations

import importlib

import numpy as np
import pytest

from kernelops.metrics import TS2Vec, context_fid, frechet_distance, gaussian_fit


def test_held_out_perturbed_and_noise_are_ordered(sines):
    # One encoder trained on the real windows, reused for three generated sets (as the metric
    # does within one run). Held-out Sines differ from the training windows only by sampling;
    # amplitude-shrunk Sines are a mild, systematic perturbation; uniform noise is far off.
    real, held_out = sines(150, seed=1), sines(150, seed=2)
    encoder = TS2Vec(5, seed=0)
    encoder.fit(real, iterations=10)
    noise = np.random.default_rng(3).uniform(size=real.shape)
    fid_held = context_fid(real, held_out, encoder=encoder)
    fid_pert = context_fid(real, 0.5 + 0.8 * (held_out - 0.5), encoder=encoder)
    fid_noise = context_fid(real, noise, encoder=encoder)
    assert fid_held < fid_pert / 3
    assert fid_pert < fid_noise / 20
    assert fid_held < 5e-3 * fid_noise


def test_trains_the_encoder_on_real_data_with_the_seed(sines):
    real, fake = sines(60, seq_len=12, features=2, seed=4), sines(60, seq_len=12, features=2, seed=5)
    value = context_fid(real, fake, seed=7, iterations=5)
    assert value == context_fid(real, fake, seed=7, iterations=5)  # reproducible
    assert value != context_fid(real, fake, seed=8, iterations=5)
    # The same computation by hand: an encoder with that seed, fitted on real, FID of encodings.
    encoder = TS2Vec(2, seed=7)
    encoder.fit(real, iterations=5, batch_size=8, lr=1e-3)
    mu_r, cov_r = gaussian_fit(encoder.encode(real))
    mu_f, cov_f = gaussian_fit(encoder.encode(fake))
    assert value == pytest.approx(frechet_distance(mu_r, cov_r, mu_f, cov_f), rel=1e-9)
    assert context_fid(real, fake, encoder=encoder) == pytest.approx(value, rel=1e-9)


def test_fast_mode_trains_ten_times_fewer_iterations(sines, monkeypatch):
    mod = importlib.import_module("kernelops.metrics.context_fid")

    seen = []
    original = mod.TS2Vec.fit

    def spy(self, data, iterations=None, **kw):
        seen.append(iterations)
        return original(self, data, iterations=1, **kw)  # keep the test quick

    monkeypatch.setattr(mod.TS2Vec, "fit", spy)
    small = sines(20, seq_len=8, features=2)  # 320 values ≤ 100 000 → reference default 200
    context_fid(small, small, fast=True)
    context_fid(small, small)
    context_fid(small, small, fast=True, iterations=7)
    assert seen == [20, 200, 7]


def test_larger_generated_set_is_subsampled_to_the_real_size(sines):
    real = sines(40, seq_len=8, features=2, seed=0)
    encoder = TS2Vec(2, output_dims=16, hidden_dims=8, depth=2, seed=0)
    encoder.fit(real, iterations=3)
    # A generated set made of the real windows plus extra ones: the subsample has 40 windows,
    # so the Gaussian fit is over 40 representations (a 40-window fit of a different set than
    # the real one, hence > 0), and the same seed picks the same subsample.
    fake = np.concatenate([real, sines(60, seq_len=8, features=2, seed=1)])
    a = context_fid(real, fake, encoder=encoder, seed=3)
    assert a == context_fid(real, fake, encoder=encoder, seed=3)
    assert a > 0
    assert context_fid(real, real[::-1].copy(), encoder=encoder) == pytest.approx(0.0, abs=1e-6)
