"""Why the spectral chain potential does not learn: experiments that tell the hypotheses apart.

Usage (from the repository root)::

    OMP_NUM_THREADS=1 python benchmarks/chain_diagnostics.py [--steps 300] [--teacher-steps 1500] [--out DIR]

Three measurements on Sines, each at the defaults of ``SpectralMeanFlow(potential=...)``:

* **Teacher regression.** A student field regresses a fixed teacher's learned part F*(t, x_t)
  on noised training windows, ‖F_student − F*‖² / ‖F*‖² (1 = no better than predicting zero).
  There is no flow-matching noise in this target and, at a fixed t, no flow time either, so a
  student that cannot fit a smooth teacher is limited by its own function class or its
  optimisation, not by the objective. Teachers: the learned part of a window potential trained
  by flow matching (smooth, and known to be learnable, since the window potential learned it),
  and a random chain of the chain's own class (its end drawn at random: a function the chain can
  represent exactly).
* **Gradient coherence** at initialisation: the cosine between the parameter gradients of
  ⟨F(t, x), p⟩ (a fixed random probe p) for two different windows at the same t, and for the
  same window at t and t + 0.02. Near 0 means the tangent kernel is almost diagonal: what one
  batch teaches says nothing about the next.
* **Step sensitivity**: rms of F at each step n, over its largest, on noised windows at t = 0.7,
  of the random chain teacher and of the trained window teacher (both potentials start at f ≡ 0,
  so a fresh field has no profile); a chain that forgot its early steps would show a profile that
  falls towards the start.

The window potential is the reference that learns. Minutes on a CPU (the teacher's training and
the chain students dominate).
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path
from typing import Any

import torch

REPO = Path(__file__).resolve().parents[1]
for entry in (REPO, REPO / "benchmarks"):
    if str(entry) not in sys.path:
        sys.path.insert(0, str(entry))

from _results import run_meta, write_results  # noqa: E402

from kernelops.data import resolve_dataset  # noqa: E402
from kernelops.flows import SpectralMeanFlow  # noqa: E402

#: flow time of the fixed-t regressions and of the sensitivity profile
FIXED_T = 0.7


def build_field(potential: str, windows: torch.Tensor, seed: int) -> Any:
    """A field of ``potential`` at its defaults, its skip and σ_d fit to ``windows`` (model coordinates)."""
    flow = SpectralMeanFlow(potential=potential, seed=seed)
    flow.build(windows.shape[2], windows.shape[1])
    flow.field.fit_data(windows)
    return flow.field


@torch.no_grad()
def randomize_end(field: Any, seed: int) -> Any:
    """Draw the chain potential's end (e₀ and H, zero at initialisation) as complex Gaussians of variance
    1/k, so the field is a random member of the chain's class rather than f ≡ 0."""
    g = torch.Generator().manual_seed(seed)
    for heads in (field.potential_net.heads_s, field.potential_net.heads_o):
        for p in (heads.end, heads.H):
            p.copy_(torch.complex(torch.randn(p.shape, generator=g), torch.randn(p.shape, generator=g))
                    * (2 * heads.block_dim) ** -0.5)
    return field


def noised(field: Any, x1: torch.Tensor, t: torch.Tensor, generator: torch.Generator) -> torch.Tensor:
    """x_t on the field's path for clean windows x1 at times t.

    Shape:
        x1: (batch, N, d). t: (batch,). returns: (batch, N, d).
    """
    x0 = field.path.sample_source(tuple(x1.shape), generator=generator, dtype=x1.dtype)
    return field.path.sample(x0, x1, t).x_t


def teacher_regression(student: Any, teacher: Any, windows: torch.Tensor, steps: int, *, fixed_t: float | None,
                       batch: int = 64, lr: float = 2e-3, seed: int = 3) -> list[float]:
    """Relative error ‖F_s − F*‖²/‖F*‖² per AdamW step of the student on the teacher's learned part.

    Shape:
        windows: (num, N, d) in model coordinates. returns: ``steps`` floats.
    """
    opt = torch.optim.AdamW(student.parameters(), lr=lr, betas=(0.9, 0.99), weight_decay=0.0)
    g = torch.Generator().manual_seed(seed)
    errors = []
    for _ in range(steps):
        x1 = windows[torch.randint(len(windows), (batch,), generator=g)]
        t = torch.rand(batch, generator=g, dtype=x1.dtype) if fixed_t is None else torch.full((batch,), fixed_t)
        xt = noised(student, x1, t, g)
        target = teacher.learned(t, xt).detach()
        loss = (student.learned(t, xt) - target).square().mean() / target.square().mean()
        opt.zero_grad()
        loss.backward()
        torch.nn.utils.clip_grad_norm_(student.parameters(), 1.0)
        opt.step()
        errors.append(float(loss.detach()))
    return errors


def _probe_gradient(field: Any, x: torch.Tensor, t: float, probe: torch.Tensor) -> torch.Tensor:
    field.zero_grad()
    (field.learned(torch.tensor([t], dtype=x.dtype), x[None]) * probe).sum().backward()
    grads = [p.grad for p in field.parameters() if p.grad is not None]
    return torch.cat([torch.view_as_real(g.resolve_conj()).flatten() if g.is_complex() else g.flatten() for g in grads])


