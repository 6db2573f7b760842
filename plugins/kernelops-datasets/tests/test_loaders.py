"""The real datasets: documented shapes, [0, 1] range, exact inverse scaling against the files
read independently here, file locations (root=, KERNELOPS_DATA_DIR), missing-file messages, and
the .tsf parser on small inline examples."""

from __future__ import annotations

import csv
import gzip
import hashlib
import importlib.metadata
import itertools
from pathlib import Path

import numpy as np
import pytest

import kernelops as ko
from kernelops.errors import DataError, UnknownPluginError
from kernelops.plugins.manager import PluginHost, get_host, reset_host

pytest.importorskip("kernelops_datasets", reason="kernelops-datasets is not installed "
                    "(pip install -e plugins/kernelops-datasets)")
from kernelops_datasets import loaders, locate, tsf  # noqa: E402

FILES = locate.PACKAGE_DATA_DIR
INSTALLED = any(ep.name == "datasets" for ep in importlib.metadata.entry_points(group="kernelops"))
pytestmark = pytest.mark.skipif(not INSTALLED, reason="kernelops-datasets is importable but not pip-installed "
                                "(no entry point): pip install -e plugins/kernelops-datasets")


@pytest.fixture(autouse=True)
def _only_this_plugin(monkeypatch):
    """A fresh plugin host that loads this package's entry point and no other third-party plugin."""
    monkeypatch.setenv("KERNELOPS_LOAD_PLUGINS", "datasets")
    reset_host(PluginHost())
    yield
    reset_host(PluginHost())


def _rows(path: Path, start: int, count: int, drop_first: bool) -> np.ndarray:
    """Rows start..start+count-1 of a headed csv (or csv.gz), read with the csv module."""
    opener = gzip.open if path.suffix == ".gz" else open
    with opener(path, "rt", newline="") as fh:
        rows = list(itertools.islice(csv.reader(fh), 1 + start, 1 + start + count))
    return np.array([[float(v) for v in (r[1:] if drop_first else r)] for r in rows])


class _Cache(dict):
    def __missing__(self, name: str):
        self[name] = ko.dataset(name)
        return self[name]


@pytest.fixture(scope="module")
def loaded():
    """Each short-window dataset, built once per module on first use (Energy takes ~1 s)."""
    return _Cache()


def _raw_window(ds, k: int) -> np.ndarray:
    return ds.scaler.inverse_transform(ds.windows[k].astype(np.float64))


@pytest.mark.parametrize("name, shape, first_feature", [
    ("stocks", (3662, 24, 6), "Open"),      # 3685 rows - 23
    ("etth", (17397, 24, 7), "HUFL"),       # 17420 rows - 23, date dropped
    ("energy", (19712, 24, 28), "Appliances"),  # 19735 rows - 23, date dropped
    ("fmri", (9977, 24, 50), "node0"),      # 10000 rows - 23
    ("mujoco", (10000, 24, 14), "qpos0"),   # generated trajectories
])
def test_shape_range_and_names(loaded, name, shape, first_feature):
    ds = loaded[name]
    assert ds.windows.shape == shape and ds.windows.dtype == np.float32
    assert ds.feature_names[0] == first_feature and len(ds.feature_names) == shape[2]
    flat = ds.windows.reshape(-1, shape[2])
    assert np.all(flat.min(axis=0) == 0.0)  # the minimum maps exactly to 0
    np.testing.assert_allclose(flat.max(axis=0), 1.0, atol=1e-6)  # eps=1e-7 keeps it just under 1


def test_stocks_scaling_uses_the_whole_series_in_file_order(loaded):
    path = FILES / "stocks" / "stock_data.csv"
    raw = _rows(path, 0, 10_000, drop_first=False)
    assert raw.shape == (3685, 6)
    lo, hi = raw.min(axis=0), raw.max(axis=0)
    expected = (raw - lo) / (hi - lo + 1e-7)
    ds = loaded["stocks"]
    # window k holds rows k..k+23 (no reversal of the file's chronological order)
    for k in (0, 1234, 3661):
        np.testing.assert_allclose(ds.windows[k], expected[k:k + 24], atol=1e-6)
    np.testing.assert_array_equal(ds.series, raw)


