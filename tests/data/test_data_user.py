"""User CSV / NumPy loading and resolve_dataset: values read back exactly, errors name the culprit."""

from __future__ import annotations

import numpy as np
import pytest

import kernelops as ko
from kernelops.data import Sines, list_datasets, load_series, load_user_windows, resolve_dataset
from kernelops.errors import DataError, UnknownPluginError


def _write(path, text):
    path.write_text(text)
    return path


def _csv(tmp_path, name="d.csv", steps=30, first="date"):
    lines = [f"{first},a,b"]
    for t in range(steps):
        lines.append(f"2021-03-{1 + t % 28:02d} 10:00:00,{t * 0.5},{100 - t}")
    return _write(tmp_path / name, "\n".join(lines) + "\n")


def test_csv_date_column_is_dropped_and_values_read(tmp_path):
    values, names = load_series(_csv(tmp_path))
    assert names == ["a", "b"]
    np.testing.assert_array_equal(values[:, 0], 0.5 * np.arange(30))
    np.testing.assert_array_equal(values[:, 1], 100 - np.arange(30))


def test_csv_unnamed_date_column_detected_by_its_values(tmp_path):
    path = _write(tmp_path / "u.csv", "stamp,x\n2020-01-01,1\n2020-01-02,2\n2020-01-03,4\n")
    values, names = load_series(path)
    assert names == ["x"] and values.ravel().tolist() == [1.0, 2.0, 4.0]
    ds = load_user_windows(path, window=2)
    assert "dropped column 'stamp'" in ds.source and "parse as dates" in ds.source


def test_non_numeric_column_error_names_file_column_row_and_value(tmp_path):
    path = _write(tmp_path / "bad.csv", "date,price,ticker\n2020-01-01,1.5,7\n2020-01-02,2.5,AAPL\n")
    with pytest.raises(DataError) as info:
        load_series(path)
    msg = str(info.value)
    assert "bad.csv" in msg and "'ticker'" in msg and "row 2" in msg and "'AAPL'" in msg
    assert "--columns" in msg and "price" in msg  # suggests the numeric columns
    values, names = load_series(path, columns="price")
    assert names == ["price"] and values.ravel().tolist() == [1.5, 2.5]


def test_empty_and_nan_cells_are_missing_values_and_infinite_ones_name_the_row(tmp_path):
    empty = _write(tmp_path / "e.csv", "a,b\n1,2\n3,\nnan,6\n")
    values, _ = load_series(empty)
    np.testing.assert_array_equal(np.isnan(values), [[False, False], [False, True], [True, False]])
    inf = _write(tmp_path / "n.csv", "a,b\n1,2\n3,4\ninf,6\n")
    with pytest.raises(DataError, match=r"n\.csv: column 'a' has an infinite value 'inf' at row 3 \(line 4\)"):
        load_series(inf)
    blank = _write(tmp_path / "b.csv", "a,b\n1,\n3,\n")
    with pytest.raises(DataError, match=r"column 'b' has no values"):
        load_series(blank)


def test_gzipped_and_semicolon_csv(tmp_path):
    import gzip

    text = "\ufeffTimestamp;x;y\n2020-01-01T00:00;1.5;-2\n2020-01-01T01:00;2.5;-3\n"  # BOM as Excel writes
    (tmp_path / "g.csv").write_text(text, encoding="utf-8")
    with gzip.open(tmp_path / "g.csv.gz", "wt", encoding="utf-8") as handle:
        handle.write(text)
    for name in ("g.csv", "g.csv.gz"):
        values, names = load_series(tmp_path / name)
        assert names == ["x", "y"]
        np.testing.assert_array_equal(values, [[1.5, -2.0], [2.5, -3.0]])
    assert load_user_windows(tmp_path / "g.csv.gz", window=2).name == "g"


def test_header_is_required(tmp_path):
    with pytest.raises(DataError, match="looks like data, not a header"):
        load_series(_write(tmp_path / "h.csv", "1,2\n3,4\n"))


def test_column_selection_by_name_and_index(tmp_path):
    path = _csv(tmp_path)
    v1, n1 = load_series(path, columns=["b"])
    v2, n2 = load_series(path, columns=[2])
    assert n1 == n2 == ["b"]
    np.testing.assert_array_equal(v1, v2)
    with pytest.raises(DataError, match="no column 'zzz'; columns are: date, a, b"):
        load_series(path, columns="zzz")


def test_user_windows_are_scaled_over_the_whole_series_then_windowed(tmp_path):
    ds = load_user_windows(_csv(tmp_path, steps=30), window=24, stride=2)
    assert ds.windows.shape == (4, 24, 2)  # (30 - 24) // 2 + 1
    assert ds.name == "d" and ds.feature_names == ["a", "b"]
    # a rises from 0 to 14.5 and b falls from 100 to 71 over the series
    np.testing.assert_allclose(ds.windows[0, :, 0], np.arange(24) / 29, atol=1e-6)
    np.testing.assert_allclose(ds.windows[0, 0, 1], 1.0, atol=1e-6)
    np.testing.assert_allclose(ds.raw_windows()[1], ds.series[2:26], atol=1e-4)


def test_too_short_series_error(tmp_path):
    with pytest.raises(DataError, match=r"s\.csv: the series has 10 steps, fewer than the window of 24"):
        load_user_windows(_csv(tmp_path, "s.csv", steps=10), window=24)