def gradient_coherence(field: Any, windows: torch.Tensor, *, pairs: int = 16, dt: float = 0.02,
                       seed: int = 5) -> dict[str, float]:
    """Median cosine of parameter gradients: two windows at one t, and one window at t and t + dt.

    Shape:
        windows: (num, N, d) in model coordinates.
    """
    g = torch.Generator().manual_seed(seed)
    across, in_time = [], []
    for _ in range(pairs):
        a, b = windows[torch.randint(len(windows), (2,), generator=g)]
        t = float(torch.rand((), generator=g)) * 0.8 + 0.1
        za = noised(field, a[None], torch.tensor([t]), g)[0]
        zb = noised(field, b[None], torch.tensor([t]), g)[0]
        probe = torch.randn(a.shape, generator=g, dtype=a.dtype)
        ga, gb = _probe_gradient(field, za, t, probe), _probe_gradient(field, zb, t, probe)
        gt = _probe_gradient(field, za, t + dt, probe)
        across.append(float(torch.nn.functional.cosine_similarity(ga, gb, dim=0)))
        in_time.append(float(torch.nn.functional.cosine_similarity(ga, gt, dim=0)))
    field.zero_grad()
    return {"across_windows": float(torch.tensor(across).median()), "across_time": float(torch.tensor(in_time).median())}


@torch.no_grad()
def step_sensitivity(field: Any, windows: torch.Tensor, t: float = FIXED_T, n: int = 128, seed: int = 1) -> list[float]:
    """rms of the learned part F at each step over its largest step, on noised windows at time t.

    Shape:
        returns: N floats in [0, 1].
    """
    g = torch.Generator().manual_seed(seed)
    x1 = windows[torch.randint(len(windows), (n,), generator=g)]
    tt = torch.full((n,), t)
    with torch.enable_grad():
        f = field.learned(tt, noised(field, x1, tt, g))
    profile = f.square().sum(-1).mean(0).sqrt()
    top = float(profile.max())
    return (profile / top).tolist() if top > 0 else [0.0] * len(profile)


def _tail(errors: list[float], share: float = 0.2) -> float:
    k = max(1, int(len(errors) * share))
    return sum(errors[-k:]) / k


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--steps", type=int, default=300, help="student regression steps (batch 64)")
    ap.add_argument("--teacher-steps", type=int, default=1500, help="flow-matching steps of the window teacher (batch 64)")
    ap.add_argument("--out", default=str(REPO / "benchmarks" / "results"))
    ap.add_argument("--seed", type=int, default=0)
    args = ap.parse_args(argv)
    torch.set_num_threads(1)
    data = torch.as_tensor(resolve_dataset("sines").windows, dtype=torch.float32)
    windows = SpectralMeanFlow.to_model(data)

    teacher_flow = SpectralMeanFlow(potential="window", seed=args.seed + 11)
    teacher_flow.fit(data, steps=args.teacher_steps, batch_size=64, progress=False)
    window_teacher = teacher_flow.field
    chain_teacher = randomize_end(build_field("chain", windows, args.seed + 7), args.seed + 7)

    rows: list[dict[str, Any]] = []
    for teacher_name, teacher in (("trained window potential", window_teacher), ("random chain", chain_teacher)):
        for fixed_t in (FIXED_T, None):
            if teacher_name == "random chain" and fixed_t is None:
                continue
            for student_name in ("chain", "window"):
                student = build_field(student_name, windows, args.seed)
                errors = teacher_regression(student, teacher, windows, args.steps, fixed_t=fixed_t)
                rows.append({"kind": "teacher", "student": student_name, "teacher": teacher_name,
                             "t": "U[0,1]" if fixed_t is None else fixed_t, "first": errors[0],
                             "final": _tail(errors), "curve": [round(_tail(errors[: i + 1], 0.1), 4)
                                                                for i in range(49, len(errors), 50)]})
    for name, teacher in (("chain", chain_teacher), ("window", window_teacher)):
        # coherence at initialisation; the step profile of a field whose learned part is not zero
        field = build_field(name, windows, args.seed)
        rows.append({"kind": "coherence", "potential": name, **gradient_coherence(field, windows),
                     "sensitivity": [round(v, 3) for v in step_sensitivity(teacher, windows)]})

    lines = ["# Can the chain potential learn? A fixed-teacher regression and gradient coherence", "",
             "Sines, `SpectralMeanFlow(potential=...)` defaults, students trained by AdamW (lr 2e-3, batch 64) on",
             f"the teacher's learned part, {args.steps} steps; error = ‖F_student − F*‖² / ‖F*‖² (1: no better than zero),",
             "mean of the last 20 % of steps. Window teacher: flow matching, "
             f"{args.teacher_steps} steps of 64.", "",
             "| student | teacher | t | first step | final | every 50 steps |", "|---|---|---|---|---|---|"]
    for r in rows:
        if r["kind"] == "teacher":
            lines.append(f"| {r['student']} | {r['teacher']} | {r['t']} | {r['first']:.3f} | {r['final']:.3f} | "
                         f"{', '.join(f'{v:.3f}' for v in r['curve'])} |")
    lines += ["", "Gradient coherence at initialisation (median cosine over 16 pairs) and the learned part's",
              f"rms per step at t = {FIXED_T} of the random chain and the trained window teacher (over its largest",
              "step; first, middle and last step shown):", "",
              "| potential | across windows | across time (Δt = 0.02) | sensitivity n = 1 / 12 / 24 |", "|---|---|---|---|"]
    for r in rows:
        if r["kind"] == "coherence":
            s = r["sensitivity"]
            lines.append(f"| {r['potential']} | {r['across_windows']:.3f} | {r['across_time']:.3f} | "
                         f"{s[0]:.2f} / {s[len(s) // 2 - 1]:.2f} / {s[-1]:.2f} |")
    meta = run_meta("chain_diagnostics.py", [f"--steps {args.steps}", f"--teacher-steps {args.teacher_steps}"])
    lines += ["", f"Command: `{meta['command']}`; machine: {meta['machine']}, load average {meta['load_average'][0]}."]
    write_results(args.out, "chain_diagnostics", meta, rows, lines)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
