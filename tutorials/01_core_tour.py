# %% [markdown]
# # A tour of the kernelops core
#
# Distributions as vectors, conditionals as operators, sequences as spectral chains.
# Run it with `python tutorials/01_core_tour.py` (a few seconds on a laptop CPU).

# %%
import math

import torch

import kernelops as ko
from kernelops.chains import SpectralChain, chain_from_hmm, dense_inner_product
from kernelops.embeddings import mmd2
from kernelops.operators import CMEOperator

torch.manual_seed(0)
print("plugins:", ko.list_plugins())

# %% [markdown]
# ## 1. MMD between samples
# The unbiased MMD² of two samples of one Gaussian is ≈ 0; a shifted one is clearly positive.

# %%
x = torch.randn(500, 2, dtype=torch.float64)
y = torch.randn(500, 2, dtype=torch.float64)
print(f"MMD²(same law)    = {mmd2(x, y, unbiased=True).item():+.4f}")
print(f"MMD²(shifted law) = {mmd2(x, y + 1.0, unbiased=True).item():+.4f}")

# %% [markdown]
# ## 2. A CME operator recovers the spectrum of a damped rotation
# z' = ρ R(θ) z + noise has transition eigenvalues ρ e^{±iθ}: an oscillation of frequency
# θ/2π cycles per step that decays with time constant −1/log ρ steps.

# %%
rho, theta = 0.95, 0.4
rot = rho * torch.tensor([[math.cos(theta), -math.sin(theta)], [math.sin(theta), math.cos(theta)]],
                         dtype=torch.float64)
z = torch.empty(20, 200, 2, dtype=torch.float64)
z[:, 0] = torch.randn(20, 2, dtype=torch.float64)
for n in range(1, 200):
    z[:, n] = z[:, n - 1] @ rot.T + 0.01 * torch.randn(20, 2, dtype=torch.float64)
op = CMEOperator(feature_map=ko.feature_map("linear", in_dim=2), reg=1e-8).fit_trajectories(z)
modes = op.eig()
print("eigenvalues      :", modes.eigvals)
print("expected         :", rho * torch.exp(torch.tensor([1j * theta, -1j * theta])))
print("frequency / step :", modes.frequency, " decay time:", modes.decay_time)
assert torch.allclose(modes.eigvals[0], torch.tensor(rho * complex(math.cos(theta), math.sin(theta)),
                                                     dtype=torch.complex128), atol=0.01)

# %% [markdown]
# ## 3. A hidden Markov model's sequence embedding is a spectral chain
# For a finite-state HMM the D^N-entry tensor E[φ(X¹) ⊗ … ⊗ φ(X^N)] factorises through the
# eigen-decomposition of the transition matrix; its inner product with a product of features
# costs O(N r²) instead of O(D^N). With one-hot observations it is the sequence probability.

# %%
P = torch.tensor([[0.8, 0.15, 0.05], [0.1, 0.7, 0.2], [0.25, 0.25, 0.5]], dtype=torch.float64)
O = torch.tensor([[0.9, 0.1, 0.0], [0.1, 0.6, 0.2], [0.0, 0.3, 0.8]], dtype=torch.float64)  # O[x, s]
p1 = torch.tensor([0.5, 0.3, 0.2], dtype=torch.float64)
chain = chain_from_hmm(p1, P, O)
seq = torch.tensor([[0, 0, 1, 2, 2]])
phi = torch.nn.functional.one_hot(seq, 3).to(torch.float64)  # (batch=1, N=5, D=3)
print("p(x¹..x⁵) by chain :", chain.inner(phi).real.item())
print("p(x¹..x⁵) dense    :", dense_inner_product(chain, phi).real.item())
assert torch.allclose(chain.inner(phi), dense_inner_product(chain, phi))

# %% [markdown]
# The chain is linear in N and stays finite for very long sequences in log scale.

# %%
long_chain = SpectralChain.random(rank=8, dim=16, dtype=torch.complex128)
phi_long = torch.randn(2, 4096, 16, dtype=torch.complex128) / 4
log_abs, phase = long_chain.log_inner(phi_long)
print("log|⟨φ(x¹)⊗…⊗φ(x⁴⁰⁹⁶), μ⟩| =", log_abs)
assert torch.isfinite(log_abs).all()  # the plain product underflows to 0 long before N = 4096

# %% [markdown]
# ## 4. Probability paths and ODE solvers are plugins too

# %%
vp = ko.path("vp")
x1 = torch.rand(4, 24, 5)
x0 = vp.sample_source(x1.shape)
print("VP path at t=0.5:", vp.interpolate(x0, x1, 0.5).shape)
result = ko.solver("rk4").solve(lambda t, s: -s, torch.ones(3), steps=10)
print(f"rk4: x(1) = {result.x[0].item():.6f} (exp(-1) = {math.exp(-1):.6f}), NFE = {result.nfe}")
assert abs(result.x[0].item() - math.exp(-1)) < 1e-5 and result.nfe == 40