@pytest.mark.parametrize("name, rel, k, drop_first", [
    ("stocks", "stocks/stock_data.csv", 3000, False),
    ("etth", "etth/ETTh1.csv", 17000, True),
    ("energy", "energy/energydata_complete.csv.gz", 12345, True),
])
def test_inverse_scaling_restores_file_values(loaded, name, rel, k, drop_first):
    ds = loaded[name]
    expected = _rows(FILES / rel, k, 24, drop_first)
    got = _raw_window(ds, k)
    span = ds.scaler.max_ - ds.scaler.min_
    # windows are float32: the round trip is exact up to float32 resolution of each feature's range
    assert np.all(np.abs(got - expected) <= 1e-6 * span + 1e-9)


def test_fmri_windows_run_over_ts_rows(loaded):
    from scipy.io import loadmat

    ts = loadmat(FILES / "fmri" / "sim4.mat")["ts"]
    assert ts.shape == (10000, 50)
    ds = loaded["fmri"]
    span = ts.max(axis=0) - ts.min(axis=0)
    for k in (0, 190, 9976):  # 190 crosses the first subject boundary (row 200)
        assert np.all(np.abs(_raw_window(ds, k) - ts[k:k + 24]) <= 1e-6 * span)


def test_mujoco_matches_shipped_trajectories(loaded):
    with np.load(FILES / "mujoco" / "hopper.npz") as z:
        traj = z["trajectories"].astype(np.float64)
    ds = loaded["mujoco"]
    span = np.ptp(traj.reshape(-1, 14), axis=0)
    for k in (0, 9999):
        assert np.all(np.abs(_raw_window(ds, k) - traj[k]) <= 1e-6 * span)
    # qpos[t+1] = qpos[t] + dt * qvel[t+1] for hinge/slide joints (MuJoCo's Euler step, dt 0.005):
    # a physical invariant that a shuffled or mis-ordered file would break
    np.testing.assert_allclose(traj[:, 1:, :7] - traj[:, :-1, :7], 0.005 * traj[:, 1:, 7:], atol=2e-5)


def test_etth_file_is_byte_identical_to_the_licensed_original():
    digest = hashlib.sha256((FILES / "etth" / "ETTh1.csv").read_bytes()).hexdigest()
    assert digest == "f18de3ad269cef59bb07b5438d79bb3042d3be49bdeecf01c1cd6d29695ee066"


