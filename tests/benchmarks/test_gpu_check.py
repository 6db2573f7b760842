"""benchmarks/gpu_check: its CPU dry run (what CI can check of it) and the bf16 feature autocast."""

from __future__ import annotations

import json
import shutil
import subprocess
from pathlib import Path

import pytest
import torch

import kernelops as ko
from kernelops.flows import FieldConfig, SpectralVelocityField

SCRIPT = Path(__file__).resolve().parents[2] / "benchmarks" / "gpu_check.sh"


def test_dry_run_writes_the_report(load_script, tmp_path):
    gpu_check = load_script("gpu_check")
    assert gpu_check.main(["--dry-run", "--out", str(tmp_path)]) == 0
    report = (tmp_path / "gpu.md").read_text()
    assert report.startswith("# GPU check — DRY RUN") and "Not run (dry run" in report
    rows = json.loads((tmp_path / "gpu.json").read_text())["rows"]
    sizes = gpu_check.DRY.sizes
    assert {potential for _, potential, _, _ in sizes} == {"window", "chain"}
    assert [(r["size"], r["precision"]) for r in rows] == [(s[0], p) for s in sizes for p in gpu_check.PRECISIONS]
    for row in rows:
        assert row["train_windows_per_s@4"] > 0 and row["sample_windows_per_s"] > 0
        assert f"| {row['size']} ({row['depth']} × {row['width']}) | {row['precision']} |" in report
    for start in range(0, len(rows), len(gpu_check.PRECISIONS)):
        strict, _, bf16 = rows[start:start + 3]
        assert strict["loss_rel_error"] == 0 and strict["grad_cosine"] == pytest.approx(1.0)
        # bf16 really ran (the loss moved) and the gradient still points the same way
        assert bf16["loss_rel_error"] > 1e-6 and bf16["grad_cosine"] > 0.9, bf16


@pytest.mark.skipif(shutil.which("bash") is None, reason="no bash")
def test_the_shell_wrapper_parses():
    assert subprocess.run(["bash", "-n", str(SCRIPT)]).returncode == 0


@pytest.mark.skipif(torch.cuda.is_available(), reason="checks the refusal without a GPU")
def test_without_a_gpu_the_full_check_refuses(load_script, capsys):
    assert load_script("gpu_check").main(["--skip-tests"]) == 2
    assert "no CUDA device" in capsys.readouterr().err


@pytest.mark.parametrize("device", ["cpu", pytest.param("cuda", marks=pytest.mark.cuda)])
def test_autocast_of_the_window_mlp_keeps_the_state_and_a_float32_readout(load_script, device):
    gpu_check = load_script("gpu_check")
    field = SpectralVelocityField(ko.path("ot"), 2, 5, FieldConfig(potential="window", depth=2, width=16)).to(device)
    torch.nn.init.normal_(field.potential_net.readout.weight)  # zero at initialisation: f would not move
    x = torch.randn(3, 5, 2, generator=torch.Generator().manual_seed(0)).to(device)
    t = torch.full((3,), 0.4, device=device)
    keys, before = list(field.state_dict()), field(t, x)
    handles = gpu_check.autocast_features(field, torch.bfloat16)
    seen = []
    hook = field.potential_net.readout.register_forward_pre_hook(lambda m, a: seen.append(a[0].dtype))
    mixed = field(t, x)
    hook.remove()
    assert seen == [torch.float32], "the read-out must see float32 hidden features"
    assert list(field.state_dict()) == keys and mixed.dtype == torch.float32
    assert not (mixed - before).abs().max() == 0 and torch.allclose(mixed, before, rtol=0.1, atol=0.1)
    for handle in handles:
        handle.remove()
    torch.testing.assert_close(field(t, x), before)


@pytest.mark.parametrize("device", ["cpu", pytest.param("cuda", marks=pytest.mark.cuda)])
def test_autocast_features_keeps_the_state_and_the_float32_chain(load_script, device):
    gpu_check = load_script("gpu_check")
    field = SpectralVelocityField(ko.path("ot"), 2, 5, FieldConfig(potential="chain", depth=2, width=8)).to(device)
    with torch.no_grad():  # the end heads are zero at initialisation: f would not move
        for heads in (field.potential_net.heads_s, field.potential_net.heads_o):
            for p in (heads.end, heads.H):
                p.copy_(torch.randn(p.shape, dtype=p.dtype, generator=torch.Generator().manual_seed(1)).to(device))
    x = torch.randn(3, 5, 2, generator=torch.Generator().manual_seed(0)).to(device)
    t = torch.full((3,), 0.4, device=device)
    keys, before = list(field.state_dict()), field(t, x)
    handles = gpu_check.autocast_features(field, torch.bfloat16)
    seen = []
    hook = field.potential_net.heads_s.register_forward_pre_hook(lambda m, a: seen.append(torch.is_autocast_enabled(device)))
    mixed = field(t, x)
    hook.remove()
    assert list(field.state_dict()) == keys and mixed.dtype == torch.float32
    assert not (mixed - before).abs().max() == 0 and torch.allclose(mixed, before, rtol=0.1, atol=0.1)
    for handle in handles:
        handle.remove()
    torch.testing.assert_close(field(t, x), before)
