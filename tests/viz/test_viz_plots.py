"""PNG plots: valid files of plausible size, and figures that draw exactly the data given."""

from __future__ import annotations

import os
import stat
import sys

import numpy as np
import pytest
import torch

from kernelops.errors import DataError, ShapeError
from kernelops.viz import (
    curve_figure,
    eigenvalues_figure,
    loss_csv_figure,
    plot_curve,
    plot_eigenvalues,
    plot_loss_csv,
    plot_samples,
    samples_figure,
)

PNG_MAGIC = b"\x89PNG\r\n\x1a\n"


def _check_png(path, min_w=300, min_h=250):
    import matplotlib.image as mpimg

    data = path.read_bytes()
    assert data[:8] == PNG_MAGIC and len(data) > 5_000
    img = mpimg.imread(path)
    h, w = img.shape[:2]
    assert w >= min_w and h >= min_h and w < 5000 and h < 5000
    assert img[..., :3].std() > 0.01  # not a blank canvas
    # written atomically: no temporary file left beside it, readable like any new file
    assert [p.name for p in path.parent.iterdir() if p.name.startswith(".")] == []
    assert os.stat(path).st_mode & stat.S_IRUSR
    return img


def _lines(ax):
    return [np.asarray(line.get_ydata(), dtype=float) for line in ax.get_lines()]


def test_samples_figure_draws_each_channel_of_the_chosen_series():
    rng = np.random.default_rng(0)
    real, fake = rng.random((20, 12, 4)), rng.random((15, 12, 4)) + 5.0
    fig = samples_figure(real, fake, max_series=3, channels=[1, 3])
    axes = [ax for ax in fig.axes if ax.get_visible()]
    assert [ax.get_title() for ax in axes] == ["channel 1", "channel 3"]
    for ax, c in zip(axes, [1, 3]):
        ys = _lines(ax)
        assert len(ys) == 6  # 3 real + 3 generated
        # evenly spread picks: first, middle and last sequence of each set
        for y, i in zip(ys[:3], [0, 10, 19]):
            np.testing.assert_array_equal(y, real[i, :, c])
        for y, i in zip(ys[3:], [0, 7, 14]):
            np.testing.assert_array_equal(y, fake[i, :, c])


def test_plot_samples_writes_png_with_both_colours(tmp_path):
    real = torch.rand(30, 24, 3, dtype=torch.float64)  # tensors accepted
    fake = torch.rand(30, 24, 3, dtype=torch.float64)
    path = plot_samples(real, fake, tmp_path / "samples.png", title="t")
    assert path == tmp_path / "samples.png"
    img = _check_png(path, min_w=1000, min_h=300)  # one row of three panels
    rgb = img[..., :3]

    def has(colour):
        return (np.abs(rgb - np.array(colour) / 255).max(axis=-1) < 0.25).sum() > 200

    assert has((31, 119, 180)) and has((214, 39, 40))  # real blue and generated red are drawn


def test_plot_samples_rejects_mismatched_inputs(tmp_path):
    with pytest.raises(ShapeError, match="same number of features"):
        plot_samples(np.zeros((2, 5, 3)), np.zeros((2, 5, 4)), tmp_path / "x.png")
    with pytest.raises(ShapeError, match="real: expected a 3-d array"):
        plot_samples(np.zeros((5, 3)), np.zeros((2, 5, 3)), tmp_path / "x.png")
    with pytest.raises(ValueError, match="channels"):
        plot_samples(np.zeros((2, 5, 3)), np.zeros((2, 5, 3)), tmp_path / "x.png", channels=[3])
    assert not (tmp_path / "x.png").exists()


def test_eigenvalues_figure_places_points_and_unit_circle():
    lam = np.array([0.9 * np.exp(0.5j), 0.9 * np.exp(-0.5j), 0.3, 1.5j])
    fig = eigenvalues_figure(torch.tensor(lam))
    ax = fig.axes[0]
    offsets = ax.collections[0].get_offsets()
    np.testing.assert_allclose(offsets[:, 0], lam.real)
    np.testing.assert_allclose(offsets[:, 1], lam.imag)
    circle = ax.get_lines()[0]
    np.testing.assert_allclose(np.hypot(circle.get_xdata(), circle.get_ydata()), 1.0, atol=1e-12)
    # limits grow to show |lambda| = 1.5 and the axes keep circles round
    assert ax.get_ylim()[1] >= 1.5 and ax.get_aspect() == 1.0


def test_plot_eigenvalues_png(tmp_path):
    lam = 0.95 * np.exp(1j * np.linspace(-1, 1, 7))
    _check_png(plot_eigenvalues(lam, tmp_path / "eig.png", title="eigenvalues"))
    with pytest.raises(ValueError, match="NaN"):
        plot_eigenvalues(np.array([np.nan + 0j]), tmp_path / "bad.png")


def test_curve_figure_plots_each_series_and_drops_non_positive_on_log_axis(tmp_path):
    x = np.arange(5.0)
    fig = curve_figure(x, {"a": [4, 3, 2, 1, 0], "b": np.ones(5)}, logy=True, xlabel="t", ylabel="MMD")
    ax = fig.axes[0]
    ys = _lines(ax)
    np.testing.assert_array_equal(ys[0], [4, 3, 2, 1])  # the zero is left out of the log plot
    np.testing.assert_array_equal(ys[1], np.ones(5))
    assert ax.get_yscale() == "log" and ax.get_xlabel() == "t" and ax.get_ylabel() == "MMD"
    _check_png(plot_curve(None, {"loss": np.exp(-x)}, tmp_path / "c.png", xlabel="step", ylabel="loss"))
    with pytest.raises(ValueError, match=r"ys\['b'\]: expected 5 values"):
        plot_curve(x, {"b": [1, 2]}, tmp_path / "bad.png")


def test_plot_loss_csv_reads_step_loss_lr(tmp_path):
    steps = np.arange(1, 41)
    loss, lr = 3.0 / steps, np.minimum(1.0, steps / 10) * 1e-3
    csv_path = tmp_path / "loss.csv"
    csv_path.write_text("step,loss,lr\n" + "".join(f"{s},{float(l)!r},{float(r)!r}\n" for s, l, r in zip(steps, loss, lr)))
    fig = loss_csv_figure(csv_path)
    top, bottom = fig.axes
    np.testing.assert_allclose(top.get_lines()[0].get_xdata(), steps)
    np.testing.assert_allclose(top.get_lines()[0].get_ydata(), loss)
    np.testing.assert_allclose(bottom.get_lines()[0].get_ydata(), lr)
    assert top.get_yscale() == "log" and bottom.get_ylabel() == "lr"
    _check_png(plot_loss_csv(csv_path, tmp_path / "out" / "loss.png"))  # creates the folder


def test_plot_loss_csv_errors_name_the_file_and_line(tmp_path):
    bad = tmp_path / "bad.csv"
    bad.write_text("step,loss\n1,0.5\n\n2,oops\n")
    with pytest.raises(DataError, match=r"bad\.csv: column 'loss' is not numeric: line 4 has 'oops'"):
        plot_loss_csv(bad, tmp_path / "x.png")


def test_importing_viz_does_not_import_matplotlib():
    import subprocess

    code = "import sys, kernelops.viz; print('matplotlib' in sys.modules)"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=60)
    assert out.stdout.strip() == "False", out.stderr