def test_seq_len_and_stride_are_honoured():
    ds = loaders.Stocks(seq_len=10, stride=5)
    assert ds.windows.shape == ((3685 - 10) // 5 + 1, 10, 6)
    full = loaders.Stocks()
    np.testing.assert_array_equal(ds.windows[3], full.windows[15, :10])


# -- where files are read from --------------------------------------------------------------------
def _tiny_stocks(folder: Path, rows: int = 30) -> np.ndarray:
    values = np.arange(rows * 6, dtype=float).reshape(rows, 6) ** 1.5
    folder.mkdir(parents=True, exist_ok=True)
    with open(folder / "stock_data.csv", "w", newline="") as fh:
        w = csv.writer(fh)
        w.writerow(["Open", "High", "Low", "Close", "Adj_Close", "Volume"])
        w.writerows(values.tolist())
    return values


@pytest.mark.parametrize("nested", [False, True])
def test_root_overrides_the_package_file(tmp_path, nested):
    values = _tiny_stocks(tmp_path / "stocks" if nested else tmp_path)
    ds = loaders.Stocks(root=tmp_path)
    assert ds.windows.shape == (30 - 23, 24, 6)
    np.testing.assert_allclose(ds.raw_windows()[2], values[2:26], rtol=1e-6)


def test_environment_variable_is_searched_first(tmp_path, monkeypatch):
    values = _tiny_stocks(tmp_path / "stocks", rows=40)
    monkeypatch.setenv(locate.DATA_DIR_ENV, str(tmp_path))
    ds = ko.dataset("stocks")
    assert ds.windows.shape == (40 - 23, 24, 6)
    np.testing.assert_allclose(ds.series, values)
    # a file absent from the env folder falls back to the package copy
    assert ko.dataset("fred_md").windows.shape == (107, 728, 1)


@pytest.mark.parametrize("name, factory, filename", [
    ("etth", loaders.ETTh, "ETTh1.csv"),
    ("energy", loaders.Energy, "energydata_complete.csv.gz"),
    ("fmri", loaders.FMRI, "sim4.mat"),
    ("mujoco", loaders.MuJoCo, "hopper.npz"),
    ("nn5_daily", loaders.NN5Daily, "nn5_daily_dataset_without_missing_values.tsf"),
])
def test_missing_file_says_which_where_and_how(tmp_path, name, factory, filename):
    with pytest.raises(DataError) as info:
        factory(root=tmp_path)
    msg = str(info.value)
    assert filename in msg and str(tmp_path / filename) in msg and str(tmp_path / name / filename) in msg
    assert locate.DATA_DIR_ENV in msg and "root=" in msg and "\n" not in msg


def test_bad_csv_value_names_file_line_and_column(tmp_path):
    folder = tmp_path / "stocks"
    _tiny_stocks(folder)
    lines = (folder / "stock_data.csv").read_text().splitlines()
    cells = lines[5].split(",")
    cells[3] = "n/a"
    lines[5] = ",".join(cells)
    (folder / "stock_data.csv").write_text("\n".join(lines) + "\n")
    with pytest.raises(DataError, match=r"stock_data.csv: line 6, column 'Close': 'n/a' is not a number"):
        loaders.Stocks(root=tmp_path)


def test_registered_through_the_entry_point_like_any_plugin():
    names = set(ko.list_plugins("datasets")["datasets"])
    assert {"sines", "stocks", "etth", "energy", "fmri", "mujoco", "fred_md", "nn5_daily"} <= names
    info = next(p for p in ko.plugin_report() if p.name == "datasets")
    assert (info.status, info.dist, info.builtin) == ("ok", "kernelops-datasets", False)
    assert sorted(info.provides["datasets"]) == ["energy", "etth", "fmri", "fred_md", "mujoco", "nn5_daily", "stocks"]
    sines = next(p for p in ko.plugin_report() if "sines" in p.provides.get("datasets", []))
    assert sines.builtin  # the core's own dataset goes through the same hook
    assert ko.dataset("etth1").name == "etth"  # the alias


def test_optional_table_in_the_core_matches_what_the_plugin_registers():
    from kernelops.plugins.optional import DATASETS

    info = next(p for p in ko.plugin_report() if p.name == DATASETS.entry_point)
    assert sorted(DATASETS.provides["datasets"]) == sorted(info.provides["datasets"])
    entry = get_host().entry("datasets", "etth")
    assert tuple(entry.aliases) == DATASETS.aliases and DATASETS.module == "kernelops_datasets"


def test_disabled_plugin_message_says_it_is_installed_but_not_loaded(monkeypatch):
    monkeypatch.setenv("KERNELOPS_LOAD_PLUGINS", "")
    reset_host(PluginHost())
    with pytest.raises(UnknownPluginError) as info:
        ko.dataset("stocks")
    msg = str(info.value)
    assert "kernelops-datasets" in msg and "installed but not loaded" in msg and "\n" not in msg


# -- .tsf -----------------------------------------------------------------------------------------
TSF = (
    "# A comment line\r\n"
    "@relation Tiny\r\n"
    "@attribute series_name string\r\n"
    "@attribute start_timestamp date\r\n"
    "@attribute weight numeric\r\n"
    "@frequency daily\r\n"
    "@horizon 3\r\n"
    "@missing true\r\n"
    "@equallength false\r\n"
    "@data\r\n"
    "A:2020-01-31 00-00-00:1.5:1,2.5,-3e2\r\n"
    "B:1999-12-01 12-30-00:2:4,?,6,7\r\n"
)


def test_parse_tsf_known_example():
    out = tsf.parse_tsf(TSF.splitlines(keepends=True))
    assert out.metadata == {"relation": "Tiny", "frequency": "daily", "horizon": "3",
                            "missing": "true", "equallength": "false"}
    assert out.attributes["series_name"] == ["A", "B"]
    assert [d.isoformat() for d in out.attributes["start_timestamp"]] == ["2020-01-31T00:00:00",
                                                                          "1999-12-01T12:30:00"]
    assert out.attributes["weight"] == [1.5, 2.0]
    np.testing.assert_array_equal(out.series[0], [1.0, 2.5, -300.0])
    np.testing.assert_array_equal(out.series[1], [4.0, np.nan, 6.0, 7.0])
    with pytest.raises(DataError, match="different lengths"):
        out.as_array()


def test_read_tsf_cp1252_crlf_file(tmp_path):
    path = tmp_path / "x.tsf"
    # 0x96 is an en dash in cp1252 and invalid as utf-8 (FRED-MD's header has one)
    path.write_bytes(b"# pages 574\x96589\r\n" + TSF.replace("B:1999", "#\r\nB:1999").encode("ascii"))
    out = tsf.read_tsf(path)
    assert len(out.series) == 2 and out.series[0][-1] == -300.0


@pytest.mark.parametrize("text, match", [
    ("@attribute a string\n@data\nA:1,x,3\n", r"line 3: value 'x' is not a number"),
    ("@attribute a string\n@attribute b numeric\n@data\nA:1,2\n", r"line 4: expected 2 attribute"),
    ("@attribute a date\n@data\nA:2020-13-01 00-00-00:1\n", r"attribute 'a' \(date\)"),
    ("@attribute a string\nA:1,2\n", r"line 2: expected a header line"),
    ("@attribute a string\n", r"no @data line"),
])
def test_parse_tsf_errors_name_the_line(text, match):
    with pytest.raises(DataError, match=match):
        tsf.parse_tsf(text.splitlines(), source="t.tsf")


@pytest.mark.parametrize("stride", [1, 5])
def test_held_out_split_of_a_series_shares_no_row_with_training(tmp_path, stride):
    """Windows come in file (time) order, so the chronological hold-out leaves no row in both parts."""
    from kernelops.data import hold_out

    _tiny_stocks(tmp_path, rows=200)  # column 0 of row r is (6r)^1.5: the row is recoverable from the value
    ds = loaders.Stocks(root=tmp_path, seq_len=24, stride=stride)
    train, held, record = hold_out(ds, 0.2)

    def rows(part):
        return np.rint(part.raw_windows()[..., 0] ** (2 / 3) / 6).astype(int)

    np.testing.assert_array_equal(rows(ds)[:, 0], stride * np.arange(ds.num_windows))
    assert rows(train).max() < rows(held).min() and record["gap"] == 23
    assert rows(held).max() == stride * (ds.num_windows - 1) + 23  # the held-out part ends with the last window


def test_held_out_split_of_short_mujoco_windows_stays_inside_trajectories():
    """Windows cut inside trajectories come trajectory by trajectory; no (trajectory, step) is in both parts."""
    from kernelops.data import hold_out

    seq_len, stride = 10, 7
    ds = loaders.MuJoCo(seq_len=seq_len, stride=stride)
    per = (24 - seq_len) // stride + 1
    train, held, record = hold_out(ds, 0.2)
    with np.load(FILES / "mujoco" / "hopper.npz") as z:
        traj = z["trajectories"].astype(np.float64)
    first_held = ds.num_windows - record["windows"]
    span = np.ptp(traj.reshape(-1, 14), axis=0)
    for k in (0, record["train_windows"] - 1, first_held, ds.num_windows - 1):
        i, start = divmod(k, per)
        assert np.all(np.abs(_raw_window(ds, k) - traj[i, stride * start:stride * start + seq_len]) <= 1e-6 * span)
    last_train, first = divmod(record["train_windows"] - 1, per), divmod(first_held, per)
    assert last_train[0] < first[0] or stride * last_train[1] + seq_len <= stride * first[1]


@pytest.mark.parametrize("name, count, length, first", [
    ("fred_md", 107, 728, [2437.296, 2446.902, 2462.689]),
    ("nn5_daily", 111, 791, None),
])
def test_long_series(name, count, length, first):
    data = tsf.read_tsf(locate.data_file(name))
    raw = data.as_array()
    assert raw.shape == (count, length) and data.attributes["series_name"][0] == "T1"
    if first is not None:
        np.testing.assert_allclose(raw[0, :3], first)
    ds = ko.dataset(name)
    assert ds.windows.shape == (count, length, 1)
    z = ds.raw_windows()[..., 0]
    # LS4 protocol: every sequence z-scored on its own
    np.testing.assert_allclose(z.mean(axis=1), 0.0, atol=1e-5)
    np.testing.assert_allclose(z.std(axis=1), 1.0, atol=1e-5)
    expected = (raw[5] - raw[5].mean()) / raw[5].std()
    np.testing.assert_allclose(z[5], expected, atol=2e-6 * np.ptp(expected))
    plain = ko.dataset(name, normalize=False, seq_len=24, stride=100)
    per_series = (length - 24) // 100 + 1
    assert plain.windows.shape == (count * per_series, 24, 1)
    np.testing.assert_allclose(plain.raw_windows()[per_series + 1, :, 0], raw[1, 100:124],
                               atol=1e-6 * np.ptp(raw))
