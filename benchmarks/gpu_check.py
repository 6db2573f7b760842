"""The GPU check: CUDA tests, training and sampling windows/s, precision, into results/gpu.md.

Usage (from the repository root, in an environment whose torch has CUDA; ``gpu_check.sh`` wraps
this with an overall time limit)::

    python benchmarks/gpu_check.py [--out benchmarks/results] [--skip-tests]
    python benchmarks/gpu_check.py --dry-run --out /tmp/gpu_dry    # CPU, tiny sizes, seconds

Sized to finish in well under 8 minutes on one H100/H200:

(a) runs the CUDA tests (``pytest -k cuda``: the ``cuda``-marked tests and the CPU+CUDA
    parametrised ones);
(b) for the default field (the window potential, 3 × 512), the spectral chain at its default size
    (depth 4, width 64) and at the paper's size (12 blocks, width 96), Sines
    windows 24 × 5 (the dry run: 6 × 5): training windows/s of :class:`~kernelops.flows.Trainer` at batch 64 and 512
    and sampling windows/s (midpoint, 8 steps, 4096 windows at once), peak GPU memory, in three
    precisions — ``fp32-strict`` (TF32 off), ``fp32-tf32`` (TF32 matmuls) and ``bf16-features``
    (TF32 on, the potential's network under bf16 autocast: the chain's feature network, or the
    window MLP's hidden layers; the chains, the read-out and the loss stay float32,
    :func:`autocast_features`) — and, for each precision,
    the relative error of the loss and the cosine of the parameter gradient against
    ``fp32-strict`` on one batch at the initial weights (how much the double backward suffers);
(c) writes ``OUT/gpu.md`` and ``OUT/gpu.json``.

``--dry-run`` runs (b) and (c) on the CPU with tiny sizes and a few steps (bf16 autocast works on
the CPU too) and skips (a); the file it writes says it is a dry run. The CI runs it.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import shlex
import subprocess
import sys
import time
from pathlib import Path
from typing import Any, NamedTuple

REPO = Path(__file__).resolve().parents[1]
PRECISIONS = ("fp32-strict", "fp32-tf32", "bf16-features")


class Plan(NamedTuple):
    """What to measure: field sizes, batches, steps, sampling."""

    sizes: tuple[tuple[str, str, int, int], ...]  # (label, potential, depth, width)
    batches: tuple[int, ...]
    steps: int
    warmup: int
    sample_n: int
    sample_steps: int
    num_windows: int
    seq_len: int


FULL = Plan(sizes=(("default", "window", 3, 512), ("chain", "chain", 4, 64),
                   ("chain, paper's size", "chain", 12, 96)), batches=(64, 512), steps=25, warmup=5,
            sample_n=4096, sample_steps=8, num_windows=10000, seq_len=24)
DRY = Plan(sizes=(("tiny window", "window", 1, 8), ("tiny chain", "chain", 1, 8)), batches=(4,), steps=2,
           warmup=1, sample_n=4, sample_steps=1, num_windows=32, seq_len=6)


def autocast_features(field: Any, dtype: Any) -> list[Any]:
    """Run ``field``'s potential network under autocast(``dtype``); returns the hook handles.

    Forward hooks, not wrappers, so the state dict, checkpoints and the EMA copy are unchanged.
    Chain: the feature network, whose input layer's output is cast back to the input's dtype, so
    the residual stream, the complex features and everything after them (chains, loss) stay in
    float32; only the blocks' matmuls run in ``dtype``. Window: the hidden layers, whose output is
    cast back, so the read-out and the loss stay float32. Backward and double backward follow.
    """
    import torch

    net = field.potential_net
    features = net.features if hasattr(net, "features") else net.body
    cast_back = features.input if hasattr(net, "features") else features
    active: list[Any] = []

    def enter(module: Any, args: tuple[Any, ...]) -> None:
        context = torch.autocast(args[0].device.type, dtype=dtype)
        context.__enter__()
        active.append(context)

    def leave(module: Any, args: tuple[Any, ...], output: Any) -> Any:
        active.pop().__exit__(None, None, None)
        return output

    def keep_dtype(module: Any, args: tuple[Any, ...], output: Any) -> Any:
        return output.to(args[0].dtype)

    return [features.register_forward_pre_hook(enter), features.register_forward_hook(leave),
            cast_back.register_forward_hook(keep_dtype)]


def _set_precision(precision: str) -> None:
    import torch

    tf32 = precision != "fp32-strict"
    torch.backends.cuda.matmul.allow_tf32 = tf32
    torch.backends.cudnn.allow_tf32 = tf32


def _field(potential: str, depth: int, width: int, data: Any, precision: str) -> Any:
    import torch

    import kernelops as ko
    from kernelops.flows import FieldConfig, SpectralVelocityField

    config = FieldConfig(depth=depth, width=width, potential=potential)
    field = SpectralVelocityField(ko.path("ot"), data.shape[2], data.shape[1], config,
                                  seed=0).to(data.device)
    field.fit_data(data)
    # a fresh field's read-out (the window MLP's w, the chain's end e₀ and H) is zero (f ≡ 0), which
    # would hide any precision's effect on the loss and gradient; a trained one is not, so draw one
    if potential == "window":
        with torch.random.fork_rng(devices=[]), torch.no_grad():
            torch.manual_seed(0)
            torch.nn.init.normal_(field.potential_net.readout.weight, std=width ** -0.5)
    else:
        if str(Path(__file__).resolve().parent) not in sys.path:  # loaded by path (tests) rather than run
            sys.path.insert(0, str(Path(__file__).resolve().parent))
        from chain_diagnostics import randomize_end  # the chain's end drawn as that benchmark draws it

        randomize_end(field, seed=0)
    if precision == "bf16-features":
        autocast_features(field, torch.bfloat16)
    return field


def _sync(device: Any) -> None:
    import torch

    if device.type == "cuda":
        torch.cuda.synchronize(device)


def _peak_gib(device: Any) -> float | None:
    import torch

    return torch.cuda.max_memory_allocated(device) / 2**30 if device.type == "cuda" else None


def _reset_peak(device: Any) -> None:
    import torch

    if device.type == "cuda":
        torch.cuda.empty_cache()
        torch.cuda.reset_peak_memory_stats(device)


def loss_and_grad(field: Any, data: Any, batch: int) -> tuple[float, Any]:
    """The posterior-target loss of one fixed batch and its flattened parameter gradient."""
    import torch

    from kernelops.flows import FlowMatchingObjective
    from kernelops.flows.train.state import TrainGenerators

    objective = FlowMatchingObjective(field.path, "posterior")
    gens = TrainGenerators(123)
    idx = torch.randint(data.shape[0], (batch,), generator=gens.batch).to(data.device)
    field.zero_grad(set_to_none=True)
    loss = objective(field, data[idx], gens, data, idx)
    loss.backward()
    grads = [p.grad for p in field.parameters() if p.grad is not None]
    grad = torch.cat([(torch.view_as_real(g) if g.is_complex() else g).reshape(-1).double() for g in grads])
    field.zero_grad(set_to_none=True)
    return float(loss.detach()), grad


def train_rate(field: Any, data: Any, batch: int, plan: Plan) -> tuple[float, float | None]:
    """Training windows/s of the Trainer after ``plan.warmup`` steps, and the peak memory (GiB)."""
    from kernelops.flows import FlowMatchingObjective, TrainConfig, Trainer

    config = TrainConfig(steps=plan.warmup + plan.steps, batch_size=batch, warmup=0)
    trainer = Trainer(field, FlowMatchingObjective(field.path, config.target), config, seed=0)
    stamps: list[float] = []
    _reset_peak(data.device)

    def stamp(*_: Any) -> None:  # the trainer reads the loss each step (a sync); this one makes it explicit
        _sync(data.device)
        stamps.append(time.perf_counter())

    trainer.fit(data, progress=False, callback=stamp)
    timed = stamps[plan.warmup - 1:]
    return (len(timed) - 1) * batch / (timed[-1] - timed[0]), _peak_gib(data.device)


def sample_rate(field: Any, data: Any, plan: Plan) -> tuple[float, float | None]:
    """Sampling windows/s (midpoint, ``plan.sample_steps`` steps, all windows in one batch), peak GiB."""
    import torch

    import kernelops as ko
    from kernelops.flows.sample.ode import sample_field

    solver = ko.solver("midpoint")
    shape = tuple(data.shape[1:])

    def run(n: int) -> None:
        sample_field(field, field.path, solver, n, shape, steps=plan.sample_steps,
                     generator=torch.Generator().manual_seed(0), batch_size=n, device=data.device)

    run(min(plan.sample_n, 64))  # warm-up
    _reset_peak(data.device)
    _sync(data.device)
    start = time.perf_counter()
    run(plan.sample_n)
    _sync(data.device)
    return plan.sample_n / (time.perf_counter() - start), _peak_gib(data.device)


def measure(plan: Plan, device: Any) -> list[dict[str, Any]]:
    """Every (size, precision) row of (b)."""
    import torch

    from kernelops.data import make_sines

    data = (torch.from_numpy(make_sines(plan.num_windows, seq_len=plan.seq_len, seed=0)) * 2 - 1).to(device)
    rows = []
    for label, potential, depth, width in plan.sizes:
        _set_precision("fp32-strict")
        ref_loss, ref_grad = loss_and_grad(_field(potential, depth, width, data, "fp32-strict"), data, plan.batches[0])
        for precision in PRECISIONS:
            _set_precision(precision)
            loss, grad = loss_and_grad(_field(potential, depth, width, data, precision), data, plan.batches[0])
            row: dict[str, Any] = {
                "size": label, "potential": potential, "depth": depth, "width": width, "precision": precision,
                "loss_rel_error": abs(loss - ref_loss) / abs(ref_loss),
                "grad_cosine": float(torch.nn.functional.cosine_similarity(grad, ref_grad, dim=0)),
            }
            for batch in plan.batches:
                rate, peak = train_rate(_field(potential, depth, width, data, precision), data, batch, plan)
                row[f"train_windows_per_s@{batch}"], row[f"train_peak_gib@{batch}"] = rate, peak
            rate, peak = sample_rate(_field(potential, depth, width, data, precision).eval(), data, plan)
            row["sample_windows_per_s"], row["sample_peak_gib"] = rate, peak
            rows.append(row)
            print(f"  {label} {precision}: " + ", ".join(f"{k} {v:.4g}" for k, v in row.items()
                                                         if isinstance(v, float)), flush=True)
    _set_precision("fp32-tf32")
    return rows


def cuda_tests(timeout: int) -> dict[str, Any]:
    """(a): ``pytest -k cuda`` in a subprocess; its exit status and summary line."""
    cmd = [sys.executable, "-m", "pytest", "-q", "-k", "cuda", "-p", "no:cacheprovider", "tests"]
    try:
        proc = subprocess.run(cmd, cwd=REPO, capture_output=True, text=True, timeout=timeout)
    except subprocess.TimeoutExpired:
        return {"command": shlex.join(cmd), "returncode": None, "summary": f"timed out after {timeout} s"}
    lines = [line for line in proc.stdout.strip().splitlines() if line.strip()]
    return {"command": shlex.join(cmd), "returncode": proc.returncode, "summary": lines[-1] if lines else "",
            "failures": [line for line in lines if line.startswith("FAILED")][:20]}


def machine(device: Any) -> dict[str, Any]:
    import torch

    info: dict[str, Any] = {"torch": torch.__version__, "python": platform.python_version(), "device": str(device),
                            "cpu": platform.processor() or platform.machine(), "nproc": os.cpu_count()}
    if device.type == "cuda":
        props = torch.cuda.get_device_properties(device)
        info.update(gpu=props.name, gpu_memory_gib=round(props.total_memory / 2**30, 1), cuda=torch.version.cuda)
    return info


def _fmt(value: Any, digits: int = 0) -> str:
    if value is None:
        return "n/a"
    return f"{value:,.{digits}f}"


def write_report(out: Path, result: dict[str, Any]) -> Path:
    """``gpu.md`` (and ``gpu.json``) from a :func:`main` result."""
    out.mkdir(parents=True, exist_ok=True)
    (out / "gpu.json").write_text(json.dumps(result, indent=2) + "\n")
    m, plan = result["machine"], result["plan"]
    title = "GPU check — DRY RUN on the CPU (tiny sizes; not results)" if result["dry_run"] else "GPU check"
    lines = [f"# {title}", "",
             f"Command: `{result['command']}`; {result['date']}; {result['seconds']:.0f} s in all.", "",
             f"Machine: {m.get('gpu', 'no GPU')} ({m.get('gpu_memory_gib', '-')} GiB), CUDA {m.get('cuda', '-')}, "
             f"torch {m['torch']}, Python {m['python']}, {m['nproc']} CPUs.", "",
             "## (a) CUDA tests", ""]
    tests = result["cuda_tests"]
    if tests is None:
        lines.append("Not run (dry run or --skip-tests).")
    else:
        lines.append(f"`{tests['command']}` → exit {tests['returncode']}: {tests['summary']}")
        lines += [f"- {line}" for line in tests.get("failures", [])]
    batches = plan["batches"]
    lines += ["", "## (b) Throughput and precision", "",
              f"Sines windows {plan['seq_len']} × 5, posterior target; training: Trainer steps after {plan['warmup']} warm-up "
              f"steps ({plan['steps']} timed); sampling: midpoint, {plan['sample_steps']} steps, "
              f"{plan['sample_n']} windows in one batch. Loss error and gradient cosine: one batch of "
              f"{batches[0]} at the initial weights, against fp32-strict.", "",
              "| size | precision | " + " | ".join(f"train windows/s (batch {b})" for b in batches)
              + " | train peak GiB | sample windows/s | sample peak GiB | loss rel. error | grad cosine |",
              "|---|---|" + "---|" * (len(batches) + 5)]
    for row in result["rows"]:
        trains = " | ".join(_fmt(row[f"train_windows_per_s@{b}"]) for b in batches)
        lines.append(f"| {row['size']} ({row['depth']} × {row['width']}) | {row['precision']} | {trains} | "
                     f"{_fmt(row[f'train_peak_gib@{batches[-1]}'], 2)} | {_fmt(row['sample_windows_per_s'])} | "
                     f"{_fmt(row['sample_peak_gib'], 2)} | {row['loss_rel_error']:.1e} | {row['grad_cosine']:.6f} |")
    path = out / "gpu.md"
    path.write_text("\n".join(lines) + "\n")
    return path


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", default=str(REPO / "benchmarks" / "results"), help="folder for gpu.md and gpu.json")
    parser.add_argument("--dry-run", action="store_true", help="CPU, tiny sizes, no CUDA tests (seconds)")
    parser.add_argument("--skip-tests", action="store_true", help="skip (a), the CUDA tests")
    parser.add_argument("--test-timeout", type=int, default=240, help="seconds allowed for (a)")
    args = parser.parse_args(argv)
    import torch

    started = time.time()
    if args.dry_run:
        device, plan = torch.device("cpu"), DRY
    elif not torch.cuda.is_available():
        print("gpu_check: error: no CUDA device (torch.cuda.is_available() is False); use --dry-run on a CPU",
              file=sys.stderr)
        return 2
    else:
        device, plan = torch.device("cuda"), FULL
    command = "benchmarks/gpu_check.sh " + shlex.join(argv if argv is not None else sys.argv[1:])
    tests = None if (args.dry_run or args.skip_tests) else cuda_tests(args.test_timeout)
    if tests is not None:
        print(f"gpu_check: (a) {tests['summary']}", flush=True)
    rows = measure(plan, device)
    result = {"command": command, "dry_run": args.dry_run, "date": time.strftime("%Y-%m-%d %H:%M UTC", time.gmtime()),
              "machine": machine(device), "plan": plan._asdict(), "cuda_tests": tests, "rows": rows,
              "seconds": time.time() - started}
    path = write_report(Path(args.out), result)
    print(f"gpu_check: wrote {path}")
    return 0 if tests is None or tests["returncode"] == 0 else 1


if __name__ == "__main__":
    sys.exit(main())