def test_npy_2d_series_and_3d_windows(tmp_path):
    series = np.cumsum(np.random.default_rng(0).normal(size=(40, 3)), axis=0)
    np.save(tmp_path / "s.npy", series)
    ds = load_user_windows(tmp_path / "s.npy", window=8)
    assert ds.windows.shape == (33, 8, 3) and ds.feature_names == ["x0", "x1", "x2"]
    np.testing.assert_allclose(ds.windows.min(axis=(0, 1)), 0.0, atol=1e-7)
    np.testing.assert_allclose(ds.raw_windows()[5], series[5:13], atol=1e-4)

    windows = np.random.default_rng(1).random((7, 6, 2)) * 5 + 1
    np.save(tmp_path / "w.npy", windows)
    values, _ = load_series(tmp_path / "w.npy")
    np.testing.assert_array_equal(values, windows)
    ds3 = load_user_windows(tmp_path / "w.npy", window=24)  # pre-windowed: window ignored
    assert ds3.windows.shape == (7, 6, 2) and ds3.series is None
    np.testing.assert_allclose(ds3.raw_windows(), windows, atol=1e-5)


def test_npy_nan_named_with_index_and_npz_key(tmp_path):
    arr = np.ones((10, 2))
    arr[4, 1] = np.inf
    np.save(tmp_path / "bad.npy", arr)
    with pytest.raises(DataError, match=r"bad\.npy: .*first at index \(4, 1\)"):
        load_series(tmp_path / "bad.npy")
    np.savez(tmp_path / "z.npz", first=np.zeros((5, 1)), second=np.arange(10.0).reshape(5, 2))
    # several arrays and no key: refused, listing them (it used to take the first one silently)
    with pytest.raises(DataError, match=r"holds 2 arrays \(first, second\); choose one with --key"):
        load_series(tmp_path / "z.npz")
    assert load_series(tmp_path / "z.npz", key="first")[0].shape == (5, 1)
    np.savez(tmp_path / "one.npz", only=np.zeros((5, 1)))
    assert load_series(tmp_path / "one.npz")[0].shape == (5, 1)  # a single array needs no key
    np.testing.assert_array_equal(load_series(tmp_path / "z.npz", key="second")[0], np.arange(10.0).reshape(5, 2))
    with pytest.raises(DataError, match="no array 'third'; the archive holds: first, second"):
        load_series(tmp_path / "z.npz", key="third")


def test_unsupported_and_missing_files(tmp_path):
    with pytest.raises(DataError, match="unsupported file type"):
        load_series(_write(tmp_path / "x.txt", "a\n1\n"))
    with pytest.raises(FileNotFoundError, match="nope.csv"):
        load_series(tmp_path / "nope.csv")


def test_resolve_dataset_needs_exactly_one_source(tmp_path):
    with pytest.raises(ValueError, match="exactly one.*got both"):
        resolve_dataset("sines", str(_csv(tmp_path)))
    with pytest.raises(ValueError, match="exactly one.*got neither"):
        resolve_dataset()
    with pytest.raises(UnknownPluginError, match="known datasets: .*sines"):
        resolve_dataset("no_such_data")


def test_resolve_dataset_builds_registered_and_user_data(tmp_path):
    ds = resolve_dataset("sines", window=12, num=40, seed=2)
    np.testing.assert_array_equal(ds.windows, Sines(num=40, seq_len=12, seed=2).windows)
    user = resolve_dataset(data=str(_csv(tmp_path)), window=24, columns="a")
    assert user.windows.shape == (7, 24, 1)
    with pytest.raises(ValueError, match="num: not an option for a user file"):
        resolve_dataset(data=str(_csv(tmp_path)), num=5)
    with pytest.raises(ValueError, match="dataset 'sines' takes no 'stride' argument"):
        resolve_dataset("sines", stride=2)  # refuse rather than silently ignore
    with pytest.raises(ValueError, match="given twice"):
        resolve_dataset("sines", window=12, seq_len=10)


def test_list_datasets_reports_broken_datasets_instead_of_failing():
    from kernelops.plugins.manager import PluginHost, reset_host

    reset_host(PluginHost(builtins=(), entry_points=False))  # only the datasets registered here

    def missing(**kw):
        raise DataError("file foo.csv not found; download it with `make foo`")

    def crashing(**kw):
        raise RuntimeError("bug in a third-party loader")

    class Plugin:
        @ko.hookimpl
        def register_datasets(self, register):
            register("small_sines", lambda: Sines(num=12, seq_len=6, features=3), description="tiny")
            register("missing", missing, description="needs a file")
            register("crashing", crashing)

    ko.register(Plugin(), name="test_plugin")
    rows = {row["name"]: row for row in list_datasets()}
    assert sorted(rows) == ["crashing", "missing", "small_sines"]
    ok = rows["small_sines"]
    assert ok["status"] == "ok" and ok["shape"] == [12, 6, 3] and ok["description"] == "tiny"
    assert ok["provider"] == "test_plugin" and "make_sines(num=12" in ok["source"]
    assert rows["missing"]["status"] == "missing" and "make foo" in rows["missing"]["reason"]
    assert rows["crashing"]["status"] == "error" and "RuntimeError: bug" in rows["crashing"]["reason"]
    assert "status" not in list_datasets(build=False)[0]


def test_resolve_dataset_keeps_the_factory_default_unless_a_window_is_given():
    from kernelops.plugins.manager import PluginHost, reset_host

    reset_host(PluginHost(builtins=(), entry_points=False))

    def long_series(seq_len=7, stride=1):
        return Sines(num=3, seq_len=seq_len + stride - 1, features=1)

    class Plugin:
        @ko.hookimpl
        def register_datasets(self, register):
            register("long_series", long_series)

    ko.register(Plugin(), name="test_plugin")
    assert resolve_dataset("long_series").seq_len == 7
    assert resolve_dataset("long_series", window=4).seq_len == 4
    assert resolve_dataset("long_series", window=4, stride=3).seq_len == 6
