"""The four conditioning methods on Gaussian data, against the exact conditional law.

Usage: ``OMP_NUM_THREADS=1 python benchmarks/conditional_gaussian.py`` (about a minute on one core).

A window of 3 steps × 2 features is Gaussian with a random correlated covariance; the field is a
window-skip SpectralVelocityField fit to 4000 draws with its learned part scaled to zero, so its
x₁-prediction is exactly the Gaussian posterior mean (for method "field", the same field built
with ``conditional=True``, whose prediction is then the Gaussian's mean given x_t and y). Half the entries are observed; for each
method and path, 4000 conditional draws (midpoint, 16 steps) of the other half are compared with
the closed-form conditional N(μ_u + Σ_uo Σ_oo⁻¹ (y − μ_o), Σ_uu − Σ_uo Σ_oo⁻¹ Σ_ou): the error of
the mean (in units of the conditional standard deviation, the largest over the free entries)
and the largest relative error of the conditional variances. Prints a markdown table.
"""

from __future__ import annotations

import sys
from pathlib import Path

import torch

REPO = Path(__file__).resolve().parents[1]
if str(REPO) not in sys.path:
    sys.path.insert(0, str(REPO))


def main() -> int:
    import kernelops as ko
    from kernelops.flows import FieldConfig
    from kernelops.flows.config import METHODS
    from kernelops.flows.masked_field import build_field
    from kernelops.flows.sample.conditional import sample_conditional

    torch.set_num_threads(1)
    seq, dim = 3, 2
    a = torch.randn(seq * dim, seq * dim, generator=torch.Generator().manual_seed(3), dtype=torch.float64)
    cov_true = 0.1 * a @ a.T + 0.02 * torch.eye(seq * dim, dtype=torch.float64)
    mean_true = torch.linspace(-0.3, 0.4, seq * dim, dtype=torch.float64)
    data = mean_true + torch.randn(4000, seq * dim, generator=torch.Generator().manual_seed(0),
                                   dtype=torch.float64) @ torch.linalg.cholesky(cov_true).T
    mask = torch.tensor([[True, False], [False, True], [True, False]])
    y = torch.tensor([[0.5, 0.0], [0.0, -0.3], [0.2, 0.0]], dtype=torch.float64)
    o, u = mask.reshape(-1), ~mask.reshape(-1)
    print("| path | method | mean error / cond. std (max) | variance rel. error (max) |\n|---|---|---|---|")
    for path_name in ("ot", "vp"):
        path = ko.path(path_name)
        fields = {}
        for conditional in (False, True):
            field = build_field(path, dim, seq, FieldConfig(depth=1, width=4, conditional=conditional),
                                dtype=torch.float64)
            field.fit_data(data.reshape(-1, seq, dim))
            field.scale_learned(0.0)
            fields[conditional] = field
        cov = (field.skip.eigvecs * field.skip.eigvals) @ field.skip.eigvecs.T
        gain = cov[u][:, o] @ torch.linalg.inv(cov[o][:, o])
        cond_mean = field.skip.mean[u] + gain @ (y.reshape(-1)[o] - field.skip.mean[o])
        cond_var = (cov[u][:, u] - gain @ cov[o][:, u]).diagonal()
        for method in METHODS:
            draws, _ = sample_conditional(fields[method == "field"], path, ko.solver("midpoint"), y[None], mask[None],
                                          samples=4000,
                                          steps=16, generator=torch.Generator().manual_seed(1), method=method,
                                          dtype=torch.float64)
            free = draws[0].reshape(4000, -1)[:, u]
            mean_err = float(((free.mean(0) - cond_mean).abs() / cond_var.sqrt()).max())
            var_err = float(((free.var(0) - cond_var).abs() / cond_var).max())
            print(f"| {path_name} | {method} | {mean_err:.3f} | {var_err:.3f} |")
    return 0


if __name__ == "__main__":
    sys.exit(main())
