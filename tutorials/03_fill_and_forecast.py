# %% [markdown]
# # Fill in gaps and continue series with a spectral mean flow
#
# A trained flow draws whole windows; here we make it draw windows that agree with values we
# already have. We train a small model on Sines, blank 70 % of the entries of held-out windows,
# fill them in with two conditioning methods and score them against interpolation, then
# forecast the second half of windows from their first half. Last, a model trained for it with
# random masks (`conditional=True`) does the same through its own conditional field.
# Run it with `python tutorials/03_fill_and_forecast.py` (about a minute on one CPU core); the
# same from the command line is `kernelops impute` / `kernelops forecast`
# (docs/conditional_generation.md).

# %%
import numpy as np
import torch

from kernelops.data import make_sines
from kernelops.flows import SpectralMeanFlow
from kernelops.metrics import crps, masked_mse

torch.manual_seed(0)
train = make_sines(2000, seq_len=24, features=3, seed=0)
held_out = make_sines(50, seq_len=24, features=3, seed=1)

# %% [markdown]
# ## 1. Train an ordinary (unconditional) model
# Far shorter than the README's main job (4 000 steps of 128 windows), enough to show the
# mechanics. Data are in [0, 1], as `SpectralMeanFlow` expects.

# %%
flow = SpectralMeanFlow(seed=0)
flow.fit(train, steps=300, batch_size=64, progress=False)

# %% [markdown]
# ## 2. Impute: NaN marks what is missing
# `sample(K, observed=windows)` returns K complete draws per window, equal to the observations
# wherever they are not NaN. `gaussian` conditions the model's clean-window prediction through
# its skip Gaussian (exact for Gaussian data); `guidance` follows the gradient of the
# reconstruction error instead. We score the median of the draws on the blanked entries, and
# the draws themselves with CRPS.

# %%
rng = np.random.default_rng(0)
hidden = rng.random(held_out.shape) < 0.7
blanked = np.where(hidden, np.nan, held_out)


def interpolate(windows: np.ndarray) -> np.ndarray:
    """Per-channel linear interpolation over time (the naive baseline)."""
    out = windows.copy()
    steps = np.arange(windows.shape[1])
    for i in range(windows.shape[0]):
        for c in range(windows.shape[2]):
            seen = ~np.isnan(windows[i, :, c])
            out[i, :, c] = np.interp(steps, steps[seen], windows[i, seen, c]) if seen.any() else np.nanmean(windows)
    return out


baseline = masked_mse(interpolate(blanked), held_out, hidden)
print(f"linear interpolation: MSE {baseline:.2e}")
for method in ("gaussian", "guidance"):
    draws = flow.sample(10, observed=torch.from_numpy(blanked).float(), method=method, seed=0).double().numpy()
    assert np.array_equal(draws[:, 0][~hidden], held_out[~hidden].astype(np.float32).astype(np.float64))
    median = np.median(draws, axis=1)
    print(f"{method}: MSE {masked_mse(median, held_out, hidden):.2e}, CRPS {crps(draws, held_out, hidden):.4f}")
    if method == "gaussian":
        assert masked_mse(median, held_out, hidden) < baseline

# %% [markdown]
# ## 3. Forecast: the future is what is missing
# Observe the first 12 steps of each window and draw the last 12. Every window shares the mask,
# so the `gaussian` method conditions once per solver evaluation for the whole batch.

# %%
history = held_out.copy()
history[:, 12:] = np.nan
forecast = flow.sample(10, observed=torch.from_numpy(history).float(), seed=0).double().numpy()
future = np.zeros_like(hidden)
future[:, 12:] = True
last_value = np.repeat(held_out[:, 11:12], 24, axis=1)
print(f"forecast: MSE {masked_mse(np.median(forecast, 1), held_out, future):.2e} "
      f"(last value {masked_mse(last_value, held_out, future):.2e})")
assert masked_mse(np.median(forecast, 1), held_out, future) < masked_mse(last_value, held_out, future)

# %% [markdown]
# ## 4. A model trained to condition: `conditional=True`
# This model's potential also reads the mask and the observed values, and its skip is the
# Gaussian's exact mean given the noisy state *and* the observations. Training draws a random
# mask for every window (nothing, scattered entries, whole steps, or a history prefix), so one
# model imputes, forecasts and still samples from scratch; `method="field"` is its default.
# (On Sines, at the main job's budget, it did not beat `gaussian` on the ordinary model:
# docs/conditional_generation.md.)

# %%
conditional = SpectralMeanFlow(conditional=True, seed=0)
conditional.fit(train, steps=150, batch_size=64, progress=False)
draws = conditional.sample(10, observed=torch.from_numpy(blanked).float(), seed=0).double().numpy()
median = np.median(draws, axis=1)
print(f"field: MSE {masked_mse(median, held_out, hidden):.2e}")
assert masked_mse(median, held_out, hidden) < baseline
assert conditional.sample(4, seed=1).shape == (4, 24, 3)  # still an unconditional sampler
print("done")
